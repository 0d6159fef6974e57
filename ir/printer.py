"""The IR text format (see SPEC "IR text"); `parser.parse` reads it back.

    { lambda <constvars> ; <invars>. let
        <outs> = <prim>[<params sorted by key>] <inputs>
      in (<outvars>,) }

Variables are named a..z, ba.. in order of definition (sub-IRs continue the
count); types as f64[3,4]; literals inline, with a type suffix only when the
dtype is not the default for the Python literal (f64, i64, bool): `2.0:f32[]`.
"""
from __future__ import annotations

import math

import numpy as np

from .core import DTYPE_NAMES, IR, NAMED_RULES, Literal, Var, find_named_rule


def var_name(i: int) -> str:
    """0 -> a, 25 -> z, 26 -> ba, ... (base 26 with 'a' as zero, as JAX)."""
    s = ""
    while True:
        s = chr(ord("a") + i % 26) + s
        i //= 26
        if i == 0:
            break
    return s


_RESERVED = frozenset(("in", "let", "inf", "nan", "lambda"))


def _names():
    i = 0
    while True:
        name = var_name(i)
        i += 1
        # keep clear of words the parser treats specially
        if name in _RESERVED:
            continue
        yield name


def format_literal(lit: Literal) -> str:
    v = lit.val.item()
    dt = lit.aval.dtype
    if dt.kind == "b":
        text = "True" if v else "False"
        return text
    if dt.kind == "f":
        if math.isnan(v):  # its sign shows (copysign(x, -nan) is -|x|), as in the cache key
            text = "-nan" if math.copysign(1.0, v) < 0 else "nan"
        elif math.isinf(v):
            text = "inf" if v > 0 else "-inf"
        else:
            text = repr(float(v))
        return text if dt == np.float64 else f"{text}:{DTYPE_NAMES[dt]}[]"
    text = str(int(v))
    return text if dt == np.int64 else f"{text}:{DTYPE_NAMES[dt]}[]"


_TYPE_STR = {}


def type_str(aval) -> str:
    """`f64[3,4]`, memoized: printing large IRs is dominated by this otherwise."""
    key = (aval.shape, aval.dtype)
    text = _TYPE_STR.get(key)
    if text is None:
        text = _TYPE_STR[key] = aval.str_short()
    return text


class _Ctx:
    def __init__(self):
        self.names = {}
        self.gen = _names()
        self.frozen = False  # reuse names already given (printing one equation of an IR)

    def define(self, v: Var) -> str:
        if self.frozen and v in self.names:
            return self.names[v]
        n = next(self.gen)
        self.names[v] = n
        return n

    def binder(self, v: Var) -> str:
        """`name:type` at a binding site."""
        return f"{self.define(v)}:{type_str(v.aval)}"

    def use(self, a) -> str:
        if isinstance(a, Literal):
            return format_literal(a)
        try:
            return self.names[a]
        except KeyError:
            return f"<unbound {a.aval.str_short()}>" if isinstance(a, Var) else f"<{a!r}>"


def format_param(value, ctx, indent) -> str:
    if isinstance(value, IR):
        return _pp(value, ctx, indent)  # `indent`: the indentation of the line it starts on
    if isinstance(value, np.dtype):
        return DTYPE_NAMES.get(value, str(value))
    if isinstance(value, tuple):
        if any(isinstance(v, IR) for v in value):
            pad = " " * (indent + 2)
            inner = "\n".join(pad + format_param(v, ctx, indent + 2) for v in value)
            return "(\n" + inner + "\n" + " " * indent + ")"
        items = [format_param(v, ctx, indent) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "-nan" if math.copysign(1.0, value) < 0 else "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if callable(value) and hasattr(value, "__name__"):
        name = value.__name__
        rule = find_named_rule(name)
        if rule is not None and rule is not value:
            # a user's rule named like one of pullback's: written <name>, which the
            # parser refuses, so it never reads back as pullback's own rule
            return f"<{name}>"
        return name
    return repr(value)


def _pp_eqn(eqn, ctx, indent) -> str:
    outs = " ".join(ctx.binder(v) for v in eqn.outputs)
    params = ""
    if eqn.params:
        has_ir = any(
            isinstance(v, IR) or (isinstance(v, tuple) and any(isinstance(x, IR) for x in v))
            for v in eqn.params.values()
        )
        if has_ir:
            pad = " " * (indent + 2)
            parts = [
                f"{pad}{k}={format_param(v, ctx, indent + 2)}"
                for k, v in sorted(eqn.params.items())
            ]
            params = "[\n" + "\n".join(parts) + "\n" + " " * indent + "]"
        else:
            params = "[" + ", ".join(
                f"{k}={format_param(v, ctx, indent)}" for k, v in sorted(eqn.params.items())
            ) + "]"
    ins = " ".join(ctx.use(a) for a in eqn.inputs)
    return f"{outs} = {eqn.prim.name}{params}" + (f" {ins}" if ins else "")


def _pp(ir: IR, ctx: _Ctx, indent: int) -> str:
    consts = " ".join(ctx.binder(v) for v in ir.constvars)
    invars = " ".join(ctx.binder(v) for v in ir.invars)
    head = "{ lambda " + (consts + " " if consts else "") + "; " + invars + ". let"
    body = [" " * (indent + 4) + _pp_eqn(e, ctx, indent + 4) for e in ir.eqns]
    outs = [ctx.use(v) for v in ir.outvars]
    outs_text = "(" + outs[0] + ",)" if len(outs) == 1 else "(" + ", ".join(outs) + ")"
    tail = " " * (indent + 2) + "in " + outs_text + " }"
    return "\n".join([head] + body + [tail])


def pp_ir(ir: IR) -> str:
    return _pp(ir, _Ctx(), 0)


def pp_eqn(eqn, ir: IR | None = None) -> str:
    """One equation as it reads inside `ir` (same variable names), for error messages."""
    ctx = _Ctx()
    if ir is not None:
        _pp(ir, ctx, 0)
        ctx.frozen = True
    return _pp_eqn(eqn, ctx, 0)


def ir_equal(a: IR, b: IR) -> bool:
    """Same text and same constant values (NaNs equal)."""
    if str(a) != str(b) or len(a.consts) != len(b.consts):
        return False
    for x, y in zip(a.consts, b.consts):
        try:
            if not np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True):
                return False
        except (TypeError, ValueError):
            if x is not y:
                return False
    return True


def var_names(ir: IR) -> dict:
    """Var -> the name the printer gives it (sub-IR variables included)."""
    ctx = _Ctx()
    _pp(ir, ctx, 0)
    return ctx.names


_FINGERPRINT_PARAM_TYPES = (bool, int, float, str, type(None), np.dtype, np.number, np.bool_)


def fingerprint(ir: IR) -> str | None:
    """A digest that pins `ir` down up to the identity of its variables: its text,
    every equation's source line (generated code names them) and the constants'
    values, sub-IRs included. None when a param is an object the text shows only
    by name (a callable, such as a custom derivative rule), whose code it cannot see."""
    import hashlib

    h = hashlib.sha256(pp_ir(ir).encode())
    stack = [ir]

    def plain(v):
        """Is `v` text, numbers, dtypes or IRs? (Hashes the scalars' types: the text
        shows 1.0 for float32 and float64 alike.)"""
        if isinstance(v, tuple):
            return all(plain(x) for x in v)
        if isinstance(v, IR):
            stack.append(v)
            return True
        if NAMED_RULES.get(getattr(v, "__name__", None)) is v:
            return True  # pullback's own rule: its name (in the text) pins it down
        h.update(type(v).__name__.encode())
        return isinstance(v, _FINGERPRINT_PARAM_TYPES)

    while stack:
        cur = stack.pop()
        for c in cur.consts:
            a = np.asarray(c)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        for eqn in cur.eqns:
            if not all(plain(v) for v in eqn.params.values()):
                return None
            h.update(repr(tuple(eqn.source) if eqn.source else None).encode())
    return h.hexdigest()
