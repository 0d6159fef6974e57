"""merge_scans: a scan that reads an earlier scan's stacked ys as its xs is folded
into it (forward mode's primal and tangent loops become one loop).

Checked against the interpreter bit for bit (same operations in the same order), on
hand-written IRs, on forward-mode derivatives of loops, and on random programs in
scans differentiated in forward mode.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.ir import parse
from pullback.passes.dce import dce
from pullback.passes.merge_scans import merge_scans
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import applied
from test_numba_control_flow_property import N_AVAL, _inputs, cf_programs


def check(ir, *args):
    return applied(merge_scans, ir, *args)


def scans(ir):
    return sum(e.prim.name == "scan" for e in ir.eqns)


def stacked(ir):
    """Elements of the stacked ys of the top-level scans."""
    return sum(int(np.prod(v.aval.shape)) for e in ir.eqns if e.prim.name == "scan"
               for v in e.outputs[e.params["num_carry"]:])


TWO = """{ lambda ; a:f64[4,3] b:f64[3] c:f64[]. let
    d:f64[3] e:f64[4,3] f:f64[4] = scan[
      body={ lambda ; g:f64[3] h:f64[3]. let
          i:f64[3] = sin g
          j:f64[3] = add i h
          k:f64[] = reduce_sum[axes=(0,)] j
        in (j, i, k) }
      length=4
      num_carry=1
      num_consts=0
      reverse=False
    ] b a
    l:f64[] m:f64[4] = scan[
      body={ lambda ; n:f64[] o:f64[] p:f64[3] q:f64[3] r:f64[]. let
          s:f64[3] = mul p q
          t:f64[] = reduce_sum[axes=(0,)] s
          u:f64[] = mul t n
          v:f64[] = add o u
          w:f64[] = add v r
        in (w, v) }
      length=4
      num_carry=1
      num_consts=1
      reverse=False
    ] c c e a f
  in (d, l, m) }"""


def test_a_scan_reading_ys_of_the_previous_is_folded_into_it():
    # the second reads e and f (ys of the first) and a (also the first's xs): one scan,
    # a passed once; after DCE nothing is stacked but the second's own ys
    ir = parse(TWO)
    rng = np.random.default_rng(0)
    args = rng.standard_normal((4, 3)), rng.standard_normal(3), np.float64(0.7)
    merged = check(ir, *args)
    assert scans(merged) == 1 and merge_scans(merged) is merged
    (e,) = merged.eqns
    assert sum(a is ir.invars[0] for a in e.inputs) == 1
    assert stacked(dce(merged)) == 4


def _second(text, head, tail):
    """TWO with its second scan's equation line `head` and operand line `tail` swapped in."""
    first, second = text.split("    l:f64[] m:f64[4] = scan[")
    second = second.replace("] c c e a f", tail)
    return first + head + "    l:f64[] m:f64[4] = scan[" + second


def test_scans_that_cannot_join_stay():
    # an operand computed from the first's final carry (known only after it), the
    # other direction, a stacked y read whole (as a const), another length
    after = _second(TWO, "    x:f64[] = reduce_sum[axes=(0,)] d\n", "] x c e a f")
    other_way = _second(TWO, "", "] c c e a f").replace(
        "num_consts=1\n      reverse=False", "num_consts=1\n      reverse=True")
    whole = _second(TWO, "    x:f64[] = reduce_sum[axes=(0,)] f\n", "] x c e a f")
    for text in (after, other_way, whole):  # (whole: f reaches it through x, made after)
        ir = parse(text)
        assert merge_scans(ir) is ir
    f = lambda x: pb.scan(lambda c, r: (c * r, c),  # noqa: E731
                          pb.scan(lambda c, r: (c + r, c), 0.0, x)[0], x)
    ir = pb.make_ir(f)(np.arange(1.0, 4.0))
    assert scans(ir) == 2 and merge_scans(ir) is ir
    g = lambda x: pb.scan(lambda c, r: (c * r, c), 1.0,  # noqa: E731
                          pb.scan(lambda c, r: (c + r, c), 0.0, x)[1][1:])
    ir = pb.make_ir(g)(np.arange(1.0, 5.0))
    assert scans(ir) == 2 and merge_scans(ir) is ir


def test_forward_mode_through_a_loop_runs_one_loop():
    f = lambda x: pb.fori_loop(0, 20, lambda i, c: c + 0.01 * np.sin(c) * c, x)  # noqa: E731
    x, t = np.linspace(0.1, 1.0, 3), np.ones(3)
    jvp = lambda x, t: pb.jvp(f, (x,), (t,))  # noqa: E731
    ir = pb.make_ir(jvp, optimize=True)(x, t)
    assert scans(ir) == 2 and stacked(ir) > 0  # primal (with residuals) and tangent scans
    merged = dce(check(ir, x, t))
    assert scans(merged) == 1 and stacked(merged) == 0
    hess = pb.hessian(lambda x: np.sum(f(x)))
    for g, args in ((jvp, (x, t)), (pb.jacfwd(f), (x,)), (hess, (x,))):
        got, want = pb.jit(g)(*args), pb.jit(g, backend="interpreter")(*args)
        for a, b in zip(np.atleast_1d(*got) if isinstance(got, tuple) else [got],
                        np.atleast_1d(*want) if isinstance(want, tuple) else [want]):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert "for _i" in pb.jit(jvp).source(x, t) and pb.jit(jvp).source(x, t).count("for _i") == 1


def test_a_tangent_of_a_loop_constant_alone_runs_one_loop_too():
    # the carry's zero tangent was made between the two scans, which kept them apart
    def run(u0, k):
        return pb.fori_loop(0, 20, lambda i, u: u + k * (np.roll(u, 1) - u) + 1e-3 * np.tanh(u),
                            u0)

    u0 = np.random.default_rng(1).normal(size=50)
    g = lambda u, k: pb.jvp(lambda k: run(u, k), (k,), (1.0,))  # noqa: E731
    ir = pb.make_ir(g, optimize=True)(u0, 0.2)
    merged = dce(check(ir, u0, np.float64(0.2)))
    assert scans(merged) == 1 and stacked(merged) == 0
    got, want = pb.jit(g)(u0, 0.2), pb.jit(g, backend="interpreter")(u0, 0.2)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_nested_loops_merge_at_every_level():
    # the merged body holds the inner primal and tangent scans: they join too
    inner = lambda c: pb.fori_loop(0, 30, lambda i, c: c + 1e-2 * np.sin(c) * c, c)  # noqa: E731
    f = lambda x: pb.fori_loop(0, 4, lambda i, c: inner(c), x)  # noqa: E731
    x, t = np.linspace(0.1, 1.0, 5), np.ones(5)
    g = lambda x, t: pb.jvp(f, (x,), (t,))  # noqa: E731
    ir = pb.make_ir(g, optimize=True)(x, t)
    merged = dce(check(ir, x, t))
    (outer,) = [e for e in merged.eqns if e.prim.name == "scan"]
    assert scans(outer.params["body"]) == 1 and stacked(merged) == 0
    got, want = pb.jit(g)(x, t), pb.jit(g, backend="interpreter")(x, t)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(cf_programs(kinds=("scan",), depth=(1, 2)), st.sampled_from(["jvp", "jacfwd"]),
       st.integers(0, 2**31 - 1))
def test_forward_derivatives_of_random_programs_in_scans_keep_their_bits(program, transform, seed):
    in_avals, fn, _ = program

    def total(n, *xs):
        outs = [lax.convert(o, np.float64) for o in fn(n, *xs) if o.dtype.kind == "f"]
        return sum(np.sum(o) for o in outs) if outs else np.float64(0.0) * n

    floats = [i for i, a in enumerate(in_avals) if a.dtype.kind == "f"]
    if transform == "jvp":
        def g(n, *xs):
            tangents = [np.ones_like(xs[i]) for i in floats]
            return pb.jvp(lambda *fx: total(n, *[fx[floats.index(i)] if i in floats else x
                                                  for i, x in enumerate(xs)]),
                          [xs[i] for i in floats], tangents)
    else:
        g = pb.jacfwd(total, argnums=tuple(i + 1 for i in floats)) if floats else total
    ir = trace(lambda *a: list(g(*a)) if isinstance(g(*a), (tuple, list)) else [g(*a)],
               [N_AVAL] + list(in_avals))
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        check(ir, *_inputs(in_avals, rng, special=False))
