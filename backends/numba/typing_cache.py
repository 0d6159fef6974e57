"""A memo for Numba's typing of the calls generated kernels are made of.

Numba types every `a * b`, `x[i0, i1]` or `_h.where(c, a, b)` of a kernel
afresh: it orders and tries each template registered for the function in turn
(for an operator on scalars, NumPy's ufunc rules among them match a ufunc loop
before noticing that no operand is an array) and formats an error message for
every one that fails. A generated kernel has dozens to hundreds of such calls
on a handful of type combinations. For the calls memoized here the answer
depends only on the function type (which holds its templates: registering a new
overload makes a new one), the argument types (literal values included), the
typing context and the target:

* operators whose arguments all are scalars (numbers or bools);
* indexing an array (`operator.getitem`/`setitem` with an array first: Numba's
  array typing is a function of the types);
* the backend's own intrinsics (intrinsics.py: their typers are functions of
  the types, and Numba caches each one's answer itself).

Measured on the benchmark kernels (CPU seconds of Numba's compile, minima of 5
fresh processes, `/work/notes/s11_tools/env_ab.sh`): mixed partial 0.451 -> 0.371 s,
Rosenbrock Hessian 0.271 -> 0.231 s, seed jacfwd 0.426 -> 0.387 s, MLP 1.18 ->
1.07 s, elementwise 0.222 -> 0.203 s, the ODE 2.43 -> 2.26 s; the other three
within noise.

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
    from . import intrinsics
    own = frozenset(v for v in vars(intrinsics).values()
                    if type(v).__name__ == "_Intrinsic")
    scalar = (types.Number, types.Boolean)
    indexing = (operator.getitem, operator.setitem)

    def pure(fn, args):
        """Is the typing of fn(*args) a function of the types alone?"""
        if fn in own:
            return True
        if fn in indexing:
            return bool(args) and isinstance(args[0], types.Array)
        return fn in _OPERATORS and all(isinstance(a, scalar) for a in args)

    def get_call_type(self, context, args, kws):
        if kws or not pure(self.typing_key, args):
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
