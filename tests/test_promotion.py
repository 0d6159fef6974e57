"""Dtype promotion follows NumPy 2 (NEP 50); closures become constants or literals."""
import itertools

import numpy as np
import pytest
from textwrap import dedent

import pullback as pb
from pullback.ir.core import Literal
from pullback.tracer import lax

def text(s):
    return dedent(s).strip()


DTYPES = [np.float64, np.float32, np.int64, np.int32, np.bool_]


def _arr(dt, shape=(3,)):
    return (np.arange(np.prod(shape)).reshape(shape) % 2 + 1).astype(dt)


def _out_dtype(f, *args):
    ir = pb.make_ir(f)(*args)
    (aval,) = ir.out_avals
    return aval.dtype


# NumPy's own answer is the reference for every pair of array dtypes
@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, DTYPES)),
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", [np.add, np.multiply, np.maximum, np.true_divide, np.less],
                         ids=lambda f: f.__name__)
def test_array_array_promotion_matches_numpy(op, a, b):
    x, y = _arr(a), _arr(b)
    expected = op(x, y)
    assert _out_dtype(op, x, y) == expected.dtype
    got = pb.jit(op, backend="interpreter")(x, y)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


# Python scalars are weak: they never widen an array's dtype of the same kind
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("scalar", [2, 2.5, True], ids=["int", "float", "bool"])
def test_array_python_scalar_promotion_matches_numpy(dt, scalar):
    x = _arr(dt)
    for f in (lambda x: x * scalar, lambda x: scalar + x, lambda x: np.maximum(x, scalar)):
        expected = f(x)
        got = pb.jit(f, backend="interpreter")(x)
        assert got.dtype == expected.dtype, (dt, scalar)
        np.testing.assert_array_equal(got, expected)


def test_f32_times_python_float_stays_f32():
    ir = pb.make_ir(lambda x: x * 2.5 + 1)(np.ones(3, np.float32))
    assert ir.out_avals[0].dtype == np.float32
    # the scalars are f32 literals, not f64 constants
    lits = [a for e in ir.eqns for a in e.inputs if isinstance(a, Literal)]
    assert lits and all(l.aval.dtype == np.float32 for l in lits)


def test_int_array_times_python_float_is_f64():
    assert _out_dtype(lambda x: x * 0.5, np.arange(3)) == np.float64
    assert _out_dtype(lambda x: x * 0.5, np.arange(3, dtype=np.int32)) == np.float64


def test_int32_plus_python_int_stays_int32():
    assert _out_dtype(lambda x: x + 1, np.arange(3, dtype=np.int32)) == np.int32


def test_f32_plus_f64_array_is_f64():
    assert _out_dtype(lambda x, y: x + y, np.ones(3, np.float32), np.ones(3)) == np.float64


def test_numpy_scalars_are_strong():
    # NEP 50: np.float64(2.0) is not a Python float; it promotes an f32 array to f64
    x = np.ones(3, np.float32)
    for s in (np.float64(2.0), np.array(2.0)):
        f = lambda x, s=s: x * s
        assert _out_dtype(f, x) == f(x).dtype == np.float64
    f = lambda x: x * np.float32(2.0)
    assert _out_dtype(f, np.ones(3)) == f(np.ones(3)).dtype == np.float64


def test_bool_arithmetic():
    b = np.array([True, False, True])
    for f in (lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x & y, lambda x, y: x | y,
              lambda x, y: x ^ y, lambda x, y: np.sum(x), lambda x, y: x + 1,
              lambda x, y: x * 1.5, lambda x, y: np.mean(x)):
        expected = f(b, b[::-1].copy())
        got = pb.jit(f, backend="interpreter")(b, b[::-1].copy())
        assert got.dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(got, expected)


def test_transcendental_of_ints_is_f64():
    for dt in (np.int64, np.int32):
        assert _out_dtype(np.sin, np.arange(3, dtype=dt)) == np.float64
        assert _out_dtype(lambda x: x / 2, np.arange(3, dtype=dt)) == np.float64


def test_reductions_of_small_ints_accumulate_in_int64():
    x = np.arange(4, dtype=np.int32)
    for f in (np.sum, np.prod, np.cumsum, lambda x: np.trace(np.outer(x, x))):
        assert _out_dtype(f, x) == np.asarray(f(x)).dtype == np.int64


def test_lax_result_dtype_is_nep50():
    f32 = np.ones(2, np.float32)
    assert lax.result_dtype(f32, 2.0) == np.float32
    assert lax.result_dtype(np.arange(2), 2.0) == np.float64
    assert lax.result_dtype(f32, np.ones(2)) == np.float64
    assert lax.result_dtype(True, np.arange(2, dtype=np.int32)) == np.int32


# ---------------------------------------------------------------- Python scalar arguments
# A Python scalar passed as an argument stays weak inside the trace, as it is when
# the function runs on NumPy: jit(f)(x32, 0.5) has the dtype of f(x32, 0.5).
SCALAR_ARG_FUNCS = {
    "x*s": lambda x, s: x * s,
    "s+x": lambda x, s: s + x,
    "x*(1-s)": lambda x, s: x * (1 - s),
    "x/(s*s+1)": lambda x, s: x / (s * s + 1),
    "max(x,s)": lambda x, s: np.maximum(x, s),
    "where": lambda x, s: np.where(x > 1, x, s),
    "x>s": lambda x, s: x > s,
    "x+sin(s)": lambda x, s: x + np.sin(s),  # np.sin(0.5) is a strong np.float64
    # Python's unary operators keep Python scalars Python scalars (weak) ...
    "x*-s": lambda x, s: x * -s,
    "x+abs(s)": lambda x, s: x + abs(s),
    "x+(+s)": lambda x, s: x + (+s),
    "x*round(s)": lambda x, s: x * round(s),  # an int for a float s
    "x*round(s,1)": lambda x, s: x * round(s, 1),
    "x*divmod(s,2)[0]": lambda x, s: x * divmod(s, 2)[0],
    # ... while NumPy's functions return strong NumPy scalars
    "x+sum(s)": lambda x, s: x + np.sum(s),
    "x*floor(s)": lambda x, s: x * np.floor(s),
    "x*negative(s)": lambda x, s: x * np.negative(s),
}


# (NumPy computes np.sin(True) and np.floor(True) in float16, a dtype pullback does not
# have, and refuses np.negative(True))
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,scalar", [
    (n, s) for n in SCALAR_ARG_FUNCS for s in (3, 2.5, True)
    if not (n in ("x+sin(s)", "x*floor(s)", "x*negative(s)") and s is True)], ids=str)
@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_python_scalar_argument_is_weak_like_numpy(name, scalar, dt, backend):
    f = SCALAR_ARG_FUNCS[name]
    x = _arr(dt)
    with np.errstate(all="ignore"):
        expected = f(x, scalar)
        got = pb.jit(f, backend=backend)(x, scalar)
    assert got.dtype == expected.dtype, (name, scalar, dt)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_python_float_argument_converts_in_the_ir():
    ir = pb.make_ir(lambda x, s: x * s)(np.ones(3, np.float32), 2.0)
    assert str(ir) == text("""
        { lambda ; a:f32[3] b:f64[]. let
            c:f32[] = convert_element_type[new_dtype=f32] b
            d:f32[3] = broadcast_in_dim[broadcast_dimensions=(), shape=(3,)] c
            e:f32[3] = mul a d
          in (e,) }""")


def test_python_and_numpy_scalar_arguments_are_separate_jit_entries():
    f = pb.jit(lambda x, s: x * s)
    x = np.ones(3, np.float32)
    assert f(x, 2.0).dtype == np.float32
    assert f(x, np.float64(2.0)).dtype == np.float64  # strong, as in NumPy
    assert f(x, np.array(2.0)).dtype == np.float64
    assert f(x, 3.0).dtype == np.float32
    np.testing.assert_array_equal(f(x, 3.0), np.full(3, 3.0, np.float32))


def test_python_scalar_argument_under_ad_and_vmap_keeps_f32():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    f = lambda x, s: x * (1.0 - s)
    out, vjp_fn = pb.vjp(f, x, 0.25)
    assert out.dtype == np.float32
    gx, gs = vjp_fn(np.ones(3, np.float32))
    assert gx.dtype == np.float32 and gs.dtype == np.float64  # gs: the dtype of 0.25
    np.testing.assert_allclose(gx, np.full(3, 0.75))
    np.testing.assert_allclose(gs, -x.sum())
    assert pb.jvp(f, (x, 0.25), (x, 1.0))[1].dtype == np.float32
    assert pb.jacfwd(f)(x, 0.25).dtype == np.float32
    assert pb.vmap(f, in_axes=(0, None))(x, 0.25).dtype == np.float32
    # weak inside an enclosing trace, too
    assert pb.jit(pb.vmap(f, in_axes=(0, None)))(x, 0.25).dtype == np.float32
    assert pb.jit(lambda x, s: pb.jit(f)(x, s))(x, 0.25).dtype == np.float32
    assert pb.jit(pb.grad(lambda s, x: np.sum(f(x, s))))(0.25, x).dtype == np.float64
    g = pb.jit(pb.grad(lambda x, s: np.sum(f(x, s) ** 2)))
    got = g(x, 0.25)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 2 * x * 0.75 ** 2, rtol=1e-6)


# ---------------------------------------------------------------- closures
def test_closure_array_becomes_a_constvar():
    w = np.arange(6.0).reshape(2, 3)
    ir = pb.make_ir(lambda x: x @ w)(np.ones(2))
    assert len(ir.constvars) == 1 and ir.consts[0] is w
    assert ir.constvars[0].aval.shape == (2, 3)
    out = pb.jit(lambda x: x @ w, backend="interpreter")(np.ones(2))
    np.testing.assert_array_equal(out, np.ones(2) @ w)


def test_closure_0d_array_becomes_a_literal():
    c = np.array(3.0)
    ir = pb.make_ir(lambda x: x * c)(np.ones(2))
    assert not ir.constvars
    lits = [a for e in ir.eqns for a in e.inputs if isinstance(a, Literal)]
    assert [float(l.val) for l in lits] == [3.0]


def test_closure_f32_constant_promotes_like_numpy():
    w = np.ones(3, np.float32)
    f = lambda x: x * w
    for x in (np.ones(3, np.float32), np.ones(3), np.arange(3)):
        assert _out_dtype(f, x) == f(x).dtype


@pytest.mark.parametrize("small", [np.int8, np.uint8, np.int16, np.uint16, np.uint32,
                                   np.float16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_closure_constant_of_a_small_dtype_promotes_as_its_own(small, backend):
    """pullback computes in f64/f32/i64/i32/bool: a uint8 constant is widened, but a
    uint8 mask times a float32 array stays float32, as in NumPy (int64 would not)."""
    mask = np.array([1, 0, 3], small)
    for x in (np.ones(3, np.float32), np.arange(3, dtype=np.int32), np.ones(3),
              np.arange(3), np.array([True, False, True])):
        for f in (lambda x: x * mask, lambda x: x + small(2), lambda x: np.maximum(mask, x)):
            want = f(x)
            got = pb.jit(f, backend=backend)(x)
            if want.dtype in (np.float64, np.float32, np.int64, np.int32, np.bool_):
                assert got.dtype == want.dtype, (small, x.dtype)
            else:  # a small result (uint8 * bool): widened, as the constant is
                assert got.dtype == (np.float64 if want.dtype.kind == "f" else np.int64)
            np.testing.assert_array_equal(got, want)


def test_closure_index_array_is_a_constant():
    idx = np.array([2, 0])
    ir = pb.make_ir(lambda x: x[idx])(np.arange(3.0))
    assert ir.consts and np.array_equal(ir.consts[0], idx)


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_comparison_with_a_python_int_beyond_the_dtype(backend):
    """NumPy 2 compares by value where arithmetic would raise: an int32 array with 2**40,
    an int64 array with 2**64 (its sign decides), bools with 2."""
    x32, x64, b = np.array([1, -5], np.int32), np.array([1, -5]), np.array([True, False])
    cases = [(x32, lambda x: x < 2**40), (x32, lambda x: x > -2**40), (x32, lambda x: x == 2**40),
             (x32, lambda x: 2**40 > x), (x64, lambda x: x < 2**64), (x64, lambda x: x != 2**64),
             (x64, lambda x: x > -2**70), (x64, lambda x: 2**70 <= x), (b, lambda x: x == 2),
             (b, lambda x: x < 2)]
    for x, f in cases:
        got, want = pb.jit(f, backend=backend)(x), f(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_a_long_double_constant_is_refused_not_rounded():
    # before: float64 silently (1 + 2**-60 became 1)
    big = np.full(3, np.longdouble(1) + np.longdouble(2) ** -60)
    assert big.dtype.itemsize > 8  # x86-64 Linux: 80-bit extended precision
    for c in (big, big[0]):
        with pytest.raises(TypeError, match="does not support dtype float128"):
            pb.jit(lambda x: x * c)(np.ones(3))


def test_result_type_of_a_python_scalar_argument_is_weak():
    # a Python scalar argument promotes as a Python scalar (NEP 50), as it does in
    # arithmetic: np.result_type(3.0, np.float32) is float32
    for s in (3.0, 3, True):
        for other in (np.float32, np.int32, np.float64, np.bool_):
            got = pb.jit(lambda s: np.zeros(1, np.result_type(s, other)))(s).dtype
            assert got == np.result_type(s, other), (s, other)


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_a_narrow_constant_returned_as_is_is_widened(backend):
    # before: an internal TypeError from building the IR's outputs, naming no output
    def f(x):
        return x * 2.0, np.array([1, 0, 1], np.uint8), np.ones(2, np.float16), np.uint8(3)

    _, mask, halves, three = pb.jit(f, backend=backend)(np.ones(3))
    assert mask.dtype == np.int64 and halves.dtype == np.float64 and three.dtype == np.int64
    np.testing.assert_array_equal(mask, [1, 0, 1])
    np.testing.assert_array_equal(halves, [1.0, 1.0])
    assert three == 3
    aux = pb.grad(lambda x: (np.sum(x), np.array([1, 2], np.int8)), has_aux=True)(np.ones(2))[1]
    np.testing.assert_array_equal(aux, [1, 2])
    big = np.full(3, np.longdouble(1) + np.longdouble(2) ** -60)
    with pytest.raises(TypeError, match="does not support dtype float128"):
        pb.jit(lambda x: (x, big), backend=backend)(np.ones(3))
    objects = np.array([1, 2], dtype=object)
    with pytest.raises(TypeError, match="does not support dtype object"):
        pb.jit(lambda x: (x, objects), backend=backend)(np.ones(3))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_broadcasting_beyond_32_dimensions(backend):
    # np.broadcast_shapes stops at 32 dimensions (a RuntimeError from inside the
    # tracer); NumPy's arrays and JAX do not
    x = np.arange(6.0).reshape((1,) * 31 + (2, 3))
    got = pb.jit(lambda a: a * 2 + a[..., :1], backend=backend)(x)
    np.testing.assert_array_equal(got, x * 2 + x[..., :1])
    assert pb.grad(lambda a: np.sum(a * a))(x).shape == x.shape
    a, b = np.full((2,) + (1,) * 39, 1.5), np.full((1,) * 39 + (3,), 2.0)
    np.testing.assert_array_equal(pb.jit(lambda a, b: a ** b, backend=backend)(a, b), a ** b)
    i = np.zeros((1,) * 40, np.int64)
    assert pb.jit(lambda x, i: x[i], backend=backend)(np.arange(5.0), i).shape == (1,) * 40
    assert pb.jit(lambda a, b: np.array_equiv(a, b), backend=backend)(a, b) == np.array_equiv(a, b)
    with pytest.raises(ValueError, match=r"could not be broadcast together with shapes "
                                         r"\(2, 3\) \(4,\)"):
        pb.jit(lambda a, b: a + b, backend=backend)(np.ones((2, 3)), np.ones(4))
