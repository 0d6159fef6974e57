"""Plain NumPy on traced values: the dispatch tables and the helpers every rule shares.

NumPy functions decompose into primitives (through tracer.lax); they never grow
the primitive set. Two tables:

    UFUNCS[np.sin]              -> implementation, reached through Tracer.__array_ufunc__
    FUNCTIONS[np.sum]           -> implementation, reached through Tracer.__array_function__
    FUNCTIONS[(np.add, "reduce")] -> a ufunc method (reduce, accumulate, outer)

This module holds the tables, the `implements`/`ufunc` registration decorators, the
two protocol hooks, error helpers and the operand helpers (_norm, _arr, _axes, ...).
The rules live in topic modules, imported at the bottom (each registers on import):

    np_elementwise  ufuncs (math, arithmetic, comparisons, logic, bits), where/select,
                    clip/round/isclose/nan_to_num, dtype and real/imag, ufunc.outer
    np_shape        shape queries, reshape/transpose/squeeze/broadcast, *_like,
                    concatenate/stack/split, flip/roll/tile/repeat, take, pad,
                    append, linspace/meshgrid
    np_reductions   sum/prod/max/min/all/any, mean/var/std/average, argmax, nan*,
                    cumsum/cumprod, allclose, ufunc.reduce/accumulate
    np_linalg       matmul/dot/inner/outer/tensordot/kron/cross, diagonal/trace/
                    triu/tril/diag, einsum, norms, np.linalg.*, cov/corrcoef
    np_signal       diff/ediff1d, searchsorted/interp, convolve/correlate, trapezoid
    np_methods      operators, ndarray methods and properties on Tracer
                    (indexing is tracer/indexing.py)

A NumPy function missing from the tables raises NotImplementedError naming it.
Implementations accept what NumPy accepts: tracers, NumPy arrays, lists and
Python scalars. Python scalars stay weakly typed (NEP 50); NumPy scalars such as
`np.float64(2.0)` are strongly typed, as in NumPy 2.
"""
from __future__ import annotations

import functools
import operator
import sys

import numpy as np

from . import lax
from .trace import Tracer, _is_internal, strengthen, user_source
from .trace import where as _where_src

UFUNCS: dict = {}
# other libraries' ufuncs (scipy.special's), by their full name: importing those
# libraries to key them by object would cost every import of pullback
UFUNCS_BY_NAME: dict = {}
FUNCTIONS: dict = {}

_PY_SCALARS = (bool, int, float)


def _registrar(table):
    def decorator(*np_objects):
        def register(fn):
            for f in np_objects:
                table[f] = fn
            return fn

        return register

    return decorator


implements = _registrar(FUNCTIONS)  # @implements(np.sum, ...): rules for __array_function__
ufunc = _registrar(UFUNCS)  # @ufunc(np.add, ...): rules for __array_ufunc__


def _qualname(func):
    mod = getattr(func, "__module__", None) or "numpy"
    if mod.startswith("numpy"):
        mod = "numpy" + mod[len("numpy"):].replace("._core", "").replace(".core", "")
        mod = {"numpy.fromnumeric": "numpy", "numpy.numeric": "numpy",
               "numpy.multiarray": "numpy", "numpy.shape_base": "numpy"}.get(mod, mod)
    return f"{mod}.{getattr(func, '__name__', func)}"


def unsupported(name, why=""):
    return NotImplementedError(
        f"{name} is not supported on traced arrays by pullback"
        f"{' (' + why + ')' if why else ' (no rule for it)'}."
        f"{_where_src(user_source(2))}"
    )


def _with_user_line(fn):
    """Shape, axis, index and dtype errors raised by NumPy-level rules name the
    user's line."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, IndexError, TypeError) as e:
            msg = str(e)
            if "\n  at File" in msg or not _raised_internally(e):
                raise  # named already, or the user's own (a callback's): unchanged
            src = user_source(2)
            if src is None:
                raise
            try:
                new = type(e)(msg + _where_src(src))
            except Exception:  # exotic constructors: keep the original
                raise e from None
            raise new.with_traceback(e.__traceback__) from None

    return wrapped


def _raised_internally(err):
    """Whether the innermost Python frame of `err`'s traceback is pullback's or
    NumPy's (not a user function that a rule called, as apply_along_axis does)."""
    tb = err.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _is_internal(tb.tb_frame)


# ---------------------------------------------------------------- operands
def _norm(x):
    """One operand as lax expects it: tracers and Python scalars as they are,
    NumPy scalars as (strongly typed) 0-d arrays, sequences as arrays."""
    if isinstance(x, Tracer) or type(x) in _PY_SCALARS:
        return x
    if isinstance(x, np.generic):
        return lax.asarray(np.asarray(x))
    if isinstance(x, (np.ndarray, list, tuple)):
        return lax.asarray(x)
    if isinstance(x, _PY_SCALARS):  # subclasses of bool/int/float
        return lax.asarray(np.asarray(x))
    raise TypeError(
        f"cannot use a {type(x).__name__} as an array in a traced function"
        f"{_where_src(user_source(2))}"
    )


def _arr(x):
    """An array operand: like _norm, but Python scalars become 0-d arrays."""
    x = _norm(x)
    return np.asarray(x) if type(x) in _PY_SCALARS else x


def _shape(x):
    return tuple(lax.shape(x))


def _dt(x):
    return lax.dtype(x)


def _float_dtype(*xs):
    dt = lax.result_dtype(*xs)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _float(x):
    """Integer and bool inputs of transcendental functions compute in float64."""
    x = _norm(x)
    if type(x) in _PY_SCALARS:
        return float(x)
    return x if _dt(x).kind == "f" else lax.convert(x, np.float64)


def _sum_dtype(dt):
    """NumPy's accumulator dtype for sum/prod/cumsum: small ints and bool go to int64."""
    dt = np.dtype(dt)
    return np.dtype(np.int64) if dt.kind in "biu" else dt


def _norm_axis(a, nd):
    a = operator.index(a)  # NumPy's TypeError for axis=1.0
    if not -nd <= a < nd:
        raise np.exceptions.AxisError(a, nd)
    return a % nd


def _axes(axis, nd):
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, (tuple, list)):
        axes = tuple(_norm_axis(a, nd) for a in axis)
    else:
        axes = (_norm_axis(axis, nd),)
    if len(set(axes)) != len(axes):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return axes


def _keep(x, out, axes, keepdims):
    if not keepdims:
        return out
    shp = [1 if i in axes else d for i, d in enumerate(_shape(x))]
    return lax.reshape(out, shp)


def _consts_scalar(value, dt):
    return np.dtype(dt).type(value)


def _take_range(a, ax, start, stop, step=1):
    """a[..., start:stop:step, ...] along axis `ax` (static, non-negative bounds)."""
    shp = _shape(a)
    start = min(start, shp[ax])
    stop = max(start, min(stop, shp[ax]))
    lo = [0] * len(shp)
    hi = list(shp)
    st = [1] * len(shp)
    lo[ax], hi[ax], st[ax] = start, stop, step
    return lax.slice(a, lo, hi, st)


# ---------------------------------------------------------------- dispatch
def _ufunc_name(uf):
    """numpy.exp, scipy.special.erf, ...: where the user's ufunc comes from (any
    library's ufuncs dispatch here)."""
    for mod in ("numpy", "scipy.special"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, uf.__name__, None) is uf:
            return f"{mod}.{uf.__name__}"
    return f"the ufunc {uf.__name__!r}"


def _array_ufunc(self, uf, method, *inputs, **kwargs):
    if kwargs.get("out") is not None:
        raise TypeError(
            f"{_ufunc_name(uf)}(..., out=...) writes in place, which traced arrays "
            f"do not support{_where_src(user_source(2))}"
        )
    kwargs.pop("out", None)
    if method != "__call__":
        impl = FUNCTIONS.get((uf, method))
        if impl is None:
            raise unsupported(f"{_ufunc_name(uf)}.{method}")
        return impl(*inputs, **kwargs)
    impl = UFUNCS.get(uf)
    if impl is None:
        impl = UFUNCS_BY_NAME.get(_ufunc_name(uf))
    if impl is None:
        raise unsupported(_ufunc_name(uf))
    dtype = kwargs.pop("dtype", None)
    casting = kwargs.pop("casting", "same_kind")
    if kwargs.pop("where", True) is not True or kwargs:
        raise unsupported(f"{_ufunc_name(uf)} with arguments {sorted(kwargs) or ['where']}")
    inputs = [_norm(x) for x in inputs]
    if dtype is not None:
        dtype = np.dtype(dtype)
        for i, x in enumerate(inputs):  # NumPy's check of the inputs against its loop
            src = lax.dtype(x)
            if not np.can_cast(src, dtype, casting=casting):
                raise TypeError(f"Cannot cast ufunc {uf.__name__!r} input {i} from {src!r} "
                                f"to {dtype!r} with casting rule {casting!r}")
        inputs = [lax.convert(lax.asarray(x) if type(x) not in _PY_SCALARS else np.asarray(x),
                              dtype) for x in inputs]
    out = strengthen(impl(*inputs))
    if dtype is not None and any(lax.dtype(o) != dtype
                                 for o in (out if isinstance(out, tuple) else (out,))):
        # the loop NumPy would need (an int true_divide, a float-valued less) is absent
        raise TypeError(f"No loop matching the specified signature and casting was "
                        f"found for ufunc {uf.__name__}")
    return out


def _array_function(self, func, types, args, kwargs):
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise unsupported(_qualname(func))
    return strengthen(impl(*args, **kwargs))


Tracer.__array_ufunc__ = _with_user_line(_array_ufunc)
Tracer.__array_function__ = _with_user_line(_array_function)


# The topic modules register their rules on import. Order matters: each uses the ones
# before it, and np_methods (operators and ndarray methods on Tracer) uses them all.
from . import np_elementwise, np_shape, np_reductions, np_linalg, np_signal  # noqa: E402,F401
from . import np_methods  # noqa: E402,F401
from .np_methods import UnsupportedMethodError  # noqa: E402,F401
