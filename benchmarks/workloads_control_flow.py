"""Workloads of the users' questions in issue 7 (see examples/integrate.py and
examples/ode.py, which these mirror):

- integral_bounds: int_0^b exp(-t^2) dt for a million upper bounds b, by
  pb.vmap of a fixed-order composite Gauss-Legendre rule; the NumPy reference
  is the same rule vectorized by hand. A Python loop over scipy.integrate.quad
  is a floor timed on 1000 bounds (multiply by n / 1000 for all of them; quad
  is adaptive, so it agrees with the rule to ~1e-15 but is not bitwise equal).
- ode_rk4_jacrev: the Jacobian of a Lotka-Volterra RK4 solution's final state
  with respect to its four parameters, pb.jacrev through pb.fori_loop (a scan).
  The NumPy reference is complex-step differentiation of the same RK4 (exact to
  rounding for this analytic right-hand side); an extra peer is central finite
  differences of scipy's solve_ivp at rtol = atol = 1e-12, which differs from
  RK4's derivative by the discretisation error (~1e-9 relative), so the
  workload's tolerance is 1e-6.

Under --quick both shrink where their cost grows with size: integral_bounds
takes 10^4 bounds, ode_rk4_jacrev integrates 50 RK4 steps to t = 0.5 (the same
step, dt = 0.01, so solve_ivp still agrees with RK4's derivative to the
tolerance); the step count is an argument of the loop, not of the IR, so
pullback and JAX compile the same program either way.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss

from .peers import NotApplicable
from .workloads import Case, Workload, _njit, register

# ------------------------------------------------------------------ integral over many bounds
GL_ORDER, GL_PANELS = 20, 4
QUAD_SAMPLE = 1000


def _int_case(quick):
    n = 10_000 if quick else 1_000_000
    return Case((np.random.default_rng(0).uniform(0.0, 4.0, n),))


def _gl_rule(xp):
    nodes, weights = leggauss(GL_ORDER)

    def integral(b):
        h = b / GL_PANELS
        t = (xp.arange(GL_PANELS) * h)[:, None] + (nodes + 1.0) * (h / 2)
        return xp.sum(weights * xp.exp(-t * t)) * (h / 2)

    return integral


def _int_pullback(case):
    import pullback as pb

    return pb.vmap(_gl_rule(np))


def _int_jax(case):
    import jax
    import jax.numpy as jnp

    return jax.vmap(_gl_rule(jnp))


def _int_numpy(case):
    nodes, weights = leggauss(GL_ORDER)

    def integrals(b):
        h = (b / GL_PANELS)[:, None, None]
        t = np.arange(GL_PANELS)[None, :, None] * h + (nodes + 1.0) * (h / 2)
        return np.sum(weights * np.exp(-t * t), axis=(1, 2)) * (h[:, 0, 0] / 2)

    return integrals


def _quad_loop_floor(case):
    from scipy.integrate import quad

    sample = case.args[0][:QUAD_SAMPLE]

    def loop():
        return [quad(lambda t: math.exp(-t * t), 0.0, b)[0] for b in sample]

    return loop


def _int_autograd(case):
    raise NotApplicable("autograd has no vmap (and nothing here is differentiated)")


def _int_numba(case):
    nodes, weights = leggauss(GL_ORDER)

    @_njit(case)
    def integrals(b):
        out = np.empty_like(b)
        for i in range(b.shape[0]):
            h = b[i] / GL_PANELS
            acc = 0.0
            for k in range(GL_PANELS):
                for j in range(GL_ORDER):
                    t = k * h + (nodes[j] + 1.0) * (h / 2)
                    acc += weights[j] * math.exp(-t * t)
            out[i] = acc * (h / 2)
        return out

    return integrals


register(Workload(
    name="integral_bounds",
    description="int_0^b exp(-t^2) dt for 1e6 bounds b: vmap of 4x20-node Gauss-Legendre",
    make_case=_int_case,
    impls={"pullback": _int_pullback, "jax": _int_jax, "numpy": _int_numpy,
           "autograd": _int_autograd, "numba": _int_numba},
    floors={f"python loop over scipy quad, {QUAD_SAMPLE} bounds": _quad_loop_floor},
    rtol=1e-12,
    atol=1e-14,
    quick_size="10^4 bounds",
))


# ------------------------------------------------------------------ RK4 ODE parameter Jacobian
T_END, RK4_STEPS = 5.0, 500
QUICK_T_END, QUICK_RK4_STEPS = 0.5, 50  # same dt


def _ode_case(quick):
    t_end, steps = (QUICK_T_END, QUICK_RK4_STEPS) if quick else (T_END, RK4_STEPS)
    return Case((np.array([1.1, 0.4, 0.1, 0.4]), np.array([10.0, 5.0])),
                {"t_end": t_end, "steps": steps})


def _lv(xp):
    def rhs(s, p):
        x, y = s[0], s[1]
        return xp.stack([p[0] * x - p[1] * x * y, p[2] * x * y - p[3] * y])

    return rhs


def _rk4_step(rhs, s, p, dt):
    k1 = rhs(s, p)
    k2 = rhs(s + dt / 2 * k1, p)
    k3 = rhs(s + dt / 2 * k2, p)
    k4 = rhs(s + dt * k3, p)
    return s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _ode_pullback(case):
    import pullback as pb

    rhs, steps = _lv(np), case.consts["steps"]
    dt = case.consts["t_end"] / steps

    def final_state(p, s0):
        return pb.fori_loop(0, steps, lambda i, s: _rk4_step(rhs, s, p, dt), s0)

    return pb.jacrev(final_state)


def _ode_jax(case):
    import jax
    import jax.numpy as jnp

    rhs, steps = _lv(jnp), case.consts["steps"]
    dt = case.consts["t_end"] / steps

    def final_state(p, s0):
        return jax.lax.fori_loop(0, steps, lambda i, s: _rk4_step(rhs, s, p, dt), s0)

    return jax.jacrev(final_state)


def _ode_numpy(case):
    """Complex-step Jacobian: the four perturbed parameter vectors run as one
    batch of complex RK4 solutions (axis 1 of the state)."""
    steps, h = case.consts["steps"], 1e-30
    dt = case.consts["t_end"] / steps

    def rhs(s, p):
        x, y = s[0], s[1]
        return np.stack([p[0] * x - p[1] * x * y, p[2] * x * y - p[3] * y])

    def jac(p, s0):
        n = len(p)
        pc = p[:, None] + 1j * h * np.eye(n)  # column k perturbs parameter k
        s = np.repeat(s0.astype(complex)[:, None], n, axis=1)
        for _ in range(steps):
            s = _rk4_step(rhs, s, pc, dt)
        return s.imag / h

    return jac


def _ode_autograd(case):
    import autograd
    import autograd.numpy as anp

    rhs, steps = _lv(anp), case.consts["steps"]
    dt = case.consts["t_end"] / steps

    def final_state(p, s0):
        s = s0
        for _ in range(steps):
            s = _rk4_step(rhs, s, p, dt)
        return s

    return autograd.jacobian(final_state)


def _ode_numba(case):
    """Complex-step Jacobian in loops, one complex RK4 solution per parameter."""
    steps, h = case.consts["steps"], 1e-30
    dt = case.consts["t_end"] / steps

    @_njit(case)
    def jac(p, s0):
        n = p.shape[0]
        out = np.empty((2, n))
        for k in range(n):
            pc = p.astype(np.complex128)
            pc[k] += 1j * h
            x, y = complex(s0[0]), complex(s0[1])
            for _ in range(steps):
                k1x, k1y = pc[0] * x - pc[1] * x * y, pc[2] * x * y - pc[3] * y
                xa, ya = x + dt / 2 * k1x, y + dt / 2 * k1y
                k2x, k2y = pc[0] * xa - pc[1] * xa * ya, pc[2] * xa * ya - pc[3] * ya
                xa, ya = x + dt / 2 * k2x, y + dt / 2 * k2y
                k3x, k3y = pc[0] * xa - pc[1] * xa * ya, pc[2] * xa * ya - pc[3] * ya
                xa, ya = x + dt * k3x, y + dt * k3y
                k4x, k4y = pc[0] * xa - pc[1] * xa * ya, pc[2] * xa * ya - pc[3] * ya
                x = x + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
                y = y + dt / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
            out[0, k] = x.imag / h
            out[1, k] = y.imag / h
        return out

    return jac


def _solve_ivp_fd(case):
    from scipy.integrate import solve_ivp

    t_end = case.consts["t_end"]

    def final(p, s0):
        sol = solve_ivp(lambda t, s: [p[0] * s[0] - p[1] * s[0] * s[1],
                                      p[2] * s[0] * s[1] - p[3] * s[1]],
                        (0.0, t_end), s0, method="DOP853", rtol=1e-12, atol=1e-12)
        return sol.y[:, -1]

    def jac(p, s0, eps=1e-6):
        return np.stack([(final(p + eps * e, s0) - final(p - eps * e, s0)) / (2 * eps)
                         for e in np.eye(len(p))], axis=1)

    return jac


register(Workload(
    name="ode_rk4_jacrev",
    description="jacrev of a Lotka-Volterra RK4 final state (500 steps in fori_loop) wrt 4 params",
    make_case=_ode_case,
    impls={"pullback": _ode_pullback, "jax": _ode_jax, "numpy": _ode_numpy,
           "autograd": _ode_autograd, "numba": _ode_numba},
    extras={"scipy solve_ivp + central differences": _solve_ivp_fd},
    rtol=1e-6,
    atol=1e-8,
    quick_size="50 steps to t = 0.5",
))
