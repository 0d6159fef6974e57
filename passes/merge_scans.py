"""Fuse a scan into the scan whose stacked outputs it reads: `merge_scans(ir)`.

Forward mode through a loop (`pb.jvp`, `jacfwd`, a Hessian's outer derivative)
emits two scans (passes/jvp.py, `_scan_jvp`): a primal one that stacks each
iteration's residuals as extra ys, and a linear one that reads them back as xs, in
the same order, so that reverse mode can transpose the second alone. When nothing
transposes it, that is two loops and a stack of residuals as long as the loop,
where one loop carrying primal and tangent values needs none. A scan that reads
ys of an earlier scan of the same length and direction as its xs (and nothing
else that earlier scan computes), and whose other operands are available where the
earlier one runs, is folded into it: each iteration runs the earlier body, then
the later one, which takes those ys as they are made. The merged scan stands where
the earlier one stood; every use of the later one's outputs comes after that.

The Numba backend runs it before code generation, after merge_conds; DCE then
drops the stacked outputs nothing reads any more (the residuals).
"""
from __future__ import annotations

from ..ir.control_flow import scan_p
from ..ir.core import IR, Var
from .merge_conds import _copy_into, fold_into_earlier


def _split(e, items=None):
    """(consts, init, xs) operands of a scan equation, or the same parts of `items`
    (its body's invars)."""
    nc, nk = e.params["num_consts"], e.params["num_carry"]
    items = e.inputs if items is None else items
    return items[:nc], items[nc:nc + nk], items[nc + nk:]


def _joins(first, later, late):
    """Whether `later` reads ys of `first` as xs only, and nothing else of it or
    defined after it (`late`)."""
    if (first.params["length"] != later.params["length"]
            or first.params["reverse"] != later.params["reverse"]):
        return False
    nk = first.params["num_carry"]
    carry, ys = set(first.outputs[:nk]), set(first.outputs[nk:])
    consts, init, xs = _split(later)
    reads = False
    for a in consts + init:
        if isinstance(a, Var) and (a in carry or a in ys or a in late):
            return False
    for a in xs:
        if isinstance(a, Var):
            if a in ys:
                reads = True
            elif a in carry or a in late:
                return False
    return reads


def _merge(first, later):
    """One scan running `first`'s body, then `later`'s on the ys it reads. An operand
    both read (as consts, or as xs) is passed once."""
    f_nc, f_nk = first.params["num_consts"], first.params["num_carry"]
    l_nk = later.params["num_carry"]
    f_consts, f_init, f_xs = _split(first)
    l_consts, l_init, l_xs = _split(later)
    made = {v: k for k, v in enumerate(first.outputs[f_nk:])}  # stacked y -> its index
    fb, lb = first.params["body"], later.params["body"]
    fc, fk, fx = _split(first, fb.invars)
    lc, lk, lx = _split(later, lb.invars)
    consts, xs = list(f_consts), list(f_xs)
    c_in, k_in, x_in = [Var(v.aval) for v in fc], [Var(v.aval) for v in fk + lk], \
        [Var(v.aval) for v in fx]
    env_l = {}

    def share(operand, inner, ops, ins):  # later's body invar `inner` reads `operand`
        k = next((k for k, o in enumerate(ops) if o is operand), None)
        if isinstance(operand, Var) and k is not None:
            env_l[inner] = ins[k]
        else:
            ops.append(operand)
            ins.append(Var(inner.aval))
            env_l[inner] = ins[-1]

    for a, v in zip(l_consts, lc):
        share(a, v, consts, c_in)
    env_l.update(zip(lk, k_in[f_nk:]))
    eqns = []
    outs_first = _copy_into(fb, dict(zip(fb.invars, c_in[:f_nc] + k_in[:f_nk] + x_in)), eqns)
    for a, v in zip(l_xs, lx):
        if isinstance(a, Var) and a in made:
            env_l[v] = outs_first[f_nk + made[a]]
        else:
            share(a, v, xs, x_in)
    outs_later = _copy_into(lb, env_l, eqns)
    # (scans of the two bodies, now one body, may join in turn: nested loops)
    body = merge_scans(IR([], [], c_in + k_in + x_in, eqns, outs_first[:f_nk]
                          + outs_later[:l_nk] + outs_first[f_nk:] + outs_later[l_nk:]))
    outputs = (list(first.outputs[:f_nk]) + list(later.outputs[:l_nk])
               + list(first.outputs[f_nk:]) + list(later.outputs[l_nk:]))
    params = dict(first.params, body=body, num_consts=len(consts), num_carry=f_nk + l_nk)
    return first.replace(inputs=consts + f_init + l_init + xs, outputs=outputs, params=params)


def merge_scans(ir: IR) -> IR:
    """`ir` with every scan that reads an earlier scan's ys as xs folded into it (also
    inside sub-IRs). Returns `ir` itself when nothing merged."""
    return fold_into_earlier(ir, scan_p, _joins, _merge, merge_scans)


__all__ = ["merge_scans"]
