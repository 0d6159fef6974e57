"""Common-subexpression elimination.

Two equations are the same computation when they apply the same primitive with
the same params (`Eqn.params_key()`; sub-IRs compare by identity) to the same
inputs. Literals are equal by value (`Literal.__eq__`). Top-level constants are
merged when they are the same object, or small NumPy arrays with the same dtype,
shape and bytes (bitwise, so 0.0 and -0.0 stay apart). The later equation is
dropped and its outputs renamed to the earlier one's; a forward walk, so chains of
duplicates collapse in one pass. Sub-IRs are processed on their own (each is a
closed scope).
"""
from __future__ import annotations

import numpy as np

from ..ir import primitives as P
from ..ir.core import IR, Literal, Var
from .dce import map_subirs

# Primitives whose operands can be swapped with bitwise-identical results.
# max/min are absent for floats: NumPy's maximum(-0.0, 0.0) is 0.0 but
# maximum(0.0, -0.0) is -0.0, so swapping them is not exact (see _commutes).
COMMUTATIVE = {P.add_p, P.mul_p, P.eq_p, P.ne_p, P.and_p, P.or_p}
COMMUTATIVE_IF_NOT_FLOAT = {P.max_p, P.min_p}

# Constants up to this many elements are compared by value.
MAX_CONST_COMPARE = 100_000


def _commutes(eqn):
    if eqn.prim in COMMUTATIVE:
        return True
    return eqn.prim in COMMUTATIVE_IF_NOT_FLOAT and eqn.inputs[0].aval.dtype.kind != "f"


def _const_group(value):
    """Constants that may be merged by value share a group: (dtype, shape) of a small
    concrete array; None means compare by identity only."""
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.size <= MAX_CONST_COMPARE:
            return arr.dtype.str, arr.shape
    return None


def _const_bytes(value):
    return np.ascontiguousarray(np.asarray(value)).tobytes()


def _first_equal_consts(constvars, consts):
    """constvar -> the first earlier constvar holding the same object or, for small
    arrays, the same dtype, shape and bytes. Bytes are read only when two constants
    share a dtype and shape."""
    rep_of = {}
    by_id = {}  # id(const) -> first constvar holding it
    groups = {}  # (dtype, shape) -> [[constvar, const, bytes or None], ...]
    for v, c in zip(constvars, consts):
        group = _const_group(c)
        if group is None:
            rep = by_id.setdefault(id(c), v)
        else:
            members = groups.setdefault(group, [])
            rep = v
            mine = None
            for m in members:
                if m[1] is c:
                    rep = m[0]
                    break
                if m[2] is None:
                    m[2] = _const_bytes(m[1])
                if mine is None:
                    mine = _const_bytes(c)
                if m[2] == mine:
                    rep = m[0]
                    break
            else:
                members.append([v, c, mine])
        rep_of[v] = rep
    return rep_of


def _cse(ir: IR, memo) -> IR:
    subst = {}
    order = {}  # Var -> definition index: a stable sort key for commutative operands

    def define(v):
        order[v] = len(order)

    for v in ir.constvars + ir.invars:
        define(v)

    # Equal constants: later constvars are renamed to the first equal one. Only
    # uses are renamed; DCE then drops the unused constvar at top level.
    for v, rep in _first_equal_consts(ir.constvars, ir.consts).items():
        if rep is not v and rep.aval == v.aval:
            subst[v] = rep

    def atom_key(a):
        if isinstance(a, Literal):
            return (1, a.aval.dtype.str, repr(a.val.item()))
        return (0, order.get(a, -1), id(a))

    table = {}
    new_eqns = []
    changed = False
    def sub_cse(s):
        return _cse(s, memo)

    for eqn in ir.eqns:
        inputs = [subst.get(a, a) if isinstance(a, Var) else a for a in eqn.inputs]
        new = map_subirs(eqn, sub_cse, memo)
        if any(a is not b for a, b in zip(inputs, eqn.inputs)):
            new = new.replace(inputs=inputs)
        changed |= new is not eqn
        key_inputs = sorted(inputs, key=atom_key) if _commutes(new) else inputs
        try:
            key = (new.prim, new.params_key() if new.params else (), tuple(key_inputs))
            hash(key)
        except TypeError:  # an unhashable param: never merged
            key = None
        prev = table.get(key) if key is not None else None
        if prev is not None and [o.aval for o in prev.outputs] == [
            o.aval for o in new.outputs
        ]:
            for o, p in zip(new.outputs, prev.outputs):
                subst[o] = p
            changed = True
            continue
        if key is not None:
            table[key] = new
        for o in new.outputs:
            order[o] = len(order)
        new_eqns.append(new)
    outvars = [subst.get(v, v) if isinstance(v, Var) else v for v in ir.outvars]
    if not changed and all(a is b for a, b in zip(outvars, ir.outvars)):
        return ir
    return ir.replace(eqns=new_eqns, outvars=outvars)


def cse(ir: IR) -> IR:
    """Merge duplicate equations and equal constants. Returns `ir` if nothing merged."""
    return _cse(ir, {})
