"""The IR: abstract values, variables, literals, equations and IRs.

An IR is a closed SSA program in the style of JAX's jaxpr::

    { lambda <constvars> ; <invars>. let <eqns> in (<outvars>) }

Every value is a `Var` (defined once, by an invar, a constvar or one equation
output) or a `Literal` (a scalar written inline). Params of an equation are
hashable, so equations can be compared and deduplicated (CSE).
"""
from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------- dtypes
DTYPES = {
    "f64": np.dtype("float64"),
    "f32": np.dtype("float32"),
    "i64": np.dtype("int64"),
    "i32": np.dtype("int32"),
    "bool": np.dtype("bool"),
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def canonical_dtype(dt) -> np.dtype:
    """The supported dtype for `dt`, or a TypeError naming it."""
    dt = np.dtype(dt)
    if dt not in DTYPE_NAMES:
        native = dt.newbyteorder("=")
        hint = (f" (a {native} array in {'big' if dt.byteorder == '>' else 'little'}-endian "
                f"byte order: pass x.astype(np.{native}))"
                if native in DTYPE_NAMES and not dt.isnative else "")
        raise TypeError(
            f"pullback does not support dtype {dt}{hint}; supported: "
            + ", ".join(str(d) for d in DTYPES.values())
        )
    return dt


def broadcast_shapes(*shapes):
    """NumPy's broadcasting rule, written out: np.broadcast_shapes stops at 32
    dimensions, arrays do not."""
    shapes = [tuple(int(d) for d in s) for s in shapes]
    out = [1] * max((len(s) for s in shapes), default=0)
    for s in shapes:
        for i, d in enumerate(s, len(out) - len(s)):
            if d != out[i] and d != 1:
                if out[i] != 1:
                    raise ValueError("operands could not be broadcast together with shapes "
                                     + " ".join(str(t) for t in shapes))
                out[i] = d
    return tuple(out)


def is_float(dt) -> bool:
    return np.dtype(dt).kind == "f"


def is_int(dt) -> bool:
    return np.dtype(dt).kind in "iu"


# ---------------------------------------------------------------- avals
class ShapedArray:
    """Abstract value: a shape and a dtype. Hashable and comparable."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(map(int, shape))
        # np.dtype(d) is d for a dtype object; the call is skipped on this hot path.
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __eq__(self, other):
        return (
            isinstance(other, ShapedArray)
            and self.shape == other.shape
            and self.dtype == other.dtype
        )

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        return self.str_short()

    def str_short(self):
        name = DTYPE_NAMES.get(self.dtype, str(self.dtype))
        return f"{name}[{','.join(map(str, self.shape))}]"

    def update(self, shape=None, dtype=None):
        return ShapedArray(
            self.shape if shape is None else shape,
            self.dtype if dtype is None else dtype,
        )


def aval_of(x) -> ShapedArray:
    """The abstract value of a concrete array or Python scalar."""
    if isinstance(x, bool):
        return ShapedArray((), np.bool_)
    if isinstance(x, int):
        return ShapedArray((), np.int64)
    if isinstance(x, float):
        return ShapedArray((), np.float64)
    arr = np.asarray(x)
    return ShapedArray(arr.shape, canonical_dtype(arr.dtype))


# ---------------------------------------------------------------- atoms
class Var:
    """An SSA variable. Identity is object identity; names are given by the printer."""

    __slots__ = ("aval", "hint")

    def __init__(self, aval: ShapedArray, hint: str | None = None):
        self.aval = aval
        self.hint = hint

    def __repr__(self):
        return f"Var({self.aval})"


class Literal:
    """A scalar constant written inline in the IR. `val` is a NumPy scalar of `aval.dtype`."""

    __slots__ = ("val", "aval")

    def __init__(self, val, dtype=None):
        dtype = np.dtype(dtype) if dtype is not None else aval_of(val).dtype
        arr = np.asarray(val)
        if arr.shape != ():
            raise ValueError("Literal values are scalars")
        self.val = dtype.type(arr.item())
        self.aval = ShapedArray((), dtype)

    def __eq__(self, other):
        return (
            isinstance(other, Literal)
            and self.aval == other.aval
            and _same_scalar(self.val, other.val)
        )

    def __hash__(self):
        v = self.val.item()
        return hash((self.aval, "nan" if v != v else v))

    def __repr__(self):
        return f"Literal({self.val!r}:{self.aval})"


def _same_scalar(a, b):
    a, b = a.item(), b.item()
    if a != a and b != b:  # both nan, of one sign (copysign and signbit read it)
        return bool(np.signbit(a) == np.signbit(b))
    if isinstance(a, float) and a == 0.0 and b == 0.0:
        return np.signbit(a) == np.signbit(b)
    return a == b


Atom = "Var | Literal"


# ---------------------------------------------------------------- params
_PLAIN_PARAM_TYPES = frozenset({int, float, str, bool, type(None)})


def freeze(value):
    """Make a param value hashable (lists become tuples, dicts sorted tuples)."""
    t = type(value)
    if t in _PLAIN_PARAM_TYPES:  # the common case, returned as is below too
        return value
    if t is tuple and all(type(v) in _PLAIN_PARAM_TYPES for v in value):
        return value  # already frozen (tuple(freeze(v) ...) would rebuild an equal tuple)
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        raise TypeError("array-valued params are not allowed; use a constvar")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# ---------------------------------------------------------------- equations
class Eqn:
    """outputs = prim[params](*inputs), recorded at the user's `source` line."""

    __slots__ = ("prim", "inputs", "outputs", "params", "source")

    def __init__(self, prim, inputs, outputs, params, source=None):
        self.prim = prim
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.params = {k: freeze(v) for k, v in params.items()}
        self.source = source

    def params_key(self):
        """A hashable key of the params (sub-IRs compare by identity)."""
        return tuple(sorted(self.params.items()))  # keys are distinct: values never compared

    def replace(self, **kw):
        new = Eqn(self.prim, self.inputs, self.outputs, self.params, self.source)
        for k, v in kw.items():
            setattr(new, k, v)
        return new

    def __repr__(self):
        return f"Eqn({self.prim.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


class IR:
    """A closed program: constvars (with `consts`, their values), invars, eqns, outvars."""

    __slots__ = ("constvars", "consts", "invars", "eqns", "outvars")

    def __init__(self, constvars, consts, invars, eqns, outvars):
        self.constvars = list(constvars)
        self.consts = list(consts)
        self.invars = list(invars)
        self.eqns = list(eqns)
        self.outvars = list(outvars)
        assert len(self.constvars) == len(self.consts)

    @property
    def in_avals(self):
        return [v.aval for v in self.invars]

    @property
    def out_avals(self):
        return [v.aval for v in self.outvars]

    def replace(self, **kw):
        fields = dict(
            constvars=self.constvars,
            consts=self.consts,
            invars=self.invars,
            eqns=self.eqns,
            outvars=self.outvars,
        )
        fields.update(kw)
        return IR(**fields)

    def __str__(self):
        from .printer import pp_ir

        return pp_ir(self)

    def __repr__(self):
        return str(self)

    def subirs(self):
        """(eqn, param name, IR) for every sub-IR held in an equation's params."""
        for eqn in self.eqns:
            for k, v in eqn.params.items():
                if isinstance(v, IR):
                    yield eqn, k, v
                elif isinstance(v, tuple):
                    for item in v:
                        if isinstance(item, IR):
                            yield eqn, k, item


# Derivative rules pullback itself defines for its composites (the pseudo-inverse's),
# params of custom_jvp_call equations: the printer writes them by name, as any
# callable, and the parser and the disk cache's fingerprint know them by that name,
# so IRs holding them print, parse back and cache like any other. Users' rules are
# not here: their code is theirs to change between runs.
NAMED_RULES: dict = {}
# Transformed forms of named rules, named `<prefix><rule's name>` (vmap's batched rule:
# vmap_pinv_jvp): prefix -> the function making one from a rule, registered by the
# transformation, so a new process parses such a name before it has made one.
DERIVED_RULES: dict = {}


def named_rule(fn):
    NAMED_RULES[fn.__name__] = fn
    return fn


def find_named_rule(name):
    """The named rule `name`, a derived one made on first need, or None."""
    rule = NAMED_RULES.get(name)
    if rule is None:
        for prefix, make in DERIVED_RULES.items():
            base = find_named_rule(name[len(prefix):]) if name.startswith(prefix) else None
            if base is not None:
                return make(base)
    return rule


class IRError(Exception):
    """An ill-typed IR."""
