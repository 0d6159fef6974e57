"""Inline custom-derivative calls: `custom_jvp_call` / `custom_vjp_call` -> their body.

After differentiation the custom rules have done their job; the primal
computation is just the `call` sub-IR (whose inputs are the call's operands:
closure-converted consts, then arguments). Backends run `inline_calls` before
lowering so they never see these primitives. Sub-IRs of other equations
(cond branches, loop bodies) are inlined recursively.
"""
from __future__ import annotations

from ..ir import primitives as P
from ..ir.core import IR, Var

CALL_PRIMS = (P.custom_jvp_call_p, P.custom_vjp_call_p)


def _has_calls(ir: IR) -> bool:
    for eqn in ir.eqns:
        if eqn.prim in CALL_PRIMS:
            return True
    return any(_has_calls(sub) for _, _, sub in ir.subirs())


def inline_calls(ir: IR) -> IR:
    """`ir` with every custom derivative call replaced by its body's equations."""
    if not _has_calls(ir):
        return ir
    subst = {}

    def read(a):
        return subst.get(a, a) if isinstance(a, Var) else a

    eqns = []
    for eqn in ir.eqns:
        if eqn.prim in CALL_PRIMS:
            body = inline_calls(eqn.params["call"])
            env = dict(zip(body.invars, [read(a) for a in eqn.inputs]))
            env.update(zip(body.constvars, body.constvars))
            for beqn in body.eqns:
                outs = [Var(v.aval, v.hint) for v in beqn.outputs]
                ins = [env.get(a, a) if isinstance(a, Var) else a for a in beqn.inputs]
                eqns.append(beqn.replace(inputs=ins, outputs=outs))
                env.update(zip(beqn.outputs, outs))
            for o, bo in zip(eqn.outputs, body.outvars):
                subst[o] = env.get(bo, bo) if isinstance(bo, Var) else bo
            continue
        params = dict(eqn.params)
        changed = False
        for k, v in eqn.params.items():
            if isinstance(v, IR):
                params[k] = inline_calls(v)
                changed = changed or params[k] is not v
            elif isinstance(v, tuple) and any(isinstance(x, IR) for x in v):
                params[k] = tuple(inline_calls(x) if isinstance(x, IR) else x for x in v)
                changed = True
        new = eqn.replace(inputs=[read(a) for a in eqn.inputs])
        if changed:
            new.params = params
        eqns.append(new)
    outvars = [read(a) for a in ir.outvars]
    return ir.replace(eqns=eqns, outvars=outvars)


__all__ = ["inline_calls", "CALL_PRIMS"]
