"""Merge conds on one predicate: `merge_conds(ir)`.

Differentiating a cond makes more conds on the same predicate: the JVP's, then
transposition's residual and linear ones, twice as many per order (a fourth
derivative through one `pb.cond` held 14). Each is a branch of its own in the
compiled kernel, whose outputs are materialized and passed on to the next. A
cond whose predicate is that of an earlier cond, and whose operands are all
available where the earlier one runs (defined before it, or its outputs), is
folded into it: each branch runs the earlier cond's branch, then its own, with
the earlier outputs it reads taken directly. Both take the same branch, so the
results are the same; the merged cond stands where the earlier one stood, and
every use of the later one's outputs comes after that.

The Numba backend runs it before code generation; DCE then drops outputs
nothing reads any more.
"""
from __future__ import annotations

from ..ir.control_flow import cond_p
from ..ir.core import IR, Literal, Var
from .dce import has_subirs, map_subirs


def _same_pred(a, b):
    if isinstance(a, Var) or isinstance(b, Var):
        return a is b
    return isinstance(a, Literal) and isinstance(b, Literal) and a.val == b.val \
        and a.aval == b.aval


def _copy_into(body, env, eqns):
    """Append `body`'s equations to `eqns` with fresh variables, its invars read
    from `env` (which it extends); returns its outvars as atoms of `eqns`."""
    def read(a):
        return env.get(a, a) if isinstance(a, Var) else a

    for e in body.eqns:
        outs = [Var(v.aval, v.hint) for v in e.outputs]
        eqns.append(e.replace(inputs=[read(a) for a in e.inputs], outputs=outs))
        env.update(zip(e.outputs, outs))
    return [read(a) for a in body.outvars]


def _merge(first, later):
    """One cond doing `first` and then `later` (same predicate, same branch)."""
    produced = {v: k for k, v in enumerate(first.outputs)}
    ops = list(first.inputs[1:])
    slot = {}  # Var operand -> its position among the merged operands
    for k, a in enumerate(ops):
        if isinstance(a, Var):
            slot.setdefault(a, k)
    for a in later.inputs[1:]:
        if isinstance(a, Var) and (a in produced or a in slot):
            continue
        if isinstance(a, Var):
            slot[a] = len(ops)
        ops.append(a)
    branches = []
    for br_first, br_later in zip(first.params["branches"], later.params["branches"]):
        invars = [Var(a.aval) for a in ops]
        eqns = []
        env = dict(zip(br_first.invars, invars[:len(br_first.invars)]))
        outs_first = _copy_into(br_first, env, eqns)
        later_env = {}
        for iv, a in zip(br_later.invars, later.inputs[1:]):
            if isinstance(a, Var) and a in produced:
                later_env[iv] = outs_first[produced[a]]
            elif isinstance(a, Var):
                later_env[iv] = invars[slot[a]]
            else:  # a literal operand: read as the literal
                later_env[iv] = a
        outs_later = _copy_into(br_later, later_env, eqns)
        branches.append(IR([], [], invars, eqns, outs_first + outs_later))
    return first.replace(inputs=[first.inputs[0]] + ops,
                         outputs=list(first.outputs) + list(later.outputs),
                         params=dict(first.params, branches=tuple(branches)))


def fold_into_earlier(ir: IR, prim, joins, merge, again) -> IR:
    """`ir` with each `prim` equation folded into the earliest `prim` equation before
    it that `joins(earlier, later, late)` allows, `late` being the variables defined
    after the earlier one, by `merge(earlier, later)`; sub-IRs first, by `again`.
    The merged equation stands where the earlier one stood. Returns `ir` itself when
    nothing changed."""
    memo = {}
    eqns = [map_subirs(e, again, memo) if has_subirs(e) else e for e in ir.eqns]
    changed = any(a is not b for a, b in zip(eqns, ir.eqns))
    out = []
    late = {}  # per open equation (by its index in `out`): the variables defined after it
    for e in eqns:
        target = None
        if e.prim is prim:
            target = next((i for i in late if joins(out[i], e, late[i])), None)
        if target is not None:
            out[target] = merge(out[target], e)
            for i, s in late.items():  # now defined where the target stands
                if i < target:
                    s.update(e.outputs)
            changed = True
            continue
        for s in late.values():
            s.update(e.outputs)
        if e.prim is prim:
            late[len(out)] = set()
        out.append(e)
    if not changed:
        return ir
    return ir.replace(eqns=out)


def _joins(first, later, late):
    return (_same_pred(first.inputs[0], later.inputs[0])
            and len(first.params["branches"]) == len(later.params["branches"])
            and not any(isinstance(a, Var) and a in late for a in later.inputs))


def merge_conds(ir: IR) -> IR:
    """`ir` with every cond folded into the earliest cond on its predicate that it
    can join (also inside sub-IRs). Returns `ir` itself when nothing merged."""
    return fold_into_earlier(ir, cond_p, _joins, _merge, merge_conds)


__all__ = ["merge_conds"]
