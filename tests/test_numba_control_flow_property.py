"""Differential test of the Numba backend on random programs with control flow.

Random straight-line programs (the `programs()` strategy of
test_passes_property.py) are wrapped, one or more levels deep, in cond (false
branches of another structure: negation, literals, pass-through, permuted
operands), scan (forward / reverse, carries of several shapes and dtypes,
consts, stacked ys, length 0, rows of the inputs), fori_loop (static bounds: a
scan; traced bound: a while; rows read with a dynamic index) and while_loop (the
predicate reads the counter and a float carry). Each IR goes through the
default pipeline and is then run by the compiled kernel and by the interpreter
on the same random inputs (nan, inf, -0.0 mixed in; some in Fortran order or
strided): same shapes and dtypes, integers and bools exact, floats with NaNs in
the same positions and within a few ulps (vecmath's error budget, see
tests/test_vecmath.py). The same is checked for derivatives (grad, jacrev, jvp)
and for vmap (also against one call per example), compiled vs interpreted.

while_loop (and fori_loop with a traced bound) has forward mode only, so
reverse-mode derivatives are drawn over cond, scan and static fori_loop, and
forward mode (jvp) over all four, nested.

Expected near-misses in a long campaign (triaged, not bugs): an ulp of
difference (vecmath vs NumPy, or NumPy's own layout-dependent summation order)
in front of sin/cos of a large argument, e.g. sin(x**2 / logistic(x)) at
x = -3.25 in f32, gives ~1e-4 relative. Loop carries fold outputs back through
tanh(total / 16) so that such differences are not amplified iteration after
iteration. Outputs that are the residue of a cancelling sum (inputs of 1e300
times constants of both signs, summed in a loop carry) depend on the order of
the additions: where the interpreter itself moves when its sums add in another
order (`order_sensitive`), compiled and interpreted values are not compared.

A local campaign: PULLBACK_FUZZ_EXAMPLES=500 (random, not derandomized) and
PULLBACK_FUZZ_DEPTH=3 (levels of control flow, default at most 2).
"""
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import pullback as pb
from pullback.backends import numba as numba_backend
from pullback.backends import interpreter
from pullback.backends.interpreter import eval_ir
from pullback.ir import ShapedArray
from pullback.ir import primitives as P
from pullback.passes.manager import optimize
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import sample
from test_passes_property import programs

CAMPAIGN = "PULLBACK_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("PULLBACK_FUZZ_EXAMPLES", "8"))


def fuzz_settings(n):
    # CI runs a fixed (derandomized) sample: every compile costs 0.2-2 s
    return settings(max_examples=n, deadline=None, derandomize=not CAMPAIGN,
                    suppress_health_check=[HealthCheck.too_slow])
DEPTH = int(os.environ.get("PULLBACK_FUZZ_DEPTH", "2"))  # levels of control flow, at most
N_AVAL = ShapedArray((), np.int64)  # every program also takes an int `n` (loop bounds)


# ---------------------------------------------------------------- comparison
TOL = {np.dtype(np.float64): (1e-12, 1e-13), np.dtype(np.float32): (1e-5, 1e-6)}


def assert_close(got, want, what="", tol_dtype=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind != "f":
        assert np.array_equal(got, want), f"{what}: {got} vs {want}"
        return
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what} nan: {got} vs {want}"
    rtol, atol = TOL[np.dtype(tol_dtype or want.dtype)]
    ok = ~np.isnan(want)
    g, w = got[ok], want[ok]
    assert np.array_equal(np.isinf(g), np.isinf(w)) and np.array_equal(g[np.isinf(w)],
                                                                       w[np.isinf(w)]), \
        f"{what} inf: {got} vs {want}"
    fin = np.isfinite(w)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(g[fin], w[fin], rtol=rtol, atol=atol, err_msg=what)


def _sum_in_order(order):
    """The interpreter's reduce_sum adding floats left to right ("sequential", as a
    scalar loop) or exactly ("exact": math.fsum, rounded once)."""
    def add(v):
        if order == "sequential" or not np.isfinite(v).all():
            total = v.dtype.type(0)
            for t in v:
                total = total + t
            return total
        try:
            return v.dtype.type(math.fsum(v.astype(np.float64)))
        except OverflowError:
            return np.sum(v)

    def rule(x, *, axes):
        x = np.asarray(x)
        if x.dtype.kind != "f":
            return [np.asarray(np.sum(x, axis=tuple(axes)), dtype=x.dtype)]
        rows = np.moveaxis(x, tuple(axes), tuple(range(len(axes))))
        rows = rows.reshape((-1,) + rows.shape[len(axes):])
        out = np.empty(rows.shape[1:], x.dtype)
        for idx in np.ndindex(*out.shape):
            out[idx] = add(rows[(slice(None),) + idx])
        return [out]
    return rule


def order_sensitive(opt, args, want, tol_dtype):
    """Do the interpreter's outputs move beyond the comparison's tolerance when its
    float sums add in another order? Then they are the residue of a cancellation,
    which no order computes more right than another."""
    rules = interpreter.impl_rules
    numpy_sum = rules[P.reduce_sum_p]
    for order in ("sequential", "exact"):
        rules[P.reduce_sum_p] = _sum_in_order(order)
        try:
            with np.errstate(all="ignore"):
                other = eval_ir(opt, opt.consts, list(args))
        finally:
            rules[P.reduce_sum_p] = numpy_sum
        for o, w in zip(other, want):
            try:
                assert_close(o, w, "", tol_dtype)
            except AssertionError:
                return True
    return False


def compare_compiled(ir, arg_sets, log=lambda text: None, parallel=False):
    """Optimize `ir`, compile it, and compare with the interpreter on each arg set
    (not where the interpreter's values depend on its summation order)."""
    opt = optimize(ir)
    log(str(opt))
    # f64 results computed from f32 values carry f32 rounding differences
    tol_dtype = np.float32 if "f32" in str(ir) else None
    run = numba_backend.compile(opt, parallel=parallel)
    for args in arg_sets:
        log(f"args: {args!r}")
        with np.errstate(all="ignore"):
            want = eval_ir(opt, opt.consts, list(args))
            got = run(*args)
        assert len(got) == len(want)
        try:
            for k, (g, w) in enumerate(zip(got, want)):
                assert_close(g, w, f"output {k}", tol_dtype)
        except AssertionError:
            if not order_sensitive(opt, args, want, tol_dtype):
                raise
            log("outputs depend on the summation order: not compared")


# ---------------------------------------------------------------- wrappers
def _total(xs, dt):
    """One scalar of dtype dt from all values (NaN-safe enough: sums)."""
    acc = lax.convert(np.float64(0.0), dt) if not xs else None
    for x in xs:
        if x.dtype.kind == "b":  # reduce_sum takes numbers
            x = lax.convert(x, np.int64)
        s = lax.convert(lax.reduce_sum(x, range(lax.ndim(x))), dt)
        acc = s if acc is None else lax.add(acc, s)
    return acc


def _squashed_total(xs, dt):
    """_total through tanh(t / 16): a carry that feeds it back grows by at most 1 an
    iteration and rounding differences (summation order) are not amplified from
    one iteration to the next (they would be, exponentially, by a plain sum)."""
    return lax.tanh(lax.mul(_total(xs, dt), 0.0625))


def _fold(vals, outs):
    """vals updated by the outputs (same avals as vals: a loop carry)."""
    return [lax.add(v, _squashed_total(outs, v.dtype)) for v in vals]


def wrap_cond(fn, opt):
    """cond around fn; the false branch is of another structure (negation,
    filled literals, pass-through of an input, or fn on permuted operands)."""
    pred_kind, false_kind = opt % 2, (opt // 2) % 4

    def outer(n, *args):
        pred = lax.gt(n, 1) if pred_kind else lax.gt(_total(args, args[0].dtype), 0.0)

        def yes(n, *xs):
            return list(fn(n, *xs))

        def no(n, *xs):
            outs = fn(n, *xs)
            if false_kind == 0:
                return [lax.neg(o) if o.dtype.kind != "b" else lax.eq(o, False) for o in outs]
            if false_kind == 1:  # constants (array literals) of the outputs' avals
                return [lax.full(lax.shape(o), 1.5 if o.dtype.kind == "f" else 1, o.dtype)
                        for o in outs]
            if false_kind == 2:  # an input when its aval matches (pass-through)
                return [next((x for x in xs if lax.shape(x) == lax.shape(o) and
                              x.dtype == o.dtype), o) for o in outs]
            # fn again on the operands rotated where the avals allow it
            rot = list(xs[1:]) + list(xs[:1])
            ys = [r if (lax.shape(r), r.dtype) == (lax.shape(x), x.dtype) else x
                  for r, x in zip(rot, xs)]
            return [lax.mul(a, 2.0) if a.dtype.kind == "f" else a
                    for a in fn(n, *ys)]

        return pb.cond(pred, yes, no, n, *args)

    return outer


def wrap_scan(fn, opt):
    """scan: carries (args[0], an int64 counter, a float32 accumulator, a bool flag),
    xs (stacked copies of some args, or the args themselves sliced along axis 0,
    plus a NumPy constant), the other args closed over (consts); ys = fn's outputs
    and the counter."""
    length = (0, 1, 3, 2)[opt % 4]
    reverse = bool((opt // 4) % 2)
    as_xs = (opt // 8) % 4  # bit k: arg k+1 is scanned over (else a const)
    direct = bool((opt // 32) % 2)  # scan over the args' own rows where possible

    def outer(n, *args):
        scanned = [k for k in range(1, len(args)) if (as_xs >> (k - 1)) & 1]
        lead = [lax.shape(args[k])[0] for k in scanned if lax.ndim(args[k])]
        if direct and lead:  # rows of the args (broadcast back to the arg's shape)
            n_rows = lead[0]
            xs = {k: args[k] for k in scanned
                  if lax.ndim(args[k]) and lax.shape(args[k])[0] == n_rows}
        else:
            n_rows = length
            xs = {k: lax.broadcast_to(lax.mul(args[k], 1.0) if args[k].dtype.kind == "f"
                                      else args[k], (length,) + tuple(lax.shape(args[k])))
                  for k in scanned}
        ramp = np.linspace(-1.0, 1.0, n_rows)

        def step(carry, x):
            c0, count, acc, flag = carry
            xk, r = x
            inputs = [c0] + [lax.broadcast_to(xk[k], lax.shape(args[k])) if k in xk
                             else args[k] for k in range(1, len(args))]
            outs = fn(n, *inputs)
            t = _squashed_total(outs, c0.dtype)
            new_c0 = lax.add(lax.mul(c0, lax.convert(r, c0.dtype)), t)
            new_flag = lax.ne(flag, lax.gt(t, 0.0))
            return ((new_c0, lax.add(count, 1), lax.add(acc, _squashed_total(outs, np.float32)),
                     new_flag), (list(outs), count))

        init = (args[0], np.int64(0), np.float32(0.5), np.bool_(False))
        (c0, count, acc, flag), (ys, counts) = pb.scan(step, init, (xs, ramp),
                                                       reverse=reverse)
        return [c0, count, acc, flag, counts] + list(ys)

    return outer


def wrap_fori(fn, opt, static_only=False):
    """fori_loop over all args as the carry: static bounds (a scan) or up to n (a while)."""
    traced_bound = bool(opt % 2) and not static_only
    hi = 2 + (opt // 2) % 2
    shift = (None, -1, 0, 2)[(opt // 4) % 4]  # read row i + shift of the args (or not)

    def outer(n, *args):
        def body(i, vals):
            if shift is not None:  # a dynamic index: negative and past-the-end rows too
                vals = [lax.add(v, lax.broadcast_to(a[i + shift], lax.shape(a)))
                        if lax.ndim(a) else v for v, a in zip(vals, args)]
            outs = fn(n, *vals)
            new = _fold(vals, outs)
            return tuple(lax.add(v, lax.convert(i, v.dtype)) for v in new)

        upper = lax.min(n, 3) if traced_bound else hi
        return list(pb.fori_loop(0, upper, body, tuple(args)))

    return outer


def wrap_while(fn, opt):
    """while_loop whose predicate reads the counter carry and, optionally, a float carry."""
    float_pred = bool(opt % 2)

    def outer(n, *args):
        def cond_fun(c):
            i, vals = c
            p = lax.lt(i, n)
            if float_pred:  # NaN stops the loop too
                p = lax.bitwise_and(p, lax.lt(lax.abs(_total(vals, vals[0].dtype)), 1e6))
            return p

        def body_fun(c):
            i, vals = c
            return lax.add(i, 1), tuple(_fold(vals, fn(n, *vals)))

        i, vals = pb.while_loop(cond_fun, body_fun, (np.int64(0), tuple(args)))
        return [i] + list(vals)

    return outer


WRAPPERS = {"cond": wrap_cond, "scan": wrap_scan, "fori": wrap_fori, "while": wrap_while,
            "fori_static": lambda fn, opt: wrap_fori(fn, opt, static_only=True)}


@st.composite
def cf_programs(draw, kinds=("cond", "scan", "fori", "while"), depth=(1, DEPTH)):
    """(in_avals, fn(n, *args) -> outputs): a random program in 1-2 levels of control flow."""
    in_avals, body = draw(programs())
    levels = draw(st.lists(st.tuples(st.sampled_from(kinds), st.integers(0, 127)),
                           min_size=depth[0], max_size=depth[1]))
    fn = lambda n, *xs: list(body(*xs))  # noqa: E731
    for kind, opt in levels:
        fn = WRAPPERS[kind](fn, opt)
    return in_avals, fn, levels


def _layout(x, rng):
    """x, or the same values in a non-contiguous layout (Fortran order, strided)."""
    k = rng.integers(3) if x.ndim else 0
    if k == 1:
        return np.asfortranarray(x)
    if k == 2:
        return np.repeat(x, 2, axis=-1)[..., ::2]
    return x


def _inputs(in_avals, rng, special=True):
    n = np.int64(rng.integers(-1, 4))
    if special:
        xs = [sample(a, rng) for a in in_avals]
    else:
        xs = [np.asarray(rng.normal(size=a.shape), a.dtype) for a in in_avals]
    return [n] + [_layout(x, rng) for x in xs]


# ---------------------------------------------------------------- the property tests
@fuzz_settings(EXAMPLES)
@given(cf_programs(), st.integers(0, 2**31 - 1))
def test_compiled_matches_interpreter(program, seed):
    in_avals, fn, _ = program
    ir = trace(fn, [N_AVAL] + list(in_avals))
    rng = np.random.default_rng(seed)
    compare_compiled(ir, [_inputs(in_avals, rng, special=k < 2) for k in range(3)], note)


def _float_total(fn):
    def f(n, *xs):
        outs = [o for o in fn(n, *xs) if o.dtype.kind == "f"]
        return _total(outs, np.float64)
    return f


@fuzz_settings(max(EXAMPLES // 2, 4))
@given(cf_programs(kinds=("cond", "scan", "fori_static")),
       st.sampled_from(["grad", "jacrev", "jvp"]),
       st.integers(0, 2**31 - 1))
def test_derivatives_compiled_match_interpreter(program, transform, seed):
    in_avals, fn, _ = program
    f = _float_total(fn)
    note(str(trace(lambda *a: [f(*a)], [N_AVAL] + list(in_avals))))
    argnums = tuple(range(1, len(in_avals) + 1))
    if transform == "grad":
        g = pb.grad(f, argnums=argnums)
    elif transform == "jacrev":  # of the first float output (any shape)
        def first(n, *xs):
            return next(lax.convert(o, np.float64) for o in fn(n, *xs)
                        if o.dtype.kind == "f")
        g = pb.jacrev(first, argnums=argnums)
    else:
        def g(n, *xs):
            tangents = tuple(lax.full(lax.shape(x), 0.5, x.dtype) for x in xs)
            return pb.jvp(lambda *ys: f(n, *ys), xs, tangents)
    rng = np.random.default_rng(seed)
    compiled, interp = pb.jit(g), pb.jit(g, backend="interpreter")
    ir_text = str(pb.make_ir(g)(*_inputs(in_avals, rng)))
    note(ir_text)
    tol_dtype = np.float32 if "f32" in ir_text else None
    for k in range(2):
        args = _inputs(in_avals, rng, special=k == 0)
        with np.errstate(all="ignore"):
            want, got = interp(*args), compiled(*args)
        for w, gv in zip(_leaves(want), _leaves(got)):
            assert_close(gv, w, transform, tol_dtype)


@fuzz_settings(max(EXAMPLES // 4, 3))
@given(cf_programs(), st.integers(0, 2**31 - 1))
def test_forward_mode_through_any_loop_compiled_matches_interpreter(program, seed):
    in_avals, fn, _ = program
    f = _float_total(fn)

    def g(n, *xs):
        tangents = tuple(lax.full(lax.shape(x), 0.5, x.dtype) for x in xs)
        return pb.jvp(lambda *ys: f(n, *ys), xs, tangents)

    rng = np.random.default_rng(seed)
    ir_text = str(pb.make_ir(g)(*_inputs(in_avals, rng)))
    note(ir_text)
    tol_dtype = np.float32 if "f32" in ir_text else None
    args = _inputs(in_avals, rng)
    with np.errstate(all="ignore"):
        want, got = pb.jit(g, backend="interpreter")(*args), pb.jit(g)(*args)
    for w, gv in zip(_leaves(want), _leaves(got)):
        assert_close(gv, w, "jvp", tol_dtype)


def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [y for e in x for y in _leaves(e)]
    return [x]


# ---------------------------------------------------------------- explicit cases
# Layout and aliasing corners of backends/numba/control_flow.py, against Python loops.
def test_carries_swapped_duplicated_and_transposed():
    a, b = np.arange(4.0).reshape(2, 2) * 0.3, np.arange(4.0).reshape(2, 2).T + 1.0

    def body(i, c):
        x, y, z = c  # swap, a duplicate of one temp, and a transposed temp
        t = np.sin(x) + y
        return y, lax.transpose(t, (1, 0)), lax.transpose(t, (1, 0)) * 2.0 + z

    def ref(a, b, n):
        x, y, z = a, b, np.zeros((2, 2))
        for _ in range(n):
            t = np.sin(x) + y
            x, y, z = y, t.T, t.T * 2.0 + z
        return x, y, z

    f = pb.jit(lambda a, b, n: pb.fori_loop(0, n, body, (a, b, np.zeros((2, 2)))))
    for n in (0, 1, 4):  # a traced bound: a while loop
        for got, want in zip(f(a, b, n), ref(a, b, n)):
            np.testing.assert_allclose(got, want, rtol=1e-13)
        np.testing.assert_array_equal(a, np.arange(4.0).reshape(2, 2) * 0.3)  # inputs intact


def test_reverse_scan_over_non_contiguous_rows_and_length_zero():
    def f(c, xs):
        return pb.scan(lambda c, x: (np.tanh(c * 0.5 + x), (c[::-1] * x, np.sum(x) > 1.0)),
                       c, xs, reverse=True)

    def ref(c, xs):
        ys, flags = [], []
        for x in xs[::-1]:
            ys.append(c[::-1] * x)
            flags.append(np.sum(x) > 1.0)
            c = np.tanh(c * 0.5 + x)
        return c, np.array(ys[::-1]).reshape(len(xs), 3), np.array(flags[::-1], bool)

    g = pb.jit(f)
    big = np.arange(24.0).reshape(3, 8) * 0.1
    for xs in (big[:, ::3].copy(), big.T[:3, :3], np.zeros((0, 3))):
        xs = np.ascontiguousarray(xs) if xs.shape[0] == 0 else xs
        c, (ys, flags) = g(np.array([0.2, -0.3, 0.4]), xs)
        wc, wys, wflags = ref(np.array([0.2, -0.3, 0.4]), xs)
        np.testing.assert_allclose(c, wc, rtol=1e-13)
        np.testing.assert_allclose(ys, wys, rtol=1e-13)
        assert ys.shape == (len(xs), 3) and flags.dtype == bool
        np.testing.assert_array_equal(flags, wflags)


def test_while_predicate_reads_float_carry_with_nan():
    def f(x):
        def cond_fun(c):
            i, v = c
            return lax.bitwise_and(lax.lt(i, 10), lax.lt(np.abs(np.sum(v)), 100.0))

        return pb.while_loop(cond_fun, lambda c: (c[0] + 1, c[1] * 2.0 + 1.0), (0, x))

    g = pb.jit(f)
    for x, n in ((np.array([1.0, 2.0]), 5), (np.array([np.nan, 1.0]), 0),
                 (np.array([0.0, 0.0]), 6)):
        i, v = g(x)
        want = x.copy()
        for _ in range(n):
            want = want * 2.0 + 1.0
        assert int(i) == n
        np.testing.assert_array_equal(v, want)


def test_cond_in_scan_in_cond_with_consts():
    w = np.array([0.5, -1.0, 2.0])

    def f(x, p):
        def inner(c, xi):
            return pb.cond(xi > 0, lambda c: c * w + xi, lambda c: c - w, c), np.sum(c)

        return pb.cond(p > 0, lambda x: pb.scan(inner, x, x)[1],
                       lambda x: np.cumsum(x) * w, x)

    def ref(x, p):
        if p <= 0:
            return np.cumsum(x) * w
        c, ys = x.copy(), []
        for xi in x:
            c, y = (c * w + xi if xi > 0 else c - w), np.sum(c)
            ys.append(y)
        return np.array(ys)

    g = pb.jit(f)
    for x, p in ((np.array([0.3, -0.2, 1.0]), 1.0), (np.array([0.3, -0.2, 1.0]), -1.0),
                 (np.array([-1.0, -2.0, -3.0]), 2.0)):
        np.testing.assert_allclose(g(x, p), ref(x, p), rtol=1e-13)


# ---------------------------------------------------------------- batching
@fuzz_settings(max(EXAMPLES // 2, 4))
@given(cf_programs(), st.booleans(), st.integers(0, 2**31 - 1))
def test_vmap_compiled_matches_interpreter_and_loop(program, batch_n, seed):
    """vmap of control flow (a batched predicate, per-example trip counts when n is
    batched): compiled == interpreted == one interpreted call per example."""
    in_avals, fn, _ = program
    b = 3
    batched = pb.vmap(lambda n, *xs: fn(n, *xs), in_axes=(0 if batch_n else None,) +
                      (0,) * len(in_avals))
    rng = np.random.default_rng(seed)
    one = pb.jit(lambda n, *xs: fn(n, *xs), backend="interpreter")
    compiled, interp = pb.jit(batched), pb.jit(batched, backend="interpreter")
    for k in range(2):
        rows = [_inputs(in_avals, rng, special=k == 0) for _ in range(b)]
        ns = np.array([r[0] for r in rows]) if batch_n else rows[0][0]
        args = [ns] + [np.stack([r[j] for r in rows]) for j in range(1, len(in_avals) + 1)]
        note(f"args: {args!r}")
        with np.errstate(all="ignore"):
            want = interp(*args)
            got = compiled(*args)
            per_row = [one(*([r[0] if batch_n else ns] + r[1:])) for r in rows]
        text = str(pb.make_ir(batched)(*args))
        tol_dtype = np.float32 if "f32" in text else None
        for j, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"output {j}", tol_dtype)
            assert_close(w, np.stack([np.asarray(p[j]) for p in per_row]), f"row {j}",
                         tol_dtype)


def test_order_sensitivity_flags_cancelling_sums_only():
    """The harness skips a comparison only where the interpreter's own value moves
    with its summation order: 1e300 + 1 - 1e300 is 0 left to right, 1 exactly."""
    ir = optimize(trace(lambda x: [lax.reduce_sum(x, (0,))], [ShapedArray((3,), np.float64)]))
    for x, sensitive in ((np.array([1e300, 1.0, -1e300]), True),
                         (np.array([1.0, 2.0, 3.0]), False),
                         (np.array([1e300, 1.0, 1e300]), False)):
        want = eval_ir(ir, ir.consts, [x])
        assert order_sensitive(ir, [x], want, None) is sensitive, x
