"""Dead-code elimination: a reverse walk keeping equations whose outputs are used.

Our IR has no side effects, so every equation whose outputs are all unused can go.
The walk is a loop over the equation list (no recursion over the graph), so
200,000-equation IRs are fine. Sub-IRs held in params (cond branches, loop bodies,
custom-call bodies) are cleaned too, keeping their signature (constvars, invars,
outvars), because the equation that holds them passes operands by position.

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
    if not eqn.params:
        return eqn

    def rewrite(sub):
        hit = memo.get(id(sub))
        if hit is None:
            hit = memo[id(sub)] = (sub, fn(sub))
        return hit[1]

    changed = False
    params = {}
    for k, v in eqn.params.items():
        nv = v
        if isinstance(v, IR):
            nv = rewrite(v)
        elif isinstance(v, tuple) and any(isinstance(x, IR) for x in v):
            items = [rewrite(x) if isinstance(x, IR) else x for x in v]
            if any(a is not b for a, b in zip(items, v)):
                nv = tuple(items)
        changed |= nv is not v
        params[k] = nv
    if not changed:
        return eqn
    new = eqn.replace()
    new.params = params
    return new


def has_subirs(eqn):
    return bool(eqn.params) and any(
        isinstance(v, IR) or (isinstance(v, tuple) and any(isinstance(x, IR) for x in v))
        for v in eqn.params.values()
    )


def _live_eqns(eqns, live):
    """Reverse walk: the equations (in order) with a used output; grows `live`."""
    kept = []
    for eqn in reversed(eqns):
        if any(o in live for o in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    return kept


def _dce(ir: IR, memo, top: bool) -> IR:
    live = {v for v in ir.outvars if isinstance(v, Var)}
    kept = _live_eqns(ir.eqns, live)
    kept = [map_subirs(e, lambda s: _dce(s, memo, False), memo) for e in kept]
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
    live = {v for v in ir.outvars if isinstance(v, Var)}
    for e in ir.eqns:
        live.update(a for a in e.inputs if isinstance(a, Var))
    if prune_inputs:
        used_inputs = [v in live for v in ir.invars]
        ir = ir.replace(invars=[v for v in ir.invars if v in live])
    else:
        used_inputs = [True] * len(ir.invars)
    return ir, used_inputs
