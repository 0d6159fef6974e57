"""Every differentiable primitive and the main NumPy entries pass check_grads
(orders 1 and 2, forward and reverse mode) at several shapes, including 0-d and
broadcasting; kink conventions from the SPEC."""
import numpy as np
import pytest

import pullback as pb
from pullback.tracer import lax

RNG = np.random.default_rng(0)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape)


def pos(*shape):
    return RNG.uniform(0.5, 2.0, size=shape)


SHAPES = [(), (3,), (2, 3)]

UNARY = [
    ("exp", np.exp, rand), ("log", np.log, pos), ("log1p", np.log1p, pos),
    ("log2", np.log2, pos), ("log10", np.log10, pos),
    ("expm1", np.expm1, rand), ("sin", np.sin, rand), ("cos", np.cos, rand),
    ("tan", np.tan, rand), ("arcsin", np.arcsin, lambda *s: rand(*s, lo=-0.8, hi=0.8)),
    ("arccos", np.arccos, lambda *s: rand(*s, lo=-0.8, hi=0.8)),
    ("arctan", np.arctan, rand), ("sinh", np.sinh, rand), ("cosh", np.cosh, rand),
    ("tanh", np.tanh, rand), ("arcsinh", np.arcsinh, rand),
    ("arccosh", np.arccosh, lambda *s: rand(*s, lo=1.5, hi=3.0)),
    ("arctanh", np.arctanh, lambda *s: rand(*s, lo=-0.8, hi=0.8)),
    ("sqrt", np.sqrt, pos), ("rsqrt", lax.rsqrt, pos), ("logistic", lax.logistic, rand),
    ("erf", lax.erf, rand), ("abs", np.abs, lambda *s: pos(*s) * RNG.choice([-1, 1], s)),
    ("neg", np.negative, rand), ("square", np.square, rand),
    ("cube", lambda x: x ** 3, rand), ("inv_square", lambda x: x ** -2, pos),
    ("reciprocal", lambda x: 1.0 / x, pos), ("float_pow", lambda x: x ** 2.5, pos),
    ("cbrt", np.cbrt, lambda *s: pos(*s) * RNG.choice([-1, 1], s)), ("exp2", np.exp2, rand),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,fn,gen", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, gen, shape):
    pb.check_grads(fn, (gen(*shape),), order=2)


BINARY = [
    ("add", np.add, rand, rand), ("sub", np.subtract, rand, rand),
    ("mul", np.multiply, rand, rand), ("div", np.divide, rand, pos),
    ("pow", np.power, pos, rand), ("atan2", np.arctan2, rand, pos), ("hypot", np.hypot, rand, pos),
    ("maximum", np.maximum, rand, rand), ("minimum", np.minimum, rand, rand),
    ("mod", np.mod, pos, lambda *s: pos(*s) + 3.0),
]


@pytest.mark.parametrize(
    "xs,ys", [((3,), (3,)), ((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))], ids=str
)
@pytest.mark.parametrize("name,fn,gx,gy", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcasting(name, fn, gx, gy, xs, ys):
    pb.check_grads(fn, (gx(*xs), gy(*ys)), order=2)


STRUCTURAL = [
    ("sum_axis", lambda x: np.sum(x, axis=1), (2, 3)),
    ("sum_all", np.sum, (2, 3)),
    ("mean", lambda x: np.mean(x, axis=0), (2, 3)),
    ("prod", lambda x: np.prod(x, axis=1), (2, 3)),
    ("max_red", lambda x: np.max(x, axis=1), (2, 3)),
    ("min_red", lambda x: np.min(x), (2, 3)),
    ("transpose", lambda x: x.T * np.arange(6.0).reshape(3, 2), (2, 3)),
    ("reshape", lambda x: x.reshape(3, 2) ** 2, (2, 3)),
    ("slice", lambda x: x[1:, ::2] ** 2, (3, 5)),
    ("index", lambda x: x[1] * x[0], (3, 2)),
    ("fancy_index", lambda x: x[np.array([0, 2, 2])] ** 2, (4, 2)),
    ("rev", lambda x: x[::-1] * np.arange(4.0), (4,)),
    ("concat", lambda x: np.concatenate([x, x ** 2], axis=0), (2, 3)),
    ("stack", lambda x: np.stack([x, np.sin(x)]), (3,)),
    ("cumsum", lambda x: np.cumsum(x ** 2, axis=1), (2, 3)),
    ("where", lambda x: np.where(x > 0, x ** 2, np.sin(x)), (2, 3)),
    ("matmul", lambda x: x @ np.arange(12.0).reshape(3, 4) / 10, (2, 3)),
    ("matmul_self", lambda x: x @ x.T, (2, 3)),
    ("matvec", lambda x: np.arange(6.0).reshape(2, 3) @ x, (3,)),
    ("dot_vec", lambda x: np.dot(x, x), (3,)),
    ("einsum_batch", lambda x: np.einsum("bij,bjk->bik", x, x), (2, 2, 2)),
    ("norm", lambda x: np.linalg.norm(x), (2, 3)),
    ("trace", lambda x: np.trace(x @ x), (3, 3)),
    ("broadcast", lambda x: np.broadcast_to(x, (4, 3)) * np.arange(12.0).reshape(4, 3), (3,)),
    ("outer", lambda x: np.outer(x, x), (3,)),
    ("clip", lambda x: np.clip(x, -0.5, 0.5) * x, (5,)),
]


@pytest.mark.parametrize("name,fn,shape", STRUCTURAL, ids=[s[0] for s in STRUCTURAL])
def test_structural(name, fn, shape):
    pb.check_grads(fn, (rand(*shape),), order=2)


def test_lax_level_ops():
    """Primitives without a direct NumPy spelling, through tracer/lax.py."""
    x = rand(4, 3)
    idx = np.array([[0, 3], [1, 1]])
    pb.check_grads(lambda x: lax.gather(x, idx, 0) ** 2, (x,), order=2)
    pb.check_grads(lambda x: lax.scatter_add(x ** 2, np.array([0, 2, 2, 1]), 0, 3), (x,), order=2)
    pb.check_grads(lambda x: lax.slice(x, (0, 1), (4, 3), (2, 1)) ** 2, (x,), order=2)
    pb.check_grads(lambda x: lax.pad(x, 0.5, ((1, 0, 1), (0, 2, 0))) ** 2, (x,), order=2)
    pb.check_grads(lambda x, v: lax.pad(x, v, ((1, 0, 2), (0, 1, 0))) ** 2,
                   (x, np.float64(0.3)), order=2)
    pb.check_grads(lambda x: lax.cumsum(x, 0, reverse=True) ** 2, (x,), order=2)
    pb.check_grads(lambda x: lax.rev(x, (0, 1)) * x, (x,), order=2)
    pb.check_grads(lambda x: lax.reduce_prod(x, (0,)), (x,), order=2)


def test_float32_tolerances():
    x = rand(3).astype(np.float32)
    pb.check_grads(lambda x: np.sin(x) * np.exp(x), (x,), order=2)
    pb.check_grads(lambda x: x.astype(np.float64) ** 2, (x,), order=2)
    pb.check_grads(lambda x: x.astype(np.float32) ** 2, (x.astype(np.float64),), order=1,
                   atol=1e-3, rtol=1e-3)
    g = pb.grad(lambda x: np.sum(np.sin(x)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)


def test_order_three():
    pb.check_grads(lambda x: np.sin(x) * x ** 2, (rand(3),), order=3)


# ---------------------------------------------------------------- kinks and zero derivatives
def test_abs_at_zero_is_zero():
    g = pb.grad(lambda x: np.sum(np.abs(x)))(np.array([0.0, -2.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, -1.0, 1.0])


def test_max_min_ties_split_evenly():
    gx, gy = pb.grad(lambda x, y: np.sum(np.maximum(x, y)), (0, 1))(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])
    g = pb.grad(lambda x: np.min(x, axis=0).sum())(np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_allclose(g, [[1 / 3, 0], [1 / 3, 0.5], [1 / 3, 0.5]])
    g = pb.grad(lambda x: np.max(x))(np.array([2.0, 2.0, 1.0, 2.0]))
    np.testing.assert_allclose(g, [1 / 3, 1 / 3, 0, 1 / 3])
    # masked-out elements take no part in a tie with `initial` (they held it: 0.25)
    mask = np.array([True, False, True])
    g = pb.grad(lambda a: np.max(a, where=mask, initial=3.0))(np.array([3.0, 5.0, 1.0]))
    np.testing.assert_array_equal(g, [0.5, 0.0, 0.0])  # JAX's


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_max_min_with_a_nan_operand_give_neither_a_derivative(backend):
    # JAX's rule: neither operand wins against a NaN (the other one got 1 before,
    # so the answer depended on the order of the arguments)
    for fn in (np.maximum, np.minimum):
        g = pb.jit(pb.grad(lambda v: fn(v[0], v[1])), backend=backend)
        for v in ([np.nan, 1.0], [1.0, np.nan]):
            np.testing.assert_array_equal(g(np.array(v)), [0.0, 0.0])
        np.testing.assert_array_equal(g(np.array([1.0, 1.0])), [0.5, 0.5])


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_hypot_second_derivatives_at_the_origin_are_abs_ones(backend):
    # hypot(x, 0) = |x|: abs''(0) = 0; the derivative x / h with h replaced by 1 at the
    # origin differentiated to 1 / 1 there (JAX: 0)
    h = pb.jit(pb.hessian(lambda v: np.hypot(v[0], v[1])), backend=backend)(np.zeros(2))
    np.testing.assert_array_equal(h, np.zeros((2, 2)))
    assert pb.jit(pb.grad(pb.grad(lambda x: np.hypot(x, 0.0))), backend=backend)(0.0) == 0.0
    pb.check_grads(lambda v: np.hypot(v[0], v[1]), (np.array([0.3, -0.4]),), order=2)


def test_power_zero_exponent_is_zero_not_nan():
    assert pb.grad(lambda x: x ** 0)(0.0) == 0.0
    assert pb.grad(lambda x: np.power(x, 0.0))(0.0) == 0.0
    # d/dy x**y at x == 0 is 0 (log guarded), and the value is right elsewhere
    assert pb.grad(lambda y: np.power(0.0, y), 0)(2.0) == 0.0
    np.testing.assert_allclose(pb.grad(lambda y: np.power(3.0, y))(2.0), 9 * np.log(3.0))
    # second derivatives in any order: the zeroed slots' pow(x, y - 1) had the
    # derivative -inf, which reverse mode multiplied by their zero cotangent (NaN)
    e, z = np.array([0.0, 1.0]), np.zeros(2)
    f = lambda x: x ** e  # noqa: E731
    for outer in (pb.jacfwd, pb.jacrev):
        for inner in (pb.jacfwd, pb.jacrev):
            np.testing.assert_array_equal(pb.jit(outer(inner(f)))(z), np.zeros((2, 2, 2)))
    g = lambda x, y: np.sum(x ** y)  # noqa: E731
    hxy = pb.hessian(g, argnums=(0, 1))(np.array([0.0, 2.0]), np.array([0.0, 0.0]))
    np.testing.assert_array_equal(hxy[0][0], [[0.0, 0.0], [0.0, -0.0]])
    np.testing.assert_allclose(hxy[0][1], [[0.0, 0.0], [0.0, 0.5]])  # d/dy d/dx = 1/x


def test_prod_with_zeros():
    x = np.array([2.0, 0.0, 3.0])
    np.testing.assert_allclose(pb.grad(np.prod)(x), [0.0, 6.0, 0.0])
    np.testing.assert_allclose(pb.grad(np.prod)(np.array([0.0, 0.0, 3.0])), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(pb.grad(np.prod)(np.array([2.0, 4.0, 3.0])), [12.0, 6.0, 8.0])


@pytest.mark.parametrize("fn", [np.floor, np.ceil, np.round, np.sign,
                                lambda x: (x > 0.1).astype(np.float64),
                                lambda x: np.argmax(x) * 1.0 + 0 * x,
                                lambda x: pb.stop_gradient(x) * 1.0,
                                lambda x: np.isfinite(x) * 2.0])
def test_zero_derivative(fn):
    x = np.array([0.3, -1.7, 2.2])
    np.testing.assert_array_equal(pb.grad(lambda x: np.sum(fn(x)))(x), np.zeros(3))
    _, t = pb.jvp(fn, (x,), (np.ones(3),))
    np.testing.assert_array_equal(t, np.zeros(3))


def test_stop_gradient_blocks_one_path():
    f = lambda x: np.sum(x * pb.stop_gradient(x))
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(pb.grad(f)(x), x)


def test_check_grads_reports_argument_order_mode_and_error():
    @pb.custom_jvp
    def wrong(x):
        return np.sin(x)

    @wrong.defjvp
    def wrong_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return np.sin(x), t * 2.0 * np.cos(x)

    def f(a, b):
        return a + wrong(b)

    with pytest.raises(AssertionError) as e:
        pb.check_grads(f, (rand(3), rand(3)), modes=("fwd",))
    msg = str(e.value)
    assert "argument b" in msg and "order 1" in msg and "fwd" in msg
    assert "relative error" in msg

    with pytest.raises(AssertionError) as e:
        pb.check_grads(f, (rand(3), rand(3)), modes=("rev",))
    assert "argument b" in str(e.value) and "rev" in str(e.value)

    # right at order 1, but the rule hides x from differentiation: order 2 is wrong
    @pb.custom_jvp
    def cube(x):
        return x ** 3

    @cube.defjvp
    def cube_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return x ** 3, t * 3.0 * pb.stop_gradient(x) ** 2

    x = rand(3)
    pb.check_grads(cube, (x,), order=1)
    with pytest.raises(AssertionError, match="order 2"):
        pb.check_grads(cube, (x,), order=2)


def test_check_grads_raises_the_worst_mismatch_of_all_arguments():
    # x's derivative 0.1 % off, y's 400 %: the message names y (it named the first
    # failing argument, x)
    @pb.custom_jvp
    def f(x, y):
        return x * y

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), tx * y * 1.001 + ty * x * 5.0

    args = (np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    for modes in (("fwd",), ("fwd", "rev")):
        with pytest.raises(AssertionError, match="argument y of f") as e:
            pb.check_grads(f, args, modes=modes)
        assert "argument x" not in str(e.value)


def test_check_grads_refuses_settings_that_would_check_nothing():
    # before, a negative atol, an unknown or empty modes and order 0 all passed
    f = lambda x: np.sin(x)  # noqa: E731
    x = (np.ones(2),)
    for kw, msg in [(dict(atol=-1.0), "atol must be >= 0"), (dict(rtol=float("nan")), "rtol"),
                    (dict(eps=0.0), "eps must be > 0"), (dict(modes=("bogus",)), "modes"),
                    (dict(modes=()), "modes"), (dict(order=0), "order"),
                    (dict(order=1.5), "order")]:
        with pytest.raises(ValueError, match=msg):
            pb.check_grads(f, x, **kw)
    pb.check_grads(f, x, order=2, modes="rev", eps=1e-4, atol=1e-5, rtol=1e-5)
    nan_rule = pb.custom_jvp(lambda x: np.sqrt(x))
    nan_rule.defjvp(lambda p, t: (np.sqrt(p[0]), t[0] * np.nan))
    with pytest.raises(AssertionError, match="AD nan vs finite differences .*, a nan"):
        pb.check_grads(nan_rule, x, modes="fwd")


# ---------------------------------------------------------------- derivatives at special points
# Selects that guard a special point (a zero, a tie, y == 0) must keep the function's
# derivatives there, not only its value: each case below was 0 (or not symmetric) before.
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_higher_derivatives_survive_the_guards_at_special_points(jit):
    J = pb.jit if jit else (lambda f: f)
    # prod with zeros: a polynomial, so its Hessian is symmetric and exact
    np.testing.assert_array_equal(J(pb.hessian(np.prod))(np.array([0.0, 2.0, 3.0])),
                                  [[0, 3, 2], [3, 0, 0], [2, 0, 0]])
    np.testing.assert_array_equal(J(pb.hessian(np.prod))(np.array([0.0, 0.0, 3.0])),
                                  [[0, 3, 0], [3, 0, 0], [0, 0, 0]])
    H = J(pb.hessian(lambda x: np.sum(np.cumprod(x))))(np.array([0.0, 2.0, 3.0]))
    np.testing.assert_array_equal(H, H.T)
    # third derivatives too, with up to two zeros: d3/dx0 dx1 dxk of x0 x1 x2 x3 = x_other
    T = J(pb.jacfwd(pb.hessian(np.prod)))(np.array([0.0, 0.0, 3.0, 2.0]))
    assert (T[0, 1, 2], T[0, 1, 3], T[0, 2, 3], T[2, 3, 0]) == (2.0, 3.0, 0.0, 0.0)
    # x ** y at y = 0: d/dy (d/dx x**y) = 1/x, while d/dx x**0 stays 0
    H = J(pb.hessian(lambda p: p[0] ** p[1]))(np.array([2.0, 0.0]))
    np.testing.assert_allclose(H, [[0.0, 0.5], [0.5, np.log(2.0) ** 2]], rtol=1e-15)
    assert J(pb.grad(lambda x: x ** 0.0))(0.0) == 0.0
    # also where a constant exponent array holds a 0 among other values (was NaN)
    np.testing.assert_array_equal(
        J(pb.grad(lambda x: np.sum(x ** np.array([0.0, 1.0]))))(np.zeros(2)), [0.0, 1.0])
    np.testing.assert_array_equal(
        J(pb.hessian(lambda x: np.sum(x ** np.array([0.0, 2.0]))))(np.zeros(2)), [[0, 0], [0, 2]])
    # floor_divide is piecewise constant: zero derivatives, as floor's (were inf and NaN
    # through x / y at y = 0)
    with np.errstate(all="ignore"):
        assert J(pb.grad(lambda y: np.floor_divide(1.0, y)))(0.0) == 0.0
        assert J(pb.grad(lambda x: np.floor_divide(x, 0.0)))(1.0) == 0.0
        assert J(pb.grad(lambda y: np.floor_divide(5.0, y)))(1e-310) == 0.0
        assert J(pb.grad(lambda x: x // 3.0 + x))(2.0) == 1.0
    # logaddexp at a tie, softplus at 0
    np.testing.assert_allclose(J(pb.hessian(lambda v: np.logaddexp(v[0], v[1])))(
        np.array([1.5, 1.5])), [[0.25, -0.25], [-0.25, 0.25]], rtol=1e-15)
    assert J(pb.grad(pb.grad(lambda x: np.logaddexp2(x, 0.0))))(0.0) == pytest.approx(
        np.log(2.0) / 4, rel=1e-14)
    # hypot where one operand is 0; fmod where x or the result is 0; sinc at 0
    assert J(pb.grad(pb.grad(lambda x: np.hypot(x, 2.0))))(0.0) == 0.5
    assert J(pb.grad(lambda x: np.hypot(x, 0.0)))(0.0) == 0.0
    # float32 derivatives without squares that over- or underflow
    gx, gy = J(pb.grad(np.arctan2, argnums=(0, 1)))(np.float32(1e-30), np.float32(1e-30))
    assert gx == pytest.approx(5e29, rel=1e-6) and gy == pytest.approx(-5e29, rel=1e-6)
    gx, gy = J(pb.grad(np.arctan2, argnums=(0, 1)))(np.float32(4e19), np.float32(3e19))
    assert gx == pytest.approx(1.2e-20, rel=1e-6) and gy == pytest.approx(-1.6e-20, rel=1e-6)
    assert J(pb.grad(np.arcsinh))(np.float32(3e19)) == pytest.approx(1 / 3e19, rel=1e-6)
    assert J(pb.grad(np.arccosh))(np.float32(3e19)) == pytest.approx(1 / 3e19, rel=1e-6)
    # x / h: no square to underflow at subnormals (the scaled composite's was NaN)
    assert J(pb.grad(lambda x: np.hypot(x, 1e-310)))(1e-310) == pytest.approx(2 ** -0.5, rel=1e-5)
    assert [J(pb.grad(lambda x: np.fmod(x, 2.0)))(x) for x in (0.0, -0.0, 4.0, 3.0)] == [1.0] * 4
    assert J(pb.grad(lambda y: np.fmod(-7.0, y)))(2.0) == 3.0  # -trunc(x / y)
    assert J(pb.grad(pb.grad(np.sinc)))(0.0) == pytest.approx(-np.pi ** 2 / 3, rel=1e-14)
    assert J(pb.grad(pb.grad(pb.grad(pb.grad(np.sinc)))))(0.0) == pytest.approx(
        np.pi ** 4 / 5, rel=1e-14)
    assert J(pb.grad(np.cbrt))(0.0) == np.inf  # was nan
    # arcsin'' = x (1 - x^2)^-1.5 near 0: 1 - x^2 differentiated as (1 - x) - (1 + x)
    # cancelled (1.0000000272e-9 at 1e-9, 0 below 1e-16); arctanh'' = 2x / (1 - x^2)^2
    for x in (1e-9, 1e-17, 0.3):
        assert J(pb.grad(pb.grad(np.arcsin)))(x) == pytest.approx(x / (1 - x * x) ** 1.5, rel=1e-15)
        assert J(pb.grad(pb.grad(np.arccos)))(x) == pytest.approx(-x / (1 - x * x) ** 1.5, rel=1e-15)
        assert J(pb.grad(pb.grad(np.arctanh)))(x) == pytest.approx(2 * x / (1 - x * x) ** 2, rel=1e-15)
    # and near 1 the first derivative keeps the exact factors (1 - x)(1 + x)
    x = 1 - 2.0 ** -40
    assert J(pb.grad(np.arcsin))(x) == pytest.approx(1 / np.sqrt((1 - x) * (1 + x)), rel=1e-15)
    # the second derivative as JAX's: -inf at +0, inf at -0 (the quotient rule gave nan)
    assert [J(pb.grad(pb.grad(np.cbrt)))(x) for x in (0.0, -0.0, 1e-300)] == [-np.inf, np.inf, -np.inf]
    assert J(pb.grad(pb.grad(np.cbrt)))(-8.0) == pytest.approx(2 / 9 / 32, rel=1e-15)
    # sinc far from 0: the polynomial used at 0 reads 0 there (its u**3 overflowed)
    assert J(pb.grad(np.sinc))(1e78) == pytest.approx(-5.340044746573648e-79, rel=1e-12)
    # and near 0, where the quotient's derivatives cancel (the second was 0 at 1e-9)
    for x in (1e-9, 1e-7, 1e-4):
        assert J(pb.grad(pb.grad(np.sinc)))(x) == pytest.approx(
            -np.pi ** 2 / 3 + np.pi ** 4 / 10 * x ** 2, rel=1e-14)
        assert J(pb.grad(np.sinc))(x) == pytest.approx(
            -np.pi ** 2 / 3 * x + np.pi ** 4 / 30 * x ** 3, rel=1e-14)
    pb.check_grads(np.sinc, (np.array([1e-9, 0.0312, 0.0313, 0.3, -2.5]),), order=2)


@pytest.mark.parametrize("x", [np.array([0.0, 2.0, 3.0, -1.5]), np.array([0.5, 0.0, 0.0, 2.0]),
                               np.array([1.2, -0.7, 2.0, 0.9, 1.1])], ids=["one0", "two0", "no0"])
def test_prod_check_grads_with_zeros(x):
    pb.check_grads(np.prod, (x,), order=2)
    pb.check_grads(lambda x: np.prod(x.reshape(-1, 1) * x, axis=0), (x,), order=2)


def test_inverse_trig_derivatives_near_one_have_no_cancellation():
    # 1 - x^2 as (1 - x)(1 + x): 1 - (1 - 1e-10)^2 loses six digits
    x = 1 - 1e-10
    exact = 1 / ((1 - x) * (1 + x))
    assert pb.grad(np.arctanh)(x) == pytest.approx(exact, rel=1e-15)
    assert pb.grad(np.arcsin)(x) == pytest.approx(exact ** 0.5, rel=1e-15)
    assert pb.grad(np.arccos)(-x) == pytest.approx(-exact ** 0.5, rel=1e-15)


def test_scipy_ufuncs_of_python_floats_in_eager_derivatives():
    import scipy.special as special
    assert pb.grad(special.expit)(0.3) == pytest.approx(0.2444583116907459, rel=1e-15)
    out, tangent = pb.jvp(special.expit, (0.3,), (1.0,))
    assert (float(out), float(tangent)) == pytest.approx((special.expit(0.3), 0.2444583116907459))
    assert pb.jit(special.expit, backend="interpreter")(0.3) == special.expit(0.3)


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_logit_near_one_half_is_scipys(backend):
    """log(p / (1 - p)) loses digits near p = 1/2, where SciPy switches to
    log1p(s) - log1p(-s): within 2 ulp of SciPy across [0, 1] (was 1e7 ulp)."""
    import scipy.special as special
    p = np.concatenate([np.linspace(0.0, 1.0, 2001), [0.5 + 1e-9, 0.4999966, 0.3, 0.65]])
    with np.errstate(divide="ignore"):
        got, want = pb.jit(special.logit, backend=backend)(p), special.logit(p)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    assert np.max(np.abs(got - want)[finite] / np.spacing(np.abs(want[finite]))) <= 2
    pb.check_grads(special.logit, (np.array([0.2, 0.31, 0.5 + 1e-3, 0.64, 0.9]),), order=2,
                   modes=("fwd", "rev"))
    # its derivative 1/(p (1 - p)) is inf at 0 and 1, as JAX's (the quotient's was NaN)
    np.testing.assert_array_equal(
        pb.vmap(pb.grad(special.logit))(np.array([0.0, 1.0, 0.2])), [np.inf, np.inf, 6.25])


@pytest.mark.parametrize("jit", [False, True])
def test_prod_derivative_without_division(jit):
    """The product of the others, as prefix times suffix products: exact where the whole
    product under- or overflows, and at infinities (values as JAX's)."""
    g = pb.jit(pb.grad(np.prod)) if jit else pb.grad(np.prod)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(g(np.array([1e-170, 1e-170, 5.0])), [5e-170, 5e-170, 0.0])
        np.testing.assert_array_equal(g(np.array([2.0, np.inf, 3.0])), [np.inf, 6.0, np.inf])
        np.testing.assert_array_equal(g(np.array([-np.inf, -np.inf])), [-np.inf, -np.inf])
        np.testing.assert_array_equal(g(np.array([1e200, 1e200, 0.0])), [0.0, 0.0, np.inf])
    # three zeros: every first and second derivative is 0, the third is not
    x = np.array([0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(pb.hessian(np.prod)(x), np.zeros((4, 4)))
    third = pb.jacfwd(pb.hessian(np.prod))(x)
    assert third[0, 1, 2] == 2.0 and third[0, 1, 3] == 0.0


@pytest.mark.parametrize("jit", [False, True])
def test_cumprod_derivatives_are_a_linear_recurrence(jit):
    """d y[i] = x[i] d y[i-1] + y[i-1] d x[i]: no division, O(n), and one overflowing or
    infinite factor does not reach the outputs that do not depend on it."""
    jacrev = (lambda f: pb.jit(pb.jacrev(f))) if jit else pb.jacrev
    grad = (lambda f: pb.jit(pb.grad(f))) if jit else pb.grad
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(grad(lambda x: np.cumprod(x)[0])(np.array([2.0, 1e300, 1e300])),
                                      [1.0, 0.0, 0.0])
        J = jacrev(np.cumprod)(np.array([2.0, np.inf, 3.0]))
    np.testing.assert_array_equal(J[1:, 1], [2.0, 6.0])  # JAX's; J[0, 0] is nan there too
    np.testing.assert_array_equal(jacrev(np.cumprod)(np.array([2.0, 0.0, 3.0, 0.0])),
                                  [[1, 0, 0, 0], [0, 2, 0, 0], [0, 6, 0, 0], [0, 0, 0, 0]])
    x = np.random.default_rng(5).uniform(0.5, 1.5, (3, 4))
    for axis in (0, 1, None):
        pb.check_grads(lambda x: np.cumprod(x, axis=axis), (x,), order=2, modes=("fwd", "rev"))
    pb.check_grads(lambda x: np.cumprod(x[:, ::-1], axis=1), (x,), order=3, modes=("fwd", "rev"))


def test_cumprod_of_many_elements_is_linear_time():
    """It was a triangular broadcast: O(n^2) work, and its eager gradient O(n^2) memory
    (10 s and 4 GB at n = 5000). Now a few equations whatever n is."""
    ir = pb.make_ir(pb.grad(lambda x: np.sum(np.cumprod(x))), optimize=True)(np.ones(10 ** 5))
    assert all(np.prod(v.aval.shape) <= 10 ** 5 for e in ir.eqns for v in e.outputs)
    x = np.random.default_rng(6).uniform(0.999, 1.001, 20_000)
    g = pb.grad(lambda x: np.sum(np.cumprod(x)))(x)
    y = np.cumprod(x)
    want = np.array([np.sum(y[j:]) / x[j] for j in range(0, 20_000, 997)])  # no zeros here
    np.testing.assert_allclose(g[::997], want, rtol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_linrec_primitive(reverse, backend):
    """h[0] = b[0], h[i] = a[i] h[i-1] + b[i]: against a loop, batched, and its derivatives
    in a and b against finite differences (its transpose is the reverse recurrence)."""
    rng = np.random.default_rng(7)
    a, b = rng.uniform(-1.2, 1.2, (2, 5, 3)), rng.standard_normal((2, 5, 3))

    def loop(a, b):
        h = np.empty_like(b)
        order = range(4, -1, -1) if reverse else range(5)
        prev = None
        for i in order:
            h[:, i] = b[:, i] if prev is None else a[:, i] * h[:, prev] + b[:, i]
            prev = i
        return h

    f = lambda a, b: lax.linrec(a, b, 1, reverse)
    np.testing.assert_allclose(pb.jit(f, backend=backend)(a, b), loop(a, b), rtol=1e-14)
    np.testing.assert_allclose(pb.vmap(f, in_axes=(2, None), out_axes=2)(a, b[..., 0]),
                               loop(a, np.repeat(b[..., :1], 3, axis=2)), rtol=1e-14)
    pb.check_grads(f, (a, b), order=2, modes=("fwd", "rev"))
