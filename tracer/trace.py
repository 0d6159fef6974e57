"""Tracing: recording primitive applications into an IR.

One mechanism serves every transformation. A `Builder` records equations; the
innermost active builder receives every `bind`. A value that does not belong
to it (a NumPy array captured from a closure, or a tracer of an enclosing
builder) becomes a constvar of the IR being built, whose value is that object;
when the IR is later evaluated inside the enclosing trace, the constvar's value
is that tracer again. This is how `grad(grad(f))`, `grad(jit(f))` and closures
over outer arguments compose without nested tracer types.

With no builder active, `bind` evaluates the primitive with NumPy.

A tracer may also carry its concrete value (`val`): `grad`, `jvp` and friends
called outside `jit` trace with the input values known, so Python control flow
on values works as in autograd; under `jit` values are unknown and `bool()`
raises a `ConcretizationError` that names the user's line.
"""
from __future__ import annotations

import os
import re
import sys
import threading

import numpy as np

from ..ir.core import DTYPE_NAMES, IR, Eqn, Literal, ShapedArray, Var, canonical_dtype
from ..ir.primitives import ShapeError, abstract_eval

_state = threading.local()


def _stack():
    s = getattr(_state, "stack", None)
    if s is None:
        s = _state.stack = []
    return s


def current_builder():
    s = _stack()
    return s[-1] if s else None


# ---------------------------------------------------------------- source lines
_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep


def _is_internal(frame):
    """Frames of pullback itself (any install layout) and of NumPy's Python code."""
    mod = frame.f_globals.get("__name__", "")
    if mod == "pullback" or mod.startswith("pullback."):
        return True
    fn = frame.f_code.co_filename
    return fn.startswith(_NUMPY_DIR) or fn.startswith("<frozen")


class SourceInfo(tuple):
    """(filename, line, function) of the user's code that created an equation."""

    __slots__ = ()

    def __new__(cls, filename, lineno, func):
        return tuple.__new__(cls, (filename, lineno, func))

    def __getnewargs__(self):  # pickle and deepcopy (an IR sent to another process)
        return tuple(self)

    @property
    def filename(self):
        return self[0]

    @property
    def lineno(self):
        return self[1]

    def __str__(self):
        return f"{os.path.basename(self[0])}:{self[1]} ({self[2]})"

    def long(self):
        return f'File "{self[0]}", line {self[1]}, in {self[2]}'


def user_source(depth=1):
    """The innermost frame of user code (outside pullback and NumPy)."""
    f = sys._getframe(depth)
    while f is not None:
        if not _is_internal(f):
            return SourceInfo(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def source_line_text(src):
    try:
        import linecache

        return linecache.getline(src.filename, src.lineno).strip()
    except Exception:  # pragma: no cover - best effort only
        return ""


def where(src):
    if src is None:
        return ""
    text = source_line_text(src)
    return f"\n  at {src.long()}" + (f"\n    {text}" if text else "")


# ---------------------------------------------------------------- errors
class UntraceableLibraryError(NotImplementedError, TypeError):
    """A library's Python function (not NumPy's) converted a traced array to a NumPy
    array. A NotImplementedError naming the function, and the TypeError NumPy's
    conversion of a traced value raises elsewhere."""


def full_hint(aval, via="np.full(shape, v)"):
    """The error for np.full(shape, v) (or np.copyto) with a traced v."""
    return (f"{via} with a traced v {aval}: NumPy's np.full converts v to a NumPy array and "
            "writes it into a new one, which a traced value cannot become. Use "
            "np.broadcast_to(v, shape) (or np.full_like(x, v), or np.zeros(shape) + v).")


def _called_from_numpy(name, depth):
    """Whether the innermost NumPy frame above `depth` runs NumPy's function `name`."""
    f = sys._getframe(depth + 1)
    while f is not None and not f.f_code.co_filename.startswith(_NUMPY_DIR):
        if not _is_internal(f):
            return False
        f = f.f_back
    return f is not None and f.f_code.co_name == name


_RANDOM_CALL = re.compile(
    r"\b((?:np\.|numpy\.)?random\.\w+|\w+\.(?:normal|uniform|integers|standard_normal|"
    r"choice|poisson|binomial|exponential|gamma|beta|lognormal|laplace|logistic|"
    r"multivariate_normal|permutation|shuffle|random)\b)\s*\(")


def _random_call(user):
    """The NumPy random function the user's line calls ("np.random.normal"), if any: a
    C function converts its traced argument without a Python frame of its own to
    name it, so its name is read from the line."""
    if user is None:
        return None
    m = _RANDOM_CALL.search(source_line_text(user))
    return m.group(1) if m else None


def _in_vectorize(depth):
    """Whether NumPy's frames above `depth` run an np.vectorize object's call."""
    f = sys._getframe(depth + 1)
    while f is not None and _is_internal(f):
        if isinstance(f.f_locals.get("self"), np.vectorize):
            return True
        f = f.f_back
    return False


def _library_call(depth):
    """(qualified name, the user's SourceInfo) when the frames between here and the
    user's code include an installed library's (site-packages, not NumPy), the
    outermost of them named as its public module has it (scipy.special._logsumexp's
    logsumexp is scipy.special.logsumexp), past decorators' wrappers and private
    helpers (scipy._lib's `wrapper` around scipy.linalg.solve_triangular); else None."""
    f = sys._getframe(depth + 1)
    frames = []
    while f is not None and (_is_internal(f) or _in_site_packages(f)):
        if not _is_internal(f):
            frames.append(f)
        f = f.f_back
    if not frames or f is None:
        return None
    named = [g for g in frames if _public_function(g)]
    outer = (named or frames)[-1]
    name, mod = outer.f_code.co_name, outer.f_globals.get("__name__", "?")
    if not named:  # a decorator's wrapper converted first: name the function it wraps
        wrapped = [v for v in (outer.f_locals.get(c) for c in outer.f_code.co_freevars)
                   if callable(v) and not getattr(v, "__name__", "_").startswith("_")]
        if len(wrapped) == 1:
            name, mod = wrapped[0].__name__, getattr(wrapped[0], "__module__", None) or mod
    mod = ".".join(p for p in mod.split(".") if not p.startswith("_"))
    return (f"{mod}.{name}", SourceInfo(f.f_code.co_filename, f.f_lineno, f.f_code.co_name))


def _numpy_function(depth):
    """The public NumPy function (qualified name) whose Python code converts a traced
    array, called by the user's code, when pullback has no rule for it (as_strided);
    None otherwise (one with a rule got something else, as np.mean of a list)."""
    f = sys._getframe(depth + 1)
    outer = None
    while f is not None and _is_internal(f):
        if f.f_code.co_filename.startswith(_NUMPY_DIR):
            outer = f
        f = f.f_back
    if outer is None or f is None or outer.f_code.co_name.startswith("_"):
        return None
    from .numpy_api import FUNCTIONS

    fn = outer.f_globals.get(outer.f_code.co_name)
    if fn in FUNCTIONS:
        return None
    # the public module NumPy gives its functions (numpy.lib.stride_tricks), else the file's
    mod = getattr(fn, "__module__", None) or outer.f_globals.get("__name__", "numpy")
    mod = ".".join(p for p in mod.split(".") if not p.startswith("_"))
    return f"{mod}.{outer.f_code.co_name}"


_WRAPPER_NAMES = {"wrapper", "wrapped", "inner", "decorator", "decorated", "fun", "func",
                  "f", "<lambda>", "<genexpr>", "<listcomp>", "__call__"}


def _public_function(frame):
    """A library frame that runs a public function of a public module (not a
    decorator's wrapper, nor a helper in a private module such as scipy._lib)."""
    name = frame.f_code.co_name
    mod = frame.f_globals.get("__name__", "")
    return (not name.startswith("_") and name not in _WRAPPER_NAMES
            and not any(p in ("_lib", "_util", "_utils") for p in mod.split(".")))


def _in_site_packages(frame):
    fn = frame.f_code.co_filename
    return f"{os.sep}site-packages{os.sep}" in fn or f"{os.sep}dist-packages{os.sep}" in fn


class ConcretizationError(TypeError):
    """A Python decision needed the value of an abstract traced array."""


class EscapedTracerError(RuntimeError):
    """A traced value was used after the trace that created it ended."""


def _made_and_used(x):
    """Where an escaped tracer was made (its equation's line, or "an input") and
    where it is used now, for the error's message."""
    made = next((e.source for e in x.builder.eqns if x.ir_var in e.outputs), None)
    text = "\n  made " + (where(made)[len("\n  "):] if made is not None else
                          "as an input of the traced function")
    used = user_source(3)
    return text + ("\n  used " + where(used)[len("\n  "):] if used is not None else "")


# ---------------------------------------------------------------- builder
class Builder:
    """Records equations; `build(outs)` closes them into an IR."""

    def __init__(self):
        self.eqns = []
        self.invars = []
        self.constvars = []
        self.consts = []
        self._const_ids = {}  # id(object) -> Var; `consts` keeps the objects alive
        self.source = None  # when set (by passes), used instead of the stack walk
        self.active = False
        self.concrete = False  # propagate concrete values (eager grad/jvp)
        # (var, what, source) of float values turned into Python numbers (float(),
        # .item(), ...) in eager mode: their derivative is lost (ad checks them)
        self.numbers = []
        # whether an in-place operator (x += y) changed a traced array of this trace in
        # NumPy's semantics, here only rebinding x (np_methods, Tracer.changed_by): then
        # every read checks it does not read such an array, nor a view of one
        self.overwritten = False

    # -- context
    def __enter__(self):
        _stack().append(self)
        self.active = True
        return self

    def __exit__(self, *exc):
        popped = _stack().pop()
        assert popped is self
        self.active = False

    # -- values
    def new_arg(self, aval, val=None, weak=False):
        v = Var(aval)
        self.invars.append(v)
        return (WeakTracer if weak else Tracer)(self, v, val)

    def to_operand(self, x):
        """The IR atom for `x`: a var of ours, a Literal, or a (lifted) constvar."""
        if isinstance(x, Tracer):
            if x.builder is self:
                return x.ir_var
            if not x.builder.active:
                raise EscapedTracerError(
                    f"a traced value {x.aval} escaped from the function that created it "
                    "(stored in a global or returned through a side channel)"
                    f"{_made_and_used(x)}"
                )
            return self._lift(x, x.aval, x.val)
        if isinstance(x, Literal):
            return x
        if (isinstance(x, (np.ndarray, np.generic)) and x.dtype not in DTYPE_NAMES
                and x.dtype.kind in "iuf"):
            from .lax import asarray  # uint8, float16...: widened as operands are

            x = asarray(x)
        if isinstance(x, (bool, int, float, complex, np.generic)) or (
            isinstance(x, np.ndarray) and x.ndim == 0
        ):
            return Literal(x)
        if isinstance(x, np.ndarray):
            return self._lift(x, ShapedArray(x.shape, canonical_dtype(x.dtype)), x)
        raise TypeError(f"cannot use {type(x).__name__} as an array in a traced function")

    def _lift(self, obj, aval, val):
        v = self._const_ids.get(id(obj))
        if v is None:
            v = Var(aval)
            self._const_ids[id(obj)] = v
            self.constvars.append(v)
            self.consts.append(obj)
        return v

    def known_value(self, x, atom):
        """The concrete value behind an operand, or None if it is abstract."""
        if isinstance(atom, Literal):
            return atom.val
        if isinstance(x, Tracer):
            return x.val
        return x

    def refuse_overwritten(self, values, src):
        """Raise if one of `values`, or an array it is a view of, was changed in place
        (Tracer.changed_by): NumPy would read the changed values."""
        for t in values:
            while isinstance(t, Tracer):
                if t.changed_by is not None:
                    op, at = t.changed_by
                    read = "returned" if src is None else f"read{where(src)}"
                    raise TypeError(
                        f"a traced array changed in place by `{op}` (on it, on a view of "
                        f"it or through another name for it){where(at)}\nis {read}\n"
                        "In NumPy it would hold the changed values here; traced arrays are "
                        "immutable, and `x " + op + " y` only binds x to a new array. Use "
                        "that new array where the change should show (x = x " + op[:-1] +
                        " y; a = np.concatenate(...) or np.where(...) to rebuild a "
                        "sliced array).")
                t = t.view_of

    def add_eqn(self, prim, args, params, source=None):
        atoms = [a.ir_var if type(a) is Tracer and a.builder is self else self.to_operand(a)
                 for a in args]  # our own tracers (the common case) inline
        avals = [a.aval for a in atoms]
        src = source or self.source or user_source(2)
        if self.overwritten:
            self.refuse_overwritten(args, src)
        try:
            out_avals = abstract_eval(prim, avals, params)
        except ShapeError as e:
            raise ShapeError(f"{e}{where(src)}") from None
        # Concrete values flow along when every input's value is known.
        vals = None
        if self.concrete:
            known = [self.known_value(a, t) for a, t in zip(args, atoms)]
            if all(k is not None for k in known):
                from ..backends.interpreter import impl

                vals = impl(prim, *known, **params)
        outs = [Var(a) for a in out_avals]
        self.eqns.append(Eqn(prim, atoms, outs, params, src))
        if vals is None:
            return [Tracer(self, v) for v in outs]
        return [Tracer(self, v, vals[i]) for i, v in enumerate(outs)]

    def build(self, outs) -> IR:
        if self.overwritten:
            self.refuse_overwritten(outs, None)
        outvars = [self.to_operand(o) for o in outs]
        return IR(self.constvars, self.consts, self.invars, self.eqns, outvars)


# ---------------------------------------------------------------- bind
def bind_list(prim, args, params, source=None):
    """Apply `prim` to `args`: record it in the current builder, or evaluate it."""
    b = current_builder()
    if b is None:
        for a in args:
            if isinstance(a, Tracer):
                raise EscapedTracerError(
                    f"a traced value {a.aval} reached '{prim.name}' outside of any trace: it "
                    f"escaped from the function that created it{_made_and_used(a)}"
                )
        from ..backends.interpreter import impl

        return impl(prim, *args, **params)
    return b.add_eqn(prim, args, params, source)


def bind(prim, *args, **params):
    outs = bind_list(prim, args, params)
    return outs if prim.multiple_results else outs[0]


# ---------------------------------------------------------------- tracer
class Tracer:
    """A traced array. NumPy sees it through __array_ufunc__/__array_function__."""

    __slots__ = ("builder", "ir_var", "val", "view_of", "changed_by", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, builder, var, val=None):
        self.builder = builder
        self.ir_var = var
        self.val = val
        # the traced array this one is a NumPy view of (x[1:], x.T, x.reshape(...)):
        # an in-place operator on it would write into that array in NumPy (np_methods)
        self.view_of = None
        # (operator, source) of an in-place operator that changed this array (or a
        # view of it, or it under another name) in NumPy: reading it afterwards raises
        self.changed_by = None

    @property
    def aval(self):
        return self.ir_var.aval

    def fresh(self):
        """Another array object holding this value: a copy (x.copy(), np.copy) or a view
        (np_methods), which an in-place operator may change apart from this one."""
        return type(self)(self.builder, self.ir_var, self.val)

    @property
    def shape(self):
        return self.ir_var.aval.shape

    @shape.setter
    def shape(self, value):
        raise TypeError("traced arrays are immutable: setting x.shape reshapes in place; "
                        f"write x = x.reshape(...) instead{where(user_source(2))}")

    @property
    def dtype(self):
        return self.ir_var.aval.dtype

    @property
    def ndim(self):
        return len(self.ir_var.aval.shape)

    @property
    def size(self):
        return self.ir_var.aval.size

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def device(self):  # NumPy 2's: arrays live on the CPU
        return "cpu"

    def to_device(self, device, /, *, stream=None):
        if device != "cpu":
            raise ValueError(f"unsupported device {device!r}")
        return self

    def _scalar_as_size(self, also=""):
        """A 0-d integer where Python or NumPy wants a size, a shape or a bound (len(),
        iteration, NumPy's conversion): its value when known, else a ConcretizationError
        (a traced int argument of pb.jit used as np.arange(n), x.reshape(n), ...)."""
        if self.ndim == 0 and self.dtype.kind in "iub":
            return self._concrete("a traced integer used as a size, shape, count or bound "
                                  f"(x.reshape(n), np.arange(n), np.tile(x, n), ...){also}")
        return None

    def __len__(self):
        if not self.shape:
            self._scalar_as_size()
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __repr__(self):
        v = "" if self.val is None else f" value={np.asarray(self.val)!r}"
        return f"Traced<{self.aval}>{v}"

    # -- concretization
    def _concrete(self, what, number=False):
        """The value, for a Python decision (`number` False) or as a Python number
        that re-enters the computation (float(), .item(): recorded for floats)."""
        if self.val is None:
            src = user_source(3)
            raise ConcretizationError(
                f"{what} needs the value of a traced array {self.aval}, which is not "
                "known while tracing abstractly (pb.jit, pb.vmap, pb.make_ir)."
                f"{where(src)}\n"
                "Mark the argument static (static_argnums=... of pb.jit; in_axes=None "
                "for pb.vmap's unbatched arguments), or use pb.cond / "
                "pb.while_loop / np.where for value-dependent control flow."
            )
        if number and self.dtype.kind in "fc":
            self.builder.numbers.append((self.ir_var, what, user_source(3)))
        return np.asarray(self.val)

    def __bool__(self):
        return bool(self._concrete("bool() (an `if`, `while`, `and`/`or` or assert)"))

    def __int__(self):
        return int(self._concrete("int()"))

    def __float__(self):
        return float(self._concrete("float()", number=True))

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer traced arrays can be used as an index, not {self.aval}")
        return int(self._concrete("using a traced array as a Python index"))

    def __format__(self, spec):
        if not spec:
            return str(self)
        value = self._concrete(f"formatting with {spec!r} (an f-string or format())")
        return format(value[()] if value.ndim == 0 else value, spec)

    def __complex__(self):
        return complex(self._concrete("complex()", number=True))

    def __array__(self, dtype=None, copy=None):
        if current_builder() is None:
            raise EscapedTracerError(
                f"a traced value {self.aval} was converted to a NumPy array outside of any "
                f"trace: it escaped from the function that created it{_made_and_used(self)}")
        if _called_from_numpy("full", 1):
            raise TypeError(full_hint(self.aval) + where(user_source(2)))
        size = self._scalar_as_size(
            " or as an index into a NumPy array (table[i]: trace the table first, as "
            "pb.stop_gradient(table)[i]; a constant has no derivative to lose)")
        if size is not None:  # an integer: no derivative to lose
            return size if dtype is None else size.astype(dtype)
        if self.val is not None:
            # a known value (eager grad & co.): NumPy or SciPy computes on it, as on
            # JAX's eager arrays; a float one is recorded as float() is, so that the
            # trace refuses it where it depends on a differentiated input (an argument
            # not differentiated, np.asarray(X) of data or a SciPy call on it, is fine)
            if self.dtype.kind not in "iub":
                lib = _library_call(1)
                what = (f"{lib[0]} (converting its argument to a NumPy array: pullback traces "
                        "NumPy's functions and scipy.special's ufuncs, not other libraries' "
                        "code)" if lib else
                        "converting to a NumPy array (np.asarray, np.array, a library call)")
                self.builder.numbers.append((self.ir_var, what, lib[1] if lib else user_source(2)))
            value = np.asarray(self.val)
            return value if dtype is None else value.astype(dtype)
        if _in_vectorize(1):
            raise UntraceableLibraryError(
                "np.vectorize is not supported on traced arrays by pullback: it calls its "
                "function on each element as a NumPy scalar. Batch the function written "
                "for one element with pb.vmap(f) instead (nested for more axes), or write "
                f"it with NumPy's elementwise functions.{where(user_source(2))}")
        # from 1: the frame that called np.asarray (C code has no frame of its own)
        lib = _library_call(1)
        if lib is not None:
            name, user = lib
            from .numpy_api import UFUNCS_BY_NAME

            special = [k.rsplit(".", 1)[1] for k in UFUNCS_BY_NAME
                       if k.startswith("scipy.special.")]
            raise UntraceableLibraryError(
                f"{name} is not supported on traced arrays by pullback: it converts its "
                f"argument to a NumPy array, and pullback traces NumPy's functions, not "
                f"other libraries' Python code. Write the computation with NumPy "
                f"functions (scipy.special's ufuncs {', '.join(special[:-1])} and "
                f"{special[-1]} trace), or call "
                f"{name.rsplit('.', 1)[-1]} outside the traced function.{where(user)}"
            )
        user = user_source(2)  # the user's own line: no library frame above
        drawn = _random_call(user)
        if drawn is not None:
            raise UntraceableLibraryError(
                f"{drawn}, called on this line, is not supported on traced arrays by "
                "pullback: NumPy's random generators are C code that converts their "
                "arguments to NumPy arrays. Draw standard values outside the traced "
                "function, pass them in and transform them (loc + scale * z for a normal "
                f"one).{where(user)}")
        numpy_fn = _numpy_function(1)
        if numpy_fn is not None:
            raise UntraceableLibraryError(
                f"{numpy_fn} is not supported on traced arrays by pullback (no rule for it): "
                f"its Python code converts its argument to a NumPy array.{where(user)}")
        raise TypeError(
            f"NumPy tried to convert a traced array {self.aval} into a concrete array. "
            "This happens when a traced value sits inside a Python list given to NumPy "
            "(np.array([x, 2*x]) or np.mean([x, y]): use np.stack([...]) instead), with "
            "np.asarray(x) on a traced value (drop it; x.astype(dtype) converts), when a "
            "NumPy array is indexed by a traced index (table[i]: trace the table first, as "
            "pb.stop_gradient(table)[i]; a constant has no derivative to lose), "
            "or inside a library that pullback cannot trace (SciPy, np.random)."
            f"{where(user_source(2))}"
        )

    def __copy__(self):  # traced values are immutable: a copy is the value itself
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise ConcretizationError(
            f"a traced array {self.aval} cannot be pickled: its value is not known while "
            f"tracing (pickle it outside the traced function).{where(user_source(2))}")

    def __iter__(self):
        if not self.shape:
            self._scalar_as_size()
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __setitem__(self, key, value):
        raise TypeError(
            "traced arrays are immutable: in-place assignment (x[...] = v) is not "
            "supported; build a new array (np.where, np.concatenate, ...)."
            f"{where(user_source(2))}"
        )

    def __hash__(self):
        raise TypeError("traced arrays are unhashable")

    # NumPy protocol and operators are attached by tracer.numpy_api.


class WeakTracer(Tracer):
    """A traced Python scalar argument, weakly typed as NumPy 2 types Python
    scalars (NEP 50): `f32_array * s` stays f32 when `s` was passed as a Python
    float, as it would outside the trace. Python arithmetic between weak values
    stays weak (`1.0 - s`); anything else gives ordinary (strong) tracers, as
    NumPy functions give NumPy scalars."""

    __slots__ = ()


def weaken(x):
    """`x` as a WeakTracer (a view of the same IR value); tuples element by element."""
    if type(x) is tuple:
        return tuple(weaken(v) for v in x)
    return WeakTracer(x.builder, x.ir_var, x.val) if type(x) is Tracer else x


def strengthen(x):
    """`x` as an ordinary (strong) Tracer, as NumPy's functions return NumPy scalars
    for Python ones (np.sum(s) is an np.float64); tuples and lists element by element."""
    if type(x) in (tuple, list):
        return type(x)(strengthen(v) for v in x)
    return Tracer(x.builder, x.ir_var, x.val) if type(x) is WeakTracer else x


def trace(fn, in_avals, in_vals=None, source=None, weak=(), numbers=None):
    """Trace `fn` (taking and returning flat lists of arrays) into an IR. The
    inputs whose positions are in `weak` were Python scalars (see WeakTracer).
    A list given as `numbers` receives the Builder's `numbers` records."""
    with Builder() as b:
        if source is not None:
            b.source = source
        b.concrete = in_vals is not None
        args = [
            b.new_arg(a, None if in_vals is None else in_vals[i], i in weak)
            for i, a in enumerate(in_avals)
        ]
        outs = fn(*args)
        ir = b.build(list(outs))
    if numbers is not None:
        numbers.extend(b.numbers)
    return ir
