"""dce: text-in/text-out cases, sub-IRs, signature pruning, a 200,000-equation IR."""
import time

import numpy as np
import pytest

import pullback as pb
from pullback.backends.interpreter import eval_ir
from pullback.ir import control_flow  # noqa: F401  (registers cond)
from pullback.ir import Eqn, IR, ShapedArray, Var, parse
from pullback.ir import primitives as P
from pullback.passes.dce import dce, dce_prune
from passes_util import assert_same_results, check_pass, text


def test_dead_chain_removed():
    check_pass(
        dce,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = cos b
            d:f64[3] = exp a
            e:f64[3] = mul d 2.0
          in (e,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = exp a
            c:f64[3] = mul b 2.0
          in (c,) }
        """,
    )


def test_outputs_that_are_inputs_or_literals():
    check_pass(
        dce,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
          in (a, 2.0) }
        """,
        """
        { lambda ; a:f64[3]. let
          in (a, 2.0) }
        """,
    )


def test_unused_constvars_removed_top_level():
    consts = [np.ones(3), np.zeros(3)]
    out = check_pass(
        dce,
        """
        { lambda a:f64[3] b:f64[3] ; c:f64[3]. let
            d:f64[3] = add c a
            e:f64[3] = add c b
          in (e,) }
        """,
        """
        { lambda a:f64[3] ; b:f64[3]. let
            c:f64[3] = add b a
          in (c,) }
        """,
        consts=consts,
    )
    assert out.consts[0] is consts[1]


def test_live_ir_returned_as_is():
    ir = parse("{ lambda ; a:f64[]. let\n    b:f64[] = sin a\n  in (b,) }")
    assert dce(ir) is ir


def test_inside_sub_irs_signature_kept_when_all_outputs_used():
    check_pass(
        dce,
        """
        { lambda ; a:bool[] b:f64[3] c:f64[3]. let
            d:f64[3] e:f64[3] = cond[
              branches=(
                { lambda ; f:f64[3] g:f64[3]. let
                    h:f64[3] = sin f
                    i:f64[3] = cos g
                  in (i, g) }
                { lambda ; j:f64[3] k:f64[3]. let
                    l:f64[3] = exp k
                    m:f64[3] = log k
                  in (l, j) }
              )
            ] a b c
            n:f64[3] = sin b
          in (d, e) }
        """,
        """
        { lambda ; a:bool[] b:f64[3] c:f64[3]. let
            d:f64[3] e:f64[3] = cond[
              branches=(
                { lambda ; f:f64[3] g:f64[3]. let
                    h:f64[3] = cos g
                  in (h, g) }
                { lambda ; i:f64[3] j:f64[3]. let
                    k:f64[3] = exp j
                  in (k, i) }
              )
            ] a b c
          in (d, e) }
        """,
        values=False,
    )


def test_dead_equation_holding_a_sub_ir_removed():
    check_pass(
        dce,
        """
        { lambda ; a:bool[] b:f64[3]. let
            c:f64[3] = cond[
              branches=(
                { lambda ; d:f64[3]. let
                    e:f64[3] = sin d
                  in (e,) }
                { lambda ; f:f64[3]. let
                  in (f,) }
              )
            ] a b
          in (b,) }
        """,
        """
        { lambda ; a:bool[] b:f64[3]. let
          in (b,) }
        """,    values=False,
    )


def test_prune_unused_outputs_and_inputs():
    ir = parse(text("""
    { lambda ; a:f64[3] b:f64[3] c:f64[3]. let
        d:f64[3] = sin a
        e:f64[3] = cos b
        f:f64[3] = mul d c
      in (f, e) }
    """))
    pruned, used_inputs = dce_prune(ir, [True, False])
    assert used_inputs == [True, False, True]
    assert str(pruned) == text("""
    { lambda ; a:f64[3] b:f64[3]. let
        c:f64[3] = sin a
        d:f64[3] = mul c b
      in (d,) }
    """)
    kept, used = dce_prune(ir, [False, True], prune_inputs=False)
    assert used == [True, True, True] and len(kept.invars) == 3
    assert str(kept).count("=") == 1 and "cos" in str(kept)
    with pytest.raises(ValueError, match="1 flags for 2 outputs"):
        dce_prune(ir, [True])


def _long_chain(n):
    """n equations: a live chain of sin/cos, every third equation dead."""
    aval = ShapedArray((), np.float64)
    x = Var(aval)
    eqns, cur = [], x
    for i in range(n):
        out = Var(aval)
        if i % 3 == 2:
            eqns.append(Eqn(P.exp_p, [cur], [out], {}))  # dead: nothing reads it
        else:
            eqns.append(Eqn(P.sin_p if i % 2 else P.cos_p, [cur], [out], {}))
            cur = out
    return IR([], [], [x], eqns, [cur])


def test_200k_equations():
    ir = _long_chain(200_000)
    t0 = time.perf_counter()
    out = dce(ir)
    elapsed = time.perf_counter() - t0
    assert len(out.eqns) == 200_000 - 200_000 // 3
    assert all(e.prim is not P.exp_p for e in out.eqns)
    assert out.outvars[0] is ir.outvars[0]
    assert elapsed < 10.0


def test_values_unchanged_small_chain():
    ir = _long_chain(30)
    assert_same_results(ir, dce(ir))


def test_cond_unused_outputs_and_operands_pruned():
    check_pass(
        dce,
        """
        { lambda ; a:bool[] b:f64[3] c:f64[3]. let
            d:f64[3] e:f64[3] = cond[
              branches=(
                { lambda ; f:f64[3] g:f64[3]. let
                    h:f64[3] = sin f
                    i:f64[3] = cos g
                  in (h, i) }
                { lambda ; j:f64[3] k:f64[3]. let
                    l:f64[3] = exp k
                  in (j, l) }
              )
            ] a b c
          in (d,) }
        """,
        """
        { lambda ; a:bool[] b:f64[3] c:f64[3]. let
            d:f64[3] = cond[
              branches=(
                { lambda ; e:f64[3]. let
                    f:f64[3] = sin e
                  in (f,) }
                { lambda ; g:f64[3]. let
                  in (g,) }
              )
            ] a b
          in (d,) }
        """,
        values=False,
    )


SCAN_SRC = """
{ lambda ; a:f64[] b:f64[] c:f64[] d:f64[5]. let
    e:f64[] f:f64[] g:f64[] h:f64[5] i:f64[5] = scan[
      body={ lambda ; j:f64[] k:f64[] l:f64[] m:f64[] n:f64[]. let
          o:f64[] = mul k n
          p:f64[] = add l j
          q:f64[] = sin m
          r:f64[] = cos n
        in (o, p, q, r, l) }
      length=5
      num_carry=3
      num_consts=1
      reverse=False
    ] a b c a d
  in (e, i) }
"""


def test_scan_unused_ys_and_carries_pruned_to_a_fixpoint():
    # output e (carry k) is used; carry l is unused outside but the kept ys `l`
    # reads it, and l's update reads the const j: both stay. Carry m and ys r go.
    check_pass(
        dce,
        SCAN_SRC,
        """
        { lambda ; a:f64[] b:f64[] c:f64[] d:f64[5]. let
            e:f64[] f:f64[] g:f64[5] = scan[
              body={ lambda ; h:f64[] i:f64[] j:f64[] k:f64[]. let
                  l:f64[] = mul i k
                  m:f64[] = add j h
                in (l, m, j) }
              length=5
              num_carry=2
              num_consts=1
              reverse=False
            ] a b c d
          in (e, g) }
        """,
        values=False,
    )


def test_scan_only_carry_used():
    check_pass(
        dce,
        SCAN_SRC.replace("in (e, i) }", "in (f,) }"),
        """
        { lambda ; a:f64[] b:f64[] c:f64[] d:f64[5]. let
            e:f64[] = scan[
              body={ lambda ; f:f64[] g:f64[]. let
                  h:f64[] = add g f
                in (h,) }
              length=5
              num_carry=1
              num_consts=1
              reverse=False
            ] a c
          in (e,) }
        """,
        values=False,
    )


def test_while_unused_constants_pruned():
    check_pass(
        dce,
        """
        { lambda ; a:i64[] b:f64[3] c:f64[3]. let
            d:i64[] e:f64[3] = while[
              body={ lambda ; f:f64[3] g:f64[3] h:i64[] i:f64[3]. let
                  j:i64[] = add h 1
                  k:f64[3] = mul i g
                in (j, k) }
              body_nconsts=2
              cond={ lambda ; l:i64[] m:f64[3] n:i64[] o:f64[3]. let
                  p:bool[] = lt n l
                in (p,) }
              cond_nconsts=2
            ] a b b c 0 c
          in (e,) }
        """,
        """
        { lambda ; a:i64[] b:f64[3] c:f64[3]. let
            d:i64[] e:f64[3] = while[
              body={ lambda ; f:f64[3] g:i64[] h:f64[3]. let
                  i:i64[] = add g 1
                  j:f64[3] = mul h f
                in (i, j) }
              body_nconsts=1
              cond={ lambda ; k:i64[] l:i64[] m:f64[3]. let
                  n:bool[] = lt l k
                in (n,) }
              cond_nconsts=1
            ] a c 0 c
          in (e,) }
        """,
        values=False,
    )


def test_control_flow_with_everything_used_is_kept_as_is():
    ir = parse(text(SCAN_SRC.replace("in (e, i) }", "in (e, f, g, h, i) }")))
    assert dce(ir) is ir


def test_while_carry_nothing_reads_is_dropped():
    # carry e (an accumulator nobody reads) goes; carry d stays: the cond reads it
    check_pass(
        dce,
        """
        { lambda ; a:f64[3]. let
            b:i64[] c:f64[3] d:f64[3] = while[
              body={ lambda ; e:i64[] f:f64[3] g:f64[3]. let
                  h:i64[] = add e 1
                  i:f64[3] = sin f
                  j:f64[3] = add g f
                in (h, i, j) }
              body_nconsts=0
              cond={ lambda ; k:i64[] l:f64[3] m:f64[3]. let
                  n:bool[] = lt k 3
                in (n,) }
              cond_nconsts=0
            ] 0 a a
          in (c,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:i64[] c:f64[3] = while[
              body={ lambda ; d:i64[] e:f64[3]. let
                  f:i64[] = add d 1
                  g:f64[3] = sin e
                in (f, g) }
              body_nconsts=0
              cond={ lambda ; h:i64[] i:f64[3]. let
                  j:bool[] = lt h 3
                in (j,) }
              cond_nconsts=0
            ] 0 a
          in (c,) }
        """,
        values=False,
    )


def test_nested_control_flow_is_cleaned_once_per_level(monkeypatch):
    # each level's rule pruned its sub-IRs and the walk then cleaned them again:
    # 2**depth walks (20 nested conds took 84 s)
    from pullback.passes import dce as D

    def nest(x, d):
        if d == 0:
            return x
        inner = pb.cond(x > 0, lambda y: nest(y - 1.0, d - 1), lambda y: y * 2.0, x)
        return pb.while_loop(lambda c: c[0] < 1.0, lambda c: (c[0] + 1.0, c[1]), (0.0, inner))[1]

    depth = 24
    ir = pb.make_ir(nest, static_argnums=1)(100.0, depth)
    calls = []
    walk = D._dce
    monkeypatch.setattr(D, "_dce", lambda *a: calls.append(1) or walk(*a))
    cleaned = D.dce(ir)
    assert len(calls) < 10 * depth
    (got,) = eval_ir(cleaned, cleaned.consts, [np.float64(100.0)])
    assert got == 100.0 - depth
