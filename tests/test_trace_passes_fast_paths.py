"""Fast paths of tracing and of the pass pipeline give the results of the general paths:
the default pipeline equals its passes run round after round without skipping, CSE
merges constants by bytes exactly, shape helpers agree with NumPy, params freeze."""
import numpy as np
import pytest

import pullback as pb
from pullback.api import trace_to_ir
from pullback.ir.core import IR, Var, ShapedArray, freeze
from pullback.passes.cse import cse
from pullback.passes.manager import DEFAULT_PIPELINE, MAX_ROUNDS, PASSES, optimize
from pullback.tracer import lax


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _ode(y0):
    def step(i, y):
        return y + 0.1 * np.sin(y) * np.cos(2.0 * y)
    return np.sum(pb.fori_loop(0, 5, step, y0) ** 2)


def _mlp(w, x):
    h = np.tanh(x @ w)
    return np.sum(h * h[0] + h.sum(axis=1)[:, None])


FUNCTIONS = [
    (pb.hessian(_rosenbrock), (np.linspace(-1.0, 1.0, 6),)),
    (pb.jacrev(pb.grad(_ode)), (np.linspace(0.1, 0.9, 4),)),
    (pb.grad(_mlp), (np.ones((3, 3)) * 0.5, np.arange(6.0).reshape(2, 3))),
]


def _pipeline_without_skipping(ir):
    """The default pipeline written out: every pass runs in every round."""
    for _ in range(MAX_ROUNDS):
        rewrote = False
        for name in DEFAULT_PIPELINE:
            new = PASSES[name](ir)
            rewrote |= new is not ir and name != "dce"
            ir = new
        if not rewrote:
            break
    return ir


@pytest.mark.parametrize("k", range(len(FUNCTIONS)))
def test_default_pipeline_equals_every_pass_every_round(k):
    f, args = FUNCTIONS[k]
    ir, _, _ = trace_to_ir(f, args)
    assert str(optimize(ir)) == str(_pipeline_without_skipping(ir))


@pytest.mark.parametrize("k", range(len(FUNCTIONS)))
def test_tracing_twice_gives_the_same_text(k):
    f, args = FUNCTIONS[k]
    assert str(trace_to_ir(f, args)[0]) == str(trace_to_ir(f, args)[0])


def _const_ir(consts):
    """An IR returning each constant plus 1 (so every constvar is used)."""
    from pullback.ir import primitives as P
    from pullback.ir.core import Eqn, Literal

    cvs = [Var(ShapedArray(np.shape(c), np.asarray(c).dtype)) for c in consts]
    eqns, outs = [], []
    for v in cvs:
        o = Var(v.aval)
        lit = Literal(1, v.aval.dtype) if v.aval.shape == () else None
        if lit is None:
            eqns.append(Eqn(P.neg_p, [v], [o], {}))
        else:
            eqns.append(Eqn(P.add_p, [v, lit], [o], {}))
        outs.append(o)
    return IR(cvs, list(consts), [], eqns, outs)


def test_cse_merges_constants_by_bytes_and_keeps_the_first():
    a = np.arange(4.0)
    b = np.arange(4.0)  # equal bytes, another object
    c = np.arange(4.0) + 1  # same dtype and shape, other bytes
    d = np.arange(4.0).astype(np.float32)  # same values, other dtype
    out = cse(_const_ir([a, c, b, d, a]))
    uses = [e.inputs[0] for e in out.eqns]
    cv = out.constvars
    # neg(b) and neg(a again) duplicate neg(a): merged into the first equation
    assert len(out.eqns) == 3
    assert uses == [cv[0], cv[1], cv[3]]
    assert out.outvars[2] is out.outvars[0] and out.outvars[4] is out.outvars[0]


def test_cse_keeps_zero_and_negative_zero_apart():
    out = cse(_const_ir([np.zeros(3), -np.zeros(3), np.zeros(3)]))
    assert len(out.eqns) == 2
    assert out.outvars[2] is out.outvars[0] and out.outvars[1] is not out.outvars[0]


def test_cse_compares_large_constants_by_identity():
    big = np.zeros(200_001)
    out = cse(_const_ir([big, np.zeros(200_001), big]))
    assert len(out.eqns) == 2
    assert out.outvars[2] is out.outvars[0] and out.outvars[1] is not out.outvars[0]


@pytest.mark.parametrize("shapes", [
    [(3, 4), (3, 4)], [(3, 4), (4,)], [(1, 4), (3, 1)], [(), (2,)], [(2, 3)], [(), ()],
    [(5,), (5,), (5,)], [(0, 2), (1, 2)],
])
def test_broadcast_shapes_agrees_with_numpy(shapes):
    got = lax.broadcast_shapes(*shapes)
    assert got == tuple(np.broadcast_shapes(*shapes))
    assert all(type(d) is int for d in got)


def test_broadcast_shapes_error_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) \(3, 2\)"):
        lax.broadcast_shapes((2, 3), (3, 2))


def test_freeze():
    assert freeze([1, [2, 3]]) == (1, (2, 3))
    assert freeze((np.int64(2), 3)) == (2, 3) and type(freeze((np.int64(2), 3))[0]) is int
    assert type(freeze(np.bool_(True))) is bool
    t = (1, 2.0, "a", None, True)
    assert freeze(t) is t
    with pytest.raises(TypeError, match="array-valued params"):
        freeze(np.zeros(2))


def test_shaped_array_normalizes_shape_and_dtype():
    a = ShapedArray([np.int64(2), 3], "float64")
    assert a.shape == (2, 3) and all(type(d) is int for d in a.shape)
    assert a.dtype == np.dtype(np.float64) and a.size == 6 and type(a.size) is int
    assert ShapedArray((), np.float32).size == 1


def test_grad_of_an_int_leaf_names_its_path():
    # argument names are looked up only when this error is raised
    def f(x, p):
        return np.sum(x) + np.sum(p["w"])

    with pytest.raises(TypeError, match=r"argument p\['w'\] of f has dtype int64"):
        pb.grad(f, argnums=(0, 1))(np.ones(2), {"a": np.ones(2), "w": np.arange(3)})
