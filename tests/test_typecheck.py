"""typecheck accepts well-formed IRs and rejects each kind of malformed one."""
import numpy as np
import pytest

import pullback as pb
from pullback.ir import IR, Eqn, IRError, Literal, ShapedArray, Var, parse, typecheck
from pullback.ir import primitives as P

from test_ir_text import CASES, NUMPY_FUNCS, one_eqn_ir

f64 = np.dtype("float64")


def A(shape, dtype=f64):
    return ShapedArray(shape, dtype)


# ---------------------------------------------------------------- accepted
@pytest.mark.parametrize("k", range(len(NUMPY_FUNCS)))
def test_accepts_traced_irs(k):
    f, args = NUMPY_FUNCS[k]
    ir = pb.make_ir(f)(*args)
    assert typecheck(ir) is ir


@pytest.mark.parametrize("name,items,params", CASES, ids=[c[0] for c in CASES])
def test_accepts_every_primitive(name, items, params):
    typecheck(one_eqn_ir(P.PRIMITIVES[name], items, **params))


def test_accepts_parsed_text_with_literal_and_input_outputs():
    ir = parse(
        "{ lambda a:f64[3] ; b:f64[3] c:f64[]. let\n"
        "    d:f64[3] = mul b a\n"
        "    e:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] c\n"
        "    f:f64[3] = add d e\n"
        "    g:f64[] = mul c 2.0\n"
        "  in (f, g, b, 1.0) }"
    )
    typecheck(ir)


# ---------------------------------------------------------------- rejected
def _check_fails(ir, *patterns):
    with pytest.raises(IRError) as info:
        typecheck(ir)
    msg = str(info.value)
    for p in patterns:
        assert p in msg, msg
    return msg


def test_rejects_use_before_definition():
    a, b, c = Var(A((3,))), Var(A((3,))), Var(A((3,)))
    ir = IR([], [], [a], [Eqn(P.cos_p, [b], [c], {}), Eqn(P.sin_p, [a], [b], {})], [c])
    _check_fails(ir, "input 0 of cos (f64[3]) is used before it is defined",
                 "in equation: b:f64[3] = cos c")


def test_rejects_double_definition():
    a, b = Var(A((3,))), Var(A((3,)))
    ir = IR([], [], [a], [Eqn(P.sin_p, [a], [b], {}), Eqn(P.cos_p, [a], [b], {})], [b])
    _check_fails(ir, "defined twice", "= cos a")
    ir2 = IR([], [], [a, a], [], [a])
    _check_fails(ir2, "(input 1) is defined twice")
    ir3 = IR([], [], [a], [Eqn(P.sin_p, [a], [a], {})], [a])
    _check_fails(ir3, "(output 0 of sin) is defined twice")


def test_rejects_output_aval_mismatch():
    a = Var(A((3,)))
    wrong_shape, wrong_dtype = Var(A((4,))), Var(A((3,), np.float32))
    _check_fails(IR([], [], [a], [Eqn(P.sin_p, [a], [wrong_shape], {})], [wrong_shape]),
                 "sin outputs are typed [f64[4]] but its shape rule gives [f64[3]]",
                 "b:f64[4] = sin a")
    _check_fails(IR([], [], [a], [Eqn(P.sin_p, [a], [wrong_dtype], {})], [wrong_dtype]),
                 "[f32[3]] but its shape rule gives [f64[3]]")
    two = [Var(A((3,))), Var(A((3,)))]
    _check_fails(IR([], [], [a], [Eqn(P.sin_p, [a], two, {})], two[:1]),
                 "sin outputs are typed [f64[3], f64[3]]")


def test_rejects_shape_rule_errors():
    a, b, c = Var(A((3,))), Var(A((4,))), Var(A((3,)))
    _check_fails(IR([], [], [a, b], [Eqn(P.add_p, [a, b], [c], {})], [c]),
                 "add: operand shapes differ", "c:f64[3] = add a b")
    # a missing param is reported as a type error too, not a crash
    d = Var(A(()))
    _check_fails(IR([], [], [a], [Eqn(P.reduce_sum_p, [a], [d], {})], [d]),
                 "shape rule of reduce_sum failed", "axes")
    # an integer op on floats
    e = Var(A((3,)))
    _check_fails(IR([], [], [a], [Eqn(P.not_p, [a], [e], {})], [e]),
                 "not does not accept dtype float64")
    # the wrong number of operands of an elementwise primitive
    _check_fails(IR([], [], [a], [Eqn(P.add_p, [a], [c], {})], [c]),
                 "add: takes 2 operands, got 1")
    _check_fails(IR([], [], [a], [Eqn(P.add_p, [a, a, a], [c], {})], [c]),
                 "add: takes 2 operands, got 3")
    _check_fails(IR([], [], [a], [Eqn(P.sin_p, [a, a], [c], {})], [c]),
                 "sin: takes 1 operand, got 2")


def test_rejects_0d_var_in_broadcasting_elementwise():
    a, s, c = Var(A((3,))), Var(A(())), Var(A((3,)))
    msg = _check_fails(IR([], [], [a, s], [Eqn(P.mul_p, [a, s], [c], {})], [c]),
                       "0-d input 1 of elementwise mul", "must be a Literal",
                       "c:f64[3] = mul a b")
    assert "broadcast" in msg
    # the same with a Literal is fine, and so is 0-d op 0-d
    typecheck(IR([], [], [a], [Eqn(P.mul_p, [a, Literal(2.0)], [c], {})], [c]))
    d = Var(A(()))
    typecheck(IR([], [], [s], [Eqn(P.mul_p, [s, s], [d], {})], [d]))


def test_rejects_undefined_outvar():
    a, stray = Var(A((3,))), Var(A((2,)))
    _check_fails(IR([], [], [a], [], [a, stray]), "output 1 (f64[2]) is never defined")


def test_rejects_const_count_and_value_mismatch():
    c, a, o = Var(A((3,))), Var(A((3,))), Var(A((3,)))
    ir = IR([c], [np.zeros(3)], [a], [Eqn(P.add_p, [a, c], [o], {})], [o])
    typecheck(ir)
    bad_count = ir.replace()
    bad_count.consts = []
    _check_fails(bad_count, "1 constvars but 0 const values")
    bad_value = ir.replace(consts=[np.zeros(4)])
    _check_fails(bad_value, "constvar 0 is declared f64[3] but its value is f64[4]")
    # unknown (parsed) constants are checked by their declared aval
    typecheck(parse(str(ir)))


# ---------------------------------------------------------------- sub-IRs
_call_p = P.Primitive("tc_call", multiple_results=True)


def _call_rule(*avals, body, _name=None):
    return [v.aval for v in body.outvars]


@pytest.fixture(autouse=True)
def _register_call():
    P.PRIMITIVES[_call_p.name] = _call_p
    P.shape_rules[_call_p] = _call_rule
    yield
    P.PRIMITIVES.pop(_call_p.name, None)
    P.shape_rules.pop(_call_p, None)


def test_sub_ir_checked_in_its_own_scope():
    x, y = Var(A((3,))), Var(A((3,)))
    good_body = IR([], [], [x], [Eqn(P.sin_p, [x], [y], {})], [y])
    a, b = Var(A((3,))), Var(A((3,)))
    typecheck(IR([], [], [a], [Eqn(_call_p, [a], [b], {"body": good_body})], [b]))

    # the body refers to the outer `a`: a capture
    x2, y2 = Var(A((3,))), Var(A((3,)))
    capture = IR([], [], [x2], [Eqn(P.mul_p, [x2, a], [y2], {})], [y2])
    _check_fails(IR([], [], [a], [Eqn(_call_p, [a], [b], {"body": capture})], [b]),
                 "sub-IR body of tc_call", "used before it is defined (or comes from an enclosing IR)")

    # an ill-typed body inside a tuple param
    x3, y3 = Var(A((3,))), Var(A((2,)))
    bad = IR([], [], [x3], [Eqn(P.sin_p, [x3], [y3], {})], [y3])
    c = Var(A((2,)))
    _check_fails(IR([], [], [a], [Eqn(_call_p, [a], [c], {"body": good_body, "more": (bad,)})], [c]),
                 "sub-IR more of tc_call", "sin outputs are typed [f64[2]]")


def test_typecheck_is_fast_on_a_long_chain():
    import time

    x = Var(A((2,)))
    eqns, cur = [], x
    for _ in range(20000):
        nxt = Var(A((2,)))
        eqns.append(Eqn(P.mul_p, [cur, Literal(1.5)], [nxt], {}))
        cur = nxt
    ir = IR([], [], [x], eqns, [cur])
    t0 = time.perf_counter()
    typecheck(ir)
    assert time.perf_counter() - t0 < 2.0
