"""python -m benchmarks.cheap_gradient: the cheap-gradient principle, measured (issue 3 item 2).

For a scalar loss f, reverse mode should cost a small constant multiple of f itself.
This prints, for an MLP loss and Rosenbrock, the equations in the optimized IRs of f
and of grad(f), and the steady-state time of the compiled `pb.jit(f)` and
`pb.jit(pb.grad(f))` (best of repeated batches, same measurement conditions as the
suite: one thread, one core, glibc trimming off). Goal: gradient ≤ ~4× the primal.
"""
from __future__ import annotations

import sys
import timeit

import numpy as np

from .harness import ensure_conditions, pin_to_one_core


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    m = np.max(logits, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(logits - m), axis=1)) + m[:, 0]
    return np.mean(lse - np.sum(logits * y, axis=1))


def cases():
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((64, 128)) * 0.1, "b1": np.zeros(128),
              "w2": rng.standard_normal((128, 10)) * 0.1, "b2": np.zeros(10)}
    x = rng.standard_normal((256, 64))
    y = np.eye(10)[rng.integers(0, 10, 256)]
    return [("mlp (64-128-10, batch 256)", mlp_loss, (params, x, y)),
            ("rosenbrock (n = 100)", rosenbrock, (rng.standard_normal(100),)),
            ("rosenbrock (n = 100000)", rosenbrock, (rng.standard_normal(100_000),))]


def best_time(fn, args):
    fn(*args)
    number = max(1, int(0.01 / max(min(timeit.repeat(lambda: fn(*args), number=1, repeat=3)), 1e-7)))
    return min(timeit.repeat(lambda: fn(*args), number=number, repeat=15)) / number


def main(argv=None):
    ensure_conditions(sys.argv[1:] if argv is None else argv, module="benchmarks.cheap_gradient")
    pin_to_one_core()
    import pullback as pb

    print("| loss | eqns f | eqns grad f | time f | time grad f | grad / f |")
    print("|---|---|---|---|---|---|")
    for name, f, args in cases():
        n_f = len(pb.make_ir(f, optimize=True)(*args).eqns)
        n_g = len(pb.make_ir(pb.grad(f), optimize=True)(*args).eqns)
        t_f = best_time(pb.jit(f), args)
        t_g = best_time(pb.jit(pb.grad(f)), args)
        print(f"| {name} | {n_f} | {n_g} | {t_f * 1e6:.1f} µs | {t_g * 1e6:.1f} µs | {t_g / t_f:.2f}× |")


if __name__ == "__main__":
    main()
