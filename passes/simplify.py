"""Simplification: constant folding and algebraic identities exact in IEEE arithmetic.

A forward walk. Each equation, after its inputs are renamed, is
  1. folded, when all inputs have concrete NumPy values (Literals, constvars
     holding np.ndarray/np.generic, earlier folded results) — evaluated by the
     interpreter, so the value is the reference value bit for bit. Bounded: no
     result above MAX_FOLD_SIZE elements, and never larger than its largest input
     (a splat `broadcast_in_dim 0.0` or an `iota` stays a cheap equation rather
     than becoming a stored array). A 0-d result becomes a Literal, a larger one a
     new constvar (top level only; a sub-IR keeps its signature);
  2. rewritten by the rule of its primitive in `rules`, then by the generic
     rules (an n-ary elementwise operand that is a splat `broadcast_in_dim <lit>`
     becomes the Literal; a transpose/reshape/rev/slice of a splat becomes a splat),
     repeatedly, until none applies. A rule returns None (no change), a list of
     atoms that replace the equation's outputs, or a new equation with the same
     outputs.

Every rule is exact for every input, inf, nan and -0.0 included, and keeps the
output's shape and dtype (an identity is used only when the kept operand has the
output's aval). Deliberately absent: `x - x -> 0`, `x * 0 -> 0` (wrong for inf and
nan), `x + 0.0 -> x` (wrong for x = -0.0), reassociation. `stop_gradient` stays:
AD needs it; the backend drops it. Dead equations left behind are DCE's job.
"""
from __future__ import annotations

import numpy as np

from ..backends.interpreter import impl_rules
from ..ir import primitives as P
from ..ir.core import IR, Eqn, Literal, Var
from .dce import has_subirs, map_subirs

MAX_FOLD_SIZE = 100_000


class _Ctx:
    """What the walk knows about the values of the IR being simplified."""

    def __init__(self, top):
        self.top = top
        self.subst = {}  # Var -> the atom that now stands for it
        self.known = {}  # Var -> concrete NumPy value
        self.defs = {}  # Var -> the (kept) equation defining it
        self.splat_of = {}  # Var -> Literal, for `broadcast_in_dim <Literal>` results
        self.new_constvars, self.new_consts = [], []
        self._scalars = {}

    def value(self, a):
        if isinstance(a, Literal):
            return a.val
        return self.known.get(a)

    def scalar(self, a):
        """The one value every element of `a` has (bitwise), or None if unknown."""
        if isinstance(a, Literal):
            return a.val
        lit = self.splat_of.get(a)
        if lit is not None:
            return lit.val
        if a in self._scalars:
            return self._scalars[a]
        s = None
        d = self.defs.get(a)
        if d is not None and d.prim is P.broadcast_in_dim_p:
            s = self.scalar(d.inputs[0])
        elif a in self.known:
            s = _uniform_value(np.asarray(self.known[a]))
        self._scalars[a] = s
        return s


def _uniform_value(arr):
    if arr.size == 0 or arr.size > MAX_FOLD_SIZE:
        return None
    flat = np.ascontiguousarray(arr).reshape(-1)
    bits = flat.view(f"u{flat.dtype.itemsize}")
    return flat[0] if np.all(bits == bits[0]) else None


# ---------------------------------------------------------------- predicates
def _is_one(s):
    return s is not None and s.dtype.kind in "fiu" and s == 1


def _is_add_identity(s):
    """x + s == x bitwise for every x: -0.0 for floats (0.0 + -0.0 = 0.0), 0 for ints."""
    if s is None or s.dtype.kind not in "fiu" or s != 0:
        return False
    return s.dtype.kind != "f" or bool(np.signbit(s))


def _is_sub_identity(s):
    """x - s == x bitwise for every x: +0.0 for floats (-0.0 - 0.0 = -0.0), 0 for ints."""
    if s is None or s.dtype.kind not in "fiu" or s != 0:
        return False
    return s.dtype.kind != "f" or not bool(np.signbit(s))


def _keep(eqn, a):
    """Replace the output by `a` only if `a` has the output's shape and dtype."""
    return [a] if a.aval == eqn.outputs[0].aval else None


def _def(ctx, a, prim):
    d = ctx.defs.get(a) if isinstance(a, Var) else None
    return d if d is not None and d.prim is prim else None


# ---------------------------------------------------------------- rules
rules = {}


def _mul(ctx, e):
    x, y = e.inputs
    if x is y and isinstance(x, Var):  # x * x = x ** 2 (integer_pow's reference is x * x)
        return Eqn(P.integer_pow_p, [x], e.outputs, {"y": 2}, e.source)
    if _is_one(ctx.scalar(y)):  # x * 1 = x (exact, also for inf, nan, -0.0)
        return _keep(e, x)
    if _is_one(ctx.scalar(x)):  # 1 * y = y
        return _keep(e, y)
    return None


def _div(ctx, e):
    x, y = e.inputs
    if _is_one(ctx.scalar(y)):  # x / 1 = x (ints: x // 1 = x)
        return _keep(e, x)
    return None


def _add(ctx, e):
    x, y = e.inputs
    if _is_add_identity(ctx.scalar(y)):  # x + (-0.0) = x; ints: x + 0 = x
        return _keep(e, x)
    if _is_add_identity(ctx.scalar(x)):  # (-0.0) + y = y
        return _keep(e, y)
    return None


def _sub(ctx, e):
    x, y = e.inputs
    if _is_sub_identity(ctx.scalar(y)):  # x - 0.0 = x (= x + -0.0); ints: x - 0 = x
        return _keep(e, x)
    return None


def _neg(ctx, e):
    d = _def(ctx, e.inputs[0], P.neg_p)
    if d is not None:  # neg (neg x) = x (only the sign bit flips, twice)
        return _keep(e, d.inputs[0])
    return None


def _integer_pow(ctx, e):
    if e.params["y"] == 1:  # x ** 1 = x
        return _keep(e, e.inputs[0])
    return None


def _transpose(ctx, e):
    (x,), perm = e.inputs, e.params["permutation"]
    if tuple(perm) == tuple(range(len(perm))):  # identity permutation
        return _keep(e, x)
    d = _def(ctx, x, P.transpose_p)
    if d is not None:  # transpose(transpose(x, p), q) = transpose(x, p[q])
        inner = d.params["permutation"]
        return _with(e, [d.inputs[0]], permutation=tuple(inner[i] for i in perm))
    return None


def _reshape(ctx, e):
    (x,) = e.inputs
    shape = tuple(e.params["shape"])
    if shape == x.aval.shape:  # reshape to its own shape
        return _keep(e, x)
    d = _def(ctx, x, P.reshape_p)
    if d is not None:  # reshape(reshape(x, s), t) = reshape(x, t) (row-major order kept)
        return _with(e, [d.inputs[0]])
    d = _def(ctx, x, P.broadcast_in_dim_p)
    if d is not None:  # only size-1 axes the broadcast made come or go: a broadcast
        full, dims = x.aval.shape, d.params["broadcast_dimensions"]
        kept = [k for k, n in enumerate(full) if n != 1]
        placed = [k for k, n in enumerate(shape) if n != 1]
        if ([full[k] for k in kept] == [shape[k] for k in placed]
                and all(full[k] != 1 for k in dims)):
            return _broadcast_eqn(e, d.inputs[0], shape,
                                  [placed[kept.index(k)] for k in dims])
    return None


def _broadcast_eqn(e, src, shape, dims):
    """`e`'s output as broadcast_in_dim of `src`."""
    return Eqn(P.broadcast_in_dim_p, [src], e.outputs,
               {"shape": tuple(shape), "broadcast_dimensions": tuple(dims)}, e.source)


def _broadcast_in_dim(ctx, e):
    (x,) = e.inputs
    shape, dims = e.params["shape"], e.params["broadcast_dimensions"]
    if tuple(shape) == x.aval.shape and tuple(dims) == tuple(range(len(shape))):
        return _keep(e, x)  # broadcast to its own shape
    d = _def(ctx, x, P.broadcast_in_dim_p)
    if d is not None:  # broadcast(broadcast(x, s, a), t, b) = broadcast(x, t, b[a])
        inner = d.params["broadcast_dimensions"]
        return _with(e, [d.inputs[0]], broadcast_dimensions=tuple(dims[i] for i in inner))
    return None


def _convert(ctx, e):
    (x,) = e.inputs
    if e.params["new_dtype"] == x.aval.dtype:  # conversion to its own dtype
        return _keep(e, x)
    return None


def _select(ctx, e):
    pred, on_true, on_false = e.inputs
    p = ctx.scalar(pred)
    if p is not None:  # a constant predicate picks one branch
        return _keep(e, on_true if bool(p) else on_false)
    if on_true is on_false or (isinstance(on_true, Literal) and on_true == on_false):
        return _keep(e, on_true)  # select(p, x, x) = x
    return None


def _slice(ctx, e):
    (x,) = e.inputs
    if not any(e.params["start_indices"]):  # from 0 with the input's shape: all of it
        kept = _keep(e, x)
        if kept is not None:
            return kept
    d = _def(ctx, x, P.broadcast_in_dim_p)
    if d is not None:  # slicing only broadcast axes (or taking the others whole)
        src, dims = d.inputs[0], d.params["broadcast_dimensions"]
        p = e.params
        whole = [s == 0 and l == n and st == 1 for s, l, st, n in zip(
            p["start_indices"], p["limit_indices"], p["strides"], x.aval.shape)]
        if all(whole[k] or src.aval.shape[i] == 1 for i, k in enumerate(dims)):
            return _broadcast_eqn(e, src, e.outputs[0].aval.shape, dims)
    return None


def _reduce(ctx, e):
    if not e.params["axes"]:  # a reduction over no axes
        return _keep(e, e.inputs[0])
    return None


def _rev(ctx, e):
    if not e.params["dimensions"]:  # reversing no axes
        return _keep(e, e.inputs[0])
    return None


def _pad(ctx, e):
    if all(tuple(c) == (0, 0, 0) for c in e.params["padding_config"]):  # no padding
        return _keep(e, e.inputs[0])
    return None


def _concatenate(ctx, e):
    if len(e.inputs) == 1:  # concatenation of one operand
        return _keep(e, e.inputs[0])
    return None


def _splat_to_literal(ctx, e):
    """An n-ary elementwise operand that is a broadcast of a Literal becomes the
    Literal itself (same elements), as long as another operand keeps the output shape."""
    out_shape = e.outputs[0].aval.shape
    if len(e.inputs) < 2 or not out_shape or not ctx.splat_of:
        return None
    splats = [ctx.splat_of.get(a) if isinstance(a, Var) else None for a in e.inputs]
    if not any(s is not None for s in splats) or not any(
        s is None and a.aval.shape == out_shape for s, a in zip(splats, e.inputs)
    ):
        return None
    return e.replace(inputs=[a if s is None else s for s, a in zip(splats, e.inputs)])


SPLAT_PRESERVING = {P.transpose_p, P.reshape_p, P.rev_p, P.slice_p}


def _splat_shape_op(ctx, e):
    """Moving, reversing, reshaping or slicing an array of one Literal value gives
    an array of that value: broadcast the Literal to the output shape directly."""
    (x,) = e.inputs
    lit = x if isinstance(x, Literal) else ctx.splat_of.get(x)
    if lit is None:
        return None
    return Eqn(P.broadcast_in_dim_p, [lit], e.outputs,
               {"shape": e.outputs[0].aval.shape, "broadcast_dimensions": ()}, e.source)


def _with(e, inputs, **params):
    new = e.replace(inputs=list(inputs))
    new.params = {**e.params, **params}
    return new


rules[P.mul_p] = _mul
rules[P.div_p] = _div
rules[P.add_p] = _add
rules[P.sub_p] = _sub
rules[P.neg_p] = _neg
rules[P.integer_pow_p] = _integer_pow
rules[P.transpose_p] = _transpose
rules[P.reshape_p] = _reshape
rules[P.broadcast_in_dim_p] = _broadcast_in_dim
rules[P.convert_element_type_p] = _convert
rules[P.select_p] = _select
rules[P.slice_p] = _slice
for _p in (P.reduce_sum_p, P.reduce_prod_p, P.reduce_max_p, P.reduce_min_p):
    rules[_p] = _reduce
rules[P.rev_p] = _rev
rules[P.pad_p] = _pad
rules[P.concatenate_p] = _concatenate


# ---------------------------------------------------------------- known operands of sub-IRs
# An operand of cond/scan/while that is a Literal or a splat `broadcast_in_dim <lit>`
# moves into the sub-IR: the sub-IR's invar is then defined there by
# `broadcast_in_dim <lit>` (folded or used as a literal by the next round), and the
# operand goes. Carries are never moved: they change from one iteration to the next.
def _known_scalar(ctx, a):
    if isinstance(a, Literal):
        return a
    return ctx.splat_of.get(a)


def _define_inside(sub, inlined):
    """`sub` with the invars in `inlined` (invar -> Literal) defined by splats."""
    head = [
        Eqn(P.broadcast_in_dim_p, [lit], [v],
            {"shape": v.aval.shape, "broadcast_dimensions": ()})
        for v, lit in inlined.items()
    ]
    return sub.replace(invars=[v for v in sub.invars if v not in inlined],
                       eqns=head + sub.eqns)


def _inline_operands(ctx, e, positions):
    """Which operand positions hold known scalars: {position: Literal}."""
    return {i: lit for i in positions if (lit := _known_scalar(ctx, e.inputs[i])) is not None}


def _cond_operands(ctx, e):
    known = _inline_operands(ctx, e, range(1, len(e.inputs)))
    if not known:
        return None
    branches = tuple(
        _define_inside(br, {br.invars[i - 1]: lit for i, lit in known.items()})
        for br in e.params["branches"]
    )
    return _with(e, [a for i, a in enumerate(e.inputs) if i not in known], branches=branches)


def _scan_operands(ctx, e):
    p = e.params
    nc, nk = p["num_consts"], p["num_carry"]
    movable = list(range(nc)) + list(range(nc + nk, len(e.inputs)))
    known = _inline_operands(ctx, e, movable)
    if not known:
        return None
    body = _define_inside(p["body"], {p["body"].invars[i]: lit for i, lit in known.items()})
    return _with(e, [a for i, a in enumerate(e.inputs) if i not in known], body=body,
                 num_consts=nc - sum(i < nc for i in known))


def _while_operands(ctx, e):
    p = e.params
    m, n = p["cond_nconsts"], p["body_nconsts"]
    known = _inline_operands(ctx, e, range(m + n))
    if not known:
        return None
    cond = _define_inside(p["cond"], {p["cond"].invars[i]: lit for i, lit in known.items()
                                      if i < m})
    body = _define_inside(p["body"], {p["body"].invars[i - m]: lit for i, lit in known.items()
                                      if i >= m})
    return _with(e, [a for i, a in enumerate(e.inputs) if i not in known], cond=cond, body=body,
                 cond_nconsts=m - sum(i < m for i in known),
                 body_nconsts=n - sum(i >= m for i in known))


def _register_control_flow_rules():
    from ..ir import control_flow as CF

    rules[CF.cond_p] = _cond_operands
    rules[CF.scan_p] = _scan_operands
    rules[CF.while_p] = _while_operands


_register_control_flow_rules()


# ---------------------------------------------------------------- folding
def _fold(ctx, e):
    """Output atoms of `e` evaluated now, or None when it cannot or should not be."""
    if e.prim not in impl_rules:
        return None
    vals = []
    for a in e.inputs:  # stops at the first unknown operand (the common case)
        v = ctx.value(a)
        if v is None:
            return None
        vals.append(v)
    if has_subirs(e):
        return None
    largest_in = max([np.size(v) for v in vals], default=0)
    sizes = [o.aval.size for o in e.outputs]
    if sum(sizes) > MAX_FOLD_SIZE or any(s > max(1, largest_in) for s in sizes):
        return None
    if not ctx.top and any(o.aval.shape for o in e.outputs):
        return None  # would need a new constvar, which a sub-IR cannot get
    try:
        with np.errstate(all="ignore"):
            outs = impl_rules[e.prim](*vals, **e.params)
    except Exception:  # leave it to run time, where the error is reported in context
        return None
    atoms = []
    for o, val in zip(e.outputs, outs):
        val = np.asarray(val)
        if val.shape != o.aval.shape or val.dtype != o.aval.dtype:
            return None
        if val.shape == ():
            atoms.append(Literal(val, o.aval.dtype))
        else:
            v = Var(o.aval)
            ctx.new_constvars.append(v)
            ctx.new_consts.append(np.array(val))  # own, writable-independent copy
            ctx.known[v] = ctx.new_consts[-1]
            atoms.append(v)
    return atoms


# ---------------------------------------------------------------- the walk
def _simplify(ir: IR, memo, top: bool) -> IR:
    ctx = _Ctx(top)
    for v, c in zip(ir.constvars, ir.consts):
        if isinstance(c, (np.ndarray, np.generic)):  # not tracers of an enclosing trace
            ctx.known[v] = c
    subst = ctx.subst
    new_eqns = []
    changed = False
    def sub_simplify(s):
        return _simplify(s, memo, False)

    for eqn in ir.eqns:
        inputs = [subst.get(a, a) if isinstance(a, Var) else a for a in eqn.inputs]
        e = map_subirs(eqn, sub_simplify, memo)
        if any(a is not b for a, b in zip(inputs, eqn.inputs)):
            e = e.replace(inputs=inputs)
        while True:
            res = _fold(ctx, e)
            if res is None:
                rule = rules.get(e.prim)
                res = rule(ctx, e) if rule is not None else None
            if res is None and e.prim in P.ELEMENTWISE:
                res = _splat_to_literal(ctx, e)
            if res is None and e.prim in SPLAT_PRESERVING:
                res = _splat_shape_op(ctx, e)
            if isinstance(res, Eqn):
                e = res
                continue
            break
        changed |= e is not eqn
        if res is None:
            for o in e.outputs:
                ctx.defs[o] = e
            if e.prim is P.broadcast_in_dim_p and isinstance(e.inputs[0], Literal):
                ctx.splat_of[e.outputs[0]] = e.inputs[0]
            new_eqns.append(e)
        else:
            changed = True
            for o, r in zip(e.outputs, res):
                subst[o] = r
    outvars = [subst.get(v, v) if isinstance(v, Var) else v for v in ir.outvars]
    if not changed and all(a is b for a, b in zip(outvars, ir.outvars)):
        return ir
    return ir.replace(
        eqns=new_eqns,
        outvars=outvars,
        constvars=ir.constvars + ctx.new_constvars,
        consts=ir.consts + ctx.new_consts,
    )


def simplify(ir: IR) -> IR:
    """Fold constants and apply the exact identities in `rules`. Returns `ir` if unchanged."""
    return _simplify(ir, {}, True)
