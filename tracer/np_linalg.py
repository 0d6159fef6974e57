"""Linear algebra: matmul (also the ufunc), dot/vdot/inner/outer/tensordot/kron/cross,
diagonal/trace/triu/tril/diag, einsum, np.linalg.norm/vector_norm/matrix_norm,
vecdot and the np.linalg aliases (matmul, outer, trace, diagonal, ...), cov/corrcoef.
"""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from ..ir import primitives as P
from ..ir.core import IR, NAMED_RULES, ShapedArray, named_rule
from . import lax
from .np_elementwise import clip, multiply, subtract
from .np_reductions import mean, sum_
from .np_shape import atleast_2d, concatenate, matrix_transpose, moveaxis, ravel, squeeze, transpose
from .numpy_api import (
    FUNCTIONS, UFUNCS, _arr, _axes, _dt, _keep, _norm_axis, _shape, _take_range, implements,
    ufunc, unsupported,
)
from .trace import ConcretizationError, bind_list
from .trace import trace as trace_ir  # np_linalg's own `trace` is np.trace


# ---------------------------------------------------------------- linear algebra
def _dot(a, b, dimension_numbers):
    """lax.dot_general, with NumPy's product of two bool arrays: the `or` of `and`s,
    counted in int64 (dot_general takes numbers only)."""
    if _dt(a).kind == "b" and _dt(b).kind == "b":
        count = lax.dot_general(lax.convert(a, np.int64), lax.convert(b, np.int64),
                                dimension_numbers)
        return lax.ne(count, 0)
    return lax.dot_general(a, b, dimension_numbers)


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
    if na == 1 and nb == 1:
        return _dot(a, b, (((0,), (0,)), ((), ())))
    if nb == 1:
        return _dot(a, b, (((na - 1,), (0,)), ((), ())))
    if na == 1:
        if nb == 2:
            return _dot(a, b, (((0,), (0,)), ((), ())))
        a = lax.reshape(a, (1, ka))
        return squeeze(matmul(a, b), -2)
    if na == 2 and nb == 2:
        return _dot(a, b, (((1,), (0,)), ((), ())))
    # batched: broadcast the batch dims, then a dot_general with leading batch dims
    batch = lax.broadcast_shapes(_shape(a)[:-2], _shape(b)[:-2])
    a = lax.broadcast_to(a, batch + _shape(a)[-2:])
    b = lax.broadcast_to(b, batch + _shape(b)[-2:])
    nbatch = len(batch)
    bd = tuple(range(nbatch))
    return _dot(a, b, (((nbatch + 1,), (nbatch,)), (bd, bd)))


UFUNCS[np.matmul] = matmul


@implements(np.dot)
def dot(a, b, out=None):
    if out is not None:
        raise unsupported("numpy.dot with out=")
    a, b = _arr(a), _arr(b)
    na, nb = lax.ndim(a), lax.ndim(b)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if _shape(a)[-1] != _shape(b)[max(nb - 2, 0)]:  # named as NumPy's dot, not matmul
        raise ValueError(f"shapes {_shape(a)} and {_shape(b)} not aligned: "
                         f"{_shape(a)[-1]} (dim {na - 1}) != {_shape(b)[max(nb - 2, 0)]} "
                         f"(dim {max(nb - 2, 0)})")
    if nb <= 2:
        return matmul(a, b)
    return _dot(a, b, (((na - 1,), (nb - 2,)), ((), ())))


@implements(np.vdot)
def vdot(a, b):
    a, b = ravel(a), ravel(b)
    if _shape(a) != _shape(b):
        raise ValueError("cannot reshape array: vdot needs the same number of elements, got "
                         f"{_shape(a)[0]} and {_shape(b)[0]}")
    return _dot(a, b, (((0,), (0,)), ((), ())))


@implements(np.inner)
def inner(a, b):
    a, b = _arr(a), _arr(b)
    if lax.ndim(a) == 0 or lax.ndim(b) == 0:
        return multiply(a, b)
    if _shape(a)[-1] != _shape(b)[-1]:
        raise ValueError(f"shapes {_shape(a)} and {_shape(b)} not aligned for numpy.inner")
    return _dot(a, b, (((lax.ndim(a) - 1,), (lax.ndim(b) - 1,)), ((), ())))


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
        if len(set(ca)) != len(ca) or len(set(cb)) != len(cb):
            raise ValueError("duplicate axes are not allowed in tensordot")
    for i, j in zip(ca, cb):
        if _shape(a)[i] != _shape(b)[j]:
            raise ValueError(f"shape-mismatch for sum: {_shape(a)} axis {i} vs {_shape(b)} axis {j}")
    return _dot(a, b, ((ca, cb), ((), ())))


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
    k = operator.index(offset)  # NumPy's TypeError for a float offset
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
    if lax.ndim(m) == 1:  # NumPy: the vector as every row of a square matrix
        m = lax.broadcast_to(m, _shape(m) * 2)
    if lax.ndim(m) < 2:
        raise ValueError(f"numpy.{'triu' if upper else 'tril'} needs an array of at least 1 dim")
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
    if spec.count("->") > 1 or spec.replace("->", "").count(">") or spec.replace("->", "").count("-"):
        raise ValueError(f"einsum: invalid subscripts {subscripts!r}: '->' at most once")
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
    for o in ops:  # NumPy's casting rule for dtype= (default 'safe')
        if dtype is not None and not np.can_cast(_dt(o), dt, casting=casting):
            raise TypeError(f"einsum: operand dtype {_dt(o)} cannot be cast to {dt} "
                            f"according to the rule {casting!r}")
    ops = [lax.convert(o, dt) for o in ops]
    sizes = {}
    for op, labs in zip(ops, labels):
        own = {}
        for lab, d in zip(labs, _shape(op)):  # a label repeated in one operand: no broadcast
            if own.setdefault(lab, d) != d:
                raise ValueError(f"einsum: dimensions in single operand for collapsing index "
                                 f"{lab!r} don't match ({own[lab]} != {d})")
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
        kept = [l for l in labs if l in keep]
        if axes and lax.dtype(op) == np.bool_:  # a sum of bools is their `or`, as in _dot
            count = lax.reduce_sum(lax.convert(op, np.dtype(np.int64)), axes)
            return lax.ne(count, lax.convert(0, np.dtype(np.int64))), kept
        return lax.reduce_sum(op, axes), kept

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
        acc = _dot(acc, op, dn)
        acc_labs = (batch + [l for l in acc_labs[nb:] if l not in contract]
                    + [l for l in labs[nb:] if l not in contract])
    acc, acc_labs = sum_unneeded(acc, acc_labs, set(out_labels))
    return lax.transpose(acc, [acc_labs.index(l) for l in out_labels])


# -- norms
def _norm_operand(x):
    """Norms compute in float: ints and bools become float64."""
    x = _arr(x)
    return x if _dt(x).kind == "f" else lax.convert(x, np.float64)


def _frobenius(x, axes):
    """sqrt(sum(x * x)) over `axes`: the 2-norm of vectors, Frobenius of matrices."""
    return lax.sqrt(lax.reduce_sum(lax.mul(x, x), axes))


def _extreme(reduce, x, axes):
    """reduce_max / reduce_min over `axes` as NumPy's norms take them: the largest of
    no values is 0 (initial=0), the smallest of none an error."""
    if all(_shape(x)[a] for a in axes):
        return reduce(x, axes)
    if reduce is lax.reduce_min:
        raise ValueError("zero-size array to reduction operation minimum which has no identity")
    kept = tuple(d for a, d in enumerate(_shape(x)) if a not in axes)
    return lax.broadcast_to(np.zeros((), _dt(x)), kept)


def _vector_norm(x, ord, axes, keepdims):
    ax = lax.abs(x)
    if ord is None or ord == 2:
        res = _frobenius(x, axes)
    elif ord == 1:
        res = lax.reduce_sum(ax, axes)
    elif ord == math.inf:
        res = _extreme(lax.reduce_max, ax, axes)
    elif ord == -math.inf:
        res = _extreme(lax.reduce_min, ax, axes)
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
        return _keep(x, _frobenius(x, axes), axes, keepdims)
    if ord in (1, -1, math.inf, -math.inf):
        # 1-norms: the largest (ord > 0) or smallest column sum; inf-norms: row sums
        summed, other = (r, c) if ord in (1, -1) else (c, r)
        sums = lax.reduce_sum(ax, (summed,))
        pick = lax.reduce_max if ord > 0 else lax.reduce_min
        res = _extreme(pick, sums, (other - (1 if other > summed else 0),))
    elif ord in (2, -2, "nuc"):  # of the singular values: the largest, smallest or sum
        s = lax.svd(lax.convert(moveaxis(x, (r, c), (-2, -1)), _lapack_dtype(x)),
                    compute_uv=False)[0]
        last = (lax.ndim(s) - 1,)
        res = (lax.reduce_sum(s, last) if ord == "nuc" else
               _extreme(lax.reduce_max if ord == 2 else lax.reduce_min, s, last))
    else:
        raise ValueError("Invalid norm order for matrices.")
    return _keep(x, res, tuple(sorted(axes)), keepdims)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = _norm_operand(x)
    nd = lax.ndim(x)
    if axis is None:
        if ord is None:
            axes = tuple(range(nd))
            return _keep(x, _frobenius(x, axes), axes, keepdims)
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
    x = _norm_operand(x)
    return _vector_norm(x, ord, _axes(axis, lax.ndim(x)), keepdims)


@implements(np.linalg.matrix_norm)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    x = _norm_operand(x)
    nd = lax.ndim(x)
    return _matrix_norm(x, ord, (nd - 2, nd - 1), keepdims)


@ufunc(np.vecdot)
def vecdot(x1, x2):
    return _vecdot_along(x1, x2, -1)


def _vecdot_along(x1, x2, axis):
    prod = multiply(x1, x2)  # summed in its own dtype, as NumPy's (bools with or)
    return sum_(prod, axis=axis, dtype=_dt(prod))


@ufunc(np.matvec)
def matvec(x1, x2):
    """(..., m, n) by (..., n) vectors: a matmul with x2 as (..., n, 1) columns."""
    x1, x2 = _arr(x1), _arr(x2)
    if lax.ndim(x1) < 2 or lax.ndim(x2) < 1:
        raise ValueError("matvec: x1 needs 2 dimensions, x2 one")
    return squeeze(matmul(x1, lax.expand_dims(x2, (lax.ndim(x2),))), -1)


@ufunc(np.vecmat)
def vecmat(x1, x2):
    """(..., n) vectors by (..., n, m): a matmul with x1 as (..., 1, n) rows."""
    x1, x2 = _arr(x1), _arr(x2)
    if lax.ndim(x1) < 1 or lax.ndim(x2) < 2:
        raise ValueError("vecmat: x1 needs 1 dimension, x2 two")
    return squeeze(matmul(lax.expand_dims(x1, (lax.ndim(x1) - 1,)), x2), -2)


FUNCTIONS[np.linalg.vecdot] = lambda x1, x2, /, *, axis=-1: _vecdot_along(x1, x2, axis)
FUNCTIONS[np.linalg.matmul] = lambda x1, x2, /: matmul(x1, x2)
FUNCTIONS[np.linalg.outer] = lambda x1, x2, /: outer(x1, x2)
FUNCTIONS[np.linalg.matrix_transpose] = lambda x, /: matrix_transpose(x)
FUNCTIONS[np.linalg.trace] = lambda x, /, *, offset=0, dtype=None: trace(
    x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)
FUNCTIONS[np.linalg.diagonal] = lambda x, /, *, offset=0: diagonal(x, offset, -2, -1)
FUNCTIONS[np.linalg.tensordot] = lambda x1, x2, /, *, axes=2: tensordot(x1, x2, axes)


@implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    if fweights is not None or aweights is not None:
        raise unsupported("numpy.cov with fweights/aweights")
    m = _arr(m)
    if lax.ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    dt = np.dtype(dtype) if dtype is not None else lax.result_dtype(m, np.zeros((), np.float64))
    X = lax.convert(atleast_2d(m), dt)
    if not rowvar and lax.ndim(m) != 1:  # NumPy 2's rule: a (1, n) m is n variables
        X = transpose(X)
    if _shape(X)[0] == 0:  # no variables
        return lax.full((0, 0), 0.0, np.float64)
    if y is not None:
        Y = lax.convert(atleast_2d(_arr(y)), dt)
        if not rowvar and _shape(Y)[0] != 1:
            Y = transpose(Y)
        X = concatenate([X, Y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = _shape(X)[1]
    X = lax.sub(X, mean(X, axis=1, keepdims=True))
    # NumPy's normalization: times 1 / (n - ddof), and inf (0 * inf NaN for nothing
    # observed) where that count is not positive
    fact = n - int(ddof)
    return squeeze(lax.mul(matmul(X, transpose(X)), 1.0 / fact if fact > 0 else np.inf))


@implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = cov(x, y, rowvar, dtype=dtype)
    if lax.ndim(c) == 0:
        return lax.div(c, c)
    sd = lax.sqrt(diagonal(c))
    n = _shape(sd)[0]
    c = lax.div(lax.div(c, lax.reshape(sd, (n, 1))), lax.reshape(sd, (1, n)))
    return clip(c, -1, 1)


# ---------------------------------------------------------------- np.linalg: LAPACK-backed
# solve, inv, det, slogdet and cholesky bind the primitives solve/det/slogdet/cholesky
# (square matrices in the last two axes, batched over the leading ones), in NumPy's
# types: float32 stays float32, everything else computes in float64.
def _lapack_dtype(*xs):
    return np.dtype(np.float32) if all(_dt(x) == np.float32 for x in xs) else np.dtype(np.float64)


def _matrix_stack(a, dt=None):
    """`a` as a stack of matrices in LAPACK's dtype (`dt`, or a's own)."""
    a = _arr(a)
    if _dt(a).kind not in "biuf" or _dt(a) == np.float16:
        raise TypeError(f"array type {_dt(a)} is unsupported in linalg")
    nd = lax.ndim(a)
    if nd < 2:
        raise np.linalg.LinAlgError(
            f"{nd}-dimensional array given. Array must be at least two-dimensional")
    return lax.convert(a, dt or _lapack_dtype(a))


def _square_stack(a, dt=None):
    """`a` as a stack of square matrices in LAPACK's dtype (`dt`, or a's own)."""
    a = _matrix_stack(a, dt)
    if _shape(a)[-1] != _shape(a)[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    return a


@implements(np.linalg.solve)
def solve(a, b):
    a, b = _arr(a), _arr(b)
    dt = _lapack_dtype(a, b)
    a, b = _square_stack(a, dt), lax.convert(b, dt)
    n, b_shape, vector = _shape(a)[-1], _shape(b), lax.ndim(b) == 1
    if vector:
        b = lax.reshape(b, (b_shape[0], 1))
    if lax.ndim(b) < 2 or _shape(b)[-2] != n:
        raise ValueError(f"solve: Input operand 1 has a mismatch in its core dimension 0: "
                         f"shapes {_shape(a)} and {b_shape}, whose core dimension must be {n}")
    batch = lax.broadcast_shapes(_shape(a)[:-2], _shape(b)[:-2])
    x = lax.solve(lax.broadcast_to(a, batch + (n, n)),
                  lax.broadcast_to(b, batch + _shape(b)[-2:]))
    return lax.reshape(x, batch + (n,)) if vector else x


@implements(np.linalg.inv)
def inv(a):
    return lax.inv(_square_stack(a))


@implements(np.linalg.det)
def det(a):
    return lax.det(_square_stack(a))


@implements(np.linalg.slogdet)
def slogdet(a):
    sign, logabsdet = lax.slogdet(_square_stack(a))
    return np.linalg._linalg.SlogdetResult(sign, logabsdet)


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    a = _square_stack(a)
    if upper:  # a = U^T U from a's upper triangle, the lower one of a^T
        return lax.matrix_t(lax.cholesky(lax.matrix_t(a)))
    return lax.cholesky(a)


# eigh, svd and qr bind the primitives of those names (LAPACK's syevd, gesdd, geqrf and
# orgqr, as NumPy calls them); pinv, lstsq, matrix_rank, cond, svdvals and the
# spectral norms are built on svd, eigvalsh on eigh.
def _lower(UPLO):
    """Does UPLO name the lower triangle?"""
    if UPLO not in ("L", "U", "l", "u"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return UPLO in ("L", "l")


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    w, v = lax.eigh(_square_stack(a), _lower(UPLO))
    return np.linalg._linalg.EighResult(w, v)


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    return lax.eigh(_square_stack(a), _lower(UPLO))[0]


def _flip_last(x):
    return lax.rev(x, (lax.ndim(x) - 1,))


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _square_stack(a) if hermitian else _matrix_stack(a)
    if hermitian:  # NumPy's way: eigh, |w| sorted descending, the signs moved into vh
        if not compute_uv:
            return _flip_last(np.sort(lax.abs(eigvalsh(a)), axis=-1))
        w, u = lax.eigh(a)
        order = _flip_last(lax.argsort(lax.abs(w), lax.ndim(w) - 1))
        sign = np.take_along_axis(np.copysign(1.0, w), order, axis=-1)
        s = np.take_along_axis(lax.abs(w), order, axis=-1)
        u = np.take_along_axis(u, np.expand_dims(order, -2), axis=-1)
        vh = lax.matrix_t(lax.mul(u, np.expand_dims(sign, -2)))
        return np.linalg._linalg.SVDResult(u, s, vh)
    if not compute_uv:
        return lax.svd(a, compute_uv=False)[0]
    u, s, vh = lax.svd(a, full_matrices=full_matrices)
    return np.linalg._linalg.SVDResult(u, s, vh)


@implements(np.linalg.svdvals)
def svdvals(x, /):
    return lax.svd(_matrix_stack(x), compute_uv=False)[0]


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    if mode in ("f", "full"):  # as NumPy 2, with its warning
        warnings.warn("The 'full' option is deprecated in favor of 'reduced'.\nFor "
                      "backward compatibility let mode default.", DeprecationWarning,
                      stacklevel=3)
        mode = "reduced"
    if mode not in ("reduced", "complete", "r", "raw", "e", "economic"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    if mode in ("raw", "e", "economic"):
        raise unsupported(f"numpy.linalg.qr with mode={mode!r}",
                          "Householder reflectors; use mode='reduced'")
    q, r = lax.qr(_matrix_stack(a), full_matrices=mode == "complete")
    return r if mode == "r" else np.linalg._linalg.QRResult(q, r)


def _reciprocal_above(s, cutoff):
    """1 / s where s > cutoff, else 0 (the zero never divides: no inf, nor NaN in
    derivatives)."""
    large = lax.gt(s, cutoff)
    one = np.asarray(1, _dt(s))
    return lax.select(large, lax.div(one, lax.select(large, s, one)), np.zeros((), _dt(s)))


def _from_svd(vh, inv_s, u):
    """V diag(inv_s) U^T of each matrix: its (pseudo-)inverse from the thin SVD."""
    return matmul(lax.matrix_t(vh), lax.mul(lax.reshape(inv_s, _shape(inv_s) + (1,)),
                                             lax.matrix_t(u)))


def _largest(s):
    """max(s) over the last axis, kept (0 for no values, as NumPy's initial=0)."""
    if _shape(s)[-1] == 0:
        return lax.broadcast_to(np.zeros((), _dt(s)), _shape(s)[:-1] + (1,))
    return lax.reshape(lax.reduce_max(s, (lax.ndim(s) - 1,)), _shape(s)[:-1] + (1,))


def _svd_inverse_values(a, cutoff_scale, hermitian, exact):
    """V diag(1/s) U^T of each matrix, 1/s set to 0 for s at or below cutoff_scale times
    the largest s (the pseudo-inverse), or for every s when `exact` (the inverse, inf
    and NaN at a singular matrix, as NumPy's inv ignoring LAPACK's error)."""
    u, s, vh = svd(a, full_matrices=False, hermitian=hermitian)
    if exact:
        return _from_svd(vh, lax.div(np.asarray(1, _dt(s)), s), u)
    cutoff = lax.mul(lax.broadcast_to(lax.reshape(cutoff_scale, _shape(cutoff_scale) + (1,)),
                                      _shape(s)),
                     lax.broadcast_to(_largest(s), _shape(s)))
    return _from_svd(vh, _reciprocal_above(s, cutoff), u)


def _svd_inverse_rule(hermitian, exact):
    """The pseudo-inverse's derivative where its rank is constant (Golub and Pereyra):
    dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P. Through the SVD's own
    rule it was NaN at any repeated singular value (the identity, an orthogonal matrix),
    where the pseudo-inverse is smooth: 1/(s_j^2 - s_i^2) is inf there, times 0. The
    rule of a custom_jvp_call: flat primals (a, cutoff scale) and their tangents ->
    ([P], [dP]); P is the same call again, so its derivative is this rule too."""
    def rule(primals, tangents):
        a, scale = primals
        da = tangents[0]
        if hermitian:  # the value reads a's lower triangle (eigh), so its tangent too
            da = lax.symmetric_from_triangle(da, lower=True)
        p = _svd_inverse(a, scale, hermitian, exact)
        t = lax.matrix_t
        dat, pt = t(da), t(p)
        ppt_dat = matmul(matmul(p, pt), dat)        # P P^T dA^T
        dat_ptp = matmul(dat, matmul(pt, p))        # dA^T P^T P
        dp = lax.neg(matmul(matmul(p, da), p))
        dp = lax.add(dp, lax.sub(ppt_dat, matmul(matmul(ppt_dat, a), p)))
        dp = lax.add(dp, lax.sub(dat_ptp, matmul(matmul(p, a), dat_ptp)))
        return [p], [dp]
    return rule


_SVD_INVERSE_RULES = {
    (False, False): "pinv_jvp", (True, False): "pinv_hermitian_jvp", (False, True): "inv_svd_jvp"}
for (_h, _e), _name in _SVD_INVERSE_RULES.items():
    _r = _svd_inverse_rule(_h, _e)
    _r.__name__ = _r.__qualname__ = _name
    named_rule(_r)


def _svd_inverse(a, scale, hermitian, exact):
    """_svd_inverse_values as a custom_jvp_call with the pseudo-inverse's own rule."""
    def values(a, scale):
        return [_svd_inverse_values(a, scale, hermitian, exact)]

    ir = trace_ir(values, [ShapedArray(_shape(x), _dt(x)) for x in (a, scale)])
    call = IR([], [], list(ir.constvars) + list(ir.invars), ir.eqns, ir.outvars)
    rule = NAMED_RULES[_SVD_INVERSE_RULES[(hermitian, exact)]]
    (p,) = bind_list(P.custom_jvp_call_p, list(ir.consts) + [a, scale],
                     dict(call=call, jvp=rule, num_consts=len(ir.consts)))
    return p


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    a = _matrix_stack(a)
    if rcond is None:
        rcond = (1e-15 if rtol is np._NoValue else
                 max(_shape(a)[-2:]) * np.finfo(_dt(a)).eps if rtol is None else rtol)
    elif rtol is not np._NoValue:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    m, n = _shape(a)[-2:]
    if m == 0 or n == 0:
        return lax.broadcast_to(np.zeros((), _dt(a)), _shape(a)[:-2] + (n, m))
    rcond = lax.broadcast_to(lax.convert(_arr(rcond), _dt(a)), _shape(a)[:-2])
    return _svd_inverse(a, rcond, bool(hermitian), False)


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """x minimizing |b - a x| with the smallest norm, from a's SVD (NumPy: LAPACK's
    gelsd, equal to rounding). Residuals have shape (k,) whenever m > n: their shape
    cannot depend on the rank, which NumPy's does (empty when rank < n)."""
    a, b = _arr(a), _arr(b)
    if lax.ndim(a) != 2 or lax.ndim(b) not in (1, 2):
        raise np.linalg.LinAlgError(f"{max(lax.ndim(a), lax.ndim(b))}-dimensional array "
                                    "given. Array must be two-dimensional")
    dt = _lapack_dtype(a, b)
    a, b = lax.convert(a, dt), lax.convert(b, dt)
    vector = lax.ndim(b) == 1
    if vector:
        b = lax.reshape(b, (_shape(b)[0], 1))
    m, n = _shape(a)
    if _shape(b)[0] != m:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    if rcond is None:  # NumPy's: the eps of double, in which it computes float32 too
        rcond = np.finfo(np.float64).eps * max(n, m)
    k = _shape(b)[1]
    if min(m, n) == 0:
        x = lax.broadcast_to(np.zeros((), dt), (n, k))
        s = lax.broadcast_to(np.zeros((), dt), (0,))
        rank = np.asarray(0, np.int32)
    else:
        # x = pinv(a) b: the pseudo-inverse's derivative rule (the SVD's is NaN at
        # repeated singular values, where x is smooth)
        x = matmul(_svd_inverse(a, np.asarray(rcond, dt), False, False), b)
        s = lax.svd(a, compute_uv=False)[0]
        first = lax.reshape(_take_range(s, 0, 0, 1), ())
        big = lax.gt(s, lax.mul(first, np.asarray(rcond, dt)))
        rank = lax.reduce_sum(lax.convert(big, np.int32), (0,))
    if m > n:
        resid = lax.reduce_sum(lax.integer_pow(lax.sub(b, matmul(a, x)), 2), (0,))
    else:
        resid = lax.broadcast_to(np.zeros((), dt), (0,))
    if vector:
        x = lax.reshape(x, (n,))
    return x, resid, rank, s


@implements(np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if rtol is not None and tol is not None:
        raise ValueError("`tol` and `rtol` can't be both set.")
    A = _arr(A)
    if lax.ndim(A) < 2:
        nonzero = lax.convert(lax.ne(A, 0), np.int64)  # NumPy: int(not all(A == 0))
        return lax.reduce_max(nonzero, tuple(range(lax.ndim(A)))) if lax.ndim(A) else nonzero
    s = svd(A, compute_uv=False, hermitian=hermitian)
    if tol is None:
        rtol = max(_shape(A)[-2:]) * np.finfo(_dt(s)).eps if rtol is None else rtol
        rtol = lax.convert(_arr(rtol), _dt(s))
        tol = lax.mul(_largest(s), lax.reshape(rtol, _shape(rtol) + (1,)))
    else:
        tol = lax.convert(_arr(tol), _dt(s))
        tol = lax.reshape(tol, _shape(tol) + (1,))
    big = lax.gt(s, lax.broadcast_to(tol, lax.broadcast_shapes(_shape(tol), _shape(s))))
    return lax.reduce_sum(lax.convert(big, np.int64), (lax.ndim(s) - 1,))


@implements(np.linalg.cond)
def cond(x, p=None):
    x = _matrix_stack(x)
    if 0 in _shape(x)[-2:]:
        raise np.linalg.LinAlgError("cond is not defined on empty arrays")
    if p is None or p in (2, -2):
        s = lax.svd(x, compute_uv=False)[0]
        first, last = (_take_range(s, lax.ndim(s) - 1, i, i + 1) for i in (0, _shape(s)[-1] - 1))
        r = lax.reshape(lax.div(last, first) if p == -2 else lax.div(first, last),
                        _shape(s)[:-1])
    else:
        _square_stack(x)
        # the inverse from the SVD: inf and NaN entries at a singular matrix, no error
        # (NumPy's inverse ignores LAPACK's), equal to the LU inverse to rounding
        inv_x = _svd_inverse(x, np.zeros(_shape(x)[:-2], _dt(x)), False, True)
        r = lax.mul(norm(x, p, axis=(-2, -1)), norm(inv_x, p, axis=(-2, -1)))
    # as NumPy: NaN becomes inf, unless the matrix holds a NaN itself
    nd = lax.ndim(x)
    held = lax.gt(lax.reduce_sum(lax.convert(lax.ne(x, x), np.int64), (nd - 2, nd - 1)), 0)
    inf = lax.broadcast_to(np.asarray(np.inf, _dt(r)), _shape(r))
    return lax.select(held, r, lax.select(lax.ne(r, r), inf, r))


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    """NumPy's sequence of products (binary powers), so results agree to the bit."""
    a = _arr(a)
    if lax.ndim(a) < 2 or _shape(a)[-1] != _shape(a)[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    try:
        n = operator.index(n)
    except ConcretizationError:
        raise
    except TypeError:
        raise TypeError("exponent must be an integer") from None
    if n == 0:
        eye = np.eye(_shape(a)[-1], dtype=_dt(a))
        return lax.broadcast_to(eye, _shape(a))
    if n < 0:
        a, n = inv(a), -n
    if n <= 3:
        out = a
        for _ in range(n - 1):
            out = matmul(out, a)
        return out
    z = result = None
    while n > 0:
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    """NumPy's order of products: the cheapest by the operands' (static) shapes."""
    if out is not None:
        raise unsupported("numpy.linalg.multi_dot with out=")
    arrays = [_arr(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    if len(arrays) == 2:
        return dot(arrays[0], arrays[1])
    first, last = lax.ndim(arrays[0]), lax.ndim(arrays[-1])
    if first == 1:
        arrays[0] = lax.reshape(arrays[0], (1, _shape(arrays[0])[0]))
    if last == 1:
        arrays[-1] = lax.reshape(arrays[-1], (_shape(arrays[-1])[0], 1))
    for x in arrays:
        if lax.ndim(x) != 2:
            raise np.linalg.LinAlgError(f"{lax.ndim(x)}-dimensional array given. Array must "
                                        "be two-dimensional")
    dims = [_shape(x)[0] for x in arrays] + [_shape(arrays[-1])[1]]
    count = len(arrays)
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):  # NumPy's dynamic programme, its tie-breaking too
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return arrays[i]
        k = split[i][j]
        return dot(product(i, k), product(k + 1, j))

    res = product(0, count - 1)
    if first == 1 and last == 1:
        return lax.reshape(res, ())
    if first == 1 or last == 1:
        return lax.reshape(res, (_shape(res)[1],) if first == 1 else (_shape(res)[0],))
    return res
