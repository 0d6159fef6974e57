"""pb.jit(..., parallel=True): large loop nests whose outer loop is a map run it as
numba.prange, and reductions across the outer loop add up blocks in a prange loop
(backends/numba/codegen.py: PARALLEL_MIN, _outer_map, Codegen.parallel_blocks).

Parallel maps must give what the serial kernels give, bit for bit (every element is
computed by the same code, only on another thread); blocked sums may differ in
their order of addition, max/min/counts not at all. The kernels keep the backend's
guarantees: disk cache, concurrent calls from threads (also on Numba's workqueue
threading layer, which is not threadsafe), a forked child (GNU OpenMP is not
fork-safe), the trig guard's fallback, random programs equal to the interpreter.
"""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.backends import numba as nb
from pullback.backends.numba import codegen
from pullback.passes.manager import optimize
from pullback.tracer.trace import trace
from test_numba_property import (FLOAT_OPS, FLOATS, LOOP_SHAPES, N_EXAMPLES, SETTINGS, check_ir,
                                 grad_ir, weighted_loss)
from test_numba_control_flow_property import N_AVAL, _inputs as cf_inputs, cf_programs, compare_compiled
from test_passes_property import programs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 1 << 17  # above PARALLEL_MIN


@pytest.fixture
def two_threads(monkeypatch):
    """Code generation as on a machine with two threads for Numba (the kernels
    themselves run on however many this one has)."""
    monkeypatch.setattr(nb, "threads", lambda: 2)


def _pair(f, *args):
    """(serial result, parallel result, parallel source) of pb.jit(f)."""
    serial = pb.jit(f)(*args)
    par = pb.jit(f, parallel=True)
    return serial, par(*args), par.source(*args)


def _loss(x):
    return np.sum(np.log1p(np.exp(np.sin(x) * x ** 2)) / (1.0 + x * x))


def test_elementwise_gradient_runs_as_prange_and_equals_serial(two_threads):
    x = np.random.default_rng(0).uniform(-3, 3, N)
    serial, par, src = _pair(pb.grad(_loss), x)
    assert src.count("_prange(") == 1
    assert "parallel=True" in src.splitlines()[1]  # the njit options in the header
    np.testing.assert_array_equal(par, serial)


def test_vmapped_integral_runs_as_prange_and_equals_serial(two_threads):
    nodes, weights = np.polynomial.legendre.leggauss(20)

    def integral(b):
        t = (nodes + 1.0) * (b / 2)
        return np.sum(weights * np.exp(-t * t)) * (b / 2)

    b = np.random.default_rng(1).uniform(0, 4, 10_000)  # 10^4 bounds x 20 nodes
    serial, par, src = _pair(pb.vmap(integral), b)
    assert "_prange(" in src
    np.testing.assert_array_equal(par, serial)
    np.testing.assert_allclose(par, np.sqrt(np.pi) / 2 * _erf(b), rtol=1e-12)


def _erf(x):
    from math import erf

    return np.array([erf(v) for v in x])


def test_row_reductions_run_as_prange(two_threads):
    # a softmax over rows: the row max and row sum are per-row accumulators
    x = np.random.default_rng(2).standard_normal((2048, 64))

    def softmax(x):
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    serial, par, src = _pair(softmax, x)
    assert "_prange(" in src
    np.testing.assert_array_equal(par, serial)


@pytest.mark.parametrize("f", [lambda x: np.sum(np.exp(x), axis=0),   # column sums
                               lambda x: np.max(x * x, axis=0),
                               lambda x: np.sum(x.reshape(64, 16, 128), axis=(0, 2)),
                               lambda x: np.sum(x > 0.0, axis=0)])
def test_column_reductions_accumulate_a_row_per_block(two_threads, f):
    # a reduction over the outer axis that keeps others: each block of rows adds into
    # a row of partial results of its own, then the rows are reduced in turn
    x = np.random.default_rng(3).standard_normal((1024, 128))
    serial, par, src = _pair(f, x)
    assert src.count("_prange(") == 1 and "_part = _h.full((" in src
    assert par.shape == serial.shape and par.dtype == serial.dtype
    np.testing.assert_allclose(par, serial, rtol=1e-13, atol=1e-11)  # sums of ~10^4 terms


@pytest.mark.parametrize("shape", [(N,), (1024, 128), (64, 1, 2048)])
def test_full_reductions_accumulate_by_block(two_threads, shape):
    # every element into one sum / max / min / product: per-block partial results in
    # a prange loop, then reduced in turn (a different order of the same sum)
    x = np.random.default_rng(3).standard_normal(shape)

    def f(x):
        e = np.exp(x)
        return (np.sum(e), np.max(x * 2.0), np.min(x), np.prod(1.0 + x * 1e-6),
                np.sum(x > 0.5), e * 3.0)

    serial, par, src = _pair(f, x)
    assert src.count("_prange(") == 1 and "_acc_part[" in src
    for s, p in zip(serial[:5], par[:5]):
        assert p.shape == () and p.dtype == s.dtype
    np.testing.assert_allclose(par[0], serial[0], rtol=1e-13)
    np.testing.assert_allclose(par[3], serial[3], rtol=1e-13)
    for k in (1, 2, 4, 5):  # max, min, an integer count and the elementwise output: exact
        np.testing.assert_array_equal(par[k], serial[k])
    np.testing.assert_allclose(par[0], np.sum(np.exp(x)), rtol=1e-12)


def test_full_reductions_propagate_nan_and_inf_from_any_block(two_threads):
    f = pb.jit(lambda x: (np.sum(x * 2.0), np.max(x), np.min(x)), parallel=True)
    x = np.ones(N)
    x[N - 3] = np.nan
    assert all(np.isnan(v) for v in f(x))
    x[N - 3] = np.inf
    assert f(x)[0] == np.inf and f(x)[1] == np.inf and f(x)[2] == 1.0
    x[7] = -np.inf
    assert np.isnan(f(x)[0]) and f(x)[2] == -np.inf


def test_small_loops_one_thread_and_the_default_stay_serial(two_threads, monkeypatch):
    small = np.ones(codegen.PARALLEL_MIN // 2)
    assert "_prange(" not in pb.jit(np.tanh, parallel=True).source(small)
    big = np.ones(N)
    assert "_prange(" not in pb.jit(np.tanh).source(big)  # parallel=False is the default
    assert "_prange(" in pb.jit(np.tanh, parallel=True).source(big)
    monkeypatch.setattr(nb, "threads", lambda: 1)
    assert "_prange(" not in pb.jit(np.tanh, parallel=True).source(big)


def test_a_scalar_argument_can_drive_a_parallel_loop(two_threads):
    f = pb.jit(lambda s: np.sin(np.arange(N) * s), parallel=True)
    assert "_prange(" in f.source(0.5)
    for s in (0.5, 2.0):  # the second call takes pb.jit's per-call fast path
        np.testing.assert_allclose(f(s), np.sin(np.arange(N) * s), rtol=1e-15, atol=1e-15)


def test_trig_guard_counts_huge_operands_under_prange(two_threads):
    # sin of operands of unknown size: the kernel speculates they are below 2**20
    # and counts those that are not (a `|=` flag is no reduction Numba's parallel
    # loops support); a call that finds one is redone without the guard
    f = pb.jit(lambda x: np.sin(x) * np.cos(x), parallel=True)
    x = np.random.default_rng(4).uniform(-10, 10, N)
    src = f.source(x)
    assert "_prange(" in src and "_trig_huge0 += " in src
    np.testing.assert_allclose(f(x), np.sin(x) * np.cos(x), rtol=1e-15, atol=1e-16)
    x[N // 3] = 1e22
    np.testing.assert_allclose(f(x), np.sin(x) * np.cos(x), rtol=1e-15, atol=1e-16)
    assert "_trig_huge" not in f.source(x)  # the unguarded kernel serves from now on


def test_trig_guard_counts_each_operand_of_a_loop_apart(two_threads):
    # sin and cos of two operands in one prange loop: one counter each (Numba allows one
    # update of a reduction variable per parallel loop body; a shared one did not compile)
    x = np.random.default_rng(4).uniform(-10, 10, N)
    y = x[::-1].copy()
    for fn in (lambda x, y: np.sin(x) + np.cos(y), lambda x, y: np.sum(np.sin(x) * np.cos(y)),
               lambda x, y: np.sin(x) * np.sin(2 * y)):
        f = pb.jit(fn, parallel=True)
        assert "_prange(" in f.source(x, y) and "_trig_huge1 += " in f.source(x, y)
        np.testing.assert_allclose(f(x, y), fn(x, y), rtol=1e-12, atol=1e-12)
        big = y.copy()
        big[7] = 1e22
        np.testing.assert_allclose(f(x, big), fn(x, big), rtol=1e-12, atol=1e-12)


def test_index_arithmetic_with_the_parallel_index(two_threads):
    # diag/tril/triu compare and subtract the prange index (Numba's uint64) and an inner
    # loop's int64 index: the wrapping subtraction took no mixed signedness
    v = np.arange(300.0)
    x = np.random.default_rng(6).standard_normal((300, 300))
    for fn, a in ((lambda v: np.diag(v) + 1.0, v), (np.tril, x),
                  (lambda x: np.triu(x, 2) - np.tril(x, -3), x),
                  (lambda x: x - np.diag(np.diag(x)), x)):
        f = pb.jit(fn, parallel=True)
        assert "_prange(" in f.source(a)
        np.testing.assert_array_equal(f(a), fn(a))


def test_composes_with_transforms(two_threads):
    x = np.random.default_rng(5).uniform(-2, 2, N)
    g = pb.jit(pb.grad(_loss), parallel=True)
    # the inner jit is inlined into grad's trace (which runs in the interpreter)
    inner = pb.grad(pb.jit(_loss, parallel=True))
    want = pb.jit(pb.grad(_loss))(x)  # serial
    np.testing.assert_array_equal(g(x), want)
    np.testing.assert_allclose(inner(x), want, rtol=1e-12, atol=1e-15)
    f = pb.jit(np.tanh, parallel=True, backend="interpreter")  # NumPy: nothing to do
    np.testing.assert_array_equal(f(x), np.tanh(x))


def test_maps_inside_loop_bodies_run_as_prange(two_threads):
    # a vmapped ODE: each step of the fori_loop is a map over the batch, one
    # parallel launch per step; the while_loop's body too
    def euler(y0):
        return pb.fori_loop(0, 40, lambda i, y: y + 0.01 * (np.sin(y) - y * y * 0.1), y0)

    def halve(y0):
        return pb.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, np.exp(-c[1]) * 0.5),
                             (0, y0))[1]

    x = np.random.default_rng(6).uniform(-2, 2, N)
    for f in (pb.vmap(euler), halve):
        serial, par, src = _pair(f, x)
        (loop,) = [ln for ln in src.splitlines() if "_prange(" in ln]
        assert loop.startswith(" " * 8)  # inside the scan's/while's loop
        np.testing.assert_array_equal(par, serial)


def test_threads_calling_a_parallel_function_get_their_own_results(two_threads):
    f = pb.jit(lambda x: np.tanh(x) * 2.0 + x, parallel=True)
    xs = [np.random.default_rng(10 + i).standard_normal(N) for i in range(4)]
    f(xs[0])  # compiled once, before the threads race
    out = [None] * 4

    def work(i):
        for _ in range(10):
            out[i] = f(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o, x in zip(out, xs):
        np.testing.assert_allclose(o, np.tanh(x) * 2.0 + x, rtol=1e-15, atol=1e-16)


_CHILD = textwrap.dedent("""
    import threading, numpy as np, pullback as pb
    from pullback.backends import numba as nb
    nb.threads = lambda: 2
    f = pb.jit(lambda x: np.exp(-x * x) + x, parallel=True)
    xs = [np.linspace(-i, i + 1, {n}) for i in range(4)]
    out = [None] * 4
    def work(i):
        for _ in range(5):
            out[i] = f(xs[i])
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in ts]; [t.join() for t in ts]
    ok = all(np.allclose(o, np.exp(-x * x) + x, rtol=1e-15, atol=1e-15) for o, x in zip(out, xs))
    s = pb.jit_stats()
    print(ok, "_prange(" in f.source(xs[0]), s["numba_compiles"], s["numba_disk_loads"])
""").format(n=N)


def _child(cache_dir, **env):
    e = dict(os.environ, PULLBACK_CACHE_DIR=str(cache_dir), PYTHONPATH=ROOT, **env)
    p = subprocess.run([sys.executable, "-c", _CHILD], env=e, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout.split()


def test_workqueue_layer_disk_cache_and_a_new_process(tmp_path):
    # Numba's workqueue layer aborts the process on concurrent launches: pullback
    # serializes them there. The second process loads the kernel from disk.
    assert _child(tmp_path, NUMBA_THREADING_LAYER="workqueue") == ["True", "True", "1", "0"]
    assert _child(tmp_path) == ["True", "True", "0", "1"]


_FORK = textwrap.dedent("""
    import multiprocessing as mp, numpy as np, pullback as pb, numba
    from pullback.backends import numba as nb
    nb.threads = lambda: 2
    f = pb.jit(lambda x: np.tanh(x) * 2.0 + x, parallel=True)
    x = np.linspace(-3, 3, {n})
    want = f(x)  # the parallel kernel runs here: the threading layer has started

    def child(q):
        q.put((bool(np.array_equal(f(x), want)), pb.jit_stats()["fork_fallbacks"]))

    if __name__ == "__main__":
        q = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=child, args=(q,))
        p.start()
        p.join(120)
        print(numba.threading_layer(), p.exitcode, *(q.get() if p.exitcode == 0 else ()))
""").format(n=N)


_NO_LAYER = textwrap.dedent("""
    import warnings, numpy as np, pullback as pb, numba
    warnings.simplefilter("always")
    x = np.linspace(-3, 3, {n})
    with warnings.catch_warnings(record=True) as caught:
        f = pb.jit(np.tanh, parallel=True)
        ok = bool(np.allclose(f(x), np.tanh(x), rtol=1e-15, atol=1e-16))
    said = [str(w.message) for w in caught if "threading layer" in str(w.message)]
    print(ok, "_prange(" in f.source(x), len(said), said[0][:60] if said else "-")
""").format(n=N)


def test_no_threading_layer_means_serial_loops_and_a_warning(tmp_path):
    # NUMBA_THREADING_LAYER names a layer that cannot load (TBB is not a dependency):
    # a parallel kernel would raise at its first launch; pullback warns once and
    # compiles serial loops
    e = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT,
             NUMBA_THREADING_LAYER="tbb", NUMBA_NUM_THREADS="2")
    p = subprocess.run([sys.executable, "-c", _NO_LAYER], env=e, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    ok, prange, warned, text = p.stdout.split(maxsplit=3)
    if prange == "True":  # TBB is installed here: its layer loaded
        assert (ok, warned) == ("True", "0")
    else:
        assert (ok, warned) == ("True", "1")
        assert text.startswith("pullback: parallel=True compiles serial loops")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_the_serial_twin(tmp_path):
    # GNU OpenMP aborts a child forked after it started at the child's first parallel
    # launch; pullback's parallel kernels run their serial twin there instead
    script = tmp_path / "fork_child.py"
    script.write_text(_FORK)
    e = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, str(script)], env=e, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    layer, code, *rest = p.stdout.split()
    assert code == "0", p.stderr[-3000:]
    assert rest == ["True", "1" if layer == "omp" else "0"]


@settings(**dict(SETTINGS, max_examples=max(N_EXAMPLES // 4, 8)))
@given(programs(shapes=LOOP_SHAPES, dtypes=FLOATS, ops=FLOAT_OPS), st.integers(0, 2**31 - 1),
       st.sampled_from(["outputs", "gradient", "loss"]))
def test_random_programs_with_every_loop_parallel(program, seed, what):
    # PARALLEL_MIN = 1: every top-level map of these small programs is a prange, and
    # a full reduction (the loss: weighted sums of all outputs) takes blocks of a
    # row or a few elements
    in_avals, fn = program
    if what == "gradient":
        ir = grad_ir(fn, in_avals)
    elif what == "loss":
        ir = trace(lambda *a: [weighted_loss(fn)(*a)], in_avals)
    else:
        ir = trace(fn, in_avals)
    ir = optimize(ir)
    saved = codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads
    codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads = 1, 3, lambda: 2
    try:
        check_ir(ir, seed, parallel=True)
    finally:
        codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads = saved


@settings(**dict(SETTINGS, max_examples=max(N_EXAMPLES // 5, 6)))
@given(cf_programs(), st.integers(0, 2**31 - 1))
def test_random_control_flow_programs_with_every_loop_parallel(program, seed):
    # the maps inside cond/scan/fori_loop/while_loop bodies are pranges too
    in_avals, fn, _ = program
    ir = trace(fn, [N_AVAL] + list(in_avals))
    rng = np.random.default_rng(seed)
    saved = codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads
    codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads = 1, 3, lambda: 2
    try:
        compare_compiled(ir, [cf_inputs(in_avals, rng, special=k < 2) for k in range(2)],
                         parallel=True)
    finally:
        codegen.PARALLEL_MIN, codegen.PARALLEL_BLOCK, nb.threads = saved
