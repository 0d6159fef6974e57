"""pullback's first call per workload, split into trace+passes and Numba compile time.

    python -m benchmarks.compile_time [--repeat N] [--workload NAME ...]

Each measurement runs in a fresh process (the harness's conditions: one thread
per library, pinned to one core, glibc trimming off) with an empty
PULLBACK_CACHE_DIR, after Numba's one-time start-up is paid on a trivial njit
function, so the numbers are what a new user process pays for one workload
alone (no subroutine compiled for an earlier workload is reused). Printed per
workload: the medians of trace+passes+codegen (`pb.jit(...).ir(*args)`) and of
the Numba compile (the first call minus that), the generated source's lines,
and JAX's first call, measured the same way (fresh processes interleaved with
pullback's, after JAX's start-up), with the ratio of pullback's whole first call
to it (issue 5's goal: <= 2), of the medians and of the minima.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def measure(name, quick=False):
    """One workload's first call in this process: {trace_s, compile_s, lines, status}."""
    import pullback as pb

    from .harness import mismatch
    from .workloads import WORKLOADS
    from . import workloads_control_flow  # noqa: F401 - registers its workloads

    w = WORKLOADS[name]
    case = w.make_case(quick)
    j = pb.jit(w.impls["pullback"](case))
    t0 = time.perf_counter()
    j.ir(*case.args)  # trace, passes, code generation (Numba compiles lazily)
    t1, c1 = time.perf_counter(), time.process_time()
    out = j(*case.args)
    t2, c2 = time.perf_counter(), time.process_time()
    bad = mismatch(out, w.impls["numpy"](case)(*case.args), w.rtol, w.atol)
    # CPU seconds too: on a shared machine they swing less than wall time
    return {"trace_s": t1 - t0, "compile_s": t2 - t1, "compile_cpu_s": c2 - c1,
            "lines": j.source(*case.args).count("\n"),
            "status": "wrong result: " + bad if bad else "ok"}


def measure_jax(name, quick=False):
    """JAX's first call of the workload in this process (after JAX's start-up)."""
    from .peers import SYSTEMS
    from .workloads import WORKLOADS
    from . import workloads_control_flow  # noqa: F401

    jax = SYSTEMS["jax"]
    jax.warm_up()
    w = WORKLOADS[name]
    case = w.make_case(quick)
    run = jax.runner(w, case)
    t0 = time.perf_counter()
    run()
    return {"jax_first_s": time.perf_counter() - t0}


def _child(name, quick, system):
    if system == "jax":
        print(json.dumps(measure_jax(name, quick)))
        return
    from .peers import numba_startup

    numba_startup()  # as the harness's warm-up
    print(json.dumps(measure(name, quick)))


def run_fresh(name, quick=False, system="pullback"):
    """measure(name) (or measure_jax) in a new process with an empty kernel cache."""
    from .harness import CONDITIONS

    with tempfile.TemporaryDirectory(prefix="pullback-ct-") as d:
        env = dict(os.environ, **CONDITIONS, PULLBACK_CACHE_DIR=d)
        env.pop("PULLBACK_CACHE", None)
        cmd = [sys.executable, "-m", "benchmarks.compile_time", "--child", name,
               "--child-system", system]
        if quick:
            cmd.append("--quick")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        p = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    if p.returncode:
        return {"status": "error: " + (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.compile_time")
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per workload")
    p.add_argument("--workload", nargs="+", action="extend", metavar="NAME")
    p.add_argument("--quick", action="store_true", help="the workloads' --quick sizes")
    p.add_argument("--no-jax", action="store_true", help="skip JAX's first calls")
    p.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--child-system", default="pullback", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
        _child(args.child, args.quick, args.child_system)
        return 0
    from .peers import SYSTEMS
    from .workloads import WORKLOADS
    from . import workloads_control_flow  # noqa: F401

    names = args.workload or list(WORKLOADS)
    with_jax = not args.no_jax and not SYSTEMS["jax"].unavailable()
    print(f"# python -m benchmarks.compile_time --repeat {args.repeat}: medians of fresh processes")
    print(f"{'workload':20s} {'trace+passes s':>14s} {'numba s':>8s} {'(cpu s)':>8s} {'lines':>6s} "
          f"{'jax first s':>11s} {'ratio':>6s} {'min ratio':>9s}  status")
    for name in names:
        runs, jax_runs = [], []
        for _ in range(args.repeat):  # interleaved: both sides see the same machine load
            runs.append(run_fresh(name, args.quick))
            if with_jax:
                jax_runs.append(run_fresh(name, args.quick, "jax"))
        ok = [r for r in runs if "compile_s" in r]
        if not ok:
            print(f"{name:20s} {runs[0]['status']}")
            continue
        tr = statistics.median(r["trace_s"] for r in ok)
        co = statistics.median(r["compile_s"] for r in ok)
        cpu = statistics.median(r["compile_cpu_s"] for r in ok)
        jax_ok = [r["jax_first_s"] for r in jax_runs if "jax_first_s" in r]
        jf = statistics.median(jax_ok) if jax_ok else None
        ratio = f"{(tr + co) / jf:6.2f}" if jf else "     -"
        # the minima too: on a shared machine load only ever adds time
        best = min(r["trace_s"] + r["compile_s"] for r in ok)
        min_ratio = f"{best / min(jax_ok):9.2f}" if jax_ok else "        -"
        status = sorted({r["status"] for r in runs})
        print(f"{name:20s} {tr:14.3f} {co:8.3f} {cpu:8.3f} {ok[0]['lines']:6d} "
              f"{jf if jf else float('nan'):11.3f} {ratio} {min_ratio}  {', '.join(status)}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
