"""Measurement: conditions, correctness checks, first calls, interleaved medians.

Every (workload, system) cell is independent: an exception while building,
calling or checking one cell is recorded as "error: <one line>" and the run goes on.

Conditions (issue 5, "Measured"): one thread per library, the process pinned to
one core, glibc's trimming off. Environment variables only take effect when set
before the process starts, so `ensure_conditions` re-executes the interpreter
with them unless they are already in place.
"""
from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CONDITIONS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "JAX_PLATFORMS": "cpu",
    "MALLOC_MMAP_THRESHOLD_": "1073741824",
    "MALLOC_TRIM_THRESHOLD_": "1073741824",
}
REEXEC_MARK = "PULLBACK_BENCH_CHILD"


def conditions_met(env=None):
    env = os.environ if env is None else env
    return all(env.get(k) == v for k, v in CONDITIONS.items()) and "PULLBACK_CACHE_DIR" in env


def ensure_conditions(argv, module="benchmarks"):
    """Re-execute `python -m module argv` with the measurement environment if needed.

    A fresh PULLBACK_CACHE_DIR is created unless the caller set one, so pullback's
    first calls are cold and the warm-cache process can reuse exactly that cache.
    """
    if conditions_met() or os.environ.get(REEXEC_MARK):
        return
    env = dict(os.environ)
    env.update(CONDITIONS)
    if "PULLBACK_CACHE_DIR" not in env:
        env["PULLBACK_CACHE_DIR"] = tempfile.mkdtemp(prefix="pullback-bench-cache-")
        env["PULLBACK_BENCH_OWN_CACHE"] = "1"  # ours to delete at the end
    env[REEXEC_MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def pin_to_one_core(cpu=None):
    """Pin this process to one core (the last allowed one unless given); return it."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {cpu})
    return cpu


def one_line(exc):
    msg = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {msg[0] if msg else ''}".strip()
    return text if len(text) <= 160 else text[:157] + "..."


# ------------------------------------------------------------------ results
def leaves(out):
    """A result as a flat list of float arrays (dicts by sorted key, sequences in order)."""
    import numpy as np

    if isinstance(out, dict):
        return [x for k in sorted(out) for x in leaves(out[k])]
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in leaves(o)]
    return [np.asarray(out)]


def mismatch(out, ref, rtol, atol):
    """None if out equals ref within tolerance, else a one-line description."""
    import numpy as np

    got, want = leaves(out), leaves(ref)
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            return f"output {i} has shape {g.shape}, expected {w.shape}"
        scale = max(1.0, float(np.max(np.abs(w))) if w.size else 1.0)
        if not np.allclose(g, w, rtol=rtol, atol=atol * scale, equal_nan=True):
            err = float(np.max(np.abs(g.astype(np.float64) - w)))
            return f"output {i} max abs error {err:.3g}"
    return None


# ------------------------------------------------------------------ timing
class Settings:
    """How long to time. --quick is a smoke run (every cell still checked), not
    for numbers: a few short batches, and a slow cell's checking call serves as
    its one sample once it exceeds the cap."""

    def __init__(self, quick):
        self.quick = quick
        # Per batch of calls: long enough that the timer's resolution is irrelevant.
        self.batch_s = 0.001 if quick else 0.01
        self.min_rounds = 3 if quick else 9
        self.max_rounds = 5 if quick else 200
        self.budget_s = 0.15 if quick else 4.0  # per workload, across all its systems
        self.cap_s = 0.5 if quick else 30.0     # stop even below min_rounds


def _time_batch(fn, inner):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - t0) / inner
    finally:
        if gc_was:
            gc.enable()


def interleaved_medians(runners, settings, estimates=None):
    """Median seconds per call of each runner, timed round-robin in batches.

    `estimates` (seconds per call, e.g. from the checking call) size the batches;
    runners without one are called once to measure it.
    """
    estimates = estimates or {}
    inner = {}
    samples = {name: [] for name in runners}
    for name, fn in list(runners.items()):
        t = estimates.get(name) or _time_batch(fn, 1)
        inner[name] = max(1, int(settings.batch_s / max(t, 1e-9)))
        if t >= settings.cap_s:
            # One call exceeds the whole time cap: its single timed call is the sample.
            samples[name].append(t)
            runners = {k: v for k, v in runners.items() if k != name}
    start = time.perf_counter()
    rounds = 0
    while rounds < settings.max_rounds:
        for name, fn in runners.items():
            samples[name].append(_time_batch(fn, inner[name]))
        rounds += 1
        spent = time.perf_counter() - start
        if rounds >= settings.min_rounds and spent >= settings.budget_s:
            break
        if spent >= settings.cap_s:
            break
    return {name: {"median_s": statistics.median(s), "samples": len(s),
                   "calls_per_sample": inner[name],
                   "min_s": min(s)} for name, s in samples.items()}


# ------------------------------------------------------------------ equation counts
def count_eqns(ir):
    """Equations of an IR, sub-IRs included."""
    n = len(ir.eqns)
    for _, _, sub in ir.subirs():
        n += count_eqns(sub)
    return n


def _count_jaxpr(jaxpr):
    n = 0
    for eqn in jaxpr.eqns:
        n += 1
        for v in eqn.params.values():
            for sub in (v if isinstance(v, (tuple, list)) else (v,)):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None and hasattr(inner, "eqns"):
                    n += _count_jaxpr(inner)
                elif hasattr(sub, "eqns"):
                    n += _count_jaxpr(sub)
    return n


def eqn_counts(workload, case, with_jax=True, with_pullback=True):
    """{'pullback_raw', 'pullback_opt', 'jax', 'jax_inlined'}: ints or 'error: ...'."""
    counts = {}
    if not with_pullback:
        counts["pullback_raw"] = counts["pullback_opt"] = "skipped: not requested"
    else:
        counts.update(_pullback_counts(workload, case))
    from .peers import SYSTEMS

    reason = SYSTEMS["jax"].unavailable() if with_jax else "not requested"
    if reason:
        counts["jax"] = counts["jax_inlined"] = "skipped: " + reason
        return counts
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        closed = jax.make_jaxpr(workload.impls["jax"](case))(*case.args)
        counts["jax"] = len(closed.jaxpr.eqns)
        counts["jax_inlined"] = _count_jaxpr(closed.jaxpr)
    except Exception as e:  # noqa: BLE001
        counts["jax"] = counts["jax_inlined"] = "error: " + one_line(e)
    return counts


def _pullback_counts(workload, case):
    counts = {}
    try:
        import pullback as pb

        fn = workload.impls["pullback"](case)
        counts["pullback_raw"] = count_eqns(pb.make_ir(fn)(*case.args))
    except Exception as e:  # noqa: BLE001 - a cell records its own failure
        counts["pullback_raw"] = "error: " + one_line(e)
    try:
        import pullback as pb

        fn = workload.impls["pullback"](case)
        counts["pullback_opt"] = count_eqns(pb.make_ir(fn, optimize=True)(*case.args))
    except Exception as e:  # noqa: BLE001
        counts["pullback_opt"] = "error: " + one_line(e)
    return counts


# ------------------------------------------------------------------ one workload
def run_workload(workload, systems, settings, log=None):
    """Measure one workload on the given System objects; returns a JSON-able dict."""
    from .peers import NotApplicable

    log = log or (lambda msg: None)
    case = workload.make_case(settings.quick)
    case.quick = settings.quick
    result = {"description": workload.description, "cells": {}, "floors": {}}
    if settings.quick and workload.quick_size:
        result["quick_size"] = workload.quick_size
    try:
        ref = workload.impls["numpy"](case)(*case.args)
    except Exception as e:  # noqa: BLE001
        ref = None
        result["reference_error"] = one_line(e)

    from .peers import Extra

    runners, estimates = {}, {}
    extras = [Extra(label, b) for label, b in getattr(workload, "extras", {}).items()]
    for system in [*systems, *extras]:
        cell = {"label": system.label}
        result["cells"][system.name] = cell
        reason = system.unavailable()
        if reason:
            cell["status"] = "skipped: " + reason
            continue
        try:
            run = system.runner(workload, case)
            t0 = time.perf_counter()
            out = run()
            cell["first_call_s"] = time.perf_counter() - t0
            if ref is None:
                cell["status"] = "unchecked: no reference"
                continue
            bad = mismatch(out, ref, workload.rtol, workload.atol)
            if bad:
                cell["status"] = "wrong result: " + bad
                continue
            # A second call must agree too (caches, reused buffers).
            t0 = time.perf_counter()
            out = run()
            estimates[system.name] = time.perf_counter() - t0
            bad = mismatch(out, ref, workload.rtol, workload.atol)
            if bad:
                cell["status"] = "wrong result on second call: " + bad
                continue
            cell["status"] = "ok"
            runners[system.name] = run
        except NotApplicable as e:
            cell["status"] = f"n/a: {e}"
        except Exception as e:  # noqa: BLE001
            cell["status"] = "error: " + one_line(e)
        log(f"  {workload.name:20s} {system.name:16s} {cell['status'][:90]}")

    timed = dict(runners)
    for fname, make in workload.floors.items():
        try:
            timed["floor:" + fname] = make(case)
        except Exception as e:  # noqa: BLE001
            result["floors"][fname] = {"status": "error: " + one_line(e)}
    if timed:
        for name, stats in interleaved_medians(timed, settings, estimates).items():
            if name.startswith("floor:"):
                result["floors"][name[6:]] = {"status": "ok", **stats}
            else:
                result["cells"][name].update(stats)
    result["ratios"] = ratios(result["cells"])
    return result


def ratios(cells):
    def med(name, key="median_s"):
        c = cells.get(name, {})
        return c.get(key) if c.get("status") == "ok" else None

    out = {}
    for num in ("pullback", "pullback_interp"):
        for den in ("jax", "numba"):
            for key, tag in (("median_s", ""), ("first_call_s", "first_call ")):
                a, b = med(num, key), med(den, key)
                if a is not None and b is not None and b > 0:
                    out[f"{tag}{num}/{den}"] = a / b
    return out


# ------------------------------------------------------------------ warm disk cache
def warm_cache_first_calls(names, one_process_each=True, quick=False, timeout=900):
    """pullback's first call in a fresh process sharing this process's cache dir.

    With `one_process_each` every workload gets its own process (so nothing
    compiled for one workload helps the next); --quick shares one process.
    """
    groups = [[n] for n in names] if one_process_each else ([list(names)] if names else [])
    out = {}
    for group in groups:
        cmd = [sys.executable, "-m", "benchmarks.harness", "--warm-child",
               *(["--quick"] if quick else []), *group]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env=dict(os.environ))
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                for n in group:
                    out[n] = {"status": f"error: child exited {proc.returncode}: {tail[:120]}"}
            else:
                out.update(json.loads(lines[-1]))
        except Exception as e:  # noqa: BLE001
            for n in group:
                out[n] = {"status": "error: " + one_line(e)}
    return out


def run_suite(workload_names=None, system_names=None, quick=False, warm_cache=True,
              eqns=True, log=None, command=""):
    """Measure the chosen workloads on the chosen systems; the JSON-able result."""
    from . import report
    from .peers import SYSTEMS
    from .workloads import WORKLOADS

    log = log or (lambda msg: None)
    workload_names = list(workload_names or WORKLOADS)
    system_names = list(system_names or SYSTEMS)
    for n in workload_names:
        if n not in WORKLOADS:
            raise SystemExit(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    for n in system_names:
        if n not in SYSTEMS:
            raise SystemExit(f"unknown system {n!r}; choose from {', '.join(SYSTEMS)}")
    systems = [SYSTEMS[n] for n in system_names]
    settings = Settings(quick)
    data = {"meta": {
        "date": report.now(), "machine": report.machine(), "versions": report.versions(),
        "quick": quick, "command": command, "systems": system_names,
        "labels": {s.name: s.label for s in systems},
        "conditions": {k: os.environ.get(k) for k in [*CONDITIONS, "PULLBACK_CACHE_DIR"]},
        "pinned_cpu": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "settings": {k: getattr(settings, k) for k in
                     ("batch_s", "min_rounds", "max_rounds", "budget_s", "cap_s")},
    }, "workloads": {}}
    # Library start-up (LLVM, XLA client, thread pools) happens once per process;
    # keep it out of whichever system's first call would otherwise come first.
    for s in systems:
        if not s.unavailable():
            try:
                s.warm_up()
            except Exception as e:  # noqa: BLE001
                log(f"warm-up of {s.name} failed: {one_line(e)}")

    def record_warm(names, one_process_each):
        for n, res in warm_cache_first_calls(names, one_process_each, quick).items():
            if res.get("cache_stats", {}).get("numba_compiles"):
                # The new process compiled: the cache key moved (the backend's own
                # sources changed since the first call, as happens while it is being
                # edited). The process just wrote a fresh entry; measure once more.
                again = warm_cache_first_calls([n], True, quick)[n]
                again["first_attempt"] = res
                res = again
            w = data["workloads"][n]
            w["warm_cache"] = res
            jax_first = w["cells"].get("jax", {})
            if res.get("status") == "ok" and jax_first.get("status") == "ok":
                w["ratios"]["warm_cache pullback/jax first"] = (
                    res["first_call_s"] / jax_first["first_call_s"])

    warm = warm_cache and "pullback" in system_names
    # Full runs start each workload's warm-cache process right after its first call
    # (the shorter the gap, the less can change); --quick runs one process at the
    # end for the first workload only (its start-up would dominate a smoke run).
    for name in workload_names:
        log(f"{name}:")
        w = WORKLOADS[name]
        data["workloads"][name] = run_workload(w, systems, settings, log)
        if eqns:
            try:
                data["workloads"][name]["eqn_counts"] = eqn_counts(
                    w, w.make_case(quick), with_jax="jax" in system_names,
                    with_pullback=any(n.startswith("pullback") for n in system_names))
            except Exception as e:  # noqa: BLE001
                data["workloads"][name]["eqn_counts"] = {"error": one_line(e)}
        if warm and not quick and "first_call_s" in data["workloads"][name]["cells"]["pullback"]:
            log(f"  {name:20s} warm-cache process")
            record_warm([name], True)
    if warm and quick:
        todo = [n for n in workload_names
                if "first_call_s" in data["workloads"][n]["cells"]["pullback"]][:1]
        log(f"warm-cache process: {', '.join(todo) or 'none'}")
        record_warm(todo, False)
    return data


def _warm_child(names, quick=False):
    """Print {workload: {...}} as one JSON line: first calls against a warm disk cache.

    One-time costs of the new process are measured on their own, in order, like
    the main process's warm-up, so `first_call_s` compares with the peers' first
    calls; each is reported next to it (what a new process pays on top, once):
    - `import_s`: `import pullback` (and the benchmark's own modules);
    - `numba_startup_s`: Numba's start-up (import, LLVM initialisation, one
      trivial njit compiled), as the main process warms up the Numba peer;
    - `backend_import_s`: pullback's numba backend set-up, which `pb.jit(f)`
      does when the first jitted function is constructed (get_backend("numba"):
      the code generator, the helper modules kernels call with their njit
      dispatchers, the pass pipeline).
    `first_call_s` is everything per function: trace, passes, code generation,
    source hash and disk-cache lookup, loading the kernel module, Numba loading
    the machine code from its cache, and one run.
    """
    t0 = time.perf_counter()
    import pullback  # noqa: F401

    from .peers import SYSTEMS
    from .workloads import WORKLOADS

    import_s = time.perf_counter() - t0
    system = SYSTEMS["pullback"]
    t0 = time.perf_counter()
    SYSTEMS["numba"].warm_up()
    numba_startup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    from pullback.backends import get_backend

    get_backend(system.backend)
    backend_import_s = time.perf_counter() - t0
    def counters():
        try:
            from pullback.backends import numba as nb_backend

            return {k: v for k, v in nb_backend.stats().items() if isinstance(v, (int, float))}
        except Exception:  # noqa: BLE001 - the counters are informative only
            return {}

    results = {}
    for name in names:
        res = {"import_s": import_s, "numba_startup_s": numba_startup_s,
               "backend_import_s": backend_import_s}
        results[name] = res
        before = counters()
        try:
            workload = WORKLOADS[name]
            case = workload.make_case(quick)  # the shapes the first process compiled
            run = system.runner(workload, case)
            t0 = time.perf_counter()
            out = run()
            res["first_call_s"] = time.perf_counter() - t0
            bad = mismatch(out, workload.impls["numpy"](case)(*case.args),
                           workload.rtol, workload.atol)
            res["status"] = "wrong result: " + bad if bad else "ok"
        except Exception as e:  # noqa: BLE001
            res["status"] = "error: " + one_line(e)
        after = counters()
        # This workload's share of the counters (the process may serve several).
        res["cache_stats"] = {k: v - before.get(k, 0) for k, v in after.items()}
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--warm-child":
        rest = sys.argv[2:]
        _warm_child([n for n in rest if n != "--quick"], quick="--quick" in rest)
    else:
        sys.exit("usage: python -m benchmarks.harness --warm-child WORKLOAD [WORKLOAD ...]")
