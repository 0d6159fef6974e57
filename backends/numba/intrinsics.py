"""Allocation, views, BLAS calls and selects of generated kernels as Numba intrinsics.

Why: a kernel that calls an njit helper links the helper's LLVM module into its
own, and Numba then optimizes and generates machine code for that module whole,
helper bodies included: every kernel pays again for `np.empty`, `reshape` or
`np.dot` (20-60 ms each, measured), although the helper's own machine code is in
Numba's disk cache. An intrinsic instead emits its few instructions at the call
site: an allocation is one call into Numba's runtime, a reshape of a C-contiguous
array a new header over the same buffer, a matrix product one call of the BLAS
entry Numba exports (`numba_xxgemm`), a conditional a `select`. Only the rare
layouts these cannot handle in place (an argument that is not C-contiguous) call
the cached njit `copy_c`.

Kernels call them as `_h.empty`, `_h.full`, `_h.contiguous`, `_h.reshape`,
`_h.dot_into`, `_h.scalar`, `_h.where`, `_h.cbrt`, `_h.wadd`/`wsub`/`wmul` (wrapping
integer arithmetic), `_h.clamp`, `_h.fill_outside`, and `_h.radd`/`_h.rmul`/
`_h.rmax`/`_h.rmin` for float reduction accumulators (helpers.py re-exports them). They are not
callable from Python.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import get_itemsize, load_item, make_array, populate_array


def njit_cached(**options):
    """numba.njit(cache=True, **options) for pullback's own compiled helpers; where
    Numba finds no writable cache location (a read-only install and HOME), they
    are compiled in every process instead of failing to import."""
    def decorate(fn):
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(**options)(fn)
    return decorate


@njit_cached(nogil=True)
def copy_c(x):
    """A fresh C-contiguous copy of any array (the fallback of the views below)."""
    out = np.empty(x.shape, x.dtype)
    out[...] = x
    return out


def _dtype_of(ty):
    """The element type named by a dtype argument (`np.float64` or a dtype object)."""
    if isinstance(ty, types.NumberClass):
        return ty.instance_type
    if isinstance(ty, types.DType):
        return ty.dtype
    return None


def _shape_values(context, builder, tuple_type, value):
    """The lowered items of a shape tuple, as intp values."""
    items = cgutils.unpack_tuple(builder, value, len(tuple_type))
    return [context.cast(builder, v, t, types.intp) for v, t in zip(items, tuple_type)]


def _c_header(context, builder, arr_type, data, shapes, meminfo, parent=None):
    """An array struct of C layout over `data` (owned through `meminfo`)."""
    itemsize = context.get_constant(types.intp, get_itemsize(context, arr_type))
    strides = [itemsize]
    for s in reversed(shapes[1:]):
        strides.append(builder.mul(strides[-1], s))
    strides.reverse()
    intp_t = context.get_value_type(types.intp)
    ary = make_array(arr_type)(context, builder)
    data = builder.bitcast(data, context.get_data_type(arr_type.dtype).as_pointer())
    populate_array(ary, data=data,
                   shape=cgutils.pack_array(builder, shapes, ty=intp_t),
                   strides=cgutils.pack_array(builder, strides[:len(shapes)], ty=intp_t),
                   itemsize=itemsize, meminfo=meminfo, parent=parent)
    return ary


def _count(context, builder, shapes):
    """The number of elements of `shapes` (intp values)."""
    n = context.get_constant(types.intp, 1)
    for s in shapes:
        n = builder.mul(n, s)
    return n


def _alloc(context, builder, arr_type, shapes):
    """A new C-contiguous array (uninitialized); MemoryError when allocation fails.
    Shapes come from the IR's avals, so their product cannot overflow here. (Numba's
    own `arrayobj._empty_nd_impl` compiles an allocator subroutine per kernel.)"""
    itemsize = context.get_constant(types.intp, get_itemsize(context, arr_type))
    size = builder.mul(itemsize, _count(context, builder, shapes))
    align = context.get_preferred_array_alignment(arr_type.dtype)
    meminfo = context.nrt.meminfo_alloc_aligned(builder, size, align)
    data = context.nrt.meminfo_data(builder, meminfo)
    return _c_header(context, builder, arr_type, data, shapes, meminfo)


def _copy_c(context, builder, arr_type, value):
    """(C-contiguous array type, new reference) copied by the cached njit copy_c."""
    out_type = arr_type.copy(layout="C", readonly=False)
    sig = out_type(arr_type)
    copy_c.compile(sig.args)  # loaded from Numba's disk cache after the first process
    cres = copy_c.overloads[sig.args]
    context.add_linking_libs([cres.library])
    return out_type, context.call_internal(builder, cres.fndesc, sig, [value])


@intrinsic
def scalar(typingctx, x):
    """A 0-d input as a scalar: kernels accept Python/NumPy scalars or 0-d arrays."""
    if isinstance(x, types.Array) and x.ndim == 0:
        def codegen(context, builder, sig, args):
            ary = make_array(sig.args[0])(context, builder, args[0])
            return load_item(context, builder, sig.args[0], ary.data)
        return x.dtype(x), codegen
    if isinstance(x, (types.Number, types.Boolean)):
        return x(x), lambda context, builder, sig, args: args[0]
    return None


@intrinsic
def where(typingctx, cond, a, b):
    """`a if cond else b` without a branch: both operands are evaluated (the code
    generator clamps the indices of reads it guards), and LLVM gets one `select`.
    A Python conditional expression costs Numba new blocks to type and lower:
    ~20 ms of compile time each, measured in fused loops."""
    if not isinstance(cond, types.Boolean):
        return None
    ty = typingctx.unify_pairs(a, b)
    if not isinstance(ty, (types.Number, types.Boolean)):
        return None

    def codegen(context, builder, sig, args):
        c, x, y = args
        x = context.cast(builder, x, sig.args[1], sig.return_type)
        y = context.cast(builder, y, sig.args[2], sig.return_type)
        return builder.select(c, x, y)
    return ty(cond, a, b), codegen


def _accumulate(name, emit):
    """A reduction's accumulator update `emit(builder, acc, x)` as one instruction."""
    @intrinsic
    def accumulate(typingctx, acc, x):
        if not isinstance(acc, types.Float) or not isinstance(x, (types.Number, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            y = context.cast(builder, args[1], sig.args[1], sig.return_type)
            return emit(builder, args[0], y)
        return acc(acc, x), codegen
    accumulate.__name__ = name
    return accumulate


def _llvm_binary(name):
    """A call of the LLVM intrinsic `llvm.<name>.<type>` on two floats."""
    def emit(builder, a, b):
        ty = a.type
        fn = cgutils.get_or_insert_function(
            builder.module, llvm_ir.FunctionType(ty, [ty, ty]),
            f"llvm.{name}.{'f32' if ty == llvm_ir.FloatType() else 'f64'}")
        return builder.call(fn, [a, b])
    return emit


# Float sums and products: one instruction with LLVM's `reassoc` flag, so that the
# loop's partial sums (products) go into SIMD lanes, as NumPy's pairwise sum
# reorders too. Only the accumulation gets the flag: on the whole kernel
# (fastmath={"reassoc"}) it also let LLVM fold `x * pow(x, y)` into
# `pow(x, y + 1)` and `exp(a) * exp(b)` into `exp(a + b)`, which differ at
# zeros, infinities and overflow.
radd = _accumulate("radd", lambda builder, a, b: builder.fadd(a, b, flags=("reassoc",)))
rmul = _accumulate("rmul", lambda builder, a, b: builder.fmul(a, b, flags=("reassoc",)))
# Float max and min: IEEE 754-2019 maximum/minimum (NaN propagates, as in np.max),
# which LLVM vectorizes as a reduction (vmaxpd plus a NaN check); a select on
# `x > acc or x != x` carries a dependency through every element and stays scalar
# (measured: 1000 rows of 100, 67 -> 29 us). Unlike np.max, which keeps the first
# of equal values, max(-0.0, 0.0) is 0.0 and min(-0.0, 0.0) is -0.0 in any order.
rmax = _accumulate("rmax", _llvm_binary("maximum"))
rmin = _accumulate("rmin", _llvm_binary("minimum"))


def _wrapping(name, emit):
    """Integer `+`, `-`, `*` that wrap, as NumPy's: Numba marks its own no-signed-wrap,
    which lets LLVM fold `x + 1 > x` to True and `(x * 2) // 2` to x at the int64
    maximum (and an addition of the constant -2**63 as if it could not overflow)."""
    @intrinsic
    def op(typingctx, a, b):
        if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
            return None
        ty = typingctx.unify_pairs(a, b)
        if not isinstance(ty, types.Integer):
            # int64 with uint64 (Numba's type of a prange index, below 2**63: as int64
            # it is exact; pullback has no uint64 values)
            ty = types.int64

        def codegen(context, builder, sig, args):
            x = context.cast(builder, args[0], sig.args[0], sig.return_type)
            y = context.cast(builder, args[1], sig.args[1], sig.return_type)
            return emit(builder, x, y)
        return ty(a, b), codegen
    op.__name__ = name
    return op


wadd = _wrapping("wadd", lambda builder, a, b: builder.add(a, b))
wsub = _wrapping("wsub", lambda builder, a, b: builder.sub(a, b))
wmul = _wrapping("wmul", lambda builder, a, b: builder.mul(a, b))


@intrinsic
def cbrt(typingctx, x):
    """The cube root as NumPy's: within 0.5 ulp and exact at cubes in float64, where
    glibc's cbrt (which Numba's np.cbrt calls) is up to 3 ulp off (cbrt(27.0) =
    3.0000000000000004), so its y takes one Newton step y - (y^3 - x) / (3 y^2) with
    y^3 - x from exact products (fma), on x scaled by 2^(+-300) when |x| is so small
    that y^3's low part would underflow (or so large that it would overflow); zeros,
    infinities and NaNs keep libm's y. float32 is computed in float64 and rounded once
    (correctly rounded, where NumPy's float32 loop is up to 1 ulp off)."""
    if x not in (types.float64, types.float32):
        return None

    def codegen(context, builder, sig, args):
        f64 = llvm_ir.DoubleType()
        v = args[0] if x == types.float64 else builder.fpext(args[0], f64)

        def const(c):
            return llvm_ir.Constant(f64, c)

        libm = cgutils.get_or_insert_function(builder.module,
                                              llvm_ir.FunctionType(f64, [f64]), "cbrt")
        fma = builder.module.declare_intrinsic("llvm.fma", [f64],
                                               llvm_ir.FunctionType(f64, [f64] * 3))
        fabs = builder.module.declare_intrinsic("llvm.fabs", [f64])
        a = builder.call(fabs, [v])
        small = builder.fcmp_ordered("<", a, const(1e-290))
        big = builder.fcmp_ordered(">", a, const(1e300))
        scale = builder.select(small, const(2.0 ** 300), builder.select(big, const(2.0 ** -300),
                                                                       const(1.0)))
        unscale = builder.select(small, const(2.0 ** -100),
                                 builder.select(big, const(2.0 ** 100), const(1.0)))
        xs = builder.fmul(v, scale)  # exact: a power of two, and no over/underflow
        y = builder.call(libm, [xs])
        y2 = builder.fmul(y, y)
        e2 = builder.call(fma, [y, y, builder.fneg(y2)])  # y*y = y2 + e2 exactly
        y3 = builder.fmul(y2, y)
        e3 = builder.call(fma, [y2, y, builder.fneg(y3)])  # y2*y = y3 + e3 exactly
        # y^3 - x, where y3 - x is exact (Sterbenz: y3 is within a few ulp of x)
        r = builder.fadd(builder.fadd(builder.fsub(y3, xs), e3), builder.fmul(e2, y))
        step = builder.fdiv(r, builder.fmul(const(3.0), y2))
        refined = builder.fmul(builder.fsub(y, step), unscale)
        # a finite nonzero x (ordered compares are false for NaN)
        ok = builder.and_(builder.fcmp_ordered(">", a, const(0.0)),
                          builder.fcmp_ordered("<", a, const(float("inf"))))
        out = builder.select(ok, refined, y)
        return out if x == types.float64 else builder.fptrunc(out, llvm_ir.FloatType())
    return x(x), codegen


@intrinsic
def signbit(typingctx, x):
    """The sign bit of a float64 or float32 (set for -0.0 and for a NaN that has it)."""
    if x not in (types.float64, types.float32):
        return None

    def codegen(context, builder, sig, args):
        bits = builder.bitcast(args[0], llvm_ir.IntType(x.bitwidth))
        return builder.icmp_signed("<", bits, llvm_ir.Constant(bits.type, 0))
    return types.boolean(x), codegen


@intrinsic
def clamp(typingctx, i, hi):
    """min(max(i, 0), hi) for indices, branch-free: the index a guarded read uses
    where its select discards the value (one call, cheaper for Numba than min/max)."""
    if not isinstance(i, types.Integer) or not isinstance(hi, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        j, top = (context.cast(builder, v, t, types.intp) for v, t in zip(args, sig.args))
        zero = context.get_constant(types.intp, 0)
        j = builder.select(builder.icmp_signed("<", j, zero), zero, j)
        return builder.select(builder.icmp_signed(">", j, top), top, j)
    return types.intp(i, hi), codegen


@intrinsic
def empty(typingctx, shape, dtype):
    """np.empty(shape, dtype) for a C-contiguous result."""
    dt = _dtype_of(dtype)
    if dt is None or not isinstance(shape, types.BaseTuple):
        return None

    def codegen(context, builder, sig, args):
        shapes = _shape_values(context, builder, sig.args[0], args[0])
        return _alloc(context, builder, sig.return_type, shapes)._getvalue()
    return types.Array(dt, len(shape), "C")(shape, dtype), codegen


@intrinsic
def full(typingctx, shape, value, dtype):
    """np.full(shape, value, dtype), C-contiguous."""
    dt = _dtype_of(dtype)
    if dt is None or not isinstance(shape, types.BaseTuple) or not isinstance(
            value, (types.Number, types.Boolean)):
        return None

    def codegen(context, builder, sig, args):
        shapes = _shape_values(context, builder, sig.args[0], args[0])
        ary = _alloc(context, builder, sig.return_type, shapes)
        fill = context.cast(builder, args[1], sig.args[1], dt)
        with cgutils.for_range(builder, _count(context, builder, shapes)) as loop:
            builder.store(context.get_value_as_data(builder, dt, fill),
                          builder.gep(ary.data, [loop.index]))
        return ary._getvalue()
    return types.Array(dt, len(shape), "C")(shape, value, dtype), codegen


@intrinsic
def fill_outside(typingctx, arr, i, first, end, lo):
    """Row i of the C-contiguous 2-d `arr` outside columns [first, end) becomes a
    copy of the element a band loop computed beside its band (codegen.band_plan):
    column `first` where the band, which starts at offset `lo`, has a column on
    its left (i + lo > 0), else column end - 1. Two Python loops instead cost
    Numba ~60 ms to compile in the Rosenbrock Hessian's kernel."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and arr.layout == "C"
            and all(isinstance(t, types.Integer) for t in (i, first, end, lo))):
        return None

    def codegen(context, builder, sig, args):
        ary = make_array(sig.args[0])(context, builder, args[0])
        i, first, end, lo = (context.cast(builder, v, t, types.intp)
                             for v, t in zip(args[1:], sig.args[1:]))
        n1 = builder.extract_value(ary.shape, 1)
        row = builder.gep(ary.data, [builder.mul(i, n1)])
        zero, one = (context.get_constant(types.intp, k) for k in (0, 1))
        left = builder.icmp_signed(">", builder.add(i, lo), zero)
        value = builder.load(builder.gep(row, [builder.select(left, first, builder.sub(end, one))]))
        with cgutils.for_range(builder, first) as loop:
            builder.store(value, builder.gep(row, [loop.index]))
        with cgutils.for_range(builder, builder.sub(n1, end)) as loop:
            builder.store(value, builder.gep(row, [builder.add(end, loop.index)]))
        return context.get_dummy_value()
    return types.none(arr, i, first, end, lo), codegen


@intrinsic
def contiguous(typingctx, x):
    """np.ascontiguousarray(x) for ndim >= 1: x itself when C-contiguous, else a copy."""
    if not isinstance(x, types.Array) or x.ndim == 0:
        return None
    out_type = x if x.layout == "C" else x.copy(layout="C", readonly=False)

    def codegen(context, builder, sig, args):
        (x_type,), (value,) = sig.args, args
        if x_type.layout == "C":
            return impl_ret_borrowed(context, builder, x_type, value)
        return _copy_c(context, builder, x_type, value)[1]
    return out_type(x), codegen


@intrinsic
def copy(typingctx, x):
    """A fresh C-contiguous copy of x (ndim >= 1): x.copy() without the allocator
    subroutine Numba's own copy compiles into every kernel that calls it."""
    if not isinstance(x, types.Array) or x.ndim == 0:
        return None
    out_type = x.copy(layout="C", readonly=False)

    def codegen(context, builder, sig, args):
        (x_type,), (value,) = sig.args, args
        if x_type.layout != "C":
            return _copy_c(context, builder, x_type, value)[1]
        src = make_array(x_type)(context, builder, value)
        out = _alloc(context, builder, out_type, cgutils.unpack_tuple(builder, src.shape))
        cgutils.raw_memcpy(builder, out.data, src.data, src.nitems, src.itemsize, align=1)
        return out._getvalue()
    return out_type(x), codegen


@intrinsic
def reshape(typingctx, x, shape):
    """np.ascontiguousarray(x).reshape(shape), the size unchanged: a new header over
    x's buffer when x is C-contiguous, else over a C-contiguous copy."""
    if not isinstance(x, types.Array) or not isinstance(shape, types.BaseTuple):
        return None
    out_type = x.copy(ndim=len(shape), layout="C", readonly=not x.mutable and x.layout == "C")

    def codegen(context, builder, sig, args):
        x_type, shape_type = sig.args
        value = args[0]
        fresh = x_type.layout != "C"
        if fresh:
            x_type, value = _copy_c(context, builder, x_type, value)
        src = make_array(x_type)(context, builder, value)
        shapes = _shape_values(context, builder, shape_type, args[1])
        size = _count(context, builder, shapes)
        with cgutils.if_unlikely(builder, builder.icmp_signed("!=", size, src.nitems)):
            context.call_conv.return_user_exc(builder, ValueError,
                                              ("reshape: the size would change",))
        view = _c_header(context, builder, sig.return_type, src.data, shapes, src.meminfo,
                         src.parent if not fresh else None)._getvalue()
        # a view of x shares (and so increfs) x's buffer; one of a fresh copy takes it over
        return view if fresh else impl_ret_borrowed(context, builder, sig.return_type, view)
    return out_type(x, shape), codegen


_BLAS_KIND = {types.float64: ord("d"), types.float32: ord("s")}


@intrinsic
def dot_into(typingctx, a, b, out, alpha, beta):
    """out[...] = alpha * (a @ b) + beta * out through BLAS gemm: a (M, K) and b (K, N)
    C- or F-contiguous (a transposed view of a C array is F: BLAS reads it through
    its transpose flag), out (M, N) C-contiguous, one float dtype, M, N, K >= 1 (the
    code generator only calls BLAS on products big enough to beat loops). alpha and
    beta fold a scaling or a sum of two products into the call (codegen: epilogue)."""
    arrays = (a, b, out)
    if not all(isinstance(t, types.Array) and t.ndim == 2 for t in arrays):
        return None
    if not all(isinstance(t, (types.Float, types.Integer)) for t in (alpha, beta)):
        return None
    if a.dtype not in _BLAS_KIND or b.dtype != a.dtype or out.dtype != a.dtype:
        return None
    if a.layout not in "CF" or b.layout not in "CF" or out.layout != "C":
        return None
    from numba.np.linalg import ensure_blas

    ensure_blas()

    def codegen(context, builder, sig, args):
        a_t, b_t = sig.args[:2]
        A, B, C = (make_array(t)(context, builder, v) for t, v in zip(sig.args[:3], args[:3]))
        m, k = cgutils.unpack_tuple(builder, A.shape)
        k2, n = cgutils.unpack_tuple(builder, B.shape)
        m2, n2 = cgutils.unpack_tuple(builder, C.shape)
        # BLAS trusts its sizes: a mismatch (a code generator bug) would read and
        # write out of bounds, so it raises instead
        bad = builder.or_(builder.icmp_signed("!=", k, k2), builder.or_(
            builder.icmp_signed("!=", m, m2), builder.icmp_signed("!=", n, n2)))
        with cgutils.if_unlikely(builder, bad):
            context.call_conv.return_user_exc(builder, ValueError,
                                              ("dot_into: operand shapes do not match",))
        char, void_p = llvm_ir.IntType(8), cgutils.voidptr_t
        intp = context.get_value_type(types.intp)
        fnty = llvm_ir.FunctionType(llvm_ir.IntType(32), [char, char, char, intp, intp, intp,
                                                         void_p, void_p, intp, void_p, intp,
                                                         void_p, void_p, intp])
        gemm = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        # Row-major C = A B is column-major C^T = B^T A^T: a C array is its own
        # transpose read column-major ('n'), an F array needs 't'.
        def operand(t, ary, rows, cols):
            c = t.layout == "C"
            return (char(ord("n" if c else "t")), cols if c else rows,
                    builder.bitcast(ary.data, void_p))
        tb, ldb, pb = operand(b_t, B, k, n)
        ta, lda, pa = operand(a_t, A, m, k)
        dt = a_t.dtype
        alpha_p, beta_p = (cgutils.alloca_once_value(builder, context.cast(builder, v, t, dt))
                           for v, t in zip(args[3:], sig.args[3:]))
        status = builder.call(gemm, [char(_BLAS_KIND[dt]), tb, ta, n, m, k,
                                     builder.bitcast(alpha_p, void_p), pb, ldb, pa, lda,
                                     builder.bitcast(beta_p, void_p),
                                     builder.bitcast(C.data, void_p), n])
        from numba.np.linalg import check_blas_return

        check_blas_return(context, builder, status)
        return context.get_dummy_value()
    return types.none(a, b, out, alpha, beta), codegen
