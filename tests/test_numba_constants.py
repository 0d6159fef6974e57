"""Diagonal constants (readers.diagonal): a 2-d constant holding one value on one
diagonal and +0 elsewhere (the slices of an AD basis: identities, shifted
identities) that only fused loops read is an index compare in the kernel, not an
argument. Values must be bit-equal to the interpreter's; any other constant, or
one a product or the result needs as an array, stays an argument."""
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb
from passes_util import assert_bits
from pullback.backends.numba.readers import diagonal

EXAMPLES = int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "25"))


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)


def kernel_args(f, *args):
    """The parameter names of f's generated kernel."""
    head = re.search(r"def kernel_py\((.*)\):", pb.jit(f).source(*args)).group(1)
    return [a for a in head.split(", ") if a]


def same_as_interpreter(f, *args):
    with np.errstate(all="ignore"):
        got = pb.jit(f)(*args)
        want = pb.jit(f, backend="interpreter")(*args)
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,)):
        assert_bits(g, w)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_hessian_basis_slices_are_not_arguments():
    x = np.linspace(-1.0, 1.5, 30)
    h = pb.hessian(rosen)
    consts = pb.jit(h).ir(x).consts
    assert len(consts) == 3 and all(np.ndim(c) == 2 for c in consts)  # eye(29, 30) and kin
    assert len(kernel_args(h, x)) == 1  # x alone
    same_as_interpreter(h, x)


@pytest.mark.parametrize("shape, k", [((3, 4), 1), ((3, 4), 0), ((5, 2), -2), ((4, 4), 3),
                                      ((4, 4), -3), ((1, 1), 0), ((1, 5), 4), ((6, 1), -5)])
@pytest.mark.parametrize("value", [2.5, -1.0, np.inf, np.nan])
def test_diagonal_constant_is_a_compare(shape, k, value):
    c = np.zeros(shape)
    for i in range(shape[0]):
        if 0 <= i + k < shape[1]:
            c[i, i + k] = value
    x = np.linspace(-2.0, 3.0, c.size).reshape(shape)

    def f(x):
        return (x + c) * c.T.T - c

    assert diagonal(c) is not None
    assert len(kernel_args(f, x)) == 1
    same_as_interpreter(f, x)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.bool_])
def test_diagonal_constant_keeps_its_dtype(dtype):
    c = np.eye(4, 5, 1, dtype=dtype)
    x = np.arange(20).reshape(4, 5).astype(dtype)

    def f(x):
        return x * c if dtype != np.bool_ else x & c

    assert len(kernel_args(f, x)) == 1
    same_as_interpreter(f, x)
    assert pb.jit(f)(x).dtype == dtype


@pytest.mark.parametrize("c", [
    -np.eye(3),  # its zeros are -0.0: a compare would give +0.0
    np.diag([1.0, 2.0, 3.0]),  # two values on the diagonal
    np.eye(3) + np.eye(3, k=1),  # two diagonals
    np.eye(3)[::-1],  # an anti-diagonal
], ids=["negative-zeros", "two-values", "two-diagonals", "anti-diagonal"])
def test_other_constants_stay_arguments(c):
    x = np.linspace(-1.0, 1.0, 9).reshape(3, 3)

    def f(x):
        return x * c

    assert diagonal(c) is None
    assert len(kernel_args(f, x)) == 2
    same_as_interpreter(f, x)


def test_diagonal_recognizes_only_diagonals():
    assert diagonal(np.eye(3, 5, -1) * 7) is not None
    for c in (np.ones((3, 3)), np.zeros((3, 3)), np.eye(3)[0], np.zeros((0, 3)),
              np.eye(4).reshape(2, 2, 2, 2), np.eye(3, dtype=np.complex128)):
        assert diagonal(c) is None


def test_constant_a_product_or_the_result_needs_stays_an_argument():
    c = np.eye(40)
    x = np.linspace(-1.0, 1.0, 1600).reshape(40, 40)
    assert len(kernel_args(lambda x: x @ c + 1.0, x)) == 2  # BLAS reads the array
    same_as_interpreter(lambda x: x @ c + 1.0, x)
    assert len(kernel_args(lambda x: (x * c, c), x)) == 2  # returned as is
    same_as_interpreter(lambda x: (x * c, c), x)


@st.composite
def diagonal_programs(draw):
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    k = draw(st.integers(-rows + 1, cols - 1))
    value = draw(st.sampled_from([1.0, 2.0, -0.5, np.inf, -np.inf, np.nan, 1e300, 5e-324]))
    c = np.zeros((rows, cols))
    for i in range(rows):
        if 0 <= i + k < cols:
            c[i, i + k] = value
    if draw(st.booleans()):  # one element off: no longer a diagonal, or still one
        i, j = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
        c[i, j] = draw(st.sampled_from([0.0, -0.0, value, 3.0]))
    x = draw(st.sampled_from([np.linspace(-2.0, 2.0, rows * cols),
                              np.array([np.inf, -0.0, np.nan, 1e308, -1.0, 0.0] * 6)[:rows * cols]]))
    return c, x.reshape(rows, cols)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(diagonal_programs())
def test_diagonal_constants_random(case):
    c, x = case

    def f(x):
        return np.maximum(x * c, c / 3.0) - c[::-1, ::-1] * x + c.T.sum(axis=0).sum()

    same_as_interpreter(f, x)
    # the passes fold c[::-1, ::-1] and the sum into constants of their own: every
    # one that is not a diagonal is an argument after x
    consts = pb.jit(f).ir(x).consts
    assert len(kernel_args(f, x)) == 1 + sum(diagonal(k) is None for k in consts if np.ndim(k))


def test_a_constant_of_zeros_of_both_signs_is_not_filled_with_one():
    # "one value everywhere" is bitwise: 0.0 and -0.0 differ (np.array_equal: equal)
    C = np.array([0.0, -0.0])
    h = pb.grad(lambda x: np.sum(x[1:] * C))
    assert_bits(pb.jit(h)(np.ones(3)), np.array([0.0, 0.0, -0.0]))
