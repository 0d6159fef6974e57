"""Small matrix products as the multiply and sum the code generator fuses.

A `dot_general` too small for BLAS (under codegen.BLAS_MIN_FLOPS multiply-adds per
product, of any dtype) becomes, before code generation, what it means:
`reduce_sum(mul(broadcast(lhs), broadcast(rhs)))` over the iteration space
(batch, lhs free, rhs free, contracted), with each operand's axes brought into
that order by a transpose. The loops then read both operands through index
arithmetic, transposed or broadcast views included, and fuse with the
elementwise work around them, where a product lowered on its own copied every
permuted operand into a C-contiguous array first (a loop nest each) and called
a helper. Reverse-mode programs of small matrices (Kalman filters, decompositions'
Hessians) are mostly such products: the loop nests Numba compiles, a few tens of
milliseconds each, are what their first call costs.

Only the kernel sees this: `f.ir(x)` keeps the dot_general. The sums run in the
order of the contracted axes, as the helper's loops did (reassociated for SIMD,
as every float sum the kernels compute); BLAS's order differs from both anyway.
Bigger integer products keep the helper, whose loop order reads rows, not columns.
"""
from __future__ import annotations

from ...ir import primitives as P
from ...ir.core import IR, Eqn, ShapedArray, Var
from .codegen import BLAS_MIN_FLOPS, _prod


def _small(eqn):
    """Is this dot_general below BLAS_MIN_FLOPS multiply-adds per product?"""
    lhs, rhs = eqn.inputs
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    ls, rs = lhs.aval.shape, rhs.aval.shape
    m = _prod(d for i, d in enumerate(ls) if i not in lc and i not in lb)
    n = _prod(d for i, d in enumerate(rs) if i not in rc and i not in rb)
    k = _prod(ls[i] for i in lc)
    return m * n * k < BLAS_MIN_FLOPS


def _as_sum(eqn):
    """The equations computing eqn's dot_general as a multiply and a sum."""
    lhs, rhs = eqn.inputs
    (out,) = eqn.outputs
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    dt = out.aval.dtype
    lf = [i for i in range(lhs.aval.ndim) if i not in lc and i not in lb]
    rf = [i for i in range(rhs.aval.ndim) if i not in rc and i not in rb]
    nb, nlf, nrf = len(lb), len(lf), len(rf)
    space = tuple(out.aval.shape) + tuple(lhs.aval.shape[i] for i in lc)
    contracted = tuple(range(len(out.aval.shape), len(space)))
    eqns = []

    def spread(x, perm, dims):
        """x transposed to `perm` order, broadcast over `space` along `dims`."""
        if list(perm) != list(range(len(perm))):
            t = Var(ShapedArray(tuple(x.aval.shape[i] for i in perm), dt))
            eqns.append(Eqn(P.transpose_p, [x], [t], {"permutation": tuple(perm)}, eqn.source))
            x = t
        b = Var(ShapedArray(space, dt))
        eqns.append(Eqn(P.broadcast_in_dim_p, [x], [b],
                        {"shape": space, "broadcast_dimensions": tuple(dims)}, eqn.source))
        return b

    batch = list(range(nb))
    a = spread(lhs, list(lb) + lf + list(lc), batch + list(range(nb, nb + nlf)) + list(contracted))
    b = spread(rhs, list(rb) + rf + list(rc),
               batch + list(range(nb + nlf, nb + nlf + nrf)) + list(contracted))
    if not contracted:  # an outer product
        eqns.append(Eqn(P.mul_p, [a, b], [out], {}, eqn.source))
        return eqns
    prod = Var(ShapedArray(space, dt))
    eqns.append(Eqn(P.mul_p, [a, b], [prod], {}, eqn.source))
    eqns.append(Eqn(P.reduce_sum_p, [prod], [out], {"axes": contracted}, eqn.source))
    return eqns


def expand_small_products(ir: IR) -> IR:
    """`ir` with every small dot_general, also in sub-IRs, replaced by its multiply
    and sum."""
    eqns, changed = [], False
    for eqn in ir.eqns:
        if eqn.prim is P.dot_general_p and _small(eqn):
            eqns += _as_sum(eqn)
            changed = True
            continue
        params = None
        for key, v in eqn.params.items():
            if isinstance(v, IR):
                new = expand_small_products(v)
            elif isinstance(v, tuple) and any(isinstance(x, IR) for x in v):
                new = tuple(expand_small_products(x) if isinstance(x, IR) else x
                            for x in v)
                new = v if all(x is y for x, y in zip(new, v)) else new
            else:
                continue
            if new is not v:
                params = dict(eqn.params) if params is None else params
                params[key] = new
        if params is not None:
            eqn = eqn.replace()
            eqn.params = params
            changed = True
        eqns.append(eqn)
    return ir.replace(eqns=eqns) if changed else ir
