"""The NumPy interpreter: the reference semantics of every primitive.

`impl_rules[prim](*arrays, **params)` returns a list of NumPy arrays. Every
later pass and backend is tested against `eval_ir` here.
"""
from __future__ import annotations

import numpy as np

from ..ir import control_flow as CF
from ..ir import primitives as P
from ..ir.core import Literal, broadcast_shapes

impl_rules: dict = {}


def _elementwise(fn):
    def impl(*xs, **params):
        return [np.asarray(fn(*xs))]

    return impl


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


def _logistic(x):
    # exp(-|x|) never overflows; the two branches agree mathematically.
    x = np.asarray(x)  # a Python float operand (an eager derivative's scalar) too
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


def _sign(x):
    return np.sign(x)


def _div(x, y):
    if np.asarray(x).dtype.kind in "iu":
        return np.floor_divide(x, y)
    return np.true_divide(x, y)


def _pow(x, y):
    # C99 pow for every element. np.power with a scalar (or stride-0) exponent of
    # 0.5, -1, 2... takes fast paths (sqrt, reciprocal, square) that differ from
    # pow at -inf (sqrt(-inf) is nan, pow(-inf, 0.5) is inf); a contiguous
    # exponent array does not.
    y = np.asarray(y)
    shape = broadcast_shapes(np.shape(x), y.shape)
    if shape == ():  # two 0-d operands take NumPy's scalar path, fast paths included
        return np.power(np.reshape(x, (1,)), np.reshape(y, (1,))).reshape(())
    return np.power(x, np.array(np.broadcast_to(y, shape)))


def _round(x):
    return np.round(x)


def _special(name):
    """scipy.special's ufunc `name`: scipy.special costs ~0.3 s to import, paid on its
    first use, not on `import pullback`."""
    def impl(*xs, **params):
        import scipy.special

        return getattr(scipy.special, name)(*xs, **params)

    return impl


def _polygamma(x, *, n):
    """scipy.special.polygamma, with negative non-integer x reflected as in the numba
    helper: SciPy's Hurwitz zeta there takes time growing with |x| (2 ms at -1.6e5,
    minutes at -2.7e9). psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) cot^(n)(pi x)."""
    import scipy.special

    x = np.asarray(x)
    reflect = (x < 0) & (x != np.floor(x))  # the poles stay SciPy's (inf/nan), as fast
    if not reflect.any():
        return [np.asarray(scipy.special.polygamma(n, x))]
    value = np.asarray(scipy.special.polygamma(n, np.where(reflect, 1 - x, x)))
    with np.errstate(all="ignore"):
        r = x - np.floor(x + 0.5)  # cot(pi x) = cot(pi r), r in [-1/2, 1/2] exactly
        c = np.sin(np.pi * (0.5 - np.abs(r))) / np.sin(np.pi * r)
        coef = np.zeros(n + 2)  # d^n/dz^n cot(z) as a polynomial in c = cot(z):
        coef[1] = 1.0           # P_0 = c, P_k+1 = -(1 + c^2) P_k'
        for _ in range(n):
            d = np.arange(n + 2) * coef
            coef = np.zeros(n + 2)
            coef[:-1] -= d[1:]
            coef[2:] -= d[1:-1]
        cot_n = np.polyval(coef[::-1], c)
        reflected = (-1) ** n * value - np.pi ** (n + 1) * cot_n
    return [np.asarray(np.where(reflect, reflected, value).astype(value.dtype, copy=False))]


_ELEMENTWISE_IMPLS = {
    P.neg_p: np.negative, P.exp_p: np.exp, P.log_p: np.log, P.log1p_p: np.log1p,
    P.log2_p: np.log2, P.log10_p: np.log10,
    P.expm1_p: np.expm1, P.sin_p: np.sin, P.cos_p: np.cos, P.tan_p: np.tan,
    P.asin_p: np.arcsin, P.acos_p: np.arccos, P.atan_p: np.arctan,
    P.sinh_p: np.sinh, P.cosh_p: np.cosh, P.tanh_p: np.tanh,
    P.asinh_p: np.arcsinh, P.acosh_p: np.arccosh, P.atanh_p: np.arctanh,
    P.sqrt_p: np.sqrt, P.rsqrt_p: _rsqrt, P.logistic_p: _logistic,
    P.erf_p: _special("erf"), P.lgamma_p: _special("gammaln"), P.digamma_p: _special("psi"),
    P.floor_p: np.floor, P.ceil_p: np.ceil,
    P.round_p: _round, P.abs_p: np.abs, P.sign_p: _sign,
    P.not_p: np.invert, P.is_finite_p: np.isfinite,
    P.signbit_p: np.signbit, P.cbrt_p: np.cbrt,
    P.stop_gradient_p: lambda x: x,
    P.add_p: np.add, P.sub_p: np.subtract, P.mul_p: np.multiply, P.div_p: _div,
    P.rem_p: np.remainder, P.max_p: np.maximum, P.min_p: np.minimum,
    P.pow_p: _pow, P.atan2_p: np.arctan2, P.hypot_p: np.hypot,
    P.and_p: np.bitwise_and, P.or_p: np.bitwise_or,
    P.eq_p: np.equal, P.ne_p: np.not_equal, P.lt_p: np.less, P.le_p: np.less_equal,
    P.gt_p: np.greater, P.ge_p: np.greater_equal, P.select_p: np.where,
}
for _p, _f in _ELEMENTWISE_IMPLS.items():
    impl_rules[_p] = _elementwise(_f)

# NumPy's SIMD loops for these round differently from its strided loops (exp of a
# reversed view differs from exp of a copy in the last bit): C-contiguous operands,
# so that a pass removing a copying equation (x * 1.0 after a rev) changes no bit
_LAYOUT_ROUNDED = (P.exp_p, P.log_p, P.log2_p, P.log10_p, P.log1p_p, P.expm1_p, P.sin_p,
                   P.cos_p, P.tan_p, P.asin_p, P.acos_p, P.atan_p, P.sinh_p, P.cosh_p,
                   P.tanh_p, P.asinh_p, P.acosh_p, P.atanh_p, P.cbrt_p, P.atan2_p, P.hypot_p,
                   P.pow_p)


def _contiguous_operands(impl):
    def contiguous(*xs, **params):
        return impl(*(x.copy() if type(x) is np.ndarray and not x.flags.c_contiguous else x
                      for x in xs), **params)  # (np.ascontiguousarray makes 0-d 1-d)
    return contiguous


for _p in _LAYOUT_ROUNDED:
    impl_rules[_p] = _contiguous_operands(impl_rules[_p])


def _out_dtype_elementwise(fn, dtype_from=0):
    """Keep the input dtype: scipy/NumPy may upcast f32 for some functions."""

    def impl(*xs, **params):
        (out,) = fn(*xs, **params)
        return [out.astype(np.asarray(xs[dtype_from]).dtype, copy=False)]

    return impl


impl_rules[P.polygamma_p] = _polygamma
for _p in (P.erf_p, P.logistic_p, P.rsqrt_p, P.lgamma_p, P.digamma_p, P.polygamma_p):
    impl_rules[_p] = _out_dtype_elementwise(impl_rules[_p])


def _integer_pow(x, *, y):
    x = np.asarray(x)
    if y == 0:
        return [np.ones_like(x)]
    if P.integer_pow_by_pow(x.dtype, y):  # as compiled code
        return [_pow(x, np.asarray(float(y), x.dtype))]
    acc = None
    base, n = x, abs(y)
    while n:  # square-and-multiply, as the compiled code does
        if n & 1:
            acc = base if acc is None else acc * base
        n >>= 1
        if n:
            base = base * base
    if y < 0:
        acc = np.asarray(1.0, x.dtype) / acc
    return [np.asarray(acc, x.dtype)]


impl_rules[P.integer_pow_p] = _integer_pow
impl_rules[P.convert_element_type_p] = lambda x, *, new_dtype: [
    np.asarray(x).astype(new_dtype)
]
def _expand_for_broadcast(x, shape, bdims):
    s = [1] * len(shape)
    for i, d in enumerate(bdims):
        s[d] = x.shape[i]
    return s


impl_rules[P.broadcast_in_dim_p] = lambda x, *, shape, broadcast_dimensions: [
    np.broadcast_to(
        np.reshape(x, _expand_for_broadcast(np.asarray(x), shape, broadcast_dimensions)),
        shape,
    )
]
impl_rules[P.reshape_p] = lambda x, *, shape: [np.reshape(x, shape)]
impl_rules[P.transpose_p] = lambda x, *, permutation: [np.transpose(x, permutation)]


def _reduction(fn):
    def impl(x, *, axes):
        x = np.asarray(x)
        if not axes:  # np.sum(x, axis=()) adds +0.0, making -0.0 +0.0: none reduced
            return [x]
        return [np.asarray(fn(x, axis=tuple(axes)), dtype=x.dtype)]

    return impl


impl_rules[P.reduce_sum_p] = _reduction(np.sum)
impl_rules[P.reduce_prod_p] = _reduction(np.prod)


def _extremum(fn, sign):
    """max/min over `axes`; over an empty axis the identity (-inf/+inf, or the
    dtype's extreme for ints and bools), which NumPy's own max refuses: the tracer
    emits it only with an `initial` (np.max(x, initial=v)) that then wins."""
    def impl(x, *, axes):
        x = np.asarray(x)
        if not all(x.shape[a] for a in axes):
            if x.dtype.kind == "f":
                ident = sign * np.inf
            elif x.dtype.kind == "b":
                ident = sign > 0
            else:
                ident = np.iinfo(x.dtype).max if sign > 0 else np.iinfo(x.dtype).min
            return [np.asarray(fn(x, axis=tuple(axes), initial=ident), dtype=x.dtype)]
        return [np.asarray(fn(x, axis=tuple(axes)), dtype=x.dtype)]

    return impl


impl_rules[P.reduce_max_p] = _extremum(np.max, -1)
impl_rules[P.reduce_min_p] = _extremum(np.min, 1)
impl_rules[P.argmax_p] = lambda x, *, axis, index_dtype: [
    np.asarray(np.argmax(x, axis=axis), index_dtype)
]
impl_rules[P.argmin_p] = lambda x, *, axis, index_dtype: [
    np.asarray(np.argmin(x, axis=axis), index_dtype)
]


def _cumsum(x, *, axis, reverse):
    x = np.asarray(x)
    if reverse:
        return [np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)]
    return [np.cumsum(x, axis=axis, dtype=x.dtype)]


impl_rules[P.cumsum_p] = _cumsum


def _cumprod(x, *, axis, reverse):
    x = np.asarray(x)
    if reverse:
        return [np.flip(np.cumprod(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)]
    return [np.cumprod(x, axis=axis, dtype=x.dtype)]


def _linrec(a, b, *, axis, reverse):
    a, b = np.moveaxis(np.asarray(a), axis, -1), np.moveaxis(np.asarray(b), axis, -1)
    h = np.empty_like(b)
    n = b.shape[-1]
    order = range(n - 1, -1, -1) if reverse else range(n)
    prev = None
    for j in order:  # one step per element along the axis, vectorized across the others
        h[..., j] = b[..., j] if prev is None else a[..., j] * h[..., prev] + b[..., j]
        prev = j
    return [np.moveaxis(h, -1, axis)]


impl_rules[P.cumprod_p] = _cumprod
impl_rules[P.linrec_p] = _linrec


def _dot_general(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    # einsum with explicit subscripts: batch, lhs-free, rhs-free (JAX's order).
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    ls = [None] * lhs.ndim
    rs = [None] * rhs.ndim
    out = []
    for l, r in zip(lb, rb):
        ls[l] = rs[r] = c = next(letters)
        out.append(c)
    for l, r in zip(lc, rc):
        ls[l] = rs[r] = next(letters)
    for i in range(lhs.ndim):
        if ls[i] is None:
            ls[i] = c = next(letters)
            out.append(c)
    for i in range(rhs.ndim):
        if rs[i] is None:
            rs[i] = c = next(letters)
            out.append(c)
    spec = f"{''.join(ls)},{''.join(rs)}->{''.join(out)}"
    return [np.asarray(np.einsum(spec, lhs, rhs), dtype=lhs.dtype)]


impl_rules[P.dot_general_p] = _dot_general


impl_rules[P.argsort_p] = lambda x, *, axis: [np.argsort(x, axis=axis, kind="stable")]
impl_rules[P.argselect_p] = lambda x, *, axis, ranks: [
    np.take(np.argsort(x, axis=axis, kind="stable"), ranks, axis=axis)]

# dense linear algebra: NumPy's LAPACK calls, batched over the leading axes
impl_rules[P.solve_p] = lambda a, b: [np.linalg.solve(a, b)]
impl_rules[P.cholesky_p] = lambda a: [np.linalg.cholesky(a)]
impl_rules[P.det_p] = lambda a: [np.asarray(np.linalg.det(a))]
impl_rules[P.slogdet_p] = lambda a: [np.asarray(r) for r in np.linalg.slogdet(a)]
impl_rules[P.eigh_p] = lambda a, *, lower: list(np.linalg.eigh(a, "L" if lower else "U"))


def _svd(a, *, full_matrices, compute_uv):
    if not compute_uv:
        return [np.linalg.svd(a, compute_uv=False)]
    return list(np.linalg.svd(a, full_matrices=full_matrices))


def _qr(a, *, full_matrices):
    return list(np.linalg.qr(a, mode="complete" if full_matrices else "reduced"))


impl_rules[P.svd_p] = _svd
impl_rules[P.qr_p] = _qr


def _slice(x, *, start_indices, limit_indices, strides):
    idx = tuple(slice(s, l, st) for s, l, st in zip(start_indices, limit_indices, strides))
    return [np.asarray(x)[idx]]


impl_rules[P.slice_p] = _slice
impl_rules[P.rev_p] = lambda x, *, dimensions: [np.flip(x, tuple(dimensions))]


def _pad(x, padding_value, *, padding_config):
    x = np.asarray(x)
    shape = [
        lo + hi + d + max(0, d - 1) * interior
        for (lo, hi, interior), d in zip(padding_config, x.shape)
    ]
    out = np.full(shape, padding_value, dtype=x.dtype)
    idx = tuple(
        slice(lo, lo + (d - 1) * (interior + 1) + 1 if d else lo, interior + 1)
        for (lo, hi, interior), d in zip(padding_config, x.shape)
    )
    out[idx] = x
    return [out]


impl_rules[P.pad_p] = _pad
impl_rules[P.concatenate_p] = lambda *xs, dimension: [np.concatenate(xs, axis=dimension)]


def _gather(x, idx, *, axis):
    x = np.asarray(x)
    return [np.take(x, np.clip(idx, 0, x.shape[axis] - 1), axis=axis)]


def _scatter_add(updates, idx, *, axis, size):
    updates = np.asarray(updates)
    idx = np.clip(np.asarray(idx), 0, size - 1)
    k = idx.ndim
    shape = updates.shape[:axis] + (size,) + updates.shape[axis + k :]
    out = np.zeros(shape, updates.dtype)
    # move the scattered axis to the front, then add.at along it
    upd = np.moveaxis(
        # idx.size, not -1: NumPy cannot infer -1 when another axis of updates is empty
        updates.reshape(updates.shape[:axis] + (idx.size,) + updates.shape[axis + k :]), axis, 0
    )
    np.add.at(np.moveaxis(out, axis, 0), idx.reshape(-1), upd)
    return [out]


impl_rules[P.gather_p] = _gather
impl_rules[P.scatter_add_p] = _scatter_add


def _iota(*, shape, dimension, dtype):
    r = np.arange(shape[dimension], dtype=dtype)
    s = [1] * len(shape)
    s[dimension] = shape[dimension]
    return [np.broadcast_to(r.reshape(s), shape).copy()]


impl_rules[P.iota_p] = _iota


def impl(prim, *args, **params):
    """Evaluate one primitive on concrete arrays; returns a list."""
    try:
        rule = impl_rules[prim]
    except KeyError:
        raise NotImplementedError(f"no interpreter rule for primitive '{prim.name}'") from None
    return rule(*args, **params)


def eval_ir(ir, consts, args):
    """Evaluate `ir` on concrete NumPy values (or, via bind, on tracers).

    Values are passed through `bind`, so evaluating an IR inside a trace re-records
    it: that is what lets `grad(jit(f))` and `grad(grad(f))` compose.
    """
    from ..tracer.trace import bind_list

    env = {}
    for v, x in zip(ir.constvars, consts):
        env[v] = x
    for v, x in zip(ir.invars, args):
        env[v] = x

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    for eqn in ir.eqns:
        outs = bind_list(eqn.prim, [read(a) for a in eqn.inputs], eqn.params, eqn.source)
        for v, o in zip(eqn.outputs, outs):
            env[v] = o
    return [read(v) for v in ir.outvars]


def run_ir(ir, consts, args):
    """Evaluate `ir` on concrete NumPy values only, never through `bind`.

    Impl rules of primitives that hold sub-IRs (control flow, custom calls) use
    this: they are also called while a trace is active (to propagate concrete
    values), where `eval_ir` would re-record their bodies into that trace.
    """
    env = dict(zip(ir.constvars, consts))
    env.update(zip(ir.invars, args))

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    for eqn in ir.eqns:
        outs = impl(eqn.prim, *[read(a) for a in eqn.inputs], **eqn.params)
        env.update(zip(eqn.outputs, outs))
    return [read(v) for v in ir.outvars]


# ---------------------------------------------------------------- custom derivative calls
def _call_impl(*args, call, **params):
    return run_ir(call, call.consts, list(args))


def _custom_vjp_linear_impl(*args, **params):
    raise NotImplementedError(P.custom_vjp_forward_error(params))


impl_rules[P.custom_jvp_call_p] = _call_impl
impl_rules[P.custom_vjp_call_p] = _call_impl
impl_rules[P.custom_vjp_linear_p] = _custom_vjp_linear_impl


# ---------------------------------------------------------------- control flow
def _cond(pred, *operands, branches):
    # arrays, not the operand a branch returns as it is (a Python float)
    return [np.asarray(o) for o in run_ir(branches[int(bool(pred))], [], operands)]


def _while(*args, cond, body, cond_nconsts, body_nconsts):
    cconsts = args[:cond_nconsts]
    bconsts = args[cond_nconsts : cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts :])
    while bool(run_ir(cond, [], [*cconsts, *carry])[0]):
        carry = run_ir(body, [], [*bconsts, *carry])
    return [np.asarray(c) for c in carry]


def _scan(*args, body, length, reverse, num_consts, num_carry):
    consts = list(args[:num_consts])
    carry = list(args[num_consts : num_consts + num_carry])
    xs = args[num_consts + num_carry :]
    y_avals = body.out_avals[num_carry:]
    ys = [np.empty((length,) + a.shape, a.dtype) for a in y_avals]
    for step in range(length):
        i = length - 1 - step if reverse else step
        outs = run_ir(body, [], consts + carry + [np.asarray(x)[i] for x in xs])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:]):
            y[i] = o
    return [np.asarray(c) for c in carry] + ys


impl_rules[CF.cond_p] = _cond
impl_rules[CF.while_p] = _while
impl_rules[CF.scan_p] = _scan
