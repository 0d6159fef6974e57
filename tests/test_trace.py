"""The tracing machinery: builders, constants, literals, concrete values, errors."""
import numpy as np
import pytest

import pullback as pb
from pullback.backends.interpreter import eval_ir
from pullback.ir.core import Literal
from pullback.tracer import lax
from pullback.tracer.trace import Builder, ConcretizationError, EscapedTracerError, trace
from pullback.ir.core import ShapedArray


def test_spec_example_prints():
    text = str(pb.make_ir(lambda x: np.sin(x) * 2.0)(1.0))
    assert text == (
        "{ lambda ; a:f64[]. let\n"
        "    b:f64[] = sin a\n"
        "    c:f64[] = mul b 2.0\n"
        "  in (c,) }"
    )


def test_closure_array_becomes_constvar_and_scalar_a_literal():
    w = np.arange(3.0)
    ir = pb.make_ir(lambda x: x * w + np.float64(2.0))(np.ones(3))
    assert len(ir.constvars) == 1 and ir.consts[0] is w
    assert any(isinstance(a, Literal) and a.val == 2.0 for e in ir.eqns for a in e.inputs)
    (out,) = eval_ir(ir, ir.consts, [np.ones(3)])
    np.testing.assert_array_equal(out, w + 2.0)


def test_same_closure_array_lifted_once():
    w = np.arange(3.0)
    ir = pb.make_ir(lambda x: x * w + w)(np.ones(3))
    assert len(ir.constvars) == 1


def test_float32_stays_float32_with_python_scalars():
    ir = pb.make_ir(lambda x: x * 2.0 + 1)(np.ones(3, np.float32))
    assert all(v.aval.dtype == np.float32 for v in ir.outvars)


def test_bool_on_abstract_value_names_line_and_suggests_fixes():
    def f(x):
        if x > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(ConcretizationError) as e:
        pb.make_ir(f)(1.0)
    msg = str(e.value)
    assert "test_trace.py" in msg and "if x > 0" in msg
    assert "static_argnums" in msg and "pb.cond" in msg


def test_concrete_trace_allows_python_control_flow():
    def f(x):
        return x * 2 if x > 0 else -x

    for v, expected in [(3.0, 6.0), (-3.0, 3.0)]:
        ir = trace(lambda x: [f(x)], [ShapedArray((), np.float64)], [np.asarray(v)])
        assert eval_ir(ir, ir.consts, [np.asarray(v)])[0] == expected


def test_escaped_tracer_is_reported():
    leaked = []
    pb.make_ir(lambda x: leaked.append(x) or x)(1.0)
    with pytest.raises(EscapedTracerError):
        np.sin(leaked[0])


def test_inner_trace_lifts_outer_tracer_as_constvar():
    # Tracing a function that closes over a value of an enclosing trace
    with Builder() as outer:
        x = outer.new_arg(ShapedArray((), np.float64))
        inner = trace(lambda y: [lax.mul(x, y)], [ShapedArray((), np.float64)])
        assert inner.consts == [x]
        (out,) = eval_ir(inner, inner.consts, [x])  # re-records into `outer`
        ir = outer.build([out])
    assert [e.prim.name for e in ir.eqns] == ["mul"]
    assert eval_ir(ir, [], [np.asarray(3.0)])[0] == 9.0


def test_shape_error_names_shapes_and_line():
    def f(x, y):
        return x @ y  # mismatched

    with pytest.raises(ValueError) as e:
        pb.make_ir(f)(np.ones((2, 3)), np.ones((2, 3)))
    assert "(2, 3)" in str(e.value)


def test_shape_rule_error_carries_user_line():
    def f(x):
        return lax.dot_general(x, x, (((0,), (1,)), ((), ())))

    with pytest.raises(ValueError) as e:
        pb.make_ir(f)(np.ones((2, 3)))
    assert "dot_general" in str(e.value) and "test_trace.py" in str(e.value)


def test_eval_ir_outside_trace_is_numpy():
    ir = pb.make_ir(lambda x, y: (np.exp(x) + y, x))(np.ones(2), 3.0)
    a, b = eval_ir(ir, ir.consts, [np.array([0.0, 1.0]), np.asarray(3.0)])
    np.testing.assert_allclose(a, np.exp([0.0, 1.0]) + 3.0)
    np.testing.assert_array_equal(b, [0.0, 1.0])


def test_jit_interpreter_pytrees_and_retrace():
    calls = []

    @pb.jit(backend="interpreter")
    def f(params, x):
        calls.append(1)
        return {"y": params["w"] * x, "s": np.sum(x)}

    out = f({"w": 2.0}, np.arange(3.0))
    np.testing.assert_array_equal(out["y"], [0.0, 2.0, 4.0])
    assert isinstance(out["s"], np.ndarray) and out["s"].shape == ()
    f({"w": 5.0}, np.arange(3.0))
    assert len(calls) == 1  # same signature: no retrace
    f({"w": 5.0}, np.arange(4.0))
    assert len(calls) == 2  # new shape: retrace


def test_jit_static_argnums():
    @pb.jit(static_argnums=1, backend="interpreter")
    def f(x, n):
        for _ in range(n):
            x = x * 2
        return x

    assert f(1.0, 3) == 8.0
    assert f(1.0, 1) == 2.0


def test_operators_defer_to_classes_that_opt_out_of_numpy():
    # __array_ufunc__ = None: ndarray's operators return NotImplemented, so Python calls
    # the other operand's reflected operator; traced arrays do the same
    class Quantity:
        __array_ufunc__ = None

        def __radd__(self, other):
            return ("radd", other)

    seen = []
    pb.jit(lambda x: (seen.append(x + Quantity()), x)[1])(np.ones(2))
    assert seen[0][0] == "radd" and seen[0][1].shape == (2,)
