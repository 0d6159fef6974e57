"""Property test of the default pipeline on random programs.

Random DAGs over 25+ primitives, built with tracer/lax.py ops inside `trace`, on
random shapes with broadcasting, with shared subexpressions (an op repeated on the
same operands), identities the simplifier knows (`x * 1`, `neg (neg x)`,
transpose pairs, ...), NumPy constants (folded) and dead code (values no output
reads) on purpose. Checks: the interpreter gives bitwise-identical results
before and after (NaNs equal in position; inputs include nan, inf and -0.0),
`typecheck` passes, and the pipeline is idempotent (a second run prints the same
text).
"""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pullback.ir import ShapedArray, typecheck
from pullback.passes.manager import optimize
from pullback.tracer import lax
from pullback.tracer.trace import trace
from passes_util import assert_same_results

SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1)]


# Each op: (name, arity, fn(choose, *operands) -> value or None if not applicable).
def _unary(fn):
    return lambda choose, x: fn(x)


def _transpose_pair(choose, x):
    if lax.ndim(x) != 2:
        return None
    return lax.transpose(lax.transpose(x, (1, 0)), (1, 0)) if bool(choose(2)) \
        else lax.transpose(x, (1, 0))


def _reshape_pair(choose, x):
    n = int(np.prod(lax.shape(x)))
    flat = lax.reshape(x, (n,))
    return lax.reshape(flat, lax.shape(x)) if bool(choose(2)) else flat


def _reduce(prim_fn):
    def op(choose, x):
        if lax.ndim(x) == 0:
            return None
        return prim_fn(x, (choose(lax.ndim(x)),))

    return op


def _slice(choose, x):
    if lax.ndim(x) == 0:
        return None
    shp = lax.shape(x)
    start = [choose(max(1, d)) for d in shp]
    limit = [s + 1 + choose(d - s) if d > s else s for s, d in zip(start, shp)]
    return lax.slice(x, start, limit)


def _rev(choose, x):
    return lax.rev(x, (0,)) if lax.ndim(x) else None


def _cumsum(choose, x):
    return lax.cumsum(x, 0, bool(choose(2))) if lax.ndim(x) else None


def _cumprod(choose, x):
    return lax.cumprod(x, 0, bool(choose(2))) if lax.ndim(x) else None


def _linrec(choose, x, y):
    if lax.ndim(x) == 0 or lax.shape(x) != lax.shape(y):
        return None
    return lax.linrec(x, lax.convert(y, lax.dtype(x)), lax.ndim(x) - 1, bool(choose(2)))


def _concat(choose, x, y):
    if lax.ndim(x) == 0 or lax.shape(x) != lax.shape(y):
        return None
    return lax.concatenate([x, y], 0)


def _select(choose, x, y):
    return lax.select(lax.gt(x, y), x, y)


def _select_const(choose, x, y):
    pred = lax.full(lax.broadcast_shapes(lax.shape(x), lax.shape(y)), bool(choose(2)), bool)
    return lax.select(pred, x, y)


def _pad(choose, x):
    if lax.ndim(x) == 0:
        return None
    return lax.pad(x, -0.0, [(1, 0, 1)] + [(0, 0, 0)] * (lax.ndim(x) - 1))


def _with_const(choose, x):
    # a captured NumPy constant: exp(const) folds into a new constant
    c = np.linspace(-1.0, 1.0, int(np.prod(lax.shape(x)))).reshape(lax.shape(x))
    return lax.mul(x, lax.exp(c)) if lax.shape(x) else lax.mul(x, lax.exp(np.float64(0.5)))


def _f32_round_trip(choose, x):
    return lax.convert(lax.convert(x, np.float32), np.float64)


def _broadcast(choose, x):
    return lax.broadcast_to(x, (2,) + tuple(lax.shape(x)))


def _iota_add(choose, x):
    if lax.ndim(x) == 0:
        return None
    i = lax.convert(lax.iota(np.int64, lax.shape(x), lax.ndim(x) - 1), np.float64)
    return lax.add(x, i)


def _dot(choose, x, y):
    if lax.ndim(x) != 2 or lax.ndim(y) != 2 or lax.shape(x)[1] != lax.shape(y)[1]:
        return None
    return lax.dot_general(x, y, (((1,), (1,)), ((), ())))


OPS = [
    ("sin", 1, _unary(lax.sin)), ("cos", 1, _unary(lax.cos)), ("exp", 1, _unary(lax.exp)),
    ("tanh", 1, _unary(lax.tanh)), ("neg", 1, _unary(lax.neg)), ("abs", 1, _unary(lax.abs)),
    ("neg_neg", 1, _unary(lambda x: lax.neg(lax.neg(x)))),
    ("sqrt_abs", 1, _unary(lambda x: lax.sqrt(lax.abs(x)))),
    ("log1p_abs", 1, _unary(lambda x: lax.log1p(lax.abs(x)))),
    ("floor", 1, _unary(lax.floor)), ("sign", 1, _unary(lax.sign)),
    ("logistic", 1, _unary(lax.logistic)), ("stop_gradient", 1, _unary(lax.stop_gradient)),
    ("square", 1, _unary(lax.square)), ("pow1", 1, _unary(lambda x: lax.integer_pow(x, 1))),
    ("mul_one", 1, _unary(lambda x: lax.mul(x, 1.0))),
    ("add_neg_zero", 1, _unary(lambda x: lax.add(x, -0.0))),
    ("add_zero", 1, _unary(lambda x: lax.add(x, 0.0))),
    ("mul_zero", 1, _unary(lambda x: lax.mul(x, 0.0))),
    ("sub_self", 1, _unary(lambda x: lax.sub(x, x))),
    ("div_one", 1, _unary(lambda x: lax.div(x, 1.0))),
    ("transpose", 1, _transpose_pair), ("reshape", 1, _reshape_pair),
    ("reduce_sum", 1, _reduce(lax.reduce_sum)), ("reduce_max", 1, _reduce(lax.reduce_max)),
    ("reduce_min", 1, _reduce(lax.reduce_min)), ("slice", 1, _slice), ("rev", 1, _rev),
    ("cumsum", 1, _cumsum), ("cumprod", 1, _cumprod), ("pad", 1, _pad),
    ("const", 1, _with_const),
    ("f32", 1, _f32_round_trip), ("broadcast", 1, _broadcast), ("iota", 1, _iota_add),
    ("add", 2, lambda choose, x, y: lax.add(x, y)), ("sub", 2, lambda choose, x, y: lax.sub(x, y)),
    ("mul", 2, lambda choose, x, y: lax.mul(x, y)), ("div", 2, lambda choose, x, y: lax.div(x, y)),
    ("max", 2, lambda choose, x, y: lax.max(x, y)), ("min", 2, lambda choose, x, y: lax.min(x, y)),
    ("atan2", 2, lambda choose, x, y: lax.atan2(x, y)), ("select", 2, _select),
    ("select_const", 2, _select_const), ("concat", 2, _concat), ("dot", 2, _dot),
    ("linrec", 2, _linrec),
]


def _broadcastable(a, b):
    try:
        lax.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@st.composite
def programs(draw, shapes=SHAPES, dtypes=(np.float64, np.float32), ops=OPS, max_steps=14):
    """(in_avals, fn) of a random program; fn records it when traced. tests/test_numba_property.py
    draws them over bigger shapes, and with integer/bool ops of its own."""
    in_avals = draw(st.lists(
        st.builds(ShapedArray, st.sampled_from(shapes), st.sampled_from(dtypes)),
        min_size=1, max_size=3,
    ))
    ints = st.integers(0, 10**6)
    # each step: op, operand picks, repeat it (a common subexpression)?, choices
    script = draw(st.lists(
        st.tuples(st.integers(0, len(ops) - 1), ints, ints, st.booleans(),
                  st.lists(ints, min_size=4, max_size=4)),
        min_size=3, max_size=max_steps,
    ))
    out_picks = draw(st.lists(ints, min_size=1, max_size=3))

    def fn(*args):
        pool = list(args)
        for op_i, pick1, pick2, repeat, choices in script:
            name, arity, op = ops[op_i]
            x = pool[pick1 % len(pool)]
            ys = [p for p in pool if _broadcastable(lax.shape(p), lax.shape(x))]
            operands = [x] if arity == 1 else [x, ys[pick2 % len(ys)]]
            for _ in range(2 if repeat else 1):  # same choices: the same computation
                it = iter(choices * 8)
                val = op(lambda n: next(it) % n, *operands)
                if val is None:
                    break
                pool.append(val)
        # outputs: a few computed values; everything else is dead code
        computed = pool[len(args):] or pool
        return [computed[p % len(computed)] for p in out_picks]

    return in_avals, fn


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(0, 2**31 - 1))
def test_pipeline_preserves_results_and_is_idempotent(program, seed):
    in_avals, fn = program
    ir = trace(fn, in_avals)
    typecheck(ir)
    out = optimize(ir)
    typecheck(out)
    assert len(out.eqns) <= len(ir.eqns)
    assert_same_results(ir, out, seed=seed, trials=2)
    again = optimize(out)
    assert str(again) == str(out)
