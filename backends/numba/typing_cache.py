"""A memo for Numba's typing of operators on scalars.

Numba types every `a * b`, `i1 == k` or `-x` of a kernel afresh: it tries each
template registered for the operator in turn, and NumPy's ufunc rules among
them match a ufunc loop for the scalar types before noticing that no operand
is an array; every template that fails also formats an error message. A
generated kernel has dozens to hundreds of such operations on a handful of type
combinations, so this search was a sixth to a third of the kernel's type
inference. The answer depends only on the function type (which holds its
templates: registering a new overload makes a new one), the argument types,
the typing context and the target, so it is memoized under those when every
argument is a scalar (a number or a bool, literals included) and there are no
keyword arguments.

Measured on the benchmark kernels (CPU seconds of Numba's compile, minima of
fresh processes, `/work/notes/s11_tools/env_ab.sh`): Rosenbrock Hessian
0.269 -> 0.240 s, elementwise 0.215 -> 0.186 s, seed jacfwd 0.411 -> 0.379 s, the
ODE 1.83 -> 1.59 s; mixed partial and logsumexp unchanged.

`install()` patches `numba.core.types.functions.BaseFunction.get_call_type`
once per process; if Numba's internals moved, it leaves Numba alone.
"""
from __future__ import annotations

import operator

_OPERATORS = frozenset(v for k, v in vars(operator).items()
                       if callable(v) and not k.startswith("_"))
unmemoized = None  # Numba's own get_call_type, once install() replaced it


def install():
    global unmemoized
    if unmemoized is not None:
        return
    try:
        from numba.core import types
        from numba.core.target_extension import get_local_target
        from numba.core.types.functions import BaseFunction
        resolve = unmemoized = BaseFunction.get_call_type
    except (ImportError, AttributeError):  # pragma: no cover - another Numba
        return
    scalar = (types.Number, types.Boolean)

    def get_call_type(self, context, args, kws):
        if kws or self.typing_key not in _OPERATORS or not all(
                isinstance(a, scalar) for a in args):
            return resolve(self, context, args, kws)
        memo = self.__dict__.get("_pullback_call_types")
        if memo is None:
            memo = self.__dict__["_pullback_call_types"] = {}
        key = (context, get_local_target(context), tuple(args))
        sig = memo.get(key)
        if sig is None:
            sig = resolve(self, context, args, kws)
            if sig is not None:
                memo[key] = sig
        return sig

    BaseFunction.get_call_type = get_call_type
