"""The benchmark harness: structure, correctness checks, reports. No timing assertions."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import harness, report, workloads
from benchmarks.peers import SYSTEMS, System
from benchmarks.workloads import WORKLOADS, Case, Workload

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "r.json"
    env = {k: v for k, v in os.environ.items()
           if k not in harness.CONDITIONS and k not in ("PULLBACK_CACHE_DIR", harness.REEXEC_MARK)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--workload", "grad_sin",
         "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, json.loads(out.read_text())


def test_parallel_benchmark_checks_and_reports_a_workload(tmp_path):
    # two threads whatever this machine has: the row exists and both pullback
    # variants passed the check against the NumPy reference
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.parallel", "--quick", "--threads", "2",
         "--workload", "logsumexp"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 Numba threads" in proc.stdout
    (row,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("| logsumexp |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert int(cells[1]) >= 1 and "wrong" not in row and cells[5].endswith("×")


def test_quick_run_structure(quick_run):
    proc, data = quick_run
    assert list(data["workloads"]) == ["grad_sin"]
    # The harness re-executed itself with the measurement conditions and a cache dir.
    for k, v in harness.CONDITIONS.items():
        assert data["meta"]["conditions"][k] == v
    assert data["meta"]["conditions"]["PULLBACK_CACHE_DIR"]
    assert len(data["meta"]["pinned_cpu"]) == 1
    assert data["meta"]["quick"] is True
    cells = data["workloads"]["grad_sin"]["cells"]
    assert set(cells) == set(SYSTEMS)
    for name in ("numpy", "numba"):
        assert cells[name]["status"] == "ok"
        assert cells[name]["median_s"] > 0 and cells[name]["first_call_s"] > 0
        assert cells[name]["samples"] >= 3
    for name in ("jax", "autograd"):
        expect_ok = SYSTEMS[name].unavailable() is None
        assert (cells[name]["status"] == "ok") == expect_ok, cells[name]["status"]
    for name, cell in cells.items():
        st = cell["status"]
        assert st == "ok" or st.startswith(("error: ", "skipped: ", "n/a: ", "wrong result")), st
        if st == "ok":
            assert cell["median_s"] > 0
    # The Markdown table went to stdout, one row per workload.
    assert "| workload |" in proc.stdout
    assert "| grad_sin |" in proc.stdout
    counts = data["workloads"]["grad_sin"]["eqn_counts"]
    if SYSTEMS["jax"].unavailable() is None:
        assert counts["jax"] == 3  # sin, cos, mul: grad(sin) in a jaxpr
    # The warm-cache process ran exactly when pullback's first call did.
    pb = cells["pullback"]
    assert ("warm_cache" in data["workloads"]["grad_sin"]) == ("first_call_s" in pb)
    warm = data["workloads"]["grad_sin"].get("warm_cache")
    if warm is not None and warm.get("status") == "ok":
        # The new process's one-time costs are reported next to its first call.
        for key in ("import_s", "numba_startup_s", "backend_import_s", "first_call_s"):
            assert warm[key] > 0, key


def test_quick_run_ratios_match_cells(quick_run):
    _, data = quick_run
    w = data["workloads"]["grad_sin"]
    c = w["cells"]
    for key, r in w["ratios"].items():
        if key == "warm_cache pullback/jax first":
            assert r == pytest.approx(w["warm_cache"]["first_call_s"] / c["jax"]["first_call_s"])
            continue
        first = key.startswith("first_call ")
        num, den = key.split(" ")[-1].split("/")
        field = "first_call_s" if first else "median_s"
        assert r == pytest.approx(c[num][field] / c[den][field])


# ------------------------------------------------------------------ quick configuration
def test_quick_configuration_covers_every_workload():
    """--quick runs every registered workload by default, and each one's quick case
    is checked correct (here on the cheap systems: the interpreter, NumPy, extras)."""
    data = harness.run_suite(None, ["numpy", "pullback_interp"], quick=True,
                             warm_cache=False, eqns=False)
    assert data["meta"]["quick"] is True
    assert list(data["workloads"]) == list(WORKLOADS)
    for name, w in WORKLOADS.items():
        res = data["workloads"][name]
        cells = res["cells"]
        assert {"numpy", "pullback_interp"} <= set(cells)
        for sname, cell in cells.items():
            assert cell["status"] == "ok", (name, sname, cell["status"])
            assert cell["median_s"] > 0 and cell["first_call_s"] > 0
        for fname, floor in res["floors"].items():
            assert floor["status"] == "ok", (name, fname, floor)
        # A quick case is never bigger than the full one; a workload that shrinks
        # says how (and the report prints it).
        quick_case, full_case = w.make_case(True), w.make_case(False)
        q_size = sum(x.size for x in harness.leaves(quick_case.args))
        f_size = sum(x.size for x in harness.leaves(full_case.args))
        shrunk = q_size < f_size or quick_case.consts.get("steps", 0) < full_case.consts.get(
            "steps", 0)
        assert shrunk == bool(w.quick_size), name
        assert res.get("quick_size") == (w.quick_size or None)
    md = report.markdown(data)
    assert "--quick sizes (smaller than a full run's): " in md
    assert "ode_rk4_jacrev: 50 steps to t = 0.5" in md


def test_quick_ode_case_keeps_the_step():
    from benchmarks import workloads_control_flow as cf

    q, f = cf._ode_case(True), cf._ode_case(False)
    assert q.consts["t_end"] / q.consts["steps"] == f.consts["t_end"] / f.consts["steps"]
    assert (f.consts["t_end"], f.consts["steps"]) == (5.0, 500)  # full run unchanged


# ------------------------------------------------------------------ cell isolation
def _tiny_workload():
    return Workload(
        name="tiny", description="d/dx sum(x**3)",
        make_case=lambda quick: Case((np.linspace(-1.0, 1.0, 7),)),
        impls={"numpy": lambda case: (lambda x: 3.0 * x * x)},
        extras={"python loop": lambda case: (lambda x: np.array([3.0 * v * v for v in x]))})


class _Fixed(System):
    def __init__(self, name, fn):
        self.name = self.label = name
        self.fn = fn

    def runner(self, workload, case):
        return lambda: self.fn(*case.args)


class _Absent(System):
    name = label = "absent"

    def unavailable(self):
        return "absentlib not installed"


def test_cells_are_independent_and_checked():
    def boom(x):
        raise ValueError("boom\nsecond line")

    systems = [
        _Fixed("good", lambda x: 3.0 * x * x),
        _Fixed("wrong", lambda x: 3.0 * x * x + 1e-3),
        _Fixed("shape", lambda x: 3.0 * x[:-1] ** 2),
        _Fixed("raises", boom),
        _Absent(),
        _Fixed("good2", lambda x: np.square(x) * 3.0),
        SYSTEMS["numba"],  # the tiny workload has no hand-written Numba version
    ]
    res = harness.run_workload(_tiny_workload(), systems, harness.Settings(quick=True))
    cells = res["cells"]
    assert cells["good"]["status"] == "ok" and cells["good2"]["status"] == "ok"
    assert cells["good"]["median_s"] > 0 and "median_s" in cells["good2"]
    assert cells["wrong"]["status"].startswith("wrong result: output 0 max abs error 0.001")
    assert "median_s" not in cells["wrong"]  # never timed
    assert cells["shape"]["status"].startswith("wrong result: output 0 has shape (6,)")
    assert cells["raises"]["status"] == "error: ValueError: boom"
    assert cells["absent"]["status"] == "skipped: absentlib not installed"
    assert cells["numba"]["status"] == "n/a: no numba version of tiny"
    assert cells["extra:python loop"]["status"] == "ok"
    assert cells["extra:python loop"]["median_s"] > 0


def test_mismatch_and_leaves():
    ref = {"b": np.ones(2), "a": (np.zeros(3), 1.0)}
    assert [x.shape for x in harness.leaves(ref)] == [(3,), (), (2,)]
    assert harness.mismatch({"a": (np.zeros(3), 1.0), "b": np.ones(2)}, ref, 1e-7, 1e-9) is None
    assert harness.mismatch({"a": (np.zeros(3), 1.0)}, ref, 1e-7, 1e-9) == "2 outputs, expected 3"
    assert harness.mismatch({"a": (np.zeros(3), 1.0 + 1e-5), "b": np.ones(2)}, ref,
                            1e-7, 1e-9).startswith("output 1 max abs error 1e-05")
    # Tolerance is relative to the reference's scale.
    big = np.array([1e6])
    assert harness.mismatch(big * (1 + 1e-9), big, 1e-7, 1e-9) is None


# ------------------------------------------------------------------ hand gradients
def _fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def test_hand_gradients_match_finite_differences():
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, 20)
    g = workloads._elem_numpy(None)(x)
    np.testing.assert_allclose(g, _fd_grad(workloads._elem_f(np), x), rtol=1e-6, atol=1e-7)

    x = rng.standard_normal((5, 4)) * 3
    lse = lambda x: np.sum(np.log(np.sum(np.exp(x), axis=1)))  # noqa: E731
    np.testing.assert_allclose(workloads._lse_numpy(None)(x), _fd_grad(lse, x), rtol=1e-6)

    x = rng.uniform(-2, 2, 6)
    rosen_grad = lambda x: _fd_grad(workloads._rosen_f(np), x, 1e-5)  # noqa: E731
    H = workloads._rosen_numpy(None)(x)
    np.testing.assert_allclose(H, np.stack([_fd_grad(lambda v: rosen_grad(v)[i], x, 1e-4)
                                            for i in range(6)]), rtol=1e-3, atol=1e-2)

    X, Y = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    f = lambda X, Y: np.sum((X @ X @ Y) ** 2)  # noqa: E731
    dfdY = _fd_grad(lambda Y: f(X, Y), Y)
    np.testing.assert_allclose(dfdY, 2 * (X @ X).T @ (X @ X) @ Y, rtol=1e-6)
    g = lambda X, Y: np.trace(2 * (X @ X).T @ (X @ X) @ Y)  # noqa: E731
    dX, dY = workloads._mixed_numpy(None)(X, Y)
    np.testing.assert_allclose(dX, _fd_grad(lambda X: g(X, Y), X), rtol=1e-5)
    np.testing.assert_allclose(dY, _fd_grad(lambda Y: g(X, Y), Y), rtol=1e-5)


def test_mlp_and_seed_hand_derivatives():
    rng = np.random.default_rng(8)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
              "W2": rng.standard_normal((4, 2)), "b2": rng.standard_normal(2)}
    x, y = rng.standard_normal((5, 3)), np.eye(2)[[0, 1, 1, 0, 1]]
    loss = workloads._mlp_loss(np)
    g = workloads._mlp_numpy(None)(params, x, y)
    for k in params:
        def fk(v, k=k):
            return loss({**params, k: v}, x, y)
        np.testing.assert_allclose(g[k], _fd_grad(fk, params[k]), rtol=1e-5, atol=1e-8)

    A = rng.standard_normal((6, 4))
    p1, p2 = rng.standard_normal(4), rng.standard_normal(3)
    main = workloads._seed_main(np, A)
    (jz1, jz2), (jy1, jy2) = workloads._seed_numpy(Case((p1, p2), {"A": A}))(p1, p2)
    for out, (j1, j2) in enumerate([(jz1, jz2), (jy1, jy2)]):
        fd1 = np.stack([_fd_grad(lambda p: main(p, p2)[out][r], p1) for r in range(6)])
        fd2 = np.stack([_fd_grad(lambda p: main(p1, p)[out][r], p2) for r in range(6)])
        np.testing.assert_allclose(j1, fd1, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(j2, fd2, rtol=1e-5, atol=1e-8)


def test_registry():
    assert list(WORKLOADS)[:7] == ["seed_jacfwd", "grad_sin", "mlp", "elementwise",
                                   "rosenbrock_hessian", "mixed_partial", "logsumexp"]
    for w in WORKLOADS.values():
        assert {"pullback", "jax", "numpy", "autograd", "numba"} <= set(w.impls)
    with pytest.raises(ValueError, match="already registered"):
        workloads.register(WORKLOADS["grad_sin"])


# ------------------------------------------------------------------ reports
def _fake_data():
    cell = lambda med, first: {"status": "ok", "median_s": med, "first_call_s": first,  # noqa: E731
                               "label": "x"}
    cells = {"pullback": cell(2e-6, 0.5), "jax": cell(4e-6, 0.25),
             "numba": {"status": "error: TypingError: bad", "label": "x"}}
    return {"meta": {"systems": list(cells), "labels": {s: s for s in cells},
                     "date": "2026-01-01 00:00 UTC", "machine": report.machine(),
                     "versions": {"numpy": "2"}, "command": "python -m benchmarks",
                     "pinned_cpu": [1]},
            "workloads": {"w": {"cells": cells, "ratios": harness.ratios(cells),
                                "floors": {}, "eqn_counts": {"pullback_raw": 5}}}}


def test_markdown_and_readme(tmp_path):
    data = _fake_data()
    assert data["workloads"]["w"]["ratios"] == {"pullback/jax": 0.5,
                                                "first_call pullback/jax": 2.0}
    md = report.markdown(data)
    assert "| w | 2 µs | 4 µs | error | 0.50× | — |" in md
    assert "- w / numba: error: TypingError: bad" in md
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\nintro\n<!-- bench:start -->\nold\n<!-- bench:end -->\ntail\n")
    report.update_readme(str(readme), data, "bench.png")
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n<!-- bench:start -->\nMeasured 2026-01-01")
    assert "old" not in text and text.endswith("<!-- bench:end -->\ntail\n")
    assert "![pullback / peer time ratios](bench.png)" in text
    report.update_readme(str(readme), data, None)  # idempotent on the markers
    assert readme.read_text().count("<!-- bench:start -->") == 1


def test_plot(tmp_path):
    path = tmp_path / "r.png"
    why = report.plot(_fake_data(), str(path))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib not installed" in why and not path.exists()
    else:
        assert why is None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ warm-cache child
def test_warm_child_reports_setup_and_loads_from_disk(tmp_path):
    """Two new processes on one cache dir: the first compiles grad_sin, the second
    loads it (no compilation) and reports its one-time costs in separate fields."""
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path))
    env.pop("PULLBACK_CACHE", None)

    def child():
        proc = subprocess.run([sys.executable, "-m", "benchmarks.harness", "--warm-child",
                               "--quick", "grad_sin"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])["grad_sin"]

    first, second = child(), child()
    for res in (first, second):
        assert res["status"] == "ok"
        assert set(res) >= {"import_s", "numba_startup_s", "backend_import_s", "first_call_s",
                            "cache_stats"}
    assert first["cache_stats"]["numba_compiles"] == 1
    assert second["cache_stats"]["numba_compiles"] == 0
    assert second["cache_stats"]["numba_disk_loads"] == 1
    assert second["cache_stats"]["disk_source_hits"] == 1


def test_report_note_names_the_backend_setup():
    warm = {"status": "ok", "import_s": 0.3, "numba_startup_s": 0.8, "backend_import_s": 0.05,
            "first_call_s": 0.01, "cache_stats": {}}
    cell = {"status": "ok", "label": "pullback jit", "median_s": 1e-6, "first_call_s": 0.02}
    data = {"meta": {"systems": ["pullback"], "labels": {"pullback": "pullback jit"}},
            "workloads": {"w": {"cells": {"pullback": cell}, "ratios": {}, "floors": {},
                                "warm_cache": warm}}}
    md = report.markdown(data)
    assert "10 ms (+1.15 s start-up)" in md  # import + Numba + backend set-up
    assert "import 300 ms, Numba 800 ms, backend set-up 50 ms" in md
