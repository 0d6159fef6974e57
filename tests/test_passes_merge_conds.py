"""merge_conds: conds on one predicate folded into the earliest they can join.

Checked against the interpreter bit for bit (same operations in the same order),
on hand-written IRs and on the derivatives of random programs in conds.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.ir import parse
from pullback.passes.dce import dce
from pullback.passes.merge_conds import merge_conds
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import applied
from test_numba_control_flow_property import N_AVAL, _inputs, cf_programs


def check(ir, *args):
    return applied(merge_conds, ir, *args)


def conds(ir):
    return sum(e.prim.name == "cond" for e in ir.eqns)


CHAIN = """{ lambda ; a:bool[] b:f64[3] c:f64[]. let
    d:f64[3] e:f64[] = cond[
      branches=(
        { lambda ; f:f64[3] g:f64[]. let
            h:f64[3] = sin f
          in (h, g) }
        { lambda ; f:f64[3] g:f64[]. let
            h:f64[3] = mul f 2.5
            s:f64[] = add g 1.0
          in (h, s) }
      )
    ] a b c
    i:f64[3] = cos d
    j:f64[3] q:f64[] = cond[
      branches=(
        { lambda ; k:f64[3] l:f64[]. let
            m:f64[3] = mul k 2.0
          in (m, l) }
        { lambda ; k:f64[3] l:f64[]. let
            m:f64[3] = neg k
            r:f64[] = mul l 3.0
          in (m, r) }
      )
    ] a d e
    n:f64[3] = cond[
      branches=(
        { lambda ; o:f64[3]. let
          in (o,) }
        { lambda ; o:f64[3]. let
            p:f64[3] = neg o
          in (p,) }
      )
    ] a i
  in (j, q, n) }"""


def test_a_chain_of_conds_on_one_predicate_becomes_one_and_one_that_cannot_stays():
    # the second reads only the first's outputs: merged; the third reads `cos d`, made
    # after the first: it stays
    ir = parse(CHAIN)
    for pred in (True, False):
        merged = check(ir, np.bool_(pred), np.array([0.5, -1.0, 2.0]), np.float64(3.0))
        assert conds(merged) == 2
    merged = merge_conds(ir)
    assert merge_conds(merged) is merged and conds(dce(merged)) == 2


def test_nothing_to_merge_returns_the_ir_itself():
    ir = pb.make_ir(lambda x: pb.cond(x[0] > 0, lambda a: a * 2, lambda a: a, x))(np.ones(3))
    assert merge_conds(ir) is ir


def test_a_fourth_derivative_through_a_cond_keeps_one_cond():
    f = lambda x: pb.cond(x[0] > 0, lambda a: np.sum(np.sin(a) ** 3),  # noqa: E731
                          lambda a: np.sum(a), x)
    g = pb.jacfwd(pb.jacrev(pb.jacfwd(pb.grad(f))))
    x = np.array([0.3, -0.7, 1.1])
    ir = pb.make_ir(g, optimize=True)(x)
    assert conds(ir) > 8
    merged = check(ir, x)
    assert conds(merged) == 1
    np.testing.assert_array_equal(pb.jit(g)(x), pb.jit(g, backend="interpreter")(x))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(cf_programs(kinds=("cond",), depth=(1, 2)), st.sampled_from(["grad", "jacrev"]),
       st.integers(0, 2**31 - 1))
def test_derivatives_of_random_programs_in_conds_keep_their_bits(program, transform, seed):
    in_avals, fn, _ = program

    def total(n, *xs):
        outs = [lax.convert(o, np.float64) for o in fn(n, *xs) if o.dtype.kind == "f"]
        return sum(np.sum(o) for o in outs) if outs else np.float64(0.0) * n

    argnums = tuple(range(1, len(in_avals) + 1))
    g = (pb.grad if transform == "grad" else pb.jacrev)(total, argnums=argnums)
    ir = trace(lambda *a: list(g(*a)), [N_AVAL] + list(in_avals))
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        check(ir, *_inputs(in_avals, rng, special=False))
