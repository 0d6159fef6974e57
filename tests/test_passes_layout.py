"""layout (sink_layout): transposes, unit reshapes and pads move toward the inputs.

Text-in/text-out cases, one per rule and per place the pass must stop; each also
checks bitwise-equal interpreter results on inputs with nan, inf and -0.0. Then the
Rosenbrock Hessian (the benchmark workload the pass was written for) and a
hypothesis property test on random layout-heavy programs: bitwise-equal results,
typecheck, idempotence.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.ir import ShapedArray, parse, typecheck
from pullback.ir import primitives as P
from pullback.passes.layout import sink_layout
from pullback.passes.manager import optimize
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import assert_same_results, check_pass, text


def test_transpose_crosses_elementwise_ops():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3] b:f64[2,3]. let
        c:f64[2,3] = add a b
        d:f64[2,3] = mul c 2.0
        e:f64[3,2] = transpose[permutation=(1, 0)] d
      in (e,) }
    """, """
    { lambda ; a:f64[2,3] b:f64[2,3]. let
        c:f64[3,2] = transpose[permutation=(1, 0)] a
        d:f64[3,2] = transpose[permutation=(1, 0)] b
        e:f64[3,2] = add c d
        f:f64[3,2] = mul e 2.0
      in (f,) }
    """)


def test_transpose_of_a_broadcast_is_a_broadcast():
    # a's axes land in reversed order: a smaller transpose of a; b needs none
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3] b:f64[3] c:f64[2,4,3]. let
        d:f64[2,4,3] = broadcast_in_dim[broadcast_dimensions=(0, 2), shape=(2, 4, 3)] a
        e:f64[2,4,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(2, 4, 3)] b
        f:f64[2,4,3] = add d e
        g:f64[2,4,3] = sub f c
        h:f64[3,4,2] = transpose[permutation=(2, 1, 0)] g
      in (h,) }
    """, """
    { lambda ; a:f64[2,3] b:f64[3] c:f64[2,4,3]. let
        d:f64[3,2] = transpose[permutation=(1, 0)] a
        e:f64[3,4,2] = broadcast_in_dim[broadcast_dimensions=(0, 2), shape=(3, 4, 2)] d
        f:f64[3,4,2] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(3, 4, 2)] b
        g:f64[3,4,2] = add e f
        h:f64[3,4,2] = transpose[permutation=(2, 1, 0)] c
        i:f64[3,4,2] = sub g h
      in (i,) }
    """)


def test_transpose_crosses_pad_rev_slice_and_iota():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3]. let
        b:f64[3,4] = pad[padding_config=((1, 0, 0), (0, 1, 0))] a 0.0
        c:f64[3,4] = rev[dimensions=(0,)] b
        d:f64[2,4] = slice[limit_indices=(3, 4), start_indices=(1, 0), strides=(1, 1)] c
        e:f64[2,4] = iota[dimension=1, dtype=f64, shape=(2, 4)]
        f:f64[2,4] = add d e
        g:f64[4,2] = transpose[permutation=(1, 0)] f
      in (g,) }
    """, """
    { lambda ; a:f64[2,3]. let
        b:f64[3,2] = transpose[permutation=(1, 0)] a
        c:f64[4,3] = pad[padding_config=((0, 1, 0), (1, 0, 0))] b 0.0
        d:f64[4,3] = rev[dimensions=(1,)] c
        e:f64[4,2] = slice[limit_indices=(4, 3), start_indices=(0, 1), strides=(1, 1)] d
        f:f64[4,2] = iota[dimension=0, dtype=f64, shape=(4, 2)]
        g:f64[4,2] = add e f
      in (g,) }
    """)


def test_transposes_compose_on_the_way():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3,4]. let
        b:f64[4,3,2] = transpose[permutation=(2, 1, 0)] a
        c:f64[4,3,2] = neg b
        d:f64[3,4,2] = transpose[permutation=(1, 0, 2)] c
      in (d,) }
    """, """
    { lambda ; a:f64[2,3,4]. let
        b:f64[3,4,2] = transpose[permutation=(1, 2, 0)] a
        c:f64[3,4,2] = neg b
      in (c,) }
    """)


def test_unit_reshape_drops_the_size_one_axis_down_the_chain():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3] b:f64[2,1,3] c:f64[3]. let
        d:f64[2,1,3] = broadcast_in_dim[broadcast_dimensions=(0, 2), shape=(2, 1, 3)] a
        e:f64[2,1,3] = broadcast_in_dim[broadcast_dimensions=(2,), shape=(2, 1, 3)] c
        f:f64[2,1,3] = mul d e
        g:f64[2,1,3] = add f b
        h:f64[2,1,4] = pad[padding_config=((0, 0, 0), (0, 0, 0), (0, 1, 0))] g 0.0
        i:f64[2,4] = reshape[shape=(2, 4)] h
      in (i,) }
    """, """
    { lambda ; a:f64[2,3] b:f64[2,1,3] c:f64[3]. let
        d:f64[2,4] = pad[padding_config=((0, 0, 0), (0, 1, 0))] a 0.0
        e:f64[2,4] = broadcast_in_dim[broadcast_dimensions=(0, 1), shape=(2, 4)] d
        f:f64[4] = pad[padding_config=((0, 1, 0),)] c 0.0
        g:f64[2,4] = broadcast_in_dim[broadcast_dimensions=(1,), shape=(2, 4)] f
        h:f64[2,4] = mul e g
        i:f64[2,3] = reshape[shape=(2, 3)] b
        j:f64[2,4] = pad[padding_config=((0, 0, 0), (0, 1, 0))] i 0.0
        k:f64[2,4] = add h j
      in (k,) }
    """)


def test_pad_values_of_operands_reproduce_the_pad_value():
    # sub(d, 1.0) = -1.0 needs d = 0.0 (or -0.0); mul(c, b) = 0.0 with c = b = 0.0;
    # neg(a) = 0.0 needs a = -0.0
    check_pass(sink_layout, """
    { lambda ; a:f64[4] b:f64[4]. let
        c:f64[4] = neg a
        d:f64[4] = mul c b
        e:f64[4] = sub d 1.0
        f:f64[5] = pad[padding_config=((1, 0, 0),)] e -1.0
      in (f,) }
    """, """
    { lambda ; a:f64[4] b:f64[4]. let
        c:f64[5] = pad[padding_config=((1, 0, 0),)] a -0.0
        d:f64[5] = neg c
        e:f64[5] = pad[padding_config=((1, 0, 0),)] b 0.0
        f:f64[5] = mul d e
        g:f64[5] = sub f 1.0
      in (g,) }
    """)


def test_pad_values_across_dtypes():
    # lt(0.0, 1.0) is True; convert(7.0) is 7
    check_pass(sink_layout, """
    { lambda ; a:f64[4] b:f64[4]. let
        c:bool[4] = lt a b
        d:bool[5] = pad[padding_config=((0, 1, 0),)] c True
        e:i64[4] = convert_element_type[new_dtype=i64] a
        f:i64[5] = pad[padding_config=((1, 0, 0),)] e 7
      in (d, f) }
    """, """
    { lambda ; a:f64[4] b:f64[4]. let
        c:f64[5] = pad[padding_config=((0, 1, 0),)] a 0.0
        d:f64[5] = pad[padding_config=((0, 1, 0),)] b 1.0
        e:bool[5] = lt c d
        f:f64[5] = pad[padding_config=((1, 0, 0),)] a 7.0
        g:i64[5] = convert_element_type[new_dtype=i64] f
      in (e, g) }
    """)


def test_pad_stops_where_no_operand_value_gives_the_pad_value():
    # abs(x) is never -0.0; x > 0.0 is a bool, so 2.5 is out of reach too
    src = """
    { lambda ; a:f64[4]. let
        b:f64[4] = abs a
        c:f64[5] = pad[padding_config=((1, 0, 0),)] b -0.0
        d:f64[4] = mul a 3.0
        e:f64[5] = pad[padding_config=((0, 1, 0),)] d 2.5
      in (c, e) }
    """
    check_pass(sink_layout, src, src)


def test_pad_crosses_a_broadcast_only_along_the_operands_own_axes():
    check_pass(sink_layout, """
    { lambda ; a:f64[4] b:f64[4,3]. let
        c:f64[4,3] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(4, 3)] a
        d:f64[4,3] = mul c b
        e:f64[5,3] = pad[padding_config=((0, 1, 0), (0, 0, 0))] d 0.0
        f:f64[4,3] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(4, 3)] a
        g:f64[4,4] = pad[padding_config=((0, 0, 0), (1, 0, 0))] f 0.0
      in (e, g) }
    """, """
    { lambda ; a:f64[4] b:f64[4,3]. let
        c:f64[5] = pad[padding_config=((0, 1, 0),)] a 0.0
        d:f64[5,3] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(5, 3)] c
        e:f64[5,3] = pad[padding_config=((0, 1, 0), (0, 0, 0))] b 0.0
        f:f64[5,3] = mul d e
        g:f64[4,3] = broadcast_in_dim[broadcast_dimensions=(0,), shape=(4, 3)] a
        h:f64[4,4] = pad[padding_config=((0, 0, 0), (1, 0, 0))] g 0.0
      in (f, h) }
    """)


def test_pads_with_the_same_value_merge():
    check_pass(sink_layout, """
    { lambda ; a:f64[8]. let
        b:f64[9] = pad[padding_config=((1, 0, 0),)] a 0.0
        c:f64[10] = pad[padding_config=((0, 1, 0),)] b 0.0
      in (c,) }
    """, """
    { lambda ; a:f64[8]. let
        b:f64[10] = pad[padding_config=((1, 1, 0),)] a 0.0
      in (b,) }
    """)


def test_a_pad_that_grows_the_operand_a_lot_stays():
    src = """
    { lambda ; a:f64[4]. let
        b:f64[4] = neg a
        c:f64[40] = pad[padding_config=((0, 36, 0),)] b -0.0
      in (c,) }
    """
    check_pass(sink_layout, src, src)


def test_stops_at_transcendental_reductions_products_other_uses_and_general_reshapes():
    src = """
    { lambda ; a:f64[2,3] b:f64[3,3]. let
        c:f64[2,3] = exp a
        d:f64[3,2] = transpose[permutation=(1, 0)] c
        e:f64[2] = reduce_sum[axes=(1,)] a
        f:f64[2,1] = reshape[shape=(2, 1)] e
        g:f64[2,3] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] a b
        h:f64[3,2] = transpose[permutation=(1, 0)] g
        i:f64[2,3] = neg a
        j:f64[3,2] = transpose[permutation=(1, 0)] i
        k:f64[2,3] = add i 1.0
        l:f64[2,3] = sub a 1.0
        m:f64[6] = reshape[shape=(6,)] l
        n:f64[2,3] = mul a a
        o:f64[3,2] = transpose[permutation=(1, 0)] n
      in (d, f, h, j, k, m, n, o) }
    """
    check_pass(sink_layout, src, src)


def test_a_transpose_only_a_product_reads_stays():
    # BLAS takes the transposed view as is; sunk, the neg loop would read `a` strided
    src = """
    { lambda ; a:f64[2,3] b:f64[2,4]. let
        c:f64[2,3] = neg a
        d:f64[3,2] = transpose[permutation=(1, 0)] c
        e:f64[3,4] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] d b
      in (e,) }
    """
    check_pass(sink_layout, src, src)


def test_duplicate_layout_ops_merge_and_nothing_is_computed_twice():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3]. let
        b:f64[2,3] = abs a
        c:f64[3,2] = transpose[permutation=(1, 0)] b
        d:f64[3,2] = transpose[permutation=(1, 0)] b
        e:f64[3,2] = mul c d
      in (e,) }
    """, """
    { lambda ; a:f64[2,3]. let
        b:f64[3,2] = transpose[permutation=(1, 0)] a
        c:f64[3,2] = abs b
        d:f64[3,2] = mul c c
      in (d,) }
    """)


def test_inside_a_scan_body():
    check_pass(sink_layout, """
    { lambda ; a:f64[2,3] b:f64[4,2,3]. let
        c:f64[2,3] d:f64[4,3,2] = scan[
          body={ lambda ; e:f64[2,3] f:f64[2,3]. let
              g:f64[2,3] = add e f
              h:f64[3,2] = transpose[permutation=(1, 0)] g
            in (g, h) }
          length=4
          num_carry=1
          num_consts=0
          reverse=False
        ] a b
      in (c, d) }
    """, """
    { lambda ; a:f64[2,3] b:f64[4,2,3]. let
        c:f64[2,3] d:f64[4,3,2] = scan[
          body={ lambda ; e:f64[2,3] f:f64[2,3]. let
              g:f64[2,3] = add e f
              h:f64[3,2] = transpose[permutation=(1, 0)] g
            in (g, h) }
          length=4
          num_carry=1
          num_consts=0
          reverse=False
        ] a b
      in (c, d) }
    """)


def test_unchanged_ir_is_returned_as_is():
    ir = parse(text("""
    { lambda ; a:f64[2,3]. let
        b:f64[3,2] = transpose[permutation=(1, 0)] a
      in (b,) }
    """))
    assert sink_layout(ir) is ir


# ---------------------------------------------------------------- the workload
def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosenbrock_hessian(x):
    n = x.shape[0]
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    h[i + 1, i + 1] += 200.0
    h[i, i + 1] = h[i + 1, i] = -400.0 * x[:-1]
    return h


def test_rosenbrock_hessian_computes_in_the_output_order():
    x = np.random.default_rng(3).uniform(-2.0, 2.0, 30)
    raw = pb.make_ir(pb.hessian(_rosenbrock))(x)
    before = optimize(raw, passes=["simplify", "cse", "dce"] * 3)
    out = optimize(raw)
    typecheck(out)
    prims = [e.prim for e in out.eqns]
    # the transposed/reshaped result and the unit axis are gone: the last equation
    # writes the [n, n] output, no value has a size-1 axis
    assert P.transpose_p not in prims and P.reshape_p not in prims
    assert any(e.prim is P.transpose_p for e in before.eqns)
    assert out.eqns[-1].prim is P.add_p and out.outvars[0].aval.shape == (30, 30)
    assert all(1 not in v.aval.shape for e in out.eqns for v in e.outputs)
    assert_same_results(raw, out)
    from pullback.backends.interpreter import eval_ir

    (got,) = eval_ir(out, out.consts, [x])
    np.testing.assert_allclose(got, _rosenbrock_hessian(x), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(pb.jit(pb.hessian(_rosenbrock))(x), _rosenbrock_hessian(x),
                               rtol=1e-12, atol=1e-9)


# ---------------------------------------------------------------- property test
SHAPES = [(2, 3), (2, 1, 3), (1, 3), (3,), (2, 3, 2)]


def _bcast_up(x, shp):
    return lax.broadcast_to(x, shp) if lax.broadcast_shapes(lax.shape(x), shp) == shp else x


def _unit_reshape(choose, x):
    shp = list(lax.shape(x))
    if 1 in shp and choose(2):
        shp.remove(1)
    else:
        shp.insert(choose(len(shp) + 1), 1)
    return lax.reshape(x, shp)


def _transpose(choose, x):
    perm = list(range(lax.ndim(x)))
    for i in range(len(perm) - 1, 0, -1):  # a chosen permutation
        j = choose(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(x, perm)


PAD_VALUES = [0.0, -0.0, 1.0, -1.0, 2.5, np.nan]


def _pad(choose, x):
    if not lax.ndim(x):
        return None
    cfg = [(0, 0, 0)] * lax.ndim(x)
    k = choose(lax.ndim(x))
    cfg[k] = (choose(2), choose(2), choose(2) if lax.shape(x)[k] > 1 else 0)
    return lax.pad(x, lax.dtype(x).type(PAD_VALUES[choose(len(PAD_VALUES))]), cfg)


def _slice_rev(choose, x):
    if not lax.ndim(x):
        return None
    shp = lax.shape(x)
    k = choose(lax.ndim(x))
    if choose(2):
        return lax.rev(x, (k,))
    start = [0] * len(shp)
    start[k] = min(1, shp[k])
    return lax.slice(x, start, shp)


def _binary(fn):
    def op(choose, x, y):
        shp = lax.broadcast_shapes(lax.shape(x), lax.shape(y))
        return fn(_bcast_up(x, shp), _bcast_up(y, shp))

    return op


def _select(choose, x, y):
    shp = lax.broadcast_shapes(lax.shape(x), lax.shape(y))
    x, y = _bcast_up(x, shp), _bcast_up(y, shp)
    return lax.select(lax.lt(x, y), x, y)


def _iota(choose, x):
    if not lax.ndim(x):
        return None
    i = lax.iota(np.int64, lax.shape(x), choose(lax.ndim(x)))
    return lax.add(x, lax.convert(i, lax.dtype(x)))


def _with_const(choose, x):
    c = np.linspace(-2.0, 2.0, int(np.prod(lax.shape(x)))).reshape(lax.shape(x))
    return lax.mul(x, c.astype(lax.dtype(x)))


OPS = [
    (1, lambda c, x: lax.neg(x)), (1, lambda c, x: lax.abs(x)), (1, lambda c, x: lax.exp(x)),
    (1, lambda c, x: lax.sqrt(x)), (1, lambda c, x: lax.integer_pow(x, 2)),
    (1, lambda c, x: lax.mul(x, 2.0)), (1, lambda c, x: lax.sub(1.0, x)),
    (1, lambda c, x: lax.convert(lax.convert(x, np.float32), np.float64)),
    (1, lambda c, x: lax.reduce_sum(x, (0,)) if lax.ndim(x) else None),
    (1, _unit_reshape), (1, _transpose), (1, _transpose), (1, _pad), (1, _pad),
    (1, _slice_rev), (1, _iota), (1, _with_const),
    (2, _binary(lax.add)), (2, _binary(lax.mul)), (2, _binary(lax.sub)),
    (2, _binary(lax.div)), (2, _binary(lax.max)), (2, _select),
]


@st.composite
def layout_programs(draw):
    in_avals = [ShapedArray(s, np.float64)
                for s in draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))]
    ints = st.integers(0, 10**6)
    script = draw(st.lists(st.tuples(st.integers(0, len(OPS) - 1), ints, ints,
                                     st.lists(ints, min_size=8, max_size=8)),
                           min_size=2, max_size=12))
    tail = draw(st.lists(st.tuples(st.integers(0, 2), st.lists(ints, min_size=8, max_size=8)),
                         min_size=1, max_size=3))
    n_out = draw(st.integers(1, 3))

    def fn(*args):
        pool = list(args)
        for op_i, p1, p2, choices in script:
            arity, op = OPS[op_i]
            it = iter(choices * 4)
            choose = lambda n: next(it) % n  # noqa: E731
            x = pool[p1 % len(pool)]
            if arity == 2:
                ys = [p for p in pool if _broadcastable(lax.shape(p), lax.shape(x))]
                val = op(choose, x, ys[p2 % len(ys)])
            else:
                val = op(choose, x)
            if val is not None:
                pool.append(val)
        # layout ops at the end, where they cost the backend a copy
        last = pool[-1]
        for kind, choices in tail:
            it = iter(choices * 4)
            choose = lambda n: next(it) % n  # noqa: E731
            val = [_transpose, _unit_reshape, _pad][kind](choose, last)
            last = val if val is not None else last
        return [last] + pool[len(args):][-n_out:]

    return in_avals, fn


def _broadcastable(a, b):
    try:
        lax.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout_programs(), st.integers(0, 2**31 - 1))
def test_random_programs_keep_results_bitwise_and_typecheck(program, seed):
    in_avals, fn = program
    ir = trace(fn, in_avals)
    typecheck(ir)
    once = sink_layout(ir)
    typecheck(once)
    assert_same_results(ir, once, seed=seed, trials=2)
    assert sink_layout(once) is once  # a chain sinks in one run: nothing left to do
    out = optimize(ir)
    typecheck(out)
    assert_same_results(ir, out, seed=seed, trials=2)
    again = optimize(out)
    assert str(again) == str(out)
    assert sink_layout(out) is out


def test_literal_only_elementwise_equations_stay_where_they_are():
    ir = parse("{ lambda ; a:f64[]. let\n    b:f64[] = neg 2.0\n"
               "    c:f64[1] = reshape[shape=(1,)] b\n  in (c,) }")
    out = optimize(ir, ["layout"])
    typecheck(out)  # was: neg typed f64[1] on a 0-d literal
    assert pb.backends.interpreter.eval_ir(out, out.consts, [1.0])[0].shape == (1,)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_a_returned_transpose_merged_with_a_sunk_duplicate_stays_defined(backend):
    # before: the returned e.T was merged into the transpose sunk through `e - y`, which
    # a later unit reshape then sank into its producer: the output was left undefined
    def f(x, y):
        e = np.sin(x) + y
        return e.T, (e - y).T[:, None]

    x, y = np.ones((3, 4)), np.full((3, 4), 0.5)
    for got, want in zip(pb.jit(f, backend=backend)(x, y), f(x, y)):
        np.testing.assert_array_equal(got, want)
    A = np.array([[2.0, 1.0], [0.5, 3.0]])

    def g(v):  # batching makes the transposes
        gn = A @ v + v
        return gn, (gn - v)[None]

    def h(v):  # the same in a loop body, as an L-BFGS history update
        def body(i, c):
            gn, hist = c
            new = A @ gn * 0.5 + gn
            return new, np.concatenate([hist[1:], (new - gn)[None]])
        return pb.fori_loop(0, 3, body, (v, np.zeros((2, 2))))

    V = np.arange(4.0).reshape(2, 2)
    for fn in (g, h):
        for got, want in zip(pb.jit(pb.vmap(fn), backend=backend)(V), pb.vmap(fn)(V)):
            np.testing.assert_allclose(got, want, rtol=1e-14)
