"""Differentiation through pb.cond and pb.scan (forward and reverse, any
order) and through while_loop (forward mode; reverse raises a clear error)."""
import functools

import numpy as np
import pytest

import pullback as pb
from pullback.api import trace_to_ir
from pullback.backends.interpreter import impl_rules, run_ir
from pullback.control_flow import cond, scan, while_loop
from pullback.ir import control_flow as CF
from pullback.ir import parse, typecheck
from pullback.ir.printer import ir_equal
from pullback.passes.jvp import jvp_ir
from pullback.passes.transpose import vjp_ir


# The interpreter rules of the control-flow primitives belong to the control-flow
# work; until they land, these reference semantics let the AD tests run.
def _cond(pred, *ops, branches):
    return run_ir(branches[int(bool(pred))], [], list(ops))


def _while(*args, cond, body, cond_nconsts, body_nconsts):
    cc = list(args[:cond_nconsts])
    bc = list(args[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(args[cond_nconsts + body_nconsts:])
    while bool(run_ir(cond, [], cc + carry)[0]):
        carry = run_ir(body, [], bc + carry)
    return [np.asarray(c) for c in carry]


def _scan(*args, body, length, reverse, num_consts, num_carry):
    consts = list(args[:num_consts])
    carry = list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    ys = [None] * length
    for i in (reversed(range(length)) if reverse else range(length)):
        out = run_ir(body, [], consts + carry + [np.asarray(x)[i] for x in xs])
        carry, ys[i] = out[:num_carry], out[num_carry:]
    n_y = len(body.outvars) - num_carry
    return [np.asarray(c) for c in carry] + [
        np.stack([np.asarray(ys[i][k]) for i in range(length)]) for k in range(n_y)]


impl_rules.setdefault(CF.cond_p, _cond)
impl_rules.setdefault(CF.while_p, _while)
impl_rules.setdefault(CF.scan_p, _scan)


def branchy(x, y):
    return cond(np.sum(x) > 0,
                lambda x, y: np.sin(x) * y,
                lambda x, y: np.cos(x) + y ** 2,
                x, y)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_check_grads(sign):
    x, y = sign * np.array([0.3, 0.5]), np.array([1.5, -0.7])
    pb.check_grads(branchy, (x, y), order=2)
    g = pb.grad(lambda x, y: np.sum(branchy(x, y)), (0, 1))(x, y)
    if sign > 0:
        np.testing.assert_allclose(g[0], np.cos(x) * y)
        np.testing.assert_allclose(g[1], np.sin(x))
    else:
        np.testing.assert_allclose(g[0], -np.sin(x))
        np.testing.assert_allclose(g[1], 2 * y)


def test_cond_grad_of_grad_and_irs():
    f = lambda x: np.sum(cond(x[0] > 0, lambda x: x ** 3, lambda x: -x, x))
    x = np.array([2.0, 1.0])
    # (jacobians of cond need its batching rule; grad of grad does not)
    np.testing.assert_allclose(pb.grad(lambda x: pb.grad(f)(x)[0])(x), [12.0, 0.0])
    np.testing.assert_allclose(pb.grad(lambda x: pb.grad(f)(x)[0])(-x), [0.0, 0.0])
    ir, _, _ = trace_to_ir(lambda x, y: branchy(x, y), (x, x))
    for t in (jvp_ir(ir, [True, False]), vjp_ir(ir)):
        typecheck(t)
        assert ir_equal(parse(str(t), t.consts), t)


def test_cond_symbolic_zero_output():
    # the second output does not depend on x in either branch
    f = lambda x, y: cond(x > 0, lambda x, y: (x * 2, y), lambda x, y: (x * 3, y), x, y)
    (_, t2) = pb.jvp(f, (1.0, 5.0), (1.0, 0.0))[1]
    assert t2 == 0.0
    assert pb.grad(lambda x: f(x, 5.0)[0])(-1.0) == 3.0


W = np.array([[0.5, 0.1], [0.2, 0.3]])


def rnn(h0, xs, W):
    def step(h, x):
        h = np.tanh(W @ h + x)
        return h, np.sum(h ** 2)

    h, ys = scan(step, h0, xs)
    return np.sum(h) + np.sum(ys)


def test_scan_check_grads_both_modes():
    h0, xs = np.array([0.1, 0.2]), np.random.default_rng(0).uniform(size=(5, 2))
    pb.check_grads(rnn, (h0, xs, W), order=2)
    ir, _, _ = trace_to_ir(rnn, (h0, xs, W))
    for t in (jvp_ir(ir, [True, True, True]), vjp_ir(ir)):
        typecheck(t)
        assert ir_equal(parse(str(t), t.consts), t)


def test_scan_gradient_matches_unrolled_loop():
    h0, xs = np.array([0.1, 0.2]), np.random.default_rng(1).uniform(size=(4, 2))

    def unrolled(h0, xs, W):
        h, total = h0, 0.0
        for x in xs:
            h = np.tanh(W @ h + x)
            total = total + np.sum(h ** 2)
        return np.sum(h) + total

    got = pb.grad(rnn, (0, 1, 2))(h0, xs, W)
    want = pb.grad(unrolled, (0, 1, 2))(h0, xs, W)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_loop_invariant_residuals_are_not_stacked():
    # W[0, 0] * W[1, 1] and the slices of W are the same in every iteration: the
    # primal scan computes them once, outside, instead of stacking length copies
    def f(h0, W):
        def step(h, _):
            a = W[0, 0] * W[1, 1]
            return np.tanh(a * h + W[0] * h[::-1]), None
        return np.sum(scan(step, h0, None, length=6)[0])

    h0 = np.array([0.3, -0.2])
    pb.check_grads(f, (h0, W), order=2)
    ir = pb.make_ir(pb.grad(f, (0, 1)))(h0, W)
    (fwd,) = [e for e in ir.eqns if e.prim is CF.scan_p and not e.params["reverse"]]
    stacked = [v.aval.shape for v in fwd.outputs[fwd.params["num_carry"]:]]
    # h, h[::-1] and 1 - tanh(.)**2 per iteration; before: also a, W[0, 0], W[1, 1]
    # as (6,) stacks and W[0] broadcast as a (6, 2) one
    assert stacked == [(6, 2)] * 3, stacked


def test_reverse_scan_and_grad_of_grad():
    def f(x):
        c, ys = scan(lambda c, x: (c * x + np.sin(c), c), 0.5, x, reverse=True)
        return c + np.sum(ys ** 2)

    x = np.random.default_rng(2).uniform(size=4)
    pb.check_grads(f, (x,), order=2)
    pb.check_grads(pb.grad(f), (x,), order=1, modes=("rev",))


def test_while_forward_mode_and_reverse_error():
    def f(x):
        return while_loop(lambda c: c[1] < 3, lambda c: (np.sin(c[0]) * 2, c[1] + 1), (x, 0))[0]

    x = np.array([0.3, 0.7])
    pb.check_grads(f, (x,), order=2, modes=("fwd",))
    with pytest.raises(NotImplementedError, match="while"):
        pb.grad(lambda x: np.sum(f(x)))(x)


def test_forward_mode_through_a_while_loop_nested_in_cond_and_scan():
    # the jvp of a while carries primals and tangents in one loop; inside a cond
    # branch or a scan body the primal side gets a copy of the loop without tangents
    def wl(x):
        return pb.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, np.sin(c[1]) * 1.5), (0, x))[1]

    in_cond = lambda x: pb.cond(x > 0, wl, lambda x: x * x, x)
    in_scan = lambda x: pb.scan(lambda c, _: (wl(c) + c, None), x, None, length=2)[0]
    for f in (in_cond, in_scan):
        for x in (0.7, -0.4):
            pb.check_grads(f, (x,), order=2, modes=("fwd",))
            out, t = pb.jvp(f, (x,), (1.0,))
            np.testing.assert_allclose(out, f(x), rtol=1e-12)
            np.testing.assert_allclose(pb.jit(pb.jacfwd(f))(x), t, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="while"):
        pb.grad(in_cond)(0.7)


def test_vmapped_forward_mode_of_a_cond_holding_a_while_loop_ends():
    # under vmap with a batched predicate every branch runs on every lane: a derivative
    # split into a primal and a linear cond ran the loop again from the untaken
    # branch's zero residuals (0 * 2 < 20 forever); now one cond runs the loop's
    # derivative from the operands, as JAX's
    g = lambda p, x: pb.cond(p > 0, lambda a: pb.while_loop(lambda c: c < 20, lambda c: c * 2, a),
                             lambda a: a, x)
    p, x = np.array([1.0, -1.0]), np.array([3.0, 3.0])
    np.testing.assert_array_equal(pb.vmap(pb.jacfwd(g, argnums=1))(p, x), [8.0, 1.0])
    np.testing.assert_array_equal(pb.jit(pb.vmap(pb.jacfwd(g, argnums=1)))(p, x), [8.0, 1.0])
    out, t = pb.vmap(lambda p, x: pb.jvp(lambda x: g(p, x), (x,), (1.0,)))(p, x)
    np.testing.assert_array_equal(out, [24.0, 3.0])
    np.testing.assert_array_equal(t, [8.0, 1.0])


# ------------------------------------------- int arguments that are not differentiated
def _power_loop(x, n):
    return pb.fori_loop(0, n, lambda i, c: c * x, 1.0)


def _power_scan(x, n):
    return pb.scan(lambda c, _: (c * x, c), 1.0, None, length=n)[0]


@pytest.mark.parametrize("n", [4, np.int64(4)], ids=["int", "np.int64"])
def test_an_int_argument_of_grad_stays_a_static_loop_bound(n):
    # before, grad traced n: fori_loop took the while path, which has no reverse mode
    assert pb.grad(_power_loop)(1.5, n) == 13.5
    assert pb.jacrev(_power_loop)(1.5, n) == 13.5
    assert pb.vjp(_power_loop, 1.5, n)[1](1.0)[0] == 13.5
    np.testing.assert_allclose(pb.jvp(_power_loop, (1.5, n), (1.0, 0)), (1.5 ** 4, 13.5))
    np.testing.assert_allclose(pb.vmap(pb.grad(_power_loop), in_axes=(0, None))(
        np.array([1.5, 2.0]), n), [13.5, 32.0])


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_static_argnums_survive_composition_with_grad(backend):
    jit = functools.partial(pb.jit, static_argnums=1, backend=backend)
    assert jit(pb.grad(_power_loop))(1.5, 4) == 13.5
    assert jit(pb.grad(_power_scan))(1.5, 4) == 13.5
    assert jit(pb.grad(lambda x, n: x ** 2 if n > 2 else x))(1.5, 4) == 3.0
    assert pb.grad(jit(_power_loop))(1.5, 4) == 13.5
    assert pb.grad(jit(_power_scan))(1.5, 3) == 3 * 1.5 ** 2
    # a static argument that is differentiated would lose its derivative
    with pytest.raises(pb.ConcretizationError, match="static argument 0"):
        pb.grad(pb.jit(lambda x: x * 2.0, static_argnums=0, backend=backend))(1.5)
    # a traced bound under jit stays a while loop, refused in reverse mode with advice
    with pytest.raises(NotImplementedError, match="while"):
        pb.jit(pb.grad(_power_loop), backend=backend)(1.5, 4)


def test_vmap_keeps_the_value_of_an_unbatched_python_int():
    f = lambda x, n: x * 2.0 if n > 2 else x  # noqa: E731
    np.testing.assert_array_equal(pb.vmap(f, in_axes=(0, None))(np.arange(3.0), 3),
                                  [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(pb.vmap(_power_loop, in_axes=(0, None))(
        np.array([2.0, 3.0]), 3), [8.0, 27.0])


def test_jacfwd_through_a_while_loop_inside_a_while_loop():
    # the inner loop's primal carries stay unbatched beside its batched tangents
    # (every output of a nested loop with a batched input counted as batched, and
    # jacfwd's primal output was refused: "out_axes entry is None")
    def inner(a, b):
        return pb.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1], c[2] * c[1]),
                             (0, a, b))[1:]

    def f(a, b):
        return pb.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, *inner(c[1], c[2])),
                             (0, a, b))[2]

    # f = b * a**4 (two outer steps, each multiplying by a twice)
    a, b = 0.3, -0.7
    for jac in (pb.jacfwd(f, argnums=(0, 1)), pb.jit(pb.jacfwd(f, argnums=(0, 1)))):
        da, db = jac(a, b)
        assert da == pytest.approx(4 * b * a ** 3, rel=1e-14)
        assert db == pytest.approx(a ** 4, rel=1e-14)
