"""Helpers that kernels call by symbol (backends/numba/externs.py)."""
import os
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

import pullback as pb
from pullback.backends.numba import helpers as _h


@numba.njit
def _argsort(x):
    return _h.extern("argsort2", "f8[2]", x)


@numba.njit
def _solve(a, b, err):
    return _h.extern("solve3", "f8[3];f8[3];i8[1]", a, b, err)


def test_extern_call_is_a_declared_symbol_not_linked_code():
    x = np.array([[3.0, 1.0, np.nan, 2.0, 1.0]])
    np.testing.assert_array_equal(_argsort(x), np.argsort(x, kind="stable"))
    llvm_ir = _argsort.inspect_llvm(_argsort.signatures[0])
    assert re.search(r"declare .*@\"?pullback_argsort2__f8_2_", llvm_ir)
    # the merge sort's body is not in the caller's module
    assert not re.search(r"define [^\n]*argsort2", llvm_ir)


def test_extern_arguments_non_contiguous_and_readonly():
    base = np.array([[5.0, 0.0, 4.0, 0.0, 3.0, 0.0, 3.0, 0.0]])
    np.testing.assert_array_equal(_argsort(base[:, ::2]), [[2, 3, 1, 0]])  # copied to C
    ro = base.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(_argsort(ro), np.argsort(base, kind="stable"))


def test_extern_helper_status_and_kernel_errors():
    # a LAPACK helper reports failure in its status array (helpers.LINALG_ERRORS)
    err = np.zeros(1, np.int64)
    _solve(np.zeros((1, 2, 2)), np.ones((1, 2, 1)), err)
    assert err[0] == _h.SINGULAR
    err[0] = 0
    a = np.array([[[2.0, 1.0], [1.0, 3.0]]])
    b = np.array([[[1.0], [2.0]]])
    np.testing.assert_allclose(_solve(a, b, err), np.linalg.solve(a, b), rtol=1e-15)
    assert err[0] == 0
    # a kernel returns at once on it, and its entry raises NumPy's error
    f = pb.jit(lambda a, b: (np.linalg.solve(a, b), np.linalg.cholesky(a)))
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        f(np.zeros((2, 2)), np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        f(-np.eye(2), np.ones(2))


def test_failing_lapack_calls_do_not_leak(tmp_path):
    # raising inside compiled code freed none of the kernel's arrays (Numba #1549);
    # Numba counts allocations only when NUMBA_NRT_STATS is set at its start
    child = """
import numpy as np, pullback as pb
from numba.core.runtime import rtsys
f = pb.jit(lambda A, b: np.linalg.solve(A @ A.T, b * 2.0))
A, b = np.zeros((20, 20)), np.ones(20)
def fail():
    try:
        f(A, b)
    except np.linalg.LinAlgError:
        return
    raise AssertionError("no LinAlgError")
fail()
before = rtsys.get_allocation_stats()
for _ in range(20):
    fail()
after = rtsys.get_allocation_stats()
print(after.alloc - before.alloc, after.free - before.free)
"""
    env = dict(os.environ, NUMBA_NRT_STATS="1", PULLBACK_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    allocs, frees = map(int, out.stdout.split())
    assert allocs > 0 and allocs == frees


def test_extern_spec_must_match_arguments():
    @numba.njit
    def bad(x):
        return _h.extern("argsort2", "f8[1]", x)

    with pytest.raises(TypingError, match=r"declared 'f8\[1\]', called with 'f8\[2\]'"):
        bad(np.ones((1, 3)))


def test_kernel_module_publishes_its_extern_helpers_first():
    f = pb.jit(lambda v: np.sort(v) + np.cumsum(v[::-1]))
    v = np.array([2.0, -1.0, 0.5])
    np.testing.assert_array_equal(f(v), np.sort(v) + np.cumsum(v[::-1]))
    src = f.source(v)
    header = src[:src.index("def kernel_py(")]
    calls = set(re.findall(r"_h\.extern\('(\w+)', '([^']*)'", src))
    assert calls == {("argsort2", "f8[2]"), ("cumsum2", "f8[2];b1")}
    for name, spec in calls:
        assert f"_h.require({name!r}, {spec!r})" in header
