"""make_ir and jit: from a Python function on pytrees to a flat IR and back."""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .ir import primitives as P
from .ir.core import ShapedArray, canonical_dtype
from .tracer import numpy_api  # noqa: F401  (installs NumPy dispatch on Tracer)
from .tracer import lax
from .tracer.lax import _PY_SCALARS
from .tracer.pytree import leaf_paths, tree_flatten, tree_unflatten
from .tracer.trace import Tracer, WeakTracer, trace


# ---------------------------------------------------------------- arguments
def _fn_name(f):
    return getattr(f, "__name__", type(f).__name__)


def check_callable(f, what):
    if not callable(f):
        got = f"a traced array {f.aval}" if isinstance(f, Tracer) else type(f).__name__
        raise TypeError(f"{what} expects a function, got {got}")


def with_kwargs(f, kwargs):
    """`f` with keyword arguments bound (pb.grad(f)(x, y=2.0), pb.make_ir(f)(x, y=2.0)):
    constants of the trace, never differentiated, as in JAX."""
    if not kwargs:
        return f
    g = functools.partial(f, **kwargs)
    g.__name__ = _fn_name(f)
    return g


def _arg_names(f, n):
    names = getattr(f, "_pullback_arg_names", None)  # set by wrappers (pb.jit's keyword calls)
    if names is not None:
        return [names[i] if i < len(names) else f"args[{i}]" for i in range(n)]
    try:
        params = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"args[{i}]" for i in range(n)]


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
# what pullback traces as an array leaf (inputs, outputs, aux, control-flow results)
VALUE_TYPES = (Tracer, np.ndarray, np.generic, bool, int, float)


def abstractify(x, path):
    """The aval of one input leaf, or a TypeError (OverflowError for a Python int
    beyond int64) naming where it sits."""
    if isinstance(x, Tracer):
        return x.aval
    if type(x) is int and not _INT64_MIN <= x <= _INT64_MAX:
        raise OverflowError(f"argument {path}: the Python int {x} does not fit in int64; "
                            "pass it as a float, or mark it static with static_argnums")
    lax.refuse_array_subclass(x, f"argument {path}")
    if isinstance(x, VALUE_TYPES):  # not a Tracer: handled above
        arr = np.asarray(x)
        try:
            return ShapedArray(arr.shape, canonical_dtype(arr.dtype))
        except TypeError as e:
            raise TypeError(f"argument {path}: {e}") from None
    raise TypeError(
        f"argument {path} has type {type(x).__name__}; pullback traces arrays and "
        "Python scalars inside tuples, lists and dicts (mark other arguments static: "
        "pb.jit's static_argnums, or static_argnames for keyword arguments; pb.vmap's "
        "in_axes None)"
    )


def pass_through(f, args, positions, untraced=None):
    """(f', args', kept): in the arguments at `positions`, every leaf that is not an array
    closed over by f' and left out of args', as JAX passes the arguments it does not
    differentiate (grad) or batch (vmap) through untouched: a Python int stays an
    int (`[0.0] * n`, `d[n]`, `x.reshape(n)`), True stays True (`flag is True`), a
    string a string. Arrays (and values of an enclosing trace) are traced as before,
    so a NumPy table indexed by a traced index still works. `untraced`, if given,
    maps a position to which of its leaves may pass (vmap: those with axis None);
    each such argument reaches args' as the list of its traced leaves, and `kept`
    maps its position to which of its leaves those are."""
    fixed = {}
    for i in positions:
        leaves, tree = tree_flatten(args[i])
        may = untraced[i] if untraced is not None else [True] * len(leaves)
        kept = [isinstance(x, (np.ndarray, Tracer)) or not m for x, m in zip(leaves, may)]
        if not all(kept):
            fixed[i] = (tree, leaves, kept)
    if not fixed:
        return f, args, {}

    def rebuild(i, traced):
        tree, leaves, kept = fixed[i]
        it = iter(traced)
        return tree_unflatten(tree, [next(it) if k else x for x, k in zip(leaves, kept)])

    @functools.wraps(f)
    def with_fixed(*a):
        return f(*(rebuild(i, v) if i in fixed else v for i, v in enumerate(a)))

    return with_fixed, tuple(
        [x for x, k in zip(fixed[i][1], fixed[i][2]) if k] if i in fixed else v
        for i, v in enumerate(args)), {i: kept for i, (_, _, kept) in fixed.items()}


def _static_value(x, i):
    """A static argument as a Python/NumPy value: a traced one passes when its
    value is known (an argument of an eager grad or jvp: `pb.grad(pb.jit(f,
    static_argnums=1))(x, 4)`); a float one must not carry a derivative (ad
    checks what _concrete records)."""
    if not isinstance(x, Tracer):
        return x
    v = x._concrete(f"static argument {i}", number=True)
    if v.ndim:
        return v  # unhashable: refused below, as an array argument would be
    return v.item() if isinstance(x, WeakTracer) else v[()]


def leaf_value(x):
    """The concrete value of an input leaf (None for an abstract tracer)."""
    if isinstance(x, Tracer):
        return x.val
    return np.asarray(x)


def static_key(v):
    """A static value as a cache key that tells apart what == does not: 1, 1.0 and
    True (another type gives another trace), 0.0 and -0.0 (1/s differs), while NaN
    matches itself (nan != nan would make every call a new trace)."""
    if isinstance(v, (float, np.floating)):
        return (type(v), "nan" if v != v else v, math.copysign(1.0, v))
    if isinstance(v, tuple):
        return (type(v), tuple(static_key(x) for x in v))
    return (type(v), v)


class Signature:
    """What a trace depends on: pytree structure, avals, static argument values,
    and which leaves are Python scalars (weakly typed: `weak`, their positions)."""

    __slots__ = ("in_tree", "avals", "static", "weak", "_key", "_hash")

    def __init__(self, in_tree, avals, static, weak):
        self.in_tree, self.avals, self.static = in_tree, tuple(avals), static
        self.weak = weak
        self._key = tuple((i, static_key(v)) for i, v in static)
        self._hash = hash((in_tree, self.avals, self._key, weak))

    def __eq__(self, o):
        return (self.in_tree == o.in_tree and self.avals == o.avals
                and self._key == o._key and self.weak == o.weak)

    def __hash__(self):
        return self._hash


def check_static_params(f, static_argnums, static_argnames=(), who="pb.jit"):
    """Raise, when f is wrapped, for static_argnums beyond f's positional parameters
    and static_argnames that are none of its parameters (as JAX does), unless f takes
    *args or **kwargs there."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):  # no signature (a builtin): nothing to check
        return
    kinds = {p.kind for p in params}
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    n = len(positional)
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        bad = [i for i in static_argnums if not -n <= i < n]
        if bad:
            raise ValueError(f"{who}: static_argnums={tuple(static_argnums)}, but "
                             f"{_fn_name(f)} takes {n} positional argument(s)")
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        names = {p.name for p in params if p.kind != inspect.Parameter.POSITIONAL_ONLY}
        bad = [a for a in static_argnames if a not in names]
        if bad:
            raise ValueError(f"{who}: static_argnames {bad} are not parameters of "
                             f"{_fn_name(f)}")


def split_static(args, static_argnums):
    """(dynamic args, ((position, static value), ...)). Negative positions count from
    the last argument passed; a position beyond them names a parameter left to its
    default (pb.jit(f, static_argnums=1)(x) for f(x, n=2)), which is f's own."""
    n = len(args)
    static_argnums = tuple(i % n for i in static_argnums if -n <= i < n)
    dyn = tuple(a for i, a in enumerate(args) if i not in static_argnums)
    static = tuple((i, _static_value(args[i], i)) for i in sorted(static_argnums))
    for i, v in static:
        try:
            hash(v)
        except TypeError:
            raise TypeError(
                f"static argument {i} has unhashable type {type(v).__name__}; "
                "static arguments must be hashable"
            ) from None
    return dyn, static


def merge_static(dyn, static, n):
    args, it = [], iter(dyn)
    smap = dict(static)
    for i in range(n):
        args.append(smap[i] if i in smap else next(it))
    return args


def flatten_inputs(f, args, static_argnums=()):
    """(flat leaves, Signature) for a call f(*args)."""
    dyn, static = split_static(args, static_argnums)
    leaves, in_tree = tree_flatten(tuple(dyn))
    try:
        avals = [abstractify(x, "") for x in leaves]
    except (TypeError, OverflowError):
        # Name the offending leaf. Paths need inspect.signature, so they are built
        # only here, never on the per-call path of a jitted function.
        for x, p in zip(leaves, _leaf_paths(f, args, static, in_tree)):
            abstractify(x, p)
        raise
    # Python scalars, and traced ones of an enclosing trace (jit(vmap(f))(x, 0.5))
    weak = tuple(i for i, x in enumerate(leaves)
                 if type(x) in _PY_SCALARS or type(x) is WeakTracer)
    return leaves, Signature(in_tree, avals, static, weak)


def _leaf_paths(f, args, static, in_tree):
    static_idx = dict(static)
    names = [n for i, n in enumerate(_arg_names(f, len(args))) if i not in static_idx]
    paths = []
    for k, child in enumerate(in_tree.children):
        paths += [names[k] + p for p in leaf_paths(child)]
    return paths


def check_outputs(f, out_leaves):
    for i, o in enumerate(out_leaves):
        if not isinstance(o, VALUE_TYPES):
            raise TypeError(
                f"output {i} of {_fn_name(f)} has type {type(o).__name__}; outputs must "
                "be arrays or Python scalars inside tuples, lists and dicts"
            )
        if type(o) is int and not _INT64_MIN <= o <= _INT64_MAX:
            raise OverflowError(f"output {i} of {_fn_name(f)}: the Python int {o} does not "
                                "fit in int64")


def trace_to_ir(f, args, static_argnums=(), concrete=False, numbers=None):
    """Trace f(*args) into a flat IR. Returns (ir, signature, out_tree).

    With `concrete`, the inputs' values travel along (eager mode: Python control
    flow on values works); otherwise the trace is abstract, as under jit.
    `concrete` may also be one bool per leaf (vmap: its unbatched leaves). A list
    given as `numbers` receives where float values became Python numbers
    (tracer.trace.Builder.numbers).
    """
    leaves, sig = flatten_inputs(f, args, static_argnums)
    out_tree_box = []

    def flat_fn(*flat):
        dyn = tree_unflatten(sig.in_tree, flat)
        out = f(*merge_static(dyn, sig.static, len(args)))
        out_leaves, out_tree = tree_flatten(out)
        check_outputs(f, out_leaves)
        out_tree_box.append(out_tree)
        return out_leaves

    # the values known (all of them eagerly; the static-like ones, e.g. an int of
    # pb.jit(pb.grad(f), static_argnums=1), when an enclosing trace is abstract)
    if concrete is True or concrete is False:
        concrete = [concrete] * len(leaves)
    vals = [leaf_value(x) if c else None for x, c in zip(leaves, concrete)]
    if not any(v is not None for v in vals):
        vals = None
    ir = trace(flat_fn, sig.avals, vals, weak=sig.weak, numbers=numbers)
    return ir, sig, out_tree_box[0]


# ---------------------------------------------------------------- make_ir
def make_ir(f=None, *, optimize=False, static_argnums=(), static_argnames=()):
    """`make_ir(f)(*args, **kwargs)` returns the IR of f at these argument shapes: the
    one pb.jit traces, so keyword arguments are inputs too (as in JAX's make_jaxpr)
    unless static_argnames, or static_argnums by their position, name them."""
    if f is None:
        return functools.partial(make_ir, optimize=optimize, static_argnums=static_argnums,
                                 static_argnames=static_argnames)
    check_callable(f, "make_ir")
    from .jit import _KeywordCall, static_params

    static_argnums, _, by_name, static_keywords = static_params(
        f, static_argnums, static_argnames, who="make_ir")

    @functools.wraps(f)
    def build(*args, **kwargs):
        n = len(args)
        fn, argnums = f, static_argnums + tuple(i for i in by_name if i < n)
        if kwargs:  # as pb.jit's keyword calls: traced after the positional arguments,
            # in the order of their names
            names = tuple(k for k in sorted(kwargs) if k not in static_keywords)
            fn = _KeywordCall(f, n, names, [(k, v) for k, v in sorted(kwargs.items())
                                            if k in static_keywords])
            argnums = tuple(i % n for i in argnums if -n <= i < n)
            args = args + tuple(kwargs[k] for k in names)
        ir, _, _ = trace_to_ir(fn, args, argnums)
        forward = P.forward_custom_vjp(ir)
        if forward is not None:  # an IR no backend could run (JAX's make_jaxpr raises too)
            raise NotImplementedError(P.custom_vjp_forward_error(forward))
        if optimize:
            from .passes.manager import optimize as run_pipeline

            ir = run_pipeline(ir)
        return ir

    return build


def _as_tuple(x, what="static_argnums"):
    """An int, a sequence of ints or None (none) as a tuple of Python ints."""
    if x is None:
        return ()
    items = (x,) if isinstance(x, (int, np.integer)) else x
    try:
        items = tuple(items)
    except TypeError:
        items = (x,)
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        raise TypeError(f"{what} must be an int or a tuple of ints, got {x!r}")
    if len(set(int(i) for i in items)) != len(items):
        raise ValueError(f"{what} has duplicates: {x!r}")
    return tuple(int(i) for i in items)


def to_output(x):
    """Results leave pullback as NumPy arrays (0-d arrays for scalars)."""
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


def owned_output(x):
    """A result of the interpreter as a fresh array the caller owns: its values may be
    an argument, a cotangent, a view of one, or a read-only broadcast. Tracers of an
    enclosing trace stay."""
    return x if isinstance(x, Tracer) else np.array(x)
