"""Read the IR text that `printer.pp_ir` writes back into an `IR`.

    parse(text, consts=None) -> IR          str(parse(str(ir))) == str(ir)

The grammar (whitespace, including newlines and indentation, is insignificant)::

    ir      := '{' 'lambda' binder* ';' binder* '.' 'let' eqn* 'in' outs '}'
    binder  := NAME ':' type                type := DTYPE '[' INT,* ']'
    eqn     := binder* '=' PRIM params? atom*
    params  := '[' (KEY '=' value),* ']'     (commas optional: multi-line params)
    value   := ir | '(' value,* ')' | NUMBER | STRING | True | False | None | DTYPE | type
    atom    := NAME | NUMBER (':' type)? | True | False
    outs    := '(' atom,* ')'

An equation ends where the next binder (`NAME :`), a bare `=` or `in` begins.
Tuples of sub-IRs are printed one per line without commas, so commas between
tuple items are optional. Every IR (and each nested sub-IR) has its own scope:
a sub-IR cannot refer to variables of the IR around it.

Constants: their values come from `consts`; without it they stay `UnknownConst`
placeholders that raise a clear error as soon as anything reads their value.
Parsed equations have `source=None`.
"""
from __future__ import annotations

import ast
import re

import numpy as np

from .core import DTYPES, IR, Eqn, Literal, ShapedArray, Var, find_named_rule
from .primitives import PRIMITIVES


class IRParseError(ValueError):
    """Malformed IR text; the message starts with the line and column."""


class UnknownConstError(ValueError):
    """The value of a parsed constant that was never given was needed."""


class UnknownConst:
    """Stands in for the value of a constvar parsed without `consts`.

    It has the constvar's aval (so typecheck and passes that only look at
    shapes work) and raises `UnknownConstError` when NumPy touches its value.
    """

    __slots__ = ("aval", "name")

    def __init__(self, aval, name):
        self.aval = aval
        self.name = name

    def _fail(self, *args, **kwargs):
        raise UnknownConstError(
            f"the value of constant {self.name}:{self.aval.str_short()} is unknown: the "
            "IR was parsed from text without its constants; pass consts=[...] to parse()"
        )

    __array__ = __array_ufunc__ = __array_function__ = _fail
    __float__ = __int__ = __bool__ = __index__ = __len__ = __iter__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __getitem__ = _fail

    @property
    def shape(self):
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    def __repr__(self):
        return f"UnknownConst({self.name}:{self.aval.str_short()})"


# ---------------------------------------------------------------- tokens
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<type>(?:f64|f32|i64|i32|bool)\[[0-9,]*\])
  | (?P<str>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<num>-?(?:inf|nan)(?![A-Za-z0-9_])
         |-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<anon><[A-Za-z_][A-Za-z0-9_]*>)
  | (?P<punct>[{}()\[\],;.:=])
  | (?P<badnum>-?\.?\d[\w.+-]*)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = ("lambda", "let", "in")
_CONST_WORDS = {"True": True, "False": False, "None": None}


class _Tokens:
    def __init__(self, text):
        self.text = text
        kinds, vals, offs = [], [], []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "ws":
                continue
            if kind in ("bad", "badnum"):
                self.pos = len(kinds)
                self.kinds, self.offs = kinds + ["bad"], offs + [m.start()]
                self.error(f"malformed number {m.group()!r}" if kind == "badnum"
                           else f"unexpected character {m.group()!r}")
            if kind == "punct":
                kind = m.group()
            kinds.append(kind)
            vals.append(m.group())
            offs.append(m.start())
        kinds.append("eof")
        vals.append("")
        offs.append(len(text))
        self.kinds, self.vals, self.offs = kinds, vals, offs
        self.pos = 0

    def where(self, pos=None):
        off = self.offs[self.pos if pos is None else pos]
        line = self.text.count("\n", 0, off) + 1
        col = off - (self.text.rfind("\n", 0, off) + 1) + 1
        return line, col

    def error(self, msg, pos=None):
        line, col = self.where(pos)
        raise IRParseError(f"line {line}, column {col}: {msg}")

    def peek(self, k=0):
        return self.kinds[self.pos + k]

    def peek_val(self, k=0):
        return self.vals[self.pos + k]

    def next(self):
        i = self.pos
        self.pos += 1
        return self.kinds[i], self.vals[i]

    def expect(self, kind, what=None):
        if self.kinds[self.pos] != kind:
            got = self.vals[self.pos] or "end of text"
            self.error(f"expected {what or repr(kind)}, got {got!r}")
        return self.next()[1]

    def expect_word(self, word):
        if self.kinds[self.pos] != "name" or self.vals[self.pos] != word:
            got = self.vals[self.pos] or "end of text"
            self.error(f"expected {word!r}, got {got!r}")
        self.pos += 1

    def at_word(self, word):
        return self.kinds[self.pos] == "name" and self.vals[self.pos] == word


# ---------------------------------------------------------------- parser
class _Parser:
    def __init__(self, text):
        self.t = _Tokens(text)
        self.types = {}  # type text -> ShapedArray (avals are immutable: share them)
        self.literals = {}

    # types and binders
    def aval(self):
        t = self.t
        if t.peek() == "type":  # fast path: the whole `f64[3,4]` is one token
            text = t.next()[1]
            aval = self.types.get(text)
            if aval is None:
                name, dims = text[:-1].split("[")
                aval = self.types[text] = ShapedArray(
                    [int(d) for d in dims.split(",") if d], DTYPES[name])
            return aval
        pos = t.pos
        name = t.expect("name", "a dtype (f64, f32, i64, i32, bool)")
        if name not in DTYPES:
            t.error(f"unknown dtype {name!r}; known: {', '.join(DTYPES)}", pos)
        t.expect("[")
        dims = []
        while t.peek() != "]":
            pos = t.pos
            d = t.expect("num", "a dimension")
            if not d.isdigit():
                t.error(f"dimension must be a non-negative integer, got {d!r}", pos)
            dims.append(int(d))
            if t.peek() == ",":
                t.next()
            elif t.peek() != "]":
                t.expect("]", "',' or ']'")
        t.next()
        return ShapedArray(dims, DTYPES[name])

    def binder(self, env):
        t = self.t
        pos = t.pos
        name = t.expect("name", "a variable name")
        if name in _KEYWORDS or name in _CONST_WORDS:
            t.error(f"{name!r} cannot name a variable", pos)
        t.expect(":")
        v = Var(self.aval())
        if name in env:
            t.error(f"variable {name!r} is defined twice", pos)
        env[name] = v
        return v, name

    def at_binder(self):
        t = self.t
        i = t.pos
        return t.kinds[i] == "name" and t.kinds[i + 1] == ":" and t.vals[i] != "in"

    # atoms
    def atom(self, env):
        t = self.t
        kind, val = t.peek(), t.peek_val()
        if kind == "name":
            if val in ("True", "False"):
                t.next()
                return Literal(val == "True", np.dtype(bool))
            if val not in env:
                t.error(f"undefined variable {val!r}")
            t.next()
            return env[val]
        if kind == "num":
            num_pos = t.pos
            t.next()
            if t.peek() == ":":
                t.next()
                pos = t.pos
                aval = self.aval()
                if aval.shape != ():
                    t.error(f"a literal must be 0-d, got type {aval.str_short()}", pos)
                dtype = aval.dtype
            else:
                dtype = np.dtype(np.float64 if _is_float_text(val) else np.int64)
            key = (val, dtype)
            lit = self.literals.get(key)
            if lit is None:  # Literals are immutable values: equal ones can be shared
                lit = self.literals[key] = _literal(val, dtype, t, num_pos)
            return lit
        t.error(f"expected a variable or a literal, got {val or 'end of text'!r}")

    # params
    def value(self):
        t = self.t
        kind, val = t.peek(), t.peek_val()
        if kind == "{":
            return self.ir({}, None)
        if kind == "(":
            t.next()
            items = []
            while t.peek() != ")":
                if t.peek() == "eof":
                    t.expect(")")
                items.append(self.value())
                if t.peek() == ",":
                    t.next()
            t.next()
            return tuple(items)
        if kind == "type":
            return self.aval()
        if kind == "num":
            t.next()
            return float(val) if _is_float_text(val) else int(val)
        if kind == "str":
            t.next()
            return ast.literal_eval(val)
        if kind == "anon":  # the name the printer gives a lambda: <lambda>
            t.error(f"cannot parse param value {val!r}: a Python callable, which the "
                    "printer writes by name only; such IRs cannot be parsed back")
        if kind == "name":
            rule = find_named_rule(val)
            if rule is not None:
                t.next()
                return rule
            if val in _CONST_WORDS:
                t.next()
                return _CONST_WORDS[val]
            if val in DTYPES:
                if t.peek(1) == "[":  # an aval, e.g. out_avals=(f64[3],)
                    return self.aval()
                t.next()
                return DTYPES[val]
            t.error(
                f"cannot parse param value {val!r}: it is probably a Python callable, "
                "which the printer writes by name only; such IRs cannot be parsed back"
            )
        t.error(f"expected a param value, got {val or 'end of text'!r}")

    def params(self):
        t = self.t
        params = {}
        t.expect("[")
        while t.peek() != "]":
            pos = t.pos
            key = t.expect("name", "a param name")
            t.expect("=")
            if key in params:
                t.error(f"param {key!r} given twice", pos)
            params[key] = self.value()
            if t.peek() == ",":
                t.next()
            elif t.peek() != "]" and not (t.peek() == "name" and t.peek(1) == "="):
                # params holding sub-IRs are printed one per line, without commas
                t.expect("]", "',' or ']'")
        t.next()
        return params

    # equations and IRs
    def eqn(self, env):
        t = self.t
        outs = []
        while self.at_binder():
            outs.append(self.binder_pending(env))
        t.expect("=", "'=' after the equation's outputs")
        pos = t.pos
        name = t.expect("name", "a primitive name")
        prim = PRIMITIVES.get(name) or _late_primitive(name)
        if prim is None:
            t.error(f"unknown primitive {name!r}", pos)
        params = self.params() if t.peek() == "[" else {}
        inputs = []
        while t.peek() in ("name", "num") and not (self.at_binder() or t.at_word("in")):
            inputs.append(self.atom(env))
        # outputs become visible only after the equation (no self-reference)
        for v, n in outs:
            if n in env:
                t.error(f"variable {n!r} is defined twice", pos)
            env[n] = v
        return Eqn(prim, inputs, [v for v, _ in outs], params, None)

    def binder_pending(self, env):
        t = self.t
        pos = t.pos
        name = t.expect("name", "a variable name")
        if name in _KEYWORDS or name in _CONST_WORDS:
            t.error(f"{name!r} cannot name a variable", pos)
        t.expect(":")
        if name in env:
            t.error(f"variable {name!r} is defined twice", pos)
        return Var(self.aval()), name

    def ir(self, env, consts):
        t = self.t
        t.expect("{")
        t.expect_word("lambda")
        constvars = []
        while t.peek() != ";":
            if t.peek() != "name":
                t.expect(";", "a constant binder or ';'")
            constvars.append(self.binder(env))
        t.next()
        invars = []
        while t.peek() != ".":
            if t.peek() != "name":
                t.expect(".", "an input binder or '.'")
            invars.append(self.binder(env)[0])
        t.next()
        t.expect_word("let")
        eqns = []
        while not t.at_word("in"):
            if not (self.at_binder() or t.peek() == "="):
                t.expect_word("in")
            eqns.append(self.eqn(env))
        t.next()
        t.expect("(")
        outvars = []
        while t.peek() != ")":
            outvars.append(self.atom(env))
            if t.peek() == ",":
                t.next()
            elif t.peek() != ")":
                t.expect(")", "',' or ')'")
        t.next()
        t.expect("}")
        if consts is None:
            values = [UnknownConst(v.aval, n) for v, n in constvars]
        else:
            values = _check_consts(consts, constvars)
        return IR([v for v, _ in constvars], values, invars, eqns, outvars)


def _late_primitive(name):
    """Primitives registered by modules that may not be imported yet (control flow)."""
    import importlib

    try:
        importlib.import_module(".control_flow", __package__)
    except ImportError:
        return None
    return PRIMITIVES.get(name)


def _is_float_text(s):
    return any(c in s for c in ".eEn")  # digits with '.'/exponent, or inf/nan


def _literal(text, dtype, t, pos):
    try:
        if dtype.kind == "f":
            return Literal(float(text), dtype)
        if dtype.kind == "b":
            t.error(f"a bool literal is written True or False, got {text!r}", pos)
        if _is_float_text(text):
            t.error(f"{text!r} is not a valid {dtype} literal", pos)
        return Literal(int(text), dtype)
    except OverflowError:
        t.error(f"{text!r} does not fit in {dtype}", pos)


def _check_consts(consts, constvars):
    consts = list(consts)
    if len(consts) != len(constvars):
        raise ValueError(
            f"the IR text declares {len(constvars)} constants but consts has {len(consts)}"
        )
    out = []
    for c, (v, name) in zip(consts, constvars):
        arr = np.asarray(c)
        if arr.shape != v.aval.shape or arr.dtype != v.aval.dtype:
            raise ValueError(
                f"constant {name} is declared {v.aval.str_short()} but the value given "
                f"has shape {arr.shape} and dtype {arr.dtype}"
            )
        out.append(arr)
    return out


def parse(text: str, consts=None) -> IR:
    """The IR that `text` (as printed by `pp_ir`) describes.

    `consts`: values of the top-level constvars, in order. Without them the
    constants are `UnknownConst`s: shapes are known, values raise when read.
    """
    p = _Parser(text)
    ir = p.ir({}, consts)
    if p.t.peek() != "eof":
        p.t.error(f"unexpected text after the IR: {p.t.peek_val()!r}")
    return ir
