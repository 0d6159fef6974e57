"""Plain NumPy on traced values, checked against NumPy itself.

`NUMPY_CASES` is a table of (name, fn, args_maker): `fn` uses plain NumPy and
`args_maker()` returns a tuple of fresh NumPy arguments. Every case is traced
with make_ir (typechecked, printed and parsed back) and run with
`pb.jit(fn, backend="interpreter")`; values and dtypes must equal NumPy's.
Other suites reuse the table by loading this file (see tests/test_ad_numpy.py):
names are readable test ids, "const" in a name marks hand-picked special inputs.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.ir import parse, typecheck
from pullback.tracer.pytree import tree_flatten

# ---------------------------------------------------------------- input makers
_SEED = 0


def _rng():
    return np.random.default_rng(_SEED)


def F(*shape, dtype=np.float64, lo=-2.0, hi=2.0):
    """Random floats in [lo, hi)."""
    def make(rng):
        return np.asarray(rng.uniform(lo, hi, shape), dtype=dtype)
    make.sig = f"{np.dtype(dtype).name}{list(shape)}"
    return make


def F32(*shape, lo=-2.0, hi=2.0):
    return F(*shape, dtype=np.float32, lo=lo, hi=hi)


def Pos(*shape, dtype=np.float64):
    return F(*shape, dtype=dtype, lo=0.5, hi=3.0)


def Unit(*shape, dtype=np.float64):
    return F(*shape, dtype=dtype, lo=-0.9, hi=0.9)


def I(*shape, lo=-5, hi=6, dtype=np.int64):
    def make(rng):
        return rng.integers(lo, hi, shape).astype(dtype)
    make.sig = f"{np.dtype(dtype).name}{list(shape)}"
    return make


def B(*shape):
    def make(rng):
        return rng.random(shape) < 0.5
    make.sig = f"bool{list(shape)}"
    return make


def Strided(*shape, dtype=np.float64, lo=-2.0, hi=2.0):
    """A non-contiguous view: every other row of a bigger array."""
    def make(rng):
        big = rng.uniform(lo, hi, (2 * shape[0],) + shape[1:]).astype(dtype)
        return big[::2]
    make.sig = f"{np.dtype(dtype).name}{list(shape)}[::2]"
    return make


def Transposed(*shape, dtype=np.float64, lo=-2.0, hi=2.0):
    """A transposed (Fortran-ordered) view of the given shape."""
    def make(rng):
        return rng.uniform(lo, hi, shape[::-1]).astype(dtype).T
    make.sig = f"{np.dtype(dtype).name}{list(shape)}.T"
    return make


def Const(value, sig=None):
    def make(rng):
        return np.array(value)
    make.sig = sig or f"const{np.shape(value)}"
    return make


NUMPY_CASES: list = []  # (name, fn, args_maker)
ENTRIES: set = set()  # the NumPy entries (functions, ufuncs, methods, operators) covered


def case(entry, fn, *makers, note=""):
    """Add one row: `entry` names the NumPy entry under test."""
    ENTRIES.add(entry)
    sig = ",".join(m.sig for m in makers)
    name = f"{entry}{'-' + note if note else ''}[{sig}]"

    def args_maker(makers=makers):
        rng = _rng()
        return tuple(m(rng) for m in makers)

    NUMPY_CASES.append((name, fn, args_maker))


# ---------------------------------------------------------------- unary ufuncs
UNARY_FLOAT = {
    "sin": (np.sin, F), "cos": (np.cos, F), "tan": (np.tan, Unit), "arcsin": (np.arcsin, Unit),
    "arccos": (np.arccos, Unit), "arctan": (np.arctan, F), "sinh": (np.sinh, F),
    "cosh": (np.cosh, F), "tanh": (np.tanh, F), "arcsinh": (np.arcsinh, F),
    "arccosh": (np.arccosh, lambda *s, **k: F(*s, lo=1.1, hi=3.0, **k)),
    "arctanh": (np.arctanh, Unit), "exp": (np.exp, F), "log": (np.log, Pos),
    "log1p": (np.log1p, Pos), "expm1": (np.expm1, F), "sqrt": (np.sqrt, Pos),
    "exp2": (np.exp2, F), "log2": (np.log2, Pos), "log10": (np.log10, Pos),
    "deg2rad": (np.deg2rad, F), "rad2deg": (np.rad2deg, F), "radians": (np.radians, F),
    "degrees": (np.degrees, F), "cbrt": (np.cbrt, F), "square": (np.square, F),
    "reciprocal": (np.reciprocal, Pos), "sign": (np.sign, F), "abs": (np.abs, F),
    "fabs": (np.fabs, F), "negative": (np.negative, F), "positive": (np.positive, F),
    "floor": (np.floor, F), "ceil": (np.ceil, F), "rint": (np.rint, F),
    "trunc": (np.trunc, F), "fix": (np.fix, F), "sinc": (np.sinc, F),
    "isnan": (np.isnan, F), "isinf": (np.isinf, F), "isfinite": (np.isfinite, F),
    "signbit": (np.signbit, F), "conjugate": (np.conjugate, F),
}
for _name, (_f, _mk) in UNARY_FLOAT.items():
    case(_name, _f, _mk())
    case(_name, _f, _mk(3, 4))
    case(_name, _f, _mk(5, dtype=np.float32))
    case(_name, _f, Strided(4, 3, lo=1.1, hi=1.9) if _name == "arccosh"
         else Strided(4, 3, lo=0.1, hi=0.9))

# integer inputs: NumPy computes transcendental functions in float64
for _name in ["sin", "exp", "sqrt", "log2", "cbrt", "deg2rad", "sinc"]:
    case(_name, UNARY_FLOAT[_name][0], I(6, lo=1, hi=9))
# integer-preserving unary functions, ints and bools
for _name in ["floor", "ceil", "trunc", "fix", "abs", "negative", "square", "sign", "isnan",
              "isfinite", "isinf"]:
    case(_name, UNARY_FLOAT[_name][0], I(2, 3))
    case(_name, UNARY_FLOAT[_name][0], I(4, dtype=np.int32))
for _name in ["floor", "abs", "isnan", "isfinite"]:
    case(_name, UNARY_FLOAT[_name][0], B(5))
case("logical_not", np.logical_not, B(3, 2))
case("logical_not", np.logical_not, F(4))
case("invert", np.invert, B(4))
case("invert", lambda x: ~x, I(4), note="operator")
case("isnan", np.isnan, Const([np.nan, 1.0, np.inf, -np.inf]))
case("isinf", np.isinf, Const([np.nan, 1.0, np.inf, -np.inf]))
case("isfinite", np.isfinite, Const([np.nan, 1.0, np.inf, -np.inf]))
case("signbit", np.signbit, Const([-0.0, 0.0, -1.0, 2.0]))
case("sinc", np.sinc, Const([0.0, 1.0, -0.5, 2.5]))
case("round", np.round, Const([0.5, 1.5, 2.5, -0.5, -1.7]))
case("round", lambda x: np.round(x, 2), F(6))
case("round", lambda x: np.round(x, -1), F(6, lo=-300, hi=300), note="decimals-1")
case("round", lambda x: np.round(x), I(4))
case("around", lambda x: np.around(x, 1), F32(5))
case("nan_to_num", np.nan_to_num, Const([np.nan, np.inf, -np.inf, 1.5]))
case("nan_to_num", lambda x: np.nan_to_num(x, nan=-1.0, posinf=9.0),
     Const(np.array([np.nan, np.inf, -np.inf, 1.5], np.float32)))
case("isneginf", np.isneginf, Const([np.nan, np.inf, -np.inf, 1.5]))
case("isposinf", np.isposinf, Const([np.nan, np.inf, -np.inf, 1.5]))

# ---------------------------------------------------------------- binary ufuncs and operators
BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin,
    "arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp,
    "logaddexp2": np.logaddexp2, "copysign": np.copysign, "heaviside": np.heaviside,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less,
    "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
}
for _name, _f in BINARY.items():
    case(_name, _f, F(3, 4), F(3, 4))
    case(_name, _f, F(3, 1), F(4), note="broadcast")
    case(_name, _f, F32(2, 3), F32(3))
    case(_name, _f, F(), F(2, 2))
    case(_name, _f, Transposed(3, 2), Strided(3, 2))
for _name in ["add", "subtract", "multiply", "maximum", "minimum", "equal", "less"]:
    case(_name, BINARY[_name], I(3, 4), I(4))
    case(_name, BINARY[_name], I(3, dtype=np.int32), F32(3), note="promote")
    case(_name, BINARY[_name], F32(3), F(3), note="promote")
for _name in ["add", "multiply", "maximum", "equal", "not_equal"]:
    case(_name, BINARY[_name], B(3, 2), B(2))
case("divide", np.divide, I(4, lo=1), I(4, lo=1))
case("floor_divide", np.floor_divide, F(3, 4), Pos(4))
case("floor_divide", np.floor_divide, Const([1.0, -1.0, 7.5, -7.5, 0.3, 0.0]),
     Const([0.1, 0.1, 2.0, 2.0, -0.1, 3.0]), note="not-floor-of-quotient")
case("floor_divide", lambda x: x // 0.1, F32(5), note="f32")
case("floor_divide", np.floor_divide, I(3, 4), I(4, lo=1))
case("floor_divide", np.floor_divide, I(6), Const(np.array([-3, -2, -1, 1, 2, 3])))
case("remainder", np.remainder, F(3, 4), Pos(4))
case("remainder", np.remainder, I(3, 4), Const(np.array([-3, -2, 2, 3])))
case("mod", np.mod, I(6), Const(np.array([-3, -2, -1, 1, 2, 3])))
case("fmod", np.fmod, I(6), Const(np.array([-3, -2, -1, 1, 2, 3])))
case("fmod", np.fmod, F(3, 4), Const(np.array([-1.5, -0.7, 0.7, 1.5])))
case("fmod", np.fmod, Const(np.array([-2**31, 7, 2**31 - 1, -7, 0, -2**31], np.int32)),
     Const(np.array([3, -2**31, -2**31, 3, 3, -1], np.int32)), note="int-min")
case("fmod", lambda x: np.fmod(x, 3), Const(np.array([-2**63, -5, 5])), note="int64-min")
case("divmod", np.divmod, I(6), Const(np.array([-3, -2, -1, 1, 2, 3])))
case("divmod", lambda x, y: divmod(x, y), F(5), Pos(5), note="builtin")
case("power", np.power, Pos(3, 4), F(4))
case("power", lambda x: np.power(x, 3), F(3, 4), note="int-exponent")
case("power", lambda x: x ** 2, I(5), note="operator")
case("power", lambda x: x ** 100, I(5, dtype=np.int32), note="int-exponent-over-64")
case("power", lambda x: np.power(x, 1001), I(5), note="int64-wraps")
case("power", lambda x: (x ** 2.0, x ** 3, x ** 0), I(5), note="int-float-exponent")
case("hypot", np.hypot, Const([1e200, 0.0, 3.0, np.inf, -1e-200]),
     Const([1e200, 0.0, -4.0, 1.0, 1e-200]), note="extremes")
case("concatenate", lambda x: np.concatenate([x, np.zeros((0, 2), np.float32), np.ones((1, 2))]),
     F32(2, 2), note="empty")
case("power", lambda x: x ** -2.0, Pos(5, dtype=np.float32), note="operator")
case("power", lambda x: 2.0 ** x, F(5), note="reflected")
case("float_power", np.float_power, Pos(4, dtype=np.float32), F32(4))
case("heaviside", np.heaviside, Const([np.nan, 0.0, -1.0, 2.0]), Const(0.5))
case("logaddexp", np.logaddexp, Const([-np.inf, np.inf, 0.0, 1000.0]),
     Const([-np.inf, np.inf, 0.0, -1000.0]))
case("copysign", np.copysign, F(4), Const([-0.0, 0.0, -1.0, 3.0]))
case("fmax", np.fmax, Const([np.nan, 1.0, np.nan, 2.0]), Const([0.0, np.nan, np.nan, 3.0]))
case("fmin", np.fmin, Const([np.nan, 1.0, np.nan, 2.0]), Const([0.0, np.nan, np.nan, 3.0]))
case("maximum", np.maximum, Const([np.nan, 1.0, 2.0]), Const([0.0, np.nan, 3.0]), note="nan")
for _name, _f in {"logical_and": np.logical_and, "logical_or": np.logical_or,
                  "logical_xor": np.logical_xor}.items():
    case(_name, _f, B(3, 2), B(2))
    case(_name, _f, F(4), I(4))
for _name, _f in {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
                  "bitwise_xor": np.bitwise_xor}.items():
    case(_name, _f, I(3, 2, lo=0, hi=16), I(2, lo=0, hi=16))
    case(_name, _f, B(4), B(4))
case("operators", lambda x, y: (x + y, x - y, x * y, x / y, -x, +x, abs(x), x // y, x % y),
     F(3), Pos(3))
case("operators", lambda x, y: (1 + x, 2 - x, 3 * x, 4 / y, 1.5 // y, 7.0 % y),
     F(3), Pos(3), note="reflected")
case("operators", lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y), I(6), I(6),
     note="compare")
case("operators", lambda x, y: (x & y, x | y, x ^ y, ~x), B(5), B(5), note="bool")
case("matmul", lambda x, y: x @ y, F(3, 4), F(4, 2), note="operator")
case("matmul", lambda x, y: y.T @ x, F(3, 4), F(3, 2), note="reflected")

# ---------------------------------------------------------------- reductions
for _name, _f in {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
                  "amax": np.amax, "amin": np.amin, "mean": np.mean, "var": np.var,
                  "std": np.std, "ptp": np.ptp, "argmax": np.argmax, "argmin": np.argmin,
                  "nansum": np.nansum, "nanmean": np.nanmean, "nanmax": np.nanmax,
                  "nanmin": np.nanmin, "nanprod": np.nanprod, "nanvar": np.nanvar,
                  "nanstd": np.nanstd, "nanargmax": np.nanargmax, "nanargmin": np.nanargmin,
                  "count_nonzero": np.count_nonzero, "all": np.all, "any": np.any}.items():
    case(_name, _f, F(3, 4))
    case(_name, lambda x, _f=_f: _f(x, axis=1), F(3, 4), note="axis1")
    case(_name, lambda x, _f=_f: _f(x, axis=-2, keepdims=True), F32(3, 4), note="keepdims")
    case(_name, lambda x, _f=_f: _f(x, axis=0), I(3, 4, lo=-2, hi=3), note="axis0")
    case(_name, _f, Strided(4, 3))
    if _name not in ("argmax", "argmin", "nanargmax", "nanargmin"):
        case(_name, lambda x, _f=_f: _f(x, axis=(0, 2)), F(2, 3, 4), note="tuple-axis")
    if _name not in ("ptp",):
        case(_name, _f, B(3, 4))
    if _name not in ("argmax", "argmin", "nanargmax", "nanargmin", "count_nonzero", "all",
                     "any"):
        case(_name, _f, F())
case("sum", lambda x: np.sum(x, dtype=np.float32), I(3, 4), note="dtype")
case("sum", lambda x: np.sum(x, axis=0), I(3, 4, dtype=np.int32), note="int32")
case("sum", lambda x: np.sum(x, initial=10.0), F(3), note="initial")
case("sum", lambda x: np.sum(x, axis=0, where=x > 0), F(3, 4), note="where")
case("prod", lambda x, m: np.prod(x, where=m), F(3, 4), B(4), note="where")
case("max", lambda x: np.max(x, axis=1, where=x < 1, initial=-5.0), F(3, 4), note="where")
case("min", lambda x: np.min(x, initial=0), I(3, 4), note="initial")
case("max", lambda x: np.max(x, initial=False), B(3), note="initial")
case("mean", lambda x: np.mean(x, axis=1, where=x > -1), F(3, 4), note="where")
case("mean", lambda x: np.mean(x, axis=0, dtype=np.float32), F(3, 4), note="dtype")
case("prod", lambda x: np.prod(x, axis=0, keepdims=True), I(3, 2, dtype=np.int32), note="int32")
case("var", lambda x: np.var(x, axis=0, ddof=1), F(5, 3), note="ddof")
case("std", lambda x: np.std(x, ddof=1), F32(5, 3), note="ddof")
case("nansum", np.nansum, Const([np.nan, 1.0, 2.0]))
case("nanmean", lambda x: np.nanmean(x, axis=0), Const([[np.nan, 1.0], [3.0, 2.0]]))
case("nanmax", lambda x: np.nanmax(x, axis=1), Const([[np.nan, 1.0], [3.0, 2.0]]))
case("nanmin", np.nanmin, Const([np.nan, 1.0, -2.0]))
_NANS = Const([[np.nan, 1.0, 4.0, np.nan], [3.0, 2.0, -1.0, 0.5], [np.nan] * 4])
case("nanvar", lambda x: np.nanvar(x, axis=1, ddof=1), _NANS)
case("nanstd", lambda x: np.nanstd(x, axis=0, keepdims=True), _NANS)
case("nanstd", lambda x: np.nanstd(x, axis=1, where=np.array([1, 1, 0, 1], bool)), _NANS,
     note="where")
case("var", lambda x: np.var(x, axis=1, where=np.array([1, 0, 1, 1], bool), ddof=1), F(3, 4),
     note="where")
case("nanargmax", lambda x: np.nanargmax(x[:2], axis=1), _NANS)  # NumPy raises on all-NaN
case("nanargmin", lambda x: np.nanargmin(x[1:, :3], axis=0), _NANS)
case("nancumsum", lambda x: np.nancumsum(x, axis=1), _NANS)
case("nancumsum", np.nancumsum, I(3, 4), note="int")
case("nancumprod", lambda x: np.nancumprod(x, axis=0), _NANS)
case("nanmedian", lambda x: np.nanmedian(x, axis=1), _NANS)
case("nanmedian", np.nanmedian, F(3, 4), note="flat")
case("nanquantile", lambda x: np.nanquantile(x, [0.25, 0.5, 1.0], axis=1), _NANS)
case("nanpercentile", lambda x: np.nanpercentile(x, 40.0, axis=0, keepdims=True), _NANS)
case("nancumsum", lambda x: np.nancumsum(x, axis=0), F(3, 4), note="float")
case("nancumprod", np.nancumprod, F(3, 4))
case("nanquantile", lambda x: np.nanquantile(x, [0.3, 0.9], axis=0), F(5, 4), note="float")
case("nanpercentile", lambda x: np.nanpercentile(x, 75), F(3, 4))
case("average", np.average, F(3, 4))
case("average", lambda x, w: np.average(x, weights=w), F(3, 4), Pos(3, 4), note="weights")
case("average", lambda x, w: np.average(x, axis=1, weights=w), F(3, 4), Pos(4), note="1d-weights")
case("average", lambda x, w: np.average(x, axis=(2, 0), weights=w), F(2, 3, 4), Pos(4, 2),
     note="tuple-axis-weights")
case("average", lambda x, w: np.average(x, axis=0, weights=w, returned=True),
     I(3, 2), Pos(3, dtype=np.float32), note="returned")
case("add.reduce", lambda x: np.add.reduce(x), F(3, 4))
case("add.reduce", lambda x: np.add.reduce(x, axis=1, keepdims=True), I(3, 4))
case("multiply.reduce", lambda x: np.multiply.reduce(x, axis=None), F(3, 2))
case("maximum.reduce", lambda x: np.maximum.reduce(x, axis=1), F(3, 4))
case("minimum.reduce", lambda x: np.minimum.reduce(x), F(3, 4))
case("logical_or.reduce", lambda x: np.logical_or.reduce(x, axis=0), B(3, 4))
case("logical_and.reduce", lambda x: np.logical_and.reduce(x), B(3, 4))
case("add.accumulate", lambda x: np.add.accumulate(x, axis=1), F(3, 4))
case("multiply.accumulate", lambda x: np.multiply.accumulate(x), F(4, 2))
case("maximum.accumulate", lambda x: np.maximum.accumulate(x, axis=1), F(3, 7))
case("maximum.accumulate", lambda x: np.maximum.accumulate(x), I(9, dtype=np.int32), note="int")
case("maximum.accumulate", lambda x: np.maximum.accumulate(x),
     Const([0.0, -0.0, 1.0, np.nan, 2.0, -0.0]), note="const-nan-zeros")
case("minimum.accumulate", lambda x: np.minimum.accumulate(x, axis=0, dtype=np.float64),
     F32(6, 2), note="dtype")
case("logaddexp.reduce", lambda x: np.logaddexp.reduce(x), F(5, 3))
case("logaddexp.reduce", lambda x: np.logaddexp.reduce(x, axis=1, keepdims=True), F32(2, 4),
     note="keepdims")
case("logaddexp.reduce", lambda x: np.logaddexp.reduce(x, axis=1),
     Const([[-np.inf, -np.inf], [np.inf, 1.0], [0.0, -np.inf]]), note="const-inf")
case("logaddexp2.reduce", lambda x: np.logaddexp2.reduce(x, axis=None), F(3, 2))
case("multiply.outer", lambda x, y: np.multiply.outer(x, y), F(3), F(2, 2))
case("subtract.outer", lambda x, y: np.subtract.outer(x, y), I(3), F(2))
case("maximum.outer", lambda x, y: np.maximum.outer(x, y), F32(3), F32(2, 1))
case("less.outer", lambda x, y: np.less.outer(x, y), F(3), F(2))
case("linalg.matrix_transpose", np.linalg.matrix_transpose, F(2, 3, 4))
case("cumsum", np.cumsum, F(3, 4))
case("cumsum", lambda x: np.cumsum(x, axis=0), F32(3, 4))
case("cumsum", lambda x: np.cumsum(x, axis=-1), I(3, 4, dtype=np.int32))
case("cumsum", np.cumsum, B(5))
case("cumsum", lambda x: np.cumsum(x, axis=0, dtype=bool), Const([[0.0, 1.0], [2.0, 0.0]]),
     note="dtype-bool")
case("cumprod", lambda x: np.cumprod(x, dtype=bool), Const([1.0, 2.0, 0.0, 3.0]), note="dtype-bool")
case("cumprod", np.cumprod, F(2, 3))
case("cumprod", lambda x: np.cumprod(x, axis=1), F32(3, 4))
case("cumprod", lambda x: np.cumprod(x, axis=0), I(4, 2))
case("cumulative_sum", lambda x: np.cumulative_sum(x, include_initial=True), I(4))
case("cumulative_sum", lambda x: np.cumulative_sum(x, axis=1), F(2, 3), note="axis")
case("cumulative_prod", lambda x: np.cumulative_prod(x, axis=0, include_initial=True), F(3, 2))
case("ediff1d", np.ediff1d, F(2, 3))
case("ediff1d", lambda x: np.ediff1d(x, to_end=[9.0], to_begin=x[:1]), F(4), note="ends")
case("block", lambda a, b: np.block([[a, b], [b, a]]), F(2, 2), F(2, 2))
case("block", lambda a, b: np.block([a, b, a]), F(2), F(3), note="1d")
case("block", lambda a, b: np.block([[a], [b]]), F(3), F(1, 3), note="rows")
case("diff", np.diff, F(3, 5))
case("diff", lambda x: np.diff(x, n=2, axis=0), F(5, 2))
case("diff", lambda x: np.diff(x, prepend=0.0, append=x[-1:]), F(4), note="prepend")
case("diff", np.diff, B(5))

# ---------------------------------------------------------------- shapes
case("reshape", lambda x: np.reshape(x, (4, 3)), F(3, 4))
case("reshape", lambda x: x.reshape(2, -1), F(3, 4), note="method")
case("reshape", lambda x: x.reshape((12,)), Strided(3, 4), note="tuple")
case("ravel", np.ravel, Transposed(3, 4))
case("ravel", lambda x: x.ravel(), F(2, 2))
case("flatten", lambda x: x.flatten(), Transposed(2, 3))
case("transpose", np.transpose, F(2, 3, 4))
case("transpose", lambda x: np.transpose(x, (1, 0, 2)), F(2, 3, 4), note="axes")
case("transpose", lambda x: x.transpose(2, 0, 1), F(2, 3, 4), note="method")
case("T", lambda x: x.T, F(3, 4))
case("mT", lambda x: x.mT, F(2, 3, 4))
case("matrix_transpose", np.matrix_transpose, F(2, 3, 4))
case("permute_dims", lambda x: np.permute_dims(x, (2, 1, 0)), F(2, 3, 4))
case("swapaxes", lambda x: np.swapaxes(x, 0, 2), F(2, 3, 4))
case("swapaxes", lambda x: x.swapaxes(-1, 0), F(2, 3), note="method")
case("moveaxis", lambda x: np.moveaxis(x, 0, -1), F(2, 3, 4))
case("moveaxis", lambda x: np.moveaxis(x, [0, 1], [2, 0]), F(2, 3, 4), note="multi")
case("squeeze", np.squeeze, F(1, 3, 1))
case("squeeze", lambda x: np.squeeze(x, axis=2), F(1, 3, 1), note="axis")
case("squeeze", lambda x: x.squeeze(0), F(1, 3), note="method")
case("expand_dims", lambda x: np.expand_dims(x, 1), F(3, 4))
case("expand_dims", lambda x: np.expand_dims(x, (0, -1)), F(3), note="tuple")
case("atleast_1d", np.atleast_1d, F())
case("atleast_2d", np.atleast_2d, F(3))
case("atleast_3d", np.atleast_3d, F(3, 2))
case("atleast_3d", lambda x, y: np.atleast_3d(x, y), F(3), F(), note="multi")
case("broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), F(3, 1))
case("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y), F(3, 1), I(4))
case("zeros_like", np.zeros_like, F32(3, 2))
case("ones_like", lambda x: np.ones_like(x, dtype=np.int64), F(3))
case("full_like", lambda x: np.full_like(x, 7.5), F32(2, 2))
case("full_like", lambda x: np.full_like(x, x[0]), F(4), note="traced-fill")
case("empty_like", lambda x: np.empty_like(x) * 0, I(3))
case("copy", lambda x: np.copy(x) + x.copy(), F(3))
case("astype", lambda x: x.astype(np.float32), F(3, 2))
case("astype", lambda x: x.astype(np.int64), F(4), note="float-to-int")
case("astype", lambda x: np.astype(x, bool), I(4), note="function")
case("shape", lambda x: np.zeros(np.shape(x)) + x.shape[0] + x.ndim + x.size + np.size(x)
     + np.ndim(x), F(2, 3))
case("dtype", lambda x: np.zeros(3, x.dtype) + x.astype(x.dtype), F32(3))
case("ufunc-dtype", lambda x, y: np.add(x, y, dtype=np.float64), I(3), F32(3))
case("ufunc-dtype", lambda x: np.sqrt(x, dtype=np.float64), Pos(3, dtype=np.float32), note="unary")
case("result_type", lambda x, y: np.zeros(2, np.result_type(x, y, 1.0)) + np.iscomplexobj(x)
     + np.isrealobj(y) + np.iscomplex(x) + np.isreal(y), F32(2), I(2))
case("real", lambda x: np.real(x) + np.imag(x) + x.real + x.imag, F(3))

# ---------------------------------------------------------------- joining, splitting, rearranging
case("concatenate", lambda x, y: np.concatenate([x, y]), F(2, 3), F(1, 3))
case("concatenate", lambda x, y: np.concatenate((x, y), axis=1), F(2, 3), I(2, 1), note="promote")
case("concatenate", lambda x, y: np.concatenate([x, y], axis=None), F(2, 3), F(4))
case("concat", lambda x, y: np.concat([x, y, x]), F32(2), F32(3))
case("stack", lambda x, y: np.stack([x, y]), F(2, 3), F(2, 3))
case("stack", lambda x, y: np.stack([x, y], axis=-1), F(3), I(3), note="axis")
case("hstack", lambda x, y: np.hstack([x, y]), F(3), F(2))
case("hstack", lambda x, y: np.hstack((x, y)), F(2, 3), F(2, 1), note="2d")
case("vstack", lambda x, y: np.vstack([x, y]), F(3), F(3))
case("vstack", lambda x, y: np.vstack([x, y]), F(2, 3), F(1, 3), note="2d")
case("dstack", lambda x, y: np.dstack([x, y]), F(2, 3), F(2, 3))
case("column_stack", lambda x, y: np.column_stack([x, y]), F(3), F(3, 2))
case("split", lambda x: np.split(x, 3), F(6, 2))
case("split", lambda x: np.split(x, [1, 3], axis=1), F(2, 5), note="indices")
case("array_split", lambda x: np.array_split(x, 3), F(7))
case("hsplit", lambda x: np.hsplit(x, 2), F(3, 4))
case("vsplit", lambda x: np.vsplit(x, [1]), F(3, 4))
case("flip", np.flip, F(3, 4))
case("flip", lambda x: np.flip(x, axis=1), F(3, 4), note="axis")
case("fliplr", np.fliplr, F(3, 4))
case("flipud", np.flipud, F(3, 4))
case("rot90", np.rot90, F(2, 3))
case("rot90", lambda x: np.rot90(x, 3), F(2, 3), note="k3")
case("rot90", lambda x: np.rot90(x, 2, axes=(1, 2)), F(2, 3, 4), note="k2")
case("roll", lambda x: np.roll(x, 2), F(3, 4))
case("roll", lambda x: np.roll(x, -1, axis=1), F(3, 4), note="axis")
case("roll", lambda x: np.roll(x, (1, 2), axis=(0, 1)), F(3, 4), note="tuple")
case("tile", lambda x: np.tile(x, 2), F(3))
case("tile", lambda x: np.tile(x, (2, 1, 3)), F(2, 2), note="nd")
case("repeat", lambda x: np.repeat(x, 2), F(2, 3))
case("repeat", lambda x: np.repeat(x, 3, axis=1), F(2, 3), note="axis")
case("repeat", lambda x: np.repeat(x, [1, 0, 2], axis=1), F(2, 3), note="counts")
case("repeat", lambda x: x.repeat(2, axis=0), I(2, 2), note="method")
case("take", lambda x: np.take(x, [0, 2, -1]), F(3, 4))
case("take", lambda x: np.take(x, np.array([[0, 1], [2, 0]]), axis=1), F(3, 4), note="axis")
case("take", lambda x, i: np.take(x, i, axis=0), F(4, 2), I(3, lo=-4, hi=4), note="traced")
case("take", lambda x: np.take(x, [5, -7], mode="wrap"), F(4), note="wrap")
case("take", lambda x: np.take(x, [5, -7], mode="clip"), F(4), note="clip")
case("take_along_axis", lambda x: np.take_along_axis(x, np.array([[3, 0], [1, -1], [2, 2]]), axis=1),
     F(3, 4))
case("take_along_axis", lambda x, i: np.take_along_axis(x, i, axis=0), F(3, 4), I(2, 4, lo=0, hi=3),
     note="traced")

# ---------------------------------------------------------------- selection and clipping
case("where", np.where, B(3, 4), F(3, 4), F(4))
case("where", lambda x: np.where(x > 0, x, 0.0), F32(3, 4), note="scalar")
case("where", lambda x, y: np.where(x > y, x, y), I(5), F(5), note="promote")
case("select", lambda x: np.select([x < -1, x > 1], [x * 2, x * 3], default=0.0), F(6))
case("clip", lambda x: np.clip(x, -0.5, 0.5), F(3, 4))
case("clip", lambda x: np.clip(x, None, 0.5), F32(4), note="no-min")
case("clip", lambda x, lo: np.clip(x, lo, 1.0), F(3, 4), F(4), note="array-bound")
case("clip", lambda x: x.clip(0, 2), I(5), note="method")
case("clip", lambda x: np.clip(x, 0.5, 2.5), I(5), note="int-float")
case("isclose", np.isclose, F(4), Const([0.1, np.inf, np.nan, -1.0]))
case("isclose", lambda x, y: np.isclose(x, y, equal_nan=True), Const([0.1, np.inf, np.nan]),
     Const([0.1, np.inf, np.nan]), note="equal_nan")

# ---------------------------------------------------------------- linear algebra
case("matmul", np.matmul, F(3, 4), F(4, 2))
case("matmul", np.matmul, F(4), F(4, 2), note="vec-mat")
case("matmul", np.matmul, F(3, 4), F(4), note="mat-vec")
case("matmul", np.matmul, F(4), F(4), note="vec-vec")
case("matmul", np.matmul, F(2, 3, 4), F(4, 5), note="batched")
case("matmul", np.matmul, F(2, 1, 3, 4), F(5, 4, 2), note="broadcast-batch")
case("matmul", np.matmul, F(3), F(2, 3, 4), note="vec-batch")
case("matmul", np.matmul, I(2, 3), I(3, 2), note="int")
case("matmul", np.matmul, F32(2, 3), F(3), note="promote")
case("matmul", np.matmul, Transposed(3, 4), Strided(4, 2), note="views")
case("dot", np.dot, F(3, 4), F(4, 2))
case("dot", np.dot, F(2, 3, 4), F(5, 4, 2), note="nd")
case("dot", np.dot, F(), F(3), note="scalar")
case("dot", lambda x, y: x.dot(y), F(3), F(3), note="method")
case("vdot", np.vdot, F(2, 3), F(3, 2))
case("inner", np.inner, F(2, 3), F(4, 3))
case("outer", np.outer, F(3), F(2, 2))
case("outer", np.outer, B(3), B(2), note="bool")
case("tensordot", np.tensordot, F(2, 3, 4), F(3, 4, 5))
case("tensordot", lambda x, y: np.tensordot(x, y, axes=([0, 2], [2, 1])), F(2, 3, 4), F(5, 4, 2),
     note="axes")
case("tensordot", lambda x, y: np.tensordot(x, y, 0), F(2), F(3), note="outer")
case("kron", np.kron, F(2, 3), F(2, 2))
case("kron", np.kron, F(3), I(2, 2), note="mixed-ndim")
case("cross", np.cross, F(3), F(3))
case("cross", np.cross, F(4, 3), F(3), note="broadcast")
case("trace", np.trace, F(3, 4))
case("trace", lambda x: np.trace(x, offset=1), F(4, 4), note="offset")
case("trace", lambda x: np.trace(x, axis1=1, axis2=2), I(2, 3, 3), note="axes")
case("trace", lambda x: x.trace(), F(3, 3), note="method")
case("diagonal", np.diagonal, F(3, 4))
case("diagonal", lambda x: np.diagonal(x, -1), F(4, 3), note="offset")
case("diagonal", lambda x: np.diagonal(x, 1, 0, 2), F(3, 2, 4), note="axes")
case("diagonal", lambda x: x.diagonal(5), F(3, 3), note="empty")
case("diag", np.diag, F(3))
case("diag", lambda x: np.diag(x, 1), F(3), note="k1")
case("diag", lambda x: np.diag(x, -2), I(2), note="k-2")
case("diag", np.diag, F(3, 4), note="extract")
case("diag", lambda x: np.diag(x, -1), F(3, 4), note="extract-k")
case("triu", np.triu, F(3, 4))
case("triu", lambda x: np.triu(x, 1), F(2, 3, 3), note="batched")
case("tril", np.tril, F(4, 3))
case("tril", lambda x: np.tril(x, -1), I(3, 3), note="k")
case("linalg.norm", np.linalg.norm, F(5))
case("linalg.norm", np.linalg.norm, F(3, 4), note="fro")
case("linalg.norm", np.linalg.norm, F32(2, 3, 4), note="nd")
case("linalg.norm", np.linalg.norm, I(4), note="int")
for _ord in [1, 2, np.inf, -np.inf, 0, 3]:
    case("linalg.norm", lambda x, o=_ord: np.linalg.norm(x, ord=o), F(5), note=f"ord{_ord}")
for _ord in [None, "fro", 1, -1, np.inf, -np.inf]:
    case("linalg.norm", lambda x, o=_ord: np.linalg.norm(x, ord=o), F(3, 4), note=f"matrix-ord{_ord}")
case("linalg.norm", lambda x: np.linalg.norm(x, axis=1), F(3, 4), note="axis")
case("linalg.norm", lambda x: np.linalg.norm(x, ord=1, axis=0, keepdims=True), F(3, 4),
     note="axis-keepdims")
case("linalg.norm", lambda x: np.linalg.norm(x, axis=(1, 2)), F(2, 3, 4), note="matrix-axes")
case("linalg.norm", lambda x: np.linalg.norm(x, ord=1, axis=(2, 0)), F(2, 3, 4),
     note="matrix-axes-rev")
case("linalg.vector_norm", lambda x: np.linalg.vector_norm(x, axis=0), F(3, 2))
case("linalg.matrix_norm", np.linalg.matrix_norm, F(2, 3, 2))
case("vecdot", np.vecdot, F(3, 4), F(4))
case("linalg.vecdot", lambda x, y: np.linalg.vecdot(x, y, axis=0), F(3, 4), F(3, 1))
case("vecdot", np.vecdot, B(3, 4), B(4), note="bool")
case("vecdot", np.vecdot, I(3, 4, dtype=np.int32), I(4, dtype=np.int32), note="int32")
case("linalg.vecdot", lambda x, y: np.linalg.vecdot(x, y, axis=0), B(3, 4), B(3, 1), note="bool")
case("linalg.outer", np.linalg.outer, F(3), F(2))
case("linalg.trace", np.linalg.trace, F(2, 3, 3))
case("linalg.diagonal", np.linalg.diagonal, F(2, 3, 3))
case("linalg.matmul", np.linalg.matmul, F(2, 3), F(3, 2))
case("linalg.tensordot", np.linalg.tensordot, F(2, 3), F(2, 3))

EINSUM = [
    ("ij,jk->ik", (F(3, 4), F(4, 2))),
    ("ij,jk", (F(3, 4), F(4, 2))),
    ("bij,bjk->bik", (F(2, 3, 4), F(2, 4, 5))),
    ("i,i->", (F(4), F(4))),
    ("i,j->ij", (F(3), F(2))),
    ("ii->i", (F(3, 3),)),
    ("ii", (F(3, 3),)),
    ("ij->ji", (F(2, 3),)),
    ("ij->", (F(2, 3),)),
    ("ij->j", (I(2, 3),)),
    ("iij->ij", (F(3, 3, 2),)),
    ("...ij,...jk->...ik", (F(2, 3, 4), F(4, 5))),
    ("...i,...i", (F(2, 3), F(1, 3))),
    ("i...->...", (F(3, 2, 2),)),
    ("ij,jk,kl->il", (F(2, 3), F(3, 4), F(4, 2))),
    ("ijk,ikl,j->lj", (F(2, 3, 4), F(2, 4, 5), F(3))),
    ("ii,jj->ij", (F(2, 2), F(3, 3))),
    ("abc,cd->abd", (F32(2, 3, 4), F32(4, 2))),
    ("i,ij", (I(3), F(3, 2))),
    ("i,i->i", (F(3), F(3))),
    (",i->i", (F(), F(3))),
    ("ij,kl->ijkl", (F(2, 1), F(3, 2))),
    ("bij,bkj->bik", (F(2, 3, 4), F(2, 5, 4))),
    ("a...,a->...", (F(3, 2, 2), F(3))),
    ("ij,j->i", (F(3, 1), F(4))),
    ("ijk->kji", (F(2, 3, 4),)),
]
for _spec, _makers in EINSUM:
    case("einsum", lambda *ops, s=_spec: np.einsum(s, *ops), *_makers, note=_spec)

# ---------------------------------------------------------------- grids, statistics, signals
case("linspace", lambda a, b: np.linspace(a, b, 7), F(), F())
case("linspace", lambda a, b: np.linspace(a, b, 4, endpoint=False, retstep=True), F32(), F32(),
     note="retstep")
case("linspace", lambda a, b: np.linspace(a, b, 3, axis=1), F(2), F(2), note="axis")
case("linspace", lambda b: np.linspace(0, b, 1), F(), note="num1")
case("meshgrid", lambda x, y: np.meshgrid(x, y), F(3), F(2))
case("meshgrid", lambda x, y, z: np.meshgrid(x, y, z, indexing="ij", sparse=True), F(3), F(2),
     F(4), note="ij-sparse")
case("cov", np.cov, F(3, 5))
case("cov", lambda x: np.cov(x, rowvar=False, bias=True), F32(5, 2), note="rowvar-bias")
case("cov", lambda x, y: np.cov(x, y), F(6), F(6), note="xy")
case("corrcoef", np.corrcoef, F(3, 5))
case("corrcoef", lambda x, y: np.corrcoef(x, y), I(6), F(6), note="xy")
case("searchsorted", lambda a, v: np.searchsorted(a, v),
     Const([0.0, 1.0, 1.0, 2.5, 4.0]), Const([[-1.0, 1.0], [1.5, 9.0]]))
case("searchsorted", lambda a, v: np.searchsorted(a, v, side="right"),
     Const([0, 1, 1, 3]), I(5, lo=-1, hi=5), note="right")
case("searchsorted", lambda a, v: a.searchsorted(v, "right"),
     Const([0.0, 1.0, 1.0, 2.5, 4.0]), F(3, lo=-1, hi=5), note="method")
case("digitize", np.digitize, F(6, lo=-2, hi=3), Const([-1.0, 0.0, 0.5, 2.0]))
case("digitize", lambda x: np.digitize(x, np.array([2.0, 0.5, 0.0, -1.0]), right=True),
     F(2, 3, lo=-2, hi=3), note="decreasing-right")
case("digitize", lambda x, b: np.digitize(x, np.sort(b)), F(5, lo=-2, hi=3), F(4),
     note="traced-bins")
case("digitize", lambda x, b: np.digitize(x, -np.sort(b)), F(5, lo=-2, hi=3), F(4),
     note="traced-decreasing-bins")
case("polyval", np.polyval, F(4), F(2, 3))
case("polyval", np.polyval, I(3), I(5), note="int")
case("polyfit", lambda x, y: np.polyfit(x, y, 2), F(7), F(7))
case("polyfit", lambda x, y, w: np.polyfit(x, y, 1, w=w), F32(6), F(6, 2), Pos(6),
     note="weights-2d")
case("polyfit", lambda x, y: np.polyfit(x, y, 3, full=True), F(9), F(9), note="full")
case("polyfit", lambda x, y: np.polyfit(x, y, 1, cov=True), F(8), F(8), note="cov")
case("polyfit", lambda x, y: np.polyfit(x, y, 2, cov="unscaled"), F(8), F(8, 3),
     note="cov-unscaled")
case("polyfit", lambda x, y: np.polyfit(x, y, 2), I(6), I(6), note="int")
case("vander", np.vander, F(4))
case("vander", lambda x: np.vander(x, 3, increasing=True), I(5), note="increasing")
case("gradient", np.gradient, F(5, 4))
case("gradient", lambda f: np.gradient(f, 0.5, edge_order=2), F32(6), note="spacing-edge2")
case("gradient", lambda f: np.gradient(f, np.array([0.0, 0.5, 1.5, 1.75, 3.0]), 2.0),
     F(5, 3), note="coordinates")
case("gradient", lambda f: np.gradient(f, np.array([0.0, 0.5, 1.5, 1.75, 3.0]), axis=0,
                                       edge_order=2), F(5, 3), note="coordinates-edge2")
case("gradient", lambda f, x: np.gradient(f, np.cumsum(x), axis=-1), F(2, 6),
     Pos(6), note="traced-coordinates")
case("gradient", lambda f, h: np.gradient(f, h, edge_order=2), F(4), Pos(), note="traced-spacing")
case("gradient", lambda f: np.gradient(f, np.arange(0, 10, 2)), F(5), note="uniform-coordinates")
case("gradient", lambda f: np.gradient(f, 0.3), F32(4, 3), note="f32-weak-spacing")
case("gradient", lambda f: np.gradient(f, np.float64(0.3)), F32(4, 3), note="f32-f64-spacing")
case("gradient", lambda f: np.gradient(f, axis=(1, 0)), I(3, 4), note="int")
case("gradient", lambda f: np.gradient(f), F(2, 2), note="two-points")
case("unwrap", np.unwrap, F(12, lo=-3.1, hi=3.1))
case("unwrap", lambda p: np.unwrap(p, discont=1.0, axis=0), F(4, 5, lo=-3, hi=3),
     note="discont-axis")
case("unwrap", lambda p: np.unwrap(p, period=4.0), F32(8, lo=-3, hi=3), note="period")
case("unwrap", lambda p: np.unwrap(p, period=6), I(10, lo=-20, hi=20), note="int-even")
case("unwrap", lambda p: np.unwrap(p, period=7), I(10, lo=-20, hi=20), note="int-odd")
case("unwrap", lambda p: np.unwrap(p), Const([0.0, np.pi, 0.0, -np.pi, 2.0]),
     note="const-boundary")
case("piecewise", lambda x: np.piecewise(x, [x < -0.5, x > 0.5], [np.sin, lambda t: t ** 2]),
     F(3, 4))
case("piecewise", lambda x: np.piecewise(x, [x < 0, x > 0.5], [-1.0, np.exp, np.cos]),
     F32(7), note="otherwise")
case("piecewise", lambda x: np.piecewise(x, x > 0, [lambda t, k: k * t, 0.25], 3.0),
     F(6), note="single-condition-args")
case("piecewise", lambda x: np.piecewise(x, [x < 0, x > 0], [lambda t: t * 1.5, 7]),
     I(6), note="int")
case("piecewise", lambda x, c: np.piecewise(x, [c], [np.sqrt, np.abs]), Pos(4), B(4),
     note="traced-condition")
case("apply_along_axis", lambda x: np.apply_along_axis(np.sum, 0, x), F(3, 4))
case("apply_along_axis", lambda x: np.apply_along_axis(lambda r: np.cumsum(r) * r[0], 1, x),
     F(3, 4), note="vector")
case("apply_along_axis", lambda x: np.apply_along_axis(np.outer, -2, x, np.arange(2.0)),
     F(2, 3, 2), note="matrix-args")
case("apply_along_axis", lambda x: np.apply_along_axis(lambda r: r @ r, 0, x), F(4),
     note="1d")
case("modf", lambda x: np.modf(x), F(7, lo=-3, hi=3))
case("modf", lambda x: np.modf(x), F32(2, 3, lo=-3, hi=3), note="f32")
case("modf", lambda x: np.modf(x), I(5), note="int")
case("modf", lambda x: np.modf(x), Const([-2.0, -0.0, 0.0, 2.5, -np.inf, np.inf, np.nan, -1.5]),
     note="const-signs")
case("array_equal", lambda x, y: np.array_equal(x, y), F(3), F(3))
case("array_equal", lambda x: np.array_equal(x, x * 1.0), F(2, 2), note="same")
case("array_equal", lambda x: np.array_equal(x, x[:1]), F(2), note="shapes")
case("array_equal", lambda x: (np.array_equal(x, x), np.array_equal(x, x, equal_nan=True)),
     Const([1.0, np.nan]), note="const-nan")
case("array_equiv", lambda x: np.array_equiv(x, x[:1]), I(2, 3), note="broadcast")
case("array_equiv", lambda x, y: np.array_equiv(x, y), I(2, 3, lo=0, hi=1), I(3, lo=0, hi=1))
case("array_equiv", lambda x: np.array_equiv(x, x[:2]), F(3), note="shapes")
case("matvec", np.matvec, F(3, 4), F(4))
case("matvec", np.matvec, F(2, 1, 3, 4), F(5, 4), note="batch")
case("vecmat", np.vecmat, F(4), F(4, 3))
case("vecmat", np.vecmat, F32(2, 4), I(3, 1, 4, 2), note="batch")
case("lexsort", lambda a, b: np.lexsort((a, b)), I(12, lo=0, hi=3), I(12, lo=0, hi=3))
case("lexsort", lambda a, b: np.lexsort((a, b), axis=0), F(5, 2), I(5, 2, lo=0, hi=2),
     note="axis0")
case("lexsort", lambda k: np.lexsort(k), I(3, 8, lo=0, hi=2), note="rows")
case("lexsort", lambda a, b: np.lexsort((a, b)),
     Const([np.nan, 1.0, -0.0, 0.0, np.nan, 1.0]), Const([1.0, 1.0, 0.0, 0.0, 1.0, np.nan]),
     note="const-nan")
case("scipy.special.erf", lambda x: scipy.special.erf(x), F(5))
case("scipy.special.expit", lambda x: scipy.special.expit(x), F32(5))
case("scipy.special.logit", lambda x: scipy.special.logit(x), F(5, lo=0.1, hi=0.9))
case("scipy.special.gammaln", lambda x: scipy.special.gammaln(x), Pos(5))
case("scipy.special.gammaln", lambda x: scipy.special.gammaln(x), F32(2, 3, lo=-3.9, hi=-3.1),
     note="negative")
case("scipy.special.psi", lambda x: scipy.special.psi(x), Pos(4))
case("scipy.special.digamma", lambda x: scipy.special.digamma(x), F(3, lo=-2.9, hi=-2.7),
     note="negative")
case("interp", np.interp, F(7, lo=-1, hi=5), Const([0.0, 1.0, 2.5, 4.0]), F(4))
case("interp", lambda x, xp, fp: np.interp(x, xp, fp, left=-9.0, right=9.0),
     Const([-1.0, 0.0, 2.5, 4.0, 5.0]), Const([0.0, 1.0, 2.5, 4.0]), F(4), note="left-right")
for _mode in ["full", "same", "valid"]:
    case("convolve", lambda a, v, m=_mode: np.convolve(a, v, m), F(6), F(3), note=_mode)
    case("convolve", lambda a, v, m=_mode: np.convolve(a, v, m), F(3), I(5), note=_mode + "-swap")
    case("correlate", lambda a, v, m=_mode: np.correlate(a, v, m), F(6), F(3), note=_mode)
    case("correlate", lambda a, v, m=_mode: np.correlate(a, v, m), F(3), F(4), note=_mode + "-swap")
case("pad", lambda x: np.pad(x, 2), F(3, 2))
case("pad", lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=-1.5), F32(3, 2), note="value")
case("pad", lambda x, c: np.pad(x, 1, constant_values=c), F(2, 2), F(), note="traced-value")
for _mode in ["edge", "reflect", "symmetric", "wrap"]:
    case("pad", lambda x, m=_mode: np.pad(x, ((2, 1), (0, 3)), mode=m), F(3, 4), note=_mode)
case("append", np.append, F(2, 2), F(3))
case("append", lambda x, y: np.append(x, y, axis=0), F(2, 2), F(1, 2), note="axis")
case("trapezoid", np.trapezoid, F(3, 5))
case("trapezoid", lambda y, x: np.trapezoid(y, x, axis=0), F(4, 2), F(4), note="x")
case("trapezoid", lambda y: np.trapezoid(y, dx=0.5), I(5), note="dx")
case("allclose", np.allclose, F(4), F(4))
case("allclose", lambda x: np.allclose(x, x + 1e-9), F(4), note="close")

# ---------------------------------------------------------------- Tracer methods
case("method.sum", lambda x: x.sum() + x.sum(axis=0).sum() + x.sum(1, keepdims=True).sum(), F(3, 4))
case("method.mean", lambda x: (x.mean(), x.mean(axis=1)), I(3, 4))
case("method.max", lambda x: (x.max(), x.max(axis=0), x.min(1), x.min()), F(3, 4))
case("method.prod", lambda x: x.prod(axis=1), F(3, 4))
case("method.std", lambda x: x.std(axis=0), F(3, 4))
case("method.argmax", lambda x: (x.argmax(), x.argmin(axis=1), x.argmax(axis=0, keepdims=True)),
     F(3, 4))
case("method.cumsum", lambda x: (x.cumsum(), x.cumsum(axis=1), x.cumprod(axis=0)), F(3, 4))
case("method.all", lambda x: (x.all(), x.any(axis=0)), B(3, 4))
case("method.round", lambda x: x.round(1), F(5))
case("method.take", lambda x: x.take([1, 0], axis=1), F(3, 4))

# ---------------------------------------------------------------- indexing
INDEXING = {
    "int": lambda x: x[1],
    "negative-int": lambda x: x[-1, -2],
    "slice": lambda x: x[1:, ::2],
    "negative-step": lambda x: x[::-1, 3:0:-2],
    "neg-step-empty": lambda x: x[0:2:-1],
    "none": lambda x: x[None, :, None],
    "ellipsis": lambda x: x[..., 1],
    "ellipsis-none": lambda x: x[None, ..., None, 0],
    "int-array": lambda x: x[np.array([0, 2, -1])],
    "list": lambda x: x[[1, 1, 0]],
    "2d-int-array": lambda x: x[np.array([[0, 1], [2, 0]])],
    "array-axis1": lambda x: x[:, [3, 0]],
    "two-arrays": lambda x: x[[0, 2], [1, -1]],
    "arrays-broadcast": lambda x: x[np.array([[0], [2]]), np.array([1, 3])],
    "array-and-int": lambda x: x[1, [0, 2]],
    "mask-const": lambda x: x[np.array([True, False, True])],
    "mask-2d-const": lambda x: x[np.arange(12).reshape(3, 4) % 5 == 0],
    "empty-array": lambda x: x[np.array([], dtype=np.int64)],
}
for _name, _f in INDEXING.items():
    case("getitem", _f, F(3, 4), note=_name)
INDEXING_3D = {
    "adv-separated": lambda x: x[[0, 1], :, [1, 2]],
    "int-slice-array": lambda x: x[0, :, [1, 2]],
    "adv-adjacent": lambda x: x[:, [0, 1], [1, 2]],
    "adv-none-between": lambda x: x[[0, 1], None, [1, 0]],
    "none-before-adv": lambda x: x[None, [0, 1]],
    "adv-ellipsis": lambda x: x[..., [0, -1]],
    "neg-step-adv": lambda x: x[::-1, [2, 0], ::-2],
}
for _name, _f in INDEXING_3D.items():
    case("getitem", _f, F(2, 3, 4), note=_name)
case("getitem", lambda x, i: x[i], F(5), I(lo=-5, hi=5), note="traced-scalar")
case("getitem", lambda x: x[[]], F(5), note="empty-list")
case("getitem", lambda x, i: x[:, i], F(3, 5), I(lo=0, hi=5), note="traced-scalar-axis1")
case("getitem", lambda x, i: x[i], F(5, 2), I(3, lo=-5, hi=5), note="traced-array")
case("getitem", lambda x, i, j: x[i, j], F(3, 4), I(2, lo=-3, hi=3), I(2, lo=0, hi=4),
     note="traced-two-arrays")
case("getitem", lambda x, i: x[i, :, i], F(3, 2, 3), I(2, lo=0, hi=3), note="traced-separated")
case("getitem", lambda x: x[1:3], I(5), note="int")
case("getitem", lambda x: x[::2], B(5), note="bool")
case("iter", lambda x: [r * 2 for r in x], F(3, 2))


# ---------------------------------------------------------------- the check
def _tol(dt):
    return dict(rtol=2e-5, atol=2e-6) if dt == np.float32 else dict(rtol=1e-10, atol=1e-12)


def assert_same(got, expected):
    g_leaves, g_tree = tree_flatten(got)
    e_leaves, e_tree = tree_flatten(expected)
    assert g_tree == e_tree, (g_tree, e_tree)
    for g, e in zip(g_leaves, e_leaves):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape, (g.shape, e.shape)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, equal_nan=True, **_tol(e.dtype))
        else:
            np.testing.assert_array_equal(g, e)


def check_case(fn, args_maker):
    args = args_maker()
    expected = fn(*args)
    ir = pb.make_ir(fn)(*args_maker())
    typecheck(ir)
    assert str(parse(str(ir), ir.consts)) == str(ir)
    got = pb.jit(fn, backend="interpreter")(*args)
    assert_same(got, expected)
    # the inputs are left untouched
    for a, b in zip(args, args_maker()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,fn,args_maker", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_numpy_case(name, fn, args_maker):
    check_case(fn, args_maker)


def test_table_covers_at_least_80_numpy_entries():
    assert len(ENTRIES) >= 80, sorted(ENTRIES)


# ---------------------------------------------------------------- a few structural checks
def test_einsum_matmul_is_one_dot_general():
    ir = pb.make_ir(lambda a, b: np.einsum("ij,jk->ik", a, b))(np.ones((2, 3)), np.ones((3, 4)))
    assert [e.prim.name for e in ir.eqns] == ["dot_general"]


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_einsum_of_bools_sums_with_or(backend):
    # an index summed away inside one operand, or left for the end, is an `or`
    b = np.eye(3) > 0
    c = np.random.default_rng(0).uniform(size=(3, 3)) > 0.5
    for pat, ops in [("ij->j", (b,)), ("ii", (b,)), ("ij->", (c,)), ("ii->i", (c,)),
                     ("ij,jk,kl->", (b, c, b)), ("ij,jk->ik", (c, c))]:
        got = pb.jit(lambda *o: np.einsum(pat, *o), backend=backend)(*ops)
        want = np.einsum(pat, *ops)
        assert got.dtype == want.dtype == np.bool_ and np.array_equal(got, want), pat


def test_traced_scalar_index_is_a_gather():
    ir = pb.make_ir(lambda x, i: x[i])(np.ones(4), 2)
    assert "gather" in [e.prim.name for e in ir.eqns]
    assert ir.out_avals[0].shape == ()


def test_basic_slice_is_one_slice_op():
    ir = pb.make_ir(lambda x: x[1:, ::2])(np.ones((4, 5)))
    assert [e.prim.name for e in ir.eqns] == ["slice"]


def test_negative_step_uses_rev():
    ir = pb.make_ir(lambda x: x[::-2])(np.ones(5))
    assert [e.prim.name for e in ir.eqns] == ["rev", "slice"]


def test_traced_index_out_of_range_is_clamped_and_negative_wrapped():
    f = pb.jit(lambda x, i: x[i], backend="interpreter")
    x = np.arange(5.0)
    assert f(x, -1) == 4.0
    assert f(x, -2) == 3.0
    assert f(x, 7) == 4.0  # clamped, the gather convention


def test_concrete_index_out_of_range_raises():
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        pb.make_ir(lambda x: x[3])(np.ones(3))
    with pytest.raises(IndexError, match="out of bounds"):
        pb.make_ir(lambda x: x[:, [0, 5]])(np.ones((2, 3)))


def test_roll_by_traced_shift():
    f = pb.jit(lambda x, s: np.roll(x, s), backend="interpreter")
    x = np.arange(5.0)
    for s in (-7, -1, 0, 2, 9):
        np.testing.assert_array_equal(f(x, np.int64(s)), np.roll(x, s))


# ---------------------------------------------------------------- property test
_UNARY_OPS = [np.sin, np.cos, np.tanh, np.abs, np.square, np.negative, np.arctan,
              lambda x: np.exp(np.tanh(x)), lambda x: np.sqrt(np.abs(x) + 1.0),
              lambda x: np.log1p(np.abs(x)), np.floor]
_BINARY_OPS = [np.add, np.subtract, np.multiply, np.maximum, np.minimum,
               lambda x, y: np.where(x > y, x, y * 2.0), lambda x, y: x / (np.abs(y) + 1.0),
               np.hypot, np.logaddexp]
_REDUCTIONS = [np.sum, np.mean, np.max, np.min, np.prod, np.std]

_SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]


@st.composite
def programs(draw):
    """A random program over three inputs with broadcast-compatible shapes."""
    shapes = [draw(st.sampled_from(_SHAPES)) for _ in range(3)]
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    steps = []
    n_vals = 3
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce"]))
        if kind == "unary":
            steps.append(("unary", draw(st.integers(0, len(_UNARY_OPS) - 1)),
                          draw(st.integers(0, n_vals - 1))))
        elif kind == "binary":
            steps.append(("binary", draw(st.integers(0, len(_BINARY_OPS) - 1)),
                          draw(st.integers(0, n_vals - 1)), draw(st.integers(0, n_vals - 1))))
        else:
            steps.append(("reduce", draw(st.integers(0, len(_REDUCTIONS) - 1)),
                          draw(st.integers(0, n_vals - 1)), draw(st.sampled_from([None, 0, -1])),
                          True))  # keepdims keeps every value broadcastable with the others
        n_vals += 1
    if draw(st.booleans()):  # a final reduction may drop axes
        steps.append(("reduce", draw(st.integers(0, len(_REDUCTIONS) - 1)), n_vals - 1,
                      draw(st.sampled_from([None, 0, -1])), False))
    seed = draw(st.integers(0, 2**16))
    return shapes, dtype, steps, seed


def _run_program(steps, args):
    vals = list(args)
    for step in steps:
        if step[0] == "unary":
            vals.append(_UNARY_OPS[step[1]](vals[step[2]]))
        elif step[0] == "binary":
            vals.append(_BINARY_OPS[step[1]](vals[step[2]], vals[step[3]]))
        else:
            _, k, i, axis, keepdims = step
            x = vals[i]
            if np.ndim(x) == 0:
                axis = None
            vals.append(_REDUCTIONS[k](x, axis=axis, keepdims=keepdims))
    return vals[-1]


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_programs_match_numpy(program):
    shapes, dtype, steps, seed = program
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-2, 2, s).astype(dtype) for s in shapes]

    def f(a, b, c):
        return _run_program(steps, (a, b, c))

    with np.errstate(all="ignore"):
        expected = f(*args)
    got = pb.jit(f, backend="interpreter")(*args)
    ir = pb.make_ir(f)(*args)
    typecheck(ir)
    expected = np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got, expected, equal_nan=True, **tol)


# ---------------------------------------------------------------- indexing property test
@st.composite
def index_keys(draw):
    """A random NumPy index (ints, slices, None, Ellipsis, integer arrays) for a random shape."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    n_items = draw(st.integers(1, len(shape) + 1))
    items = []
    for _ in range(n_items):
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis", "array",
                                     "traced"]))
        if kind == "int":
            items.append(draw(st.integers(-5, 4)))
        elif kind == "slice":
            opt = st.one_of(st.none(), st.integers(-6, 6))
            step = draw(st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3])))
            items.append(slice(draw(opt), draw(opt), step))
        elif kind == "none":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
        else:
            ishape = draw(st.sampled_from([(), (2,), (1, 2), (2, 1)]))
            arr = np.asarray(draw(st.lists(st.integers(-4, 3), min_size=max(1, math.prod(ishape)),
                                           max_size=max(1, math.prod(ishape))))).reshape(ishape)
            items.append(("traced", arr) if kind == "traced" else arr)
    return shape, tuple(items)


@settings(max_examples=100, deadline=None)
@given(index_keys())
def test_random_indexing_matches_numpy(shape_and_key):
    shape, key = shape_and_key
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    traced = [k[1] for k in key if isinstance(k, tuple)]
    numpy_key = tuple(k[1] if isinstance(k, tuple) else k for k in key)

    def f(x, *idx):
        it = iter(idx)
        return x[tuple(next(it) if isinstance(k, tuple) else k for k in key)]

    try:
        expected = x[numpy_key]
    except IndexError:
        # concrete indices are checked like NumPy (traced ones cannot be: they are clamped)
        if not traced:
            with pytest.raises(IndexError):
                pb.make_ir(f)(x)
        return
    got = pb.jit(f, backend="interpreter")(x, *traced)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_bools_to_constant_integer_powers_are_int64(backend):
    # power has no bool loop: NumPy picks int8, pullback (no int8) int64 as for b ** 2;
    # a bool exponent (b ** True) reached integer_pow with a bool base and failed there
    b = np.array([True, False, True])
    for f in (lambda b: b ** 2, lambda b: b ** True, lambda b: b ** np.True_, lambda b: b ** False):
        got = pb.jit(f, backend=backend)(b)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, f(b).astype(np.int64))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_products_of_two_bool_arrays_follow_numpy(backend):
    # NumPy's bool product is the `or` of `and`s; before, matmul/dot refused it and
    # einsum, inner, vdot and tensordot failed inside dot_general
    a, b, z = (np.array(v) for v in ([True, False, True], [False, False, True], [False] * 3))
    m, n = np.array([[True, False], [False, False]]), np.array([[False, True], [True, False]])
    cases = [(lambda a, b: np.einsum("i,i", a, b), (a, b)), (np.inner, (a, z)),
             (np.vdot, (a, b)), (np.dot, (a, b)), (np.matmul, (a, z)),
             (lambda a, b: np.tensordot(a, b, 1), (a, b)), (np.matmul, (m, n)),
             (lambda m, n: np.einsum("ij,jk,kl->il", m, n, m), (m, n))]
    for f, args in cases:
        want, got = f(*args), pb.jit(f, backend=backend)(*args)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_a_boolean_mask_must_match_the_axes_it_indexes(backend):
    # before, a short mask silently selected a prefix: x[[True, False]] gave [1.]
    x, m = np.arange(1.0, 4.0), np.arange(12.0).reshape(3, 4)
    bad = [(lambda x: x[np.array([True, False])], x, 0, 3, 2),
           (lambda x: x[[True, False, True, True]], x, 0, 3, 4),
           (lambda m: m[:, np.array([True, False])], m, 1, 4, 2),
           (lambda m: m[np.ones((2, 2), bool)], m, 0, 3, 2)]
    for f, a, axis, size, got in bad:
        msg = (f"boolean index did not match indexed array along axis {axis}; size of axis "
               f"is {size} but size of corresponding boolean axis is {got}")
        with pytest.raises(IndexError, match=msg):
            f(a)  # NumPy's own message
        with pytest.raises(IndexError, match=msg):
            pb.jit(f, backend=backend)(a)
    for f, a in [(lambda x: x[np.array([True, False, True])], x),
                 (lambda m: m[:, np.array([True, False, True, False])], m),
                 (lambda m: m[np.arange(12).reshape(3, 4) % 3 == 0], m)]:
        np.testing.assert_array_equal(pb.jit(f, backend=backend)(a), f(a))


def test_a_float_axis_is_refused_as_numpy_does():
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        pb.jit(lambda x: np.sum(x, axis=1.0))(np.ones((2, 2)))
    np.testing.assert_array_equal(pb.jit(lambda x: np.sum(x, axis=np.int64(1)))(np.ones((2, 2))),
                                  [2.0, 2.0])


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_nan_reductions_honour_where_and_initial(backend):
    # before: nanmean/nanmax/nanmin ignored where=, nanmax gave nan instead of initial on
    # all-NaN rows, and the interpreter's max over an empty axis with initial= raised
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -6.0]])
    m = np.array([[1, 1, 0], [0, 1, 1]], bool)
    y = np.array([[np.nan, np.nan], [1.0, np.nan]])
    cases = [(lambda x: np.nanmean(x, where=m), x), (lambda x: np.nanmean(x, axis=0, where=m), x),
             (lambda x: np.nanmax(x, axis=1, where=m, initial=-10.0), x),
             (lambda x: np.nanmin(x, axis=1, where=m, initial=10.0), x),
             (lambda x: np.nanmax(x, axis=1, initial=0.5), y), (lambda x: np.nanmin(x, axis=1), y),
             (lambda x: np.nanmax(x, initial=0.5), np.zeros((0, 3))),
             (lambda x: np.max(x, axis=0, initial=0.5), np.zeros((0, 3))),
             (lambda x: np.min(x, axis=0, initial=2), np.zeros((0, 3), np.int64))]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f, a in cases:
            want, got = f(a), pb.jit(f, backend=backend)(a)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def _nan_rows():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7))
    x[0, 1] = x[3, :6] = x[4, [0, 3, 5]] = np.nan
    x[2] = np.nan
    y = x.copy()
    y[1, 2], y[4, 1] = np.inf, -np.inf
    return x, y


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_nan_statistics_equal_numpy_bit_for_bit(backend):
    # nanvar/nanstd/nanmedian/nanquantile/nanpercentile/nancumsum/nancumprod had no
    # rules; rows with one value, none, and infinities
    x, y = _nan_rows()
    cases = [lambda a: np.nanvar(a, axis=1, ddof=1), lambda a: np.nanstd(a, axis=0),
             lambda a: np.nanvar(a.astype(np.float32), axis=(0, 1), keepdims=True),
             lambda a: np.nanmedian(a, axis=1), lambda a: np.nanmedian(a),
             lambda a: np.nanmedian(a, axis=0, keepdims=True),
             lambda a: np.nanquantile(a, [0.0, 0.3, 0.5, 1.0], axis=1),
             lambda a: np.nanquantile(a, np.float32(0.7), axis=0, keepdims=True),
             lambda a: np.nanquantile(a.astype(np.float32), 0.35, axis=1),
             lambda a: np.nanquantile(a, [0, 1], axis=1),
             lambda a: np.nanpercentile(a, [[10.0, 90.0]], axis=-1),
             lambda a: np.nancumsum(a, axis=1), lambda a: np.nancumprod(a)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in cases if backend == "interpreter" else cases[::3]:
            for a in (x, y):
                want, got = np.asarray(f(a)), pb.jit(f, backend=backend)(a)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_nanargmax_of_a_slice_of_nans_alone_is_minus_one(backend):
    # NumPy raises on the values ("All-NaN slice encountered"); a compiled program has
    # none to raise on, so -1 as in JAX
    x, _ = _nan_rows()
    for name in ("nanargmax", "nanargmin"):
        f = getattr(np, name)
        want = [f(r) if not np.isnan(r).all() else -1 for r in x]
        assert want[2] == -1 and want[3] == 6
        np.testing.assert_array_equal(pb.jit(lambda a: f(a, axis=1), backend=backend)(x), want)


def test_nan_statistics_gradients_skip_the_nans():
    x, _ = _nan_rows()
    rows = [0, 1, 4]  # rows with two values or more
    for f in [lambda a: np.nanstd(a[rows], axis=1, ddof=1),
              lambda a: np.nanmedian(a[rows], axis=1),
              lambda a: np.nanquantile(a[rows], [0.3, 0.8], axis=1),
              lambda a: np.nancumprod(a[rows], axis=1)]:
        pb.check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    # a row whose result is NaN (one value, ddof=1) leaves the others' gradient finite
    g = pb.grad(lambda a: np.sum(np.nanstd(a, axis=1, ddof=1)[:2]))(x)
    assert np.all(np.isfinite(g)) and not g[2:].any() and g[0, 1] == 0.0


def _bitwise_equal(got, want):
    return got.dtype == want.dtype and bool(np.all(
        (np.isnan(got) & np.isnan(want)) | ((got == want) & (np.signbit(got) == np.signbit(want)))))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_division_family_matches_numpy_on_special_values(backend):
    # before: fmod/floor_divide/divmod by ±inf gave nan, zero quotients and fmod zeros had
    # the wrong sign, fmod(0.1, -3) was 0.10000000000000009 and fmod(-3, 1e300) -0.0
    sp = np.array([-np.inf, -3.0, -1.0, -0.0, 0.0, 1.0, 3.0, np.inf, np.nan, 1e300, -2.5, 0.1,
                   7.0, -1e-310])
    x, y = np.meshgrid(sp, sp)
    xi, yi = np.meshgrid(*[np.array([-7, -3, -1, 0, 1, 3, 7, 2**62])] * 2)
    fns = [np.fmod, np.floor_divide, lambda x, y: np.divmod(x, y)[0],
           lambda x, y: np.divmod(x, y)[1]]
    with np.errstate(all="ignore"):
        for f in fns:
            for a, b in ((x, y), (xi, yi), (x.astype(np.float32), y.astype(np.float32))):
                assert _bitwise_equal(pb.jit(f, backend=backend)(a, b), f(a, b))
        bools = np.array([True, False, True]), np.array([True, True, False])
        for f in (np.fmod, np.fmax, np.fmin):  # before: an internal error on bools
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(*bools), f(*bools))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_unary_special_values_match_numpy(backend):
    sp = np.array([-np.inf, -3.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    with np.errstate(all="ignore"):
        for f, a in [(np.cbrt, np.array([-0.0, 0.0, np.nan, -np.inf])),  # cbrt(-0.0) was +0.0
                     (lambda x: x ** 0.5, sp),  # (-inf) ** 0.5 was inf: NumPy takes sqrt
                     (np.fabs, np.array([1, -2])),  # fabs of ints was an int array
                     (lambda x: np.hypot(x, np.nan), sp)]:  # hypot(inf, nan) was nan
            assert _bitwise_equal(pb.jit(f, backend=backend)(a), f(a))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_searchsorted_puts_nan_last_as_numpy(backend):
    for a, v in [(np.array([1.0, 2.0, 3.0]), np.array([np.nan, 2.5, 2.0, -np.inf, np.inf])),
                 (np.array([1.0, 2.0, np.nan]), np.array([np.nan, 2.0, 5.0]))]:
        for side in ("left", "right"):
            f = lambda a, v: np.searchsorted(a, v, side=side)  # noqa: E731
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(a, v), f(a, v))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_searchsorted_of_long_arrays_searches_in_halving_steps(backend):
    # beyond SEARCH_COUNT_MAX sorted elements: a binary search (a scan), NumPy's
    # results with ties, NaNs last, infinities, both sides, ints against floats
    from pullback.tracer.np_signal import SEARCH_COUNT_MAX

    rng = np.random.default_rng(7)
    for n in (SEARCH_COUNT_MAX + 1, 3 * SEARCH_COUNT_MAX + 5):
        a = np.sort(np.round(rng.standard_normal(n), 1))  # ties
        a[-3:] = np.nan
        v = np.concatenate([rng.standard_normal(50), [np.nan, -np.inf, np.inf], a[:5], a[-6:-3]])
        k = np.sort(rng.integers(-50, 50, n))
        for side in ("left", "right"):
            f = lambda a, v: np.searchsorted(a, v, side=side)  # noqa: E731
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(a, v), f(a, v))
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(k, v), f(k, v))
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(k, k[::7]), f(k, k[::7]))
    # batched sorted arrays and queries (vmap of the scan)
    A = np.sort(rng.standard_normal((3, 2 * SEARCH_COUNT_MAX)), axis=1)
    B = rng.standard_normal((3, 7))
    got = pb.jit(pb.vmap(np.searchsorted), backend=backend)(A, B)
    np.testing.assert_array_equal(got, [np.searchsorted(a, b) for a, b in zip(A, B)])
    # np.interp over many knots, and its gradient, through the search
    xp = np.sort(rng.uniform(0.0, 10.0, 2 * SEARCH_COUNT_MAX))
    x = rng.uniform(-1.0, 11.0, 200)
    np.testing.assert_allclose(pb.jit(np.interp, backend=backend)(x, xp, np.sin(xp)),
                               np.interp(x, xp, np.sin(xp)), rtol=1e-14)
    g = pb.grad(lambda fp: np.sum(np.interp(x, xp, fp) ** 2))
    np.testing.assert_allclose(pb.jit(g, backend=backend)(np.sin(xp)), g(np.sin(xp)), rtol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_tril_and_triu_of_a_vector_are_square_as_in_numpy(backend):
    v = np.array([1.0, 2.0, 3.0])
    for f in (np.tril, lambda v: np.triu(v, 1), lambda v: np.tril(v, -1)):
        np.testing.assert_array_equal(pb.jit(f, backend=backend)(v), f(v))
    w = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(pb.grad(lambda v: np.sum(np.tril(v) * w))(v), [9.0, 11.0, 8.0])


def _ulps(got, want):
    """Distance in units in the last place (float64)."""
    g, w = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return np.abs(g - w) / np.spacing(np.abs(w))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_exp2_logaddexp2_and_cbrt_are_as_accurate_as_numpy(backend):
    # before: exp2 was exp(x * ln 2) (700 ulp off at 994, 8 * (1 - 2**-52) at 3),
    # logaddexp2 inherited it (171 ulp), cbrt was pow(|x|, 1/3) (17 ulp at 4e-44)
    ints = np.array([3.0, -1.0, 0.0, 52.0, 994.0, -1000.0, -1074.0, 1023.0])
    assert np.array_equal(pb.jit(np.exp2, backend=backend)(ints), np.exp2(ints))
    x = np.random.default_rng(5).uniform(-1000.0, 1000.0, 200)
    assert _ulps(pb.jit(np.exp2, backend=backend)(x), np.exp2(x)).max() <= 1
    y = np.array([-60.0, -300.0, -746.0, -3.5, 0.25])
    got = pb.jit(np.logaddexp2, backend=backend)(np.zeros(5), y)
    assert _ulps(got, np.logaddexp2(np.zeros(5), y)).max() <= 2
    tiny = np.array([4.094907349351198e-44, 1e-300, 5e-324, -2e-310, 27.0, -8.0, 1e300])
    assert _ulps(pb.jit(np.cbrt, backend=backend)(tiny), np.cbrt(tiny)).max() <= 1
    assert pb.jit(np.cbrt, backend=backend)(np.float32(27.0)).dtype == np.float32


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_sign_bits_of_nan_and_zero_follow_numpy(backend):
    x = np.array([-np.nan, np.nan, -0.0, 0.0, -np.inf, 1.0])
    for a in (x, x.astype(np.float32)):
        np.testing.assert_array_equal(pb.jit(np.signbit, backend=backend)(a), np.signbit(a))
    got = pb.jit(np.copysign, backend=backend)(np.full(6, 2.0), x)
    np.testing.assert_array_equal(got, np.copysign(2.0, x))  # copysign(2, -nan) was +2


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_interp_with_infinite_values_follows_numpy(backend):
    x = np.array([-1.0, 0.0, 0.25, 1.0, 1.5, 2.0, 3.0, np.nan, np.inf, -np.inf])
    for fp in ([0.0, np.inf, 1.0], [1.0, np.inf, np.inf], [np.inf, np.inf, 3.0],
               [-np.inf, np.inf, 1.0], [2.0, 2.0, 2.0], [1.0, 2.0, 4.0]):
        f = lambda a: np.interp(a, [0.0, 1.0, 2.0], fp)  # noqa: E731
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(x), f(x))
    # and the derivative at a knot is still the slope on its right, as in JAX
    g = pb.grad(lambda a: np.sum(np.interp(a, [0.0, 1.0, 2.0], [1.0, 2.0, 4.0])))
    np.testing.assert_array_equal(g(np.array([0.0, 0.5, 1.0, 1.5])), [1.0, 1.0, 2.0, 2.0])
    # at the last knot, the last interval's slope (it was 0), as in JAX
    np.testing.assert_array_equal(g(np.array([2.0])), [2.0])


def test_interp_gradient_with_a_repeated_knot_is_finite():
    # before: NaN, from the zero-width interval an out-of-range x is clamped to (JAX:
    # [1, 0.5, 0.5, 2])
    xp, x = np.array([0.0, 0.0, 1.0, 2.0]), np.array([-1.0, 0.5, 2.0, 3.0])
    f = lambda fp: np.sum(np.interp(x, xp, fp))  # noqa: E731
    for d in (pb.grad, pb.jacfwd, pb.jacrev):
        np.testing.assert_array_equal(d(f)(np.array([1.0, 2.0, 3.0, 5.0])), [1.0, 0.5, 0.5, 2.0])


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_corner_cases_numpy_answers_are_answered(backend):
    x = np.array([1.25, 0.0, -3.5, np.inf, np.nan])
    with np.errstate(all="ignore"):
        for d in (308, 309, 400, -309, -310):  # an OverflowError from 10.0 ** d before
            f = lambda a: np.round(a, d)  # noqa: E731
            np.testing.assert_array_equal(pb.jit(f, backend=backend)(x), f(x))
    for f, a in [(lambda a: np.take(a, np.zeros(0, np.int64), axis=0), np.zeros((0, 3))),
                 (lambda a: a[np.zeros((2, 0), np.int64)], np.zeros((0, 3), np.float32))]:
        got, want = pb.jit(f, backend=backend)(a), f(a)  # an IndexError before
        assert got.shape == want.shape and got.dtype == want.dtype
    b, c = np.array([True, False, True]), np.array([True, True])
    for f, args in [(lambda a: np.sum(a, dtype=bool), (b,)),  # ShapeErrors before
                    (lambda a: np.sum(a, dtype=bool), (np.zeros(3, bool),)),
                    (lambda a: np.prod(a, dtype=bool), (b,)),
                    (np.convolve, (b, c)), (np.correlate, (b, c))]:
        got, want = pb.jit(f, backend=backend)(*args), f(*args)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_shape_op_arguments_are_read_as_numpy_reads_them(backend):
    x = np.arange(6.0).reshape(2, 3)
    J = functools.partial(pb.jit, backend=backend)
    # pad_width per axis as ((a,), (b,)), one pair for all axes, a dict (was (5, 6))
    for pw in (((1,), (2,)), [[1], [2]], (2,), 2, (1, 2), ((1, 2), (0, 3)), {1: (1, 1)}):
        for mode in ("constant", "edge", "reflect", "wrap"):
            np.testing.assert_array_equal(J(lambda x: np.pad(x, pw, mode=mode))(x),
                                          np.pad(x, pw, mode=mode))
    # np.select's default broadcasts into the result; np.roll by a NumPy array of shifts,
    # or by a traced shift near the int64 minimum (iota - shift overflowed)
    d = np.zeros((2, 1))
    np.testing.assert_array_equal(J(lambda x: np.select([x[0] > 0], [x[0]], default=d))(x),
                                  np.select([x[0] > 0], [x[0]], default=d))
    np.testing.assert_array_equal(J(lambda x: np.roll(x, np.array([1, 1]), axis=(0, 1)))(x),
                                  np.roll(x, np.array([1, 1]), axis=(0, 1)))
    for s in (-2 ** 63 + 3, 2 ** 63 - 1, 7, -7):
        np.testing.assert_array_equal(J(lambda x, s: np.roll(x, s))(np.arange(5.0), np.int64(s)),
                                      np.roll(np.arange(5.0), s))
    parts = J(lambda x: np.split(x, np.array(3), axis=1))(x)  # a 0-d array of sections
    assert len(parts) == 3 and np.array_equal(parts[2], x[:, 2:])
    # a constant's ravel follows its memory layout (order 'K')
    fortran = np.asfortranarray(x)
    np.testing.assert_array_equal(J(lambda a: a + np.ravel(fortran, order="K"))(np.zeros(6)),
                                  np.ravel(fortran, order="K"))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_float32_and_int32_corner_cases_as_numpy(backend):
    J = functools.partial(pb.jit, backend=backend)
    # nan_to_num tests x itself each time: a NaN made inf stays inf
    x = np.array([np.nan, 1.0, np.inf, -np.inf])
    for kw in ({"nan": np.inf}, {"nan": -np.inf, "neginf": 0.0}, {"nan": 1e300}):
        for a in (x, x.astype(np.float32)):
            with np.errstate(over="ignore"):
                np.testing.assert_array_equal(J(lambda t: np.nan_to_num(t, **kw))(a),
                                              np.nan_to_num(a, **kw))
    # lstsq of float32 takes double's eps for rcond, as NumPy (it computes in double)
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))[0]
    A = (q * np.array([1.0, 0.5, 0.2, 3e-7])).astype(np.float32)
    b = np.ones(4, np.float32)
    assert J(lambda a: np.linalg.lstsq(a, b)[2])(A) == np.linalg.lstsq(A, b)[2] == 4
    # constant NumPy-scalar exponents of integers; Python int bounds beyond int32
    i = np.array([5, -7], np.int32)
    for y in (np.int64(2), np.int32(5), True, np.array(3)):
        got, want = J(lambda t: t ** y)(i), i ** y
        assert got.dtype == want.dtype and np.array_equal(got, want)
    np.testing.assert_array_equal(J(lambda t: np.clip(t, -2 ** 40, 2 ** 40))(i), i)
    with pytest.raises(OverflowError, match="out of bounds for int32"):
        J(lambda t: np.pad(t, 1, constant_values=2 ** 31))(i)


def test_shape_op_arguments_numpy_refuses_are_refused():
    x = np.arange(6.0).reshape(2, 3)
    for f, err, msg in [
            # concrete indices out of range read a neighbouring row before; floats truncated
            (lambda x: np.take_along_axis(x, np.array([[5, 0, -7]]), axis=0), IndexError,
             "index 5 is out of bounds for axis 0 with size 2"),
            (lambda x: np.take_along_axis(x, np.array([[1.7, 0, 0]]), axis=0), IndexError,
             "must be an integer array"),
            (lambda x: np.pad(x, 1.5), TypeError, "pad_width. must be of integral type"),
            (lambda x: np.pad(x, 1, mode="edge", stat_length=2), ValueError,
             "unsupported keyword arguments for mode 'edge'"),
            (lambda x: np.ravel(x.T, order="K"), NotImplementedError, "order='K'"),
            (lambda x: np.select([x], [x]), TypeError, "should be boolean ndarray"),
            (lambda x: np.take(x, [7], mode="foo"), ValueError, "clipmode must be one of"),
            (lambda x: np.searchsorted(x[0], x[1], side="middle"), ValueError,
             "side must be 'left' or 'right'"),
            (lambda x: np.diagonal(x, 1.0), TypeError, "cannot be interpreted as an integer"),
            (lambda x: np.concatenate([x, x], dtype=np.int64), TypeError, "rule 'same_kind'"),
            (lambda x: np.stack([x, x], dtype=np.int64), TypeError, "rule 'same_kind'")]:
        with pytest.raises(err, match=msg):
            pb.jit(f)(x)
    np.testing.assert_array_equal(
        pb.jit(lambda x: np.take_along_axis(x, np.array([[1, 0, -2]]), axis=0))(x), [[3, 1, 2]])
    got = pb.jit(lambda x: np.concatenate([x, x], dtype=np.int64, casting="unsafe"))(x)
    assert got.dtype == np.int64 and np.array_equal(got, np.concatenate([x, x]).astype(int))


def test_what_pullback_does_not_do_is_named():
    a = np.array([1, 2])
    for f, name in [(lambda a: a << 2, "numpy.left_shift"), (lambda a: 2 >> a, "numpy.right_shift"),
                    (lambda a: np.mean(a, dtype=np.int64), "numpy.mean with dtype=int64"),
                    (lambda a: np.std(a, dtype=bool), "numpy.std with dtype=bool")]:
        with pytest.raises(NotImplementedError, match=name):
            pb.jit(f)(a)


def test_the_interpreter_does_not_round_by_layout_or_shape():
    from pullback.backends.interpreter import eval_ir

    x = np.random.default_rng(7).standard_normal(64)
    for f in (lambda x: np.exp(x[::-1] * 1.0), lambda x: np.arctan2(x[::-1] - 0.0, x[::-1] + 0.0)):
        for a in (x, x.astype(np.float32)):
            raw = pb.make_ir(f)(a)  # the copying x * 1.0 is gone after simplify
            assert _bitwise_equal(eval_ir(raw, raw.consts, [a])[0],
                                  pb.jit(f, backend="interpreter")(a))
    pow_ = pb.jit(lambda x, y: x ** y, backend="interpreter")  # C pow also for 0-d operands
    assert pow_(-np.inf, 0.5) == np.inf and pow_(np.array([-np.inf]), 0.5)[0] == np.inf
    from pullback.ir import parse
    ir = parse("{ lambda ; a:f64[2]. let\n    b:f64[2] = reduce_sum[axes=()] a\n  in (b,) }")
    assert np.signbit(eval_ir(ir, [], [np.array([-0.0, 1.0])])[0][0])  # nothing summed


def test_diff_of_a_negative_order_raises_as_numpy():
    # before: it returned its input
    with pytest.raises(ValueError, match="order must be non-negative but got -1"):
        pb.jit(lambda x: np.diff(x, n=-1))(np.ones(3))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_cov_follows_numpy_at_its_edges(backend):
    # before: ddof beyond the observations gave finite negative numbers, and
    # rowvar=False of one row gave a 0-d result
    rng = np.random.default_rng(3)
    m = np.array([[1.0, 2.0, 4.0], [0.0, 1.0, -1.0]])
    cases = [(lambda m: np.cov(m, ddof=5), m), (lambda m: np.cov(m, ddof=3), m),
             (lambda r: np.cov(r, rowvar=False), np.arange(4.0)[None]),
             (lambda r: np.corrcoef(r, rowvar=False), rng.standard_normal((1, 4))),
             (lambda r: np.cov(r), np.zeros(0)), (lambda r: np.cov(r, rowvar=False), np.zeros((3, 0))),
             (lambda r: np.cov(r, r, rowvar=False), rng.standard_normal((4, 2)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f, a in cases:
            want, got = np.asarray(f(a)), pb.jit(f, backend=backend)(a)
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="ddof must be integer"):
        pb.jit(lambda m: np.cov(m, ddof=1.5), backend=backend)(m)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_convolve_leaves_out_the_terms_numpy_has_none_of(backend):
    # before: the padding zeros were multiplied, so 0 * inf made NaN where NumPy's sum
    # has no such term ([nan inf inf inf] for NumPy's [0.5 inf inf inf])
    a, v = np.array([1.0, 2.0, 3.0]), np.array([0.5, np.inf])
    for f in (np.convolve, np.correlate, lambda a, v: np.correlate(a, v, "full")):
        np.testing.assert_array_equal(pb.jit(f, backend=backend)(a, v), f(a, v))


def test_reductions_refuse_what_numpy_refuses():
    with pytest.raises(TypeError, match="If a is inexact, then dtype must be inexact"):
        pb.jit(lambda x: np.nanmean(x, dtype=np.int64))(np.array([1.5, np.nan]))  # gave 1
    with pytest.raises(TypeError, match="numpy boolean subtract"):  # an internal ShapeError
        pb.jit(np.ediff1d)(np.array([True, False]))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_argsort_of_0d_and_integral_quantiles_of_bools_as_numpy(backend):
    # both raised: an AxisError, and "boolean subtract" where no difference is taken
    b = np.array([True, False, True])
    for f, a in [(np.argsort, np.array(2.5)), (lambda b: np.quantile(b, 1), b),
                 (lambda b: np.quantile(b, [0, 1]), b)]:
        want, got = np.asarray(f(a)), pb.jit(f, backend=backend)(a)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_convolve_and_correlate_edges_as_numpy():
    # a 0-d operand of convolve is a 1-element vector (it was refused), correlate of an
    # empty operand says so (an internal ShapeError)
    np.testing.assert_array_equal(pb.jit(np.convolve)(np.array(2.0), np.ones(3)), [2.0] * 3)
    for a, v, msg in [(np.zeros(0), np.ones(3), "first array argument cannot be empty"),
                      (np.ones(3), np.zeros(0), "second array argument cannot be empty"),
                      (np.array(2.0), np.ones(3), "too small depth")]:
        with pytest.raises(ValueError, match=msg):
            pb.jit(np.correlate)(a, v)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_reduction_methods_take_numpys_arguments(backend):
    # the methods forward NumPy's positional and keyword arguments (where=, mean=,
    # copy=, a positional initial); np.max's positional keepdims landed in out=
    x = np.array([[0.7, 0.1, 0.4], [0.2, 0.9, 0.5]])
    m = np.array([[True, False, True], [False, True, True]])
    cases = [
        lambda x: x.mean(where=m), lambda x: x.var(where=m),
        lambda x: x.std(axis=1, where=m, mean=x.mean(1, keepdims=True, where=m)),
        lambda x: x.var(axis=0, mean=np.mean(x, 0, keepdims=True), ddof=1),
        lambda x: np.nanvar(x, axis=1, mean=np.nanmean(x, 1, keepdims=True)),
        lambda x: (x > 0.3).all(where=m), lambda x: (x > 0.3).any(axis=0, where=~m),
        lambda x: np.all(x > 0.3, where=m, axis=1), lambda x: x.reshape((3, 2), copy=True),
        lambda x: x.sum(0, None, None, False, 1.0), lambda x: x.max(0, None, True),
        lambda x: np.max(x, 0, None, True), lambda x: np.min(x, 1, None, True, -5.0),
        lambda x: x.argmax(1, keepdims=True), lambda x: x.prod(1, None, None, True),
        lambda x: x.min(where=m, initial=9.0),
    ]
    for f in cases:
        want, got = f(x), pb.jit(f, backend=backend)(x)
        assert got.dtype == np.asarray(want).dtype and got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-15)
    with pytest.raises(TypeError, match="dtype"):
        pb.jit(lambda x: np.max(x, dtype=float), backend=backend)(x)


def test_var_with_a_given_mean_differentiates_through_it():
    x = np.array([[0.7, 0.1, 0.4], [0.2, 0.9, 0.5]])
    pb.check_grads(lambda x: x.var(axis=0, mean=np.mean(x, 0, keepdims=True)), (x,), order=2)
    np.testing.assert_allclose(pb.grad(lambda x: x.var(mean=0.5))(x), 2 * (x - 0.5) / 6)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_casting_rules_are_checked_as_numpy_does(backend):
    # astype(casting=) and a ufunc's dtype= (casting "same_kind" by default) raise
    # where NumPy does; before, the values were converted silently
    x, k = np.array([0.5, 1.5, 2.5]), np.array([1, 2, 3])
    refused = [lambda x, k: x.astype(np.int32, casting="safe"),
               lambda x, k: np.add(x, 1, dtype=np.int64),
               lambda x, k: np.add(k, 1.5, dtype=np.int64)]
    for f in refused:
        with pytest.raises(TypeError, match="Cannot cast"):
            f(x, k)
        with pytest.raises(TypeError, match="Cannot cast"):
            pb.jit(f, backend=backend)(x, k)
    # a dtype= naming a loop the ufunc does not have (no int true_divide, no
    # float-valued less): NumPy refuses; the result's dtype was silently another
    for f in (lambda x, k: np.true_divide(k, 2, dtype=np.int64),
              lambda x, k: np.less(x, 2, dtype=np.float64)):
        with pytest.raises(TypeError, match="No loop matching"):
            f(x, k)
        with pytest.raises(TypeError, match="No loop matching"):
            pb.jit(f, backend=backend)(x, k)
    allowed = [lambda x, k: k.astype(np.float64, casting="safe"),
               lambda x, k: x.astype(np.float32, casting="same_kind"),
               lambda x, k: np.add(k, 1, dtype=np.float64), lambda x, k: np.add(k, 1, dtype=np.int32),
               lambda x, k: np.add(x, k, dtype=np.int64, casting="unsafe"), lambda x, k: x.astype(int)]
    for f in allowed:
        want, got = f(x, k), pb.jit(f, backend=backend)(x, k)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_nan_to_num_takes_traced_fill_values():
    # as JAX's: the fill values may be traced, and are differentiated through
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    f = lambda x, v: np.sum(np.nan_to_num(x, nan=v, posinf=2 * v, neginf=-v) * np.arange(4.0))  # noqa: E731
    assert pb.jit(f)(x, 3.0) == f(x, 3.0) == 6.0
    assert pb.grad(f, 1)(x, 3.0) == pb.jit(pb.grad(f, 1))(x, 3.0) == 2.0


def test_static_queries_of_traced_arrays():
    # nbytes/itemsize/device/to_device, np.common_type and empty_like(prototype=)
    # answer from the shape and dtype alone, as NumPy's
    x, k = np.ones((2, 3), np.float32), np.arange(3)
    assert pb.jit(lambda x: np.zeros(x.nbytes + x.itemsize))(x).shape == (x.nbytes + x.itemsize,)
    np.testing.assert_array_equal(pb.jit(lambda x: x.to_device(x.device) * 2)(x), x * 2)
    got = pb.jit(lambda x, k: (np.zeros(1, np.common_type(x)), np.zeros(1, np.common_type(k, x))))(x, k)
    assert [g.dtype for g in got] == [np.common_type(x), np.common_type(k, x)]
    e = pb.jit(lambda x: np.empty_like(prototype=x, dtype=int))(x)
    assert e.dtype == np.int64 and e.shape == x.shape


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_unravel_index_of_traced_indices(backend):
    a = np.arange(24.0).reshape(2, 3, 4) ** 1.5
    f = pb.jit(lambda a: np.unravel_index(np.argmax(a), a.shape), backend=backend)
    assert [int(c) for c in f(a)] == [1, 2, 3]
    g = pb.jit(lambda i: np.unravel_index(i, (2, 3, 4), order="F"), backend=backend)
    i = np.array([0, 5, 23])
    for got, want in zip(g(i), np.unravel_index(i, (2, 3, 4), order="F")):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    # as JAX: negative indices from the end, out-of-range ones clipped
    h = pb.jit(lambda i: np.unravel_index(i, (3, 4)), backend=backend)
    np.testing.assert_array_equal(np.stack(h(np.array([-1, 15]))), [[2, 2], [3, 3]])
    grad = pb.grad(lambda a: a[np.unravel_index(np.argmax(a), a.shape)])(a)
    assert grad[1, 2, 3] == 1.0 and grad.sum() == 1.0


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_sliding_window_view(backend):
    from numpy.lib.stride_tricks import sliding_window_view as windows

    x = np.arange(20.0).reshape(4, 5) ** 1.3
    for f in (lambda a: windows(a, 3, axis=1), lambda a: windows(a, (2, 2)),
              lambda a: windows(a, (2, 3), axis=(1, 1)), lambda a: windows(a, 2, axis=0).max(-1)):
        got, want = pb.jit(f, backend=backend)(x), f(x)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    # a 1-d convolution's gradient: each input element collects from every window holding it
    k = np.array([0.25, 0.5, 0.25])
    loss = lambda a: np.sum((windows(a, 3, axis=1) @ k) ** 2)  # noqa: E731
    pb.check_grads(loss, (x,), order=2)
    with pytest.raises(ValueError, match="window shape cannot be larger"):
        pb.jit(lambda a: windows(a, 6, axis=1), backend=backend)(x)


def test_take_along_axis_is_itself_next_to_sliding_window_view():
    # (a misplaced decorator once sent np.take_along_axis to sliding_window_view)
    x = np.array([3.0, 1.0, 2.0])
    np.testing.assert_array_equal(pb.jit(lambda x: np.take_along_axis(x, np.array([2]), 0))(x), [2.0])
    g = pb.grad(lambda x: np.take_along_axis(x, np.array([1]), axis=0).sum())(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(pb.jit(lambda x: np.take_along_axis(x, np.argsort(x), 0))(x),
                                  np.sort(x))


def test_convolution_windows_are_computed_not_constants():
    # the (n + m - 1, m) table of window positions was a NumPy constant of the IR
    # (pickled into the disk cache: 459 MB for 50000 by 1000)
    a, v = np.linspace(-1.0, 1.0, 300), np.array([0.25, 0.5, 0.25, -1.0])
    for mode in ("full", "same", "valid"):
        ir = pb.make_ir(lambda a, v: np.convolve(a, v, mode))(a, v)
        assert sum(np.size(c) for c in ir.consts) < 16
        np.testing.assert_allclose(pb.jit(lambda a, v: np.convolve(a, v, mode))(a, v),
                                   np.convolve(a, v, mode), rtol=1e-13, atol=1e-15)
    pb.check_grads(lambda a, v: np.correlate(a, v, "same"), (a[:20], v), order=1)


def test_calculus_helpers_edge_cases_as_numpy():
    p32 = np.array([1.0, 2.0, 3.0], np.float32)
    assert pb.jit(lambda p, x: np.polyval(p, x))(p32, 0.5).dtype == np.polyval(p32, 0.5).dtype
    xp, fp = np.array([-np.inf, 1.0, 2.0, np.inf]), np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([np.inf, -np.inf, 1.5, 2.0])
    np.testing.assert_array_equal(pb.jit(lambda x: np.interp(x, xp, fp))(x), np.interp(x, xp, fp))
    assert pb.grad(lambda x: np.interp(x, np.array([0.0, 1.0, 2.0]),
                                       np.array([0.0, 1.0, 4.0])))(2.0) == 3.0
    with pytest.raises(TypeError, match="same_kind"):
        pb.jit(lambda a: np.ediff1d(a, to_begin=[1.5]))(np.arange(4))
    np.testing.assert_array_equal(pb.jit(lambda a: np.ediff1d(a, to_begin=[1], to_end=2))(
        np.arange(4)), [1, 1, 1, 1, 2])
    with pytest.raises(ValueError, match="negative dimensions"):
        pb.jit(lambda a: np.vander(a, -2))(np.ones(3))


def test_unwrap_of_integers_with_a_traced_period():
    # NumPy breaks ties at -period/2 for even integer periods: a traced period decides it
    # by a select, not a Python `if`
    q = np.array([0, 3, 7, 2, 9, 1])
    f = pb.jit(lambda p, h: np.unwrap(p, period=h))
    for h in (3, 4, 5):
        np.testing.assert_array_equal(f(q, h), np.unwrap(q, period=h))
