"""Plain NumPy on traced values: __array_ufunc__, __array_function__, operators.

NumPy functions decompose into primitives (through tracer.lax) here; they never
grow the primitive set. Two tables:

    UFUNCS[np.sin]              -> implementation, reached through Tracer.__array_ufunc__
    FUNCTIONS[np.sum]           -> implementation, reached through Tracer.__array_function__
    FUNCTIONS[(np.add, "reduce")] -> a ufunc method (reduce, accumulate, outer)

A NumPy function missing from the tables raises NotImplementedError naming it.
Implementations accept what NumPy accepts: tracers, NumPy arrays, lists and
Python scalars. Python scalars stay weakly typed (NEP 50); NumPy scalars such as
`np.float64(2.0)` are strongly typed, as in NumPy 2.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from . import lax
from .trace import Tracer, user_source
from .trace import where as _where_src

UFUNCS: dict = {}
FUNCTIONS: dict = {}

_PY_SCALARS = (bool, int, float)


def implements(*np_funcs):
    def register(fn):
        for f in np_funcs:
            FUNCTIONS[f] = fn
        return fn

    return register


def ufunc(*np_ufuncs):
    def register(fn):
        for f in np_ufuncs:
            UFUNCS[f] = fn
        return fn

    return register


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
    """Shape, axis and index errors raised by NumPy-level rules name the user's line."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, IndexError) as e:
            msg = str(e)
            if "\n  at File" in msg:
                raise
            src = user_source(2)
            if src is None:
                raise
            try:
                new = type(e)(msg + _where_src(src))
            except Exception:  # exotic constructors: keep the original
                raise e from None
            raise new.with_traceback(e.__traceback__) from None

    return wrapped


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
    a = int(a)
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


# ---------------------------------------------------------------- dispatch
def _array_ufunc(self, uf, method, *inputs, **kwargs):
    if kwargs.get("out") is not None:
        raise TypeError(
            f"numpy.{uf.__name__}(..., out=...) writes in place, which traced arrays "
            f"do not support{_where_src(user_source(2))}"
        )
    kwargs.pop("out", None)
    if method != "__call__":
        impl = FUNCTIONS.get((uf, method))
        if impl is None:
            raise unsupported(f"numpy.{uf.__name__}.{method}")
        return impl(*inputs, **kwargs)
    impl = UFUNCS.get(uf)
    if impl is None:
        raise unsupported(f"numpy.{uf.__name__}")
    dtype = kwargs.pop("dtype", None)
    if kwargs.pop("where", True) is not True or kwargs:
        raise unsupported(f"numpy.{uf.__name__} with arguments {sorted(kwargs) or ['where']}")
    inputs = [_norm(x) for x in inputs]
    if dtype is not None:
        inputs = [lax.convert(lax.asarray(x) if type(x) not in _PY_SCALARS else np.asarray(x),
                              dtype) for x in inputs]
    return impl(*inputs)


def _array_function(self, func, types, args, kwargs):
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise unsupported(_qualname(func))
    return impl(*args, **kwargs)


Tracer.__array_ufunc__ = _with_user_line(_array_ufunc)
Tracer.__array_function__ = _with_user_line(_array_function)


# ---------------------------------------------------------------- unary ufuncs
def _float_unary(fn):
    return lambda x: fn(_arr(_float(x)))


LN2 = math.log(2.0)
LN10 = math.log(10.0)

for _uf, _fn in {
    np.sin: lax.sin, np.cos: lax.cos, np.tan: lax.tan, np.arcsin: lax.asin,
    np.arccos: lax.acos, np.arctan: lax.atan, np.sinh: lax.sinh, np.cosh: lax.cosh,
    np.tanh: lax.tanh, np.arcsinh: lax.asinh, np.arccosh: lax.acosh,
    np.arctanh: lax.atanh, np.exp: lax.exp, np.log: lax.log, np.log1p: lax.log1p,
    np.expm1: lax.expm1, np.sqrt: lax.sqrt,
    np.exp2: lambda x: lax.exp(lax.mul(x, LN2)),
    np.log2: lambda x: lax.div(lax.log(x), LN2),
    np.log10: lambda x: lax.div(lax.log(x), LN10),
    np.deg2rad: lambda x: lax.mul(x, math.pi / 180.0),
    np.radians: lambda x: lax.mul(x, math.pi / 180.0),
    np.rad2deg: lambda x: lax.mul(x, 180.0 / math.pi),
    np.degrees: lambda x: lax.mul(x, 180.0 / math.pi),
    np.cbrt: lambda x: lax.mul(lax.sign(x), lax.pow(lax.abs(x), 1.0 / 3.0)),
}.items():
    UFUNCS[_uf] = _float_unary(_fn)


def _keeps_ints(fn):
    """floor/ceil/trunc of integers and bools are the identity (NumPy keeps the dtype)."""

    def impl(x):
        x = _arr(x)
        return x if _dt(x).kind in "iub" else fn(x)

    return impl


def _trunc(x):
    return lax.select(lax.lt(x, 0), lax.ceil(x), lax.floor(x))


UFUNCS[np.floor] = _keeps_ints(lax.floor)
UFUNCS[np.ceil] = _keeps_ints(lax.ceil)
UFUNCS[np.trunc] = _keeps_ints(_trunc)


@ufunc(np.rint)
def rint(x):
    return lax.round(_arr(_float(x)))


@ufunc(np.negative)
def negative(x):
    x = _arr(x)
    if _dt(x).kind == "b":
        raise TypeError("numpy.negative is not supported for bool arrays; use ~ or logical_not")
    return lax.neg(x)


@ufunc(np.positive)
def positive(x):
    return _arr(x)


@ufunc(np.absolute, np.fabs)
def absolute(x):
    x = _arr(x)
    return x if _dt(x).kind == "b" else lax.abs(x)


@ufunc(np.sign)
def sign(x):
    x = _arr(x)
    if _dt(x).kind == "b":
        raise TypeError("numpy.sign has no loop for bool arrays")
    return lax.sign(x)


@ufunc(np.square)
def square(x):
    x = _arr(x)
    if _dt(x).kind == "b":
        x = lax.convert(x, np.int64)  # NumPy gives int8; int64 is our smallest int
    return lax.integer_pow(x, 2)


@ufunc(np.reciprocal)
def reciprocal(x):
    x = _arr(x)
    if _dt(x).kind != "f":
        raise NotImplementedError(
            "numpy.reciprocal of an integer array (NumPy's 1 // x) is not supported by pullback")
    return lax.div(1.0, x)


@ufunc(np.conjugate)
def conjugate(x):
    return _arr(x)  # real dtypes only


@ufunc(np.isnan)
def isnan(x):
    x = _arr(x)
    if _dt(x).kind != "f":
        return lax.full(_shape(x), False, bool)
    return lax.ne(x, x)


@ufunc(np.isinf)
def isinf(x):
    x = _arr(x)
    if _dt(x).kind != "f":
        return lax.full(_shape(x), False, bool)
    return lax.eq(lax.abs(x), math.inf)


@ufunc(np.isfinite)
def isfinite(x):
    x = _arr(x)
    if _dt(x).kind != "f":
        return lax.full(_shape(x), True, bool)
    return lax.is_finite(x)


def _negative_sign_bit(x):
    """x < 0, counting -0.0 (1/-0 = -inf) as negative."""
    neg = lax.lt(x, 0)
    if _dt(x).kind != "f":
        return neg
    # atan2(+0, -1) = pi, atan2(-0, -1) = -pi: the sign of a zero without dividing by it
    neg_zero = lax.bitwise_and(lax.eq(x, 0), lax.lt(lax.atan2(x, lax.full(_shape(x), -1, _dt(x))), 0))
    return lax.bitwise_or(neg, neg_zero)


@ufunc(np.signbit)
def signbit(x):
    return _negative_sign_bit(_arr(x))


@ufunc(np.logical_not)
def logical_not(x):
    return lax.logical_not(lax.convert(_arr(x), bool))


@ufunc(np.invert, np.bitwise_not)
def invert(x):
    return lax.logical_not(_arr(x))


# ---------------------------------------------------------------- binary ufuncs
@ufunc(np.add)
def add(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_or(x, y)
    return lax.add(x, y)


@ufunc(np.subtract)
def subtract(x, y):
    if lax.result_dtype(x, y).kind == "b":
        raise TypeError("numpy boolean subtract is not supported; use ^ or logical_xor")
    return lax.sub(x, y)


@ufunc(np.multiply)
def multiply(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_and(x, y)
    return lax.mul(x, y)


@ufunc(np.true_divide)
def true_divide(x, y):
    dt = _float_dtype(x, y)
    return lax.div(lax.convert(x, dt), lax.convert(y, dt))


@ufunc(np.floor_divide)
def floor_divide(x, y):
    dt = lax.result_dtype(x, y)
    if dt.kind == "b":
        x, y = lax.convert(x, np.int64), lax.convert(y, np.int64)
    if dt.kind == "f":
        # NumPy's floor division is (x - x mod y) / y rounded, not floor(x / y):
        # 1.0 // 0.1 is 9.0, while floor(1.0 / 0.1) is 10.0
        x, y = lax.convert(x, dt), lax.convert(y, dt)
        q = lax.round(lax.div(lax.sub(x, lax.rem(x, y)), y))
        return lax.select(lax.eq(y, 0), lax.div(x, y), q)
    return lax.div(x, y)


@ufunc(np.remainder)
def remainder(x, y):
    if lax.result_dtype(x, y).kind == "b":
        x, y = lax.convert(x, np.int64), lax.convert(y, np.int64)
    return lax.rem(x, y)


@ufunc(np.fmod)
def fmod(x, y):
    # C fmod takes the dividend's sign; `rem` takes the divisor's.
    r = lax.rem(x, y)
    fix = lax.bitwise_and(lax.ne(r, 0), lax.ne(lax.lt(x, 0), lax.lt(y, 0)))
    return lax.select(fix, lax.sub(r, y), r)


@ufunc(np.divmod)
def divmod_(x, y):
    return floor_divide(x, y), remainder(x, y)


@ufunc(np.power)
def power(x, y):
    if type(y) in (int, float) and float(y).is_integer() and abs(y) <= 64:
        x = _arr(x)
        dt = lax.result_dtype(x, y)  # int ** 2.0 is float64, bool ** 2 is int64
        if dt.kind != "f" and y < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
        return lax.integer_pow(lax.convert(x, dt), int(y))
    dt = lax.result_dtype(x, y)
    if dt.kind != "f":
        raise NotImplementedError(
            "numpy.power with an integer array as exponent is not supported by pullback "
            "(use a Python int exponent or float arrays)"
        )
    return lax.pow(x, y)


@ufunc(np.float_power)
def float_power(x, y):
    return lax.pow(lax.convert(x, np.float64), lax.convert(y, np.float64))


@ufunc(np.maximum)
def maximum(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_or(x, y)
    return lax.max(x, y)


@ufunc(np.minimum)
def minimum(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_and(x, y)
    return lax.min(x, y)


@ufunc(np.fmax)
def fmax(x, y):
    # fmax ignores a NaN operand (maximum propagates it)
    m = lax.max(x, y)
    if lax.result_dtype(x, y).kind != "f":
        return m
    return lax.select(isnan(y), lax.select(isnan(x), m, x), lax.select(isnan(x), y, m))


@ufunc(np.fmin)
def fmin(x, y):
    m = lax.min(x, y)
    if lax.result_dtype(x, y).kind != "f":
        return m
    return lax.select(isnan(y), lax.select(isnan(x), m, x), lax.select(isnan(x), y, m))


@ufunc(np.arctan2)
def arctan2(y, x):
    dt = _float_dtype(y, x)
    return lax.atan2(lax.convert(y, dt), lax.convert(x, dt))


@ufunc(np.hypot)
def hypot(x, y):
    dt = _float_dtype(x, y)
    x, y = lax.convert(x, dt), lax.convert(y, dt)
    # scaled, so that hypot(1e200, 1e200) does not overflow: big * sqrt(1 + (small/big)^2)
    ax, ay = lax.abs(x), lax.abs(y)
    big, small = lax.max(ax, ay), lax.min(ax, ay)
    shp = lax.broadcast_shapes(_shape(x), _shape(y))
    safe_big = lax.select(lax.eq(big, 0), lax.full(shp, 1, dt), big)
    ratio = lax.div(small, safe_big)
    out = lax.mul(big, lax.sqrt(lax.add(1.0, lax.mul(ratio, ratio))))
    return lax.select(lax.eq(big, math.inf), lax.full(shp, math.inf, dt), out)


def _abs_diff_unless(mask, x, y, dt):
    """|x - y|, with 0 where `mask` holds (computed on zeros there)."""
    shp = lax.broadcast_shapes(_shape(x), _shape(y))
    zeros = lax.full(shp, 0, dt)
    return lax.abs(lax.sub(lax.select(mask, zeros, x), lax.select(mask, zeros, y)))


@ufunc(np.logaddexp)
def logaddexp(x, y):
    dt = _float_dtype(x, y)
    x, y = lax.convert(x, dt), lax.convert(y, dt)
    m = lax.max(x, y)
    # equal operands (including both -inf or both +inf): x + log 2; they are replaced
    # by zeros before subtracting, so inf - inf is never computed
    same = lax.eq(x, y)
    safe_d = _abs_diff_unless(same, x, y, dt)
    out = lax.add(m, lax.log1p(lax.exp(lax.neg(safe_d))))
    return lax.select(same, lax.add(m, LN2), out)


@ufunc(np.logaddexp2)
def logaddexp2(x, y):
    dt = _float_dtype(x, y)
    x, y = lax.convert(x, dt), lax.convert(y, dt)
    m = lax.max(x, y)
    same = lax.eq(x, y)
    safe_d = _abs_diff_unless(same, x, y, dt)
    out = lax.add(m, lax.div(lax.log1p(lax.exp(lax.mul(safe_d, -LN2))), LN2))
    return lax.select(same, lax.add(m, 1.0), out)


@ufunc(np.heaviside)
def heaviside(x, h0):
    dt = _float_dtype(x, h0)
    x = lax.convert(x, dt)
    h0 = lax.convert(h0, dt)
    out = lax.select(lax.lt(x, 0), 0.0, lax.select(lax.gt(x, 0), 1.0, h0))
    return lax.select(lax.ne(x, x), x, out) if isinstance(out, Tracer) else out


@ufunc(np.copysign)
def copysign(x, y):
    dt = _float_dtype(x, y)
    x, y = lax.convert(x, dt), lax.convert(y, dt)
    ax = lax.abs(x)
    return lax.select(_negative_sign_bit(y), lax.neg(ax), ax)


for _uf, _fn in {
    np.equal: lax.eq, np.not_equal: lax.ne, np.less: lax.lt, np.less_equal: lax.le,
    np.greater: lax.gt, np.greater_equal: lax.ge,
}.items():
    UFUNCS[_uf] = _fn


@ufunc(np.logical_and)
def logical_and(x, y):
    return lax.bitwise_and(lax.convert(x, bool), lax.convert(y, bool))


@ufunc(np.logical_or)
def logical_or(x, y):
    return lax.bitwise_or(lax.convert(x, bool), lax.convert(y, bool))


@ufunc(np.logical_xor)
def logical_xor(x, y):
    return lax.ne(lax.convert(x, bool), lax.convert(y, bool))


def _check_intbool(name, *xs):
    dt = lax.result_dtype(*xs)
    if dt.kind not in "biu":
        raise TypeError(f"numpy.{name} is only defined for integer and bool arrays, not {dt}")


@ufunc(np.bitwise_and)
def bitwise_and(x, y):
    _check_intbool("bitwise_and", x, y)
    return lax.bitwise_and(x, y)


@ufunc(np.bitwise_or)
def bitwise_or(x, y):
    _check_intbool("bitwise_or", x, y)
    return lax.bitwise_or(x, y)


@ufunc(np.bitwise_xor)
def bitwise_xor(x, y):
    _check_intbool("bitwise_xor", x, y)
    if lax.result_dtype(x, y).kind == "b":
        return lax.ne(x, y)
    return lax.bitwise_and(lax.bitwise_or(x, y), lax.logical_not(lax.bitwise_and(x, y)))


# ---------------------------------------------------------------- reductions
def _reduction(prim_fn, name):
    def impl(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        a = _arr(a)
        if dtype is not None:
            a = lax.convert(a, dtype)
        elif name in ("sum", "prod"):
            a = lax.convert(a, _sum_dtype(_dt(a)))
        axes = _axes(axis, lax.ndim(a))
        if where is not None and where is not True:
            # masked-out elements become the identity (or `initial` for max/min)
            if name in ("max", "min") and initial is None:
                raise ValueError(f"reduction operation '{name}imum' does not have an identity, "
                                 "so to use a where mask one has to specify 'initial'")
            fill = {"sum": 0, "prod": 1}.get(name, initial)
            mask = lax.broadcast_to(lax.convert(_arr(where), bool), _shape(a))
            a = lax.select(mask, a, lax.full(_shape(a), fill, _dt(a)))
        if name in ("max", "min") and initial is None and any(_shape(a)[i] == 0 for i in axes):
            raise ValueError(
                f"zero-size array to reduction operation {name}imum which has no identity")
        res = prim_fn(a, axes)
        if initial is not None:
            combine = {"sum": add, "prod": multiply, "max": maximum, "min": minimum}[name]
            res = combine(res, _consts_scalar(initial, _dt(res)))
        return _keep(a, res, axes, keepdims)

    impl.__name__ = name
    return impl


FUNCTIONS[np.sum] = _reduction(lax.reduce_sum, "sum")
FUNCTIONS[np.prod] = _reduction(lax.reduce_prod, "prod")
FUNCTIONS[np.max] = FUNCTIONS[np.amax] = _reduction(lax.reduce_max, "max")
FUNCTIONS[np.min] = FUNCTIONS[np.amin] = _reduction(lax.reduce_min, "min")
sum_ = FUNCTIONS[np.sum]
prod_ = FUNCTIONS[np.prod]
max_ = FUNCTIONS[np.max]
min_ = FUNCTIONS[np.min]


def _bool_reduction(name):
    identity = name == "all"

    def impl(a, axis=None, out=None, keepdims=False, *, where=None):
        if out is not None or where is not None:
            raise unsupported(f"numpy.{name} with out=/where=")
        a = lax.convert(_arr(a), bool)
        axes = _axes(axis, lax.ndim(a))
        if any(_shape(a)[i] == 0 for i in axes):
            shp = [d for i, d in enumerate(_shape(a)) if i not in axes]
            res = lax.full(shp, identity, bool)
        else:
            res = (lax.reduce_min if identity else lax.reduce_max)(a, axes)
        return _keep(a, res, axes, keepdims)

    return impl


FUNCTIONS[np.all] = all_ = _bool_reduction("all")
FUNCTIONS[np.any] = any_ = _bool_reduction("any")


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    a = _arr(a)
    nz = lax.convert(lax.ne(a, _consts_scalar(0, _dt(a))), np.int64)
    return sum_(nz, axis=axis, keepdims=keepdims)


def _mean_dtype(a, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    return _dt(a) if _dt(a).kind == "f" else np.dtype(np.float64)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    if out is not None:
        raise unsupported("numpy.mean with out=")
    a = _arr(a)
    a = lax.convert(a, _mean_dtype(a, dtype))
    axes = _axes(axis, lax.ndim(a))
    if where is not None and where is not True:
        mask = lax.broadcast_to(lax.convert(_arr(where), bool), _shape(a))
        s = sum_(a, axis=axes, keepdims=keepdims, where=mask)
        return lax.div(s, lax.convert(sum_(mask, axis=axes, keepdims=keepdims), _dt(s)))
    n = math.prod(_shape(a)[i] for i in axes)
    s = lax.reduce_sum(a, axes)
    return _keep(a, lax.div(s, float(n)), axes, keepdims)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    if out is not None or where is not None or mean is not None:
        raise unsupported("numpy.var with out=/where=/mean=")
    if correction is not None:
        ddof = correction
    a = _arr(a)
    a = lax.convert(a, _mean_dtype(a, dtype))
    axes = _axes(axis, lax.ndim(a))
    n = math.prod(_shape(a)[i] for i in axes)
    m = _keep(a, lax.div(lax.reduce_sum(a, axes), float(n)), axes, True)
    d = lax.sub(a, m)
    ss = lax.reduce_sum(lax.mul(d, d), axes)
    return _keep(a, lax.div(ss, float(max(n - ddof, 0))), axes, keepdims)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    return lax.sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                        where=where, mean=mean, correction=correction))


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    if out is not None:
        raise unsupported("numpy.ptp with out=")
    return subtract(max_(a, axis=axis, keepdims=keepdims), min_(a, axis=axis, keepdims=keepdims))


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _arr(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        n = math.prod(_shape(a)[i] for i in _axes(axis, lax.ndim(a)))
        wsum = lax.full(_shape(avg), n, _dt(avg))
        return (avg, wsum) if returned else avg
    w = _arr(weights)
    if _dt(a).kind in "biu":
        dt = lax.result_dtype(np.zeros((), _dt(a)), np.zeros((), _dt(w)), np.zeros((), np.float64))
    else:
        dt = lax.result_dtype(np.zeros((), _dt(a)), np.zeros((), _dt(w)))
    a, w = lax.convert(a, dt), lax.convert(w, dt)
    if _shape(w) != _shape(a):
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        if lax.ndim(w) != 1:
            raise TypeError("1D weights expected when shapes of a and weights differ.")
        ax = _norm_axis(axis, lax.ndim(a))
        if _shape(w)[0] != _shape(a)[ax]:
            raise ValueError("Length of weights not compatible with specified axis.")
        w = lax.broadcast_in_dim(w, _shape(a), (ax,))
    wsum = sum_(w, axis=axis, keepdims=keepdims)
    avg = lax.div(sum_(lax.mul(a, w), axis=axis, keepdims=keepdims), wsum)
    return (avg, wsum) if returned else avg


def _arg_reduction(prim_fn, name):
    def impl(a, axis=None, out=None, *, keepdims=False):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        a = _arr(a)
        if axis is None:  # over the flattened array
            if 0 in _shape(a):
                raise ValueError(f"attempt to get {name} of an empty sequence")
            res = prim_fn(ravel(a), 0)
            return lax.reshape(res, (1,) * lax.ndim(a)) if keepdims else res
        ax = _norm_axis(axis, lax.ndim(a))
        if _shape(a)[ax] == 0:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        return _keep(a, prim_fn(a, ax), (ax,), keepdims)

    return impl


FUNCTIONS[np.argmax] = argmax = _arg_reduction(lax.argmax, "argmax")
FUNCTIONS[np.argmin] = argmin = _arg_reduction(lax.argmin, "argmin")


def _nan_replace(a, value):
    a = _arr(a)
    if _dt(a).kind != "f":
        return a
    return lax.select(isnan(a), _consts_scalar(value, _dt(a)), a)


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return sum_(_nan_replace(a, 0), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                initial=initial, where=where)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return prod_(_nan_replace(a, 1), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                 initial=initial, where=where)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    a = _arr(a)
    if _dt(a).kind != "f":
        return mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)
    total = nansum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    count = sum_(lax.logical_not(isnan(a)), axis=axis, keepdims=keepdims)
    return lax.div(total, lax.convert(count, _dt(total)))


def _nan_extremum(name, fill):
    red = max_ if name == "nanmax" else min_

    def impl(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = _arr(a)
        if _dt(a).kind != "f":
            return red(a, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)
        res = red(_nan_replace(a, fill), axis=axis, keepdims=keepdims, initial=initial)
        all_nan = all_(isnan(a), axis=axis, keepdims=keepdims)
        return lax.select(all_nan, _consts_scalar(np.nan, _dt(a)), res)

    return impl


FUNCTIONS[np.nanmax] = _nan_extremum("nanmax", -np.inf)
FUNCTIONS[np.nanmin] = _nan_extremum("nanmin", np.inf)


# ---------------------------------------------------------------- cumulative
@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    if out is not None:
        raise unsupported("numpy.cumsum with out=")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    a = lax.convert(a, np.dtype(dtype) if dtype is not None else _sum_dtype(_dt(a)))
    return lax.cumsum(a, _norm_axis(axis, lax.ndim(a)))


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """There is no cumulative-product primitive: out[i] = prod_j (j <= i ? a[j] : 1),
    a reduce_prod over a triangular broadcast (O(n^2) work along the axis)."""
    if out is not None:
        raise unsupported("numpy.cumprod with out=")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    a = lax.convert(a, np.dtype(dtype) if dtype is not None else _sum_dtype(_dt(a)))
    ax = _norm_axis(axis, lax.ndim(a))
    n = _shape(a)[ax]
    if n == 0:
        return a
    shp = _shape(a)
    # axes: ... i (output position) j (factor) ...  with j right after i
    big = shp[:ax] + (n, n) + shp[ax + 1:]
    bd = tuple(range(ax)) + (ax + 1,) + tuple(range(ax + 2, len(big)))
    factors = lax.broadcast_in_dim(a, big, bd)
    i = lax.iota(np.int64, big, ax)
    j = lax.iota(np.int64, big, ax + 1)
    factors = lax.select(lax.le(j, i), factors, lax.full(big, 1, _dt(a)))
    return lax.reduce_prod(factors, (ax + 1,))


FUNCTIONS[(np.add, "accumulate")] = lambda a, axis=0, dtype=None, **kw: cumsum(
    a, axis=axis, dtype=dtype, **kw)
FUNCTIONS[(np.multiply, "accumulate")] = lambda a, axis=0, dtype=None, **kw: cumprod(
    a, axis=axis, dtype=dtype, **kw)


def _cumulative(fn, identity):
    def impl(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        x = _arr(x)
        if axis is None:
            if lax.ndim(x) > 1:
                raise ValueError("axis must be specified for multi-dimensional arrays")
            axis = 0
        res = fn(x, axis=axis, dtype=dtype, out=out)
        if not include_initial:
            return res
        ax = _norm_axis(axis, lax.ndim(res))
        shp = list(_shape(res))
        shp[ax] = 1
        return lax.concatenate([lax.full(shp, identity, _dt(res)), res], ax)

    return impl


FUNCTIONS[np.cumulative_sum] = _cumulative(cumsum, 0)
FUNCTIONS[np.cumulative_prod] = _cumulative(cumprod, 1)


@implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    a = ravel(ary)
    parts = [] if to_begin is None else [ravel(to_begin)]
    parts.append(lax.sub(_take_range(a, 0, 1, _shape(a)[0]),
                         _take_range(a, 0, 0, max(_shape(a)[0] - 1, 0))))
    if to_end is not None:
        parts.append(ravel(to_end))
    if len(parts) == 1:
        return parts[0]
    return concatenate([lax.convert(p, _dt(parts[1 if to_begin is not None else 0]))
                        for p in parts])


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    a = _arr(a)
    ax = _norm_axis(axis, lax.ndim(a))
    parts = []
    for extra in (prepend,):
        if extra is not np._NoValue:
            e = _arr(extra)
            if lax.ndim(e) == 0:
                shp = list(_shape(a))
                shp[ax] = 1
                e = lax.broadcast_to(e, shp)
            parts.append(e)
    parts.append(a)
    if append is not np._NoValue:
        e = _arr(append)
        if lax.ndim(e) == 0:
            shp = list(_shape(a))
            shp[ax] = 1
            e = lax.broadcast_to(e, shp)
        parts.append(e)
    a = concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(n):
        d = _shape(a)[ax]
        hi = _take_range(a, ax, 1, d)
        lo = _take_range(a, ax, 0, max(d - 1, 0))
        a = lax.ne(hi, lo) if _dt(a).kind == "b" else lax.sub(hi, lo)
    return a


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


# ---------------------------------------------------------------- shapes
@implements(np.shape)
def shape(a):
    return _shape(_arr(a))


@implements(np.ndim)
def ndim_(a):
    return lax.ndim(_arr(a))


@implements(np.size)
def size(a, axis=None):
    s = _shape(_arr(a))
    return math.prod(s) if axis is None else s[_norm_axis(axis, len(s))]


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise unsupported(f"numpy.reshape with order={order!r}")
    shape = newshape if shape is None else shape
    a = _arr(a)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = [int(d) for d in shape]
    total = math.prod(_shape(a))
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape array of size {total} into shape {tuple(shape)}")
        shape[shape.index(-1)] = total // known
    if math.prod(shape) != total or any(d < 0 for d in shape):
        raise ValueError(f"cannot reshape array of size {total} into shape {tuple(shape)}")
    return lax.reshape(a, shape)


@implements(np.ravel)
def ravel(a, order="C"):
    if order not in ("C", "A", "K"):
        raise unsupported(f"numpy.ravel with order={order!r}")
    a = _arr(a)
    return lax.reshape(a, (math.prod(_shape(a)),))


@implements(np.transpose, np.permute_dims)
def transpose(a, axes=None):
    a = _arr(a)
    nd = lax.ndim(a)
    perm = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(x, nd) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError("axes don't match array")
    return lax.transpose(a, perm)


@implements(np.matrix_transpose)
def matrix_transpose(x):
    x = _arr(x)
    if lax.ndim(x) < 2:
        raise ValueError("Input array must be at least 2-dimensional")
    return swapaxes(x, -1, -2)


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = _arr(a)
    nd = lax.ndim(a)
    i, j = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    perm = list(range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    a = _arr(a)
    nd = lax.ndim(a)
    src = _axes(source if isinstance(source, (tuple, list)) else [source], nd)
    dst = _axes(destination if isinstance(destination, (tuple, list)) else [destination], nd)
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number of elements")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


@implements(np.squeeze)
def squeeze(a, axis=None):
    a = _arr(a)
    shp = _shape(a)
    if axis is None:
        axes = [i for i, d in enumerate(shp) if d == 1]
    else:
        axes = _axes(axis, len(shp))
        if any(shp[i] != 1 for i in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return lax.reshape(a, [d for i, d in enumerate(shp) if i not in axes])


@implements(np.expand_dims)
def expand_dims(a, axis):
    a = _arr(a)
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    out_nd = lax.ndim(a) + len(axes)
    axes = _axes(axes, out_nd)
    return lax.expand_dims(a, axes)


def _atleast(nd, a):
    a = _arr(a)
    shp = _shape(a)
    if len(shp) >= nd:
        return a
    if nd == 3 and len(shp) == 2:
        return lax.reshape(a, shp + (1,))
    if nd == 3 and len(shp) == 1:
        return lax.reshape(a, (1,) + shp + (1,))
    return lax.reshape(a, (1,) * (nd - len(shp)) + shp)


def _atleast_fn(nd):
    def impl(*arys):
        res = [_atleast(nd, a) for a in arys]
        return res[0] if len(res) == 1 else tuple(res)

    return impl


FUNCTIONS[np.atleast_1d] = atleast_1d = _atleast_fn(1)
FUNCTIONS[np.atleast_2d] = atleast_2d = _atleast_fn(2)
FUNCTIONS[np.atleast_3d] = atleast_3d = _atleast_fn(3)


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    a = _arr(array)
    try:
        return lax.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(
            f"operands could not be broadcast together with remapped shapes "
            f"[original->remapped]: {_shape(a)} and requested shape {shape}") from None


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    args = [_arr(a) for a in args]
    shp = lax.broadcast_shapes(*[_shape(a) for a in args])
    return tuple(lax.broadcast_to(a, shp) for a in args)


def _like(fill):
    def impl(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        a = _arr(a)
        shp = _shape(a) if shape is None else (
            (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape))
        return lax.full(shp, fill, np.dtype(dtype) if dtype is not None else _dt(a))

    return impl


FUNCTIONS[np.zeros_like] = zeros_like = _like(0)
FUNCTIONS[np.ones_like] = ones_like = _like(1)
FUNCTIONS[np.empty_like] = _like(0)  # pullback's "uninitialized" memory is zeros


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    a = _arr(a)
    shp = _shape(a) if shape is None else (
        (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape))
    dt = np.dtype(dtype) if dtype is not None else _dt(a)
    fill = _norm(fill_value)
    if isinstance(fill, Tracer) or (isinstance(fill, np.ndarray) and fill.ndim):
        return lax.broadcast_to(lax.convert(fill, dt), shp)
    return lax.full(shp, np.asarray(fill).item(), dt)


@implements(np.result_type)
def result_type(*arrays_and_dtypes):
    return np.result_type(*[a.dtype if isinstance(a, Tracer) else a for a in arrays_and_dtypes])


FUNCTIONS[np.iscomplexobj] = lambda x: False  # pullback's dtypes are real
FUNCTIONS[np.isrealobj] = lambda x: True
FUNCTIONS[np.iscomplex] = lambda x: lax.full(_shape(_arr(x)), False, bool)
FUNCTIONS[np.isreal] = lambda x: lax.full(_shape(_arr(x)), True, bool)


@implements(np.copy)
def copy(a, order="K", subok=False):
    return _arr(a)


@implements(np.astype)
def astype(x, dtype, /, *, copy=True, device=None):
    return lax.convert(_arr(x), np.dtype(dtype))


@implements(np.real)
def real(val):
    return _arr(val)


@implements(np.imag)
def imag(val):
    a = _arr(val)
    return lax.full(_shape(a), 0, _dt(a))


FUNCTIONS[np.conjugate] = conjugate


# ---------------------------------------------------------------- joining and splitting
def _seq(arrays, name):
    if isinstance(arrays, Tracer):
        raise TypeError(f"numpy.{name} takes a sequence of arrays, not a single traced array")
    arrays = [_arr(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    return arrays


@implements(np.concatenate, np.concat)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise unsupported("numpy.concatenate with out=")
    arrays = _seq(arrays, "concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = lax.ndim(arrays[0])
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    for a in arrays:
        if lax.ndim(a) != nd:
            raise ValueError(
                "all the input array dimensions except for the concatenation axis must match "
                "exactly; got shapes " + ", ".join(str(_shape(b)) for b in arrays))
    ax = _norm_axis(axis, nd)
    for a in arrays:
        if any(d != e for i, (d, e) in enumerate(zip(_shape(a), _shape(arrays[0]))) if i != ax):
            raise ValueError(
                f"all the input array dimensions except for the concatenation axis must match "
                f"exactly; got shapes " + ", ".join(str(_shape(b)) for b in arrays))
    dt = np.dtype(dtype) if dtype is not None else lax.result_dtype(*arrays)
    arrays = [lax.convert(a, dt) for a in arrays]
    arrays = [a for a in arrays if _shape(a)[ax] != 0] or arrays[:1]
    if not any(isinstance(a, Tracer) for a in arrays):
        return np.concatenate(arrays, axis=ax)
    return lax.concatenate(arrays, ax)


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = _seq(arrays, "stack")
    shp = _shape(arrays[0])
    if any(_shape(a) != shp for a in arrays):
        raise ValueError("all input arrays must have the same shape; got "
                         + ", ".join(str(_shape(a)) for a in arrays))
    ax = _norm_axis(axis, len(shp) + 1)
    return concatenate([lax.expand_dims(a, (ax,)) for a in arrays], axis=ax, out=out, dtype=dtype)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    arrs = [atleast_1d(a) for a in _seq(tup, "hstack")]
    return concatenate(arrs, axis=0 if lax.ndim(arrs[0]) == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in _seq(tup, "vstack")], axis=0, dtype=dtype)


@implements(np.dstack)
def dstack(tup):
    return concatenate([atleast_3d(a) for a in _seq(tup, "dstack")], axis=2)


@implements(np.column_stack)
def column_stack(tup):
    arrs = []
    for a in _seq(tup, "column_stack"):
        arrs.append(lax.reshape(a, (_shape(a)[0], 1)) if lax.ndim(a) == 1 else atleast_2d(a))
    return concatenate(arrs, axis=1)


@implements(np.block)
def block(arrays):
    """Nested lists: the innermost level joins along the last axis, the next level
    along the one before, and so on."""
    def depth(a):
        return 1 + depth(a[0]) if isinstance(a, list) and a else (0 if not isinstance(a, list) else 1)

    def leaves(a):
        return [l for p in a for l in leaves(p)] if isinstance(a, list) else [a]

    if isinstance(arrays, tuple):
        raise TypeError("arrays is a tuple. Only lists are supported as arguments to `block`.")
    d = depth(arrays)
    nd = max([d] + [lax.ndim(_arr(l)) for l in leaves(arrays)])

    def rec(a, level):
        if isinstance(a, list):
            if depth(a) != d - level:
                raise ValueError("List depths are mismatched in numpy.block")
            return concatenate([rec(p, level + 1) for p in a], axis=-(d - level))
        x = _arr(a)
        return lax.reshape(x, (1,) * (nd - lax.ndim(x)) + _shape(x))

    return rec(arrays, 0)


def _split_points(n, indices_or_sections, even):
    if isinstance(indices_or_sections, (int, np.integer)):
        s = int(indices_or_sections)
        if s <= 0:
            raise ValueError("number sections must be larger than 0.")
        if even and n % s:
            raise ValueError("array split does not result in an equal division")
        q, r = divmod(n, s)
        sizes = [q + 1] * r + [q] * (s - r)
        return [sum(sizes[:k]) for k in range(s + 1)]
    pts = [int(i) for i in indices_or_sections]
    return [0] + pts + [n]


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=False)


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=True)


def _split(ary, indices_or_sections, axis, even):
    a = _arr(ary)
    ax = _norm_axis(axis, lax.ndim(a))
    n = _shape(a)[ax]
    pts = _split_points(n, indices_or_sections, even)
    out = []
    for lo, hi in zip(pts[:-1], pts[1:]):
        lo = lo + n if lo < 0 else lo
        hi = hi + n if hi < 0 else hi
        lo, hi = min(max(lo, 0), n), min(max(hi, 0), n)
        out.append(_take_range(a, ax, lo, max(lo, hi)))
    return out


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    a = _arr(ary)
    return split(a, indices_or_sections, axis=1 if lax.ndim(a) > 1 else 0)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=0)


# ---------------------------------------------------------------- rearranging
@implements(np.flip)
def flip(m, axis=None):
    m = _arr(m)
    return lax.rev(m, _axes(axis, lax.ndim(m)))


@implements(np.fliplr)
def fliplr(m):
    m = _arr(m)
    if lax.ndim(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return lax.rev(m, (1,))


@implements(np.flipud)
def flipud(m):
    m = _arr(m)
    if lax.ndim(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return lax.rev(m, (0,))


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    m = _arr(m)
    nd = lax.ndim(m)
    a0, a1 = (_norm_axis(a, nd) for a in axes)
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return lax.rev(m, (a0, a1))
    if k == 1:
        return swapaxes(lax.rev(m, (a1,)), a0, a1)
    return lax.rev(swapaxes(m, a0, a1), (a1,))


def _roll_axis(a, shift, ax):
    n = _shape(a)[ax]
    if n == 0:
        return a
    if isinstance(shift, Tracer):
        idx = lax.rem(lax.sub(lax.iota(np.int64, (n,)), lax.convert(shift, np.int64)), n)
        return lax.gather(a, idx, ax)
    s = int(shift) % n
    if s == 0:
        return a
    return lax.concatenate([_take_range(a, ax, n - s, n), _take_range(a, ax, 0, n - s)], ax)


@implements(np.roll)
def roll(a, shift, axis=None):
    a = _arr(a)
    if axis is None:
        return lax.reshape(_roll_axis(ravel(a), shift, 0), _shape(a))
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]
    shifts = list(shift) if isinstance(shift, (tuple, list)) else [shift] * len(axes)
    if len(axes) != len(shifts):
        if len(axes) == 1:
            axes = axes * len(shifts)
        elif len(shifts) == 1:
            shifts = shifts * len(axes)
        else:
            raise ValueError("'shift' and 'axis' should be scalars or 1D sequences of equal length")
    for s, ax in zip(shifts, axes):
        a = _roll_axis(a, s, _norm_axis(ax, lax.ndim(a)))
    return a


@implements(np.tile)
def tile(A, reps):
    a = _arr(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    nd = max(len(reps), lax.ndim(a))
    reps = (1,) * (nd - len(reps)) + reps
    shp = (1,) * (nd - lax.ndim(a)) + _shape(a)
    # (d0, d1, ...) -> (r0, d0, r1, d1, ...) -> (r0*d0, r1*d1, ...)
    a = lax.reshape(a, shp)
    big = tuple(v for r, d in zip(reps, shp) for v in (r, d))
    a = lax.broadcast_in_dim(a, big, tuple(range(1, 2 * nd, 2)))
    return lax.reshape(a, [r * d for r, d in zip(reps, shp)])


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, lax.ndim(a))
    shp = _shape(a)
    if isinstance(repeats, Tracer):
        raise unsupported("numpy.repeat with traced repeats", "the output shape would depend on values")
    reps = np.asarray(repeats)
    if reps.ndim == 0 or reps.size == 1:
        r = int(reps.reshape(()))
        if r < 0:
            raise ValueError("negative dimensions are not allowed")
        big = shp[:ax + 1] + (r,) + shp[ax + 1:]
        bd = tuple(i for i in range(len(big)) if i != ax + 1)
        return lax.reshape(lax.broadcast_in_dim(a, big, bd), shp[:ax] + (shp[ax] * r,) + shp[ax + 1:])
    if reps.shape != (shp[ax],):
        raise ValueError(f"operands could not be broadcast together with shape ({shp[ax]},) {reps.shape}")
    idx = np.repeat(np.arange(shp[ax], dtype=np.int64), reps)
    return lax.gather(a, idx, ax)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode=None):
    if out is not None:
        raise unsupported("numpy.take with out=")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, lax.ndim(a))
    n = _shape(a)[ax]
    idx = _norm(indices)
    if type(idx) in _PY_SCALARS:
        idx = np.asarray(idx)
    if _dt(idx).kind not in "iu":
        raise IndexError("arrays used as indices must be of integer type")
    mode = mode or "raise"
    if n == 0:
        raise IndexError("cannot do a non-empty take from an empty axes.")
    if not isinstance(idx, Tracer):
        idx = np.asarray(idx, np.int64)
        if mode == "raise":
            bad = idx[(idx < -n) | (idx >= n)]
            if bad.size:
                raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {ax} with size {n}")
            idx = np.where(idx < 0, idx + n, idx)
        elif mode == "wrap":
            idx = np.mod(idx, n)
        else:
            idx = np.clip(idx, 0, n - 1)
    elif mode == "wrap":
        idx = lax.rem(idx, n)
    elif mode == "raise":  # cannot raise on values: wrap negatives, clamp the rest
        idx = lax.select(lax.lt(idx, 0), lax.add(idx, n), idx)
    return lax.gather(a, idx, ax)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    a = _arr(arr)
    idx = _norm(indices)
    if axis is None:
        a, axis = ravel(a), 0
    nd = lax.ndim(a)
    ax = _norm_axis(axis, nd)
    if lax.ndim(idx) != nd:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    n = _shape(a)[ax]
    if isinstance(idx, Tracer):
        idx = lax.convert(lax.select(lax.lt(idx, 0), lax.add(idx, n), idx), np.int64)
        idx = lax.max(lax.min(idx, n - 1), 0)
    else:
        idx = np.asarray(idx, np.int64)
        idx = np.where(idx < 0, idx + n, idx)
    out_shape = tuple(
        i if k == ax else lax.broadcast_shapes((d,), (i,))[0]
        for k, (d, i) in enumerate(zip(_shape(a), _shape(idx))))
    a = lax.broadcast_to(a, tuple(d if k == ax else out_shape[k] for k, d in enumerate(_shape(a))))
    idx = lax.broadcast_to(idx, out_shape)
    # one gather on the flattened array: flat = sum_k coordinate_k * stride_k
    strides = [math.prod(_shape(a)[k + 1:]) for k in range(nd)]
    flat = None
    for k in range(nd):
        coord = idx if k == ax else lax.iota(np.int64, out_shape, k)
        term = lax.mul(coord, strides[k])
        flat = term if flat is None else lax.add(flat, term)
    return lax.gather(ravel(a), flat, 0)


# ---------------------------------------------------------------- selection
@implements(np.where)
def where_(condition, x=None, y=None):
    if x is None or y is None:
        raise unsupported("numpy.where with one argument", "its output shape depends on values")
    return lax.select(_norm(condition), _norm(x), _norm(y))


@implements(np.select)
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    choices = [_norm(c) for c in choicelist]
    dt = lax.result_dtype(*choices, _norm(default))
    out = lax.convert(_norm(default), dt)
    for c, v in reversed(list(zip(condlist, choices))):
        out = lax.select(_norm(c), lax.convert(v, dt), out)
    shp = lax.broadcast_shapes(*[_shape(_arr(c)) for c in condlist], *[_shape(_arr(v)) for v in choices])
    return lax.broadcast_to(_arr(out), shp)


@implements(np.clip)
def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
         max=np._NoValue, **kwargs):
    if out is not None or kwargs:
        raise unsupported("numpy.clip with out= or extra arguments")
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = None if lo is np._NoValue else lo
    hi = None if hi is np._NoValue else hi
    if lo is None and hi is None:
        return _arr(a)
    x = _arr(a)
    if lo is not None:
        x = lax.max(x, _norm(lo))
    if hi is not None:
        x = lax.min(x, _norm(hi))
    return x


@implements(np.round, np.around)
def round_(a, decimals=0, out=None):
    """NumPy's algorithm: scale by 10**decimals, round half to even, scale back."""
    if out is not None:
        raise unsupported("numpy.round with out=")
    a = _arr(a)
    if _dt(a).kind in "biu":
        if decimals >= 0:
            return a
        raise unsupported("numpy.round of integers with negative decimals")
    d = int(decimals)
    if d == 0:
        return lax.round(a)
    if d > 0:
        scale = 10.0 ** d
        return lax.div(lax.round(lax.mul(a, scale)), scale)
    scale = 10.0 ** -d
    return lax.mul(lax.round(lax.div(a, scale)), scale)


@implements(np.fix)
def fix(x, out=None):
    x = _arr(x)
    return x if _dt(x).kind in "biu" else _trunc(x)


@implements(np.sinc)
def sinc(x):
    x = _arr(_float(x))
    zero = lax.eq(x, 0)
    px = lax.mul(lax.select(zero, lax.full(_shape(x), 1, _dt(x)), x), math.pi)
    return lax.select(zero, lax.full(_shape(x), 1, _dt(x)), lax.div(lax.sin(px), px))


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _arr(x)
    dt = _dt(x)
    if dt.kind != "f":
        return x
    big = np.finfo(dt).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    x = lax.select(isnan(x), _consts_scalar(nan, dt), x)
    x = lax.select(lax.eq(x, math.inf), _consts_scalar(posinf, dt), x)
    return lax.select(lax.eq(x, -math.inf), _consts_scalar(neginf, dt), x)


@implements(np.isneginf)
def isneginf(x, out=None):
    return lax.eq(_arr(x), -math.inf)


@implements(np.isposinf)
def isposinf(x, out=None):
    return lax.eq(_arr(x), math.inf)


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _norm(a), _norm(b)
    dt = _float_dtype(a, b)
    x, y = lax.convert(a, dt), lax.convert(b, dt)
    same = lax.eq(x, y)
    close = lax.le(_abs_diff_unless(same, x, y, dt), lax.add(atol, lax.mul(rtol, lax.abs(y))))
    close = lax.bitwise_and(close, isfinite(_arr(y)))
    close = lax.bitwise_or(close, same)
    if equal_nan:
        close = lax.bitwise_or(close, lax.bitwise_and(isnan(_arr(x)), isnan(_arr(y))))
    return close


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A traced 0-d bool (NumPy returns a Python bool; deciding on it needs pb.cond)."""
    return all_(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---------------------------------------------------------------- linear algebra
@implements(np.matmul)
def matmul(a, b):
    a, b = _arr(a), _arr(b)
    na, nb = lax.ndim(a), lax.ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    ka, kb = _shape(a)[-1], _shape(b)[0 if nb == 1 else -2]
    if ka != kb:
        raise ValueError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0 "
            f"(size {kb} is different from {ka}); shapes {_shape(a)} and {_shape(b)}")
    if _dt(a).kind == "b" and _dt(b).kind == "b":
        raise unsupported("numpy.matmul of two bool arrays")
    if na == 1 and nb == 1:
        return lax.dot_general(a, b, (((0,), (0,)), ((), ())))
    if nb == 1:
        return lax.dot_general(a, b, (((na - 1,), (0,)), ((), ())))
    if na == 1:
        if nb == 2:
            return lax.dot_general(a, b, (((0,), (0,)), ((), ())))
        a = lax.reshape(a, (1, ka))
        return squeeze(matmul(a, b), -2)
    if na == 2 and nb == 2:
        return lax.dot_general(a, b, (((1,), (0,)), ((), ())))
    # batched: broadcast the batch dims, then a dot_general with leading batch dims
    batch = lax.broadcast_shapes(_shape(a)[:-2], _shape(b)[:-2])
    a = lax.broadcast_to(a, batch + _shape(a)[-2:])
    b = lax.broadcast_to(b, batch + _shape(b)[-2:])
    nbatch = len(batch)
    bd = tuple(range(nbatch))
    return lax.dot_general(a, b, (((nbatch + 1,), (nbatch,)), (bd, bd)))


UFUNCS[np.matmul] = matmul


@implements(np.dot)
def dot(a, b, out=None):
    if out is not None:
        raise unsupported("numpy.dot with out=")
    a, b = _arr(a), _arr(b)
    na, nb = lax.ndim(a), lax.ndim(b)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if nb <= 2:
        return matmul(a, b)
    if _shape(a)[-1] != _shape(b)[-2]:
        raise ValueError(f"shapes {_shape(a)} and {_shape(b)} not aligned: "
                         f"{_shape(a)[-1]} (dim {na - 1}) != {_shape(b)[-2]} (dim {nb - 2})")
    return lax.dot_general(a, b, (((na - 1,), (nb - 2,)), ((), ())))


@implements(np.vdot)
def vdot(a, b):
    a, b = ravel(a), ravel(b)
    if _shape(a) != _shape(b):
        raise ValueError("cannot reshape array: vdot needs the same number of elements, got "
                         f"{_shape(a)[0]} and {_shape(b)[0]}")
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())))


@implements(np.inner)
def inner(a, b):
    a, b = _arr(a), _arr(b)
    if lax.ndim(a) == 0 or lax.ndim(b) == 0:
        return multiply(a, b)
    if _shape(a)[-1] != _shape(b)[-1]:
        raise ValueError(f"shapes {_shape(a)} and {_shape(b)} not aligned for numpy.inner")
    return lax.dot_general(a, b, (((lax.ndim(a) - 1,), (lax.ndim(b) - 1,)), ((), ())))


@implements(np.outer)
def outer(a, b, out=None):
    a, b = ravel(a), ravel(b)
    return multiply(lax.reshape(a, (_shape(a)[0], 1)), lax.reshape(b, (1, _shape(b)[0])))


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    a, b = _arr(a), _arr(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        ca = tuple(range(lax.ndim(a) - n, lax.ndim(a)))
        cb = tuple(range(n))
    else:
        xa, xb = axes
        xa = [xa] if isinstance(xa, (int, np.integer)) else list(xa)
        xb = [xb] if isinstance(xb, (int, np.integer)) else list(xb)
        if len(xa) != len(xb):
            raise ValueError("shape-mismatch for sum")
        ca = tuple(_norm_axis(i, lax.ndim(a)) for i in xa)
        cb = tuple(_norm_axis(i, lax.ndim(b)) for i in xb)
    for i, j in zip(ca, cb):
        if _shape(a)[i] != _shape(b)[j]:
            raise ValueError(f"shape-mismatch for sum: {_shape(a)} axis {i} vs {_shape(b)} axis {j}")
    return lax.dot_general(a, b, ((ca, cb), ((), ())))


@implements(np.kron)
def kron(a, b):
    a, b = _arr(a), _arr(b)
    nd = max(lax.ndim(a), lax.ndim(b))
    sa = (1,) * (nd - lax.ndim(a)) + _shape(a)
    sb = (1,) * (nd - lax.ndim(b)) + _shape(b)
    big = tuple(v for p, q in zip(sa, sb) for v in (p, q))
    ea = lax.broadcast_in_dim(lax.reshape(a, sa), big, tuple(range(0, 2 * nd, 2)))
    eb = lax.broadcast_in_dim(lax.reshape(b, sb), big, tuple(range(1, 2 * nd, 2)))
    return lax.reshape(multiply(ea, eb), [p * q for p, q in zip(sa, sb)])


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _arr(a), _arr(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    if _shape(a)[-1] != 3 or _shape(b)[-1] != 3:
        raise unsupported("numpy.cross of vectors that are not 3-dimensional")

    def comp(x, i):
        return _take_range(x, lax.ndim(x) - 1, i, i + 1)

    parts = [subtract(multiply(comp(a, j), comp(b, k)), multiply(comp(a, k), comp(b, j)))
             for j, k in ((1, 2), (2, 0), (0, 1))]
    shp = lax.broadcast_shapes(_shape(parts[0]), _shape(parts[1]), _shape(parts[2]))
    c = lax.concatenate([lax.broadcast_to(p, shp) for p in parts], len(shp) - 1)
    return moveaxis(c, -1, axisc)


def _diag_last_two(x):
    """The diagonal of the last two (equal-length) axes, as the last axis."""
    shp = _shape(x)
    n = shp[-1]
    flat = lax.reshape(x, shp[:-2] + (n * n,))
    return _take_range(flat, len(shp) - 2, 0, n * n, n + 1)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _arr(a)
    nd = lax.ndim(a)
    if nd < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    i, j = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    if i == j:
        raise ValueError("axis1 and axis2 cannot be the same")
    a = lax.transpose(a, [k for k in range(nd) if k not in (i, j)] + [i, j])
    n, m = _shape(a)[-2:]
    k = int(offset)
    if k >= 0:
        length = max(0, min(n, m - k))
        r0, c0 = 0, k
    else:
        length = max(0, min(n + k, m))
        r0, c0 = -k, 0
    r0, c0 = min(r0, n), min(c0, m)
    a = _take_range(_take_range(a, nd - 2, r0, r0 + length), nd - 1, c0, c0 + length)
    return _diag_last_two(a)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise unsupported("numpy.trace with out=")
    return sum_(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _band_mask(shp, k, upper):
    """j - i >= k (upper) or j - i <= k (lower) over the last two axes."""
    n, m = shp[-2:]
    i = lax.iota(np.int64, (n, m), 0)
    j = lax.iota(np.int64, (n, m), 1)
    d = lax.sub(j, i)
    return lax.ge(d, int(k)) if upper else lax.le(d, int(k))


def _tri(m, k, upper):
    m = _arr(m)
    if lax.ndim(m) < 2:
        raise ValueError(f"numpy.{'triu' if upper else 'tril'} needs an array of at least 2 dims")
    mask = _band_mask(_shape(m), k, upper)
    return lax.select(mask, m, lax.full(_shape(m), 0, _dt(m)))


@implements(np.triu)
def triu(m, k=0):
    return _tri(m, k, True)


@implements(np.tril)
def tril(m, k=0):
    return _tri(m, k, False)


@implements(np.diag)
def diag(v, k=0):
    v = _arr(v)
    k = int(k)
    if lax.ndim(v) == 2:
        return diagonal(v, k)
    if lax.ndim(v) != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = _shape(v)[0] + abs(k)
    # column j of the result holds vp[j]; keep it only on the diagonal j - i == k
    vp = lax.pad(v, 0, [(max(k, 0), max(-k, 0), 0)])
    full = lax.broadcast_in_dim(vp, (n, n), (1,))
    i = lax.iota(np.int64, (n, n), 0)
    j = lax.iota(np.int64, (n, n), 1)
    return lax.select(lax.eq(lax.sub(j, i), k), full, lax.full((n, n), 0, _dt(v)))


# -- einsum
def _einsum_labels(subscripts, operands):
    spec = subscripts.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins, out = spec, None
    in_specs = ins.split(",")
    if len(in_specs) != len(operands):
        raise ValueError(
            f"einsum: {len(in_specs)} operand subscripts for {len(operands)} operands in {subscripts!r}")
    n_ell = []
    for s, op in zip(in_specs, operands):
        if s.count("...") > 1 or s.replace("...", "").count(".") or not s.replace("...", "").isalpha() and s.replace("...", ""):
            raise ValueError(f"einsum: invalid subscripts {s!r}")
        k = lax.ndim(op) - len(s.replace("...", ""))
        if "..." not in s and k != 0 or k < 0:
            raise ValueError(
                f"einsum: operand of shape {_shape(op)} does not match subscripts {s!r}")
        n_ell.append(k if "..." in s else 0)
    nell = max(n_ell, default=0)
    labels = []
    for s, k in zip(in_specs, n_ell):
        left, _, right = s.partition("...")
        labels.append(list(left) + list(range(nell - k, nell)) + list(right))
    if out is None:
        letters = [c for s in in_specs for c in s if c.isalpha()]
        out_labels = list(range(nell)) + sorted(c for c in set(letters) if letters.count(c) == 1)
    else:
        if out.count("...") > 1:
            raise ValueError(f"einsum: invalid output subscripts {out!r}")
        left, ell, right = out.partition("...")
        if not ell and nell:
            raise ValueError("einsum: output has no '...' but the operands have broadcast dimensions")
        out_labels = list(left) + (list(range(nell)) if ell else []) + list(right)
        if len(set(out_labels)) != len(out_labels):
            raise ValueError(f"einsum: output subscript repeated in {out!r}")
    return labels, out_labels


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe",
           optimize=False):
    if out is not None:
        raise unsupported("numpy.einsum with out=")
    if not isinstance(subscripts, str):
        raise unsupported("numpy.einsum in the interleaved (operand, sublist) form")
    ops = [_arr(o) for o in operands]
    labels, out_labels = _einsum_labels(subscripts, ops)
    dt = np.dtype(dtype) if dtype is not None else lax.result_dtype(*ops)
    ops = [lax.convert(o, dt) for o in ops]
    sizes = {}
    for op, labs in zip(ops, labels):
        for lab, d in zip(labs, _shape(op)):
            if sizes.get(lab, 1) not in (1, d) and d != 1:
                raise ValueError(
                    f"einsum: size mismatch for subscript {lab!r} in {subscripts!r}: "
                    f"{sizes[lab]} vs {d} (operand shapes {[_shape(o) for o in ops]})")
            sizes[lab] = d if sizes.get(lab, 1) == 1 else sizes[lab]
    for lab in out_labels:
        if lab not in sizes:
            raise ValueError(f"einsum: output subscript {lab!r} does not appear in the inputs")
    # per operand: take diagonals of repeated labels, broadcast size-1 axes
    terms = []
    for op, labs in zip(ops, labels):
        labs = list(labs)
        while len(set(labs)) != len(labs):
            lab = next(l for l in labs if labs.count(l) > 1)
            i = labs.index(lab)
            j = labs.index(lab, i + 1)
            nd = len(labs)
            perm = [k for k in range(nd) if k not in (i, j)] + [i, j]
            op = _diag_last_two(lax.transpose(op, perm))
            labs = [labs[k] for k in perm[:-2]] + [lab]
        op = lax.broadcast_to(op, tuple(sizes[l] for l in labs))
        terms.append((op, labs))

    def needed(k):
        """Labels still needed after operand k: output and later operands."""
        later = {l for _, labs in terms[k + 1:] for l in labs}
        return set(out_labels) | later

    def sum_unneeded(op, labs, keep):
        axes = [i for i, l in enumerate(labs) if l not in keep]
        return lax.reduce_sum(op, axes), [l for l in labs if l in keep]

    acc, acc_labs = terms[0]
    acc, acc_labs = sum_unneeded(acc, acc_labs, needed(0) | {l for _, ls in terms[1:] for l in ls})
    for k in range(1, len(terms)):
        op, labs = terms[k]
        keep = needed(k)
        op, labs = sum_unneeded(op, labs, keep | set(acc_labs))
        acc, acc_labs = sum_unneeded(acc, acc_labs, keep | set(labs))
        batch = [l for l in acc_labs if l in labs and l in keep]
        contract = [l for l in acc_labs if l in labs and l not in keep]
        # batch dims must lead both operands
        acc = lax.transpose(acc, [acc_labs.index(l) for l in batch]
                            + [i for i, l in enumerate(acc_labs) if l not in batch])
        acc_labs = batch + [l for l in acc_labs if l not in batch]
        op = lax.transpose(op, [labs.index(l) for l in batch]
                           + [i for i, l in enumerate(labs) if l not in batch])
        labs = batch + [l for l in labs if l not in batch]
        nb = len(batch)
        dn = ((tuple(acc_labs.index(l) for l in contract), tuple(labs.index(l) for l in contract)),
              (tuple(range(nb)), tuple(range(nb))))
        acc = lax.dot_general(acc, op, dn)
        acc_labs = (batch + [l for l in acc_labs[nb:] if l not in contract]
                    + [l for l in labs[nb:] if l not in contract])
    acc, acc_labs = sum_unneeded(acc, acc_labs, set(out_labels))
    return lax.transpose(acc, [acc_labs.index(l) for l in out_labels])


# -- norms
def _vector_norm(x, ord, axes, keepdims):
    ax = lax.abs(x)
    if ord is None or ord == 2:
        res = lax.sqrt(lax.reduce_sum(lax.mul(x, x), axes))
    elif ord == 1:
        res = lax.reduce_sum(ax, axes)
    elif ord == math.inf:
        res = lax.reduce_max(ax, axes)
    elif ord == -math.inf:
        res = lax.reduce_min(ax, axes)
    elif ord == 0:
        res = lax.convert(lax.reduce_sum(lax.convert(lax.ne(x, 0), np.int64), axes), _dt(x))
    elif isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    else:
        p = float(ord)
        res = lax.pow(lax.reduce_sum(lax.pow(ax, p), axes), 1.0 / p)
    return _keep(x, res, axes, keepdims)


def _matrix_norm(x, ord, axes, keepdims):
    r, c = axes
    ax = lax.abs(x)
    if ord in (None, "fro", "f"):
        res = lax.sqrt(lax.reduce_sum(lax.mul(x, x), axes))
        return _keep(x, res, axes, keepdims)
    if ord in (1, -1):
        sums = lax.reduce_sum(ax, (r,))
        res = (lax.reduce_max if ord == 1 else lax.reduce_min)(sums, (c - (1 if c > r else 0),))
    elif ord in (math.inf, -math.inf):
        sums = lax.reduce_sum(ax, (c,))
        res = (lax.reduce_max if ord == math.inf else lax.reduce_min)(sums, (r - (1 if r > c else 0),))
    else:
        raise unsupported(f"numpy.linalg.norm with ord={ord!r} for matrices",
                          "it needs singular values")
    return _keep(x, res, tuple(sorted(axes)), keepdims)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = _arr(x)
    if _dt(x).kind != "f":
        x = lax.convert(x, np.float64)
    nd = lax.ndim(x)
    if axis is None:
        if ord is None:
            axes = tuple(range(nd))
            return _keep(x, lax.sqrt(lax.reduce_sum(lax.mul(x, x), axes)), axes, keepdims)
        if nd == 1:
            return _vector_norm(x, ord, (0,), keepdims)
        if nd == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError("Improper number of dimensions to norm.")
    axes = _axes(axis, nd)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(np.linalg.vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    x = _arr(x)
    if _dt(x).kind != "f":
        x = lax.convert(x, np.float64)
    return _vector_norm(x, ord, _axes(axis, lax.ndim(x)), keepdims)


@implements(np.linalg.matrix_norm)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    x = _arr(x)
    if _dt(x).kind != "f":
        x = lax.convert(x, np.float64)
    nd = lax.ndim(x)
    return _matrix_norm(x, ord, (nd - 2, nd - 1), keepdims)


@ufunc(np.vecdot)
def vecdot(x1, x2):
    return sum_(multiply(x1, x2), axis=-1)


FUNCTIONS[np.linalg.vecdot] = lambda x1, x2, /, *, axis=-1: sum_(multiply(x1, x2), axis=axis)
FUNCTIONS[np.linalg.matmul] = lambda x1, x2, /: matmul(x1, x2)
FUNCTIONS[np.linalg.outer] = lambda x1, x2, /: outer(x1, x2)
FUNCTIONS[np.linalg.matrix_transpose] = lambda x, /: matrix_transpose(x)
FUNCTIONS[np.linalg.trace] = lambda x, /, *, offset=0, dtype=None: trace(
    x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)
FUNCTIONS[np.linalg.diagonal] = lambda x, /, *, offset=0: diagonal(x, offset, -2, -1)
FUNCTIONS[np.linalg.tensordot] = lambda x1, x2, /, *, axes=2: tensordot(x1, x2, axes)


# ---------------------------------------------------------------- grids, statistics, signals
@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = _arr(start), _arr(stop)
    dt = lax.result_dtype(start, stop, float(num))
    start, stop = lax.convert(start, dt), lax.convert(stop, dt)
    shp = lax.broadcast_shapes(_shape(start), _shape(stop))
    start, stop = lax.broadcast_to(start, shp), lax.broadcast_to(stop, shp)
    div = (num - 1) if endpoint else num
    delta = lax.sub(stop, start)
    ramp = lax.iota(dt, (num,) + shp, 0)
    step = lax.div(delta, float(div)) if div > 0 else lax.full(shp, np.nan, dt)
    # NumPy's formula: start + i * step, and exactly `stop` at the end
    y = lax.add(lax.mul(ramp, step if div > 0 else delta), start)
    if endpoint and num > 1:
        y = lax.concatenate([_take_range(y, 0, 0, num - 1), lax.expand_dims(stop, (0,))], 0)
    if dtype is not None:
        if np.dtype(dtype).kind in "iu":
            y = lax.floor(y)
        y = lax.convert(y, np.dtype(dtype))
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return (y, step) if retstep else y


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    xs = [ravel(x) for x in xi]
    nd = len(xs)
    pos = list(range(nd))
    if indexing == "xy" and nd > 1:
        pos[0], pos[1] = 1, 0
    full = [0] * nd
    for x, p in zip(xs, pos):
        full[p] = _shape(x)[0]
    out = []
    for x, p in zip(xs, pos):
        shp = [1] * nd
        shp[p] = _shape(x)[0]
        x = lax.reshape(x, shp)
        out.append(x if sparse else lax.broadcast_to(x, tuple(full)))
    return tuple(out)


@implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    if fweights is not None or aweights is not None:
        raise unsupported("numpy.cov with fweights/aweights")
    m = _arr(m)
    if lax.ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    dt = np.dtype(dtype) if dtype is not None else lax.result_dtype(m, np.zeros((), np.float64))
    X = lax.convert(atleast_2d(m), dt)
    if not rowvar and _shape(X)[0] != 1:
        X = transpose(X)
    if y is not None:
        Y = lax.convert(atleast_2d(_arr(y)), dt)
        if not rowvar and _shape(Y)[0] != 1:
            Y = transpose(Y)
        X = concatenate([X, Y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = _shape(X)[1]
    X = lax.sub(X, mean(X, axis=1, keepdims=True))
    c = lax.div(matmul(X, transpose(X)), float(n - ddof))
    return squeeze(c)


@implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = cov(x, y, rowvar, dtype=dtype)
    if lax.ndim(c) == 0:
        return lax.div(c, c)
    sd = lax.sqrt(diagonal(c))
    n = _shape(sd)[0]
    c = lax.div(lax.div(c, lax.reshape(sd, (n, 1))), lax.reshape(sd, (1, n)))
    return clip(c, -1, 1)


@implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    """For sorted `a`, the insertion index is the count of elements before `v`:
    one comparison per pair (O(len(a) * v.size)), no value-dependent branching."""
    if sorter is not None:
        raise unsupported("numpy.searchsorted with sorter=")
    a, v = _arr(a), _arr(v)
    if lax.ndim(a) != 1:
        raise ValueError("object too deep for desired array")
    n = _shape(a)[0]
    vb = lax.expand_dims(v, (lax.ndim(v),))
    before = lax.lt(a, vb) if side == "left" else lax.le(a, vb)
    return lax.reduce_sum(lax.convert(before, np.int64), (lax.ndim(v),)) if n else \
        lax.full(_shape(v), 0, np.int64)


@implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise unsupported("numpy.interp with period=")
    x = lax.convert(_arr(x), np.float64)
    xp, fp = lax.convert(_arr(xp), np.float64), lax.convert(_arr(fp), np.float64)
    if lax.ndim(xp) != 1 or _shape(xp) != _shape(fp):
        raise ValueError("fp and xp are not of the same length.")
    n = _shape(xp)[0]
    if n == 0:
        raise ValueError("array of sample points is empty")
    first, last = take(xp, 0), take(xp, n - 1)
    f_first, f_last = take(fp, 0), take(fp, n - 1)
    if n == 1:
        inside = lax.broadcast_to(f_first, _shape(x))
    else:
        j = lax.sub(searchsorted(xp, x, side="right"), 1)
        j = lax.max(lax.min(j, n - 2), 0)
        x0, x1 = take(xp, j), take(xp, lax.add(j, 1))
        f0, f1 = take(fp, j), take(fp, lax.add(j, 1))
        slope = lax.div(lax.sub(f1, f0), lax.sub(x1, x0))
        inside = lax.add(lax.mul(slope, lax.sub(x, x0)), f0)
        inside = lax.select(lax.eq(x, last), lax.broadcast_to(f_last, _shape(x)), inside)
    lo = f_first if left is None else lax.convert(_arr(left), np.float64)
    hi = f_last if right is None else lax.convert(_arr(right), np.float64)
    out = lax.select(lax.lt(x, first), lax.broadcast_to(lo, _shape(x)), inside)
    return lax.select(lax.gt(x, last), lax.broadcast_to(hi, _shape(x)), out)


def _full_convolution(a, v):
    """out[k] = sum_i a[k - i] v[i]: a gather of shifted windows of the zero-padded
    `a`, then one dot with the reversed `v`."""
    n, m = _shape(a)[0], _shape(v)[0]
    ap = lax.pad(a, 0, [(m - 1, m - 1, 0)])
    windows = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    return lax.dot_general(lax.gather(ap, windows, 0), lax.rev(v, (0,)), (((1,), (0,)), ((), ())))


def _mode_slice(full, n, m, mode):
    if mode == "full":
        return full
    lo, hi = min(n, m), max(n, m)
    if mode == "same":
        start = (lo - 1) // 2
        return _take_range(full, 0, start, start + hi)
    if mode == "valid":
        return _take_range(full, 0, lo - 1, hi)
    raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")


@implements(np.convolve)
def convolve(a, v, mode="full"):
    a, v = _arr(a), _arr(v)
    if lax.ndim(a) != 1 or lax.ndim(v) != 1:
        raise ValueError("object too deep for desired array")
    n, m = _shape(a)[0], _shape(v)[0]
    if n == 0 or m == 0:
        raise ValueError("v cannot be empty" if m == 0 else "a cannot be empty")
    dt = lax.result_dtype(a, v)
    a, v = lax.convert(a, dt), lax.convert(v, dt)
    return _mode_slice(_full_convolution(a, v), n, m, mode)


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    a, v = _arr(a), _arr(v)
    if lax.ndim(a) != 1 or lax.ndim(v) != 1:
        raise ValueError("object too deep for desired array")
    n, m = _shape(a)[0], _shape(v)[0]
    dt = lax.result_dtype(a, v)
    a, v = lax.convert(a, dt), lax.convert(v, dt)
    if m > n:  # NumPy swaps the operands and reverses the result
        return lax.rev(_mode_slice(_full_convolution(v, lax.rev(a, (0,))), m, n, mode), (0,))
    return _mode_slice(_full_convolution(a, lax.rev(v, (0,))), n, m, mode)


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    a = _arr(array)
    nd = lax.ndim(a)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2)
                             if np.ndim(pad_width) else np.asarray(pad_width, np.int64),
                             (nd, 2)) if nd else np.zeros((0, 2), np.int64)
    if (widths < 0).any():
        raise ValueError("index can't contain negative values")
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if kwargs:
            raise unsupported(f"numpy.pad with {sorted(kwargs)}")
        if np.ndim(value) != 0 and not isinstance(value, Tracer):
            vals = np.unique(np.asarray(value))
            if vals.size != 1:
                raise unsupported("numpy.pad with different constant_values per side")
            value = vals[0].item()
        value = lax.convert(_arr(value), _dt(a))
        return lax.pad(a, value, [(int(lo), int(hi), 0) for lo, hi in widths])
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        if kwargs.get("reflect_type", "even") != "even":
            raise unsupported("numpy.pad with reflect_type='odd'")
        for ax, (lo, hi) in enumerate(widths):
            if lo or hi:
                n = _shape(a)[ax]
                if n == 0:
                    raise ValueError(f"can't extend empty axis {ax} using modes other than "
                                     "'constant' or 'empty'")
                # the source position of every output element, computed by NumPy itself
                idx = np.pad(np.arange(n), (int(lo), int(hi)), mode=mode)
                a = lax.gather(a, idx, ax)
        return a
    raise unsupported(f"numpy.pad with mode={mode!r}")


@implements(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


@implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _arr(y)
    ax = _norm_axis(axis, lax.ndim(y))
    n = _shape(y)[ax]
    if x is None:
        d = dx
    else:
        x = _arr(x)
        if lax.ndim(x) == 1:
            d = diff(x)
            shp = [1] * lax.ndim(y)
            shp[ax] = _shape(d)[0]
            d = lax.reshape(d, shp)
        else:
            d = diff(x, axis=ax)
    pair_sum = add(_take_range(y, ax, 1, n), _take_range(y, ax, 0, max(n - 1, 0)))
    return sum_(true_divide(multiply(d, pair_sum), 2.0), axis=ax)


# ---------------------------------------------------------------- ufunc methods
def _ufunc_reduce(reduction):
    def impl(a, axis=0, dtype=None, out=None, keepdims=False, **kw):
        return reduction(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    return impl


FUNCTIONS[(np.add, "reduce")] = _ufunc_reduce(sum_)
FUNCTIONS[(np.multiply, "reduce")] = _ufunc_reduce(prod_)
FUNCTIONS[(np.maximum, "reduce")] = lambda a, axis=0, **kw: max_(a, axis=axis, **kw)
FUNCTIONS[(np.minimum, "reduce")] = lambda a, axis=0, **kw: min_(a, axis=axis, **kw)
FUNCTIONS[(np.logical_and, "reduce")] = lambda a, axis=0, **kw: all_(a, axis=axis, **kw)
FUNCTIONS[(np.logical_or, "reduce")] = lambda a, axis=0, **kw: any_(a, axis=axis, **kw)


def _ufunc_outer(uf):
    def impl(a, b):
        a, b = _arr(a), _arr(b)
        na, nb = lax.ndim(a), lax.ndim(b)
        a = lax.reshape(a, _shape(a) + (1,) * nb)
        return UFUNCS[uf](a, b)

    return impl


for _uf in list(UFUNCS):
    if isinstance(_uf, np.ufunc) and _uf.nin == 2 and _uf.nout == 1 and _uf is not np.matmul \
            and _uf is not np.vecdot:
        FUNCTIONS[(_uf, "outer")] = _ufunc_outer(_uf)


# ---------------------------------------------------------------- Tracer methods
def _binop(fn, reflected=False):
    if reflected:
        return _with_user_line(lambda self, other: fn(_norm(other), self))
    return _with_user_line(lambda self, other: fn(self, _norm(other)))


for _name, _fn in {
    "add": add, "sub": subtract, "mul": multiply, "truediv": true_divide,
    "floordiv": floor_divide, "mod": remainder, "pow": power, "matmul": matmul,
    "and": bitwise_and, "or": bitwise_or, "xor": bitwise_xor, "divmod": divmod_,
    "lt": UFUNCS[np.less], "le": UFUNCS[np.less_equal], "gt": UFUNCS[np.greater],
    "ge": UFUNCS[np.greater_equal], "eq": UFUNCS[np.equal], "ne": UFUNCS[np.not_equal],
}.items():
    setattr(Tracer, f"__{_name}__", _binop(_fn))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(Tracer, f"__r{_name}__", _binop(_fn, reflected=True))

Tracer.__neg__ = _with_user_line(negative)
Tracer.__pos__ = positive
Tracer.__abs__ = _with_user_line(absolute)
Tracer.__invert__ = _with_user_line(invert)
Tracer.__round__ = lambda self, ndigits=None: round_(self, ndigits or 0)
Tracer.T = property(lambda self: transpose(self))
Tracer.mT = property(lambda self: matrix_transpose(self))
Tracer.real = property(lambda self: self)
Tracer.imag = property(lambda self: imag(self))
Tracer.flat = property(lambda self: ravel(self))


def _shape_args(shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return shape[0]
    return shape


def _method(fn):
    return _with_user_line(fn)


Tracer.reshape = _method(lambda self, *shape, order="C": reshape(self, _shape_args(shape),
                                                                   order=order))
Tracer.transpose = _method(lambda self, *axes: transpose(self, _shape_args(axes) if axes else None))
Tracer.sum = _method(lambda self, axis=None, dtype=None, out=None, keepdims=False, **kw: sum_(
    self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw))
Tracer.prod = _method(lambda self, axis=None, dtype=None, out=None, keepdims=False, **kw: prod_(
    self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw))
Tracer.max = _method(lambda self, axis=None, out=None, keepdims=False, **kw: max_(
    self, axis=axis, out=out, keepdims=keepdims, **kw))
Tracer.min = _method(lambda self, axis=None, out=None, keepdims=False, **kw: min_(
    self, axis=axis, out=out, keepdims=keepdims, **kw))
Tracer.mean = _method(lambda self, axis=None, dtype=None, out=None, keepdims=False: mean(
    self, axis=axis, dtype=dtype, out=out, keepdims=keepdims))
Tracer.var = _method(lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False: var(
    self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))
Tracer.std = _method(lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False: std(
    self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))
Tracer.all = _method(lambda self, axis=None, out=None, keepdims=False: all_(
    self, axis=axis, out=out, keepdims=keepdims))
Tracer.any = _method(lambda self, axis=None, out=None, keepdims=False: any_(
    self, axis=axis, out=out, keepdims=keepdims))
Tracer.argmax = _method(lambda self, axis=None, out=None, *, keepdims=False: argmax(
    self, axis=axis, out=out, keepdims=keepdims))
Tracer.argmin = _method(lambda self, axis=None, out=None, *, keepdims=False: argmin(
    self, axis=axis, out=out, keepdims=keepdims))
Tracer.cumsum = _method(lambda self, axis=None, dtype=None, out=None: cumsum(
    self, axis=axis, dtype=dtype, out=out))
Tracer.cumprod = _method(lambda self, axis=None, dtype=None, out=None: cumprod(
    self, axis=axis, dtype=dtype, out=out))
Tracer.astype = _method(lambda self, dtype, order="K", casting="unsafe", subok=True, copy=True:
                        lax.convert(self, np.dtype(dtype)))
Tracer.dot = _method(lambda self, b, out=None: dot(self, b, out=out))
Tracer.flatten = _method(lambda self, order="C": ravel(self, order))
Tracer.ravel = _method(lambda self, order="C": ravel(self, order))
Tracer.squeeze = _method(lambda self, axis=None: squeeze(self, axis))
Tracer.swapaxes = _method(lambda self, axis1, axis2: swapaxes(self, axis1, axis2))
Tracer.clip = _method(lambda self, min=None, max=None, out=None, **kw: clip(
    self, min, max, out=out, **kw))
Tracer.round = _method(lambda self, decimals=0, out=None: round_(self, decimals, out))
Tracer.copy = lambda self, order="C": self
Tracer.conj = Tracer.conjugate = lambda self: self
Tracer.diagonal = _method(lambda self, offset=0, axis1=0, axis2=1: diagonal(
    self, offset, axis1, axis2))
Tracer.trace = _method(lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: trace(
    self, offset, axis1, axis2, dtype, out))
Tracer.repeat = _method(lambda self, repeats, axis=None: repeat(self, repeats, axis))
Tracer.take = _method(lambda self, indices, axis=None, out=None, mode="raise": take(
    self, indices, axis, out, mode))
Tracer.nonzero = lambda self: (_ for _ in ()).throw(
    unsupported("numpy.nonzero", "its output shape depends on values"))
Tracer.item = lambda self, *args: (
    self._concrete("item()").item(*args))
Tracer.tolist = lambda self: self._concrete("tolist()").tolist()



class UnsupportedMethodError(NotImplementedError, AttributeError):
    """An ndarray method without a rule. Also an AttributeError, so that code probing
    with hasattr(x, "sort") sees a missing attribute rather than a crash."""


def _missing_attribute(self, name):
    """ndarray methods without a rule are named, like NumPy functions without one."""
    if not name.startswith("__") and hasattr(np.ndarray, name):
        raise UnsupportedMethodError(*unsupported(f"numpy.ndarray.{name}").args)
    raise AttributeError(f"'Tracer' object has no attribute {name!r}")


Tracer.__getattr__ = _missing_attribute

from .indexing import getitem as _getitem  # noqa: E402

Tracer.__getitem__ = _with_user_line(_getitem)
