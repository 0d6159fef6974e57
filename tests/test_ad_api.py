"""The AD API: grad/value_and_grad/jvp/vjp/jacfwd/jacrev/hessian, pytrees,
composition, custom rules, the users' questions, IR properties."""
import functools
import math

import numpy as np
import pytest

import pullback as pb
from pullback.api import trace_to_ir
from pullback.backends.interpreter import eval_ir
from pullback.ir import parse, typecheck
from pullback.ir.printer import ir_equal
from pullback.passes.inline import inline_calls
from pullback.passes.jvp import jvp_ir
from pullback.passes.manager import optimize
from pullback.passes.transpose import vjp_ir

RNG = np.random.default_rng(1)


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=kw.get("rtol", 1e-10),
                               atol=kw.get("atol", 1e-12))


# ---------------------------------------------------------------- the users' questions
A = RNG.standard_normal((20, 4))


def helper_1(p1):
    return np.tanh(A @ p1)


def helper_2(z, p2):
    return p2[0] * np.sin(z) + p2[1] * z ** 2 + p2[2]


def main(p1, p2):
    z = helper_1(p1)
    return z, helper_2(z, p2)


def test_main_jacfwd_argnums_tuple():
    p1, p2 = RNG.standard_normal(4), RNG.standard_normal(3)
    (dz1, dz2), (dy1, dy2) = pb.jacfwd(main, argnums=(0, 1))(p1, p2)
    z = np.tanh(A @ p1)
    dz_dp1 = (1 - z ** 2)[:, None] * A
    close(dz1, dz_dp1)
    close(dz2, np.zeros((20, 3)))
    close(dy1, (p2[0] * np.cos(z) + 2 * p2[1] * z)[:, None] * dz_dp1)
    close(dy2, np.stack([np.sin(z), z ** 2, np.ones(20)], axis=1))
    # the same through reverse mode
    (rz1, rz2), (ry1, ry2) = pb.jacrev(main, argnums=(0, 1))(p1, p2)
    for a, b in [(rz1, dz1), (rz2, dz2), (ry1, dy1), (ry2, dy2)]:
        close(a, b)


def test_main_symbolic_zero_and_reuse():
    p1, p2 = RNG.standard_normal(4), RNG.standard_normal(3)
    ir, _, _ = trace_to_ir(main, (p1, p2))
    # tangent only for p2: dz/dp2 is a broadcast of literal 0, nothing else
    j = jvp_ir(ir, [False, True])
    typecheck(j)
    dz = j.outvars[2]
    (eqn,) = [e for e in j.eqns if dz in e.outputs]
    assert eqn.prim.name == "broadcast_in_dim" and eqn.inputs[0].val == 0
    # the optimized Jacobian IR computes dz/dp1 once: one tanh, one sin, one cos
    jir = pb.make_ir(pb.jacfwd(main, argnums=(0, 1)), optimize=True)(p1, p2)
    names = [e.prim.name for e in jir.eqns]
    assert names.count("tanh") == 1 and names.count("cos") == 1
    # dz/dp1 (the [4,20] tangent block of z) feeds dy/dp1 instead of being recomputed
    assert names.count("dot_general") <= 1


def test_mixed_partial_of_matrix_function():
    def f(X, Y):
        return np.sum((X @ X @ Y) ** 2)

    X, Y = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    h = pb.grad(lambda X, Y: np.trace(pb.grad(f, 1)(X, Y)), 0)(X, Y)
    G = 2 * X @ X @ (Y + Y.T)
    close(h, G @ X.T + X.T @ G, rtol=1e-9)


def test_hessian_of_frobenius_norm_squared():
    X = RNG.standard_normal((2, 3))
    H = pb.hessian(lambda X: np.sum(X ** 2))(X)
    assert H.shape == (2, 3, 2, 3)
    close(H, 2 * np.eye(6).reshape(2, 3, 2, 3))


def test_grad_floor_times_x():
    x = RNG.uniform(-3, 3, 7)
    close(pb.grad(lambda x: np.sum(np.floor(x) * x))(x), np.floor(x))


# ---------------------------------------------------------------- composition
def test_grad_cubed_sin():
    for x in [0.3, 1.0, -2.0]:
        close(pb.grad(pb.grad(pb.grad(np.sin)))(x), -np.cos(x))
        close(pb.grad(pb.grad(pb.grad(pb.grad(np.sin))))(x), np.sin(x))


def test_grad_grad_closed_forms():
    close(pb.grad(pb.grad(lambda x: x ** 3 * np.exp(x)))(0.7),
          (6 * 0.7 + 6 * 0.7 ** 2 + 0.7 ** 3) * np.exp(0.7))
    close(pb.grad(pb.grad(np.tanh))(0.4), -2 * np.tanh(0.4) * (1 - np.tanh(0.4) ** 2))
    close(pb.grad(pb.grad(lambda x: np.log(x) * x))(2.0), 0.5)
    # mixed: d/dy d/dx (x^2 y^3) = 6 x y^2
    close(pb.grad(lambda x, y: pb.grad(lambda x, y: x ** 2 * y ** 3)(x, y), 1)(1.5, 2.0),
          6 * 1.5 * 4.0)


def test_hessian_three_ways():
    def f(x):
        return np.sum(np.sin(x) * x[::-1]) + np.prod(x) + np.max(x ** 2)

    x = RNG.standard_normal(4)
    H = pb.hessian(f)(x)
    close(pb.jacfwd(pb.jacrev(f))(x), H)
    close(pb.jacrev(pb.jacfwd(f))(x), H)
    close(pb.jacrev(pb.jacrev(f))(x), H)
    close(H, H.T)


def test_jacobian_layout_and_pytrees():
    def f(x, y):
        return {"a": x[:, None] * y, "b": np.sum(x)}

    x, y = RNG.standard_normal(3), RNG.standard_normal((2,))
    for jac in (pb.jacfwd, pb.jacrev):
        J = jac(f, argnums=(0, 1))(x, y)
        assert J["a"][0].shape == (3, 2, 3) and J["a"][1].shape == (3, 2, 2)
        assert J["b"][0].shape == (3,) and J["b"][1].shape == (2,)
        close(J["b"][0], np.ones(3))
        close(J["a"][0], np.einsum("ij,ik->ijk", np.broadcast_to(y, (3, 2)), np.eye(3)))
        close(J["a"][1], np.einsum("i,jk->ijk", x, np.eye(2)))
        J0 = jac(f)(x, y)
        close(J0["a"], J["a"][0])


def test_jacobian_has_aux():
    x = RNG.standard_normal(3)
    for jac in (pb.jacfwd, pb.jacrev):
        J, aux = jac(lambda x: (np.sin(x), {"s": np.sum(x)}), has_aux=True)(x)
        close(J, np.diag(np.cos(x)))
        close(aux["s"], np.sum(x))
    # hessian too, as jax.hessian(f, has_aux=True): (hessian, aux), also under jit
    for h in (pb.hessian, lambda f, **k: pb.jit(pb.hessian(f, **k))):
        H, aux = h(lambda x: (np.sum(np.sin(x)), {"s": np.sum(x)}), has_aux=True)(x)
        close(H, np.diag(-np.sin(x)))
        close(aux["s"], np.sum(x))


def test_jacobian_traces_once():
    calls = []

    def f(x):
        calls.append(1)
        return np.sin(x) * 2

    x = RNG.standard_normal(50)
    for jac in (pb.jacfwd, pb.jacrev):
        calls.clear()
        close(jac(f)(x), np.diag(2 * np.cos(x)))
        assert len(calls) == 1


def test_jit_composition():
    def f(x):
        return np.sum(np.sin(x) ** 2)

    x = RNG.standard_normal(5)
    expected = 2 * np.sin(x) * np.cos(x)
    close(pb.jit(pb.grad(f), backend="interpreter")(x), expected)
    close(pb.grad(pb.jit(f, backend="interpreter"))(x), expected)
    close(pb.jit(pb.grad(pb.grad(lambda x: np.sin(x) * x)), backend="interpreter")(0.5),
          2 * np.cos(0.5) - 0.5 * np.sin(0.5))
    close(pb.vmap(pb.grad(lambda x: np.sum(x ** 3)))(x.reshape(5, 1)), 3 * x.reshape(5, 1) ** 2)


def test_eager_control_flow_and_jit_error():
    def f(x):
        if x > 0:
            return x ** 2
        return -x

    assert pb.grad(f)(3.0) == 6.0
    assert pb.grad(f)(-3.0) == -1.0
    with pytest.raises(pb.ConcretizationError):
        pb.jit(pb.grad(f), backend="interpreter")(3.0)


def _assign_into_numpy(x):
    y = np.zeros(3)
    y[0] = x
    return np.sum(y)


@pytest.mark.parametrize("f, x", [
    (lambda x: math.sin(x), 2.0),
    (lambda x: float(x) * x, 2.0),
    (lambda x: x.item() * x, 2.0),
    (lambda x: np.float64(x) * x, 2.0),
    (lambda x: sum(x.tolist()) * x[0], np.ones(2)),
    (lambda x: float(np.sin(x) + 1.0) * x, 2.0),  # reached through other primitives
    (_assign_into_numpy, 2.0),
], ids=["math.sin", "float", "item", "np.float64", "tolist", "float-of-sin", "assign"])
@pytest.mark.parametrize("transform", ["grad", "jvp", "vjp", "jacfwd", "jacrev", "hessian"])
def test_a_python_number_made_from_a_differentiated_value_raises(f, x, transform):
    # before, the number re-entered as a constant and the derivative was silently 0
    run = {"grad": lambda: pb.grad(f)(x), "jvp": lambda: pb.jvp(f, (x,), (np.ones_like(x),)),
           "vjp": lambda: pb.vjp(f, x)[1](1.0), "jacfwd": lambda: pb.jacfwd(f)(x),
           "jacrev": lambda: pb.jacrev(f)(x), "hessian": lambda: pb.hessian(f)(x)}[transform]
    with pytest.raises(pb.ConcretizationError,
                       match=r"(?s)into a Python number.*test_ad_api.py.*stop_gradient"):
        run()


def test_python_numbers_that_lose_no_derivative_are_fine():
    assert pb.grad(lambda x: float(pb.stop_gradient(x)) * x)(2.0) == 2.0
    assert pb.grad(lambda x: float(np.floor(x)) * x)(2.5) == 2.0
    assert pb.grad(lambda x: x ** int(x))(2.5) == 5.0  # int() is piecewise constant
    assert pb.grad(lambda x, n: x * float(n))(2.0, 3.0) == 3.0  # n is not differentiated
    assert pb.grad(lambda x: x * (2.0 if x > 0 else 1.0))(2.0) == 2.0
    assert np.array_equal(pb.grad(lambda x: x[int(np.argmax(x))])(np.array([1.0, 3.0, 2.0])),
                          [0.0, 1.0, 0.0])


# ---------------------------------------------------------------- API surface
def test_pytree_params_give_pytree_grads():
    params = {"w1": RNG.standard_normal((3, 4)), "b1": np.zeros(4), "w2": RNG.standard_normal(4)}
    x = RNG.standard_normal((5, 3))

    def loss(p, x):
        h = np.tanh(x @ p["w1"] + p["b1"])
        return np.mean((h @ p["w2"]) ** 2)

    g = pb.grad(loss)(params, x)
    assert set(g) == {"w1", "b1", "w2"}
    eps = 1e-6
    for k in params:
        d = RNG.standard_normal(params[k].shape)
        plus = dict(params, **{k: params[k] + eps * d})
        minus = dict(params, **{k: params[k] - eps * d})
        fd = (loss(plus, x) - loss(minus, x)) / (2 * eps)
        close(np.sum(g[k] * d), fd, rtol=1e-6)


def test_value_and_grad_has_aux_argnums():
    def f(x, y):
        return np.sum(x * y), {"n": np.sum(x)}

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    (v, aux), (gx, gy) = pb.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, y)
    close(v, 11.0)
    close(aux["n"], 3.0)
    close(gx, y)
    close(gy, x)
    g, aux = pb.grad(f, has_aux=True)(x, y)
    close(g, y)
    gy_only = pb.grad(lambda x, y: np.sum(x * y), argnums=1)(x, y)
    close(gy_only, x)
    assert isinstance(v, np.ndarray) and v.shape == ()


def test_jvp_and_vjp():
    x = RNG.standard_normal(3)
    out, t = pb.jvp(lambda x: np.sin(x) * x, (x,), (np.ones(3),))
    close(out, np.sin(x) * x)
    close(t, np.cos(x) * x + np.sin(x))
    out, vjp_fn = pb.vjp(lambda x, y: x * y, x, 2 * x)
    (cx, cy) = vjp_fn(np.ones(3))
    close(out, 2 * x * x)
    close(cx, 2 * x)
    close(cy, x)
    out, vjp_fn, aux = pb.vjp(lambda x: (np.sin(x), x.sum()), x, has_aux=True)
    close(aux, x.sum())
    close(vjp_fn(np.ones(3))[0], np.cos(x))


def test_float32_in_float32_out():
    x = np.arange(3, dtype=np.float32)
    f = lambda x: np.sum(np.exp(x) * 2.0)
    assert pb.grad(f)(x).dtype == np.float32
    assert pb.value_and_grad(f)(x)[0].dtype == np.float32
    assert pb.jacfwd(lambda x: np.sin(x))(x).dtype == np.float32
    assert pb.jacrev(lambda x: np.sin(x))(x).dtype == np.float32
    assert pb.jvp(np.sin, (x,), (x,))[1].dtype == np.float32


def test_errors():
    def f(x, n):
        return np.sum(x) * n

    with pytest.raises(TypeError, match="argument n"):
        pb.grad(f, argnums=1)(np.ones(2), 3)
    with pytest.raises(TypeError, match="argument counts"):
        pb.grad(lambda counts: np.sum(counts * 1.0))(np.arange(3))
    with pytest.raises(TypeError, match="scalar"):
        pb.grad(np.sin)(np.ones(3))
    # a container of one scalar is not a scalar (as JAX): its structure would vanish
    # from value_and_grad's value, and a forgotten has_aux go unnoticed
    for g in (lambda x: (np.sum(x ** 2),), lambda x: (np.sum(x), None), lambda x: {"l": np.sum(x)}):
        with pytest.raises(TypeError, match="has_aux=True"):
            pb.value_and_grad(g)(np.ones(2))
    # integer inputs are fine when not differentiated
    close(pb.grad(f)(np.ones(2), 3), [3.0, 3.0])


# ---------------------------------------------------------------- custom rules
def test_custom_jvp_straight_through():
    @pb.custom_jvp
    def ste_floor(x):
        return np.floor(x)

    @ste_floor.defjvp
    def ste_floor_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return ste_floor(x), t

    x = np.array([0.4, 1.6, -2.5])
    close(ste_floor(x), np.floor(x))
    close(pb.grad(lambda x: np.sum(ste_floor(x) * 3))(x), [3.0, 3.0, 3.0])
    close(pb.jvp(ste_floor, (x,), (np.ones(3),))[1], np.ones(3))
    ir = pb.make_ir(ste_floor)(x)
    assert ir.eqns[0].prim.name == "custom_jvp_call"
    assert "custom_jvp_call" in str(ir) and "ste_floor_jvp" in str(ir)
    inl = inline_calls(ir)
    assert [e.prim.name for e in inl.eqns] == ["floor"]
    close(eval_ir(inl, inl.consts, [x])[0], np.floor(x))


def test_custom_jvp_closure_and_higher_order():
    scale = np.array([2.0, 3.0])

    @pb.custom_jvp
    def f(x):
        return np.sin(x) * scale

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), np.cos(x) * scale * t

    x = np.array([0.3, 0.9])
    close(pb.grad(lambda x: np.sum(f(x)))(x), np.cos(x) * scale)
    close(pb.grad(lambda x: pb.grad(lambda x: np.sum(f(x)))(x)[0])(x), [-np.sin(0.3) * 2, 0])
    pb.check_grads(f, (x,), order=2)


def test_vjp_fn_takes_a_traced_cotangent_of_another_float_dtype():
    # as a concrete one: converted to the output's dtype (it reached the backward IR as
    # it was, a ShapeError inside it pointing at the user's function)
    def g(W, ct):
        return pb.vjp(lambda W: 0.5 * np.tanh(W), W)[1](ct)[0]

    for w_dt, ct_dt in ((np.float32, np.float64), (np.float64, np.float32)):
        W, ct = np.full(3, 0.5, w_dt), np.ones(3, ct_dt)
        want = g(W, ct)
        assert want.dtype == w_dt
        for got in (pb.jit(g)(W, ct), pb.vmap(g)(W[None], ct[None])[0]):
            assert got.dtype == w_dt
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_custom_vjp_and_derivatives_of_derivatives():
    @pb.custom_vjp
    def cube(x):
        return x ** 3

    def cube_fwd(x):
        return x ** 3, x

    def cube_bwd(x, g):
        return (3 * x ** 2 * g,)

    cube.defvjp(cube_fwd, cube_bwd)
    close(pb.grad(cube)(2.0), 12.0)
    close(pb.grad(pb.grad(cube))(2.0), 12.0)
    close(pb.grad(pb.grad(pb.grad(cube)))(2.0), 6.0)
    x = RNG.standard_normal(3)
    close(pb.jacrev(cube)(x), np.diag(3 * x ** 2))
    pb.check_grads(cube, (x,), order=2, modes=("rev",))
    with pytest.raises(NotImplementedError, match="custom_vjp"):
        pb.jvp(cube, (x,), (x,))
    # compiled, the same error (it was the numba backend's "no lowering for
    # custom_vjp_linear", pointing to the interpreter, which then raised this)
    for backend in ("numba", "interpreter"):
        with pytest.raises(NotImplementedError, match="forward-mode differentiation"):
            pb.jit(pb.jacfwd(cube), backend=backend)(x)
    # forward over reverse differentiates the user's fwd and bwd, which are traced
    close(pb.jit(pb.hessian(lambda v: np.sum(cube(v))))(x), np.diag(6 * x))


def test_custom_vjp_gradient_clipping():
    @pb.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        return x, None

    def bwd(_, g):
        return (np.clip(g, -1.0, 1.0),)

    clip_gradient.defvjp(fwd, bwd)
    x = np.array([1.0, 3.0])
    close(pb.grad(lambda x: np.sum(clip_gradient(x) ** 2))(x), [1.0, 1.0])
    ir = pb.make_ir(clip_gradient)(x)
    assert ir.eqns[0].prim.name == "custom_vjp_call"


# ---------------------------------------------------------------- IR properties
def _mlp_loss(w1, b1, w2, x, y):
    h = np.tanh(x @ w1 + b1)
    return np.mean((h @ w2 - y) ** 2)


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


MLP_ARGS = (RNG.standard_normal((4, 8)), np.zeros(8), RNG.standard_normal(8),
            RNG.standard_normal((16, 4)), RNG.standard_normal(16))


@pytest.mark.parametrize("f,args", [
    (_mlp_loss, MLP_ARGS), (_rosenbrock, (RNG.standard_normal(10),)),
    (lambda x: np.sum(np.where(x > 0, np.sin(x), x ** 3)[1:] * np.cumsum(x)[:-1]),
     (RNG.standard_normal(6),)),
])
def test_jvp_vjp_irs_typecheck_and_round_trip(f, args):
    ir, _, _ = trace_to_ir(f, args)
    for t in (jvp_ir(ir, [True] * len(ir.invars)), vjp_ir(ir)):
        typecheck(t)
        back = parse(str(t), consts=t.consts)
        assert ir_equal(back, t)
        typecheck(optimize(t))
    g = vjp_ir(vjp_ir(ir), [True] * len(ir.invars) + [False])  # second order
    typecheck(g)


@pytest.mark.parametrize("f,args", [(_mlp_loss, MLP_ARGS), (_rosenbrock, (RNG.standard_normal(10),))])
def test_cheap_gradient_principle(f, args):
    primal = optimize(pb.make_ir(f)(*args))
    argnums = tuple(range(len(args)))
    gir = optimize(pb.make_ir(pb.grad(f, argnums=argnums))(*args))
    assert len(gir.eqns) <= 4 * len(primal.eqns), (len(gir.eqns), len(primal.eqns))
    # and the gradient is right
    g = pb.grad(f, argnums=argnums)(*args)
    fd_dir = [RNG.standard_normal(np.shape(a)) for a in args]
    eps = 1e-6
    fp = f(*[a + eps * d for a, d in zip(args, fd_dir)])
    fm = f(*[a - eps * d for a, d in zip(args, fd_dir)])
    close(sum(np.sum(gi * d) for gi, d in zip(g, fd_dir)), (fp - fm) / (2 * eps), rtol=1e-6)


def test_grad_ir_keeps_source_lines():
    def f(x):
        y = np.sin(x)  # the sin line
        return y * 3.0

    ir = pb.make_ir(pb.grad(f))(1.0)
    cos = [e for e in ir.eqns if e.prim.name == "cos"][0]
    assert cos.source is not None and "the sin line" in open(cos.source.filename).read().splitlines()[
        cos.source.lineno - 1]


def test_keyword_arguments_are_passed_through_undifferentiated():
    # as in JAX: keywords reach f as they are; argnums counts positional arguments
    f = lambda x, y=1.0: x * x * y  # noqa: E731
    assert pb.grad(f)(2.0, y=3.0) == 12.0
    assert pb.value_and_grad(f)(2.0, y=3.0) == (12.0, 12.0)
    assert pb.jacfwd(f)(2.0, y=3.0) == 12.0 and pb.jacrev(f)(2.0, y=3.0) == 12.0
    assert pb.hessian(f)(2.0, y=3.0) == 6.0
    assert pb.grad(pb.grad(f))(2.0, y=3.0) == 6.0
    g = lambda x, *, scale: np.sum(np.sin(x) * scale)  # noqa: E731
    np.testing.assert_allclose(pb.grad(g)(np.ones(2), scale=np.array([1.0, 2.0])),
                               np.cos(1.0) * np.array([1.0, 2.0]), rtol=1e-15)
    # make_ir shows what pb.jit traces (as JAX's make_jaxpr): keyword arguments are
    # inputs, unless static_argnames names them
    ir = pb.make_ir(f)(2.0, y=3.0)
    assert len(ir.invars) == 2 and "3.0" not in str(ir)
    assert len(pb.jit(f).ir(2.0, y=3.0).invars) == 2
    ir = pb.make_ir(f, static_argnames="y")(2.0, y=3.0)
    assert len(ir.invars) == 1 and "3.0" in str(ir)
    # keyword inputs in the order of their names, as pb.jit's (and JAX's sorted dicts)
    g = lambda x, *, a, b: x * a + b  # noqa: E731
    args, kw = (np.ones(3),), dict(b=np.zeros(3), a=2.0)
    assert [v.aval for v in pb.make_ir(g)(*args, **kw).invars] == \
        [v.aval for v in pb.jit(g).ir(*args, **kw).invars]
    # a parameter static by name is static passed by position too, as in pb.jit
    def unrolled(x, n):
        for _ in range(n):
            x = np.sin(x)
        return x

    assert len(pb.make_ir(unrolled, static_argnames="n")(np.ones(3), 2).eqns) == 2
    h = lambda x, mode: x * 2 if mode == "double" else x  # noqa: E731
    assert len(pb.make_ir(h, static_argnums=1)(2.0, mode="double").eqns) == 1
    with pytest.raises(TypeError, match="argument mode has type str"):
        pb.make_ir(h)(2.0, mode="double")


def test_aux_outputs_that_are_not_arrays_come_back_unchanged():
    # as in JAX; before, has_aux refused a string or None in aux
    assert pb.vjp(lambda x: (x * 2, "aux"), np.ones(2), has_aux=True)[2] == "aux"
    g, aux = pb.grad(lambda x: (x * x, {"s": "t", "v": x, "n": None}), has_aux=True)(2.0)
    assert g == 4.0 and aux["s"] == "t" and aux["v"] == 2.0 and aux["n"] is None
    for jac in (pb.jacfwd, pb.jacrev):
        j, (tag, v) = jac(lambda x: (x * 2, ("a", x)), has_aux=True)(np.ones(2))
        np.testing.assert_array_equal(j, 2 * np.eye(2))
        assert tag == "a" and np.array_equal(v, np.ones(2))
    with pytest.raises(TypeError, match=r"must return a pair \(output, aux\), got one array "
                                        r"of shape \(\)"):
        pb.grad(lambda x: x, has_aux=True)(2.0)


@pytest.mark.parametrize("argnum, what", [(0, "uses a traced value it closes over"),
                                          (1, "closes over a value that is being differentiated")])
@pytest.mark.parametrize("kind", ["custom_jvp", "custom_vjp"])
def test_custom_rules_refuse_closures_over_traced_values(argnum, what, kind):
    # before: wrt y a silently zero derivative (the rule never sees y's tangent),
    # wrt x an EscapedTracerError from deep inside the jvp pass
    def loss(x, y):
        if kind == "custom_jvp":
            h = pb.custom_jvp(lambda x: x * y)
            h.defjvp(lambda p, t: (h(p[0]), t[0] * y))
        else:
            h = pb.custom_vjp(lambda x: x * y)
            h.defvjp(lambda x: (x * y, None), lambda r, ct: (ct * y,))
        return np.sum(h(x))

    x = np.array([0.4, 1.6, -2.5])
    assert pb.jit(loss)(x, 2.0) == -1.0
    with pytest.raises(NotImplementedError, match=what):
        pb.grad(loss, argnum)(x, np.array(2.0))
    if argnum == 0:  # a Python float not differentiated passes through untraced, as in JAX
        np.testing.assert_array_equal(pb.grad(loss, 0)(x, 2.0), [2.0, 2.0, 2.0])


def test_custom_rules_must_return_values_of_the_outputs_shapes():
    # before, a scalar tangent or cotangent was broadcast: grad gave [3, 3, 3] here
    x = np.array([0.5, 1.0, 2.0])
    g = pb.custom_jvp(lambda x: x * 2.0)
    g.defjvp(lambda p, t: (p[0] * 2.0, np.sum(t[0])))
    with pytest.raises(TypeError, match=r"tangent output of the jvp rule .* has shape \(\)"):
        pb.grad(lambda x: np.sum(g(x)))(x)
    h = pb.custom_vjp(lambda x: x * 2.0)
    h.defvjp(lambda x: (x * 2.0, None), lambda r, ct: (np.sum(ct),))
    with pytest.raises(TypeError, match=r"cotangent from the bwd rule .* has shape \(\)"):
        pb.grad(lambda x: np.sum(h(x)))(x)
    k = pb.custom_jvp(lambda x: x * 2.0)
    k.defjvp(lambda p, t: (p[0] * 2.0, t[0] * 2.0))
    np.testing.assert_array_equal(pb.grad(lambda x: np.sum(k(x)))(x), [2.0, 2.0, 2.0])


def test_custom_rules_take_nondiff_argnums_and_keywords_as_in_jax():
    @functools.partial(pb.custom_vjp, nondiff_argnums=(0,))
    def apply(fn, x):
        return fn(x)

    apply.defvjp(lambda fn, x: (fn(x), x), lambda fn, x, g: (g * 2.0 * x,))
    assert pb.grad(lambda x: apply(np.square, x))(3.0) == 6.0

    @functools.partial(pb.custom_jvp, nondiff_argnums=(1,))
    def scale(x, k):
        return x * k

    scale.defjvp(lambda k, p, t: (scale(p[0], k), t[0] * k))
    assert pb.grad(lambda x: scale(x, 3.0))(2.0) == 3.0
    assert pb.jit(pb.grad(lambda x: scale(x, 3.0)))(2.0) == 3.0
    assert pb.hessian(lambda x: scale(x, 3.0) ** 2)(2.0) == 18.0

    @pb.custom_jvp
    def f(x, scale=2.0):
        return x * scale

    f.defjvp(lambda p, t: (f(*p), t[0] * p[1] + p[0] * t[1]))  # defaults arrive positionally
    assert pb.grad(lambda x: f(x, scale=3.0))(2.0) == 3.0
    assert pb.grad(lambda x: f(x))(2.0) == 2.0
    assert pb.grad(lambda s: f(2.0, scale=s))(3.0) == 2.0


def test_argnums_and_static_argnums_are_checked():
    f = lambda x, y: x * y  # noqa: E731
    for bad in (None, 1.0, "a", ((0,), 1), True):
        with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints"):
            pb.grad(f, argnums=bad)(2.0, 3.0)
    with pytest.raises(ValueError, match="duplicates"):
        pb.grad(f, argnums=(0, 0))(2.0, 3.0)
    assert pb.grad(f, argnums=np.int64(1))(2.0, 3.0) == 2.0  # as JAX
    assert pb.jit(f, static_argnums=None)(2.0, 3.0) == 6.0  # None: no static argument
    assert pb.jit(f, static_argnums=np.int64(1))(2.0, 3.0) == 6.0
    with pytest.raises(TypeError, match="static_argnums must be an int or a tuple of ints"):
        pb.jit(f, static_argnums=1.0)


def test_jvp_has_aux_and_custom_jvp_defjvps_follow_jax():
    out, tangent, aux = pb.jvp(lambda x: (np.sin(x), {"c": np.cos(x), "tag": "t"}),
                               (1.0,), (2.0,), has_aux=True)
    assert out == np.sin(1.0) and tangent == 2.0 * np.cos(1.0)
    assert aux["c"] == np.cos(1.0) and aux["tag"] == "t"
    with pytest.raises(TypeError, match="must return a pair"):
        pb.jvp(np.sin, (1.0,), (2.0,), has_aux=True)

    @pb.custom_jvp
    def f(x, y):
        return np.sin(x) * y

    # deliberately not the true derivative in y, to see that the rule is used
    f.defjvps(lambda tx, ans, x, y: np.cos(x) * y * tx, lambda ty, ans, x, y: 10.0 * ty)
    for g in (pb.grad(f, (0, 1)), pb.jit(pb.grad(f, (0, 1)))):
        gx, gy = g(1.0, 2.0)
        assert gx == np.cos(1.0) * 2.0 and gy == 10.0
    assert pb.jvp(f, (1.0, 2.0), (1.0, 1.0))[1] == np.cos(1.0) * 2.0 + 10.0

    @pb.custom_jvp
    def h(x, y):
        return x * y

    h.defjvps(None, lambda ty, ans, x, y: x * ty)  # None: no derivative in x
    assert pb.grad(h, (0, 1))(3.0, 2.0) == (0.0, 3.0)
    k = pb.custom_jvp(lambda n, x: x * n, nondiff_argnums=(0,))
    with pytest.raises(TypeError, match="defjvps cannot be used with nondiff_argnums"):
        k.defjvps(lambda t, ans, x: t)


def test_custom_rules_must_return_their_functions_structures():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([10.0, 11.0, 12.0])

    @pb.custom_vjp
    def f(d):
        return d["a"] * d["b"]

    # a misnamed key fed its values to the other leaf by position before
    f.defvjp(lambda d: (f(d), (d["a"], d["b"])), lambda r, g: ({"a": g * r[1], "x": g},))
    with pytest.raises(TypeError, match=r"returned a cotangent of structure \{'a': \*, 'x': \*\}"):
        pb.grad(lambda x, y: np.sum(f({"a": x, "b": y})), argnums=(0, 1))(x, y)

    @pb.custom_vjp
    def f2(p):
        return p[0] * p[1]

    f2.defvjp(lambda p: (f2(p), p), lambda r, g: ([g * r[1], g * r[0]],))  # a list for a tuple
    with pytest.raises(TypeError, match="for argument 0 of f2"):
        pb.grad(lambda x: np.sum(f2((x, y))))(x)

    @pb.custom_jvp
    def h(x):
        return {"a": x * 2, "b": x * 3}

    h.defjvp(lambda p, t: (h(p[0]), {"b": t[0] * 2, "z": t[0] * 3}))
    with pytest.raises(TypeError, match="both must have h's output structure"):
        pb.jvp(h, (x,), (np.ones(3),))

    g = pb.custom_vjp(lambda n, v: v * n, nondiff_argnums=(0,))
    g.defvjp(lambda n, v: (v * n, None), lambda n, r, ct: (ct * n,))
    assert np.array_equal(pb.grad(lambda v: np.sum(g(3.0, v)))(x), [3.0, 3.0, 3.0])
    with pytest.raises(TypeError, match="argument 0 is in nondiff_argnums but is a traced value"):
        pb.grad(lambda v, n: np.sum(g(n, v)))(x, np.array(3.0))
    assert np.array_equal(pb.grad(lambda v, n: np.sum(g(n, v)))(x, 3.0), [3.0, 3.0, 3.0])
    with pytest.raises(TypeError, match="nondiff_argnums must be an int or a tuple of ints"):
        pb.custom_jvp(lambda a: a, nondiff_argnums=(0.0,))(1.0)


def test_misused_arguments_get_errors_that_say_what_is_wrong():
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"argnums \(1, -1\) name an argument of <lambda> twice"):
        pb.grad(lambda a, b: np.sum(a * b), argnums=(1, -1))(x, x)
    with pytest.raises(TypeError, match="primal 0 has dtype int64, which has no derivative"):
        pb.jvp(lambda v: v * 2, (1,), (1.0,))  # was (2, 0): a silent zero derivative
    assert pb.jvp(lambda v, w: v * w, (2, 3.0), (0, 1.0)) == (6.0, 2.0)  # a zero tangent is fine
    with pytest.raises(ValueError, match="no argument of sin has float values"):
        pb.check_grads(np.sin, (np.arange(3),))  # checked nothing and passed before
    _, vjp_fn = pb.vjp(np.sin, 1.0)
    with pytest.raises(TypeError, match="a cotangent of type str"):
        vjp_fn("a")
    with pytest.raises(ValueError, match="axis_size must be a non-negative int"):
        pb.vmap(lambda a: a, in_axes=None, axis_size=-1)(x)
    with pytest.raises(TypeError, match=r"pb.cond \(true_fun\) expects a function"):
        pb.cond(True, x, lambda a: a, x)
    with pytest.raises(TypeError, match=r"pb.scan \(f\) expects a function, got NoneType"):
        pb.scan(None, 0.0, x)
    with pytest.raises(TypeError, match=r"pb.while_loop \(cond_fun\) expects a function"):
        pb.while_loop(1, lambda c: c, 0.0)
    with pytest.raises(TypeError, match=r"pb.fori_loop \(body_fun\) expects a function"):
        pb.fori_loop(0, 3, "f", 0.0)
    with pytest.raises(TypeError, match=r"the bounds must be scalars, got one of shape \(1,\)"):
        pb.fori_loop(0, np.array([3]), lambda i, c: c, x)
    with pytest.raises(TypeError, match=r"became \(\*, \*,\) of \(f64\[\], f64\[\]\)"):
        pb.scan(lambda c, _: ((c[0], c[1]), None), (1.0, 2.0, 3.0), None, length=2)


def test_jacrev_of_a_one_element_output_is_one_vjp_without_a_batch_axis():
    # a size-1 batch axis stayed in every value of jacfwd(jacrev(f)) and kept the Hessian's
    # loops from fusing (4x slower than jacfwd(grad(f)) per call, 6 temporaries of ~1 MB)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(pb.jacrev(lambda x: np.sum(x ** 2))(x), 2 * x)
    assert pb.jacrev(lambda x: np.sum(x ** 2).reshape(1, 1))(x).shape == (1, 1, 3)
    hir = pb.make_ir(pb.hessian(lambda x: np.sum(x ** 3)), optimize=True)(x)
    assert all(1 not in v.aval.shape for e in hir.eqns for v in e.outputs)
    np.testing.assert_array_equal(pb.hessian(lambda x: np.sum(x ** 3))(x), np.diag(6 * x))


def test_jacobians_of_integer_outputs_are_refused_as_in_jax():
    x = np.array([1.0, 3.0, 2.0])
    for jac in (pb.jacfwd, pb.jacrev, pb.hessian):  # float zeros were returned before
        with pytest.raises(TypeError, match=r"requires float outputs, but <lambda> returns i64\[\]"):
            jac(lambda a: np.argmax(a))(x)
    j, aux = pb.jacfwd(lambda a: (a * 2, np.argmax(a)), has_aux=True)(x)  # as aux it is fine
    assert aux == 1 and np.array_equal(j, 2 * np.eye(3))
    with pytest.raises(TypeError, match=r"must return a pair \(output, aux\), got a tuple of 3"):
        pb.grad(lambda a: (np.sum(a), 1, 2), has_aux=True)(x)


def test_results_are_fresh_arrays_the_caller_owns():
    # the interpreter's values may be an argument, a cotangent, a view of one or a
    # read-only broadcast: what the transforms return is none of these
    x, ct = np.arange(3.0), np.ones(3)
    out, vjp_fn = pb.vjp(lambda x: x, x)
    results = [out, vjp_fn(ct)[0], pb.vmap(lambda r: r)(x.reshape(3, 1)),
               pb.vmap(lambda r: np.ones(3))(x), pb.grad(np.sum)(x),
               pb.value_and_grad(np.mean)(x)[1], pb.grad(lambda a, b: np.sum(a), argnums=1)(x, x),
               *pb.jvp(lambda x: x, (x,), (ct,)), pb.jacfwd(lambda x: x)(x)]
    for r in results:
        assert r.flags.writeable and r.flags.owndata
        assert not np.shares_memory(r, x) and not np.shares_memory(r, ct)
    out[0] = 42.0
    assert x[0] == 0.0


def test_hessian_names_itself_for_integer_inputs():
    with pytest.raises(TypeError, match="^hessian requires real-valued"):
        pb.hessian(lambda x: np.sum(x * 1.0))(np.array([1, 2]))


def test_arguments_not_differentiated_or_batched_pass_through_untraced():
    """As in JAX: a string or a function in an argument grad does not differentiate (or
    vmap does not batch) reaches f as it is, also under jit with it static."""
    def f(a, mode):
        return np.sum(np.sin(a)) if mode == "sin" else np.sum(np.cos(a))

    x = RNG.standard_normal(3)
    close(pb.grad(f)(x, "sin"), np.cos(x))
    close(pb.jit(pb.grad(f), static_argnums=1)(x, "cos"), -np.sin(x))
    close(pb.value_and_grad(f)(x, "cos")[1], -np.sin(x))
    close(pb.jacrev(f)(x, "sin"), np.cos(x))
    close(pb.hessian(f)(x, "cos"), np.diag(-np.cos(x)))
    close(pb.vmap(f, in_axes=(0, None))(x, "sin"), np.sin(x))
    close(pb.jit(pb.vmap(f, in_axes=(0, None)), static_argnums=1)(x, "cos"), np.cos(x))
    close(pb.jit(pb.grad(lambda x, act: np.sum(act(x))), static_argnums=1)(x, np.tanh),
          1 - np.tanh(x) ** 2)
    with pytest.raises(TypeError, match="argument mode has type str"):
        pb.grad(f, argnums=1)(x, "sin")  # differentiating it: refused, naming it


def test_python_values_not_differentiated_or_batched_keep_python_semantics():
    # before: they were traced (with known values), so Python saw 0-d arrays: `f is
    # True` was False, `[1.0] * n` was array([3.]), and d[n], x.reshape(n), np.arange(n)
    # raised; as in JAX, they now reach the function as they were passed
    x = np.arange(1.0, 4.0)
    val, g = pb.value_and_grad(lambda x, f: np.sum(x) * (2.0 if f is True else 1.0))(x, True)
    assert val == 12.0 and np.array_equal(g, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(pb.grad(lambda x, n: np.sum(x) * len([1.0] * n))(x, 3),
                                  [3.0, 3.0, 3.0])

    def shapes(x, n, cfg):
        w = cfg[f"w{n}"]
        return (np.sum(np.tile(x, n)) + np.sum(np.arange(n) * x.reshape(n)) * w
                + np.sum(np.split(x, n)[0]) + np.sum(np.full(3, n) * x))

    cfg = {"w3": 0.5, "tag": "not an array"}
    np.testing.assert_allclose(pb.grad(shapes)(x, 3, cfg), 3 + np.arange(3) * 0.5
                               + [1, 0, 0] + 3)
    np.testing.assert_allclose(pb.jacfwd(shapes)(x, 3, cfg), pb.grad(shapes)(x, 3, cfg))
    np.testing.assert_array_equal(
        pb.vmap(lambda x, f: x * (2.0 if f is True else 1.0), in_axes=(0, None))(x, True),
        [2.0, 4.0, 6.0])
    # arrays not differentiated or batched are still traced: a NumPy table indexed by a
    # traced index works, and a pytree mixing both keeps its arrays traced
    np.testing.assert_array_equal(
        pb.vmap(lambda t, k: t[k], in_axes=(None, 0))(np.array([5.0, 6.0, 7.0]), np.array([2, 0])),
        [7.0, 5.0])
    p = {"scale": 2, "table": np.array([1.0, 10.0, 100.0])}
    np.testing.assert_array_equal(
        pb.grad(lambda x, p: np.sum(x * p["table"]) * p["scale"])(x, p), [2.0, 20.0, 200.0])
    # nondiff_argnums of a custom rule given a Python number that grad does not
    # differentiate
    g = pb.custom_jvp(lambda n, v: v * n, nondiff_argnums=(0,))
    g.defjvp(lambda n, p, t: (p[0] * n, t[0] * n))
    np.testing.assert_array_equal(pb.grad(lambda v, n: np.sum(g(n, v)))(x, 3), [3.0, 3.0, 3.0])


def test_check_grads_jvp_and_vjp_misuse_get_errors_that_say_what_is_wrong():
    x = np.ones(3)
    with pytest.raises(TypeError, match=r"args must be a tuple of f's arguments, e.g. \(x,\)"):
        pb.check_grads(np.sin, x)  # before: split into rows, "takes 1 positional argument"
    with pytest.raises(TypeError, match="must return float arrays .* dtype int64"):
        pb.check_grads(lambda x: np.floor(x * 1000).astype(int), (x,))  # blamed AD before
    with pytest.raises(TypeError, match="must return float arrays .* got an output of str"):
        pb.check_grads(lambda x: "s", (x,))
    for call, what in [(lambda: pb.check_grads(3, (x,)), "check_grads"),
                       (lambda: pb.jvp(3, (x,), (x,)), "jvp"), (lambda: pb.vjp(3, x), "vjp")]:
        with pytest.raises(TypeError, match=f"^{what} expects a function, got int"):
            call()


def test_tangents_of_another_dtype_are_refused_as_in_jax():
    # before: converted silently, so a float32 tangent gave a float64 result with
    # float32's precision
    @pb.custom_jvp
    def f(x):
        return np.sin(x)

    f.defjvp(lambda p, t: (np.sin(p[0]), t[0].astype(np.float32)))
    with pytest.raises(TypeError, match="has dtype float32; it must have the dtype of the value"):
        pb.jvp(f, (np.array([0.3]),), (np.array([1 / 3]),))
    for t in (np.ones(3, np.int64), np.ones(3, np.float32)):
        with pytest.raises(TypeError, match=f"jvp: tangent 0 has dtype {t.dtype}, its primal "
                                            "has float64; they must be equal"):
            pb.jvp(np.sin, (np.ones(3),), (t,))
    # Python numbers take the primal's dtype
    assert pb.jvp(np.sin, (np.float32(1.0),), (1.0,))[1].dtype == np.float32


def test_custom_jvp_takes_traced_nondiff_arguments_as_in_jax():
    @functools.partial(pb.custom_jvp, nondiff_argnums=(1,))
    def f(x, k):
        return np.sin(x) * k

    @f.defjvp
    def f_jvp(k, p, t):
        return f(p[0], k), np.cos(p[0]) * k * t[0]

    x, k = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    want = np.cos(x) * k
    np.testing.assert_allclose(pb.grad(lambda x, k: np.sum(f(x, k)))(x, k), want, rtol=1e-15)
    np.testing.assert_allclose(pb.jit(pb.vmap(pb.grad(f)))(x, k), want, rtol=1e-15)
    assert pb.jit(pb.grad(f))(0.5, 2.0) == pytest.approx(np.cos(0.5) * 2.0, rel=1e-15)
    assert pb.grad(f, 1)(0.5, 2.0) == 0.0  # the rule gives no derivative along k
    assert pb.hessian(f)(0.5, 2.0) == pytest.approx(-np.sin(0.5) * 2.0, rel=1e-15)

    # a traced nondiff argument carries no derivative, also through the rule (JAX's
    # stop_gradient): d/dx of the rule's t * k with k = x * x is not differentiated
    @functools.partial(pb.custom_jvp, nondiff_argnums=(1,))
    def scale(x, k):
        return x * k

    scale.defjvp(lambda k, p, t: (scale(p[0], k), t[0] * k * 10.0))
    assert pb.grad(lambda x: scale(x, x * x))(2.0) == 40.0
    assert pb.grad(pb.grad(lambda x: scale(x, x * x)))(2.0) == 0.0
    assert pb.hessian(lambda x: scale(x, x) * x)(2.0) == 40.0  # JAX's value


def test_custom_functions_outside_any_trace_are_the_function():
    @pb.custom_jvp
    def relu(x):
        return x if x > 0 else 0.0 * x  # Python control flow: fine on values

    relu.defjvp(lambda p, t: (relu(p[0]), t[0]))
    assert relu(2.0) == 2.0 and relu(-1.0) == 0.0

    @pb.custom_jvp
    def scaled(x, *, scale=2.0):  # a keyword-only default not passed is no error
        return np.sin(x) * scale

    scaled.defjvp(lambda p, t: (scaled(p[0]), np.cos(p[0]) * 2.0 * t[0]))
    assert pb.grad(scaled)(0.5) == pytest.approx(np.cos(0.5) * 2.0, rel=1e-15)
    with pytest.raises(TypeError, match=r"keyword-only arguments \['scale'\]"):
        pb.grad(lambda x: scaled(x, scale=3.0))(0.5)


def test_custom_rule_values_of_the_wrong_kind_are_refused():
    @pb.custom_jvp
    def f(x):
        return np.sin(x)

    f.defjvp(lambda p, t: (f(p[0]), t[0] > 0))  # a comparison returned as the tangent
    with pytest.raises(TypeError, match=r"tangent output of the jvp rule .* has dtype bool"):
        pb.jvp(f, (np.array([0.5, 1.0]),), (np.array([1.0, -1.0]),))

    @pb.custom_jvp
    def g(x):
        return np.sin(x)

    g.defjvp(lambda p, t: (g(p[0]), t[0] * t[0]))  # not linear in the tangent
    with pytest.raises(ValueError, match=r"linear in the tangents, but here mul of two linear"):
        pb.grad(g)(0.5)

    @pb.custom_vjp
    def h(x):
        return np.sin(x)

    h.defvjp(lambda x: (h(x), None), lambda r, ct: (np.ones(2, np.int64),))  # as JAX: converted
    np.testing.assert_array_equal(pb.grad(lambda x: np.sum(h(x)))(np.ones(2)), [1.0, 1.0])


def test_forward_mode_of_custom_vjp_is_refused_naming_its_rule():
    @pb.custom_vjp
    def g(x):
        return np.sin(x)

    def g_bwd(r, ct):
        return (ct * np.cos(r),)

    g.defvjp(lambda x: (g(x), x), g_bwd)
    x = np.ones(2)
    for run in (lambda: pb.make_ir(pb.jacfwd(g))(x), lambda: pb.jit(pb.jacfwd(g))(x),
                lambda: pb.jacfwd(g)(x)):
        with pytest.raises(NotImplementedError, match=r"forward-mode(.|\n)*bwd rule g_bwd"):
            run()
    np.testing.assert_allclose(pb.jit(pb.grad(lambda x: np.sum(g(x))))(x), np.cos(x), rtol=1e-15)


def test_eager_grad_reads_integer_arguments_it_does_not_differentiate():
    # labels indexing a NumPy table (one-hot by np.eye(k)[y]) as in JAX's eager mode;
    # under jit the labels are abstract and the error says how to index instead
    f = lambda X, y: np.sum(np.eye(3)[y] * X)  # noqa: E731
    X, y = np.ones((2, 3)), np.array([0, 2])
    np.testing.assert_array_equal(pb.grad(f)(X, y), [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(TypeError, match=r"stop_gradient\(table\)\[i\]"):
        pb.jit(pb.grad(f))(X, y)


def test_eager_custom_functions_and_rules_see_values_as_in_jax():
    # implicit differentiation of a root found by SciPy: the primal and fwd run on
    # values outside jit (as JAX's eager mode); under jit they are abstract
    import scipy.optimize as so

    @pb.custom_vjp
    def root(a):
        return so.brentq(lambda x: x ** 3 + a * x - 1.0, 0.0, 2.0, xtol=1e-15)

    root.defvjp(lambda a: (root(a), (root(a), a)),
                lambda r, g: (-g * r[0] / (3.0 * r[0] ** 2 + r[1]),))
    x = root(1.3)
    want = -x / (3.0 * x * x + 1.3)  # d/da of x(a), x^3 + a x = 1
    assert pb.grad(root)(1.3) == pytest.approx(want, rel=1e-12)
    assert pb.grad(lambda a: root(a) ** 2)(1.3) == pytest.approx(2 * x * want, rel=1e-12)

    @pb.custom_jvp
    def f(x):
        return x ** 2 if x > 0 else -x

    f.defjvp(lambda p, t: (f(p[0]), (2.0 * p[0] if p[0] > 0 else -1.0) * t[0]))
    assert pb.grad(f)(1.5) == 3.0 and pb.grad(f)(-1.5) == -1.0
    assert pb.hessian(f)(1.5) == 2.0  # the rule's own derivative along p
    assert pb.jacrev(f)(-1.5) == -1.0 and pb.jvp(f, (1.5,), (1.0,))[1] == 3.0
    with pytest.raises(pb.ConcretizationError):
        pb.jit(pb.grad(f))(1.5)


def test_numbers_made_of_an_enclosing_traces_values_lose_its_derivative_loudly():
    # a Python number made in a nested trace (a custom rule's fwd under grad of grad,
    # vmap's in_axes=None argument, an inner grad closing over the outer value) was
    # checked only against the nested trace's own inputs: a silent zero derivative
    import math

    import scipy.optimize as so

    @pb.custom_vjp
    def cbrt(a):
        return a ** (1 / 3)

    cbrt.defvjp(lambda a: (so.brentq(lambda t: t ** 3 - a, 0.0, 10.0),) * 2,
                lambda t, ct: (ct / (3 * t ** 2),))
    assert pb.grad(cbrt)(8.0) == pytest.approx(1 / 12, rel=1e-10)  # first order: fine
    xs = np.array([1.0, 2.0, 3.0])
    for lost in (lambda: pb.hessian(cbrt)(8.0),
                 lambda: pb.grad(lambda y: np.sum(pb.vmap(lambda x, z: x * math.sin(z),
                                                          in_axes=(0, None))(xs, y)))(2.0),
                 lambda: pb.grad(lambda y: pb.grad(lambda x: x * math.exp(-y))(1.0))(1.0)):
        with pytest.raises(pb.ConcretizationError, match="derivative would be lost"):
            lost()
    # where nothing differentiates the value, a number is fine
    np.testing.assert_allclose(
        pb.vmap(lambda x, z: x * math.sin(z), in_axes=(0, None))(xs, 2.0), xs * math.sin(2.0))


def test_eager_grad_hands_values_it_does_not_differentiate_to_numpy_and_scipy():
    import scipy.linalg

    x, A = np.array([1.0, 2.0]), np.array([[2.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(pb.grad(lambda x, A: np.sum(x) * scipy.linalg.det(A))(x, A),
                               [5.0, 5.0], rtol=1e-15)  # JAX's eager value

    def loss(w, X):
        X = np.asarray(X)  # the common idiom, on data not differentiated
        return np.sum((X @ w) ** 2)

    np.testing.assert_allclose(pb.grad(loss)(x, A), 2 * A.T @ (A @ x), rtol=1e-15)
    with pytest.raises(pb.ConcretizationError, match="derivative would be lost"):
        pb.grad(lambda x: np.sum(np.asarray(x) * x))(x)
