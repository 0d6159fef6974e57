"""Dead-code elimination: a reverse walk keeping equations whose outputs are used."""
from __future__ import annotations

from ..ir.core import IR, Var


def dce(ir: IR) -> IR:
    live = {v for v in ir.outvars if isinstance(v, Var)}
    kept = []
    for eqn in reversed(ir.eqns):
        if any(o in live for o in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    kept.reverse()
    used = [(v, c) for v, c in zip(ir.constvars, ir.consts) if v in live]
    return ir.replace(
        eqns=kept, constvars=[v for v, _ in used], consts=[c for _, c in used]
    )
