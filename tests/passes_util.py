"""Shared helpers of the tests: text-in/text-out checks of passes, random inputs
with special values, bitwise comparisons."""
from textwrap import dedent

import numpy as np

from pullback.backends.interpreter import eval_ir
from pullback.ir import parse, typecheck

SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -3.25, 1e300]


def text(s):
    return dedent(s).strip()


def sample(aval, rng):
    """A random input with special values (nan, inf, -0.0) mixed in."""
    shape, dt = aval.shape, aval.dtype
    if dt.kind == "f":
        with np.errstate(over="ignore"):  # 1e300 becomes inf in f32: fine
            pool = np.array(SPECIAL_FLOATS + list(rng.normal(size=8))).astype(dt)
        return np.asarray(rng.choice(pool, size=shape), dtype=dt)
    if dt.kind == "b":
        return np.asarray(rng.integers(0, 2, size=shape).astype(bool))
    return np.asarray(rng.integers(-5, 6, size=shape), dtype=dt)


def same_bits(a, b):
    """Equal shape and dtype; bitwise equal values, NaNs equal in position."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        na, nb = np.isnan(a), np.isnan(b)
        if not np.array_equal(na, nb):
            return False
        a, b = a[~na], b[~nb]
    return a.tobytes() == b.tobytes()


def assert_bits(got, want):
    """same_bits, as an assertion that shows both: equal values, NaN where `want`
    has NaN, the same sign of every zero (a NaN's sign bit is not compared)."""
    assert same_bits(got, want), f"\ngot  {got!r}\nwant {want!r}"


def assert_same_results(before, after, seed=0, trials=3):
    """Evaluate both IRs with the interpreter on the same random inputs."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        args = [sample(v.aval, rng) for v in before.invars]
        with np.errstate(all="ignore"):
            want = eval_ir(before, before.consts, args)
            got = eval_ir(after, after.consts, args)
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert same_bits(w, g), (w, g)


def applied(pass_fn, ir, *args):
    """pass_fn(ir), typechecked, with the same results at `args`, bit for bit."""
    out = pass_fn(ir)
    typecheck(out)
    for a, b in zip(eval_ir(ir, ir.consts, list(args)), eval_ir(out, out.consts, list(args))):
        assert same_bits(np.asarray(a), np.asarray(b))
    return out


def check_pass(pass_fn, src, expected, consts=None, values=True):
    """parse(src) -> pass -> typecheck -> printed text == expected; same results."""
    ir = parse(text(src), consts=consts)
    assert str(ir) == text(src)  # the input is written as the printer writes it
    out = pass_fn(ir)
    typecheck(out)
    assert str(out) == text(expected), "got:\n" + str(out)
    if values:
        assert_same_results(ir, out)
    return out
