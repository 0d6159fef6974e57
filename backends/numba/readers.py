"""Read-through rules of the layout ops: a view is index arithmetic, not a copy.

`readers[prim](e, rd)` returns `reader(idx) -> expr`: the Python expression that
reads element `idx` (a list of index expressions, one per output axis) of the
output of equation `e`, built with `rd(atom, idx)` (Codegen.read) on its inputs.
So `x * y.T + b[None, :]` is one loop reading three arrays through three index
expressions. Index expressions of literals only are folded (unit axes index
with 0), so checks and offsets that are known at code generation leave no code.
"""
from __future__ import annotations

import re

import numpy as np

from ...ir import primitives as P
from . import lowering as L

readers = {}


def _rule(prim):
    def register(fn):
        readers[prim] = fn
        return fn
    return register


@_rule(P.broadcast_in_dim_p)
def _broadcast(e, rd):
    (x,), p = e.inputs, e.params
    bd, shape = p["broadcast_dimensions"], p["shape"]
    return lambda idx: rd(x, ["0" if x.aval.shape[i] == 1 and shape[d] != 1 else idx[d]
                              for i, d in enumerate(bd)])


@_rule(P.transpose_p)
def _transpose(e, rd):
    (x,), perm = e.inputs, e.params["permutation"]

    def reader(idx):
        src = [None] * len(perm)
        for k, q in enumerate(perm):
            src[q] = idx[k]
        return rd(x, src)

    return reader


@_rule(P.slice_p)
def _slice(e, rd):
    (x,), p = e.inputs, e.params
    st, strd = p["start_indices"], p["strides"]
    return lambda idx: rd(x, [_affine(i, s, t) for i, s, t in zip(idx, st, strd)])


@_rule(P.rev_p)
def _rev(e, rd):
    (x,), dims = e.inputs, e.params["dimensions"]
    return lambda idx: rd(x, [fold(f"({x.aval.shape[k] - 1} - {i})") if k in dims else i
                              for k, i in enumerate(idx)])


@_rule(P.iota_p)
def _iota(e, rd):
    d, dt = e.params["dimension"], e.outputs[0].aval.dtype
    return lambda idx: L.cast(idx[d], dt) if dt.kind != "f" else f"{L.DT[dt]}({idx[d]})"


@_rule(P.reshape_p)
def _reshape(e, rd):
    (x,), out_shape = e.inputs, e.outputs[0].aval.shape
    in_shape = x.aval.shape
    nz_in = [d for d in range(len(in_shape)) if in_shape[d] != 1]
    nz_out = [d for d in range(len(out_shape)) if out_shape[d] != 1]
    if [in_shape[d] for d in nz_in] == [out_shape[d] for d in nz_out]:
        # only unit axes inserted or removed: a renaming of indices
        def unit(idx):
            src = ["0"] * len(in_shape)
            for a, b in zip(nz_in, nz_out):
                src[a] = idx[b]
            return rd(x, src)

        return unit
    if not x.aval.size:  # an empty array: no read ever runs (and its extents divide by 0)
        return lambda idx: rd(x, ["0"] * len(in_shape))

    def general(idx):
        strides, s = [], 1
        for n in reversed(out_shape):
            strides.append(s)
            s *= n
        strides.reverse()
        lin = " + ".join(f"{i} * {st}" if st != 1 else i for i, st in zip(idx, strides)) or "0"
        src, s = [], 1
        in_strides = []
        for n in reversed(in_shape):
            in_strides.append(s)
            s *= n
        in_strides.reverse()
        for n, st in zip(in_shape, in_strides):
            src.append(fold(f"((({lin}) // {st}) % {n})"))
        return rd(x, src)

    return general


@_rule(P.pad_p)
def _pad(e, rd):
    x, pv = e.inputs
    cfg = e.params["padding_config"]

    def reader(idx):
        # bounds checks that hold for every output index are left out (an
        # unpadded axis needs none): fewer compares, and no clamp on such axes
        conds, src, clamped = [], [], []
        for (lo, hi, interior), i, n, m in zip(cfg, idx, x.aval.shape, e.outputs[0].aval.shape):
            j = fold(f"({i} - {lo})") if lo else i
            step = interior + 1
            if lo > 0:  # output index i >= 0, so j = i - lo >= 0 needs a check only then
                conds.append(f"{j} >= 0")
            if step > 1:
                conds.append(f"{j} % {step} == 0")
                j = fold(f"({j} // {step})")
            high = m - 1 - lo >= (n - 1) * step + 1 or step > 1 or lo < 0
            if high:
                conds.append(f"{j} < {n}")
            src.append(j)
            clamped.append(clamp(j, n) if lo > 0 or high else j)
        # checks on constant indices (unit axes, constant offsets) are decided here
        known = [fold_cond(c) for c in conds]
        if False in known:
            return rd(pv, [])
        conds = [c for c, k in zip(conds, known) if k is None]
        if not conds:
            return rd(x, src)
        # a select reads x also where the checks fail: there at a clamped index
        return L.where(L.all_of(*conds), rd(x, clamped), rd(pv, []))

    return reader


@_rule(P.gather_p)
def _gather(e, rd):
    x, ind = e.inputs
    axis = e.params["axis"]
    k = ind.aval.ndim
    n = x.aval.shape[axis]
    return lambda idx: rd(
        x, idx[:axis] + [clamp(rd(ind, idx[axis:axis + k]), n)]
        + idx[axis + k:])


@_rule(P.concatenate_p)
def _concatenate(e, rd):
    d = e.params["dimension"]
    parts, start = [], 0
    for a in e.inputs:
        n = a.aval.shape[d]
        if n:
            parts.append((a, start, n))
        start += n
    if not parts:  # every part is empty, so is the output: no element is ever read
        parts.append((e.inputs[0], 0, 0))

    def reader(idx):
        # the part holding index i along d: chosen here when i is a constant, else
        # by selects, last part innermost; a select reads every part, each at an
        # index clamped into its range
        i = idx[d]
        expr = None
        for a, start, n in reversed(parts):
            known = None if expr is None else fold_cond(f"{i} < {start + n}")
            if known is False:
                continue
            local = fold(f"({i} - {start})") if start else i
            safe = local if fold_cond(f"0 <= {local} < {n}") else clamp(local, n)
            here = rd(a, idx[:d] + [safe] + idx[d + 1:])
            expr = here if expr is None or known else L.where(f"{i} < {start + n}", here, expr)
        return expr

    return reader


# ---------------------------------------------------------------- constants
def diagonal(value):
    """reader(idx) for a 2-d constant holding one value on one diagonal (column -
    row = k) and +0 everywhere else, as the basis of jacfwd/hessian leaves after
    slicing (identities, shifted identities): a compare on the indices instead of
    an array the kernel takes as an argument (each costs Numba's wrapper 6-8 ms of
    compile and every call ~0.3 us of dispatch). None for any other constant."""
    c = np.asarray(value)
    if c.ndim != 2 or not c.size or c.dtype.kind not in "biuf":
        return None
    nz = np.flatnonzero(c)
    if not nz.size or nz.size > min(c.shape):  # no diagonal holds more
        return None
    r, col = divmod(int(nz[0]), c.shape[1])
    k, v = col - r, c.flat[nz[0]]
    expect = np.zeros_like(c)
    rows = np.arange(c.shape[0])
    keep = (rows + k >= 0) & (rows + k < c.shape[1])
    expect[rows[keep], rows[keep] + k] = v
    if expect.tobytes() != c.tobytes():  # bitwise: a -0.0 zero is not +0
        return None
    on, off = L.literal(v, c.dtype), L.literal(0, c.dtype)

    def reader(idx):
        i, j = idx
        known = fold_cond(f"{j} == {i} + {k}")
        if known is not None:
            return on if known else off
        return L.where(f"{j} == {fold(f'({i} + {k})') if k else i}", on, off)

    return reader


# ---------------------------------------------------------------- index expressions
_ATOMIC = re.compile(r"^([A-Za-z_]\w*|-?\d+(\.\d*)?(e[+-]?\d+)?)$")
_INT_ARITH = re.compile(r"^[\d\s+\-*/%()]+$")
_INT_COND = re.compile(r"^[\d\s+\-*/%()<>=!]+$")


def atomic(expr):
    """A name or a number: binding it to another name would only copy it."""
    return bool(_ATOMIC.match(expr))


def _affine(i, start, stride):
    s = i if stride == 1 else f"{i} * {stride}"
    return fold(s if not start else f"({start} + {s})")


def fold(expr):
    """An index expression of literals only, evaluated: `(1 + 0)` -> `1` (unit axes
    index with 0, so offsets and checks on them become constants)."""
    if expr.isdigit() or not _INT_ARITH.match(expr) or "/ " in expr.replace("//", ""):
        return expr
    v = eval(expr, {"__builtins__": {}})  # integer arithmetic on literals only (regex above)
    return str(v) if v >= 0 else f"({v})"


def clamp(j, n):
    """Index expression `j` clamped into [0, n): for reads a select may discard."""
    return f"_h.clamp({j}, {n - 1})" if n > 1 else "0"


def fold_cond(cond):
    """True/False for a check on literal indices, None when it depends on a loop index."""
    if (not _INT_COND.match(cond.replace(" and ", " ").replace(" or ", " "))
            or re.search(r"(?<![/])/(?!/)", cond)):
        return None
    return bool(eval(cond, {"__builtins__": {}}))
