"""Typed wrappers over the primitives: promotion, broadcasting, literals.

These are the building blocks of the NumPy layer (tracer/numpy_api.py) and of
every transformation rule (jvp, transpose, batching): rules written with them
produce ordinary IR that can be transformed again.

Operands may be tracers, NumPy arrays or Python scalars. Python scalars are
weakly typed (NEP 50): `f32_array * 2.0` stays f32. Scalars become `Literal`s of
the other operand's dtype; 0-d traced values are broadcast explicitly.
"""
from __future__ import annotations

import builtins

import weakref

import numpy as np

from ..ir import primitives as P
from ..ir.core import broadcast_shapes as _broadcast_shapes, canonical_dtype
from .trace import Tracer, WeakTracer

_PY_SCALARS = (bool, int, float)


def is_traced(x):
    return isinstance(x, Tracer)


def shape(x):
    return x.shape if isinstance(x, Tracer) else np.shape(x)


def ndim(x):
    return len(shape(x))


def dtype(x):
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, int):
        return np.dtype(np.int64)
    if isinstance(x, float):
        return np.dtype(np.float64)
    return canonical_dtype(np.asarray(x).dtype)


def is_weak(x):
    """Python scalars are weakly typed; NumPy scalars (np.float64 subclasses float) are not."""
    return isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic)


def refuse_array_subclass(x, what):
    """A TypeError for the ndarray subclasses whose meaning a plain array would lose
    (`what` names the value: "argument x", "a constant"); nothing for the others."""
    if isinstance(x, np.matrix):
        raise TypeError(f"{what} is an np.matrix, whose * is a matrix product (pullback "
                        "does not trace np.matrix values): pass np.asarray(m) and use @")
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{what} is a masked array; pullback does not trace masks (masked "
                        "arrays would lose them): pass m.filled(value), or np.where over "
                        "the mask")
    cls = type(x)
    if isinstance(x, np.ndarray) and cls is not np.ndarray and (
            cls.__array_ufunc__ is not np.ndarray.__array_ufunc__
            or cls.__array_function__ is not np.ndarray.__array_function__):
        # (compiled code would read its buffer, the interpreter run its overrides)
        article = "an" if cls.__name__[:1].lower() in "aeiou" else "a"
        raise TypeError(f"{what} is {article} {cls.__name__}, an ndarray subclass with NumPy "
                        "functions of its own (__array_ufunc__ or __array_function__), "
                        "which pullback does not trace: pass np.asarray(x) if the plain "
                        "array is meant")


def asarray(x):
    """Tracers pass through; anything else becomes a NumPy array of a supported dtype."""
    if isinstance(x, Tracer):
        return x
    if type(x) is np.ndarray and x.dtype in (np.float64, np.float32, np.int64, np.int32, np.bool_):
        return x
    refuse_array_subclass(x, "a constant")
    arr = np.asarray(x)
    if arr.dtype == np.uint64:  # int64 would wrap values beyond 2**63
        raise TypeError("pullback does not support uint64 values: convert them with "
                        ".astype(np.int64) or .astype(np.float64)")
    if arr.dtype == object:
        raise TypeError(f"cannot convert {type(x).__name__} to an array")
    own = arr.dtype
    if own.kind == "f" and own.itemsize > 8:  # float64 would round it silently
        canonical_dtype(own)
    if own.kind == "f" and own not in (np.float64, np.float32):
        arr = arr.astype(np.float64)
    elif own.kind in "iu" and own not in (np.int64, np.int32):
        arr = arr.astype(np.int64)
    canonical_dtype(arr.dtype)
    if arr.dtype != own:  # promotes as its own dtype (result_dtype)
        _NARROW[id(arr)] = own
        weakref.finalize(arr, _NARROW.pop, id(arr), None)
    return arr


# Constants of dtypes pullback does not compute in (int8, uint8, int16, uint16, uint32,
# float16) are widened to int64 or float64, but promote as NumPy promotes their own
# dtype: a uint8 mask times a float32 array is float32 (int64 would make it float64).
# By the widened array's id, for as long as it lives.
_NARROW: dict = {}


def _computable(dt):
    """A promotion's result as a dtype pullback computes in (uint8 + bool: int64)."""
    if dt.kind in "iu" and dt not in (np.int64, np.int32):
        return np.dtype(np.int64)
    if dt.kind == "f" and dt not in (np.float64, np.float32):
        return np.dtype(np.float64)
    return dt


# what a weak tracer (a traced Python scalar argument) promotes like
_WEAK_STAND_INS = {"b": False, "i": 0, "f": 0.0}


def result_dtype(*xs):
    """NumPy 2 promotion (NEP 50) with Python scalars, traced or not, weak."""
    args = [x if is_weak(x) else _WEAK_STAND_INS[x.dtype.kind]
            if isinstance(x, WeakTracer) else _NARROW.get(id(x)) or dtype(x) for x in xs]
    return canonical_dtype(_computable(np.result_type(*args)))


def convert(x, new_dtype):
    new_dtype = canonical_dtype(new_dtype)  # astype(np.uint8): a TypeError naming it
    if is_weak(x):
        return new_dtype.type(x)
    if dtype(x) == new_dtype:
        return x
    if isinstance(x, Tracer):
        return P.convert_element_type_p.bind(x, new_dtype=new_dtype)
    return np.asarray(x).astype(new_dtype)


def broadcast_shapes(*shapes):
    if shapes and all(type(s) is tuple and s == shapes[0] for s in shapes):
        return shapes[0]  # one shape (the common case): nothing to broadcast
    return _broadcast_shapes(*shapes)


def broadcast_to(x, shp):
    """Broadcast (NumPy rules: align trailing axes) to `shp`."""
    shp = tuple(shp)
    xs = shape(x)
    if xs == shp:
        return x
    lead = len(shp) - len(xs)
    if lead < 0 or any(a not in (1, b) for a, b in zip(xs, shp[lead:])):
        raise ValueError(f"cannot broadcast shape {xs} to {shp}")
    # drop size-1 axes that get expanded, so broadcast_in_dim maps dims 1:1
    keep = [i for i, d in enumerate(xs) if d == shp[lead + i]]
    if len(keep) != len(xs):
        x = reshape(x, [xs[i] for i in keep])
    return broadcast_in_dim(x, shp, [lead + i for i in keep])


def broadcast_in_dim(x, shp, broadcast_dimensions):
    if is_weak(x):
        x = dtype(x).type(x)
    return P.broadcast_in_dim_p.bind(
        x, shape=tuple(shp), broadcast_dimensions=tuple(broadcast_dimensions)
    )


def full(shp, value, dt):
    """An array of `value`: a broadcast of one literal, never a materialized constant."""
    return broadcast_in_dim(np.dtype(dt).type(value), shp, ())


def zeros_like_aval(aval):
    return full(aval.shape, 0, aval.dtype)


def _scalar_operand(x, dt):
    """Python scalars and 0-d NumPy values become typed NumPy scalars (Literals)."""
    if is_weak(x) or (not isinstance(x, Tracer) and np.ndim(x) == 0):
        return np.dtype(dt).type(np.asarray(x).item())
    return x


def _prepare(xs, dt=None):
    """Promote to one dtype and broadcast to one shape (scalars stay literals)."""
    first = xs[0] if xs else None
    if isinstance(first, Tracer):  # traced operands of one aval: nothing to do
        aval = first.ir_var.aval
        if (dt is None or dt == aval.dtype) and all(
                isinstance(x, Tracer) and x.ir_var.aval == aval for x in xs):
            return list(xs), aval.shape
    dt = dt or result_dtype(*xs)
    out_shape = broadcast_shapes(*[shape(x) for x in xs])
    res = []
    for x in xs:
        x = convert(x, dt) if not is_weak(x) else x
        x = _scalar_operand(x, dt)
        if isinstance(x, Tracer) or (isinstance(x, np.ndarray) and x.ndim > 0):
            x = broadcast_to(x, out_shape)
        res.append(x)
    return res, out_shape


def _all_concrete(xs):
    return not any(isinstance(x, Tracer) for x in xs)


def _nary(prim):
    def op(*xs):
        xs, _ = _prepare(xs)
        return prim.bind(*xs)

    op.__name__ = prim.name
    return op


add = _nary(P.add_p)
sub = _nary(P.sub_p)
mul = _nary(P.mul_p)
div = _nary(P.div_p)
rem = _nary(P.rem_p)
max = _nary(P.max_p)
min = _nary(P.min_p)
pow = _nary(P.pow_p)
atan2 = _nary(P.atan2_p)
hypot = _nary(P.hypot_p)
bitwise_and = _nary(P.and_p)
bitwise_or = _nary(P.or_p)


eq = _nary(P.eq_p)
ne = _nary(P.ne_p)
lt = _nary(P.lt_p)
le = _nary(P.le_p)
gt = _nary(P.gt_p)
ge = _nary(P.ge_p)


def select(pred, on_true, on_false):
    """np.where(pred, on_true, on_false) with NumPy broadcasting and promotion."""
    pred = convert(pred if isinstance(pred, Tracer) else asarray(pred), np.bool_)
    (t, f), s = _prepare([on_true, on_false])
    s = broadcast_shapes(shape(pred), s)
    pred = broadcast_to(pred, s)
    t, f = (broadcast_to(x, s) if isinstance(x, Tracer) or np.ndim(x) else x for x in (t, f))
    return P.select_p.bind(pred, t, f)


def _unary(prim):
    def op(x):
        if is_weak(x):
            x = np.asarray(x)
        return prim.bind(x)

    op.__name__ = prim.name
    return op


for _name in [
    "neg", "exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos",
    "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sqrt", "rsqrt",
    "logistic", "erf", "floor", "ceil", "round", "abs", "sign", "not",
    "is_finite", "signbit", "stop_gradient", "cbrt", "lgamma", "digamma",
]:
    globals()[_name if _name != "not" else "logical_not"] = _unary(P.PRIMITIVES[_name])


def integer_pow(x, y):
    return P.integer_pow_p.bind(x, y=int(y))


def polygamma(n, x):
    """The n-th derivative of digamma (digamma itself for n = 0)."""
    if int(n) != n or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, got {n!r}")
    return _unary(P.digamma_p)(x) if n == 0 else P.polygamma_p.bind(x, n=int(n))


def square(x):
    return integer_pow(x, 2)


def reciprocal(x):
    return div(1, x)


# ---------------------------------------------------------------- shape ops
def reshape(x, shp):
    shp = tuple(int(d) for d in shp)
    if shape(x) == shp:
        return x
    return P.reshape_p.bind(x, shape=shp)


def transpose(x, perm):
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(len(perm))):
        return x
    return P.transpose_p.bind(x, permutation=perm)


def reduce(prim, x, axes):
    axes = tuple(sorted(set(int(a) for a in axes)))
    if not axes:
        return x
    return prim.bind(x, axes=axes)


def reduce_sum(x, axes):
    return reduce(P.reduce_sum_p, x, axes)


def reduce_max(x, axes):
    return reduce(P.reduce_max_p, x, axes)


def reduce_min(x, axes):
    return reduce(P.reduce_min_p, x, axes)


def reduce_prod(x, axes):
    return reduce(P.reduce_prod_p, x, axes)


def dot_general(lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    dt = result_dtype(lhs, rhs)
    lhs, rhs = convert(lhs, dt), convert(rhs, dt)
    if not lc:  # no sum: an outer product is a broadcast multiply, which fuses with its
        # neighbours (reverse mode's x^T ct of a vector-matrix product made an (n, m, k)
        # product with gemm, then copied it transposed) and is bit for bit the same
        return _outer(lhs, rhs, list(lb), list(rb))
    return P.dot_general_p.bind(lhs, rhs, dimension_numbers=dn)


def _outer(lhs, rhs, lb, rb):
    """dot_general without contracting axes: (batch, lhs free, rhs free) products."""
    lfree = [i for i in range(ndim(lhs)) if i not in lb]
    rfree = [i for i in range(ndim(rhs)) if i not in rb]
    nb, nl, nr = len(lb), len(lfree), len(rfree)
    ls, rs = shape(lhs), shape(rhs)
    out = [ls[i] for i in lb] + [ls[i] for i in lfree] + [rs[i] for i in rfree]
    a = broadcast_in_dim(transpose(lhs, lb + lfree), out, list(range(nb + nl)))
    b = broadcast_in_dim(transpose(rhs, rb + rfree), out,
                         list(range(nb)) + list(range(nb + nl, nb + nl + nr)))
    return mul(a, b)


def slice(x, start, limit, strides=None):
    strides = tuple(strides) if strides is not None else (1,) * len(start)
    if tuple(start) == (0,) * len(start) and tuple(limit) == tuple(shape(x)) and set(strides) <= {1}:
        return x
    return P.slice_p.bind(
        x, start_indices=tuple(start), limit_indices=tuple(limit), strides=strides
    )


def rev(x, dims):
    dims = tuple(sorted(dims))
    if not dims:
        return x
    return P.rev_p.bind(x, dimensions=dims)


def shift(x, axis, reverse, fill):
    """x moved one step along `axis` (x[i - 1] at i; x[i + 1] if reverse), `fill` at the
    end it vacates."""
    shp = list(shape(x))
    n = shp[axis]
    lo, hi, cfg = [0] * len(shp), list(shp), [(0, 0, 0)] * len(shp)
    one = 1 if n else 0  # (an empty axis has nothing to move)
    if reverse:
        lo[axis], cfg[axis] = one, (0, one, 0)
    else:
        hi[axis], cfg[axis] = n - one, (one, 0, 0)
    return pad(slice(x, lo, hi), dtype(x).type(fill), cfg)


def pad(x, padding_value, config):
    config = tuple(tuple(int(c) for c in cfg) for cfg in config)
    if all(c == (0, 0, 0) for c in config):
        return x
    return P.pad_p.bind(x, np.dtype(dtype(x)).type(padding_value) if is_weak(padding_value)
                        else padding_value, padding_config=config)


def concatenate(xs, dimension):
    if len(xs) == 1:
        return xs[0]
    dt = result_dtype(*xs)
    return P.concatenate_p.bind(*[convert(x, dt) for x in xs], dimension=int(dimension))


def gather(x, idx, axis):
    return P.gather_p.bind(x, idx, axis=int(axis))


def scatter_add(updates, idx, axis, size):
    return P.scatter_add_p.bind(updates, idx, axis=int(axis), size=int(size))


def iota(dt, shp, dimension=0):
    return P.iota_p.bind(shape=tuple(shp), dimension=int(dimension), dtype=np.dtype(dt))


def matrix_t(x):
    """x with its last two axes swapped."""
    n = ndim(x)
    return transpose(x, list(range(n - 2)) + [n - 1, n - 2])


def symmetric_from_triangle(x, lower):
    """The symmetric matrices that the lower (or upper) triangles of x define: the
    triangle's entries and, in the other triangle, their mirror images. cholesky and
    eigh read a matrix so (NumPy's semantics), so their tangents are this of da. (JAX
    symmetrizes da instead, the derivative of the function of (a + a^T) / 2 it also
    computes: for a symmetric tangent both agree; for the others only this one is the
    derivative of NumPy's.)"""
    n = shape(x)[-1]
    tri = np.tril if lower else np.triu
    dt = dtype(x)
    whole, strict = tri(np.ones((n, n), dt)), tri(np.ones((n, n), dt), -1 if lower else 1)
    full = shape(x)
    return add(mul(x, broadcast_to(whole, full)), matrix_t(mul(x, broadcast_to(strict, full))))


def solve(a, b):
    """x with a @ x = b, for a (..., n, n) and b (..., n, k) of one float dtype."""
    return P.solve_p.bind(a, b)


def inv(a):
    """a^-1 of each matrix of a (..., n, n) stack: a solve with the identity."""
    n = shape(a)[-1]
    return solve(a, broadcast_to(np.eye(n, dtype=dtype(a)), shape(a)))


def cholesky(a):
    return P.cholesky_p.bind(a)


def det(a):
    return P.det_p.bind(a)


def slogdet(a):
    return P.slogdet_p.bind(a)


def eigh(a, lower=True):
    """(w, v): eigenvalues ascending and eigenvectors (columns) of each symmetric
    matrix given by its lower (or upper) triangle."""
    return P.eigh_p.bind(a, lower=bool(lower))


def svd(a, full_matrices=False, compute_uv=True):
    """[u, s, vh] (or [s]) of each matrix, s descending."""
    return P.svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))


def qr(a, full_matrices=False):
    return P.qr_p.bind(a, full_matrices=bool(full_matrices))


def cumsum(x, axis, reverse=False):
    return P.cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))


def cumprod(x, axis, reverse=False):
    return P.cumprod_p.bind(x, axis=int(axis), reverse=bool(reverse))


def linrec(a, b, axis, reverse=False):
    """h[0] = b[0], h[i] = a[i] * h[i - 1] + b[i] along `axis` (from the end if reverse)."""
    return P.linrec_p.bind(a, b, axis=int(axis), reverse=bool(reverse))


def argsort(x, axis):
    return P.argsort_p.bind(x, axis=int(axis))


def argselect(x, axis, ranks):
    return P.argselect_p.bind(x, axis=int(axis), ranks=tuple(int(r) for r in ranks))


def argmax(x, axis):
    return P.argmax_p.bind(x, axis=int(axis), index_dtype=np.dtype(np.int64))


def argmin(x, axis):
    return P.argmin_p.bind(x, axis=int(axis), index_dtype=np.dtype(np.int64))


def expand_dims(x, axes):
    """Insert size-1 axes at `axes` (positions in the output)."""
    out_nd = ndim(x) + len(axes)
    axes = sorted(a % out_nd for a in axes)
    shp = list(shape(x))
    for a in axes:
        shp.insert(a, 1)
    return reshape(x, shp)


def sum_to_shape(x, shp):
    """Undo NumPy broadcasting: sum `x` down to `shp` (used by transpose rules)."""
    shp = tuple(shp)
    xs = shape(x)
    if xs == shp:
        return x
    lead = len(xs) - len(shp)
    axes = list(range(lead)) + [
        lead + i for i, d in enumerate(shp) if d == 1 and xs[lead + i] != 1
    ]
    x = reduce_sum(x, axes)
    return reshape(x, shp)


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("builtins", "np", "P")]
del builtins
