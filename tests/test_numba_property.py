"""Differential fuzzing of the numba backend: compiled kernel vs interpreter on
random straight-line programs.

Programs: the random DAGs of tests/test_passes_property.py (`programs()`: 25+
primitives with broadcasting, shared subexpressions, constants, dead code), with
more float ops of this file (row chains like x - max(x, k) broadcast back and
softmax, multi-axis reductions, gathers/scatters with constant indices, argmax,
padding, more unary ops) and an integer/bool op set (floor division and remainder
by zero, comparisons, logic, argmax, cumsum, cumprod, gather, integer dot, conversions).
Shapes make real loops: (5, 7), (4, 1, 7), (9,), empty (0,) / (0, 7), 0-d and
size-1 axes that broadcast; a second set, (40, 33), (3, 1, 33), ..., with longer
programs, passes the code generator's size thresholds (lane splitting, BLAS,
copied-out concatenations). Dtypes f64, f32, int64, int32, bool.

Each program is traced, optimized with the default pipeline and compiled by the
numba backend; the kernel runs on random inputs (nan, inf, -0.0 mixed in), each
laid out at random: contiguous, transposed, strided or reversed views, 0-d values
as NumPy scalars; it must give what the interpreter gives on the same optimized
IR, and leave its arguments unchanged. Some programs are differentiated first
(grad of a weighted sum of the outputs).

Comparison: same shape and dtype; integers and bools exactly; for floats NaN
positions equal, infinities equal with their sign, signs of zeros equal (except in
IRs with max/min, whose choice between -0.0 and +0.0 is unspecified), finite values
within rtol 1e-12 (f64; 1e-5 if the IR computes in f32 anywhere) of the value and of
the magnitude of the operands the output was computed from (see eval_with_scales):
the backend's vecmath exp/log/tanh/... have an error budget of ~1.5 ulp against
NumPy (backends/numba/vecmath.py) and sums may be accumulated in another order.

Campaign: PULLBACK_FUZZ_EXAMPLES=1500 raises max_examples (default 40);
PULLBACK_FUZZ_LOG=path additionally records every failing program there and
keeps going (without shrinking) instead of stopping at the first one. The bugs
the campaigns found are the regression tests at the end of the file.
"""
import os
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.backends import numba as nb
from pullback.backends.interpreter import eval_ir, impl
from pullback.ir import parse
from pullback.ir import primitives as P
from pullback.ir.core import Literal
from pullback.passes.manager import optimize
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import sample
from test_passes_property import (OPS, _broadcast, _concat, _dot, _reduce, _reshape_pair, _rev,
                                  _slice, _transpose_pair, _unary, programs)

N_EXAMPLES = int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "40"))
FUZZ_LOG = os.environ.get("PULLBACK_FUZZ_LOG")

# (5, 7) x (1, 7) x (5, 1) x (7,) x () broadcast together; (4, 1, 7) with (5, 7) makes
# (4, 5, 7); (0,) and (0, 7) are empty; (9,) and (1,) make 1-d loops.
LOOP_SHAPES = [(), (7,), (5, 7), (1, 7), (5, 1), (4, 1, 7), (9,), (1,), (0,), (0, 7)]
FLOATS = [np.float64, np.float32]
# past the code generator's size thresholds: lane splitting of libm calls (>= 1024
# elements), BLAS for dot_general (>= 512 multiply-adds), concatenations copied out
# (> 256 elements)
BIG_SHAPES = [(), (33,), (40, 33), (1, 33), (40, 1), (3, 1, 33), (0, 33)]


@pytest.fixture(autouse=True, scope="module")
def no_disk_cache():
    # thousands of throwaway kernels: keep them out of the user's disk cache
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PULLBACK_CACHE", "0")
        yield


# ---------------------------------------------------------------- more float ops
# Patterns the shared OPS do not make: a reduction broadcast back over the rows it
# came from (the row chains of codegen's _Chain: softmax, x - max(x)), reductions over
# several axes, gathers and scatters with constant indices, more unary ops.
REDUCERS = [lax.reduce_sum, lax.reduce_max, lax.reduce_min, lax.reduce_prod]


def _keepdims(choose, x):
    """x combined with one of its reductions, broadcast back (x - max(x, k)[..., None, ...])."""
    if lax.ndim(x) == 0:
        return None
    k = choose(lax.ndim(x))
    r = REDUCERS[choose(4)](x, (k,))
    back = lax.broadcast_in_dim(r, lax.shape(x), [d for d in range(lax.ndim(x)) if d != k])
    return [lax.sub, lax.div, lax.mul, lambda x, b: b][choose(4)](x, back)


def _softmax(choose, x):
    if lax.ndim(x) == 0:
        return None
    k = choose(lax.ndim(x))
    keep = [d for d in range(lax.ndim(x)) if d != k]
    e = lax.exp(lax.sub(x, lax.broadcast_in_dim(lax.reduce_max(x, (k,)), lax.shape(x), keep)))
    return lax.div(e, lax.broadcast_in_dim(lax.reduce_sum(e, (k,)), lax.shape(x), keep))


def _reduce_many(choose, x):
    n = lax.ndim(x)
    if n == 0:
        return None
    axes = [d for d in range(n) if choose(2)] or [n - 1]
    return REDUCERS[choose(4)](x, tuple(axes))


def _const_indices(choose, x, k):
    n = lax.shape(x)[k]
    return np.array([(choose(n + 2) + 1) % (n + 2) - 1 for _ in range(3)], np.int64)  # -1..n: clamped


def _nonempty_axis(choose, x):
    """A random axis of x with elements, or None."""
    if lax.ndim(x) == 0:
        return None
    k = choose(lax.ndim(x))
    return None if lax.shape(x)[k] == 0 else k


def _gather_const(choose, x):
    k = _nonempty_axis(choose, x)
    if k is None:
        return None
    return lax.gather(x, _const_indices(choose, x, k), k)


def _scatter_const(choose, x):
    if lax.ndim(x) == 0 or lax.shape(x)[0] == 0:
        return None
    step, first = choose(7), choose(4)
    idx = (np.arange(lax.shape(x)[0]) * step + first) % 5 - 1  # repeats, clamps
    return lax.scatter_add(x, idx, 0, 3)


def _transpose3(choose, x):
    if lax.ndim(x) != 3:
        return None
    return lax.transpose(x, [(1, 0, 2), (2, 1, 0), (0, 2, 1), (2, 0, 1)][choose(4)])


def _argbest(choose, x):
    k = _nonempty_axis(choose, x)
    if k is None:
        return None
    return lax.convert((lax.argmax if choose(2) else lax.argmin)(x, k), lax.dtype(x))


def _dot_any(choose, x, y):
    """A contraction over a matching axis of any rank, or an outer product (no
    contracted axis: BLAS with K = 1 when big enough)."""
    sx, sy = lax.shape(x), lax.shape(y)
    pairs = [(i, j) for i in range(len(sx)) for j in range(len(sy)) if sx[i] == sy[j]]
    if not pairs or (choose(4) == 0 and 0 < len(sx) + len(sy) <= 4
                     and int(np.prod(sx)) * int(np.prod(sy)) <= 8192):
        if len(sx) + len(sy) > 4 or int(np.prod(sx)) * int(np.prod(sy)) > 8192:
            return None
        return lax.dot_general(x, y, (((), ()), ((), ())))
    i, j = pairs[choose(len(pairs))]
    return lax.dot_general(x, y, (((i,), (j,)), ((), ())))


def _is_finite_select(choose, x):
    return lax.select(lax.is_finite(x), x, lax.full(lax.shape(x), 0.0, lax.dtype(x)))


def _signbit_select(choose, x):
    return lax.select(lax.signbit(x), lax.neg(x), x)


def _pad_general(choose, x):
    if lax.ndim(x) == 0:
        return None
    return lax.pad(x, 1.5, [(choose(3), choose(2), choose(2)) for _ in range(lax.ndim(x))])


MORE_FLOAT_OPS = [
    ("keepdims", 1, _keepdims), ("softmax", 1, _softmax), ("reduce_many", 1, _reduce_many),
    ("gather", 1, _gather_const), ("scatter_add", 1, _scatter_const),
    ("transpose3", 1, _transpose3), ("argbest", 1, _argbest), ("dot_any", 2, _dot_any),
    ("is_finite", 1, _is_finite_select), ("signbit", 1, _signbit_select),
    ("pad_general", 1, _pad_general),
    ("log_abs", 1, _unary(lambda x: lax.log(lax.abs(x)))), ("expm1", 1, _unary(lax.expm1)),
    ("rsqrt", 1, _unary(lax.rsqrt)), ("erf", 1, _unary(lax.erf)), ("round", 1, _unary(lax.round)),
    ("ceil", 1, _unary(lax.ceil)), ("atan", 1, _unary(lax.atan)), ("sinh", 1, _unary(lax.sinh)),
    ("recip_square", 1, _unary(lambda x: lax.integer_pow(x, -2))),
    ("cube", 1, _unary(lambda x: lax.integer_pow(x, 3))),
    ("rem", 2, lambda choose, x, y: lax.rem(x, y)), ("pow", 2, lambda choose, x, y: lax.pow(x, y)),
    ("eq_select", 2, lambda choose, x, y: lax.select(lax.eq(x, y), y, x)),
    ("le_convert", 2, lambda choose, x, y: lax.convert(lax.le(x, y), lax.dtype(x))),
]
FLOAT_OPS = OPS + MORE_FLOAT_OPS


# ---------------------------------------------------------------- integer and bool programs
INTS = [np.int64, np.int32, np.bool_]


def _kind(x):
    return np.dtype(lax.dtype(x)).kind


def _num(x):
    """x as a number: bools become int32 (arithmetic rejects bool)."""
    return lax.convert(x, np.int32) if _kind(x) == "b" else x


def _int_binary(fn):
    return lambda choose, x, y: fn(_num(x), _num(y))


def _int_unary(fn):
    return lambda choose, x: fn(_num(x))


def _logic(fn):
    def op(choose, x, y):
        if (_kind(x) == "b") != (_kind(y) == "b") or "f" in (_kind(x), _kind(y)):
            return None
        return fn(x, y)

    return op


def _not(choose, x):
    return lax.logical_not(x) if _kind(x) == "b" else None


def _int_select(choose, x, y):
    return lax.select(lax.lt(_num(x), _num(y)), x, y) if _kind(x) == _kind(y) else None


def _int_convert(choose, x):
    return lax.convert(x, [np.int64, np.int32, np.bool_, np.float64][choose(4)])


def _int_pad(choose, x):
    if lax.ndim(x) == 0:
        return None
    return lax.pad(x, np.dtype(lax.dtype(x)).type(choose(2 if _kind(x) == "b" else 3)),
                   [(choose(2), choose(2), choose(2))] + [(0, 0, 0)] * (lax.ndim(x) - 1))


def _int_reduce(prim_fn):
    op = _reduce(prim_fn)
    return lambda choose, x: op(choose, _num(x))


def _arg(fn):
    def op(choose, x):
        if lax.ndim(x) == 0:
            return None
        axis = choose(lax.ndim(x))
        return fn(_num(x), axis) if lax.shape(x)[axis] else None

    return op


def _int_cumsum(choose, x):
    return lax.cumsum(_num(x), 0, bool(choose(2))) if lax.ndim(x) else None


def _int_cumprod(choose, x):
    return lax.cumprod(_num(x), 0, bool(choose(2))) if lax.ndim(x) else None


def _gather(choose, x, idx):
    if lax.ndim(x) == 0 or _kind(idx) not in "iu" or lax.ndim(idx) > 1:
        return None
    axis = choose(lax.ndim(x))
    if lax.shape(x)[axis] == 0:
        return None
    return lax.gather(x, idx, axis)


def _iota_mul(choose, x):
    if lax.ndim(x) == 0:
        return None
    i = lax.iota(np.int64, lax.shape(x), choose(lax.ndim(x)))
    return lax.mul(_num(x), i)


INT_OPS = [
    ("add", 2, _int_binary(lax.add)), ("sub", 2, _int_binary(lax.sub)),
    ("mul", 2, _int_binary(lax.mul)), ("div", 2, _int_binary(lax.div)),
    ("rem", 2, _int_binary(lax.rem)), ("max", 2, _int_binary(lax.max)),
    ("min", 2, _int_binary(lax.min)), ("eq", 2, _int_binary(lax.eq)),
    ("lt", 2, _int_binary(lax.lt)), ("ge", 2, _int_binary(lax.ge)),
    ("and", 2, _logic(lax.bitwise_and)), ("or", 2, _logic(lax.bitwise_or)),
    ("not", 1, _not), ("select", 2, _int_select),
    ("neg", 1, _int_unary(lax.neg)), ("abs", 1, _int_unary(lax.abs)),
    ("sign", 1, _int_unary(lax.sign)),
    ("square", 1, _int_unary(lambda x: lax.integer_pow(x, 2))),
    ("cube", 1, _int_unary(lambda x: lax.integer_pow(x, 3))),
    ("convert", 1, _int_convert), ("pad", 1, _int_pad),
    ("reduce_sum", 1, _int_reduce(lax.reduce_sum)), ("reduce_max", 1, _int_reduce(lax.reduce_max)),
    ("reduce_min", 1, _int_reduce(lax.reduce_min)),
    ("reduce_prod", 1, _int_reduce(lax.reduce_prod)),
    ("argmax", 1, _arg(lax.argmax)), ("argmin", 1, _arg(lax.argmin)),
    ("cumsum", 1, _int_cumsum), ("cumprod", 1, _int_cumprod), ("gather", 2, _gather),
    ("iota", 1, _iota_mul),
    ("transpose", 1, _transpose_pair), ("reshape", 1, _reshape_pair), ("slice", 1, _slice),
    ("rev", 1, _rev), ("concat", 2, _concat), ("broadcast", 1, _broadcast),
    ("dot", 2, lambda choose, x, y: _dot(choose, _num(x), _num(y))),
]


# ---------------------------------------------------------------- inputs
def _layout(x, how):
    """x (or an equal array) laid out as `how` says: contiguous, transposed view,
    strided view of a bigger array, reversed view, or (0-d) a NumPy scalar."""
    if x.ndim == 0:
        return x.dtype.type(x.item()) if how == 1 else x
    if how == 1:  # a transposed view of a C-contiguous array
        return np.ascontiguousarray(x.T).T
    if how == 2:  # every other element of a twice-as-long array along each axis
        big = np.zeros(tuple(2 * d for d in x.shape), x.dtype)
        big[tuple(slice(None, None, 2) for _ in x.shape)] = x
        return big[tuple(slice(None, None, 2) for _ in x.shape)]
    if how == 3:  # negative strides: a reversed view of the reversed array
        return np.ascontiguousarray(x[::-1])[::-1]
    return x.copy()  # a copy, so that `x` shows whether the kernel wrote into its argument


def make_args(ir, rng):
    args = [sample(v.aval, rng) for v in ir.invars]
    laid = [_layout(a, int(rng.integers(0, 4))) for a in args]
    return args, laid


# ---------------------------------------------------------------- comparison
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def assert_close(got, want, what, rtol=None, zero_signs=True, scale=0.0):
    """Equal shape, dtype, NaN positions, infinities and (unless zero_signs is False)
    signs of zeros; floats within rtol * |want| + rtol * scale (+ the smallest normal),
    where scale is the magnitude of the values the output was computed from: an
    output that is a difference of nearly equal numbers keeps their absolute error."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    gn, wn = np.isnan(got), np.isnan(want)
    assert np.array_equal(gn, wn), f"{what}: NaN positions differ\ngot  {got}\nwant {want}"
    gi, wi = np.isinf(got), np.isinf(want)
    assert np.array_equal(got[gi | wi], want[gi | wi]), \
        f"{what}: infinities differ\ngot  {got}\nwant {want}"
    zg, zw = (got == 0) & zero_signs, want == 0
    assert np.array_equal(np.signbit(got[zg & zw]), np.signbit(want[zg & zw])), \
        f"{what}: signs of zeros differ\ngot  {got}\nwant {want}"
    fin = ~(gn | gi | wi)
    g, w = got[fin].astype(np.float64), want[fin].astype(np.float64)
    rtol = max(RTOL[want.dtype], rtol or 0.0)
    atol = rtol * max(scale, _magnitude(w)) + float(np.finfo(want.dtype).tiny)
    bad = np.abs(g - w) > atol + rtol * np.abs(w)
    assert not bad.any(), f"{what}: values differ at {np.flatnonzero(bad)}\ngot  {got}\nwant {want}"


def check_ir(ir, seed, trials=2, parallel=False):
    """The numba kernel of `ir` equals the interpreter on random inputs."""
    run = nb.compile(ir, parallel=parallel)
    rtol = _ir_rtol(ir)
    zero_signs = _zero_signs_defined(ir)
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        args, laid = make_args(ir, rng)
        with np.errstate(all="ignore"):
            try:
                want, scales = eval_with_scales(ir, args)
            except ValueError as err:
                # reduce_max/min over an empty axis: the interpreter raises like NumPy,
                # the kernel returns the identity (-inf / +inf) like JAX; the spec
                # leaves it open, so such programs compare nothing
                if "zero-size array to reduction" in str(err):
                    return
                raise
            got = run(*laid)
        for a, b in zip(args, laid):  # the kernel must not write into its arguments
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want)):
            assert isinstance(g, np.ndarray), f"output {k} is {type(g)}"
            assert_close(g, w, f"output {k}", rtol, zero_signs, scales[k])


def _magnitude(x):
    x = np.asarray(x)
    if x.dtype.kind not in "fiu" or not x.size:
        return 0.0
    fin = np.abs(x[np.isfinite(x)]) if x.dtype.kind == "f" else np.abs(x)
    return float(fin.max()) if fin.size else 0.0


# ops that move or convert values: their outputs keep the scale of their operand
CARRY_SCALE = {P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.slice_p, P.rev_p, P.pad_p,
               P.concatenate_p, P.gather_p, P.convert_element_type_p, P.neg_p, P.abs_p,
               P.select_p, P.stop_gradient_p}


def eval_with_scales(ir, args):
    """The interpreter's outputs of a straight-line `ir`, and for each output the
    magnitude of the operands of the arithmetic that made it (through layout ops):
    the absolute error a correctly rounded evaluation in another order may have."""
    env, scale = {}, {}
    for v, x in list(zip(ir.constvars, ir.consts)) + list(zip(ir.invars, args)):
        env[v], scale[v] = x, _magnitude(x)

    def read(a):
        return a.val if isinstance(a, Literal) else env[a]

    def sc(a):
        return scale.get(a, _magnitude(read(a)))

    for e in ir.eqns:
        outs = impl(e.prim, *[read(a) for a in e.inputs], **e.params)
        carried = max([sc(a) if e.prim in CARRY_SCALE else _magnitude(read(a))
                       for a in e.inputs], default=0.0)
        for v, o in zip(e.outputs, outs):
            env[v], scale[v] = o, max(carried, _magnitude(o))
    return [read(v) for v in ir.outvars], [sc(v) for v in ir.outvars]


def _ir_rtol(ir):
    """The tolerance of the least precise float computed anywhere in `ir`: a float32
    exp that is 1 ulp off stays ~1e-7 off when converted to float64."""
    avals = [v.aval for v in ir.invars] + [v.aval for e in ir.eqns for v in e.outputs]
    return max([RTOL[np.dtype(a.dtype)] for a in avals if np.dtype(a.dtype).kind == "f"],
               default=0.0)


def _zero_signs_defined(ir):
    """max/min of -0.0 and +0.0 may return either (NumPy's SIMD loops and the kernel's
    `v > acc` differ): signs of zeros are compared only in IRs without them."""
    return not any(e.prim in MAX_MIN for e in ir.eqns)


MAX_MIN = {P.max_p, P.min_p, P.reduce_max_p, P.reduce_min_p}


def weighted_loss(fn):
    """sum_k sum(w_k * convert(out_k, f64)) with fixed weights: a scalar to differentiate."""
    def loss(*args):
        total = None
        for out in fn(*args):
            x = lax.convert(out, np.float64)
            w = np.cos(np.arange(int(np.prod(lax.shape(x)))) * 0.7 + 0.3).reshape(lax.shape(x))
            s = lax.reduce_sum(lax.mul(x, w), tuple(range(lax.ndim(x))))
            total = s if total is None else lax.add(total, s)
        return total

    return loss


def grad_ir(fn, in_avals):
    g = pb.grad(weighted_loss(fn), argnums=tuple(range(len(in_avals))))
    return trace(lambda *a: list(g(*a)), in_avals)


def check_or_log(make_ir, seed):
    """check_ir(make_ir()); a failure names the program (in campaign mode: is logged)."""
    ir = None
    try:
        ir = make_ir()
        check_ir(ir, seed)
    except Exception as err:
        text = f"seed {seed}\n{ir}\nconsts {ir and [np.asarray(c).tolist() for c in ir.consts]}"
        if not FUZZ_LOG:
            err.add_note(text)  # pytest shows the failing program
            raise
        # campaign mode: record and keep exploring
        with open(FUZZ_LOG, "a") as f:
            f.write("=" * 72 + "\n" + text + "\n" + traceback.format_exc() + "\n")


# ---------------------------------------------------------------- properties
loop_programs = programs(shapes=LOOP_SHAPES, dtypes=FLOATS, ops=FLOAT_OPS)
SETTINGS = dict(max_examples=N_EXAMPLES, deadline=None, derandomize=not FUZZ_LOG,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(**SETTINGS)
@given(loop_programs, st.integers(0, 2**31 - 1))
def test_compiled_equals_interpreter(program, seed):
    in_avals, fn = program
    check_or_log(lambda: optimize(trace(fn, in_avals)), seed)


@settings(**dict(SETTINGS, max_examples=max(N_EXAMPLES // 3, 8)))
@given(programs(shapes=BIG_SHAPES, dtypes=FLOATS, ops=FLOAT_OPS, max_steps=24),
       st.integers(0, 2**31 - 1))
def test_compiled_equals_interpreter_on_big_shapes_and_long_programs(program, seed):
    in_avals, fn = program
    check_or_log(lambda: optimize(trace(fn, in_avals)), seed)


@settings(**SETTINGS)
@given(programs(shapes=LOOP_SHAPES, dtypes=INTS, ops=INT_OPS), st.integers(0, 2**31 - 1))
def test_compiled_equals_interpreter_on_integer_programs(program, seed):
    in_avals, fn = program
    check_or_log(lambda: optimize(trace(fn, in_avals)), seed)


@settings(**dict(SETTINGS, max_examples=max(N_EXAMPLES // 3, 8)))
@given(loop_programs, st.integers(0, 2**31 - 1))
def test_compiled_gradient_equals_interpreter(program, seed):
    in_avals, fn = program
    check_or_log(lambda: optimize(grad_ir(fn, in_avals)), seed)


# ---------------------------------------------------------------- regressions found by the fuzzer
def check_text(src, *args):
    """Compile the IR text; the kernel equals the interpreter on `args`."""
    ir = parse(src)
    with np.errstate(all="ignore"):
        want = eval_ir(ir, ir.consts, list(args))
        got = nb.compile(ir)(*args)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, f"output {k}")
    return got


def test_concatenate_of_empty_parts():
    # every part empty: the read-through had no part to read and crashed the code generator
    (out,) = check_text("""{ lambda ; c:f32[0]. let
    d:f32[0] = concatenate[dimension=0] c c
    f:f32[0] = sign d
  in (f,) }""", np.zeros(0, np.float32))
    assert out.shape == (0,) and out.dtype == np.float32


def test_cumsum_keeps_a_leading_negative_zero():
    # the running sum started at +0.0, so cumsum([-0.0, ...])[0] was +0.0 (NumPy: -0.0);
    # atan2 made the sign visible: atan2(-0.0, -0.0) = -pi, atan2(0.0, 0.0) = 0
    for dt, name in [(np.float64, "f64"), (np.float32, "f32")]:
        x = np.array([-0.0, -0.0, 1.0, -0.0], dt)
        fwd, bwd, angle = check_text(f"""{{ lambda ; c:{name}[4]. let
    d:{name}[4] = cumsum[axis=0, reverse=False] c
    e:{name}[4] = cumsum[axis=0, reverse=True] c
    f:{name}[4] = atan2 d d
  in (d, e, f) }}""", x)
        assert np.signbit(fwd).tolist() == [True, True, False, False]
        assert np.signbit(bwd).tolist() == [False, False, False, True]
        assert angle[0] == dt(-np.pi) and angle.dtype == dt


def test_sign_of_negative_zero_is_positive_zero():
    # the kernel returned -0.0 unchanged; np.sign (the interpreter) gives +0.0
    for name, dt in [("f64", np.float64), ("f32", np.float32)]:
        x = np.array([-0.0, 0.0, np.nan, -2.0, 3.0], dt)
        out, s = check_text(f"""{{ lambda ; c:{name}[5] r:{name}[]. let
    d:{name}[5] = sign c
    e:{name}[] = round r
    f:{name}[] = sign e
  in (d, f) }}""", x, dt(-0.4))
        assert not np.signbit(out[:2]).any() and not np.signbit(s)


def test_scatter_add_of_empty_updates():
    # the gradient of a gather from an empty array: the interpreter's reshape(..., -1, ...)
    # could not infer -1 with another axis of size 0 and raised ValueError
    (out,) = check_text("""{ lambda ; b:f64[0,3] a:i64[3]. let
    g:f64[0,7] = scatter_add[axis=1, size=7] b a
  in (g,) }""", np.zeros((0, 3)), np.array([-1, 5, 7]))
    assert out.shape == (0, 7)
    # and with data: clamped, repeated indices of a 2-d index array add up
    upd = np.arange(24.0).reshape(4, 2, 3)
    (out,) = check_text("""{ lambda ; b:f64[4,2,3] a:i64[2,3]. let
    g:f64[4,7] = scatter_add[axis=1, size=7] b a
  in (g,) }""", upd, np.array([[-1, 5, 7], [1, 1, 2]]))
    want = np.zeros((4, 7))
    for j, i in enumerate([0, 5, 6, 1, 1, 2]):
        want[:, i] += upd.reshape(4, 6)[:, j]
    np.testing.assert_array_equal(out, want)


def test_no_reassociation_outside_reduction_accumulators():
    # the kernels were compiled with fastmath={"reassoc"}, so LLVM folded
    # c * pow(c, a) into pow(c, a + 1) and pow(c, a) / c into pow(c, a - 1):
    # 0 * pow(0, -1) gave 1 (IEEE: 0 * inf = nan), and exp(a) * exp(-a)
    # would have become exp(0) = 1 where exp(a) overflows
    c = np.array([0.0, -0.0, np.inf, -np.inf, 2.0, -2.0, 5e-324, np.nan])
    for a in [-1.0, -2.0, 2.0, 0.5, np.inf, -np.inf]:
        mul, div = check_text("""{ lambda ; a:f64[] c:f64[8]. let
    b:f64[8] = broadcast_in_dim[broadcast_dimensions=(), shape=(8,)] a
    d:f64[8] = pow c b
    e:f64[8] = mul c d
    f:f64[8] = div d c
  in (e, f) }""", np.float64(a), c)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(mul, c * np.power(c, np.full(8, a)))
    (e,) = check_text("""{ lambda ; a:f64[4]. let
    b:f64[4] = exp a
    c:f64[4] = neg a
    d:f64[4] = exp c
    f:f64[4] = mul b d
  in (f,) }""", np.array([800.0, -800.0, 1.0, np.inf]))
    assert np.isnan(e[0]) and np.isnan(e[1]) and abs(e[2] - 1.0) < 1e-15


def test_pow_of_minus_inf_to_one_half_is_c99_pow():
    # the interpreter's np.power(x, 0.5) took NumPy's scalar-exponent fast path,
    # sqrt: sqrt(-inf) = nan where pow(-inf, 0.5) = inf (the kernel's libm pow)
    x = np.array([-np.inf, -0.0, 4.0, -8.0, np.inf])
    (out,) = check_text("""{ lambda ; c:f64[5]. let
    d:f64[5] = pow c 0.5
  in (d,) }""", x)
    np.testing.assert_array_equal(out, [np.inf, 0.0, 2.0, np.nan, np.inf])
