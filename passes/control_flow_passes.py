"""Control-flow specific rewrites used by the generic passes.

`share_equal_subirs(ir)`: CSE compares the sub-IRs of cond / while / scan
equations by identity, so the same loop traced twice (say `f(x)` called twice,
or two derivative passes emitting the same primal scan) would stay two loops.
This pass makes structurally equal sub-IRs one object, after which CSE merges
the equations holding them like any other duplicates. Two sub-IRs are equal
when they print the same (the printer names variables by position and prints
literals exactly) and hold no constants or Python callables (custom
derivative rules print only their names, so those sub-IRs are left alone).
"""
from __future__ import annotations

from ..ir.core import IR
from .dce import has_subirs, map_subirs


def _printable_exactly(ir, seen):
    """No constvars and no callable params anywhere inside (so text equality is
    structural equality)."""
    if id(ir) in seen:
        return seen[id(ir)]
    ok = not ir.constvars
    for eqn in ir.eqns:
        if not ok:
            break
        for v in (eqn.params or {}).values():
            items = v if isinstance(v, tuple) else (v,)
            for x in items:
                if isinstance(x, IR):
                    ok = ok and _printable_exactly(x, seen)
                elif callable(x) and not isinstance(x, type):
                    ok = False
    seen[id(ir)] = ok
    return ok


def share_equal_subirs(ir: IR) -> IR:
    """`ir` with structurally equal sub-IRs replaced by one shared object
    (inner sub-IRs first). Returns `ir` itself when nothing was shared."""
    if not any(has_subirs(e) for e in ir.eqns):
        return ir
    by_text = {}
    exact = {}
    memo = {}

    def canonical(sub):
        sub = visit(sub)
        if not _printable_exactly(sub, exact):
            return sub
        return by_text.setdefault(str(sub), sub)

    def visit(cur):
        eqns = [map_subirs(e, canonical, memo) if has_subirs(e) else e for e in cur.eqns]
        if all(a is b for a, b in zip(eqns, cur.eqns)):
            return cur
        return cur.replace(eqns=eqns)

    return visit(ir)
