"""Numba backend: memory and disk caches, threads, compile errors, jit(grad)."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.backends.numba import cache
from pullback.ir import primitives as P


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)
    return tmp_path


def _unique(k):
    """A function whose kernel source is unique to this test run (so nothing is cached)."""
    c = float(k) + 0.123456789 + os.getpid()
    return lambda x: np.sin(x) * c + x * x


def test_second_call_does_not_recompile_new_shape_does(tmp_cache):
    f = pb.jit(_unique(1))
    x = np.linspace(0, 1, 5)
    s0 = pb.jit_stats()
    np.testing.assert_allclose(f(x), _unique(1)(x), rtol=1e-12)
    s1 = pb.jit_stats()
    assert s1["kernels_generated"] == s0["kernels_generated"] + 1
    assert s1["numba_compiles"] == s0["numba_compiles"] + 1
    f(x + 1)
    s2 = pb.jit_stats()
    assert s2["kernels_generated"] == s1["kernels_generated"]
    assert s2["numba_compiles"] == s1["numba_compiles"]
    np.testing.assert_allclose(f(np.ones(7)), _unique(1)(np.ones(7)), rtol=1e-12)
    s3 = pb.jit_stats()
    assert s3["kernels_generated"] == s2["kernels_generated"] + 1
    # an identical IR in another jit shares the compiled kernel
    g = pb.jit(_unique(1))
    g(x)
    assert pb.jit_stats()["memory_hits"] == s3["memory_hits"] + 1
    assert pb.jit_stats()["numba_compiles"] == s3["numba_compiles"]  # nothing compiled


_CHILD = r"""
import json, numpy as np, pullback as pb
f = pb.jit(lambda x: np.tanh(x) * 3.0 + np.sum(np.exp(x)))
y = f(np.arange(4.0))
# machine code loaded from the disk cache calls BLAS (gemm) and selects too
a = np.linspace(-1.0, 1.0, 128).reshape(16, 8)
g = pb.jit(lambda a: (a @ a.T * 2.0, np.maximum(np.concatenate([a[:1], a]), 0.0)))
p, m = g(a)
assert np.allclose(p, a @ a.T * 2.0, rtol=1e-13)
assert np.array_equal(m, np.maximum(np.concatenate([a[:1], a]), 0.0))
# and the helpers kernels call by symbol (externs.py), published before the code links
import scipy.special
v = np.array([3.0, -1.0, 2.0, 0.5])
m4 = np.eye(4) * 2 + np.outer(v, v) * 0.1
h = pb.jit(lambda v, m: (np.sort(v), np.cumsum(v), np.linalg.solve(m, v),
                         scipy.special.digamma(v + 2.0)))
for got, want in zip(h(v, m4), (np.sort(v), np.cumsum(v), np.linalg.solve(m4, v),
                                 scipy.special.digamma(v + 2.0))):
    assert np.allclose(got, want, rtol=1e-13, atol=0), (got, want)
print(json.dumps({"stats": pb.jit_stats(), "y": y.tolist()}))
"""


def _child(env):
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_new_process_hits_disk_cache_and_corrupt_entry_is_rebuilt(tmp_cache):
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_cache))
    want = (np.tanh(np.arange(4.0)) * 3.0 + np.sum(np.exp(np.arange(4.0)))).tolist()
    first = _child(env)
    np.testing.assert_allclose(first["y"], want, rtol=1e-12)
    assert first["stats"]["numba_compiles"] >= 1
    second = _child(env)
    np.testing.assert_allclose(second["y"], want, rtol=1e-12)
    assert second["stats"]["numba_compiles"] == 0
    assert second["stats"]["numba_disk_loads"] >= 1
    assert second["stats"]["disk_source_hits"] >= 1
    # truncate every kernel file: detected by the hash line, rewritten, still correct
    kdir = tmp_cache / "kernels"
    files = [p for p in kdir.iterdir() if p.suffix == ".py"]
    assert files
    for p in files:
        p.write_text(p.read_text()[: len(p.read_text()) // 2])
    third = _child(env)
    np.testing.assert_allclose(third["y"], want, rtol=1e-12)
    assert third["stats"]["disk_entries_rebuilt"] >= 1
    fourth = _child(env)
    assert fourth["stats"]["numba_compiles"] == 0
    # damage Numba's own cache files (index and machine code): recompiled, still correct
    pyc = kdir / "__pycache__"
    damaged = [p for p in pyc.iterdir() if p.suffix in (".nbi", ".nbc")]
    assert damaged
    for p in damaged:
        p.write_bytes(p.read_bytes()[:40])
    fifth = _child(env)
    np.testing.assert_allclose(fifth["y"], want, rtol=1e-12)
    assert fifth["stats"]["disk_entries_rebuilt"] >= 1
    sixth = _child(env)
    np.testing.assert_allclose(sixth["y"], want, rtol=1e-12)
    assert sixth["stats"]["numba_compiles"] == 0


def test_an_error_of_a_kernel_run_keeps_the_cache_files(tmp_cache):
    # only errors raised while Numba reads its cache mean damage; before, a run's
    # MemoryError (here: a 128 TiB result) dropped the kernel's cache files
    c = _unique(3)(1.0)
    f = pb.jit(lambda x: np.broadcast_to(x, (2**22, 2**22)) * c)
    before = pb.jit_stats()
    for _ in range(2):
        with pytest.raises(MemoryError):
            f(np.ones(2**22))
        files = sorted(p.name for p in tmp_cache.rglob("*") if p.is_file())
        assert any(n.endswith(".nbc") for n in files) and any(n.endswith(".nbi") for n in files)
    after = pb.jit_stats()
    assert after["disk_entries_rebuilt"] == before["disk_entries_rebuilt"]
    assert after["numba_compiles"] == before["numba_compiles"] + 1


def test_disk_cache_disabled(tmp_cache, monkeypatch):
    monkeypatch.setenv("PULLBACK_CACHE", "0")
    f = pb.jit(_unique(2))
    np.testing.assert_allclose(f(np.ones(3)), _unique(2)(np.ones(3)), rtol=1e-12)
    assert not (tmp_cache / "kernels").exists()
    assert not (tmp_cache / "programs").exists()


def test_programs_kept_in_memory_are_bounded(tmp_cache, monkeypatch):
    # each program holds copies of its constants: re-jitting a closure over new weights
    # kept every set alive; the least recently used are forgotten beyond the bounds
    monkeypatch.setattr(cache, "PROGRAMS_MAX_BYTES", 3 * 8 * 1000)
    monkeypatch.setattr(cache, "_programs", type(cache._programs)())
    x = np.ones(1000)
    for i in range(6):
        w = np.full(1000, float(i))
        assert pb.jit(lambda x: np.sum(x * w))(x) == 1000.0 * i  # noqa: B023
    assert len(cache._programs) == 3
    monkeypatch.setattr(cache, "PROGRAMS_MAX_COUNT", 2)
    pb.jit(lambda x: np.sum(x * np.arange(1000.0)))(x)
    assert len(cache._programs) == 2


def test_threads_calling_one_jitted_function(tmp_cache):
    f = pb.jit(lambda x, y: np.sum(np.exp(x) * y, axis=0) + x[0])
    rng = np.random.default_rng(1)
    inputs = [(rng.standard_normal((6, 3)), rng.standard_normal((6, 3))) for _ in range(8)]
    errors = []

    def work(k):
        try:
            for _ in range(50):
                x, y = inputs[k]
                np.testing.assert_allclose(f(x, y), np.sum(np.exp(x) * y, axis=0) + x[0],
                                           rtol=1e-12)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    _in_threads(work, 8)
    assert not errors, errors[0]


def _in_threads(work, n):
    """work(k) for k < n, each in a thread of its own, started together."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


_FORK_WHILE_BUSY = """
import os, sys, threading, time
import numpy as np
import pullback as pb
from numba.core.compiler_lock import global_compiler_lock

parent = os.getpid()
tracing, go_on = threading.Event(), threading.Event()

def slow(x):  # traced in a thread that holds f's lock while the main thread forks
    if os.getpid() == parent:
        tracing.set()
        go_on.wait()
    return np.cos(x) * 3.0

f = pb.jit(slow)
pb.jit(np.sin)(1.0)  # the backend is set up

def compiling():  # Numba's compiler lock held, as by a compilation in progress
    with global_compiler_lock:
        time.sleep(1.0)

threads = [threading.Thread(target=f, args=(0.5,)), threading.Thread(target=compiling)]
for t in threads:
    t.start()
tracing.wait()
time.sleep(0.2)
pid = os.fork()
if pid == 0:  # the child compiles two kernels of its own
    ok = f(0.25) == np.cos(0.25) * 3.0 and pb.jit(lambda x: x * 7.0)(2.0) == 14.0
    os._exit(0 if ok else 1)
go_on.set()
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exit", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("hung")
for t in threads:
    t.join()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_while_threads_trace_and_compile_does_not_hang(tmp_path):
    # the child inherits held locks whose holders did not survive the fork: a
    # jitted function's (its trace was running) and Numba's compiler lock
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", _FORK_WHILE_BUSY], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["exit", "0"], p.stderr[-3000:]


def test_threads_calling_a_guarded_kernel_while_it_falls_back(tmp_cache):
    # sin of 64 unbounded values: the guarded medium kernel (trig.TrigGuard); the
    # threads given a huge value make the function switch to the unguarded kernel
    # while the others call it
    c = 0.5 + os.getpid()
    f = pb.jit(lambda x: np.sin(x) * c + np.cos(x))
    xs = [np.linspace(-3.0, 3.0, 64) + k for k in range(8)]
    for k in (2, 5):
        xs[k][10] = 1e9 + k
    errors = []

    def work(k):
        try:
            for _ in range(30):
                np.testing.assert_allclose(f(xs[k]), np.sin(xs[k]) * c + np.cos(xs[k]),
                                           rtol=1e-14, atol=1e-10)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    before = pb.jit_stats()["trig_fallbacks"]
    _in_threads(work, 8)
    assert not errors, errors[0]
    assert pb.jit_stats()["trig_fallbacks"] == before + 1


def _untypable_ir(monkeypatch, name, line):
    """(primitive, IR) of one elementwise equation at this file's `line` whose
    lowering Numba cannot type (a float plus a string)."""
    from pullback.backends.numba import lowering
    from pullback.ir.core import IR, Eqn, ShapedArray, Var
    from pullback.tracer.trace import SourceInfo

    bad = P.Primitive(name)
    monkeypatch.setattr(P, "ELEMENTWISE", P.ELEMENTWISE | {bad})
    monkeypatch.setitem(lowering.scalar_rules, bad,
                        lambda ctx, out, ins, x: f"({x} + 'text')")
    a, b = Var(ShapedArray((3,), np.float64)), Var(ShapedArray((3,), np.float64))
    src = SourceInfo(__file__, line, "user_fn")
    return bad, IR([], [], [a], [Eqn(bad, [a], [b], {}, source=src)], [b])


def test_numba_typing_error_names_equation_and_user_line(tmp_cache, monkeypatch):
    from pullback.backends import numba as nb

    _, ir = _untypable_ir(monkeypatch, "bogus_op", 4)
    run = nb.compile(ir)
    with pytest.raises(nb.NumbaCompileError) as info:
        run(np.ones(3))
    msg = str(info.value)
    assert "bogus_op" in msg and "test_numba_cache.py" in msg and "interpreter" in msg
    assert len(msg.splitlines()) < 12


def test_typing_error_from_a_stored_program_names_equation(tmp_cache, monkeypatch):
    """A program reused from the cache has no IR at hand: the error message
    optimizes the traced IR again to find the equation behind the failing line."""
    from pullback.backends import numba as nb

    bad, traced = _untypable_ir(monkeypatch, "bogus_op2", 5)
    nb.compile_traced(traced)
    cache.clear_memory()
    s0 = pb.jit_stats()
    run, optimized = nb.compile_traced(traced)
    assert pb.jit_stats()["program_hits"] == s0["program_hits"] + 1
    with pytest.raises(nb.NumbaCompileError) as info:
        run(np.ones(3))
    msg = str(info.value)
    assert "equation: b:f64[3] = bogus_op2 a" in msg and "interpreter" in msg
    assert 'test_numba_cache.py", line 5, in user_fn' in msg
    assert [e.prim for e in optimized().eqns] == [bad]


def test_jit_of_grad_and_grad_of_jit():
    f = lambda x: np.sum(np.tanh(x) ** 2)  # noqa: E731
    x = np.linspace(-1, 1, 7)
    want = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)
    np.testing.assert_allclose(pb.jit(pb.grad(f))(x), want, rtol=1e-12)
    np.testing.assert_allclose(pb.grad(pb.jit(f))(x), want, rtol=1e-12)
    g = pb.jit(pb.grad(np.sin))
    assert g(1.0).shape == () and abs(g(1.0) - np.cos(1.0)) < 1e-15


def test_transforms_under_jit_equal_eager():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4)
    w = rng.standard_normal((4, 3))

    def mlp(x, w):
        return np.sum(np.tanh(x @ w) ** 2) + np.log(np.sum(np.exp(x)))

    def rosen(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    def vec(x):
        return np.sin(x) * np.cumsum(x) + np.maximum(x, 0.1)

    cases = [(pb.grad(mlp, argnums=(0, 1)), (x, w)), (pb.hessian(rosen), (x,)),
             (pb.jacfwd(vec), (x,)), (pb.jacrev(vec), (x,)),
             (pb.value_and_grad(rosen), (x,))]
    for fn, args in cases:
        got, want = pb.jit(fn)(*args), fn(*args)
        gl, wl = _flat(got), _flat(want)
        assert len(gl) == len(wl)
        for a, b in zip(gl, wl):
            assert isinstance(a, np.ndarray)
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _flat(t):
    if isinstance(t, (tuple, list)):
        return [x for c in t for x in _flat(c)]
    return [t]


# ---------------------------------------------------------------- comment-insensitive keys
_MOVED_CHILD = r"""
import json, numpy as np, pullback as pb
f = pb.jit(pb.grad(lambda x: np.sum(np.tanh(x[1:]) * x[:-1]) + 0.{salt}))
x = np.arange(5.0)
y = f(x)
print(json.dumps({{"stats": pb.jit_stats(), "y": y.tolist(), "source": f.source(x)}}))
"""


def _moved_child(env, blank_lines, salt):
    code = "\n" * blank_lines + _MOVED_CHILD.format(salt=salt)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_function_moved_in_its_file_hits_the_disk_cache(tmp_cache):
    """The kernel's comments carry the user's source lines; moving the function
    down its file changes them but not the code: a new process loads the kernel."""
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_cache))
    salt = os.getpid()
    x = np.arange(5.0)
    t = np.tanh(x[1:])
    want = np.zeros(5)
    want[1:] += (1 - t * t) * x[:-1]
    want[:-1] += t
    first = _moved_child(env, 0, salt)
    moved = _moved_child(env, 7, salt)
    for res in (first, moved):
        np.testing.assert_allclose(res["y"], want, rtol=1e-12)
    assert "<string>:3 " in first["source"] and "<string>:10 " in moved["source"]
    assert first["stats"]["numba_compiles"] == 1
    assert moved["stats"]["numba_compiles"] == 0
    assert moved["stats"]["numba_disk_loads"] == 1
    assert moved["stats"]["disk_source_hits"] == 1
    assert moved["stats"]["disk_entries_rebuilt"] == 0


def test_key_ignores_equation_comments_not_code_or_header():
    src = ("# generated\n# backend version 1\nimport math\n\n\ndef kernel_py(a):\n"
           "    # b:f64[] = sin a  [user.py:3 (f)]\n    b = math.sin(a)\n    return b\n")
    assert cache.source_hash(src) == cache.source_hash(src.replace("user.py:3", "user.py:9"))
    assert cache.source_hash(src) != cache.source_hash(src.replace("math.sin", "math.cos"))
    assert cache.source_hash(src) != cache.source_hash(src.replace("version 1", "version 2"))
    # blanking keeps line numbers (Numba's cache index and error lines depend on them)
    assert cache.key_text(src).count("\n") == src.count("\n")


def test_code_object_file_is_checked_and_rebuilt(tmp_cache):
    f = pb.jit(_unique(4))
    x = np.linspace(-1, 1, 6)
    np.testing.assert_allclose(f(x), _unique(4)(x), rtol=1e-12)
    (path,) = [p for p in (tmp_cache / "kernels").iterdir() if p.suffix == ".py"]
    text = path.read_text()
    cpath = cache._code_path(str(path))
    assert os.path.exists(cpath)
    code = cache._module_code(str(path), text)  # read back from the file
    assert code.co_filename == str(path)
    ns = {}
    exec(code, ns)
    assert callable(ns["kernel_py"])
    blob = open(cpath, "rb").read()
    for damaged in (blob[: len(blob) // 2], blob[:-1] + bytes([blob[-1] ^ 0xFF]), b""):
        with open(cpath, "wb") as fh:
            fh.write(damaged)
        code = cache._module_code(str(path), text)  # detected, recompiled, rewritten
        ns = {}
        exec(code, ns)
        assert callable(ns["kernel_py"])
        assert open(cpath, "rb").read() == blob
    # a code file of other text (the module was rewritten) is not used
    other = text.replace("kernel_py", "kernel_py_other")
    code = cache._module_code(str(path), other)
    ns = {}
    exec(code, ns)
    assert "kernel_py_other" in ns
    # and a new process-like load after all this still computes the right values
    cache.clear_memory()
    g = pb.jit(_unique(4))
    np.testing.assert_allclose(g(x), _unique(4)(x), rtol=1e-12)


# ---------------------------------------------------------------- programs of traced IRs
_PROGRAM_CHILD = r"""
import json, numpy as np, pullback as pb
from pullback.passes import manager
runs = []
real = manager.optimize
manager.optimize = lambda ir, *a, **k: runs.append(1) or real(ir, *a, **k)
f = pb.jit(pb.hessian(lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
                      + 0.{salt}))
x = np.linspace(-1.0, 1.5, 6)
h = f(x)
before_ir = len(runs)
text = str(f.ir(x))  # the optimized IR, made on demand when the program was stored
g = pb.grad(lambda x: np.sum(f(x)))(x)  # jit inside a trace inlines that IR
print(json.dumps({{"stats": pb.jit_stats(), "h": h.tolist(), "g": g.tolist(),
                   "passes_before_ir": before_ir, "ir": text}}))
"""


def _program_child(env, salt):
    out = subprocess.run([sys.executable, "-c", _PROGRAM_CHILD.format(salt=salt)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_new_process_reuses_the_program_of_a_traced_ir(tmp_cache):
    """A new process that traces the same IR takes the optimized program from the
    disk: no pass runs until the optimized IR itself is asked for."""
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_cache))
    salt = os.getpid()
    first = _program_child(env, salt)
    second = _program_child(env, salt)
    x = np.linspace(-1.0, 1.5, 6)
    want = pb.hessian(lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))(x)
    for res in (first, second):
        np.testing.assert_allclose(res["h"], want, rtol=1e-12)
        np.testing.assert_allclose(res["g"], np.sum(pb.jacfwd(pb.hessian(
            lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)))(x),
            axis=(0, 1)), rtol=1e-12)
    assert first["stats"]["program_hits"] == 0 and first["passes_before_ir"] == 1
    assert second["stats"]["program_hits"] == 1 and second["passes_before_ir"] == 0
    assert second["stats"]["numba_compiles"] == 0
    assert second["ir"] == first["ir"]


def test_a_stored_guarded_program_falls_back(tmp_cache):
    """A program taken from the disk (no passes run) still finds its unguarded
    kernel when a call fails the guard: the passes run then, once."""
    c = 0.25 + os.getpid()

    def f(x):
        return np.sin(x * c)

    x = np.linspace(-1.0, 1.0, 64)
    np.testing.assert_allclose(pb.jit(f)(x), f(x), rtol=1e-14)
    cache.clear_memory()  # as a new process: the program comes from the disk
    before = pb.jit_stats()
    g = pb.jit(f)
    huge = x * 1e8
    np.testing.assert_allclose(g(huge), f(huge), rtol=1e-14, atol=1e-15)
    after = pb.jit_stats()
    assert after["program_hits"] == before["program_hits"] + 1
    assert after["trig_fallbacks"] == before["trig_fallbacks"] + 1
    np.testing.assert_allclose(g(x), f(x), rtol=1e-14)


def _traced(f, *args):
    from pullback.api import trace_to_ir

    return trace_to_ir(f, args, ())[0]


def test_fingerprint_sees_text_lines_and_constants_not_callables():
    from pullback.ir.printer import fingerprint

    x = np.ones(3)
    c1, c2 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])
    f = lambda x: x * c1  # noqa: E731
    g = lambda x: x * c2  # noqa: E731  (same text, other constant)
    h = lambda x: x * c1  # noqa: E731  (same text and constant, another line)
    assert fingerprint(_traced(f, x)) == fingerprint(_traced(f, x))
    assert len({fingerprint(_traced(k, x)) for k in (f, g, h)}) == 3
    assert fingerprint(_traced(f, x)) != fingerprint(_traced(f, x.astype(np.float32)))

    @pb.custom_jvp
    def clip(x):
        return np.clip(x, 0.0, 1.0)

    @clip.defjvp
    def clip_jvp(primals, tangents):
        return clip(primals[0]), tangents[0]

    assert fingerprint(_traced(lambda x: clip(x) * 2.0, x)) is None  # the rule is code
    # such IRs are compiled without a stored program
    before = pb.jit_stats()["program_hits"]
    for _ in range(2):
        np.testing.assert_array_equal(pb.jit(lambda x: clip(x) * 2.0)(x - 0.5), [1.0, 1.0, 1.0])
    assert pb.jit_stats()["program_hits"] == before


def test_damaged_or_foreign_program_file_is_rebuilt(tmp_cache, monkeypatch):
    fn = _unique(5)
    x = np.linspace(-1, 1, 6)
    np.testing.assert_allclose(pb.jit(fn)(x), fn(x), rtol=1e-12)
    (path,) = (tmp_cache / "programs").iterdir()
    good = path.read_bytes()
    for damaged in (good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 1]), b""):
        path.write_bytes(damaged)
        cache.clear_memory()
        s0 = pb.jit_stats()
        np.testing.assert_allclose(pb.jit(fn)(x), fn(x), rtol=1e-12)
        s1 = pb.jit_stats()
        assert s1["program_hits"] == s0["program_hits"]
        assert s1["disk_entries_rebuilt"] == s0["disk_entries_rebuilt"] + 1
        assert path.read_bytes() == good  # rewritten
    cache.clear_memory()
    s0 = pb.jit_stats()
    pb.jit(fn)(x)
    assert pb.jit_stats()["program_hits"] == s0["program_hits"] + 1
    # other pullback code (or NumPy) makes other programs: the stored one is not used
    cache.clear_memory()
    monkeypatch.setattr(cache, "code_version", lambda: "another version")
    s0 = pb.jit_stats()
    np.testing.assert_allclose(pb.jit(fn)(x), fn(x), rtol=1e-12)
    assert pb.jit_stats()["program_hits"] == s0["program_hits"]


# ---------------------------------------------------------------- random programs


def _random_programs():
    from test_numba_property import FLOAT_OPS, FLOATS, LOOP_SHAPES
    from test_passes_property import programs

    return programs(shapes=LOOP_SHAPES, dtypes=FLOATS, ops=FLOAT_OPS)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(_random_programs(), st.integers(0, 2**31 - 1))
def test_stored_program_of_random_ir_equals_a_fresh_build(tmp_cache, program, seed):
    """A traced IR's program taken from the disk (memory cleared) has the source and
    constants a fresh build gives and computes the same values, and its optimized IR
    on demand is the fresh optimize()."""
    from pullback.backends import numba as nb
    from pullback.ir.printer import fingerprint, ir_equal
    from pullback.passes.manager import optimize
    from pullback.tracer.trace import trace
    from test_numba_property import make_args

    in_avals, fn = program
    traced = trace(fn, in_avals)
    assert fingerprint(traced) == fingerprint(trace(fn, in_avals))  # deterministic
    run1, _ = nb.compile_traced(traced)
    cache.clear_memory()
    s0 = pb.jit_stats()
    run2, optimized = nb.compile_traced(traced)
    assert pb.jit_stats()["program_hits"] == s0["program_hits"] + 1
    fresh = optimize(traced)
    assert ir_equal(optimized(), fresh)
    assert run2.source == nb.compile(fresh).source == run1.source
    args, laid = make_args(traced, np.random.default_rng(seed))
    with np.errstate(all="ignore"):
        for a, b in zip(run1(*laid), run2(*laid)):
            np.testing.assert_array_equal(a, b)


def test_jit_works_where_numba_cannot_cache_anywhere(tmp_path):
    # a read-only install and HOME: Numba finds no cache location for pullback's own
    # njit(cache=True) helpers; before, every pb.jit call raised RuntimeError
    child = (
        "from numba.core import caching\n"
        "caching.CacheImpl._locator_classes = []  # no writable location\n"
        "import numpy as np, pullback as pb\n"
        "x = np.linspace(0.0, 1.0, 5)\n"
        "g = pb.jit(pb.grad(lambda x: np.sum(np.exp(np.sin(x)) * np.tanh(x))))(x)\n"
        "want = pb.grad(lambda x: np.sum(np.exp(np.sin(x)) * np.tanh(x)))(x)\n"
        "assert np.allclose(g, want, rtol=1e-13), (g, want)\n"
        "print('ok')\n")
    env = dict(os.environ, PULLBACK_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_relative_cache_dir_stays_where_it_was_first_read(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("PULLBACK_CACHE_DIR", "relative_cache")
    monkeypatch.delenv("PULLBACK_CACHE", raising=False)
    assert pb.jit(_unique(31))(2.0) == _unique(31)(2.0)
    monkeypatch.chdir(tmp_path / "b")
    assert pb.jit(_unique(32))(2.0) == _unique(32)(2.0)
    assert len(list((tmp_path / "a" / "relative_cache" / "kernels").glob("pb_*.py"))) == 2
    assert not (tmp_path / "b" / "relative_cache").exists()
