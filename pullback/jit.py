"""pb.jit: trace once per signature, optimize, compile, cache; dispatch fast.

Called inside another trace (`grad(jit(f))`, `jit` within `jit`), a jitted
function inlines its optimized IR into the enclosing trace through `eval_ir`,
so outer transformations see ordinary equations.
"""
from __future__ import annotations

import functools
import threading

from .api import _as_tuple, flatten_inputs, to_output, trace_to_ir
from .backends import get_backend
from .backends.interpreter import eval_ir
from .tracer.pytree import tree_unflatten
from .tracer.trace import Tracer


class _Entry:
    __slots__ = ("ir", "out_tree", "compiled", "source")

    def __init__(self, ir, out_tree, compiled, source):
        self.ir, self.out_tree, self.compiled, self.source = ir, out_tree, compiled, source


class Jitted:
    def __init__(self, f, static_argnums=(), backend="numba"):
        self.f = f
        self.static_argnums = _as_tuple(static_argnums)
        self.backend_name = backend
        self.backend = get_backend(backend)
        self._cache = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, f)

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
        leaves, entry = self._entry(args)
        if any(isinstance(x, Tracer) for x in leaves):
            outs = eval_ir(entry.ir, entry.ir.consts, leaves)
            return tree_unflatten(entry.out_tree, outs)
        outs = entry.compiled(*leaves)
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
