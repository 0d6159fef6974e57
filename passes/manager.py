"""The pass manager: named IR -> IR passes and the default pipeline.

Interface (used by make_ir(optimize=True), jit and the CLI):
    PASSES: name -> function(IR) -> IR
    optimize(ir, passes=None, stats=None) -> IR
        passes=None runs the default pipeline; a list of names runs those, in order.
        If `stats` is a list, one dict per pass run is appended:
        {"pass": name, "eqns_before": int, "eqns_after": int, "seconds": float}
"""
from __future__ import annotations

import time

from .dce import dce

PASSES = {"dce": dce}
DEFAULT_PIPELINE = ("dce",)


def count_eqns(ir):
    return len(ir.eqns)


def optimize(ir, passes=None, stats=None):
    for name in DEFAULT_PIPELINE if passes is None else passes:
        try:
            fn = PASSES[name]
        except KeyError:
            raise ValueError(f"unknown pass {name!r}; known: {', '.join(sorted(PASSES))}") from None
        before = count_eqns(ir)
        t0 = time.perf_counter()
        ir = fn(ir)
        if stats is not None:
            stats.append({"pass": name, "eqns_before": before, "eqns_after": count_eqns(ir),
                          "seconds": time.perf_counter() - t0})
    return ir
