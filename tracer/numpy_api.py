"""Plain NumPy on traced values: __array_ufunc__, __array_function__, operators.

NumPy functions decompose into primitives (through tracer.lax) here; they never
grow the primitive set. Two tables:

    UFUNCS[np.sin]   -> implementation, reached through Tracer.__array_ufunc__
    FUNCTIONS[np.sum] -> implementation, reached through Tracer.__array_function__

A NumPy function missing from both raises NotImplementedError naming it.
"""
from __future__ import annotations

import math

import numpy as np

from . import lax
from .trace import Tracer, user_source, where

UFUNCS: dict = {}
FUNCTIONS: dict = {}


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


def unsupported(name):
    return NotImplementedError(
        f"{name} is not supported on traced arrays by pullback (no rule for it)."
        f"{where(user_source(3))}"
    )


# ---------------------------------------------------------------- dispatch
def _array_ufunc(self, uf, method, *inputs, **kwargs):
    if kwargs.get("out") is not None:
        raise TypeError(
            f"numpy.{uf.__name__}(..., out=...) writes in place, which traced arrays "
            f"do not support{where(user_source(2))}"
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
    if dtype is not None:
        inputs = [lax.convert(lax.asarray(x), dtype) for x in inputs]
    return impl(*inputs)


def _array_function(self, func, types, args, kwargs):
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise unsupported(_qualname(func))
    return impl(*args, **kwargs)


Tracer.__array_ufunc__ = _array_ufunc
Tracer.__array_function__ = _array_function


# ---------------------------------------------------------------- helpers
def _float(x):
    """Integer and bool inputs of transcendental functions compute in float64."""
    x = lax.asarray(x) if not lax.is_weak(x) else np.asarray(x)
    dt = lax.dtype(x)
    return x if dt.kind == "f" else lax.convert(x, np.float64)


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


def _norm_axis(a, nd):
    a = int(a)
    if not -nd <= a < max(nd, 1):
        raise np.exceptions.AxisError(a, nd)
    return a % nd if nd else 0


def _keep(x, out, axes, keepdims):
    if not keepdims:
        return out
    shp = [1 if i in axes else d for i, d in enumerate(lax.shape(x))]
    return lax.reshape(out, shp)


# ---------------------------------------------------------------- ufuncs
def _float_unary(fn):
    return lambda x: fn(_float(x))


for _uf, _fn in {
    np.sin: lax.sin, np.cos: lax.cos, np.tan: lax.tan, np.arcsin: lax.asin,
    np.arccos: lax.acos, np.arctan: lax.atan, np.sinh: lax.sinh, np.cosh: lax.cosh,
    np.tanh: lax.tanh, np.arcsinh: lax.asinh, np.arccosh: lax.acosh,
    np.arctanh: lax.atanh, np.exp: lax.exp, np.log: lax.log, np.log1p: lax.log1p,
    np.expm1: lax.expm1, np.sqrt: lax.sqrt,
}.items():
    UFUNCS[_uf] = _float_unary(_fn)


def _rounding(fn):
    def impl(x):
        x = lax.asarray(x)
        return x if lax.dtype(x).kind in "iub" else fn(x)

    return impl


UFUNCS[np.floor] = _rounding(lax.floor)
UFUNCS[np.ceil] = _rounding(lax.ceil)
UFUNCS[np.rint] = _rounding(lax.round)
UFUNCS[np.trunc] = _rounding(lambda x: lax.select(lax.lt(x, 0), lax.ceil(x), lax.floor(x)))


@ufunc(np.negative)
def negative(x):
    return lax.neg(lax.asarray(x))


@ufunc(np.positive)
def positive(x):
    return x


@ufunc(np.absolute, np.fabs)
def absolute(x):
    x = lax.asarray(x)
    return x if lax.dtype(x).kind == "b" else lax.abs(x)


@ufunc(np.sign)
def sign(x):
    return lax.sign(lax.asarray(x))


@ufunc(np.square)
def square(x):
    return lax.integer_pow(lax.asarray(x), 2)


@ufunc(np.reciprocal)
def reciprocal(x):
    return lax.div(lax.convert(1, lax.dtype(x)), x)


@ufunc(np.add)
def add(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_or(x, y)
    return lax.add(x, y)


@ufunc(np.subtract)
def subtract(x, y):
    return lax.sub(x, y)


@ufunc(np.multiply)
def multiply(x, y):
    if lax.result_dtype(x, y).kind == "b":
        return lax.bitwise_and(x, y)
    return lax.mul(x, y)


@ufunc(np.true_divide)
def true_divide(x, y):
    dt = lax.result_dtype(x, y)
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    return lax.div(lax.convert(x, dt), lax.convert(y, dt))


@ufunc(np.floor_divide)
def floor_divide(x, y):
    if lax.result_dtype(x, y).kind == "f":
        return lax.floor(lax.div(x, y))
    return lax.div(x, y)


@ufunc(np.remainder)
def remainder(x, y):
    return lax.rem(x, y)


@ufunc(np.power)
def power(x, y):
    if lax.is_weak(y) and float(y).is_integer() and abs(y) <= 64 and not isinstance(y, bool):
        if lax.dtype(x).kind != "f" and y < 0:
            raise ValueError("Integers to negative integer powers are not allowed.")
        return lax.integer_pow(lax.asarray(x), int(y))
    dt = lax.result_dtype(x, y)
    if dt.kind != "f":
        raise NotImplementedError(
            "numpy.power with integer arrays as exponents is not supported by pullback"
        )
    return lax.pow(x, y)


@ufunc(np.maximum, np.fmax)
def maximum(x, y):
    return lax.max(x, y)


@ufunc(np.minimum, np.fmin)
def minimum(x, y):
    return lax.min(x, y)


@ufunc(np.arctan2)
def arctan2(y, x):
    dt = lax.result_dtype(y, x)
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    return lax.atan2(lax.convert(y, dt), lax.convert(x, dt))


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


@ufunc(np.logical_not)
def logical_not(x):
    return lax.logical_not(lax.convert(lax.asarray(x), bool))


@ufunc(np.invert)
def invert(x):
    return lax.logical_not(lax.asarray(x))


@ufunc(np.isfinite)
def isfinite(x):
    x = lax.asarray(x)
    if lax.dtype(x).kind != "f":
        return lax.full(lax.shape(x), True, bool)
    return lax.is_finite(x)


# ---------------------------------------------------------------- reductions
def _reduction(prim_fn, name):
    def impl(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        if out is not None or initial is not None or where is not None:
            raise unsupported(f"numpy.{name} with out/initial/where")
        a = lax.asarray(a)
        if dtype is not None:
            a = lax.convert(a, dtype)
        elif name in ("sum", "prod") and lax.dtype(a).kind == "b":
            a = lax.convert(a, np.int64)
        axes = _axes(axis, lax.ndim(a))
        if name in ("max", "min") and any(lax.shape(a)[i] == 0 for i in axes):
            raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
        return _keep(a, prim_fn(a, axes), axes, keepdims)

    return impl


FUNCTIONS[np.sum] = _reduction(lax.reduce_sum, "sum")
FUNCTIONS[np.prod] = _reduction(lax.reduce_prod, "prod")
FUNCTIONS[np.max] = FUNCTIONS[np.amax] = _reduction(lax.reduce_max, "max")
FUNCTIONS[np.min] = FUNCTIONS[np.amin] = _reduction(lax.reduce_min, "min")
FUNCTIONS[(np.add, "reduce")] = lambda a, axis=0, **kw: FUNCTIONS[np.sum](a, axis=axis, **kw)
FUNCTIONS[(np.maximum, "reduce")] = lambda a, axis=0, **kw: FUNCTIONS[np.max](a, axis=axis, **kw)
FUNCTIONS[(np.minimum, "reduce")] = lambda a, axis=0, **kw: FUNCTIONS[np.min](a, axis=axis, **kw)
FUNCTIONS[(np.multiply, "reduce")] = lambda a, axis=0, **kw: FUNCTIONS[np.prod](a, axis=axis, **kw)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    if out is not None or where is not None:
        raise unsupported("numpy.mean with out/where")
    a = lax.asarray(a)
    if dtype is None:
        dtype = lax.dtype(a) if lax.dtype(a).kind == "f" else np.dtype(np.float64)
    a = lax.convert(a, dtype)
    axes = _axes(axis, lax.ndim(a))
    n = math.prod(lax.shape(a)[i] for i in axes)
    s = lax.reduce_sum(a, axes)
    return _keep(a, lax.div(s, float(n)), axes, keepdims)


# ---------------------------------------------------------------- shapes
@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise unsupported(f"numpy.reshape with order={order!r}")
    shape = newshape if shape is None else shape
    a = lax.asarray(a)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = [int(d) for d in shape]
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        total = math.prod(lax.shape(a))
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape array of size {total} into shape {tuple(shape)}")
        shape[shape.index(-1)] = total // known
    if math.prod(shape) != math.prod(lax.shape(a)):
        raise ValueError(
            f"cannot reshape array of size {math.prod(lax.shape(a))} into shape {tuple(shape)}"
        )
    return lax.reshape(a, shape)


@implements(np.transpose)
def transpose(a, axes=None):
    a = lax.asarray(a)
    nd = lax.ndim(a)
    perm = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(x, nd) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError("axes don't match array")
    return lax.transpose(a, perm)


# ---------------------------------------------------------------- linear algebra
@implements(np.matmul)
def matmul(a, b):
    a, b = lax.asarray(a), lax.asarray(b)
    na, nb = lax.ndim(a), lax.ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    if na == 1 and nb == 1:
        if lax.shape(a)[0] != lax.shape(b)[0]:
            raise ValueError(f"matmul: shapes {lax.shape(a)} and {lax.shape(b)} not aligned")
        return lax.dot_general(a, b, (((0,), (0,)), ((), ())))
    if nb == 1:
        return lax.dot_general(a, b, (((na - 1,), (0,)), ((), ())))
    if na == 1:
        return lax.dot_general(a, b, (((0,), (nb - 2,)), ((), ())))
    if lax.shape(a)[-1] != lax.shape(b)[-2]:
        raise ValueError(
            f"matmul: shapes {lax.shape(a)} and {lax.shape(b)} not aligned "
            f"({lax.shape(a)[-1]} != {lax.shape(b)[-2]})"
        )
    if na == 2 and nb == 2:
        return lax.dot_general(a, b, (((1,), (0,)), ((), ())))
    # batched: broadcast the batch dims, then a dot_general with leading batch dims
    batch = lax.broadcast_shapes(lax.shape(a)[:-2], lax.shape(b)[:-2])
    a = lax.broadcast_to(a, batch + lax.shape(a)[-2:])
    b = lax.broadcast_to(b, batch + lax.shape(b)[-2:])
    nbatch = len(batch)
    bd = tuple(range(nbatch))
    return lax.dot_general(a, b, (((nbatch + 1,), (nbatch,)), (bd, bd)))


UFUNCS[np.matmul] = matmul


@implements(np.dot)
def dot(a, b, out=None):
    if out is not None:
        raise unsupported("numpy.dot with out=")
    a, b = lax.asarray(a), lax.asarray(b)
    na, nb = lax.ndim(a), lax.ndim(b)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if nb <= 2:
        return matmul(a, b)
    return lax.dot_general(a, b, (((na - 1,), (nb - 2,)), ((), ())))


# ---------------------------------------------------------------- selection
@implements(np.where)
def where_(condition, x=None, y=None):
    if x is None or y is None:
        raise unsupported("numpy.where with one argument (its output shape depends on values)")
    return lax.select(condition, x, y)


# ---------------------------------------------------------------- Tracer methods
def _binop(fn, reflected=False):
    if reflected:
        return lambda self, other: fn(other, self)
    return lambda self, other: fn(self, other)


for _name, _fn in {
    "add": add, "sub": subtract, "mul": multiply, "truediv": true_divide,
    "floordiv": floor_divide, "mod": remainder, "pow": power, "matmul": matmul,
    "and": logical_and, "or": logical_or,
}.items():
    setattr(Tracer, f"__{_name}__", _binop(_fn))
    setattr(Tracer, f"__r{_name}__", _binop(_fn, reflected=True))

Tracer.__and__ = lambda self, o: lax.bitwise_and(self, o)
Tracer.__rand__ = lambda self, o: lax.bitwise_and(o, self)
Tracer.__or__ = lambda self, o: lax.bitwise_or(self, o)
Tracer.__ror__ = lambda self, o: lax.bitwise_or(o, self)
Tracer.__neg__ = negative
Tracer.__pos__ = positive
Tracer.__abs__ = absolute
Tracer.__invert__ = invert
Tracer.__eq__ = lambda self, o: lax.eq(self, o)
Tracer.__ne__ = lambda self, o: lax.ne(self, o)
Tracer.__lt__ = lambda self, o: lax.lt(self, o)
Tracer.__le__ = lambda self, o: lax.le(self, o)
Tracer.__gt__ = lambda self, o: lax.gt(self, o)
Tracer.__ge__ = lambda self, o: lax.ge(self, o)
Tracer.T = property(lambda self: transpose(self))
Tracer.reshape = lambda self, *shape, order="C": reshape(
    self, shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape,
    order=order,
)
Tracer.transpose = lambda self, *axes: transpose(
    self, None if not axes else (axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes)
)
Tracer.sum = lambda self, axis=None, dtype=None, keepdims=False: FUNCTIONS[np.sum](
    self, axis=axis, dtype=dtype, keepdims=keepdims)
Tracer.prod = lambda self, axis=None, dtype=None, keepdims=False: FUNCTIONS[np.prod](
    self, axis=axis, dtype=dtype, keepdims=keepdims)
Tracer.max = lambda self, axis=None, keepdims=False: FUNCTIONS[np.max](self, axis=axis, keepdims=keepdims)
Tracer.min = lambda self, axis=None, keepdims=False: FUNCTIONS[np.min](self, axis=axis, keepdims=keepdims)
Tracer.mean = lambda self, axis=None, dtype=None, keepdims=False: mean(
    self, axis=axis, dtype=dtype, keepdims=keepdims)
Tracer.astype = lambda self, dtype, copy=True: lax.convert(self, np.dtype(dtype))
Tracer.dot = lambda self, other: dot(self, other)
