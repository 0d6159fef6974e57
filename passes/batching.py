"""Batching (vmap) as an IR -> IR pass.

`vmap_ir(ir, in_dims, axis_size, out_dims)` returns a new IR whose inputs carry
an extra batch axis (input i at axis `in_dims[i]`, or no batch axis for None)
and whose outputs carry it at `out_dims`. The pass walks the equations inside a
fresh `Builder`; each equation with at least one batched operand goes through
its rule in `batch_rules`:

    batch_rules[prim](args, dims, **params) -> (outs, out_dims)

`args` are the operands in the new IR (tracers of the builder, or NumPy
scalars where the original operand was a Literal), `dims[i]` the batch axis of
`args[i]` or None. Rules are written with tracer/lax.py ops, so the result is
ordinary IR that can be differentiated, batched again, optimized and compiled.
Rules keep the batch axis where it is when the primitive allows (elementwise
ops, reductions, slices, dot_general with one batched side, ...), so vmap with
in_axes != 0 adds few transposes; others (reshape, both-sides dot_general,
custom calls) move it to the front first.
Equations whose operands are all unbatched are re-emitted unchanged.

`dot_general` becomes one batched contraction (an extra dot_general batch
dimension, or an extra free dimension when only one side is batched), never a
loop. `gather`/`scatter_add` with batched indices fold the batch into the
indexed axis (index + b * size) so they stay single gathers/scatters.

Custom-derivative calls (custom_jvp_call / custom_vjp_call) stay calls: their
`call` sub-IR is batched and the user's rules are wrapped in `vmap`, so
grad(vmap(f)) still uses the custom rule. Any other primitive with a `call`
sub-IR param is batched by batching the sub-IR and inlining it.

Control flow (JAX semantics): a `cond` with an unbatched predicate stays a cond
of batched branches; with a batched predicate both branches run on the whole
batch and `select` picks per lane. `while` batches its body and condition;
when the condition depends on the batch the loop runs while any lane's holds,
finished lanes frozen by `select`. `scan` keeps xs/ys stacked on axis 0 with
the batch axis at 1. Carries that the body makes batched are found by a
fixpoint, so unbatched counters stay unbatched.
"""
from __future__ import annotations

import numpy as np

from ..ir import control_flow as CF
from ..ir import primitives as P
from ..ir.core import DERIVED_RULES, IR, NAMED_RULES, Literal, named_rule
from ..tracer import lax
from ..tracer.trace import Builder, Tracer, bind_list

batch_rules: dict = {}


class BatchingError(ValueError):
    """vmap_ir was asked for something it cannot express (bad dims, unbatched outputs)."""


# ---------------------------------------------------------------- helpers
def _is_const_scalar(x):
    """An operand that came from a Literal (a NumPy scalar)."""
    return not isinstance(x, Tracer) and np.ndim(x) == 0


def moveaxis(x, src, dst):
    nd = lax.ndim(x)
    src, dst = src % nd, dst % nd
    if src == dst:
        return x
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return lax.transpose(x, perm)


def bdim_at(x, d, size, at=0):
    """`x` with its batch axis at `at`; an unbatched x (d None) is broadcast."""
    if d is None:
        shp = list(lax.shape(x))
        shp.insert(at, size)
        dims = [i for i in range(len(shp)) if i != at]
        return lax.broadcast_in_dim(x, shp, dims)
    return moveaxis(x, d, at)


def _size(args, dims):
    for x, d in zip(args, dims):
        if d is not None:
            return lax.shape(x)[d]
    raise BatchingError("batching rule called without a batched operand")


def _front(args, dims):
    """All operands with the batch axis at 0 (unbatched ones broadcast)."""
    size = _size(args, dims)
    return [bdim_at(x, d, size) for x, d in zip(args, dims)], size


# ---------------------------------------------------------------- elementwise
def _elementwise(prim):
    def rule(args, dims, **params):
        size = _size(args, dims)
        # unbatched shape of the result: the largest operand shape without batch
        shapes = [
            tuple(s for i, s in enumerate(lax.shape(x)) if i != d)
            for x, d in zip(args, dims)
            if not _is_const_scalar(x)
        ]
        out_shape = max(shapes, key=len)
        nd = len(out_shape) + 1
        # keep the batch axis of a full-rank batched operand; bring the rest to it
        at = next((d for x, d in zip(args, dims) if d is not None and lax.ndim(x) == nd), 0)
        full = list(out_shape)
        full.insert(at, size)
        new = []
        for x, d in zip(args, dims):
            if _is_const_scalar(x):  # Literals stay inline
                new.append(x)
            elif d is None:
                new.append(bdim_at(x, None, size, at) if lax.ndim(x) else
                           lax.broadcast_in_dim(x, full, ()))
            elif lax.ndim(x) < nd:  # a batched 0-d operand of a non-0-d op
                new.append(lax.broadcast_in_dim(x, full, (at,)))
            else:
                new.append(moveaxis(x, d, at))
        return [prim.bind(*new, **params)], [at]

    return rule


for _p in P.ELEMENTWISE:
    batch_rules[_p] = _elementwise(_p)


# ---------------------------------------------------------------- shape ops
def _shift(axes, d):
    """Axis numbers of the unbatched array, in the array with a batch axis at d."""
    return tuple(a + 1 if a >= d else a for a in axes)


def _broadcast_in_dim(args, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = args, dims
    bd = tuple(broadcast_dimensions)
    # the batch axis goes right after the output axis of the operand axis before it
    at = bd[d - 1] + 1 if d > 0 else 0
    new_bd = bd[:d] + (at,) + tuple(b + 1 for b in bd[d:])
    new_shape = list(shape)
    new_shape.insert(at, lax.shape(x)[d])
    return [lax.broadcast_in_dim(x, new_shape, new_bd)], [at]


def _reshape(args, dims, *, shape):
    # row-major reshapes only commute with a leading batch axis
    (x,), size = _front(args, dims)
    return [P.reshape_p.bind(x, shape=(size,) + tuple(shape))], [0]


def _transpose(args, dims, *, permutation):
    (x,), (d,) = args, dims
    perm = (d,) + _shift(permutation, d)  # one transpose, batch axis first
    return [lax.transpose(x, perm)], [0]


def _reduce(prim):
    def rule(args, dims, *, axes):
        (x,), (d,) = args, dims
        out_d = d - sum(1 for a in axes if a < d)
        return [prim.bind(x, axes=_shift(axes, d))], [out_d]

    return rule


for _p in (P.reduce_sum_p, P.reduce_prod_p, P.reduce_max_p, P.reduce_min_p):
    batch_rules[_p] = _reduce(_p)


def _arg_reduce(prim):
    def rule(args, dims, *, axis, index_dtype):
        (x,), (d,) = args, dims
        out_d = d - 1 if axis < d else d
        return [prim.bind(x, axis=_shift((axis,), d)[0], index_dtype=index_dtype)], [out_d]

    return rule


def _along_axis(prim):
    """Ops along one axis with an output of the input's shape (cumsum, argsort): the
    batch axis stays where it is, the op's axis moves past it."""
    def rule(args, dims, *, axis, **params):
        (x,), (d,) = args, dims
        return [prim.bind(x, axis=_shift((axis,), d)[0], **params)], [d]

    return rule


batch_rules[P.argmax_p] = _arg_reduce(P.argmax_p)
batch_rules[P.argmin_p] = _arg_reduce(P.argmin_p)
batch_rules[P.cumsum_p] = _along_axis(P.cumsum_p)
batch_rules[P.cumprod_p] = _along_axis(P.cumprod_p)


def _linrec(args, dims, *, axis, reverse):
    """Both operands batched along axis 0 (an unbatched one is broadcast)."""
    (a, b), size = _front(args, dims)
    return [P.linrec_p.bind(a, b, axis=axis + 1, reverse=reverse)], [0]


batch_rules[P.linrec_p] = _linrec
batch_rules[P.argsort_p] = _along_axis(P.argsort_p)
batch_rules[P.argselect_p] = _along_axis(P.argselect_p)
batch_rules[P.broadcast_in_dim_p] = _broadcast_in_dim
batch_rules[P.reshape_p] = _reshape
batch_rules[P.transpose_p] = _transpose


# ---------------------------------------------------------------- dot_general
def _dot_general(args, dims, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = args
    ld, rd = dims
    nb = len(lb)

    def shift(axes, at):  # axis numbers after inserting a new axis at `at`
        return tuple(a + 1 if a >= at else a for a in axes)

    if ld is not None and rd is not None:
        # the vmapped axis becomes a new leading dot_general batch dimension
        lhs, rhs = moveaxis(lhs, ld, 0), moveaxis(rhs, rd, 0)
        dn = ((shift(lc, 0), shift(rc, 0)), ((0,) + shift(lb, 0), (0,) + shift(rb, 0)))
        return [P.dot_general_p.bind(lhs, rhs, dimension_numbers=dn)], [0]
    if ld is not None:
        # the vmapped axis is one more free lhs axis (it may stay where it is,
        # unless it sits among the leading dot_general batch dims)
        if ld < nb:
            lhs, ld = moveaxis(lhs, ld, nb), nb
        lc2 = shift(lc, ld)
        dn = ((lc2, rc), (lb, rb))
        out_d = ld - sum(1 for c in lc2 if c < ld)  # batch dims + free lhs axes before it
        return [P.dot_general_p.bind(lhs, rhs, dimension_numbers=dn)], [out_d]
    # only rhs batched: one more free rhs axis; output axes are batch, lhs free, rhs free
    if rd < nb:
        rhs, rd = moveaxis(rhs, rd, nb), nb
    rc2 = shift(rc, rd)
    dn = ((lc, rc2), (lb, rb))
    lfree = lax.ndim(lhs) - len(lc) - nb
    out_d = lfree + rd - sum(1 for c in rc2 if c < rd)
    return [P.dot_general_p.bind(lhs, rhs, dimension_numbers=dn)], [out_d]


batch_rules[P.dot_general_p] = _dot_general


# ---------------------------------------------------------------- dense linear algebra
def _matrices(prim):
    """The LAPACK-backed primitives (solve, cholesky, det, slogdet, eigh, svd, qr) batch
    over leading axes: the vmapped axis goes first."""

    def rule(args, dims, **params):
        args, _ = _front(args, dims)
        outs = bind_list(prim, args, params)
        return outs, [0] * len(outs)

    return rule


for _p in (P.solve_p, P.cholesky_p, P.det_p, P.slogdet_p, P.eigh_p, P.svd_p, P.qr_p):
    batch_rules[_p] = _matrices(_p)


# ---------------------------------------------------------------- slicing and friends
def _slice(args, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = args, dims

    def ins(t, v):
        t = list(t)
        t.insert(d, v)
        return tuple(t)

    out = P.slice_p.bind(
        x,
        start_indices=ins(start_indices, 0),
        limit_indices=ins(limit_indices, lax.shape(x)[d]),
        strides=ins(strides, 1),
    )
    return [out], [d]


def _rev(args, dims, *, dimensions):
    (x,), (d,) = args, dims
    return [P.rev_p.bind(x, dimensions=_shift(dimensions, d))], [d]


def _pad(args, dims, *, padding_config):
    x, pv = args
    xd, pd = dims
    if pd is None:
        config = list(padding_config)
        config.insert(xd, (0, 0, 0))
        return [P.pad_p.bind(x, pv, padding_config=tuple(config))], [xd]
    # A batched padding value: pad with zero, then select the padding positions
    # (a mask made by padding an all-True array with False) from the value.
    size = lax.shape(pv)[pd]
    x = bdim_at(x, xd, size)
    config = ((0, 0, 0),) + tuple(padding_config)
    padded = P.pad_p.bind(x, lax.dtype(x).type(0), padding_config=config)
    out_shape = lax.shape(padded)
    inner = lax.full(lax.shape(x)[1:], True, np.bool_)
    mask = lax.pad(inner, np.bool_(False), padding_config)
    mask = lax.broadcast_in_dim(mask, out_shape, tuple(range(1, len(out_shape))))
    fill = lax.broadcast_in_dim(pv, out_shape, (0,))
    return [P.select_p.bind(mask, padded, fill)], [0]


def _concatenate(args, dims, *, dimension):
    size = _size(args, dims)
    # keep a batch axis that all batched operands share
    d = next(d for d in dims if d is not None)
    if any(e is not None and e != d for e in dims):
        d = 0
    xs = [bdim_at(x, e, size, d) if e != d else x for x, e in zip(args, dims)]
    return [P.concatenate_p.bind(*xs, dimension=_shift((dimension,), d)[0])], [d]


def _flat_index(idx, idx_dim, size, n):
    """Clamped indices into a length-n axis plus b * n for batch element b: the
    index into that axis with the batch folded in front of it (length size * n)."""
    idx = moveaxis(idx, idx_dim, 0)
    dt = lax.dtype(idx)
    idx = lax.min(lax.max(idx, dt.type(0)), dt.type(n - 1))  # clamp before folding
    offset = lax.mul(lax.iota(dt, lax.shape(idx), 0), dt.type(n))
    return lax.add(idx, offset)


def _gather(args, dims, *, axis):
    x, idx = args
    xd, id_ = dims
    if id_ is None:
        # out = x[:axis] + idx.shape + x[axis+1:], the batch axis riding along
        if xd <= axis:
            return [P.gather_p.bind(x, idx, axis=axis + 1)], [xd]
        return [P.gather_p.bind(x, idx, axis=axis)], [xd - 1 + lax.ndim(idx)]
    if xd is None:
        # out = x[:axis] + idx.shape + x[axis+1:]: the batch axis lands at `axis`
        idx = moveaxis(idx, id_, 0)
        return [P.gather_p.bind(x, idx, axis=axis)], [axis]
    size = lax.shape(x)[xd]
    x = moveaxis(x, xd, axis)  # (pre, B, n, post)
    shp = lax.shape(x)
    n = shp[axis + 1]
    x = lax.reshape(x, shp[:axis] + (size * n,) + shp[axis + 2 :])
    flat = _flat_index(idx, id_, size, n)
    return [P.gather_p.bind(x, flat, axis=axis)], [axis]


def _scatter_add(args, dims, *, axis, size):
    upd, idx = args
    ud, id_ = dims
    if id_ is None:
        k = lax.ndim(idx)
        if ud <= axis:
            return [P.scatter_add_p.bind(upd, idx, axis=axis + 1, size=size)], [ud]
        if ud >= axis + k:  # after the indexed block, which becomes one axis
            return [P.scatter_add_p.bind(upd, idx, axis=axis, size=size)], [ud - k + 1]
        upd = moveaxis(upd, ud, 0)
        return [P.scatter_add_p.bind(upd, idx, axis=axis + 1, size=size)], [0]
    nbatch = lax.shape(idx)[id_]
    upd = bdim_at(upd, ud, nbatch, axis)  # (pre, B, idx shape, post)
    flat = _flat_index(idx, id_, nbatch, size)
    out = P.scatter_add_p.bind(upd, flat, axis=axis, size=nbatch * size)
    shp = lax.shape(out)
    out = lax.reshape(out, shp[:axis] + (nbatch, size) + shp[axis + 1 :])
    return [out], [axis]


def _iota(args, dims, **params):
    # iota has no operands, so vmap_ir never batches it; kept for completeness.
    return [P.iota_p.bind(**params)], [None]


batch_rules[P.slice_p] = _slice
batch_rules[P.rev_p] = _rev
batch_rules[P.pad_p] = _pad
batch_rules[P.concatenate_p] = _concatenate
batch_rules[P.gather_p] = _gather
batch_rules[P.scatter_add_p] = _scatter_add
batch_rules[P.iota_p] = _iota


# ---------------------------------------------------------------- calls with sub-IRs
# Custom-derivative calls stay calls: the `call` sub-IR is batched, and the
# user's rules (Python callables in the params) are wrapped in `vmap`, as JAX
# does, so grad(vmap(f)) still uses the custom rule. For simplicity every
# operand is first given a batch axis at 0 (unbatched ones broadcast; the
# transpose of that broadcast sums their cotangents over the batch).
def _vmapped(fn, name):
    from ..vmap import vmap  # pullback.vmap imports this module

    wrapped = vmap(fn)
    wrapped.__name__ = wrapped.__qualname__ = name
    return wrapped


def _batched_jvp(jvp):
    """The rule `jvp` for batched operands. Of one of pullback's named rules, one per
    rule, itself named (vmap_<name>), so batched IRs print, parse back and are cached on
    disk like others (ir.core.DERIVED_RULES makes it when a parsed text names it)."""
    name = jvp.__name__
    named = NAMED_RULES.get(name) is jvp
    if named and "vmap_" + name in NAMED_RULES:
        return NAMED_RULES["vmap_" + name]

    def jvp_b(primals, tangents):
        po, to = _vmapped(lambda p, t: tuple(jvp(p, t)), name)(list(primals), list(tangents))
        return po, to

    jvp_b.__name__ = jvp_b.__qualname__ = ("vmap_" + name) if named else name
    return named_rule(jvp_b) if named else jvp_b


DERIVED_RULES["vmap_"] = _batched_jvp


def _custom_jvp_call(args, dims, *, call, jvp, num_consts):
    args, size = _front(args, dims)
    call_b = vmap_ir(call, [0] * len(args), size, 0)
    outs = bind_list(P.custom_jvp_call_p, args,
                     dict(call=call_b, jvp=_batched_jvp(jvp), num_consts=num_consts))
    return outs, [0] * len(outs)


def _custom_vjp_call(args, dims, *, call, fwd, bwd, num_consts):
    args, size = _front(args, dims)
    call_b = vmap_ir(call, [0] * len(args), size, 0)

    def fwd_b(primals, _bwd):
        box = []

        def fwd_one(p):
            outs, res, bwd_flat = fwd(p, _bwd)
            box.append(bwd_flat)
            return list(outs), list(res)

        outs, res = _vmapped(fwd_one, fwd.__name__)(list(primals))
        bwd_flat = box[0]  # structure only: the same for every trace of fwd

        def bwd_b(res_flat, cts):
            return _vmapped(lambda r, c: list(bwd_flat(r, c)), bwd_flat.__name__)(
                list(res_flat), list(cts)
            )

        bwd_b.__name__ = bwd_flat.__name__
        return outs, res, bwd_b

    fwd_b.__name__ = fwd.__name__
    outs = bind_list(
        P.custom_vjp_call_p, args,
        dict(call=call_b, fwd=fwd_b, bwd=bwd, num_consts=num_consts),
    )
    return outs, [0] * len(outs)


def _custom_vjp_linear(args, dims, *, bwd, num_res, out_avals):
    """The linear part of a custom_vjp function (between jvp and transpose)."""
    args, size = _front(args, dims)

    def bwd_b(res, cts):
        return _vmapped(lambda r, c: list(bwd(r, c)), bwd.__name__)(list(res), list(cts))

    bwd_b.__name__ = bwd.__name__
    out_avals = tuple(a.update(shape=(size,) + a.shape) for a in out_avals)
    outs = bind_list(
        P.custom_vjp_linear_p, args, dict(bwd=bwd_b, num_res=num_res, out_avals=out_avals)
    )
    return outs, [0] * len(outs)


def _call_rule(args, dims, *, call, **params):
    """Any other call of a sub-IR: batch the sub-IR and inline it."""
    from ..backends.interpreter import eval_ir

    size = _size(args, dims)
    body = vmap_ir(call, list(dims), size, 0)
    return eval_ir(body, body.consts, list(args)), [0] * len(body.outvars)


for _name, _rule in (("custom_jvp_call_p", _custom_jvp_call),
                     ("custom_vjp_call_p", _custom_vjp_call),
                     ("custom_vjp_linear_p", _custom_vjp_linear)):
    if hasattr(P, _name):  # defined with the AD pass
        batch_rules[getattr(P, _name)] = _rule


# ---------------------------------------------------------------- the pass
def _rule_for(eqn):
    rule = batch_rules.get(eqn.prim)
    if rule is None and isinstance(eqn.params.get("call"), IR):
        rule = _call_rule
    if rule is None:
        raise NotImplementedError(
            f"vmap: no batching rule for primitive '{eqn.prim.name}'"
            + (f" (at {eqn.source})" if eqn.source else "")
        )
    return rule


def vmap_ir(ir: IR, in_dims, axis_size: int, out_dims=0) -> IR:
    """The batched version of `ir` (see the module docstring).

    `in_dims[i]` is the batch axis of input i (None: unbatched); `out_dims` an
    int for every output or a list, one per output (None: the output must not
    depend on the batch, and comes out unbatched).
    """
    in_dims = list(in_dims)
    if len(in_dims) != len(ir.invars):
        raise BatchingError(
            f"vmap_ir: {len(in_dims)} in_dims for {len(ir.invars)} inputs"
        )
    if not isinstance(out_dims, (list, tuple)):
        out_dims = [out_dims] * len(ir.outvars)
    out_dims = list(out_dims)
    if len(out_dims) != len(ir.outvars):
        raise BatchingError(
            f"vmap_ir: {len(out_dims)} out_dims for {len(ir.outvars)} outputs"
        )
    axis_size = int(axis_size)

    env = {}  # old Var -> (new value, batch dim)

    def read(a):
        if isinstance(a, Literal):
            return a.val, None
        return env[a]

    with Builder() as b:
        for v, val in zip(ir.constvars, ir.consts):
            atom = b.to_operand(val)
            if isinstance(atom, Literal):
                env[v] = (atom.val, None)
            else:
                env[v] = (Tracer(b, atom, val if isinstance(val, np.ndarray) else None), None)
        for v, d in zip(ir.invars, in_dims):
            shp = list(v.aval.shape)
            if d is not None:
                nd = len(shp) + 1
                if not -nd <= d < nd:
                    raise BatchingError(
                        f"vmap_ir: batch axis {d} out of range for a {v.aval} input"
                    )
                shp.insert(d % nd, axis_size)
                d = d % nd
            env[v] = (b.new_arg(v.aval.update(shape=shp)), d)

        for eqn in ir.eqns:
            b.source = eqn.source
            vals, dims = zip(*[read(a) for a in eqn.inputs]) if eqn.inputs else ((), ())
            if all(d is None for d in dims):
                outs = bind_list(eqn.prim, list(vals), eqn.params, eqn.source)
                odims = [None] * len(outs)
            else:
                outs, odims = _rule_for(eqn)(list(vals), list(dims), **eqn.params)
            for v, o, d in zip(eqn.outputs, outs, odims):
                env[v] = (o, d)

        b.source = None
        results = []
        for i, (v, od) in enumerate(zip(ir.outvars, out_dims)):
            x, d = read(v)
            if od is None:
                if d is not None:
                    raise BatchingError(
                        f"vmap: output {i} depends on the batched inputs, but its "
                        "out_axes entry is None"
                    )
                results.append(x)
                continue
            nd = len(v.aval.shape) + 1
            if not -nd <= od < nd:
                raise BatchingError(
                    f"vmap: out_axes {od} out of range for output {i} of shape "
                    f"{v.aval.shape} (batched rank {nd})"
                )
            if _is_const_scalar(x):
                x = np.asarray(x)
            results.append(bdim_at(x, d, axis_size, od % nd))
        return b.build(results)


# ---------------------------------------------------------------- control flow
# cond / while / scan (ir/control_flow.py) hold closed sub-IRs. Their rules
# batch the sub-IRs with vmap_ir (batch axis 0 for every batched value inside)
# and rebuild the equation; constants the batched sub-IRs picked up (broadcast
# shapes, index arrays) become extra operands, keeping the sub-IRs closed.
def _depends_on(ir, in_batched):
    """Which outputs of `ir` depend on its batched inputs (a forward walk; an
    equation with any batched input counts all its outputs as batched, but for
    cond, scan and while, whose batching rules batch only what depends on batched
    values: there the same per-output analysis, so that a forward-mode loop's primal
    carries stay unbatched beside batched tangents). A superset of what vmap_ir
    batches, so None out_dims from it never fail."""
    from ..ir.core import Var

    batched = {v for v, b in zip(ir.invars, in_batched) if b}
    for eqn in ir.eqns:
        in_b = [isinstance(a, Var) and a in batched for a in eqn.inputs]
        if not any(in_b):
            continue
        rule = _DEPENDS.get(eqn.prim)
        out_b = rule(in_b, **eqn.params) if rule is not None else [True] * len(eqn.outputs)
        batched.update(o for o, b in zip(eqn.outputs, out_b) if b)
    return [isinstance(v, Var) and v in batched for v in ir.outvars]


def _cond_depends(in_b, *, branches):
    if in_b[0]:  # a batched predicate: both branches run, selected per lane
        return [True] * len(branches[0].outvars)
    return [any(col) for col in zip(*[_depends_on(br, in_b[1:]) for br in branches])]


def _scan_depends(in_b, *, body, num_consts, num_carry, **params):
    nc, nk = num_consts, num_carry
    carry_b, y_b = _carry_fixpoint(body, in_b[:nc], in_b[nc:nc + nk], in_b[nc + nk:])
    return carry_b + y_b


def _while_depends(in_b, *, cond, body, cond_nconsts, body_nconsts):
    m, n = cond_nconsts, body_nconsts
    carry_b, _ = _carry_fixpoint(body, in_b[m:m + n], in_b[m + n:])
    if _depends_on(cond, in_b[:m] + carry_b)[0]:
        return [True] * len(carry_b)  # lanes stop apart: every carry is batched
    return carry_b


def _closed(fn, in_avals):
    """Trace `fn` into a closed IR; returns (ir, captured values) where the IR
    takes (*captured, *in_avals)."""
    from ..tracer.trace import trace

    ir = trace(fn, in_avals)
    return IR([], [], ir.constvars + ir.invars, ir.eqns, ir.outvars), list(ir.consts)


def _inline(ir, args):
    """Evaluate a (batched, possibly const-holding) IR into the current trace."""
    from ..backends.interpreter import eval_ir

    return eval_ir(ir, ir.consts, list(args))


def _avals_of(xs):
    from ..ir.core import ShapedArray

    return [ShapedArray(lax.shape(x), lax.dtype(x)) for x in xs]


def _to_front(xs, dims, size, batched):
    """Operands with the batch axis at 0 where `batched` (broadcast if needed)."""
    return [bdim_at(x, d, size) if b else (np.asarray(x) if _is_const_scalar(x) else x)
            for x, d, b in zip(xs, dims, batched)]


def _select_batched(pred, on_true, on_false):
    """select with a (B,) predicate over values batched at axis 0."""
    shp = lax.shape(on_true)
    mask = lax.broadcast_in_dim(pred, shp, (0,)) if len(shp) > 1 else pred
    return P.select_p.bind(mask, on_true, on_false)


_DEPENDS: dict = {}  # prim -> fn(inputs batched?, **params) -> outputs batched? (control flow)


def _cond_batch(args, dims, *, branches):
    size = _size(args, dims)
    pred, ops = args[0], args[1:]
    pd, op_dims = dims[0], dims[1:]
    op_b = [d is not None for d in op_dims]
    ops = _to_front(ops, op_dims, size, op_b)
    in_dims = [0 if b else None for b in op_b]
    if pd is not None:
        # A batched predicate: every lane may take either branch, so run both
        # on the whole batch and pick per lane (JAX semantics).
        outs_by_branch = [
            _inline(vmap_ir(br, in_dims, size, 0), ops) for br in branches
        ]
        pred = moveaxis(pred, pd, 0)
        false_outs, true_outs = outs_by_branch[0], outs_by_branch[-1]
        outs = [_select_batched(pred, t, f) for t, f in zip(true_outs, false_outs)]
        return outs, [0] * len(outs)
    # An unbatched predicate stays one cond; an output is batched if it is in
    # any branch.
    out_b = [any(col) for col in zip(*[_depends_on(br, op_b) for br in branches])]
    out_dims = [0 if b else None for b in out_b]
    op_avals = _avals_of(ops)
    traced = []
    for br in branches:
        bb = vmap_ir(br, in_dims, size, out_dims)
        traced.append(_closed(lambda *xs, bb=bb: _inline(bb, xs), op_avals))
    captured, irs = _share(traced)
    outs = bind_list(CF.cond_p, [pred] + captured + ops, dict(branches=tuple(irs)))
    return outs, out_dims


def _share(traced):
    """One common captured-value list for several closed IRs [(ir, captured)]:
    every IR then takes (*all captured, *its own inputs)."""
    from ..ir.core import Var

    values, index = [], {}
    for _, caps in traced:
        for c in caps:
            if id(c) not in index:
                index[id(c)] = len(values)
                values.append(c)
    irs = []
    for ir, caps in traced:
        own = {index[id(c)]: v for c, v in zip(caps, ir.invars)}
        head = [own[i] if i in own else Var(_avals_of([c])[0]) for i, c in enumerate(values)]
        irs.append(ir.replace(invars=head + ir.invars[len(caps):]))
    return values, irs


def _carry_fixpoint(body, lead_b, carry_b, tail_b=()):
    """Carries that end up batched: batched at entry, or made batched by the body
    (from batched constants, xs or other carries), to a fixpoint."""
    carry_b = list(carry_b)
    nk = len(carry_b)
    while True:
        out_b = _depends_on(body, list(lead_b) + carry_b + list(tail_b))
        grown = [c or o for c, o in zip(carry_b, out_b[:nk])]
        if grown == carry_b:
            return carry_b, out_b[nk:]
        carry_b = grown


def _while_batch(args, dims, *, cond, body, cond_nconsts, body_nconsts):
    size = _size(args, dims)
    m, n = cond_nconsts, body_nconsts
    cc_b = [d is not None for d in dims[:m]]
    bc_b = [d is not None for d in dims[m:m + n]]
    carry_b, _ = _carry_fixpoint(body, bc_b, [d is not None for d in dims[m + n:]])
    pred_b = _depends_on(cond, cc_b + carry_b)[0]
    if pred_b:
        # Lanes stop at different iterations: every carry is batched, the loop
        # runs while any lane's condition holds, and finished lanes are frozen
        # by a select so extra iterations do not change them (JAX's approach).
        carry_b = [True] * len(carry_b)
    cc = _to_front(args[:m], dims[:m], size, cc_b)
    bc = _to_front(args[m:m + n], dims[m:m + n], size, bc_b)
    init = _to_front(args[m + n:], dims[m + n:], size, carry_b)
    dim = lambda b: 0 if b else None  # noqa: E731
    cond_bat = vmap_ir(cond, [dim(b) for b in cc_b + carry_b], size, [dim(pred_b)])
    body_bat = vmap_ir(body, [dim(b) for b in bc_b + carry_b], size,
                       [dim(b) for b in carry_b])
    cc_avals, bc_avals, k_avals = _avals_of(cc), _avals_of(bc), _avals_of(init)
    if not pred_b:
        cond_ir, ccap = _closed(lambda *xs: _inline(cond_bat, xs), cc_avals + k_avals)
        body_ir, bcap = _closed(lambda *xs: _inline(body_bat, xs), bc_avals + k_avals)
        outs = bind_list(CF.while_p, ccap + cc + bcap + bc + init,
                         dict(cond=cond_ir, body=body_ir, cond_nconsts=len(ccap) + m,
                              body_nconsts=len(bcap) + n))
        return outs, [dim(b) for b in carry_b]

    # The lanes' predicates ride along as one more carry, so the condition is
    # evaluated once per iteration (after the body), not in cond and body both.
    def any_lane(*xs):
        preds = xs[-1]
        return [lax.gt(lax.reduce_max(lax.convert(preds, np.int32), (0,)), np.int32(0))]

    def frozen_body(*xs):
        cxs, bxs, carry, preds = xs[:m], xs[m:m + n], xs[m + n:-1], xs[-1]
        new = _inline(body_bat, list(bxs) + list(carry))
        new = [_select_batched(preds, a, b) for a, b in zip(new, carry)]
        return new + [_inline(cond_bat, list(cxs) + new)[0]]

    pred0 = _inline(cond_bat, cc + init)[0]
    p_aval = _avals_of([pred0])
    cond_ir, ccap = _closed(any_lane, k_avals + p_aval)
    body_ir, bcap = _closed(frozen_body, cc_avals + bc_avals + k_avals + p_aval)
    outs = bind_list(CF.while_p, ccap + bcap + cc + bc + init + [pred0],
                     dict(cond=cond_ir, body=body_ir, cond_nconsts=len(ccap),
                          body_nconsts=len(bcap) + m + n))
    return outs[:-1], [0] * (len(outs) - 1)


def _scan_batch(args, dims, *, body, length, reverse, num_consts, num_carry):
    size = _size(args, dims)
    nc, nk = num_consts, num_carry
    c_b = [d is not None for d in dims[:nc]]
    x_b = [d is not None for d in dims[nc + nk:]]
    carry_b, y_b = _carry_fixpoint(body, c_b, [d is not None for d in dims[nc:nc + nk]], x_b)
    consts = _to_front(args[:nc], dims[:nc], size, c_b)
    init = _to_front(args[nc:nc + nk], dims[nc:nc + nk], size, carry_b)
    # xs keep the scanned axis at 0; their batch axis goes to 1, so a slice has
    # it at 0 like every other batched value in the body.
    xs = [moveaxis(x, d, 1) if d is not None else x for x, d in zip(args[nc + nk:], dims[nc + nk:])]
    dim = lambda b: 0 if b else None  # noqa: E731
    body_bat = vmap_ir(body, [dim(b) for b in c_b + carry_b + x_b], size,
                       [dim(b) for b in carry_b + y_b])
    x_slices = [a.update(shape=a.shape[1:]) for a in _avals_of(xs)]
    body_ir, cap = _closed(lambda *vs: _inline(body_bat, vs),
                           _avals_of(consts) + _avals_of(init) + x_slices)
    outs = bind_list(CF.scan_p, cap + consts + init + xs,
                     dict(body=body_ir, length=length, reverse=reverse,
                          num_consts=len(cap) + nc, num_carry=nk))
    # ys are stacked along axis 0, so their batch axis is 1
    return outs, [dim(b) for b in carry_b] + [1 if b else None for b in y_b]


def _register_control_flow_rules():
    _DEPENDS.update({CF.cond_p: _cond_depends, CF.scan_p: _scan_depends,
                     CF.while_p: _while_depends})
    batch_rules[CF.cond_p] = _cond_batch
    batch_rules[CF.while_p] = _while_batch
    batch_rules[CF.scan_p] = _scan_batch


_register_control_flow_rules()
