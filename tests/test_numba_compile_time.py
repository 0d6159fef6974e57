"""What keeps the numba backend's compile time down, checked on values.

No timing is asserted (the machine is shared); the tests check the properties
the compile time depends on (helper specializations, per-dtype math intrinsics,
no array .reshape in kernels) and that the lowerings they rely on give the
right numbers.
"""
import re

import numpy as np
import pytest

import pullback as pb
from numba.core.dispatcher import Dispatcher

from pullback.backends.numba import helpers as _h
from pullback.tracer import lax


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)
    return tmp_path


def test_compile_time_core_measures_a_workload(tmp_cache):
    from benchmarks.compile_time import measure

    res = measure("grad_sin")
    assert res["status"] == "ok"  # the kernel's result equals the hand-written gradient
    assert res["trace_s"] > 0 and res["compile_s"] > 0 and res["compile_cpu_s"] > 0
    assert res["lines"] > 5


def test_helpers_are_typed_without_literal_shapes(tmp_cache):
    # two shapes, one specialization of each helper: Literal[int] shapes would give two
    def f(x):
        return np.sin(x) * 2.0, np.cumsum(x, axis=0)

    for shape in [(3, 5), (4, 7)]:
        x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        y, c = pb.jit(f)(x)
        np.testing.assert_allclose(y, np.sin(x) * 2.0, rtol=1e-15)
        np.testing.assert_array_equal(c, np.cumsum(x, axis=0))
    sigs = [str(s) for s in _h.cumsum2.signatures]
    assert sigs and not any("Literal" in s for s in sigs), sigs
    # allocation, views and BLAS calls are intrinsics: no helper compiled or linked
    assert not any(isinstance(fn, Dispatcher) for fn in (_h.empty, _h.full, _h.reshape,
                                                        _h.contiguous, _h.dot_into))


def test_kernels_call_no_array_reshape_and_typed_math_intrinsics(tmp_cache):
    def f(x, y):
        a = np.tanh(x) + np.exp(x) * np.log1p(np.abs(x))
        return a @ y, np.sum(np.exp(y.astype(np.float32)))

    x = np.linspace(-2.0, 2.0, 24).reshape(4, 6)
    y = np.linspace(0.5, 1.5, 24).reshape(6, 4)
    jf = pb.jit(f)
    src = jf.source(x, y)
    assert not re.search(r"(?<!_h)\.reshape\(", src)  # only the cached helper _h.reshape
    assert "_vm.tanh_f64(" in src and "_vm.exp_f32(" in src
    m, s = jf(x, y)
    np.testing.assert_allclose(m, (np.tanh(x) + np.exp(x) * np.log1p(np.abs(x))) @ y, rtol=1e-13)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, np.sum(np.exp(y.astype(np.float32))), rtol=1e-6)


def test_scalars_and_tiny_arrays_call_libm(tmp_cache):
    # below VECMATH_MIN elements SIMD gains nothing, and libm compiles faster
    def f(s, x, big):
        return np.sin(s) * np.exp(s), np.cos(x) + np.log1p(x), np.sum(np.sin(big))

    s, x, big = 0.7, np.linspace(0.1, 2.0, 8), np.linspace(-3.0, 3.0, 64)
    jf = pb.jit(f)
    src = jf.source(s, x, big)
    for fn in ("sin", "exp", "cos", "log1p"):
        assert f"math.{fn}(" in src, src
    # only the 64-element loop: the medium sin/cos and its guard (trig.TrigGuard)
    assert src.count("_vm.") == 2 and "_vm.sincos_medium_f64(" in src, src
    assert "_vm.beyond_medium_f64(" in src, src
    for got, want in zip(jf(s, x, big), pb.jit(f, backend="interpreter")(s, x, big)):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("lshape,rshape,dims", [
    ((5, 6), (6, 3, 4), (((1,), (0,)), ((), ()))),        # 3-d result, helper gives (1, 5, 12)
    ((40, 30), (30,), (((1,), (0,)), ((), ()))),          # matrix-vector through BLAS
    ((7,), (7,), (((0,), (0,)), ((), ()))),               # 0-d result
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),  # batched
])
def test_dot_general_results_reshaped_to_their_shape(tmp_cache, lshape, rshape, dims):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(lshape), rng.standard_normal(rshape)

    def f(a, b):
        return lax.dot_general(a, b, dims)

    got = pb.jit(f)(a, b)
    want = pb.jit(f, backend="interpreter")(a, b)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _layouts(x):
    """x as C-, F- and non-contiguous (strided) arrays of equal values, and read-only."""
    f = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=-1)[..., ::2]
    ro = x.copy()
    ro.flags.writeable = False
    return [x, f, strided, ro]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blas_products_of_every_operand_layout(tmp_cache, dtype):
    # dot_into calls gemm with each operand's layout flag (C as is, F transposed),
    # copies what is neither, and B == 1 products of any rank go through it too
    rng = np.random.default_rng(5)
    x, y, z = (rng.standard_normal(s).astype(dtype) for s in [(30, 40), (40, 50), (30, 50)])
    t = rng.standard_normal((3, 10, 40)).astype(dtype)

    def f(a, b, c, t):
        return (a @ b, a.T @ c, b @ c.T, (a @ b).T @ c,
                np.einsum("ijk,kl->ijl", t, b), np.einsum("ijk,ik->j", t, a[:3]))

    jf = pb.jit(f)
    src = jf.source(x, y, z, t)
    assert src.count("_h.dot_into(") == 6 and "matmul3" not in src, src
    want = pb.jit(f, backend="interpreter")(x, y, z, t)
    eps = 1e-5 if dtype == np.float32 else 1e-13  # sums of ~40 products, in any order
    for args in zip(_layouts(x), _layouts(y), _layouts(z), _layouts(t)):
        for g, w in zip(jf(*args), want):
            assert g.dtype == dtype and g.flags.c_contiguous and g.flags.writeable
            np.testing.assert_allclose(g, w, rtol=eps, atol=eps * np.abs(w).max())


def test_gemm_epilogues_scale_and_sum_products(tmp_cache):
    # `2.0 * (a @ b)` and `a @ b + c @ d` are the gemm call itself (alpha, beta): no
    # loop nest; a product read twice, returned, scaled by 0 (inf * 0 must stay nan)
    # or negated (BLAS would give +0.0 for -(+0.0)) keeps its own array
    def f(a, b, c):
        p = a @ b
        s = a.T @ c
        return (2.0 * (a @ b.T), -(b @ c), a.T @ b + c @ c, p * 0.0, p + p, s, s * 3.0,
                lax.dot_general(a[:3], b[:4], (((), ()), ((), ()))), -1.5 * (c @ a))

    rng = np.random.default_rng(8)
    a, b, c = (rng.standard_normal((24, 24)) for _ in range(3))
    a[3, 5], b[7, 1] = np.inf, np.nan
    b[2], a[:, 4] = 0.0, 0.0  # exact zeros in -(b @ c) and -1.5 * (c @ a)
    jf = pb.jit(f)
    src = jf.source(a, b, c)
    calls = re.findall(r"_h\.dot_into\(.*, (-?[\d.]+), ([\d.]+)\)", src)
    assert ("2.0", "0.0") in calls and ("1.0", "1.0") in calls, calls
    assert not any(alpha.startswith("-") for alpha, _ in calls), calls
    want = pb.jit(f, backend="interpreter")(a, b, c)
    for g, w in zip(jf(a, b, c), want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.signbit(g[g == 0]), np.signbit(w[g == 0]))


def test_intrinsics_refuse_mismatched_sizes():
    # gemm and array headers trust their sizes: a code generator bug would read or
    # write out of bounds, so the intrinsics check them and raise
    import numba

    @numba.njit
    def product(a, b):
        out = _h.empty((3, 3), np.float64)
        _h.dot_into(a, b, out, 1.0, 0.0)
        return out

    @numba.njit
    def view(x):
        return _h.reshape(x, (5, 3))

    np.testing.assert_array_equal(product(np.ones((3, 4)), np.ones((4, 3))), np.full((3, 3), 4.0))
    with pytest.raises(ValueError, match="shapes do not match"):
        product(np.ones((3, 4)), np.ones((5, 3)))
    np.testing.assert_array_equal(view(np.arange(15.0)), np.arange(15.0).reshape(5, 3))
    with pytest.raises(ValueError, match="size would change"):
        view(np.ones((3, 4)))


def test_allocation_and_view_intrinsics(tmp_cache):
    # full of every dtype (also 0-d values padded to (1,) for a product), empty and
    # zero-size arrays, reshapes of inputs of any layout; results are fresh arrays
    def f(x, n, b):
        ones = np.ones((3, 4), np.int64) * n
        flags = np.zeros((2, 2), bool) | b
        col = x.reshape(-1)[:5] * 2.0
        empty = x[:0] * 3.0
        return ones, flags, col, empty, np.cumsum(x.T, axis=0), np.argmax(x, axis=1)

    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 6))
    jf = pb.jit(f)
    for xi in _layouts(x):
        ones, flags, col, empty, cs, am = jf(xi, 7, True)
        np.testing.assert_array_equal(ones, np.full((3, 4), 7))
        assert ones.dtype == np.int64 and flags.dtype == bool and flags.all()
        np.testing.assert_array_equal(col, x.reshape(-1)[:5] * 2.0)
        assert empty.shape == (0, 6)
        np.testing.assert_array_equal(cs, np.cumsum(x.T, axis=0))
        np.testing.assert_array_equal(am, np.argmax(x, axis=1))
        for r in (ones, flags, col, cs, am):
            assert r.flags.writeable and not np.shares_memory(r, xi)


def test_copies_are_the_copy_intrinsic(tmp_cache):
    # a returned input and loop carries: `_h.copy` (no allocator subroutine compiled
    # per kernel, as Numba's own array.copy does), fresh C-contiguous arrays for
    # inputs of any layout, also of bools and integers and of zero size
    def f(x, k, b):
        doubled = pb.fori_loop(0, 3, lambda i, c: c * 2.0 + 1.0, x.T)
        flags = pb.fori_loop(0, 2, lambda i, c: ~c, b)
        return x, doubled, k, flags, pb.fori_loop(0, 2, lambda i, c: c + 1, x[:0])

    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 6))
    k = np.arange(12).reshape(3, 4)[:, ::2]
    b = rng.integers(0, 2, (5,)).astype(bool)[::-1]
    jf = pb.jit(f)
    src = jf.source(x, k, b)
    assert "_h.copy(" in src and ".copy()" not in src, src
    for xi in _layouts(x):
        got = jf(xi, k, b)
        want = (x, ((x.T * 2.0 + 1.0) * 2.0 + 1.0) * 2.0 + 1.0, k, b, x[:0] + 2)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
            assert g.dtype == w.dtype and g.flags.c_contiguous and g.flags.writeable
        for g, arg in zip(got[:4:2], (xi, k)):
            assert not np.shares_memory(g, arg)

    # a scan reads the rows of an input through a C-contiguous array (`_h.contiguous`:
    # the input itself when it is one, else a copy)
    def g(h, xs):
        return pb.scan(lambda c, x: (np.tanh(c + x.sum(axis=0)), c.sum()), h, xs)

    xs = rng.standard_normal((5, 4, 3))
    src = pb.jit(g).source(np.ones(3), xs)
    assert "_h.contiguous(" in src and "ascontiguousarray" not in src, src
    for xsi in (xs, xs.transpose(0, 2, 1).copy().transpose(0, 2, 1), xs[:, ::-1]):
        for got, want in zip(pb.jit(g)(np.ones(3), xsi), pb.jit(g, backend="interpreter")(np.ones(3), xsi)):
            np.testing.assert_allclose(got, want, rtol=1e-14)


def test_guarded_reads_are_branch_free_selects(tmp_cache):
    # pads (edges, interior), small concatenations, gathers, NaN-aware
    # max/min, sign and where lower to _h.where selects, no conditional expressions
    # (each costs Numba ~20 ms of compile time); the reads they guard use clamped
    # indices, so the values equal the interpreter's, NaN and -0.0 included
    def f(x, y, idx):
        p = lax.pad(x, -1.5, [(2, 1, 1), (0, 3, 0)])
        c = np.concatenate([x[:, :1], y, np.sin(x[:, -2:])], axis=1)
        g = x[:, idx]
        m = np.maximum(x, y[:, :5]) - np.minimum(y[:, 1:6], x)
        r = np.max(np.where(x > 0, x, -y[:, :5] * 2.0), axis=1)
        return p, c * 2.0, g + 1.0, m, np.sign(x) * r[:, None]

    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5))
    x[1, 2], x[2, 0], x[3, 4] = np.nan, -0.0, np.inf
    y = rng.standard_normal((4, 7))
    y[0, 3] = np.nan
    idx = np.array([4, -3, 9, 0])  # out of range: clamped, as the interpreter's gather
    jf = pb.jit(f)
    code = [ln for ln in jf.source(x, y, idx).splitlines() if not ln.strip().startswith("#")]
    assert not any(" if " in ln for ln in code), "\n".join(code)
    assert sum(ln.count("_h.where(") for ln in code) >= 6
    for g, w in zip(jf(x, y, idx), pb.jit(f, backend="interpreter")(x, y, idx)):
        np.testing.assert_array_equal(g, w)  # NaNs where the interpreter has them
        # signs of zeros and numbers; a NaN's sign bit is whatever NumPy's SIMD loop
        # for this CPU left (AVX-512 and AVX2 differ), which no rule fixes
        num = ~np.isnan(w)
        np.testing.assert_array_equal(np.signbit(g[num]), np.signbit(w[num]))


def test_concatenation_views_and_copies(tmp_cache):
    # small: read through index comparisons (constant indices decided at generation);
    # large (> CONCAT_VIEW_MAX elements): copied out once by one loop nest
    def f(a, b, c):
        small = np.concatenate([a[:2] * 2.0, np.sin(b[:1])])
        big = np.concatenate([a, b, c * 3.0])
        return small * small[0], np.exp(big) + big[::-1]

    rng = np.random.default_rng(2)
    a, b, c = rng.standard_normal(300), rng.standard_normal(200), rng.standard_normal(5)
    jf = pb.jit(f)
    assert "np.concatenate" not in jf.source(a, b, c)
    small, big = jf(a, b, c)
    s = np.concatenate([a[:2] * 2.0, np.sin(b[:1])])
    g = np.concatenate([a, b, c * 3.0])
    np.testing.assert_allclose(small, s * s[0], rtol=1e-15)
    np.testing.assert_allclose(big, np.exp(g) + g[::-1], rtol=1e-14)


def test_unit_axes_get_no_loop_and_constant_index_checks_fold(tmp_cache):
    def f(x, y):
        # (n, 1) values: loops over the unit axis would be `range(1)`; the pad's
        # bounds checks along it are decided when generating the code
        col = x[:, :1] * 2.0
        padded = lax.pad(col, 0.0, [(0, 0, 0), (1, 1, 0)])
        return padded + y, np.sum(col * y[:, 1:2])

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    jf = pb.jit(f)
    src = jf.source(x, y)
    assert "range(1)" not in src
    p, s = jf(x, y)
    col = x[:, :1] * 2.0
    np.testing.assert_allclose(p, np.pad(col, [(0, 0), (1, 1)]) + y, rtol=1e-15)
    np.testing.assert_allclose(s, np.sum(col * y[:, 1:2]), rtol=1e-14)


def test_loops_of_one_shape_fuse_across_an_unrelated_view(tmp_cache):
    # the broadcast of j is read by the (n, 4) loop that comes first in program
    # order; the (n,) loop still takes sin/cos/w of the same h (one loop, not two)
    def f(a, v):
        h = np.tanh(a @ v)
        j = 1.0 - h * h
        out = a * j[:, None]
        return out, np.sin(h) + 2.0 * h, np.cos(h)

    rng = np.random.default_rng(4)
    # a product big enough for BLAS (a smaller one is a loop of its own: small_products.py)
    a, v = rng.standard_normal((50, 12)), rng.standard_normal(12)
    jf = pb.jit(f)
    src = jf.source(a, v)
    # the (50,) loop and the (50, 12) loop, which also share their row loop (one nest)
    assert src.count("for i0 in range(50)") == 1
    assert src.count("for i1 in range(12)") == 1
    out, s, c = jf(a, v)
    h = np.tanh(a @ v)
    # the compiled tanh is within 1.5 ulp of NumPy's; 1 - h*h cancels near |h| = 1
    np.testing.assert_allclose(out, a * (1.0 - h * h)[:, None], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(s, np.sin(h) + 2.0 * h, rtol=1e-14)
    np.testing.assert_allclose(c, np.cos(h), rtol=1e-14)


def test_scan_rows_are_written_element_by_element(tmp_cache):
    # `ys[i] = row` lowers to Numba's fancy slice assignment, whose shape-error
    # formatter is compiled once per such line (~0.3 s each: a Kalman filter's
    # gradient took 6 s instead of 2); rows, views of the carry and broadcasts
    # among them, are written by index instead
    def f(x, xs):
        def body(c, r):
            c = c * r + 1.0
            return c, (c, c.T, np.broadcast_to(r[0], (2, 3)), r)
        c, (a, b, s, rr) = pb.scan(body, x, xs)
        return c, a, b, s, rr

    rng = np.random.default_rng(7)
    x, xs = rng.standard_normal((2, 3)), rng.standard_normal((5, 2, 3))
    jf = pb.jit(f)
    src = jf.source(x, xs)
    assert not re.search(r"^\s*\w+\[\w+\] = (?!.*\[)", src, re.M), src
    want = pb.jit(f, backend="interpreter")(x, xs)
    for got, w in zip(jf(x, xs), want):
        np.testing.assert_array_equal(got, w)
    c, a = x, []
    for r in xs:
        c = c * r + 1.0
        a.append(c)
    np.testing.assert_allclose(jf(x, xs)[1], np.stack(a), rtol=1e-15)
