"""python -m benchmarks.parallel: pb.jit(f, parallel=True) against the serial pb.jit(f).

    python -m benchmarks.parallel [--workload NAME ...] [--threads N] [--quick]

Unlike the suite, every library may use every core here (the point is to use
them): Numba, OpenMP, OpenBLAS and XLA get N threads (default: the cores this
process may run on), nothing is pinned; glibc trimming stays off. For each
registered workload with a loop that runs as a prange (codegen.PARALLEL_MIN), and
for the elementwise workload's loss itself (a sum over 10^6 elements) and an
ensemble of ODE solves (vmap of a fori_loop: a parallel map per step), it
checks both results against the NumPy reference, then prints the steady-state
medians of pb serial, pb parallel and JAX jit (its own thread pool), timed
round-robin, the speed-up, and the first call of each pb variant (a fresh
function; the parallel one after Numba's threading layer has started). On a
shared 2-core machine the other core is often busy: read the speed-ups as what
this machine gave at that moment (the minima are printed too). --quick times a
few short batches (a smoke run: every cell still checked), as the suite's --quick.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MARK = "PULLBACK_PARALLEL_BENCH_CHILD"


def _reexec(argv, threads):
    """Re-run with every thread count at `threads`, XLA's defaults and glibc trimming off."""
    if os.environ.get(MARK):
        return
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1073741824",
               MALLOC_TRIM_THRESHOLD_="1073741824", JAX_PLATFORMS="cpu", **{MARK: "1"})
    env.update({k: str(threads) for k in THREAD_VARS})
    env.pop("XLA_FLAGS", None)
    env.setdefault("PULLBACK_CACHE_DIR", tempfile.mkdtemp(prefix="pullback-parallel-"))
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks.parallel", *argv], env)


def _loss_workload():
    """The elementwise workload's loss itself, not its gradient: a sum over all 10^6
    elements (a full reduction, which runs in parallel blocks). Not registered: the
    suite times gradients."""
    import numpy as np

    from .workloads import Workload, _elem_case, _elem_f

    def jax_loss(case):
        import jax.numpy as jnp

        return _elem_f(jnp)

    return Workload(name="elementwise_loss", description="sum(log1p(exp(sin(x) * x**2)) / "
                    "(1 + x*x)), x with 10^6 elements", make_case=_elem_case,
                    impls={"pullback": lambda case: _elem_f(np), "jax": jax_loss,
                           "numpy": lambda case: _elem_f(np)})


def _ensemble_workload():
    """A vmapped ODE: 2*10^5 initial values, 200 explicit Euler steps of
    y' = sin(y) - y^2 / 10 in a fori_loop. Each step is a map over the batch: one
    parallel launch per step."""
    import numpy as np

    from .workloads import Case, Workload

    steps, dt = 200, 0.01

    def make(fori):
        def solve(y0):
            return fori(0, steps, lambda i, y: y + dt * (np.sin(y) - y * y * 0.1), y0)
        return solve

    def pullback(case):
        import pullback as pb

        return pb.vmap(make(pb.fori_loop))

    def jax_impl(case):
        import jax
        import jax.numpy as jnp

        def solve(y0):
            return jax.lax.fori_loop(0, steps, lambda i, y: y + dt * (jnp.sin(y) - y * y * 0.1),
                                     y0)
        return jax.vmap(solve)

    def numpy_impl(case):
        def solve(y):
            for _ in range(steps):
                y = y + dt * (np.sin(y) - y * y * 0.1)
            return y
        return solve

    return Workload(name="ensemble_ode", description="vmap of 200 Euler steps over 2*10^5 "
                    "initial values", make_case=lambda quick: Case(
                        (np.random.default_rng(7).uniform(-2.0, 2.0, 200_000),)),
                    impls={"pullback": pullback, "jax": jax_impl, "numpy": numpy_impl})


def _first_call(fn, args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.parallel")
    p.add_argument("--workload", nargs="+", action="extend", metavar="NAME")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0))
                   if hasattr(os, "sched_getaffinity") else os.cpu_count())
    p.add_argument("--quick", action="store_true", help="a smoke run, not for numbers")
    args = p.parse_args(argv)
    _reexec(argv, args.threads)

    import numba
    import numpy as np

    import pullback as pb
    from . import workloads_control_flow  # noqa: F401 - registers its workloads
    from .harness import Settings, interleaved_medians, mismatch
    from .peers import SYSTEMS, numba_startup
    from .report import fmt_time
    from .workloads import WORKLOADS

    numba_startup()
    pb.jit(lambda x: x * 2.0, parallel=True)(np.ones(1 << 17))  # the threading layer's start-up
    jax = None if SYSTEMS["jax"].unavailable() else SYSTEMS["jax"]
    if jax is not None:
        jax.warm_up()
    print(f"# python -m benchmarks.parallel: {numba.config.NUMBA_NUM_THREADS} Numba threads "
          f"({numba.threading_layer()} layer), {len(os.sched_getaffinity(0))} cores allowed, "
          "steady-state medians (min)")
    print("| workload | prange loops | pb serial | pb parallel | JAX jit | speed-up | "
          "first call serial | first call parallel |")
    print("|---|---|---|---|---|---|---|---|")
    everything = dict(WORKLOADS, elementwise_loss=_loss_workload(),
                      ensemble_ode=_ensemble_workload())
    for name in args.workload or list(everything):
        w = everything[name]
        if "pullback" not in w.impls:
            continue
        case = w.make_case(False)
        make = w.impls["pullback"]
        par = pb.jit(make(case), parallel=True)
        loops = par.source(*case.args).count("_prange(")
        if not loops:
            continue
        ser = pb.jit(make(case))
        ref = w.impls["numpy"](case)(*case.args)
        out_s, first_s = _first_call(ser, case.args)
        out_p, first_p = _first_call(pb.jit(make(case), parallel=True), case.args)
        bad = mismatch(out_s, ref, w.rtol, w.atol) or mismatch(out_p, ref, w.rtol, w.atol)
        if bad:
            print(f"| {name} | {loops} | wrong result: {bad} |")
            continue
        runners = {"serial": lambda: ser(*case.args), "parallel": lambda: par(*case.args)}
        if jax is not None:
            runners["jax"] = jax.runner(w, case)
        med = interleaved_medians(runners, Settings(quick=args.quick))
        t = {k: v["median_s"] for k, v in med.items()}
        lo = {k: v["min_s"] for k, v in med.items()}
        cell = {k: f"{fmt_time(t[k])} ({fmt_time(lo[k])})" for k in t}
        print(f"| {name} | {loops} | {cell['serial']} | {cell['parallel']} | "
              f"{cell.get('jax', 'n/a')} | {t['serial'] / t['parallel']:.2f}× | "
              f"{fmt_time(first_s)} | {fmt_time(first_p)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
