"""The primitive set and its shape/dtype rules.

Every primitive is a `Primitive` object named `<name>_p`. Each concern keeps its
own table keyed by primitive, in its own module:

    shape_rules      here               avals in -> list of avals out
    impl_rules       backends/interpreter.py   NumPy semantics (the reference)
    jvp_rules        passes/jvp.py
    transpose_rules  passes/transpose.py
    batch_rules      passes/batching.py
    lowering rules   backends/numba/

Conventions shared by all rules:
  * Elementwise n-ary primitives take operands of one shape and one dtype; a 0-d
    operand of an op whose output is not 0-d must be a `Literal` (typecheck
    enforces it). The tracer inserts explicit `broadcast_in_dim`s.
  * `div` and `rem` on integers are floor division and Python-sign remainder
    (NumPy's `//` and `%`).
  * `gather`/`scatter_add` clamp indices into range (the tracer wraps negative
    indices first), so no index can read or write out of bounds.
"""
from __future__ import annotations

import math

import numpy as np

from .core import IRError, ShapedArray, is_float, is_int


class Primitive:
    __slots__ = ("name", "multiple_results")

    def __init__(self, name, multiple_results=False):
        self.name = name
        self.multiple_results = multiple_results

    def bind(self, *args, **params):
        return _tracer_bind()(self, *args, **params)

    def __repr__(self):
        return self.name

    def __reduce__(self):
        # one object per primitive: the rule tables are keyed by it, so a copy (pickle,
        # deepcopy of an IR) must be the registered primitive, not an equal twin
        return (primitive_named, (self.name,))


def primitive_named(name):
    return PRIMITIVES[name]


def _tracer_bind():
    """tracer.trace.bind, imported on first use (the tracer imports this module)."""
    global _bind
    if _bind is None:
        from ..tracer.trace import bind as _bind
    return _bind


_bind = None

PRIMITIVES: dict[str, Primitive] = {}
shape_rules: dict[Primitive, callable] = {}


def _register(name, rule, multiple_results=False):
    p = Primitive(name, multiple_results)
    PRIMITIVES[name] = p
    shape_rules[p] = rule
    return p


class ShapeError(IRError, ValueError):
    """A primitive applied to operands of the wrong shape or dtype."""


def _fail(msg):
    raise ShapeError(msg)


# ---------------------------------------------------------------- elementwise
def _common_shape(avals, name):
    shapes = {a.shape for a in avals if a.shape != ()}
    if len(shapes) > 1:
        _fail(f"{name}: operand shapes differ: " + ", ".join(str(a) for a in avals))
    return shapes.pop() if shapes else ()


def _same_dtype(avals, name):
    dts = {a.dtype for a in avals}
    if len(dts) != 1:
        _fail(f"{name}: operand dtypes differ: " + ", ".join(str(a) for a in avals))
    return dts.pop()


def _kind_check(dtype, kinds, name):
    if dtype.kind not in kinds:
        allowed = {"f": "float", "i": "int", "b": "bool", "u": "uint"}
        _fail(
            f"{name} does not accept dtype {dtype}; it takes "
            + "/".join(allowed[k] for k in kinds)
        )


def _unary(kinds, out_dtype=None):
    def rule(x, *extra, _name=None, **params):
        if extra:
            _fail(f"{_name}: takes 1 operand, got {1 + len(extra)}")
        _kind_check(x.dtype, kinds, _name)
        return [ShapedArray(x.shape, out_dtype or x.dtype)]

    return rule


def _binary(kinds, out_dtype=None):
    def rule(*avals, _name=None, **params):
        if len(avals) != 2:
            _fail(f"{_name}: takes 2 operands, got {len(avals)}")
        shape = dtype = None
        if avals:  # the common case: operands of one shape and dtype
            shape, dtype = avals[0].shape, avals[0].dtype
            for a in avals:
                if a.shape != shape or a.dtype != dtype:
                    shape = None
                    break
        if shape is None:  # literals, or a mismatch to report
            shape = _common_shape(avals, _name)
            dtype = _same_dtype(avals, _name)
        _kind_check(dtype, kinds, _name)
        return [ShapedArray(shape, out_dtype or dtype)]

    return rule


FLOAT, NUM, ANY, INTBOOL = "f", "fi", "fib", "ib"

UNARY_FLOAT = [
    "exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sqrt", "rsqrt",
    "logistic", "erf", "floor", "ceil", "round", "cbrt", "lgamma", "digamma",
]
for _n in UNARY_FLOAT:
    globals()[f"{_n}_p"] = _register(_n, _unary(FLOAT))
neg_p = _register("neg", _unary(NUM))
abs_p = _register("abs", _unary(NUM))
sign_p = _register("sign", _unary(NUM))
not_p = _register("not", _unary(INTBOOL))
is_finite_p = _register("is_finite", _unary(FLOAT, np.dtype(bool)))
# the IEEE sign bit: set for -0.0 and for a NaN with its sign bit set (np.signbit)
signbit_p = _register("signbit", _unary(FLOAT, np.dtype(bool)))
stop_gradient_p = _register("stop_gradient", _unary(ANY))


def _integer_pow_rule(x, *, y, _name=None):
    _kind_check(x.dtype, NUM, _name)
    if not isinstance(y, int):
        _fail(f"integer_pow: exponent must be an int, got {y!r}")
    if is_int(x.dtype) and y < 0:
        _fail("integer_pow: negative exponent of an integer array")
    return [x]


integer_pow_p = _register("integer_pow", _integer_pow_rule)
# How both backends compute integer_pow of floats: by square-and-multiply for |y| up to
# this (one to three roundings, as XLA), by C99 pow beyond it, as NumPy does: the
# products' error grows with y (x**31 was 21 ulp off, x**-7 5 ulp). Negative powers
# beyond -1 use pow too: 1 / x**2 is 0 where x**2 overflows and NumPy's x**-2 is a
# subnormal (x = 1e160).
INTEGER_POW_MAX_PRODUCTS = 4


def integer_pow_by_pow(dtype, y):
    """Whether integer_pow of `dtype` values to the power `y` is C pow's (see above)."""
    return np.dtype(dtype).kind == "f" and (abs(y) > INTEGER_POW_MAX_PRODUCTS or y < -1)


def _polygamma_rule(x, *, n, _name=None):
    """The n-th derivative of digamma (n >= 1; digamma is its own primitive)."""
    _kind_check(x.dtype, FLOAT, _name)
    if not isinstance(n, int) or n < 1:
        _fail(f"polygamma: n must be an int >= 1, got {n!r}")
    return [x]


polygamma_p = _register("polygamma", _polygamma_rule)


def _convert_rule(x, *, new_dtype, _name=None):
    return [ShapedArray(x.shape, new_dtype)]


convert_element_type_p = _register("convert_element_type", _convert_rule)

for _n in ["add", "sub", "mul", "div", "rem", "max", "min"]:
    globals()[f"{_n}_p"] = _register(_n, _binary(NUM))
for _n in ["pow", "atan2", "hypot"]:
    globals()[f"{_n}_p"] = _register(_n, _binary(FLOAT))
and_p = _register("and", _binary(INTBOOL))
or_p = _register("or", _binary(INTBOOL))
for _n in ["eq", "ne", "lt", "le", "gt", "ge"]:
    globals()[f"{_n}_p"] = _register(_n, _binary(ANY, np.dtype(bool)))


def _select_rule(pred, on_true, on_false, _name=None):
    if pred.dtype != np.dtype(bool):
        _fail(f"select: predicate must be bool, got {pred}")
    shape = _common_shape([pred, on_true, on_false], "select")
    dtype = _same_dtype([on_true, on_false], "select")
    return [ShapedArray(shape, dtype)]


select_p = _register("select", _select_rule)


# ---------------------------------------------------------------- shape ops
def _broadcast_in_dim_rule(x, *, shape, broadcast_dimensions, _name=None):
    bd = broadcast_dimensions
    if len(bd) != x.ndim or len(set(bd)) != len(bd) or any(
        not 0 <= d < len(shape) for d in bd
    ):
        _fail(f"broadcast_in_dim: bad broadcast_dimensions {bd} for {x} -> {shape}")
    if list(bd) != sorted(bd):
        _fail(f"broadcast_in_dim: broadcast_dimensions {bd} must be increasing")
    for i, d in enumerate(bd):
        if x.shape[i] not in (1, shape[d]):
            _fail(f"broadcast_in_dim: cannot broadcast {x} to {list(shape)}")
    return [ShapedArray(shape, x.dtype)]


broadcast_in_dim_p = _register("broadcast_in_dim", _broadcast_in_dim_rule)


def _reshape_rule(x, *, shape, _name=None):
    if math.prod(shape) != x.size or any(d < 0 for d in shape):
        _fail(f"reshape: cannot reshape {x} into shape {tuple(shape)}")
    return [ShapedArray(shape, x.dtype)]


reshape_p = _register("reshape", _reshape_rule)


def _transpose_rule(x, *, permutation, _name=None):
    if sorted(permutation) != list(range(x.ndim)):
        _fail(f"transpose: {permutation} is not a permutation of the axes of {x}")
    return [ShapedArray([x.shape[p] for p in permutation], x.dtype)]


transpose_p = _register("transpose", _transpose_rule)


def _check_axes(x, axes, name):
    if list(axes) != sorted(set(axes)) or any(not 0 <= a < x.ndim for a in axes):
        _fail(f"{name}: bad axes {axes} for {x} (want sorted, unique, in range)")


def _reduce_rule(kinds):
    def rule(x, *, axes, _name=None):
        _check_axes(x, axes, _name)
        _kind_check(x.dtype, kinds, _name)
        return [ShapedArray([d for i, d in enumerate(x.shape) if i not in axes], x.dtype)]

    return rule


reduce_sum_p = _register("reduce_sum", _reduce_rule(NUM))
reduce_prod_p = _register("reduce_prod", _reduce_rule(NUM))
reduce_max_p = _register("reduce_max", _reduce_rule(ANY))
reduce_min_p = _register("reduce_min", _reduce_rule(ANY))


def _arg_rule(x, *, axis, index_dtype, _name=None):
    _check_axes(x, (axis,), _name)
    if x.shape[axis] == 0:
        _fail(f"{_name}: axis {axis} of {x} is empty")
    return [ShapedArray([d for i, d in enumerate(x.shape) if i != axis], index_dtype)]


argmax_p = _register("argmax", _arg_rule)
argmin_p = _register("argmin", _arg_rule)


def _argsort_rule(x, *, axis, _name=None):
    """The stable ascending order along `axis` (NaNs last, as NumPy), as int64 indices."""
    _check_axes(x, (axis,), _name)
    _kind_check(x.dtype, ANY, _name)
    return [ShapedArray(x.shape, np.dtype(np.int64))]


argsort_p = _register("argsort", _argsort_rule)


def _argselect_rule(x, *, axis, ranks, _name=None):
    """argsort's indices at the strictly increasing positions `ranks` along `axis`
    (`argsort(x)[..., ranks]`), found by selection instead of a sort: median and
    quantile read a few positions of the order. The axis becomes len(ranks) long."""
    _check_axes(x, (axis,), _name)
    _kind_check(x.dtype, ANY, _name)
    n = x.shape[axis]
    if (not isinstance(ranks, tuple) or not ranks or any(type(r) is not int for r in ranks)
            or list(ranks) != sorted(set(ranks)) or ranks[0] < 0 or ranks[-1] >= n):
        _fail(f"{_name}: ranks {ranks!r} must be a non-empty increasing tuple of positions "
              f"in axis {axis} of {x}")
    shape = list(x.shape)
    shape[axis] = len(ranks)
    return [ShapedArray(shape, np.dtype(np.int64))]


argselect_p = _register("argselect", _argselect_rule)


def _cumsum_rule(x, *, axis, reverse, _name=None):
    _check_axes(x, (axis,), _name)
    _kind_check(x.dtype, NUM, _name)
    return [x]


cumsum_p = _register("cumsum", _cumsum_rule)
cumprod_p = _register("cumprod", _cumsum_rule)


def _linrec_rule(a, b, *, axis, reverse, _name=None):
    """h[0] = b[0], h[i] = a[i] * h[i - 1] + b[i] along `axis` (from the end when
    reverse; a's first element, or last, is not read): cumprod's tangents, and
    their transposes."""
    if a.shape != b.shape or a.dtype != b.dtype:
        _fail(f"{_name}: a {a} and b {b} must have one shape and dtype")
    _check_axes(b, (axis,), _name)
    _kind_check(b.dtype, FLOAT, _name)
    return [b]


linrec_p = _register("linrec", _linrec_rule)


def _dot_general_rule(lhs, rhs, *, dimension_numbers, _name=None):
    (lc, rc), (lb, rb) = dimension_numbers
    dtype = _same_dtype([lhs, rhs], "dot_general")
    _kind_check(dtype, NUM, "dot_general")
    if len(lc) != len(rc) or len(lb) != len(rb):
        _fail(f"dot_general: bad dimension_numbers {dimension_numbers}")
    for dims, a in ((lc + lb, lhs), (rc + rb, rhs)):
        if len(set(dims)) != len(dims) or any(not 0 <= d < a.ndim for d in dims):
            _fail(f"dot_general: bad dimension_numbers {dimension_numbers} for {lhs}, {rhs}")
    for l, r in zip(lc + lb, rc + rb):
        if lhs.shape[l] != rhs.shape[r]:
            _fail(
                f"dot_general: size mismatch between {lhs} axis {l} and {rhs} axis {r}"
            )
    if list(lb) != list(range(len(lb))) or list(rb) != list(range(len(rb))):
        _fail("dot_general: batch dimensions must lead both operands")
    lfree = [d for i, d in enumerate(lhs.shape) if i not in lc and i not in lb]
    rfree = [d for i, d in enumerate(rhs.shape) if i not in rc and i not in rb]
    batch = [lhs.shape[d] for d in lb]
    return [ShapedArray(batch + lfree + rfree, dtype)]


dot_general_p = _register("dot_general", _dot_general_rule)


# ---------------------------------------------------------------- dense linear algebra
# Square matrices in the last two axes, batch axes in front (LAPACK per matrix).
def _square(a, name):
    _kind_check(a.dtype, FLOAT, name)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        _fail(f"{name}: expected square matrices in the last two axes, got {a}")


def _solve_rule(a, b, *, _name=None):
    """solve a b: x with a @ x = b; a (..., n, n), b (..., n, k)."""
    _square(a, "solve")
    if b.dtype != a.dtype or b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1]:
        _fail(f"solve: right-hand sides {b} do not match the matrices {a}")
    return [b]


def _cholesky_rule(a, *, _name=None):
    _square(a, "cholesky")
    return [a]


def _det_rule(a, *, _name=None):
    _square(a, "det")
    return [ShapedArray(a.shape[:-2], a.dtype)]


def _slogdet_rule(a, *, _name=None):
    _square(a, "slogdet")
    return [ShapedArray(a.shape[:-2], a.dtype)] * 2


def _eigh_rule(a, *, lower, _name=None):
    """eigh a: (eigenvalues ascending (..., n), eigenvectors as columns (..., n, n)) of
    the symmetric matrices held in a's lower (or upper) triangles."""
    _square(a, "eigh")
    return [ShapedArray(a.shape[:-1], a.dtype), a]


def _svd_rule(a, *, full_matrices, compute_uv, _name=None):
    """svd a: (u, s, vh) with a = u diag(s) vh, s descending, k = min(m, n) values;
    u (..., m, m or k), vh (..., n or k, n); only (s,) without compute_uv."""
    _kind_check(a.dtype, FLOAT, "svd")
    if a.ndim < 2:
        _fail(f"svd: expected matrices in the last two axes, got {a}")
    *batch, m, n = a.shape
    k = min(m, n)
    s = ShapedArray(tuple(batch) + (k,), a.dtype)
    if not compute_uv:
        return [s]
    cols, rows = (m, n) if full_matrices else (k, k)
    return [ShapedArray(tuple(batch) + (m, cols), a.dtype), s,
            ShapedArray(tuple(batch) + (rows, n), a.dtype)]


def _qr_rule(a, *, full_matrices, _name=None):
    """qr a: (q, r) with a = q r, q orthonormal columns (..., m, k or m), r upper
    triangular (..., k or m, n), k = min(m, n)."""
    _kind_check(a.dtype, FLOAT, "qr")
    if a.ndim < 2:
        _fail(f"qr: expected matrices in the last two axes, got {a}")
    *batch, m, n = a.shape
    k = m if full_matrices else min(m, n)
    return [ShapedArray(tuple(batch) + (m, k), a.dtype),
            ShapedArray(tuple(batch) + (k, n), a.dtype)]


solve_p = _register("solve", _solve_rule)
cholesky_p = _register("cholesky", _cholesky_rule)
det_p = _register("det", _det_rule)
slogdet_p = _register("slogdet", _slogdet_rule, multiple_results=True)
eigh_p = _register("eigh", _eigh_rule, multiple_results=True)
svd_p = _register("svd", _svd_rule, multiple_results=True)
qr_p = _register("qr", _qr_rule, multiple_results=True)


def _slice_rule(x, *, start_indices, limit_indices, strides, _name=None):
    if not len(start_indices) == len(limit_indices) == len(strides) == x.ndim:
        _fail(f"slice: index lists must have one entry per axis of {x}")
    out = []
    for s, l, st, d in zip(start_indices, limit_indices, strides, x.shape):
        if not (0 <= s <= l <= d) or st < 1:
            _fail(f"slice: bad slice {s}:{l}:{st} of an axis of size {d}")
        out.append(max(0, -(-(l - s) // st)))
    return [ShapedArray(out, x.dtype)]


slice_p = _register("slice", _slice_rule)


def _rev_rule(x, *, dimensions, _name=None):
    _check_axes(x, dimensions, "rev")
    return [x]


rev_p = _register("rev", _rev_rule)


def _pad_rule(x, padding_value, *, padding_config, _name=None):
    if padding_value.shape != () or padding_value.dtype != x.dtype:
        _fail(f"pad: padding value must be a 0-d {x.dtype}, got {padding_value}")
    if len(padding_config) != x.ndim:
        _fail(f"pad: padding_config needs one (lo, hi, interior) per axis of {x}")
    out = []
    for (lo, hi, interior), d in zip(padding_config, x.shape):
        if lo < 0 or hi < 0 or interior < 0:
            _fail(f"pad: negative padding {padding_config}")
        out.append(lo + hi + d + max(0, d - 1) * interior)
    return [ShapedArray(out, x.dtype)]


pad_p = _register("pad", _pad_rule)


def _concatenate_rule(*xs, dimension, _name=None):
    if not xs:
        _fail("concatenate: needs at least one operand")
    dtype = _same_dtype(xs, "concatenate")
    nd = xs[0].ndim
    if not 0 <= dimension < nd:
        _fail(f"concatenate: dimension {dimension} out of range for {xs[0]}")
    for x in xs:
        if x.ndim != nd or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != dimension
        ):
            _fail("concatenate: shapes differ off the axis: " + ", ".join(map(str, xs)))
    shape = list(xs[0].shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return [ShapedArray(shape, dtype)]


concatenate_p = _register("concatenate", _concatenate_rule)


def _gather_rule(x, idx, *, axis, _name=None):
    if not is_int(idx.dtype):
        _fail(f"gather: indices must be integers, got {idx}")
    if not 0 <= axis < x.ndim:
        _fail(f"gather: axis {axis} out of range for {x}")
    if x.shape[axis] == 0 and idx.size:  # no index is valid there (none is fine)
        _fail(f"gather: cannot index into empty axis {axis} of {x}")
    return [ShapedArray(x.shape[:axis] + idx.shape + x.shape[axis + 1 :], x.dtype)]


gather_p = _register("gather", _gather_rule)


def _scatter_add_rule(updates, idx, *, axis, size, _name=None):
    if not is_int(idx.dtype):
        _fail(f"scatter_add: indices must be integers, got {idx}")
    k = idx.ndim
    if updates.shape[axis : axis + k] != idx.shape:
        _fail(f"scatter_add: updates {updates} do not match indices {idx} at axis {axis}")
    return [ShapedArray(updates.shape[:axis] + (size,) + updates.shape[axis + k :], updates.dtype)]


scatter_add_p = _register("scatter_add", _scatter_add_rule)


def _iota_rule(*, shape, dimension, dtype, _name=None):
    if not 0 <= dimension < len(shape):
        _fail(f"iota: dimension {dimension} out of range for shape {shape}")
    return [ShapedArray(shape, dtype)]


iota_p = _register("iota", _iota_rule)


# ---------------------------------------------------------------- custom derivatives
# Calls of a closed `call` sub-IR (operands: the closure-converted consts, then
# the arguments) carrying the user's derivative rules (Python callables) as params.
def _call_rule(*avals, call, _name=None, **params):
    if [a for a in avals] != call.in_avals:
        _fail(f"{_name}: operands {list(avals)} do not match the call's inputs {call.in_avals}")
    return list(call.out_avals)


custom_jvp_call_p = _register("custom_jvp_call", _call_rule, multiple_results=True)
custom_vjp_call_p = _register("custom_vjp_call", _call_rule, multiple_results=True)


def _custom_vjp_linear_rule(*avals, out_avals, _name=None, **params):
    return list(out_avals)


# The linear part of a custom_vjp function in a linearized IR: operands are the
# residuals then the argument tangents; its transpose calls the user's bwd.
custom_vjp_linear_p = _register(
    "custom_vjp_linear", _custom_vjp_linear_rule, multiple_results=True
)
# what evaluating it means (a forward-mode derivative survived), in either backend
CUSTOM_VJP_FORWARD = ("forward-mode differentiation (jvp, jacfwd, hessian) of a custom_vjp "
                      "function is not supported: its derivative is only defined in reverse "
                      "mode (use custom_jvp)")


def custom_vjp_forward_error(params):
    """CUSTOM_VJP_FORWARD naming the function by its bwd rule (a custom_vjp_linear's)."""
    bwd = params.get("bwd")
    name = getattr(bwd, "__name__", None)
    return CUSTOM_VJP_FORWARD + (f"; the custom_vjp function with bwd rule {name}" if name else "")


def forward_custom_vjp(ir):
    """The params of a custom_vjp_linear equation anywhere in `ir` (nested IRs too),
    or None: such an IR cannot run (a forward-mode derivative of a custom_vjp)."""
    for e in ir.eqns:
        if e.prim is custom_vjp_linear_p:
            return e.params
    for _, _, sub in ir.subirs():
        found = forward_custom_vjp(sub)
        if found is not None:
            return found
    return None


def abstract_eval(prim, avals, params):
    """Apply `prim`'s shape rule; always returns a list of output avals."""
    return shape_rules[prim](*avals, _name=prim.name, **params)


ELEMENTWISE = {
    p
    for name, p in PRIMITIVES.items()
    if shape_rules[p].__qualname__.startswith(("_unary", "_binary"))
} | {select_p, integer_pow_p, polygamma_p, convert_element_type_p}
