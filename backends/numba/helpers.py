"""Small njit helpers the generated kernels call for ops that do not fuse.

Every helper takes C-contiguous arrays reshaped by the generated code to a
canonical rank (e.g. (batch, m, k) for matmuls, (pre, n, post) for scatters) and
returns a fresh array, so the codegen never has to reason about aliasing here.
They are compiled with `cache=True`, so a new process loads them from disk, but
each kernel that calls one still re-optimizes its linked body: allocation, views,
copies and BLAS calls are therefore intrinsics (intrinsics.py), re-exported here
so that kernels call everything as `_h.<name>`.
"""
from __future__ import annotations

import numpy as np
from numba import types

from .intrinsics import njit_cached
from .intrinsics import (clamp, contiguous, copy, dot_into, empty, fill_outside, full,  # noqa: F401
                         radd, reshape, rmax, rmin, rmul, scalar, signbit, where)

_JIT = dict(nogil=True, error_model="numpy")


def _helper(fn):
    """njit(cache=True) `fn`, typed with non-literal arguments when called from a
    kernel: Numba types the constant `7` in `_h.scatter_add3(u, i, 7)` as a
    Literal[int], which would make every size a specialization of its own: a
    ~15 ms disk-cache load per size and process, or a ~130 ms compile for a size
    never seen."""
    dispatcher = njit_cached(**_JIT)(fn)
    literal_template = dispatcher.get_call_template

    def get_call_template(args, kws):
        return literal_template(tuple(types.unliteral(a) for a in args),
                                {k: types.unliteral(a) for k, a in kws.items()})

    dispatcher.get_call_template = get_call_template
    return dispatcher


@_helper
def matmul3_blas(a, b):
    """(B, M, K) @ (B, K, N) through BLAS, one np.dot per batch."""
    nb, m, k = a.shape
    n = b.shape[2]
    out = np.zeros((nb, m, n), a.dtype)
    if k == 0 or m == 0 or n == 0:
        return out
    for i in range(nb):
        np.dot(a[i], b[i], out[i])
    return out


@_helper
def matmul3_loop(a, b):
    """(B, M, K) @ (B, K, N) with loops: integers and tiny float products."""
    nb, m, k = a.shape
    n = b.shape[2]
    out = np.zeros((nb, m, n), a.dtype)
    for i in range(nb):
        for r in range(m):
            for q in range(k):
                v = a[i, r, q]
                for c in range(n):
                    out[i, r, c] += v * b[i, q, c]
    return out


@_helper
def scatter_add3(upd, idx, size):
    """out[p, clip(idx[j]), q] += upd[p, j, q]; indices clamped into [0, size)."""
    pre, k, post = upd.shape
    out = np.zeros((pre, size, post), upd.dtype)
    for p in range(pre):
        for j in range(k):
            t = min(max(idx[j], 0), size - 1)
            for q in range(post):
                out[p, t, q] += upd[p, j, q]
    return out


@_helper
def cumsum2(x, reverse):
    """Cumulative sum along the last axis of a (rows, n) array."""
    rows, n = x.shape
    out = np.empty((rows, n), x.dtype)
    # -0.0 is the additive identity (-0.0 + x == x for every x, also x = -0.0), so a
    # leading -0.0 stays -0.0 as in NumPy; for integers it is 0
    zero = -np.zeros(1, x.dtype)[0]
    for r in range(rows):
        acc = zero
        if reverse:
            for j in range(n - 1, -1, -1):
                acc += x[r, j]
                out[r, j] = acc
        else:
            for j in range(n):
                acc += x[r, j]
                out[r, j] = acc
    return out


@_helper
def argsort2(x):
    """Stable ascending order of each row of a (rows, n) array (NaNs last, as NumPy)."""
    rows, n = x.shape
    out = np.empty((rows, n), np.int64)
    for r in range(rows):
        out[r, :] = np.argsort(x[r], kind="mergesort")
    return out


@_helper
def argbest2(x, want_max):
    """Index of the first max (or min) along the last axis; the first NaN wins, as NumPy."""
    rows, n = x.shape
    out = np.empty(rows, np.int64)
    for r in range(rows):
        best = x[r, 0]
        bi = 0
        if best == best:
            for j in range(1, n):
                v = x[r, j]
                if v != v:
                    bi = j
                    break
                if (v > best) if want_max else (v < best):
                    best = v
                    bi = j
        out[r] = bi
    return out


@_helper
def identity_keep(x):
    """For each row of a 2-d array, which of its elements a product with the
    identity keeps (the others become nan, inf * 0 reaching them through the
    sum): -1 when every element is finite (all are kept), the column of the only
    inf or nan element (kept: itself plus finite zeros), or the row's length when
    there are more (none is kept)."""
    rows, n = x.shape
    out = np.empty(rows, np.int64)
    for r in range(rows):
        keep = -1
        for j in range(n):
            if not np.isfinite(x[r, j]):
                keep = j if keep < 0 else n
        out[r] = keep
    return out


# ---------------------------------------------------------------- dense linear algebra
# Numba's np.linalg (LAPACK through SciPy) per matrix of a (batch, n, n) stack. Unlike
# NumPy's, it refuses NaN and inf entries with a LinAlgError.
@_helper
def solve3(a, b):
    out = np.empty(b.shape, b.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.solve(a[i], b[i])
    return out


@_helper
def cholesky3(a):
    out = np.empty(a.shape, a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.cholesky(a[i])
    return out


@_helper
def det3(a):
    out = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        out[i] = np.linalg.det(a[i])
    return out


@_helper
def slogdet3(a):
    sign = np.empty(a.shape[0], a.dtype)
    logabsdet = np.empty(a.shape[0], a.dtype)
    for i in range(a.shape[0]):
        s, d = np.linalg.slogdet(a[i])
        sign[i] = s
        logabsdet[i] = d
    return sign, logabsdet
