"""The pass manager: named IR -> IR passes and the default pipeline.

Interface (used by make_ir(optimize=True), jit and the CLI):
    PASSES: name -> function(IR) -> IR
    optimize(ir, passes=None, stats=None) -> IR
        passes=None runs the default pipeline; a list of names runs those, in order.
        If `stats` is a list, one dict per pass run is appended:
        {"pass": name, "eqns_before": int, "eqns_after": int, "seconds": float,
         "round": int}   (round: 1-based round of the default pipeline; 1 otherwise)

The default pipeline runs DEFAULT_PIPELINE (simplify, cse, scan_io, layout, dce) in
rounds until the rewriting passes change nothing in a round (DCE alone never enables
more work), at most MAX_ROUNDS times. `scan_io` (passes/scan_io.py) narrows the
stacked inputs and outputs of scans (residuals stacked twice, loop constants and
broadcasts stacked at full width). `layout` (passes/layout.py) sinks transposes,
unit reshapes and pads toward the inputs, so fused loops compute in the output's
order. Each pass returns its input IR
object when it has nothing to do, and keeps untouched equations as the same
objects, so "nothing changed" is an identity check, not a print. A pass is not run
again on an IR object it already returned unchanged (its stats entry then shows the
lookup's time).
Equation counts are top-level (`count_eqns`), comparable with len(jaxpr.eqns).
"""
from __future__ import annotations

import time

from .cse import cse
from .dce import dce
from .layout import sink_layout
from .scan_io import narrow_scan_io
from .simplify import simplify

PASSES = {"simplify": simplify, "cse": cse, "scan_io": narrow_scan_io, "layout": sink_layout,
          "dce": dce}
DEFAULT_PIPELINE = ("simplify", "cse", "scan_io", "layout", "dce")
MAX_ROUNDS = 10
REWRITING = {"simplify", "cse", "scan_io", "layout"}  # passes whose changes can enable more


def count_eqns(ir):
    return len(ir.eqns)


def count_eqns_deep(ir):
    """Equations including those of sub-IRs (each distinct sub-IR counted once)."""
    seen, total, stack = set(), 0, [ir]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        total += len(cur.eqns)
        stack.extend(sub for _, _, sub in cur.subirs())
    return total


def _run(ir, name, stats, round_no, known_fixpoint=False):
    """Run pass `name` on `ir`; with `known_fixpoint` (the pass already returned this
    very IR object unchanged) its result is `ir` without running it again."""
    try:
        fn = PASSES[name]
    except KeyError:
        raise ValueError(
            f"unknown pass {name!r}; known: {', '.join(sorted(PASSES))}"
        ) from None
    before = count_eqns(ir)
    t0 = time.perf_counter()
    out = ir if known_fixpoint else fn(ir)
    if stats is not None:
        stats.append({"pass": name, "eqns_before": before, "eqns_after": count_eqns(out),
                      "seconds": time.perf_counter() - t0, "round": round_no})
    return out


def optimize(ir, passes=None, stats=None):
    """Run the named passes once, in order, or (passes=None) the default pipeline
    to a fixpoint. Returns the optimized IR."""
    if passes is not None:
        if isinstance(passes, str):
            passes = [p for p in passes.split(",") if p]
        for name in passes:  # all names checked before any pass runs
            if name not in PASSES:
                _run(ir, name, None, 1)
        for name in passes:
            ir = _run(ir, name, stats, 1)
        return ir
    # Passes are deterministic and IRs immutable: a pass that returned an IR object
    # unchanged returns it unchanged again, so a later round skips it on that object
    # (typically the last round's cse, layout and dce, after simplify found nothing).
    unchanged_by = {}  # pass name -> the last IR it returned as is
    for round_no in range(1, MAX_ROUNDS + 1):
        rewrote = False
        for name in DEFAULT_PIPELINE:
            new = _run(ir, name, stats, round_no, unchanged_by.get(name) is ir)
            if new is ir:
                unchanged_by[name] = ir
            rewrote |= new is not ir and name in REWRITING
            ir = new
        # Removing dead equations creates no new rewrite: once the rewriting passes
        # find nothing, the round's DCE result is the fixpoint.
        if not rewrote:
            break
    return ir
