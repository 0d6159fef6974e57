"""Reverse-mode differentiation: linearize, partially evaluate, transpose.

Design. Reverse mode reuses forward mode instead of having a second set of
derivative rules:

1. **Linearize.** `jvp_ir(ir, wrt)` (passes/jvp.py) gives an IR computing the
   primal outputs and the tangent outputs. Its jvp rules are linear in the
   tangents by construction.
2. **Partial evaluation.** A variable is *linear* when it depends on a tangent
   input. Equations with no linear input are *primal* (they compute the primal
   outputs and the residuals the derivative needs: cos(x) for sin, ...); the
   rest are *linear*: every one is a primitive applied to linear operands and
   primal operands, linear in the former (mul/div by a residual, shape ops,
   add/sub/neg, select with a primal predicate, dot_general with one primal
   side, gather/scatter_add, cumsum, `custom_vjp_linear`). Literals are never
   linear.
3. **Transpose.** A fresh `Builder` replays the primal equations forward, then
   walks the linear equations backwards. Each linear equation's output
   cotangent is pushed through `transpose_rules[prim](ct, *args, **params)`,
   where linear operands are passed as `LinearArg(aval)` markers and primal
   operands as their values; the rule returns one cotangent (or None, a
   symbolic zero) per operand. Cotangents meeting at fan-out are accumulated
   with `add`; equations whose output cotangents are all zero are skipped, and
   a never-reached input cotangent is emitted as a broadcast of literal 0.

The result of `vjp_ir(ir)` is ONE ordinary IR with inputs
`(primals..., output cotangents...)` and outputs
`(primal outs..., input cotangents...)`: primal equations forward, transposed
equations backward. It can itself be differentiated (grad of grad), batched
(jacrev), jitted and optimized. Each transposed equation keeps the source line
of the user's code it came from.

Control flow: the jvp rules of `cond` and `scan` already emit their
derivative split into a primal call (primal outputs and residuals) and a linear
call, so partial evaluation here stays equation-level; `cond` transposes branch
by branch, a linear `scan` becomes a scan in the other direction carrying the
cotangents. `while` has no transpose (no residual storage for an unknown trip
count): reverse mode through it raises NotImplementedError naming it.

Cost: every linear equation transposes into O(1) equations, and the primal
part is shared, so after DCE the gradient IR is a small constant multiple of
the primal IR (the cheap-gradient principle; tested for an MLP and Rosenbrock).
"""
from __future__ import annotations

import numpy as np

from ..ir import primitives as P
from ..ir.core import IR, Literal, Var, is_float
from ..tracer import lax
from ..tracer.trace import Builder, bind_list, current_builder
from .jvp import jvp_ir, partition  # noqa: F401  (partition is re-exported)

transpose_rules: dict = {}


class LinearArg:
    """Marks an operand that is linear (its cotangent is wanted) in a transpose rule."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"LinearArg({self.aval})"


def is_linear(x):
    return isinstance(x, LinearArg)


def _aval(x):
    if isinstance(x, LinearArg) or hasattr(x, "aval"):
        return x.aval
    a = np.asarray(x)
    from ..ir.core import ShapedArray

    return ShapedArray(a.shape, a.dtype)


def _bind1(prim, *args, **params):
    return bind_list(prim, list(args), params)[0]


# ---------------------------------------------------------------- rules
def _add_t(ct, x, y):
    return [ct if is_linear(x) else None, ct if is_linear(y) else None]


def _sub_t(ct, x, y):
    return [ct if is_linear(x) else None, lax.neg(ct) if is_linear(y) else None]


def _neg_t(ct, x):
    return [lax.neg(ct)]


def _mul_t(ct, x, y):
    if is_linear(x) and is_linear(y):
        raise NotLinearError("mul of two linear values is not linear")
    if is_linear(x):
        return [lax.mul(ct, y), None]
    return [None, lax.mul(x, ct)]


def _div_t(ct, x, y):
    if is_linear(y):
        raise NotLinearError("div with a linear denominator is not linear")
    return [lax.div(ct, y), None]


def _convert_t(ct, x, *, new_dtype):
    return [lax.convert(ct, x.aval.dtype)]


def _broadcast_in_dim_t(ct, x, *, shape, broadcast_dimensions):
    in_shape = x.aval.shape
    bd = broadcast_dimensions
    summed = [d for d in range(len(shape)) if d not in bd]
    summed += [d for i, d in enumerate(bd) if in_shape[i] == 1 and shape[d] != 1]
    out = lax.reduce_sum(ct, sorted(summed))
    return [lax.reshape(out, in_shape)]


def _reshape_t(ct, x, *, shape):
    return [lax.reshape(ct, x.aval.shape)]


def _transpose_t(ct, x, *, permutation):
    inv = [0] * len(permutation)
    for i, p in enumerate(permutation):
        inv[p] = i
    return [lax.transpose(ct, inv)]


def _reduce_sum_t(ct, x, *, axes):
    shp = x.aval.shape
    kept = [i for i in range(len(shp)) if i not in axes]
    return [lax.broadcast_in_dim(ct, shp, kept)]


def _dot_general_t(ct, x, y, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    if is_linear(x) and is_linear(y):
        raise NotLinearError("dot_general of two linear values is not linear")
    xa, ya = _aval(x), _aval(y)
    lf = [i for i in range(xa.ndim) if i not in lc and i not in lb]
    rf = [i for i in range(ya.ndim) if i not in rc and i not in rb]
    if is_linear(x):
        ct_rf = list(range(nb + len(lf), nb + len(lf) + len(rf)))
        res = lax.dot_general(ct, y, ((ct_rf, rf), (list(range(nb)), list(rb))))
        # result axes, named by the lhs axis they correspond to
        as_lhs = list(lb) + lf + [lc[list(rc).index(r)] for r in sorted(rc)]
        perm = [as_lhs.index(j) for j in range(xa.ndim)]
        return [lax.transpose(res, perm), None]
    # dot(x, ct) keeps the rhs layout for the common matmul case (no transpose)
    ct_lf = list(range(nb, nb + len(lf)))
    res = lax.dot_general(x, ct, ((lf, ct_lf), (list(lb), list(range(nb)))))
    as_rhs = list(rb) + [rc[list(lc).index(l)] for l in sorted(lc)] + rf
    perm = [as_rhs.index(j) for j in range(ya.ndim)]
    return [None, lax.transpose(res, perm)]


def _slice_t(ct, x, *, start_indices, limit_indices, strides):
    shp = x.aval.shape
    out_shape = _aval(ct).shape
    if any(d == 0 for d in out_shape):
        return [lax.full(shp, 0, x.aval.dtype)]
    config = []
    for s, st, n, d in zip(start_indices, strides, out_shape, shp):
        hi = d - (s + (n - 1) * st + 1)
        config.append((s, hi, st - 1))
    return [lax.pad(ct, 0, config)]


def _pad_t(ct, x, pv, *, padding_config):
    res = [None, None]
    if is_linear(x):
        xs = x.aval.shape
        start = [lo for lo, _, _ in padding_config]
        limit = [lo + (d - 1) * (it + 1) + 1 if d else lo
                 for (lo, _, it), d in zip(padding_config, xs)]
        strides = [it + 1 for _, _, it in padding_config]
        if any(d == 0 for d in xs):
            res[0] = lax.full(xs, 0, x.aval.dtype)
        else:
            res[0] = lax.slice(ct, start, limit, strides)
    if is_linear(pv):
        total = lax.reduce_sum(ct, range(_aval(ct).ndim))
        if res[0] is not None:
            inner = res[0]
        else:
            xs = _aval(x).shape
            inner = lax.slice(
                ct,
                [lo for lo, _, _ in padding_config],
                [lo + (d - 1) * (it + 1) + 1 if d else lo
                 for (lo, _, it), d in zip(padding_config, xs)],
                [it + 1 for _, _, it in padding_config],
            )
        res[1] = lax.sub(total, lax.reduce_sum(inner, range(len(_aval(inner).shape))))
    return res


def _concatenate_t(ct, *xs, dimension):
    res, off = [], 0
    ct_shape = _aval(ct).shape
    for x in xs:
        n = _aval(x).shape[dimension]
        if is_linear(x):
            start = [0] * len(ct_shape)
            limit = list(ct_shape)
            start[dimension], limit[dimension] = off, off + n
            res.append(lax.slice(ct, start, limit))
        else:
            res.append(None)
        off += n
    return res


def _rev_t(ct, x, *, dimensions):
    return [lax.rev(ct, dimensions)]


def _select_t(ct, p, a, b):
    if is_linear(p):
        raise NotLinearError("select with a linear predicate")
    zero = lax.full(_aval(ct).shape, 0, _aval(ct).dtype)
    return [
        None,
        lax.select(p, ct, zero) if is_linear(a) else None,
        lax.select(p, zero, ct) if is_linear(b) else None,
    ]


def _gather_t(ct, x, idx, *, axis):
    return [lax.scatter_add(ct, idx, axis, x.aval.shape[axis]), None]


def _scatter_add_t(ct, u, idx, *, axis, size):
    return [lax.gather(ct, idx, axis), None]


def _solve_t(ct, a, b):
    if isinstance(a, LinearArg):
        raise NotLinearError("solve with a linear matrix is not linear")
    return [None, lax.solve(lax.matrix_t(a), ct)]


def _cumsum_t(ct, x, *, axis, reverse):
    return [lax.cumsum(ct, axis, not reverse)]


def _linrec_t(ct, a, b, *, axis, reverse):
    """Linear in b: g[i] = ct[i] + a[i + 1] g[i + 1], the recurrence run the other way
    with a moved one step back (a's element that would fall off is never read)."""
    if isinstance(a, LinearArg):
        raise NotLinearError("linrec with a linear coefficient is not linear")
    return [None, lax.linrec(lax.shift(a, axis, not reverse, 0.0), ct, axis, not reverse)]


transpose_rules.update({
    P.add_p: _add_t,
    P.sub_p: _sub_t,
    P.neg_p: _neg_t,
    P.mul_p: _mul_t,
    P.div_p: _div_t,
    P.convert_element_type_p: _convert_t,
    P.broadcast_in_dim_p: _broadcast_in_dim_t,
    P.reshape_p: _reshape_t,
    P.transpose_p: _transpose_t,
    P.reduce_sum_p: _reduce_sum_t,
    P.dot_general_p: _dot_general_t,
    P.slice_p: _slice_t,
    P.pad_p: _pad_t,
    P.concatenate_p: _concatenate_t,
    P.rev_p: _rev_t,
    P.select_p: _select_t,
    P.gather_p: _gather_t,
    P.scatter_add_p: _scatter_add_t,
    P.cumsum_p: _cumsum_t,
    P.linrec_p: _linrec_t,
    P.solve_p: _solve_t,
})


# ---------------------------------------------------------------- the pass
NO_TRANSPOSE_HINTS = {
    "while": (
        ". As in JAX, pb.while_loop (and pb.fori_loop with traced bounds) has no reverse "
        "mode: its trip count is unknown until it runs. Use pb.fori_loop with Python-int "
        "bounds or pb.scan (both reverse-differentiable), or forward mode (pb.jvp, pb.jacfwd)."
    ),
}


class NotLinearError(ValueError):
    """A tangent program that is not linear in its tangents (only a user's custom_jvp
    rule can make one): reverse mode cannot transpose it."""


def backward_pass(lin: IR, linear_inputs, primal_args, out_cts):
    """Inside an active Builder: run `lin`'s primal equations forward on
    `primal_args` (values of its non-linear inputs), then transpose its linear
    equations with cotangents `out_cts` (one per output; None = zero).

    Returns (primal values of `lin`'s outputs (None where linear), cotangents of
    the linear inputs (None where symbolically zero)).
    """
    b = current_builder()
    primal_eqns, linear_eqns, linear = partition(lin, linear_inputs)
    env = {}
    for v, x in zip(lin.constvars, lin.consts):
        env[v] = x
    it = iter(primal_args)
    for v, lin_in in zip(lin.invars, linear_inputs):
        if not lin_in:
            env[v] = next(it)

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    for eqn in primal_eqns:
        b.source = eqn.source
        outs = bind_list(eqn.prim, [read(a) for a in eqn.inputs], eqn.params, eqn.source)
        env.update(zip(eqn.outputs, outs))

    ct_env = {}

    def accumulate(v, ct):
        if ct is None:
            return
        prev = ct_env.get(v)
        ct_env[v] = ct if prev is None else lax.add(prev, ct)

    b.source = None
    for tv, ct in zip(lin.outvars, out_cts):
        if ct is not None and isinstance(tv, Var) and tv in linear and is_float(tv.aval.dtype):
            accumulate(tv, ct)

    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(o, None) for o in eqn.outputs]
        if all(c is None for c in cts):
            continue
        b.source = eqn.source
        args = [
            LinearArg(a.aval) if isinstance(a, Var) and a in linear else read(a)
            for a in eqn.inputs
        ]
        try:
            rule = transpose_rules[eqn.prim]
        except KeyError:
            raise NotImplementedError(
                f"reverse-mode differentiation through primitive '{eqn.prim.name}' is not "
                "supported (no transpose rule; it appeared applied to a tangent)"
                + (f" at {eqn.source}" if eqn.source else "")
                + NO_TRANSPOSE_HINTS.get(eqn.prim.name, "")
            ) from None
        try:
            in_cts = rule(cts if eqn.prim.multiple_results else cts[0], *args, **eqn.params)
        except NotLinearError as err:
            raise NotLinearError(
                f"reverse-mode differentiation needs derivatives linear in the tangents, "
                f"but here {err}" + (f" (at {eqn.source})" if eqn.source else "")
                + ": a custom_jvp rule must compute its tangent output from the tangents "
                "by sums and products with primal values (no tangent * tangent, no "
                "branch on a tangent)") from None
        for a, c in zip(eqn.inputs, in_cts):
            if isinstance(a, Var) and a in linear:
                accumulate(a, c)

    b.source = None
    pouts = [None if isinstance(a, Var) and a in linear else read(a) for a in lin.outvars]
    in_cts = [ct_env.get(v) if l else None for v, l in zip(lin.invars, linear_inputs)]
    return pouts, [c for c, l in zip(in_cts, linear_inputs) if l]


def vjp_ir(ir: IR, wrt=None, ct_mask=None, values=None) -> IR:
    """Reverse-mode derivative of `ir`; see the module docstring.

    `wrt[i]` False (or an integer/bool input) gives input i a zero cotangent
    without differentiating through it. `ct_mask[j]` False means output j gets
    no cotangent input (a symbolic zero: e.g. the aux output of has_aux).
    `values`: the inputs' values, for custom rules' Python decisions (jvp_ir).
    """
    n_in, n_out = len(ir.invars), len(ir.outvars)
    wrt = [True] * n_in if wrt is None else list(wrt)
    wrt = [bool(w) and is_float(v.aval.dtype) for w, v in zip(wrt, ir.invars)]
    lin = jvp_ir(ir, wrt, values=values)
    linear_inputs = [False] * n_in + [True] * sum(wrt)
    ct_mask = [True] * n_out if ct_mask is None else list(ct_mask)

    with Builder() as b:
        primals = [b.new_arg(v.aval) for v in ir.invars]
        cts_in = [b.new_arg(v.aval) if m else None for v, m in zip(ir.outvars, ct_mask)]
        pouts, t_cts = backward_pass(lin, linear_inputs, primals, [None] * n_out + cts_in)
        it = iter(t_cts)
        in_cts = []
        for v, w in zip(ir.invars, wrt):
            ct = next(it) if w else None
            in_cts.append(lax.full(v.aval.shape, 0, v.aval.dtype) if ct is None else ct)
        return b.build(pouts[:n_out] + in_cts)


def _custom_vjp_linear_t(cts, *args, bwd, num_res, out_avals, **params):
    res = list(args[:num_res])
    cts = [lax.full(a.shape, 0, a.dtype) if c is None else c for c, a in zip(cts, out_avals)]
    in_cts = bwd(res, cts)
    return [None] * num_res + list(in_cts)


transpose_rules[P.custom_vjp_linear_p] = _custom_vjp_linear_t


# ---------------------------------------------------------------- control flow
def _cond_t(cts, pred, *ops, branches):
    """Transpose a cond that is linear in some operands: transpose every branch."""
    from ..ir import control_flow as CF
    from .jvp import trace_closed_branches

    if is_linear(pred):
        raise NotLinearError("cond with a linear predicate")
    mask = [is_linear(o) for o in ops]
    primal_vals = [o for o in ops if not is_linear(o)]
    out_avals = branches[0].out_avals
    cts = [lax.full(a.shape, 0, a.dtype) if c is None else c for c, a in zip(cts, out_avals)]
    lin_avals = [o.aval for o in ops if is_linear(o)]

    def branch_fn(br):
        def fn(*xs):
            nl = len(primal_vals)
            _, in_cts = backward_pass(br, mask, xs[:nl], xs[nl:])
            return [lax.full(a.shape, 0, a.dtype) if c is None else c
                    for c, a in zip(in_cts, lin_avals)]
        return fn

    in_avals = [_aval(o) for o in primal_vals] + list(out_avals)
    tbr, caps = trace_closed_branches([branch_fn(br) for br in branches], in_avals)
    res = bind_list(CF.cond_p, [pred] + caps + primal_vals + cts, dict(branches=tuple(tbr)))
    it = iter(res)
    return [None] + [next(it) if m else None for m in mask]


def _scan_t(cts, *args, body, length, reverse, num_consts, num_carry):
    """Transpose a linear scan: a scan the other way whose carry holds the carry
    cotangents plus accumulators for the linear consts' cotangents."""
    from ..ir import control_flow as CF
    from ..ir.core import ShapedArray
    from .jvp import trace_closed_branches

    nc, nk = num_consts, num_carry
    consts, carry, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    c_lin = [is_linear(c) for c in consts]
    x_lin = [is_linear(x) for x in xs]
    mask = c_lin + [True] * nk + x_lin  # carries are linear inside the body
    const_vals = [c for c in consts if not is_linear(c)]
    x_vals = [x for x in xs if not is_linear(x)]
    carry_avals = list(body.out_avals[:nk])
    y_avals = list(body.out_avals[nk:])
    lin_c_avals = [v.aval for v, l in zip(body.invars[:nc], c_lin) if l]
    lin_x_avals = [v.aval for v, l in zip(body.invars[nc + nk:], x_lin) if l]
    ct_carry = [lax.full(a.shape, 0, a.dtype) if c is None else c
                for c, a in zip(cts[:nk], carry_avals)]
    ct_ys = [lax.full((length,) + a.shape, 0, a.dtype) if c is None else c
             for c, a in zip(cts[nk:], y_avals)]
    ncv, nlc = len(const_vals), len(lin_c_avals)

    def fn(*vals):
        cv = list(vals[:ncv])
        ctk = list(vals[ncv:ncv + nk])
        acc = list(vals[ncv + nk:ncv + nk + nlc])
        rest = vals[ncv + nk + nlc:]
        xv, cty = list(rest[:len(x_vals)]), list(rest[len(x_vals):])
        _, in_cts = backward_pass(body, mask, cv + xv, ctk + cty)
        avals = lin_c_avals + carry_avals + lin_x_avals
        in_cts = [lax.full(a.shape, 0, a.dtype) if c is None else c
                  for c, a in zip(in_cts, avals)]
        c_cts, k_cts, x_cts = in_cts[:nlc], in_cts[nlc:nlc + nk], in_cts[nlc + nk:]
        return k_cts + [lax.add(a, c) for a, c in zip(acc, c_cts)] + x_cts

    x_slice_avals = [_aval(x) for x in x_vals]
    x_slice_avals = [ShapedArray(a.shape[1:], a.dtype) for a in x_slice_avals]
    in_avals = ([_aval(c) for c in const_vals] + carry_avals + lin_c_avals
                + x_slice_avals + y_avals)
    (tbody,), caps = trace_closed_branches([fn], in_avals)
    acc0 = [lax.full(a.shape, 0, a.dtype) for a in lin_c_avals]
    outs = bind_list(
        CF.scan_p, list(caps) + const_vals + ct_carry + acc0 + x_vals + ct_ys,
        dict(body=tbody, length=length, reverse=not reverse,
             num_consts=len(caps) + ncv, num_carry=nk + nlc))
    k_out, c_out, x_out = outs[:nk], iter(outs[nk:nk + nlc]), iter(outs[nk + nlc:])
    return ([next(c_out) if l else None for l in c_lin]
            + [k if is_linear(a) else None for k, a in zip(k_out, carry)]
            + [next(x_out) if l else None for l in x_lin])


def _register_control_flow():
    from ..ir import control_flow as CF

    transpose_rules[CF.cond_p] = _cond_t
    transpose_rules[CF.scan_p] = _scan_t


_register_control_flow()
