"""Kernel modules: in-memory and on-disk caches, and the counters users can read.

A kernel's source is content-hashed. The key is the source with its indented
comment lines blanked (`key_text`): those are the IR equations with the user's
source lines, which differ between call sites of one function (an equation made
by a transform is attributed to the line that called it) but never change the
code; the module's header comments (backend version, njit options) stay in the
key. In memory, sources with one key share one compiled module. On disk, the
source is written to `<cache dir>/kernels/pb_<key>.py` (first line: the hash of
the rest, so a truncated, corrupt or foreign file is detected and rewritten) and
executed as a module with that file name, so `numba.njit(cache=True)` can store
and reload machine code next to it: a new process compiles nothing it compiled
before. An existing file whose code matches is reused as it is (its comments
may name another call site), so its line numbers and Numba's stamp stay valid.
The module's Python code object is kept next to Numba's files (marshal, checked
by hashes), so a new process does not recompile the module's Python source
either (Python's own .pyc would do that, but not under PYTHONDONTWRITEBYTECODE).
Writes go to a temporary file renamed into place, so processes racing on one
entry are safe.

Programs: what `pb.jit` builds from a traced IR (the optimized kernel's source,
its constants, its outputs' types) is also kept, in memory and in
`<cache dir>/programs/`, keyed by the traced IR's fingerprint (its text, source
lines and constants: ir.printer.fingerprint) and a hash of pullback's own code
(`code_version`). A new process that traces the same IR skips the passes and
the code generator. A program file carries the hash of its payload, checked
before it is unpickled: a damaged one is rebuilt, never loaded.

PULLBACK_CACHE_DIR overrides the directory (default: $XDG_CACHE_HOME/pullback or
~/.cache/pullback); PULLBACK_CACHE=0 disables the disk cache.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import marshal
import os
import pickle
import sys
import tempfile
import threading
import types
from collections import OrderedDict

import numba

from . import llvm_options
from .intrinsics import njit_cached

HASH_PREFIX = "# pullback kernel sha256="
# No fastmath: IEEE arithmetic everywhere; the reductions' accumulators alone may be
# reassociated (intrinsics.radd/rmul), which is what lets their loops vectorize.
# no_rewrites: Numba's IR rewrites (array expressions, constant raises, static
# binops) find nothing in a kernel (no whole-array arithmetic, no raise, no `**`)
# and cost ~6% of a large kernel's compile; no_cfunc_wrapper: nothing calls the
# kernel from C, and its wrapper is compiled for every kernel.
JIT_OPTIONS = dict(nogil=True, error_model="numpy", no_rewrites=True, no_cfunc_wrapper=True)

_lock = threading.RLock()
_modules: dict = {}      # source hash -> loaded module (kernel dispatcher inside)
# program key -> Program (see backends/numba compile_traced), least recently used first;
# bounded, since a program holds private copies of its constants: re-jitting a closure
# over new weights in a loop kept every set alive (8 MB a step for 10^6 of them)
_programs: "OrderedDict" = OrderedDict()
PROGRAMS_MAX_COUNT = 256
PROGRAMS_MAX_BYTES = 256 << 20  # of constants

_counters = {"kernels_generated": 0, "memory_hits": 0, "disk_source_hits": 0,
             "disk_entries_rebuilt": 0, "program_hits": 0,
             "trig_fallbacks": 0,  # programs switched to their unguarded kernel (trig.TrigGuard)
             "fork_fallbacks": 0}  # parallel programs switched to serial in a forked child


def _remember_program(key, prog):
    """Keep `prog` as the most recently used; forget the least recently used beyond
    the bounds (the Jitted objects that use them keep theirs)."""
    _programs[key] = prog
    _programs.move_to_end(key)
    total = sum(_const_bytes(p) for p in _programs.values())
    while len(_programs) > 1 and (len(_programs) > PROGRAMS_MAX_COUNT
                                  or total > PROGRAMS_MAX_BYTES):
        _, old = _programs.popitem(last=False)
        total -= _const_bytes(old)


def _const_bytes(prog):
    return sum(getattr(c, "nbytes", 0) for c in prog.consts)


def count(name):
    with _lock:
        _counters[name] += 1


def cache_dir():
    d = os.environ.get("PULLBACK_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "pullback")
    # A relative directory stays the one it named when first read: after an
    # os.chdir the files would go elsewhere, and kernel modules already loaded
    # would no longer find theirs.
    return _absolute_dirs.setdefault(d, os.path.abspath(d))


_absolute_dirs: dict = {}


def disk_enabled():
    return os.environ.get("PULLBACK_CACHE", "1") != "0"


def _sha(text) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def key_text(source: str) -> str:
    """`source` with its indented comment lines blanked (line numbers kept)."""
    return "\n".join("#" if line[:1] in (" ", "\t") and line.lstrip()[:1] == "#" else line
                     for line in source.split("\n"))


def source_hash(source: str) -> str:
    """The cache key of a kernel source (comments inside functions do not count)."""
    return _sha(key_text(source))


def _file_text(source):
    return f"{HASH_PREFIX}{_sha(source)}\n{source}"


def _matches(existing, source):
    """Is `existing` an intact kernel file (its hash line fits its body) with the code of `source`?"""
    head, sep, body = existing.partition("\n")
    return bool(sep) and head == HASH_PREFIX + _sha(body) and key_text(body) == key_text(source)


def _write_atomic(path, data, suffix=".py"):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=suffix, dir=d)
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _disk_entry(source, h):
    """(path, file text) of the module file for `source`: an intact file with the same
    code is reused as it is; a missing or damaged one is (re)written."""
    d = os.path.join(cache_dir(), "kernels")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"pb_{h[:32]}.py")
    try:
        with open(path) as f:
            existing = f.read()
    except (OSError, UnicodeDecodeError):
        existing = None
    if existing is not None and _matches(existing, source):
        _counters["disk_source_hits"] += 1
        return path, existing
    if existing is not None:
        _counters["disk_entries_rebuilt"] += 1
        _drop_numba_cache(path)
    text = _file_text(source)
    _write_atomic(path, text)
    return path, text


# Code-object file: magic | sha256(module text) | sha256(payload) | marshal payload.
# The payload hash is checked before unmarshalling, so a damaged file is never loaded.
_CODE_MAGIC = importlib.util.MAGIC_NUMBER


def _code_path(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    tag = sys.implementation.cache_tag or "py"
    return os.path.join(os.path.dirname(path), "__pycache__", f"{stem}.{tag}.pbcode")


def _module_code(path, text):
    """The compiled code of the module file `path` holding `text`, from the
    code-object file when it is intact and belongs to this text and path."""
    cpath = _code_path(path)
    want = _sha(text).encode()
    try:
        with open(cpath, "rb") as f:
            blob = f.read()
        n = len(_CODE_MAGIC)
        payload = blob[n + 128:]
        if (blob[:n] == _CODE_MAGIC and blob[n:n + 64] == want
                and blob[n + 64:n + 128] == _sha(payload).encode()):
            code = marshal.loads(payload)
            if code.co_filename == path:  # not a copy of the cache dir made elsewhere
                return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(text, path, "exec")
    try:
        os.makedirs(os.path.dirname(cpath), exist_ok=True)
        payload = marshal.dumps(code)
        _write_atomic(cpath, _CODE_MAGIC + want + _sha(payload).encode() + payload,
                      suffix=".pbcode")
    except OSError:
        pass  # the cache is an optimization: a read-only directory still works
    return code


def _drop_numba_cache(path):
    """Remove Numba's index/data files (and our code-object file) of a damaged entry
    (they describe other code)."""
    pyc = os.path.join(os.path.dirname(path), "__pycache__")
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        for name in os.listdir(pyc):
            if name.startswith(stem + "."):
                try:
                    os.unlink(os.path.join(pyc, name))
                except OSError:
                    pass
    except OSError:
        pass


def drop_damaged(path):
    """Forget Numba's machine code for the kernel file at `path` (it failed to load)."""
    with _lock:
        _counters["disk_entries_rebuilt"] += 1
        _drop_numba_cache(path)


def load(source: str, parallel=False):
    """The module for `source`, with `kernel` an njit dispatcher (shared by sources
    with one key); `parallel` compiles its prange loops as such."""
    h = source_hash(source)
    with _lock:
        mod = _modules.get(h)
        if mod is not None:
            _counters["memory_hits"] += 1
            return mod
        _counters["kernels_generated"] += 1
        name = f"{llvm_options.KERNEL_MODULE_PREFIX}{h[:32]}"
        path = None
        if disk_enabled():
            try:
                path, text = _disk_entry(source, h)
                code = _module_code(path, text)
            except OSError:
                path = None  # unwritable cache dir: fall back to memory only
        mod = types.ModuleType(name)
        if path is not None:
            # As an import of the file would: Numba locates the source (and puts its
            # cache next to it) through the code's file name.
            mod.__file__ = path
            sys.modules[name] = mod
        else:
            code = compile(source, f"<pullback kernel {h[:12]}>", "exec")
        exec(code, mod.__dict__)
        mod.kernel = (njit_cached if path is not None else numba.njit)(
            **jit_options(parallel))(mod.kernel_py)
        mod.path = path
        _modules[h] = mod
        return mod


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """A stamp of pullback's own code: every source file's name, size and
    modification time, as Python's .pyc files are validated (reading and hashing
    the files instead costs ~2 ms of every new process's first call), and NumPy's
    version (constant folding runs it). A program made by other passes or another
    code generator never matches."""
    import numpy

    dirs = set()
    for name in ("", ".ir", ".tracer", ".passes", ".backends", ".backends.numba"):
        dirs.update(os.path.abspath(d) for d in importlib.import_module("pullback" + name).__path__)
    stamp = [numpy.__version__]
    for d in sorted(dirs):
        with os.scandir(d) as entries:
            for e in sorted(entries, key=lambda e: e.name):
                if e.name.endswith(".py"):
                    st = e.stat()
                    stamp.append(f"{e.path} {st.st_size} {st.st_mtime_ns}")
    return _sha("\n".join(stamp))


_PROGRAM_MAGIC = b"pullback program 1\n"


def _program_path(key):
    return os.path.join(cache_dir(), "programs", f"{key[:40]}.pkl")


def load_program(key):
    """The program stored under `key` (memory, then disk), or None."""
    with _lock:
        prog = _programs.get(key)
        if prog is None and disk_enabled():
            prog = _read_program(key)
        if prog is not None:
            _remember_program(key, prog)
            _counters["program_hits"] += 1
        return prog


def _read_program(key):
    try:
        with open(_program_path(key), "rb") as f:
            blob = f.read()
    except OSError:
        return None
    n = len(_PROGRAM_MAGIC)
    head, digest, payload = blob[:n], blob[n:n + 64], blob[n + 64:]
    if head != _PROGRAM_MAGIC or digest != _sha(key.encode() + payload).encode():
        _counters["disk_entries_rebuilt"] += 1  # damaged or foreign: rebuilt by the caller
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # noqa: BLE001 - e.g. a class that moved: rebuild
        _counters["disk_entries_rebuilt"] += 1
        return None


def store_program(key, prog):
    with _lock:
        _remember_program(key, prog)
        if not disk_enabled():
            return
        path = _program_path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            payload = pickle.dumps(prog, protocol=pickle.HIGHEST_PROTOCOL)
            _write_atomic(path, _PROGRAM_MAGIC + _sha(key.encode() + payload).encode() + payload,
                          suffix=".pkl")
        except OSError:
            pass  # the cache is an optimization: a read-only directory still works


def stats():
    """Counters: kernels generated / shared in memory / found on disk, and Numba's
    compilations versus machine code loaded from its disk cache."""
    with _lock:
        out = dict(_counters)
        compiled = loaded = 0
        for mod in _modules.values():
            d = mod.kernel
            hits = sum(d.stats.cache_hits.values())
            loaded += hits
            compiled += len(d.signatures) - hits
        out["numba_compiles"] = compiled
        out["numba_disk_loads"] = loaded
        out["kernels_in_memory"] = len(_modules)
    return out


def clear_memory():
    """Forget in-memory modules (tests use it to exercise the disk cache)."""
    with _lock:
        _modules.clear()
        _programs.clear()


def jit_options(parallel=False):
    """The njit options of a kernel; `parallel` for one with prange loops."""
    return dict(JIT_OPTIONS, parallel=True) if parallel else JIT_OPTIONS


def options_text(parallel=False):
    """The njit options as deterministic text (part of every kernel's source hash)."""
    return ", ".join(f"{k}={sorted(v) if isinstance(v, (set, frozenset)) else v!r}"
                     for k, v in sorted(jit_options(parallel).items()))
