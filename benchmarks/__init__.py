"""Benchmarks: pullback side by side with JAX, NumPy, autograd and hand-written Numba.

Run `python -m benchmarks --help`; equation counts with `python -m benchmarks.eqn_counts`.
API: `benchmarks.harness.run_suite(...)` returns the JSON-able results;
new workloads join with `benchmarks.workloads.register(Workload(...))`.
"""
