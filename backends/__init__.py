"""Backends: `compile(ir)` returns a callable on flat NumPy arguments -> list of arrays."""


def get_backend(name):
    if name == "interpreter":
        from . import interpreter_backend

        return interpreter_backend
    if name == "numba":
        from . import numba as numba_backend

        return numba_backend
    raise ValueError(f"unknown backend {name!r}; choose 'numba' or 'interpreter'")
