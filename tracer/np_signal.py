"""1-d numerics on sampled data: diff/ediff1d, searchsorted, interp,
convolve/correlate, trapezoid, digitize, polyval/vander, gradient, unwrap.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir.control_flow import scan_p
from ..ir.core import IR, ShapedArray
from . import lax
from .np_elementwise import (absolute, add, multiply, negative, remainder, subtract,
                             true_divide)
from .np_reductions import sum_
from .np_shape import concatenate, ravel, take
from .numpy_api import _arr, _dt, _norm, _norm_axis, _shape, _take_range, implements, unsupported
from .trace import strengthen
from .trace import trace as trace_ir


def _neighbours(a, ax):
    """a[1:] and a[:-1] along axis `ax` (both empty for an empty axis)."""
    d = _shape(a)[ax]
    return _take_range(a, ax, 1, d), _take_range(a, ax, 0, max(d - 1, 0))


@implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    a = ravel(ary)
    if _dt(a) == np.bool_:
        raise TypeError("numpy boolean subtract, the `-` operator, is not supported, use the "
                        "bitwise_xor, the `^` operator, or the logical_xor function instead.")
    parts = [] if to_begin is None else [ravel(to_begin)]
    parts.append(lax.sub(*_neighbours(a, 0)))
    if to_end is not None:
        parts.append(ravel(to_end))
    if len(parts) == 1:
        return parts[0]
    dt = _dt(parts[1 if to_begin is not None else 0])
    for name, extra in (("to_begin", to_begin), ("to_end", to_end)):
        if extra is not None and not np.can_cast(_dt(_arr(extra)), dt, casting="same_kind"):
            raise TypeError(f"dtype of `{name}` must be compatible with input `ary` under "
                            "the `same_kind` rule.")
    return concatenate([lax.convert(p, dt) for p in parts])


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    a = _arr(a)
    ax = _norm_axis(axis, lax.ndim(a))

    def edge(extra):
        """prepend=/append= as a slab along `ax` (a scalar is broadcast to one)."""
        e = _arr(extra)
        if lax.ndim(e) == 0:
            shp = list(_shape(a))
            shp[ax] = 1
            e = lax.broadcast_to(e, shp)
        return e

    parts = [] if prepend is np._NoValue else [edge(prepend)]
    parts.append(a)
    if append is not np._NoValue:
        parts.append(edge(append))
    a = concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(n):
        hi, lo = _neighbours(a, ax)
        a = lax.ne(hi, lo) if _dt(a).kind == "b" else lax.sub(hi, lo)
    return a


# Up to this many sorted elements a query counts the elements before it (one compare
# each, a loop LLVM vectorizes); beyond, it searches in log2(n) halving steps, each a
# pass over all queries (measured with 10^6 queries: at 100 elements the count took
# 19 ms and the search 93, at 1000 both 122, at 3000 345 against 140).
SEARCH_COUNT_MAX = 1024


def _sorts_before(x, v, side, floats):
    """Does sorted element x go before query v (NumPy's order: NaN last)?"""
    before = lax.lt(x, v) if side == "left" else lax.le(x, v)
    if floats:
        v_nan = lax.ne(v, v)
        if side == "left":
            return lax.bitwise_or(before, lax.bitwise_and(lax.eq(x, x), v_nan))
        return lax.bitwise_or(before, v_nan)
    return before


@implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    """For sorted `a`, the insertion index: the count of elements that sort before `v`.
    Short `a`: that count, one compare per pair. Longer: a binary search of
    bit_length(n) halving steps on every query at once, a scan whose carry is each
    query's [lo, hi) (the count over all pairs was O(len(a) * v.size): 16 s for 10^5
    sorted values and 10^6 queries)."""
    if sorter is not None:
        raise unsupported("numpy.searchsorted with sorter=")
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    a, v = _arr(a), _arr(v)
    if lax.ndim(a) != 1:
        raise ValueError("object too deep for desired array")
    n = _shape(a)[0]
    floats = lax.result_dtype(a, v).kind == "f"
    if n == 0:
        return lax.full(_shape(v), 0, np.int64)
    if n <= SEARCH_COUNT_MAX:
        before = _sorts_before(a, lax.expand_dims(v, (lax.ndim(v),)), side, floats)
        return lax.reduce_sum(lax.convert(before, np.int64), (lax.ndim(v),))

    def halve(lo, hi):
        mid = lax.div(lax.add(lo, hi), 2)
        right = _sorts_before(take(a, lax.min(mid, n - 1)), v, side, floats)
        open_ = lax.lt(lo, hi)
        return [lax.select(lax.bitwise_and(open_, right), lax.add(mid, 1), lo),
                lax.select(lax.bitwise_and(open_, lax.logical_not(right)), mid, hi)]

    bounds = ShapedArray(_shape(v), np.dtype(np.int64))
    ir = trace_ir(halve, [bounds, bounds])
    body = IR([], [], ir.constvars + ir.invars, ir.eqns, ir.outvars)
    lo, _ = scan_p.bind(*ir.consts, lax.full(_shape(v), 0, np.int64),
                        lax.full(_shape(v), n, np.int64), body=body, length=n.bit_length(),
                        reverse=False, num_consts=len(ir.consts), num_carry=2)
    return lo


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
        # a zero-width interval (a repeated knot) is only ever clamped to, where the
        # value is left's or right's: divided by 1, so no inf reaches the derivative
        dx = lax.sub(x1, x0)
        dx = lax.select(lax.eq(dx, 0.0), lax.full(_shape(dx), 1.0, np.float64), dx)
        slope = lax.div(lax.sub(f1, f0), dx)
        inside = lax.add(lax.mul(slope, lax.sub(x, x0)), f0)
        # NumPy's fallbacks where that is NaN (an inf in fp: inf * 0): f0 at x == x0,
        # else from the right end, else f0 if both ends are equal (selected only
        # there, so the derivative at a knot stays the slope, as in JAX)
        from_right = lax.add(lax.mul(slope, lax.sub(x, x1)), f1)
        from_right = lax.select(lax.bitwise_and(lax.ne(from_right, from_right), lax.eq(f0, f1)),
                                f0, from_right)
        fallback = lax.select(lax.eq(x, x0), f0, from_right)
        inside = lax.select(lax.ne(inside, inside), fallback, inside)
        inside = lax.select(lax.ne(x, x), x, inside)  # a NaN x stays NaN
        # fp[-1] at x == xp[-1] exactly, with the last interval's slope as derivative
        # (JAX's); where that slope is not finite, fp[-1] alone
        beyond = lax.sub(x, last)  # 0 (but inf - inf at an infinite last knot: 0 there)
        beyond = lax.select(lax.ne(beyond, beyond), lax.full(_shape(x), 0, _dt(x)), beyond)
        at_last = lax.add(lax.broadcast_to(f_last, _shape(x)), lax.mul(slope, beyond))
        at_last = lax.select(lax.is_finite(slope), at_last, lax.broadcast_to(f_last, _shape(x)))
        inside = lax.select(lax.eq(x, last), at_last, inside)
    lo = f_first if left is None else lax.convert(_arr(left), np.float64)
    hi = f_last if right is None else lax.convert(_arr(right), np.float64)
    out = lax.select(lax.lt(x, first), lax.broadcast_to(lo, _shape(x)), inside)
    return lax.select(lax.gt(x, last), lax.broadcast_to(hi, _shape(x)), out)


def _full_convolution(a, v):
    """out[k] = sum_i a[k - i] v[i] over the i where a[k - i] exists: a gather of the
    shifted windows of `a`, the products outside it left out (not multiplied by a
    padding zero: 0 * inf would be NaN where NumPy's sum has no such term)."""
    n, m = _shape(a)[0], _shape(v)[0]
    shape = (n + m - 1, m)
    # the window positions by iota, not a NumPy constant: an (n + m - 1, m) table of
    # indices was a constant of the IR (3.6 GB in the disk cache for 200000 by 2000);
    # computed, they fuse into the loop that gathers
    windows = lax.sub(lax.add(lax.iota(np.int64, shape, 0), lax.iota(np.int64, shape, 1)), m - 1)
    inside = lax.bitwise_and(lax.ge(windows, 0), lax.lt(windows, n))
    prods = multiply(lax.gather(a, lax.min(lax.max(windows, 0), n - 1), 0),
                     lax.broadcast_to(lax.rev(v, (0,)), shape))
    zero = lax.full(shape, 0, _dt(prods))
    # summed in the products' dtype: NumPy's bool loop is an or of ands
    return sum_(lax.select(inside, prods, zero), axis=1, dtype=_dt(prods))


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


def _vector_pair(a, v, scalars_as_vectors):
    """convolve/correlate's two 1-d operands and their lengths (convolve reads 0-d
    operands as 1-element vectors, as NumPy's)."""
    a, v = _arr(a), _arr(v)
    if scalars_as_vectors:
        a, v = (lax.reshape(x, (1,)) if lax.ndim(x) == 0 else x for x in (a, v))
    if lax.ndim(a) > 1 or lax.ndim(v) > 1:
        raise ValueError("object too deep for desired array")
    if lax.ndim(a) < 1 or lax.ndim(v) < 1:
        raise ValueError("object of too small depth for desired array")
    return a, v, _shape(a)[0], _shape(v)[0]


@implements(np.convolve)
def convolve(a, v, mode="full"):
    a, v, n, m = _vector_pair(a, v, True)
    if n == 0 or m == 0:
        raise ValueError("v cannot be empty" if m == 0 else "a cannot be empty")
    dt = lax.result_dtype(a, v)
    a, v = lax.convert(a, dt), lax.convert(v, dt)
    return _mode_slice(_full_convolution(a, v), n, m, mode)


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    a, v, n, m = _vector_pair(a, v, False)
    if n == 0 or m == 0:
        raise ValueError(f"{'first' if n == 0 else 'second'} array argument cannot be empty")
    dt = lax.result_dtype(a, v)
    a, v = lax.convert(a, dt), lax.convert(v, dt)
    if m > n:  # NumPy swaps the operands and reverses the result
        return lax.rev(_mode_slice(_full_convolution(v, lax.rev(a, (0,))), m, n, mode), (0,))
    return _mode_slice(_full_convolution(a, lax.rev(v, (0,))), n, m, mode)


def _along(v, ax, nd):
    """A 1-d value shaped to broadcast along axis `ax` of an nd-array."""
    shp = [1] * nd
    shp[ax] = _shape(v)[0]
    return lax.reshape(v, shp)


@implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _arr(y)
    ax = _norm_axis(axis, lax.ndim(y))
    if x is None:
        d = dx
    else:
        x = _arr(x)
        if lax.ndim(x) == 1:
            d = _along(diff(x), ax, lax.ndim(y))
        else:
            d = diff(x, axis=ax)
    pair_sum = add(*_neighbours(y, ax))
    return sum_(true_divide(multiply(d, pair_sum), 2.0), axis=ax)


@implements(np.digitize)
def digitize(x, bins, right=False):
    """searchsorted of x in increasing bins (counted from the end for decreasing ones):
    NumPy's indices. Bins known while tracing are checked for monotonicity as NumPy
    checks them; traced bins choose the direction by their first and last values."""
    x, bins = _arr(x), _arr(bins)
    if lax.ndim(bins) != 1:
        raise ValueError("object too deep for desired array")
    if _dt(x).kind == "c" or _dt(bins).kind == "c":
        raise TypeError("x may not be complex")
    side = "left" if right else "right"
    n = _shape(bins)[0]
    up = searchsorted(bins, x, side=side)
    down = lax.sub(n, searchsorted(lax.rev(bins, (0,)), x, side=side))
    if not lax.is_traced(bins):
        b = np.asarray(bins)
        d = np.diff(b)
        if np.all(d >= 0):
            return up
        if np.all(d <= 0):
            return down
        raise ValueError("bins must be monotonically increasing or decreasing")
    if n == 0:
        return up
    return lax.select(lax.le(take(bins, 0), take(bins, n - 1)), up, down)


@implements(np.polyval)
def polyval(p, x):
    """Horner's rule from the highest coefficient, as NumPy evaluates it."""
    # x a full array as NumPy's asanyarray makes it (a Python float argument is float64
    # against float32 coefficients, not a weak scalar)
    p, x = _arr(p), strengthen(_arr(x))
    if lax.ndim(p) != 1:
        raise unsupported("numpy.polyval of a coefficient array that is not 1-d")
    y = lax.broadcast_to(np.zeros((), lax.result_dtype(p, x)), _shape(x))
    for k in range(_shape(p)[0]):
        y = add(multiply(y, x), take(p, k))
    return y


@implements(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """NumPy's least-squares fit: the Vandermonde columns scaled to unit norm, solved by
    lstsq (here from the SVD; NumPy's gelsd agrees to rounding), the coefficients scaled
    back. NumPy's RankWarning depends on the values and is not raised; with full=True
    the residuals have lstsq's shape (see np.linalg.lstsq)."""
    from .np_linalg import inv, lstsq, matmul

    order = int(deg) + 1
    x, y = add(_arr(x), 0.0), add(_arr(y), 0.0)
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if lax.ndim(x) != 1:
        raise TypeError("expected 1D vector for x")
    if _shape(x)[0] == 0:
        raise TypeError("expected non-empty vector for x")
    if lax.ndim(y) not in (1, 2):
        raise TypeError("expected 1D or 2D array for y")
    if _shape(x)[0] != _shape(y)[0]:
        raise TypeError("expected x and y to have same length")
    if rcond is None:
        rcond = _shape(x)[0] * np.finfo(_dt(x)).eps
    lhs, rhs = vander(x, order), y
    if w is not None:
        w = add(_arr(w), 0.0)
        if lax.ndim(w) != 1:
            raise TypeError("expected a 1-d array for weights")
        if _shape(w)[0] != _shape(y)[0]:
            raise TypeError("expected w and y to have the same length")
        column = lax.reshape(w, (_shape(w)[0], 1))
        lhs = multiply(lhs, column)
        rhs = multiply(rhs, column if lax.ndim(rhs) == 2 else w)
    scale = lax.sqrt(sum_(multiply(lhs, lhs), axis=0))
    lhs = true_divide(lhs, scale)
    c, resids, rank, s = lstsq(lhs, rhs, rcond)
    c = lax.matrix_t(true_divide(lax.matrix_t(c), scale)) if lax.ndim(c) == 2 else \
        true_divide(c, scale)
    if full:
        return c, resids, rank, s, rcond
    if not cov:
        return c
    base = true_divide(inv(matmul(lax.matrix_t(lhs), lhs)),
                       multiply(lax.reshape(scale, (order, 1)), scale))
    if cov == "unscaled":
        fac = 1.0
    else:
        if _shape(x)[0] <= order:
            raise ValueError("the number of data points must exceed order "
                             "to scale the covariance matrix")
        fac = true_divide(resids, _shape(x)[0] - order)
    if lax.ndim(y) == 1:
        return c, multiply(base, fac)
    return c, multiply(lax.reshape(base, (order, order, 1)), fac)


@implements(np.vander)
def vander(x, N=None, increasing=False):
    """Columns x^0, x^1, ... (reversed unless increasing), each power the product of the
    one before it and x, as NumPy's multiply.accumulate makes them."""
    x = _arr(x)
    if lax.ndim(x) != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = _shape(x)[0] if N is None else int(N)
    if n < 0:
        raise ValueError("negative dimensions are not allowed")
    dt = np.promote_types(_dt(x), np.int64)
    x = lax.convert(x, dt)
    cols = []
    for k in range(n):
        if k == 0:
            cols.append(lax.broadcast_to(np.ones((), dt), _shape(x)))
        else:
            cols.append(x if k == 1 else lax.mul(cols[-1], x))
    if not increasing:
        cols.reverse()
    if not cols:
        return lax.broadcast_to(np.zeros((), dt), (_shape(x)[0], 0))
    return lax.concatenate([lax.reshape(c, (_shape(x)[0], 1)) for c in cols], 1)


def _gradient_along(f, ax, dx, edge_order):
    """np.gradient of f along one axis, for a scalar spacing dx (a 0-d value) or
    1-d steps dx between the coordinates: NumPy's formulas and operation order
    (second-order interior, first- or second-order one-sided edges)."""
    nd = lax.ndim(f)
    n = _shape(f)[ax]

    def at(i, j):  # f[..., i:j, ...]
        return _take_range(f, ax, i % n if i < 0 else i, n + j if j <= 0 else j)

    uniform = lax.ndim(dx) == 0
    if type(dx) in (int, float):  # Python arithmetic, as NumPy's: a weak scalar stays weak
        mul, div = (lambda a, b: a * b), (lambda a, b: a / b)
    else:
        mul, div = multiply, true_divide
    if uniform:
        inner = true_divide(subtract(at(2, 0), at(0, -2)), mul(2.0, dx))
    else:
        d2, d1 = _neighbours(dx, 0)  # dx[1:], dx[:-1]
        a = true_divide(negative(d2), multiply(d1, add(d1, d2)))
        b = true_divide(subtract(d2, d1), multiply(d1, d2))
        c = true_divide(d1, multiply(d2, add(d1, d2)))
        inner = add(add(multiply(_along(a, ax, nd), at(0, -2)),
                        multiply(_along(b, ax, nd), at(1, -1))),
                    multiply(_along(c, ax, nd), at(2, 0)))
    m = 0 if uniform else _shape(dx)[0]
    if edge_order == 1:
        first = true_divide(subtract(at(1, 2), at(0, 1)), dx if uniform else take(dx, 0))
        last = true_divide(subtract(at(-1, 0), at(-2, -1)), dx if uniform else take(dx, m - 1))
        return first, inner, last
    if uniform:
        a, b, c = (div(k, dx) for k in (-1.5, 2.0, -0.5))
    else:
        d1, d2 = take(dx, 0), take(dx, 1)
        s = add(d1, d2)
        a = true_divide(negative(add(multiply(2.0, d1), d2)), multiply(d1, s))
        b = true_divide(s, multiply(d1, d2))
        c = true_divide(negative(d1), multiply(d2, s))
    first = add(add(multiply(a, at(0, 1)), multiply(b, at(1, 2))), multiply(c, at(2, 3)))
    if uniform:
        a, b, c = (div(k, dx) for k in (0.5, -2.0, 1.5))
    else:
        d1, d2 = take(dx, m - 2), take(dx, m - 1)
        s = add(d1, d2)
        a = true_divide(d2, multiply(d1, s))
        b = true_divide(negative(add(d2, d1)), multiply(d1, d2))
        c = true_divide(add(multiply(2.0, d2), d1), multiply(d2, s))
    last = add(add(multiply(a, at(-3, -2)), multiply(b, at(-2, -1))), multiply(c, at(-1, 0)))
    return first, inner, last


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """NumPy's np.gradient: central differences inside, one-sided at the edges, with
    scalar spacings or coordinate arrays per axis. NumPy reduces coordinates with
    constant steps to the scalar formula; traced coordinates choose between the two
    results by their values (a select), so the values stay NumPy's."""
    f = _arr(f)
    nd = lax.ndim(f)
    axes = tuple(range(nd)) if axis is None else tuple(
        _norm_axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ValueError("repeated axis")
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and lax.ndim(_arr(varargs[0])) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    otype = _dt(f) if _dt(f).kind in "fc" else np.dtype(np.float64)
    if _dt(f).kind in "iu":
        f = lax.convert(f, np.float64)
    outs = []
    for ax, h in zip(axes, spacings):
        if _shape(f)[ax] < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required.")
        h = _norm(h)
        if lax.ndim(h) == 0:
            parts = _gradient_along(f, ax, h, edge_order)
        else:
            h = _arr(h)
            if lax.ndim(h) != 1:
                raise ValueError("distances must be either scalars or 1d")
            if _shape(h)[0] != _shape(f)[ax]:
                raise ValueError("when 1d, distances must match "
                                 "the length of the corresponding dimension")
            if _dt(h).kind in "iub":
                h = lax.convert(h, np.float64)
            steps = diff(h)
            h0 = take(steps, 0)
            if not lax.is_traced(steps):
                constant = bool(np.all(np.asarray(steps) == np.asarray(h0)))
                parts = _gradient_along(f, ax, h0 if constant else steps, edge_order)
            else:
                constant = lax.reduce_min(lax.eq(steps, h0), (0,))
                parts = [lax.select(constant, u, v) for u, v in
                         zip(_gradient_along(f, ax, h0, edge_order),
                             _gradient_along(f, ax, steps, edge_order))]
        outs.append(lax.convert(concatenate(list(parts), axis=ax), otype))
    return outs[0] if len(outs) == 1 else tuple(outs)


@implements(np.unwrap)
def unwrap(p, discont=None, axis=-1, *, period=2 * math.pi):
    """NumPy's np.unwrap: steps larger than discont (period/2 by default) are reduced
    modulo period, and the corrections accumulate along the axis."""
    p = _arr(p)
    ax = _norm_axis(axis, lax.ndim(p))
    dd = diff(p, axis=ax)
    if discont is None:
        discont = period / 2
    dt = lax.result_dtype(dd, _norm(period))
    if dt.kind in "iu":
        high, rem = divmod(period, 2)
        ambiguous = rem == 0
    else:
        high, ambiguous = period / 2, True
    low = -high
    ddmod = add(remainder(subtract(dd, low), period), low)
    if ambiguous is not False:  # (a traced bool for a traced integer period)
        at_low = lax.bitwise_and(lax.eq(ddmod, low), lax.gt(dd, 0))
        if ambiguous is not True:
            at_low = lax.bitwise_and(at_low, ambiguous)
        ddmod = lax.select(at_low, lax.convert(_norm(high), _dt(ddmod)), ddmod)
    correct = subtract(ddmod, dd)
    correct = lax.select(lax.lt(absolute(dd), _norm(discont)),
                         lax.full((), 0, _dt(correct)), correct)
    n = _shape(p)[ax]
    rest = add(_take_range(p, ax, 1, n), lax.cumsum(correct, ax))
    return lax.convert(concatenate([_take_range(p, ax, 0, min(n, 1)), rest], axis=ax), dt)
