"""pb.cond, pb.while_loop, pb.fori_loop, pb.scan (JAX semantics).

Each traces its Python callables abstractly into closed sub-IRs (see
ir/control_flow.py) and binds one control-flow primitive, so the loop or
branch stays one equation through every pass and one loop in compiled code.
"""
from __future__ import annotations

import operator

import numpy as np

from .api import VALUE_TYPES, _fn_name, abstractify, check_callable, owned_output
from .ir.control_flow import cond_p, scan_p, while_p
from .ir.core import IR, ShapedArray, Var
from .tracer import lax
from .tracer.pytree import tree_flatten, tree_unflatten
from .tracer.trace import (Tracer, WeakTracer, strengthen, trace, user_source, weaken,
                           where)


def _type_error(msg):
    """A TypeError about the user's call of a control-flow function, naming its line."""
    return TypeError(msg + where(user_source()))


def _avals(leaves, what):
    return [abstractify(x, f"{what}[{i}]") for i, x in enumerate(leaves)]


def _trace_closed(fn, in_avals, weak=()):
    """Trace a flat function into a closed IR; returns (ir, captured values).

    Whatever the function closes over (arrays, tracers of the enclosing trace)
    becomes leading invars of the IR, fed by the returned captured values. The
    inputs at positions `weak` are traced as weakly typed (Python scalars').
    """
    ir = trace(fn, in_avals, weak=weak)
    closed = IR([], [], ir.constvars + ir.invars, ir.eqns, ir.outvars)
    return closed, list(ir.consts)


def _share_captured(traced):
    """Give closed IRs one common list of captured values (deduplicated by identity).

    `traced` is [(ir, captured values)]; returns (values, irs) where every IR
    takes (*values, *its original non-captured inputs).
    """
    values, index = [], {}
    for _, consts in traced:
        for c in consts:
            if id(c) not in index:
                index[id(c)] = len(values)
                values.append(c)
    irs = []
    for ir, consts in traced:
        own = {index[id(c)]: v for c, v in zip(consts, ir.invars)}
        head = [own.get(i) or Var(abstractify(c, "captured")) for i, c in enumerate(values)]
        irs.append(ir.replace(invars=head + ir.invars[len(consts):]))
    return values, irs


def _out_arrays(fn, leaves):
    """fn's output leaves as arrays, or a TypeError naming fn and the output."""
    out = []
    for i, o in enumerate(leaves):
        if not isinstance(o, Tracer):
            if not isinstance(o, VALUE_TYPES):
                raise TypeError(f"{_fn_name(fn)} returned a {type(o).__name__} as output {i}; "
                                "control-flow functions return arrays or numbers"
                                f"{where(user_source(2))}")
            try:
                o = lax.asarray(o)
            except TypeError as e:
                raise TypeError(
                    f"{_fn_name(fn)}, output {i}: {e}{where(user_source(2))}") from None
        out.append(o)
    return out


def _type_text(tree, avals):
    return f"{tree} of ({', '.join(map(str, avals))})"


# Weak types, as in JAX: a Python scalar that starts a loop's carry is weakly typed
# (`0.0` plus a float32 slice is float32), so a carry the body turns into a strong
# value starts as one of that dtype (the body is traced again), and a carry the body
# keeps weak (`c + 1`) comes out weak; so does an output that both of a cond's
# branches give as Python scalars (of one dtype). Inside a trace only: outside one,
# results are NumPy arrays, which have no weak type.
def _is_weak(x):
    return lax.is_weak(x) or isinstance(x, WeakTracer)


def _weak_positions(leaves):
    return tuple(i for i, x in enumerate(leaves) if _is_weak(x))


def _weakened(outs, weak):
    """Outputs that stay weakly typed as weak tracers (inside a trace; outside one they
    stay NumPy arrays, which have no weak type, each a fresh one the caller owns: the
    interpreter hands back an operand or a constant itself when a branch or a loop
    of no steps returns it)."""
    return [weaken(o) if i in weak else owned_output(o) for i, o in enumerate(outs)]


_KIND_ORDER = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _widens(a, b):
    """Whether a weak carry of aval `a` may take aval `b` (same shape, no narrower kind)."""
    return a.shape == b.shape and _KIND_ORDER[b.dtype.kind] >= _KIND_ORDER[a.dtype.kind]


def _promote_weak_carry(leaves, avals, weak, out_avals, out_weak):
    """(changed?, leaves, avals, weak): a weak carry whose body output is strong (a
    float64 slice added to 0.0) becomes strong, in the output's dtype; one whose output
    is weak but of another dtype (an int times 0.5) stays weak, in that dtype. Never to
    a narrower kind (a float carry the body returns as an int): that is the carry's
    type changing, which the caller reports, as JAX does."""
    leaves, avals, still = list(leaves), list(avals), []
    changed = False
    for i in weak:
        same = out_avals[i].dtype == avals[i].dtype
        if not _widens(avals[i], out_avals[i]) or (out_weak[i] and same):
            still.append(i)
            continue
        if out_weak[i]:  # a Python scalar (or weak tracer) of the output's kind
            c = lax.convert(leaves[i], out_avals[i].dtype)
            leaves[i] = c.item() if lax.is_weak(leaves[i]) else weaken(c)
            still.append(i)
        else:
            strong = np.asarray(leaves[i]) if lax.is_weak(leaves[i]) else strengthen(leaves[i])
            leaves[i] = lax.convert(strong, out_avals[i].dtype)
        avals[i] = out_avals[i]
        changed = True
    return changed, leaves, avals, tuple(still)


def _flat_fn(fn, in_tree, out_store):
    """fn on flat leaves; out_store receives (output tree, which outputs are weak)."""
    def flat(*leaves):
        out = fn(*tree_unflatten(in_tree, leaves))
        out_leaves, out_tree = tree_flatten(out)
        out_store.append((out_tree, [_is_weak(o) for o in out_leaves]))
        return _out_arrays(fn, out_leaves)

    return flat


# ---------------------------------------------------------------- cond
def cond(pred, true_fun, false_fun, *operands):
    """`true_fun(*operands)` if pred else `false_fun(*operands)`, as one `cond` equation."""
    check_callable(true_fun, "pb.cond (true_fun)")
    check_callable(false_fun, "pb.cond (false_fun)")
    if not isinstance(pred, Tracer):
        p = np.asarray(pred)
        if p.dtype.kind not in "biuf":
            raise _type_error(f"pb.cond: the predicate must be a bool or a number, got "
                              f"{type(pred).__name__}")
        if p.shape != ():
            raise _type_error(f"pb.cond: the predicate must be a scalar, got shape {p.shape}")
    elif pred.shape != ():
        raise _type_error(f"pb.cond: the predicate must be a scalar, got {pred.aval}")
    pred = lax.ne(pred, lax.convert(0, lax.dtype(pred))) if lax.dtype(pred) != np.bool_ else pred
    leaves, in_tree = tree_flatten(tuple(operands))
    avals = _avals(leaves, "operands")
    weak_in = _weak_positions(leaves)
    outs_t, outs_f = [], []
    ir_t, consts_t = _trace_closed(_flat_fn(true_fun, in_tree, outs_t), avals, weak_in)
    ir_f, consts_f = _trace_closed(_flat_fn(false_fun, in_tree, outs_f), avals, weak_in)
    (tree_t, weak_t), (tree_f, weak_f) = outs_t[0], outs_f[0]
    weak_out = [a and b for a, b in zip(weak_t, weak_f)]
    if tree_t != tree_f or ir_t.out_avals != ir_f.out_avals:
        raise _type_error(
            "pb.cond: true_fun and false_fun must return the same structure and types; got "
            f"{_type_text(tree_t, ir_t.out_avals)} and {_type_text(tree_f, ir_f.out_avals)}"
        )
    captured, branches = _share_captured([(ir_f, consts_f), (ir_t, consts_t)])
    out = cond_p.bind(pred, *captured, *leaves, branches=tuple(branches))
    return tree_unflatten(tree_t, _weakened(out, {i for i, w in enumerate(weak_out) if w}))


# ---------------------------------------------------------------- while
def while_loop(cond_fun, body_fun, init_val):
    """Repeat `val = body_fun(val)` while `cond_fun(val)`; one `while` equation."""
    check_callable(cond_fun, "pb.while_loop (cond_fun)")
    check_callable(body_fun, "pb.while_loop (body_fun)")
    leaves, tree = tree_flatten(init_val)
    avals = _avals(leaves, "init_val")
    weak = _weak_positions(leaves)
    for _ in range(2 * len(weak) + 1):  # each weak carry changes at most twice
        b_out, b_weak = [], []
        body_ir, bconsts = _trace_closed(_flat_one(body_fun, tree, b_out, b_weak), avals, weak)
        if b_out[0] != tree or len(body_ir.out_avals) != len(avals):
            break
        changed, leaves, avals, weak = _promote_weak_carry(leaves, avals, weak,
                                                           body_ir.out_avals, b_weak[0])
        if not changed:
            break
    c_out = []
    cond_ir, cconsts = _trace_closed(_flat_one(cond_fun, tree, c_out), avals, weak)
    if cond_ir.out_avals != [ShapedArray((), bool)] or c_out[0].kind != "leaf":
        raise _type_error(
            f"pb.while_loop: cond_fun must return a bool scalar, got {cond_ir.out_avals}"
        )
    if b_out[0] != tree or body_ir.out_avals != avals:
        raise _type_error(
            "pb.while_loop: body_fun must return the carry's structure and types: "
            f"{_type_text(tree, avals)} became {_type_text(b_out[0], body_ir.out_avals)}"
        )
    out = while_p.bind(*cconsts, *bconsts, *leaves, cond=cond_ir, body=body_ir,
                       cond_nconsts=len(cconsts), body_nconsts=len(bconsts))
    return tree_unflatten(tree, _weakened(out, weak))


def _flat_one(fn, tree, store, weak_store=None):
    def flat(*leaves):
        out = fn(tree_unflatten(tree, leaves))
        out_leaves, out_tree = tree_flatten(out)
        store.append(out_tree)
        if weak_store is not None:
            weak_store.append([_is_weak(o) for o in out_leaves])
        return _out_arrays(fn, out_leaves)

    return flat


# ---------------------------------------------------------------- scan
def scan(f, init, xs=None, length=None, reverse=False):
    """`carry, y = f(carry, x)` over the leading axis of xs; returns (carry, stacked ys)."""
    check_callable(f, "pb.scan (f)")
    c_leaves, c_tree = tree_flatten(init)
    x_leaves, x_tree = tree_flatten(xs)
    c_avals = _avals(c_leaves, "init")
    x_avals = _avals(x_leaves, "xs")
    lengths = {a.shape[0] if a.shape else None for a in x_avals}
    if None in lengths:
        raise _type_error("pb.scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        try:
            length = operator.index(length)
        except TypeError:
            raise _type_error(f"pb.scan: length must be an integer, got {length!r}") from None
        if length < 0:
            raise ValueError(f"pb.scan: length must be >= 0, got {length}")
        lengths.add(length)
    if len(lengths) > 1:
        raise ValueError(f"pb.scan: xs leaves and length disagree on the length: {sorted(lengths)}")
    if not lengths:
        raise ValueError("pb.scan: give xs or length")
    n = lengths.pop()
    slice_avals = [ShapedArray(a.shape[1:], a.dtype) for a in x_avals]
    out_store = []

    def flat(*leaves):
        carry = tree_unflatten(c_tree, leaves[: len(c_leaves)])
        x = tree_unflatten(x_tree, leaves[len(c_leaves):])
        res = f(carry, x)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise _type_error("pb.scan: f must return a pair (carry, y)")
        new_c, ys = res
        cl, ct = tree_flatten(new_c)
        yl, yt = tree_flatten(ys)
        out_store.append((ct, yt, [_is_weak(c) for c in cl], [_is_weak(y) for y in yl]))
        return _out_arrays(f, cl + yl)

    weak = _weak_positions(c_leaves)
    for _ in range(2 * len(weak) + 1):  # each weak carry changes at most twice
        out_store.clear()
        body, consts = _trace_closed(flat, c_avals + slice_avals, weak)
        if out_store[0][0] != c_tree:
            break
        changed, c_leaves, c_avals, weak = _promote_weak_carry(
            c_leaves, c_avals, weak, body.out_avals[: len(c_avals)], out_store[0][2])
        if not changed:
            break
    ct, yt, _, y_weak = out_store[0]
    if ct != c_tree or body.out_avals[: len(c_avals)] != c_avals:
        raise _type_error(
            "pb.scan: f must return the carry's structure and types: "
            f"{_type_text(c_tree, c_avals)} became "
            f"{_type_text(ct, body.out_avals[: ct.num_leaves])}"
        )
    out = scan_p.bind(*consts, *c_leaves, *x_leaves, body=body, length=n,
                      reverse=bool(reverse), num_consts=len(consts), num_carry=len(c_leaves))
    carry = tree_unflatten(c_tree, _weakened(out[: len(c_leaves)], weak))
    # ys the body gives as Python scalars (or weak values) stack weakly typed, as JAX's
    ys = tree_unflatten(yt, _weakened(out[len(c_leaves):], {i for i, w in enumerate(y_weak) if w}))
    return carry, ys


# ---------------------------------------------------------------- fori_loop
def fori_loop(lower, upper, body_fun, init_val):
    """`val = body_fun(i, val)` for i in [lower, upper).

    With Python-int bounds this is a `scan` (so reverse mode works); with traced
    bounds a `while`. Bounds whose value the trace knows (an int argument of an
    eager grad/jvp, or a static argument passed through one) count as Python ints.
    """
    check_callable(body_fun, "pb.fori_loop (body_fun)")
    for b in (lower, upper):
        if (b.dtype.kind if isinstance(b, Tracer) else np.asarray(b).dtype.kind) not in "iub":
            raise _type_error(f"pb.fori_loop: the bounds must be integers, got {b!r}")
        if np.ndim(b) != 0:
            raise _type_error(f"pb.fori_loop: the bounds must be scalars, got one of shape "
                              f"{np.shape(b)}")
    static = all(not isinstance(b, Tracer) or b.val is not None for b in (lower, upper))
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = _avals(init_leaves, "init_val")

    def checked_body(i, val):
        # fori_loop's own counter is part of the loop's carry: check the user's
        # part here so the error speaks of body_fun and init_val only. The counter
        # is weakly typed, as the Python int of a `for i in range(...)`: a float32
        # carry plus i stays float32 (as in JAX), where an int64 i would promote it.
        out = body_fun(weaken(i), val)
        out_leaves, out_tree = tree_flatten(out)
        out_avals = [abstractify(x, "body_fun output") for x in out_leaves]
        val_leaves = tree_flatten(val)[0]
        if out_tree != init_tree or not all(  # a weak carry may widen (see scan)
                o == abstractify(v, "") or (_is_weak(v) and _widens(abstractify(v, ""), o))
                for o, v in zip(out_avals, val_leaves)):
            raise _type_error(
                "pb.fori_loop: body_fun must return init_val's structure and types: "
                f"{_type_text(init_tree, init_avals)} became {_type_text(out_tree, out_avals)}"
            )
        return out

    if static:
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (i + 1, checked_body(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val

    def cond_fun(c):
        return c[0] < c[1]

    def body(c):
        i, hi, val = c
        return (i + 1, hi, checked_body(i, val))

    lo = lax.convert(lower, np.int64) if isinstance(lower, Tracer) else np.int64(lower)
    hi = lax.convert(upper, np.int64) if isinstance(upper, Tracer) else np.int64(upper)
    return while_loop(cond_fun, body, (lo, hi, init_val))[2]
