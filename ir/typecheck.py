"""typecheck(ir): is this IR well formed? Raises IRError naming the equation.

Checked, for the IR and (each in its own scope) every sub-IR held in params:
  * constvars and consts agree in number (and in aval, where values are known);
  * every variable is defined exactly once, before any use; a sub-IR cannot
    capture the variables of the IR around it;
  * each equation's output avals equal its primitive's shape rule applied to
    its input avals (control-flow rules check their sub-IRs' signatures);
  * a 0-d input of an elementwise primitive whose output is not 0-d is a Literal
    (the tracer broadcasts 0-d *variables* explicitly; see ir/primitives.py);
  * outvars are defined.
Tests run it after every transformation, so it does one linear walk and checks
each distinct sub-IR object once.
"""
from __future__ import annotations

import numpy as np

from .core import IR, IRError, Literal, ShapedArray, Var
from .primitives import ELEMENTWISE, Primitive, abstract_eval


def typecheck(ir: IR) -> IR:
    """Check `ir`; return it unchanged, or raise IRError."""
    _Checker(ir).check(ir, "the IR")
    return ir


class _Checker:
    def __init__(self, top):
        self.top = top
        self.done = set()  # ids of sub-IRs already checked

    def fail(self, msg, eqn=None):
        if eqn is not None:
            from .printer import pp_eqn

            try:
                text = pp_eqn(eqn, self.top)
            except Exception:  # the IR may be too broken to print; keep the real error
                text = repr(eqn)
            msg += f"\n  in equation: {text}"
            src = getattr(eqn, "source", None)
            if src is not None:
                msg += f"\n  traced at {src}"
        raise IRError(msg)

    def check(self, ir, where):
        if not isinstance(ir, IR):
            self.fail(f"{where} is a {type(ir).__name__}, not an IR")
        if len(ir.constvars) != len(ir.consts):
            self.fail(
                f"{where} has {len(ir.constvars)} constvars but {len(ir.consts)} const values"
            )
        defined = set()

        def define(v, what, eqn=None):
            if not isinstance(v, Var):
                self.fail(f"{where}: {what} is a {type(v).__name__}, not a Var", eqn)
            if not isinstance(v.aval, ShapedArray):
                self.fail(f"{where}: {what} has no ShapedArray aval", eqn)
            if v in defined:
                self.fail(f"{where}: variable {v.aval.str_short()} ({what}) is defined twice", eqn)
            defined.add(v)

        for i, (v, c) in enumerate(zip(ir.constvars, ir.consts)):
            define(v, f"constvar {i}")
            aval = getattr(c, "aval", None)
            if aval is None:
                arr = np.asarray(c)
                aval = ShapedArray(arr.shape, arr.dtype)
            if aval != v.aval:
                self.fail(
                    f"{where}: constvar {i} is declared {v.aval.str_short()} but its value "
                    f"is {aval.str_short()}"
                )
        for i, v in enumerate(ir.invars):
            define(v, f"input {i}")

        for eqn in ir.eqns:
            prim = eqn.prim
            if not isinstance(prim, Primitive):
                self.fail(f"{where}: equation primitive {prim!r} is not a Primitive")
            in_avals = []
            for k, a in enumerate(eqn.inputs):
                if isinstance(a, Literal):
                    in_avals.append(a.aval)
                elif isinstance(a, Var):
                    if a not in defined:
                        self.fail(
                            f"{where}: input {k} of {prim.name} ({a.aval.str_short()}) is used "
                            "before it is defined (or comes from an enclosing IR)",
                            eqn,
                        )
                    in_avals.append(a.aval)
                else:
                    self.fail(f"{where}: input {k} of {prim.name} is a {type(a).__name__}", eqn)
            for k, v in eqn.params.items():
                subs = [v] if isinstance(v, IR) else (
                    [x for x in v if isinstance(x, IR)] if isinstance(v, tuple) else [])
                for sub in subs:
                    if id(sub) not in self.done:
                        self.done.add(id(sub))
                        self.check(sub, f"sub-IR {k} of {prim.name}")
            try:
                want = abstract_eval(prim, in_avals, eqn.params)
            except IRError as e:
                self.fail(f"{where}: {e}", eqn)
            except Exception as e:  # a rule that crashes on bad params is still a type error
                self.fail(f"{where}: shape rule of {prim.name} failed: {type(e).__name__}: {e}", eqn)
            got = [getattr(v, "aval", None) for v in eqn.outputs]
            if list(want) != got:
                self.fail(
                    f"{where}: {prim.name} outputs are typed "
                    f"[{', '.join(_s(a) for a in got)}] but its shape rule gives "
                    f"[{', '.join(_s(a) for a in want)}]",
                    eqn,
                )
            if prim in ELEMENTWISE and any(a.ndim for a in want):
                for k, a in enumerate(eqn.inputs):
                    if isinstance(a, Var) and a.aval.shape == ():
                        self.fail(
                            f"{where}: 0-d input {k} of elementwise {prim.name} with a "
                            "non-0-d output must be a Literal (broadcast it explicitly)",
                            eqn,
                        )
            for k, v in enumerate(eqn.outputs):
                define(v, f"output {k} of {prim.name}", eqn)

        for i, v in enumerate(ir.outvars):
            if isinstance(v, Literal):
                continue
            if not isinstance(v, Var):
                self.fail(f"{where}: output {i} is a {type(v).__name__}, not a Var or Literal")
            if v not in defined:
                self.fail(f"{where}: output {i} ({v.aval.str_short()}) is never defined")


def _s(aval):
    return aval.str_short() if isinstance(aval, ShapedArray) else repr(aval)
