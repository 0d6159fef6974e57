"""python -m benchmarks.eqn_counts [NAME ...]: IR sizes, pullback against JAX (issue 4 item 6).

For each workload: equations in pullback's raw IR (`pb.make_ir(f)`), in its optimized
IR (`pb.make_ir(f, optimize=True)`), and in JAX's jaxpr (`len(jax.make_jaxpr(f).jaxpr.eqns)`,
plus the count with sub-jaxprs such as pjit bodies inlined). Sub-IRs count toward
pullback's numbers. Counting needs no timing, so no measurement conditions apply.
"""
from __future__ import annotations

import sys

from .harness import eqn_counts
from .workloads import WORKLOADS


def table(names):
    rows = []
    for name in names:
        w = WORKLOADS[name]
        rows.append((name, eqn_counts(w, w.make_case(False))))
    return rows


def verdict(c):
    opt, jax = c.get("pullback_opt"), c.get("jax")
    if not isinstance(opt, int) or not isinstance(jax, int):
        return "—"
    return "≤ JAX" if opt <= jax else f"+{opt - jax} over JAX"


def main(argv=None):
    names = (sys.argv[1:] if argv is None else argv) or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}")
    rows = table(names)
    print("| workload | pullback raw | pullback optimized | JAX jaxpr | JAX (sub-jaxprs inlined) "
          "| optimized vs JAX |")
    print("|---|---|---|---|---|---|")
    notes = []
    for name, c in rows:
        cells = []
        for k in ("pullback_raw", "pullback_opt", "jax", "jax_inlined"):
            v = c.get(k)
            if isinstance(v, int):
                cells.append(str(v))
            else:
                cells.append(str(v).split(":")[0])
                if k != "jax_inlined":
                    notes.append(f"- {name} {k}: {v}")
        print(f"| {name} | " + " | ".join(cells) + f" | {verdict(c)} |")
    if notes:
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
