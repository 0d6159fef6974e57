"""Vectorizable elementary functions for generated Numba loops.

Why: Numba lowers ``math.exp`` & co. to scalar libm calls, and a loop that
calls a function cannot be vectorized by LLVM.  The functions here are pure
arithmetic (range reduction + polynomial, exponents built with integer bit
operations, special cases as selects instead of branches), so after inlining
LLVM turns ``for i in range(n): out[i] = exp(x[i])`` into AVX2 code
(``<4 x double>``, ``vfmadd...pd ymm``) without any fast-math license.

Calling convention (for the code generator)
-------------------------------------------
``from pullback.backends.numba import vecmath as _vm`` and call
``_vm.exp(x)``, ``_vm.expm1(x)``, ``_vm.log(x)``, ``_vm.log1p(x)``,
``_vm.tanh(x)``, ``_vm.logistic(x)`` (``1 / (1 + exp(-x))``), ``_vm.sin(x)``,
``_vm.cos(x)`` on one scalar inside an ``@njit`` function.  The result has
the argument's dtype:
float64 -> float64, float32 -> float32; integers and bools are converted to
float64 first (like NumPy).  Dispatch happens at Numba typing time
(``numba.extending.overload``), so there is no run-time cost.  Called from
plain Python the same names accept scalars or arrays (they run a compiled
loop), which is what the tests use.  ``_vm.ARRAY_LOOPS[name](a)`` is the
compiled loop over a 1-d contiguous array.

Numba's on-disk cache does not notice when an inlined callee changes: put
``SOURCE_HASH`` (a hash of this file) into any cache key of code that calls
these functions.

Each kernel is compiled once (cached on disk) with ``fastmath={"contract"}``
and ``error_model="numpy"`` and reaches the caller through a call marked
``alwaysinline``, so it is always inlined and keeps its own instruction
flags: a caller compiled with ``fastmath=True`` cannot break the range
reduction or the inf/nan handling (tested), and a caller without fastmath
still gets FMAs inside the kernels.  "contract" lets LLVM fuse ``a*b + c``
into an FMA (never less accurate here); there is no reassociation and no
no-NaN/no-inf assumption.  For the caller's loop to vectorize, the caller's
own code must be branch-free too; with Numba's default error model a float
division adds a ZeroDivisionError exit that stops vectorization, so generated
code with divisions wants ``error_model="numpy"`` as well.  A float sum
reduction vectorizes only if the caller allows reassociation.

sin/cos: NumPy's own float64 sin is a scalar loop, at parity with Numba's
libm call, so on its own a vectorized sin gains ~2x; the reason to have one is
that a libm call anywhere in a fused loop keeps LLVM from vectorizing the
whole loop.  The elementwise benchmark (sin, cos, exp, log1p in one loop)
went from 38 to 19 ms per 10**6 elements with these, and to 9 ms with sin and
cos taken out: the huge-argument reduction, computed for every lane, costs
about as much as the rest of sin.  float32 sin/cos run the float64 kernels
(about libm's speed; NumPy's float32 SIMD loops are ~4x faster).

Accuracy (asserted in tests/test_vecmath.py, bounds in ULP_BOUNDS)
-----------------------------------------------------------------
Max error in ulps against a long-double reference, over random bit patterns
(every binade of both signs: subnormals, huge arguments), dense grids over
each function's interesting range, and logarithmically spread magnitudes:

    function   float64 bound (seen)   float32 bound (seen)
    exp        1.0   (0.87)           1.0   (0.501)
    expm1      1.5   (1.11)           1.0   (0.505)
    log        1.0   (0.82)           1.0   (0.500)
    log1p      1.5   (0.95)           1.0   (0.500)
    tanh       1.5   (1.15)           1.0   (0.504)
    logistic   1.5   (1.36)           1.0   (0.501)
    sin        1.0   (0.75)           1.0   (0.500)
    cos        1.0   (0.78)           1.0   (0.500)

float32 variants widen to float64, run short polynomials there and round
once, so they are correctly rounded except in rare near-halfway cases.
Special values are exact and follow C99/NumPy: exp(inf)=inf, exp(-inf)=0,
overflow -> inf, gradual underflow -> subnormals -> 0; log(0)=-inf,
log(<0)=nan, log(inf)=inf, full accuracy on subnormals; log1p(-1)=-inf;
expm1(-inf)=-1; tanh(+-inf)=+-1; logistic(+-inf)=1/0; nan -> nan; the sign
of zero is kept where the function is odd (expm1, log1p, tanh).

Speed (``python benchmarks/vecmath_bench.py``: one thread, pinned with
taskset -c 1, glibc trimming off, 10**6 elements, preallocated output,
the three variants timed in turn; ns per element, median (min) of 31 runs).
The other core was busy with other helpers' work (load average ~5 on 2
cores), so medians swing 2-4x; the minima show the compute cost.  On the
issue's quiet machine Numba's math.exp loop took 2.8 ns, here 5.2-13 ns.

    function  dtype    NumPy          Numba math.*   vecmath       vs NumPy (min)
    exp       float64  13.65 (5.61)   13.34 (9.23)   1.66 (1.55)   0.28x
    exp       float32   6.00 (1.87)    6.96 (2.86)   1.25 (1.05)   0.56x
    expm1     float64  26.36 (21.41)  26.54 (21.92)  5.94 (1.82)   0.09x
    expm1     float32  40.04 (20.58)  43.61 (30.93)  1.53 (1.19)   0.06x
    log       float64  19.94 (8.26)   20.47 (8.75)   7.76 (2.42)   0.29x
    log       float32   7.87 (2.56)   15.14 (5.95)   6.88 (1.86)   0.73x
    log1p     float64  38.93 (26.02)  38.75 (25.81)  7.78 (2.48)   0.10x
    log1p     float32  41.77 (30.05)  42.44 (25.71)  7.00 (2.60)   0.09x
    tanh      float64  38.76 (26.59)  51.54 (42.93)  7.53 (3.32)   0.12x
    tanh      float32   6.95 (2.78)   47.73 (39.51)  1.59 (1.29)   0.46x
    logistic  float64  24.72 (10.85)  23.57 (10.09)  7.57 (2.45)   0.23x
    logistic  float32  12.40 (6.67)   10.00 (7.99)   1.63 (1.55)   0.23x

    sin and cos, measured later (2026-11-26, other core idle), x in [-10, 10]:
    sin       float64  20.79 (20.01)  21.16 (20.43)  8.80 (8.62)   0.43x
    sin       float32   2.95 (2.04)   11.67 (10.59)  11.99 (9.11)  4.47x
    cos       float64  19.99 (19.57)  20.39 (19.92)  8.65 (8.39)   0.43x
    cos       float32   2.40 (2.09)   11.02 (10.36)  9.83 (8.84)   4.23x

    On 2026-11-27 the host was an AVX-512 one (LLVM targets znver4; the tables
    above are an AVX2 host's), other core idle; NumPy's own AVX-512 loops for
    exp/log/expm1/log1p/tanh and float32 sin/cos are as fast as ours or faster:
    exp       float64   0.85 (0.79)    4.30 (4.26)   0.84 (0.84)   1.06x
    exp       float32   0.49 (0.45)    2.51 (2.29)   0.50 (0.48)   1.07x
    log       float64   0.88 (0.81)    3.62 (3.41)   1.11 (1.06)   1.31x
    log1p     float64   1.04 (1.00)   10.10 (9.96)   1.05 (1.04)   1.04x
    tanh      float64   1.71 (1.66)   13.74 (13.57)  1.59 (1.55)   0.93x
    logistic  float64   5.72 (5.51)    4.92 (4.67)   1.26 (1.21)   0.22x
    sin       float64  18.53 (16.36)  17.41 (16.39)  5.55 (4.78)   0.29x
    sin       float32   0.56 (0.53)    8.62 (8.49)   4.97 (4.88)   9.21x
    cos       float64  16.57 (15.78)  16.86 (15.94)  5.12 (4.78)   0.30x

NumPy's logistic is scipy.special.expit; Numba's is 1/(1+math.exp(-x)).
The gains need a vectorized caller loop.  In a loop LLVM keeps scalar (a
strict-order float sum, a call, a branch) the kernels cost about as much as
libm or worse: in a plain ``acc = acc + f(a[i])`` loop (min of 11 runs)
exp 10.2 ns vs 9.4 ns for math.exp, log 20 ns vs 9.2 ns, tanh 33 ns vs
46 ns, log1p 25 ns vs 39 ns.  So generated reductions should be made
vectorizable (e.g. fastmath={"reassoc"} on the generated function, which
does not reach these kernels, or several partial sums).
"""
import hashlib
import os

import numpy as np
import numba
from llvmlite import ir as llvm_ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

from .intrinsics import njit_cached

__all__ = ["exp", "expm1", "log", "log1p", "tanh", "logistic", "sin", "cos",
           "ARRAY_LOOPS", "SOURCE_HASH", "ULP_BOUNDS"]

with open(os.path.abspath(__file__), "rb") as _f:
    SOURCE_HASH = hashlib.sha256(_f.read()).hexdigest()[:16]

# Asserted by the tests (max ulp error against a long-double reference).
ULP_BOUNDS = {
    "float64": {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.5,
                "tanh": 1.5, "logistic": 1.5, "sin": 1.0, "cos": 1.0},
    "float32": {"exp": 1.0, "expm1": 1.0, "log": 1.0, "log1p": 1.0,
                "tanh": 1.0, "logistic": 1.0, "sin": 1.0, "cos": 1.0},
}

# error_model="numpy": float division by zero gives inf/nan instead of a
# ZeroDivisionError check, whose exit edge would stop vectorization.
_KERNEL = dict(fastmath={"contract"}, error_model="numpy")
# Each public kernel is compiled once with the flags above and reaches the
# caller through _always_inlined (a call marked alwaysinline), so LLVM inlines
# it whatever its size and the caller's loop can be vectorized; the kernel's
# instructions keep their own flags, not the caller's.  Helpers used inside a
# kernel are inlined at Numba-IR level (inline="always") into that kernel.
_kernel = njit_cached(inline="always", **_KERNEL)


# ---------------------------------------------------------------------------
# Bit reinterpretation.  Numba has no scalar float<->int "view"; a bitcast is
# free and vectorizes, unlike an int64->float conversion (AVX2 has none).

@intrinsic
def _bits(typingctx, x):
    """float64 -> int64 with the same bits."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx, i):
    """int64 -> float64 with the same bits."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _shift_right_52(typingctx, i):
    """Logical shift right by 52 (AVX2 has no 64-bit arithmetic shift)."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.lshr(args[0], llvm_ir.Constant(llvm_ir.IntType(64), 52))
    return types.int64(types.int64), codegen


# ---------------------------------------------------------------------------
# Constants (hex so the exact bits are visible).

_INF = float("inf")
_NAN = float("nan")
_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**21 and hi + lo = ln 2
# to ~2**-106 relative.
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
# Adding 1.5 * 2**52 rounds to an integer (round-half-even) and leaves that
# integer in the low mantissa bits.
_SHIFTER = float.fromhex("0x1.8p52")
_SHIFTER_BITS = 0x4338000000000000
_TWO52 = float.fromhex("0x1p52")
_TWO52_BITS = 0x4330000000000000
_MIN_NORMAL = float.fromhex("0x1p-1022")
_SQRT_HALF_BITS = 0x3fe6a09e667f3bcd
_EXPONENT_MASK = -(1 << 52)                  # 0xfff0000000000000 as int64
_SIGN_BIT = -(1 << 63)
_ONE_BITS = 1023 << 52

# Minimax tails, generated by _fit_coefficients() at the bottom of this file.
# exp:  e**r = 1 + r + r**2 * Q(r)          on |r| <= ln2/2
# log:  log(1+f) = f - f*f/2 + s*(f*f/2 + z*P(z)),  s = f/(2+f), z = s*s
_EXP_Q = (0.5000000000000012, 0.16666666666666535, 0.04166666666651601,
          0.008333333333419896, 0.0013888888946785888, 0.00019841269662451732,
          2.480149014028134e-05, 2.7557446771535356e-06, 2.7631245416110236e-07,
          2.5045474401659307e-08)  # weighted error 2**-56.2
_LOG_P = (0.6666666666666615, 0.40000000000309655, 0.28571428510056374,
          0.22222227633844815, 0.18181594347119573, 0.1538825555249644,
          0.13333709797626, 0.11764729924011479)  # weighted error 2**-59.6

(_Q0, _Q1, _Q2, _Q3, _Q4, _Q5, _Q6, _Q7, _Q8, _Q9) = _EXP_Q
(_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7) = _LOG_P


# Estrin's scheme: shorter dependency chains than Horner, which matters when
# the caller's loop is not vectorized (e.g. a strict-order sum).
@_kernel
def _exp_q(r):
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a = (_Q0 + _Q1 * r) + r2 * (_Q2 + _Q3 * r)
    b = (_Q4 + _Q5 * r) + r2 * (_Q6 + _Q7 * r)
    return (a + r4 * b) + r8 * (_Q8 + _Q9 * r)


@_kernel
def _log_p(z):
    z2 = z * z
    z4 = z2 * z2
    a = (_P0 + _P1 * z) + z2 * (_P2 + _P3 * z)
    b = (_P4 + _P5 * z) + z2 * (_P6 + _P7 * z)
    return a + z4 * b


@_kernel
def _two_sum(a, b):
    """TwoSum: (s, err) with s = a + b rounded and s + err == a + b exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


# ---------------------------------------------------------------------------
# float64 kernels.  Clamps are written `c if x > c else x` so that a NaN
# fails the comparison and flows through the arithmetic unchanged.

@_kernel
def _exp64(x):
    x = 710.0 if x > 710.0 else x            # e**710 overflows: stays inf
    x = -746.0 if x < -746.0 else x          # e**-746 underflows: stays 0
    t = x * _INV_LN2 + _SHIFTER
    kf = t - _SHIFTER                        # k = round(x / ln2), |k| <= 1076
    hi = x - kf * _LN2_HI                    # exact
    lo = kf * _LN2_LO
    r = hi - lo                              # |r| <= ln2/2
    c = (hi - r) - lo                        # rounding error of r
    p = 1.0 + (r + (r * r * _exp_q(r) + c))
    # 2**k may be out of range (k = 1024, or subnormal): split k = k1 + k2
    # with both halves normal; p * 2**k1 is exact, the last product rounds
    # once, also into subnormals.
    k = _bits(t) - _SHIFTER_BITS
    k1 = _bits(kf * 0.5 + _SHIFTER) - _SHIFTER_BITS
    k2 = k - k1
    return p * _float((k1 + 1023) << 52) * _float((k2 + 1023) << 52)


@_kernel
def _expm1_parts(x):
    """(hi, lo) with hi + lo = expm1(x) to about 2**-60 relative for k <= 1."""
    x = 710.0 if x > 710.0 else x
    x = -40.0 if x < -40.0 else x            # expm1(x) rounds to -1 below -37.5
    t = x * _INV_LN2 + _SHIFTER
    kf = t - _SHIFTER
    hi = x - kf * _LN2_HI                    # exact
    lo = kf * _LN2_LO
    r = hi - lo
    c = (hi - r) - lo                        # rounding error of r
    # expm1(r + c) ~ r + r*r*Q(r) + c*(1 + r)
    tail = r * r * _exp_q(r) + c * (1.0 + r)
    # expm1(x) = 2**k * (1 + r + tail) - 1, computed as
    # 2 * ((h - 1/2) + h*r + h*tail) with h = 2**(k-1), always normal here
    # (k in [-58, 1024]); the first sum is exact for small k, and the final
    # doubling overflows to inf exactly when the result does.
    h = _float((_bits(t) - _SHIFTER_BITS + 1022) << 52)
    # h - 1/2 is exact only while h < 2**52; beyond, move the -1/2 to the
    # small part, where it is exact enough.
    small = h < _TWO52
    a = ((h - 0.5) if small else h) + h * r
    b = h * tail + (0.0 if small else -0.5)
    s, err = _two_sum(a, b)
    return 2.0 * s, 2.0 * err


@_kernel
def _expm1_64(x):
    y, _ = _expm1_parts(x)
    return x if abs(x) < 1e-18 else y        # keeps -0.0 and subnormals exact


@_kernel
def _log_reduced(f, kf):
    """log(2**kf * (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1]."""
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    return kf * _LN2_HI - ((hfsq - (s * (hfsq + z * _log_p(z)) + kf * _LN2_LO)) - f)


@_kernel
def _log64(x):
    subnormal = x < _MIN_NORMAL
    xs = x * _TWO52 if subnormal else x
    ix = _bits(xs)
    # x = 2**k * m with m in [sqrt(1/2), sqrt(2)): take k from the bits of
    # x / sqrt(1/2), then remove it from x's exponent field.
    high = (ix - _SQRT_HALF_BITS) & _EXPONENT_MASK   # k << 52
    m = _float(ix - high)
    # k + 1023 is in [1, 2047]: turn it into a float by writing it into the
    # mantissa of 2**52 (no int->float conversion needed).
    kf = _float(_shift_right_52(high + _ONE_BITS) | _TWO52_BITS) - (_TWO52 + 1023.0)
    kf = kf - 52.0 if subnormal else kf
    y = _log_reduced(m - 1.0, kf)
    special = -_INF if x == 0.0 else (x if x > 0.0 else _NAN)
    return y if (x > 0.0) & (x < _INF) else special


@_kernel
def _log1p64(x):
    u, c = _two_sum(x, 1.0)   # u + c == 1 + x exactly; log1p(x) = log(u) + c/u to first order
    ix = _bits(u)
    high = (ix - _SQRT_HALF_BITS) & _EXPONENT_MASK
    m = _float(ix - high)
    kf = _float(_shift_right_52(high + _ONE_BITS) | _TWO52_BITS) - (_TWO52 + 1023.0)
    # fold c/u into f = m - 1 (exact): c * 2**-k, with 2**-k from the bits.
    # Beyond 2**53, c/u is below half an ulp and 2**-k may not exist.
    scaled = c * _float(_ONE_BITS - high)
    f = (m - 1.0) + (scaled if x < 9.0e15 else 0.0)
    y = _log_reduced(f, kf)
    y = x if abs(x) < 1e-18 else y            # keeps -0.0 and subnormals exact
    special = -_INF if x == -1.0 else (x if x > 0.0 else _NAN)
    return y if (x > -1.0) & (x < _INF) else special


@_kernel
def _tanh64(x):
    a = abs(x)
    a = 22.0 if a > 22.0 else a              # tanh(22) rounds to 1
    # tanh(a) = e / (e + 2), e = expm1(2a) = eh + el; the quotient is
    # corrected with the exact division remainder and the low parts, which
    # keeps the error near 1 ulp instead of 2.5.
    eh, el = _expm1_parts(2.0 * a)
    eh = 2.0 * a if a < 1e-18 else eh
    el = 0.0 if a < 1e-18 else el
    dh = eh + 2.0
    dl = ((2.0 - dh) + eh) + el              # Fast2Sum; exact while eh <= 2
    q = 1.0 / dh                             # one division, used twice
    t0 = eh * q
    t = t0 + ((eh - t0 * dh) + (el - t0 * dl)) * q
    return _float(_bits(t) | (_bits(x) & _SIGN_BIT))


@_kernel
def _logistic64(x):
    # exp(-|x|) never overflows; for x < 0 the result is e/(1+e), which also
    # gets the subnormal tail right.  The quotient is corrected with the exact
    # remainder and the rounding error of 1 + e (Fast2Sum, e <= 1), so only
    # exp's own error is left.
    e = _exp64(-abs(x))
    num = 1.0 if x >= 0.0 else e
    d = 1.0 + e
    dl = (1.0 - d) + e
    q = 1.0 / d
    t0 = num * q
    return t0 + ((num - t0 * d) - t0 * dl) * q


# ---------------------------------------------------------------------------
# sin and cos.  x = n * pi/2 + r with |r| <= pi/4 (slightly more for huge x),
# r carried as hi + lo; then sin or cos of r by the quadrant n mod 4.  Two
# range reductions, both computed for every lane and one selected (the caller's
# loop has no branch to skip the other):
# - |x| < 2**20 (Cody-Waite): pi/2 in 33-bit pieces, so n * piece is exact for
#   |n| < 2**20 and the differences are carried exactly (TwoSum).
# - larger |x|, inf, nan (Payne-Hanek): x = m * 2**E with m a 53-bit integer;
#   only the bits of 2/pi from 2**-(E-1) on matter mod 4, 208 of them, stored
#   per exponent as four exact doubles V_k (row of _TRIG_TABLE).  m * V_k are
#   exact double-doubles (FMA), integer parts are dropped exactly, and the
#   fraction is summed in double-double, enough for the worst case over all
#   doubles (|r| ~ 2**-61; 2**-150 is kept).

@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: vfmadd on AVX2, vectorizes)."""
    if not all(t == types.float64 for t in (a, b, c)):
        return None

    def codegen(context, builder, sig, args):
        return builder.fma(*args)
    return types.float64(types.float64, types.float64, types.float64), codegen


def _pi_scaled(bits):
    """floor(pi * 2**bits): Machin's formula in integers, 32 guard bits."""
    one = 1 << (bits + 32)

    def arctan_inv(k):                       # atan(1/k) * 2**(bits + 32)
        total = term = one // k
        n, sign = 3, -1
        while term:
            term //= k * k
            total += sign * (term // n)
            n, sign = n + 2, -sign
        return total
    return (16 * arctan_inv(5) - 4 * arctan_inv(239)) >> 32


_PI_BITS = 1300
_PI = _pi_scaled(_PI_BITS)
_TWO_OVER_PI = (1 << (2 * _PI_BITS + 1)) // _PI     # floor(2/pi * 2**_PI_BITS), to 1 unit


def _pio2_piece(start, nbits):
    """Bits [start, start + nbits) of pi/2 (bit 0 = the unit) as an exact float."""
    last = start + nbits - 1                 # _PI is pi/2 * 2**(_PI_BITS + 1)
    chunk = (_PI >> (_PI_BITS + 1 - last)) & ((1 << nbits) - 1)
    return float(chunk) * 2.0 ** -last


# pi/2 = _PIO2_1 + _PIO2_2 + _PIO2_3 + _PIO2_3T to ~2**-152: three 33-bit pieces
# (n * piece exact for |n| < 2**20) and a rounded tail.
_PIO2_1 = _pio2_piece(0, 33)
_PIO2_2 = _pio2_piece(33, 33)
_PIO2_3 = _pio2_piece(66, 33)
_PIO2_3T = _pio2_piece(99, 53)
_PIO2_HI = _pio2_piece(0, 53)                # pi/2 as a double-double
_PIO2_LO = _pio2_piece(53, 53)
_TWO_OVER_PI_F = (_TWO_OVER_PI >> (_PI_BITS - 80)) / 2 ** 80    # 2/pi rounded
TRIG_MEDIUM = 1048576.0                      # 2**20: the medium kernel's range (trig.py)

# Row e - 1043 for biased exponents e in [1043, 2046] (E = e - 1075 in
# [-32, 971]): V_k = W_k * 2**(-50 - 52k), W_k the 52 bits of 2/pi at bit
# positions [E - 1 + 52k, E + 51 + 52k) (bit i weighs 2**-i; none above bit 1).
def _trig_table():
    rows = []
    for e in range(1043, 2047):
        E = e - 1075
        row = []
        for k in range(4):
            last = E + 50 + 52 * k            # the window's last bit position
            w = (_TWO_OVER_PI >> (_PI_BITS - last)) & ((1 << 52) - 1) if last >= 1 else 0
            row.append(float(w) * 2.0 ** (-50 - 52 * k))
        rows.append(row)
    return np.array(rows, dtype=np.float64)


_TRIG_TABLE = _trig_table().reshape(-1)

# Minimax tails (the fits at the bottom of this file), |r| <= pi/4 * 1.01:
# sin r = r + r**3 * S(z),  cos r = 1 - z/2 + z**2 * C(z),  z = r*r
_SIN_S = (-0.1666666666666669, 0.008333333333338633, -0.00019841269845171622,
          2.755732057127709e-06, -2.505234898929059e-08, 1.6080508846675715e-10,
          -8.381932686836864e-13)  # weighted error 2**-57.9
_COS_C = (0.0416666666666669, -0.00138888888889044, 2.4801587299508764e-05,
          -2.7557315648482153e-07, 2.0875764093327588e-09,
          -1.1357375556477389e-11)  # weighted error 2**-59.1
(_SS0, _SS1, _SS2, _SS3, _SS4, _SS5, _SS6) = _SIN_S
(_CC0, _CC1, _CC2, _CC3, _CC4, _CC5) = _COS_C


@_kernel
def _reduce_medium(x):
    """(n, hi, lo) with x = n pi/2 + hi + lo, for |x| < 2**20."""
    t = x * _TWO_OVER_PI_F + _SHIFTER
    nf = t - _SHIFTER
    r1 = x - nf * _PIO2_1                    # exact
    r2, e2 = _two_sum(r1, -(nf * _PIO2_2))   # the products are exact
    r3, e3 = _two_sum(r2, -(nf * _PIO2_3))
    tail = (e2 + e3) - nf * _PIO2_3T
    hi = r3 + tail
    return _bits(t) - _SHIFTER_BITS, hi, tail - (hi - r3)


@_kernel
def _reduce_huge(a):
    """(n, hi, lo) with a = n pi/2 + hi + lo (mod 2 pi), for a >= 2**20 (and
    inf/nan, giving nan); other lanes get some finite garbage."""
    e = _shift_right_52(_bits(a))
    e = 1043 if e < 1043 else e
    e = 2046 if e > 2046 else e
    row = (e - 1043) * 4
    m = a * _float((2098 - e) << 52)         # a * 2**-E: an integer < 2**53
    v0 = _TRIG_TABLE[row + 0]
    v1 = _TRIG_TABLE[row + 1]
    p0 = m * v0
    c = p0 - 4.0 * np.floor(p0 * 0.25)       # p0 mod 4, exact
    c = c + _fma(m, v0, -p0)                 # exact: multiples of 2**-50 below 8
    c = c - 4.0 * np.floor(c * 0.25)
    p1 = m * v1
    s, t = _two_sum(c, p1)
    n = np.rint(s)
    s = s - n                                # exact, in [-1/2, 1/2]
    v2 = _TRIG_TABLE[row + 2]
    p2 = m * v2
    u, uu = _two_sum(t, _fma(m, v1, -p1))
    u, uu2 = _two_sum(u, p2)
    lo = (uu + uu2) + (_fma(m, v2, -p2) + m * _TRIG_TABLE[row + 3])
    fh, fl = _two_sum(s, u)
    fl = fl + lo                             # the fraction is fh + fl
    rh = fh * _PIO2_HI
    rl = _fma(fh, _PIO2_HI, -rh) + (fh * _PIO2_LO + fl * _PIO2_HI)
    hi = rh + rl
    return _bits(n + _SHIFTER) - _SHIFTER_BITS, hi, rl - (hi - rh)


@_kernel
def _sin_cos_reduced(hi, lo):
    """(sin, cos) of hi + lo, |hi| <= pi/4 * 1.01, |lo| <= ulp(hi)."""
    z = hi * hi
    z2 = z * z
    s = ((_SS0 + _SS1 * z) + z2 * (_SS2 + _SS3 * z)) + z2 * z2 * (
        (_SS4 + _SS5 * z) + z2 * _SS6)
    sin_r = hi + (hi * z * s + lo * (1.0 - 0.5 * z))
    c = ((_CC0 + _CC1 * z) + z2 * (_CC2 + _CC3 * z)) + z2 * z2 * (_CC4 + _CC5 * z)
    hz = 0.5 * z
    w = 1.0 - hz
    cos_r = w + (((1.0 - w) - hz) + (z2 * c - hi * lo))
    return sin_r, cos_r


@_kernel
def _sincos_quadrant(x, n, hi, lo):
    """(sin x, cos x) from x = n pi/2 + hi + lo."""
    sin_r, cos_r = _sin_cos_reduced(hi, lo)
    # sin(n pi/2 + r) by n mod 4; cos(x) = sin(x + pi/2), quadrant n + 1
    odd = (n & 1) != 0
    s = cos_r if odd else sin_r
    c = sin_r if odd else cos_r
    s = -s if (n & 2) != 0 else s
    c = -c if ((n + 1) & 2) != 0 else c
    # below 2**-26, sin x rounds to x: keeps -0.0 and subnormals exact
    s = x if abs(x) < 1.4901161193847656e-08 else s
    return s, c


@_kernel
def _sincos64(x):
    a = abs(x)
    nm, hm, lm = _reduce_medium(x)
    nh, hh, lh = _reduce_huge(a)
    negative = x < 0.0                       # the huge path reduced |x|
    nh = -nh if negative else nh
    hh = -hh if negative else hh
    lh = -lh if negative else lh
    medium = a < TRIG_MEDIUM
    s, c = _sincos_quadrant(x, nm if medium else nh, hm if medium else hh, lm if medium else lh)
    # inf - inf is the invalid operation's default NaN, as libm returns;
    # a NaN argument comes back unchanged
    nan = x - x
    return (s if a < _INF else nan), (c if a < _INF else nan)


@_kernel
def _sincos64_medium(x):
    """_sincos64 for |x| < 2**20, bit for bit (NaN and +-inf give NaN; larger
    arguments garbage): the code generator calls it where it proves the bound
    (trig.magnitude_bound). The huge-argument reduction it skips is ~60% of
    _sincos64's time."""
    n, hi, lo = _reduce_medium(x)
    return _sincos_quadrant(x, n, hi, lo)


@_kernel
def _beyond_medium64(x):
    """True where _sincos64_medium(x) is not _sincos64(x): finite |x| >= 2**20."""
    a = abs(x)
    return (a >= TRIG_MEDIUM) & (a < _INF)


@_kernel
def _sin64(x):
    return _sincos64(x)[0]


@_kernel
def _cos64(x):
    return _sincos64(x)[1]


# ---------------------------------------------------------------------------
# float32 kernels: the argument is widened to float64 and the result rounded
# once to float32, so float64 arithmetic with short polynomials (errors near
# 2**-34 relative) is enough, and float32's narrow exponent range needs no
# subnormal or overflow splitting in float64.

_EXP_Q_F32 = (0.5000000079241265, 0.16666666862827603, 0.04166626543712054,
              0.008333263829897877, 0.0013946396295482293,
              0.0001991868717060473)  # weighted error 2**-34.2
_LOG_P_F32 = (0.6666666560322398, 0.4000034557494218, 0.28536602727317134,
              0.23596336249818783)  # weighted error 2**-38.1
(_S0, _S1, _S2, _S3, _S4, _S5) = _EXP_Q_F32
(_T0, _T1, _T2, _T3) = _LOG_P_F32


@_kernel
def _expm1_reduced32(x):
    """(2**k, expm1(r)) with x = k ln2 + r, for x (float64) in [-110, 100]."""
    t = x * _INV_LN2 + _SHIFTER
    kf = t - _SHIFTER
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    em = r + r * r * (_S0 + r * (_S1 + r * (_S2 + r * (_S3 + r * (_S4 + r * _S5)))))
    return _float((_bits(t) - _SHIFTER_BITS + 1023) << 52), em


@_kernel
def _exp32(x):
    x = 100.0 if x > 100.0 else x            # float32 overflows above 88.8
    x = -110.0 if x < -110.0 else x          # and underflows below -103.98
    scale, em = _expm1_reduced32(x)
    return scale + scale * em


@_kernel
def _expm1_32(x):
    xc = 100.0 if x > 100.0 else x
    xc = -20.0 if xc < -20.0 else xc         # float32 expm1 is -1 below -17.4
    scale, em = _expm1_reduced32(xc)
    y = (scale - 1.0) + scale * em
    return x if x == 0.0 else y              # keeps -0.0


@_kernel
def _log_reduced32(f, kf):
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    r = z * (_T0 + z * (_T1 + z * (_T2 + z * _T3)))
    return kf * _LN2_HI + ((f - hfsq) + (s * (hfsq + r) + kf * _LN2_LO))


@_kernel
def _log32(x):
    # float32 subnormals are normal float64 numbers: no rescaling needed
    ix = _bits(x)
    high = (ix - _SQRT_HALF_BITS) & _EXPONENT_MASK
    m = _float(ix - high)
    kf = _float(_shift_right_52(high + _ONE_BITS) | _TWO52_BITS) - (_TWO52 + 1023.0)
    y = _log_reduced32(m - 1.0, kf)
    special = -_INF if x == 0.0 else (x if x > 0.0 else _NAN)
    return y if (x > 0.0) & (x < _INF) else special


@_kernel
def _log1p32(x):
    u, c = _two_sum(x, 1.0)
    ix = _bits(u)
    high = (ix - _SQRT_HALF_BITS) & _EXPONENT_MASK
    m = _float(ix - high)
    kf = _float(_shift_right_52(high + _ONE_BITS) | _TWO52_BITS) - (_TWO52 + 1023.0)
    scaled = c * _float(_ONE_BITS - high)
    f = (m - 1.0) + (scaled if x < 9.0e15 else 0.0)
    y = _log_reduced32(f, kf)
    y = x if x == 0.0 else y
    special = -_INF if x == -1.0 else (x if x > 0.0 else _NAN)
    return y if (x > -1.0) & (x < _INF) else special


@_kernel
def _tanh32(x):
    a = abs(x)
    a = 10.0 if a > 10.0 else a              # float32 tanh(10) rounds to 1
    scale, em = _expm1_reduced32(2.0 * a)
    e = (scale - 1.0) + scale * em
    t = e / (e + 2.0)
    return _float(_bits(t) | (_bits(x) & _SIGN_BIT))


@_kernel
def _logistic32(x):
    a = abs(x)
    a = 110.0 if a > 110.0 else a
    scale, em = _expm1_reduced32(-a)
    e = scale + scale * em
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


# ---------------------------------------------------------------------------
# Public scalar functions: dtype dispatch at typing time.

def _always_inlined(kernel, signature=types.float64(types.float64)):
    """An intrinsic calling `kernel` (float64 -> float64 unless `signature` says
    otherwise) with the call-site attribute alwaysinline: LLVM's inliner would
    otherwise weigh the kernel's size and may leave a call, which stops
    vectorization of the loop."""

    @intrinsic
    def call(typingctx, x):
        if x != types.float64:
            return None
        kernel.compile(signature.args)

        def codegen(context, builder, sig, args):
            compiled = kernel.overloads[signature.args]
            context.add_linking_libs([compiled.library])
            fnty = context.call_conv.get_function_type(signature.return_type, signature.args)
            fn = cgutils.get_or_insert_function(builder.module, fnty,
                                                compiled.fndesc.llvm_func_name)
            # The kernels cannot raise (error_model="numpy"), so the status is
            # ignored; it folds away after inlining.
            _, result = context.call_conv.call_function(
                builder, fn, signature.return_type, signature.args, args,
                attrs=("alwaysinline",))
            return result
        return signature, codegen
    call.__name__ = "inline_" + kernel.__name__
    return call


# name -> float64 -> float64 intrinsic (the kernel inlined at the call site), one
# per dtype variant: generated code that knows its dtypes calls these directly,
# which skips typing and compiling the dispatching overload below (its
# implementations cannot come from Numba's disk cache: they are closures).
F64 = {}
F32 = {}


def _make_public(name, kernel64, kernel32):
    call64, call32 = _always_inlined(kernel64), _always_inlined(kernel32)
    F64[name], F32[name] = call64, call32

    def fn(x):
        return _apply_python(name, x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Vectorizable {name}: same dtype out as in (float32 or float64); "
                  f"inside @njit code on scalars, from Python on scalars or arrays.")

    @overload(fn, jit_options=_KERNEL, inline="always")
    def _typed(x):
        if x == types.float32:
            def impl32(x):
                return np.float32(call32(np.float64(x)))
            return impl32
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            def impl64(x):
                return call64(np.float64(x))
            return impl64
        return None
    return fn


exp = _make_public("exp", _exp64, _exp32)
expm1 = _make_public("expm1", _expm1_64, _expm1_32)
log = _make_public("log", _log64, _log32)
log1p = _make_public("log1p", _log1p64, _log1p32)
tanh = _make_public("tanh", _tanh64, _tanh32)
logistic = _make_public("logistic", _logistic64, _logistic32)
# float32: the float64 kernels on the widened argument, rounded once by the caller
sin = _make_public("sin", _sin64, _sin64)
cos = _make_public("cos", _cos64, _cos64)
# `_vm.sincos_f64(x)`: (sin x, cos x) for float64 x, one inlined kernel.  The
# kernel computes both anyway (its quadrant select is branch-free), and each
# inlined copy costs Numba ~20 ms of compile time, so generated code that
# needs both calls this once.
sincos_f64 = _always_inlined(_sincos64, types.UniTuple(types.float64, 2)(types.float64))
# `_vm.sincos_medium_f64(x)`: the same below 2**20 only (seed_jacfwd's sin/cos of
# tanh values: 83 -> 54 us per call, 454 -> 417 ms of Numba compile).
sincos_medium_f64 = _always_inlined(_sincos64_medium,
                                    types.UniTuple(types.float64, 2)(types.float64))
# `_vm.beyond_medium_f64(x)`: where the medium kernel is wrong. Kernels that call
# it for operands of unknown size are guarded (trig.TrigGuard): one huge
# operand, and the call is redone by the kernel compiled with sincos_f64.
beyond_medium_f64 = _always_inlined(_beyond_medium64, types.boolean(types.float64))
# `_vm.exp_f64(x)` (x float64) and `_vm.exp_f32(x)` (x float32 widened to float64,
# the float64 result to be rounded to float32 by the caller)
for _name in F64:
    globals()[_name + "_f64"] = F64[_name]
    globals()[_name + "_f32"] = F32[_name]


# ---------------------------------------------------------------------------
# Compiled loops over 1-d contiguous arrays (used from Python, by the tests
# and the benchmark).  Written out, not generated, so Numba can cache them.

@njit_cached()
def _exp_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = exp(a[i])


@njit_cached()
def _expm1_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = expm1(a[i])


@njit_cached()
def _log_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = log(a[i])


@njit_cached()
def _log1p_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = log1p(a[i])


@njit_cached()
def _tanh_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = tanh(a[i])


@njit_cached()
def _logistic_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = logistic(a[i])


@njit_cached()
def _sin_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = sin(a[i])


@njit_cached()
def _cos_loop(a, out):
    for i in range(a.shape[0]):
        out[i] = cos(a[i])


_LOOPS = {"exp": _exp_loop, "expm1": _expm1_loop, "log": _log_loop,
          "log1p": _log1p_loop, "tanh": _tanh_loop, "logistic": _logistic_loop,
          "sin": _sin_loop, "cos": _cos_loop}


def _array_loop(name):
    loop = _LOOPS[name]

    def run(a):
        a = np.asarray(a)
        if not a.flags.c_contiguous:
            a = a.copy()
        if a.dtype != np.float32:
            a = a.astype(np.float64)
        out = np.empty_like(a)
        loop(a.reshape(-1), out.reshape(-1))
        return out
    run.__name__ = name + "_array"
    return run


ARRAY_LOOPS = {name: _array_loop(name) for name in _LOOPS}


def _apply_python(name, x):
    a = np.asarray(x)
    out = ARRAY_LOOPS[name](a)
    return out[()] if a.ndim == 0 else out


# ---------------------------------------------------------------------------
# How the polynomial coefficients above were obtained (run this module as a
# script: `python -m pullback.backends.numba.vecmath`).  NumPy only: the target
# functions come from their Taylor series summed in long double, and the fit is
# Lawson's iteratively reweighted least squares (converges to the minimax
# polynomial) on the *difference from the Taylor polynomial*, so the float64
# solve only has to resolve a small residual.  Errors are weighted by how much
# the tail contributes to the final result (r**2 for exp, z/3 for log).

def _fit_tail(series, a, b, degree, weight, taylor, iterations=80):
    L = np.longdouble
    x = (a + b) / 2 + (b - a) / 2 * np.cos(np.linspace(0.0, np.pi, 3000))
    xl = x.astype(L)
    y = series(xl)
    base = np.polynomial.polynomial.polyval(xl, np.array(taylor[:degree + 1], dtype=L))
    resid = (y - base).astype(float)
    scale = resid.std() or 1.0
    w = np.ones_like(x)
    V = np.vander(x, degree + 1, increasing=True)
    for _ in range(iterations):
        sw = np.sqrt(w) * weight(x)
        d, *_ = np.linalg.lstsq(V * sw[:, None], resid * sw / scale, rcond=None)
        c = (np.array(taylor[:degree + 1], dtype=L) + d.astype(L) * scale).astype(float)
        err = np.abs((np.polynomial.polynomial.polyval(xl, c.astype(L)) - y) * weight(x))
        w = w * (err.astype(float) + 1e-300)
        w /= w.sum()
    return c, float(err.max())


def _fit_coefficients():
    from math import factorial
    L = np.longdouble

    def exp_tail(r):            # (e**r - 1 - r) / r**2
        s, term = np.zeros_like(r), np.full_like(r, L(1) / 2)
        for n in range(3, 40):
            s, term = s + term, term * r / n
        return s

    def log_tail(z):            # (2 atanh(s) / s - 2) / z  with z = s**2
        s, p = np.zeros_like(z), np.ones_like(z)
        for k in range(1, 40):
            s, p = s + 2 * p / (2 * k + 1), p * z
        return s

    half_ln2 = float(np.log(2.0)) / 2 + 1e-3
    zmax = ((2 ** 0.5 - 1) / (2 ** 0.5 + 1)) ** 2 * 1.01
    for label, degree in (("_EXP_Q", 9), ("_EXP_Q_F32", 5)):
        c, e = _fit_tail(exp_tail, -half_ln2, half_ln2, degree, lambda r: r * r,
                         [L(1) / L(factorial(n + 2)) for n in range(20)])
        print(f"{label} = {tuple(float(v) for v in c)!r}  # weighted error 2**{np.log2(e):.1f}")
    for label, degree in (("_LOG_P", 7), ("_LOG_P_F32", 3)):
        c, e = _fit_tail(log_tail, 0.0, zmax, degree, lambda z: z / 3,
                         [L(2) / L(2 * k + 3) for k in range(20)])
        print(f"{label} = {tuple(float(v) for v in c)!r}  # weighted error 2**{np.log2(e):.1f}")

    def sin_tail(z):            # (sin r - r) / r**3  with z = r**2
        s, term = np.zeros_like(z), np.full_like(z, -L(1) / 6)
        for k in range(1, 30):
            s, term = s + term, -term * z / ((2 * k + 2) * (2 * k + 3))
        return s

    def cos_tail(z):            # (cos r - 1 + z/2) / z**2
        s, term = np.zeros_like(z), np.full_like(z, L(1) / 24)
        for k in range(1, 30):
            s, term = s + term, -term * z / ((2 * k + 3) * (2 * k + 4))
        return s

    # errors relative to sin r ~ r (weight z) and to cos r >= 0.7 (weight z**2)
    zmax = (np.pi / 4) ** 2 * 1.02
    c, e = _fit_tail(sin_tail, 0.0, zmax, 6, lambda z: z,
                     [(-1) ** (k + 1) / L(factorial(2 * k + 3)) for k in range(20)])
    print(f"_SIN_S = {tuple(float(v) for v in c)!r}  # weighted error 2**{np.log2(e):.1f}")
    c, e = _fit_tail(cos_tail, 0.0, zmax, 5, lambda z: z * z,
                     [(-1) ** k / L(factorial(2 * k + 4)) for k in range(20)])
    print(f"_COS_C = {tuple(float(v) for v in c)!r}  # weighted error 2**{np.log2(e):.1f}")

if __name__ == "__main__":
    _fit_coefficients()
