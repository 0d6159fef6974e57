"""NumPy functions that pullback builds from its other rules (np.gradient, np.unwrap,
np.piecewise, np.apply_along_axis, np.modf, np.array_equal/array_equiv, np.matvec/
vecmat, np.lexsort, np.polyfit, maximum/minimum.accumulate, logaddexp(2).reduce): their
rows of the foundation table (tests/test_numpy_api.py) compiled in one kernel against
NumPy, and the semantics the table's tolerances cannot see (signs of zeros, which
formula NumPy picks, errors).
"""
import os
import sys

import numpy as np
import pytest

import pullback as pb

sys.path.insert(0, os.path.dirname(__file__))
from test_numpy_api import NUMPY_CASES  # noqa: E402

ENTRIES = ("gradient", "unwrap", "piecewise", "apply_along_axis", "modf", "array_equal",
           "array_equiv", "matvec", "vecmat", "lexsort", "polyfit", "maximum.accumulate",
           "minimum.accumulate", "logaddexp.reduce", "logaddexp2.reduce")
ROWS = [c for c in NUMPY_CASES if c[0].split("[")[0].split("-")[0] in ENTRIES]


def test_rows_compiled_equal_numpy():
    """Every row, compiled (one kernel for all), equals NumPy: values to a few ulps,
    dtypes and shapes exactly."""
    assert len(ROWS) >= 40
    fns = [fn for _, fn, _ in ROWS]
    args = [make() for _, _, make in ROWS]
    got = pb.jit(lambda all_args: [fn(*a) for fn, a in zip(fns, all_args)])(args)
    for (name, fn, _), a, g in zip(ROWS, args, got):
        want = fn(*a)
        for x, y in zip(*(v if isinstance(v, tuple) else (v,) for v in (g, want))):
            x, y = np.asarray(x), np.asarray(y)
            assert (x.shape, x.dtype) == (y.shape, y.dtype), name
            if y.dtype.kind == "f":
                tol = 1e-6 if y.dtype == np.float32 else 1e-13
                np.testing.assert_allclose(x, y, rtol=tol, atol=tol, equal_nan=True, err_msg=name)
            else:
                np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_modf_signs_of_zeros_and_infinities(backend):
    x = np.array([-2.0, -0.0, 0.0, 2.0, -np.inf, np.inf, -1.5, 3.25])
    frac, whole = pb.jit(np.modf, backend=backend)(x)
    want_frac, want_whole = np.modf(x)
    np.testing.assert_array_equal(frac, want_frac)
    np.testing.assert_array_equal(np.signbit(frac), np.signbit(want_frac))
    np.testing.assert_array_equal(whole, want_whole)
    np.testing.assert_array_equal(np.signbit(whole), np.signbit(want_whole))
    # the fraction's derivative is 1 on both sides of zero, the integral part's 0
    x = np.array([-1.25, 0.75])
    d_frac = pb.vmap(pb.grad(lambda t: np.modf(t)[0]))(x)
    d_whole = pb.vmap(pb.grad(lambda t: np.modf(t)[1]))(x)
    np.testing.assert_array_equal(d_frac, [1.0, 1.0])
    np.testing.assert_array_equal(d_whole, [0.0, 0.0])


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_gradient_traced_coordinates_pick_numpys_formula(backend):
    """NumPy computes with the scalar-spacing formula when the coordinates' steps are all
    equal, with the non-uniform one otherwise (the two round differently); traced
    coordinates choose by value, and the result is NumPy's to the bit either way."""
    f = np.random.default_rng(1).standard_normal((3, 7))
    g = pb.jit(lambda f, x: np.gradient(f, x, axis=1, edge_order=2), backend=backend)
    for x in (np.arange(7) * 0.1, np.cumsum(np.linspace(0.1, 0.7, 7))):
        np.testing.assert_array_equal(g(f, x), np.gradient(f, x, axis=1, edge_order=2))
    h = pb.jit(lambda f, dx: np.gradient(f, dx), backend=backend)  # a traced scalar spacing
    np.testing.assert_array_equal(h(f[0], 0.3), np.gradient(f[0], 0.3))


def test_gradient_of_gradient_is_the_second_difference_operator():
    """np.gradient is linear in f: its Jacobian is NumPy's differentiation matrix, the
    same whichever transform computes it."""
    x = np.cumsum(np.linspace(0.2, 0.6, 6))
    f = np.sin(x)
    J = pb.jacfwd(lambda f: np.gradient(f, x, edge_order=2))(f)
    np.testing.assert_allclose(J, np.stack([np.gradient(e, x, edge_order=2)
                                            for e in np.eye(6)], axis=1), rtol=1e-13)
    np.testing.assert_allclose(pb.jacrev(lambda f: np.gradient(f, x, edge_order=2))(f), J,
                               rtol=1e-13)
    # and its derivative with respect to the coordinates, against finite differences
    pb.check_grads(lambda x: np.sum(np.gradient(np.sin(x), x, edge_order=2) ** 2), (x,),
                   order=2, modes=("fwd", "rev"))


def test_gradient_errors_name_numpys_reasons():
    f = np.ones((2, 3))
    with pytest.raises(ValueError, match="at least \\(edge_order \\+ 1\\) elements"):
        pb.jit(lambda f: np.gradient(f, edge_order=2))(f)
    with pytest.raises(TypeError, match="invalid number of arguments"):
        pb.jit(lambda f: np.gradient(f, 1.0, 2.0, 3.0))(f)
    with pytest.raises(ValueError, match="must match the length"):
        pb.jit(lambda f: np.gradient(f, np.arange(3.0), np.arange(3.0)))(f)
    with pytest.raises(ValueError, match="'edge_order' greater than 2"):
        pb.jit(lambda f: np.gradient(f, edge_order=3))(f)


def test_unwrap_derivative_passes_through_the_corrections():
    p = np.cumsum(np.full(9, 2.5)) % (2 * np.pi) - np.pi  # wraps several times
    np.testing.assert_allclose(pb.jit(np.unwrap)(p), np.unwrap(p), rtol=0, atol=1e-14)
    # the corrections are piecewise constant: d unwrap(p)/dp is the identity
    np.testing.assert_array_equal(pb.jacrev(np.unwrap)(p), np.eye(9))


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_piecewise_later_conditions_win_and_otherwise_fills(backend):
    x = np.linspace(-2, 2, 9)
    fn = pb.jit(lambda x: np.piecewise(x, [x < 1, x < 0], [lambda t: t, lambda t: -t, 10.0]),
                backend=backend)
    np.testing.assert_array_equal(
        fn(x), np.piecewise(x, [x < 1, x < 0], [lambda t: t, lambda t: -t, 10.0]))
    # a 0-d x with a Python bool condition
    np.testing.assert_array_equal(
        pb.jit(lambda x: np.piecewise(x, [True], [lambda t: 2 * t]), backend=backend)(3.0),
        6.0)
    with pytest.raises(ValueError, match="either 2 or 3 functions"):
        pb.jit(lambda x: np.piecewise(x, [x < 0, x > 1], [1.0]))(x)


def test_piecewise_gradient_is_each_pieces_gradient():
    x = np.array([-1.5, -0.25, 0.5, 2.0])
    g = pb.grad(lambda x: np.sum(np.piecewise(x, [x < 0], [np.sin, lambda t: t ** 3])))(x)
    np.testing.assert_allclose(g, np.where(x < 0, np.cos(x), 3 * x ** 2), rtol=1e-15)


def test_apply_along_axis_is_one_batched_trace():
    """func1d is traced once, on one slice, and batched: the IR does not grow with the
    number of slices."""
    def f(x):
        return np.apply_along_axis(lambda r: np.sort(r)[1:] - r[0], 1, x)

    small = pb.make_ir(f)(np.ones((2, 5)))
    large = pb.make_ir(f)(np.ones((50, 5)))
    assert len(large.eqns) == len(small.eqns)
    x = np.random.default_rng(2).standard_normal((50, 5))
    np.testing.assert_array_equal(pb.jit(f)(x), f(x))
    with pytest.raises(ValueError, match="iteration dimensions are 0"):
        pb.jit(f)(np.ones((0, 5)))


def test_array_equal_shapes_decide_while_tracing():
    """Different shapes: NumPy's False, known while tracing; equal shapes: a traced 0-d
    bool (NumPy returns a Python bool)."""
    ir = pb.make_ir(lambda x: np.array_equal(x, x[:1]), optimize=True)(np.ones(2))
    assert not ir.eqns and str(ir).endswith("in (False,) }")
    got = pb.jit(lambda x, y: np.array_equal(x, y, equal_nan=True))(
        np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert got.dtype == np.bool_ and got.shape == () and bool(got)
    assert not pb.jit(lambda x, y: np.array_equal(x, y))(np.array([1.0, np.nan]),
                                                         np.array([1.0, np.nan]))


def test_polyfit_gradient_with_respect_to_the_data():
    """The fit is a linear function of y (the pseudo-inverse of the scaled Vandermonde
    matrix), and a smooth one of x: both derivatives against finite differences."""
    rng = np.random.default_rng(3)
    x, y = np.sort(rng.uniform(-1, 1, 8)), rng.standard_normal(8)
    J = pb.jacrev(lambda y: np.polyfit(x, y, 2))(y)
    np.testing.assert_allclose(J, np.linalg.pinv(np.vander(x, 3)), rtol=1e-10, atol=1e-12)
    pb.check_grads(lambda x, y: np.polyfit(x, y, 2, w=np.abs(x) + 1.0), (x, y), order=2,
                   modes=("fwd", "rev"))


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_running_max_keeps_numpys_tied_zeros_and_nans(backend):
    """maximum.accumulate in log2(n) rounds of pairwise maxima, the earlier operand
    first as in NumPy's running fold: its values, NaNs and signs of tied zeros."""
    x = np.array([-0.0, 0.0, -0.0, -1.0, 0.0, np.nan, 5.0, -0.0, 0.0])
    for f in (np.maximum.accumulate, np.minimum.accumulate,
              lambda x: np.maximum.accumulate(-x[::-1])):
        got, want = pb.jit(f, backend=backend)(x), f(x)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    drawdown = lambda v: np.max(np.maximum.accumulate(v) - v)  # a running peak's use
    v = np.cumsum(np.random.default_rng(3).standard_normal(1000))
    assert pb.jit(drawdown, backend=backend)(v) == drawdown(v)
