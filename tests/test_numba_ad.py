"""The AD issue's test material under `pb.jit` with the numba backend: every
result equals the interpreter backend (`backend="interpreter"`) and eager AD.

Covered: every differentiable primitive of tests/test_ad_rules.py (value, grad,
jvp, vjp, hessian at 0-d, 1-d and broadcasting shapes), a deterministic sample
of the NumPy table of tests/test_ad_numpy.py (grad, jvp, vjp), composition
(jit(grad(grad)), jit(jacfwd(jacrev)), jit(hessian), grad(jit), jit(vmap(grad))),
a dict-of-weights MLP, custom_jvp/custom_vjp, the users' questions, float32 in
-> float32 out, non-contiguous and transposed inputs.

Compile time: Numba spends ~0.1-1 s per kernel, so cases are packed into chunks
whose jitted function returns every case's derivatives (one kernel per chunk);
a failing chunk is re-run case by case to name the case.
"""
import importlib.util
import os

import numpy as np
import pytest

import pullback as pb
from pullback.tracer import lax
from pullback.tracer.pytree import tree_leaves

HERE = os.path.dirname(__file__)


def _load(name):
    path = os.path.join(HERE, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_numba_ad_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RULES = _load("test_ad_rules")
AD_NUMPY = _load("test_ad_numpy")
RNG = np.random.default_rng(7)
rand, pos = RULES.rand, RULES.pos


# ---------------------------------------------------------------- comparison
def _tol(dtype):
    return (2e-5, 1e-6) if np.dtype(dtype) == np.float32 else (1e-9, 1e-11)


def assert_same(got, want, what):
    gl, wl = tree_leaves(got), tree_leaves(want)
    assert len(gl) == len(wl), f"{what}: {len(gl)} leaves, expected {len(wl)}"
    for k, (x, y) in enumerate(zip(gl, wl)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{what} leaf {k}: shape {x.shape}, expected {y.shape}"
        assert x.dtype == y.dtype, f"{what} leaf {k}: dtype {x.dtype}, expected {y.dtype}"
        if y.dtype.kind in "fc":
            rtol, atol = _tol(y.dtype)
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"{what} leaf {k}")
        else:
            np.testing.assert_array_equal(x, y, err_msg=f"{what} leaf {k}")


def three_ways(f, *args, what="f"):
    """numba-jit(f)(*args), checked against interpreter-jit and eager; returns it."""
    with np.errstate(all="ignore"):
        eager = f(*args)
        interp = pb.jit(f, backend="interpreter")(*args)
        jitted = pb.jit(f)
        got = jitted(*args)
        again = jitted(*args)  # the cache-hit dispatch path
    assert_same(interp, eager, f"{what} (interpreter vs eager)")
    assert_same(got, interp, f"{what} (numba vs interpreter)")
    assert_same(again, got, f"{what} (numba, second call)")
    return got


# ---------------------------------------------------------------- derivative bundles
def _direction(shape, phase):
    return np.cos(np.arange(int(np.prod(shape))) * 0.7 + phase).reshape(shape)


def derivatives(fn, args, second):
    """(value, grad of the sum, jvp tangent, vjp cotangents, second-order term) of fn
    at args; `second` is "hessian" (the full hessian), "hvp" (jvp of grad along a
    direction: second order at a fraction of the compile time) or None."""
    argnums = tuple(range(len(args)))

    def total(*a):
        return np.sum(fn(*a))

    out = fn(*args)
    res = [out, pb.grad(total, argnums)(*args)]
    tangents = tuple(_direction(np.shape(a), 1.0 + k).astype(np.result_type(a))
                     for k, a in enumerate(args))
    res.append(pb.jvp(fn, args, tangents)[1])
    _, pull = pb.vjp(fn, *args)
    res.append(pull(_direction(np.shape(out), 2.0).astype(np.result_type(out))))
    if second == "hessian":
        res.append(pb.hessian(total, argnums)(*args))
    elif second == "hvp":
        res.append(pb.jvp(pb.grad(total, argnums), args, tangents)[1])
    return tuple(res)


def _float_part(fn, args):
    """fn as a function of its float arguments only (the others held fixed), with
    its (pytree) output flattened into one vector when it is not a single array."""
    floats = [k for k, a in enumerate(args) if np.result_type(a).kind == "f"]

    def g(*fargs):
        full = list(args)
        for k, a in zip(floats, fargs):
            full[k] = a
        leaves = tree_leaves(fn(*full))
        return leaves[0] if len(leaves) == 1 else np.concatenate([np.ravel(x) for x in leaves])

    return g, tuple(args[k] for k in floats)


def _bundle(cases):
    def run_all(all_args):
        res = []
        for (_, fn, _, second), args in zip(cases, all_args):
            g, fargs = _float_part(fn, args)
            res.append(derivatives(g, fargs, second))
        return tuple(res)

    return run_all


def check_chunk(cases):
    all_args = tuple(args for _, _, args, _ in cases)
    try:
        three_ways(_bundle(cases), all_args, what="chunk")
    except Exception:
        if len(cases) == 1:
            raise
        for case in cases:  # name the failing case
            three_ways(_bundle([case]), (case[2],), what=case[0])
        raise


def _chunks(cases, size):
    return [cases[i:i + size] for i in range(0, len(cases), size)]


def _ids(chunks):
    return [f"{c[0][0]}..{c[-1][0]}" for c in chunks]


# ---------------------------------------------------------------- primitive table
def _primitive_cases():
    cases = []
    for name, fn, gen in RULES.UNARY:
        for shape, second in [((), "hessian"), ((3,), "hvp")]:
            cases.append((f"{name}{list(shape)}", fn, (gen(*shape),), second))
    for name, fn, gx, gy in RULES.BINARY:
        for xs, ys, second in [((), (), "hessian"), ((2, 1), (1, 3), "hvp"), ((2, 3), (3,), None)]:
            cases.append((f"{name}{list(xs)}{list(ys)}", fn, (gx(*xs), gy(*ys)), second))
    for k, (name, fn, shape) in enumerate(RULES.STRUCTURAL):
        cases.append((name, fn, (rand(*shape),), "hessian" if k % 6 == 0 else "hvp"))
    x = rand(4, 3)
    idx = np.array([[0, 3], [1, 1]])
    lax_cases = [
        ("gather", lambda x: lax.gather(x, idx, 0) ** 2),
        ("scatter_add", lambda x: lax.scatter_add(x ** 2, np.array([0, 2, 2, 1]), 0, 3)),
        ("lax_slice", lambda x: lax.slice(x, (0, 1), (4, 3), (2, 1)) ** 2),
        ("pad", lambda x: lax.pad(x, 0.5, ((1, 0, 1), (0, 2, 0))) ** 2),
        ("cumsum_rev", lambda x: lax.cumsum(x, 0, reverse=True) ** 2),
        ("rev2", lambda x: lax.rev(x, (0, 1)) * x),
        ("reduce_prod", lambda x: lax.reduce_prod(x, (0,))),
    ]
    cases += [(n, f, (x,), "hvp") for n, f in lax_cases]
    cases.append(("pad_value", lambda x, v: lax.pad(x, v, ((1, 0, 2), (0, 1, 0))) ** 2,
                  (x, np.float64(0.3)), "hvp"))
    cases.append(("order3_sin_x2", lambda x: pb.grad(lambda y: np.sum(np.sin(y) * y ** 2))(x),
                  (rand(3),), "hessian"))
    return cases


PRIMITIVE_CHUNKS = _chunks(_primitive_cases(), 6)


@pytest.mark.parametrize("cases", PRIMITIVE_CHUNKS, ids=_ids(PRIMITIVE_CHUNKS))
def test_primitive_derivatives_under_jit(cases):
    check_chunk(cases)


# ---------------------------------------------------------------- NumPy table (sampled)
# Every 10th differentiable entry of the NumPy table (all of them would cost minutes
# of Numba compile time); the sample spans all topic modules of the table.
NUMPY_STEP = 10
NUMPY_CASES = [(name, fn, tuple(make()), None)
               for name, fn, make, _ in AD_NUMPY.CASES[::NUMPY_STEP]]
NUMPY_CHUNKS = _chunks(NUMPY_CASES, 6)


def test_numpy_sample_is_large():
    assert len(NUMPY_CASES) >= 40


@pytest.mark.parametrize("cases", NUMPY_CHUNKS, ids=_ids(NUMPY_CHUNKS))
def test_numpy_entry_derivatives_under_jit(cases):
    check_chunk(cases)


# ---------------------------------------------------------------- kinks, zeros, stop_gradient
def test_kink_conventions_under_jit():
    def kinks(x, y, m, z):
        zero_d = [pb.grad(lambda x: np.sum(f(x)))(x) for f in
                  (np.floor, np.ceil, np.round, np.sign, lambda x: (x > 0.1) * 1.0,
                   lambda x: np.argmax(x) * 1.0 + 0 * x, lambda x: pb.stop_gradient(x) * 1.0,
                   lambda x: np.isfinite(x) * 2.0)]
        return (
            pb.grad(lambda x: np.sum(np.abs(x)))(z),
            pb.grad(lambda x, y: np.sum(np.maximum(x, y)), (0, 1))(x, y),
            pb.grad(lambda m: np.min(m, axis=0).sum())(m),
            pb.grad(np.max)(np.array([2.0, 2.0, 1.0, 2.0]) + 0 * x[0]),
            pb.grad(lambda x: x ** 0)(x[0] * 0),
            pb.grad(lambda y: np.power(0.0, y))(x[0] + 1),
            pb.grad(np.prod)(z), pb.grad(np.prod)(z * 0),
            pb.grad(lambda x: np.sum(x * pb.stop_gradient(x)))(x),
            zero_d,
        )

    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    m = np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 0.0]])
    z = np.array([0.0, -2.0, 3.0])
    got = three_ways(kinks, x, y, m, z, what="kinks")
    np.testing.assert_array_equal(got[0], [0.0, -1.0, 1.0])
    np.testing.assert_array_equal(got[1][0], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(got[2], [[1 / 3, 0], [1 / 3, 0.5], [1 / 3, 0.5]])
    np.testing.assert_allclose(got[3], [1 / 3, 1 / 3, 0, 1 / 3])
    assert got[4] == 0.0 and got[5] == 0.0
    np.testing.assert_array_equal(got[6], [-6.0, 0.0, 0.0])
    np.testing.assert_array_equal(got[7], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(got[8], x)
    for g in got[9]:
        np.testing.assert_array_equal(g, np.zeros(3))


# ---------------------------------------------------------------- composition
def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_hessian(x):
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i, i + 1] = h[i + 1, i] = -400 * x[i]
        h[i + 1, i + 1] += 200
    return h


def test_composition_under_jit():
    def f(x):
        return np.sum(np.sin(x) * x ** 2)

    def transforms(x, s, xs):
        return (
            pb.grad(pb.grad(pb.grad(np.sin)))(s),
            pb.grad(lambda s: pb.grad(np.sin)(s) * s)(s),
            pb.jacfwd(pb.jacrev(rosen))(x),
            pb.jacrev(pb.jacfwd(rosen))(x),
            pb.hessian(rosen)(x),
            pb.hessian(f)(x),
            pb.vmap(pb.grad(f))(xs),
            pb.jacrev(lambda x: np.sin(x) * x[0])(x),
            pb.jacfwd(lambda x: np.sin(x) * x[0])(x),
            pb.value_and_grad(rosen)(x),
        )

    x, s, xs = rand(4), 0.7, rand(3, 4)
    got = three_ways(transforms, x, s, xs, what="transforms")
    np.testing.assert_allclose(got[0], -np.cos(s), rtol=1e-12)
    np.testing.assert_allclose(got[1], -np.sin(s) * s + np.cos(s), rtol=1e-12)
    for h in got[2:5]:
        np.testing.assert_allclose(h, rosen_hessian(x), rtol=1e-10, atol=1e-10)
    d1 = np.cos(x) * x ** 2 + 2 * x * np.sin(x)
    d2 = -np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x)
    np.testing.assert_allclose(got[5], np.diag(d2), atol=1e-12)
    np.testing.assert_allclose(got[6], np.cos(xs) * xs ** 2 + 2 * xs * np.sin(xs), rtol=1e-12)
    jac = np.diag(np.cos(x) * x[0])
    jac[:, 0] += np.sin(x)
    np.testing.assert_allclose(got[7], jac, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[8], jac, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[9][0], rosen(x), rtol=1e-12)
    assert d1.shape == x.shape


def test_jit_inside_transforms():
    """grad(jit(f)), jit(grad(jit(f))), hessian(jit(f)) and vmap(jit(grad(f)))."""
    f = pb.jit(lambda x: np.sum(np.tanh(x) * x))
    g_inner = pb.jit(pb.grad(lambda x: np.sum(np.tanh(x) * x)))
    x, xs = rand(5), rand(3, 5)
    d1 = np.tanh(x) + x * (1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(pb.grad(f)(x), d1, rtol=1e-12)
    np.testing.assert_allclose(pb.jit(pb.grad(f))(x), d1, rtol=1e-12)
    np.testing.assert_allclose(pb.jit(pb.hessian(f))(x), pb.hessian(f)(x), rtol=1e-12)
    np.testing.assert_allclose(pb.vmap(g_inner)(xs), [g_inner(r) for r in xs], rtol=1e-12)
    np.testing.assert_allclose(pb.jit(pb.vmap(g_inner))(xs), pb.vmap(g_inner)(xs), rtol=1e-12)


# ---------------------------------------------------------------- pytrees of parameters
def mlp_loss(params, x, y):
    h = np.tanh(x @ params["w1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    return np.mean((out - y) ** 2)


def test_dict_mlp_gradients_under_jit():
    params = {"w1": rand(3, 8), "b1": rand(8), "w2": rand(8, 2), "b2": rand(2)}
    x, y = rand(16, 3), rand(16, 2)

    def both(params, x, y):
        return pb.value_and_grad(mlp_loss)(params, x, y), pb.grad(mlp_loss, (0, 1))(params, x, y)

    (loss, g), (g2, gx) = three_ways(both, params, x, y, what="mlp")
    assert isinstance(g, dict) and sorted(g) == ["b1", "b2", "w1", "w2"]
    np.testing.assert_allclose(loss, mlp_loss(params, x, y), rtol=1e-12)
    # a hand-written backward pass
    h = np.tanh(x @ params["w1"] + params["b1"])
    d_out = 2 * (h @ params["w2"] + params["b2"] - y) / y.size
    d_pre = (d_out @ params["w2"].T) * (1 - h ** 2)
    want = {"w1": x.T @ d_pre, "b1": d_pre.sum(0), "w2": h.T @ d_out, "b2": d_out.sum(0)}
    for k in want:
        np.testing.assert_allclose(g[k], want[k], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(g2[k], want[k], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gx, d_pre @ params["w1"].T, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- custom rules
@pb.custom_jvp
def ste_floor(x):
    return np.floor(x)


@ste_floor.defjvp
def _ste_floor_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return ste_floor(x), t


@pb.custom_vjp
def cube(x):
    return x ** 3


cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))


@pb.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (np.clip(g, -1.0, 1.0),))


def test_custom_rules_under_jit():
    def customs(x, s):
        return (
            ste_floor(x),
            pb.grad(lambda x: np.sum(ste_floor(x) * 3))(x),
            pb.jvp(ste_floor, (x,), (np.ones(3),))[1],
            pb.grad(cube)(s), pb.grad(pb.grad(cube))(s), pb.grad(pb.grad(pb.grad(cube)))(s),
            pb.jacrev(cube)(x),
            pb.grad(lambda x: np.sum(clip_gradient(x) ** 2))(x),
        )

    x = np.array([0.4, 1.6, -2.5])
    got = three_ways(customs, x, 2.0, what="custom rules")
    np.testing.assert_array_equal(got[0], np.floor(x))
    np.testing.assert_array_equal(got[1], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(got[2], [1.0, 1.0, 1.0])
    np.testing.assert_allclose([got[3], got[4], got[5]], [12.0, 12.0, 6.0])
    np.testing.assert_allclose(got[6], np.diag(3 * x ** 2))
    np.testing.assert_allclose(got[7], [0.8, 1.0, -1.0])


def test_custom_rules_inside_control_flow_under_jit():
    # the backend inlines custom calls inside cond branches and loop bodies too
    def f(x):
        y = pb.cond(x[0] > 0, lambda y: ste_floor(y) * 2.0, lambda y: y, x)
        return pb.fori_loop(0, 2, lambda i, c: c + cube(c), y)

    x = np.array([0.4, 1.6, -2.5])
    want = np.floor(x) * 2.0
    want = want + want ** 3
    want = want + want ** 3
    np.testing.assert_allclose(pb.jit(f)(x), want)
    np.testing.assert_allclose(pb.jit(f, backend="interpreter")(x), want)


# ---------------------------------------------------------------- the users' questions
A = RNG.standard_normal((20, 4))


def helper_1(p1):
    return np.tanh(A @ p1)


def helper_2(z, p2):
    return p2[0] * np.sin(z) + p2[1] * z ** 2 + p2[2]


def main(p1, p2):
    z = helper_1(p1)
    return z, helper_2(z, p2)


def test_users_questions_under_jit():
    def frob(X, Y):
        return np.sum((X @ X @ Y) ** 2)

    def questions(p1, p2, X, Y, x):
        return (
            pb.jacfwd(main, argnums=(0, 1))(p1, p2),
            pb.jacrev(main, argnums=(0, 1))(p1, p2),
            pb.grad(lambda X, Y: np.trace(pb.grad(frob, 1)(X, Y)), 0)(X, Y),
            pb.hessian(lambda X: np.sum(X ** 2))(X[:2]),
            pb.grad(lambda x: np.sum(np.floor(x) * x))(x),
        )

    p1, p2 = RNG.standard_normal(4), RNG.standard_normal(3)
    X, Y = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    x = RNG.uniform(-3, 3, 7)
    (fwd, rev, mixed, hess, floor_grad) = three_ways(questions, p1, p2, X, Y, x, what="users")
    z = np.tanh(A @ p1)
    dz1 = (1 - z ** 2)[:, None] * A
    want = ((dz1, np.zeros((20, 3))),
            ((p2[0] * np.cos(z) + 2 * p2[1] * z)[:, None] * dz1,
             np.stack([np.sin(z), z ** 2, np.ones(20)], axis=1)))
    for got in (fwd, rev):
        for a, b in zip(tree_leaves(got), tree_leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    G = 2 * X @ X @ (Y + Y.T)
    np.testing.assert_allclose(mixed, G @ X.T + X.T @ G, rtol=1e-9)
    np.testing.assert_allclose(hess, 2 * np.eye(6).reshape(2, 3, 2, 3))
    np.testing.assert_array_equal(floor_grad, np.floor(x))


# ---------------------------------------------------------------- dtypes, 0-d, layouts
def test_float32_in_float32_out():
    def f32(x, s):
        f = lambda x: np.sum(np.sin(x) * np.exp(x) * s)
        return (pb.grad(f)(x), pb.jvp(lambda x: np.tanh(x) * 2.0, (x,), (x,))[1],
                pb.vjp(lambda x: x @ x.T, x)[1](np.ones((2, 2), np.float32))[0],
                pb.hessian(f)(x[0]), pb.grad(lambda x: np.sum(x.astype(np.float64) ** 2))(x),
                pb.grad(lambda s: s * np.float32(3.0) + s ** 2)(s))

    x = rand(2, 3).astype(np.float32)
    got = three_ways(f32, x, np.float32(0.5), what="float32")
    for g in got:
        assert np.asarray(g).dtype == np.float32
    np.testing.assert_allclose(got[0], (np.cos(x) + np.sin(x)) * np.exp(x) * 0.5, rtol=1e-5)
    np.testing.assert_allclose(got[2], 2 * np.ones((2, 2)) @ x, rtol=1e-5)
    np.testing.assert_allclose(got[4], 2 * x, rtol=1e-6)
    np.testing.assert_allclose(got[5], 4.0, rtol=1e-6)


def test_zero_d_results_keep_dtype():
    g = pb.jit(pb.grad(np.sin))
    for x in (1.0, np.float64(1.0), np.array(1.0)):
        r = g(x)
        assert np.asarray(r).dtype == np.float64 and np.ndim(r) == 0
        assert r == np.cos(1.0)
    r32 = g(np.float32(1.0))
    assert np.asarray(r32).dtype == np.float32
    np.testing.assert_allclose(r32, np.cos(np.float32(1.0)), rtol=1e-6)


def test_non_contiguous_inputs():
    def layouts(a, b, v, t):
        f = lambda a, b, v: np.sum(np.tanh(a @ b) * v[:, None] + a.T[0][:, None]) + np.sum(b ** 2)
        return (pb.grad(f, (0, 1, 2))(a, b, v), pb.hessian(lambda v: np.sum(np.sin(v) * v[0]))(v),
                pb.jvp(lambda a: np.cumsum(a * a, axis=0), (a,), (t,))[1],
                pb.vjp(lambda b: np.sum(b * b.T, axis=1), b)[1](v[:3]))

    base = rand(8, 3)
    a, b, v, t = base[::2], rand(4, 3).T[:, :3], rand(10)[::3], base[1::2]
    assert not any(z.flags.c_contiguous for z in (a, b, v, t))
    got = three_ways(layouts, a, b, v, t, what="strided")
    want = pb.jit(layouts)(*(np.ascontiguousarray(z) for z in (a, b, v, t)))
    assert_same(got, want, "strided vs contiguous copies")


def test_blas_sized_products_empty_and_non_finite_inputs():
    """Products above the BLAS threshold, jacobians built from identity matrices
    (lowered to views), transposed operands, empty arrays; then inf/nan inputs
    through the same kernel (IEEE results as the interpreter gives them)."""
    A, B = RNG.standard_normal((20, 30)), RNG.standard_normal((12, 12))

    def products(x, X, y, e):
        return (pb.jacrev(lambda x: A @ x)(x), pb.jacfwd(lambda x: A @ x)(x),
                pb.hessian(lambda y: y @ B @ y)(y), pb.grad(lambda X: np.trace(X @ X))(X),
                pb.grad(lambda X: np.sum(X.T @ X))(X), pb.jacrev(lambda X: X @ X.T)(X[:4, :5]),
                pb.grad(lambda e: np.sum(e ** 2) + 1.0)(e), pb.jvp(lambda e: e * 2, (e,), (e,))[1],
                pb.jacrev(lambda y: np.outer(y, y))(y[:4]),
                pb.jacrev(lambda X: np.sum(X * X, axis=0))(X[:3, :3]))

    x, X, y = RNG.standard_normal(30), RNG.standard_normal((10, 10)).T, RNG.standard_normal(12)
    got = three_ways(products, x, X, y, np.zeros((0, 3)), what="products")
    np.testing.assert_allclose(got[0], A, rtol=1e-12)
    np.testing.assert_allclose(got[2], B + B.T, rtol=1e-12)
    np.testing.assert_allclose(got[3], 2 * X.T, rtol=1e-12)
    assert got[6].shape == (0, 3)
    x[3], X[1, 2] = np.inf, np.nan
    three_ways(products, x, X, y, np.zeros((0, 3)), what="products with inf/nan")
