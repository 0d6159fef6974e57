"""ns/element of NumPy's ufunc, a Numba loop calling `math.*`, and a Numba
loop calling pullback's vectorizable kernels (backends/numba/vecmath.py).

    python benchmarks/vecmath_bench.py [n]

Runs one thread, pinned to one core (taskset -c 1 when available), with
glibc's trimming off; the script re-executes itself with that environment.
Output arrays are preallocated for all three, so only the math is timed.
"""
import os
import shutil
import sys

_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
        "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}

if os.environ.get("_VECMATH_BENCH_CHILD") != "1":
    env = dict(os.environ, _VECMATH_BENCH_CHILD="1", **_ENV)
    cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    os.execvpe(cmd[0], cmd, env)

import math  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

from pullback.backends.numba import vecmath as vm  # noqa: E402


def _numpy_logistic(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


try:
    from scipy.special import expit as _expit

    def numpy_logistic(x, out):
        _expit(x, out=out)
    LOGISTIC_NAME = "scipy expit"
except ImportError:       # pragma: no cover
    numpy_logistic = _numpy_logistic
    LOGISTIC_NAME = "numpy 1/(1+exp(-x))"

NUMPY = {"exp": lambda x, o: np.exp(x, out=o), "expm1": lambda x, o: np.expm1(x, out=o),
         "log": lambda x, o: np.log(x, out=o), "log1p": lambda x, o: np.log1p(x, out=o),
         "tanh": lambda x, o: np.tanh(x, out=o), "logistic": numpy_logistic,
         "sin": lambda x, o: np.sin(x, out=o), "cos": lambda x, o: np.cos(x, out=o)}


@numba.njit
def math_exp(a, out):
    for i in range(a.shape[0]):
        out[i] = math.exp(a[i])


@numba.njit
def math_expm1(a, out):
    for i in range(a.shape[0]):
        out[i] = math.expm1(a[i])


@numba.njit
def math_log(a, out):
    for i in range(a.shape[0]):
        out[i] = math.log(a[i])


@numba.njit
def math_log1p(a, out):
    for i in range(a.shape[0]):
        out[i] = math.log1p(a[i])


@numba.njit
def math_tanh(a, out):
    for i in range(a.shape[0]):
        out[i] = math.tanh(a[i])


@numba.njit
def math_logistic(a, out):
    for i in range(a.shape[0]):
        out[i] = 1.0 / (1.0 + math.exp(-a[i]))


@numba.njit
def math_sin(a, out):
    for i in range(a.shape[0]):
        out[i] = math.sin(a[i])


@numba.njit
def math_cos(a, out):
    for i in range(a.shape[0]):
        out[i] = math.cos(a[i])


MATH = {"exp": math_exp, "expm1": math_expm1, "log": math_log, "log1p": math_log1p,
        "tanh": math_tanh, "logistic": math_logistic, "sin": math_sin, "cos": math_cos}
RANGES = {"exp": (-10, 10), "expm1": (-5, 5), "log": (1e-3, 1e3), "log1p": (-0.9, 10),
          "tanh": (-5, 5), "logistic": (-10, 10), "sin": (-10, 10), "cos": (-10, 10)}


def time_round_robin(fns, x, out, repeats):
    """Median and min ns/element of each fn; the fns take turns so that load
    from other processes on the machine hits all of them alike."""
    for fn in fns:
        fn(x, out)                               # compile / warm caches
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter_ns()
            fn(x, out)
            t.append(time.perf_counter_ns() - t0)
    return [(float(np.median(t)) / x.size, min(t) / x.size) for t in times]


def main(n=1_000_000, repeats=31):
    rng = np.random.default_rng(0)
    print(f"n={n}, one thread, pinned, median (min) of {repeats} runs; ns per element; "
          f"NumPy column for logistic is {LOGISTIC_NAME}")
    print(f"{'function':9s} {'dtype':7s} {'numpy':>13s} {'numba math.*':>13s} "
          f"{'vecmath':>13s} {'vs numpy':>9s} {'vs math':>8s}")
    for name in NUMPY:
        for dtype in (np.float64, np.float32):
            lo, hi = RANGES[name]
            x = rng.uniform(lo, hi, n).astype(dtype)
            out = np.empty_like(x)
            (t_np, m_np), (t_math, m_math), (t_vm, m_vm) = time_round_robin(
                [NUMPY[name], MATH[name], vm._LOOPS[name]], x, out, repeats)
            print(f"{name:9s} {np.dtype(dtype).name:7s} {t_np:6.2f} ({m_np:4.2f}) "
                  f"{t_math:6.2f} ({m_math:4.2f}) {t_vm:6.2f} ({m_vm:4.2f}) "
                  f"{t_vm / t_np:8.2f}x {t_vm / t_math:7.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
