"""Dead-code elimination: a reverse walk keeping equations whose outputs are used.

Our IR has no side effects, so every equation whose outputs are all unused can go.
The walk is a loop over the equation list (no recursion over the graph), so
200,000-equation IRs are fine. Sub-IRs held in params (cond branches, loop bodies,
custom-call bodies) are cleaned too, keeping their signature (constvars, invars,
outvars), because the equation that holds them passes operands by position.
Primitives with a rule in `dce_rules` (cond, scan, while) may also shrink that
signature together with their own outputs and operands: unused outputs of a cond
or scan (and scan or while carries nothing needs) go, then operands no sub-IR reads.

Also here: `map_subirs`, the generic rewrite of the sub-IRs in an equation's
params that every pass in this package uses, and `dce_prune`, which also drops
unused outputs and inputs (for internal use by AD and the backend).
"""
from __future__ import annotations

from ..ir.core import IR, Var


def map_subirs(eqn, fn, memo):
    """`eqn` with every sub-IR in its params replaced by `fn(sub)`.

    Returns the same Eqn object when nothing changed. `memo` maps id(sub-IR) to
    its rewrite so an IR shared by several equations stays shared (CSE compares
    sub-IRs by identity); it also keeps the originals alive so ids stay unique.
    """
    params = None  # a copy of eqn.params, made at the first rewritten sub-IR
    for k, v in eqn.params.items():
        if isinstance(v, IR):
            nv = _rewrite_subir(v, fn, memo)
        elif isinstance(v, tuple):
            for x in v:  # a loop, not any(...): this runs for every tuple param
                if isinstance(x, IR):
                    break
            else:
                continue
            items = [_rewrite_subir(x, fn, memo) if isinstance(x, IR) else x for x in v]
            nv = tuple(items) if any(a is not b for a, b in zip(items, v)) else v
        else:
            continue
        if nv is not v:
            if params is None:
                params = dict(eqn.params)
            params[k] = nv
    if params is None:
        return eqn
    new = eqn.replace()
    new.params = params
    return new


def _rewrite_subir(sub, fn, memo):
    hit = memo.get(id(sub))
    if hit is None:
        hit = memo[id(sub)] = (sub, fn(sub))
    return hit[1]


def has_subirs(eqn):
    return bool(eqn.params) and any(
        isinstance(v, IR) or (isinstance(v, tuple) and any(isinstance(x, IR) for x in v))
        for v in eqn.params.values()
    )


def _live_eqns(eqns, live):
    """Reverse walk: the equations (in order) with a used output; grows `live`."""
    kept = []
    for eqn in reversed(eqns):
        for o in eqn.outputs:
            if o in live:
                break
        else:
            continue  # no output used
        kept.append(eqn)
        for a in eqn.inputs:
            if isinstance(a, Var):
                live.add(a)
    kept.reverse()
    return kept


def _live_eqns_with_rules(eqns, live, memo):
    """Like _live_eqns, but an equation with a rule in `dce_rules` may also drop its
    unused outputs (and the inputs only they needed)."""
    kept = []
    for eqn in reversed(eqns):
        used = [o in live for o in eqn.outputs]
        if not any(used):
            continue
        rule = dce_rules.get(eqn.prim)
        if rule is not None:
            eqn = rule(eqn, used, memo)
        kept.append(eqn)
        live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    return kept


def _dce(ir: IR, memo, top: bool) -> IR:
    live = {v for v in ir.outvars if isinstance(v, Var)}
    if any(e.prim in dce_rules for e in ir.eqns):
        kept = _live_eqns_with_rules(ir.eqns, live, memo)
    else:
        kept = _live_eqns(ir.eqns, live)
    def sub_dce(s):
        return _dce(s, memo, False)

    kept = [map_subirs(e, sub_dce, memo) for e in kept]
    if top:
        used = [(v, c) for v, c in zip(ir.constvars, ir.consts) if v in live]
        constvars, consts = [v for v, _ in used], [c for _, c in used]
    else:  # a sub-IR keeps its signature, constvars included
        constvars, consts = ir.constvars, ir.consts
    if (
        len(kept) == len(ir.eqns)
        and all(a is b for a, b in zip(kept, ir.eqns))
        and len(constvars) == len(ir.constvars)
    ):
        return ir
    return ir.replace(eqns=kept, constvars=constvars, consts=consts)


def dce(ir: IR) -> IR:
    """Drop unused equations (also inside sub-IRs) and unused top-level constvars.

    Returns `ir` itself when nothing is dead.
    """
    return _dce(ir, {}, True)


def dce_prune(ir: IR, used_outputs=None, prune_inputs=True):
    """DCE that may change the signature: keep only the outputs flagged in
    `used_outputs` (default: all), then, with `prune_inputs`, drop invars that
    nothing uses. Returns (new IR, used_inputs) where used_inputs[i] tells
    whether invar i of `ir` was kept (all True when not pruning inputs).
    """
    if used_outputs is None:
        used_outputs = [True] * len(ir.outvars)
    if len(used_outputs) != len(ir.outvars):
        raise ValueError(
            f"dce_prune: {len(used_outputs)} flags for {len(ir.outvars)} outputs"
        )
    outvars = [v for v, u in zip(ir.outvars, used_outputs) if u]
    ir = dce(ir.replace(outvars=outvars))
    if prune_inputs:
        live = {v for v in ir.outvars if isinstance(v, Var)}
        for e in ir.eqns:
            live.update(a for a in e.inputs if isinstance(a, Var))
        used_inputs = [v in live for v in ir.invars]
        ir = ir.replace(invars=[v for v in ir.invars if v in live])
    else:
        used_inputs = [True] * len(ir.invars)
    return ir, used_inputs


def used_inputs(ir: IR):
    """Which invars of `ir` its (live) equations or outvars read."""
    live = {v for v in ir.outvars if isinstance(v, Var)}
    _live_eqns(ir.eqns, live)  # adds the inputs of every live equation to `live`
    return [v in live for v in ir.invars]


# ---------------------------------------------------------------- per-primitive rules
# dce_rules[prim](eqn, used_outputs, memo) -> an equation computing (at least) the used
# outputs, for equations that hold sub-IRs: unused outputs are dropped from the
# sub-IRs, then operands no sub-IR needs any more.
dce_rules = {}


def _select(items, flags):
    return [x for x, f in zip(items, flags) if f]


def _pruned(sub, used, memo):
    """`sub` with only its `used` outputs, dead code removed at every depth. Memoized
    in the walk's memo, and the result marked clean there: without that, each level
    of nested control flow pruned its sub-IRs once in its rule and again in the walk,
    2**depth times in all (20 nested conds: 84 s)."""
    if all(used):  # the walk's own rewrite of `sub`: one entry for both
        return _rewrite_subir(sub, lambda s: _dce(s, memo, False), memo)
    key = ("pruned", id(sub), tuple(used))
    hit = memo.get(key)
    if hit is None:
        out = _dce(sub.replace(outvars=_select(sub.outvars, used)), memo, False)
        hit = memo[key] = (sub, _clean(out, memo))
    return hit[1]


def _clean(ir, memo):
    """Mark `ir` as having no dead code (the walk then takes it as it is)."""
    memo.setdefault(id(ir), (ir, ir))
    return ir


def _dce_cond(eqn, used, memo=None):
    memo = {} if memo is None else memo
    branches = [_pruned(br, used, memo) for br in eqn.params["branches"]]
    needed = [any(col) for col in zip(*[used_inputs(br) for br in branches])]
    if all(used) and all(needed):
        return eqn  # nothing to drop (dead code inside the branches goes later)
    branches = tuple(_clean(br.replace(invars=_select(br.invars, needed)), memo) for br in branches)
    new = eqn.replace(inputs=[eqn.inputs[0]] + _select(eqn.inputs[1:], needed),
                      outputs=_select(eqn.outputs, used))
    new.params = {**eqn.params, "branches": branches}
    return new


def _dce_scan(eqn, used, memo=None):
    memo = {} if memo is None else memo
    p = eqn.params
    nc, nk = p["num_consts"], p["num_carry"]
    body = p["body"]
    # A carry can go only if it is unused outside and no kept body output needs it:
    # grow the kept set to a fixpoint.
    keep_carry = list(used[:nk])
    keep_ys = list(used[nk:])
    while True:
        pruned = _pruned(body, keep_carry + keep_ys, memo)
        needed = used_inputs(pruned)
        grown = [k or n for k, n in zip(keep_carry, needed[nc : nc + nk])]
        if grown == keep_carry:
            break
        keep_carry = grown
    invar_flags = needed[:nc] + keep_carry + needed[nc + nk :]
    if all(invar_flags) and all(keep_carry + keep_ys):
        return eqn
    body = _clean(pruned.replace(invars=_select(pruned.invars, invar_flags)), memo)
    new = eqn.replace(inputs=_select(eqn.inputs, invar_flags),
                      outputs=_select(eqn.outputs, keep_carry + keep_ys))
    new.params = {**p, "body": body, "num_consts": sum(needed[:nc]),
                  "num_carry": sum(keep_carry)}
    return new


def _dce_while(eqn, used, memo=None):
    # A carry can go only if the caller does not use it, the condition does not
    # read it, and no kept carry's update reads it (a fixpoint, as for scan);
    # then unused constants of the condition and of the body go too.
    memo = {} if memo is None else memo
    p = eqn.params
    m, n = p["cond_nconsts"], p["body_nconsts"]
    cond, body = p["cond"], p["body"]
    nk = len(eqn.outputs)
    cond_reads = used_inputs(cond)
    keep = [u or c for u, c in zip(used, cond_reads[m:])]
    while True:
        pruned = _pruned(body, keep, memo)
        body_reads = used_inputs(pruned)
        grown = [k or r for k, r in zip(keep, body_reads[n:])]
        if grown == keep:
            break
        keep = grown
    cond_needed = cond_reads[:m]
    body_needed = body_reads[:n]
    if all(cond_needed) and all(body_needed) and all(keep):
        return eqn
    cond = cond.replace(invars=_select(cond.invars, cond_needed + keep))
    body = _clean(pruned.replace(invars=_select(pruned.invars, body_needed + keep)), memo)
    flags = cond_needed + body_needed + keep
    assert len(flags) == len(eqn.inputs) and len(keep) == nk
    new = eqn.replace(inputs=_select(eqn.inputs, flags), outputs=_select(eqn.outputs, keep))
    new.params = {**p, "cond": cond, "body": body,
                  "cond_nconsts": sum(cond_needed), "body_nconsts": sum(body_needed)}
    return new


def _register_control_flow_rules():
    from ..ir import control_flow as CF

    dce_rules[CF.cond_p] = _dce_cond
    dce_rules[CF.scan_p] = _dce_scan
    dce_rules[CF.while_p] = _dce_while


_register_control_flow_rules()
