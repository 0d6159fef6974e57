"""pb.jit: trace once per signature, optimize, compile, cache; dispatch fast.

Called inside another trace (`grad(jit(f))`, `jit` within `jit`), a jitted
function inlines its optimized IR into the enclosing trace through `eval_ir`,
so outer transformations see ordinary equations.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from .api import _as_tuple, flatten_inputs, to_output, trace_to_ir
from .backends import get_backend
from .backends.interpreter import eval_ir
from .tracer.pytree import tree_unflatten
from .tracer.trace import Tracer


class _Entry:
    __slots__ = ("ir", "out_tree", "compiled", "source", "unflatten", "direct")

    def __init__(self, ir, out_tree, compiled, source):
        self.ir, self.out_tree, self.compiled, self.source = ir, out_tree, compiled, source
        self.unflatten = _unflattener(out_tree)
        # one output that is the whole result: call the backend's single-output entry
        self.direct = getattr(compiled, "first", None) if out_tree.kind == "leaf" else None


def _unflattener(out_tree):
    """outs -> user pytree, specialized for the common shapes of output trees."""
    if out_tree.kind == "leaf":
        return _first
    if out_tree.kind == "tuple" and all(c.kind == "leaf" for c in out_tree.children):
        return tuple
    return functools.partial(tree_unflatten, out_tree)


def _first(outs):
    return outs[0]


_ndarray = np.ndarray
_LEAF_TYPES = (float, int, bool, np.float64, np.float32, np.int64, np.int32, np.bool_)


def _fast_key(args):
    """A cheap signature key: (shape, dtype) for arrays, the type for anything else.
    Only calls whose arguments are all array/scalar leaves are ever stored under it."""
    if len(args) == 1:  # the common case, without building a tuple
        a = args[0]
        return (a.shape, a.dtype, 1) if type(a) is _ndarray else type(a)
    return tuple([(a.shape, a.dtype) if type(a) is _ndarray else type(a) for a in args])


def _fast_keyable(args):
    return all(type(a) is _ndarray or type(a) in _LEAF_TYPES for a in args)


class Jitted:
    def __init__(self, f, static_argnums=(), backend="numba"):
        self.f = f
        self.static_argnums = _as_tuple(static_argnums)
        self.backend_name = backend
        self.backend = get_backend(backend)
        self._cache = {}
        self._fast = {}  # _fast_key(args) -> entry, for the lean per-call path
        self._lock = threading.Lock()
        # updated=(): merging f.__dict__ would overwrite self.f/_cache/_fast when f
        # carries a Jitted's attributes (pb.grad(jitted) copies them via functools.wraps)
        functools.update_wrapper(self, f, updated=())

    def _entry(self, args):
        leaves, sig = flatten_inputs(self.f, args, self.static_argnums)
        entry = self._cache.get(sig)
        if entry is None:
            with self._lock:
                entry = self._cache.get(sig)
                if entry is None:
                    entry = self._build(args)
                    self._cache[sig] = entry
        return leaves, entry

    def _build(self, args):
        from .passes.manager import optimize

        ir, _, out_tree = trace_to_ir(self.f, args, self.static_argnums)
        ir = optimize(ir)
        compiled = self.backend.compile(ir)
        return _Entry(ir, out_tree, compiled, getattr(compiled, "source", None))

    def __call__(self, *args):
        fast = self._fast
        if fast:
            entry = fast.get(_fast_key(args))
            if entry is not None:  # cache hit: no flattening, tracing or hashing of IRs
                direct = entry.direct
                if direct is not None:
                    return direct(*args)
                return entry.unflatten(entry.compiled(*args))
        leaves, entry = self._entry(args)
        if any(isinstance(x, Tracer) for x in leaves):
            outs = eval_ir(entry.ir, entry.ir.consts, leaves)
            return tree_unflatten(entry.out_tree, outs)
        outs = entry.compiled(*leaves)
        if not self.static_argnums and self.backend_name == "numba" and _fast_keyable(args):
            self._fast[_fast_key(args)] = entry
        return tree_unflatten(entry.out_tree, [to_output(o) for o in outs])

    def ir(self, *args):
        """The optimized IR compiled for these arguments."""
        return self._entry(args)[1].ir

    def source(self, *args):
        """The generated source handed to the backend for these arguments."""
        src = self._entry(args)[1].source
        if src is None:
            raise ValueError(f"backend {self.backend_name!r} generates no source")
        return src

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


def jit(f=None, *, static_argnums=(), backend="numba"):
    """Decorator: `@pb.jit` or `@pb.jit(static_argnums=..., backend=...)`."""
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums, backend=backend)
    return Jitted(f, static_argnums, backend)


def jit_stats():
    """Compile and cache counters of the numba backend (see backends/numba/cache.py):
    kernels_generated, memory_hits, disk_source_hits, disk_entries_rebuilt,
    numba_compiles (machine code built in this process), numba_disk_loads."""
    from .backends.numba import stats

    return stats()
