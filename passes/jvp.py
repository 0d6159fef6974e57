"""Forward-mode differentiation as an IR -> IR pass.

`jvp_ir(ir, nonzero)` returns an IR whose inputs are `(primals..., tangents of
the inputs marked nonzero...)` and whose outputs are `(primal outs..., tangent
outs...)`. It is built by replaying `ir`'s equations inside a fresh `Builder`
and applying `jvp_rules[eqn.prim](primals, tangents, **params)` to each; the
rules are written with tracer/lax.py ops, so the result is ordinary IR that can
be differentiated, batched, optimized and compiled again.

Symbolic zeros: a tangent known to be zero is the object `Zero(aval)`. It is
never materialized or multiplied; rules skip zero terms, and a rule whose
tangent inputs are all `Zero` is not called (the primitive is just re-bound).
Only at the IR boundary is an output tangent that is still `Zero` written as a
broadcast of the literal 0 (no arithmetic behind it). Constvars and integer or
bool values always have zero tangents.

Rules must be *linear in the tangents*, using only the primitives that
passes/transpose.py can transpose (add, sub, neg, mul/div by a primal value,
shape ops, select with a primal predicate, dot_general with one primal operand,
gather/scatter_add, cumsum, and the `custom_vjp_linear` call), because reverse
mode is this pass followed by partial evaluation and transposition.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import primitives as P
from ..ir.core import IR, Literal, ShapedArray, Var, is_float
from ..tracer import lax
from ..tracer.trace import Builder, EscapedTracerError, Tracer, bind_list


class Zero:
    """A symbolic zero tangent of abstract value `aval`."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval})"


def is_zero(t):
    return isinstance(t, Zero)


def instantiate(t, aval=None):
    """A concrete (traced) tangent: zeros become a broadcast of literal 0."""
    if isinstance(t, Zero):
        return lax.full(t.aval.shape, 0, t.aval.dtype)
    return t


def add_tangents(a, b):
    if is_zero(a):
        return b
    if is_zero(b):
        return a
    return lax.add(a, b)


jvp_rules: dict = {}


def _aval(x):
    if isinstance(x, Literal):
        return x.aval
    if hasattr(x, "aval"):
        return x.aval
    a = np.asarray(x)
    return ShapedArray(a.shape, a.dtype)


def _bind1(prim, *args, **params):
    return bind_list(prim, list(args), params)[0]


# ---------------------------------------------------------------- elementwise helpers
def _unary_rule(deriv):
    """Rule for y = f(x) with tangent t * deriv(x, y)."""

    def rule(primals, tangents, **params):
        (x,), (t,) = primals, tangents
        prim = rule.prim
        y = _bind1(prim, x, **params)
        if is_zero(t):
            return [y], [Zero(_aval(y))]
        return [y], [lax.mul(t, deriv(x, y))]

    return rule


def _def_unary(prim, deriv):
    r = _unary_rule(deriv)
    r.prim = prim
    jvp_rules[prim] = r


_def_unary(P.exp_p, lambda x, y: y)
_def_unary(P.log_p, lambda x, y: lax.reciprocal(x))
_def_unary(P.log2_p, lambda x, y: lax.reciprocal(lax.mul(x, math.log(2.0))))
_def_unary(P.log10_p, lambda x, y: lax.reciprocal(lax.mul(x, math.log(10.0))))
_def_unary(P.log1p_p, lambda x, y: lax.reciprocal(lax.add(x, 1)))
_def_unary(P.expm1_p, lambda x, y: lax.add(y, 1))
_def_unary(P.sin_p, lambda x, y: lax.cos(x))
_def_unary(P.cos_p, lambda x, y: lax.neg(lax.sin(x)))
_def_unary(P.tan_p, lambda x, y: lax.add(1, lax.square(y)))
def _one_minus_square(x):
    """1 - x^2: as (1 - x)(1 + x) near |x| = 1 (exact factors, no cancellation), as
    1 - x*x below 1/2, so that its derivative there is -2x: the product's, (1 - x) -
    (1 + x), cancels near 0 (arcsin''(1e-9) was 1.0000000272e-9, 0 below 1e-16)."""
    small = lax.lt(lax.abs(x), 0.5)
    return lax.select(small, lax.sub(1, lax.square(x)), lax.mul(lax.sub(1, x), lax.add(1, x)))


_def_unary(P.asin_p, lambda x, y: lax.rsqrt(_one_minus_square(x)))
_def_unary(P.acos_p, lambda x, y: lax.neg(lax.rsqrt(_one_minus_square(x))))
_def_unary(P.atan_p, lambda x, y: lax.reciprocal(lax.add(1, lax.square(x))))
_def_unary(P.sinh_p, lambda x, y: lax.cosh(x))
_def_unary(P.cosh_p, lambda x, y: lax.sinh(x))
_def_unary(P.tanh_p, lambda x, y: lax.sub(1, lax.square(y)))
# no squares of x, which overflow (float32 beyond 2e19): 1/hypot(x, 1), and the
# product's square root as a product of square roots
_def_unary(P.asinh_p, lambda x, y: lax.reciprocal(lax.hypot(x, 1)))
_def_unary(P.acosh_p, lambda x, y: lax.mul(lax.rsqrt(lax.sub(x, 1)), lax.rsqrt(lax.add(x, 1))))
_def_unary(P.atanh_p, lambda x, y: lax.reciprocal(_one_minus_square(x)))
_def_unary(P.sqrt_p, lambda x, y: lax.div(0.5, y))
_def_unary(P.rsqrt_p, lambda x, y: lax.mul(lax.div(y, x), -0.5))
# inf at 0, as JAX; y ** -2, not 1 / y**2, so that the second derivative at 0 is
# -2 y**-3 y' = -inf (at -0: inf) as JAX's, where the quotient rule gave 0 * inf
_def_unary(P.cbrt_p, lambda x, y: lax.mul(1.0 / 3.0, lax.integer_pow(y, -2)))
_def_unary(P.logistic_p, lambda x, y: lax.mul(y, lax.sub(1, y)))
_def_unary(P.lgamma_p, lambda x, y: lax.digamma(x))
_def_unary(P.digamma_p, lambda x, y: lax.polygamma(1, x))
_def_unary(
    P.erf_p, lambda x, y: lax.mul(2.0 / math.sqrt(math.pi), lax.exp(lax.neg(lax.square(x))))
)
# abs'(0) = 0, through sign (SPEC)
_def_unary(P.abs_p, lambda x, y: lax.sign(x))


def _make_zero_rule(prim):
    def rule(primals, tangents, **params):
        outs = bind_list(prim, list(primals), params)
        return outs, [Zero(_aval(o)) for o in outs]

    return rule


# Piecewise-constant or non-float results: the derivative is zero everywhere.
ZERO_DERIVATIVE = frozenset((
    P.floor_p, P.ceil_p, P.round_p, P.sign_p, P.not_p, P.is_finite_p, P.signbit_p,
    P.stop_gradient_p, P.and_p, P.or_p, P.eq_p, P.ne_p, P.lt_p, P.le_p, P.gt_p,
    P.ge_p, P.argmax_p, P.argmin_p, P.argsort_p, P.argselect_p, P.iota_p,
))
for _p in ZERO_DERIVATIVE:
    jvp_rules[_p] = _make_zero_rule(_p)


def _neg_rule(primals, tangents):
    (x,), (t,) = primals, tangents
    y = _bind1(P.neg_p, x)
    return [y], [t if is_zero(t) else lax.neg(t)]


jvp_rules[P.neg_p] = _neg_rule


def _integer_pow_rule(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    out = _bind1(P.integer_pow_p, x, y=y)
    if is_zero(t) or y == 0:  # d/dx x**0 = 0, never nan
        return [out], [Zero(_aval(out))]
    if y == 1:
        return [out], [t]
    coef = lax.mul(float(y), x) if y == 2 else lax.mul(float(y), lax.integer_pow(x, y - 1))
    return [out], [lax.mul(t, coef)]


jvp_rules[P.integer_pow_p] = _integer_pow_rule


def _polygamma_rule(primals, tangents, *, n):
    (x,), (t,) = primals, tangents
    out = _bind1(P.polygamma_p, x, n=n)
    if is_zero(t):
        return [out], [Zero(_aval(out))]
    return [out], [lax.mul(t, lax.polygamma(n + 1, x))]


jvp_rules[P.polygamma_p] = _polygamma_rule


def _convert_rule(primals, tangents, *, new_dtype):
    (x,), (t,) = primals, tangents
    out = _bind1(P.convert_element_type_p, x, new_dtype=new_dtype)
    if is_zero(t) or not is_float(new_dtype):
        return [out], [Zero(_aval(out))]
    return [out], [lax.convert(t, new_dtype)]


jvp_rules[P.convert_element_type_p] = _convert_rule


def _float_out(out):
    return is_float(_aval(out).dtype)


def _add_rule(primals, tangents):
    out = _bind1(P.add_p, *primals)
    if not _float_out(out):
        return [out], [Zero(_aval(out))]
    return [out], [add_tangents(*tangents)]


def _sub_rule(primals, tangents):
    out = _bind1(P.sub_p, *primals)
    tx, ty = tangents
    if not _float_out(out) or is_zero(ty):
        return [out], [Zero(_aval(out)) if not _float_out(out) else tx]
    return [out], [lax.neg(ty) if is_zero(tx) else lax.sub(tx, ty)]


def _mul_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.mul_p, x, y)
    if not _float_out(out):
        return [out], [Zero(_aval(out))]
    a = Zero(_aval(out)) if is_zero(tx) else lax.mul(tx, y)
    b = Zero(_aval(out)) if is_zero(ty) else lax.mul(x, ty)
    return [out], [add_tangents(a, b)]


def _div_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.div_p, x, y)
    if not _float_out(out):
        return [out], [Zero(_aval(out))]
    a = Zero(_aval(out)) if is_zero(tx) else lax.div(tx, y)
    # d(x/y)/dy = -out/y; the tangent stays linear: ty * (-(out / y))
    b = Zero(_aval(out)) if is_zero(ty) else lax.mul(ty, lax.neg(lax.div(out, y)))
    return [out], [add_tangents(a, b)]


def _rem_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.rem_p, x, y)
    if not _float_out(out):
        return [out], [Zero(_aval(out))]
    # floor-mod: out = x - y * floor(x / y)
    b = Zero(_aval(out)) if is_zero(ty) else lax.mul(ty, lax.neg(lax.floor(lax.div(x, y))))
    return [out], [add_tangents(tx, b)]


def _minmax_rule(prim, wins):
    def rule(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        out = _bind1(prim, x, y)
        if not _float_out(out) or (is_zero(tx) and is_zero(ty)):
            return [out], [Zero(_aval(out))]
        # ties split the derivative evenly (SPEC); a NaN operand (no order) gives
        # both weight 0, as JAX's rule does
        def weight(u, v):
            w = lax.select(wins(u, v), 1.0, lax.select(lax.eq(u, v), 0.5, 0.0))
            return lax.convert(w, _aval(out).dtype)

        a = Zero(_aval(out)) if is_zero(tx) else lax.mul(tx, weight(x, y))
        b = Zero(_aval(out)) if is_zero(ty) else lax.mul(ty, weight(y, x))
        return [out], [add_tangents(a, b)]

    return rule


def _pow_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.pow_p, x, y)
    a = b = Zero(_aval(out))
    y_is_zero = not isinstance(y, Tracer) and np.all(y == 0)  # a literal 0: x**0, no tangent
    if not is_zero(tx) and not y_is_zero:
        # y * x**(y-1), exactly 0 where y == 0 (d/dx x**0 = 0, never nan: x**(y-1)
        # is inf or nan there only if x is 0 or nan, where it is replaced by 0), and
        # still y's function there: d/dy of it is x**-1 at y = 0 (a mixed partial).
        # The replaced slots' x is 1 inside the pow too, so that the pow's own
        # derivative there, (y-1) x**(y-2) = -inf, does not meet the zeroed
        # cotangent (0 * inf: reverse-over-forward second derivatives were NaN)
        ym1 = lax.sub(y, 1.0)
        if isinstance(y, Tracer) or np.any(np.asarray(y) == 0):  # (a constant with 0s too)
            bad = lax.bitwise_and(lax.eq(y, 0.0), lax.bitwise_or(lax.eq(x, 0.0), lax.ne(x, x)))
            p = lax.select(bad, 0.0, lax.pow(lax.select(bad, 1.0, x), ym1))
        else:
            p = lax.pow(x, ym1)
        a = lax.mul(tx, lax.mul(y, p))
    if not is_zero(ty):
        # out * log(x), guarded where x == 0 (JAX's convention: 0 there)
        x0 = lax.eq(x, 0.0)
        safe_x = lax.select(x0, 1.0, x)
        coef = lax.select(x0, 0.0, lax.mul(out, lax.log(safe_x)))
        b = lax.mul(ty, coef)
    return [out], [add_tangents(a, b)]


def _atan2_rule(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.atan2_p, x, y)
    # y / (x^2 + y^2) as (y / h) / h: x^2 + y^2 over- or underflowed (float32 at 1e-30)
    h = lax.hypot(x, y)
    a = Zero(_aval(out)) if is_zero(tx) else lax.mul(tx, lax.div(lax.div(y, h), h))
    b = Zero(_aval(out)) if is_zero(ty) else lax.mul(ty, lax.neg(lax.div(lax.div(x, h), h)))
    return [out], [add_tangents(a, b)]


def _hypot_rule(primals, tangents):
    """d hypot = (x dx + y dy) / h, as (x / h) dx + (y / h) dy: no square to underflow
    (the scaled composite's derivative was NaN at subnormal operands); 0 where h is 0."""
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.hypot_p, x, y)
    zero = lax.eq(out, 0)
    safe = lax.select(zero, lax.full(_aval(out).shape, 1, _aval(out).dtype), out)

    def coef(u):  # u / h, selected to 0 at h = 0 (u / 1 there would differentiate to 1)
        return lax.select(zero, lax.full(_aval(out).shape, 0, _aval(out).dtype),
                          lax.div(u, safe))

    a = Zero(_aval(out)) if is_zero(tx) else lax.mul(tx, coef(x))
    b = Zero(_aval(out)) if is_zero(ty) else lax.mul(ty, coef(y))
    return [out], [add_tangents(a, b)]


jvp_rules[P.add_p] = _add_rule
jvp_rules[P.sub_p] = _sub_rule
jvp_rules[P.mul_p] = _mul_rule
jvp_rules[P.div_p] = _div_rule
jvp_rules[P.rem_p] = _rem_rule
jvp_rules[P.max_p] = _minmax_rule(P.max_p, lax.gt)
jvp_rules[P.min_p] = _minmax_rule(P.min_p, lax.lt)
jvp_rules[P.pow_p] = _pow_rule
jvp_rules[P.atan2_p] = _atan2_rule
jvp_rules[P.hypot_p] = _hypot_rule


def _select_rule(primals, tangents):
    (p, a, b), (_, ta, tb) = primals, tangents
    out = _bind1(P.select_p, p, a, b)
    if not _float_out(out) or (is_zero(ta) and is_zero(tb)):
        return [out], [Zero(_aval(out))]
    return [out], [lax.select(p, instantiate(ta), instantiate(tb))]


jvp_rules[P.select_p] = _select_rule


# ---------------------------------------------------------------- structural (linear) ops
def _linear_rule(prim):
    """Ops linear in their first operand: the tangent is the same op on the tangent."""

    def rule(primals, tangents, **params):
        out = _bind1(prim, *primals, **params)
        t = tangents[0]
        if is_zero(t) or not _float_out(out):
            return [out], [Zero(_aval(out))]
        return [out], [_bind1(prim, t, *primals[1:], **params)]

    return rule


for _p in (
    P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.reduce_sum_p, P.slice_p,
    P.rev_p, P.cumsum_p, P.gather_p, P.scatter_add_p,
):
    jvp_rules[_p] = _linear_rule(_p)


def _pad_rule(primals, tangents, *, padding_config):
    (x, pv), (tx, tpv) = primals, tangents
    out = _bind1(P.pad_p, x, pv, padding_config=padding_config)
    if (is_zero(tx) and is_zero(tpv)) or not _float_out(out):
        return [out], [Zero(_aval(out))]
    tpv = np.zeros((), _aval(out).dtype)[()] if is_zero(tpv) else tpv
    return [out], [_bind1(P.pad_p, instantiate(tx), tpv, padding_config=padding_config)]


jvp_rules[P.pad_p] = _pad_rule


def _concatenate_rule(primals, tangents, *, dimension):
    out = _bind1(P.concatenate_p, *primals, dimension=dimension)
    if all(is_zero(t) for t in tangents) or not _float_out(out):
        return [out], [Zero(_aval(out))]
    ts = [instantiate(t) for t in tangents]
    return [out], [_bind1(P.concatenate_p, *ts, dimension=dimension)]


jvp_rules[P.concatenate_p] = _concatenate_rule


def _dot_general_rule(primals, tangents, *, dimension_numbers):
    (x, y), (tx, ty) = primals, tangents
    out = _bind1(P.dot_general_p, x, y, dimension_numbers=dimension_numbers)
    if not _float_out(out):
        return [out], [Zero(_aval(out))]
    a = Zero(_aval(out)) if is_zero(tx) else _bind1(
        P.dot_general_p, tx, y, dimension_numbers=dimension_numbers)
    b = Zero(_aval(out)) if is_zero(ty) else _bind1(
        P.dot_general_p, x, ty, dimension_numbers=dimension_numbers)
    return [out], [add_tangents(a, b)]


jvp_rules[P.dot_general_p] = _dot_general_rule


# ---------------------------------------------------------------- dense linear algebra
# The tangents are solves with the primal matrix (solve is linear in its right-hand
# side, which transpose.py transposes to a solve with the transposed matrix).
def _mm(x, y):
    """Batched matrix product over the leading axes."""
    nd = lax.ndim(x)
    batch = tuple(range(nd - 2))
    return lax.dot_general(x, y, (((nd - 1,), (nd - 2,)), (batch, batch)))


def _solve_rule(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    x = _bind1(P.solve_p, a, b)
    rhs = Zero(_aval(x)) if is_zero(tb) else tb
    if not is_zero(ta):  # d(a^-1 b) = a^-1 (db - da x)
        rhs = add_tangents(rhs, lax.neg(_mm(ta, x)))
    return [x], [_bind1(P.solve_p, a, rhs)]


def _log_det_tangent(a, ta):
    """d log|det a| = trace(a^-1 da) = sum(a^-T * da) (a singular: a LinAlgError)."""
    nd = lax.ndim(a)
    return lax.reduce_sum(lax.mul(lax.matrix_t(lax.inv(a)), ta), (nd - 2, nd - 1))


def _det_rule(primals, tangents):
    (a,), (ta,) = primals, tangents
    d = _bind1(P.det_p, a)
    return [d], [lax.mul(d, _log_det_tangent(a, ta))]


def _slogdet_rule(primals, tangents):
    (a,), (ta,) = primals, tangents
    sign, logabsdet = bind_list(P.slogdet_p, [a], {})
    return [sign, logabsdet], [Zero(_aval(sign)), _log_det_tangent(a, ta)]


def _cholesky_rule(primals, tangents):
    """a = L L^T: dL = L phi(L^-1 dS L^-T), phi = the lower triangle with the
    diagonal halved, dS the tangent of the symmetric matrix a's lower triangle holds."""
    (a,), (ta,) = primals, tangents
    low = _bind1(P.cholesky_p, a)
    n = lax.shape(a)[-1]
    sym = lax.symmetric_from_triangle(ta, lower=True)
    left = _bind1(P.solve_p, low, sym)  # L^-1 sym
    inner = lax.matrix_t(_bind1(P.solve_p, low, lax.matrix_t(left)))  # L^-1 sym L^-T
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return [low], [_mm(low, lax.mul(inner, lax.broadcast_to(phi.astype(_aval(a).dtype),
                                                             lax.shape(a))))]


# Decompositions (as JAX's rules): with P = Q^T dA Q in the decomposition's own basis, the
# tangents of the values are P's diagonal and those of the vectors Q (F o P) with
# F_ij = 1 / (gap between values j and i), 0 on the diagonal; equal values give inf.
def _eye(x):
    """The identity over the last two axes of x's (..., n, n) shape, in its dtype."""
    n = lax.shape(x)[-1]
    return lax.broadcast_to(np.eye(n, dtype=_aval(x).dtype), lax.shape(x))


def _along(v, full, axis):
    """The vector stack v (..., n) spread over `full` (..., n, n) along axis -2 or -1."""
    nd = len(full)
    return lax.broadcast_in_dim(v, full, tuple(range(nd - 2)) + (nd + axis,))


def _diag(x, eye):
    return lax.reduce_sum(lax.mul(x, eye), (lax.ndim(x) - 1,))


def _inverse_gaps(lo, hi, eye):
    """1 / (hi - lo) off the diagonal, 0 on it (no inf there, nor in its derivatives)."""
    return lax.div(lax.sub(np.asarray(1, _aval(eye).dtype), eye), lax.add(lax.sub(hi, lo), eye))


def _eigh_rule(primals, tangents, *, lower):
    """a = V diag(w) V^T: dw = diag(P), dV = V (F o P), P = V^T dS V, dS the tangent of
    the symmetric matrix a's triangle holds (as for cholesky)."""
    (a,), (ta,) = primals, tangents
    w, v = bind_list(P.eigh_p, [a], dict(lower=lower))
    eye = _eye(a)
    sym = lax.symmetric_from_triangle(ta, lower)
    inner = _mm(lax.matrix_t(v), _mm(sym, v))
    full = lax.shape(a)
    gaps = _inverse_gaps(_along(w, full, -2), _along(w, full, -1), eye)
    return [w, v], [_diag(inner, eye), _mm(v, lax.mul(gaps, inner))]


def _svd_rule(primals, tangents, *, full_matrices, compute_uv):
    """a = U diag(s) V^T (thin): ds = diag(P), P = U^T da V; dU = U (F o (P S + S P^T))
    and dV = V (F o (S P + P^T S)) with F_ij = 1 / (s_j^2 - s_i^2), plus, for m > n, the
    part of da V / s outside U's columns (for m < n, of da^T U / s outside V's)."""
    (a,), (ta,) = primals, tangents
    *_, m, n = lax.shape(a)
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            "the derivative of svd with full_matrices=True of non-square matrices: its "
            "extra singular vectors are not unique; use full_matrices=False")
    u, s, vh = bind_list(P.svd_p, [a], dict(full_matrices=False, compute_uv=True))
    v = lax.matrix_t(vh)
    inner = _mm(lax.matrix_t(u), _mm(ta, v))
    eye = _eye(inner)
    ds = _diag(inner, eye)
    if not compute_uv:
        return [s], [ds]
    full = lax.shape(inner)
    s_i, s_j = _along(s, full, -2), _along(s, full, -1)
    gaps = _inverse_gaps(lax.mul(s_i, s_i), lax.mul(s_j, s_j), eye)
    right, left = lax.mul(inner, s_j), lax.mul(s_i, inner)  # P S, S P
    du = _mm(u, lax.mul(gaps, lax.add(right, lax.matrix_t(right))))
    dv = _mm(v, lax.mul(gaps, lax.add(left, lax.matrix_t(left))))

    def outside(q, x):  # (x - q q^T x) / s, x's columns scaled by 1 / s_j
        rest = lax.sub(x, _mm(q, _mm(lax.matrix_t(q), x)))
        return lax.div(rest, _along(s, lax.shape(x), -1))

    if m > n:
        du = lax.add(du, outside(u, _mm(ta, v)))
    if n > m:
        dv = lax.add(dv, outside(v, _mm(lax.matrix_t(ta), u)))
    return [u, s, vh], [du, ds, lax.matrix_t(dv)]


def _qr_rule(primals, tangents, *, full_matrices):
    """a = Q R (m >= n): with X = Q^T da R^-1 and L its strictly lower triangle,
    dQ = Q (L - L^T - X) + da R^-1 and dR = (X - L + L^T) R."""
    (a,), (ta,) = primals, tangents
    *_, m, n = lax.shape(a)
    if m < n or (full_matrices and m != n):
        raise NotImplementedError(
            "the derivative of qr is implemented for matrices with at least as many rows "
            "as columns (mode='reduced', or 'complete' of square matrices)")
    q, r = bind_list(P.qr_p, [a], dict(full_matrices=full_matrices))
    da_rinv = lax.matrix_t(_bind1(P.solve_p, lax.matrix_t(r), lax.matrix_t(ta)))
    x = _mm(lax.matrix_t(q), da_rinv)
    lower = np.tril(np.ones((n, n)), -1).astype(_aval(a).dtype)
    low = lax.mul(x, lax.broadcast_to(lower, lax.shape(x)))
    skew = lax.sub(low, lax.matrix_t(low))
    dq = lax.add(_mm(q, lax.sub(skew, x)), da_rinv)
    return [q, r], [dq, _mm(lax.sub(x, skew), r)]


jvp_rules[P.eigh_p] = _eigh_rule
jvp_rules[P.svd_p] = _svd_rule
jvp_rules[P.qr_p] = _qr_rule
jvp_rules[P.solve_p] = _solve_rule
jvp_rules[P.det_p] = _det_rule
jvp_rules[P.slogdet_p] = _slogdet_rule
jvp_rules[P.cholesky_p] = _cholesky_rule


def _broadcast_back(v, aval, axes):
    """Broadcast a reduction result `v` back to the operand's shape."""
    kept = [i for i in range(aval.ndim) if i not in axes]
    return lax.broadcast_in_dim(v, aval.shape, kept)


def _reduce_extremum_rule(prim):
    def rule(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        out = _bind1(prim, x, axes=axes)
        if is_zero(t) or not _float_out(out):
            return [out], [Zero(_aval(out))]
        xa = _aval(x)
        # ties split the derivative evenly among the maximal elements (SPEC)
        hit = lax.convert(lax.eq(x, _broadcast_back(out, xa, axes)), xa.dtype)
        count = lax.reduce_sum(hit, axes)
        w = lax.div(hit, _broadcast_back(count, xa, axes))
        return [out], [lax.reduce_sum(lax.mul(t, w), axes)]

    return rule


jvp_rules[P.reduce_max_p] = _reduce_extremum_rule(P.reduce_max_p)
jvp_rules[P.reduce_min_p] = _reduce_extremum_rule(P.reduce_min_p)


def _reduce_prod_rule(primals, tangents, *, axes):
    """d prod / d x_i = the product of the others: the product of the elements before
    x_i times that of the elements after it (two cumprods over the reduced axes, made
    one), with no division: exact with zeros, infinities and products that overflow
    or underflow while a partial one does not, at every order of differentiation."""
    (x,), (t,) = primals, tangents
    out = _bind1(P.reduce_prod_p, x, axes=axes)
    if is_zero(t) or not _float_out(out):
        return [out], [Zero(_aval(out))]
    shape = _aval(x).shape
    kept = [d for d in range(len(shape)) if d not in axes]
    perm = kept + sorted(axes)
    inner = tuple(shape[d] for d in perm)
    rows = lax.reshape(lax.transpose(x, perm), inner[:len(kept)] + (math.prod(inner[len(kept):]),))
    last = len(kept)
    before = lax.shift(lax.cumprod(rows, last), last, False, 1.0)
    after = lax.shift(lax.cumprod(rows, last, reverse=True), last, True, 1.0)
    others = lax.transpose(lax.reshape(lax.mul(before, after), inner), np.argsort(perm).tolist())
    return [out], [lax.reduce_sum(lax.mul(t, others), axes)]


jvp_rules[P.reduce_prod_p] = _reduce_prod_rule


def _cumprod_rule(primals, tangents, *, axis, reverse):
    """d y[i] = x[i] d y[i - 1] + y[i - 1] d x[i]: a linear recurrence (linrec) in the
    tangents, with no division (zeros, infinities and overflowing products of the
    other factors stay exact) and O(n) work."""
    (x,), (t,) = primals, tangents
    out = _bind1(P.cumprod_p, x, axis=axis, reverse=reverse)
    if is_zero(t) or not _float_out(out):
        return [out], [Zero(_aval(out))]
    before = lax.shift(out, axis, reverse, 1.0)  # y[i - 1], 1 before the first
    return [out], [lax.linrec(x, lax.mul(before, t), axis, reverse)]


def _linrec_rule(primals, tangents, *, axis, reverse):
    """d h[i] = a[i] d h[i - 1] + (d a[i] h[i - 1] + d b[i]): the same recurrence."""
    (a, b), (ta, tb) = primals, tangents
    out = _bind1(P.linrec_p, a, b, axis=axis, reverse=reverse)
    if is_zero(ta) and is_zero(tb):
        return [out], [Zero(_aval(out))]
    rhs = Zero(_aval(out)) if is_zero(ta) else lax.mul(ta, lax.shift(out, axis, reverse, 0.0))
    if not is_zero(tb):
        rhs = tb if is_zero(rhs) else lax.add(rhs, tb)
    return [out], [lax.linrec(a, rhs, axis, reverse)]


jvp_rules[P.cumprod_p] = _cumprod_rule
jvp_rules[P.linrec_p] = _linrec_rule


# ---------------------------------------------------------------- custom derivative calls
def forward_numbers(ir, sources, numbers):
    """Hand the Python-number records of a nested trace (`numbers`, (var, what,
    source) as tracer.Builder.numbers) to the traces its inputs come from: `sources`,
    one per invar then constvar, a tracer of an enclosing trace or None. A record
    whose value depends on such a tracer through primitives with a derivative is
    recorded there against that tracer, so an enclosing grad sees the derivative it
    would lose (a custom rule's fwd calling SciPy under grad of grad, float() of an
    in_axes=None argument of vmap under grad), and a vmap or jit does not mind."""
    from ..tracer.trace import Tracer

    if not numbers:
        return
    atoms = list(ir.invars) + list(ir.constvars)
    reach = {v: 1 << k for k, (v, s) in enumerate(zip(atoms, sources)) if isinstance(s, Tracer)}
    if not reach:
        return
    for e in ir.eqns:
        if e.prim in ZERO_DERIVATIVE:
            continue
        mask = 0
        for a in e.inputs:
            if isinstance(a, Var):
                mask |= reach.get(a, 0)
        if mask:
            for o in e.outputs:
                if is_float(o.aval.dtype):
                    reach[o] = reach.get(o, 0) | mask
    for var, what, src in numbers:
        mask = reach.get(var, 0)
        for k, s in enumerate(sources):
            if mask >> k & 1:
                s.builder.numbers.append((s.ir_var, what, src))


def fit_tangent(t, aval, what, ints=False):
    """A user rule's value (`what` names it) as a value of exactly `aval`: None is a
    zero; the dtype converts; another shape is refused, as in JAX (broadcasting a
    scalar tangent over an array output would be a wrong derivative). An integer or
    bool array for a float value is refused too, as in JAX (a comparison returned
    where a tangent was meant), unless `ints` (bwd's cotangents, which JAX converts)."""
    if t is None or is_zero(t):
        return lax.full(aval.shape, 0, aval.dtype)
    dt = lax.dtype(t)
    wrong_float = dt.kind == "f" and dt != aval.dtype
    wrong_kind = not ints and dt.kind in "iub" and np.dtype(aval.dtype).kind == "f"
    if (wrong_float or wrong_kind) and not lax.is_weak(t):
        # float32 for a float64 value would carry float32's precision silently
        raise TypeError(f"{what} has dtype {dt}; it must have the dtype of the value it "
                        f"belongs to, {aval}")
    t = lax.convert(lax.asarray(t) if not lax.is_traced(t) else t, aval.dtype)
    if tuple(lax.shape(t)) != aval.shape:
        raise TypeError(f"{what} has shape {tuple(lax.shape(t))}; it must have the shape "
                        f"of the value it belongs to, {aval}")
    return t


def _closure_checked(rule, kind, tangents, num_consts):
    """The user's rule sees its function's arguments and their tangents only: a
    differentiated value the function closes over (a const of the call) would
    get a silently zero derivative, and a traced value the rule closes over is
    dead by the time the rule runs. Both are refused, naming the rule."""
    if any(not is_zero(t) for t in tangents[:num_consts]):
        raise NotImplementedError(
            f"the {kind} function with rule {rule.__name__} closes over a value that is "
            "being differentiated, and its rule gives no derivative with respect to it: "
            "pass that value as an argument of the function instead")

    def run(*a):
        try:
            return rule(*a)
        except EscapedTracerError:
            raise NotImplementedError(
                f"the rule {rule.__name__} of a {kind} function uses a traced value it "
                "closes over (from the function that calls it): pass that value as an "
                "argument of the function instead") from None
    return run


def _custom_jvp_rule(primals, tangents, *, call, jvp, num_consts):
    args, targs = primals[num_consts:], tangents[num_consts:]
    rule = _closure_checked(jvp, "custom_jvp", tangents, num_consts)
    if all(is_zero(t) for t in targs):
        outs = bind_list(P.custom_jvp_call_p, primals,
                         dict(call=call, jvp=jvp, num_consts=num_consts))
        return outs, [Zero(a) for a in call.out_avals]
    # the user's rule, traced inline: its ops are ordinary and differentiable again
    outs, touts = rule(list(args), [instantiate(t) for t in targs])
    avals = call.out_avals
    outs = [fit_tangent(o, a, f"the primal output of the jvp rule {jvp.__name__}")
            for o, a in zip(outs, avals)]
    touts = [fit_tangent(t, a, f"a tangent output of the jvp rule {jvp.__name__}")
             if is_float(a.dtype) else Zero(a) for t, a in zip(touts, avals)]
    return outs, touts


def _custom_vjp_rule(primals, tangents, *, call, fwd, bwd, num_consts):
    args, targs = primals[num_consts:], tangents[num_consts:]
    rule = _closure_checked(fwd, "custom_vjp", tangents, num_consts)
    if all(is_zero(t) for t in targs):
        outs = bind_list(P.custom_vjp_call_p, primals,
                         dict(call=call, fwd=fwd, bwd=bwd, num_consts=num_consts))
        return outs, [Zero(a) for a in call.out_avals]
    outs, res, bwd_flat = rule(list(args), bwd)
    avals = call.out_avals
    outs = [fit_tangent(o, a, f"the primal output of the fwd rule {fwd.__name__}")
            for o, a in zip(outs, avals)]
    lin = bind_list(
        P.custom_vjp_linear_p,
        list(res) + [instantiate(t) for t in targs],
        dict(bwd=bwd_flat, num_res=len(res), out_avals=tuple(avals)),
    )
    touts = [t if is_float(a.dtype) else Zero(a) for t, a in zip(lin, avals)]
    return outs, touts


jvp_rules[P.custom_jvp_call_p] = _custom_jvp_rule
jvp_rules[P.custom_vjp_call_p] = _custom_vjp_rule


# ---------------------------------------------------------------- the pass
def jvp_ir(ir: IR, nonzero, report=None, values=None) -> IR:
    """Forward-mode derivative of `ir`; see the module docstring.

    If `report` is a list, it receives one bool per output: whether that output's
    tangent is (possibly) nonzero rather than a symbolic zero. `values`, the inputs'
    values (eager grad, jvp...: arrays, or tracers of an enclosing trace holding
    them), flow along the primal side, so that users' custom rules may take Python
    decisions on them, as in JAX's eager mode.
    """
    from ..tracer.trace import Tracer

    nonzero = [bool(n) and is_float(v.aval.dtype) for n, v in zip(nonzero, ir.invars)]
    with Builder() as b:
        b.concrete = values is not None
        primals = [b.new_arg(v.aval, None if values is None else
                             values[i].val if isinstance(values[i], Tracer) else values[i])
                   for i, v in enumerate(ir.invars)]
        tangent_args = [b.new_arg(v.aval) for v, n in zip(ir.invars, nonzero) if n]
        it = iter(tangent_args)
        penv, tenv = {}, {}
        for v, x in zip(ir.constvars, ir.consts):
            penv[v] = x
            tenv[v] = Zero(v.aval)
        for v, x, n in zip(ir.invars, primals, nonzero):
            penv[v] = x
            tenv[v] = next(it) if n else Zero(v.aval)
        jvp_eqns(ir.eqns, penv, tenv, b)
        pouts = [_read(penv, a) for a in ir.outvars]
        touts = [_read_t(tenv, a) for a in ir.outvars]
        if report is not None:
            report.extend(not is_zero(t) for t in touts)
        touts = [instantiate(t) for t in touts]
        b.source = None
        out = b.build(pouts + touts)
    if values is not None:  # numbers a custom rule made of values of an enclosing trace
        forward_numbers(out, list(values) + [None] * (len(out.invars) - len(values))
                        + [None] * len(out.constvars), b.numbers)
    return out


def _read(env, a):
    return a.val if isinstance(a, Literal) else env[a]


def _read_t(env, a):
    return Zero(a.aval) if isinstance(a, Literal) else env[a]


def jvp_eqns(eqns, penv, tenv, builder):
    """Apply the jvp rules to `eqns`, extending the primal/tangent environments."""
    for eqn in eqns:
        builder.source = eqn.source
        primals = [_read(penv, a) for a in eqn.inputs]
        tangents = [_read_t(tenv, a) for a in eqn.inputs]
        if all(is_zero(t) for t in tangents):
            outs = bind_list(eqn.prim, primals, eqn.params, eqn.source)
            touts = [Zero(v.aval) for v in eqn.outputs]
        else:
            try:
                rule = jvp_rules[eqn.prim]
            except KeyError:
                raise NotImplementedError(
                    f"no differentiation rule for primitive '{eqn.prim.name}'"
                ) from None
            outs, touts = rule(primals, tangents, **eqn.params)
        for v, o, t in zip(eqn.outputs, outs, touts):
            penv[v] = o
            tenv[v] = t


def partition(ir: IR, linear_inputs):
    """Split `ir.eqns` into (primal eqns, linear eqns, set of linear vars):
    an equation is linear when one of its inputs depends on a linear input."""
    linear = {v for v, lin in zip(ir.invars, linear_inputs) if lin}
    primal_eqns, linear_eqns = [], []
    for eqn in ir.eqns:
        if any(isinstance(a, Var) and a in linear for a in eqn.inputs):
            split = _split_while(eqn, linear) if eqn.prim is CF.while_p else None
            if split is not None:
                primal_eqns.append(split[0])
                eqn = split[1]
            linear_eqns.append(eqn)
            linear.update(eqn.outputs)
        else:
            primal_eqns.append(eqn)
    return primal_eqns, linear_eqns, linear


def _split_while(eqn, linear):
    """The jvp of a while loop carries primals and tangents in one loop (there is
    nowhere to store residuals), so it reads linear values although its primal
    carries do not depend on them. For partition: (a copy of the loop computing
    just those carries, for the primal side; the loop with them renamed, for the
    linear side), or None when there is no such split."""
    from .dce import dce_rules

    p = eqn.params
    m, n = p["cond_nconsts"], p["body_nconsts"]
    body = p["body"]
    is_lin = [isinstance(a, Var) and a in linear for a in eqn.inputs]
    carry_lin = is_lin[m + n:]
    while True:  # a carry becomes linear through its update, too: a fixpoint
        _, _, lin = partition(body, is_lin[m:m + n] + carry_lin)
        grown = [c or (isinstance(v, Var) and v in lin) for c, v in zip(carry_lin, body.outvars)]
        if grown == carry_lin:
            break
        carry_lin = grown
    if all(carry_lin):
        return None
    copy = dce_rules[CF.while_p](eqn, [not c for c in carry_lin])
    if copy is eqn or any(isinstance(a, Var) and a in linear for a in copy.inputs):
        return None  # e.g. the condition reads a carry that depends on a linear value
    computed = set(copy.outputs)
    return copy, eqn.replace(outputs=[Var(v.aval) if v in computed else v
                                      for v in eqn.outputs])


# ---------------------------------------------------------------- control flow
# cond: forward mode differentiates each branch. To keep reverse mode working,
# the rule emits the derivative already partially evaluated: a *primal* cond
# (primal outputs plus the residuals every branch's derivative needs, zeros for
# the other branches' residuals) and a *linear* cond (residuals and tangents ->
# tangent outputs), which passes/transpose.py transposes branch by branch.
# scan is split the same way (residuals stacked as extra ys of the primal scan);
# the linear scan is transposed into a scan running the other way. while_loop
# has forward mode only (its trip count is unknown, so nothing to store
# residuals in). Loop carries' tangents are found by a fixpoint over the body.
from ..ir import control_flow as CF  # noqa: E402
from ..tracer.trace import trace as _trace  # noqa: E402


def _eval(ir, args):
    from ..backends.interpreter import eval_ir

    return eval_ir(ir, ir.consts, list(args))


def trace_closed_branches(fns, in_avals):
    """Trace each flat fn on `in_avals` into closed IRs taking (all captured values
    of all branches..., inputs...); returns (irs, captured values)."""
    traced = [_trace(fn, in_avals) for fn in fns]
    captured, slots = [], []
    for ir in traced:
        slots.append(len(captured))
        captured += list(ir.consts)
    closed = []
    for i, ir in enumerate(traced):
        lead = []
        for j, other in enumerate(traced):
            lead += list(ir.constvars) if i == j else [Var(v.aval) for v in other.constvars]
        closed.append(IR([], [], lead + list(ir.invars), ir.eqns, ir.outvars))
    return closed, captured


def _split_linear(j: IR, n_in, n_out):
    """jvp'd IR -> (primal IR: primals -> outs + residuals, linear IR:
    residuals + tangents -> tangent outs, residual avals)."""
    lin_mask = [False] * n_in + [True] * (len(j.invars) - n_in)
    primal_eqns, linear_eqns, linear = partition(j, lin_mask)
    res, seen = [], set()
    for a in [x for e in linear_eqns for x in e.inputs] + list(j.outvars[n_out:]):
        if isinstance(a, Var) and a not in linear and a not in seen:
            seen.add(a)
            res.append(a)
    primal_ir = IR(j.constvars, j.consts, j.invars[:n_in], primal_eqns,
                   list(j.outvars[:n_out]) + res)
    linear_ir = IR([], [], res + list(j.invars[n_in:]), linear_eqns, j.outvars[n_out:])
    return primal_ir, linear_ir, [v.aval for v in res]


def _cond_jvp(primals, tangents, *, branches):
    pred, ops, tops = primals[0], list(primals[1:]), list(tangents[1:])
    n_out = len(branches[0].outvars)
    nz = [not is_zero(t) and is_float(_aval(o).dtype) for t, o in zip(tops, ops)]
    outs_nz_all = [False] * n_out
    jvps, splits = [], []
    for br in branches:
        report = []
        jvps.append(jvp_ir(br, nz, report))
        outs_nz_all = [a or b for a, b in zip(outs_nz_all, report)]
        splits.append(_split_linear(jvps[-1], len(ops), n_out))
    op_avals = [_aval(o) for o in ops]
    if any(_holds_while(lin) for _, lin, _ in splits):
        return _joint_cond_jvp(pred, ops, tops, nz, branches, jvps, outs_nz_all)
    res_avals = [a for _, _, ra in splits for a in ra]
    offs = [0]
    for _, _, ra in splits:
        offs.append(offs[-1] + len(ra))

    def primal_fn(i):
        def fn(*xs):
            outs = _eval(splits[i][0], xs)
            res = [lax.full(a.shape, 0, a.dtype) for a in res_avals]
            res[offs[i]:offs[i + 1]] = outs[n_out:]
            return list(outs[:n_out]) + res
        return fn

    pbr, pcap = trace_closed_branches([primal_fn(i) for i in range(len(branches))], op_avals)
    pouts = bind_list(CF.cond_p, [pred] + pcap + ops, dict(branches=tuple(pbr)))
    outs, res = pouts[:n_out], pouts[n_out:]
    t_avals = [a for a, n in zip(op_avals, nz) if n]

    def linear_fn(i):
        def fn(*xs):
            r, ts = xs[:len(res_avals)], xs[len(res_avals):]
            return _eval(splits[i][1], list(r[offs[i]:offs[i + 1]]) + list(ts))
        return fn

    lbr, lcap = trace_closed_branches(
        [linear_fn(i) for i in range(len(branches))], res_avals + t_avals)
    touts = bind_list(CF.cond_p, [pred] + lcap + list(res) + [t for t, n in zip(tops, nz) if n],
                      dict(branches=tuple(lbr)))
    touts = [t if (n and is_float(_aval(o).dtype)) else Zero(_aval(o))
             for t, o, n in zip(touts, outs, outs_nz_all)]
    return outs, touts


jvp_rules[CF.cond_p] = _cond_jvp


def _holds_while(ir):
    return (any(e.prim is CF.while_p for e in ir.eqns)
            or any(_holds_while(sub) for _, _, sub in ir.subirs()))


def _joint_cond_jvp(pred, ops, tops, nz, branches, jvps, outs_nz_all):
    """The cond itself, and a cond of its branches' derivatives on the operands and
    their tangents, for branches whose derivative holds a while loop (forward mode
    only, so nothing to transpose). Split into a primal and a linear cond, the linear
    one would run the loop again from the residuals, zeros for a branch not taken,
    where the loop may never end: under vmap every branch runs on every lane."""
    n_out = len(branches[0].outvars)
    t_in = [t for t, n in zip(tops, nz) if n]
    avals = [_aval(o) for o in ops] + [_aval(t) for t in t_in]

    def tangent_fn(j):  # the branch's jvp IR, its tangent outputs
        def fn(*xs):
            return _eval(j, xs)[n_out:]
        return fn

    outs = bind_list(CF.cond_p, [pred] + ops, dict(branches=tuple(branches)))
    tbr, tcap = trace_closed_branches([tangent_fn(j) for j in jvps], avals)
    touts = bind_list(CF.cond_p, [pred] + tcap + ops + t_in, dict(branches=tuple(tbr)))
    touts = [t if (n and is_float(_aval(o).dtype)) else Zero(_aval(o))
             for t, o, n in zip(touts, outs, outs_nz_all)]
    return outs, touts


def _loop_jvp_body(body, n_lead, carry_nz_in, other_nz, n_carry_out):
    """jvp of a loop body (lead operands, carry, trailing operands) with the carry's
    nonzero pattern closed under the body (fixpoint). Returns (jvp IR, carry nz)."""
    carry_nz = list(carry_nz_in)
    while True:
        lead_nz, tail_nz = other_nz[:n_lead], other_nz[n_lead:]
        report = []
        j = jvp_ir(body, lead_nz + carry_nz + tail_nz, report)
        new = [a or b for a, b in zip(carry_nz, report[:n_carry_out])]
        new = [n and is_float(v.aval.dtype) for n, v in zip(new, body.outvars[:n_carry_out])]
        if new == carry_nz:
            return j, carry_nz, report
        carry_nz = new


def _reorder_jvp_body(j, groups_in, nz_groups, out_keep):
    """Permute a jvp'd body's inputs to (g0, g0 tangents, g1, g1 tangents, ...) and
    keep outputs `out_keep` (indices into its outvars), closing over its consts."""
    n_primal = sum(groups_in)
    prim = list(j.invars[:n_primal])
    tans = iter(j.invars[n_primal:])
    tan_of = {}
    flat_nz = [n for g in nz_groups for n in g]
    for k, n in enumerate(flat_nz):
        if n:
            tan_of[k] = next(tans)
    invars, k = [], 0
    for size in groups_in:
        invars += prim[k:k + size]
        invars += [tan_of[i] for i in range(k, k + size) if i in tan_of]
        k += size
    outvars = [j.outvars[i] for i in out_keep]
    return IR([], [], list(j.constvars) + invars, j.eqns, outvars), list(j.consts)


def _retrace(ir: IR) -> IR:
    """A copy of a constvar-free IR with fresh variables."""
    return _trace(lambda *xs: _eval(ir, xs), ir.in_avals)


def _scan_jvp(primals, tangents, *, body, length, reverse, num_consts, num_carry):
    """Emit a primal scan (carry, ys, per-iteration residuals stacked as extra ys)
    and a linear scan (tangents; residuals as consts/xs) that transpose.py can
    run backwards."""
    nc, nk = num_consts, num_carry
    nz = [not is_zero(t) and is_float(_aval(p).dtype) for p, t in zip(primals, tangents)]
    c_nz, k_nz, x_nz = nz[:nc], nz[nc:nc + nk], nz[nc + nk:]
    n_out, n_x = len(body.outvars), len(x_nz)
    n_ys, n_p = n_out - nk, nc + nk + n_x
    j, k_nz, report = _loop_jvp_body(body, nc, k_nz, c_nz + x_nz, nk)
    lin_mask = [False] * n_p + [True] * (len(j.invars) - n_p)
    primal_eqns, linear_eqns, linear = partition(j, lin_mask)
    t_outs = ([j.outvars[n_out + i] for i in range(nk) if k_nz[i]]
              + [j.outvars[n_out + nk + i] for i in range(n_ys)])
    res, seen = [], set()
    for a in [x for e in linear_eqns for x in e.inputs] + t_outs:
        if isinstance(a, Var) and a not in linear and a not in seen:
            seen.add(a)
            res.append(a)
    captured = dict(zip(j.constvars, j.consts))
    const_pos = {v: i for i, v in enumerate(j.invars[:nc])}
    res_const = [r for r in res if r in const_pos or r in captured]
    res_iter = [r for r in res if not (r in const_pos or r in captured)]
    consts, init, xs = primals[:nc], primals[nc:nc + nk], primals[nc + nk:]
    # Residuals computed from consts alone are the same in every iteration: computed
    # once before the loop and passed to the linear scan as consts, not stacked (an
    # RK4 step reads its parameters in each of its 4 stages: 16 of the ODE
    # benchmark's 32 stacked residuals were its 4 parameters).
    inv_ir = _invariant_ir(primal_eqns, list(j.constvars) + list(j.invars[:nc]), res_iter)
    res_inv = list(inv_ir.outvars)
    inv_vals = _eval(inv_ir, list(j.consts) + list(consts)) if res_inv else []
    res_iter = [r for r in res_iter if r not in inv_ir.outvars]

    # zero carry tangents made before the primal scan, so that nothing stands between the
    # two scans' operands and the backend can run them as one loop (passes/merge_scans.py)
    tk = [instantiate(Zero(_aval(p))) if is_zero(t) else t
          for p, t, n in zip(init, tangents[nc:nc + nk], k_nz) if n]
    body_p = _retrace(IR([], [], list(j.constvars) + list(j.invars[:n_p]), primal_eqns,
                         list(j.outvars[:n_out]) + res_iter))
    outs = bind_list(
        CF.scan_p, list(j.consts) + list(consts) + list(init) + list(xs),
        dict(body=body_p, length=length, reverse=reverse,
             num_consts=len(j.consts) + nc, num_carry=nk))
    carry, ys, res_stacked = outs[:nk], outs[nk:n_out], outs[n_out:]

    tan_vars = iter(j.invars[n_p:])
    tc_vars = [next(tan_vars) for n in c_nz if n]
    tk_vars = [next(tan_vars) for n in k_nz if n]
    tx_vars = [next(tan_vars) for n in x_nz if n]
    body_l = _retrace(IR([], [], res_const + res_inv + tc_vars + tk_vars + res_iter + tx_vars,
                         linear_eqns, t_outs))
    res_const_vals = [captured[r] if r in captured else consts[const_pos[r]] for r in res_const]
    tc = [t for t, n in zip(tangents[:nc], c_nz) if n]
    tx = [t for t, n in zip(tangents[nc + nk:], x_nz) if n]
    touts = bind_list(
        CF.scan_p, res_const_vals + list(inv_vals) + tc + tk + list(res_stacked) + tx,
        dict(body=body_l, length=length, reverse=reverse,
             num_consts=len(res_const) + len(res_inv) + len(tc), num_carry=len(tk)))
    tcarry, tys = iter(touts[:len(tk)]), touts[len(tk):]
    t_carry = [next(tcarry) if n else Zero(_aval(c)) for c, n in zip(carry, k_nz)]
    y_nz = report[nk:]
    t_ys = [t if (n and is_float(_aval(y).dtype)) else Zero(_aval(y))
            for t, y, n in zip(tys, ys, y_nz)]
    return list(carry) + list(ys), t_carry + t_ys


jvp_rules[CF.scan_p] = _scan_jvp


def _invariant_ir(eqns, invariant_inputs, wanted):
    """IR: invariant_inputs -> those of `wanted` that `eqns` compute from
    invariant_inputs alone (and literals), with just the equations they need."""
    from .dce import _live_eqns

    inputs = set(invariant_inputs)
    invariant = set(inputs)
    for e in eqns:
        if all(not isinstance(a, Var) or a in invariant for a in e.inputs):
            invariant.update(e.outputs)
    outs = [w for w in wanted if w in invariant and w not in inputs]
    return IR([], [], list(invariant_inputs), _live_eqns(eqns, set(outs)), outs)


def _while_jvp(primals, tangents, *, cond, body, cond_nconsts, body_nconsts):
    cn, bn = cond_nconsts, body_nconsts
    nz = [not is_zero(t) and is_float(_aval(p).dtype) for p, t in zip(primals, tangents)]
    b_nz, k_nz = nz[cn:cn + bn], nz[cn + bn:]
    nk = len(k_nz)
    if not any(b_nz) and not any(k_nz):
        outs = bind_list(CF.while_p, list(primals),
                         dict(cond=cond, body=body, cond_nconsts=cn, body_nconsts=bn))
        return outs, [Zero(_aval(o)) for o in outs]
    j, k_nz, _ = _loop_jvp_body(body, bn, k_nz, b_nz, nk)
    keep = list(range(nk)) + [nk + i for i in range(nk) if k_nz[i]]
    new_body, caps = _reorder_jvp_body(j, [bn, nk], [b_nz, k_nz], keep)
    # the condition ignores the carry tangents
    extra = [Var(a) for a, n in zip(body.in_avals[bn:], k_nz) if n]
    new_cond = IR([], [], list(cond.invars) + extra, cond.eqns, cond.outvars)
    cconsts, bconsts, init = primals[:cn], primals[cn:cn + bn], primals[cn + bn:]
    tb = [t for t, n in zip(tangents[cn:cn + bn], b_nz) if n]
    tk = [instantiate(Zero(_aval(p))) if is_zero(t) else t
          for p, t, n in zip(init, tangents[cn + bn:], k_nz) if n]
    outs = bind_list(
        CF.while_p, list(cconsts) + list(caps) + list(bconsts) + tb + list(init) + tk,
        dict(cond=new_cond, body=new_body, cond_nconsts=cn,
             body_nconsts=len(caps) + bn + len(tb)))
    carry, tcarry = outs[:nk], iter(outs[nk:])
    return list(carry), [next(tcarry) if n else Zero(_aval(c)) for c, n in zip(carry, k_nz)]


jvp_rules[CF.while_p] = _while_jvp
