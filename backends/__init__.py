"""Backends: `compile(ir)` returns a callable on flat NumPy arguments -> list of arrays;
`compile_traced(traced_ir)` returns (that callable for the optimized IR, a function
giving the optimized IR), which lets a backend skip the passes for an IR it has seen."""


def get_backend(name):
    """The backend module `name`, set up for compiling.

    Called when a jitted function is constructed (`pb.jit(f)`), so the one-time
    imports every first call would otherwise pay (the pass pipeline and, for
    numba, the helper modules whose njit dispatchers the kernels call) happen
    here, once per process, not inside the first call of the first function.
    """
    if name == "interpreter":
        from . import interpreter_backend

        _import_pass_pipeline()
        return interpreter_backend
    if name == "numba":
        from . import numba as numba_backend

        _import_pass_pipeline()
        return numba_backend
    raise ValueError(f"unknown backend {name!r}; choose 'numba' or 'interpreter'")


def _import_pass_pipeline():
    from ..passes import manager  # noqa: F401  (pb.jit optimizes every IR before compiling)

