"""Kernel modules: in-memory and on-disk caches, and the counters users can read.

A kernel's source is content-hashed. In memory, identical sources share one
compiled module. On disk, the source is written to `<cache dir>/kernels/pb_<hash>.py`
(first line: the hash of the rest, so a truncated, corrupt or foreign file is
detected and rewritten) and imported as a real module, so `numba.njit(cache=True)`
can store and reload machine code next to it: a new process compiles nothing it
compiled before. Writes go to a temporary file renamed into place, so processes
racing on one entry are safe.

PULLBACK_CACHE_DIR overrides the directory (default: $XDG_CACHE_HOME/pullback or
~/.cache/pullback); PULLBACK_CACHE=0 disables the disk cache.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import types

import numba

HASH_PREFIX = "# pullback kernel sha256="
# reassoc only: lets LLVM vectorize sum/prod reductions (partial sums in SIMD lanes,
# as NumPy's pairwise sum reorders too); no nnan/ninf, so inf/nan stay IEEE.
JIT_OPTIONS = dict(nogil=True, error_model="numpy", fastmath={"reassoc"})

_lock = threading.RLock()
_modules: dict = {}      # source hash -> loaded module (kernel dispatcher inside)
_counters = {"kernels_generated": 0, "memory_hits": 0, "disk_source_hits": 0,
             "disk_entries_rebuilt": 0}


def cache_dir():
    d = os.environ.get("PULLBACK_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "pullback")
    return d


def disk_enabled():
    return os.environ.get("PULLBACK_CACHE", "1") != "0"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _file_text(source, h):
    return f"{HASH_PREFIX}{h}\n{source}"


def _write_atomic(path, text):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _disk_path(source, h):
    """The module file for `source`, written (or rewritten) if missing or damaged."""
    d = os.path.join(cache_dir(), "kernels")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"pb_{h[:32]}.py")
    text = _file_text(source, h)
    try:
        with open(path) as f:
            existing = f.read()
    except (OSError, UnicodeDecodeError):
        existing = None
    if existing == text:
        _counters["disk_source_hits"] += 1
        return path
    if existing is not None:
        _counters["disk_entries_rebuilt"] += 1
        _drop_numba_cache(path)
    _write_atomic(path, text)
    return path


def _drop_numba_cache(path):
    """Remove Numba's index/data files of a damaged entry (they describe other code)."""
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


def load(source: str):
    """The module for `source`, with `kernel` an njit dispatcher (shared by identical sources)."""
    h = source_hash(source)
    with _lock:
        mod = _modules.get(h)
        if mod is not None:
            _counters["memory_hits"] += 1
            return mod
        _counters["kernels_generated"] += 1
        name = f"_pullback_kernel_{h[:32]}"
        path = None
        if disk_enabled():
            try:
                path = _disk_path(source, h)
            except OSError:
                path = None  # unwritable cache dir: fall back to memory only
        if path is not None:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        else:
            mod = types.ModuleType(name)
            exec(compile(source, f"<pullback kernel {h[:12]}>", "exec"), mod.__dict__)
        mod.kernel = numba.njit(cache=path is not None, **JIT_OPTIONS)(mod.kernel_py)
        mod.path = path
        _modules[h] = mod
        return mod


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


def options_text():
    """The njit options as deterministic text (part of every kernel's source hash)."""
    return ", ".join(f"{k}={sorted(v) if isinstance(v, (set, frozenset)) else v!r}"
                     for k, v in sorted(JIT_OPTIONS.items()))
