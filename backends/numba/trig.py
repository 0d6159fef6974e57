"""sin/cos operands in the numba backend's loops: which vector kernel a loop calls.

`vecmath.sincos_f64` reduces every argument exactly, huge ones too (Payne-Hanek),
and computes that reduction for every lane; `vecmath.sincos_medium_f64` is the
same below `vecmath.TRIG_MEDIUM` (2**20) and skips it. The code generator
(Codegen.sincos) calls the medium kernel where `magnitude_bound` proves the
operand below that (one rule per primitive, BOUND_RULES), and elsewhere too,
under a TrigGuard.
"""
from __future__ import annotations

import numpy as np

from ...ir import primitives as P
from ...ir.core import Literal


class TrigGuard:
    """Speculation for sin/cos operands of unknown size: the loop calls the
    medium kernel (which skips the reduction of huge arguments: the elementwise
    workload 19.3 -> 11.8 ms per call) and ORs `_vm.beyond_medium_f64(x)` into the
    flag `NAME`, which the kernel returns as its last value. A call whose flag is set
    is redone by the kernel generated without the guard (`enabled` False), compiled
    on first need, which then serves the later calls too (backends/numba/__init__.py).
    Finite operands beyond 2**20 are rare, and Numba compiles the guarded loop no
    slower (elementwise: 0.240 -> 0.229 s, minimum of 6 fresh processes)."""
    NAME = "_trig_huge"

    def __init__(self, enabled, count=False):
        self.enabled = enabled
        self.used = False
        # counts of huge operands instead of a flag where loops may be prange:
        # Numba's parallel loops reduce `+=`, not `|`, and allow one update of a
        # reduction variable per loop body, so each operand counts into its own
        self.count = count
        self.counters = []

    def update(self, huge):
        """The line that records `huge` (a bool expression) in the flag."""
        if not self.count:
            return f"{self.NAME} = {self.NAME} | {huge}"
        self.counters.append(f"{self.NAME}{len(self.counters)}")
        return f"{self.counters[-1]} += {huge}"

    def declarations(self):
        """The lines (unindented) that start the flag or counters of a kernel."""
        if not self.count:
            return [f"{self.NAME} = False"]
        return [f"{c} = 0" for c in self.counters]

    def flag(self):
        """The kernel's returned value: true when an operand was huge."""
        return self.NAME if not self.count else f"({' + '.join(self.counters)})"


def magnitude_bound(a, producer, memo):
    """An upper bound on |x| for every element x of `a` that is not NaN (inf when
    unknown), from the equations that made it: tanh is within 1, a sum within the
    sum of its operands' bounds, and so on. `memo` maps values to their bounds."""
    if isinstance(a, Literal):
        v = abs(float(a.val))
        return v if v == v else np.inf
    if a not in memo:
        e = producer.get(a)
        rule = BOUND_RULES.get(e.prim) if e is not None else None
        if rule is None:
            memo[a] = np.inf
        else:
            b = rule([magnitude_bound(x, producer, memo) for x in e.inputs], **e.params)
            memo[a] = b if b == b else np.inf  # inf * 0
    return memo[a]


def _one(b, **params):
    return 1.0


def _first(b, **params):
    return b[0]


def _largest(b, **params):
    return max(b)


BOUND_RULES = {
    **dict.fromkeys([P.tanh_p, P.sin_p, P.cos_p, P.logistic_p, P.erf_p], _one),
    **dict.fromkeys([P.neg_p, P.abs_p, P.convert_element_type_p, P.stop_gradient_p,
                     P.gather_p, P.reduce_max_p, P.reduce_min_p, P.broadcast_in_dim_p,
                     P.transpose_p, P.reshape_p, P.slice_p, P.rev_p],
                    _first),
    **dict.fromkeys([P.max_p, P.min_p, P.pad_p, P.concatenate_p], _largest),
    P.add_p: lambda b: b[0] + b[1],
    P.sub_p: lambda b: b[0] + b[1],
    P.mul_p: lambda b: b[0] * b[1],
    P.select_p: lambda b: max(b[1:]),
    P.integer_pow_p: lambda b, y: _power(b[0], y),
}


def _power(b, y):
    if y < 0:
        return np.inf
    try:
        return b ** y
    except OverflowError:  # Python floats raise where NumPy's give inf
        return np.inf
