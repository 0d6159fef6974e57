"""Per-primitive lowering of elementwise ops to scalar Python expressions.

`scalar_rules[prim](ctx, out_dtype, in_dtypes, *operands, **params)` returns the
expression (a string) computing one element, given operand expressions that are
plain names or typed literals (the codegen binds every load to a local first, so
an operand may appear several times in an expression at no cost).

Semantics follow backends/interpreter.py exactly: integer `div` floors, `rem`
takes the divisor's sign, `round` is half-to-even, `max`/`min` propagate NaN,
`sign(nan)` is nan. float32 stays float32: literals are typed and results of
float32/int32 ops are cast back (Numba would otherwise widen them).
"""
from __future__ import annotations

import math

import numpy as np

from ...ir import primitives as P

# NumPy dtype -> the Numba-visible constructor written in generated code.
DT = {
    np.dtype("float64"): "np.float64",
    np.dtype("float32"): "np.float32",
    np.dtype("int64"): "np.int64",
    np.dtype("int32"): "np.int32",
    np.dtype("bool"): "np.bool_",
}


def literal(val, dtype) -> str:
    """A literal typed as `dtype` in Numba (bare Python floats would be float64)."""
    dtype = np.dtype(dtype)
    v = np.asarray(val).item()
    if dtype.kind == "b":
        return "True" if v else "False"
    if dtype.kind == "f":
        v = float(v)
        if math.isnan(v):  # its sign bit kept (copysign, signbit read it), by its bits:
            # Numba's -np.nan is a positive NaN
            bits = int(np.array(v).view(np.int64))
            text = f"_vm._float({bits})" if math.copysign(1.0, v) < 0 else "np.nan"
        else:
            text = ("np.inf" if v == math.inf else "-np.inf" if v == -math.inf else repr(v))
        return text if dtype == np.float64 else f"{DT[dtype]}({text})"
    v = int(v)
    # Numba reads the literal 9223372036854775808 as a uint64: -2**63 as an expression
    text = str(v) if v != -2 ** 63 else "(-9223372036854775807 - 1)"
    return text if dtype == np.int64 else f"{DT[dtype]}({text})"


def where(cond, t, f) -> str:
    """`t if cond else f` as a branch-free select (see intrinsics.where): both `t`
    and `f` are evaluated, so they must be safe to evaluate for every element."""
    return f"_h.where({cond}, {t}, {f})"


def any_of(*conds) -> str:
    """Conditions joined with `|`: `or` would branch (and `|` binds tighter than a
    comparison, hence the parentheses)."""
    return " | ".join(f"({c})" for c in conds)


def all_of(*conds) -> str:
    return " & ".join(f"({c})" for c in conds)


def cast(expr, dtype) -> str:
    """Pin the Numba type of `expr` to `dtype` where Numba would widen it."""
    dtype = np.dtype(dtype)
    if dtype in (np.dtype("float32"), np.dtype("int32")):
        ctor = DT[dtype]
        if _one_call(expr, ctor):  # already pinned
            return expr
        return f"{ctor}({expr})"
    return expr


def _one_call(expr, fn):
    """Is `expr` a single call `fn(...)` (its opening parenthesis closes at the end)?"""
    if not (expr.startswith(fn + "(") and expr.endswith(")")):
        return False
    depth = 0
    for k in range(len(fn), len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[k], 0)
        if depth == 0:
            return k == len(expr) - 1
    return False


class LoweringContext:
    """What rules may ask of the codegen: which vectorizable math kernels exist."""

    def __init__(self, vecmath_names=()):
        self.vecmath_names = frozenset(vecmath_names)

    def math_call(self, name, *args, fallback=None, dtype=None):
        """Call of the elementary function `name`; with `dtype` (the operand's) a
        vecmath kernel is called through its per-dtype intrinsic (`_vm.exp_f64`),
        which Numba types without compiling the dispatching overload `_vm.exp`."""
        if name in self.vecmath_names:
            dtype = np.dtype(dtype) if dtype is not None else None
            if dtype == np.float64:
                return f"_vm.{name}_f64({', '.join(args)})"
            if dtype == np.float32:
                return f"np.float32(_vm.{name}_f32(np.float64({', '.join(args)})))"
            return f"_vm.{name}({', '.join(args)})"
        return f"{fallback or 'math.' + name}({', '.join(args)})"


scalar_rules: dict = {}


def _rule(*prims):
    def deco(fn):
        for p in prims:
            scalar_rules[p] = fn
        return fn

    return deco


def _math(name, fallback=None):
    def rule(ctx, out, ins, x, **params):
        return cast(ctx.math_call(name, x, fallback=fallback, dtype=ins[0]), out)

    return rule


for _name in ["exp", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "asin",
              "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sqrt", "erf"]:
    scalar_rules[getattr(P, f"{_name}_p")] = _math(_name)
# math.floor/ceil return ints in Numba; the NumPy ufuncs keep the float type.
scalar_rules[P.floor_p] = lambda ctx, out, ins, x: cast(f"np.floor({x})", out)
scalar_rules[P.ceil_p] = lambda ctx, out, ins, x: cast(f"np.ceil({x})", out)
scalar_rules[P.round_p] = lambda ctx, out, ins, x: cast(f"np.rint({x})", out)  # half-to-even
scalar_rules[P.cbrt_p] = lambda ctx, out, ins, x: f"_h.cbrt({x})"  # libm's cbrt
# in float64 also for float32 operands, rounded once, as SciPy's float32 loops compute
scalar_rules[P.lgamma_p] = lambda ctx, out, ins, x: cast(f"_h.lgamma(np.float64({x}))", out)
# (polygamma by symbol, externs.py: linked in, its body cost every kernel ~50 ms)
scalar_rules[P.digamma_p] = lambda ctx, out, ins, x: cast(
    f"_h.extern('polygamma', 'i8;f8', 0, np.float64({x}))", out)
scalar_rules[P.polygamma_p] = lambda ctx, out, ins, x, n: cast(
    f"_h.extern('polygamma', 'i8;f8', {int(n)}, np.float64({x}))", out)


@_rule(P.rsqrt_p)
def _rsqrt(ctx, out, ins, x):
    return cast(f"{literal(1.0, out)} / {ctx.math_call('sqrt', x)}", out)


@_rule(P.logistic_p)
def _logistic(ctx, out, ins, x):
    if "logistic" in ctx.vecmath_names:
        return cast(ctx.math_call("logistic", x, dtype=ins[0]), out)
    one = literal(1.0, out)
    # exp(-|x|) never overflows: the interpreter's stable form.
    e = ctx.math_call("exp", f"-abs({x})", dtype=ins[0])
    return cast(where(f"{x} >= 0", f"{one} / ({one} + {e})", f"{e} / ({one} + {e})"), out)


@_rule(P.neg_p)
def _neg(ctx, out, ins, x):
    if np.dtype(out).kind == "i":  # -MIN is MIN, as NumPy's
        return cast(f"_h.wsub({literal(0, out)}, {x})", out)
    return cast(f"-{x}", out)


@_rule(P.abs_p)
def _abs(ctx, out, ins, x):
    return cast(f"abs({x})", out)


@_rule(P.sign_p)
def _sign(ctx, out, ins, x):
    one, zero = literal(1, out), literal(0, out)
    if np.dtype(out).kind == "f":  # nan comes back unchanged and -0.0 as +0.0, as np.sign
        return where(f"{x} > {zero}", one, where(f"{x} < {zero}", f"-{one}",
                                                    where(f"{x} == {zero}", zero, x)))
    return where(f"{x} > {zero}", one, where(f"{x} < {zero}", literal(-1, out), zero))


@_rule(P.not_p)
def _not(ctx, out, ins, x):
    return f"(not {x})" if np.dtype(out).kind == "b" else cast(f"~{x}", out)


@_rule(P.is_finite_p)
def _is_finite(ctx, out, ins, x):
    return f"math.isfinite({x})"


@_rule(P.signbit_p)
def _signbit(ctx, out, ins, x):
    return f"_h.signbit({x})"


@_rule(P.stop_gradient_p)
def _identity(ctx, out, ins, x, **params):
    return x


def _binop(op, wrapping=None):
    def rule(ctx, out, ins, x, y):
        if wrapping and np.dtype(out).kind == "i":  # wraps as NumPy's (intrinsics._wrapping)
            return cast(f"_h.{wrapping}({x}, {y})", out)
        return cast(f"({x} {op} {y})", out)

    return rule


scalar_rules[P.add_p] = _binop("+", "wadd")
scalar_rules[P.sub_p] = _binop("-", "wsub")
scalar_rules[P.mul_p] = _binop("*", "wmul")
scalar_rules[P.rem_p] = _binop("%")  # Python (= NumPy) sign convention for int and float


@_rule(P.div_p)
def _div(ctx, out, ins, x, y):
    kind = np.dtype(out).kind
    if kind == "i":  # NumPy wraps MIN // -1 to MIN (Numba's // gives 0): x // -1 is -x
        return where(f"{y} == -1", cast(f"(-{x})", out), cast(f"({x} // {y})", out))
    return cast(f"({x} {'//' if kind == 'u' else '/'} {y})", out)


@_rule(P.max_p)
def _max(ctx, out, ins, x, y):
    # np.maximum: NaN in either operand wins.
    if np.dtype(out).kind == "f":
        return where(any_of(f"{x} > {y}", f"{x} != {x}"), x, y)
    return where(f"{x} > {y}", x, y)


@_rule(P.min_p)
def _min(ctx, out, ins, x, y):
    if np.dtype(out).kind == "f":
        return where(any_of(f"{x} < {y}", f"{x} != {x}"), x, y)
    return where(f"{x} < {y}", x, y)


@_rule(P.pow_p)
def _pow(ctx, out, ins, x, y):
    return cast(f"np.power({x}, {y})", out)


@_rule(P.hypot_p)
def _hypot(ctx, out, ins, x, y):
    return cast(f"math.hypot({x}, {y})", out)  # libm's, as NumPy's


@_rule(P.atan2_p)
def _atan2(ctx, out, ins, x, y):
    return cast(f"math.atan2({x}, {y})", out)


@_rule(P.and_p)
def _and(ctx, out, ins, x, y):
    return cast(f"({x} & {y})", out)


@_rule(P.or_p)
def _or(ctx, out, ins, x, y):
    return cast(f"({x} | {y})", out)


for _p, _op in [(P.eq_p, "=="), (P.ne_p, "!="), (P.lt_p, "<"), (P.le_p, "<="),
                (P.gt_p, ">"), (P.ge_p, ">=")]:
    scalar_rules[_p] = _binop(_op)


@_rule(P.select_p)
def _select(ctx, out, ins, pred, t, f):
    return where(pred, t, f)


@_rule(P.convert_element_type_p)
def _convert(ctx, out, ins, x, *, new_dtype):
    out = np.dtype(new_dtype)
    if out == ins[0]:
        return x
    if out.kind == "b":
        return f"({x} != {literal(0, ins[0])})"
    if out.kind == "i" and ins[0].kind == "f":
        # NaN and values out of the integer range give its minimum, as NumPy's casts do
        # on x86; a bare fptosi of them is undefined in LLVM, which folds a NaN or
        # out-of-range value it can see into garbage (or drops the clip before it)
        bits = out.itemsize * 8
        lo = f"{x} >= {literal(-2.0 ** (bits - 1), np.float64)}" if bits == 64 else \
            f"{x} > {literal(-2.0 ** (bits - 1) - 1, np.float64)}"
        hi = f"{x} < {literal(2.0 ** (bits - 1), np.float64)}"
        return where(all_of(lo, hi), f"{DT[out]}({x})", literal(np.iinfo(out).min, out))
    return f"{DT[out]}({x})"


def integer_pow_lines(ctx, out, x, y, tmp):
    """Square-and-multiply, in the interpreter's order, or C99 pow for the floats of
    P.integer_pow_by_pow; returns (lines, result expr)."""
    if y == 0:
        return [], literal(1, out)
    if P.integer_pow_by_pow(out, y):
        return [], cast(f"np.power({x}, {literal(float(y), out)})", out)
    lines, acc, base, n, k = [], None, x, abs(y), 0
    mul = (lambda a, b: f"_h.wmul({a}, {b})") if np.dtype(out).kind == "i" else \
        (lambda a, b: f"{a} * {b}")
    while n:
        if n & 1:
            if acc is None:
                acc = base
            else:
                name = f"{tmp}{k}"
                k += 1
                lines.append(f"{name} = {cast(mul(acc, base), out)}")
                acc = name
        n >>= 1
        if n:
            name = f"{tmp}{k}"
            k += 1
            lines.append(f"{name} = {cast(mul(base, base), out)}")
            base = name
    if y < 0:
        return lines, cast(f"{literal(1.0, out)} / {acc}", out)
    return lines, acc


# ---------------------------------------------------------------- reductions
def reduce_init(prim, dtype) -> str:
    dtype = np.dtype(dtype)
    if prim is P.reduce_sum_p:
        return literal(0, dtype)
    if prim is P.reduce_prod_p:
        return literal(1, dtype)
    big = prim is P.reduce_min_p
    if dtype.kind == "b":
        return "True" if big else "False"
    if dtype.kind == "f":
        return literal(math.inf if big else -math.inf, dtype)
    info = np.iinfo(dtype)
    return literal(info.max if big else info.min, dtype)


def acc_dtype(prim, dtype):
    """The dtype a scalar accumulator of the reduction adds up in: float32 sums in
    float64, rounded once at the end (in float32 a sum of n elements in order errs by
    up to ~n ulp, where NumPy's pairwise sum errs by ~log n: 10^7 uniform float32s,
    -1.95 against NumPy's 0.05); everything else in its own dtype."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float64) if prim is P.reduce_sum_p and dtype == np.float32 else dtype


def reduce_update(prim, dtype, acc, v) -> str:
    """The expression of the new accumulator; max/min propagate NaN as np.max."""
    dtype = np.dtype(dtype)
    if prim in (P.reduce_sum_p, P.reduce_prod_p):
        if dtype.kind == "f":  # reassociable, so the loop vectorizes (intrinsics.radd)
            return f"_h.{'radd' if prim is P.reduce_sum_p else 'rmul'}({acc}, {v})"
        if dtype.kind == "i":
            return cast(f"_h.{'wadd' if prim is P.reduce_sum_p else 'wmul'}({acc}, {v})", dtype)
        return cast(f"{acc} {'+' if prim is P.reduce_sum_p else '*'} {v}", dtype)
    if dtype.kind == "f":  # NaN-propagating and vectorizable (intrinsics.rmax)
        return f"_h.{'rmax' if prim is P.reduce_max_p else 'rmin'}({acc}, {v})"
    if dtype.kind == "b":  # any / all: or / and (a select per element was 2.5x NumPy's)
        return f"({acc} {'|' if prim is P.reduce_max_p else '&'} {v})"
    op = ">" if prim is P.reduce_max_p else "<"
    return where(f"{v} {op} {acc}", v, acc)
