"""Structured control flow primitives, whose params hold closed sub-IRs.

    cond[branches=(false_ir, true_ir)] pred *operands -> outs
        Runs branches[int(pred)] on the operands. Every branch takes the same
        operands (the union of what any branch needs) and returns the same avals.
    while[cond=cond_ir, body=body_ir, cond_nconsts=m, body_nconsts=n]
            *cond_consts *body_consts *init -> final carries
        cond_ir(*cond_consts, *carry) -> bool[]; body_ir(*body_consts, *carry) -> carry.
    scan[body=body_ir, length=n, reverse=r, num_consts=c, num_carry=k]
            *consts *init *xs -> *final_carry *ys
        body_ir(*consts, *carry, *x_slices) -> (*carry, *y_slices); xs and ys are
        stacked along axis 0; `reverse` walks the slices from last to first.

Sub-IRs are closed: they have no constvars. Values a branch or body closes over
(NumPy arrays, tracers of the enclosing trace) are passed as explicit operands.
"""
from __future__ import annotations

import numpy as np

from .core import ShapedArray
from .primitives import ShapeError, _register


def _fail(msg):
    raise ShapeError(msg)


def _check_args(name, ir, avals):
    if ir.constvars:
        _fail(f"{name}: sub-IRs must be closed (no constvars)")
    if list(ir.in_avals) != list(avals):
        _fail(
            f"{name}: sub-IR takes ({', '.join(map(str, ir.in_avals))}) but is given "
            f"({', '.join(map(str, avals))})"
        )


def _cond_rule(pred, *operands, branches, _name=None):
    if pred.shape != () or pred.dtype != np.dtype(bool):
        _fail(f"cond: the predicate must be a bool scalar, got {pred}")
    outs = None
    for br in branches:
        _check_args("cond", br, operands)
        if outs is None:
            outs = br.out_avals
        elif list(br.out_avals) != list(outs):
            _fail(
                "cond: branches return different types: "
                f"({', '.join(map(str, outs))}) vs ({', '.join(map(str, br.out_avals))})"
            )
    return list(outs)


cond_p = _register("cond", _cond_rule, multiple_results=True)


def _while_rule(*args, cond, body, cond_nconsts, body_nconsts, _name=None):
    cconsts = args[:cond_nconsts]
    bconsts = args[cond_nconsts : cond_nconsts + body_nconsts]
    init = args[cond_nconsts + body_nconsts :]
    _check_args("while cond", cond, list(cconsts) + list(init))
    _check_args("while body", body, list(bconsts) + list(init))
    if cond.out_avals != [ShapedArray((), bool)]:
        _fail(f"while: cond must return a bool scalar, got {cond.out_avals}")
    if list(body.out_avals) != list(init):
        _fail(
            "while: body changes the carry's type: "
            f"({', '.join(map(str, init))}) -> ({', '.join(map(str, body.out_avals))})"
        )
    return list(init)


while_p = _register("while", _while_rule, multiple_results=True)


def _scan_rule(*args, body, length, reverse, num_consts, num_carry, _name=None):
    consts = args[:num_consts]
    init = args[num_consts : num_consts + num_carry]
    xs = args[num_consts + num_carry :]
    for x in xs:
        if x.ndim == 0 or x.shape[0] != length:
            _fail(f"scan: every xs must have leading axis {length}, got {x}")
    x_slices = [ShapedArray(x.shape[1:], x.dtype) for x in xs]
    _check_args("scan body", body, list(consts) + list(init) + x_slices)
    outs = body.out_avals
    if list(outs[:num_carry]) != list(init):
        _fail(
            "scan: body changes the carry's type: "
            f"({', '.join(map(str, init))}) -> ({', '.join(map(str, outs[:num_carry]))})"
        )
    ys = [ShapedArray((length,) + y.shape, y.dtype) for y in outs[num_carry:]]
    return list(init) + ys


scan_p = _register("scan", _scan_rule, multiple_results=True)
