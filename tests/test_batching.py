"""Batching: every primitive's rule against a Python loop over the batch, pb.vmap's API."""
import numpy as np
import pytest

import pullback as pb
from pullback.api import trace_to_ir
from pullback.backends.interpreter import eval_ir
from pullback.ir import primitives as P
from pullback.ir.typecheck import typecheck
from pullback.passes.batching import BatchingError, batch_rules, vmap_ir
from pullback.tracer import lax

B = 3
rng = np.random.default_rng(0)


# ---------------------------------------------------------------- helpers
def rand(shape, dtype=np.float64, lo=-1.0, hi=1.0):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(lo, hi, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    return rng.integers(int(lo), int(hi) + 1, shape).astype(dtype)


def with_batch(x, axis, size=B, **kw):
    """A batched version of example `x` with the batch at `axis` (None: x itself)."""
    if axis is None:
        return x
    x = np.asarray(x)
    shp = list(x.shape)
    shp.insert(axis % (x.ndim + 1), size)
    lo, hi = kw.get("lo", -1.0), kw.get("hi", 1.0)
    return rand(shp, x.dtype, lo, hi)


def loop(f, args, in_axes, out_axis=0):
    """The reference: f applied to each batch element, stacked along out_axis."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = []
    for b in range(size):
        outs.append(f(*[a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, in_axes)]))
    if isinstance(outs[0], tuple):
        return tuple(np.stack(o, axis=out_axis) for o in zip(*outs))
    return np.stack(outs, axis=out_axis)


def batched_ir(f, args, in_axes, out_axes=0):
    """Trace f on unbatched examples, batch it, typecheck the result."""
    examples = [a if ax is None else np.take(a, 0, axis=ax) for a, ax in zip(args, in_axes)]
    ir, _, _ = trace_to_ir(f, tuple(examples))
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    dims = [None if ax is None else ax % np.ndim(a) for a, ax in zip(args, in_axes)]
    bir = vmap_ir(ir, dims, size, out_axes)
    typecheck(bir)
    return bir


def check(f, args, in_axes, out_axes=0, rtol=1e-12, atol=1e-12):
    """vmap(f) == loop over f; the batched IR typechecks and evaluates to the same."""
    got = pb.vmap(f, in_axes=tuple(in_axes), out_axes=out_axes)(*args)
    want = loop(f, args, in_axes, out_axes)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    bir = batched_ir(f, args, in_axes, out_axes)
    (direct,) = eval_ir(bir, bir.consts, list(args))
    np.testing.assert_allclose(direct, want, rtol=rtol, atol=atol)
    return bir


def prims_of(ir):
    return [e.prim.name for e in ir.eqns]


# ---------------------------------------------------------------- coverage
def test_every_core_primitive_has_a_rule():
    # custom_vjp_linear only lives inside linearized IRs, between jvp and transpose;
    # vmap sees the transposed IR, where the user's bwd has been traced into primitives.
    core = [p for p in P.PRIMITIVES.values()
            if P.shape_rules[p].__module__ == P.__name__ and p.name != "custom_vjp_linear"]
    missing = [p.name for p in core if p not in batch_rules]
    assert len(core) > 60 and missing == []


# ---------------------------------------------------------------- elementwise
DOMAINS = {  # (lo, hi) where the function is defined and well conditioned
    "log": (0.2, 2.0), "log2": (0.2, 2.0), "log10": (0.2, 2.0), "sqrt": (0.2, 2.0),
    "rsqrt": (0.2, 2.0), "log1p": (0.2, 2.0),
    "acosh": (1.2, 3.0), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9),
    "pow": (0.2, 2.0),
}
UNARY_INT_OK = {"neg", "abs", "sign", "not"}
UNARY = [p for p in P.ELEMENTWISE if P.shape_rules[p].__qualname__.startswith("_unary")]
BINARY = [p for p in P.ELEMENTWISE if P.shape_rules[p].__qualname__.startswith("_binary")]


def _dtype_for(prim):
    if prim.name in ("and", "or", "not"):
        return np.bool_
    return np.float64


@pytest.mark.parametrize("prim", UNARY, ids=lambda p: p.name)
@pytest.mark.parametrize("shape,axis", [((4,), 0), ((2, 4), -1), ((2, 4), 1), ((), 0)])
def test_unary(prim, shape, axis):
    lo, hi = DOMAINS.get(prim.name, (-1.5, 1.5))
    x = with_batch(rand(shape, _dtype_for(prim)), axis, lo=lo, hi=hi)
    bir = check(lambda x: prim.bind(x), [x], [axis])
    # a unary op keeps the batch axis where it is (only the output is moved to out_axes)
    assert bir.eqns[0].prim is prim and bir.eqns[0].inputs[0] is bir.invars[0]


def test_unary_int_ops():
    x = rand((B, 5), np.int64, -4, 4)
    for name in ("neg", "abs", "sign"):
        check(lambda x: P.PRIMITIVES[name].bind(x), [x], [1])
    check(lambda x: P.not_p.bind(x), [x.astype(np.int32)], [0])


BINARY_AXES = [(0, 0), (1, None), (None, -1), (-1, 0), (None, 0), (0, -2)]


@pytest.mark.parametrize("prim", BINARY, ids=lambda p: p.name)
@pytest.mark.parametrize("axes", BINARY_AXES, ids=str)
def test_binary(prim, axes):
    dt = _dtype_for(prim)
    lo, hi = DOMAINS.get(prim.name, (-1.5, 1.5))
    if prim.name in ("div", "rem"):
        lo, hi = 0.5, 2.0
    x, y = rand((2, 4), dt, lo, hi), rand((2, 4), dt, lo, hi)
    args = [with_batch(x, axes[0], lo=lo, hi=hi), with_batch(y, axes[1], lo=lo, hi=hi)]
    check(lambda x, y: prim.bind(x, y), args, list(axes))


@pytest.mark.parametrize("prim", [P.add_p, P.mul_p, P.max_p, P.sub_p, P.lt_p, P.pow_p],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_binary_with_literal_operand(prim, axis):
    x = with_batch(rand((4,), lo=0.5, hi=2.0), axis, lo=0.5, hi=2.0)
    check(lambda x: prim.bind(x, np.float64(1.25)), [x], [axis])
    check(lambda x: prim.bind(np.float64(1.25), x), [x], [axis])


def test_binary_0d_batched_with_0d_unbatched_var():
    # a 0-d unbatched operand must be broadcast explicitly (typecheck rejects 0-d vars)
    x, y = rand((B,)), rand(())
    check(lambda x, y: P.mul_p.bind(x, y), [x, y], [0, None])
    check(lambda x, y: P.atan2_p.bind(y, x), [x, y], [0, None])


def test_integer_ops_and_floor_division():
    x = rand((B, 4), np.int64, 1, 9)
    y = rand((4,), np.int64, 1, 5)
    check(lambda x, y: P.div_p.bind(x, y), [x, y], [0, None])
    check(lambda x, y: P.rem_p.bind(x, y), [x, y], [0, None])
    check(lambda x: P.and_p.bind(x, np.int64(6)), [x], [1])


@pytest.mark.parametrize("axes", [(0, 0, 0), (None, 1, None), (0, None, -1), (None, None, 0),
                                  (-1, 0, None)], ids=str)
def test_select(axes):
    p, t, f = rand((2, 3), np.bool_), rand((2, 3)), rand((2, 3))
    args = [with_batch(a, ax) for a, ax in zip((p, t, f), axes)]
    check(lambda p, t, f: P.select_p.bind(p, t, f), args, list(axes))


def test_select_with_literal_branch():
    p = rand((B, 4), np.bool_)
    x = rand((B, 4))
    check(lambda p, x: P.select_p.bind(p, x, np.float64(0.0)), [p, x], [0, 0])
    check(lambda p, x: P.select_p.bind(p, np.float64(-2.0), x), [p, x[0]], [0, None])


@pytest.mark.parametrize("new_dtype", [np.float32, np.int64, np.int32, np.bool_])
def test_convert_element_type(new_dtype):
    x = rand((2, B), lo=-3, hi=3)
    check(lambda x: P.convert_element_type_p.bind(x, new_dtype=np.dtype(new_dtype)), [x], [1])


@pytest.mark.parametrize("y", [0, 1, 2, 3, -2])
def test_integer_pow(y):
    x = rand((B, 2, 2), lo=0.5, hi=2.0)
    check(lambda x: P.integer_pow_p.bind(x, y=y), [x], [-1])


def test_stop_gradient_and_is_finite():
    x = rand((4, B))
    check(lambda x: P.stop_gradient_p.bind(x), [x], [1])
    x[0, 1] = np.inf
    check(lambda x: P.is_finite_p.bind(x), [x], [1])
    x[1, 0], x[2, 1], x[3, 2] = -0.0, -np.nan, np.nan
    check(lambda x: P.signbit_p.bind(x), [x], [1])


# ---------------------------------------------------------------- shape ops
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_broadcast_in_dim(axis):
    x = with_batch(rand((3, 1)), axis)
    check(lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)), [x], [axis])
    y = with_batch(rand(()), 0)
    check(lambda y: lax.broadcast_in_dim(y, (2, 3), ()), [y], [0])


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_reshape(axis):
    x = with_batch(rand((2, 6)), axis)
    check(lambda x: P.reshape_p.bind(x, shape=(3, 4)), [x], [axis])
    check(lambda x: P.reshape_p.bind(x, shape=(12,)), [x], [axis])


@pytest.mark.parametrize("axis", [0, 1, 3, -2])
def test_transpose(axis):
    x = with_batch(rand((2, 3, 4)), axis)
    check(lambda x: lax.transpose(x, (2, 0, 1)), [x], [axis])


@pytest.mark.parametrize("prim", [P.reduce_sum_p, P.reduce_prod_p, P.reduce_max_p, P.reduce_min_p],
                         ids=lambda p: p.name)
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1)], ids=str)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reductions(prim, axes, axis):
    x = with_batch(rand((3, 4)), axis)
    check(lambda x: prim.bind(x, axes=axes), [x], [axis])


def test_reduce_max_bool_and_int():
    x = rand((B, 4), np.bool_)
    check(lambda x: P.reduce_max_p.bind(x, axes=(0,)), [x], [1])
    y = rand((4, B), np.int32, -5, 5)
    check(lambda y: P.reduce_min_p.bind(y, axes=(0,)), [y], [-1])


@pytest.mark.parametrize("fn", [lax.argmax, lax.argmin], ids=["argmax", "argmin"])
@pytest.mark.parametrize("red_axis", [0, 1])
@pytest.mark.parametrize("axis", [0, 2, -2])
def test_argmax_argmin(fn, red_axis, axis):
    x = with_batch(rand((3, 4)), axis)
    check(lambda x: fn(x, red_axis), [x], [axis])


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(reverse, axis):
    x = with_batch(rand((3, 4)), axis)
    check(lambda x: lax.cumsum(x, 1, reverse), [x], [axis])
    check(lambda x: lax.cumsum(x, 0, reverse), [x], [axis])


# ---------------------------------------------------------------- dot_general
MATMUL = (((1,), (0,)), ((), ()))
BATCHED_MATMUL = (((2,), (1,)), ((0,), (0,)))


@pytest.mark.parametrize("axes", [(0, 0), (1, None), (None, 2), (-1, -1), (2, 0), (None, 0)],
                         ids=str)
def test_dot_general_matmul(axes):
    x, w = rand((2, 4)), rand((4, 5))
    args = [with_batch(x, axes[0]), with_batch(w, axes[1])]
    bir = check(lambda x, w: lax.dot_general(x, w, MATMUL), args, list(axes))
    # one contraction, never a loop of matmuls
    assert prims_of(bir).count("dot_general") == 1


@pytest.mark.parametrize("axes", [(0, 0), (1, None), (None, 3), (-1, 1), (3, 0)], ids=str)
def test_dot_general_with_batch_dims(axes):
    x, w = rand((2, 3, 4)), rand((2, 4, 5))
    args = [with_batch(x, axes[0]), with_batch(w, axes[1])]
    bir = check(lambda x, w: lax.dot_general(x, w, BATCHED_MATMUL), args, list(axes))
    assert prims_of(bir).count("dot_general") == 1


@pytest.mark.parametrize("axes", [(0, 0), (0, None), (None, 1)], ids=str)
def test_dot_general_vector_and_outer(axes):
    v, u = rand((4,)), rand((4,))
    args = [with_batch(v, axes[0]), with_batch(u, axes[1])]
    check(lambda v, u: lax.dot_general(v, u, (((0,), (0,)), ((), ()))), args, list(axes))
    check(lambda v, u: lax.dot_general(v, u, (((), ()), ((), ()))), args, list(axes))


def test_dot_general_contracting_two_axes():
    x, w = rand((B, 2, 3, 4)), rand((4, 3, 5))
    check(lambda x, w: lax.dot_general(x, w, (((1, 2), (1, 0)), ((), ()))), [x, w], [0, None])
    check(lambda w, x: lax.dot_general(x, w, (((1, 2), (1, 0)), ((), ()))),
          [with_batch(w, 1), x[0]], [1, None])


# ---------------------------------------------------------------- slicing
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_slice(axis):
    x = with_batch(rand((5, 6)), axis)
    check(lambda x: lax.slice(x, (1, 0), (4, 6), (2, 3)), [x], [axis])


@pytest.mark.parametrize("axis", [0, 2, -2])
def test_rev(axis):
    x = with_batch(rand((3, 4)), axis)
    check(lambda x: lax.rev(x, (1,)), [x], [axis])
    check(lambda x: lax.rev(x, (0, 1)), [x], [axis])


CONFIG = ((1, 2, 0), (0, 1, 2))


@pytest.mark.parametrize("axes", [(0, None), (1, None), (-1, None), (0, 0), (None, 0)], ids=str)
def test_pad(axes):
    x, v = rand((2, 3)), rand(())
    args = [with_batch(x, axes[0]), with_batch(v, axes[1])]
    check(lambda x, v: P.pad_p.bind(x, v, padding_config=CONFIG), args, list(axes))


def test_pad_literal_value():
    x = rand((B, 2, 3))
    check(lambda x: P.pad_p.bind(x, np.float64(7.0), padding_config=CONFIG), [x], [0])


@pytest.mark.parametrize("axes", [(0, 0, 0), (None, 1, None), (-1, None, 0), (None, None, 2)],
                         ids=str)
@pytest.mark.parametrize("dim", [0, 1])
def test_concatenate(axes, dim):
    xs = [rand((2, 3)), rand((2, 3)), rand((2, 3))]
    args = [with_batch(x, ax) for x, ax in zip(xs, axes)]
    check(lambda a, b, c: lax.concatenate([a, b, c], dim), args, list(axes))


# ---------------------------------------------------------------- gather / scatter
def _idx(shape, n):
    # include out-of-range values: gather/scatter clamp them
    return rng.integers(-1, n + 1, shape).astype(np.int64)


@pytest.mark.parametrize("axes", [(0, None), (1, None), (None, 0), (None, -1), (0, 0), (2, 1),
                                  (-1, 0)], ids=str)
@pytest.mark.parametrize("gaxis", [0, 1])
def test_gather(axes, gaxis):
    x = rand((4, 5))
    idx = _idx((2, 3), x.shape[gaxis])
    args = [with_batch(x, axes[0])]
    if axes[1] is not None:
        idx = np.stack([_idx((2, 3), x.shape[gaxis]) for _ in range(B)], axis=axes[1])
    args.append(idx)
    bir = check(lambda x, i: lax.gather(x, i, gaxis), args, list(axes))
    assert prims_of(bir).count("gather") == 1


def test_gather_int32_indices_0d():
    x = rand((B, 6))
    idx = np.array([5, -3, 2], np.int32)
    check(lambda x, i: lax.gather(x, i, 0), [x, idx], [0, 0])


@pytest.mark.parametrize("axes", [(0, None), (1, None), (None, 0), (0, 0), (-1, 1), (2, None)],
                         ids=str)
@pytest.mark.parametrize("saxis", [0, 1])
def test_scatter_add(axes, saxis):
    size = 4
    upd_shape = (2, 3, 5) if saxis == 0 else (5, 2, 3)
    upd = rand(upd_shape)
    args = [with_batch(upd, axes[0])]
    if axes[1] is None:
        args.append(_idx((2, 3), size))
    else:
        args.append(np.stack([_idx((2, 3), size) for _ in range(B)], axis=axes[1]))
    bir = check(lambda u, i: lax.scatter_add(u, i, saxis, size), args, list(axes))
    assert prims_of(bir).count("scatter_add") == 1


def test_iota_is_never_batched():
    x = rand((B, 4))
    bir = check(lambda x: x + lax.iota(np.float64, (4,)), [x], [0])
    (iota_eqn,) = [e for e in bir.eqns if e.prim is P.iota_p]
    assert iota_eqn.outputs[0].aval.shape == (4,)


# ---------------------------------------------------------------- vmap_ir details
def test_unbatched_equations_reemitted_and_outputs_broadcast():
    def f(x, y):
        return np.cos(y) * 2.0, x + 1.0, y

    x, y = rand((B, 2)), rand((2,))
    ir, _, _ = trace_to_ir(f, (x[0], y))
    bir = typecheck(vmap_ir(ir, [0, None], B, [0, 1, None]))
    cos_eqn = [e for e in bir.eqns if e.prim is P.cos_p][0]
    assert cos_eqn.outputs[0].aval.shape == (2,)  # computed once, not per batch element
    a, b, c = eval_ir(bir, bir.consts, [x, y])
    np.testing.assert_allclose(a, np.broadcast_to(np.cos(y) * 2.0, (B, 2)))
    np.testing.assert_allclose(b, (x + 1.0).T)
    np.testing.assert_allclose(c, y)


def test_out_dims_none_for_batched_output_raises():
    ir, _, _ = trace_to_ir(lambda x: x * 2.0, (rand((2,)),))
    with pytest.raises(BatchingError, match="out_axes entry is None"):
        vmap_ir(ir, [0], B, [None])


def test_constvars_pass_through_and_source_lines_carry_over():
    w = rand((4, 2))

    def f(x):
        return x @ w  # this line

    ir, _, _ = trace_to_ir(f, (rand((4,)),))
    bir = typecheck(vmap_ir(ir, [0], B))
    assert bir.consts == [w] or bir.consts[0] is w
    dot = [e for e in bir.eqns if e.prim is P.dot_general_p][0]
    assert dot.source is not None and dot.source.lineno == f.__code__.co_firstlineno + 1


def test_literal_output():
    ir, _, _ = trace_to_ir(lambda x: (x, 3.0), (rand(()),))
    bir = typecheck(vmap_ir(ir, [0], 4))
    x = rand((4,))
    a, c = eval_ir(bir, bir.consts, [x])
    np.testing.assert_array_equal(a, x)
    np.testing.assert_array_equal(c, np.full(4, 3.0))


# ---------------------------------------------------------------- pb.vmap API
def test_vmap_numpy_matmul_lhs_rhs_both():
    x, w = rand((B, 2, 4)), rand((B, 4, 5))
    mm = lambda a, b: a @ b
    np.testing.assert_allclose(pb.vmap(mm)(x, w), np.matmul(x, w))
    np.testing.assert_allclose(pb.vmap(mm, (0, None))(x, w[0]), x @ w[0])
    np.testing.assert_allclose(pb.vmap(mm, (None, 0))(x[0], w), x[0] @ w)
    v = rand((B, 4))
    np.testing.assert_allclose(pb.vmap(mm, (0, None))(v, w[0]), v @ w[0])
    np.testing.assert_allclose(pb.vmap(np.dot, (None, 0))(x[0], v), np.einsum("ij,bj->bi", x[0], v))


def test_vmap_sum_mean_with_axis():
    x = rand((2, B, 4))
    np.testing.assert_allclose(pb.vmap(lambda a: np.sum(a, axis=1), 1)(x), x.sum(axis=2).T)
    np.testing.assert_allclose(pb.vmap(lambda a: a.sum(), 1)(x), x.sum(axis=(0, 2)))
    np.testing.assert_allclose(pb.vmap(lambda a: np.mean(a, axis=0), -2)(x), x.mean(axis=0))


def test_vmap_indexing_primitives():
    # the primitives x[1:, ::2], x[2] and x[k] lower to (slice, gather)
    x = rand((B, 5, 6))
    np.testing.assert_allclose(pb.vmap(lambda a: lax.slice(a, (1, 0), (5, 6), (1, 2)))(x),
                               x[:, 1:, ::2])
    i = np.array([4, 0, 2])
    take = lambda a, k: lax.gather(a, k, 0)
    np.testing.assert_allclose(pb.vmap(take)(x, i), x[np.arange(B), i])
    np.testing.assert_allclose(pb.vmap(take, (None, 0))(x[0], i), x[0][i])
    np.testing.assert_allclose(pb.vmap(take, (0, None))(x, np.int64(2)), x[:, 2])
    np.testing.assert_allclose(pb.vmap(lambda a: a.T)(x), np.swapaxes(x, 1, 2))


def test_vmap_where_maximum_concatenate():
    x, y = rand((B, 4)), rand((4,))
    f = lambda a, b: np.where(a > b, a, 0.0) + np.maximum(a, b)
    np.testing.assert_allclose(pb.vmap(f, (0, None))(x, y), f(x, y))
    g = lambda a, b: lax.concatenate([a, b], 0) * (a + b).sum()
    np.testing.assert_allclose(pb.vmap(g, (0, None))(x, y), loop(g, [x, y], [0, None]))


def test_vmap_pytree_in_axes_and_dict_outputs():
    params = {"w": rand((3, 2)), "b": rand((2,))}
    xs = rand((5, 3))

    def f(p, x):
        return {"y": np.tanh(x @ p["w"] + p["b"]), "n": np.sum(x**2)}

    out = pb.vmap(f, in_axes=(None, 0))(params, xs)
    np.testing.assert_allclose(out["y"], np.tanh(xs @ params["w"] + params["b"]))
    np.testing.assert_allclose(out["n"], np.sum(xs**2, axis=1))
    # a dict prefix: batch only the bias
    bs = rand((4, 2))
    out = pb.vmap(f, in_axes=({"w": None, "b": 0}, None))(dict(params, b=bs), xs[0])
    np.testing.assert_allclose(out["y"], np.tanh(xs[0] @ params["w"] + bs))
    assert out["n"].shape == (4,)
    # a list in_axes acts like a tuple
    np.testing.assert_allclose(pb.vmap(f, in_axes=[None, 0])(params, xs)["n"], np.sum(xs**2, 1))


def test_vmap_tuple_arguments_with_nested_prefix():
    a, b = rand((B, 2)), rand((2, B))
    f = lambda pair, s: pair[0] * pair[1] + s
    out = pb.vmap(f, in_axes=((0, 1), None))((a, b), 1.5)
    np.testing.assert_allclose(out, a * b.T + 1.5)


def test_vmap_out_axes():
    x = rand((B, 2, 4))
    f = lambda a: (a * 2.0, a.sum(0))
    y, s = pb.vmap(f, out_axes=(2, -1))(x)
    np.testing.assert_allclose(y, np.moveaxis(x * 2.0, 0, 2))
    np.testing.assert_allclose(s, x.sum(1).T)
    # out_axes None for an output that does not depend on the batch
    c, t = pb.vmap(lambda a, k: (k * 2.0, a + k), (0, None), out_axes=(None, 0))(x, rand((2, 4)))
    assert c.shape == (2, 4)


def test_vmap_negative_in_axes_and_scalar_batch():
    x = rand((2, 4, B))
    np.testing.assert_allclose(pb.vmap(lambda a: np.sin(a).sum(), -1)(x), np.sin(x).sum((0, 1)))
    b = np.linspace(0.0, 1.0, 7)
    np.testing.assert_allclose(pb.vmap(lambda t: t * t + 1.0)(b), b * b + 1.0)


def test_vmap_results_are_numpy_and_keep_float32():
    x = rand((B, 4), np.float32)
    y = pb.vmap(lambda a: np.exp(a) * 2.0)(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32


def test_nested_vmap():
    x, y = rand((3, 4, 5)), rand((4, 5))
    f = lambda a, b: np.dot(a, b)
    # outer over x's axis 0, inner over the rows of both
    got = pb.vmap(pb.vmap(f), (0, None))(x, y)
    np.testing.assert_allclose(got, np.einsum("ijk,jk->ij", x, y))
    # the same batch twice: pairwise products, outer product style
    u, v = rand((3, 5)), rand((4, 5))
    pairwise = pb.vmap(pb.vmap(f, (None, 0)), (0, None))(u, v)
    np.testing.assert_allclose(pairwise, u @ v.T)


def test_triple_nested_vmap_matches_broadcasting():
    a, b, c = rand((2,)), rand((3,)), rand((4,))
    f = lambda x, y, z: x * y + np.sin(z)
    got = pb.vmap(pb.vmap(pb.vmap(f, (None, None, 0)), (None, 0, None)), (0, None, None))(a, b, c)
    np.testing.assert_allclose(got, a[:, None, None] * b[None, :, None] + np.sin(c)[None, None, :])


def test_nested_vmap_closing_over_outer_batched_value():
    xs, ys = rand((3,)), rand((4,))
    got = pb.vmap(lambda x: pb.vmap(lambda y: x * y + np.sin(x))(ys))(xs)
    np.testing.assert_allclose(got, xs[:, None] * ys + np.sin(xs)[:, None])
    g = pb.grad(lambda s: np.sum(pb.vmap(lambda x: pb.vmap(lambda y: x * y * s)(ys))(xs)))(2.0)
    np.testing.assert_allclose(g, np.sum(xs[:, None] * ys))


def test_jit_of_vmap_and_vmap_of_jit():
    x, w = rand((B, 2, 4)), rand((4, 3))
    f = lambda a, m: np.tanh(a @ m).sum(axis=1)
    want = np.tanh(x @ w).sum(axis=2)
    jv = pb.jit(pb.vmap(f, (0, None)), backend="interpreter")
    np.testing.assert_allclose(jv(x, w), want)
    ir = jv.ir(x, w)
    typecheck(ir)
    assert [e.prim.name for e in ir.eqns].count("dot_general") == 1
    vj = pb.vmap(pb.jit(f, backend="interpreter"), (0, None))
    np.testing.assert_allclose(vj(x, w), want)


def test_vmap_closure_over_outer_traced_value():
    # vmap inside jit whose function closes over the outer argument
    def outer(s, xs):
        return pb.vmap(lambda x: x * s + np.sin(s))(xs)

    xs, s = rand((B, 2)), rand((2,))
    got = pb.jit(outer, backend="interpreter")(s, xs)
    np.testing.assert_allclose(got, xs * s + np.sin(s))


def test_vmap_ir_printed():
    ir = pb.make_ir(pb.vmap(lambda x, w: x @ w, (0, None)))(rand((B, 4)), rand((4, 2)))
    typecheck(ir)
    assert "dot_general" in str(ir) and ir.in_avals[0].shape == (B, 4)


# ---------------------------------------------------------------- errors
def test_error_inconsistent_sizes_names_arguments():
    def f(x, y):
        return x + y

    with pytest.raises(ValueError, match=r"argument x has size 3.*argument y has size 4"):
        pb.vmap(f)(rand((3, 2)), rand((4, 2)))


def test_error_axis_out_of_range_names_argument():
    def f(x, scale):
        return x * scale

    with pytest.raises(ValueError, match=r"in_axes 2 is out of range for argument x of shape \(3, 2\)"):
        pb.vmap(f, in_axes=(2, None))(rand((3, 2)), 1.0)
    with pytest.raises(ValueError, match="argument scale"):
        pb.vmap(f)(rand((3, 2)), 1.0)
    with pytest.raises(ValueError, match=r"in_axes -3 is out of range"):
        pb.vmap(f, in_axes=(-3, None))(rand((3, 2)), 1.0)


def test_error_in_axes_structure():
    f = lambda x, y: x + y
    with pytest.raises(ValueError, match="in_axes has 1 entries but <lambda> was called with 2"):
        pb.vmap(f, in_axes=(0,))(rand((3,)), rand((3,)))
    with pytest.raises(ValueError, match="keys"):
        pb.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": rand((3,))})
    with pytest.raises(TypeError, match="int or None"):
        pb.vmap(f, in_axes=(0, "x"))(rand((3,)), rand((3,)))
    with pytest.raises(ValueError, match="no argument is batched"):
        pb.vmap(f, in_axes=None)(rand((3,)), rand((3,)))


def test_error_out_axes():
    with pytest.raises(BatchingError, match="out_axes 3 out of range for output 0"):
        pb.vmap(lambda x: x, out_axes=3)(rand((3, 2)))
    with pytest.raises(BatchingError, match="out_axes entry is None"):
        pb.vmap(lambda x: x * 2.0, out_axes=None)(rand((3, 2)))


def test_vmap_keyword_arguments_batched_on_axis_0():
    def f(x, *, scale):
        return x * scale

    x, s = rand((B, 2)), rand((B, 2))
    np.testing.assert_allclose(pb.vmap(f, in_axes=(None,))(x[0], scale=s), x[0] * s)
    with pytest.raises(ValueError, match="argument kwargs\\['scale'\\] has size 4"):
        pb.vmap(f)(x, scale=rand((4, 2)))


# ---------------------------------------------------------------- composition with AD
def mlp_loss(params, x, y):
    h = np.tanh(x @ params["w1"] + params["b1"])
    return np.sum((h @ params["w2"] - y) ** 2)


def _mlp_params():
    return {"w1": rand((3, 4)), "b1": rand((4,)), "w2": rand((4, 2))}


def test_vmap_of_grad_per_example_gradients():
    params, xs, ys = _mlp_params(), rand((5, 3)), rand((5, 2))
    per_ex = pb.vmap(pb.grad(mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k in params:
        want = np.stack([pb.grad(mlp_loss)(params, xs[i], ys[i])[k] for i in range(5)])
        np.testing.assert_allclose(per_ex[k], want, rtol=1e-12, atol=1e-12)
    # and their mean is the gradient of the mean loss
    mean_loss = lambda p: np.mean(pb.vmap(mlp_loss, (None, 0, 0))(p, xs, ys))
    g = pb.grad(mean_loss)(params)
    for k in params:
        np.testing.assert_allclose(g[k], per_ex[k].mean(0), rtol=1e-12, atol=1e-12)


def test_grad_of_vmap_matches_closed_form():
    # d/dw sum_i sin(x_i . w) = sum_i cos(x_i . w) x_i
    xs, w = rand((6, 3)), rand((3,))
    loss = lambda w: np.sum(pb.vmap(lambda x: np.sin(np.dot(x, w)))(xs))
    np.testing.assert_allclose(pb.grad(loss)(w), (np.cos(xs @ w)[:, None] * xs).sum(0))
    # and with respect to the batched argument itself
    g = pb.grad(lambda xs: np.sum(pb.vmap(lambda x: np.sin(np.dot(x, w)))(xs)))(xs)
    np.testing.assert_allclose(g, np.cos(xs @ w)[:, None] * w[None, :])


def test_vmap_of_second_derivative_and_jit():
    f = lambda t: np.sin(t) * t
    ts = np.linspace(-1.0, 2.0, 5)
    d2 = pb.vmap(pb.grad(pb.grad(f)))(ts)
    np.testing.assert_allclose(d2, 2 * np.cos(ts) - ts * np.sin(ts))
    jd2 = pb.jit(pb.vmap(pb.grad(pb.grad(f))), backend="interpreter")
    np.testing.assert_allclose(jd2(ts), d2)
    typecheck(jd2.ir(ts))


def test_vmap_of_jacobians():
    f = lambda x: np.sin(x) * np.sum(x**2)
    xs = rand((4, 3))
    want = np.stack([pb.jacrev(f)(x) for x in xs])
    np.testing.assert_allclose(pb.vmap(pb.jacfwd(f))(xs), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pb.vmap(pb.jacrev(f))(xs), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,fn,args,in_axes", [
    ("matmul", lambda x, w: np.tanh(x @ w), (rand((B, 2, 3)), rand((3, 4))), (0, None)),
    ("matmul_both", lambda x, w: x @ w, (rand((2, 3, B)), rand((B, 3, 4))), (-1, 0)),
    ("gather", lambda x, i: lax.gather(x, i, 0) ** 2,
     (rand((B, 5)), np.array([[4, 0], [1, 1], [3, 2]])), (0, 0)),
    ("scatter", lambda u, i: np.sin(lax.scatter_add(u, i, 0, 4)),
     (rand((B, 3)), np.array([[0, 3, 3], [1, 1, 2], [2, 0, 0]])), (0, 0)),
    ("pad", lambda x, v: P.pad_p.bind(x, v, padding_config=((1, 1, 1),)) * 1.5,
     (rand((3,)), rand((B,))), (None, 0)),
    ("cumsum_max", lambda x: lax.cumsum(x, 0) * np.max(x, axis=0), (rand((4, B, 2)),), (1,)),
    ("reduce_concat", lambda x, y: lax.concatenate([x, np.sum(y, 0)], 0) ** 2,
     (rand((B, 2)), rand((3, 2))), (0, None)),
])
def test_check_grads_through_batched_rules(name, fn, args, in_axes):
    # the batched IR must differentiate (orders 1 and 2, both modes) like any other
    pb.check_grads(pb.vmap(fn, in_axes), args, order=2)


def test_vmap_keeps_custom_vjp_rule():
    @pb.custom_vjp
    def ste(x):
        return np.floor(x)

    ste.defvjp(lambda x: (np.floor(x), None), lambda res, g: (g,))
    x = np.array([0.3, 1.7, 2.2, -0.5])
    np.testing.assert_array_equal(pb.vmap(ste)(x), np.floor(x))
    # straight-through: d/dx sum(ste(x) * x) = floor(x) + x, also through vmap
    g = pb.grad(lambda x: np.sum(pb.vmap(ste)(x) * x))(x)
    np.testing.assert_allclose(g, np.floor(x) + x)
    np.testing.assert_allclose(pb.vmap(pb.grad(lambda t: ste(t) * t))(x), np.floor(x) + x)
    w = np.array([1.0, 2.0, 3.0])
    gw = pb.grad(lambda w: np.sum(pb.vmap(lambda r: ste(r * w))(np.ones((2, 3)))))(w)
    np.testing.assert_allclose(gw, [2.0, 2.0, 2.0])
    # nested vmap keeps it too
    gn = pb.grad(lambda x: np.sum(pb.vmap(pb.vmap(ste))(x)))(np.ones((2, 3)) * 0.5)
    np.testing.assert_allclose(gn, np.ones((2, 3)))


def test_vmap_keeps_custom_jvp_rule():
    @pb.custom_jvp
    def f(x):
        return np.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        return np.sin(primals[0]), 2.0 * tangents[0]  # deliberately not cos

    x = np.array([0.1, 0.5, 0.9])
    ir = pb.make_ir(pb.vmap(f))(x)
    typecheck(ir)
    assert [e.prim.name for e in ir.eqns] == ["custom_jvp_call"]
    np.testing.assert_allclose(pb.vmap(f)(x), np.sin(x))
    np.testing.assert_allclose(pb.grad(lambda x: np.sum(pb.vmap(f)(x)))(x), [2.0] * 3)
    np.testing.assert_allclose(pb.vmap(pb.grad(f))(x), [2.0] * 3)
    w = np.array([1.0, 2.0, 3.0])
    gw = pb.grad(lambda w: np.sum(pb.vmap(lambda r: f(r * w))(np.ones((2, 3)))))(w)
    np.testing.assert_allclose(gw, [4.0, 4.0, 4.0])
    np.testing.assert_allclose(pb.vmap(pb.jacfwd(f))(x[:, None]), 2.0 * np.ones((3, 1, 1)))


def test_custom_vjp_linear_rule_vmaps_bwd():
    # the linear part of a custom_vjp call, as found between jvp and transpose:
    # batched, it stays one call whose bwd is the user's bwd under vmap
    from pullback.ir.core import ShapedArray
    from pullback.tracer.trace import Builder

    bwd = lambda res, cts: [res[0] * cts[0]]
    f64 = lambda *s: ShapedArray(s, np.float64)
    with Builder() as b:
        r, t = b.new_arg(f64(2)), b.new_arg(f64(2, B))
        outs, dims = batch_rules[P.custom_vjp_linear_p](
            [r, t], [None, 1], bwd=bwd, num_res=1, out_avals=(f64(2),))
    (eqn,) = [e for e in b.eqns if e.prim is P.custom_vjp_linear_p]
    assert dims == [0] and eqn.params["out_avals"] == (f64(B, 2),)
    assert [a.aval for a in eqn.inputs] == [f64(B, 2), f64(B, 2)]
    res, cts = rand((B, 2)), rand((B, 2))
    (got,) = eqn.params["bwd"]([res], [cts])
    np.testing.assert_allclose(got, res * cts)


# ---------------------------------------------------------------- plain NumPy under vmap
def test_vmap_numpy_indexing():
    x = rand((B, 5, 6))
    np.testing.assert_allclose(pb.vmap(lambda a: a[1:, ::2])(x), x[:, 1:, ::2])
    np.testing.assert_allclose(pb.vmap(lambda a: a[2])(x), x[:, 2])
    np.testing.assert_allclose(pb.vmap(lambda a: a[:, -1])(x), x[:, :, -1])
    np.testing.assert_allclose(pb.vmap(lambda a: a[::-1, 1:4])(x), x[:, ::-1, 1:4])
    i = np.array([4, 0, 2])
    np.testing.assert_allclose(pb.vmap(lambda a, k: a[k])(x, i), x[np.arange(B), i])
    np.testing.assert_allclose(pb.vmap(lambda a, k: a[k], (None, 0))(x[0], i), x[0][i])
    np.testing.assert_allclose(pb.vmap(lambda a, k: a[:, k], (0, None))(x, i), x[:, :, i])
    np.testing.assert_allclose(pb.vmap(lambda a: a.T)(x), np.swapaxes(x, 1, 2))


def test_vmap_numpy_concatenate_stack_einsum():
    x, y = rand((B, 4)), rand((4,))
    g = lambda a, b: np.concatenate([a, b]) * np.stack([a, b]).sum(0).sum()
    np.testing.assert_allclose(pb.vmap(g, (0, None))(x, y), loop(g, [x, y], [0, None]))
    m, v = rand((B, 3, 4)), rand((B, 4))
    e = lambda a, b: np.einsum("ij,j->i", a, b)
    np.testing.assert_allclose(pb.vmap(e)(m, v), np.einsum("bij,bj->bi", m, v))
    np.testing.assert_allclose(pb.vmap(e, (None, 0))(m[0], v), v @ m[0].T)


def test_jit_of_vmap_numba_backend():
    f = lambda x, w: np.tanh(x @ w).sum(axis=1)
    x, w = rand((4, 2, 3)), rand((3, 5))
    jf = pb.jit(pb.vmap(f, (0, None)))
    np.testing.assert_allclose(jf(x, w), np.tanh(x @ w).sum(axis=2), rtol=1e-12)
    loss = lambda x, w: np.sum(np.tanh(x @ w))
    per_example = pb.jit(pb.vmap(pb.grad(loss), (0, None)))
    np.testing.assert_allclose(per_example(x, w), np.stack([pb.grad(loss)(xi, w) for xi in x]),
                               rtol=1e-12, atol=1e-12)


def _many_ops(a, v):
    """A function touching most NumPy entry points: matmul, reductions, indexing, where..."""
    h = np.tanh(a @ v)  # (3,)
    s = np.cumsum(a, axis=1)[:, ::-1]  # (3, 4)
    m = np.where(s > 0.0, s, -s) ** 2 + np.maximum(a, v)
    k = np.argmax(a, axis=1)  # int indices into v
    g = v[k] * h  # gather with traced indices
    t = np.concatenate([m.T, a.T[1:]], axis=0).sum(axis=0)  # (3,)
    r = np.einsum("ij,j->i", m, v) / (1.0 + np.abs(g))
    return np.stack([g, t, r]).reshape(-1)[2:] + np.mean(m) - np.max(a)


@pytest.mark.parametrize("axes", [(0, 0), (1, None), (None, 0), (-1, -1), (2, None), (None, None)],
                         ids=str)
@pytest.mark.parametrize("out_axis", [0, -1])
def test_many_numpy_ops_under_vmap(axes, out_axis):
    a, v = rand((3, 4)), rand((4,))
    if axes == (None, None):  # one batched arg is required: batch v only, at -1
        axes = (None, -1)
    args = [with_batch(a, axes[0]), with_batch(v, axes[1])]
    check(_many_ops, args, list(axes), out_axes=out_axis)
    check(lambda a, v: np.sum(np.sin(_many_ops(a, v))), args, list(axes))


@pytest.mark.parametrize("axes", [(0, None), (None, 0), (1, -1)], ids=str)
def test_many_numpy_ops_vmap_derivatives(axes):
    a, v = rand((3, 4)), rand((4,))
    args = (with_batch(a, axes[0]), with_batch(v, axes[1]))
    pb.check_grads(pb.vmap(_many_ops, axes), args, order=1)
    if axes == (0, None):
        # jacobian of the batched function wrt the shared v == stacked per-example jacobians
        ab = args[0]
        jac = pb.jacrev(lambda vv: pb.vmap(_many_ops, (0, None))(ab, vv))(v)
        want = np.stack([pb.jacfwd(lambda vv: _many_ops(x, vv))(v) for x in ab])
        np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)


def test_other_call_primitives_are_inlined_batched():
    # a primitive unknown to the batching table but holding a `call` sub-IR
    from pullback.ir.core import IR, Eqn, Var
    from pullback.ir.primitives import Primitive

    sub, _, _ = trace_to_ir(lambda x, y: (np.sin(x) * y,), (rand((2,)), rand((2,))))
    x, y, out = Var(sub.in_avals[0]), Var(sub.in_avals[1]), Var(sub.out_avals[0])
    fake = Primitive("opaque_call", multiple_results=True)
    ir = IR([], [], [x, y], [Eqn(fake, [x, y], [out], {"call": sub})], [out])
    bir = typecheck(vmap_ir(ir, [0, None], B, 0))
    assert "opaque_call" not in prims_of(bir)
    xs, yv = rand((B, 2)), rand((2,))
    (got,) = eval_ir(bir, bir.consts, [xs, yv])
    np.testing.assert_allclose(got, np.sin(xs) * yv)
    # without a call sub-IR there is nothing to batch: a clear error naming it
    bad = IR([], [], [x], [Eqn(Primitive("mystery"), [x], [out], {})], [out])
    with pytest.raises(NotImplementedError, match="no batching rule for primitive 'mystery'"):
        vmap_ir(bad, [0], B)


def test_vmap_axis_size_when_no_argument_is_batched():
    x = np.array([1.0, 2.0])
    out = pb.vmap(lambda x: x * 2, in_axes=None, axis_size=3)(x)
    np.testing.assert_array_equal(out, np.tile(x * 2, (3, 1)))
    a, b = pb.vmap(lambda x: (x * 2, 5.0), in_axes=None, axis_size=2, out_axes=(1, 0))(x)
    np.testing.assert_array_equal(a, [[2.0, 2.0], [4.0, 4.0]])
    np.testing.assert_array_equal(b, [5.0, 5.0])
    np.testing.assert_array_equal(pb.vmap(lambda: np.ones(2), axis_size=3)(), np.ones((3, 2)))
    np.testing.assert_array_equal(pb.jit(pb.vmap(lambda x: x + 1, axis_size=2))(x), x + 1)
    with pytest.raises(ValueError, match="axis_size is 3, but argument x has size 2"):
        pb.vmap(lambda x: x * 2, axis_size=3)(x)
    with pytest.raises(ValueError, match="or pass axis_size"):
        pb.vmap(lambda x: x * 2, in_axes=None)(x)


def test_vmap_passes_unbatched_non_array_leaves_of_nested_in_axes_through():
    # before: only an argument whose whole in_axes entry was None passed through; a None
    # inside a dict or tuple spec left its int traced (len([0.0] * n) was 1)
    X = np.arange(6.0).reshape(2, 3)
    f = lambda x, t: x * len([0.0] * t["n"]) * (10.0 if t["flag"] is True else 1.0)  # noqa: E731
    for spec in (None, {"n": None, "flag": None}):
        np.testing.assert_array_equal(pb.vmap(f, in_axes=(0, spec))(X, {"n": 3, "flag": True}),
                                      X * 30)
    np.testing.assert_array_equal(
        pb.vmap(lambda x, t: x * len([0.0] * t[1]), in_axes=(0, (0, None)))(X, (X, 3)), X * 3)
    np.testing.assert_array_equal(
        pb.vmap(lambda x, t: x if t[0] == "a" else -x, in_axes=(0, (None, None)))(X, ("a", 3)), X)
    got = pb.vmap(lambda x, t: x * t["w"] + t["b"] * len(t["s"]),
                  in_axes=(0, {"w": None, "b": 0, "s": None}))(
        X, {"w": np.ones(3), "b": np.arange(2.0), "s": "abc"})
    np.testing.assert_array_equal(got, X + 3 * np.arange(2.0)[:, None])
