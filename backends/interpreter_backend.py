"""`backend="interpreter"`: run the optimized IR with NumPy, primitive by primitive."""
from .interpreter import run_ir


def compile(ir):
    def run(*args):
        return run_ir(ir, ir.consts, args)

    return run
