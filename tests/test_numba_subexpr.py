"""The numba backend's source pass that shares index arithmetic (subexpr.py):
what it moves and merges, what it must leave alone, and that kernels it rewrote
compute what the interpreter does."""
import numpy as np
import pytest

import pullback as pb
from pullback.backends.numba.subexpr import share_subexpressions


def share(body, readonly=(), outer=("x", "y", "p")):
    lines = body.strip("\n").splitlines()
    eqns = {i: f"e{i}" for i in range(len(lines))}
    out, out_eqn = share_subexpressions(lines, eqns, outer, readonly)
    return "\n".join(out), out_eqn


def test_invariant_check_moves_before_the_loop_and_repeats_merge():
    src, _ = share("""
    for i0 in range(10):
        for i1 in range(5):
            a_ = _h.where(i0 < 9, x[_h.clamp(i0, 8)], 0.0)
            b_ = _h.where(i0 < 9, i1 == _h.clamp(i0, 8), False)
            c_ = _h.where(i1 == _h.clamp(i0, 8), a_, 1.0)
""")
    assert src == """    for i0 in range(10):
        _s1 = i0 < 9
        _s2 = _h.clamp(i0, 8)
        for i1 in range(5):
            a_ = _h.where(_s1, x[_s2], 0.0)
            _s3 = i1 == _s2
            b_ = _h.where(_s1, _s3, False)
            c_ = _h.where(_s3, a_, 1.0)"""


def test_reads_move_only_from_arrays_the_kernel_never_writes():
    body = """
    for i0 in range(4):
        y[i0] = 0.0
        for i1 in range(3):
            a_ = _h.where(i1 < 2, y[_h.clamp(i0, 3)], x[_h.clamp(i0, 3)])
"""
    src, _ = share(body, readonly=["x"])
    assert "_s2 = x[_s1]" in src and "y[_s1]" in src
    assert "= y[" not in src  # y is written in the loop: its read stays where it is
    # a name assigned in the body is never treated as read-only
    src, _ = share(body + "    x = y\n", readonly=["x"])
    assert "= x[" not in src


def test_accumulators_and_loop_carries_stay():
    src, _ = share("""
    acc = 0
    for i0 in range(4):
        acc = acc + 1
        for i1 in range(3):
            a_ = _h.where(acc < 2, 1.0, 0.0)
            b_ = _h.where(acc < 2, 2.0, 0.0)
""")
    assert "_s" not in src  # acc is assigned twice: no expression with it moves or merges


def test_nothing_goes_before_an_else():
    src, _ = share("""
    for i0 in range(4):
        if p:
            a_ = _h.where(i0 < 2, 1.0, 0.0)
        else:
            b_ = _h.where(i0 < 3, 2.0, 0.0)
            c_ = _h.where(i0 < 3, 3.0, 0.0)
""")
    # i0 < 2 leaves the if block (before its header); i0 < 3 is merged inside the else
    assert src == """    for i0 in range(4):
        _s1 = i0 < 2
        if p:
            a_ = _h.where(_s1, 1.0, 0.0)
        else:
            _s2 = i0 < 3
            b_ = _h.where(_s2, 2.0, 0.0)
            c_ = _h.where(_s2, 3.0, 0.0)"""


def test_new_lines_keep_the_equation_of_the_line_they_came_from():
    src, eqns = share("""
    for i0 in range(4):
        for i1 in range(3):
            a_ = _h.where(i0 < 2, 1.0, 0.0)
""")
    lines = src.splitlines()
    moved = lines.index("        _s1 = i0 < 2")
    assert eqns[moved] == "e1"  # placed before the inner loop's header (line 1)
    assert eqns[lines.index("            a_ = _h.where(_s1, 1.0, 0.0)")] == "e2"


def test_names_the_pass_cannot_place_stay():
    # `z` is neither an argument nor assigned in a way the pass reads (a tuple in
    # parentheses): expressions with it are left where they are
    src, _ = share("""
    (z, w) = f()
    for i0 in range(4):
        for i1 in range(3):
            a_ = _h.where(z < 2, 1.0, 0.0)
            b_ = _h.where(z < 2, 2.0, 0.0)
""")
    assert "_s" not in src


def test_expressions_without_names_stay_for_llvm_to_fold():
    src, _ = share("""
    for i0 in range(4):
        a_ = _h.where(i0 < 2, (100.0 * 1.0), -0.0)
        b_ = _h.where(i0 < 3, (100.0 * 1.0), -0.0)
""")
    assert "_s" not in src


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_rosenbrock_hessian_clamps_each_index_once():
    x = np.linspace(-1.0, 1.5, 100)
    f = pb.jit(pb.hessian(_rosenbrock))
    src = f.source(x)
    body = src[src.index("def kernel_py"):]
    assert body.count("_h.clamp(i0, 98)") == 1
    np.testing.assert_array_equal(f(x), pb.jit(pb.hessian(_rosenbrock), backend="interpreter")(x))


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_stencil_gradients_equal_the_interpreter(n):
    # pads and slices of several offsets in one loop: shared clamps and checks
    def f(x, w):
        y = x[2:] * w[:-2] - 2.0 * x[1:-1] * w[1:-1] + x[:-2] * w[2:]
        return np.sum(np.sin(y) * y[::-1])

    rng = np.random.default_rng(n)
    x, w = rng.normal(size=n + 2), rng.normal(size=n + 2)
    for g in (pb.grad(f), pb.grad(f, argnums=1), pb.hessian(f)):
        np.testing.assert_array_equal(pb.jit(g)(x, w), pb.jit(g, backend="interpreter")(x, w))
