"""LLVM options for the compilation of pullback's kernels, and only theirs.

LLVM's loop vectorizer runs a loop's remainder (its trip count modulo the vector
width) as scalar code unless the main loop takes at least 16 lanes
(`-epilogue-vectorization-minimum-VF`, default 16): float64 on AVX-512 takes 8, on
AVX2 4. A short inner loop then runs much of its work scalar, libm-free but
still ~5x slower per element for vecmath's exp: the 20-node quadrature of the
integral_bounds workload ran 16 nodes in vector code and 4 scalar, 179 ms per
call; with the remainder vectorized too (threshold 4), 126 ms.

LLVM's options are process-wide, and the user's own Numba functions compile
through the same LLVM. So the option is set when Numba starts compiling a
pullback kernel and restored when it ends: Numba compiles under its global
compiler lock and fires its "numba:compile" event inside it, with the
dispatcher being compiled; a kernel is recognised by the module its function
was executed in (cache.load). Everything compiled inside that event (helpers,
the body of a parallel loop) is part of the kernel's machine code.
"""
from __future__ import annotations

KERNEL_OPTIONS = {"epilogue-vectorization-minimum-VF": ("4", "16")}  # (kernels, LLVM's default)
KERNEL_MODULE_PREFIX = "_pullback_kernel_"

_installed = False


def _is_kernel(dispatcher):
    fn = getattr(dispatcher, "py_func", None)
    # (the listener sees every compilation in the process: a user's function made
    # by exec without __name__ in its globals has __module__ None)
    module = getattr(fn, "__module__", None)
    return isinstance(module, str) and module.startswith(KERNEL_MODULE_PREFIX)


def _set(which):
    import llvmlite.binding as llvm

    for name, values in KERNEL_OPTIONS.items():
        llvm.set_option("pullback", f"-{name}={values[which]}")


def install():
    """Register the listener (once per process)."""
    global _installed
    if _installed:
        return
    from numba.core import event

    class KernelOptions(event.Listener):
        depth = 0  # kernels compiled while one compiles (none today) leave it set

        def on_start(self, ev):
            if _is_kernel(ev.data.get("dispatcher")):
                if self.depth == 0:
                    _set(0)
                self.depth += 1

        def on_end(self, ev):
            if _is_kernel(ev.data.get("dispatcher")):
                self.depth -= 1
                if self.depth == 0:
                    _set(1)

    event.register("numba:compile", KernelOptions())
    _installed = True
