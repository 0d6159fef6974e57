"""What `import pullback` loads, and what is deferred to first use.

Each check runs in a fresh interpreter (the test process has imported everything
already), reading `sys.modules` rather than timing anything.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import pullback as pb
from pullback.tracer import lax


def _modules_after(code):
    """The names among HEAVY found in sys.modules after running `code` in a new process."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = ("scipy", "scipy.special", "numba", "llvmlite", "pullback.backends.numba",
         "pullback.passes.manager")


def test_import_pullback_loads_no_scipy_or_numba():
    assert _modules_after("import pullback") == []


def test_interpreter_backend_needs_no_numba():
    loaded = _modules_after(
        "import numpy as np, pullback as pb\n"
        "assert pb.jit(lambda x: np.sin(x) * 2, backend='interpreter')(1.0) == 2 * np.sin(1.0)")
    assert "numba" not in loaded and "scipy.special" not in loaded


def test_scipy_special_loads_on_first_erf():
    loaded = _modules_after(
        "import math, numpy as np, pullback as pb\n"
        "from pullback.tracer import lax\n"
        "got = pb.jit(lax.erf, backend='interpreter')(np.array([0.5]))\n"
        "assert abs(got[0] - math.erf(0.5)) < 1e-15, got")
    assert "scipy.special" in loaded


X = np.array([-30.0, -3.0, -0.5, -1e-300, 0.0, 5e-324, 0.3, 2.0, 6.0, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lazy_erf_values_and_dtype(dtype):
    x = X.astype(dtype)
    got = pb.jit(lax.erf, backend="interpreter")(x)
    assert got.dtype == dtype
    want = np.array([math.erf(float(v)) if not np.isnan(v) else np.nan for v in x])
    np.testing.assert_allclose(got, want.astype(dtype), rtol=4 * np.finfo(dtype).eps,
                               atol=0, equal_nan=True)


def test_lazy_erf_derivative():
    # d/dx erf(x) = 2/sqrt(pi) exp(-x^2), through the interpreter's erf on concrete values
    for x in (-1.5, 0.0, 0.3, 2.0):
        assert pb.grad(lax.erf)(x) == pytest.approx(2 / math.sqrt(math.pi) * math.exp(-x * x),
                                                    rel=1e-14)


def test_jit_construction_sets_up_the_numba_backend():
    """pb.jit(f) (not its first call) imports the backend, the helpers kernels call
    and the pass pipeline: one-time per-process work, kept out of first calls."""
    loaded = _modules_after(
        "import numpy as np, pullback as pb\n"
        "f = pb.jit(lambda x: np.exp(x) + 1.0)\n"
        "import sys\n"
        "assert 'pullback.backends.numba.helpers' in sys.modules\n"
        "assert 'pullback.backends.numba.vecmath' in sys.modules\n")
    assert {"numba", "pullback.backends.numba", "pullback.passes.manager"} <= set(loaded)
    assert "scipy.special" not in loaded


def test_first_call_imports_nothing_after_construction(tmp_path):
    """The one-time set-up is done by pb.jit(f): its first call in a new process
    with a warm disk cache (trace, passes, codegen, kernel load) imports no module
    but the generated kernel itself, once Numba itself has started (its first
    compilation or cache load in a process imports its typing and lowering
    registries, ~150 modules: Numba's start-up, measured apart by the benchmarks)."""
    code = (
        "import sys, json, numpy as np, numba, pullback as pb\n"
        "f = pb.jit(pb.grad(lambda x: np.sum(np.exp(np.tanh(x)) * x)))\n"
        "numba.njit(lambda x: x + 1.0)(1.0)  # Numba's own start-up\n"
        "before = set(sys.modules)\n"
        "x = np.linspace(-1.0, 1.0, 5)\n"
        "g = f(x)\n"
        "t = np.tanh(x)\n"
        "want = np.exp(t) * (1 - t * t) * x + np.exp(t)\n"
        "assert np.allclose(g, want, rtol=1e-12), (g, want)\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before\n"
        "                        if not m.startswith('_pullback_kernel_'))))\n")
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path))
    env.pop("PULLBACK_CACHE", None)
    for _ in range(2):  # the first process compiles and fills the cache
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300, env=env)
        assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
