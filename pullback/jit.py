"""pb.jit: trace once per signature, optimize, compile, cache; dispatch fast.

The backend's compile_traced(traced IR) does the optimizing: the numba backend
reuses a stored program for an IR it has seen (also in an earlier process) and
optimizes only when the IR itself is asked for (`entry.ir`).

Called inside another trace (`grad(jit(f))`, `jit` within `jit`), a jitted
function inlines its optimized IR into the enclosing trace through `eval_ir`,
so outer transformations see ordinary equations.

A call that hits the cache (numba backend) costs a key built from the argument
types (shapes and dtypes of arrays), one dict lookup and the compiled code: with
only scalar arguments, Numba's compiled overload itself (no type dispatch; see
backends/numba `specialize`), then np.array for a 0-d result (results are always
fresh arrays); pytree arguments are flattened and keyed the same way.
"""
from __future__ import annotations

import functools
import inspect
import os
import threading
import weakref

import numpy as np

from .api import (_arg_names, _as_tuple, _fn_name, check_callable, check_static_params,
                  flatten_inputs, static_key, to_output, trace_to_ir)
from .backends import get_backend
from .backends.interpreter import eval_ir
from .tracer.pytree import tree_flatten, tree_unflatten
from .tracer.trace import Tracer


class _Entry:
    __slots__ = ("optimized", "out_tree", "compiled", "unflatten")

    def __init__(self, optimized, out_tree, compiled):
        self.optimized, self.out_tree, self.compiled = optimized, out_tree, compiled
        self.unflatten = _unflattener(out_tree)

    @property
    def source(self):
        """The generated source of the code that runs (a numba entry may switch to
        an unguarded kernel: backends/numba _link), None for the interpreter."""
        return getattr(self.compiled, "source", None)

    @property
    def ir(self):
        """The optimized IR (built on demand when the backend reused a stored program)."""
        return self.optimized()

    def fast_call(self, args):
        """(call, finish) for later calls like `args`: finish(call(*args)) is the
        result, finish None meaning call's value already is."""
        specialize = getattr(self.compiled, "specialize", None)
        if specialize is not None and self.out_tree.kind == "leaf":
            return specialize(args)  # one output that is the whole result
        return self.compiled, self.unflatten


class _Inlined:
    """The traced IR of a call that can only be inlined into the enclosing trace."""
    __slots__ = ("ir", "out_tree")
    source = None

    def __init__(self, ir, out_tree):
        self.ir, self.out_tree = ir, out_tree


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


def _leaves_key(leaves):
    """A cheap signature key: (shape, dtype) for an array, the type for anything else.
    Only calls whose leaves all are arrays or _LEAF_TYPES scalars are stored under it.
    (A loop: on Python 3.11 a comprehension costs a function call more.)"""
    key = []
    for a in leaves:
        key.append((a.shape, a.dtype) if type(a) is _ndarray else type(a))
    return tuple(key)


def _fast_key(args):
    if len(args) == 1:  # the common case, without building a tuple
        a = args[0]
        return (a.shape, a.dtype, 1) if type(a) is _ndarray else type(a)
    return _leaves_key(args)


def _plain_number(x):
    """An int or float subclass (an IntEnum member) as the plain Python number, which
    the kernel takes (Numba types an IntEnum member as its own type); anything else as
    it is. Such leaves are not keyable: only the slow path meets them."""
    if type(x) in _LEAF_TYPES or isinstance(x, np.generic):
        return x
    if isinstance(x, float):
        return float(x)
    return int(x) if isinstance(x, int) else x


def _keyable(leaves):
    return all(type(a) is _ndarray or type(a) in _LEAF_TYPES for a in leaves)


class _KeywordCall:
    """f called with `n_pos` positional arguments and keyword arguments `names`, as a
    function of positional arguments only (what Jitted traces and keys by type, so a
    keyword call takes the same fast path), with the static keyword arguments bound.
    Errors name the positional arguments as f does and keyword arguments by keyword."""

    def __init__(self, f, n_pos, names, static_kwargs):
        self.f, self.n_pos, self.names = f, n_pos, names
        self.static_kwargs = dict(static_kwargs)
        self.__name__ = self.__qualname__ = _fn_name(f)
        self._pullback_arg_names = _arg_names(f, n_pos) + list(names)

    def __call__(self, *args):
        n = self.n_pos
        return self.f(*args[:n], **dict(zip(self.names, args[n:])), **self.static_kwargs)


def static_params(f, static_argnums, static_argnames, who="pb.jit"):
    """(static_argnums, static_argnames as tuples, the positions static by name, the
    keywords static by name or position), checked against f's parameters. As in JAX,
    static_argnames and static_argnums name the same parameters both ways: a parameter
    named static is static passed by position, and one whose position is static is
    static passed by keyword (a negative position counts from the last argument
    passed, never a keyword)."""
    argnums = _as_tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else static_argnames or ()
    if not (isinstance(names, (tuple, list, set, frozenset))
            and all(isinstance(n, str) for n in names)):
        raise TypeError(f"static_argnames must be a str or a tuple of str, got "
                        f"{static_argnames!r}")
    names = tuple(names)
    check_static_params(f, argnums, names, who)
    params = _positional_params(f)
    by_name = tuple(i for i, name in enumerate(params) if name in names and i not in argnums)
    keywords = set(names) | {params[i] for i in argnums if 0 <= i < len(params)}
    return argnums, names, by_name, keywords


def _positional_params(f):
    """Names of f's parameters that can be passed by position, in order."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):  # no signature (a builtin)
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds]


# Every Jitted, to give each a new lock in a child forked while another thread
# traced or compiled it: the holder does not survive the fork, and the child would
# wait forever at its first call (what the lock guards are dicts, consistent
# under the GIL; the Numba backend waits for a running compilation to end).
_LIVE = weakref.WeakSet()


def _new_locks_after_fork():
    for jitted in list(_LIVE):
        jitted._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


class Jitted:
    def __init__(self, f, static_argnums=(), backend="numba", parallel=False,
                 static_argnames=()):
        self.f = f
        (self.static_argnums, self.static_argnames, self._static_by_name,
         self._static_keywords) = static_params(f, static_argnums, static_argnames)
        self.backend_name = backend
        self.backend = get_backend(backend)
        self.parallel = bool(parallel)
        self._cache = {}
        # The lean per-call paths (numba outputs already are NumPy arrays):
        # _fast_key(args) -> (call, finish) when every argument is an array or scalar,
        # (input tree, _leaves_key(leaves)) -> entry for other pytrees of them.
        self._fast_ok = not (self.static_argnums or self._static_by_name) and backend == "numba"
        self._fast = {}
        self._tree_fast = {}
        # (n positional, keyword names) -> (static names, dynamic names, {static values: Jitted})
        self._keyword_plans = {}
        # reentrant: a jitted function may call itself while it is traced
        # (recursion on a static argument unrolls, one entry per value)
        self._lock = threading.RLock()
        _LIVE.add(self)
        # updated=(): merging f.__dict__ would overwrite self.f/_cache/_fast when f
        # carries a Jitted's attributes (pb.grad(jitted) copies them via functools.wraps)
        functools.update_wrapper(self, f, updated=())

    def __reduce__(self):
        # copy/deepcopy/cloudpickle: a new Jitted of the same function and options (its
        # own lock and compiled entries; pickle needs f itself to pickle, e.g. cloudpickle)
        return (Jitted, (self.f, self.static_argnums, self.backend_name, self.parallel,
                         self.static_argnames))

    def _entry(self, args):
        leaves, sig = flatten_inputs(self.f, args, self._argnums(len(args)))
        entry = self._cache.get(sig)
        if entry is None:
            with self._lock:
                entry = self._cache.get(sig)
                if entry is None:
                    traced, _, out_tree = trace_to_ir(self.f, args, self._argnums(len(args)))
                    if any(isinstance(c, Tracer) for c in traced.consts):
                        # f closes over values of an enclosing trace (pb.grad(lambda y:
                        # pb.jit(lambda z: z * y)(x))): inlined there, never compiled
                        # nor cached, as those values belong to that trace only
                        return leaves, sig, _Inlined(traced, out_tree)
                    compiled, optimized = self.backend.compile_traced(
                        traced, parallel=self.parallel)
                    entry = _Entry(optimized, out_tree, compiled)
                    self._cache[sig] = entry
        return leaves, sig, entry

    def __call__(self, *args, **kwargs):
        if kwargs:
            inner, dynamic = self._keyword_call(args, kwargs)
            return inner(*args, *dynamic)
        # Cache hit: a key from the arguments' types (shapes and dtypes of arrays),
        # one dict lookup, the compiled code; no flattening, tracing or IR hashing.
        # The one-argument key is _fast_key inlined: a call costs as much as the key.
        if len(args) == 1:
            a = args[0]
            key = (a.shape, a.dtype, 1) if type(a) is _ndarray else type(a)
        else:
            key = _leaves_key(args)
        hit = self._fast.get(key)
        if hit is not None:
            call, finish = hit
            try:
                out = call(*args)
            except OverflowError:  # a Python int beyond int64: name the argument
                flatten_inputs(self.f, args, self._argnums(len(args)))
                raise
            return out if finish is None else finish(out)
        return self._call_slow(args)

    def _call_slow(self, args):
        if self._tree_fast:  # pytree arguments: flatten, then the same kind of key
            leaves, in_tree = tree_flatten(args)
            entry = self._tree_fast.get((in_tree, _leaves_key(leaves)))
            if entry is not None:
                try:
                    return entry.unflatten(entry.compiled(*leaves))
                except OverflowError:  # as in __call__
                    flatten_inputs(self.f, args, self._argnums(len(args)))
                    raise
        leaves, sig, entry = self._entry(args)
        if type(entry) is _Inlined or any(isinstance(x, Tracer) for x in leaves):
            outs = eval_ir(entry.ir, entry.ir.consts, leaves)
            return tree_unflatten(entry.out_tree, outs)
        outs = entry.compiled(*map(_plain_number, leaves))
        # registered after the call: Numba has compiled the overload these arguments need
        if self._fast_ok and _keyable(leaves):
            if _keyable(args):  # every argument is a leaf
                self._fast[_fast_key(args)] = entry.fast_call(args)
            else:
                self._tree_fast[(sig.in_tree, _leaves_key(leaves))] = entry
        return tree_unflatten(entry.out_tree, [to_output(o) for o in outs])

    def _argnums(self, n):
        """The static positions of a call with n positional arguments."""
        if not self._static_by_name:
            return self.static_argnums
        return self.static_argnums + tuple(i for i in self._static_by_name if i < n)

    def _keyword_call(self, args, kwargs):
        """(the Jitted that calls f with keyword arguments of these names, in this
        order, and these static values; the dynamic values, positionally). Keyword
        arguments named in static_argnames, or naming a parameter whose position is
        in static_argnums (as in JAX), are static; the others are traced like
        positional arguments."""
        plan = self._keyword_plans.get((len(args), tuple(kwargs)))
        if plan is None:  # one plan per set of names: f(a=1, b=2), f(b=2, a=1) one trace
            names = tuple(sorted(kwargs))
            static = self._static_keywords
            plan = (tuple(k for k in names if k in static),
                    tuple(k for k in names if k not in static), {})
            with self._lock:
                plan = self._keyword_plans.setdefault((len(args), names), plan)
                self._keyword_plans[(len(args), tuple(kwargs))] = plan
        static_names, dynamic_names, inners = plan
        statics = tuple(kwargs[k] for k in static_names)
        if any(isinstance(v, Tracer) for v in statics):
            from .api import _static_value  # (api imports this module)

            # a traced value passes when known (eager grad), else a ConcretizationError
            statics = tuple(_static_value(v, k) for v, k in zip(statics, static_names))
        key = tuple(static_key(v) for v in statics)  # 1, 1.0, True, -0.0 apart
        try:
            inner = inners.get(key)
        except TypeError:  # an unhashable static value: named below
            inner = None
        if inner is None:
            for name, v in zip(static_names, statics):
                try:
                    hash(v)
                except TypeError:
                    raise TypeError(f"static argument {name!r} has unhashable type "
                                    f"{type(v).__name__}; static arguments must be "
                                    "hashable") from None
            with self._lock:
                inner = inners.get(key)
                if inner is None:
                    n = len(args)
                    # positions among the n passed (the inner call appends keywords)
                    argnums = tuple(i % n for i in self._argnums(n) if -n <= i < n)
                    call = _KeywordCall(self.f, n, dynamic_names, zip(static_names, statics))
                    inner = inners[key] = Jitted(call, argnums, self.backend_name,
                                                 self.parallel)
        return inner, [kwargs[k] for k in dynamic_names]

    def ir(self, *args, **kwargs):
        """The optimized IR compiled for these arguments."""
        if kwargs:
            inner, dynamic = self._keyword_call(args, kwargs)
            return inner.ir(*args, *dynamic)
        return self._entry(args)[2].ir

    def source(self, *args, **kwargs):
        """The generated source handed to the backend for these arguments."""
        if kwargs:
            inner, dynamic = self._keyword_call(args, kwargs)
            return inner.source(*args, *dynamic)
        src = self._entry(args)[2].source
        if src is None:
            raise ValueError(f"backend {self.backend_name!r} generates no source")
        return src

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


def jit(f=None, *, static_argnums=(), backend="numba", parallel=False, static_argnames=()):
    """Decorator: `@pb.jit` or `@pb.jit(static_argnums=..., backend=..., parallel=...)`.

    Keyword arguments of a call are traced like positional ones (their names are
    part of the key), except those named in static_argnames or naming a parameter
    whose position is in static_argnums, which are static: hashable, part of the key.

    parallel=True (numba backend): a loop over at least 2**16 elements whose
    iterations are independent (elementwise work, a vmap, a per-row reduction)
    runs its outer loop on Numba's threads (numba.prange; NUMBA_NUM_THREADS, by
    default one per core), also inside loop bodies; a reduction across the outer
    loop (a sum of every element, column sums) adds up blocks in parallel. Off by
    default: each such loop adds ~0.3-0.6 s to the first compile."""
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums, backend=backend,
                                 parallel=parallel, static_argnames=static_argnames)
    check_callable(f, "jit")
    return Jitted(f, static_argnums, backend, parallel, static_argnames)


def jit_stats():
    """Compile and cache counters of the numba backend (see backends/numba/cache.py):
    kernels_generated, memory_hits, disk_source_hits, disk_entries_rebuilt,
    program_hits (traced IRs whose optimized kernel came from the cache: no passes
    ran), numba_compiles (machine code built in this process), numba_disk_loads."""
    from .backends.numba import stats

    return stats()
