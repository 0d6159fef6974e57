"""Accuracy and IEEE semantics of backends/numba/vecmath.py.

References are computed in long double (x87 80-bit, 64-bit mantissa), so an
error of a few thousandths of an ulp in the reference is negligible against
the asserted bounds.  Inputs: random bit patterns (every exponent, both
signs, subnormals, huge values), dense grids over each function's
interesting range, and the special values.
"""
import numpy as np
import numba
import pytest

from pullback.backends.numba import vecmath as vm

NAMES = ["exp", "expm1", "log", "log1p", "tanh", "logistic", "sin", "cos"]
LD = np.longdouble

pytestmark = pytest.mark.skipif(np.finfo(LD).nmant < 63,
                                reason="needs x87 long double for the reference")


def reference(name, x):
    x = x.astype(LD)
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(x)
        if name == "expm1":
            return np.expm1(x)
        if name == "log":
            return np.log(x)
        if name == "log1p":
            return np.log1p(x)
        if name == "tanh":
            return np.tanh(x)
        if name == "logistic":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if name == "sin":       # glibc's sinl/cosl reduce huge arguments exactly
            return np.sin(x)
        if name == "cos":
            return np.cos(x)
    raise KeyError(name)


def random_bits(dtype, n, rng):
    """Uniform over bit patterns: every binade equally likely."""
    if dtype == np.float64:
        bits = rng.integers(0, 2 ** 63 - 1, size=n, dtype=np.int64)
        bits |= rng.integers(0, 2, size=n, dtype=np.int64) << 63
        x = bits.view(np.float64)
    else:
        bits = rng.integers(0, 2 ** 32, size=n, dtype=np.int64).astype(np.uint32)
        x = bits.view(np.float32)
    return x[np.isfinite(x)]


GRIDS = {  # (lo, hi) of a dense linear grid where the function is interesting
    "exp": [(-760.0, 720.0), (-1.0, 1.0), (-1e-6, 1e-6)],
    "expm1": [(-50.0, 720.0), (-1.0, 1.0), (-1e-6, 1e-6)],
    "log": [(0.0, 4.0), (0.5, 2.0), (1 - 1e-6, 1 + 1e-6), (0.0, 1e-300)],
    "log1p": [(-1.0, 4.0), (-0.5, 1.0), (-1e-6, 1e-6)],
    "tanh": [(-25.0, 25.0), (-1.0, 1.0), (-1e-6, 1e-6)],
    "logistic": [(-760.0, 760.0), (-40.0, 40.0), (-1e-6, 1e-6)],
    # the second range straddles 2**20, where the two range reductions meet
    "sin": [(-10.0, 10.0), (2.0 ** 20 - 100.0, 2.0 ** 20 + 100.0), (-1e-6, 1e-6)],
    "cos": [(-10.0, 10.0), (2.0 ** 20 - 100.0, 2.0 ** 20 + 100.0), (-1e-6, 1e-6)],
}
F32_GRIDS = {
    "exp": [(-110.0, 95.0)], "expm1": [(-20.0, 95.0)], "log": [(0.0, 4.0)],
    "log1p": [(-1.0, 4.0)], "tanh": [(-12.0, 12.0)], "logistic": [(-110.0, 110.0)],
    "sin": [(-10.0, 10.0)], "cos": [(-10.0, 10.0)],
}


def inputs(name, dtype, rng):
    parts = [random_bits(dtype, 100_000, rng)]
    for lo, hi in (GRIDS if dtype == np.float64 else F32_GRIDS)[name] + GRIDS[name][1:]:
        parts.append(np.linspace(lo, hi, 100_001, dtype=np.float64).astype(dtype))
    mags = 10.0 ** rng.uniform(-320 if dtype == np.float64 else -46,
                               308 if dtype == np.float64 else 38, 50_000)
    parts.append((mags * rng.choice([-1.0, 1.0], mags.size)).astype(dtype))
    with np.errstate(over="ignore"):
        return np.concatenate(parts).astype(dtype)


def ulp_errors(name, x, y):
    ref = reference(name, x)
    with np.errstate(all="ignore"):
        rounded = ref.astype(x.dtype)
    finite = np.isfinite(rounded)
    # where the correctly rounded result is inf/nan, demand exactly that
    special_ok = np.array_equal(y[~finite], rounded[~finite], equal_nan=True)
    spacing = np.spacing(np.abs(rounded[finite])).astype(LD)
    err = np.abs(y[finite].astype(LD) - ref[finite]) / spacing
    return err.astype(np.float64), special_ok, x[~finite][y[~finite] != rounded[~finite]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NAMES)
def test_max_ulp_error(name, dtype):
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inputs(name, dtype, rng)
    y = vm.ARRAY_LOOPS[name](x)
    assert y.dtype == dtype
    err, special_ok, bad = ulp_errors(name, x, y)
    bound = vm.ULP_BOUNDS[np.dtype(dtype).name][name]
    assert err.max() <= bound, (name, err.max())
    assert special_ok, (name, bad[:5])


SPECIALS = {
    "exp": [(np.inf, np.inf), (-np.inf, 0.0), (np.nan, np.nan), (0.0, 1.0), (-0.0, 1.0),
            (710.0, np.inf), (1e308, np.inf), (-746.0, 0.0), (-1e308, 0.0),
            (-745.1, 5e-324), (709.78, np.exp(709.78))],
    "expm1": [(np.inf, np.inf), (-np.inf, -1.0), (np.nan, np.nan), (0.0, 0.0), (-0.0, -0.0),
              (5e-324, 5e-324), (-5e-324, -5e-324), (710.0, np.inf), (-1e308, -1.0)],
    "log": [(np.inf, np.inf), (-np.inf, np.nan), (np.nan, np.nan), (0.0, -np.inf),
            (-0.0, -np.inf), (-1.0, np.nan), (-5e-324, np.nan), (1.0, 0.0),
            (5e-324, np.log(5e-324)), (1.7976931348623157e308, np.log(1.7976931348623157e308))],
    "log1p": [(np.inf, np.inf), (-np.inf, np.nan), (np.nan, np.nan), (0.0, 0.0), (-0.0, -0.0),
              (-1.0, -np.inf), (-1.5, np.nan), (5e-324, 5e-324), (-5e-324, -5e-324),
              (1.7976931348623157e308, np.log(1.7976931348623157e308))],
    "tanh": [(np.inf, 1.0), (-np.inf, -1.0), (np.nan, np.nan), (0.0, 0.0), (-0.0, -0.0),
             (5e-324, 5e-324), (-5e-324, -5e-324), (1e308, 1.0), (-30.0, -1.0)],
    "logistic": [(np.inf, 1.0), (-np.inf, 0.0), (np.nan, np.nan), (0.0, 0.5), (-0.0, 0.5),
                 (1e308, 1.0), (-1e308, 0.0), (-745.1, 5e-324), (40.0, 1.0)],
    "sin": [(np.inf, np.nan), (-np.inf, np.nan), (np.nan, np.nan), (0.0, 0.0), (-0.0, -0.0),
            (5e-324, 5e-324), (-5e-324, -5e-324), (1e-300, 1e-300),
            (1.7976931348623157e308, np.sin(1.7976931348623157e308)), (-1e22, np.sin(-1e22))],
    "cos": [(np.inf, np.nan), (-np.inf, np.nan), (np.nan, np.nan), (0.0, 1.0), (-0.0, 1.0),
            (5e-324, 1.0), (1.7976931348623157e308, np.cos(1.7976931348623157e308)),
            (1e22, np.cos(1e22))],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", NAMES)
def test_special_values_exact(name, dtype):
    cases = SPECIALS[name]
    with np.errstate(all="ignore"):
        x = np.array([c[0] for c in cases], dtype=dtype)
        expected = np.array([c[1] for c in cases], dtype=np.float64).astype(dtype)
    if dtype == np.float32:   # the float64 expectations do not all carry over
        with np.errstate(all="ignore"):
            expected = reference(name, x).astype(dtype)
    y = vm.ARRAY_LOOPS[name](x)
    assert np.array_equal(y, expected, equal_nan=True), (x, y, expected)
    # the sign of zero results is part of the contract
    zero = expected == 0
    assert np.array_equal(np.signbit(y[zero]), np.signbit(expected[zero]))


@pytest.mark.parametrize("name", NAMES)
def test_scalar_calls_keep_dtype_inside_njit(name):
    fn = getattr(vm, name)

    @numba.njit
    def both(a, b, i):
        return fn(a), fn(b), fn(i)

    r64, r32, ri = both(0.75, np.float32(0.75), 2)
    returned = both.nopython_signatures[0].return_type
    assert [str(t) for t in returned] == ["float64", "float32", "float64"]
    assert r64 == vm.ARRAY_LOOPS[name](np.array([0.75]))[0]
    assert r32 == vm.ARRAY_LOOPS[name](np.array([0.75], np.float32))[0]
    assert ri == vm.ARRAY_LOOPS[name](np.array([2.0]))[0]
    assert fn(0.75) == r64 and np.asarray(fn(np.float32(0.75))).dtype == np.float32


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_near_multiples_of_half_pi(name):
    """Where x is closest to a multiple of pi/2 the reduced argument is tiny
    and every bit of it must be right: the doubles nearest k*pi/2 (both range
    reductions), their neighbours, and the hardest case over all doubles
    (x = 6381956970095103 * 2**797, |x mod pi/2| ~ 2**-61)."""
    k = np.concatenate([np.arange(1, 100_000), np.unique(np.geomspace(1e5, 1e300, 20_000))])
    near = k * (np.pi / 2)
    x = np.concatenate([near, np.nextafter(near, 0), np.nextafter(near, np.inf), -near,
                        [6381956970095103 * 2.0 ** 797, -6381956970095103 * 2.0 ** 797]])
    x = x[np.isfinite(x)]
    err, special_ok, bad = ulp_errors(name, x, vm.ARRAY_LOOPS[name](x))
    assert err.max() <= vm.ULP_BOUNDS["float64"][name], err.max()
    assert special_ok, bad[:5]


def test_sincos_is_sin_and_cos():
    """Generated code calls sincos_f64 once where it needs both."""
    @numba.njit
    def both(a, s, c):
        for i in range(a.shape[0]):
            s[i], c[i] = vm.sincos_f64(a[i])

    x = np.concatenate([np.linspace(-10.0, 10.0, 1001), np.geomspace(1e5, 1e300, 101),
                        [np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, -1e-300]])
    s, c = np.empty_like(x), np.empty_like(x)
    both(x, s, c)
    for got, name in ((s, "sin"), (c, "cos")):
        want = vm.ARRAY_LOOPS[name](x)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_sincos_medium_equals_sincos_below_two_to_twenty():
    """The kernel without the huge-argument reduction gives the same bits below
    2**20 (random doubles, the doubles nearest k pi/2, signed zeros, subnormals),
    and NaN for NaN and infinities."""
    @numba.njit
    def pairs(a, s, c, sm, cm):
        for i in range(a.shape[0]):
            s[i], c[i] = vm.sincos_f64(a[i])
            sm[i], cm[i] = vm.sincos_medium_f64(a[i])

    rng = np.random.default_rng(11)
    k = np.arange(-600000, 600000, 97, dtype=np.float64)
    near = k * (np.pi / 2)
    x = np.concatenate([rng.uniform(-2.0**20, 2.0**20, 200000),
                        np.geomspace(1e-320, 2.0**20 * 0.999, 20000),
                        near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf),
                        [0.0, -0.0, 5e-324, -5e-324, np.nextafter(2.0**20, 0.0)]])
    x = np.concatenate([x, -x])
    s, c, sm, cm = (np.empty_like(x) for _ in range(4))
    pairs(x, s, c, sm, cm)
    np.testing.assert_array_equal(sm, s)
    np.testing.assert_array_equal(cm, c)
    assert np.array_equal(np.signbit(sm), np.signbit(s))
    special = np.array([np.nan, np.inf, -np.inf])
    s, c, sm, cm = (np.empty_like(special) for _ in range(4))
    pairs(special, s, c, sm, cm)
    assert np.isnan(sm).all() and np.isnan(cm).all()


def test_python_call_on_arrays_and_scalars():
    x = np.linspace(-3, 3, 12).reshape(3, 4)[:, ::2]       # non-contiguous 2-d
    np.testing.assert_allclose(vm.tanh(x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(vm.log1p(np.abs(x)), np.log1p(np.abs(x)), rtol=1e-15)
    assert np.ndim(vm.exp(1.0)) == 0 and abs(vm.exp(1.0) - np.e) <= 4.5e-16


def test_fused_loop_vectorizes():
    """A loop mixing several functions becomes SIMD code with no calls left."""
    @numba.njit(error_model="numpy")
    def fused(a, out):
        for i in range(a.shape[0]):
            out[i] = (vm.tanh(a[i]) * vm.exp(a[i]) + vm.log1p(vm.logistic(a[i]))
                      + vm.sin(a[i]) * vm.cos(a[i]))

    a = np.linspace(-5, 5, 101)
    out = np.empty_like(a)
    fused(a, out)
    ref = (np.tanh(a) * np.exp(a) + np.log1p(1 / (1 + np.exp(-a)))
           + np.sin(a) * np.cos(a))
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-16)
    llvm = fused.inspect_llvm(fused.signatures[0])
    body = llvm[llvm.index("define"):]
    body = body[:body.index("\n}")]            # the loop function itself
    assert "x double>" in body
    callees = {line.split("@")[1].split("(")[0] for line in body.splitlines()
               if " call " in line}
    assert all(c.startswith(("llvm.", "NRT_")) for c in callees), callees


def test_kernels_keep_ieee_semantics_in_fastmath_callers():
    """The kernels are compiled apart with their own flags and inlined by LLVM,
    so a caller compiled with fastmath=True (no-NaN/no-inf assumptions,
    reassociation) cannot break their range reduction or special values."""
    @numba.njit(fastmath=True)
    def apply_all(a, out):
        for i in range(a.shape[0]):
            x = a[i]
            out[0, i] = vm.exp(x)
            out[1, i] = vm.log(x)
            out[2, i] = vm.tanh(x)
            out[3, i] = vm.log1p(x)
            out[4, i] = vm.sin(x)
            out[5, i] = vm.cos(x)

    x = np.array([-np.inf, np.inf, np.nan, 0.0, -1.0, 1e-310, 0.3, 800.0, -800.0,
                  6381956970095103 * 2.0 ** 797, 1e22])
    out = np.empty((6, x.size))
    apply_all(x, out)
    for row, name in enumerate(["exp", "log", "tanh", "log1p", "sin", "cos"]):
        np.testing.assert_array_equal(out[row], vm.ARRAY_LOOPS[name](x))


def test_beyond_medium_marks_where_the_medium_kernel_is_wrong():
    @numba.njit
    def flags(a, out):
        for i in range(a.shape[0]):
            out[i] = vm.beyond_medium_f64(a[i])

    top = np.nextafter(2.0 ** 20, 0.0)
    x = np.array([0.0, -0.0, 1.0, top, -top, 2.0 ** 20, -2.0 ** 20, 1e22, -1e300,
                  np.finfo(np.float64).max, np.nan, np.inf, -np.inf])
    out = np.empty(x.shape, np.bool_)
    flags(x, out)
    assert out.tolist() == [False] * 5 + [True] * 5 + [False] * 3
