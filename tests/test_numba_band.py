"""Banded 2-d loops (backends/numba/band.py): a fused loop whose stored values hold
one value per row outside a narrow band of offsets i1 - i0 computes the band and a
column beside it, and copies that column to the rest of the row. Values must be
bit-equal to the interpreter's: NaN where it has NaN, and the sign of every zero."""
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pullback as pb
from passes_util import assert_bits
from pullback.backends import numba as numba_backend
from pullback.backends.numba.band import EMPTY, band_hulls
from pullback.backends.numba.codegen import Codegen

CAMPAIGN = "PULLBACK_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "12"))
BAND_LOOP = "for i1 in range(_first"


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def hull_of(f, *args):
    """(lo, hi) of the hull band_hulls finds for f's output (None: not banded)."""
    ir = pb.jit(f).ir(*args)
    h = band_hulls(ir.eqns, Codegen(ir).known_value).get(ir.outvars[0])
    return None if h is None else (EMPTY[:2] if h.lo > h.hi else h[:2])


def same_as_interpreter(f, x, exact=True):
    """f's compiled values equal the kernel's generated without band loops, bit
    for bit, and the interpreter's: bit for bit too unless f calls vecmath
    functions (`exact` False: within 1e-13, where vecmath may differ by an ulp)."""
    ir = pb.jit(f).ir(x)
    with np.errstate(all="ignore"):
        got = pb.jit(f)(x)
        with mock.patch.object(Codegen, "band_plan", lambda *a: None):
            dense = numba_backend.compile(ir)(x)[0]
        assert_bits(got, dense)
        want = pb.jit(f, backend="interpreter")(x)
    if exact:
        assert_bits(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_rosenbrock_hessian_is_tridiagonal():
    assert hull_of(pb.hessian(rosen), np.linspace(-1, 1, 20)) == (-1, 1)


@pytest.mark.parametrize("special", [None, np.inf, -np.inf, np.nan, 1e200, -0.0])
def test_rosenbrock_hessian_loops_over_the_band(special):
    n = 40
    x = np.random.default_rng(1).uniform(-2, 2, n)
    if special is not None:
        x[n // 2] = special  # inf and NaN: a row of NaN outside the band, copied
    assert BAND_LOOP in pb.jit(pb.hessian(rosen)).source(x)
    same_as_interpreter(pb.hessian(rosen), x)


def test_rows_keep_their_own_zero_sign_and_nan():
    E = np.eye(6, 9, k=-1)

    def f(x):
        return E * x[:, None]  # 0 * x off the band: -0 in the rows where x < 0

    x = np.array([-2.0, 1.0, -0.5, np.inf, -1.0, 1.0])
    assert hull_of(f, x) == (-1, -1)
    assert BAND_LOOP in pb.jit(f).source(x)
    got = pb.jit(f)(x)
    assert np.signbit(got[0, 5]) and not np.signbit(got[1, 5]) and np.isnan(got[3, 0])
    same_as_interpreter(f, x)


def test_any_elementwise_op_keeps_the_rows_outside_the_band():
    E = np.eye(7, 10, k=1)

    def f(x):
        b = E * np.sin(x)[:, None]
        return np.where(b > 0.1, np.exp(b), b / (x[:, None] - 1.0)) ** 3  # exp(0) = 1 off the band

    x = np.array([0.5, -0.25, 1.0, 0.0, -0.0, 2.0, -3.0])
    assert hull_of(f, x) == (1, 1)
    assert BAND_LOOP in pb.jit(f).source(x)
    same_as_interpreter(f, x, exact=False)


@pytest.mark.parametrize("k", [-12, -7, -3, 0, 3, 7, 20])
@pytest.mark.parametrize("shape", [(9, 16), (16, 9)])
def test_rows_whose_band_lies_outside_them(k, shape):
    E = np.eye(*shape, k=k)

    def f(x):
        return np.sqrt(E * x[:, None] + 2.0) * x[:, None]  # one value per row beside the band

    x = np.linspace(-1.5, 1.5, shape[0])
    assert hull_of(f, x) == ((k, k) if -shape[0] < k < shape[1] else EMPTY[:2])
    assert BAND_LOOP in pb.jit(f).source(x)
    same_as_interpreter(f, x)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_band_loops_of_other_dtypes(dtype):
    E = np.eye(7, 12, k=2)

    def f(x):
        b = E * x[:, None]
        return b > 0.5 if dtype is np.bool_ else (b * 3.0).astype(dtype) - x[:, None].astype(dtype)

    x = np.linspace(-3, 3, 7)
    assert hull_of(f, x) == (2, 2)
    assert BAND_LOOP in pb.jit(f).source(x)
    same_as_interpreter(f, x)


def test_rules_shift_through_pad_and_slice():
    E = np.eye(6, 8)

    def g(x):
        return np.pad(E * x[:, None], ((1, 0), (0, 0)), constant_values=7.0)[:6] + E[:, 2:].sum() * 0.0

    def h(x):
        return np.pad((E * x[:, None])[:, 2:], ((0, 0), (2, 0)))  # columns of the padding value

    assert hull_of(g, np.ones(6)) == (-1, -1)
    assert hull_of(h, np.ones(6)) is None
    assert hull_of(lambda x: (E * x[:, None])[1:, :6], np.ones(6)) == (1, 1)
    assert hull_of(lambda x: x[:, None] * np.ones((6, 8)), np.ones(6)) == EMPTY[:2]
    for fn in (g, h):
        same_as_interpreter(fn, np.linspace(-1, 1, 6))


def test_transposes_keep_only_hulls_with_one_value_everywhere():
    # n = 400: the basis (160,000 elements) is too large to fold
    # (simplify.MAX_FOLD_SIZE), so its transpose stays in the IR; its zeros are
    # the same in every row
    x = np.random.default_rng(2).uniform(-2, 2, 400)
    assert "transpose" in str(pb.jit(pb.hessian(rosen)).ir(x))
    assert hull_of(pb.hessian(rosen), x) == (-1, 1)
    assert BAND_LOOP in pb.jit(pb.hessian(rosen)).source(x)
    same_as_interpreter(pb.hessian(rosen), x)
    E = np.eye(6, 8, k=1)

    def f(x):
        return (E * x[:, None]).T  # one value per row becomes one per column

    assert hull_of(f, np.ones(6)) is None
    same_as_interpreter(f, np.linspace(-1, 1, 6))


def test_constants_with_both_zero_signs_in_a_row_are_not_banded():
    C = np.eye(6, 8)
    C[2, 6] = -0.0

    def f(x):
        return C * x[:, None]

    assert hull_of(f, np.ones(6)) is None
    D = np.eye(6, 8)
    D[2] *= -1.0  # one row of -0: still one value per row
    assert hull_of(lambda x: D * x[:, None], np.ones(6)) == (0, 0)
    same_as_interpreter(lambda x: D * x[:, None], np.linspace(-1, 1, 6))


def test_wide_bands_keep_the_whole_loop():
    wide = np.triu(np.ones((6, 8)))  # offsets 0..6: more than half a row

    def f(x):
        return (wide * x[:, None]) ** 2

    x = np.linspace(-1, 1, 6)
    assert hull_of(f, x) == (0, 6)  # row 0 is all ones: one value
    assert BAND_LOOP not in pb.jit(f).source(x)
    same_as_interpreter(f, x)


def test_band_in_hessian_of_a_chain():
    def chain(x):
        return np.sum(np.exp(x[1:] * x[:-1])) + np.sum(x[2:] ** 3 * x[:-2])

    x = np.linspace(-3, 3, 30)
    assert hull_of(pb.hessian(chain), x) == (-2, 2)
    assert BAND_LOOP in pb.jit(pb.hessian(chain)).source(x)
    for v in (x, x * 1e3, np.where(x > 2, np.nan, x)):
        same_as_interpreter(pb.hessian(chain), v, exact=False)


# ---------------------------------------------------------------- random programs
POOL = [0.0, -0.0, 1.0, -1.5, 2.0, 0.25, 3e5, -7.0, np.inf, -np.inf, np.nan, 1e200, -1e200, 5e-324]


@st.composite
def banded_programs(draw):
    """(f, x, exact): a random NumPy function of x (n0 rows) built from shifted
    identities, broadcast columns, literals, shifts and elementwise ops, some of
    which (padding columns, a full matrix) leave no band; an input from a pool
    with inf, NaN, -0 and huge values; whether f avoids vecmath functions."""
    n0 = draw(st.integers(4, 9))
    n1 = draw(st.integers(8, 20))
    exact = [True]

    def column():
        kind = draw(st.sampled_from(["x", "sq", "exp", "shift"]))
        if kind == "exp":
            exact[0] = False
        return {"x": lambda x: x[:, None], "sq": lambda x: (x * x)[:, None],
                "exp": lambda x: np.exp(x)[:, None],
                "shift": lambda x: np.pad(x[1:], (0, 1), constant_values=-0.0)[:, None]}[kind]

    def term(depth):
        kinds = ["eye", "scaled"] + (["neg", "add", "sub", "mul", "div", "lit", "col", "pow",
                                      "where", "math", "down", "up", "left", "right", "full"]
                                     if depth else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "eye":
            E = np.eye(n0, n1, k=draw(st.integers(-2, 2))) * draw(st.sampled_from([1.0, -1.0, 2.5, -0.0]))
            return lambda x: E
        if kind == "scaled":
            E = np.eye(n0, n1, k=draw(st.integers(-2, 2)))
            c = column()
            return lambda x: E * c(x)
        if kind == "col":
            c = column()
            a = term(depth - 1)
            return lambda x: a(x) * c(x)
        a = term(depth - 1)
        if kind == "neg":
            return lambda x: -a(x)
        if kind in ("add", "sub", "mul", "div"):
            b = term(depth - 1)
            return {"add": lambda x: a(x) + b(x), "sub": lambda x: a(x) - b(x),
                    "mul": lambda x: a(x) * b(x), "div": lambda x: a(x) / b(x)}[kind]
        if kind == "lit":
            c = draw(st.sampled_from([3.0, -2.0, 0.0, -0.0, 0.5, np.inf]))
            return lambda x: a(x) * c + c
        if kind == "pow":
            y = draw(st.sampled_from([2, 3]))
            return lambda x: a(x) ** y
        if kind == "where":
            b = term(depth - 1)
            return lambda x: np.where(a(x) > b(x), a(x), -b(x))
        if kind == "math":
            exact[0] = False
            return lambda x: np.exp(np.sin(a(x)))
        pv = draw(st.sampled_from([0.0, -0.0, 1.5]))
        if kind == "down":  # rows move down: the band moves left
            return lambda x: np.pad(a(x), ((1, 0), (0, 0)), constant_values=pv)[:n0]
        if kind == "up":
            return lambda x: np.pad(a(x)[1:], ((0, 1), (0, 0)), constant_values=pv)
        if kind == "left":  # columns of the padding value: no band
            return lambda x: np.pad(a(x)[:, 1:], ((0, 0), (0, 1)), constant_values=pv)
        if kind == "right":
            return lambda x: np.pad(a(x), ((0, 0), (1, 0)), constant_values=pv)[:, :n1]
        F = np.arange(n0 * n1, dtype=float).reshape(n0, n1) - 10.0
        return lambda x: a(x) + F  # different values along rows: no band

    f = term(draw(st.integers(1, 4)))
    x = np.array(draw(st.lists(st.sampled_from(POOL) | st.floats(-3, 3), min_size=n0, max_size=n0)))
    return f, x, exact[0]


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not CAMPAIGN,
          suppress_health_check=[HealthCheck.too_slow])
@given(banded_programs())
def test_random_banded_programs_match_the_whole_loop_bit_for_bit(prog):
    f, x, exact = prog
    event("band loop" if BAND_LOOP in pb.jit(f).source(x) else "whole loop")
    same_as_interpreter(f, x, exact)
    same_as_interpreter(f, np.where(np.isfinite(x), x, 0.5), exact)
