"""Elementwise NumPy: every ufunc rule and the elementwise functions built on them.

Unary math (sin, exp, log2, cbrt, ...), floor/ceil/trunc/rint, arithmetic (add ...
power, fmod, divmod), maximum/minimum/fmax/fmin, arctan2/hypot/logaddexp/heaviside/
copysign, comparisons, logical and bitwise ufuncs; then np.where/select, clip, round,
fix, sinc, nan_to_num, isneginf/isposinf, isclose; result_type, copy/astype,
real/imag and the is*complex/is*real predicates; and ufunc.outer for binary ufuncs.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import lax
from .numpy_api import (
    FUNCTIONS, UFUNCS, UFUNCS_BY_NAME, _arr, _consts_scalar, _dt, _float, _float_dtype, _norm,
    _shape,
    implements, ufunc, unsupported,
)
from .trace import Tracer, WeakTracer


# ---------------------------------------------------------------- unary ufuncs
def _float_unary(fn):
    return lambda x: fn(_arr(_float(x)))


LN2 = math.log(2.0)

for _uf, _fn in {
    np.sin: lax.sin, np.cos: lax.cos, np.tan: lax.tan, np.arcsin: lax.asin,
    np.arccos: lax.acos, np.arctan: lax.atan, np.sinh: lax.sinh, np.cosh: lax.cosh,
    np.tanh: lax.tanh, np.arcsinh: lax.asinh, np.arccosh: lax.acosh,
    np.arctanh: lax.atanh, np.exp: lax.exp, np.log: lax.log, np.log1p: lax.log1p,
    np.expm1: lax.expm1, np.sqrt: lax.sqrt, np.cbrt: lax.cbrt,
    # C99 pow: exact at integers (exp(x * ln 2) was 700 ulp off at x = 994)
    np.exp2: lambda x: lax.pow(2.0, x),
    # their own primitives (libm's): log(x) / ln(10) was 2.4 ulp off, and not exact
    # at powers of the base (floor(log10(1000.0)) was 2)
    np.log2: lax.log2, np.log10: lax.log10,
    np.deg2rad: lambda x: lax.mul(x, math.pi / 180.0),
    np.radians: lambda x: lax.mul(x, math.pi / 180.0),
    np.rad2deg: lambda x: lax.mul(x, 180.0 / math.pi),
    np.degrees: lambda x: lax.mul(x, 180.0 / math.pi),
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


# scipy.special's ufuncs with a rule (its others raise NotImplementedError naming them)
UFUNCS_BY_NAME.update({
    "scipy.special.erf": _float_unary(lax.erf),
    "scipy.special.expit": _float_unary(lax.logistic),
    "scipy.special.logit": _float_unary(lambda p: _logit(p)),
    "scipy.special.gammaln": _float_unary(lax.lgamma),
    "scipy.special.psi": _float_unary(lax.digamma),  # scipy.special.digamma is psi
})


def _logit(p):
    """SciPy's logit, log(p / (1 - p)), as a difference of logarithms of the same sign
    (no cancellation: within an ulp), whose derivative 1/p + 1/(1 - p) is inf at 0 and
    1 (the quotient's was NaN at 1): log(p) - log1p(-p) below 1/4, log1p(s) - log1p(-s)
    with s = 2 (p - 1/2) (exact) above. Each branch reads a safe operand where it is
    not selected, so its derivative cannot make a NaN."""
    hi = lax.ge(p, 0.25)
    s = lax.mul(2.0, lax.sub(lax.select(hi, p, 0.5), 0.5))
    q = lax.select(hi, 0.125, p)
    return lax.select(hi, lax.sub(lax.log1p(s), lax.log1p(lax.neg(s))),
                      lax.sub(lax.log(q), lax.log1p(lax.neg(q))))

UFUNCS[np.floor] = _keeps_ints(lax.floor)
UFUNCS[np.ceil] = _keeps_ints(lax.ceil)
UFUNCS[np.trunc] = _keeps_ints(_trunc)


@ufunc(np.modf)
def modf(x):
    """(fractional part, integral part), both with x's sign (modf(-2.0) is (-0.0, -2.0),
    modf(inf) is (0.0, inf)); a negative x is reflected so that d frac/dx is 1 on
    both sides of zero."""
    x = _arr(_float(x))
    neg = _negative_sign_bit(x)
    zero = lax.select(neg, lax.full((), -0.0, _dt(x)), lax.full((), 0.0, _dt(x)))
    finite = lax.select(lax.eq(lax.abs(x), math.inf), zero, x)  # inf's fraction: a signed 0
    frac = lax.select(neg, lax.neg(lax.sub(lax.neg(finite), _trunc(lax.neg(finite)))),
                      lax.sub(finite, _trunc(finite)))
    return frac, _trunc(x)


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
    x = _arr(x)
    return x.fresh() if isinstance(x, Tracer) else x  # a new array, as NumPy's


@ufunc(np.absolute)
def absolute(x):
    x = _arr(x)
    return x if _dt(x).kind == "b" else lax.abs(x)


@ufunc(np.fabs)
def fabs(x):
    return lax.abs(_to_common_float(x, x)[0])  # a float result, also for ints (NumPy)


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


def _float_test(x, test, non_float_answer):
    """A predicate on floats; ints and bools are never NaN or inf, so a constant."""
    x = _arr(x)
    if _dt(x).kind != "f":
        return lax.full(_shape(x), non_float_answer, bool)
    return test(x)


@ufunc(np.isnan)
def isnan(x):
    return _float_test(x, lambda v: lax.ne(v, v), False)


@ufunc(np.isinf)
def isinf(x):
    return _float_test(x, lambda v: lax.eq(lax.abs(v), math.inf), False)


@ufunc(np.isfinite)
def isfinite(x):
    return _float_test(x, lax.is_finite, True)


def _negative_sign_bit(x):
    """x < 0 for integers; the sign bit for floats (set for -0.0 and -nan too)."""
    return lax.signbit(x) if _dt(x).kind == "f" else lax.lt(x, 0)


@ufunc(np.signbit)
def signbit(x):
    return _negative_sign_bit(_arr(x))


@ufunc(np.logical_not)
def logical_not(x):
    return lax.logical_not(lax.convert(_arr(x), bool))


@ufunc(np.invert, np.bitwise_not)
def invert(x):
    _check_intbool("invert (~)", x)
    return lax.logical_not(_arr(x))


# ---------------------------------------------------------------- binary ufuncs
def _with_bool_loop(name, op, bool_op):
    """A binary ufunc whose bool loop is logical: add and maximum are `or`,
    multiply and minimum are `and`."""

    def impl(x, y):
        if lax.result_dtype(x, y).kind == "b":
            return bool_op(x, y)
        return op(x, y)

    impl.__name__ = name
    return impl


def _to_common_float(x, y):
    """Both operands in their common float dtype (ints and bools compute in float64)."""
    dt = _float_dtype(x, y)
    return lax.convert(x, dt), lax.convert(y, dt), dt


add = ufunc(np.add)(_with_bool_loop("add", lax.add, lax.bitwise_or))


@ufunc(np.subtract)
def subtract(x, y):
    if lax.result_dtype(x, y).kind == "b":
        raise TypeError("numpy boolean subtract is not supported; use ^ or logical_xor")
    return lax.sub(x, y)


multiply = ufunc(np.multiply)(_with_bool_loop("multiply", lax.mul, lax.bitwise_and))


@ufunc(np.true_divide)
def true_divide(x, y):
    x, y, _ = _to_common_float(x, y)
    return lax.div(x, y)


@ufunc(np.floor_divide)
def floor_divide(x, y):
    dt = lax.result_dtype(x, y)
    if dt.kind == "b":
        x, y = lax.convert(x, np.int64), lax.convert(y, np.int64)
    if dt.kind == "f":
        # NumPy's npy_divmod, on C's fmod: not floor(x / y) (1.0 // 0.1 is 9.0, while
        # floor(1.0 / 0.1) is 10.0); it also fixes -1 // inf = -1 and zero signs. Piecewise
        # constant, so zero derivatives, as floor's: the operands' are stopped (through
        # x / y at y = 0 they were inf or NaN)
        x = lax.stop_gradient(lax.convert(x, dt))
        y = lax.stop_gradient(lax.convert(y, dt))
        mod = fmod(x, y)
        div = lax.div(lax.sub(x, mod), y)
        below = lax.bitwise_and(lax.ne(mod, 0), lax.ne(lax.lt(y, 0), lax.lt(mod, 0)))
        div = lax.select(below, lax.sub(div, 1.0), div)
        fl = lax.floor(div)
        fl = lax.select(lax.gt(lax.sub(div, fl), 0.5), lax.add(fl, 1.0), fl)
        zero = copysign(lax.full(_shape(div), 0, dt), lax.div(x, y))
        q = lax.select(lax.ne(div, 0), fl, zero)
        return lax.select(lax.eq(y, 0), lax.div(x, y), q)
    return lax.div(x, y)


@ufunc(np.remainder)
def remainder(x, y):
    if lax.result_dtype(x, y).kind == "b":
        x, y = lax.convert(x, np.int64), lax.convert(y, np.int64)
    return lax.rem(x, y)


@ufunc(np.fmod)
def fmod(x, y):
    dt = lax.result_dtype(x, y)
    dt = np.dtype(np.int64) if dt.kind == "b" else dt
    x, y = lax.convert(x, dt), lax.convert(y, dt)
    # C fmod: the remainder of x / y with x's sign. For integers, from `rem`'s (y's sign):
    # where the two signs differ, r - y (never |x|, which wraps at INT_MIN)
    if dt.kind != "f":
        r = lax.rem(x, y)
        flip = lax.bitwise_and(lax.ne(r, 0), lax.ne(lax.lt(r, 0), lax.lt(x, 0)))
        return lax.select(flip, lax.sub(r, y), r)
    # floats: the remainder of |x| / |y| (exact, as `rem` of positives is), x's sign.
    # |.| and copysign through selects on sign bits, never abs (abs'(0) = 0): the
    # derivative stays 1 in x, and -trunc(x / y) in y, also where x or the result is 0
    neg_x = lax.signbit(x)
    r = lax.rem(_magnitude(x), _magnitude(y))
    r = _magnitude(r)  # a NaN takes x's sign, as in copysign
    return lax.select(neg_x, lax.neg(r), r)


def _magnitude(x):
    """|x| for floats, as a select on the sign bit: derivative -1 or 1, also at 0."""
    if not isinstance(x, Tracer):  # a constant (fmod(x, 2.0)): no equations for it
        return np.abs(x)
    return lax.select(lax.signbit(x), lax.neg(x), x)


@ufunc(np.divmod)
def divmod_(x, y):
    return floor_divide(x, y), remainder(x, y)


@ufunc(np.power)
def power(x, y):
    if type(y) is float and y == 0.5 and _dt(_arr(x)).kind == "f":
        return lax.sqrt(x)  # NumPy's own fast path: (-inf) ** 0.5 is nan, as sqrt
    # a constant exponent: a Python number, or a NumPy scalar or 0-d array (x ** np.int64(2))
    yc = (y if type(y) in (int, float) else np.asarray(y).item()
          if not isinstance(y, Tracer) and np.ndim(y) == 0 and np.asarray(y).dtype.kind in "biuf"
          else None)
    if yc is not None and float(yc).is_integer():
        dt = lax.result_dtype(_arr(x), y)  # int ** 2.0 is float64, bool ** 2 is int64
        if dt.kind == "b":  # bool ** True: power has no bool loop (NumPy: int8, here int64)
            dt = np.dtype(np.int64)
        # repeated squaring: exact for integers (wrapping as NumPy's), an ulp per product
        # for floats, whose larger exponents go to pow
        if abs(yc) <= 64 or (dt.kind in "iu" and not isinstance(yc, float)):
            if dt.kind != "f" and yc < 0:
                raise ValueError("Integers to negative integer powers are not allowed.")
            return lax.integer_pow(lax.convert(_arr(x), dt), int(yc))
    dt = lax.result_dtype(x, y)
    if dt.kind != "f":
        raise unsupported("numpy.power of integers with a traced exponent (an integer array "
                          "or argument)", "use a Python int written in the code, a static "
                          "argument, or float arrays")
    return lax.pow(x, y)


@ufunc(np.float_power)
def float_power(x, y):
    return lax.pow(lax.convert(x, np.float64), lax.convert(y, np.float64))


maximum = ufunc(np.maximum)(_with_bool_loop("maximum", lax.max, lax.bitwise_or))
minimum = ufunc(np.minimum)(_with_bool_loop("minimum", lax.min, lax.bitwise_and))


def _ignoring_nan(m, x, y):
    """fmax/fmin: `m` (the max or min), but the other operand where one is NaN
    (maximum and minimum propagate the NaN instead)."""
    if lax.result_dtype(x, y).kind != "f":
        return m
    return lax.select(isnan(y), lax.select(isnan(x), m, x), lax.select(isnan(x), y, m))


@ufunc(np.fmax)
def fmax(x, y):
    return _ignoring_nan(maximum(x, y), x, y)


@ufunc(np.fmin)
def fmin(x, y):
    return _ignoring_nan(minimum(x, y), x, y)


@ufunc(np.arctan2)
def arctan2(y, x):
    y, x, _ = _to_common_float(y, x)
    return lax.atan2(y, x)


@ufunc(np.hypot)
def hypot(x, y):
    x, y, _ = _to_common_float(x, y)
    return lax.hypot(x, y)


def _abs_diff_unless(mask, x, y, dt):
    """|x - y|, with 0 where `mask` holds (computed on zeros there)."""
    shp = lax.broadcast_shapes(_shape(x), _shape(y))
    zeros = lax.full(shp, 0, dt)
    return lax.abs(lax.sub(lax.select(mask, zeros, x), lax.select(mask, zeros, y)))


def _logaddexp(x, y, softplus, tie):
    """x + softplus(y - x) where y < x, else y + softplus(x - y), with softplus(z) =
    log(1 + e**z) (or log2(1 + 2**z)) on z <= 0, evaluated once on the selected
    operands: either branch is the function itself, so a tie (softplus as
    logaddexp(x, 0) at 0) keeps every derivative, where max(x, y) + softplus(-|x - y|)
    would lose the curvature at the kinks of max and abs. The same infinity twice
    gives max(x, y) + tie (its derivative split evenly) without computing inf - inf
    (zeros stand in)."""
    x, y, dt = _to_common_float(x, y)
    shp = lax.broadcast_shapes(_shape(x), _shape(y))
    x, y = lax.broadcast_to(x, shp), lax.broadcast_to(y, shp)
    inf_tie = lax.bitwise_and(lax.eq(x, y), lax.logical_not(lax.is_finite(x)))
    zeros = lax.full(shp, 0, dt)
    d = lax.sub(lax.select(inf_tie, zeros, y), lax.select(inf_tie, zeros, x))  # y - x
    x_wins = lax.lt(d, 0)
    out = lax.add(lax.select(x_wins, x, y), softplus(lax.select(x_wins, d, lax.neg(d))))
    return lax.select(inf_tie, lax.add(lax.max(x, y), tie), out)


@ufunc(np.logaddexp)
def logaddexp(x, y):
    return _logaddexp(x, y, lambda z: lax.log1p(lax.exp(z)), LN2)


@ufunc(np.logaddexp2)
def logaddexp2(x, y):
    return _logaddexp(x, y, lambda z: lax.div(lax.log1p(lax.pow(2.0, z)), LN2), 1.0)


@ufunc(np.heaviside)
def heaviside(x, h0):
    x, h0, _ = _to_common_float(x, h0)
    out = lax.select(lax.lt(x, 0), 0.0, lax.select(lax.gt(x, 0), 1.0, h0))
    return lax.select(lax.ne(x, x), x, out) if isinstance(out, Tracer) else out


@ufunc(np.copysign)
def copysign(x, y):
    x, y, _ = _to_common_float(x, y)
    ax = lax.abs(x)
    return lax.select(_negative_sign_bit(y), lax.neg(ax), ax)


def _comparison(compare):
    """NumPy 2 compares integer arrays with Python ints their dtype cannot hold (x < 2**40
    for int32 x) by value: in int64 when the int fits, else the answer is known from
    its sign (x != 2**64 is True everywhere)."""
    def rule(x, y):
        for a, b in ((x, y), (y, x)):
            if type(b) is int and not isinstance(a, (bool, int, float)) \
                    and _dt(a).kind in "iub" and not _fits(b, _dt(a)):
                if _fits(b, np.dtype(np.int64)):
                    a64 = lax.convert(_arr(a), np.int64)
                    return compare(a64, b) if a is x else compare(b, a64)
                big = lax.full(_shape(_arr(a)), b, np.float64)  # only its sign matters
                side = lax.full(_shape(_arr(a)), 0.0, np.float64)
                return compare(side, big) if a is x else compare(big, side)
        return compare(x, y)

    return rule


def _fits(value, dt):
    if dt.kind == "b":
        return value in (0, 1)
    info = np.iinfo(dt)
    return info.min <= value <= info.max


for _uf, _fn in {
    np.equal: lax.eq, np.not_equal: lax.ne, np.less: lax.lt, np.less_equal: lax.le,
    np.greater: lax.gt, np.greater_equal: lax.ge,
}.items():
    UFUNCS[_uf] = _comparison(_fn)


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


@implements(np.result_type)
def result_type(*arrays_and_dtypes):
    """A weak value (a Python scalar argument) promotes as a Python scalar of its
    kind: np.result_type(s, np.float32) is float32 for a float s."""
    def operand(a):
        if isinstance(a, WeakTracer):
            return {"b": False, "i": 0, "u": 0}.get(a.dtype.kind, 0.0)
        return a.dtype if isinstance(a, Tracer) else a

    return np.result_type(*[operand(a) for a in arrays_and_dtypes])


@implements(np.common_type)
def common_type(*arrays):
    return np.common_type(*[np.empty(0, lax.dtype(a)) for a in arrays])


FUNCTIONS[np.iscomplexobj] = lambda x: False  # pullback's dtypes are real
FUNCTIONS[np.isrealobj] = lambda x: True
FUNCTIONS[np.iscomplex] = lambda x: lax.full(_shape(_arr(x)), False, bool)
FUNCTIONS[np.isreal] = lambda x: lax.full(_shape(_arr(x)), True, bool)


@implements(np.copy)
def copy(a, order="K", subok=False):
    a = _arr(a)
    return a.fresh() if isinstance(a, Tracer) else a


@implements(np.astype)
def astype(x, dtype, /, *, copy=True, device=None):
    x = _arr(x)
    out = lax.convert(x, np.dtype(dtype))
    return out.fresh() if copy and out is x and isinstance(x, Tracer) else out


@implements(np.real)
def real(val):
    return _arr(val)


@implements(np.imag)
def imag(val):
    a = _arr(val)
    return lax.full(_shape(a), 0, _dt(a))


FUNCTIONS[np.conjugate] = conjugate


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
    for i, c in enumerate(condlist):
        if _dt(_arr(c)) != np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    dt = lax.result_dtype(*choices, _norm(default))
    out = lax.convert(_norm(default), dt)
    for c, v in reversed(list(zip(condlist, choices))):
        out = lax.select(_norm(c), lax.convert(v, dt), out)
    shp = lax.broadcast_shapes(*[_shape(_arr(c)) for c in condlist],
                               *[_shape(_arr(v)) for v in choices], _shape(_arr(default)))
    return lax.broadcast_to(_arr(out), shp)


@implements(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """NumPy's np.piecewise, as a chain of selects: a later condition wins, and an extra
    function is the 'otherwise' case. Each function sees all of x (NumPy passes the
    selected elements only), so it must be elementwise, as np.piecewise's are in
    practice, and a NaN or inf it gives where its condition is false does not reach
    the result (though, as in JAX, such a branch can still make a gradient NaN)."""
    x = _arr(x)
    if isinstance(condlist, (list, tuple)):
        conds = list(condlist)
        if conds and lax.ndim(x) != 0 and not isinstance(conds[0], (list, tuple, np.ndarray,
                                                                      Tracer)):
            conds = [condlist]  # one condition, written as a list of bools
    else:  # an array: one condition, or a stack of them
        c = _arr(condlist)
        conds = [c] if lax.ndim(c) == lax.ndim(x) else [c[i] for i in range(_shape(c)[0])]
    conds = [lax.convert(_arr(c), bool) for c in conds]
    for c in conds:
        if _shape(c) != _shape(x):
            raise ValueError(f"boolean index did not match indexed array: the condition "
                             f"has shape {_shape(c)}, x has shape {_shape(x)}")
    n, nf = len(conds), len(funclist)
    if nf == n + 1:
        otherwise = lax.logical_not(conds[0]) if n else lax.full(_shape(x), True, bool)
        for c in conds[1:]:
            otherwise = lax.bitwise_and(otherwise, lax.logical_not(c))
        conds.append(otherwise)
    elif nf != n:
        raise ValueError(f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    y = lax.full(_shape(x), 0, _dt(x))
    for c, fn in zip(conds, funclist):
        value = fn(x, *args, **kw) if callable(fn) else fn
        value = lax.broadcast_to(lax.convert(_arr(value), _dt(x)), _shape(x))
        y = lax.select(c, value, y)
    return y


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
    if _dt(x).kind in "iu":  # a Python int bound beyond the dtype's range clips nothing
        info = np.iinfo(_dt(x))
        # (builtins: this function's parameters min and max hide them)
        lo = builtins.max(lo, int(info.min)) if type(lo) is int else lo
        hi = builtins.min(hi, int(info.max)) if type(hi) is int else hi
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
    # beyond 10**308 the scale is inf, as in NumPy (whose result is then nan)
    scale = 10.0 ** abs(d) if abs(d) < 309 else math.inf
    if d > 0:
        return lax.div(lax.round(lax.mul(a, scale)), scale)
    return lax.mul(lax.round(lax.div(a, scale)), scale)


@implements(np.fix)
def fix(x, out=None):
    x = _arr(x)
    return x if _dt(x).kind in "biu" else _trunc(x)


@implements(np.sinc)
def sinc(x):
    x = _arr(_float(x))
    # near 0 (|x| < 1/32), sinc's Maclaurin polynomial sum_k (-u)**k / (2k+1)!, u = (pi
    # x)**2, to k = 6: the derivatives of sin(pi x) / (pi x) lose digits to cancellation
    # there (its second derivative was 0 at x = 1e-9, not -pi**2/3), and at 0 it has
    # every derivative up to order 13. The polynomial reads x only where it is small
    # (0 elsewhere), the quotient only where it is not (1 near 0): u**6 of a huge x
    # would be inf, and the select's zero derivative times inf a NaN gradient.
    small = lax.lt(lax.abs(x), 1.0 / 32)
    zeros, ones = lax.full(_shape(x), 0, _dt(x)), lax.full(_shape(x), 1, _dt(x))
    px = lax.mul(lax.select(small, ones, x), math.pi)
    u = lax.square(lax.mul(lax.select(small, x, zeros), math.pi))
    series = -1.0 / math.factorial(13)
    for k in range(5, -1, -1):
        series = lax.add((-1) ** k / math.factorial(2 * k + 1), lax.mul(u, series))
    return lax.select(small, series, lax.div(lax.sin(px), px))


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _arr(x)
    dt = _dt(x)
    if dt.kind != "f":
        return x
    big = np.finfo(dt).max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    def fill(v):  # a traced fill value (JAX takes one) is differentiated through
        if isinstance(v, Tracer):
            return lax.broadcast_to(lax.convert(v, dt), _shape(x))
        return _consts_scalar(v, dt)

    # each test reads x itself: a NaN replaced by inf is not then replaced by posinf
    out = lax.select(isnan(x), fill(nan), x)
    out = lax.select(lax.eq(x, math.inf), fill(posinf), out)
    return lax.select(lax.eq(x, -math.inf), fill(neginf), out)


@implements(np.isneginf)
def isneginf(x, out=None):
    return lax.eq(_arr(x), -math.inf)


@implements(np.isposinf)
def isposinf(x, out=None):
    return lax.eq(_arr(x), math.inf)


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    x, y, dt = _to_common_float(_norm(a), _norm(b))
    same = lax.eq(x, y)
    close = lax.le(_abs_diff_unless(same, x, y, dt), lax.add(atol, lax.mul(rtol, lax.abs(y))))
    close = lax.bitwise_and(close, isfinite(_arr(y)))
    close = lax.bitwise_or(close, same)
    if equal_nan:
        close = lax.bitwise_or(close, lax.bitwise_and(isnan(_arr(x)), isnan(_arr(y))))
    return close


def _ufunc_outer(uf):
    def impl(a, b):
        a, b = _arr(a), _arr(b)
        nb = lax.ndim(b)
        a = lax.reshape(a, _shape(a) + (1,) * nb)
        return UFUNCS[uf](a, b)

    return impl


for _uf in list(UFUNCS):
    if isinstance(_uf, np.ufunc) and _uf.nin == 2 and _uf.nout == 1 and _uf is not np.matmul \
            and _uf is not np.vecdot:
        FUNCTIONS[(_uf, "outer")] = _ufunc_outer(_uf)
