"""Kernels call pullback's larger njit helpers (sorts, scans, scatters, LAPACK
wrappers) by symbol instead of linking them in.

Why: a kernel that calls an njit helper links the helper's LLVM module into its
own, and Numba then optimizes and generates machine code for the whole module
again, helper included, although the helper's machine code is already in Numba's
disk cache: 50-150 ms per distinct helper on every first call (argsort's merge
sort alone ~100 ms). Here the helper is compiled once per process (loaded from
Numba's cache: a few ms), its entry point is published to LLVM's symbol table
under a stable name (`llvm.add_symbol`), and the kernel only declares and calls
that symbol, in Numba's own calling convention (so the helper's exceptions, e.g.
LinAlgError, propagate as from a linked call).

A kernel loaded from Numba's disk cache resolves the symbol when its object code
is linked, before any of its code is typed, so the symbol must exist by then: the
generated module names every helper specialization it calls at its top, as
`_h.require(name, spec)`, which runs when the module is imported; the call
itself, `_h.extern(name, spec, *args)`, checks at typing time that its arguments
are what `spec` says (a code generator bug otherwise, reported at compile time
rather than as an unresolved symbol in a later process).

A spec lists the arguments' types, ';'-separated: an array as its NumPy dtype code
and rank ('f8[2]': float64, 2-d; arrays are passed C-contiguous, copied if not), a
scalar as its dtype code ('i8', 'b1', 'f8').
"""
from __future__ import annotations

import os
import re
import threading

import numpy as np
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.numpy_support import as_dtype, from_dtype

_lock = threading.Lock()


def _new_lock_after_fork():  # a fork while another thread held it (inside require)
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)
_symbols: dict = {}  # (name, spec) -> (symbol, return type, argument types)
_TOKEN = re.compile(r"^([a-z]\d+)(?:\[(\d+)\])?$")


def array_spec(dtype, ndim):
    """The spec token of a C-contiguous array argument."""
    return f"{np.dtype(dtype).str[1:]}[{int(ndim)}]"


def scalar_spec(dtype):
    return np.dtype(dtype).str[1:]


def _parse(spec):
    out = []
    for tok in spec.split(";") if spec else ():
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"bad extern spec token {tok!r} in {spec!r}")
        ty = from_dtype(np.dtype(m.group(1)))
        out.append(types.Array(ty, int(m.group(2)), "C") if m.group(2) is not None else ty)
    return tuple(out)


def _token(ty):
    if isinstance(ty, types.Array):
        return array_spec(as_dtype(ty.dtype), ty.ndim)
    return scalar_spec(as_dtype(types.unliteral(ty)))


def require(name, spec):
    """Compile (or load from Numba's cache) helper `name` for the argument types
    `spec` and publish its entry point as an LLVM symbol; returns (symbol, return
    type, argument types). Idempotent; kernels' modules call it on import."""
    key = (name, spec)
    hit = _symbols.get(key)
    if hit is not None:
        return hit
    with _lock:
        hit = _symbols.get(key)
        if hit is not None:
            return hit
        import llvmlite.binding as llvm

        from . import helpers

        dispatcher = getattr(helpers, name)
        argtys = _parse(spec)
        dispatcher.compile(argtys)
        cres = dispatcher.overloads[argtys]
        address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        symbol = "pullback_" + name + "__" + re.sub(r"[^a-z0-9]+", "_", spec)
        llvm.add_symbol(symbol, address)
        hit = _symbols[key] = (symbol, cres.signature.return_type, argtys)
        return hit


@intrinsic
def extern(typingctx, name, spec, *args):
    """helpers.<name>(*args), called by symbol (see the module's docstring)."""
    if len(args) == 1 and isinstance(args[0], types.StarArgTuple):
        args = tuple(args[0].types)
    if not isinstance(name, types.StringLiteral) or not isinstance(spec, types.StringLiteral):
        raise TypingError("_h.extern takes a helper's name and spec as string constants")
    declared = spec.literal_value
    actual = ";".join(_token(a) for a in args)
    if actual != declared:
        raise TypingError(f"_h.extern({name.literal_value!r}): declared {declared!r}, "
                          f"called with {actual!r} (a code generator bug)")
    symbol, restype, argtys = require(name.literal_value, declared)
    star = types.StarArgTuple(args)

    def codegen(context, builder, sig, llargs):
        from .intrinsics import _copy_c

        values, copies = [], []
        for value, have, want in zip(cgutils.unpack_tuple(builder, llargs[2]), args, argtys):
            if isinstance(have, types.Array):
                if have.layout != "C":
                    have, value = _copy_c(context, builder, have, value)
                    copies.append((have, value))
                # readonly, unaligned and C arrays share one data model: the struct as is
                values.append(value)
            else:
                values.append(context.cast(builder, value, have, want))
        fnty = context.call_conv.get_function_type(restype, argtys)
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        status, result = context.call_conv.call_function(builder, fn, restype, argtys, values)
        for have, value in copies:
            context.nrt.decref(builder, have, value)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return result
    return restype(name, spec, star), codegen
