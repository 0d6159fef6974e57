"""`backend="interpreter"`: run the optimized IR with NumPy, primitive by primitive."""
from .interpreter import run_ir


def compile(ir):
    def run(*args):
        return run_ir(ir, ir.consts, args)

    return run


def compile_traced(traced, parallel=False):
    """(run, optimized()) for a traced IR, as the numba backend's (NumPy decides
    its own threading: `parallel` changes nothing here)."""
    from ..passes.manager import optimize

    ir = optimize(traced)
    return compile(ir), lambda: ir
