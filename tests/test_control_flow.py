"""pb.cond / while_loop / fori_loop / scan: values, derivatives, nesting,
text round trips, batching (vs Python loops over the batch), DCE/CSE inside
sub-IRs, the CLI, and the README's control-flow examples. Interpreter backend
(the Numba lowering has its own tests)."""
import functools
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pullback as pb
from pullback.ir import control_flow as CF
from pullback.ir import parse, typecheck
from pullback.passes.batching import vmap_ir
from pullback.passes.cse import cse
from pullback.passes.dce import dce
from pullback.passes.manager import optimize

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ijit(f, **kw):
    return pb.jit(f, backend="interpreter", **kw)


def close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def roundtrip(ir):
    """Print, parse, print again: identical text; both typecheck."""
    typecheck(ir)
    text = str(ir)
    again = parse(text)
    typecheck(again)
    assert str(again) == text
    return again


def prims(ir):
    """Every primitive name in `ir` and its sub-IRs."""
    out, stack = [], [ir]
    while stack:
        cur = stack.pop()
        out += [e.prim.name for e in cur.eqns]
        stack.extend(sub for _, _, sub in cur.subirs())
    return out


# ---------------------------------------------------------------- functions under test
def branchy(x, y):
    return pb.cond(np.sum(x) > y,
                   lambda a, b: np.sin(a) * b,
                   lambda a, b: a * a - b,
                   x, y)


def branchy_ref(x, y):
    return np.sin(x) * y if np.sum(x) > y else x * x - y


def horner(coef, x):
    """scan over coefficients: carry the polynomial value, emit partial values."""
    return pb.scan(lambda acc, c: (acc * x + c, acc), np.zeros_like(x), coef)


def horner_ref(coef, x):
    acc, ys = np.zeros_like(x), []
    for c in coef:
        ys.append(acc)
        acc = acc * x + c
    return acc, np.stack(ys)


def halve_until_small(x, tol):
    """while: count halvings until |x| < tol."""
    return pb.while_loop(lambda c: np.abs(c[0]) > tol,
                         lambda c: (c[0] * 0.5, c[1] + 1),
                         (x, 0))


def halve_ref(x, tol):
    n = 0
    while abs(x) > tol:
        x, n = x * 0.5, n + 1
    return x, n


def nested(x, n_outer):
    """scan inside cond inside fori_loop."""
    def body(i, v):
        def scanned(u):
            return pb.scan(lambda c, w: (c + np.sin(w * c), c * w), u[0], u)[0] + u
        return pb.cond(i % 2 == 0, scanned, lambda u: u * np.cos(u), v)
    return pb.fori_loop(0, n_outer, body, x)


def nested_ref(x, n_outer):
    v = np.array(x, dtype=float)
    for i in range(n_outer):
        if i % 2 == 0:
            c = v[0]
            for w in v:
                c = c + np.sin(w * c)
            v = c + v
        else:
            v = v * np.cos(v)
    return v


X3 = np.array([0.3, -0.7, 1.1])


# ---------------------------------------------------------------- values (interpreter)
@pytest.mark.parametrize("y", [0.1, 5.0])
def test_cond_values(y):
    close(ijit(branchy)(X3, y), branchy_ref(X3, y))


def test_scan_values_and_reverse():
    coef = np.array([1.0, -2.0, 0.5, 3.0])
    for got, want in zip(ijit(horner)(coef, X3), horner_ref(coef, X3)):
        close(got, want)
    f = ijit(lambda xs: pb.scan(lambda c, x: (c + x, c * x), 1.0, xs, reverse=True))
    c, ys = f(coef)
    want_c, want_ys = 1.0, np.zeros(4)
    for i in reversed(range(4)):
        want_ys[i] = want_c * coef[i]
        want_c = want_c + coef[i]
    close(c, want_c)
    close(ys, want_ys)


def test_while_and_fori_values():
    for x in [3.0, -100.0, 0.01]:
        got = ijit(halve_until_small)(x, 0.5)
        want = halve_ref(x, 0.5)
        close(got[0], want[0])
        assert int(got[1]) == want[1]
    # static bounds -> scan, traced bounds -> while; both sum i * x
    f = lambda x: pb.fori_loop(2, 7, lambda i, v: v + i * x, 0.0)  # noqa: E731
    g = lambda x, n: pb.fori_loop(2, n, lambda i, v: v + i * x, 0.0)  # noqa: E731
    close(ijit(f)(1.5), 1.5 * sum(range(2, 7)))
    close(ijit(g)(1.5, 7), 1.5 * sum(range(2, 7)))
    assert "scan" in prims(pb.make_ir(f)(1.5))
    assert "while" in prims(pb.make_ir(g)(1.5, 7))


@pytest.mark.parametrize("n_outer", [0, 1, 4])
def test_nested_control_flow_values_and_roundtrip(n_outer):
    close(ijit(nested, static_argnums=1)(X3, n_outer), nested_ref(X3, n_outer))
    ir = pb.make_ir(nested, static_argnums=1)(X3, n_outer)
    if n_outer:
        names = prims(ir)
        assert {"scan", "cond"} <= set(names)
    roundtrip(ir)


# ---------------------------------------------------------------- derivatives
def test_check_grads_cond_scan_fori_orders_1_2():
    coef = np.array([1.0, -2.0, 0.5])
    pb.check_grads(lambda x, y: branchy(x, y), (X3, 0.1), order=2)
    pb.check_grads(lambda x, y: branchy(x, y), (X3, 5.0), order=2)
    pb.check_grads(lambda c, x: np.sum(horner(c, x)[0]) + np.sum(horner(c, x)[1] ** 2),
                   (coef, X3), order=2)
    pb.check_grads(lambda x: nested(x, 3), (X3,), order=2)


def test_grad_of_nested_matches_finite_differences():
    g = ijit(pb.grad(lambda x: np.sum(nested(x, 3))))(X3)
    eps = 1e-6
    fd = [(np.sum(nested_ref(X3 + eps * e, 3)) - np.sum(nested_ref(X3 - eps * e, 3))) / (2 * eps)
          for e in np.eye(3)]
    close(g, fd, rtol=1e-6, atol=1e-8)


def test_while_forward_mode_and_reverse_error():
    f = lambda x: halve_until_small(x * x, 0.5)[0]  # noqa: E731
    # d/dx (x^2 / 2^n) with n fixed locally
    x = 3.0
    n = halve_ref(x * x, 0.5)[1]
    close(pb.jacfwd(f)(x), 2 * x / 2 ** n)
    pb.check_grads(f, (x,), order=2, modes="fwd")
    with pytest.raises(NotImplementedError, match="while") as e:
        pb.grad(f)(x)
    assert "pb.fori_loop with Python-int bounds" in str(e.value)
    assert "forward mode" in str(e.value)


def test_typecheck_after_every_transform():
    coef = np.array([1.0, -2.0, 0.5])
    fns = [
        (lambda x: np.sum(nested(x, 3)), (X3,)),
        (lambda x: np.sum(horner(coef, x)[1]), (X3,)),
        (lambda x: np.sum(branchy(x, 0.5)), (X3,)),
    ]
    for f, args in fns:
        for t in (pb.grad, pb.jacfwd, pb.jacrev, pb.hessian, pb.vmap):
            g = t(f) if t is not pb.vmap else pb.vmap(f)
            a = args if t is not pb.vmap else (np.stack([args[0], 2 * args[0]]),)
            ir = pb.make_ir(g)(*a)
            roundtrip(ir)
            roundtrip(optimize(ir))
    ir = pb.make_ir(pb.jacfwd(lambda x: halve_until_small(x, 0.5)[0]))(3.0)
    roundtrip(optimize(ir))


# ---------------------------------------------------------------- batching vs Python loops
def loop_over(f, in_axes, args, out_axes=0):
    """Reference vmap: call f on each slice, stack the results at out_axes."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = []
    for b in range(size):
        sl = [a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, in_axes)]
        outs.append(f(*sl))
    if isinstance(outs[0], tuple):
        return tuple(np.stack([np.asarray(o[k]) for o in outs], axis=out_axes)
                     for k in range(len(outs[0])))
    return np.stack([np.asarray(o) for o in outs], axis=out_axes)


def check_vmap(f, ref, in_axes, args, out_axes=0):
    got = ijit(pb.vmap(f, in_axes=in_axes, out_axes=out_axes))(*args)
    want = loop_over(ref, in_axes, args, out_axes)
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            close(g, w)
    else:
        close(got, want)
    roundtrip(pb.make_ir(pb.vmap(f, in_axes=in_axes, out_axes=out_axes))(*args))


RNG = np.random.default_rng(7)
XB = RNG.normal(size=(5, 3))


@pytest.mark.parametrize("in_axes", [(0, None), (1, None), (-1, None), (0, 0), (None, 0)])
def test_vmap_cond(in_axes):
    ys = np.array([-1.0, 0.5, 0.2, 3.0, -0.4])
    x = XB if in_axes[0] in (0, None) else XB.T
    if in_axes[0] is None:
        x = XB[0]
    y = ys if in_axes[1] is not None else 0.2
    check_vmap(branchy, branchy_ref, in_axes, (x, y))
    ir = pb.make_ir(pb.vmap(branchy, in_axes=in_axes))(x, y)
    # a batched predicate becomes select; an unbatched one stays a cond
    # the predicate sum(x) > y is batched in every case: the cond became a select
    assert "cond" not in prims(ir) and "select" in prims(ir)


def test_vmap_cond_unbatched_predicate_stays_cond():
    f = lambda x, p: pb.cond(p > 0, lambda a: a * 2.0, lambda a: np.exp(a), x)  # noqa: E731
    ir = pb.make_ir(pb.vmap(f, in_axes=(0, None)))(XB, 1.0)
    assert [e.prim for e in ir.eqns if e.prim is CF.cond_p]
    for p in (1.0, -1.0):
        check_vmap(f, lambda a, q: a * 2.0 if q > 0 else np.exp(a), (0, None), (XB, p))
    ir = pb.make_ir(pb.vmap(f, in_axes=(None, 0)))(XB[0], np.array([1.0, -1.0]))
    assert "cond" not in prims(ir) and "select" in prims(ir)


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (-1, None)])
def test_vmap_while_batched_and_unbatched_predicate(in_axes):
    xs = np.array([3.0, -100.0, 0.01, 7.0])
    tols = np.array([0.5, 1.0, 0.001, 2.0])
    x = xs if in_axes[0] is not None else 3.0
    tol = tols if in_axes[1] is not None else 0.5
    check_vmap(halve_until_small, halve_ref, in_axes, (x, tol))


def test_vmap_while_unbatched_predicate_keeps_counter_unbatched():
    # The loop count depends only on n (unbatched): the predicate stays a
    # scalar and only the batched carry gets a batch axis.
    def f(x, n):
        return pb.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * x), (0, 1.0))[1]
    check_vmap(f, lambda x, n: x ** n, (0, None), (np.array([1.0, 2.0, 3.0]), 4))
    ir = pb.make_ir(pb.vmap(f, in_axes=(0, None)))(np.array([1.0, 2.0, 3.0]), 4)
    w = [e for e in ir.eqns if e.prim is CF.while_p][0]
    assert w.params["cond"].outvars[0].aval.shape == ()
    assert [o.aval.shape for o in w.outputs] == [(), (3,)]


def test_vmap_fori_traced_bounds():
    f = lambda x, n: pb.fori_loop(0, n, lambda i, v: v * x + i, 1.0)  # noqa: E731

    def ref(x, n):
        v = 1.0
        for i in range(int(n)):
            v = v * x + i
        return v
    check_vmap(f, ref, (0, 0), (np.array([0.5, 2.0, -1.0]), np.array([3, 0, 5])))


@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 1), (-1, -1), (0, 0)])
def test_vmap_scan(in_axes):
    coef = RNG.normal(size=(4, 3))  # scan length 4 on axis 0 when unbatched
    x = XB[:3].T  # (3, 3)
    c = coef if in_axes[0] is None else np.stack([coef, coef * 2, -coef], axis=in_axes[0])
    xx = X3 if in_axes[1] is None else np.moveaxis(np.stack([x[0], x[1], x[2]]), 0, in_axes[1])
    check_vmap(horner, horner_ref, in_axes, (c, xx))
    check_vmap(horner, horner_ref, in_axes, (c, xx), out_axes=1)


def test_vmap_nested_and_vmap_of_vmap():
    xb = RNG.normal(size=(2, 3, 3))
    f = lambda x: nested(x, 3)  # noqa: E731
    got = ijit(pb.vmap(pb.vmap(f)))(xb)
    want = np.array([[nested_ref(r, 3) for r in m] for m in xb])
    close(got, want)


def test_vmap_of_grad_of_scan():
    coef = np.array([1.0, -2.0, 0.5, 3.0])
    loss = lambda x: np.sum(horner(coef, x)[0] ** 2) + np.sum(np.sin(horner(coef, x)[1]))  # noqa: E731
    got = ijit(pb.vmap(pb.grad(loss)))(XB)
    want = np.stack([pb.grad(loss)(r) for r in XB])
    close(got, want)
    eps = 1e-6
    fd = np.stack([[(float(loss(r + eps * e)) - float(loss(r - eps * e))) / (2 * eps)
                    for e in np.eye(3)] for r in XB])
    close(got, fd, rtol=1e-6, atol=1e-7)


def test_grad_of_vmap_through_control_flow():
    def f(x):
        return np.sum(pb.vmap(lambda r: branchy(r, 0.3))(x))
    g = pb.grad(f)(XB)
    want = np.stack([pb.grad(lambda r: np.sum(branchy(r, 0.3)))(r) for r in XB])
    close(g, want)


def test_jacobians_and_hessian_through_control_flow():
    coef = np.array([1.0, -2.0, 0.5])

    def f(x):
        return horner(coef, x)[0] + nested(x, 2)
    x = X3
    jf, jr = pb.jacfwd(f)(x), pb.jacrev(f)(x)
    eps = 1e-6
    fd = np.stack([(np.asarray(f(x + eps * e)) - np.asarray(f(x - eps * e))) / (2 * eps)
                   for e in np.eye(3)], axis=1)
    close(jf, fd, rtol=1e-6, atol=1e-8)
    close(jr, jf)
    s = lambda x: np.sum(f(x) ** 2)  # noqa: E731
    h = ijit(pb.hessian(s))(x)
    gs = pb.grad(s)
    fdh = np.stack([(np.asarray(gs(x + eps * e)) - np.asarray(gs(x - eps * e))) / (2 * eps)
                    for e in np.eye(3)], axis=1)
    close(h, fdh, rtol=1e-5, atol=1e-7)
    close(h, h.T, rtol=1e-9, atol=1e-10)
    # jacfwd over a while loop (forward mode is defined)
    jw = pb.jacfwd(lambda x: halve_until_small(x * x, 0.5)[0])(np.array(3.0))
    close(jw, 6.0 / 2 ** halve_ref(9.0, 0.5)[1])


def test_vmap_ir_directly_reports_batch_dims_of_ys():
    ir = pb.make_ir(horner)(np.ones((4, 3)), np.ones(3))
    b = vmap_ir(ir, [None, 0], 5, [0, 1])
    typecheck(b)
    assert b.out_avals[0].shape == (5, 3) and b.out_avals[1].shape == (4, 5, 3)


# ---------------------------------------------------------------- DCE / CSE inside control flow
def test_dce_prunes_unused_scan_outputs_carries_and_inputs():
    text = textwrap.dedent("""\
        { lambda ; a:f64[] b:f64[4] c:f64[]. let
            d:f64[] e:f64[] f:f64[4] g:f64[4] = scan[
              body={ lambda ; h:f64[] i:f64[] j:f64[] k:f64[]. let
                  l:f64[] = add i k
                  m:f64[] = mul j h
                  n:f64[] = sin k
                  o:f64[] = cos l
                in (l, m, n, o) }
              length=4
              num_carry=2
              num_consts=1
              reverse=False
            ] c a a b
          in (d, g) }
        """)
    ir = parse(text)
    typecheck(ir)
    out = dce(ir)
    typecheck(out)
    (s,) = out.eqns
    # carry 2 (m, from const c) and the ys n are unused: gone, and so is const c
    assert s.params["num_carry"] == 1 and s.params["num_consts"] == 0
    assert len(s.outputs) == 2 and len(s.params["body"].eqns) == 2
    assert [e.prim.name for e in s.params["body"].eqns] == ["add", "cos"]
    roundtrip(out)
    x = np.arange(4.0)
    got = pb.backends.interpreter.run_ir(out, [], [1.5, x, 2.0])
    want = pb.backends.interpreter.run_ir(ir, [], [1.5, x, 2.0])
    for g, w in zip(got, want):
        close(g, w)


def test_dce_prunes_cond_outputs_and_operands():
    text = textwrap.dedent("""\
        { lambda ; p:bool[] a:f64[] b:f64[]. let
            c:f64[] d:f64[] = cond[
              branches=(
                { lambda ; e:f64[] f:f64[]. let
                    g:f64[] = sin e
                    h:f64[] = cos f
                  in (g, h) },
                { lambda ; i:f64[] j:f64[]. let
                    k:f64[] = exp i
                    l:f64[] = log j
                  in (k, l) }
              )
            ] p a b
          in (c,) }
        """)
    ir = parse(text)
    out = dce(ir)
    typecheck(out)
    (c,) = out.eqns
    assert len(c.inputs) == 2 and len(c.outputs) == 1
    assert [[e.prim.name for e in br.eqns] for br in c.params["branches"]] == [["sin"], ["exp"]]
    roundtrip(out)


def test_dce_while_drops_carry_nothing_reads():
    # carry j is written but neither the condition, the other carries nor the
    # caller read it; carry i is read by the condition and stays
    def f(x):
        return pb.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * x, c[2] + c[0]),
                             (0, 1.0, 0))[0]
    ir = pb.make_ir(f)(2.0)
    out = optimize(ir)
    typecheck(out)
    (w,) = [e for e in out.eqns if e.prim is CF.while_p]
    assert len(w.outputs) == 1
    assert w.params["body_nconsts"] == 0 and len(w.inputs) == 1  # x only fed the dropped carry
    assert int(pb.backends.interpreter.run_ir(out, out.consts, [2.0])[0]) == 5
    roundtrip(out)
    # a carry the kept carry depends on stays
    g = lambda x: pb.while_loop(lambda c: c[0] < 5.0, lambda c: (c[0] + c[1], c[1] * x),  # noqa: E731
                                (0.0, 1.0))[0]
    out = optimize(pb.make_ir(g)(2.0))
    (w,) = [e for e in out.eqns if e.prim is CF.while_p]
    assert len(w.outputs) == 2
    close(pb.backends.interpreter.run_ir(out, out.consts, [2.0])[0], 7.0)


def test_cse_inside_sub_irs():
    text = textwrap.dedent("""\
        { lambda ; a:f64[] b:f64[3]. let
            c:f64[] d:f64[3] = scan[
              body={ lambda ; e:f64[] f:f64[]. let
                  g:f64[] = sin f
                  h:f64[] = sin f
                  i:f64[] = add g h
                  j:f64[] = mul e i
                  k:f64[] = mul i e
                in (j, k) }
              length=3
              num_carry=1
              num_consts=0
              reverse=False
            ] a b
          in (c, d) }
        """)
    ir = parse(text)
    out = cse(ir)
    typecheck(out)
    body = out.eqns[0].params["body"]
    assert [e.prim.name for e in dce(out).eqns[0].params["body"].eqns] == ["sin", "add", "mul"]
    assert body.outvars[0] is body.outvars[1]
    x = np.array([0.1, 0.2, 0.3])
    for g, w in zip(pb.backends.interpreter.run_ir(out, [], [1.0, x]),
                    pb.backends.interpreter.run_ir(ir, [], [1.0, x])):
        close(g, w, rtol=0, atol=0)


def test_optimized_vmapped_control_flow_same_values():
    f = pb.vmap(lambda x: nested(x, 3))
    ir = pb.make_ir(f)(XB)
    opt = optimize(ir)
    roundtrip(opt)
    run = pb.backends.interpreter.run_ir
    close(run(opt, opt.consts, [XB])[0], run(ir, ir.consts, [XB])[0], rtol=0, atol=0)


# ---------------------------------------------------------------- CLI
def test_cli_vmap_of_control_flow(tmp_path):
    src = tmp_path / "cfmod.py"
    src.write_text(textwrap.dedent("""\
        import numpy as np
        import pullback as pb

        def f(x, y):
            return pb.cond(np.sum(x) > y, lambda a: np.sin(a), lambda a: a * 2.0, x)
        """))
    r = subprocess.run([sys.executable, "-m", "pullback", "dump", f"{src}:f", "--args",
                        "f64[3], f64[]", "--transform", "vmap", "--in-axes", "0,None",
                        "--batch-size", "4", "--no-opt"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ir = parse(r.stdout)
    typecheck(ir)
    assert ir.in_avals[0].shape == (4, 3) and ir.out_avals[0].shape == (4, 3)
    x = RNG.normal(size=(4, 3))
    (got,) = pb.backends.interpreter.run_ir(ir, ir.consts, [x, 0.1])
    want = [np.sin(r) if np.sum(r) > 0.1 else r * 2.0 for r in x]
    close(got, want)


# ---------------------------------------------------------------- README examples
def readme_control_flow_blocks():
    """```python blocks of README.md's "## Control flow" section (or, until it is
    pasted there, of notes/README_control_flow.md)."""
    readme = (ROOT / "README.md").read_text() if (ROOT / "README.md").exists() else ""
    m = re.search(r"^## Control flow\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if m:
        text = m.group(1)
    else:
        notes = ROOT.parent / "notes" / "README_control_flow.md"
        text = notes.read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_control_flow_examples_run():
    blocks = readme_control_flow_blocks()
    assert len(blocks) >= 2
    ns = {}
    for block in blocks:  # the blocks assert their own results
        exec(compile(block, "README control flow", "exec"), ns)


def test_vmap_of_vmap_of_while_with_batched_predicate():
    xs = np.array([[3.0, -100.0, 0.01], [7.0, 0.2, 1e6]])
    tols = np.array([[0.5, 1.0, 0.001], [2.0, 0.1, 1.0]])
    got = ijit(pb.vmap(pb.vmap(halve_until_small)))(xs, tols)
    for i in range(2):
        for j in range(3):
            want = halve_ref(xs[i, j], tols[i, j])
            close(got[0][i, j], want[0])
            assert int(got[1][i, j]) == want[1]
    # forward-mode derivative of each lane, batched
    d = ijit(pb.vmap(pb.jacfwd(lambda x, t: halve_until_small(x, t)[0])))(xs[0], tols[0])
    close(d, [0.5 ** halve_ref(x, t)[1] for x, t in zip(xs[0], tols[0])])


def test_loops_are_not_unrolled():
    def f(x, n):
        return pb.fori_loop(0, n, lambda i, v: np.sin(v) * x + i, x)
    small = optimize(pb.make_ir(f, static_argnums=1)(X3, 10))
    big = optimize(pb.make_ir(f, static_argnums=1)(X3, 10_000))
    assert len(big.eqns) == len(small.eqns)
    (s_small,) = [e for e in small.eqns if e.prim is CF.scan_p]
    (s_big,) = [e for e in big.eqns if e.prim is CF.scan_p]
    assert s_big.params["length"] == 10_000
    assert len(s_big.params["body"].eqns) == len(s_small.params["body"].eqns)
    gb = pb.make_ir(pb.vmap(pb.grad(lambda x: np.sum(f(x, 10_000)))))(XB)
    assert len(gb.eqns) < 100


def test_type_errors_name_the_users_functions():
    with pytest.raises(TypeError, match=r"pb.fori_loop: body_fun must return init_val's .*i64\[\].*f64\[\]"):
        pb.fori_loop(0, 3, lambda i, v: v * 0.5, np.int64(1))
    with pytest.raises(TypeError, match=r"pb.fori_loop: body_fun"):
        ijit(lambda n: pb.fori_loop(0, n, lambda i, v: (v, v), 1.0))(3)
    with pytest.raises(TypeError, match=r"pb.while_loop: body_fun"):
        pb.while_loop(lambda c: c < 3, lambda c: c + 0.5, np.int64(0))
    with pytest.raises(TypeError, match=r"pb.while_loop: cond_fun must return a bool scalar"):
        pb.while_loop(lambda c: c, lambda c: c + 1.0, 0.0)
    with pytest.raises(TypeError, match=r"pb.scan: f must return the carry"):
        pb.scan(lambda c, x: (c + x, None), np.int64(0), np.ones(3))
    with pytest.raises(ValueError, match=r"pb.scan: .*length"):
        pb.scan(lambda c, x: (c, x), 0.0, np.ones(3), length=4)
    with pytest.raises(TypeError, match=r"pb.cond: true_fun and false_fun"):
        pb.cond(True, lambda x: x, lambda x: x * 1.0, 1)
    with pytest.raises(TypeError, match=r"pb.cond: the predicate must be a scalar"):
        pb.cond(np.ones(2) > 0, lambda x: x, lambda x: x, 1.0)


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_python_scalar_carries_and_branches_are_weakly_typed(backend):
    """As in JAX: a Python scalar starting a carry takes the dtype its body gives it (0.0
    plus float32 slices is float32; a Python int times 0.5 a float), and an output both
    branches of a cond give as Python scalars stays weak."""
    x32, i32 = np.array([1.5, 2.25, -0.5], np.float32), np.array([1, 2, 3], np.int32)
    jit = functools.partial(pb.jit, backend=backend)
    c, ys = jit(lambda x: pb.scan(lambda c, xi: (c + xi, c), 0.0, x))(x32)
    assert c.dtype == ys.dtype == np.float32 and c == np.float32(3.25)
    assert jit(lambda x: pb.scan(lambda c, xi: (c + xi, c), 0, x))(i32)[0].dtype == np.int32
    got = jit(lambda x: pb.fori_loop(0, 3, lambda i, c: c + x[i], 0.0))(x32)
    assert got.dtype == np.float32 and got == np.float32(3.25)
    assert jit(lambda x: pb.fori_loop(0, 3, lambda i, v: v * 0.5 + x[0], 1))(x32).dtype == np.float32
    assert pb.fori_loop(0, 3, lambda i, v: v * 0.5, 1) == 0.125  # int -> float, as JAX
    assert pb.while_loop(lambda c: c < 3, lambda c: c + 0.5, 0) == 3.0
    n, total = jit(lambda x: pb.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] + x[c[0]]),
                                           (0, 0.0)))(x32)
    assert n.dtype == np.int64 and total.dtype == np.float32 and total == np.float32(3.25)
    got = jit(lambda x: pb.cond(x[0] > 0, lambda: 1.5, lambda: 2.5) * x)(x32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, 1.5 * x32)
    with pytest.raises(TypeError, match="pb.cond: true_fun and false_fun"):  # as JAX
        jit(lambda x: pb.cond(x[0] > 0, lambda: 1.0, lambda: x[1]))(x32)
    # a carry the body keeps a Python-scalar computation stays weak (inside a trace)
    for f in (lambda x: x * pb.fori_loop(0, 3, lambda i, c: c + 1, 0.0),
              lambda x: x * pb.while_loop(lambda c: c < 3, lambda c: c + 1, 0.0),
              lambda x: x * pb.scan(lambda c, _: (c + 1, None), 0.0, None, length=3)[0],
              lambda x: x * pb.cond(x[0] > 0, lambda: 3.0, lambda: 2.0)):
        got = jit(f)(x32)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, 3 * x32)
    assert jit(lambda x, s: x * pb.fori_loop(0, 3, lambda i, c: c * 2, s))(x32, 0.5).dtype == \
        np.float32
    # while one the body makes strong (a float64 element added) is strong, as in NumPy
    x64, y32 = np.array([0.1, 0.2]), np.ones(1, np.float32)
    for f in (lambda x, y: y * pb.fori_loop(0, 3, lambda i, c: c + x[0], 0.0),
              lambda x, y: y * pb.scan(lambda c, xi: (c + xi, None), 0.0, x)[0],
              lambda x, y: y * pb.while_loop(lambda c: c < 0.25, lambda c: c + x[0], 0.0)):
        assert jit(f)(x64, y32).dtype == np.float64
    # outside a trace results are 0-d arrays (NumPy has no weak type)
    r = pb.fori_loop(0, 3, lambda i, c: c + 1, 0)
    assert isinstance(r, np.ndarray) and r.shape == () and r.item() == 3
    assert pb.cond(True, lambda: 1.0, lambda: 2.0).shape == ()
    # ys the body gives as Python scalars stack weakly typed, as JAX's
    assert jit(lambda x: pb.scan(lambda c, _: (c + 1.0, c), 0.0, None, length=3)[1] * x)(
        x32).dtype == np.float32
    assert jit(lambda x: pb.scan(lambda c, xi: (c, 2.0), 0.0, x)[1] * x)(x32).dtype == np.float32
    # a weak carry widens (an int times 0.5 is a float), never narrows: a float carry the
    # body returns as an int is the carry's type changing, an error as in JAX (it was
    # truncated: fori_loop(0, 0, lambda i, c: i, 0.5) gave 0)
    assert pb.fori_loop(0, 3, lambda i, c: c * 0.5, 4) == 0.5
    for f, name in ((lambda: pb.fori_loop(0, 0, lambda i, c: i, 0.5), "fori_loop"),
                    (lambda: jit(lambda n: pb.fori_loop(0, n, lambda i, c: i, 0.5))(0), "fori_loop"),
                    (lambda: pb.while_loop(lambda c: c > 10, lambda c: 3, 2.5), "while_loop"),
                    (lambda: pb.scan(lambda c, x: (np.floor(x).astype(np.int32), c), 0.7,
                                     np.array([1.2, 2.7])), "scan")):
        with pytest.raises(TypeError, match=rf"pb\.{name}: .* of \(f64\[\]\) became .* of \(i"):
            f()
    for r in (pb.cond(True, lambda a: a, lambda a: -a, 1.0),  # the operand itself
              pb.cond(True, lambda a: 1.0, lambda a: 2.0, np.ones(2))):
        assert type(r) is np.ndarray and r.shape == () and r.item() == 1.0


def test_check_grads_through_jit_interpreter():
    coef = np.array([1.0, -2.0, 0.5])
    pb.check_grads(ijit(lambda x, y: branchy(x, y)), (X3, 0.1), order=2)
    pb.check_grads(ijit(lambda x: np.sum(horner(coef, x)[1] ** 2)), (X3,), order=2)
    pb.check_grads(ijit(lambda x: nested(x, 3)), (X3,), order=1)


def test_vmap_reverse_scan_with_pytree_xs_and_its_gradient():
    def f(x, tree):
        def step(c, xs):
            a, b = xs["a"], xs["b"]
            return c * a + b, (c, a * b)
        return pb.scan(step, x, tree, reverse=True)

    def ref(x, tree):
        c, ys0, ys1 = x, [None] * 4, [None] * 4
        for i in reversed(range(4)):
            ys0[i], ys1[i] = c, tree["a"][i] * tree["b"][i]
            c = c * tree["a"][i] + tree["b"][i]
        return c, (np.stack(ys0), np.stack(ys1))

    a = RNG.normal(size=(4, 5))  # scanned axis 0, batch axis 1
    tree = {"a": a, "b": a ** 2}
    got = ijit(pb.vmap(f, in_axes=(0, {"a": 1, "b": 1})))(XB[:, 0], tree)
    for i in range(5):
        want = ref(XB[i, 0], {"a": a[:, i], "b": a[:, i] ** 2})
        close(got[0][i], want[0])
        close(got[1][0][i], want[1][0])
        close(got[1][1][i], want[1][1])
    loss = lambda x, t: f(x, t)[0] + np.sum(f(x, t)[1][0])  # noqa: E731
    g = pb.vmap(pb.grad(loss, argnums=(0, 1)), in_axes=(0, {"a": 1, "b": 1}))(XB[:, 0], tree)
    for i in range(5):
        gi = pb.grad(loss, argnums=(0, 1))(XB[i, 0], {"a": a[:, i], "b": a[:, i] ** 2})
        close(g[0][i], gi[0])
        close(g[1]["a"][i], gi[1]["a"])


def _example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_integrate_example_matches_closed_forms_and_quad():
    import math

    from scipy.integrate import quad
    from scipy.special import erf

    ex = _example("integrate")
    b = np.array([0.0, 0.3, 1.7, 4.0])
    got = ijit(pb.vmap(ex.gauss_integral))(b)
    close(got, math.sqrt(math.pi) / 2 * erf(b), rtol=0, atol=1e-14)
    close(got, [quad(ex.gauss, 0.0, x)[0] for x in b], rtol=0, atol=1e-14)
    close(ijit(pb.vmap(ex.t_sin_integral))(b), np.sin(b) - b * np.cos(b), rtol=0, atol=1e-13)


def test_ode_example_matches_solve_ivp():
    ex = _example("ode")
    s = ijit(ex.rk4_final_state)(ex.P0, ex.STATE0)
    close(s, ex.solve_ivp_final_state(ex.P0), rtol=1e-9, atol=0)


def test_vmap_cond_output_batched_in_one_branch_only():
    c = np.array([5.0, 6.0, 7.0])

    def f(x, p):
        return pb.cond(p > 0, lambda a, k: (a * 2.0, 1), lambda a, k: (k, 2), x, c)
    for p in (1.0, -1.0):
        out, tag = ijit(pb.vmap(f, in_axes=(0, None)))(XB, p)
        close(out, XB * 2.0 if p > 0 else np.broadcast_to(c, XB.shape))
        assert list(tag) == [1 if p > 0 else 2] * 5
    # inside, the tag stays unbatched: only vmap's out_axes=0 broadcasts it
    ir = pb.make_ir(pb.vmap(f, in_axes=(0, None)))(XB, 1.0)
    (e,) = [e for e in ir.eqns if e.prim is CF.cond_p]
    assert [o.aval.shape for o in e.outputs] == [(5, 3), ()]
    ps = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    out, tag = ijit(pb.vmap(f))(XB, ps)
    close(out, [x * 2.0 if p > 0 else c for x, p in zip(XB, ps)])
    assert [int(t) for t in tag] == [1 if p > 0 else 2 for p in ps]


def test_share_equal_subirs_lets_cse_merge_a_loop_traced_twice():
    # CSE compares sub-IRs by identity (tests/test_passes_cse.py pins that);
    # share_equal_subirs makes structurally equal ones one object first.
    from pullback.passes.control_flow_passes import share_equal_subirs

    coef = np.array([1.0, -2.0, 0.5])

    def f(c, x):
        return np.sum(horner(c, x)[0]) + np.sum(horner(c, x)[1] ** 2)
    ir = pb.make_ir(f)(coef, X3)
    assert sum(e.prim is CF.scan_p for e in ir.eqns) == 2
    assert sum(e.prim is CF.scan_p for e in optimize(ir).eqns) == 2
    shared = share_equal_subirs(ir)
    assert share_equal_subirs(shared) is shared  # idempotent
    out = optimize(shared)
    typecheck(out)
    assert sum(e.prim is CF.scan_p for e in out.eqns) == 1
    run = pb.backends.interpreter.run_ir
    close(run(out, out.consts, [coef, X3])[0], run(ir, ir.consts, [coef, X3])[0], rtol=0, atol=0)
    # a different literal inside the body: two loops stay
    g = lambda c, x: (pb.scan(lambda a, k: (a * x + k, a), 0.0, c)[0]  # noqa: E731
                      + pb.scan(lambda a, k: (a * x + k + 1e-300, a), 0.0, c)[0])
    out = optimize(share_equal_subirs(pb.make_ir(g)(coef, 0.5)))
    assert sum(e.prim is CF.scan_p for e in out.eqns) == 2


def test_share_equal_subirs_leaves_custom_rules_alone():
    from pullback.passes.control_flow_passes import share_equal_subirs

    def make(scale):
        @pb.custom_jvp
        def g(x):
            return np.sin(x)

        @g.defjvp
        def g_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return np.sin(x), scale * t  # deliberately different rules, same names
        return g
    g1, g2 = make(1.0), make(2.0)

    def f(c):
        return (pb.scan(lambda a, k: (g1(a) + k, a), 0.0, c)[0]
                + pb.scan(lambda a, k: (g2(a) + k, a), 0.0, c)[0])
    ir = pb.make_ir(f)(np.ones(3))
    # (the custom calls' own `call` bodies are equal and may be shared; the
    # scans holding the different rules are not)
    out = optimize(share_equal_subirs(ir))
    assert sum(e.prim is CF.scan_p for e in out.eqns) == 2


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_scan_length_and_fori_loop_bounds_must_be_integers(backend):
    # before, length=-1 crashed inside the kernel (SystemError) or the interpreter,
    # length=2.5 ran 2 steps, and float fori_loop bounds were truncated
    def scan_of(length):
        return pb.jit(lambda x: pb.scan(lambda c, _: (c + 1, c), x, None, length=length),
                      backend=backend)

    with pytest.raises(ValueError, match="pb.scan: length must be >= 0, got -1"):
        scan_of(-1)(0.0)
    for bad in (2.5, "3"):
        with pytest.raises(TypeError, match="pb.scan: length must be an integer"):
            scan_of(bad)(0.0)
    assert scan_of(np.int64(2))(0.0)[0] == 2.0
    with pytest.raises(TypeError, match="pb.fori_loop: the bounds must be integers"):
        pb.fori_loop(0.0, 3.0, lambda i, c: c + 1.0, 0.0)
    with pytest.raises(TypeError, match="pb.fori_loop: the bounds must be integers"):
        pb.jit(lambda n: pb.fori_loop(0, n, lambda i, c: c + 1.0, 0.0), backend=backend)(5.0)
    assert pb.jit(lambda n: pb.fori_loop(0, n, lambda i, c: c + 1.0, 0.0),
                  backend=backend)(5) == 5.0


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_fori_loop_index_is_a_python_int_to_promotion(backend):
    # `c + i` kept a float32 (int32) carry's dtype only with a weakly typed i: an int64 i
    # promoted it, and fori_loop refused the body ("f32[3] became f64[3]")
    for dt in (np.float32, np.int32):
        init = np.ones(3, dt)
        out = pb.fori_loop(0, 3, lambda i, c: c + i, init)
        assert out.dtype == dt and np.array_equal(out, [4, 4, 4])
        f = pb.jit(lambda n, c: pb.fori_loop(0, n, lambda i, c: c + i * 2, c), backend=backend)
        out = f(3, init)  # traced bounds: a while loop
        assert out.dtype == dt and np.array_equal(out, [7, 7, 7])
    x = np.array([2.0, 3.0, 4.0])
    g = pb.grad(lambda x: pb.fori_loop(0, 3, lambda i, c: c * x[i] + i, 1.0))(x)
    np.testing.assert_array_equal(g, [12.0, 8.0, 7.0])


def test_eager_control_flow_returns_arrays_the_caller_owns():
    # before: the caller's array or a closed-over constant itself came back
    x, table = np.zeros(3), np.ones(3)
    outs = [pb.fori_loop(0, 1, lambda i, c: c, x), pb.while_loop(lambda c: False, lambda c: c, x),
            pb.cond(True, lambda a: table, lambda a: a, x), pb.cond(False, lambda a: table,
                                                                    lambda a: a, x),
            *pb.scan(lambda c, r: (c, r), x, x)]
    for r in outs:
        assert not np.shares_memory(r, x) and not np.shares_memory(r, table)
