"""Lowering rules of the equations a kernel hands to a helper or nested code:
`CALLS[prim](cg, eqn)` emits the code through the Codegen `cg` (see codegen.py).

dot_general calls BLAS gemm on 2-d views (`_h.dot_into`, an intrinsic; batched
products one np.dot per batch in a helper; loops for integers and tiny products;
an identity-basis product counts non-finite rows instead), and
scatter_add, cumsum and argmax/argmin call the cached njit helpers of helpers.py.
cond/while/scan register theirs from control_flow.py.
"""
from __future__ import annotations

import numpy as np

from ...ir import primitives as P
from ...ir.core import Literal, Var
from . import lowering as L
from .codegen import BLAS_MIN_FLOPS, _prod
from .externs import array_spec, scalar_spec
CALLS: dict = {}
COMMENT_HEADERS: dict = {}  # prim -> fn(cg, eqn) -> one-line comment text


def _call(prim):
    def deco(fn):
        CALLS[prim] = fn
        return fn

    return deco


def _ext(name, *args):
    """A call of helpers.<name> by symbol (externs.py): each argument an (expression,
    spec token) pair, see `_arr`, `_flag`, `_int`."""
    spec = ";".join(tok for _, tok in args)
    return f"_h.extern({name!r}, {spec!r}, {', '.join(x for x, _ in args)})"


def _arr(expr, dtype, ndim):
    return expr, array_spec(dtype, ndim)


def _flag(value):
    return str(bool(value)), scalar_spec(np.bool_)


def _int(value):
    return str(int(value)), scalar_spec(np.int64)


# a LAPACK helper's status argument: the kernel returns at once when it is set
# (helpers.LINALG_ERRORS); `EARLY_RETURN` stands for that return until the kernel's
# outputs are known (codegen.generate)
EARLY_RETURN = "return __pullback_early_return__"


_ERR = "_err", array_spec(np.int64, 1)


def _returns_on_error(cg, e):
    cg.emit("if _err[0]:", e)
    cg.emit(EARLY_RETURN, e, 2)


def _finish(cg, e, expr, result_shape):
    """Assign a helper's array result (of `result_shape`), reshaped to the output
    (scalar when 0-d)."""
    (v,) = e.outputs
    shape = v.aval.shape
    if not shape:  # the helper's result has one element
        cg.emit(f"{cg.name(v)} = {expr}[{', '.join(['0'] * len(result_shape))}]", e)
    elif tuple(shape) == tuple(result_shape):
        cg.emit(f"{cg.name(v)} = {expr}", e)
    else:
        cg.emit(f"{cg.name(v)} = _h.reshape({expr}, {tuple(shape)})", e)


@_call(P.dot_general_p)
def _dot_general(cg, e):
    lhs, rhs = e.inputs
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    ls, rs = lhs.aval.shape, rhs.aval.shape
    lfree = [i for i in range(len(ls)) if i not in lc and i not in lb]
    rfree = [i for i in range(len(rs)) if i not in rc and i not in rb]
    B = _prod(ls[i] for i in lb)
    M = _prod(ls[i] for i in lfree)
    K = _prod(ls[i] for i in lc)
    N = _prod(rs[i] for i in rfree)
    dt = e.outputs[0].aval.dtype
    if _identity_product(cg, e):
        return
    if not lb and M == 1 and N == 1 and dt.kind == "f" and K > 1:
        _dot_loop(cg, e)
        return
    if _plain_matmul(cg, e):
        # plain matrix product: BLAS reads a transposed operand through its layout
        # flag (`.T` of a C array is an F array), so nothing is copied
        a = _dense(cg, lhs, e) + (".T" if tuple(lc) == (0,) else "")
        b = _dense(cg, rhs, e) + (".T" if tuple(rc) == (1,) else "")
        out, alpha, beta = _epilogue(cg, e)
        if not beta:
            cg.emit(f"{out} = _h.empty(({M}, {N}), {L.DT[dt]})", e)
        cg.emit(f"_h.dot_into({a}, {b}, {out}, {alpha!r}, {beta!r})", e)
        return

    def operand(a, perm, shape3, rows=0):
        if a.aval.ndim == 0:
            return f"_h.full({shape3}, {cg.materialize(a, e)}, {L.DT[dt]})"
        # a virtual transpose (x.T @ v) is its source read in the composed order: no
        # copy when that is a rotation (BLAS's transpose flag) or the identity
        t = cg.producer.get(a)
        while (a in cg.virtual and a not in cg.deferred and t is not None
               and t.prim is P.transpose_p and isinstance(t.inputs[0], Var)):
            p = t.params["permutation"]
            a, perm = t.inputs[0], [p[q] for q in perm]
            t = cg.producer.get(a)
        if rows and a not in cg.virtual and _rotation(perm, rows):
            # the axes of the matrix's columns lead `a`: a (cols, rows) matrix read
            # transposed, which BLAS does through its flag (an F-ordered view, no copy)
            return f"_h.reshape({cg.materialize(a, e)}, {shape3[::-1]}).T"
        if list(perm) != list(range(len(perm))) or a in cg.virtual:
            return f"_h.reshape({cg.permuted(a, perm, e)}, {shape3})"
        nm = cg.materialize(a, e)
        t = cg.fresh("op")
        cg.emit(f"{t} = _h.reshape({nm}, {shape3})", e)
        return t

    blas = dt.kind == "f" and M * N * K >= BLAS_MIN_FLOPS
    if blas and not lb:  # one product of (M, K) and (K, N) views
        a2 = operand(lhs, lfree + list(lc), (M, K), len(lfree))
        b2 = operand(rhs, list(rc) + rfree, (K, N), len(rc))
        out = cg.fresh("mm")
        cg.emit(f"{out} = _h.empty(({M}, {N}), {L.DT[dt]})", e)
        cg.emit(f"_h.dot_into({a2}, {b2}, {out}, 1.0, 0.0)", e)
        _finish(cg, e, out, (M, N))
        return
    a3 = operand(lhs, list(lb) + lfree + list(lc), (B, M, K))
    b3 = operand(rhs, list(rb) + list(rc) + rfree, (B, K, N))
    _finish(cg, e, _ext('matmul3_blas' if blas else 'matmul3_loop', _arr(a3, lhs.aval.dtype, 3),
                        _arr(b3, rhs.aval.dtype, 3)), (B, M, N))


def _dot_loop(cg, e):
    """A dot product (one output element) as one reduction loop reading both operands
    in place, which LLVM vectorizes: gemm with M = N = 1 took 4.5x NumPy's v @ v."""
    lhs, rhs = e.inputs
    (lc, rc), _ = e.params["dimension_numbers"]
    dt = e.outputs[0].aval.dtype
    cg.need(lhs)
    cg.need(rhs)
    acc = cg.fresh("dot")
    cg.emit(f"{acc} = {L.literal(0, dt)}", e)
    idx, indent = cg.loop_nest([lhs.aval.shape[d] for d in lc], e)

    def at(a, dims):
        where = ["0"] * a.aval.ndim  # the free axes, all of length 1
        for d, i in zip(dims, idx):
            where[d] = i
        return cg.read(a, where)

    product = f"({at(lhs, lc)} * {at(rhs, rc)})"
    cg.emit(f"{acc} = {L.reduce_update(P.reduce_sum_p, dt, acc, product)}", e, indent)
    (v,) = e.outputs
    if v.aval.ndim:
        cg.emit(f"{cg.name(v)} = _h.full({tuple(v.aval.shape)}, {acc}, {L.DT[dt]})", e)
    else:
        cg.emit(f"{cg.name(v)} = {acc}", e)


def _rotation(perm, lead):
    """Does `perm` move the last `lead` axes, in order, before the others (in order)?
    Then a C array's transpose(perm), as a matrix of its first `lead` axes' rows, is
    the transpose of the array as a matrix of its first nd - lead axes' rows."""
    nd = len(perm)
    return 0 < lead < nd and list(perm) == list(range(nd - lead, nd)) + list(range(nd - lead))


def _plain_matmul(cg, e):
    """A product of two float matrices over one axis, big enough for BLAS and not
    with an identity matrix: one gemm on the operands' (maybe transposed) arrays."""
    lhs, rhs = e.inputs
    (lc, rc), (lb, _) = e.params["dimension_numbers"]
    (v,) = e.outputs
    return (not lb and len(lc) == 1 and lhs.aval.ndim == 2 and rhs.aval.ndim == 2
            and v.aval.dtype.kind == "f" and v.aval.size * lhs.aval.shape[lc[0]] >= BLAS_MIN_FLOPS
            and _identity_operand(cg, e) is None)


def _epilogue(cg, e):
    """(array to write, alpha, beta) of the gemm of plain product `e`: its own output
    with (1, 0), or, when its only consumer scales it by a literal >= 1
    (`2.0 * d`) or adds it to another plain product, that consumer's output: (c, 0)
    for a scaling, (1, 0) for the first product of a sum and (1, 1) for the second,
    which accumulates. The consumer then emits no code (Codegen.absorbed): one loop
    nest and one temporary less."""
    (v,) = e.outputs
    own = (cg.name(v), 1.0, 0.0)
    if id(e) in cg.accumulate_into:  # the second product of a sum
        return cg.accumulate_into.pop(id(e)), 1.0, 1.0
    if v in cg.returned or len(cg.consumers[v]) != 1:
        return own
    c = cg.eqn_by_id[next(iter(cg.consumers[v]))]
    if c.prim not in (P.mul_p, P.add_p):  # (slogdet, a loop: other outputs, no epilogue)
        return own
    (out,) = c.outputs
    if out.aval != v.aval or out in cg.virtual:
        return own
    others = [a for a in c.inputs if a is not v]
    if c.prim is P.mul_p and len(others) == 1 and isinstance(others[0], Literal):
        alpha = float(others[0].val)
        # BLAS adds alpha * sum into a zeroed array: a negative alpha would turn
        # -(+0.0) into +0.0, one below 1 a product that underflows to -0.0 too, and 0
        # may skip the product (no inf * 0)
        if not (1.0 <= alpha < np.inf):
            return own
    elif c.prim is P.add_p and len(others) == 1 and isinstance(others[0], Var):
        w = others[0]
        f = cg.producer.get(w)
        if (f is None or f.prim is not P.dot_general_p or w in cg.returned
                or len(cg.consumers[w]) != 1 or not _plain_matmul(cg, f)):
            return own
        cg.accumulate_into[id(f)] = cg.name(out)
        alpha = 1.0
    else:
        return own
    cg.absorbed.add(id(c))
    cg.arrays.add(out)
    return cg.name(out), alpha, 0.0


def _identity_operand(cg, e):
    """(identity, other operand, other's contracted axis, output axis of other's rows)
    when `e` is a 2-d product with an identity matrix, else None."""
    lhs, rhs = e.inputs
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    dt = e.outputs[0].aval.dtype
    if lb or len(lc) != 1 or lhs.aval.ndim != 2 or rhs.aval.ndim != 2 or dt.kind not in "fi" or not (
            lhs.aval.dtype == rhs.aval.dtype == dt):
        return None
    for eye, other, oc, line in ((rhs, lhs, lc[0], 0), (lhs, rhs, rc[0], 1)):
        n = eye.aval.shape[0]
        if eye.aval.shape[1] != n or not isinstance(eye, Var) or other.aval.size == 0:
            continue
        val = cg.known_value(eye)
        if val is not None and np.array_equal(val, np.eye(n, dtype=val.dtype)):
            return eye, other, oc, line
    return None


def _identity_product(cg, e):
    """A 2-d product with an identity matrix (as reverse mode builds for trace or
    jacobians) is its other operand, maybe transposed: lowered to a view (no code)."""
    found = _identity_operand(cg, e)
    if found is None:
        return False
    eye, other, oc, line = found
    (v,) = e.outputs
    dt = v.aval.dtype
    n = eye.aval.shape[0]
    cg.emit("#   (a product with the identity: read the other operand where used)", e)
    # out[i, j] (or out[j, i] when the identity is lhs) = other's element at row i,
    # contracted position j
    def src(idx, oc=oc, line=line):
        pos = [None, None]
        pos[oc], pos[1 - oc] = idx[1 - line], idx[line]
        return pos

    if dt.kind == "i":
        cg.virtual[v] = lambda idx, o=other, src=src: cg.read(o, src(idx))
        cg.view_sources[v] = [other]
        return True
    # IEEE: the sum also holds inf * 0 = nan from the other elements of the row,
    # so a row with a non-finite element elsewhere gives nan, as BLAS would; per
    # row, `keep` says which elements survive (helpers.identity_keep)
    keep = cg.fresh("keep")
    rows = other.aval.shape[1 - oc]
    if other not in cg.virtual:  # an array: found by the (cached) helper, no loop here
        nm = cg.materialize(other, e)
        cg.emit(f"{keep} = {_ext('identity_keep', _arr(nm, other.aval.dtype, 2), _flag(oc == 0))}", e)
    else:
        cg.emit(f"{keep} = _h.empty(({rows},), np.int64)", e)
        k = cg.fresh("k")
        cg.emit(f"for i0 in range({rows}):", e)
        cg.emit(f"{k} = -1", e, 2)
        cg.emit(f"for i1 in range({n}):", e, 2)
        cg.emit(f"if not math.isfinite({cg.read(other, src(['i1', 'i0'][::1 if line else -1]))}):",
                e, 3)
        cg.emit(f"{k} = {L.where(f'{k} < 0', 'i1', str(n))}", e, 4)
        cg.emit(f"{keep}[i0] = {k}", e, 2)

    def reader(idx, o=other, src=src, keep=keep, line=line):
        # + 0.0: the product's sum starts from +0, so a -0.0 element comes out +0.0
        kept = f"{keep}[{idx[line]}]"
        return L.where(L.any_of(f"{kept} < 0", f"{kept} == {idx[1 - line]}"),
                       f"({cg.read(o, src(idx))} + {L.literal(0.0, dt)})",
                       L.literal(np.nan, dt))

    cg.virtual[v] = reader
    cg.view_sources[v] = [other]
    return True


def _dense(cg, a, e):
    """A C-contiguous 2-d array expression for `a`."""
    if a in cg.virtual:
        return cg.permuted(a, list(range(a.aval.ndim)), e)
    nm = cg.materialize(a, e)
    if a in cg.ir.invars:  # the caller's layout is unknown
        t = cg.dense_inputs.get(a)
        if t is None:  # one copy per input, shared by all its products
            t = cg.dense_inputs[a] = cg.fresh("op")
            cg.emit(f"{t} = _h.contiguous({nm})", e)
        return t
    return nm  # kernel-made arrays and (prepared) constants are C-contiguous


def _stack(cg, a, e, last):
    """`a` (..., n, n) or (..., n, k) as a C-contiguous (batch, n, last) stack: a helper's
    argument (expression, spec)."""
    shape = a.aval.shape
    return _arr(f"_h.reshape({cg.contiguous(a, e)}, {(_prod(shape[:-2]), shape[-2], last)})",
                a.aval.dtype, 3)


@_call(P.solve_p)
def _solve(cg, e):
    a, b = e.inputs
    shape = b.aval.shape
    b3 = (_prod(shape[:-2]),) + tuple(shape[-2:])
    _finish(cg, e, _ext("solve3", _stack(cg, a, e, shape[-2]),
                        _stack(cg, b, e, shape[-1]), _ERR), b3)
    _returns_on_error(cg, e)


@_call(P.cholesky_p)
def _cholesky(cg, e):
    (a,) = e.inputs
    n = a.aval.shape[-1]
    _finish(cg, e, _ext("cholesky3", _stack(cg, a, e, n), _ERR),
            (_prod(a.aval.shape[:-2]), n, n))
    _returns_on_error(cg, e)


@_call(P.det_p)
def _det(cg, e):
    (a,) = e.inputs
    _finish(cg, e, _ext("det3", _stack(cg, a, e, a.aval.shape[-1])),
            (_prod(a.aval.shape[:-2]),))


def _unpack(cg, e, t, items):
    """Assign items `items` of a helper's result tuple `t` to e's outputs, reshaped to
    their (batched) shapes; a 0-d output is the item's one element (a scalar)."""
    for v, k in zip(e.outputs, items):
        if v.aval.ndim:
            cg.emit(f"{cg.name(v)} = _h.reshape({t}[{k}], {tuple(v.aval.shape)})", e)
        else:
            cg.emit(f"{cg.name(v)} = {t}[{k}][0]", e)


@_call(P.slogdet_p)
def _slogdet(cg, e):
    (a,) = e.inputs
    t = cg.fresh("sld")
    cg.emit(f"{t} = {_ext('slogdet3', _stack(cg, a, e, a.aval.shape[-1]))}", e)
    _unpack(cg, e, t, (0, 1))


@_call(P.eigh_p)
def _eigh(cg, e):
    (a,) = e.inputs
    t = cg.fresh("eig")
    cg.emit(f"{t} = {_ext('eigh3', _stack(cg, a, e, a.aval.shape[-1]), _flag(e.params['lower']), _ERR)}",
            e)
    _returns_on_error(cg, e)
    _unpack(cg, e, t, (0, 1))


@_call(P.svd_p)
def _svd(cg, e):
    (a,) = e.inputs
    full, uv = e.params["full_matrices"], e.params["compute_uv"]
    t = cg.fresh("svd")
    cg.emit(f"{t} = {_ext('svd3', _stack(cg, a, e, a.aval.shape[-1]), _flag(full), _flag(uv), _ERR)}",
            e)
    _returns_on_error(cg, e)
    _unpack(cg, e, t, (0, 1, 2) if uv else (1,))


@_call(P.qr_p)
def _qr(cg, e):
    (a,) = e.inputs
    t = cg.fresh("qr")
    cg.emit(f"{t} = {_ext('qr3', _stack(cg, a, e, a.aval.shape[-1]), _flag(e.params['full_matrices']), _ERR)}",
            e)
    _returns_on_error(cg, e)
    _unpack(cg, e, t, (0, 1))


@_call(P.scatter_add_p)
def _scatter_add(cg, e):
    upd, ind = e.inputs
    axis, size = e.params["axis"], e.params["size"]
    k = ind.aval.ndim
    us = upd.aval.shape
    pre, kk, post = _prod(us[:axis]), _prod(us[axis:axis + k]), _prod(us[axis + k:])
    u3 = f"_h.reshape({cg.contiguous(upd, e)}, {(pre, kk, post)})"
    i1 = f"_h.reshape({cg.contiguous(ind, e)}, {(kk,)})"
    _finish(cg, e, _ext("scatter_add3", _arr(u3, upd.aval.dtype, 3), _arr(i1, ind.aval.dtype, 1),
                        _int(size)), (pre, size, post))


def _moved_last(cg, e, axis, x=None):
    """(rows, n) contiguous view of the input (or of `x`) with `axis` moved last, and
    the perm."""
    x = e.inputs[0] if x is None else x
    nd = x.aval.ndim
    perm = [d for d in range(nd) if d != axis] + [axis]
    if perm != list(range(nd)) or x in cg.virtual:
        nm = cg.permuted(x, perm, e)
    else:
        nm = cg.materialize(x, e)
    rows = _prod(x.aval.shape[d] for d in perm[:-1])
    t = cg.fresh("mv")
    cg.emit(f"{t} = _h.reshape({nm}, {(rows, x.aval.shape[axis])})", e)
    return t, perm


def _along_last(cg, e, helper, operand=0):
    """An op along one axis with an output of the input's shape (cumsum, argsort), or of
    that shape with another length of the axis (argselect): `helper(rows)` (an
    expression) computes it on the (rows, n) stack of the input (the one at `operand`)
    with that axis moved last; a copy loop moves the axis back."""
    t, perm = _moved_last(cg, e, e.params["axis"], e.inputs[operand])
    (v,) = e.outputs
    moved = tuple(v.aval.shape[d] for d in perm)
    expr = f"_h.reshape({helper(t)}, {moved})"
    if perm == list(range(len(perm))):
        cg.emit(f"{cg.name(v)} = {expr}", e)
        return
    c = cg.fresh("mv")
    cg.emit(f"{c} = {expr}", e)

    def read(idx):  # element idx of the output sits at moved position perm(idx)
        return f"{c}[{', '.join(idx[p] for p in perm)}]"

    cg.copy_loop(cg.name(v), v.aval.shape, v.aval.dtype, read, e)


def _rows(e, k=0):
    """The spec of e's k-th input as the (rows, n) stack `_moved_last` makes of it."""
    return array_spec(e.inputs[k].aval.dtype, 2)


CALLS[P.cumsum_p] = lambda cg, e: _along_last(
    cg, e, lambda t: _ext("cumsum2", (t, _rows(e)), _flag(e.params["reverse"])))
CALLS[P.cumprod_p] = lambda cg, e: _along_last(
    cg, e, lambda t: _ext("cumprod2", (t, _rows(e)), _flag(e.params["reverse"])))
CALLS[P.linrec_p] = lambda cg, e: _along_last(
    cg, e, lambda t: _ext("linrec2", (_moved_last(cg, e, e.params["axis"], e.inputs[0])[0], _rows(e)),
                          (t, _rows(e, 1)), _flag(e.params["reverse"])), operand=1)
CALLS[P.argsort_p] = lambda cg, e: _along_last(cg, e, lambda t: _ext("argsort2", (t, _rows(e))))
CALLS[P.argselect_p] = lambda cg, e: _along_last(
    cg, e, lambda t: _ext("argselect2", (t, _rows(e)),
                          _arr(f"np.array({list(e.params['ranks'])}, np.int64)", np.int64, 1)))


def _arg(want_max):
    def lower(cg, e):
        t, perm = _moved_last(cg, e, e.params["axis"])
        (v,) = e.outputs
        rows = _prod(e.inputs[0].aval.shape[d] for d in perm[:-1])
        expr = _ext("argbest2", (t, _rows(e)), _flag(want_max))
        if v.aval.dtype != np.int64:
            expr += f".astype({L.DT[v.aval.dtype]})"
        _finish(cg, e, expr, (rows,))

    return lower


CALLS[P.argmax_p] = _arg(True)
CALLS[P.argmin_p] = _arg(False)


