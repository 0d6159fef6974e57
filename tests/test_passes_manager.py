"""The pass manager: named passes, the default pipeline, statistics, and the users'
question (the optimized gradient of sin is one `cos`)."""
import numpy as np
import pytest

import pullback as pb
from pullback.ir import Literal, parse, typecheck
from pullback.passes.manager import MAX_ROUNDS, PASSES, count_eqns_deep, optimize
from passes_util import assert_same_results, check_pass, text

GRAD_OF_SIN = """
{ lambda ; a:f64[]. let
    b:f64[] = sin a
    c:f64[] = cos a
    d:f64[] = mul 1.0 c
  in (d,) }
"""
ONE_COS = """
{ lambda ; a:f64[]. let
    b:f64[] = cos a
  in (b,) }
"""


def test_pass_names():
    assert set(PASSES) == {"simplify", "cse", "scan_io", "layout", "dce"}


def test_grad_of_sin_shape_by_hand():
    check_pass(optimize, GRAD_OF_SIN, ONE_COS)
    check_pass(optimize, GRAD_OF_SIN.replace("mul 1.0 c", "mul c 1.0"), ONE_COS)


def test_users_question_make_ir_of_grad_of_sin():
    assert str(pb.make_ir(pb.grad(np.sin), optimize=True)(1.0)) == text(ONE_COS)
    raw = pb.make_ir(pb.grad(np.sin))(1.0)
    assert "sin" in str(raw)  # the unoptimized IR still shows the unused sin


def test_make_ir_optimize_flag():
    def f(x):
        return np.sin(x) * 1.0 + np.sin(x)

    raw = pb.make_ir(f)(np.ones(3))
    opt = pb.make_ir(f, optimize=True)(np.ones(3))
    assert len(raw.eqns) == 4
    assert str(opt) == text("""
    { lambda ; a:f64[3]. let
        b:f64[3] = sin a
        c:f64[3] = add b b
      in (c,) }
    """)
    assert_same_results(raw, opt)


def test_named_passes_run_once_in_order():
    ir = parse(text(GRAD_OF_SIN))
    stats = []
    out = optimize(ir, passes=["simplify"], stats=stats)
    # simplify alone bypasses the mul and leaves the dead sin for dce
    assert str(out) == text("""
    { lambda ; a:f64[]. let
        b:f64[] = sin a
        c:f64[] = cos a
      in (c,) }
    """)
    assert [(s["pass"], s["eqns_before"], s["eqns_after"]) for s in stats] == [
        ("simplify", 3, 2)
    ]
    stats.clear()
    out = optimize(ir, passes=["dce", "simplify"], stats=stats)
    assert [(s["pass"], s["eqns_before"], s["eqns_after"]) for s in stats] == [
        ("dce", 3, 2), ("simplify", 2, 1)
    ]
    assert str(out) == text(ONE_COS)
    assert str(optimize(ir, passes="simplify,dce")) == text(ONE_COS)
    assert optimize(ir, passes=[]) is ir


def test_unknown_pass_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown pass 'fold'; known: cse, dce, layout, scan_io, simplify"):
        optimize(parse(text(GRAD_OF_SIN)), passes=["fold"])


def test_stats_of_the_default_pipeline():
    stats = []
    optimize(parse(text(GRAD_OF_SIN)), stats=stats)
    assert [s["pass"] for s in stats[:5]] == ["simplify", "cse", "scan_io", "layout", "dce"]
    assert stats[0]["eqns_before"] == 3 and stats[-1]["eqns_after"] == 1
    for s in stats:
        assert set(s) == {"pass", "eqns_before", "eqns_after", "seconds", "round"}
        assert s["seconds"] >= 0 and 1 <= s["round"] <= MAX_ROUNDS
    # round 1 rewrote, round 2 confirmed the fixpoint
    assert [s["round"] for s in stats] == [1] * 5 + [2] * 5


def test_one_round_when_simplify_does_it_all():
    src = """
    { lambda ; a:f64[2,3]. let
        b:f64[3,2] = transpose[permutation=(1, 0)] a
        c:f64[2,3] = transpose[permutation=(1, 0)] b
        d:f64[2,3] = mul c 1.0
        e:f64[2,3] = sub a d
        f:f64[2,3] = neg e
        g:f64[2,3] = neg f
      in (g,) }
    """
    stats = []
    out = check_pass(
        lambda ir: optimize(ir, stats=stats),
        src,
        """
        { lambda ; a:f64[2,3]. let
            b:f64[2,3] = sub a a
          in (b,) }
        """,
    )
    assert max(s["round"] for s in stats) == 2  # round 2 only confirms
    assert optimize(out) is out


def test_fixpoint_cse_enables_simplify():
    # select(p, x, y) with x, y duplicates: cse makes it select(p, x, x) in round 1,
    # simplify drops it in round 2, round 3 confirms.
    src = """
    { lambda ; a:bool[3] b:f64[3]. let
        c:f64[3] = sin b
        d:f64[3] = sin b
        e:f64[3] = select a c d
      in (e,) }
    """
    stats = []
    out = check_pass(
        lambda ir: optimize(ir, stats=stats),
        src,
        """
        { lambda ; a:bool[3] b:f64[3]. let
            c:f64[3] = sin b
          in (c,) }
        """,
    )
    assert max(s["round"] for s in stats) == 3
    assert optimize(out) is out


def test_optimizes_inside_sub_irs_and_counts_them():
    from pullback.ir import control_flow  # noqa: F401  (registers cond)

    src = """
    { lambda ; a:bool[] b:f64[3]. let
        c:f64[3] = cond[
          branches=(
            { lambda ; d:f64[3]. let
                e:f64[3] = sin d
                f:f64[3] = sin d
                g:f64[3] = mul e 1.0
                h:f64[3] = add g f
              in (h,) }
            { lambda ; i:f64[3]. let
                j:f64[3] = neg i
                k:f64[3] = neg j
              in (k,) }
          )
        ] a b
      in (c,) }
    """
    ir = parse(text(src))
    assert count_eqns_deep(ir) == 7
    out = optimize(ir)
    typecheck(out)
    assert str(out) == text("""
    { lambda ; a:bool[] b:f64[3]. let
        c:f64[3] = cond[
          branches=(
            { lambda ; d:f64[3]. let
                e:f64[3] = sin d
                f:f64[3] = add e e
              in (f,) }
            { lambda ; g:f64[3]. let
              in (g,) }
          )
        ] a b
      in (c,) }
    """)
    assert count_eqns_deep(out) == 3


def test_jacfwd_of_main_computes_helper_1_once():
    def helper_1(x):
        return np.sin(x) * np.exp(x)

    def helper_2(x, y):
        return np.tanh(x) * y + np.cos(y)

    def main(x):
        h = helper_1(x)
        return helper_2(h, x) + h

    x = np.array([0.3, -1.2, 2.0])
    raw = pb.make_ir(pb.jacfwd(main))(x)
    opt = pb.make_ir(pb.jacfwd(main), optimize=True)(x)
    typecheck(opt)
    assert_same_results(raw, opt)
    text_opt = str(opt)
    # helper_1's primal (sin, exp, and their product) appears once
    assert text_opt.count(" = sin ") == 1 and text_opt.count(" = exp ") == 1
    assert raw_count(raw, "sin") == 2 and raw_count(raw, "cos") == 2
    assert len(opt.eqns) < len(raw.eqns)
    jac = np.asarray(pb.jit(pb.jacfwd(main), backend="interpreter")(x))
    eps = 1e-6
    fd = np.stack([(main(x + eps * e) - main(x - eps * e)) / (2 * eps) for e in np.eye(3)], 1)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-8)


def test_jacfwd_of_seed_main_computes_dz_dp1_once():
    # the AD issue's seed: helper_1(p1) -> z, helper_2(z, p2) -> y, main -> (z, y)
    A = np.random.default_rng(0).standard_normal((6, 4)) * 0.5

    def helper_1(p1):
        return np.tanh(A @ p1)

    def helper_2(z, p2):
        return p2[0] * np.sin(z) + p2[1] * z ** 2 + p2[2]

    def main(p1, p2):
        z = helper_1(p1)
        return z, helper_2(z, p2)

    p1, p2 = np.array([0.1, -0.4, 0.7, 0.2]), np.array([1.5, -0.5, 0.3])
    jac = pb.jacfwd(main, argnums=(0, 1))
    raw = pb.make_ir(jac)(p1, p2)
    opt = pb.make_ir(jac, optimize=True)(p1, p2)
    typecheck(opt)
    assert_same_results(raw, opt)
    names = [e.prim.name for e in opt.eqns]
    assert names.count("tanh") == 1 and names.count("dot_general") == 1
    # dz/dp1 = (1 - z**2)[:, None] * A: one `1 - z**2`, and the dz/dp1 output
    # itself feeds dy/dp1 (the chain rule reuses it instead of recomputing it)
    assert sum(e.prim.name == "sub" and isinstance(e.inputs[0], Literal) for e in opt.eqns) == 1
    dz_dp1 = opt.outvars[0]
    assert any(dz_dp1 in e.inputs for e in opt.eqns)
    assert len(opt.eqns) < len(raw.eqns)
    (dz1, dz2), (dy1, dy2) = jac(p1, p2)
    z = np.tanh(A @ p1)
    np.testing.assert_allclose(dz1, (1 - z**2)[:, None] * A, rtol=1e-12)
    np.testing.assert_allclose(dy1, ((p2[0] * np.cos(z) + 2 * p2[1] * z) * (1 - z**2))[:, None] * A,
                               rtol=1e-12)
    np.testing.assert_allclose(dy2, np.stack([np.sin(z), z**2, np.ones_like(z)], 1), rtol=1e-12)
    np.testing.assert_array_equal(dz2, np.zeros((6, 3)))


def raw_count(ir, name):
    return sum(e.prim.name == name for e in ir.eqns)


def test_jit_uses_the_pipeline():
    f = pb.jit(lambda x: np.cos(x) * 1.0 + 0.0 * np.sin(x), backend="interpreter")
    ir = f.ir(np.ones(2))
    assert [e.prim.name for e in ir.eqns] == ["cos", "sin", "mul", "add"]
    np.testing.assert_array_equal(f(np.ones(2)), np.cos(np.ones(2)) + 0.0 * np.sin(np.ones(2)))


def test_default_pipeline_on_200k_equations():
    # a 200,000-equation chain: every step computed twice (cse), multiplied by 1.0
    # (simplify) and with a dead branch (dce); no recursion over the graph anywhere
    from pullback.ir import Eqn, IR, ShapedArray, Var
    from pullback.ir import primitives as P
    from pullback.ir.core import Literal

    aval = ShapedArray((), np.float64)
    x = Var(aval)
    eqns, cur = [], x
    while len(eqns) < 200_000:
        a, b, c, dead = Var(aval), Var(aval), Var(aval), Var(aval)
        eqns += [
            Eqn(P.sin_p, [cur], [a], {}),
            Eqn(P.sin_p, [cur], [b], {}),
            Eqn(P.exp_p, [a], [dead], {}),
            Eqn(P.mul_p, [Literal(1.0), b], [c], {}),
        ]
        cur = c
    ir = IR([], [], [x], eqns, [cur])
    out = optimize(ir)
    assert len(out.eqns) == 50_000
    assert all(e.prim is P.sin_p for e in out.eqns)
    assert all(e.inputs[0] is prev.outputs[0] for prev, e in zip(out.eqns, out.eqns[1:]))
