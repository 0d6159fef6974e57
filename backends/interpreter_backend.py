"""`backend="interpreter"`: run the optimized IR with NumPy, primitive by primitive."""
import numpy as np

from .interpreter import run_ir


def compile(ir):
    # private copies of the constants (a closure array the user changes later is
    # not read again), and outputs that are fresh arrays, never an argument, a
    # constant or a view of one (x * 1.0, x.T, a constant returned as it is), nor an
    # earlier output (one value returned twice: changing one must not change the other)
    consts = [np.array(c, copy=True) for c in ir.consts]
    kept = {id(c) for c in consts}

    def run(*args):
        given = kept | {id(a) for a in args}
        fresh = []
        for o in run_ir(ir, consts, args):
            if not (type(o) is np.ndarray and o.flags.owndata and id(o) not in given):
                o = np.array(o, copy=True)
            given.add(id(o))
            fresh.append(o)
        return fresh

    return run


def compile_traced(traced, parallel=False):
    """(run, optimized()) for a traced IR, as the numba backend's (NumPy decides
    its own threading: `parallel` changes nothing here)."""
    from ..passes.manager import optimize

    ir = optimize(traced)
    return compile(ir), lambda: ir
