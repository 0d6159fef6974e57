"""python -m benchmarks [--quick] [--workload NAME ...] [--system NAME ...] [--json PATH]
[--plot PATH] [--update-readme]"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys


def parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="pullback side by side with JAX, NumPy, autograd and hand-written Numba.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: every cell checked, few short timing batches, size-bound "
                        "workloads shrunk (see --list), one warm-cache process")
    p.add_argument("--workload", nargs="+", action="extend", metavar="NAME",
                   help="workloads to run (default: all)")
    p.add_argument("--system", nargs="+", action="extend", metavar="NAME",
                   help="systems to run (default: all): pullback pullback_interp jax numpy "
                        "autograd numba")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG bar chart of the ratios")
    p.add_argument("--update-readme", action="store_true",
                   help="rewrite README.md between <!-- bench:start --> and <!-- bench:end -->")
    p.add_argument("--readme", metavar="PATH", default=None,
                   help="README to update (default: README.md next to the benchmarks package)")
    p.add_argument("--no-warm-cache", action="store_true",
                   help="skip the second process measuring pullback's warm-disk-cache first call")
    p.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    p.add_argument("--list", action="store_true", help="list workloads and systems, then exit")
    return p.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.list:
        from .peers import SYSTEMS
        from .workloads import WORKLOADS

        for n, w in WORKLOADS.items():
            print(f"workload {n}: {w.description}"
                  + (f" (--quick: {w.quick_size})" if w.quick_size else ""))
        for n, s in SYSTEMS.items():
            print(f"system {n}: {s.label}" + (f" (skipped: {s.unavailable()})"
                                              if s.unavailable() else ""))
        return 0
    from . import harness

    harness.ensure_conditions(argv)  # re-executes unless the environment is set
    cpu = harness.pin_to_one_core(args.cpu)
    from . import report

    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"pinned to cpu {cpu}; PULLBACK_CACHE_DIR={os.environ.get('PULLBACK_CACHE_DIR')}")
    try:
        data = harness.run_suite(args.workload, args.system, quick=args.quick,
                                 warm_cache=not args.no_warm_cache, log=log,
                                 command=command.strip())
    finally:
        if os.environ.get("PULLBACK_BENCH_OWN_CACHE") == "1":
            shutil.rmtree(os.environ["PULLBACK_CACHE_DIR"], ignore_errors=True)
    print(report.header(data))
    print(report.markdown(data))
    if args.json:
        report.write_json(data, args.json)
        log(f"wrote {args.json}")
    plot_path = None
    if args.plot:
        why = report.plot(data, args.plot)
        if why:
            log(why)
        else:
            plot_path = args.plot
            log(f"wrote {args.plot}")
    if args.update_readme:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        readme = args.readme or os.path.join(repo, "README.md")
        # The link is written for README.md at the repository root, where it ends up.
        rel = os.path.relpath(plot_path, repo) if plot_path else None
        report.update_readme(readme, data, rel)
        log(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
