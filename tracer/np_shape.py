"""Shapes and layout: np.shape/ndim/size, reshape/ravel/transpose/swapaxes/moveaxis/
squeeze/expand_dims/atleast_*d, broadcast_to/broadcast_arrays, zeros_like/ones_like/
empty_like/full_like, concatenate/stack/hstack/vstack/dstack/column_stack/block,
split/array_split/hsplit/vsplit, flip/fliplr/flipud/rot90/roll/tile/repeat,
take/take_along_axis, pad, append, linspace, meshgrid.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import lax
from .numpy_api import (
    FUNCTIONS, _PY_SCALARS, _arr, _axes, _dt, _norm, _norm_axis, _shape, _take_range,
    implements, unsupported,
)
from .trace import Tracer


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
    shape = list(_int_tuple(shape))
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
    if order != "C" and not isinstance(a, Tracer):  # a constant has a memory layout
        return _arr(np.ravel(np.asarray(a), order=order))
    if order != "C":  # 'K' and 'A' follow the memory layout, which traced values lack
        raise unsupported(f"numpy.ravel with order={order!r}")
    a = _arr(a)
    return lax.reshape(a, (math.prod(_shape(a)),))


@implements(np.unravel_index)
def unravel_index(indices, shape, order="C"):
    """The coordinates of flat indices in an array of the static `shape`. As JAX's, not
    NumPy's: negative indices count from the end and out-of-range ones are clipped
    (traced indices cannot raise)."""
    dims = tuple(operator.index(d) for d in np.atleast_1d(np.asarray(shape)))
    if order not in ("C", "F"):
        raise ValueError("only 'C' or 'F' order is permitted")
    i = _arr(indices)
    if _dt(i).kind not in "iu":
        raise TypeError("only int indices permitted")
    size = math.prod(dims)
    if size == 0:
        raise ValueError("cannot unravel an index into an array of size 0")
    i = lax.convert(i, np.int64)
    i = lax.select(lax.lt(i, 0), lax.add(i, size), i)
    i = lax.min(lax.max(i, 0), size - 1)
    coords = {}
    for d in (reversed(range(len(dims))) if order == "C" else range(len(dims))):
        coords[d] = lax.rem(i, dims[d])
        i = lax.div(i, dims[d])
    return tuple(coords[d] for d in range(len(dims)))


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
    return lax.matrix_t(x)


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


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """In-place writes into a NumPy array cannot hold a traced value; np.full(shape, v)
    with a dtype reaches here."""
    from .trace import full_hint

    raise TypeError(full_hint(src.aval if isinstance(src, Tracer) else "",
                              via="np.full(shape, v) (or np.copyto)"))


@implements(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """func1d on every 1-d slice of arr along `axis`, its result's axes in place of
    `axis`: traced once and batched over the other axes with pb.vmap (NumPy calls
    it once per slice)."""
    from ..vmap import vmap  # the batching transformation sits above the tracer

    arr = _arr(arr)
    nd = lax.ndim(arr)
    ax = _norm_axis(axis, nd)
    rows = moveaxis(arr, ax, -1)
    outer = _shape(rows)[:-1]
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    rows = lax.reshape(rows, (math.prod(outer), _shape(arr)[ax]))
    res = vmap(lambda row: _arr(func1d(row, *args, **kwargs)))(rows)
    r = _shape(res)[1:]
    res = lax.reshape(res, outer + r)
    k = len(outer)
    return lax.transpose(res, list(range(ax)) + list(range(k, k + len(r))) + list(range(ax, k)))


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


def _int_tuple(dims):
    """A shape or reps argument (an int or a sequence of ints) as a tuple of ints."""
    n = _scalar_int(dims)
    return (n,) if n is not None else tuple(int(d) for d in dims)


def _scalar_int(x):
    """`x` as a Python int when it is one integer: an int, a NumPy integer, or a 0-d
    integer traced value (its value, or a ConcretizationError under pb.jit); else None."""
    if isinstance(x, (int, np.integer)):
        return operator.index(x)
    if isinstance(x, Tracer) and x.ndim == 0 and x.dtype.kind in "iub":
        return int(x._scalar_as_size())
    return None


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    shape = _int_tuple(shape)
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


def _like_shape_dtype(a, shape, dtype):
    """The shape and dtype of a *_like result: a's unless given."""
    shp = _shape(a) if shape is None else _int_tuple(shape)
    return shp, np.dtype(dtype) if dtype is not None else _dt(a)


def _like(fill):
    def impl(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        shp, dt = _like_shape_dtype(_arr(a), shape, dtype)
        return lax.full(shp, fill, dt)

    return impl


FUNCTIONS[np.zeros_like] = zeros_like = _like(0)
FUNCTIONS[np.ones_like] = ones_like = _like(1)


@implements(np.empty_like)
def empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """zeros_like: pullback's "uninitialized" memory is zeros."""
    return zeros_like(prototype, dtype, order, subok, shape, device=device)


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    shp, dt = _like_shape_dtype(_arr(a), shape, dtype)
    fill = _norm(fill_value)
    if isinstance(fill, Tracer) or (isinstance(fill, np.ndarray) and fill.ndim):
        return lax.broadcast_to(lax.convert(fill, dt), shp)
    return lax.full(shp, np.asarray(fill).item(), dt)


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
    def mismatch():
        return ValueError(
            "all the input array dimensions except for the concatenation axis must match "
            "exactly; got shapes " + ", ".join(str(_shape(b)) for b in arrays))

    if any(lax.ndim(a) != nd for a in arrays):
        raise mismatch()
    ax = _norm_axis(axis, nd)
    for a in arrays:
        if any(d != e for i, (d, e) in enumerate(zip(_shape(a), _shape(arrays[0]))) if i != ax):
            raise mismatch()
    dt = np.dtype(dtype) if dtype is not None else lax.result_dtype(*arrays)
    for a in arrays:  # NumPy's casting rule ("same_kind": no float64 into int64)
        if not np.can_cast(_dt(a), dt, casting=casting):
            raise TypeError(f"Cannot cast array data from dtype('{_dt(a)}') to dtype('{dt}') "
                            f"according to the rule '{casting}'")
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
    if isinstance(indices_or_sections, np.ndarray) and indices_or_sections.ndim == 0:
        indices_or_sections = indices_or_sections.item()  # a number of sections
    s = _scalar_int(indices_or_sections)
    if s is not None:
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
        # the shift reduced mod n first: iota - shift overflowed near the int64 minimum
        s = lax.rem(lax.convert(shift, np.int64), n)
        idx = lax.rem(lax.add(lax.sub(lax.iota(np.int64, (n,)), s), n), n)
        return lax.gather(a, idx, ax)
    s = int(shift) % n
    if s == 0:
        return a
    return lax.concatenate([_take_range(a, ax, n - s, n), _take_range(a, ax, 0, n - s)], ax)


@implements(np.roll)
def roll(a, shift, axis=None):
    a = _arr(a)
    if isinstance(shift, np.ndarray) and shift.ndim:  # NumPy's shifts as an array
        shift = shift.tolist()
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
    reps = _int_tuple(reps)
    if any(r < 0 for r in reps):
        raise ValueError("negative dimensions are not allowed")  # NumPy's words
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
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    if n == 0 and math.prod(_shape(idx)):
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


@implements(np.lib.stride_tricks.sliding_window_view)
def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """NumPy's windows as a gather per windowed axis (a read-only view there; traced
    arrays are immutable anyway): the axis becomes its n - w + 1 window starts, and
    the window's w positions go last, in the order of `axis`."""
    if writeable:
        raise unsupported("numpy.lib.stride_tricks.sliding_window_view with writeable=True",
                          "traced arrays are immutable")
    x = _arr(x)
    windows = tuple(np.atleast_1d(window_shape).tolist())
    nd = lax.ndim(x)
    if axis is None:
        if len(windows) != nd:
            raise ValueError(f"Since axis is `None`, must provide window_shape for all "
                             f"dimensions of `x`; got {len(windows)} window_shape elements "
                             f"and `x.ndim` is {nd}.")
        axes = tuple(range(nd))
    else:
        axes = tuple(_norm_axis(a, nd) for a in np.atleast_1d(axis).tolist())
        if len(windows) != len(axes):
            raise ValueError(f"Must provide matching length window_shape and axis; got "
                             f"{len(windows)} window_shape elements and {len(axes)} axes "
                             "elements.")
    if any(w < 0 for w in windows):
        raise ValueError("`window_shape` cannot contain negative values")
    out = x
    for w, ax in zip(windows, axes):
        n = _shape(out)[ax]
        if n < w:
            raise ValueError("window shape cannot be larger than input array shape")
        starts = np.arange(n - w + 1)[:, None] + np.arange(w)[None, :]
        out = moveaxis(take(out, starts, axis=ax), ax + 1, -1)
    return out


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
    else:  # NumPy's checks: the flat gather below would read a neighbouring row
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iub":
            raise IndexError("`indices` must be an integer array")
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise IndexError(f"index {idx[bad].flat[0]} is out of bounds for axis {ax} "
                             f"with size {n}")
        idx = idx.astype(np.int64)
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


_PAD_KEYWORDS = {"constant": {"constant_values"}, "edge": set(), "wrap": set(),
                 "reflect": {"reflect_type"}, "symmetric": {"reflect_type"}}


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    a = _arr(array)
    nd = lax.ndim(a)
    allowed = _PAD_KEYWORDS.get(mode)
    if allowed is not None and set(kwargs) - allowed:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': "
                         f"{set(kwargs) - allowed}")
    # (before, after) per axis as NumPy reads pad_width (one int, a pair, one pair or
    # one int per axis, a dict...), with its errors: NumPy pads a True with False and
    # the True's position and the shape say how much went before and after
    probe = np.pad(np.ones((1,) * nd, bool), pad_width)
    before = np.argwhere(probe)[0] if nd else np.zeros(0, np.int64)
    widths = np.stack([before, np.array(probe.shape) - before - 1], axis=-1).reshape(nd, 2)
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if kwargs:
            raise unsupported(f"numpy.pad with {sorted(kwargs)}")
        if np.ndim(value) != 0 and not isinstance(value, Tracer):
            vals = np.unique(np.asarray(value))
            if vals.size != 1:
                raise unsupported("numpy.pad with different constant_values per side")
            value = vals[0].item()
        if type(value) is int and _dt(a).kind in "iu":  # NumPy's OverflowError, not a wrap
            np.asarray(value, _dt(a))
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
