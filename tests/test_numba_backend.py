"""The numba backend equals the interpreter on every primitive.

Many checks share one traced function (one compiled kernel), to keep Numba's
compile time of this file small.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb
from passes_util import assert_bits
from pullback.backends.numba.codegen import BLAS_MIN_FLOPS
from pullback.ir import primitives as P
from pullback.tracer import lax

RNG = np.random.default_rng(0)


def both(f, *args, static_argnums=()):
    got = pb.jit(f, static_argnums=static_argnums)(*args)
    want = pb.jit(f, static_argnums=static_argnums, backend="interpreter")(*args)
    return got, want


def assert_same(got, want, rtol=1e-12, atol=0.0):
    gl, wl = _leaves(got), _leaves(want)
    assert len(gl) == len(wl)
    for i, (g, w) in enumerate(zip(gl, wl)):
        w = np.asarray(w)
        assert isinstance(g, np.ndarray), f"output {i} is {type(g)}"
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")


def _leaves(t):
    if isinstance(t, (tuple, list)):
        return [x for c in t for x in _leaves(c)]
    return [t]


def check(f, *args, rtol=1e-12, atol=0.0, static_argnums=()):
    got, want = both(f, *args, static_argnums=static_argnums)
    assert_same(got, want, rtol, atol)
    return got


TOL = {np.float64: (1e-12, 1e-300), np.float32: (2e-6, 1e-37)}

UNARY_FLOAT = ["exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos", "atan",
               "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sqrt", "rsqrt",
               "logistic", "erf", "floor", "ceil", "round", "neg", "abs", "sign",
               "is_finite", "signbit", "stop_gradient", "cbrt"]


def unary_all(x):
    out = []
    for name in UNARY_FLOAT:
        out.append(P.PRIMITIVES[name].bind(x))
    return tuple(out)


def _float_input(shape, dtype):
    x = RNG.uniform(-3, 3, size=shape).astype(dtype)
    flat = x.reshape(-1)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.5, 2.5, -1.5, 0.9, 1e-310, 1.5, -np.nan]
    flat[: min(flat.size, len(specials))] = specials[: flat.size]
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_float_ops(dtype):
    rtol, atol = TOL[dtype]
    # non-contiguous (transposed) input: one kernel per dtype for the 2-d layouts
    x = _float_input((5, 4), dtype).T
    with np.errstate(all="ignore"):
        check(unary_all, x, rtol=rtol, atol=atol)
    if dtype is np.float64:
        with np.errstate(all="ignore"):
            check(unary_all, np.float64(0.3), rtol=rtol)            # 0-d


def test_log2_and_log10_are_exact_at_powers_of_their_base():
    # libm's log2/log10 in both backends, NumPy's values; log(x) / ln(10) was not
    # exact there (floor(log10(1000.0)) was 2)
    for dt in (np.float64, np.float32):
        lo = np.finfo(dt).minexp - np.finfo(dt).nmant
        twos = np.ldexp(np.ones(1, dt), np.arange(lo, np.finfo(dt).maxexp)).astype(dt)
        tens = np.array([10.0 ** k for k in range(-30 if dt is np.float32 else -300,
                                                   39 if dt is np.float32 else 309)], dt)
        tens = tens[np.log10(tens) == np.round(np.log10(tens))]  # exactly representable
        for backend in ("numba", "interpreter"):
            f = pb.jit(lambda a, b: (np.log2(a), np.log10(b), np.floor(np.log10(b))),
                       backend=backend)
            l2, l10, fl = f(twos, tens)
            np.testing.assert_array_equal(l2, np.log2(twos))
            np.testing.assert_array_equal(l10, np.log10(tens))
            np.testing.assert_array_equal(fl, np.round(np.log10(tens)))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_hypot_is_numpys(backend):
    # libm's hypot, as NumPy's (the scaled max * sqrt(1 + r^2) was 2 ulp off)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000) * 10.0 ** rng.integers(-300, 300, 5000)
    y = rng.standard_normal(5000) * 10.0 ** rng.integers(-300, 300, 5000)
    s = np.array([np.inf, np.nan, -np.inf, 0.0, -0.0, 1e-310, 1e300])
    x, y = np.concatenate([x, s]), np.concatenate([y, [np.nan, np.inf, 1.0, 0.0, -0.0, 1e-310, 1e300]])
    f = pb.jit(np.hypot, backend=backend)
    np.testing.assert_array_equal(f(x, y), np.hypot(x, y))
    x32, y32 = (x / 1e280).astype(np.float32), (y / 1e280).astype(np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(x32, y32), np.hypot(x32, y32))


def test_cbrt_is_exact_at_cubes_and_within_an_ulp_of_numpy():
    # glibc's cbrt, which Numba's np.cbrt calls, gives cbrt(27.0) = 3.0000000000000004
    cubes = np.arange(-3000.0, 3000.0) ** 3
    np.testing.assert_array_equal(pb.jit(np.cbrt)(cubes), np.arange(-3000.0, 3000.0))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20000) * 10.0 ** rng.integers(-323, 308, 20000)
    x = np.concatenate([x, [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -1e-310,
                            np.finfo(float).max, np.finfo(float).tiny]])
    got, want = pb.jit(np.cbrt)(x), np.cbrt(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    assert np.max(np.abs(got - want)[finite] / np.spacing(np.abs(want[finite]))) <= 1
    # float32: float64's root rounded once (NumPy's float32 loop is up to 1 ulp off)
    x32 = x[np.abs(x) < 1e38].astype(np.float32)
    np.testing.assert_array_equal(pb.jit(np.cbrt)(x32),
                                  np.cbrt(x32.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_large_integer_powers_are_c99_pow(backend):
    # square-and-multiply's error grows with the exponent (x**31 was 21 ulp off): beyond
    # the fourth power both backends call pow, as NumPy does (glibc's or NumPy's own,
    # which differ by at most an ulp)
    x = np.random.default_rng(0).uniform(0.5, 2.0, 20000)
    for n in (5, 13, 31, -5, -7):
        got = pb.jit(lambda a: a ** n, backend=backend)(x)
        want = np.power(x, float(n))
        assert np.max(np.abs(got - want) / np.spacing(np.abs(want))) <= 1, n
    # x**-7 of 1e50 underflows to 0.0 as pow does, and special values are pow's
    s = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -2.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(pb.jit(lambda a: a ** -7, backend=backend)(s), s ** -7.0)
    pb.check_grads(lambda a: a ** 7, (np.array([0.7, 1.3]),), order=2)
    # x**-2..-4 too: 1 / x**2 was 0 where x**2 overflows and pow's is a subnormal
    big = np.array([1e160, 1.7e154, 10 ** (310 / 3), 10 ** 77.5, 3.0, -2.5])
    for n in (-2, -3, -4):
        got = pb.jit(lambda a: a ** n, backend=backend)(big)
        want = np.power(big, float(n))
        tiny = (want > 0) & (want < np.finfo(float).tiny)  # subnormal results
        assert tiny.any() and np.array_equal(got[tiny], want[tiny]), n
        assert np.max(np.abs(got - want) / np.spacing(np.abs(want))) <= 1, n


def binary_all(x, y):
    out = [x + y, x - y, x * y, np.maximum(x, y), np.minimum(x, y), x < y, x <= y,
           x > y, x >= y, x == y, x != y, np.where(x < y, x, y * 2)]
    if x.dtype.kind == "f":
        out += [x / y, np.arctan2(x, y), x ** 2, x ** -3, x ** 0, np.power(abs(x), y)]
    else:
        out += [x // y, x % y, x ** 3]
    return tuple(out) + (np.mod(x, y),)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_binary_ops_with_broadcasting(dtype):
    if dtype == np.int64:
        x = RNG.integers(-9, 9, size=(4, 1))
        y = RNG.integers(1, 5, size=(1, 5)) * RNG.choice([-1, 1], size=(1, 5))
    else:
        x = _float_input((4, 1), dtype)
        y = _float_input((1, 5), dtype)
        y[0, 0] = 0.0  # division by zero gives inf/nan, never an exception
    rtol, atol = TOL.get(dtype, (0, 0))
    with np.errstate(all="ignore"):
        check(binary_all, x, y, rtol=rtol, atol=atol)


def test_bool_and_int_logic():
    def f(a, b, i, j):
        return (a & b, a | b, ~a, np.logical_not(b), i & j, i | j, ~i,
                lax.convert(a, np.float64), lax.convert(i, np.float32),
                lax.convert(lax.convert(i, np.float64) * 0.7, np.int64),
                lax.convert(i, np.bool_), np.max(a), np.min(a, axis=0))
    a = RNG.random((3, 4)) < 0.5
    b = RNG.random((3, 4)) < 0.5
    i = RNG.integers(-5, 5, (3, 4))
    j = RNG.integers(-5, 5, (3, 4))
    check(f, a, b, i, j)


def test_reductions_fused_and_layouts():
    def f(x, m):
        e = np.exp(x)
        return (np.sum(e), np.sum(e, axis=0), np.sum(e * 2, axis=1), np.prod(x, axis=(0, 2)),
                np.max(x, axis=2), np.min(x, axis=(0, 1)), np.max(m), np.min(m, axis=1),
                lax.reduce_sum(x, ()), np.sum(x, axis=1) + 1.0)
    x = RNG.standard_normal((3, 4, 5)).transpose(1, 0, 2).copy().transpose(1, 0, 2)
    m = RNG.standard_normal((4, 3))
    m[1, 2] = np.nan  # max/min propagate NaN
    check(f, x, m)
    check(lambda x: (np.sum(np.exp(x), axis=1), np.sum(x), np.max(x, axis=0)), np.zeros((3, 0, 5)))


def test_reduction_source_is_one_loop():
    src = pb.jit(lambda x: np.sum(np.exp(x))).source(np.ones(10))
    assert src.count("for i") == 1
    assert "_h.empty" not in src  # no temporary for exp(x)


def test_elementwise_chain_is_one_loop_without_temporaries():
    f = pb.jit(lambda x, y: np.tanh(x * y.T + 1.0) * 3.0 - np.sin(x))
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 3))
    src = f.source(x, y)
    assert src.count("_h.empty") == 1 and src.count("for i0") == 1
    np.testing.assert_allclose(f(x, y), np.tanh(x * y.T + 1.0) * 3.0 - np.sin(x), rtol=1e-12)
    assert "# " in src and "tanh" in src


def test_layout_ops():
    def f(x, v):
        return (x.T, x.reshape(6, 4), x.reshape(2, 1, 12), x[1:, ::2], x[::-1, :],
                lax.rev(x, (0, 1)), lax.pad(x, 0.5, [(1, 2, 1), (0, 1, 0)]),
                lax.broadcast_in_dim(v, (3, 4, 2), (1,)), lax.iota(np.int64, (3, 4), 1),
                lax.iota(np.float32, (2, 3), 0),
                np.concatenate([x, 2 * x, x[:, :1]], axis=1),
                np.stack([v, v + 1]), lax.transpose(x.reshape(2, 3, 4), (2, 0, 1)),
                x.reshape(4, 6).T.reshape(24) + 0.0, x.reshape(-1)[5])
    x = RNG.standard_normal((4, 6)).T  # non-contiguous input
    v = RNG.standard_normal(4)
    check(f, x, v)


def test_gather_scatter_cumsum_arg():
    def f(x, i, j):
        return (lax.gather(x, i, 0), lax.gather(x, j, 1), x[2], x[:, -1],
                lax.scatter_add(x, i, 0, 7), lax.scatter_add(x[:2, :2], j, 0, 3),
                lax.cumsum(x, 0), lax.cumsum(x, 1, reverse=True), np.argmax(x, axis=1),
                np.argmin(x, axis=0), np.argmax(x[0]))
    x = RNG.standard_normal((5, 4))
    x[3, 1] = np.nan
    i = np.array([0, 4, -3, 9, 2])  # clamped indices
    j = np.array([[1, 3], [0, 7]])
    check(f, x, i, j)
    ii = RNG.integers(-9, 9, (6,))
    check(lambda a: (lax.cumsum(a, 0), np.argmax(a), lax.gather(a, a, 0)), ii)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_dot_general(dtype):
    def f(a, b, c, v, w, big1, big2):
        return (a @ b, v @ w, a @ v, w @ b, c @ c.transpose(0, 2, 1),
                lax.dot_general(c, c, (((2,), (2,)), ((0,), (0,)))),
                lax.dot_general(a, b.T, (((1,), (1,)), ((), ()))),
                big1 @ big2, big1.T @ big2.T, np.einsum("ij,jk->ik", a, b))
    mk = (lambda *s: RNG.integers(-4, 4, s).astype(dtype)) if dtype == np.int64 else \
        (lambda *s: RNG.standard_normal(s).astype(dtype))
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    check(f, mk(3, 4), mk(4, 5), mk(2, 3, 4), mk(4), mk(4), mk(16, 12), mk(12, 16),
          rtol=rtol, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_dot_empty_contraction():
    check(lambda a, b: a @ b, np.zeros((3, 0)), np.zeros((0, 4)))


def test_scalar_program_and_python_scalars():
    def f(x, y, n):
        z = np.sin(x) * y + x ** 3 - np.sqrt(y)
        return z, z / x, np.floor(z), n * 2, n // 3, -n % 4, np.float32(2.5) * lax.convert(x, np.float32)
    got = check(f, 1.25, np.float64(2.0), 7)
    assert all(isinstance(g, np.ndarray) for g in got)
    assert got[-1].dtype == np.float32


def test_float32_stays_float32():
    f = pb.jit(lambda x: (np.exp(x) * 2.0 + 1, np.sum(x * x), np.max(x), x @ x))
    x = RNG.standard_normal(300).astype(np.float32)
    out = f(x)
    assert all(o.dtype == np.float32 for o in out)
    np.testing.assert_allclose(out[0], np.exp(x) * 2 + 1, rtol=2e-6)
    np.testing.assert_allclose(out[1], np.sum(x * x), rtol=1e-4)


def test_outputs_never_alias_inputs_or_constants():
    c = np.arange(3.0)

    def f(x):
        return x, x, c, x.reshape(3), c * 1.0

    jf = pb.jit(f)
    x = np.ones(3)
    outs = jf(x)
    outs[0][0] = 99.0
    outs[2][0] = 99.0
    assert x[0] == 1.0 and outs[1][0] == 1.0 and outs[3][0] == 1.0
    again = jf(x)
    assert again[2][0] == 0.0 and again[4][0] == 0.0


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_a_value_returned_twice_is_two_arrays(backend):
    # CSE (and scan_io's merged scan outputs) make both outputs one IR value
    x = np.arange(3.0)
    a, b, c, d = pb.jit(lambda x: (x * 2, x * 2, x, x), backend=backend)(x)
    a[0] = c[0] = 99.0
    assert b[0] == 0.0 and d[0] == 0.0 and x[0] == 0.0


def test_pytrees_and_static_argnums():
    def f(d, k):
        return {"s": d["a"] * k, "t": [d["b"].sum(), d["a"][:k]]}
    jf = pb.jit(f, static_argnums=1)
    d = {"a": np.arange(4.0), "b": np.ones((2, 2))}
    out = jf(d, 2)
    np.testing.assert_allclose(out["s"], np.arange(4.0) * 2)
    np.testing.assert_allclose(out["t"][1], [0.0, 1.0])
    assert out["t"][0] == 4.0


def test_every_primitive_has_a_lowering():
    from pullback.backends.numba import codegen, lowering
    covered = (set(lowering.scalar_rules) | codegen.VIRTUAL | codegen.REDUCE
               | set(codegen.CALLS) | {P.integer_pow_p})
    inlined = {p for p in P.PRIMITIVES.values() if p.name.startswith("custom_")}
    control = {p for p in P.PRIMITIVES.values() if p.name in ("cond", "while", "scan")}
    missing = {p.name for p in P.PRIMITIVES.values()} - {p.name for p in covered | inlined | control}
    assert not missing, missing


def test_unlowerable_primitive_names_itself_and_the_interpreter():
    from pullback.backends import numba as nb
    from pullback.ir.core import IR, Eqn, ShapedArray, Var

    fake = P.Primitive("frobnicate")
    a, b = Var(ShapedArray((2,), np.float64)), Var(ShapedArray((2,), np.float64))
    ir = IR([], [], [a], [Eqn(fake, [a], [b], {})], [b])
    with pytest.raises(NotImplementedError, match="frobnicate.*interpreter"):
        nb.compile(ir)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_reductions_and_arithmetic_keep_dtype(dtype):
    def f(x, y):
        return (np.max(x, axis=0), np.min(x), x + y, x * y, x // y, x % y, -x, abs(x),
                np.sign(x), np.sum(x, axis=1), x ** 2, np.prod(x[:, 1:], axis=0))
    x = np.arange(-6, 6).reshape(3, 4).astype(dtype)
    y = np.array([1, -2, 3, 5], dtype)
    check(f, x, y)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_floor_division_edges(dtype):
    # NumPy's MIN // -1 wraps to MIN (Numba's own // gives 0); x // 0 and x % 0 are 0
    info = np.iinfo(dtype)
    x = np.array([-7, -1, 0, 1, 7, info.min, info.max, info.min, 5], dtype)
    y = np.array([2, -2, 0, 0, -3, -1, -1, 1, 0], dtype)

    def f(x, y):
        return x // y, x % y, x // -1, np.floor_divide(x, 3), np.fmod(x, y), np.fmod(y, x)

    with np.errstate(all="ignore"):
        got, want = both(f, x, y)
    # C's fmod (x's sign), also at MIN, where |MIN| wraps
    np.testing.assert_array_equal(got[4], np.fmod(x, y))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == dtype
        np.testing.assert_array_equal(g, w)


def test_integer_overflow_wraps_as_numpy_where_llvm_sees_it():
    # Numba's no-signed-wrap + - * let LLVM fold x + 1 > x to True at the int64 maximum
    big, small = np.array([np.iinfo(np.int64).max]), np.array([np.iinfo(np.int64).min])
    cases = [(lambda x: x + 1 > x, big), (lambda x: (x * 2) // 2, big),
             (lambda x: np.sign(x + 1), big), (lambda x: -x < 0, small),
             (lambda x: x + (-2 ** 63), np.array([-1, 5])), (lambda x: x ** 3 // x, np.array([3 * 10 ** 6])),
             (lambda x: np.sum(x) > 0, np.array([2 ** 62, 2 ** 62])),
             (lambda x: np.prod(x) == 0, np.array([2 ** 40, 2 ** 40])),
             (lambda x: np.minimum(x, x) - 1 < np.minimum(x, x), small)]
    for f, a in cases:
        with np.errstate(all="ignore"):
            want = f(a)
        got, interp = both(f, a)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(interp, want)


def test_float_to_int_casts_of_nan_and_out_of_range_values():
    # NumPy's casts give the integer minimum for NaN, inf and values out of range (x86);
    # LLVM's fptosi is undefined there and folded such values it could see into garbage
    v = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e19, -1e19, 2.5, -2.7, -2147483648.9,
                  2147483647.5, -2.0 ** 63, 2.0 ** 63, 0.0, -0.0])
    for ft in (np.float64, np.float32):
        for it in (np.int32, np.int64):
            with np.errstate(invalid="ignore"):
                want = v.astype(ft).astype(it)
            got = pb.jit(lambda a: a.astype(it))(v.astype(ft))
            np.testing.assert_array_equal(got, want)
    x = np.array([1.0, -2.0, 3.0])
    lo = np.iinfo(np.int64).min
    for f in (lambda x: (x + np.nan).astype(np.int64),  # constants LLVM sees
              lambda x: np.clip(x, None, -1e300).astype(np.int64),
              lambda x: np.maximum(x, 1e19).astype(np.int64),
              lambda x: (x * np.inf).astype(np.int64)):
        np.testing.assert_array_equal(pb.jit(f)(x), [lo] * 3)
    assert pb.jit(lambda x: (x * np.inf).astype(np.int32))(x).tolist() == [-2 ** 31] * 3


def test_product_with_identity_is_a_view_and_keeps_ieee_rows():
    # reverse mode builds identity matrices (trace, jacobian bases); a product with
    # one big enough for BLAS lowers to a read of the other operand, with BLAS's nan
    # for rows holding inf/nan elsewhere (inf * 0), for each contraction layout and
    # either side (smaller ones, and integer ones, are a multiply and a sum: the
    # same values, see test_small_products_are_fused_loops)
    x = RNG.standard_normal((8, 10))
    x[1, 2] = np.inf
    sq = RNG.standard_normal((10, 10))
    sq[0, 3], sq[2, 0] = np.nan, -np.inf
    sq[3, 1], sq[3, 2] = np.inf, np.inf  # two in row 3: it becomes all nan

    def eye(n, dtype):
        return lax.convert(
            lax.eq(lax.iota(np.int64, (n, n), 0), lax.iota(np.int64, (n, n), 1)), dtype)

    def f(a, b, i):
        outs = []
        for (lc, rc) in [((1,), (0,)), ((1,), (1,)), ((0,), (0,)), ((0,), (1,))]:
            # a.T and b * 2.0 are read through index arithmetic (no array): their
            # rows are checked by a loop in the kernel instead of the helper
            for m in (a, b, i, a.T, b * 2.0):
                n_r = m.shape[lc[0]]
                outs.append(lax.dot_general(m, eye(n_r, m.dtype), ((lc, rc), ((), ()))))
                n_l = m.shape[rc[0]]
                outs.append(lax.dot_general(eye(n_l, m.dtype), m, ((lc, rc), ((), ()))))
        return outs

    args = (x, sq, np.arange(12).reshape(4, 3))
    got, want = both(f, *args)
    assert_same(got, want, rtol=0.0)
    src = pb.jit(f).source(*args)
    assert "product with the identity" in src and "dot_into" not in src
    assert "_h.extern('identity_keep'" in src and "math.isfinite(" in src  # both ways


@st.composite
def identity_products(draw):
    """(operand, contraction, identity on the left?, view?) with inf/nan placed so
    that rows hold none, one or several of them."""
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    x = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) - 3.0
    x[x == 0] = -0.0
    for _ in range(draw(st.integers(0, 4))):
        i, j = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
        x[i, j] = draw(st.sampled_from([np.inf, -np.inf, np.nan]))
    contraction = draw(st.sampled_from([((1,), (0,)), ((1,), (1,)), ((0,), (0,)), ((0,), (1,))]))
    return x, contraction, draw(st.booleans()), draw(st.sampled_from(["array", "T", "scaled"]))


@settings(max_examples=int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "30")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(identity_products())
def test_products_with_identity_random(case):
    # the kept element of each row (calls._identity_product): all of them, the only
    # non-finite one, or none; for operands that are arrays or views
    x, (lc, rc), eye_left, view = case

    def eye(n):
        return lax.convert(lax.eq(lax.iota(np.int64, (n, n), 0),
                                  lax.iota(np.int64, (n, n), 1)), np.float64)

    def f(a):
        m = {"array": a, "T": a.T, "scaled": a * 2.0}[view]
        if eye_left:
            return lax.dot_general(eye(m.shape[rc[0]]), m, ((lc, rc), ((), ())))
        return lax.dot_general(m, eye(m.shape[lc[0]]), ((lc, rc), ((), ())))

    with np.errstate(all="ignore"):
        got, want = both(f, x)
    assert_bits(got, want)  # values, NaN positions, zero signs (-0.0 -> +0.0)
    n = (x.shape[::-1] if view == "T" else x.shape)[rc[0] if eye_left else lc[0]]
    big = x.size * n >= BLAS_MIN_FLOPS  # else a multiply and a sum (small_products.py)
    assert ("product with the identity" in pb.jit(f).source(x)) == big


def test_small_products_are_fused_loops():
    # products too small for BLAS, of any layout, batched or not, integer or float,
    # are a multiply and a sum the loops fuse: no operand copied, no helper called
    rng = np.random.default_rng(5)
    a = rng.integers(-3, 4, (2, 3, 4)).astype(np.float64)
    b = rng.integers(-3, 4, (2, 4, 5)).astype(np.float64)
    a[0, 1, 2], b[1, 3, 0] = np.inf, np.nan

    def f(a, b):
        return [lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),          # batched
                lax.dot_general(a[0], b[0], (((1,), (0,)), ((), ()))),         # plain
                lax.dot_general(a[1].T, b[0], (((0,), (0,)), ((), ()))),       # a view
                lax.dot_general(b[0], a[1], (((0,), (1,)), ((), ()))),         # both sides
                lax.dot_general(a, a, (((1, 2), (1, 2)), ((0,), (0,)))),       # two axes
                lax.dot_general(a[:, :, :0], b[:, :0], (((2,), (1,)), ((0,), (0,)))),  # K = 0
                lax.dot_general(lax.convert(a[1], np.int64) * 0 + 7,
                                np.arange(20).reshape(4, 5), (((1,), (0,)), ((), ())))]

    for args in ((a, b), (a.astype(np.float32), b.astype(np.float32))):
        with np.errstate(all="ignore"):
            got, want = both(f, *args)
        for g, w in zip(got, want):
            assert_bits(g, w)  # the sums of small integers are exact in any order
    src = pb.jit(f).source(a, b)
    assert "matmul3" not in src and "dot_into" not in src and "_tr" not in src


@st.composite
def scaled_products(draw):
    """Operands with small integer values (every sum is exact, in any order), rows
    and columns of zeros, inf/nan; a scaling or sum the gemm may take as its
    alpha/beta, or not; sizes for BLAS and for loops."""
    m, k, n = (draw(st.sampled_from([2, 3, 9, 16])) for _ in range(3))

    def operand(rows, cols):
        x = np.array(draw(st.lists(st.integers(-3, 3), min_size=rows * cols,
                                   max_size=rows * cols)), dtype=np.float64).reshape(rows, cols)
        if draw(st.booleans()):
            x[draw(st.integers(0, rows - 1))] = draw(st.sampled_from([0.0, -0.0]))
        if draw(st.booleans()):
            x[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = draw(
                st.sampled_from([np.inf, -np.inf, np.nan]))
        return x

    a, b, c = operand(m, k), operand(k, n), operand(m, k)
    return a, b, c, draw(st.sampled_from(["neg", "2", "0.5", "-3", "0", "sum", "sum-neg", "T"]))


@settings(max_examples=int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "30")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(scaled_products())
def test_scaled_products_random(case):
    # calls._epilogue folds some of these into the gemm call: the values, NaN
    # positions and zero signs must be the interpreter's
    a, b, c, how = case

    def f(a, b, c):
        p = a @ b
        return {"neg": lambda: -p, "2": lambda: 2.0 * p, "0.5": lambda: p * 0.5,
                "-3": lambda: -3.0 * p, "0": lambda: p * 0.0, "sum": lambda: p + c @ b,
                "sum-neg": lambda: p + (-c) @ b, "T": lambda: 2.0 * (b.T @ a.T)}[how]()

    with np.errstate(all="ignore"):
        got, want = both(f, a, b, c)
    assert_bits(got, want)


def test_cheap_values_recomputed_in_consuming_loops_equal_interpreter():
    # e = (x == max) and h = e / count are recomputed in later loops, not stored
    def f(x):
        m = lax.reduce_max(x, (1,))
        mb = lax.broadcast_in_dim(m, x.shape, (0,))
        e = lax.convert(lax.eq(x, mb), np.float64)
        cnt = lax.broadcast_in_dim(lax.reduce_sum(e, (1,)), x.shape, (0,))
        h = lax.div(e, cnt)
        s = lax.broadcast_in_dim(lax.reduce_sum(lax.exp(lax.sub(x, mb)), (1,)), x.shape, (0,))
        return lax.add(lax.mul(h, s), lax.neg(e))

    x = RNG.standard_normal((5, 7))
    x[2, :3] = x[2].max() + 1.0  # ties in a row
    got, want = both(f, x)
    assert_same(got, want)
    assert "recomputed" in pb.jit(f).source(x)


def test_llvm_options_are_set_only_while_a_kernel_compiles(monkeypatch, tmp_path):
    # backends/numba/llvm_options.py: LLVM's options are process-wide, so the
    # vectorized-remainder threshold is set when Numba starts compiling a pullback
    # kernel and restored when it ends; the user's own njit functions never see it
    import numba

    from pullback.backends.numba import llvm_options

    calls = []
    monkeypatch.setattr(llvm_options, "_set", calls.append)
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))  # compiled, not loaded
    f = pb.jit(lambda x: np.sum(np.exp(x[:, :19] * 0.8125), axis=1))
    x = np.random.default_rng(0).standard_normal((64, 23))
    want = np.sum(np.exp(x[:, :19] * 0.8125), axis=1)
    np.testing.assert_allclose(f(x), want, rtol=1e-14)
    assert calls == [0, 1]  # kernel options on, then LLVM's defaults back

    @numba.njit
    def user(v):
        return v * 2.0

    user(1.5)
    assert calls == [0, 1]
    # nor does a user's function made by exec without a module name (__module__ None),
    # which made the listener raise inside Numba's compile of it
    ns = {"__builtins__": __builtins__}
    exec("def made(v):\n    return v + 1.0\n", ns)
    assert ns["made"].__module__ is None
    assert numba.njit(ns["made"])(1.5) == 2.5
    assert calls == [0, 1]


def test_long_float_sums_add_up_in_blocks():
    # one accumulator (LLVM's vector lanes) over 10^6 values of 0.1 erred by 5.6e-13
    # relative (NumPy's pairwise sum: 3e-16); partial sums per block of the innermost
    # loop, and per row of a longer reduction, bring it near NumPy's
    for shape in [(10**6,), (2000, 1000), (3, 20001)]:
        x = np.full(shape, 0.1)
        total = pb.jit(np.sum)(x)
        assert abs(total - 0.1 * x.size) <= 1e-14 * 0.1 * x.size, (shape, float(total))
    # a row's sum across blocks, next to a max and a stored value of the same loop
    x = np.random.default_rng(3).standard_normal((3, 20001))

    def f(x):
        e = np.exp(x)
        return e, np.sum(e * 2, axis=1), np.max(x, axis=1)

    got = pb.jit(f)(x)
    want = f(x)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15)  # vecmath exp: an ulp
    np.testing.assert_allclose(got[1], want[1], rtol=1e-14)
    np.testing.assert_array_equal(got[2], want[2])
    # float32 values add up in float64 within the blocks too
    r = np.random.default_rng(10).random(10**5).astype(np.float32)
    assert pb.jit(np.sum)(r) == np.float32(np.sum(r.astype(np.float64)))
    # integer sums are exact in any order and keep their one accumulator
    k = np.arange(10**5)
    assert pb.jit(np.sum)(k) == np.sum(k)


def test_float32_sums_add_up_in_float64():
    # a float32 accumulator in order errs by up to ~n ulp (NumPy's pairwise sum by
    # ~log n): the kernels' sums of float32 values accumulate in float64 and round once
    r = np.random.default_rng(10).random(10**6).astype(np.float32)
    exact = np.float32(np.sum(r.astype(np.float64)))  # the correctly rounded sum
    assert pb.jit(np.sum)(r) == exact
    assert pb.jit(np.sum)(r).dtype == np.float32
    rows = r.reshape(100, 10**4)
    got = pb.jit(lambda m: np.sum(m, axis=1) * np.float32(2.0))(rows)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, rows.astype(np.float64).sum(1).astype(np.float32) * 2)
    mean = pb.jit(np.mean)(r)
    assert mean.dtype == np.float32 and mean == np.float32(exact / np.float32(r.size))
    # also where the accumulators are an array (reducing a leading axis): they added
    # up in float32 (0.27% off for 2e7 values of 0.1)
    for par in (False, True):
        cols = pb.jit(lambda m: np.sum(m, axis=0), parallel=par)(r.reshape(-1, 4))
        want = r.reshape(-1, 4).astype(np.float64).sum(0).astype(np.float32)
        assert cols.dtype == np.float32
        np.testing.assert_array_equal(cols, want)
        one = pb.jit(lambda v: np.sum(v.reshape(-1, 1), axis=0), parallel=par)(r)
        assert one[0] == exact
    # next to nests that could share its loop, and read back where the reduced axis is
    # a unit one (no loop: the value is read in the same loop)
    a, c = r[:350].reshape(50, 7), r[350:500].reshape(50, 3)
    for f in (lambda a, c: (np.sum(a, axis=0), c * 2), lambda a, c: (c * 2, np.sum(a, axis=0)),
              lambda a, c: np.sum(a[:1], axis=0)[None, :3] * c):
        got, want = pb.jit(f)(a, c), pb.jit(f, backend="interpreter")(a, c)
        for x, y in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(x, y, rtol=1e-6)


def test_blas_product_read_only_by_a_multi_output_op():
    """A product big enough for BLAS whose one consumer has several outputs (slogdet,
    eigh, a loop's carry, a cond) keeps its own array: the gemm epilogue that writes a
    scaling or a sum of products in place assumed a one-output consumer and raised."""
    rng = np.random.default_rng(12)
    X, A, B = rng.normal(size=(40, 5)), rng.normal(size=(16, 16)), rng.normal(size=(16, 16))
    cases = [
        (lambda X: np.linalg.slogdet(X.T @ X)[1], (X,)),
        (lambda X: np.linalg.eigh(X.T @ X)[0], (X,)),
        (lambda A, B: np.linalg.qr(A @ B)[1], (A, B)),
        (lambda A, B: pb.cond(A[0, 0] > 0, lambda m: (m, 2 * m), lambda m: (m, 3 * m), A @ B), (A, B)),
        (lambda A, B: pb.fori_loop(0, 3, lambda i, c: (c[0] * 0.5, c[1] + 1.0), (A @ B, 0.0)),
         (A, B)),
    ]
    for f, args in cases:
        got, want = both(f, *args)
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_a_source_file_name_with_a_line_break_compiles():
    # the equations' source lines are comments of the kernel: a file name holding a
    # line break ended one and left the rest as code (a SyntaxError)
    ns = {"np": np}
    exec(compile("def f(x):\n    return np.sin(x) * 2.0\n", "my\nfile\r.py", "exec"), ns)
    f = pb.jit(ns["f"])
    np.testing.assert_array_equal(f(np.ones(2)), np.sin(np.ones(2)) * 2.0)
    assert "[my file .py:2 (f)]" in f.source(np.ones(2))


def test_long_chains_of_views_and_many_part_concatenations_compile():
    # before: a chain of hstacks doubled its read expression per step (killed at 50
    # steps), rolls doubled the walk over their sources, and a concatenation of 200
    # parts nested 200 selects (a SyntaxError: too many nested parentheses)
    x = np.arange(16.0)

    def hstacks(v):
        for _ in range(60):
            v = np.hstack([v[:8], v[8:]])
        return v

    def rolls(v):
        for _ in range(40):
            v = np.roll(v, 1)
        return v

    np.testing.assert_array_equal(pb.jit(hstacks)(x), x)
    np.testing.assert_array_equal(pb.jit(rolls)(x), np.roll(x, 40))
    y = np.arange(60.0)
    parts = lambda v: np.concatenate([v[2 * i:2 * i + 2] * i for i in range(30)])  # noqa: E731
    np.testing.assert_array_equal(pb.jit(parts)(y), parts(y))
    m = np.arange(120.0).reshape(3, 40)
    cols = lambda v: np.concatenate([v[:, i:i + 2] for i in range(0, 40, 2)] + [v], axis=1)  # noqa: E731
    np.testing.assert_array_equal(pb.jit(cols)(m), cols(m))
