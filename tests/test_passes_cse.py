"""cse: text-in/text-out cases; merged equations keep the first occurrence."""
import numpy as np
import pytest

from pullback.ir import control_flow  # noqa: F401  (registers cond)
from pullback.ir import parse
from pullback.passes.cse import cse
from pullback.passes.dce import dce
from passes_util import check_pass, text


def cse_dce(ir):
    return dce(cse(ir))


CASES = {
    "duplicate_equation": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = sin a
            d:f64[3] = add b c
          in (d,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = add b b
          in (c,) }
        """,
    ),
    "chains_collapse_in_one_pass": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = sin a
            d:f64[3] = cos b
            e:f64[3] = cos c
            f:f64[3] = mul d e
          in (f,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = cos b
            d:f64[3] = mul c c
          in (d,) }
        """,
    ),
    "commutative_operands_swapped": (
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:f64[3] = add a b
            d:f64[3] = add b a
            e:f64[3] = mul c d
            f:f64[3] = mul d c
            g:bool[3] = eq a b
            h:bool[3] = eq b a
            i:bool[3] = and g h
            j:bool[3] = and h g
          in (e, f, i, j) }
        """,
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:f64[3] = add a b
            d:f64[3] = mul c c
            e:bool[3] = eq a b
            f:bool[3] = and e e
          in (d, d, f, f) }
        """,
    ),
    "non_commutative_operands_kept_apart": (
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:f64[3] = sub a b
            d:f64[3] = sub b a
            e:bool[3] = lt a b
            f:bool[3] = lt b a
          in (c, d, e, f) }
        """,
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:f64[3] = sub a b
            d:f64[3] = sub b a
            e:bool[3] = lt a b
            f:bool[3] = lt b a
          in (c, d, e, f) }
        """,
    ),
    "float_max_is_not_swapped": (  # NumPy: maximum(-0.0, 0.0) = 0.0, maximum(0.0, -0.0) = -0.0
        """
        { lambda ; a:f64[3] b:f64[3] c:i64[3] d:i64[3]. let
            e:f64[3] = max a b
            f:f64[3] = max b a
            g:i64[3] = min c d
            h:i64[3] = min d c
          in (e, f, g, h) }
        """,
        """
        { lambda ; a:f64[3] b:f64[3] c:i64[3] d:i64[3]. let
            e:f64[3] = max a b
            f:f64[3] = max b a
            g:i64[3] = min c d
          in (e, f, g, g) }
        """,
    ),
    "literals_by_value": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = mul a 2.0
            c:f64[3] = mul 2.0 a
            d:f64[3] = add a 0.0
            e:f64[3] = add a -0.0
            f:f64[3] = add a nan
            g:f64[3] = add nan a
          in (b, c, d, e, f, g) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = mul a 2.0
            c:f64[3] = add a 0.0
            d:f64[3] = add a -0.0
            e:f64[3] = add a nan
          in (b, b, c, d, e, e) }
        """,
    ),
    "params_must_match": (
        """
        { lambda ; a:f64[2,3]. let
            b:f64[2] = reduce_sum[axes=(1,)] a
            c:f64[3] = reduce_sum[axes=(0,)] a
            d:f64[2] = reduce_sum[axes=(1,)] a
          in (b, c, d) }
        """,
        """
        { lambda ; a:f64[2,3]. let
            b:f64[2] = reduce_sum[axes=(1,)] a
            c:f64[3] = reduce_sum[axes=(0,)] a
          in (b, c, b) }
        """,
    ),
    "iota_without_inputs": (
        """
        { lambda ; a:i64[4]. let
            b:i64[4] = iota[dimension=0, dtype=i64, shape=(4,)]
            c:i64[4] = iota[dimension=0, dtype=i64, shape=(4,)]
            d:i64[4] = add b c
            e:i64[4] = add a d
          in (e,) }
        """,
        """
        { lambda ; a:i64[4]. let
            b:i64[4] = iota[dimension=0, dtype=i64, shape=(4,)]
            c:i64[4] = add b b
            d:i64[4] = add a c
          in (d,) }
        """,
    ),
    "splat_broadcasts": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 0.0
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 0.0
            d:f64[3] = max a b
            e:f64[3] = max a c
          in (d, e) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 0.0
            c:f64[3] = max a b
          in (c, c) }
        """,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cse_case(name):
    src, expected = CASES[name]
    check_pass(cse_dce, src, expected)


def test_cse_alone_renames_and_leaves_the_duplicate_dead():
    check_pass(
        cse,
        CASES["duplicate_equation"][0],
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sin a
            c:f64[3] = add b b
          in (c,) }
        """,
    )


def test_equal_constants_merged_by_value():
    src = """
    { lambda a:f64[3] b:f64[3] c:f64[3] d:f32[3] ; e:f64[3]. let
        f:f64[3] = mul e a
        g:f64[3] = mul e b
        h:f64[3] = mul e c
        i:f32[3] = convert_element_type[new_dtype=f32] e
        j:f32[3] = mul i d
      in (f, g, h, j) }
    """
    consts = [
        np.array([1.0, 0.0, 2.0]),
        np.array([1.0, 0.0, 2.0]),  # equal by value: merged with a
        np.array([1.0, -0.0, 2.0]),  # -0.0 differs bitwise: kept
        np.array([1.0, 0.0, 2.0], np.float32),  # other dtype: kept
    ]
    out = check_pass(
        cse_dce,
        src,
        """
        { lambda a:f64[3] b:f64[3] c:f32[3] ; d:f64[3]. let
            e:f64[3] = mul d a
            f:f64[3] = mul d b
            g:f32[3] = convert_element_type[new_dtype=f32] d
            h:f32[3] = mul g c
          in (e, e, f, h) }
        """,
        consts=consts,
    )
    assert out.consts[0] is consts[0] and out.consts[1] is consts[2]


def test_same_constant_object_merged_even_if_unknown():
    src = """
    { lambda a:f64[3] b:f64[3] ; c:f64[3]. let
        d:f64[3] = add c a
        e:f64[3] = add c b
      in (d, e) }
    """
    ir = parse(text(src))
    ir = ir.replace(consts=[ir.consts[0], ir.consts[0]])  # one (unknown) object twice
    out = cse_dce(ir)
    assert str(out) == text(
        """
        { lambda a:f64[3] ; b:f64[3]. let
            c:f64[3] = add b a
          in (c, c) }
        """
    )
    # distinct unknown objects (e.g. tracers of an enclosing trace) stay apart
    ir2 = parse(text(src))
    assert cse(ir2) is ir2


SUB_IR_SRC = """
{ lambda ; a:bool[] b:f64[3]. let
    c:f64[3] = cond[
      branches=(
        { lambda ; d:f64[3]. let
            e:f64[3] = sin d
            f:f64[3] = sin d
            g:f64[3] = add e f
          in (g,) }
        { lambda ; h:f64[3]. let
            i:f64[3] = cos h
          in (i,) }
      )
    ] a b
    j:f64[3] = sin b
    k:f64[3] = sin b
    l:f64[3] = mul j k
  in (c, l) }
"""


def test_inside_sub_irs_each_its_own_scope():
    # the branch's `sin d` is not merged with the outer `sin b`: different scopes
    check_pass(
        cse_dce,
        SUB_IR_SRC,
        """
        { lambda ; a:bool[] b:f64[3]. let
            c:f64[3] = cond[
              branches=(
                { lambda ; d:f64[3]. let
                    e:f64[3] = sin d
                    f:f64[3] = add e e
                  in (f,) }
                { lambda ; g:f64[3]. let
                    h:f64[3] = cos g
                  in (h,) }
              )
            ] a b
            i:f64[3] = sin b
            j:f64[3] = mul i i
          in (c, j) }
        """,
        values=False,
    )


def test_equations_sharing_a_sub_ir_object_merge():
    ir = parse(text(SUB_IR_SRC))
    cond_eqn = ir.eqns[0]
    twin = cond_eqn.replace(outputs=[type(cond_eqn.outputs[0])(cond_eqn.outputs[0].aval)])
    ir = ir.replace(eqns=[cond_eqn, twin], outvars=[cond_eqn.outputs[0], twin.outputs[0]])
    out = cse_dce(ir)
    assert len(out.eqns) == 1 and out.outvars[0] is out.outvars[1]
    # the rewritten branch stays one object, shared as before
    assert "sin d\n" in str(out) and str(out).count("sin") == 1


def test_equal_but_distinct_sub_irs_are_not_merged():
    src = """
    { lambda ; a:bool[] b:f64[3]. let
        c:f64[3] = cond[
          branches=(
            { lambda ; d:f64[3]. let
              in (d,) }
            { lambda ; e:f64[3]. let
              in (e,) }
          )
        ] a b
        f:f64[3] = cond[
          branches=(
            { lambda ; g:f64[3]. let
              in (g,) }
            { lambda ; h:f64[3]. let
              in (h,) }
          )
        ] a b
      in (c, f) }
    """
    ir = parse(text(src))
    assert cse(ir) is ir


def test_nan_literals_of_two_signs_stay_apart():
    # copysign and signbit read a NaN's sign: `add b nan` and `add b -nan` differ
    import pullback as pb

    x = np.array([1.0, -1.0])
    f = lambda x: (np.copysign(1.0, x * 0 + np.nan), np.copysign(1.0, x * 0 + (-np.nan)))
    for backend in ("numba", "interpreter"):
        pos, neg = pb.jit(f, backend=backend)(x)
        np.testing.assert_array_equal(pos, [1.0, 1.0])
        np.testing.assert_array_equal(neg, [-1.0, -1.0])
