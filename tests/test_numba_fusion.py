"""Loop nests of the numba backend's kernels: consecutive nests share their
outer loops where that is exact, and the values stay those of NumPy and the
interpreter (NaN propagation of max, ties, reads across rows).

Structure is checked on the generated source (`f.source(x)`), never timing.
"""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)
    return tmp_path


def top_nests(src):
    """Number of loop nests at the kernel's top level."""
    return len(re.findall(r"^    for ", src, flags=re.M))


def loops(src):
    return len(re.findall(r"^\s*for ", src, flags=re.M))


def logsumexp(x):
    m = np.max(x, axis=1)
    return np.sum(m + np.log(np.sum(np.exp(x - m[:, None]), axis=1)))


def softmax_rows(x):
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=1, keepdims=True)


def both(f, *args):
    jf = pb.jit(f)
    ji = pb.jit(f, backend="interpreter")
    return jf, jf(*args), ji(*args)


def test_logsumexp_gradient_is_one_row_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 30))
    jf, got, ref = both(pb.grad(logsumexp), x)
    np.testing.assert_allclose(got, softmax_rows(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    src = jf.source(x)
    # max, tie count, exp sum, reciprocal, and the gradient rows: one outer loop
    assert top_nests(src) == 1, src


def test_row_chain_keeps_ties_and_nan_of_max():
    x = np.array([[1.0, 3.0, 3.0, 0.0],     # a tie at the max: the gradient splits
                  [np.nan, 1.0, 2.0, 0.0],  # NaN max: NaN row
                  [-np.inf, -np.inf, 0.0, 1.0],
                  [2.0, 2.0, 2.0, 2.0]])

    def f(x):
        return np.sum(np.max(x, axis=1) * np.arange(1.0, 5.0))

    jf, got, ref = both(pb.grad(f), x)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got[0], [0.0, 0.5, 0.5, 0.0])
    assert np.isnan(got[1]).all()
    np.testing.assert_array_equal(got[3], [1.0, 1.0, 1.0, 1.0])
    jl, got, ref = both(pb.grad(logsumexp), x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 3, 17, 100])
def test_max_min_rows_propagate_nan_at_any_position(dtype, n):
    # max/min accumulate through LLVM's maximum/minimum (vectorized in lanes): a NaN
    # in any lane or in the scalar remainder makes the row NaN, as np.max/np.min
    rng = np.random.default_rng(n)
    x = rng.normal(size=(6, n)).astype(dtype)
    x[1, 0] = np.nan
    x[2, n - 1] = np.nan
    x[3, n // 2] = np.nan
    x[4, :] = np.inf
    x[5, n // 2] = -np.inf

    def f(x):
        return np.max(x, axis=1), np.min(x, axis=1), np.max(x, axis=0), np.min(x)

    got = pb.jit(f)(x)
    for g, want in zip(got, (x.max(axis=1), x.min(axis=1), x.max(axis=0), x.min())):
        assert g.dtype == want.dtype
        np.testing.assert_array_equal(g, want)


def test_max_of_signed_zeros_is_ieee_maximum():
    # IEEE 754-2019 maximum/minimum order -0.0 below 0.0 (np.max keeps the first
    # of equal values): the sign is that of the larger (smaller) zero in any order
    x = np.array([[-0.0, 0.0], [0.0, -0.0]])
    mx, mn = pb.jit(lambda x: (np.max(x, axis=1), np.min(x, axis=1)))(x)
    np.testing.assert_array_equal(np.signbit(mx), [False, False])
    np.testing.assert_array_equal(np.signbit(mn), [True, True])


def test_values_read_across_rows_are_not_chained():
    # the second loop reads the first's stored values transposed (other rows):
    # it must run after every row of the first, not inside its row loop
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 24))

    def f(x):
        c = x - np.max(x, axis=1)[:, None]
        e = np.exp(c)
        return e.T * x + e, np.max(e.T * x, axis=1)

    jf, got, ref = both(f, x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got[0], e.T * x + e, rtol=1e-13)
    np.testing.assert_allclose(got[1], (e.T * x).max(axis=1), rtol=1e-13)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_a_reduction_over_the_rows_is_final_only_after_them():
    # column sums accumulate over the outer loop: a nest reading them cannot share it
    rng = np.random.default_rng(2)
    x = rng.uniform(1.0, 2.0, size=(16, 12))

    def f(x):
        s = np.sum(x * 2.0, axis=0)
        y = x / s[None, :]
        return y, np.sum(np.tanh(y), axis=1)

    jf, got, ref = both(f, x)
    y = x / (2.0 * x).sum(axis=0)
    np.testing.assert_allclose(got[0], y, rtol=1e-13)
    np.testing.assert_allclose(got[1], np.tanh(y).sum(axis=1), rtol=1e-13)
    assert top_nests(jf.source(x)) == 2


def test_rows_of_different_widths_share_the_row_loop():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(32, 7))
    b = rng.normal(size=(32, 5))

    def f(a, b):
        ra = np.sum(a * a, axis=1)
        return np.sum(b * ra[:, None], axis=1) + np.max(b, axis=1)

    jf, got, ref = both(f, a, b)
    np.testing.assert_allclose(got, (b * (a * a).sum(1)[:, None]).sum(1) + b.max(1), rtol=1e-13)
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    src = jf.source(a, b)
    assert top_nests(src) == 1, src


def test_lane_split_loops_stay_apart():
    # mid-sized loops keep scalar libm calls (arctan) out of the vectorized exp loop
    x = np.linspace(-3.0, 3.0, 4096)

    def f(x):
        return np.arctan(x) * np.exp(x)

    jf, got, ref = both(f, x)
    np.testing.assert_allclose(got, np.arctan(x) * np.exp(x), rtol=1e-13)
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    src = jf.source(x)
    assert loops(src) == 2, src


def test_sin_cos_fuse_with_vectorizable_math():
    # sin and cos are vecmath kernels: no lane split, one vectorizable loop
    x = np.linspace(-3.0, 3.0, 4096)

    def f(x):
        return np.sin(x) * np.exp(np.cos(x))

    jf, got, ref = both(f, x)
    np.testing.assert_allclose(got, np.sin(x) * np.exp(np.cos(x)), rtol=1e-14)
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    src = jf.source(x)
    assert loops(src) == 1 and "math.sin" not in src, src
    # one call serves sin and cos; |x| is unknown: the medium kernel, guarded
    assert src.count("_vm.sincos_medium_f64(") == 1 and src.count("_vm.beyond_medium_f64(") == 1, src
    x32 = x.astype(np.float32)            # float32: the float64 kernel, rounded once
    jf32, got32, ref32 = both(f, x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ref32, rtol=1e-6, atol=1e-7)


def test_sin_cos_of_bounded_values_skip_the_huge_argument_reduction():
    # tanh is within 1, so 3 tanh(x) + 2 is within 5: the medium-range kernel suffices;
    # x itself and tanh(x) + 2**21 are not provably below 2**20: guarded (and the
    # second fails the guard at every call)
    x = np.concatenate([np.linspace(-3.0, 3.0, 4093), [np.nan, np.inf, -np.inf]])

    def f(x):
        t = np.tanh(x)
        return (np.sin(3.0 * t + 2.0) * np.cos(t) + np.sin(x)
                + np.cos(t + 2.0 ** 21) + np.sin(np.maximum(t, 0.5) ** 2 - t * t))

    src = pb.jit(f).source(x)  # before a call: the guarded kernel
    assert src.count("_vm.sincos_medium_f64(") == 5, src
    assert src.count("_vm.beyond_medium_f64(") == 2, src
    assert "_vm.sincos_f64(" not in src, src
    jf, got, ref = both(f, x)
    with np.errstate(invalid="ignore"):
        want = f(x)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(jf(x), got)  # later calls: the unguarded kernel
    src = jf.source(x)  # it runs now: the full kernel where no bound is known
    assert src.count("_vm.sincos_medium_f64(") == 3, src
    assert src.count("_vm.sincos_f64(") == 2 and "beyond_medium" not in src, src


def test_guarded_sin_cos_fall_back_to_the_full_reduction():
    """Operands of unknown size get the medium kernel and a guard: a call that sees
    a finite operand of 2**20 or more is redone by the kernel with the full
    reduction, which serves that function's later calls too. NaN and inf pass the
    guard (the medium kernel gives NaN for them, as the full one does)."""
    from pullback.backends.numba.cache import stats

    x = np.linspace(-3.0, 3.0, 4099)

    def f(x):
        return np.sin(x) * np.exp(np.cos(0.5 * x))

    jf = pb.jit(f)
    fell = stats()["trig_fallbacks"]
    got = jf(x)
    np.testing.assert_allclose(got, f(x), rtol=1e-14, atol=1e-15)
    odd = x.copy()
    odd[[5, 6, 7, 8]] = [np.nan, np.inf, -np.inf, np.nextafter(2.0 ** 20, 0.0)]
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(jf(odd), f(odd), rtol=1e-14, atol=1e-15)
    assert stats()["trig_fallbacks"] == fell
    src = jf.source(x)
    assert src.count("_vm.beyond_medium_f64(") == 2 and "_vm.sincos_f64(" not in src, src

    huge = x.copy()
    huge[[100, 4000]] = [1e22, -2.0 ** 20]
    np.testing.assert_allclose(jf(huge), f(huge), rtol=1e-14, atol=1e-15)
    assert stats()["trig_fallbacks"] == fell + 1
    again = jf(x)                                 # the unguarded kernel, same bits
    np.testing.assert_array_equal(again, got)
    assert stats()["trig_fallbacks"] == fell + 1  # switched once, not per call
    src = jf.source(x)                            # the source of the kernel that runs now
    assert src.count("_vm.sincos_f64(") == 2 and "beyond_medium" not in src, src


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_guarded_kernels_with_several_and_scalar_outputs(dtype):
    from pullback.backends.numba.cache import stats

    def f(x):
        return np.sum(np.sin(x)), np.cos(x) * 2

    x = np.linspace(-3.0, 3.0, 257).astype(dtype)
    big = x.copy()
    big[3] = 3e7
    jf = pb.jit(f)
    ji = pb.jit(f, backend="interpreter")
    fell = stats()["trig_fallbacks"]
    tol = dict(rtol=1e-13, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for arg, switched in ((x, 0), (big, 1), (x, 1)):
        s, c = jf(arg)
        rs, rc = ji(arg)
        assert isinstance(s, np.ndarray) and s.shape == () and s.dtype == dtype
        assert c.dtype == dtype
        np.testing.assert_allclose(s, rs, **tol)
        np.testing.assert_allclose(c, rc, **tol)
        assert stats()["trig_fallbacks"] == fell + switched


def test_guarded_kernel_of_scalar_arguments():
    # scalars alone would let pb.jit call the kernel's entry point directly; a
    # guarded kernel keeps the wrapper that reads its flag
    from pullback.backends.numba.cache import stats

    def f(s):
        return np.sin(s * np.arange(1.0, 40.0))

    jf = pb.jit(f)
    fell = stats()["trig_fallbacks"]
    for s in (2.0, 2.0, 1e7, 2.0):
        np.testing.assert_allclose(jf(s), f(s), rtol=1e-14, atol=1e-15)
    assert stats()["trig_fallbacks"] == fell + 1


def test_guard_inside_a_loop_carry():
    # the carry's size is unknown to the code generator: guarded inside the loop body
    from pullback.backends.numba.cache import stats

    def grows(x):  # two steps only: each multiplies cos's rounding by 3e6
        return pb.fori_loop(0, 2, lambda i, c: np.cos(c) * 3e6, x)

    def stays(x):
        return pb.fori_loop(0, 4, lambda i, c: np.cos(c) * 0.5 + c, x)

    def reference(body, x, n=4):
        for i in range(n):
            x = body(i, x)
        return x

    x = np.linspace(-3.0, 3.0, 64)
    fell = stats()["trig_fallbacks"]
    js = pb.jit(stays)
    np.testing.assert_allclose(js(x), reference(lambda i, c: np.cos(c) * 0.5 + c, x), rtol=1e-14)
    assert "_vm.beyond_medium_f64(" in js.source(x)
    assert stats()["trig_fallbacks"] == fell
    jg = pb.jit(grows)
    np.testing.assert_allclose(jg(x), reference(lambda i, c: np.cos(c) * 3e6, x, 2), rtol=1e-7)
    assert stats()["trig_fallbacks"] == fell + 1


def test_magnitude_bounds():
    from pullback.api import trace_to_ir
    from pullback.backends.numba.trig import magnitude_bound

    def bound(f, x):
        ir = trace_to_ir(f, (x,), ())[0]
        producer = {v: e for e in ir.eqns for v in e.outputs}
        return magnitude_bound(ir.outvars[0], producer, {})

    x = np.ones((3, 4))
    assert bound(lambda x: np.tanh(x), x) == 1.0
    assert bound(lambda x: 3.0 * np.tanh(x) - np.sin(x) ** 3, x) == 4.0
    assert bound(lambda x: np.concatenate([np.tanh(x), np.cos(x).T.reshape(3, 4) * -2.0]), x) == 2.0
    assert bound(lambda x: np.where(x > 0, np.tanh(x), 7.0)[:, 1:], x) == 7.0
    assert bound(lambda x: np.max(np.tanh(x), axis=1), x) == 1.0
    assert bound(lambda x: x, x) == np.inf
    assert bound(lambda x: np.tanh(x) * x, x) == np.inf
    assert bound(lambda x: np.tanh(x) / 0.5, x) == np.inf  # no rule for div: unknown
    assert bound(lambda x: np.tanh(x) * 0.0 * x, x) == np.inf
    assert bound(lambda x: (np.tanh(x) * 1e200) ** 3, x) == np.inf  # overflows: unknown
    assert bound(lambda x: (np.tanh(x) * 3.0) ** 2, x) == 9.0


def test_row_values_read_only_in_the_chain_are_scalars():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 30))
    jf, got, ref = both(pb.grad(logsumexp), x)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    src = jf.source(x)
    # max, tie count, sum of exp, ... of a row: locals of the row loop, no (40,) array
    assert "_h.empty((40,)" not in src, src
    assert "_row = " in src


def test_row_values_used_after_the_chain_stay_arrays():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20, 9))
    x[3, 4] = np.nan

    def f(x):
        m = np.max(x, axis=1)
        s = np.sum(np.exp(x - m[:, None]), axis=1)
        return m, s, np.sum(m) * 2.0, x / s[:, None]

    jf, got, ref = both(f, x)
    m = x.max(axis=1)
    s = np.exp(x - m[:, None]).sum(axis=1)
    expect = (m, s, 2.0 * m.sum(), x / s[:, None])
    for a, b, c in zip(got, ref, expect):
        np.testing.assert_allclose(a, c, rtol=1e-13)
        np.testing.assert_allclose(a, b, rtol=1e-13)


_NEAR_MEDIUM = [np.nextafter(2.0 ** 20, 0.0), 2.0 ** 20, -(2.0 ** 20), 3.0e6, -1.0e9, 1.0e22,
                0.5, -2.5, 0.0, -0.0, np.nan, np.inf, -np.inf]
_STEPS = {"sin": np.sin, "cos": np.cos, "tanh": np.tanh}
_GROW = {"scale": lambda x: x * 3.0e6, "shift": lambda x: x + 2.0 ** 20,
         "square": lambda x: x * x}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(_STEPS)), max_size=3),
       st.sampled_from(sorted(_GROW)), st.integers(0, 3),
       st.lists(st.sampled_from(_NEAR_MEDIUM), min_size=16, max_size=40))
def test_guarded_chains_around_the_medium_bound(steps, grow, at, values):
    """sin/cos/tanh chains with one step that makes operands large, on values just
    below and above 2**20 and far beyond. Below the bound the guarded kernel and, after
    a switch, the unguarded one give the same bits; above it the values are NumPy's
    (to 1e-7: one step may scale a 1-ulp difference of an earlier sin by 3e6)."""
    chain = steps[:at] + [grow] + steps[at:]

    def f(x):
        for op in chain:
            x = _GROW[op](x) if op in _GROW else _STEPS[op](x)
        return np.sin(x) + np.cos(x)

    x = np.array(values)
    # small negative values keep x, x * 3e6, x * x and x + 2**20 below 2**20 (a sin or
    # cos before the growing step may not: then the kernel switches at this call)
    small = -(np.abs(np.nan_to_num(np.clip(x, -4.0, 4.0))) + 1.0) * 1e-7
    jf = pb.jit(f)
    before = jf(small)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(jf(x), f(x), rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(jf(small), before)  # also after a switch: same bits


def inner_body(src):
    """The lines of the kernel's innermost `for i1` loops' bodies."""
    body, inside = [], None
    for line in src.splitlines():
        ind = len(line) - len(line.lstrip())
        if inside is not None and line.strip() and ind <= inside:
            inside = None
        if inside is not None and not line.strip().startswith("#"):
            body.append(line.strip())
        if line.strip().startswith("for i1 "):
            inside = ind
    return body


def test_reads_the_inner_loop_does_not_change_are_computed_before_it():
    def f(X, y):
        return np.exp(X) * (np.tanh(y) * 2.0)[:, None] + X * (y[:, None] - 1.0)

    X = np.random.default_rng(0).normal(size=(40, 30))
    y = np.linspace(-2, 2, 40)
    src = pb.jit(f).source(X, y)
    body = inner_body(src)
    assert body and not any("b[" in line or "tanh" in line for line in body)  # y is `b`
    assert re.search(r"^        _inv\d+ = \(\(b\[i0\] - 1\.0\)\)$", src, flags=re.M)
    np.testing.assert_allclose(pb.jit(f)(X, y), pb.jit(f, backend="interpreter")(X, y),
                               rtol=1e-13)


@pytest.mark.parametrize("shape", [(4, 0), (0, 5), (3, 1), (1, 3)])
def test_hoisted_reads_with_empty_and_unit_axes(shape):
    def f(X, y):
        return X * (y * 2.0)[:, None] - (X + y[:, None]).sum(axis=1)[:, None]

    X = np.arange(float(np.prod(shape))).reshape(shape)
    y = np.arange(shape[0], dtype=float) - 1.0
    np.testing.assert_array_equal(pb.jit(f)(X, y), pb.jit(f, backend="interpreter")(X, y))


def test_dot_products_loop_and_transposed_operands_are_not_copied():
    # v @ v was a gemm with M = N = 1 (4.5x NumPy's ddot): now one reduction loop;
    # A.T @ x copied A.T before BLAS: now BLAS reads A through its transpose flag
    rng = np.random.default_rng(3)
    A, x, v = rng.standard_normal((300, 200)), rng.standard_normal(300), rng.standard_normal(5000)
    cases = [(lambda v: v @ v, (v,)), (lambda v: np.dot(v[::-1], v), (v,)),
             (lambda a: np.einsum("ij,ij->", a, a), (A,)), (lambda v: v[None, :] @ v[:, None], (v,)),
             (lambda a, x: a.T @ x, (A, x)), (lambda a, x: x @ a, (A, x)),
             (lambda a, x: np.einsum("ji,j->i", a, x), (A, x))]
    for f, args in cases:
        j = pb.jit(f)
        got, want = j(*args), f(*args)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        src = j.source(*args)
        assert "_tr" not in src  # no transposed copy
        if np.ndim(want) == 0 or np.size(want) == 1:
            assert "dot_into" not in src
    np.testing.assert_allclose(pb.jit(pb.grad(lambda v: v @ v))(v), 2 * v)


def test_large_concatenations_are_written_part_by_part():
    # read through index arithmetic, each element selected its part (all parts loaded,
    # no vector loop: 2.3x NumPy's time at 10^6); at CONCAT_BY_PARTS_SIZE elements and
    # above each part has a loop of its own, its producer fused in
    from pullback.backends.numba.codegen import CONCAT_BY_PARTS_SIZE

    a = np.random.default_rng(5).standard_normal(CONCAT_BY_PARTS_SIZE)
    m = a.reshape(-1, 64)
    cases = [(lambda a: np.concatenate([a, a * 2, a + 1]), a),
             (lambda a: np.sum(np.concatenate([a, a[::-1] * 3]) ** 2), a),
             (lambda m: np.hstack([m, np.sin(m)]), m), (lambda m: np.vstack([m, m.T[:, :64] * 2]), m)]
    for f, x in cases:
        j = pb.jit(f)
        np.testing.assert_allclose(j(x), f(x), rtol=1e-12)
        src = j.source(x)
        assert "_h.where(" not in src.split("concatenate", 1)[1]
    small = pb.jit(lambda a: np.concatenate([a[:100], a[:50]]) * 2)
    np.testing.assert_array_equal(small(a), np.concatenate([a[:100], a[:50]]) * 2)


def test_outer_products_are_broadcast_multiplies_that_fuse():
    # dot_general without contracting axes (np.outer, batched outer products, reverse
    # mode's x^T ct of a vector-matrix product) is a broadcast multiply: jacrev of
    # tanh(x @ W) made a (64, 128, 128) gemm, then copied it transposed
    rng = np.random.default_rng(2)
    W, x = rng.standard_normal((8, 16)), rng.standard_normal(8)
    f = pb.jacrev(lambda W, x: np.tanh(x @ W))
    ir = pb.make_ir(f, optimize=True)(W, x)
    outer = [e for e in ir.eqns if e.prim.name == "dot_general"
             and not e.params["dimension_numbers"][0][0]]
    assert not outer
    y = np.tanh(x @ W)
    want = np.einsum("i,jk->kij", x, np.diag(1 - y ** 2))  # d y_k / d W_ij
    np.testing.assert_allclose(pb.jit(f)(W, x), want, rtol=1e-12, atol=1e-15)  # (tanh: ulps)
    b1, b2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    cases = [(np.outer, (x, y)), (lambda a, b: np.einsum("bi,bj->bij", a, b), (b1, b2)),
             (lambda a, b: np.einsum("bi,bj->ibj", a, b), (b1, b2)),
             (lambda a, b: np.tensordot(a, b, 0), (b1, b2)),
             (lambda a, b: np.einsum("i,j->ij", a.astype(np.int64), b.astype(np.int64)), (b1[0] * 10, b2[0] * 10))]
    for g, args in cases:
        np.testing.assert_array_equal(pb.jit(g)(*args), g(*args))
