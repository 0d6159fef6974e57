"""Small njit helpers the generated kernels call for ops that do not fuse.

Every helper takes C-contiguous arrays reshaped by the generated code to a
canonical rank (e.g. (batch, m, k) for matmuls, (pre, n, post) for scatters) and
returns a fresh array, so the codegen never has to reason about aliasing here.
They are compiled with `cache=True`, so a new process loads them from disk, but
a kernel that calls one links it in and re-optimizes its body: allocation, views,
copies and BLAS calls are therefore intrinsics (intrinsics.py), and the larger
helpers are called by symbol (`_h.extern(name, spec, ...)`, externs.py); both are
re-exported here so that kernels call everything as `_h.<name>`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload
from numba.np.linalg import F_INT_nptype, _LAPACK, get_blas_kind

from .externs import extern, require  # noqa: F401
from .intrinsics import njit_cached
from .intrinsics import (cbrt, clamp, contiguous, copy, dot_into, empty, fill_outside, full,  # noqa: F401
                         radd, reshape, rmax, rmin, rmul, scalar, signbit, where, wadd, wmul, wsub)

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


# ---------------------------------------------------------------- digamma and polygamma
# psi^(n)(x): the recurrence psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1) up to
# x >= 10 + n, then the asymptotic series in Bernoulli numbers (B2 .. B20); below 0 the
# reflection psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) cot^(n)(pi x). Within a few
# ulp of SciPy's except near the function's zeros, where the error is ~1e-15 absolute.
_BERNOULLI = np.array([1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730,
                       7.0 / 6, -3617.0 / 510, 43867.0 / 798, -174611.0 / 330])


@_helper
def lgamma(x):
    """log |Gamma(x)| as SciPy's gammaln: libm's lgamma, but -inf at -inf (libm: inf)."""
    return -np.inf if x == -np.inf else math.lgamma(x)


@_helper
def _cot_derivative(n, c):
    """d^n/dz^n cot(z) as a polynomial in c = cot(z): P_0 = c, P_k+1 = -(1 + c^2) P_k'."""
    coef = np.zeros(n + 2)
    coef[1] = 1.0
    for _ in range(n):
        new = np.zeros(n + 2)
        for k in range(1, n + 2):
            d = k * coef[k]  # (c^k)' = k c^(k-1), times -(1 + c^2)
            new[k - 1] -= d
            if k + 1 < n + 2:
                new[k + 1] -= d
        coef = new
    acc = coef[n + 1]  # (not 0.0: 0 * c is NaN at an infinite c)
    for k in range(n, -1, -1):
        acc = acc * c + coef[k]
    return acc


@_helper
def polygamma(n, x):
    """psi^(n)(x) in float64: digamma for n = 0, its n-th derivative otherwise."""
    if x != x:
        return x
    if x == np.inf:
        return np.inf if n == 0 else (0.0 if n % 2 else -0.0)
    if x <= 0.0 and x == np.floor(x):  # the poles and -inf, as SciPy's values there
        if n == 0:
            if x == 0.0:
                return np.inf if np.signbit(x) else -np.inf
            return np.nan
        return np.inf if n % 2 else -np.inf
    sign, reflected = 1.0, 0.0
    if x < 0.0:
        r = x - np.floor(x + 0.5)  # cot(pi x) = cot(pi r), r in [-1/2, 1/2] exactly
        # cos(pi r) as sin(pi (1/2 - |r|)), 1/2 - |r| exact: 0 at half-integers, where
        # cos of a rounded pi r (6e-17) times pi^(n+1) and the polynomial was far off
        c = np.sin(np.pi * (0.5 - abs(r))) / np.sin(np.pi * r)
        reflected = -np.pi ** (n + 1) * _cot_derivative(n, c)
        sign = -1.0 if n % 2 else 1.0
        x = 1.0 - x
    fact = 1.0
    for k in range(2, n + 1):
        fact *= k
    acc = 0.0
    while x < 10.0 + n:
        acc += 1.0 / x ** (n + 1)
        x += 1.0
    if n == 0:
        f = 1.0 / (x * x)
        tail = 0.0
        for k in range(9, -1, -1):
            tail = tail * f + _BERNOULLI[k] / (2 * (k + 1))
        value = np.log(x) - 0.5 / x - tail * f - acc
    else:
        # (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)!/(2k)! / x^(2k+n), then n! acc
        xn = x ** n
        value = fact / n / xn + fact / (2.0 * xn * x)
        ratio = fact / n  # (2k+n-1)!/(2k)!, from (n-1)!
        power = 1.0 / xn
        for k in range(1, 11):
            ratio = ratio * (2 * k + n - 2) * (2 * k + n - 1) / ((2 * k - 1) * (2 * k))
            power /= x * x
            value += _BERNOULLI[k - 1] * ratio * power
        value += fact * acc
        if n % 2 == 0:
            value = -value
    return sign * value + reflected


@_helper
def cumprod2(x, reverse):
    """Cumulative product along the last axis of a (rows, n) array (NumPy's order)."""
    rows, n = x.shape
    out = np.empty((rows, n), x.dtype)
    for r in range(rows):
        acc = x.dtype.type(1)
        for k in range(n):
            j = n - 1 - k if reverse else k
            acc = x[r, j] if k == 0 else acc * x[r, j]
            out[r, j] = acc
    return out


@_helper
def linrec2(a, b, reverse):
    """h[0] = b[0], h[j] = a[j] * h[j - 1] + b[j] along the last axis of (rows, n)
    arrays (from the end when reverse)."""
    rows, n = b.shape
    out = np.empty((rows, n), b.dtype)
    for r in range(rows):
        acc = b.dtype.type(0)
        for k in range(n):
            j = n - 1 - k if reverse else k
            acc = b[r, j] if k == 0 else a[r, j] * acc + b[r, j]
            out[r, j] = acc
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
    """Stable ascending order of each row of a (rows, n) array, NaNs last (as NumPy's
    kind="stable"): insertion-sorted runs of 16, then bottom-up merges of (value, index)
    pairs, the values moving with their indices so that no comparison reads through an
    index. Written out, not Numba's np.argsort, whose generic sort cost a kernel ~3 s of
    compilation."""
    rows, n = x.shape
    out = np.empty((rows, n), np.int64)
    idx, ibuf = np.empty(n, np.int64), np.empty(n, np.int64)
    val, vbuf = np.empty(n, x.dtype), np.empty(n, x.dtype)
    for r in range(rows):
        for i in range(n):
            idx[i] = i
            val[i] = x[r, i]
        for lo in range(0, n, 16):
            for i in range(lo + 1, min(lo + 16, n)):
                k, p = idx[i], val[i]
                j = i - 1
                while j >= lo:  # move earlier entries up while p sorts strictly before them
                    q = val[j]
                    if not (p < q or (q != q and p == p)):
                        break
                    idx[j + 1], val[j + 1] = idx[j], q
                    j -= 1
                idx[j + 1], val[j + 1] = k, p
        isrc, idst, vsrc, vdst, width = idx, ibuf, val, vbuf, 16
        while width < n:
            for lo in range(0, n, 2 * width):
                mid, hi = min(lo + width, n), min(lo + 2 * width, n)
                i, j = lo, mid
                for k in range(lo, hi):
                    take_right = j < hi
                    if take_right and i < mid:  # the right one only if strictly before
                        p, q = vsrc[j], vsrc[i]
                        take_right = p < q or (q != q and p == p)
                    if take_right:
                        idst[k], vdst[k] = isrc[j], vsrc[j]
                        j += 1
                    else:
                        idst[k], vdst[k] = isrc[i], vsrc[i]
                        i += 1
            isrc, idst, vsrc, vdst, width = idst, isrc, vdst, vsrc, 2 * width
        for i in range(n):
            out[r, i] = isrc[i]
    return out


@_helper
def _select(a, lo, hi, k):
    """Rearrange a[lo:hi] (no NaNs) so that a[k] holds the value of sorted position k,
    with nothing after it smaller and nothing before it larger: a scan for the least or
    the greatest, or else Hoare partitions around a median of three, then an insertion
    sort of the last short window; a window that has not shrunk to 16 after 2 log2(n) + 8
    partitions (adversarial input) is heap-sorted."""
    if k == lo or k == hi - 1:  # the least or the greatest: one scan
        b = k
        for i in range(lo, hi):
            if (a[i] < a[b]) if k == lo else (a[b] < a[i]):
                b = i
        a[k], a[b] = a[b], a[k]
        return
    budget, size = 8, hi - lo
    while size > 0:
        budget += 2
        size >>= 1
    while hi - lo > 16:
        if budget == 0:
            _heapsort(a, lo, hi)
            return
        budget -= 1
        mid = lo + (hi - 1 - lo) // 2
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi - 1] < a[lo]:
            a[hi - 1], a[lo] = a[lo], a[hi - 1]
        if a[hi - 1] < a[mid]:
            a[hi - 1], a[mid] = a[mid], a[hi - 1]
        p = a[mid]
        i, j = lo - 1, hi
        while True:  # a[lo:j + 1] <= p <= a[j + 1:hi] at the end, both sides non-empty
            i += 1
            while a[i] < p:
                i += 1
            j -= 1
            while p < a[j]:
                j -= 1
            if i >= j:
                break
            a[i], a[j] = a[j], a[i]
        if k <= j:
            hi = j + 1
        else:
            lo = j + 1
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and v < a[j]:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@_helper
def _heapsort(a, lo, hi):
    n = hi - lo
    for start in range(n // 2 - 1, -1, -1):
        _sift(a, lo, start, n)
    for end in range(n - 1, 0, -1):
        a[lo], a[lo + end] = a[lo + end], a[lo]
        _sift(a, lo, 0, end)


@_helper
def _sift(a, lo, root, n):
    while 2 * root + 1 < n:
        child = 2 * root + 1
        if child + 1 < n and a[lo + child] < a[lo + child + 1]:
            child += 1
        if not a[lo + root] < a[lo + child]:
            return
        a[lo + root], a[lo + child] = a[lo + child], a[lo + root]
        root = child


@_helper
def argselect2(x, ranks):
    """argsort2(x)[:, ranks] for increasing `ranks`, without sorting (O(n) a rank): the
    value at each rank by selection among the row's values that are not NaN, then its
    index as the stable order places it, the (rank - #smaller)-th index holding an equal
    value (-0.0 and 0.0 are equal, as for the sort); ranks from the count of numbers on
    are the NaNs, in index order."""
    rows, n = x.shape
    m = ranks.shape[0]
    out = np.empty((rows, m), np.int64)
    buf = np.empty(n, x.dtype)
    for r in range(rows):
        c = 0
        for i in range(n):
            v = x[r, i]
            if v == v:
                buf[c] = v
                c += 1
        lo = 0
        for j in range(m):
            k = ranks[j]
            if k >= c:
                want, v, nan = k - c, x[r, 0], True
            else:
                _select(buf, lo, c, k)
                lo = k + 1
                v, nan = buf[k], False
                want = k
                for i in range(n):
                    if x[r, i] < v:
                        want -= 1
            for i in range(n):
                w = x[r, i]
                if (w != w) if nan else (w == v):
                    if want == 0:
                        out[r, j] = i
                        break
                    want -= 1
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
def identity_keep(x, by_column):
    """For each row (each column when by_column) of a 2-d array, which of its
    elements a product with the identity keeps (the others become nan, inf * 0
    reaching them through the sum): -1 when every element is finite (all are kept),
    the position of the only inf or nan element (kept: itself plus finite zeros), or
    the line's length when there are more (none is kept)."""
    rows, n = x.shape
    if by_column:
        rows, n = n, rows
    out = np.empty(rows, np.int64)
    for r in range(rows):
        keep = -1
        for j in range(n):
            if not np.isfinite(x[j, r] if by_column else x[r, j]):
                keep = j if keep < 0 else n
        out[r] = keep
    return out


# ---------------------------------------------------------------- dense linear algebra
# The helpers that can fail report it in err[0] (an int64[1] array the kernel's entry
# passes in) and return at once; the kernel then returns at once too, and its entry
# raises LinAlgError with NumPy's message. Raising inside compiled code instead leaks
# every array the kernel holds (Numba frees nothing on that path): 0.3 MB a call of
# a 200x200 solve, in an optimizer that catches LinAlgError and tries another step.
SINGULAR, NOT_POSITIVE_DEFINITE, EIGH_FAILED, SVD_FAILED, QR_FAILED = 1, 2, 3, 4, 5
LINALG_ERRORS = {SINGULAR: "Singular matrix",
                 NOT_POSITIVE_DEFINITE: "Matrix is not positive definite",
                 EIGH_FAILED: "Eigenvalues did not converge",
                 SVD_FAILED: "SVD did not converge", QR_FAILED: "QR decomposition failed"}

# LAPACK (SciPy's, through the symbols Numba's helper library exports) per matrix of a
# (batch, n, n) stack, in NumPy's way: a C-ordered matrix read as Fortran-ordered is its
# transpose, so each matrix is copied transposed into the work buffer. Not Numba's
# np.linalg: linking its implementation cost every kernel ~0.5 s of compilation, and it
# refuses NaN and inf entries, where NumPy (and this) let LAPACK return NaNs.
# As NumPy, float32 matrices are factored in float64 (the work buffers) and the
# results rounded back: a float32 factorization's noise would change results outright
# (pinv's cutoff would keep a singular value of 6e-8 that is 1e-16 in float64).
def _gesv(n, k, a, ipiv, b):
    """LAPACK xgesv on Fortran-ordered buffers: b := a^-1 b; returns info."""


def _potrf(n, a):
    """LAPACK xpotrf (uplo 'L') on a Fortran-ordered buffer; returns info."""


def _getrf(n, a, ipiv):
    """LAPACK xgetrf on a Fortran-ordered buffer; returns info."""


@overload(_gesv)
def _gesv_impl(n, k, a, ipiv, b):
    fn, kind = _LAPACK().numba_xgesv(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda n, k, a, ipiv, b: fn(kind, n, k, a.ctypes, n, ipiv.ctypes, b.ctypes, n)


@overload(_potrf)
def _potrf_impl(n, a):
    fn, kind = _LAPACK().numba_xxpotrf(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda n, a: fn(kind, ord("L"), n, a.ctypes, n)


@overload(_getrf)
def _getrf_impl(n, a, ipiv):
    fn, kind = _LAPACK().numba_xxgetrf(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda n, a, ipiv: fn(kind, n, n, a.ctypes, n, ipiv.ctypes)


def _syevd(uplo, n, a, w):
    """LAPACK xsyevd (eigenvectors too) on a Fortran-ordered buffer."""


def _gesdd(jobz, m, n, a, s, u, ldu, vt, ldvt):
    """LAPACK xgesdd on Fortran-ordered buffers (lda = m); returns info."""


def _geqrf(m, n, a, tau):
    """LAPACK xgeqrf on a Fortran-ordered buffer (lda = m); returns info."""


def _orgqr(m, n, k, a, tau):
    """LAPACK xorgqr: the first n columns of Q from k reflectors (lda = m)."""


@overload(_syevd)
def _syevd_impl(uplo, n, a, w):
    fn, kind = _LAPACK().numba_ez_xxxevd(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda uplo, n, a, w: fn(kind, ord("V"), uplo, n, a.ctypes, n, w.ctypes)


@overload(_gesdd)
def _gesdd_impl(jobz, m, n, a, s, u, ldu, vt, ldvt):
    fn, kind = _LAPACK().numba_ez_gesdd(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda jobz, m, n, a, s, u, ldu, vt, ldvt: fn(
        kind, jobz, m, n, a.ctypes, m, s.ctypes, u.ctypes, ldu, vt.ctypes, ldvt)


@overload(_geqrf)
def _geqrf_impl(m, n, a, tau):
    fn, kind = _LAPACK().numba_ez_geqrf(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda m, n, a, tau: fn(kind, m, n, a.ctypes, m, tau.ctypes)


@overload(_orgqr)
def _orgqr_impl(m, n, k, a, tau):
    fn, kind = _LAPACK().numba_ez_xxgqr(a.dtype), ord(get_blas_kind(a.dtype))
    return lambda m, n, k, a, tau: fn(kind, m, n, k, a.ctypes, m, tau.ctypes)


@njit_cached(inline="always", **_JIT)
def _to_fortran(a, i, work):
    """Matrix a[i] (rows, cols) into `work` (cols, rows) C-ordered: read column-major
    (as LAPACK reads it, leading dimension rows) it is a[i]."""
    for r in range(a.shape[1]):
        for c in range(a.shape[2]):
            work[c, r] = a[i, r, c]


@njit_cached(inline="always", **_JIT)
def _from_fortran(work, out, i):
    """The leading out[i]-shaped block of the column-major matrix in `work` into out[i]."""
    for r in range(out.shape[1]):
        for c in range(out.shape[2]):
            out[i, r, c] = work[c, r]


@_helper
def eigh3(a, lower, err):
    """(eigenvalues ascending, eigenvectors as columns) of each symmetric matrix of a
    (batch, n, n) stack, from its lower or upper triangle (NumPy's UPLO)."""
    batch, n, _ = a.shape
    w = np.empty((batch, n), a.dtype)
    v = np.empty(a.shape, a.dtype)
    work = np.empty((n, n), np.float64)
    vals = np.empty(max(n, 1), np.float64)
    for i in range(batch):
        _to_fortran(a, i, work)
        if n and _syevd(ord("L") if lower else ord("U"), n, work, vals) != 0:
            err[0] = EIGH_FAILED
            return w, v
        for r in range(n):
            w[i, r] = vals[r]
        _from_fortran(work, v, i)
    return w, v


@_helper
def svd3(a, full_matrices, uv, err):
    """(u, s, vh) of each matrix of a (batch, m, n) stack, s descending; u (batch, m,
    m or k), vh (batch, n or k, n) with uv, else (batch, 0, 0) placeholders."""
    batch, m, n = a.shape
    k = min(m, n)
    ucol, vrow = (m, n) if full_matrices else (k, k)
    if not uv:
        ucol = vrow = 0
    u = np.zeros((batch, m if uv else 0, ucol), a.dtype)
    s = np.empty((batch, k), a.dtype)
    vh = np.zeros((batch, vrow, n if uv else 0), a.dtype)
    work = np.empty((n, m), np.float64)
    sv = np.empty(max(k, 1), np.float64)
    ub = np.empty((max(ucol, 1), max(m, 1)), np.float64)
    vb = np.empty((max(n, 1), max(vrow, 1)), np.float64)
    jobz = ord("N") if not uv else ord("A") if full_matrices else ord("S")
    for i in range(batch):
        if k == 0:  # no values: the square factor is the identity, as NumPy's
            for r in range(min(u.shape[1], ucol)):
                u[i, r, r] = 1.0
            for r in range(min(vrow, vh.shape[2])):
                vh[i, r, r] = 1.0
            continue
        _to_fortran(a, i, work)
        if _gesdd(jobz, m, n, work, sv, ub, max(m, 1) if uv else 1, vb,
                  max(vrow, 1)) != 0:
            err[0] = SVD_FAILED
            return u, s, vh
        for r in range(k):
            s[i, r] = sv[r]
        if uv:
            _from_fortran(ub, u, i)
            _from_fortran(vb, vh, i)
    return u, s, vh


@_helper
def qr3(a, complete, err):
    """(q, r) of each matrix of a (batch, m, n) stack, as NumPy's qr: q (batch, m, k or
    m), r (batch, k or m, n), k = min(m, n)."""
    batch, m, n = a.shape
    k = min(m, n)
    qc = m if complete else k
    q = np.empty((batch, m, qc), a.dtype)
    r = np.zeros((batch, qc, n), a.dtype)
    work = np.empty((max(n, qc, 1), max(m, 1)), np.float64)
    tau = np.empty(max(k, 1), np.float64)
    for i in range(batch):
        _to_fortran(a, i, work)
        if k and _geqrf(m, n, work, tau) != 0:
            err[0] = QR_FAILED
            return q, r
        for rr in range(qc):
            for c in range(rr, n):
                r[i, rr, c] = work[c, rr]
        if m and qc and _orgqr(m, qc, k, work, tau) != 0:
            err[0] = QR_FAILED
            return q, r
        _from_fortran(work, q, i)
    return q, r


@_helper
def solve3(a, b, err):
    """x[i] = a[i]^-1 b[i] for a (batch, n, n) and b (batch, n, k)."""
    batch, n, k = b.shape
    out = np.empty((batch, n, k), b.dtype)
    work = np.empty((n, n), np.float64)
    rhs = np.empty((k, n), np.float64)
    ipiv = np.empty(max(n, 1), F_INT_nptype)
    for i in range(batch):
        _to_fortran(a, i, work)
        _to_fortran(b, i, rhs)
        if n and _gesv(n, k, work, ipiv, rhs) > 0:
            err[0] = SINGULAR
            return out
        _from_fortran(rhs, out, i)
    return out


@_helper
def cholesky3(a, err):
    """The lower Cholesky factor of each (symmetric) matrix, from its lower triangle."""
    batch, n, _ = a.shape
    out = np.zeros(a.shape, a.dtype)
    work = np.empty((n, n), np.float64)
    for i in range(batch):
        # as NumPy: LAPACK's lower factor of the Fortran-ordered matrix, from its lower
        # triangle (`work` holds a transposed, so read column-major it is a)
        for r in range(n):
            for c in range(r + 1):
                work[c, r] = a[i, r, c]
        if n and _potrf(n, work) > 0:
            err[0] = NOT_POSITIVE_DEFINITE
            return out
        for r in range(n):
            for c in range(r + 1):
                out[i, r, c] = work[c, r]
    return out


@_helper
def _slogdet64(a):
    """(sign, log|det|) of each matrix in float64, from its LU factors, as NumPy
    computes them."""
    batch, n, _ = a.shape
    sign = np.empty(batch, np.float64)
    logdet = np.empty(batch, np.float64)
    work = np.empty((n, n), np.float64)
    ipiv = np.empty(max(n, 1), F_INT_nptype)
    for i in range(batch):
        _to_fortran(a, i, work)
        if n and _getrf(n, work, ipiv) > 0:  # an exactly zero pivot
            sign[i], logdet[i] = 0.0, -np.inf
            continue
        s, acc = 1.0, 0.0
        for r in range(n):
            d = work[r, r]
            if ipiv[r] != r + 1:
                s = -s
            if d < 0:
                s, d = -s, -d
            acc += np.log(d)
        sign[i] = s
        logdet[i] = acc
    return sign, logdet


@_helper
def slogdet3(a):
    sign, logdet = _slogdet64(a)
    return sign.astype(a.dtype), logdet.astype(a.dtype)


@_helper
def det3(a):
    """det = sign * exp(log|det|), as NumPy computes it."""
    sign, logdet = _slogdet64(a)
    return (sign * np.exp(logdet)).astype(a.dtype)
