"""The systems compared: how each turns a workload into a zero-argument runner.

`System.runner(workload, case)` returns a fresh callable `run()` that computes the
workload's result once (blocking until it is ready), so the first `run()` call is
the system's first call: trace + compile + execute where the system compiles.
`System.unavailable()` returns the reason a peer cannot run (not installed), or None.
"""
from __future__ import annotations

import importlib.util


def _missing(*modules):
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return f"{m} not installed (pip install -e .[bench])"
    return None


class NotApplicable(Exception):
    """The workload has no version for this system (reported as "n/a", not an error)."""


class System:
    name = ""
    label = ""
    kind = ""  # which entry of Workload.impls it runs

    def unavailable(self):
        return None

    def build(self, workload, case):
        """A fresh function of the case's args."""
        impl = workload.impls.get(self.kind)
        if impl is None:
            raise NotApplicable(f"no {self.kind} version of {workload.name}")
        return impl(case)

    def runner(self, workload, case):
        fn = self.build(workload, case)
        args = case.args
        return lambda: fn(*args)

    def warm_up(self):
        """One-time library start-up (thread pools, LLVM) kept out of first calls."""


class PullbackJit(System):
    name, label, kind = "pullback", "pullback jit", "pullback"
    backend = "numba"

    def build(self, workload, case):
        import pullback as pb

        return pb.jit(super().build(workload, case), backend=self.backend)

    def warm_up(self):
        from pullback.backends import get_backend

        numba_startup()  # also when the Numba peer does not run
        get_backend(self.backend)  # the backend's one-time set-up (helper modules, passes)


class PullbackInterpreter(PullbackJit):
    name, label = "pullback_interp", "pullback interpreter"
    backend = "interpreter"


class Jax(System):
    name, label, kind = "jax", "JAX jit", "jax"

    def unavailable(self):
        return _missing("jax", "jaxlib")

    def _jax(self):
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax

    def runner(self, workload, case):
        jax = self._jax()
        fn = jax.jit(self.build(workload, case))
        # Inputs live on the device before timing, as a JAX user keeps them.
        args = jax.tree_util.tree_map(
            lambda a: jax.device_put(a) if hasattr(a, "shape") else a, case.args)
        block = jax.block_until_ready
        return lambda: block(fn(*args))

    def warm_up(self):
        import numpy as np

        jax = self._jax()
        jax.block_until_ready(jax.jit(lambda x: x + 1.0)(1.0))
        jax.block_until_ready(jax.jit(lambda x: x * 2.0)(np.ones(3)))


class NumpyHand(System):
    name, label, kind = "numpy", "NumPy (hand gradient)", "numpy"


class Autograd(System):
    name, label, kind = "autograd", "autograd", "autograd"

    def unavailable(self):
        return _missing("autograd")

    def warm_up(self):
        import autograd  # noqa: F401


class NumbaHand(System):
    name, label, kind = "numba", "Numba (hand-written)", "numba"

    def unavailable(self):
        return _missing("numba")

    def warm_up(self):
        numba_startup()


def numba_startup():
    """Numba's one-time start-up: LLVM, and for arrays its NumPy registries and
    SciPy's BLAS (~0.2-0.7 s), which would otherwise land in whichever first call
    compiles arrays first (pullback's when only pullback runs)."""
    import numba
    import numpy as np

    numba.njit(lambda x: x + 1.0)(1.0)
    numba.njit(lambda x: x * 2.0)(np.ones(3))


SYSTEMS = {s.name: s for s in (PullbackJit(), PullbackInterpreter(), Jax(), NumpyHand(),
                               Autograd(), NumbaHand())}


class Extra(System):
    """A workload's own peer (Workload.extras): a builder of a function of the args."""

    def __init__(self, label, builder):
        self.name, self.label, self.builder = "extra:" + label, label, builder

    def build(self, workload, case):
        return self.builder(case)
