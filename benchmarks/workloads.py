"""Benchmark workloads: one problem, written once per system.

A workload bundles
- `make_case(quick)`: the inputs (fixed seeds, float64): `args` passed to every
  system, `consts` closed over by the functions (like the seed's matrix A);
- `impls`: one builder per implementation kind, each called with the case and
  returning a *fresh* function object (so a first call really is a first call):
    "pullback"  the transformed function (pb.grad/jacfwd/hessian of plain-NumPy
                code), jitted by the harness with either backend;
    "jax"       the same transformation in JAX, jitted by the harness;
    "numpy"     the gradient derived by hand, NumPy array code;
    "autograd"  autograd's transformation of the same function;
    "numba"     the gradient derived by hand, loops under numba.njit (a fresh
                dispatcher per build, so the first call includes compilation);
- `floors`: extra reference timings that are not systems (the elementwise
  workload's memory-bandwidth floor): builder(case) -> zero-argument callable;
- `extras`: workload-specific peers (say, a Python loop over scipy's quad):
  label -> builder(case) -> function of the args, checked and timed like a
  system and listed under the tables.

The hand-derived NumPy result is the reference every system is checked against.
Later workloads join through `register`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Case:
    args: tuple
    consts: dict = field(default_factory=dict)
    # Set by the harness under --quick: hand-written Numba kernels are then
    # cached on disk (their compilation is not what a smoke run checks).
    quick: bool = False


@dataclass
class Workload:
    name: str
    description: str
    make_case: Callable[[bool], Case]
    impls: dict
    floors: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    rtol: float = 1e-7
    atol: float = 1e-9
    # What make_case(quick=True) shrinks, if anything (shown by --list and in quick reports).
    quick_size: str = ""


WORKLOADS: dict = {}


def register(workload):
    if workload.name in WORKLOADS:
        raise ValueError(f"workload {workload.name!r} is already registered")
    WORKLOADS[workload.name] = workload
    return workload


def _njit(case):
    """numba.njit for a hand-written kernel: a fresh dispatcher per build.

    Full runs compile it in the first call (that is what the first-call column
    measures); under --quick (`case.quick`) it is cached on disk in
    benchmarks/__pycache__, so a repeated smoke run loads it instead.
    """
    import numba

    return numba.njit(cache=bool(case.quick), nogil=True)


# ------------------------------------------------------------------ seed_jacfwd
# make_case(quick): under --quick a workload whose cost grows with its size
# shrinks its inputs (elementwise: 10^5 elements instead of 10^6; in
# workloads_control_flow.py integral_bounds and ode_rk4_jacrev) and says so in
# its `quick_size`; the others are dominated by compilation and keep their size.
def _seed_case(quick):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2000, 4)) * 0.5
    p1 = rng.standard_normal(4)
    p2 = rng.standard_normal(3)
    return Case((p1, p2), {"A": A})


def _seed_main(xp, A):
    def main(p1, p2):
        z = xp.tanh(A @ p1)
        y = p2[0] * xp.sin(z) + p2[1] * z ** 2 + p2[2]
        return z, y

    return main


def _seed_pullback(case):
    import pullback as pb

    return pb.jacfwd(_seed_main(np, case.consts["A"]), argnums=(0, 1))


def _seed_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.jacfwd(_seed_main(jnp, jnp.asarray(case.consts["A"])), argnums=(0, 1))


def _seed_numpy(case):
    A = case.consts["A"]

    def jac(p1, p2):
        z = np.tanh(A @ p1)
        dz = 1.0 - z * z
        dy = (p2[0] * np.cos(z) + 2.0 * p2[1] * z) * dz
        jz1 = dz[:, None] * A
        jz2 = np.zeros((z.shape[0], p2.shape[0]))
        jy1 = dy[:, None] * A
        jy2 = np.stack([np.sin(z), z * z, np.ones_like(z)], axis=1)
        return (jz1, jz2), (jy1, jy2)

    return jac


def _seed_autograd(case):
    # autograd has no forward mode; make_jvp (reverse of reverse) per basis
    # vector is its closest equivalent of jacfwd.
    import autograd
    import autograd.numpy as anp

    main = _seed_main(anp, case.consts["A"])

    def cat(p1, p2):
        z, y = main(p1, p2)
        return anp.concatenate([z, y])

    jvp1 = autograd.make_jvp(cat, 0)
    jvp2 = autograd.make_jvp(cat, 1)

    def jac(p1, p2):
        n = case.consts["A"].shape[0]
        f1, f2 = jvp1(p1, p2), jvp2(p1, p2)
        c1 = np.stack([f1(e)[1] for e in np.eye(p1.shape[0])], axis=1)
        c2 = np.stack([f2(e)[1] for e in np.eye(p2.shape[0])], axis=1)
        return (c1[:n], c2[:n]), (c1[n:], c2[n:])

    return jac


def _seed_numba(case):
    A = case.consts["A"]

    @_njit(case)
    def kernel(A, p1, p2):
        n, m = A.shape
        jz1 = np.empty((n, m))
        jz2 = np.zeros((n, 3))
        jy1 = np.empty((n, m))
        jy2 = np.empty((n, 3))
        a, b = p2[0], p2[1]
        for i in range(n):
            u = 0.0
            for k in range(m):
                u += A[i, k] * p1[k]
            z = math.tanh(u)
            dz = 1.0 - z * z
            dy = (a * math.cos(z) + 2.0 * b * z) * dz
            for k in range(m):
                jz1[i, k] = dz * A[i, k]
                jy1[i, k] = dy * A[i, k]
            jy2[i, 0] = math.sin(z)
            jy2[i, 1] = z * z
            jy2[i, 2] = 1.0
        return jz1, jz2, jy1, jy2

    def jac(p1, p2):
        jz1, jz2, jy1, jy2 = kernel(A, p1, p2)
        return (jz1, jz2), (jy1, jy2)

    return jac


register(Workload(
    name="seed_jacfwd",
    description="jacfwd(main, argnums=(0, 1)); z = tanh(A @ p1), A 2000x4; "
                "y = p2[0]*sin(z) + p2[1]*z**2 + p2[2]; main -> (z, y)",
    make_case=_seed_case,
    impls={"pullback": _seed_pullback, "jax": _seed_jax, "numpy": _seed_numpy,
           "autograd": _seed_autograd, "numba": _seed_numba},
))


# ------------------------------------------------------------------ grad_sin
def _sin_case(quick):
    return Case((1.0,))


def _sin_pullback(case):
    import pullback as pb

    return pb.grad(np.sin)


def _sin_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.grad(jnp.sin)


def _sin_numpy(case):
    return lambda x: np.cos(x)


def _sin_autograd(case):
    import autograd
    import autograd.numpy as anp

    return autograd.grad(anp.sin)


def _sin_numba(case):
    @_njit(case)
    def dsin(x):
        return math.cos(x)

    return dsin


register(Workload(
    name="grad_sin",
    description="grad(sin)(1.0): per-call overhead",
    make_case=_sin_case,
    impls={"pullback": _sin_pullback, "jax": _sin_jax, "numpy": _sin_numpy,
           "autograd": _sin_autograd, "numba": _sin_numba},
))


# ------------------------------------------------------------------ mlp
def _mlp_case(quick):
    rng = np.random.default_rng(1)
    n_in, n_hidden, n_out, batch = 64, 128, 10, 256
    params = {
        "W1": rng.standard_normal((n_in, n_hidden)) / math.sqrt(n_in),
        "b1": rng.standard_normal(n_hidden) * 0.1,
        "W2": rng.standard_normal((n_hidden, n_out)) / math.sqrt(n_hidden),
        "b2": rng.standard_normal(n_out) * 0.1,
    }
    x = rng.standard_normal((batch, n_in))
    y = np.eye(n_out)[rng.integers(0, n_out, batch)]
    return Case((params, x, y))


def _mlp_loss(xp):
    def loss(params, x, y):
        h = xp.tanh(x @ params["W1"] + params["b1"])
        logits = h @ params["W2"] + params["b2"]
        m = xp.max(logits, axis=1, keepdims=True)
        s = logits - m
        lse = xp.log(xp.sum(xp.exp(s), axis=1, keepdims=True))
        return -xp.sum(y * (s - lse)) / x.shape[0]

    return loss


def _mlp_pullback(case):
    import pullback as pb

    return pb.grad(_mlp_loss(np))


def _mlp_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.grad(_mlp_loss(jnp))


def _mlp_autograd(case):
    import autograd
    import autograd.numpy as anp

    return autograd.grad(_mlp_loss(anp))


def _mlp_numpy(case):
    def grad(params, x, y):
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        batch = x.shape[0]
        h = np.tanh(x @ W1 + b1)
        logits = h @ W2 + b2
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        # d loss / d logits = (p * sum_j y_ij - y) / batch
        d = (p * y.sum(axis=1, keepdims=True) - y) / batch
        dh = (d @ W2.T) * (1.0 - h * h)
        return {"W1": x.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ d, "b2": d.sum(axis=0)}

    return grad


def _mlp_numba(case):
    @_njit(case)
    def kernel(W1, b1, W2, b2, x, y):
        batch, n_hidden, n_out = x.shape[0], W1.shape[1], W2.shape[1]
        h = np.dot(x, W1)
        for i in range(batch):
            for j in range(n_hidden):
                h[i, j] = math.tanh(h[i, j] + b1[j])
        d = np.dot(h, W2)
        for i in range(batch):
            m = -np.inf
            for j in range(n_out):
                d[i, j] += b2[j]
                m = max(m, d[i, j])
            s = 0.0
            ysum = 0.0
            for j in range(n_out):
                e = math.exp(d[i, j] - m)
                d[i, j] = e
                s += e
                ysum += y[i, j]
            for j in range(n_out):
                d[i, j] = (d[i, j] / s * ysum - y[i, j]) / batch
        dW2 = np.dot(np.ascontiguousarray(h.T), d)
        db2 = np.zeros(n_out)
        for i in range(batch):
            for j in range(n_out):
                db2[j] += d[i, j]
        dh = np.dot(d, np.ascontiguousarray(W2.T))
        db1 = np.zeros(n_hidden)
        for i in range(batch):
            for j in range(n_hidden):
                hij = h[i, j]
                dh[i, j] *= 1.0 - hij * hij
                db1[j] += dh[i, j]
        dW1 = np.dot(np.ascontiguousarray(x.T), dh)
        return dW1, db1, dW2, db2

    def grad(params, x, y):
        dW1, db1, dW2, db2 = kernel(params["W1"], params["b1"], params["W2"],
                                    params["b2"], x, y)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    return grad


register(Workload(
    name="mlp",
    description="grad of softmax cross-entropy of a 64->128 (tanh)->10 MLP, batch 256, "
                "w.r.t. a dict of weights",
    make_case=_mlp_case,
    impls={"pullback": _mlp_pullback, "jax": _mlp_jax, "numpy": _mlp_numpy,
           "autograd": _mlp_autograd, "numba": _mlp_numba},
))


# ------------------------------------------------------------------ elementwise
def _elem_case(quick):
    rng = np.random.default_rng(2)
    return Case((rng.uniform(-3.0, 3.0, 10 ** 5 if quick else 10 ** 6),))


def _elem_f(xp):
    def f(x):
        return xp.sum(xp.log1p(xp.exp(xp.sin(x) * x ** 2)) / (1 + x * x))

    return f


def _elem_pullback(case):
    import pullback as pb

    return pb.grad(_elem_f(np))


def _elem_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.grad(_elem_f(jnp))


def _elem_autograd(case):
    import autograd
    import autograd.numpy as anp

    return autograd.grad(_elem_f(anp))


def _elem_numpy(case):
    def grad(x):
        s, c, q = np.sin(x), np.cos(x), x * x
        e = np.exp(s * q)
        L = np.log1p(e)
        d = 1.0 + q
        dL = e / (1.0 + e) * (c * q + 2.0 * s * x)
        return (dL * d - 2.0 * x * L) / (d * d)

    return grad


def _elem_numba(case):
    @_njit(case)
    def grad(x):
        g = np.empty_like(x)
        for i in range(x.shape[0]):
            xi = x[i]
            s, c, q = math.sin(xi), math.cos(xi), xi * xi
            e = math.exp(s * q)
            L = math.log1p(e)
            d = 1.0 + q
            dL = e / (1.0 + e) * (c * q + 2.0 * s * xi)
            g[i] = (dL * d - 2.0 * xi * L) / (d * d)
        return g

    return grad


def _copy_floor(case):
    # Reading and writing 8 MB once: no gradient of this size can beat it.
    x = case.args[0]
    dst = np.empty_like(x)
    return lambda: np.copyto(dst, x)


register(Workload(
    name="elementwise",
    description="grad of sum(log1p(exp(sin(x) * x**2)) / (1 + x*x)), x with 10^6 elements",
    make_case=_elem_case,
    impls={"pullback": _elem_pullback, "jax": _elem_jax, "numpy": _elem_numpy,
           "autograd": _elem_autograd, "numba": _elem_numba},
    floors={"np.copyto (bandwidth floor)": _copy_floor},
    quick_size="x with 10^5 elements",
))


# ------------------------------------------------------------------ rosenbrock_hessian
def _rosen_case(quick):
    rng = np.random.default_rng(3)
    return Case((rng.uniform(-2.0, 2.0, 100),))


def _rosen_f(xp):
    def f(x):
        return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return f


def _rosen_pullback(case):
    import pullback as pb

    return pb.hessian(_rosen_f(np))


def _rosen_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.hessian(_rosen_f(jnp))


def _rosen_autograd(case):
    import autograd
    import autograd.numpy as anp

    return autograd.hessian(_rosen_f(anp))


def _rosen_numpy(case):
    def hess(x):
        n = x.shape[0]
        head, tail = x[:-1], x[1:]
        diag = np.zeros(n)
        diag[:-1] += 1200.0 * head * head - 400.0 * tail + 2.0
        diag[1:] += 200.0
        H = np.diag(diag)
        i = np.arange(n - 1)
        H[i, i + 1] = H[i + 1, i] = -400.0 * head
        return H

    return hess


def _rosen_numba(case):
    @_njit(case)
    def hess(x):
        n = x.shape[0]
        H = np.zeros((n, n))
        for i in range(n - 1):
            H[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
            H[i + 1, i + 1] += 200.0
            H[i, i + 1] = -400.0 * x[i]
            H[i + 1, i] = -400.0 * x[i]
        return H

    return hess


register(Workload(
    name="rosenbrock_hessian",
    description="hessian of the Rosenbrock function, n = 100",
    make_case=_rosen_case,
    impls={"pullback": _rosen_pullback, "jax": _rosen_jax, "numpy": _rosen_numpy,
           "autograd": _rosen_autograd, "numba": _rosen_numba},
))


# ------------------------------------------------------------------ mixed_partial
def _mixed_case(quick):
    rng = np.random.default_rng(4)
    return Case((rng.standard_normal((64, 64)) / 8.0, rng.standard_normal((64, 64)) / 8.0))


def _mixed_g(xp, grad):
    def f(X, Y):
        return xp.sum((X @ X @ Y) ** 2)

    df_dY = grad(f, 1)

    def g(X, Y):
        return xp.trace(df_dY(X, Y))

    return g


def _mixed_pullback(case):
    import pullback as pb

    return pb.grad(_mixed_g(np, lambda f, a: pb.grad(f, argnums=a)), argnums=(0, 1))


def _mixed_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.grad(_mixed_g(jnp, lambda f, a: jax.grad(f, argnums=a)), argnums=(0, 1))


def _mixed_autograd(case):
    import autograd
    import autograd.numpy as anp

    g = _mixed_g(anp, autograd.grad)
    # autograd differentiates one argument; a tuple argument gives both at once.
    dg = autograd.grad(lambda XY: g(XY[0], XY[1]))
    return lambda X, Y: tuple(dg((X, Y)))


def _mixed_numpy(case):
    # g = tr(df/dY) = 2 tr(P^T P Y) with P = X X, so
    # dg/dY = 2 P^T P, dg/dP = 2 P (Y + Y^T) =: G, dg/dX = G X^T + X^T G.
    def grad(X, Y):
        P = X @ X
        G = 2.0 * P @ (Y + Y.T)
        return G @ X.T + X.T @ G, 2.0 * P.T @ P

    return grad


def _mixed_numba(case):
    @_njit(case)
    def kernel(X, Y):
        n = X.shape[0]
        P = np.dot(X, X)
        S = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                S[i, j] = 2.0 * (Y[i, j] + Y[j, i])
        G = np.dot(P, S)
        Xt = np.ascontiguousarray(X.T)
        dX = np.dot(G, Xt) + np.dot(Xt, G)
        dY = np.dot(np.ascontiguousarray(P.T), P)
        for i in range(n):
            for j in range(n):
                dY[i, j] *= 2.0
        return dX, dY

    return kernel


register(Workload(
    name="mixed_partial",
    description="f(X, Y) = sum((X @ X @ Y)**2), 64x64; gradients of trace(grad(f, 1)(X, Y)) "
                "w.r.t. X and Y",
    make_case=_mixed_case,
    impls={"pullback": _mixed_pullback, "jax": _mixed_jax, "numpy": _mixed_numpy,
           "autograd": _mixed_autograd, "numba": _mixed_numba},
))


# ------------------------------------------------------------------ logsumexp
def _lse_case(quick):
    rng = np.random.default_rng(5)
    return Case((rng.standard_normal((1000, 100)) * 3.0,))


def _lse_pullback(case):
    import pullback as pb

    # The shift by the row max is a constant of the math (it cancels), and
    # jax.nn.logsumexp, autograd's logsumexp and the hand-derived gradients treat it
    # so: stop_gradient makes this the same function. Differentiated through the max,
    # the kernel adds two passes per row (the max's ties, a sum of the softmax whose
    # contribution cancels to rounding): 198 vs 157 us on 2026-11-27.
    def f(x):
        m = pb.stop_gradient(np.max(x, axis=1, keepdims=True))
        return np.sum(m[:, 0] + np.log(np.sum(np.exp(x - m), axis=1)))

    return pb.grad(f)


def _lse_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda x: jnp.sum(jax.nn.logsumexp(x, axis=1)))


def _lse_autograd(case):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    return autograd.grad(lambda x: anp.sum(logsumexp(x, axis=1)))


def _lse_numpy(case):
    def grad(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return grad


def _lse_numba(case):
    @_njit(case)
    def grad(x):
        n, m = x.shape
        g = np.empty_like(x)
        for i in range(n):
            mx = -np.inf
            for j in range(m):
                mx = max(mx, x[i, j])
            s = 0.0
            for j in range(m):
                e = math.exp(x[i, j] - mx)
                g[i, j] = e
                s += e
            inv = 1.0 / s
            for j in range(m):
                g[i, j] *= inv
        return g

    return grad


register(Workload(
    name="logsumexp",
    description="grad of sum(logsumexp(x, axis=1)), x 1000x100",
    make_case=_lse_case,
    impls={"pullback": _lse_pullback, "jax": _lse_jax, "numpy": _lse_numpy,
           "autograd": _lse_autograd, "numba": _lse_numba},
))


# ------------------------------------------------------------------ control flow (issue 7)
from . import workloads_control_flow  # noqa: E402,F401  (registers integral_bounds, ode_rk4_jacrev)
