"""IR text: golden printer output, parse(print(ir)) round trips, parse errors."""
import math
import re

import numpy as np
import pytest

import pullback as pb
from pullback.backends.interpreter import eval_ir
from pullback.ir import IR, Eqn, IRParseError, Literal, ShapedArray, Var, parse, typecheck
from pullback.ir import primitives as P
from pullback.ir.parser import UnknownConst, UnknownConstError

f64, f32, i64, i32, b_ = (np.dtype(t) for t in ("float64", "float32", "int64", "int32", "bool"))


def A(shape, dtype=f64):
    return ShapedArray(shape, dtype)


def roundtrip(ir, consts=None):
    text = str(ir)
    back = parse(text, consts=consts)
    assert str(back) == text
    typecheck(back)
    return back


def one_eqn_ir(prim, in_items, **params):
    """An IR applying `prim` once: in_items are avals (become invars) or Literals."""
    invars = [Var(x) for x in in_items if isinstance(x, ShapedArray)]
    it = iter(invars)
    inputs = [x if isinstance(x, Literal) else next(it) for x in in_items]
    out_avals = P.abstract_eval(prim, [a.aval for a in inputs], params)
    outs = [Var(a) for a in out_avals]
    return IR([], [], invars, [Eqn(prim, inputs, outs, params)], outs)


# ---------------------------------------------------------------- golden text
def test_golden_spec_example():
    a = Var(A(()))
    b, c, d = Var(A(())), Var(A(())), Var(A(()))
    ir = IR([], [], [a], [
        Eqn(P.sin_p, [a], [b], {}),
        Eqn(P.cos_p, [a], [c], {}),
        Eqn(P.mul_p, [Literal(1.0), c], [d], {}),
    ], [d])
    expected = (
        "{ lambda ; a:f64[]. let\n"
        "    b:f64[] = sin a\n"
        "    c:f64[] = cos a\n"
        "    d:f64[] = mul 1.0 c\n"
        "  in (d,) }"
    )
    assert str(ir) == expected
    assert pb.ir.pp_ir(ir) == expected
    assert str(parse(expected)) == expected


def test_golden_make_ir_sin_times_two():
    ir = pb.make_ir(lambda x: np.sin(x) * 2.0)(1.0)
    assert str(ir) == (
        "{ lambda ; a:f64[]. let\n"
        "    b:f64[] = sin a\n"
        "    c:f64[] = mul b 2.0\n"
        "  in (c,) }"
    )


def test_golden_consts_params_and_typed_literals():
    c = np.arange(3.0)
    ir = pb.make_ir(lambda x: (np.sum(x * c, axis=0), np.float32(2) * x.astype(np.float32)))(
        np.ones(3))
    assert str(ir) == (
        "{ lambda a:f64[3] ; b:f64[3]. let\n"
        "    c:f64[3] = mul b a\n"
        "    d:f64[] = reduce_sum[axes=(0,)] c\n"
        "    e:f32[3] = convert_element_type[new_dtype=f32] b\n"
        "    f:f32[3] = mul 2.0:f32[] e\n"
        "  in (d, f) }"
    )


def test_golden_params_sorted_and_multi_output():
    x = Var(A((2, 3)))
    ir = one_eqn_ir(P.slice_p, [A((4, 6))], start_indices=(1, 0), limit_indices=(3, 6),
                    strides=(1, 2))
    assert str(ir) == (
        "{ lambda ; a:f64[4,6]. let\n"
        "    b:f64[2,3] = slice[limit_indices=(3, 6), start_indices=(1, 0), strides=(1, 2)] a\n"
        "  in (b,) }"
    )
    y, z = Var(A((2, 3))), Var(A((2, 3)))
    multi = IR([], [], [x], [Eqn(_pair_p, [x], [y, z], {"flag": True})], [z, y, x])
    assert str(multi) == (
        "{ lambda ; a:f64[2,3]. let\n"
        "    b:f64[2,3] c:f64[2,3] = test_pair[flag=True] a\n"
        "  in (c, b, a) }"
    )
    roundtrip(multi)


def test_golden_empty_inputs_and_outputs():
    ir = one_eqn_ir(P.iota_p, [], shape=(3,), dimension=0, dtype=i32)
    assert str(ir) == (
        "{ lambda ; . let\n"
        "    a:i32[3] = iota[dimension=0, dtype=i32, shape=(3,)]\n"
        "  in (a,) }"
    )
    roundtrip(ir)
    empty = IR([], [], [], [], [])
    assert str(empty) == "{ lambda ; . let\n  in () }"
    roundtrip(empty)


# ---------------------------------------------------------------- a test-only multi-output primitive
_pair_p = P.Primitive("test_pair", multiple_results=True)


def _pair_rule(x, _name=None, **params):
    return [x, x]


# ---------------------------------------------------------------- every primitive
def _cases():
    cases = []
    for name in P.UNARY_FLOAT:
        cases.append((name, [A((2, 3))], {}))
    cases += [
        ("neg", [A((3,), i64)], {}), ("abs", [A((3,))], {}), ("sign", [A((), f32)], {}),
        ("not", [A((2,), b_)], {}), ("is_finite", [A((2,))], {}),
        ("signbit", [A((2,), f32)], {}),
        ("stop_gradient", [A((2,))], {}),
        ("integer_pow", [A((3,))], {"y": -2}),
        ("polygamma", [A((3,), f32)], {"n": 2}),
        ("convert_element_type", [A((3,))], {"new_dtype": i32}),
        ("select", [A((3,), b_), A((3,)), Literal(0.0)], {}),
        ("broadcast_in_dim", [A((3,))], {"shape": (2, 3), "broadcast_dimensions": (1,)}),
        ("reshape", [A((2, 3))], {"shape": (3, 2)}),
        ("transpose", [A((2, 3, 4))], {"permutation": (2, 0, 1)}),
        ("reduce_sum", [A((2, 3))], {"axes": (0, 1)}),
        ("reduce_prod", [A((2, 3), i64)], {"axes": (1,)}),
        ("reduce_max", [A((2, 3))], {"axes": ()}),
        ("reduce_min", [A((2, 3), b_)], {"axes": (0,)}),
        ("argmax", [A((2, 3))], {"axis": 1, "index_dtype": i64}),
        ("argmin", [A((2, 3), f32)], {"axis": 0, "index_dtype": i32}),
        ("cumsum", [A((4,))], {"axis": 0, "reverse": True}),
        ("cumprod", [A((2, 4), i32)], {"axis": 1, "reverse": False}),
        ("linrec", [A((3, 2), f32), A((3, 2), f32)], {"axis": 0, "reverse": True}),
        ("dot_general", [A((5, 2, 3)), A((5, 3, 4))],
         {"dimension_numbers: ".strip(": "): (((2,), (1,)), ((0,), (0,)))}),
        ("slice", [A((5,))], {"start_indices": (1,), "limit_indices": (5,), "strides": (2,)}),
        ("rev", [A((2, 3))], {"dimensions": (0, 1)}),
        ("pad", [A((2, 3)), Literal(-0.0)], {"padding_config": ((1, 0, 0), (0, 2, 1))}),
        ("concatenate", [A((2, 3)), A((1, 3))], {"dimension": 0}),
        ("gather", [A((4, 3)), A((2, 2), i64)], {"axis": 0}),
        ("scatter_add", [A((2, 3)), A((2,), i32)], {"axis": 0, "size": 5}),
        ("iota", [], {"shape": (2, 3), "dimension": 1, "dtype": f64}),
        ("argsort", [A((2, 3), i32)], {"axis": 1}),
        ("argselect", [A((4, 3))], {"axis": 0, "ranks": (1, 3)}),
        ("solve", [A((2, 3, 3)), A((2, 3, 1))], {}),
        ("cholesky", [A((3, 3), f32)], {}),
        ("det", [A((3, 3))], {}),
        ("slogdet", [A((2, 2, 2))], {}),
        ("eigh", [A((2, 3, 3))], {"lower": False}),
        ("svd", [A((4, 3))], {"full_matrices": True, "compute_uv": True}),
        ("qr", [A((3, 4), f32)], {"full_matrices": False}),
    ]
    for name in ["add", "sub", "mul", "div", "rem", "max", "min"]:
        cases.append((name, [A((2, 3)), Literal(2.0)], {}))
    cases += [("pow", [A((3,)), A((3,))], {}), ("atan2", [Literal(1.0), A((3,))], {}),
              ("hypot", [A((3,), f32), A((3,), f32)], {})]
    cases += [("and", [A((3,), b_), Literal(True)], {}), ("or", [A((3,), i64), Literal(3)], {})]
    for name in ["eq", "ne", "lt", "le", "gt", "ge"]:
        cases.append((name, [A((3,), i32), Literal(1, i32)], {}))
    return cases


CASES = _cases()


# primitives whose params hold sub-IRs or callables, tested by traced IRs below
COVERED_BELOW = {"cond", "while", "scan",  # test_control_flow_irs_roundtrip
                 "custom_jvp_call", "custom_vjp_call", "custom_vjp_linear"}  # test_custom_*


def test_cases_cover_every_primitive():
    import pullback.ir.control_flow  # noqa: F401  (registers cond/while/scan)

    names = set(P.PRIMITIVES) - {"test_pair", "test_call"}
    assert names - COVERED_BELOW == {c[0] for c in CASES}


@pytest.mark.parametrize("name,items,params", CASES, ids=[c[0] for c in CASES])
def test_every_primitive_roundtrips(name, items, params):
    ir = one_eqn_ir(P.PRIMITIVES[name], items, **params)
    typecheck(ir)
    back = roundtrip(ir)
    assert back.eqns[0].prim is P.PRIMITIVES[name]
    assert back.eqns[0].params == ir.eqns[0].params
    assert back.eqns[0].source is None


# ---------------------------------------------------------------- literals and params
@pytest.mark.parametrize("val,dtype,text", [
    (1.0, f64, "1.0"), (-0.0, f64, "-0.0"), (2, i64, "2"), (-7, i64, "-7"),
    (True, b_, "True"), (False, b_, "False"), (2.0, f32, "2.0:f32[]"),
    (3, i32, "3:i32[]"), (math.inf, f64, "inf"), (-math.inf, f32, "-inf:f32[]"),
    (math.nan, f64, "nan"), (1e-300, f64, "1e-300"), (0.1, f32, "0.10000000149011612:f32[]"),
])
def test_literal_roundtrip(val, dtype, text):
    lit = Literal(val, dtype)
    x = Var(A((), dtype))
    out = Var(A((), dtype))
    prim = P.max_p if dtype != b_ else P.or_p
    ir = IR([], [], [x], [Eqn(prim, [x, lit], [out], {})], [out, lit])
    assert f" {text}\n" in str(ir) and str(ir).endswith(f"(b, {text}) }}")
    back = roundtrip(ir)
    got = back.eqns[0].inputs[1]
    assert isinstance(got, Literal) and got == lit and got.aval.dtype == dtype
    if dtype.kind == "f" and val == 0:
        assert np.signbit(got.val) == np.signbit(lit.val)


def test_exotic_param_values_roundtrip():
    x, y = Var(A((2,))), Var(A((2,)))
    params = {"a_float": -0.0, "b_inf": math.inf, "c_ninf": -math.inf, "d_nan": math.nan,
              "e_none": None, "f_str": "it's \"quoted\"", "g_nested": ((1, (2.5, False)), (), ("x",)),
              "h_dtypes": (f64, f32, i64, i32, b_), "i_big": 10**30, "j_small": 1e-12,
              "l_avals": (A((2, 3), f32), A((), b_)),
              "k_strdtype": "f64", "flag": False}
    ir = IR([], [], [x], [Eqn(_pair_p, [x], [y, Var(A((2,)))], params)], [y])
    back = roundtrip(ir)
    bp = back.eqns[0].params
    assert bp["a_float"] == 0.0 and math.copysign(1, bp["a_float"]) == -1
    assert bp["b_inf"] == math.inf and bp["c_ninf"] == -math.inf and math.isnan(bp["d_nan"])
    assert bp["e_none"] is None and bp["f_str"] == params["f_str"]
    assert bp["g_nested"] == params["g_nested"] and bp["h_dtypes"] == params["h_dtypes"]
    assert bp["i_big"] == 10**30 and bp["k_strdtype"] == "f64"
    assert isinstance(bp["h_dtypes"][0], np.dtype)
    assert bp["l_avals"] == params["l_avals"] and "l_avals=(f32[2,3], bool[])" in str(ir)


def test_callable_param_cannot_be_parsed():
    x, y = Var(A((2,))), Var(A((2,)))
    ir = IR([], [], [x], [Eqn(_pair_p, [x], [y, Var(A((2,)))], {"flag": np.sin})], [y])
    assert "flag=sin]" in str(ir)
    with pytest.raises(IRParseError, match="callable"):
        parse(str(ir))


# ---------------------------------------------------------------- constants
def test_constvars_values_and_unknown_consts():
    c = np.arange(6.0).reshape(2, 3)
    f = lambda x: np.sum(x * c)  # noqa: E731
    ir = pb.make_ir(f)(np.ones((2, 3)))
    text = str(ir)
    assert text.startswith("{ lambda a:f64[2,3] ; b:f64[2,3]. let")
    x = np.random.default_rng(0).normal(size=(2, 3))
    known = roundtrip(ir, consts=[c])
    assert np.allclose(eval_ir(known, known.consts, [x])[0], f(x))
    assert pb.ir.ir_equal(ir, known)

    unknown = roundtrip(ir)
    assert isinstance(unknown.consts[0], UnknownConst)
    assert not pb.ir.ir_equal(ir, unknown)
    with pytest.raises(UnknownConstError, match=r"constant a:f64\[2,3\] is unknown.*consts="):
        eval_ir(unknown, unknown.consts, [x])
    with pytest.raises(UnknownConstError):
        np.asarray(unknown.consts[0])
    with pytest.raises(ValueError, match="declares 1 constants but consts has 2"):
        parse(text, consts=[c, c])
    with pytest.raises(ValueError, match=r"declared f64\[2,3\]"):
        parse(text, consts=[np.ones(3)])


def test_outvars_literal_and_input():
    ir = pb.make_ir(lambda x, y: (y, 3.0, x * 2))(np.ones(2), np.int32(4))
    assert str(ir).endswith("in (b, 3.0, c) }")
    back = roundtrip(ir)
    assert back.outvars[0] is back.invars[1]
    assert isinstance(back.outvars[1], Literal) and back.outvars[1].val == 3.0


# ---------------------------------------------------------------- make_ir of NumPy code
NUMPY_FUNCS = [
    (lambda x: np.sin(x) * 2.0 + np.cos(x), [np.ones(3)]),
    (lambda x, y: x @ y, [np.ones((2, 3)), np.ones((3, 4))]),
    (lambda x: np.sum(np.exp(x), axis=1), [np.ones((2, 3))]),
    (lambda x: np.maximum(x, 0.0) - np.minimum(x, 1.0), [np.ones((4,))]),
    (lambda x: np.where(x > 0, x, -x), [np.ones((2, 2))]),
    (lambda x: x.T.reshape(6), [np.ones((2, 3))]),
    (lambda x: (x * x).astype(np.float32), [np.ones(3)]),
    (lambda x, y: x * y + 1, [np.ones(3, np.float32), np.float32(2)]),
    (lambda x: np.tanh(x) / (1.0 + np.abs(x)), [np.ones((2, 1))]),
    (lambda x, n: x ** 2 + n, [np.ones(3), 3]),
    (lambda x: np.logical_and(x > 0, x < 1), [np.ones(3)]),
]


@pytest.mark.parametrize("k", range(len(NUMPY_FUNCS)))
def test_make_ir_roundtrip_and_evaluates(k):
    f, args = NUMPY_FUNCS[k]
    ir = pb.make_ir(f)(*args)
    back = roundtrip(ir, consts=ir.consts)
    got = eval_ir(back, back.consts, [np.asarray(a) for a in args])
    want = f(*args)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w)


# ---------------------------------------------------------------- nested sub-IRs
_call_p = P.Primitive("test_call", multiple_results=True)


def _call_rule(*avals, body, branches, label, _name=None):
    if [v.aval for v in body.invars] != list(avals):
        raise P.ShapeError("test_call: body inputs do not match")
    return [v.aval for v in body.outvars]


@pytest.fixture(autouse=True)
def _test_prims():
    for p, rule in ((_pair_p, _pair_rule), (_call_p, _call_rule)):
        P.PRIMITIVES[p.name] = p
        P.shape_rules[p] = rule
    yield
    for p in (_pair_p, _call_p):
        P.PRIMITIVES.pop(p.name, None)
        P.shape_rules.pop(p, None)


def _sub_ir(fn, *avals):
    return pb.make_ir(fn)(*[np.ones(a.shape, a.dtype) for a in avals])


def test_nested_sub_irs_roundtrip():
    inner = _sub_ir(lambda x: np.sin(x) + 1.0, A((3,)))
    br1 = _sub_ir(lambda x: x * 2.0, A((3,)))
    # a sub-IR that itself holds a sub-IR
    x, o = Var(A((3,))), Var(A((3,)))
    middle = IR([], [], [x], [Eqn(_call_p, [x], [o], {
        "body": inner, "branches": (br1,), "label": "in"})], [o])
    a, b = Var(A((3,))), Var(A((3,)))
    top = IR([], [], [a], [Eqn(_call_p, [a], [b], {
        "body": middle, "branches": (br1, inner), "label": "top"})], [b, a])
    typecheck(top)
    text = str(top)
    assert text == (
        "{ lambda ; a:f64[3]. let\n"
        "    b:f64[3] = test_call[\n"
        "      body={ lambda ; c:f64[3]. let\n"
        "          d:f64[3] = test_call[\n"
        "            body={ lambda ; e:f64[3]. let\n"
        "                f:f64[3] = sin e\n"
        "                g:f64[3] = add f 1.0\n"
        "              in (g,) }\n"
        "            branches=(\n"
        "              { lambda ; h:f64[3]. let\n"
        "                  i:f64[3] = mul h 2.0\n"
        "                in (i,) }\n"
        "            )\n"
        "            label='in'\n"
        "          ] c\n"
        "        in (d,) }\n"
        "      branches=(\n"
        "        { lambda ; j:f64[3]. let\n"
        "            k:f64[3] = mul j 2.0\n"
        "          in (k,) }\n"
        "        { lambda ; l:f64[3]. let\n"
        "            m:f64[3] = sin l\n"
        "            n:f64[3] = add m 1.0\n"
        "          in (n,) }\n"
        "      )\n"
        "      label='top'\n"
        "    ] a\n"
        "  in (b, a) }"
    )
    back = roundtrip(top)
    sub = back.eqns[0].params["body"]
    assert isinstance(sub, IR) and isinstance(back.eqns[0].params["branches"], tuple)
    assert len(back.eqns[0].params["branches"]) == 2
    assert isinstance(sub.eqns[0].params["body"], IR)


def test_sub_ir_cannot_capture_outer_vars():
    text = (
        "{ lambda ; a:f64[3]. let\n"
        "    b:f64[3] = test_call[body={ lambda ; c:f64[3]. let d:f64[3] = mul a c in (d,) }, "
        "branches=(), label='x'] a\n"
        "  in (b,) }"
    )
    with pytest.raises(IRParseError, match=r"line 2, column \d+: undefined variable 'a'"):
        parse(text)


def test_large_ir_roundtrip_is_linear():
    x = Var(A((2,)))
    eqns, cur = [], x
    for _ in range(6000):  # crosses the 'inf'/'nan' three-letter names
        nxt = Var(A((2,)))
        eqns.append(Eqn(P.sin_p, [cur], [nxt], {}))
        cur = nxt
    ir = IR([], [], [x], eqns, [cur])
    text = str(ir)
    assert " inf:" not in text and " nan:" not in text
    roundtrip(ir)


# ---------------------------------------------------------------- parse errors
@pytest.mark.parametrize("text,msg", [
    ("{ lambda ; a:f64[]. let\n    b:f64[] = sinn a\n  in (b,) }",
     r"line 2, column 15: unknown primitive 'sinn'"),
    ("{ lambda ; a:f65[]. let\n  in (a,) }", r"line 1, column 14: unknown dtype 'f65'"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = sin z\n  in (b,) }",
     r"line 2, column 19: undefined variable 'z'"),
    ("{ lambda ; a:f64[]. let\n    a:f64[] = sin a\n  in (a,) }", r"line 2.*defined twice"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = sin a\n  (b,) }", r"line 3, column 3: expected 'in'"),
    ("{ lambda ; a:f64[]. let\n  in (a,) } extra", r"line 2, column 13: unexpected text"),
    ("{ lambda ; a:f64[]. let\n  in (a,) ", r"line 2, column 11: expected '}'"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = sin a $\n  in (b,) }",
     r"line 2, column 21: unexpected character '\$'"),
    ("{ lambda ; a:f64[2.5]. let\n  in (a,) }", r"line 1, column 18: dimension must be"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = add a 1.5:i64[]\n  in (b,) }",
     r"line 2.*not a valid int64 literal"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = add a 1.0:f64[2]\n  in (b,) }",
     r"line 2.*literal must be 0-d"),
    ("{ lambda ; a:f64[]. let\n    b:f64[] = reduce_sum[axes=(0,) a\n  in (b,) }",
     r"line 2, column 36: expected ',' or ']'"),
    ("", r"line 1, column 1: expected '\{'"),
])
def test_parse_errors_name_line_and_column(text, msg):
    with pytest.raises(IRParseError, match=msg):
        parse(text)
    assert issubclass(IRParseError, ValueError)


def test_control_flow_irs_roundtrip():
    from pullback import control_flow as cf

    def f(x, p):
        y = cf.cond(p > 0, lambda a: np.sin(a), lambda a: a * 2.0, x)
        c, ys = cf.scan(lambda c, xi: (c + xi, c * xi), 0.0, y)
        w = cf.while_loop(lambda s: s < 10.0, lambda s: s * 2.0 + 1.0, c)
        return cf.fori_loop(0, 3, lambda i, s: s + 1.0, w), ys

    ir = pb.make_ir(f)(np.ones(3), 1.0)
    typecheck(ir)
    text = str(ir)
    assert "cond[\n      branches=(\n        { lambda ; " in text
    back = roundtrip(ir)
    prims = [e.prim.name for e in back.eqns]
    assert prims == ["gt", "cond", "scan", "while", "scan"]
    cond_eqn = back.eqns[1]
    assert [str(b) for b in cond_eqn.params["branches"]] == [
        str(b) for b in ir.eqns[1].params["branches"]]
    assert back.eqns[2].params["body"].eqns[0].prim.name == "add"


def test_custom_derivative_calls_print_but_callables_do_not_parse():
    @pb.custom_jvp
    def f(x):
        return np.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        return np.sin(primals[0]), np.cos(primals[0]) * tangents[0]

    @pb.custom_vjp
    def g(x):
        return x * 2.0

    def g_fwd(x):
        return g(x), None

    def g_bwd(res, ct):
        return (ct * 2.0,)

    g.defvjp(g_fwd, g_bwd)
    for fn, prim in ((f, "custom_jvp_call"), (g, "custom_vjp_call")):
        ir = pb.make_ir(fn)(np.ones(2))
        typecheck(ir)
        text = str(ir)
        assert f"= {prim}[\n" in text and "      call={ lambda ; c:f64[2]. let\n" in text
        with pytest.raises(IRParseError, match="callable.*cannot be parsed back"):
            parse(text)
    # rules given as lambdas print as <lambda>
    h = pb.custom_vjp(lambda x: x * 2.0)
    h.defvjp(lambda x: (x * 2.0, None), lambda r, ct: (ct * 2.0,))
    text = str(pb.make_ir(h)(1.0))
    assert "bwd=<lambda>" in text
    with pytest.raises(IRParseError, match="'<lambda>': a Python callable.*cannot be parsed"):
        parse(text)
    # a user's rule named like one of pullback's own (pinv's) never parses back as it
    k = pb.custom_jvp(lambda x: np.sin(x))

    def pinv_jvp(p, t):
        return np.sin(p[0]), 100.0 * t[0]

    k.defjvp(pinv_jvp)
    text = str(pb.make_ir(k)(np.ones(2)))
    assert "jvp=<pinv_jvp>" in text
    with pytest.raises(IRParseError, match="'<pinv_jvp>': a Python callable.*cannot be parsed"):
        parse(text)
    # nor does one named like the batched form of one of pullback's rules
    k2 = pb.custom_jvp(lambda x: np.sin(x))

    def vmap_pinv_jvp(p, t):
        return np.sin(p[0]), 100.0 * t[0]

    k2.defjvp(vmap_pinv_jvp)
    assert "jvp=<vmap_pinv_jvp>" in str(pb.make_ir(k2)(np.ones(2)))
    lin = pb.make_ir(lambda x: pb.vjp(g, x)[1](np.ones(2)))(np.ones(2))
    typecheck(lin)


def test_batched_named_rules_print_parse_and_fingerprint():
    # vmap of pinv (a custom_jvp_call of pullback's own rule): the batched rule has a
    # name of its own that parses back, also where no vmap has made it yet (it printed
    # as <pinv_jvp>, which could not be parsed, and the IR was never cached on disk)
    from pullback.ir.core import NAMED_RULES
    from pullback.ir.printer import fingerprint, ir_equal

    a = np.random.default_rng(0).normal(size=(2, 3, 4))
    for f, arg in ((np.linalg.pinv, a), (lambda a: np.linalg.pinv(a @ a.T, hermitian=True), a),
                   (lambda a: np.linalg.lstsq(a, np.ones(3))[0], a),
                   (pb.vmap(np.linalg.pinv), a[None])):
        ir = pb.make_ir(pb.vmap(f))(arg)
        text = str(ir)
        assert "jvp=vmap_" in text and "<" not in text
        assert ir_equal(parse(text, ir.consts), ir)
        assert fingerprint(ir) is not None
        for name in ("vmap_pinv_jvp", "vmap_vmap_pinv_jvp", "vmap_pinv_hermitian_jvp"):
            NAMED_RULES.pop(name, None)  # as in a new process
        assert str(parse(text, ir.consts)) == text


@pytest.mark.parametrize("number", ["1.0.0", "1..0", "2x", "3.5e2e"])
def test_malformed_numbers_do_not_parse_as_two_literals(number):
    # before: `1.0.0` read as the literals 1.0 and .0
    with pytest.raises(IRParseError, match=f"malformed number '{re.escape(number)}"):
        parse(f"{{ lambda ; a:f64[]. let\n    b:f64[] = mul {number} a\n  in (b,) }}")


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copied_ir_runs_and_transforms(how):
    # primitives are rule-table keys: a copy must be the registered object, and the
    # source lines (SourceInfo) must survive pickling (an IR returned by a Pool worker)
    import copy
    import pickle

    ir = pb.make_ir(lambda x: np.sin(x) * 2 + x[1:].sum())(np.arange(3.0))
    ir2 = copy.deepcopy(ir) if how == "deepcopy" else pickle.loads(pickle.dumps(ir))
    assert str(ir2) == str(ir)
    assert all(a.prim is b.prim for a, b in zip(ir.eqns, ir2.eqns))
    assert [e.source for e in ir2.eqns] == [e.source for e in ir.eqns]
    x = np.array([0.5, 1.0, 2.0])
    (want,) = eval_ir(ir, ir.consts, [x])
    (got,) = eval_ir(ir2, ir2.consts, [x])
    np.testing.assert_array_equal(got, want)
    assert pickle.loads(pickle.dumps(P.sin_p)) is P.sin_p
