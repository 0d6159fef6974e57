"""Layout sinking: move transposes, unit-axis reshapes and pads toward the inputs.

A `transpose`, a reshape that only inserts or removes size-1 axes (a "unit
reshape") or a `pad` (with a Literal padding value) applied to the result of an
elementwise op, a broadcast (and, for transposes, a pad, slice, rev or iota) is
rewritten to apply that op to moved operands instead:

    transpose(add(a, b), p)        -> add(transpose(a, p), transpose(b, p))
    transpose(pad(x, v, cfg), p)   -> pad(transpose(x, p), v, cfg permuted by p)
    transpose(broadcast(x, ...))   -> broadcast(x or a smaller transpose of x, ...)
    reshape[100,1,99 -> 100,99](y) -> y computed without the size-1 axis
    pad(mul(neg(a), b), 0.0)       -> mul(neg(pad(a, -0.0)), pad(b, 0.0))

and so on down the chain, until the op reaches an input, a constant (simplify
folds transposes and reshapes into constants), another layout op (simplify
composes them, often into the identity) or an op it does not cross (reductions,
dot_general, transcendental functions). Why: a layout op at the end of a chain
costs the Numba backend a materialized result plus a loop that copies it in the
new order; sunk to the inputs, one fused loop computes in the output's order and
writes the output directly, and size-1 axes cost no loops.

Every rewrite is exact (bitwise): the same scalar operations run on the same
values, only positions move. A pad crosses an elementwise op only with padding
values for the operands that the op maps to the pad's value, found by evaluating
the op with the interpreter (`mul` by 0.0 and 0.0 gives 0.0; `neg` needs -0.0);
the extra work on padded positions is bounded: a pad sinks only when it adds at
most half the operand's elements. Transcendental functions are not
crossed, because NumPy's (the reference interpreter's) SIMD loops for them may
round differently on strided than on contiguous data.

A layout op L is sunk into the equation D defining its operand only when every
use of D's output is an L with the same params (those duplicates are merged),
so nothing is computed twice. A transpose read only by dot_general stays: the
backend hands it to BLAS as a transposed view for free, while sunk into a loop
it would turn that loop's reads strided. Sunk layout ops are processed again at once, so a
chain sinks in one run. Sub-IRs are rewritten on their own (each is a closed
scope). Dead equations are dropped on the way when anything else changes (a
use by dead code must not block a sink); otherwise DCE's job.
"""
from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np

from ..backends.interpreter import impl_rules
from ..ir import primitives as P
from ..ir.core import IR, Eqn, Literal, Var
from .dce import map_subirs

# Elementwise primitives whose results do not depend on the memory layout of the
# operands in the reference interpreter (exactly rounded or exact per element).
CROSSED_ELEMENTWISE = {
    P.add_p, P.sub_p, P.mul_p, P.div_p, P.rem_p, P.max_p, P.min_p, P.neg_p, P.abs_p,
    P.sign_p, P.floor_p, P.ceil_p, P.round_p, P.sqrt_p, P.rsqrt_p, P.not_p, P.and_p,
    P.or_p, P.eq_p, P.ne_p, P.lt_p, P.le_p, P.gt_p, P.ge_p, P.select_p, P.is_finite_p,
    P.signbit_p,
    P.stop_gradient_p, P.integer_pow_p, P.convert_element_type_p,
}


def _pad_sinks(x, out):
    """A pad sinks only if it adds at most half of x's elements: the chain below it
    is computed on the padded elements too."""
    n = math.prod(x.aval.shape)
    return math.prod(out.aval.shape) - n <= n // 2


# ---------------------------------------------------------------- layout ops
def _unit_map(src, dst):
    """For a reshape src -> dst that only inserts/removes size-1 axes: a list giving,
    for each axis of `src`, its axis in `dst` (None for a dropped size-1 axis).
    None if the reshape moves elements across axes."""
    nz_src = [k for k, n in enumerate(src) if n != 1]
    nz_dst = [k for k, n in enumerate(dst) if n != 1]
    if [src[k] for k in nz_src] != [dst[k] for k in nz_dst]:
        return None
    where = [None] * len(src)
    for k, j in zip(nz_src, nz_dst):
        where[k] = j
    return where


def _kind(e):
    """'transpose', 'unit' or 'pad' for the layout ops this pass sinks, else None."""
    if e.prim is P.transpose_p:
        return "transpose"
    if e.prim is P.reshape_p and isinstance(e.inputs[0], Var) and _unit_map(
            e.inputs[0].aval.shape, e.outputs[0].aval.shape) is not None:
        return "unit"
    if e.prim is P.pad_p and isinstance(e.inputs[1], Literal) and _pad_sinks(e.inputs[0],
                                                                             e.outputs[0]):
        return "pad"
    return None


def _inverse(perm):
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    return inv


class _Builder:
    """Makes the layout equations applied to D's operands (new Vars)."""

    def __init__(self, layout_eqn):
        self.src = layout_eqn.source
        self.made = []

    def transpose(self, a, perm):
        if isinstance(a, Literal) or list(perm) == list(range(len(perm))):
            return a
        out = Var(a.aval.update(shape=[a.aval.shape[p] for p in perm]))
        self.made.append(Eqn(P.transpose_p, [a], [out], {"permutation": tuple(perm)}, self.src))
        return out

    def reshape(self, a, shape):
        if isinstance(a, Literal) or tuple(shape) == a.aval.shape:
            return a
        out = Var(a.aval.update(shape=shape))
        self.made.append(Eqn(P.reshape_p, [a], [out], {"shape": tuple(shape)}, self.src))
        return out

    def pad(self, a, value, cfg):
        if isinstance(a, Literal) or all(tuple(c) == (0, 0, 0) for c in cfg):
            return a
        shape = [lo + hi + n + max(0, n - 1) * it for (lo, hi, it), n in zip(cfg, a.aval.shape)]
        out = Var(a.aval.update(shape=shape))
        self.made.append(Eqn(P.pad_p, [a, value], [out],
                             {"padding_config": tuple(tuple(c) for c in cfg)}, self.src))
        return out


# ---------------------------------------------------------------- pad values
def _bits(x):
    x = np.asarray(x)
    return x.dtype.str, x.tobytes()


def _candidates(dtype, value):
    """Padding values worth trying for an operand of `dtype` (the target first)."""
    if dtype.kind == "f":
        vals = [0.0, -0.0, 1.0, -1.0]
    elif dtype.kind == "b":
        vals = [False, True]
    else:
        vals = [0, 1, -1]
    with np.errstate(all="ignore"):
        cast = value.val.astype(dtype)
    if cast.astype(value.aval.dtype).tobytes() == value.val.tobytes():  # lossless: try it first
        vals = [cast] + vals
    cands = []
    for v in vals:
        lit = Literal(v, dtype)
        if lit not in cands:
            cands.append(lit)
    return cands


_pad_values_memo = {}


def _pad_values(D, ins, value):
    """Padding values (Literals) for D's operands such that D applied to them (and to
    its Literal operands) gives `value` bitwise, evaluated with the interpreter; None
    when no candidate works. Literal operands keep their value."""
    key = (D.prim, D.params_key(), tuple((a.aval, _bits(a.val)) if isinstance(a, Literal)
                                         else a.aval.dtype for a in ins), _bits(value.val))
    if key in _pad_values_memo:
        return _pad_values_memo[key]
    want = _bits(value.val)
    options = [[a] if isinstance(a, Literal) else _candidates(a.aval.dtype, value) for a in ins]
    found = None
    for combo in itertools.product(*options):
        try:
            with np.errstate(all="ignore"):
                (got,) = impl_rules[D.prim](*[np.asarray(c.val) for c in combo], **D.params)
        except Exception:  # noqa: BLE001 - an operand combination the op rejects
            continue
        if _bits(got) == want:  # same dtype and bits
            found = list(combo)
            break
    if len(_pad_values_memo) > 4096:  # bounded: keys carry literal values
        _pad_values_memo.clear()
    _pad_values_memo[key] = found
    return found


# ---------------------------------------------------------------- rules
# rule(E, D, ins, b) -> the equation computing E's output from layout-moved operands
# (made with the _Builder b), or None when L does not cross D. `ins` are D's inputs.
def _elementwise(E, D, ins, b):
    if D.prim not in CROSSED_ELEMENTWISE or len(D.outputs) != 1:
        return None
    if not any(isinstance(a, Var) for a in ins):  # literals only (neg 2.0): nothing to move,
        return None                               # and its output would keep shape ()
    kind = _kind(E)
    if kind == "transpose":
        moved = [b.transpose(a, E.params["permutation"]) for a in ins]
    elif kind == "pad":
        values = _pad_values(D, ins, E.inputs[1])
        if values is None:
            return None
        cfg = E.params["padding_config"]
        moved = [b.pad(a, v, cfg) for a, v in zip(ins, values)]
    else:
        shape = E.outputs[0].aval.shape
        moved = [b.reshape(a, shape) for a in ins]
    return Eqn(D.prim, moved, E.outputs, D.params, D.source)


def _broadcast(E, D, ins, b):
    (x,) = ins
    bd = D.params["broadcast_dimensions"]
    out_shape = E.outputs[0].aval.shape
    kind = _kind(E)
    if kind == "transpose":
        inv = _inverse(E.params["permutation"])
        dims = [inv[d] for d in bd]  # where each axis of x lands in the output
        order = sorted(range(len(dims)), key=dims.__getitem__)
        x2 = b.transpose(x, order)  # broadcast_dimensions must increase
        new_bd = [dims[i] for i in order]
    elif kind == "pad":
        # only axes of x with their full size may be padded (not broadcast ones)
        cfg = E.params["padding_config"]
        src = {d: i for i, d in enumerate(bd)}
        for k, c in enumerate(cfg):
            if tuple(c) != (0, 0, 0) and (
                    k not in src or x.aval.shape[src[k]] != D.outputs[0].aval.shape[k]):
                return None
        x2 = b.pad(x, E.inputs[1], [cfg[d] for d in bd])
        new_bd = bd
    else:
        where = _unit_map(D.outputs[0].aval.shape, out_shape)
        keep = [i for i, d in enumerate(bd) if where[d] is not None]
        x2 = b.reshape(x, [x.aval.shape[i] for i in keep])  # dropped axes have size 1
        new_bd = [where[bd[i]] for i in keep]
    return Eqn(P.broadcast_in_dim_p, [x2], E.outputs,
               {"shape": out_shape, "broadcast_dimensions": tuple(new_bd)}, D.source)


def _pad(E, D, ins, b):
    x, pv = ins
    cfg = D.params["padding_config"]
    kind = _kind(E)
    if kind == "pad":  # pad(pad(x, v), v) without interior padding: one pad
        outer = E.params["padding_config"]
        if pv != E.inputs[1] or any(c[2] or o[2] for c, o in zip(cfg, outer)):
            return None
        new_cfg = [(c[0] + o[0], c[1] + o[1], 0) for c, o in zip(cfg, outer)]
        return Eqn(P.pad_p, [x, pv], E.outputs, {"padding_config": tuple(new_cfg)}, D.source)
    if kind == "transpose":
        perm = E.params["permutation"]
        x2 = b.transpose(x, perm)
        new_cfg = [cfg[p] for p in perm]
    else:
        src = D.outputs[0].aval.shape
        where = _unit_map(src, E.outputs[0].aval.shape)
        if any(w is None and tuple(c) != (0, 0, 0) for w, c in zip(where, cfg)):
            return None  # a size-1 axis made by padding is not a plain unit axis
        back = {w: k for k, w in enumerate(where) if w is not None}
        shape2, new_cfg = [], []
        for j in range(len(E.outputs[0].aval.shape)):
            k = back.get(j)
            shape2.append(1 if k is None else x.aval.shape[k])
            new_cfg.append((0, 0, 0) if k is None else tuple(cfg[k]))
        x2 = b.reshape(x, shape2)
    return Eqn(P.pad_p, [x2, pv], E.outputs, {"padding_config": tuple(new_cfg)}, D.source)


def _transpose_only(rule):
    def wrapped(E, D, ins, b):
        return rule(E, D, ins, b) if _kind(E) == "transpose" else None

    wrapped.__name__ = rule.__name__
    return wrapped


@_transpose_only
def _slice(E, D, ins, b):
    perm, p = E.params["permutation"], D.params
    x2 = b.transpose(ins[0], perm)
    return Eqn(P.slice_p, [x2], E.outputs, {
        "start_indices": tuple(p["start_indices"][q] for q in perm),
        "limit_indices": tuple(p["limit_indices"][q] for q in perm),
        "strides": tuple(p["strides"][q] for q in perm)}, D.source)


@_transpose_only
def _rev(E, D, ins, b):
    perm = E.params["permutation"]
    inv = _inverse(perm)
    x2 = b.transpose(ins[0], perm)
    dims = tuple(sorted(inv[d] for d in D.params["dimensions"]))
    return Eqn(P.rev_p, [x2], E.outputs, {"dimensions": dims}, D.source)


@_transpose_only
def _iota(E, D, ins, b):
    inv = _inverse(E.params["permutation"])
    return Eqn(P.iota_p, [], E.outputs, {**D.params, "shape": E.outputs[0].aval.shape,
                                         "dimension": inv[D.params["dimension"]]}, D.source)


def _layout(E, D, ins, b):
    """transpose of transpose and unit reshape of unit reshape compose into one."""
    if _kind(E) != _kind(D):
        return None
    (x,) = ins
    if _kind(E) == "transpose":
        inner = D.params["permutation"]
        perm = tuple(inner[q] for q in E.params["permutation"])
        return Eqn(P.transpose_p, [x], E.outputs, {"permutation": perm}, E.source)
    if _unit_map(x.aval.shape, E.outputs[0].aval.shape) is None:
        return None
    return Eqn(P.reshape_p, [x], E.outputs, {"shape": E.outputs[0].aval.shape}, E.source)


rules = {P.broadcast_in_dim_p: _broadcast, P.pad_p: _pad, P.slice_p: _slice,
         P.rev_p: _rev, P.iota_p: _iota, P.transpose_p: _layout, P.reshape_p: _layout}
for _p in CROSSED_ELEMENTWISE:
    rules[_p] = _elementwise


# ---------------------------------------------------------------- the walk
def _same_layout(a, b):
    return a.prim is b.prim and a.params == b.params and a.inputs[1:] == b.inputs[1:]


def _sink(ir: IR, memo) -> IR:
    eqns = [map_subirs(e, lambda s: _sink(s, memo), memo) for e in ir.eqns]
    changed = any(a is not b for a, b in zip(eqns, ir.eqns))
    stack = [e for e in eqns if _kind(e)]  # popped last-first: outputs' layout ops first
    if not stack and not changed:
        return ir  # no layout op to sink
    subst = {}

    def canon(a):
        while isinstance(a, Var) and a in subst:
            a = subst[a]
        return a

    # Dead equations are dropped (when anything changes): a use by dead code must
    # not stop a sink, and must not be left reading a value that is gone.
    live = {v for v in ir.outvars if isinstance(v, Var)}
    dead = set()  # ids of dropped or removed equations
    for e in reversed(eqns):
        if any(o in live for o in e.outputs):
            live.update(a for a in e.inputs if isinstance(a, Var))
        else:
            dead.add(id(e))
    slots = [[e] for e in eqns]  # program position -> the equations now there
    producer = {}  # var -> (position, defining equation)
    uses = defaultdict(list)  # var -> live equations reading it (one entry per read)
    for pos, e in enumerate(eqns):
        if id(e) in dead:
            continue
        for o in e.outputs:
            producer[o] = (pos, e)
        for a in e.inputs:
            if isinstance(a, Var):
                uses[a].append(e)
    returned = {v for v in ir.outvars if isinstance(v, Var)}
    while stack:
        E = stack.pop()
        if id(E) in dead:
            continue
        x = canon(E.inputs[0])
        if not isinstance(x, Var) or x in returned or x not in producer:
            continue
        users = uses[x]
        if not all(_same_layout(u, E) for u in users):
            continue
        out = E.outputs[0]
        if E.prim is P.transpose_p and out not in returned and uses[out] and all(
                u.prim is P.dot_general_p for u in uses[out]):
            continue  # BLAS reads a transposed operand as is; sunk, loops would read strided
        pos, D = producer[x]
        rule = rules.get(D.prim)
        b = _Builder(E)
        new = rule(E, D, [canon(a) for a in D.inputs], b) if rule is not None else None
        if new is None:
            continue
        changed = True
        for u in users:  # E and its duplicates go; the duplicates' outputs become E's
            dead.add(id(u))
            if u is not E:
                subst[u.outputs[0]] = out
                uses[out].extend(uses.pop(u.outputs[0], ()))
                if u.outputs[0] in returned:  # returned now as `out`: it must stay defined
                    returned.add(out)
        uses[x] = []
        dead.add(id(D))  # replaced (D may itself be a layout op still on the stack)
        slot = slots[pos]
        i = next(k for k, s in enumerate(slot) if s is D)
        slot[i:i + 1] = b.made + [new]
        for a in D.inputs:
            a = canon(a)
            if isinstance(a, Var):
                uses[a].remove(D)
        for e in b.made + [new]:
            for a in e.inputs:
                if isinstance(a, Var):
                    uses[a].append(e)
            producer[e.outputs[0]] = (pos, e)
        # the new layout ops sink further; layout ops reading `out` see a new producer
        stack.extend(u for u in uses[out] if _kind(u))
        stack.extend(reversed(b.made))
        if _kind(new):
            stack.append(new)
    if not changed:
        return ir
    new_eqns = []
    for slot in slots:
        for e in slot:
            if id(e) in dead:
                continue
            if subst and any(isinstance(a, Var) and a in subst for a in e.inputs):
                e = e.replace(inputs=[canon(a) for a in e.inputs])
            new_eqns.append(e)
    return ir.replace(eqns=new_eqns, outvars=[canon(v) for v in ir.outvars])


def sink_layout(ir: IR) -> IR:
    """Move transposes and unit reshapes toward the inputs. Returns `ir` if unchanged."""
    return _sink(ir, {})
