"""Banded 2-d values in the numba backend's loops: where a fused loop computes a
band of each row and copies the rest.

Hessians and Jacobians built from an identity basis (`pb.hessian`, `jacfwd`) of
functions that couple neighbours (`x[1:] - x[:-1]`) are banded: the Rosenbrock
Hessian is tridiagonal, yet its fused loop computed all n**2 elements from the
shifted identities the basis leaves as constants.

`band_hulls` finds, for each 2-d value it can (one rule per primitive,
BAND_RULES), a hull of offsets `i1 - i0` outside which every row holds a single
value: zeros of the identity, times a broadcast column, plus another such value,
and so on. Which value (+0, -0, NaN where the column held inf) varies by row and
is not known until run time, so the code generator (Codegen.band_plan) computes
each row's band plus one column beside it, and copies that column's element to
the rest of the row. Every copied element is the one the whole loop would have
computed there: the same operations on the same operands, so bit-equal.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...ir import primitives as P
from ...ir.core import Literal


class Hull(NamedTuple):
    """Outside offsets lo..hi (i1 - i0; none when lo > hi) each row of a value
    holds one value; the same one in every row if `uniform` (the zeros of an
    identity: what a transpose keeps, as it turns rows into columns)."""
    lo: int
    hi: int
    uniform: bool = False


EMPTY = Hull(1, 0)  # no offsets: every row is one value (a broadcast column)


def band_hulls(eqns, known):
    """{2-d value: Hull} for the values of `eqns` (in program order) the rules
    describe; `known(v)` is v's value when computable at codegen time."""
    hulls = {}
    for e in eqns:
        if len(e.outputs) != 1 or e.outputs[0].aval.ndim != 2:
            continue
        (v,) = e.outputs
        val = known(v)
        if val is not None:
            h = _of_value(val)
        else:
            rule = BAND_RULES.get(e.prim) or (_union if e.prim in P.ELEMENTWISE else None)
            h = rule(e, [_operand(x, hulls, known) for x in e.inputs]) if rule else None
        if h is not None:
            hulls[v] = h
    return hulls


def _operand(x, hulls, known):
    """A rule's view of operand `x`: its hull (one value everywhere for a
    literal or a scalar), or None."""
    if isinstance(x, Literal) or x.aval.ndim == 0:
        return EMPTY._replace(uniform=True)
    if x not in hulls and x.aval.ndim == 2:
        val = known(x)  # a constant input of the kernel
        hulls[x] = _of_value(val) if val is not None else None
    return hulls.get(x)


def _of_value(val):
    """The hull of a known 2-d array: that of its nonzeros in the rows that do
    not hold one value, if each such row's zeros outside it have one sign bit
    (else None); EMPTY if every row holds one value."""
    val = np.ascontiguousarray(val)
    if val.ndim != 2 or val.size == 0:
        return None
    bits = val.view(np.uint8).reshape(val.shape[0], val.shape[1], -1)
    mixed = ~(bits == bits[:, :1]).all(axis=(1, 2))  # rows of more than one value
    if not mixed.any():
        return EMPTY._replace(uniform=bool((bits == bits[:1, :1]).all()))
    i0, i1 = np.nonzero((val != 0) & mixed[:, None])
    if i0.size == 0:
        return None  # zeros of both signs in a row
    lo, hi = int((i1 - i0).min()), int((i1 - i0).max())
    d = np.arange(val.shape[1])[None, :] - np.arange(val.shape[0])[:, None]
    off, neg = (d < lo) | (d > hi), np.signbit(val)
    if ((off & neg).any(axis=1) & (off & ~neg).any(axis=1)).any():
        return None  # zeros of both signs in a row
    outside = bits[off]
    return Hull(lo, hi, bool((outside == outside[:1]).all()))


def _shift(h, k):
    return h if h.lo > h.hi else h._replace(lo=h.lo + k, hi=h.hi + k)


def union(hulls):
    """The hull of values whose rows are one value outside every one of `hulls`
    (None if any is None): an elementwise op of them, or a loop storing them all."""
    if any(h is None for h in hulls):
        return None
    uniform = all(h.uniform for h in hulls)
    hs = [h for h in hulls if h.lo <= h.hi]
    if not hs:
        return EMPTY._replace(uniform=uniform)
    return Hull(min(h.lo for h in hs), max(h.hi for h in hs), uniform)


def _union(e, hulls):
    """An elementwise op: outside all its operands' hulls, one op of one value per row."""
    return union(hulls)


def _broadcast(e, hulls):
    """A column broadcast along axis 1 holds one value per row."""
    (x,) = e.inputs
    dims = tuple(e.params["broadcast_dimensions"])
    nd = x.aval.ndim
    if nd == 0 or (nd == 1 and dims == (0,)) or (nd == 2 and x.aval.shape[1] == 1 and dims == (0, 1)):
        return EMPTY._replace(uniform=nd == 0)
    return None


def _pad(e, hulls):
    """Rows padded along axis 0 hold the padding value, and the others move down;
    padding along axis 1 would put other values into rows (cropping shifts them)."""
    h = hulls[0]
    (lo0, hi0, in0), (lo1, hi1, in1) = e.params["padding_config"]
    if h is None or in0 or in1 or lo1 > 0 or hi1 > 0:
        return None
    return _shift(h, lo1 - lo0)._replace(uniform=h.uniform and lo0 <= 0 and hi0 <= 0)


def _slice(e, hulls):
    (h,) = hulls
    strides = e.params.get("strides")
    if h is None or (strides is not None and tuple(strides) != (1, 1)):
        return None
    s0, s1 = e.params["start_indices"]
    return _shift(h, s0 - s1)


def _transpose(e, hulls):
    """Only one value outside the hull everywhere survives a transpose."""
    (h,) = hulls
    if h is None or not h.uniform or tuple(e.params["permutation"]) != (1, 0):
        return None
    return h._replace(lo=-h.hi, hi=-h.lo) if h.lo <= h.hi else h


BAND_RULES = {
    P.broadcast_in_dim_p: _broadcast,
    P.pad_p: _pad,
    P.slice_p: _slice,
    P.transpose_p: _transpose,
}


class Band(NamedTuple):
    """Codegen.band_plan's plan: (name, expr) of the band loop's first and end
    columns in a row, and the band's first offset `lo`."""
    first: tuple
    end: tuple
    lo: int
