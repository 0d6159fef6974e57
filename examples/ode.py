"""Fixed-step RK4 in pb.fori_loop, and the gradient of the final state with
respect to the ODE's parameters.

    python examples/ode.py

Lotka-Volterra predator-prey model with parameters p = (alpha, beta, delta, gamma):
    x' = alpha x - beta x y,    y' = delta x y - gamma y.
With Python-int bounds pb.fori_loop is a `scan`, so reverse mode works: pb.jacrev
gives d(final state)/dp in one backward sweep through the loop. Checked with
pb.check_grads and against central finite differences of scipy's solve_ivp.
"""
import time

import numpy as np

import pullback as pb

T_END, STEPS = 5.0, 500


def lotka_volterra(state, p):
    x, y = state[0], state[1]
    alpha, beta, delta, gamma = p[0], p[1], p[2], p[3]
    return np.stack([alpha * x - beta * x * y, delta * x * y - gamma * y])


def rk4_final_state(p, state0):
    """The state at T_END after STEPS fixed RK4 steps."""
    dt = T_END / STEPS

    def step(i, s):
        k1 = lotka_volterra(s, p)
        k2 = lotka_volterra(s + dt / 2 * k1, p)
        k3 = lotka_volterra(s + dt / 2 * k2, p)
        k4 = lotka_volterra(s + dt * k3, p)
        return s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return pb.fori_loop(0, STEPS, step, state0)


P0 = np.array([1.1, 0.4, 0.1, 0.4])
STATE0 = np.array([10.0, 5.0])


def solve_ivp_final_state(p, state0=STATE0):
    from scipy.integrate import solve_ivp

    sol = solve_ivp(lambda t, s: [p[0] * s[0] - p[1] * s[0] * s[1],
                                  p[2] * s[0] * s[1] - p[3] * s[1]],
                    (0.0, T_END), state0, method="DOP853", rtol=1e-12, atol=1e-12)
    return sol.y[:, -1]


def fd_jacobian(p, eps=1e-6):
    cols = [(solve_ivp_final_state(p + eps * e) - solve_ivp_final_state(p - eps * e)) / (2 * eps)
            for e in np.eye(len(p))]
    return np.stack(cols, axis=1)


def main(backend="interpreter"):
    final = pb.jit(rk4_final_state, backend=backend)
    jac = pb.jit(pb.jacrev(rk4_final_state), backend=backend)
    final(P0, STATE0), jac(P0, STATE0)  # trace (and compile)
    t0 = time.perf_counter()
    s = final(P0, STATE0)
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    J = jac(P0, STATE0)
    t_jac = time.perf_counter() - t0
    ref = solve_ivp_final_state(P0)
    J_fd = fd_jacobian(P0)
    print(f"final state {s}, solve_ivp {ref}, max rel diff {np.max(np.abs(s - ref) / np.abs(ref)):.1e}")
    print(f"d(final)/dp by pb.jacrev:\n{J}\nmax rel diff vs finite differences of solve_ivp: "
          f"{np.max(np.abs(J - J_fd)) / np.max(np.abs(J_fd)):.1e}")
    pb.check_grads(rk4_final_state, (P0, STATE0), order=1)
    print(f"check_grads ok; one solve {t_fwd * 1e3:.1f} ms, jacrev {t_jac * 1e3:.1f} ms "
          f"({backend} backend, {STEPS} RK4 steps)")


if __name__ == "__main__":
    main()
