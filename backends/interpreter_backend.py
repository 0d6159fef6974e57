"""`backend="interpreter"`: run the optimized IR with NumPy, primitive by primitive."""
import functools

from .interpreter import impl
from ..ir.core import Literal


def compile(ir):
    eqns = [(e.prim, functools.partial(impl, e.prim), e.inputs, e.outputs, e.params)
            for e in ir.eqns]
    consts = list(zip(ir.constvars, ir.consts))
    invars, outvars = ir.invars, ir.outvars

    def run(*args):
        env = dict(consts)
        env.update(zip(invars, args))
        for _, rule, ins, outs, params in eqns:
            vals = rule(*[a.val if isinstance(a, Literal) else env[a] for a in ins], **params)
            env.update(zip(outs, vals))
        return [a.val if isinstance(a, Literal) else env[a] for a in outvars]

    return run
