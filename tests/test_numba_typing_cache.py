"""The memo of Numba's operator typing on scalars (backends/numba/typing_cache.py):
the signatures it gives are Numba's own, and kernels typed through it compute
what the interpreter does."""
import itertools
import operator

import numpy as np
import pytest
from numba.core import types
from numba.core.registry import cpu_target

import pullback as pb
from pullback.backends.numba import typing_cache

SCALARS = [types.float64, types.float32, types.int64, types.int32, types.boolean,
           types.IntegerLiteral(3), types.BooleanLiteral(True)]
OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
       operator.mod, operator.pow, operator.eq, operator.lt, operator.ge, operator.and_,
       operator.or_, operator.neg, operator.not_]


def test_memoized_signatures_are_numbas_own():
    assert typing_cache.unmemoized is not None  # installed with the backend
    ctx = cpu_target.typing_context
    ctx.refresh()
    for op in OPS:
        fnty = ctx.resolve_value_type(op)
        arity = 1 if op in (operator.neg, operator.not_) else 2
        for args in itertools.product(SCALARS, repeat=arity):
            try:
                want = typing_cache.unmemoized(fnty, ctx, args, {})
            except Exception as e:  # no typing: the memo must fail the same way
                with pytest.raises(type(e)):
                    fnty.get_call_type(ctx, args, {})
                continue
            first = fnty.get_call_type(ctx, args, {})
            again = fnty.get_call_type(ctx, args, {})  # from the memo
            assert first == want and again == want, (op, args)
            if want is not None:
                assert fnty.get_impl_key(want) is not None


def test_array_indexing_and_the_backends_intrinsics_are_numbas_own():
    from pullback.backends.numba import intrinsics

    ctx = cpu_target.typing_context
    ctx.refresh()
    arrays = [types.Array(types.float64, 2, "C"), types.Array(types.int64, 1, "A"),
              types.Array(types.float32, 2, "F", readonly=True)]
    indices = [types.int64, types.IntegerLiteral(0), types.UniTuple(types.int64, 2),
               types.Tuple([types.int64, types.IntegerLiteral(1)]), types.slice2_type]
    cases = [(operator.getitem, (a, i)) for a in arrays for i in indices]
    cases += [(operator.setitem, (a, i, a.dtype)) for a in arrays for i in indices]
    cases += [(intrinsics.where, (types.boolean, t, t)) for t in (types.float64, types.int64)]
    cases += [(intrinsics.clamp, (types.int64, types.IntegerLiteral(98)))]
    for fn, args in cases:
        fnty = ctx.resolve_value_type(fn)
        try:
            want = typing_cache.unmemoized(fnty, ctx, args, {})
        except Exception as e:
            with pytest.raises(type(e)):
                fnty.get_call_type(ctx, args, {})
            continue
        assert fnty.get_call_type(ctx, args, {}) == want
        assert fnty.get_call_type(ctx, args, {}) == want, (fn, args)


def test_other_calls_bypass_the_memo():
    ctx = cpu_target.typing_context
    ctx.refresh()
    fnty = ctx.resolve_value_type(operator.mul)
    arr = types.Array(types.float64, 1, "C")
    sig = fnty.get_call_type(ctx, (arr, types.float64), {})  # an operator on an array
    assert sig.return_type == arr
    memo = fnty.__dict__.get("_pullback_call_types", {})
    assert not any(arr in key[2] for key in memo)
    lst = types.List(types.float64)  # indexing something else than an array
    getitem = ctx.resolve_value_type(operator.getitem)
    getitem.get_call_type(ctx, (lst, types.int64), {})
    assert not any(lst in key[2] for key in getitem.__dict__.get("_pullback_call_types", {}))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_kernels_with_many_scalar_operations_equal_the_interpreter(dtype):
    # one loop body with every operator on several dtypes and literals
    def f(x, y):
        a = x * y + 3 - x // (np.abs(y) + 1) + (x % 5)
        b = np.where((x > y) & (y >= 0) | (x == 2), a, -a)
        return b * 2 + (x != y) - (x < 1)

    rng = np.random.default_rng(0)
    x = rng.integers(-20, 20, size=50).astype(dtype)
    y = rng.integers(-20, 20, size=50).astype(dtype)
    got = pb.jit(f)(x, y)
    want = pb.jit(f, backend="interpreter")(x, y)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
