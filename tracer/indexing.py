"""x[key] on traced arrays, with NumPy's basic and advanced indexing semantics.

The key is lowered in three steps:
  1. every `None` becomes a size-1 axis of `x` (indexed by `:`), which is how
     NumPy places new axes, including among advanced indices;
  2. slices (negative steps through `rev`) and, when no array index is present,
     integers are applied with one `slice` and one `reshape`;
  3. integer arrays (NumPy or traced, and integers when arrays are present) are
     broadcast together and applied with one `gather`: several indexed axes are
     merged into one, indexed by the row-major flat index.

Concrete indices are bounds-checked as NumPy does. Traced indices cannot be
checked: negative ones are wrapped, the rest clamped into range (the `gather`
convention). Boolean masks give a value-dependent shape and are refused, except
concrete NumPy masks, which are their `nonzero()`.
"""
from __future__ import annotations

import math

import numpy as np

from . import lax
from .trace import ConcretizationError, Tracer, user_source, where


def _bool_mask_error(what):
    return IndexError(
        f"boolean mask indexing with {what} is not supported on traced arrays: the result "
        "shape would depend on the mask's values. Use np.where(mask, x, 0) (or another "
        "fill value) to keep the shape, or a reduction such as np.sum(np.where(mask, x, 0))."
    )


class _MaskAxis(np.ndarray):
    """The indices one axis of a concrete boolean mask selects (`np.nonzero`), with
    the mask's length along that axis (`mask_len`): NumPy requires it to equal the
    indexed axis's length, or a short mask would silently select a prefix."""


def _mask_axes(mask):
    parts = []
    for n, length in zip(np.nonzero(mask), mask.shape):
        part = np.asarray(n, np.int64).view(_MaskAxis)
        part.mask_len = length
        parts.append(part)
    return parts


def _index_items(key):
    """The key as a list of None / Ellipsis / slice / int / int ndarray / int Tracer."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            items.append(k)
        elif isinstance(k, Tracer):
            if k.dtype == np.bool_:
                raise _bool_mask_error(f"a traced mask {k.aval}")
            if k.dtype.kind not in "iu":
                raise IndexError(
                    f"arrays used as indices must be of integer type, got a traced {k.aval}")
            items.append(k)
        elif isinstance(k, (bool, np.bool_)):
            raise IndexError(
                f"indexing a traced array with the bool {k!r} is not supported (NumPy reads "
                "x[True] as x[None] and x[False] as x[None][:0]: write those)")
        elif isinstance(k, (int, np.integer)):
            items.append(int(k))
        else:
            arr = np.asarray(k)
            if arr.dtype == np.bool_:
                if arr.ndim == 0:
                    raise _bool_mask_error("a 0-d boolean array")
                items.extend(_mask_axes(arr))
            elif arr.dtype.kind in "iu":
                items.append(int(arr) if arr.ndim == 0 else arr.astype(np.int64))
            elif arr.size == 0 and not isinstance(k, np.ndarray):  # x[[]]: NumPy's too
                items.append(arr.astype(np.int64))
            else:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) "
                    f"and integer or boolean arrays are valid indices, not {type(k).__name__}")
    return items


def _expand_ellipsis(items, nd):
    n_ell = sum(1 for k in items if k is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for k in items if k is not None and k is not Ellipsis)
    if consumed > nd:
        raise IndexError(
            f"too many indices for array: array is {nd}-dimensional, but {consumed} were indexed")
    fill = [slice(None)] * (nd - consumed)
    if n_ell:
        i = next(k for k, it in enumerate(items) if it is Ellipsis)  # not .index: arrays
        return items[:i] + fill + items[i + 1:]
    return items + fill


def _static_slice(s, d):
    """(reverse?, start, limit, stride) for slice `s` of an axis of length d."""
    for part in (s.start, s.stop, s.step):
        if isinstance(part, Tracer) and part.val is None:
            raise ConcretizationError(
                f"a slice bound is a traced array {part.aval}: slice bounds fix the result's "
                "shape, so they must be known while tracing abstractly (pb.jit, pb.vmap, "
                "pb.make_ir)."
                f"{where(user_source(2))}\n"
                "Mark the argument static (static_argnums=...), or index with an array: "
                "x[i + np.arange(n)] reads n elements starting at a traced i."
            )
    start, stop, step = s.indices(d)
    n = len(range(start, stop, step))
    if n == 0:
        return False, 0, 0, 1
    if step > 0:
        return False, start, start + (n - 1) * step + 1, step
    rstart = d - 1 - start
    return True, rstart, rstart + (n - 1) * (-step) + 1, -step


def _check_bounds(idx, d, axis):
    bad = idx[(idx < -d) | (idx >= d)]
    if bad.size:
        raise IndexError(f"index {int(bad.flat[0])} is out of bounds for axis {axis} with size {d}")
    return np.where(idx < 0, idx + d, idx)


def getitem(x, key):
    nd = x.ndim
    items = _expand_ellipsis(_index_items(key), nd)

    # 1. None -> a size-1 axis indexed by ':'
    shp, entries, ax = [], [], 0
    for it in items:
        if it is None:
            shp.append(1)
            entries.append(slice(None))
        else:
            shp.append(x.shape[ax])
            entries.append(it)
            ax += 1
    orig_axis = []  # for messages: each entry's axis in the user's array (None: new)
    ax = 0
    for it in items:
        orig_axis.append(None if it is None else ax)
        ax += it is not None
    for i, e in enumerate(entries):
        if isinstance(e, _MaskAxis):
            if e.mask_len != shp[i]:
                raise IndexError(
                    f"boolean index did not match indexed array along axis {orig_axis[i]}; "
                    f"size of axis is {shp[i]} but size of corresponding boolean axis is "
                    f"{e.mask_len}")
            entries[i] = e.view(np.ndarray)
    x = lax.reshape(x, shp)

    has_array = any(isinstance(e, (Tracer, np.ndarray)) for e in entries)
    if has_array:  # integers join the advanced indices
        entries = [np.asarray(e, np.int64) if isinstance(e, int) else e for e in entries]

    # 2. slices and (basic) integers
    starts, limits, strides, revs, squeeze = [], [], [], [], []
    for i, (e, d) in enumerate(zip(entries, shp)):
        if isinstance(e, slice):
            r, lo, hi, st = _static_slice(e, d)
            if r:
                revs.append(i)
        elif isinstance(e, int):
            if not -d <= e < d:
                raise IndexError(
                    f"index {e} is out of bounds for axis {orig_axis[i]} with size {d}")
            lo, hi, st = e % d, e % d + 1, 1
            squeeze.append(i)
        else:
            lo, hi, st = 0, d, 1
        starts.append(lo)
        limits.append(hi)
        strides.append(st)
    x = lax.rev(x, revs)
    x = lax.slice(x, starts, limits, strides)
    if squeeze:
        x = lax.reshape(x, [d for i, d in enumerate(lax.shape(x)) if i not in squeeze])
    if not has_array:
        return x

    # 3. advanced indices
    adv = [i for i, e in enumerate(entries) if isinstance(e, (Tracer, np.ndarray))]
    try:
        bshape = lax.broadcast_shapes(*[tuple(lax.shape(entries[i])) for i in adv])
    except ValueError:
        raise IndexError(
            "shape mismatch: indexing arrays could not be broadcast together with shapes "
            + " ".join(str(tuple(lax.shape(entries[i]))) for i in adv)) from None
    xshape = tuple(lax.shape(x))
    idxs = []
    for i in adv:
        e, d = entries[i], xshape[i]
        if d == 0 and math.prod(bshape) != 0:
            raise IndexError(
                f"index is out of bounds for axis {orig_axis[i]} with size 0")
        if isinstance(e, Tracer):
            e = lax.convert(e, np.int64)
            e = lax.select(lax.lt(e, 0), lax.add(e, d), e)
            if len(adv) > 1:  # the merged axis must not mix up components
                e = lax.max(lax.min(e, d - 1), 0)
        else:
            e = _check_bounds(e, d, orig_axis[i])
        idxs.append(e)
    if math.prod(bshape) == 0 or 0 in xshape:
        # nothing is read: the result is empty; build it without a gather
        out = _adv_out_shape(xshape, adv, bshape)
        return lax.full(out, 0, x.dtype)
    if len(adv) == 1:
        return lax.gather(x, idxs[0], adv[0])

    adjacent = adv == list(range(adv[0], adv[-1] + 1))
    if adjacent:
        p = adv[0]
    else:  # NumPy puts the broadcast index dims first
        x = lax.transpose(x, adv + [i for i in range(len(xshape)) if i not in adv])
        p = 0
    cur = tuple(lax.shape(x))
    k = len(adv)
    dims = cur[p:p + k]
    x = lax.reshape(x, cur[:p] + (math.prod(dims),) + cur[p + k:])
    strides = [math.prod(dims[j + 1:]) for j in range(k)]
    if not any(isinstance(e, Tracer) for e in idxs):
        flat = sum(np.broadcast_to(e, bshape) * s for e, s in zip(idxs, strides))
        flat = np.ascontiguousarray(flat, dtype=np.int64)
    else:
        flat = None
        for e, s in zip(idxs, strides):
            term = lax.mul(e, s) if s != 1 else e
            flat = term if flat is None else lax.add(flat, term)
        flat = lax.broadcast_to(flat, bshape)
    return lax.gather(x, flat, p)


def _adv_out_shape(xshape, adv, bshape):
    adjacent = adv == list(range(adv[0], adv[-1] + 1))
    rest = [d for i, d in enumerate(xshape) if i not in adv]
    if adjacent:
        p = adv[0]
        return tuple(rest[:p]) + bshape + tuple(rest[p:])
    return bshape + tuple(rest)
