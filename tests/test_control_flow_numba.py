"""Control flow compiled by the Numba backend (pb.jit's default): values,
derivatives and batching agree with the interpreter and with Python loops, and
the loop stays a loop (one compiled function, no unrolled body)."""
import re

import numpy as np
import pytest

import pullback as pb
from test_control_flow import (X3, XB, branchy, branchy_ref, close, halve_ref,
                               halve_until_small, horner, horner_ref, nested, nested_ref)


@pytest.mark.parametrize("y", [0.1, 5.0])
def test_cond(y):
    close(pb.jit(branchy)(X3, y), branchy_ref(X3, y))


def test_scan_and_reverse_scan():
    coef = np.array([1.0, -2.0, 0.5, 3.0])
    for got, want in zip(pb.jit(horner)(coef, X3), horner_ref(coef, X3)):
        close(got, want)
    f = pb.jit(lambda xs: pb.scan(lambda c, x: (c + x, c * x), 1.0, xs, reverse=True))
    c, ys = f(coef)
    want_c, want_ys = 1.0, np.zeros(4)
    for i in reversed(range(4)):
        want_ys[i] = want_c * coef[i]
        want_c = want_c + coef[i]
    close(c, want_c)
    close(ys, want_ys)


def test_while_and_fori():
    for x in [3.0, -100.0, 0.01]:
        got = pb.jit(halve_until_small)(x, 0.5)
        want = halve_ref(x, 0.5)
        close(got[0], want[0])
        assert int(got[1]) == want[1]
    g = pb.jit(lambda x, n: pb.fori_loop(2, n, lambda i, v: v + i * x, 0.0))
    close(g(1.5, 7), 1.5 * sum(range(2, 7)))
    close(g(1.5, 1), 0.0)


@pytest.mark.parametrize("n_outer", [0, 1, 4])
def test_nested(n_outer):
    close(pb.jit(nested, static_argnums=1)(X3, n_outer), nested_ref(X3, n_outer))


def test_derivatives_match_interpreter():
    coef = np.array([1.0, -2.0, 0.5])

    def f(x):
        return np.sum(horner(coef, x)[0] ** 2) + np.sum(nested(x, 3)) + np.sum(branchy(x, 0.3))
    for t in (pb.grad, pb.jacfwd):
        close(pb.jit(t(f))(X3), pb.jit(t(f), backend="interpreter")(X3))
    # second order through scan inside cond inside fori_loop
    h = pb.hessian(lambda x: np.sum(nested(x, 3)))
    close(pb.jit(h)(X3), pb.jit(h, backend="interpreter")(X3))
    fw = lambda x: halve_until_small(x * x, 0.5)[0]  # noqa: E731
    close(pb.jit(pb.jacfwd(fw))(3.0), 6.0 / 2 ** halve_ref(9.0, 0.5)[1])


def test_vmap_compiled():
    ys = np.array([-1.0, 0.5, 0.2, 3.0, -0.4])
    close(pb.jit(pb.vmap(branchy))(XB, ys), [branchy_ref(x, y) for x, y in zip(XB, ys)])
    xs, tols = np.array([3.0, -100.0, 0.01, 7.0]), np.array([0.5, 1.0, 0.001, 2.0])
    got = pb.jit(pb.vmap(halve_until_small))(xs, tols)
    want = [halve_ref(x, t) for x, t in zip(xs, tols)]
    close(got[0], [w[0] for w in want])
    assert [int(n) for n in got[1]] == [w[1] for w in want]


def test_ode_example_compiled():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import ode

    J = pb.jit(pb.jacrev(ode.rk4_final_state))(ode.P0, ode.STATE0)
    Ji = pb.jit(pb.jacrev(ode.rk4_final_state), backend="interpreter")(ode.P0, ode.STATE0)
    close(J, Ji, rtol=1e-12)
    # and against central differences of the compiled forward solve
    fs, eps = pb.jit(ode.rk4_final_state), 1e-6
    J_fd = np.stack([(fs(ode.P0 + eps * e, ode.STATE0) - fs(ode.P0 - eps * e, ode.STATE0))
                     / (2 * eps) for e in np.eye(4)], axis=1)
    close(J, J_fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- more: AD, vmap, dtypes, layout
def ijit(f, **kw):
    return pb.jit(f, backend="interpreter", **kw)


def cumulative(x):
    return pb.scan(lambda c, xi: (c + xi, c + xi), 0.0, x)


def test_jit_grad_of_scan_closed_form():
    x = np.array([0.3, -0.7, 1.1, 2.0])
    g = pb.jit(pb.grad(lambda x: np.sum(cumulative(x)[1] ** 2)))
    close(g(x), 2 * np.cumsum(np.cumsum(x)[::-1])[::-1])
    # second order through the scan: d2/dx2 of sum(cumsum(x)^2) is 2 L^T L
    L = np.tril(np.ones((4, 4)))
    close(pb.jit(pb.hessian(lambda x: np.sum(cumulative(x)[1] ** 2)))(x), 2 * L.T @ L)


def test_jit_vmap_of_cond_is_a_select_and_batched_while_runs():
    from test_control_flow import prims

    ys = np.array([-1.0, 0.5, 0.2, 3.0, -0.4])
    f = pb.jit(pb.vmap(branchy))
    assert "cond" not in prims(f.ir(XB, ys)) and "select" in prims(f.ir(XB, ys))
    close(f(XB, ys), [branchy_ref(x, y) for x, y in zip(XB, ys)])
    # unbatched predicate: the cond stays a branch in the kernel
    def by_y(x, y):
        return pb.cond(y > 0.2, lambda a: np.sin(a) * y, lambda a: a * a - y, x)

    g = pb.jit(pb.vmap(by_y, in_axes=(0, None)))
    src = g.source(XB, 0.3)
    assert "if " in src and "else:" in src
    for y in (0.3, 0.1):
        close(g(XB, y), [np.sin(x) * y if y > 0.2 else x * x - y for x in XB])
    # grad of a batched cond
    h = pb.jit(pb.vmap(pb.grad(lambda x, y: np.sum(branchy(x, y)))))
    close(h(XB, ys), ijit(pb.vmap(pb.grad(lambda x, y: np.sum(branchy(x, y)))))(XB, ys))


def test_float32_stays_float32():
    xs = np.linspace(-1.0, 1.0, 7).astype(np.float32)
    f = pb.jit(lambda xs: pb.scan(lambda c, x: (c * np.float32(0.5) + np.sin(x), c * x),
                                  np.float32(0.25), xs))
    c, ys = f(xs)
    ci, ysi = ijit(lambda xs: pb.scan(lambda c, x: (c * np.float32(0.5) + np.sin(x), c * x),
                                      np.float32(0.25), xs))(xs)
    assert c.dtype == np.float32 and ys.dtype == np.float32
    close(c, ci, rtol=1e-6)
    close(ys, ysi, rtol=1e-6)
    w = pb.jit(lambda x: pb.while_loop(lambda v: v[0] < 100, lambda v: (v[0] * 3, v[1] + 1),
                                       (x, np.int32(0))))
    v, n = w(np.float32(1.5))
    assert v.dtype == np.float32 and n.dtype == np.int32
    assert float(v) == 1.5 * 3 ** 4 and int(n) == 4
    m = pb.jit(lambda a: pb.cond(a[0, 0] > 0, lambda a: a * 2, lambda a: -a, a))
    out = m(np.ones((2, 3), np.float32))
    assert out.dtype == np.float32
    close(out, 2 * np.ones((2, 3)))


def test_integer_carry_from_literal_and_empty_scan():
    f = pb.jit(lambda x: pb.fori_loop(0, 5, lambda i, c: (c[0] + i, c[1] * x), (0, x)))
    n, y = f(1.5)
    assert n.dtype == np.int64 and int(n) == 10
    close(y, 1.5 ** 6)
    g = pb.jit(lambda xs: pb.scan(lambda c, x: (c + x, 2 * x), np.zeros(3), xs))
    c, ys = g(np.zeros((0, 3)))
    close(c, np.zeros(3))
    assert ys.shape == (0, 3)


def test_array_carries_and_non_contiguous_xs():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(4, 6)).T  # (6, 4) transposed view: rows are strided
    W = rng.normal(size=(4, 4))

    def rnn(h0, xs):
        return pb.scan(lambda h, x: (np.tanh(W @ h + x), h.sum()), h0, xs)

    h0 = np.ones(4)
    for got, want in zip(pb.jit(rnn)(h0, xs), ijit(rnn)(h0, xs)):
        close(got, want)
    # the body returns a constant array and passes a carry through unchanged
    k = pb.jit(lambda a, b: pb.scan(lambda c, x: ((b, c[1] + x), c[0]), (a, 0.0), np.arange(3.0)))
    a, b = np.arange(4.0), -np.arange(4.0)
    (c0, c1), ys = k(a, b)
    close(c0, b)
    close(c1, 3.0)
    close(ys, [a, b, b])


def test_outputs_never_alias_inputs():
    f = pb.jit(lambda a, p: pb.cond(p, lambda a: a, lambda a: a + 1, a))
    a = np.arange(3.0)
    out = f(a, True)
    a[0] = 99.0
    close(out, [0.0, 1.0, 2.0])


def test_while_inside_scan_inside_cond():
    def f(x, flag):
        def scanned(x):
            def step(c, xi):
                n = pb.while_loop(lambda v: v[0] > 1.0, lambda v: (v[0] / 2, v[1] + 1),
                                  (np.abs(xi) + c, 0))[1]
                return c + n, n
            return pb.scan(step, 0, x)
        return pb.cond(flag, scanned, lambda x: (np.int64(-1), np.zeros(x.shape, np.int64)), x)

    def ref(x, flag):
        if not flag:
            return -1, np.zeros(x.shape, np.int64)
        c, ys = 0, []
        for xi in x:
            v, n = abs(xi) + c, 0
            while v > 1.0:
                v, n = v / 2, n + 1
            c += n
            ys.append(n)
        return c, np.array(ys)

    x = np.array([0.5, 3.0, 10.0, 0.1])
    for flag in (True, False):
        got, want = pb.jit(f)(x, flag), ref(x, flag)
        assert int(got[0]) == want[0]
        np.testing.assert_array_equal(got[1], want[1])


def test_source_has_real_loops_not_unrolled():
    def f(x, n):
        return pb.fori_loop(0, n, lambda i, v: np.sin(v) * x + i, x)

    small = pb.jit(f, static_argnums=1).source(X3, 10)
    big = pb.jit(f, static_argnums=1).source(X3, 10_000)
    assert "in range(10000):" in big
    assert len(big.splitlines()) == len(small.splitlines())
    assert big.count("math.sin(") + big.count("_vm.sincos_f64(") == 1  # one body, not 10^4
    w = pb.jit(halve_until_small).source(3.0, 0.5)
    assert "while True:" in w and w.count("def ") == 1
    src = pb.jit(nested, static_argnums=1).source(X3, 4)
    assert src.count("def ") == 1  # one generated function, no helper per op
    assert "if " in src and "else:" in src and "for " in src
    close(pb.jit(f, static_argnums=1)(X3, 10_000), ijit(f, static_argnums=1)(X3, 10_000))


def test_readme_control_flow_functions_compiled():
    """The README's control-flow functions, compiled (test_control_flow.py runs the
    blocks themselves; here only their definitions, to keep this file fast)."""
    from test_control_flow import readme_control_flow_blocks

    ns = {}
    blocks = [b for b in readme_control_flow_blocks() if "leggauss" not in b]
    for block in blocks:
        defs = block.split("\np, s0 = ")[0]  # the ODE block: definitions only
        exec(compile(defs, "README control flow", "exec"), ns)
    x = np.array([0.3, -0.7, 1.1])
    close(pb.jit(ns["f"])(x, 0.1), np.sin(x) * 0.1)
    close(pb.jit(ns["f"])(x, 5.0), x * x)
    close(pb.jit(pb.vmap(ns["f"], in_axes=(0, None)))(np.stack([x, -x]), 0.1),
          [np.sin(x) * 0.1, x * x])
    total, partial = pb.jit(ns["cumulative"])(x)
    close(partial, np.cumsum(x))
    close(total, np.sum(x))
    p, s0 = np.array([1.1, 0.4, 0.1, 0.4]), np.array([10.0, 5.0])
    close(pb.jit(ns["final_state"])(p, s0), ns["final_state"](p, s0))  # its jacrev: test above


def _assert_two_rows(f, args, shape, counter):
    """jit(f)'s source allocates a (2, ...) buffer of `shape` and selects its rows by
    the parity of the loop's `counter`; its values are the interpreter's. Returns them."""
    jf = pb.jit(f)
    src = jf.source(*args)
    alloc = r"^ +\w+_rows\d+ = _h\.empty\(" + re.escape(shape) + r", np\.float64\)$"
    assert re.search(alloc, src, re.M), src
    assert re.search(r"= \w+_rows\d+\[" + counter + r"\d+ & 1\]$", src, re.M), src
    got = jf(*args)
    for g, want in zip(got, ijit(f)(*args)):
        close(g, want)
    return got


def test_scan_array_carries_reuse_two_rows():
    """An array carry the scan body makes afresh is written into row `i & 1` of a
    buffer allocated before the loop, not allocated per iteration: the values are
    those of the interpreter, also where other carries are views or copies of the
    previous iteration's arrays, and where an inner scan's final carry becomes an
    outer carry."""
    rng = np.random.default_rng(7)
    W = rng.normal(size=(3, 3)) * 0.5
    xs = rng.normal(size=(6, 3))

    def rnn(h0, xs):
        return pb.scan(lambda h, x: (np.tanh(W @ h + x), h.sum()), h0, xs)

    _assert_two_rows(rnn, (np.ones(3), xs), "(2, 3)", "_i")

    def views(a, xs):  # carry 1: fresh; carries 2 and 3 read the previous carry 1
        def step(c, x):
            h, g, t = c
            return (np.tanh(h * 1.5 + x[0]), h.reshape(2, 3), h.T + g), g.sum() + t.sum()
        return pb.scan(step, (a, a.reshape(2, 3), a.T.copy()), xs, reverse=True)

    a = rng.normal(size=(3, 2))
    for got, want in zip(_flat(pb.jit(views)(a, xs)), _flat(ijit(views)(a, xs))):
        close(got, want)

    def nested_carries(a, xs):  # the inner scan's final carry is the outer carry
        def outer(c, x):
            inner, _ = pb.scan(lambda d, y: (np.sin(d) + y * x[1], d.sum()), c, xs[:3])
            return inner * 0.5, inner.sum()
        return pb.scan(outer, a, xs)

    for got, want in zip(pb.jit(nested_carries)(a[:, 0], xs), ijit(nested_carries)(a[:, 0], xs)):
        close(got, want)


def test_while_array_carries_reuse_two_rows():
    """A while loop's fresh array carries alternate between the rows of one buffer
    by an iteration counter, as a scan's do: values equal the interpreter's for a
    Newton iteration, for carries that are views of the previous carry, and for a
    while loop inside a scan whose final carry becomes the scan's carry."""
    a = np.linspace(1.0, 4.0, 8)

    def newton(x0, a):  # a data-dependent iteration count
        def body(c):
            i, x = c
            return i + 1, 0.5 * (x + a / x)
        return pb.while_loop(lambda c: np.max(np.abs(c[1] * c[1] - a)) > 1e-12, body, (0, x0))

    got = _assert_two_rows(newton, (np.ones(8), a), "(2, 8)", "_k")
    np.testing.assert_allclose(got[1], np.sqrt(a), rtol=1e-12)

    def views(m):  # carries 2 and 3 read the previous value of carry 1
        def body(c):
            i, x, y, z = c
            return i + 1, np.tanh(x @ x.T * 0.3 + y + z.reshape(3, 3)), x.T, x.reshape(9)
        return pb.while_loop(lambda c: c[0] < 5, body, (0, m, m.T, m.reshape(9)))

    m = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
    for got, want in zip(pb.jit(views)(m), ijit(views)(m)):
        close(got, want)

    def nested(a, xs):
        def outer(c, x):
            _, inner = pb.while_loop(lambda d: d[0] < 3,
                                     lambda d: (d[0] + 1, np.sin(d[1]) + x), (0, c))
            return inner * 0.5, inner.sum()
        return pb.scan(outer, a, xs)

    xs = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    for got, want in zip(pb.jit(nested)(a[:3], xs), ijit(nested)(a[:3], xs)):
        close(got, want)


def _flat(t):
    if isinstance(t, (tuple, list)):
        return [x for c in t for x in _flat(c)]
    return [t]


@pytest.mark.parametrize("parallel", [False, True])
def test_loop_and_cond_outputs_never_share_a_buffer(parallel):
    # before: a body or branch returning one array twice gave two outputs on one
    # buffer: writing into one changed the other
    cases = [
        lambda x: pb.fori_loop(0, 3, lambda i, c: (c[0] + 1, c[0] + 1), (x, x)),
        lambda x: pb.fori_loop(0, 0, lambda i, c: (c[0] + 1, c[0] + 1), (x, x)),
        lambda x: pb.while_loop(lambda c: c[0][0] < 5, lambda c: (c[0] + 1, c[0] + 1), (x, x)),
        lambda x: pb.cond(x[0] > -1, lambda a: (a + 1, a + 1), lambda a: (a, a * 2), x),
        lambda x: pb.cond(x[0] > -1, lambda a: (a, a), lambda a: (a, a * 2), x),
        lambda x: pb.scan(lambda c, r: ((c[0] * r, c[0] * r), None), (x, x), x)[0],
    ]
    x = np.zeros(3)
    for f in cases:
        a, b = pb.jit(f, parallel=parallel)(x)
        want = f(x)[1]
        assert not np.shares_memory(a, b) and not np.shares_memory(a, x)
        a[...] = 100.0
        np.testing.assert_array_equal(b, want)
