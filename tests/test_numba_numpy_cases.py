"""Every NumPy entry of the foundation table (tests/test_numpy_api.py NUMPY_CASES),
compiled by the numba backend, equals the interpreter.

Compiling ~900 tiny kernels would cost minutes of Numba time, so cases are packed
into chunks: one jitted function takes every case's arguments of a chunk and
returns every case's result (one kernel per chunk). A failing chunk is bisected
to name the failing case.

Numba needs ~10 minutes of LLVM time for all cases, over the shared CI budget:
by default every 6th case runs (a deterministic, type-diverse sample, ~2 minutes);
PULLBACK_ALL_NUMPY_CASES=1 runs all of them (all pass; last full run: 583 s).
"""
import os
import sys

import numpy as np
import pytest

import pullback as pb

sys.path.insert(0, os.path.dirname(__file__))
from test_numpy_api import NUMPY_CASES  # noqa: E402

CHUNK = 40
_STEP = 1 if os.environ.get("PULLBACK_ALL_NUMPY_CASES") == "1" else 6
_SELECTED = NUMPY_CASES[::_STEP]
CHUNKS = [_SELECTED[i:i + CHUNK] for i in range(0, len(_SELECTED), CHUNK)]


def _combined(cases):
    fns = [fn for _, fn, _ in cases]

    def run_all(all_args):
        return tuple(fn(*args) for fn, args in zip(fns, all_args))

    return run_all


def _leaves(t):
    if isinstance(t, (tuple, list)):
        return [x for c in t for x in _leaves(c)]
    if isinstance(t, dict):
        return [x for k in sorted(t, key=repr) for x in _leaves(t[k])]
    return [t]


def _compare(got, want, names):
    for name, g, w in zip(names, got, want):
        gl, wl = _leaves(g), _leaves(w)
        assert len(gl) == len(wl), name
        for x, y in zip(gl, wl):
            x, y = np.asarray(x), np.asarray(y)
            assert x.shape == y.shape and x.dtype == y.dtype, (name, x.shape, y.shape, x.dtype, y.dtype)
            if y.dtype.kind == "f":
                tol = 2e-5 if y.dtype == np.float32 else 1e-10
                np.testing.assert_allclose(x, y, rtol=tol, atol=tol * 1e-3, equal_nan=True,
                                           err_msg=name)
            else:
                np.testing.assert_array_equal(x, y, err_msg=name)


def _check(cases):
    names = [n for n, _, _ in cases]
    all_args = tuple(tuple(mk()) for _, _, mk in cases)
    f = _combined(cases)
    with np.errstate(all="ignore"):
        want = pb.jit(f, backend="interpreter")(all_args)
        got = pb.jit(f)(all_args)
    _compare(got, want, names)


def _bisect(cases):
    """The smallest failing sub-chunk's error (only runs when a chunk fails)."""
    while len(cases) > 1:
        half = len(cases) // 2
        for part in (cases[:half], cases[half:]):
            try:
                _check(part)
            except Exception:
                cases = part
                break
        else:
            return None
    return cases[0][0]


@pytest.mark.parametrize("k", range(len(CHUNKS)))
def test_numpy_cases_compiled_equal_interpreter(k):
    cases = CHUNKS[k]
    try:
        _check(cases)
    except Exception as e:
        bad = _bisect(cases)
        raise AssertionError(f"case {bad!r} fails under the numba backend: {e}") from e
