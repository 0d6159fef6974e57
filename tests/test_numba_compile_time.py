"""What keeps the numba backend's compile time down, checked on values.

No timing is asserted (the machine is shared); the tests check the properties
the compile time depends on (helper specializations, per-dtype math intrinsics,
no array .reshape in kernels) and that the lowerings they rely on give the
right numbers.
"""
import re

import numpy as np
import pytest

import pullback as pb
from pullback.backends.numba import helpers as _h
from pullback.tracer import lax


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)
    return tmp_path


def test_compile_time_core_measures_a_workload(tmp_cache):
    from benchmarks.compile_time import measure

    res = measure("grad_sin")
    assert res["status"] == "ok"  # the kernel's result equals the hand-written gradient
    assert res["trace_s"] > 0 and res["compile_s"] > 0 and res["compile_cpu_s"] > 0
    assert res["lines"] > 5


def test_helpers_are_typed_without_literal_shapes(tmp_cache):
    # two shapes, one specialization of each helper: Literal[int] shapes would give two
    def f(x):
        return np.sin(x) * 2.0, np.cumsum(x, axis=0)

    for shape in [(3, 5), (4, 7)]:
        x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        y, c = pb.jit(f)(x)
        np.testing.assert_allclose(y, np.sin(x) * 2.0, rtol=1e-15)
        np.testing.assert_array_equal(c, np.cumsum(x, axis=0))
    for helper in (_h.empty, _h.reshape, _h.cumsum2):
        sigs = [str(s) for s in helper.signatures]
        assert sigs and not any("Literal" in s for s in sigs), (helper, sigs)


def test_kernels_call_no_array_reshape_and_typed_math_intrinsics(tmp_cache):
    def f(x, y):
        a = np.tanh(x) + np.exp(x) * np.log1p(np.abs(x))
        return a @ y, np.sum(np.exp(y.astype(np.float32)))

    x = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    y = np.linspace(0.5, 1.5, 8).reshape(4, 2)
    jf = pb.jit(f)
    src = jf.source(x, y)
    assert not re.search(r"(?<!_h)\.reshape\(", src)  # only the cached helper _h.reshape
    assert "_vm.tanh_f64(" in src and "_vm.exp_f32(" in src
    m, s = jf(x, y)
    np.testing.assert_allclose(m, (np.tanh(x) + np.exp(x) * np.log1p(np.abs(x))) @ y, rtol=1e-13)
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, np.sum(np.exp(y.astype(np.float32))), rtol=1e-6)


@pytest.mark.parametrize("lshape,rshape,dims", [
    ((5, 6), (6, 3, 4), (((1,), (0,)), ((), ()))),        # 3-d result, helper gives (1, 5, 12)
    ((40, 30), (30,), (((1,), (0,)), ((), ()))),          # matrix-vector through BLAS
    ((7,), (7,), (((0,), (0,)), ((), ()))),               # 0-d result
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),  # batched
])
def test_dot_general_results_reshaped_to_their_shape(tmp_cache, lshape, rshape, dims):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(lshape), rng.standard_normal(rshape)

    def f(a, b):
        return lax.dot_general(a, b, dims)

    got = pb.jit(f)(a, b)
    want = pb.jit(f, backend="interpreter")(a, b)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
