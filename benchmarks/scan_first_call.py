"""First call and steady call of gradients through `scan`, pullback against JAX.

A 200-step Kalman filter of 2x2 matrices (the negative log-likelihood of a local linear
trend model): `jit(grad)` and `jit(hessian)` with respect to its three parameters. Each
first call is measured in a fresh process (after the library's own start-up: a trivial
jit first; pullback's kernel cache disabled), one thread, pinned to one core.

    python -m benchmarks.scan_first_call [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS = 200


def kalman_nll(xp, scan, params, ys):
    """The model, written once for NumPy (pullback) and jax.numpy: `xp` is the module."""
    a, q, r = params[0], params[1], params[2]
    F = xp.array([[1.0, 1.0], [0.0, 1.0]]) * a
    H = xp.array([[1.0, 0.0]])

    def body(carry, y):
        m, P, nll = carry
        m = F @ m
        P = F @ P @ F.T + xp.eye(2) * q
        S = (H @ P @ H.T)[0, 0] + r
        K = (P @ H.T)[:, 0] / S
        v = y - (H @ m)[0]
        return (m + K * v, P - xp.outer(K, K) * S,
                nll + 0.5 * (xp.log(S) + v * v / S)), None

    (_, _, nll), _ = scan(body, (xp.zeros(2), xp.eye(2), 0.0), ys)
    return nll


def _inputs():
    import numpy as np

    ys = np.cumsum(np.random.default_rng(0).normal(size=STEPS))
    return np.array([0.9, 0.1, 0.5]), ys


def _child(system, transform):
    import time

    import numpy as np

    p, ys = _inputs()
    if system == "pullback":
        import pullback as pb

        pb.jit(lambda x: x + 1.0)(1.0)
        f = pb.jit(getattr(pb, transform)(lambda p, ys: kalman_nll(np, pb.scan, p, ys)))
        run = f
    else:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jax.jit(lambda x: x + 1)(1.0).block_until_ready()
        f = jax.jit(getattr(jax, transform)(lambda p, ys: kalman_nll(jnp, jax.lax.scan, p, ys)))

        def run(p, ys):
            return f(p, ys).block_until_ready()
    t = time.perf_counter()
    out = run(p, ys)
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(50):
            run(p, ys)
        best = min(best, (time.perf_counter() - t) / 50)
    print(json.dumps({"first_s": first, "steady_s": best,
                      "value": np.asarray(out).ravel().tolist()}))


def _fresh(system, transform):
    from .harness import CONDITIONS

    env = dict(os.environ, **CONDITIONS, PULLBACK_CACHE="0")
    cmd = [sys.executable, "-m", "benchmarks.scan_first_call", "--child", system, transform]
    if hasattr(os, "sched_getaffinity"):
        cmd = ["taskset", "-c", str(max(os.sched_getaffinity(0)))] + cmd
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per cell")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(*args.child)
    print(f"# python -m benchmarks.scan_first_call --repeat {args.repeat}: Kalman filter, "
          f"{STEPS} steps; medians of fresh processes")
    print("| transform | pullback first call | JAX first call | ratio | pullback call "
          "| JAX call | ratio |")
    print("|---|---|---|---|---|---|---|")
    for transform in ("grad", "hessian"):
        runs = {s: [] for s in ("pullback", "jax")}
        for _ in range(args.repeat):  # interleaved: drift hits both alike
            for s in runs:
                runs[s].append(_fresh(s, transform))
        a, b = runs["pullback"][0]["value"], runs["jax"][0]["value"]
        if max(abs(x - y) for x, y in zip(a, b)) > 1e-8 * max(1.0, max(map(abs, b))):
            print(f"| {transform} | wrong result: {a} vs JAX {b} |")
            continue
        med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in ("first_s", "steady_s")}
               for s in runs}
        p, j = med["pullback"], med["jax"]
        print(f"| {transform} | {p['first_s']:.2f} s | {j['first_s']:.2f} s | "
              f"{p['first_s'] / j['first_s']:.2f}× | {p['steady_s'] * 1e6:.0f} µs | "
              f"{j['steady_s'] * 1e6:.0f} µs | {p['steady_s'] / j['steady_s']:.2f}× |")


if __name__ == "__main__":
    main()
