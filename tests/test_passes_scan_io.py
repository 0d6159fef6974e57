"""The scan_io pass: stacked scan inputs and outputs narrowed, results bitwise equal."""
import numpy as np

import pullback as pb
from pullback.ir import control_flow as CF
from pullback.ir import typecheck
from pullback.passes.manager import optimize
from pullback.passes.scan_io import narrow_scan_io
from pullback.tracer.pytree import tree_flatten
from passes_util import assert_bits, assert_same_results

from benchmarks import scan_first_call


def scans(ir):
    return [e for e in ir.eqns if e.prim is CF.scan_p]


def program(c0, k, xs):
    def body(carry, x):
        c, kk = carry
        s = np.sum(x * c)
        b = np.broadcast_to(s, (3,))
        # a broadcast stacked twice, a constant, an xs slice, a literal; kk unchanged
        return (c * s, kk), (b, b, k, x, s * 2.0, 1.0)

    (c, kk), ys = pb.scan(body, (c0, k), xs)

    def back(a, row):
        return a + row, a * 2.0

    a, zs = pb.scan(back, c0, np.broadcast_to(c0, (4, 3)), reverse=True)
    return c, kk, ys, a, zs


ARGS = (np.array([0.5, -1.0, 2.0]), np.array([5.0, 6.0]),
        np.linspace(-1.0, 1.0, 12).reshape(4, 3))


def test_each_rewrite_and_its_values():
    ir = pb.make_ir(program)(*ARGS)
    out = optimize(ir, passes=["scan_io", "dce"])
    typecheck(out)
    fwd, bwd = scans(out)
    # stacked: the scalar s (once, for both broadcasts) and s * 2; the constant k,
    # the xs slice, the literal and the unchanged carry left the loop
    assert [str(v.aval) for v in fwd.outputs] == ["f64[3]", "f64[4]", "f64[4]"]
    assert fwd.params["num_carry"] == 1
    after = [e for e in out.eqns if e.prim.name == "broadcast_in_dim"]
    assert len(after) == 3  # s -> (4, 3) once, k -> (4, 2), 1.0 -> (4,)
    # the reverse scan reads c0 as a constant instead of its broadcast's rows
    assert bwd.params["num_consts"] == 1 and len(bwd.inputs) == 2
    assert_same_results(ir, out)
    opt = optimize(out)
    assert narrow_scan_io(opt) is opt  # a fixpoint
    got, _ = tree_flatten(pb.jit(program)(*ARGS))
    want, _ = tree_flatten(program(*ARGS))
    for g, w in zip(got, want):
        assert_bits(np.asarray(g), np.asarray(w))


def test_scan_axis_taken_from_the_broadcast_source():
    def f(w, c0):
        xs = np.broadcast_to(w[:, None, :], (5, 2, 3))

        def body(c, x):
            return c + x, x

        return pb.scan(body, c0, xs)

    w, c0 = np.arange(15.0).reshape(5, 3), np.zeros((2, 3))
    ir = pb.make_ir(f)(w, c0)
    out = optimize(ir, passes=["scan_io", "dce"])
    typecheck(out)
    (s,) = scans(out)
    assert [str(a.aval) for a in s.inputs] == ["f64[2,3]", "f64[5,3]"]
    # the rows x, stacked, are xs again: the broadcast of w after the loop
    assert [str(v.aval) for v in s.outputs] == ["f64[2,3]"]
    (b,) = [e for e in out.eqns if e.outputs[0] is ir.outvars[1]]
    assert b.prim.name == "broadcast_in_dim" and b.inputs == [s.inputs[1]]
    assert_same_results(ir, out)
    c, ys = pb.jit(f)(w, c0)
    assert_bits(c, np.broadcast_to(w.sum(0), (2, 3)))
    assert_bits(ys, np.broadcast_to(w[:, None, :], (5, 2, 3)))


def kalman_nll(params, ys):
    """The 2-state Kalman filter of benchmarks/scan_first_call.py, in NumPy."""
    return scan_first_call.kalman_nll(np, pb.scan, params, ys)


def test_kalman_gradient_and_hessian_residuals():
    ys = np.cumsum(np.random.default_rng(0).normal(size=8))
    p = np.array([0.9, 0.1, 0.5])
    for transform in (pb.grad, pb.hessian):
        f = transform(kalman_nll)
        raw = pb.make_ir(f)(p, ys)
        without = optimize(raw, passes=["simplify", "cse", "layout", "dce"] * 4)
        opt = optimize(raw)
        typecheck(opt)

        def stacked(ir):
            return sum(len(e.outputs) - e.params["num_carry"] for e in scans(ir))

        assert stacked(opt) < stacked(without)
        assert_same_results(raw, opt)
        assert_bits(pb.jit(f)(p, ys), pb.jit(f, backend="interpreter")(p, ys))
    pb.check_grads(lambda p: kalman_nll(p, ys), (p,), order=2, modes=("fwd", "rev"))


def test_an_operand_passed_twice_is_one_body_input():
    def f(c0, xs):
        def body(c, xy):
            x, y = xy
            return c * x + y, x - y

        return pb.scan(body, c0, (xs, xs))

    c0, xs = np.array([1.0, 2.0]), np.linspace(0.5, 1.5, 8).reshape(4, 2)
    ir = pb.make_ir(f)(c0, xs)
    assert len(scans(ir)[0].inputs) == 3
    out = optimize(ir, passes=["scan_io", "dce"])
    typecheck(out)
    (s,) = scans(out)
    assert s.inputs == [ir.invars[0], ir.invars[1]]
    assert_same_results(ir, out)
    c, d = pb.jit(f)(c0, xs)
    want = c0
    for x in xs:
        want = want * x + x
    assert_bits(c, want)
    assert_bits(d, np.zeros_like(xs))


def test_nested_scans_narrow_in_one_visit():
    # each level's broadcast xs, moved into its body, makes the next level's xs a
    # broadcast: rewritten in one pass, not one pipeline round per level (depth 11
    # used to stop at MAX_ROUNDS short of the fixpoint)
    def make(depth):
        def f(c0, w):
            def level(d, c, x):
                if d == 0:
                    return c + np.sum(x) * 0.5

                def body(cc, xx):
                    return level(d - 1, cc, xx) * 0.9, cc

                cc, ys = pb.scan(body, c, x)
                return cc + np.sum(ys)

            return level(depth, c0, np.broadcast_to(w, (2,) * depth + (3,)))
        return f

    for depth in (1, 4, 11):
        ir = pb.make_ir(make(depth))(1.0, np.ones(3))
        stats = []
        out = optimize(ir, stats=stats)
        typecheck(out)
        assert max(s["round"] for s in stats) <= 3
        assert narrow_scan_io(out) is out
        if depth < 11:  # 2 ** 11 innermost iterations in the interpreter: slow
            assert_same_results(ir, out)
