"""scipy.special.gammaln and psi (digamma) on traced values: the primitives lgamma, digamma
and polygamma[n] (digamma's n-th derivative, which their derivatives chain into).
The interpreter calls SciPy; compiled code calls libm's lgamma and pullback's own
digamma/polygamma (backends/numba/helpers.py), checked here against SciPy.
"""
import numpy as np
import pytest
import scipy.special as special

import pullback as pb
from pullback.tracer import lax

RNG = np.random.default_rng(11)
SPECIAL_POINTS = np.array([0.0, -0.0, -1.0, -2.0, -2.5, np.inf, -np.inf, np.nan, 1e-300, 1e300,
                           0.5, 1.0, 2.0, 1.4616321449683622, 171.5, -170.5])


def _points():
    return np.concatenate([RNG.uniform(-20, 20, 400), RNG.uniform(0, 3, 300),
                           10 ** RNG.uniform(-8, 12, 200), -(10 ** RNG.uniform(-3, 6, 200)) + 0.31,
                           SPECIAL_POINTS])


CASES = [
    ("gammaln", special.gammaln, special.gammaln),
    ("psi", special.psi, special.psi),
    ("digamma", special.digamma, special.psi),
    ("polygamma1", lambda x: lax.polygamma(1, x), lambda x: special.polygamma(1, x)),
    ("polygamma2", lambda x: lax.polygamma(2, x), lambda x: special.polygamma(2, x)),
    ("polygamma5", lambda x: lax.polygamma(5, x), lambda x: special.polygamma(5, x)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,ref", CASES, ids=[c[0] for c in CASES])
def test_compiled_against_scipy(name, fn, ref, dtype):
    """float64: relative error 1e-13 where the value is not near a zero of the function
    (there ~1e-15 absolute), and SciPy's inf/nan at poles and infinities; float32 is
    computed in float64 and rounded once, as SciPy's float32 loops: equal to SciPy's."""
    x = _points().astype(dtype)
    with np.errstate(all="ignore"):
        want = np.asarray(ref(x)).astype(dtype)
        for backend in ("interpreter", "numba"):
            got = pb.jit(fn, backend=backend)(x)
            assert got.dtype == dtype
            special_ = ~np.isfinite(want)
            np.testing.assert_array_equal(got[special_], want[special_])
            if dtype == np.float32:
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-14)  # one rounding each
                continue
            err = np.abs(got - want)[~special_]
            scale = np.abs(want[~special_])
            assert np.all(err <= 1e-13 * scale + 4e-15), (name, backend, x[~special_][np.argmax(err - 1e-13 * scale)])


def test_derivatives_chain_into_polygamma():
    """d gammaln = digamma, d digamma = polygamma[n=1], d polygamma[n] = polygamma[n+1]:
    checked against finite differences at second order in both modes, on both sides of 0."""
    pos, neg = RNG.uniform(0.3, 6.0, 5), RNG.uniform(-3.9, -3.1, 5)
    for fn in (special.gammaln, special.psi, lambda x: lax.polygamma(2, x)):
        for x in (pos, neg):
            pb.check_grads(fn, (x,), order=2, modes=("fwd", "rev"))
    ir = pb.make_ir(pb.grad(pb.grad(pb.grad(special.gammaln))), optimize=True)(2.5)
    assert [e.prim.name for e in ir.eqns] == ["polygamma"] and ir.eqns[0].params == {"n": 2}
    assert pb.jit(pb.grad(pb.grad(special.gammaln)))(2.5) == pytest.approx(
        special.polygamma(1, 2.5), rel=1e-15)


def test_poisson_log_likelihood_gradient_in_float32():
    """A typical use: a Poisson rate's log-likelihood, y log(lam) - lam - gammaln(y + 1),
    and its gradient, float32 in and out, compiled equal to NumPy + SciPy."""
    y = RNG.poisson(3.0, 50).astype(np.float32)
    lam = RNG.uniform(1.0, 5.0, 50).astype(np.float32)

    def loglik(lam, y):
        return np.sum(y * np.log(lam) - lam - special.gammaln(y + 1))

    got = pb.jit(loglik)(lam, y)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, loglik(lam, y), rtol=1e-5)
    g = pb.jit(pb.grad(loglik))(lam, y)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, y / lam - 1, rtol=1e-5)
    # and the gradient with respect to a continuous count, through digamma
    lam64, y64 = lam.astype(float), y.astype(float)
    np.testing.assert_allclose(pb.grad(loglik, 1)(lam64, y64),
                               np.log(lam64) - special.psi(y64 + 1.0), rtol=1e-12)


def test_negative_subnormals_and_half_integers():
    """At x = -5e-324 the reflection's cot is infinite (SciPy: inf, not NaN); at
    half-integers cot is 0, where an even n's reflection term vanishes, so
    polygamma(n, -m - 1/2) equals polygamma(n, m + 3/2) for even n."""
    x = np.array([-5e-324, -1e-310])
    np.testing.assert_array_equal(pb.jit(special.psi)(x), [np.inf, np.inf])
    np.testing.assert_array_equal(pb.jit(lambda a: lax.polygamma(2, a))(x), [np.inf, np.inf])
    for n, m in [(2, 999), (4, 999), (4, 100), (6, 500)]:
        f = pb.jit(lambda a: lax.polygamma(n, a))
        got, mirror = f(np.array([-m - 0.5])), f(np.array([m + 1.5]))
        np.testing.assert_allclose(got, mirror, rtol=1e-13)


def test_interpreter_reflects_polygamma_at_large_negative_arguments():
    # SciPy's polygamma(n, x) for negative x takes time growing with |x| (minutes at
    # -2.7e9: pb.grad(sc.psi) hung); the interpreter reflects as the compiled helper does
    x = np.array([-43510700537410.695, -2.7e9 + 0.25, -160000.3, -7.25, -1.5, -3.0, 2.5])
    d1 = lambda x: pb.grad(lambda v: np.sum(special.psi(v)))(x)
    d2 = lambda x: pb.grad(lambda v: np.sum(d1(v)))(x)
    for f, n in ((d1, 1), (d2, 2)):
        eager = f(x)  # eager grad runs the interpreter's rules
        np.testing.assert_allclose(eager, pb.jit(f)(x), rtol=1e-14)
        np.testing.assert_allclose(eager[2:], special.polygamma(n, x[2:]), rtol=1e-13)
