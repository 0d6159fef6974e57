"""The ndarray surface of Tracer: arithmetic and comparison operators (with reflected
forms), unary operators, the properties T/mT/real/imag/flat, the methods (x.sum(),
x.reshape(...), x.astype(...), ...), a clear error for ndarray methods without a
rule, and __getitem__ (rules in tracer/indexing.py).
"""
from __future__ import annotations

import numpy as np

from . import lax
from .np_elementwise import (
    absolute, add, astype, bitwise_and, bitwise_or, bitwise_xor, clip, divmod_, floor_divide, imag,
    invert, multiply, negative, positive, power, remainder, round_, subtract, true_divide,
)
from .np_linalg import diagonal, dot, matmul, trace
from .np_reductions import (
    all_, any_, argmax, argmin, argsort, cumprod, cumsum, max_, mean, min_, prod_, std, sum_, var,
)
from .np_shape import matrix_transpose, ravel, repeat, reshape, squeeze, swapaxes, take, transpose
from .np_signal import searchsorted
from .numpy_api import _PY_SCALARS, FUNCTIONS, UFUNCS, _norm, _with_user_line, unsupported
from .trace import Tracer, WeakTracer, current_builder, user_source, weaken, where


# ---------------------------------------------------------------- Tracer methods
def _binop(fn, reflected=False):
    def op(self, other):
        if getattr(type(other), "__array_ufunc__", False) is None:
            return NotImplemented  # a class that opts out of NumPy: its own operator, as ndarray's
        if (fn is multiply and isinstance(other, (list, tuple)) and self.ndim == 0
                and self.dtype.kind in "iub"):
            # `[0.0] * n` with n a traced int (an argument of pb.jit): Python would repeat
            # the list, NumPy multiplies elementwise; either silently is a wrong guess
            raise TypeError(
                f"a traced integer {self.aval} times a Python {type(other).__name__}: "
                "Python repeats the sequence, NumPy multiplies its items. Make n static "
                "(static_argnums) to repeat, or write np.asarray(seq) * n to multiply.")
        other = _norm(other)
        out = fn(other, self) if reflected else fn(self, other)
        # Python arithmetic on Python scalars gives Python scalars: `1.0 - s` stays weak
        if isinstance(self, WeakTracer) and (isinstance(other, WeakTracer) or type(other) in _PY_SCALARS):
            return weaken(out)
        return out

    return _with_user_line(op)


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


def _in_place(name, op):
    """x op= y: Python's rebinding (x = x op y), NumPy's result for x itself. NumPy
    also changes every array sharing x's memory: the arrays x is a view of (b = a[:2];
    b += 1 changes a), their other views, and x under other names. Those keep their
    values here, so the builder refuses to read them afterwards (Builder.overwritten):
    an error naming both lines, not silently different numbers."""
    def iop(self, other):
        out = op(self, other)
        t, src = self, user_source(2)
        current = current_builder()
        if current is not None:  # (reads inside a body of cond/scan check too)
            current.overwritten = True
        while t is not None:  # also arrays of an enclosing trace (closed over)
            if t.changed_by is None:
                t.changed_by = (name, src)
            t.builder.overwritten = True
            t = t.view_of
        return out

    return iop


def _view(out, a):
    """`out`, a NumPy view of `a`, marked as such (Tracer.view_of). A no-op view (x.T of
    a vector) is a new Tracer of the same value: NumPy's is a new array object too."""
    if out is a:
        out = a.fresh()
    out.view_of = a
    return out


def _marks_views(fn):
    """fn returns a NumPy view of its first argument (or a list of them, np.split):
    mark it (Tracer.view_of). (np.atleast_1d(x, y) returns views of each argument:
    only a single result is marked.)"""
    def wrapped(a, *args, **kw):
        out = fn(a, *args, **kw)
        if isinstance(a, Tracer):
            if isinstance(out, Tracer):
                out = _view(out, a)
            elif isinstance(out, (list, tuple)) and fn not in _SEVERAL_INPUTS:
                out = type(out)(_view(o, a) if isinstance(o, Tracer) else o for o in out)
        return out

    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


_SEVERAL_INPUTS = {FUNCTIONS[f] for f in (np.atleast_1d, np.atleast_2d, np.atleast_3d)}
for _f in (np.reshape, np.ravel, np.transpose, np.permute_dims, np.matrix_transpose,
           np.swapaxes, np.moveaxis, np.squeeze, np.expand_dims, np.atleast_1d,
           np.atleast_2d, np.atleast_3d, np.broadcast_to, np.diagonal, np.real,
           np.linalg.matrix_transpose, np.linalg.diagonal, np.split, np.array_split,
           np.hsplit, np.vsplit, np.dsplit, np.flip, np.fliplr, np.flipud, np.rot90,
           np.unstack):
    if _f in FUNCTIONS:
        FUNCTIONS[_f] = _marks_views(FUNCTIONS[_f])


def _unsupported_operator(name):
    def op(self, other):
        raise unsupported(f"numpy.{name}")
    return op


for _name, _ufunc in {"lshift": "left_shift", "rshift": "right_shift"}.items():
    # as np.left_shift/np.right_shift: NotImplementedError naming them, not a TypeError
    setattr(Tracer, f"__{_name}__", _unsupported_operator(_ufunc))
    setattr(Tracer, f"__r{_name}__", _unsupported_operator(_ufunc))

for _name, _op in {"add": "+=", "sub": "-=", "mul": "*=", "truediv": "/=", "floordiv": "//=",
                   "mod": "%=", "pow": "**=", "matmul": "@=", "and": "&=", "or": "|=",
                   "xor": "^=", "lshift": "<<=", "rshift": ">>="}.items():
    setattr(Tracer, f"__i{_name}__", _in_place(_op, getattr(Tracer, f"__{_name}__")))


def _unop(fn):
    """A unary operator: on a weak value (a Python scalar argument) it is Python's, whose
    -s, abs(s) and ~n are Python scalars (weak), and whose bools are the ints 0 and 1
    (-True is -1, ~True is -2)."""
    def op(self):
        if not isinstance(self, WeakTracer):
            return fn(self)
        if self.dtype.kind == "b":
            self = lax.convert(self, np.int64)
        return weaken(fn(self))

    return _with_user_line(op)


Tracer.__neg__ = _unop(negative)
Tracer.__pos__ = _unop(positive)
Tracer.__abs__ = _unop(absolute)
Tracer.__invert__ = _unop(invert)


def _round(self, ndigits=None):
    """round(x): NumPy's for arrays; for a weak float (a Python float argument) Python's,
    which gives an int without ndigits (half to even, as np.round)."""
    if not isinstance(self, WeakTracer):
        return round_(self, ndigits or 0)
    if self.dtype.kind == "b":
        self = lax.convert(self, np.int64)
    out = round_(self, ndigits or 0)
    if ndigits is None and self.dtype.kind == "f":
        out = lax.convert(out, np.int64)
    return weaken(out)


Tracer.__round__ = _with_user_line(_round)
def _no_setter(name):
    def refuse(self, value):
        raise TypeError(f"traced arrays are immutable: x.{name} = ... would write into x; "
                        f"build the new array instead (np.where, np.full_like, "
                        f"np.concatenate){where(user_source(2))}")
    return refuse


Tracer.T = property(_marks_views(lambda self: transpose(self)), _no_setter("T"))
Tracer.mT = property(_marks_views(lambda self: matrix_transpose(self)), _no_setter("mT"))
Tracer.real = property(lambda self: self, _no_setter("real"))
Tracer.imag = property(lambda self: imag(self), _no_setter("imag"))
Tracer.flat = property(lambda self: ravel(self), _no_setter("flat"))


def _shape_args(shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return shape[0]
    return shape


def _method(fn):
    return _with_user_line(fn)


def _reshape(self, *shape, order="C", copy=None):
    return reshape(self, _shape_args(shape), order=order, copy=copy)


Tracer.reshape = _method(_marks_views(_reshape))
Tracer.transpose = _method(_marks_views(
    lambda self, *axes: transpose(self, _shape_args(axes) if axes else None)))
# the reductions take NumPy's function's arguments in the same order (positional
# initial, where=, mean=, ...)
Tracer.sum, Tracer.prod, Tracer.max, Tracer.min = map(_method, (sum_, prod_, max_, min_))
Tracer.mean, Tracer.var, Tracer.std = map(_method, (mean, var, std))
Tracer.all, Tracer.any, Tracer.argmax, Tracer.argmin = map(_method, (all_, any_, argmax, argmin))
Tracer.argsort = _method(lambda self, axis=-1, kind=None, order=None, *, stable=None: argsort(
    self, axis=axis, kind=kind, order=order, stable=stable))
Tracer.cumsum = _method(lambda self, axis=None, dtype=None, out=None: cumsum(
    self, axis=axis, dtype=dtype, out=out))
Tracer.cumprod = _method(lambda self, axis=None, dtype=None, out=None: cumprod(
    self, axis=axis, dtype=dtype, out=out))


def _astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    dtype = np.dtype(dtype)
    if not np.can_cast(self.dtype, dtype, casting=casting):
        raise TypeError(f"Cannot cast array data from {self.dtype!r} to {dtype!r} "
                        f"according to the rule {casting!r}")
    return astype(self, dtype, copy=copy)


Tracer.astype = _method(_astype)
Tracer.dot = _method(lambda self, b, out=None: dot(self, b, out=out))
Tracer.flatten = _method(lambda self, order="C": ravel(self, order))
Tracer.ravel = _method(_marks_views(lambda self, order="C": ravel(self, order)))
Tracer.squeeze = _method(_marks_views(lambda self, axis=None: squeeze(self, axis)))
Tracer.swapaxes = _method(_marks_views(
    lambda self, axis1, axis2: swapaxes(self, axis1, axis2)))
Tracer.clip = _method(lambda self, min=None, max=None, out=None, **kw: clip(
    self, min, max, out=out, **kw))
Tracer.round = _method(lambda self, decimals=0, out=None: round_(self, decimals, out))
Tracer.copy = lambda self, order="C": self.fresh()
Tracer.conj = Tracer.conjugate = lambda self: self
Tracer.diagonal = _method(_marks_views(lambda self, offset=0, axis1=0, axis2=1: diagonal(
    self, offset, axis1, axis2)))
Tracer.trace = _method(lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: trace(
    self, offset, axis1, axis2, dtype, out))
Tracer.repeat = _method(lambda self, repeats, axis=None: repeat(self, repeats, axis))
Tracer.searchsorted = _method(lambda self, v, side="left", sorter=None: searchsorted(
    self, v, side, sorter))
Tracer.take = _method(lambda self, indices, axis=None, out=None, mode="raise": take(
    self, indices, axis, out, mode))
Tracer.nonzero = lambda self: (_ for _ in ()).throw(
    unsupported("numpy.nonzero", "its output shape depends on values"))
Tracer.item = lambda self, *args: (
    self._concrete("item()", number=True).item(*args))
Tracer.tolist = lambda self: self._concrete("tolist()", number=True).tolist()



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


def _basic_view(key, ndim):
    """Is x[key] a view in NumPy: basic indexing (ints, slices, None, ...), other than
    one int per axis (a scalar, a copy)?"""
    items = key if isinstance(key, tuple) else (key,)
    ints = 0
    for k in items:
        if isinstance(k, Tracer):
            if k.ndim or k.dtype.kind not in "iu":
                return False  # an index array or mask: a copy
            ints += 1
        elif isinstance(k, (bool, np.bool_)):
            return False
        elif isinstance(k, (int, np.integer)):
            ints += 1
        elif not (k is None or k is Ellipsis or isinstance(k, slice)):
            return False
    return not (ints == ndim and len(items) == ints)


def _getitem_marking_views(self, key):
    out = _getitem(self, key)
    if isinstance(out, Tracer) and _basic_view(key, self.ndim):
        out = _view(out, self)
    return out


Tracer.__getitem__ = _with_user_line(_getitem_marking_views)
