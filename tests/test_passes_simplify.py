"""simplify: one text-in/text-out case per rule (and per rule it must NOT apply).

simplify leaves the equations it bypasses in place (dead); DCE removes them.
Every case also checks that the interpreter gives bitwise-identical results on
inputs with nan, inf and -0.0 mixed in.
"""
import numpy as np
import pytest

from pullback.ir import parse
from pullback.passes.simplify import MAX_FOLD_SIZE, simplify
from passes_util import check_pass, text

CASES = {
    "mul_by_one_right": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = mul a 1.0
          in (b,) }
        """,
        """
        { lambda ; a:f64[3]. let
          in (a,) }
        """,
    ),
    "mul_by_one_left_grad_of_sin": (
        """
        { lambda ; a:f64[]. let
            b:f64[] = sin a
            c:f64[] = cos a
            d:f64[] = mul 1.0 c
          in (d,) }
        """,
        """
        { lambda ; a:f64[]. let
            b:f64[] = sin a
            c:f64[] = cos a
          in (c,) }
        """,
    ),
    "mul_by_broadcast_one": (
        """
        { lambda ; a:f32[2]. let
            b:f32[2] = broadcast_in_dim[broadcast_dimensions=(), shape=(2,)] 1.0:f32[]
            c:f32[2] = mul b a
          in (c,) }
        """,
        """
        { lambda ; a:f32[2]. let
            b:f32[2] = broadcast_in_dim[broadcast_dimensions=(), shape=(2,)] 1.0:f32[]
          in (a,) }
        """,
    ),
    "mul_by_one_keeps_broadcast_shape": (  # 1.0 times a 0-d var of another shape: no
        """
        { lambda ; a:f64[]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 1.0
            c:f64[] = sin a
            d:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] c
            e:f64[3] = mul b d
          in (e,) }
        """,
        """
        { lambda ; a:f64[]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 1.0
            c:f64[] = sin a
            d:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] c
          in (d,) }
        """,
    ),
    "mul_by_zero_stays": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = mul a 0.0
          in (b,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = mul a 0.0
          in (b,) }
        """,
    ),
    "int_mul_by_one": (
        """
        { lambda ; a:i32[4]. let
            b:i32[4] = mul 1:i32[] a
          in (b,) }
        """,
        """
        { lambda ; a:i32[4]. let
          in (a,) }
        """,
    ),
    "div_by_one": (
        """
        { lambda ; a:f64[2] b:i64[2]. let
            c:f64[2] = div a 1.0
            d:i64[2] = div b 1
            e:f64[2] = div 1.0 a
          in (c, d, e) }
        """,
        """
        { lambda ; a:f64[2] b:i64[2]. let
            c:f64[2] = div 1.0 a
          in (a, b, c) }
        """,
    ),
    "add_negative_zero_only": (  # x + -0.0 == x for all x; x + 0.0 is -0.0 -> 0.0
        """
        { lambda ; a:f64[3] b:i64[3]. let
            c:f64[3] = add a -0.0
            d:f64[3] = add -0.0 a
            e:f64[3] = add a 0.0
            f:i64[3] = add 0 b
          in (c, d, e, f) }
        """,
        """
        { lambda ; a:f64[3] b:i64[3]. let
            c:f64[3] = add a 0.0
          in (a, a, c, b) }
        """,
    ),
    "sub_positive_zero_only": (  # x - 0.0 == x for all x; x - -0.0 is not; 0 - x is not
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sub a 0.0
            c:f64[3] = sub a -0.0
            d:f64[3] = sub 0.0 a
          in (b, c, d) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sub a -0.0
            c:f64[3] = sub 0.0 a
          in (a, b, c) }
        """,
    ),
    "x_minus_x_stays": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sub a a
            c:f64[3] = mul b 0.0
          in (c,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = sub a a
            c:f64[3] = mul b 0.0
          in (c,) }
        """,
    ),
    "neg_neg": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = neg a
            c:f64[3] = neg b
            d:f64[3] = neg c
          in (c, d) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = neg a
            c:f64[3] = neg a
          in (a, c) }
        """,
    ),
    "integer_pow_one": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = integer_pow[y=1] a
            c:f64[3] = integer_pow[y=2] a
          in (b, c) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = integer_pow[y=2] a
          in (a, b) }
        """,
    ),
    "transpose_of_transpose_identity": (
        """
        { lambda ; a:f64[2,3]. let
            b:f64[3,2] = transpose[permutation=(1, 0)] a
            c:f64[2,3] = transpose[permutation=(1, 0)] b
          in (c,) }
        """,
        """
        { lambda ; a:f64[2,3]. let
            b:f64[3,2] = transpose[permutation=(1, 0)] a
          in (a,) }
        """,
    ),
    "transpose_of_transpose_composed": (
        """
        { lambda ; a:f64[2,3,4]. let
            b:f64[3,4,2] = transpose[permutation=(1, 2, 0)] a
            c:f64[4,3,2] = transpose[permutation=(1, 0, 2)] b
          in (c,) }
        """,
        """
        { lambda ; a:f64[2,3,4]. let
            b:f64[3,4,2] = transpose[permutation=(1, 2, 0)] a
            c:f64[4,3,2] = transpose[permutation=(2, 1, 0)] a
          in (c,) }
        """,
    ),
    "reshape_of_reshape": (
        """
        { lambda ; a:f64[2,6]. let
            b:f64[12] = reshape[shape=(12,)] a
            c:f64[3,4] = reshape[shape=(3, 4)] b
            d:f64[2,6] = reshape[shape=(2, 6)] c
          in (c, d) }
        """,
        """
        { lambda ; a:f64[2,6]. let
            b:f64[12] = reshape[shape=(12,)] a
            c:f64[3,4] = reshape[shape=(3, 4)] a
          in (c, a) }
        """,
    ),
    "broadcast_of_broadcast": (
        """
        { lambda ; a:f64[3]. let
            b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(2, 3)] a
            c:f64[2,4,3] = broadcast_in_dim[broadcast_dimensions=(0, 2), shape=(2, 4, 3)] b
          in (c,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(2, 3)] a
            c:f64[2,4,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(2, 4, 3)] a
          in (c,) }
        """,
    ),
    "slice_of_broadcast_axes": (  # rows of a broadcast: a smaller broadcast; a real
        # slice of a source axis stays a slice
        """
        { lambda ; a:f64[3] b:f64[1,3]. let
            c:f64[5,2,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(5, 2, 3)] a
            d:f64[1,2,3] = slice[limit_indices=(4, 2, 3), start_indices=(3, 0, 0), strides=(1, 1, 1)] c
            e:f64[5,2,3] = broadcast_in_dim[broadcast_dimensions=(1, 2), shape=(5, 2, 3)] b
            f:f64[5,1,3] = slice[limit_indices=(5, 2, 3), start_indices=(0, 1, 0), strides=(1, 1, 1)] e
            g:f64[5,2,2] = slice[limit_indices=(5, 2, 3), start_indices=(0, 0, 1), strides=(1, 1, 1)] e
          in (d, f, g) }
        """,
        """
        { lambda ; a:f64[3] b:f64[1,3]. let
            c:f64[5,2,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(5, 2, 3)] a
            d:f64[1,2,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(1, 2, 3)] a
            e:f64[5,2,3] = broadcast_in_dim[broadcast_dimensions=(1, 2), shape=(5, 2, 3)] b
            f:f64[5,1,3] = broadcast_in_dim[broadcast_dimensions=(1, 2), shape=(5, 1, 3)] b
            g:f64[5,2,2] = slice[limit_indices=(5, 2, 3), start_indices=(0, 0, 1), strides=(1, 1, 1)] e
          in (d, f, g) }
        """,
    ),
    "reshape_of_broadcast_unit_axes": (  # unit axes the broadcast made come or go
        """
        { lambda ; a:f64[3]. let
            b:f64[1,3] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(1, 3)] a
            c:f64[3] = reshape[shape=(3,)] b
            d:f64[2,1,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(2, 1, 3)] a
            e:f64[2,3,1] = reshape[shape=(2, 3, 1)] d
            f:f64[6] = reshape[shape=(6,)] d
          in (c, e, f) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[1,3] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(1, 3)] a
            c:f64[2,1,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(2, 1, 3)] a
            d:f64[2,3,1] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(2, 3, 1)] a
            e:f64[6] = reshape[shape=(6,)] c
          in (a, d, e) }
        """,
    ),
    "broadcast_to_own_shape": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(3,)] a
          in (b,) }
        """,
        """
        { lambda ; a:f64[3]. let
          in (a,) }
        """,
    ),
    "convert_to_same_dtype": (
        """
        { lambda ; a:f32[3]. let
            b:f32[3] = convert_element_type[new_dtype=f32] a
            c:f64[3] = convert_element_type[new_dtype=f64] b
          in (c,) }
        """,
        """
        { lambda ; a:f32[3]. let
            b:f64[3] = convert_element_type[new_dtype=f64] a
          in (b,) }
        """,
    ),
    "select_constant_predicate": (
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:bool[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] True
            d:f64[3] = select c a b
            e:bool[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] False
            f:f64[3] = select e a b
          in (d, f) }
        """,
        """
        { lambda ; a:f64[3] b:f64[3]. let
            c:bool[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] True
            d:bool[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] False
          in (a, b) }
        """,
    ),
    "select_same_branches": (
        """
        { lambda ; a:bool[3] b:f64[3]. let
            c:f64[3] = select a b b
          in (c,) }
        """,
        """
        { lambda ; a:bool[3] b:f64[3]. let
          in (b,) }
        """,
    ),
    "slice_of_everything": (
        """
        { lambda ; a:f64[4,1]. let
            b:f64[4,1] = slice[limit_indices=(4, 1), start_indices=(0, 0), strides=(1, 3)] a
            c:f64[2,1] = slice[limit_indices=(4, 1), start_indices=(0, 0), strides=(2, 1)] a
          in (b, c) }
        """,
        """
        { lambda ; a:f64[4,1]. let
            b:f64[2,1] = slice[limit_indices=(4, 1), start_indices=(0, 0), strides=(2, 1)] a
          in (a, b) }
        """,
    ),
    "reductions_over_no_axes": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = reduce_sum[axes=()] a
            c:f64[3] = reduce_max[axes=()] b
            d:f64[] = reduce_sum[axes=(0,)] c
          in (d,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[] = reduce_sum[axes=(0,)] a
          in (b,) }
        """,
    ),
    "mul_self_is_square": (  # the reference integer_pow[y=2] is x * x
        """
        { lambda ; a:f64[3] b:i32[3]. let
            c:f64[3] = mul a a
            d:i32[3] = mul b b
          in (c, d) }
        """,
        """
        { lambda ; a:f64[3] b:i32[3]. let
            c:f64[3] = integer_pow[y=2] a
            d:i32[3] = integer_pow[y=2] b
          in (c, d) }
        """,
    ),
    "splat_operand_becomes_literal": (
        """
        { lambda ; a:f64[3] b:bool[3]. let
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.5
            d:f64[3] = div c a
            e:f64[3] = select b c a
            f:bool[3] = lt a c
          in (d, e, f) }
        """,
        """
        { lambda ; a:f64[3] b:bool[3]. let
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.5
            d:f64[3] = div 2.5 a
            e:f64[3] = select b 2.5 a
            f:bool[3] = lt a 2.5
          in (d, e, f) }
        """,
    ),
    "splat_operands_keep_one_full_shape": (  # two splats: the shape must come from one
        """
        { lambda ; a:f64[]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.5
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] a
            d:f64[3] = sub b c
          in (d,) }
        """,
        """
        { lambda ; a:f64[]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.5
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] a
            d:f64[3] = sub 2.5 c
          in (d,) }
        """,
    ),
    "shape_ops_of_a_splat": (
        """
        { lambda ; a:f64[3,2]. let
            b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(), shape=(2, 3)] 0.0
            c:f64[3,2] = transpose[permutation=(1, 0)] b
            d:f64[6] = reshape[shape=(6,)] b
            e:f64[2,3] = rev[dimensions=(0,)] b
            f:f64[1,3] = slice[limit_indices=(2, 3), start_indices=(1, 0), strides=(1, 1)] b
            g:f64[3,2] = add a c
          in (g, d, e, f) }
        """,
        """
        { lambda ; a:f64[3,2]. let
            b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(), shape=(2, 3)] 0.0
            c:f64[3,2] = broadcast_in_dim[broadcast_dimensions=(), shape=(3, 2)] 0.0
            d:f64[6] = broadcast_in_dim[broadcast_dimensions=(), shape=(6,)] 0.0
            e:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(), shape=(2, 3)] 0.0
            f:f64[1,3] = broadcast_in_dim[broadcast_dimensions=(), shape=(1, 3)] 0.0
            g:f64[3,2] = add a 0.0
          in (g, d, e, f) }
        """,
    ),
    "stop_gradient_stays": (
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = stop_gradient a
          in (b,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = stop_gradient a
          in (b,) }
        """,
    ),
    "fold_int_division_by_zero_like_the_interpreter": (
        """
        { lambda ; a:i64[]. let
            b:i64[] = div 7 0
            c:i64[] = add a b
          in (c,) }
        """,
        """
        { lambda ; a:i64[]. let
          in (a,) }
        """,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule(name):
    src, expected = CASES[name]
    check_pass(simplify, src, expected)


def test_fold_scalar_value():
    out = check_pass(
        simplify,
        """
        { lambda ; a:f64[]. let
            b:f64[] = sin 1.0
            c:f64[] = mul b 2.0
            d:f64[] = add a c
          in (d,) }
        """,
        f"""
        {{ lambda ; a:f64[]. let
            b:f64[] = add a {float(2 * np.sin(1.0))!r}
          in (b,) }}
        """,
    )
    assert out.eqns[0].inputs[1].val == np.float64(2) * np.sin(np.float64(1.0))


def test_fold_array_constants_into_a_new_constvar():
    c = np.arange(6.0).reshape(2, 3)
    src = """
    { lambda a:f64[2,3] ; b:f64[3,2]. let
        c:f64[3,2] = transpose[permutation=(1, 0)] a
        d:f64[3,2] = exp c
        e:f64[3,2] = add b d
      in (e,) }
    """
    out = check_pass(
        simplify,
        src,
        """
        { lambda a:f64[2,3] b:f64[3,2] c:f64[3,2] ; d:f64[3,2]. let
            e:f64[3,2] = add d c
          in (e,) }
        """,
        consts=[c],
    )
    np.testing.assert_array_equal(out.consts[2], np.exp(c.T))


def test_fold_only_concrete_constants():
    # a parsed constant without a value (like a tracer of an enclosing trace) is unknown
    src = """
    { lambda a:f64[3] ; b:f64[3]. let
        c:f64[3] = exp a
        d:f64[3] = add b c
      in (d,) }
    """
    ir = parse(text(src))
    assert str(simplify(ir)) == text(src)


def test_fold_is_bounded_in_size():
    n = MAX_FOLD_SIZE + 1
    src = f"""
    {{ lambda a:f64[{n}] ; b:f64[{n}]. let
        c:f64[{n}] = exp a
        d:f64[{n}] = add b c
      in (d,) }}
    """
    ir = parse(text(src), consts=[np.zeros(n)])
    assert simplify(ir) is ir


def test_splat_and_iota_are_not_materialized():
    src = """
    { lambda ; a:f64[3]. let
        b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
        c:i64[3] = iota[dimension=0, dtype=i64, shape=(3,)]
        d:f64[3] = convert_element_type[new_dtype=f64] c
        e:f64[3] = mul b d
        f:f64[3] = add a e
      in (f,) }
    """
    # the splat is used as a literal operand instead, but nothing is stored
    check_pass(
        simplify,
        src,
        """
        { lambda ; a:f64[3]. let
            b:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
            c:i64[3] = iota[dimension=0, dtype=i64, shape=(3,)]
            d:f64[3] = convert_element_type[new_dtype=f64] c
            e:f64[3] = mul 2.0 d
            f:f64[3] = add a e
          in (f,) }
        """,
    )


def test_constant_predicate_from_a_constant_array():
    out = check_pass(
        simplify,
        """
        { lambda a:bool[2] ; b:f64[2] c:f64[2]. let
            d:f64[2] = select a b c
          in (d,) }
        """,
        """
        { lambda a:bool[2] ; b:f64[2] c:f64[2]. let
          in (b,) }
        """,
        consts=[np.array([True, True])],
    )
    assert len(out.consts) == 1  # unused now, but simplify keeps it: that is DCE's job
    src = """
    { lambda a:bool[2] ; b:f64[2] c:f64[2]. let
        d:f64[2] = select a b c
      in (d,) }
    """
    mixed = parse(text(src), consts=[np.array([True, False])])
    assert simplify(mixed) is mixed


def test_unchanged_ir_is_returned_as_is():
    ir = parse(text(CASES["stop_gradient_stays"][0]))
    assert simplify(ir) is ir


# ---------------------------------------------------------------- sub-IR operands
from pullback.ir import control_flow  # noqa: E402,F401  (registers cond, scan, while)


def test_cond_known_operands_move_into_the_branches():
    check_pass(
        simplify,
        """
        { lambda ; a:bool[] b:f64[3]. let
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
            d:f64[3] e:f64[] = cond[
              branches=(
                { lambda ; f:f64[] g:f64[3] h:f64[3]. let
                    i:f64[3] = mul g h
                  in (i, f) }
                { lambda ; j:f64[] k:f64[3] l:f64[3]. let
                    m:f64[] = sin j
                  in (k, m) }
              )
            ] a 1.0 b c
          in (d, e) }
        """,
        """
        { lambda ; a:bool[] b:f64[3]. let
            c:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
            d:f64[3] e:f64[] = cond[
              branches=(
                { lambda ; f:f64[3]. let
                    g:f64[] = broadcast_in_dim[broadcast_dimensions=(), shape=()] 1.0
                    h:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
                    i:f64[3] = mul f h
                  in (i, g) }
                { lambda ; j:f64[3]. let
                    k:f64[] = broadcast_in_dim[broadcast_dimensions=(), shape=()] 1.0
                    l:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] 2.0
                    m:f64[] = sin k
                  in (j, m) }
              )
            ] a b
          in (d, e) }
        """,
        values=False,
    )


def test_scan_known_consts_and_xs_move_in_carries_stay():
    src = """
    { lambda ; a:f64[] b:f64[4]. let
        c:f64[4,2] = broadcast_in_dim[broadcast_dimensions=(), shape=(4, 2)] 0.0
        d:f64[] e:f64[4,2] = scan[
          body={ lambda ; f:f64[] g:f64[] h:f64[] i:f64[2]. let
              j:f64[] = mul f h
              k:f64[] = add g j
              l:f64[2] = broadcast_in_dim[broadcast_dimensions=(), shape=(2,)] k
              m:f64[2] = add l i
            in (k, m) }
          length=4
          num_carry=1
          num_consts=1
          reverse=False
        ] 3.0 1.0 b c
      in (d, e) }
    """
    check_pass(
        simplify,
        src,
        """
        { lambda ; a:f64[] b:f64[4]. let
            c:f64[4,2] = broadcast_in_dim[broadcast_dimensions=(), shape=(4, 2)] 0.0
            d:f64[] e:f64[4,2] = scan[
              body={ lambda ; f:f64[] g:f64[]. let
                  h:f64[] = broadcast_in_dim[broadcast_dimensions=(), shape=()] 3.0
                  i:f64[2] = broadcast_in_dim[broadcast_dimensions=(), shape=(2,)] 0.0
                  j:f64[] = mul h g
                  k:f64[] = add f j
                  l:f64[2] = broadcast_in_dim[broadcast_dimensions=(), shape=(2,)] k
                  m:f64[2] = add l i
                in (k, m) }
              length=4
              num_carry=1
              num_consts=0
              reverse=False
            ] 1.0 b
          in (d, e) }
        """,
        values=False,
    )
    # the next round folds the moved constants inside the body
    from pullback.passes.manager import optimize

    out = optimize(parse(text(src)))
    body = out.eqns[0].params["body"]
    assert [e.prim.name for e in body.eqns] == ["mul", "add", "broadcast_in_dim", "add"]
    assert str(body.eqns[0].inputs[0].val) == "3.0" and body.eqns[3].inputs[1].val == 0.0


def test_while_known_constants_move_in():
    check_pass(
        simplify,
        """
        { lambda ; a:f64[3]. let
            b:i64[] c:f64[3] = while[
              body={ lambda ; d:f64[] e:i64[] f:f64[3]. let
                  g:i64[] = add e 1
                  h:f64[] = sin d
                  i:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] h
                  j:f64[3] = mul f i
                in (g, j) }
              body_nconsts=1
              cond={ lambda ; k:i64[] l:i64[] m:f64[3]. let
                  n:bool[] = lt l k
                in (n,) }
              cond_nconsts=1
            ] 5 0.5 0 a
          in (c,) }
        """,
        """
        { lambda ; a:f64[3]. let
            b:i64[] c:f64[3] = while[
              body={ lambda ; d:i64[] e:f64[3]. let
                  f:f64[] = broadcast_in_dim[broadcast_dimensions=(), shape=()] 0.5
                  g:i64[] = add d 1
                  h:f64[] = sin f
                  i:f64[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] h
                  j:f64[3] = mul e i
                in (g, j) }
              body_nconsts=0
              cond={ lambda ; k:i64[] l:f64[3]. let
                  m:i64[] = broadcast_in_dim[broadcast_dimensions=(), shape=()] 5
                  n:bool[] = lt k m
                in (n,) }
              cond_nconsts=0
            ] 0 a
          in (c,) }
        """,
        values=False,
    )
