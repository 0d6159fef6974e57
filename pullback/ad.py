"""Automatic differentiation API: grad, jvp, vjp, Jacobians, custom rules, check_grads.

Every entry point traces `f` once with `trace_to_ir(..., concrete=True)` (so
Python control flow on values works outside `jit`), transforms the IR with
passes/jvp.py, passes/transpose.py and passes/batching.py, and evaluates the
result with `eval_ir`, which goes through `bind`: with no trace active it
computes with NumPy; inside an enclosing trace (grad of grad, jit of grad,
vmap of grad) it re-records into that trace. That is how all of them compose.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .api import (VALUE_TYPES, _arg_names, _as_tuple, _fn_name, check_callable, owned_output,
                  pass_through, trace_to_ir, with_kwargs)
from .backends.interpreter import eval_ir
from .ir import primitives as P
from .ir.core import IR, ShapedArray, Var, is_float
from .passes.jvp import ZERO_DERIVATIVE, fit_tangent, forward_numbers, jvp_ir
from .passes.transpose import vjp_ir
from .tracer import lax
from .tracer.pytree import leaf_paths, tree_flatten, tree_unflatten
from .tracer.trace import ConcretizationError, Tracer, bind_list, current_builder, trace, where

__all__ = [
    "grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "hessian",
    "stop_gradient", "custom_jvp", "custom_vjp", "check_grads",
]


# ---------------------------------------------------------------- helpers
_out = owned_output  # results leave as fresh arrays the caller owns


def _argnums_tuple(argnums, n, fname):
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    if argnums is None:
        raise TypeError("argnums must be an int or a tuple of ints, got None")
    nums = _as_tuple(argnums, "argnums")
    if not nums:
        raise ValueError(f"argnums of {fname} names no argument: {argnums!r}")
    out = []
    for i in nums:
        if not -n <= i < n:
            raise ValueError(
                f"argnums {i} is out of range for {fname} called with {n} positional arguments"
            )
        out.append(i % n)
    if len(set(out)) != len(out):  # (1, -1) name one argument twice, as (1, 1) do
        raise ValueError(f"argnums {argnums!r} name an argument of {fname} twice")
    return single, tuple(out)


_EVERY = object()  # _Traced's argnums for jvp and vjp: every float input


def _has_custom_calls(ir):
    return any(e.prim in (P.custom_jvp_call_p, P.custom_vjp_call_p) for e in ir.eqns) or any(
        _has_custom_calls(sub) for _, _, sub in ir.subirs())


class _Traced:
    """f traced at args: the flat IR, leaves, and which leaves each argument owns."""

    def __init__(self, f, args, argnums=_EVERY, what="grad", kwargs=None, has_aux=False):
        self.f = f
        self.args = args
        self.what = what
        numbers = []
        fn = with_kwargs(f, kwargs)
        if has_aux:
            fn = self._passing_aux(fn)
        if argnums is not _EVERY:  # strings & co. not differentiated: passed through
            nums = _argnums_tuple(argnums, len(args), _fn_name(f))[1]
            fn, args, _ = pass_through(fn, args, [i for i in range(len(args)) if i not in nums])
        self.ir, self.sig, self.out_tree = trace_to_ir(fn, args, concrete=True, numbers=numbers)
        self.leaves = tree_flatten(tuple(args))[0]
        # the inputs' values for the derivative passes, where a user's custom rule may
        # need them (Python decisions, SciPy calls); None when one is abstract (jit)
        self.values = None
        if _has_custom_calls(self.ir) and all(
                x.val is not None for x in self.leaves if isinstance(x, Tracer)):
            self.values = [x if isinstance(x, Tracer) else lax.asarray(x) for x in self.leaves]
        self.arg_trees = list(self.sig.in_tree.children)
        self.offsets = [0]
        for t in self.arg_trees:
            self.offsets.append(self.offsets[-1] + t.num_leaves)
        if argnums is not _EVERY:
            self.single, self.argnums = _argnums_tuple(argnums, len(args), _fn_name(f))
            self.wrt = [False] * len(self.leaves)
            for i in self.argnums:
                for n, k in enumerate(range(self.offsets[i], self.offsets[i + 1])):
                    aval = self.ir.invars[k].aval
                    if not is_float(aval.dtype):
                        # argument names (inspect.signature) only for the message
                        p = leaf_paths(self.arg_trees[i], _arg_names(f, len(args))[i])[n]
                        raise TypeError(
                            f"{what} requires real-valued (float) inputs to differentiate, "
                            f"but argument {p} of {_fn_name(f)} has dtype {aval.dtype}. "
                            "Convert it to float, or leave it out of argnums."
                        )
                    self.wrt[k] = True
        else:  # jvp, vjp: every float input
            self.wrt = [is_float(v.aval.dtype) for v in self.ir.invars]
        _refuse_lost_derivatives(self.ir, self.wrt, numbers)
        # and the enclosing traces', for their inputs among ours (grad of grad)
        forward_numbers(self.ir, list(self.leaves) + list(self.ir.consts), numbers)

    def _passing_aux(self, f):
        """f returning (output, aux) as f returning (output, aux's array leaves); the
        other aux leaves (strings, objects) come back unchanged (`self.aux`), as in JAX."""
        fname = _fn_name(f)

        def main_and_arrays(*args):
            out = f(*args)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                got = (f"a {type(out).__name__} of {len(out)}"
                       if isinstance(out, (tuple, list))
                       else f"one array of shape {tuple(np.shape(out))}"
                       if isinstance(out, (Tracer, np.ndarray)) else type(out).__name__)
                raise TypeError(f"{fname} with has_aux=True must return a pair (output, "
                                f"aux), got {got}")
            main, aux = out
            leaves, tree = tree_flatten(aux)
            arrays = [isinstance(x, VALUE_TYPES) for x in leaves]
            others = [None if a else x for x, a in zip(leaves, arrays)]

            def rebuild(values):
                it = iter(values)
                return tree_unflatten(tree, [next(it) if a else x for x, a in zip(others, arrays)])
            self.aux = rebuild
            return main, [x for x, a in zip(leaves, arrays) if a]
        main_and_arrays.__name__ = fname
        return main_and_arrays

    def leaf_range(self, i):
        return range(self.offsets[i], self.offsets[i + 1])

    def per_arg(self, flat, argnums):
        """Unflatten per-leaf values into one pytree per argument in `argnums`."""
        return tuple(
            tree_unflatten(self.arg_trees[i], [flat[k] for k in self.leaf_range(i)])
            for i in argnums
        )


def _refuse_lost_derivatives(ir, wrt, numbers):
    """Raise if a float value turned into a Python number while tracing (float(),
    math.sin, .item(), assignment into a NumPy array: tracer.Builder.numbers)
    depends on a differentiated input through a primitive with a derivative: the
    number re-enters the computation as a constant, and the derivative through it
    would silently be zero. After stop_gradient, floor & co. nothing is lost."""
    if not numbers:
        return
    reached = {v for v, w in zip(ir.invars, wrt) if w}
    for e in ir.eqns:
        if e.prim not in ZERO_DERIVATIVE and any(
                isinstance(a, Var) and a in reached for a in e.inputs):
            reached.update(o for o in e.outputs if is_float(o.aval.dtype))
    for var, what, src in numbers:
        if var in reached:
            raise ConcretizationError(
                f"{what} turned a traced value that depends on a differentiated input "
                "into a Python number or NumPy array: its derivative would be lost (a wrong, zero "
                f"derivative through it).{where(src)}\n"
                "Compute on the traced array instead (np.sin(x), not math.sin(x); "
                "np.stack or np.where, not assignment into a NumPy array), or wrap it "
                "in pb.stop_gradient(...) if the derivative is meant to be dropped."
            )


def _split_aux(tr, has_aux):
    """(main output leaf indices, aux leaf indices, main tree, aux(values of the aux
    leaves) -> the aux pytree) of a _Traced made with `has_aux`."""
    n = len(tr.ir.outvars)
    if not has_aux:
        return list(range(n)), [], tr.out_tree, None
    main = tr.out_tree.children[0]
    k = main.num_leaves
    return list(range(k)), list(range(k, n)), main, tr.aux


# ---------------------------------------------------------------- grad
def value_and_grad(f, argnums=0, has_aux=False):
    """`(value, gradient)` of a scalar-output `f`; `((value, aux), gradient)` with has_aux."""
    check_callable(f, "value_and_grad")

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        tr = _Traced(f, args, argnums, "grad", kwargs, has_aux)
        main, aux, main_tree, make_aux = _split_aux(tr, has_aux)
        if main_tree.kind != "leaf" or tr.ir.outvars[main[0]].aval.shape != () or not is_float(
            tr.ir.outvars[main[0]].aval.dtype
        ):
            # (a one-leaf container, (loss,) or {"l": loss}, too: its structure would be
            # dropped from the value, and a forgotten has_aux go unnoticed; as JAX)
            avals = [str(tr.ir.outvars[i].aval) for i in main]
            got = ", ".join(avals) or "nothing"
            if main_tree.kind != "leaf":
                got = f"a {main_tree.kind} {main_tree!r} of {got}"
            raise TypeError(
                f"grad requires {_fn_name(f)} to return a float scalar (0-d array), "
                f"got {got}; use jacrev/vjp for other outputs, or has_aux=True for a "
                "(loss, aux) pair"
            )
        mask = [i in main for i in range(len(tr.ir.outvars))]
        vir = vjp_ir(tr.ir, tr.wrt, mask, tr.values)
        ct = tr.ir.outvars[main[0]].aval.dtype.type(1.0)
        outs = eval_ir(vir, vir.consts, list(tr.leaves) + [ct])
        n_out = len(tr.ir.outvars)
        value = _out(outs[main[0]])
        grads = [_out(g) for g in outs[n_out:]]
        g = tr.per_arg(grads, tr.argnums)
        g = g[0] if tr.single else g
        if has_aux:
            aux_val = make_aux([_out(outs[i]) for i in aux])
            return (value, aux_val), g
        return value, g

    return value_and_grad_f


def grad(f, argnums=0, has_aux=False):
    """The gradient of a scalar-output `f` with respect to `argnums`."""
    check_callable(f, "grad")
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        (value, g) = vg(*args, **kwargs)
        if has_aux:
            return g, value[1]
        return g

    return grad_f


# ---------------------------------------------------------------- jvp / vjp
def jvp(f, primals, tangents, has_aux=False):
    """`(f(*primals), J(primals) @ tangents)`; primals and tangents are tuples. With
    has_aux, f returns (output, aux) and jvp `(output, tangent, aux)`, as in JAX."""
    check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument)")
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents"
        )
    tr = _Traced(f, tuple(primals), has_aux=has_aux)
    main, aux, main_tree, make_aux = _split_aux(tr, has_aux)
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if t_tree != tr.sig.in_tree:
        raise ValueError(
            f"jvp: tangents have structure {t_tree}, primals have {tr.sig.in_tree}"
        )
    nonzero = tr.wrt
    ts = []
    for v, t, nz, i in zip(tr.ir.invars, t_leaves, nonzero, range(len(t_leaves))):
        lax.refuse_array_subclass(t, f"jvp: tangent {i}")
        if not nz:  # an int or bool primal has no derivative: a nonzero tangent is a mistake
            if not isinstance(t, Tracer) and np.any(np.asarray(t) != 0):
                raise TypeError(f"jvp: primal {i} has dtype {v.aval.dtype}, which has no "
                                "derivative, but its tangent is nonzero; pass a float primal, "
                                "or a zero tangent")
            continue
        if tuple(np.shape(t)) != v.aval.shape:
            raise ValueError(
                f"jvp: tangent {i} has shape {np.shape(t)}, its primal has {v.aval.shape}"
            )
        t_dt = t.dtype if isinstance(t, (Tracer, np.ndarray, np.generic)) else None
        if t_dt is not None and t_dt != v.aval.dtype:  # as JAX: a float32 tangent of a
            # float64 primal would carry float32's precision (Python numbers convert)
            raise TypeError(f"jvp: tangent {i} has dtype {t_dt}, its primal has "
                            f"{v.aval.dtype}; they must be equal")
        ts.append(lax.convert(t, v.aval.dtype) if not isinstance(t, Tracer) else t)
    jir = jvp_ir(tr.ir, nonzero, values=tr.values)
    outs = eval_ir(jir, jir.consts, list(tr.leaves) + ts)
    n = len(tr.ir.outvars)
    out = tree_unflatten(main_tree, [_out(outs[i]) for i in main])
    tangent = tree_unflatten(main_tree, [_out(outs[n + i]) for i in main])
    if has_aux:
        return out, tangent, make_aux([_out(outs[i]) for i in aux])
    return out, tangent


def vjp(f, *primals, has_aux=False):
    """`(f(*primals), vjp_fn[, aux])`; `vjp_fn(ct)` returns one cotangent per primal."""
    check_callable(f, "vjp")
    tr = _Traced(f, primals, has_aux=has_aux)
    main, aux, main_tree, make_aux = _split_aux(tr, has_aux)
    mask = [i in main for i in range(len(tr.ir.outvars))]
    vir = vjp_ir(tr.ir, tr.wrt, mask, tr.values)
    fwd_ir, bwd_ir, n_res = _split_vjp(vir, len(tr.ir.invars), len(tr.ir.outvars))
    fwd_vals = eval_ir(fwd_ir, fwd_ir.consts, list(tr.leaves))
    outs, residuals = fwd_vals[:len(tr.ir.outvars)], fwd_vals[len(tr.ir.outvars):]
    out_val = tree_unflatten(main_tree, [_out(o) for o in (outs[i] for i in main)])
    main_avals = [tr.ir.outvars[i].aval for i in main]

    def vjp_fn(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != main_tree:
            raise ValueError(
                f"vjp_fn: cotangent has structure {ct_tree}, the output has {main_tree}"
            )
        cts = []
        for c, a in zip(ct_leaves, main_avals):
            lax.refuse_array_subclass(c, "vjp_fn: a cotangent")
            if not isinstance(c, VALUE_TYPES):
                raise TypeError(f"vjp_fn: a cotangent of type {type(c).__name__} for an "
                                f"output {a}; cotangents are arrays or numbers")
            if tuple(np.shape(c)) != a.shape:
                raise ValueError(f"vjp_fn: cotangent of shape {np.shape(c)} for an output {a}")
            # in the output's dtype, traced or not (a float64 cotangent of a float32
            # output, as a concrete one is converted)
            cts.append(lax.convert(c, a.dtype) if isinstance(c, Tracer)
                       else np.asarray(c, a.dtype))
        grads = [_out(g) for g in eval_ir(bwd_ir, bwd_ir.consts, list(residuals) + cts)]
        return tr.per_arg(grads, range(len(primals)))

    if has_aux:
        return out_val, vjp_fn, make_aux([_out(outs[i]) for i in aux])
    return out_val, vjp_fn


def _split_vjp(vir, n_in, n_out):
    """Split a vjp IR into forward (primals -> outs + residuals) and backward
    (residuals + cotangents -> input cotangents) IRs, so vjp_fn does not redo
    the forward computation."""
    from .passes.jvp import partition
    from .ir.core import Var

    n_ct = len(vir.invars) - n_in
    fwd_eqns, bwd_eqns, dep = partition(vir, [False] * n_in + [True] * n_ct)
    consts = set(vir.constvars)
    res, seen = [], set()
    for a in [x for e in bwd_eqns for x in e.inputs] + list(vir.outvars[n_out:]):
        if isinstance(a, Var) and a not in dep and a not in consts and a not in seen:
            seen.add(a)
            res.append(a)
    fwd = IR(vir.constvars, vir.consts, vir.invars[:n_in], fwd_eqns,
             list(vir.outvars[:n_out]) + res)
    bwd = IR(vir.constvars, vir.consts, res + list(vir.invars[n_in:]), bwd_eqns,
             vir.outvars[n_out:])
    return fwd, bwd, len(res)


# ---------------------------------------------------------------- Jacobians
# One trace of f; then one batched IR per differentiated input leaf (jacfwd) or
# per output leaf (jacrev), each pushing the whole identity basis of that leaf
# along a leading batch axis: never one trace or one call per direction. Keeping
# leaves separate keeps symbolic zeros (dz/dp2 = 0 costs nothing).
def _eye(size, shape, dtype):
    return np.eye(size, dtype=dtype).reshape((size,) + tuple(shape))


def _rows_last(x, out_shape, in_shape):
    """(in_size, *out_shape) -> out_shape + in_shape."""
    nd = len(out_shape)
    x = lax.transpose(x, list(range(1, nd + 1)) + [0])
    return lax.reshape(x, tuple(out_shape) + tuple(in_shape))


def _zero_block(out_aval, in_aval):
    return _out(np.zeros(out_aval.shape + in_aval.shape, in_aval.dtype))


def _require_float_outputs(tr, has_aux):
    """As JAX: an int or bool output has no Jacobian (zeros would pass for one)."""
    for j in _split_aux(tr, has_aux)[0]:
        if not is_float(tr.ir.outvars[j].aval.dtype):
            raise TypeError(f"{tr.what} requires float outputs, but {_fn_name(tr.f)} returns "
                            f"{tr.ir.outvars[j].aval}; return it as aux (has_aux=True) or "
                            "convert it to float")


def _assemble(tr, block, has_aux):
    """Output pytree of (per-argnum pytrees of) Jacobian blocks [, aux]."""
    main, aux, main_tree, make_aux = _split_aux(tr, has_aux)
    out_leaves = []
    for j in main:
        per_arg = tuple(
            tree_unflatten(tr.arg_trees[i], [block(j, k) for k in tr.leaf_range(i)])
            for i in tr.argnums
        )
        out_leaves.append(per_arg[0] if tr.single else per_arg)
    jac = tree_unflatten(main_tree, out_leaves)
    if not has_aux:
        return jac
    vals = eval_ir(tr.ir, tr.ir.consts, list(tr.leaves))
    return jac, make_aux([_out(vals[i]) for i in aux])


def jacfwd(f, argnums=0, has_aux=False):
    """Jacobian by forward mode: batched jvp over the identity basis (layout out + in)."""
    check_callable(f, "jacfwd")
    from .passes.batching import vmap_ir

    @functools.wraps(f)
    def jacfwd_f(*args, **kwargs):
        tr = _Traced(f, args, argnums, "jacfwd", kwargs, has_aux)
        _require_float_outputs(tr, has_aux)
        n_in, n_out = len(tr.ir.invars), len(tr.ir.outvars)
        cols = {}
        for k, w in enumerate(tr.wrt):
            in_aval = tr.ir.invars[k].aval
            if not w or in_aval.size == 0:
                continue
            nonzero = [i == k for i in range(n_in)]
            jir = jvp_ir(tr.ir, nonzero, values=tr.values)
            bir = vmap_ir(jir, [None] * n_in + [0], in_aval.size,
                          [None] * n_out + [0] * n_out)
            basis = _eye(in_aval.size, in_aval.shape, in_aval.dtype)
            cols[k] = eval_ir(bir, bir.consts, list(tr.leaves) + [basis])[n_out:]

        def block(j, k):
            out_aval, in_aval = tr.ir.outvars[j].aval, tr.ir.invars[k].aval
            if k not in cols:
                return _zero_block(out_aval, in_aval)
            return _out(_rows_last(cols[k][j], out_aval.shape, in_aval.shape))

        return _assemble(tr, block, has_aux)

    return jacfwd_f


def jacrev(f, argnums=0, has_aux=False):
    """Jacobian by reverse mode: batched vjp over the identity basis (layout out + in)."""
    check_callable(f, "jacrev")
    return _jacrev(f, argnums, has_aux, "jacrev")


def _jacrev(f, argnums, has_aux, what):
    """jacrev, whose errors name `what` (hessian's inner Jacobian names hessian)."""
    from .passes.batching import vmap_ir

    @functools.wraps(f)
    def jacrev_f(*args, **kwargs):
        tr = _Traced(f, args, argnums, what, kwargs, has_aux)
        _require_float_outputs(tr, has_aux)
        n_in, n_out = len(tr.ir.invars), len(tr.ir.outvars)
        rows = {}
        main = set(_split_aux(tr, has_aux)[0])
        for j, v in enumerate(tr.ir.outvars):
            out_aval = v.aval
            if j not in main or out_aval.size == 0:
                continue
            mask = [i == j for i in range(n_out)]
            vir = vjp_ir(tr.ir, tr.wrt, mask, tr.values)
            if out_aval.size == 1:  # one vjp, as grad: a batch axis of size 1 would stay in
                ct = np.ones(out_aval.shape, out_aval.dtype)  # every value (hessian's
                rows[j] = eval_ir(vir, vir.consts, list(tr.leaves) + [ct])[n_out:]  # fusion)
                continue
            bir = vmap_ir(vir, [None] * n_in + [0], out_aval.size,
                          [None] * n_out + [0] * n_in)
            basis = _eye(out_aval.size, out_aval.shape, out_aval.dtype)
            rows[j] = eval_ir(bir, bir.consts, list(tr.leaves) + [basis])[n_out:]

        def block(j, k):
            out_aval, in_aval = tr.ir.outvars[j].aval, tr.ir.invars[k].aval
            if j not in rows or in_aval.size == 0:
                return _zero_block(out_aval, in_aval)
            return _out(lax.reshape(rows[j][k], tuple(out_aval.shape) + tuple(in_aval.shape)))

        return _assemble(tr, block, has_aux)

    return jacrev_f


def hessian(f, argnums=0, has_aux=False):
    """The Hessian, as jacfwd of jacrev (layout: out.shape + in.shape + in.shape); with
    has_aux, f returns (output, aux) and the Hessian comes as (hessian, aux)."""
    check_callable(f, "hessian")
    return jacfwd(_jacrev(f, argnums, has_aux, "hessian"), argnums, has_aux)


# ---------------------------------------------------------------- stop_gradient
def stop_gradient(x):
    """The identity, with zero derivative (applied to every leaf of a pytree)."""
    leaves, tree = tree_flatten(x)
    outs = []
    for leaf in leaves:
        val = lax.asarray(leaf)
        r = P.stop_gradient_p.bind(val)
        outs.append(_out(r))
    return tree_unflatten(tree, outs)


# ---------------------------------------------------------------- custom rules
def _trace_closed(fun, args):
    """Trace fun(*args) into a closed IR whose consts are leading inputs: with the
    arguments' values when all are known (eager grad: fun may take Python decisions
    on them or call SciPy, its derivative being the rule's), else abstractly."""
    leaves, in_tree = tree_flatten(tuple(args))
    avals, vals = [], []
    for x in leaves:
        if isinstance(x, Tracer):
            avals.append(x.aval)
            vals.append(x.val)
        else:
            a = lax.asarray(x)
            avals.append(ShapedArray(np.shape(a), a.dtype))
            vals.append(a)
    box = []

    def flat_fun(*flat):
        out = fun(*tree_unflatten(in_tree, flat))
        out_leaves, out_tree = tree_flatten(out)
        box.append(out_tree)
        return out_leaves

    ir = trace(flat_fun, avals, vals if all(v is not None for v in vals) else None)
    call = IR([], [], list(ir.constvars) + list(ir.invars), ir.eqns, ir.outvars)
    return call, list(ir.consts), leaves, in_tree, box[0]


def _named(fn, name):
    fn.__name__ = name
    fn.__qualname__ = name
    return fn


def _positional(fun, args, kwargs):
    """args and kwargs as positional arguments of fun (defaults filled in), as JAX's
    custom rules see them."""
    try:
        sig = inspect.signature(fun)
    except (TypeError, ValueError):  # no signature (a builtin): positional only
        if kwargs:
            raise
        return args
    bound = sig.bind(*args, **kwargs)
    passed = sorted(k for k in bound.kwargs if k in kwargs)
    if passed:
        raise TypeError(f"{_fn_name(fun)}: keyword-only arguments {passed} "
                        "cannot be passed to a custom_jvp/custom_vjp function")
    bound.apply_defaults()  # (keyword-only ones not passed: fun's own defaults apply)
    return bound.args


def _untraced(args, kwargs):
    """Called outside any trace with no traced value among the arguments?"""
    return current_builder() is None and not any(
        isinstance(x, Tracer) for x in tree_flatten((args, kwargs))[0])


def _split_nondiff(nondiff_argnums, args, fname):
    """({position: argument} of nondiff_argnums in order, the others, merge(others) ->
    all args). nondiff_argnums are ints, once each (the constructors checked)."""
    n = len(args)
    nd = sorted({i % n if -n <= i < n else i for i in nondiff_argnums})
    if any(not 0 <= i < n for i in nd):
        raise ValueError(f"{fname}: nondiff_argnums {tuple(nondiff_argnums)} out of range "
                         f"for {n} arguments")
    fixed = {i: args[i] for i in nd}

    def merge(rest):
        it = iter(rest)
        return [fixed[i] if i in fixed else next(it) for i in range(n)]
    return fixed, tuple(a for i, a in enumerate(args) if i not in fixed), merge


class custom_jvp:
    """`@custom_jvp` then `@f.defjvp` with rule(primals, tangents) -> (out, tangent_out).
    With nondiff_argnums (as in JAX) those arguments are not differentiated and come
    first in the rule: rule(*nondiff_args, primals, tangents), primals without them."""

    def __init__(self, fun, nondiff_argnums=()):
        check_callable(fun, "custom_jvp")
        self.fun = fun
        self.nondiff_argnums = _as_tuple(nondiff_argnums, "nondiff_argnums")  # ints, once each
        self.jvp_rule = None
        functools.update_wrapper(self, fun)

    def defjvp(self, rule):
        check_callable(rule, "defjvp")
        self.jvp_rule = rule
        return rule

    def defjvps(self, *jvps):
        """One rule per argument, as JAX's: jvps[i](t_i, ans, *primals) is the output's
        tangent along argument i (None: it has none); the rule sums them."""
        if self.nondiff_argnums:
            raise TypeError("defjvps cannot be used with nondiff_argnums (as in JAX): use defjvp")
        for j in jvps:
            if j is not None:
                check_callable(j, "defjvps")

        def rule(primals, tangents):
            ans = self.fun(*primals)
            total = None
            for jvp_i, t in zip(jvps, tangents):
                if jvp_i is None:
                    continue
                leaves, tree = tree_flatten(jvp_i(t, ans, *primals))
                total = (leaves, tree) if total is None else (
                    [a + b for a, b in zip(total[0], leaves)], tree)
            return ans, None if total is None else tree_unflatten(total[1], total[0])

        self.jvp_rule = rule

    def _nondiff(self, args):
        """(fun, rule, args) with nondiff_argnums taken out of the differentiation.
        Those without traced values are closed over; traced ones (allowed, as in JAX)
        stay inputs of the call, so nothing closes over a traced value, and the rule
        gets their primal values, never their tangents: a zero derivative."""
        fixed, _, _ = _split_nondiff(self.nondiff_argnums, args, _fn_name(self.fun))
        static = {i: a for i, a in fixed.items()
                  if not any(isinstance(x, Tracer) for x in tree_flatten(a)[0])}
        inputs = [i for i in range(len(args)) if i not in static]
        at = {i: k for k, i in enumerate(inputs)}  # argument -> its place among the inputs
        diff = [i for i in inputs if i not in fixed]

        def fun(*rest):
            # traced nondiff arguments have no derivative through fun, as in JAX
            return self.fun(*[static[i] if i in static else
                              stop_gradient(rest[at[i]]) if i in fixed else
                              rest[at[i]] for i in range(len(args))])

        def rule(p, t):
            nondiff = [static[i] if i in static else stop_gradient(p[at[i]])
                       for i in fixed]
            return self.jvp_rule(*nondiff, tuple(p[at[i]] for i in diff),
                                 tuple(t[at[i]] for i in diff))
        return (functools.wraps(self.fun)(fun), functools.wraps(self.jvp_rule)(rule),
                tuple(args[i] for i in inputs))

    def __call__(self, *args, **kwargs):
        if self.jvp_rule is None:
            raise TypeError(
                f"custom_jvp function {_fn_name(self.fun)} has no rule: define one with "
                f"@{_fn_name(self.fun)}.defjvp"
            )
        fun, rule = self.fun, self.jvp_rule
        if _untraced(args, kwargs):  # nothing to differentiate: the function itself, as in JAX
            return fun(*args, **kwargs)
        args = _positional(fun, args, kwargs)
        if self.nondiff_argnums:
            fun, rule, args = self._nondiff(args)
        call, consts, leaves, in_tree, out_tree = _trace_closed(fun, args)

        def jvp_flat(primals, tangents):
            p = tree_unflatten(in_tree, primals)
            t = tree_unflatten(in_tree, tangents)
            res = rule(tuple(p), tuple(t))
            if not isinstance(res, (tuple, list)) or len(res) != 2:
                raise TypeError(
                    f"the jvp rule {_fn_name(rule)} must return (primal_out, tangent_out)"
                )
            po, po_tree = tree_flatten(res[0])
            to, to_tree = tree_flatten(res[1])
            if po_tree != out_tree or to_tree != out_tree:  # leaves go by position
                raise TypeError(
                    f"the jvp rule {_fn_name(rule)} returned a primal output of structure "
                    f"{po_tree} and a tangent of structure {to_tree}; both must have "
                    f"{_fn_name(fun)}'s output structure {out_tree}"
                )
            return po, to

        outs = bind_list(
            P.custom_jvp_call_p, consts + list(leaves),
            dict(call=call, jvp=_named(jvp_flat, _fn_name(rule)), num_consts=len(consts)),
        )
        return tree_unflatten(out_tree, [_out(o) for o in outs])


class custom_vjp:
    """`@custom_vjp` then `f.defvjp(fwd, bwd)`: fwd(*args) -> (out, res); bwd(res, ct) -> cts.
    With nondiff_argnums (as in JAX) fwd takes all arguments, and bwd(*nondiff_args,
    res, ct) returns cotangents of the others only."""

    def __init__(self, fun, nondiff_argnums=()):
        check_callable(fun, "custom_vjp")
        self.fun = fun
        self.nondiff_argnums = _as_tuple(nondiff_argnums, "nondiff_argnums")  # ints, once each
        self.fwd = self.bwd = None
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd, bwd):
        check_callable(fwd, "defvjp (fwd)")
        check_callable(bwd, "defvjp (bwd)")
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        if self.fwd is None:
            raise TypeError(
                f"custom_vjp function {_fn_name(self.fun)} has no rule: call "
                f"{_fn_name(self.fun)}.defvjp(fwd, bwd)"
            )
        fun, fwd, bwd = self.fun, self.fwd, self.bwd
        if _untraced(args, kwargs):
            return fun(*args, **kwargs)
        args = _positional(fun, args, kwargs)
        if self.nondiff_argnums:
            fixed, args, merge = _split_nondiff(self.nondiff_argnums, args, _fn_name(fun))
            for i, a in fixed.items():
                if any(isinstance(x, Tracer) for x in tree_flatten(a)[0]):
                    raise TypeError(  # bwd would close over it, dead by then (as in JAX)
                        f"custom_vjp function {_fn_name(fun)}: argument {i} is in "
                        "nondiff_argnums but is a traced value; pass it as an ordinary "
                        "argument (bwd may return None as its cotangent)")
            fun = functools.wraps(fun)(lambda *rest: self.fun(*merge(rest)))
            fwd = functools.wraps(fwd)(lambda *rest: self.fwd(*merge(rest)))
            bwd = functools.wraps(bwd)(lambda res, ct: self.bwd(*fixed.values(), res, ct))
        call, consts, leaves, in_tree, out_tree = _trace_closed(fun, args)
        arg_avals = call.in_avals[len(consts):]
        fname = _fn_name(fun)

        def fwd_flat(primals, _bwd):
            res = fwd(*tree_unflatten(in_tree, primals))
            if not isinstance(res, (tuple, list)) or len(res) != 2:
                raise TypeError(f"the fwd rule {_fn_name(fwd)} must return (output, residuals)")
            po, _ = tree_flatten(res[0])
            if len(po) != len(call.outvars):
                raise TypeError(
                    f"the fwd rule {_fn_name(fwd)} returned an output that does not match "
                    f"{fname}'s output {out_tree}"
                )
            r_leaves, r_tree = tree_flatten(res[1])

            def bwd_flat(res_flat, cts):
                ct_tree = tree_unflatten(out_tree, cts)
                in_cts = bwd(tree_unflatten(r_tree, res_flat), ct_tree)
                if not isinstance(in_cts, (tuple, list)) or len(in_cts) != len(args):
                    raise TypeError(
                        f"the bwd rule {_fn_name(bwd)} must return a tuple with one "
                        f"cotangent per argument of {fname} ({len(args)})"
                    )
                flat = []
                for i, (a, c) in enumerate(zip(args, in_cts)):
                    a_tree = tree_flatten(a)[1]
                    if c is None:
                        flat += [None] * a_tree.num_leaves
                        continue
                    c_leaves, c_tree = tree_flatten(c)
                    if c_tree != a_tree:  # leaves go by position: a wrong key would mix them
                        raise TypeError(
                            f"the bwd rule {_fn_name(bwd)} returned a cotangent of structure "
                            f"{c_tree} for argument {i} of {fname}, whose structure is "
                            f"{a_tree} (or None for a zero cotangent)")
                    flat += c_leaves
                return [fit_tangent(c, av, f"a cotangent from the bwd rule {_fn_name(bwd)}",
                                    ints=True)
                        for c, av in zip(flat, arg_avals)]

            return po, r_leaves, _named(bwd_flat, _fn_name(bwd))

        outs = bind_list(
            P.custom_vjp_call_p, consts + list(leaves),
            dict(call=call, fwd=_named(fwd_flat, _fn_name(fwd)),
                 bwd=_named(lambda *a: None, _fn_name(bwd)), num_consts=len(consts)),
        )
        return tree_unflatten(out_tree, [_out(o) for o in outs])


# ---------------------------------------------------------------- check_grads
_DEFAULT_TOLS = {  # dtype -> (eps, atol, rtol)
    np.dtype(np.float64): (1e-4, 1e-5, 1e-5),
    np.dtype(np.float32): (1e-2, 3e-2, 3e-2),
}


def _tols(leaves, eps, atol, rtol):
    dts = [np.asarray(x).dtype for x in leaves if np.asarray(x).dtype.kind == "f"]
    key = np.dtype(np.float32) if any(d == np.float32 for d in dts) else np.dtype(np.float64)
    e, a, r = _DEFAULT_TOLS[key]
    return (eps or e), (a if atol is None else atol), (r if rtol is None else rtol)


def _flat_float(tree):
    return [np.asarray(x, np.float64) for x in tree_flatten(tree)[0]]


def _mismatch(ad, fd, atol, rtol, what):
    """None if AD matches, else (how far over, message) for the worst element: the one
    furthest over its tolerance atol + rtol * |fd| (a relative error alone is
    meaningless where fd is 0)."""
    worst, worst_pair = -1.0, None
    for a, b in zip(ad, fd):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        diff = np.abs(a - b)
        with np.errstate(divide="ignore", invalid="ignore"):  # zero tolerances
            over = np.where(diff == 0, 0.0, diff / (atol + rtol * np.abs(b)))
        over = np.where(np.isnan(over), np.inf, over)  # a nan on either side
        if over.size and over.max() > worst:
            i = np.unravel_index(np.argmax(over), over.shape)
            worst, worst_pair = float(over[i]), (a[i], b[i])
    if worst > 1.0:
        a, b = worst_pair
        if np.isnan(a) or np.isnan(b):
            far = "a nan"
        else:
            rel = f"{abs(a - b) / abs(b):.3g}" if b != 0 else "undefined: finite differences 0"
            far = f"{worst:.3g}x the tolerance (relative error {rel}"
            far += f"; atol={atol:g}, rtol={rtol:g})"
        return worst, (f"check_grads: {what}: AD {float(a)!r} vs finite differences "
                       f"{float(b)!r}, {far}")
    return None


def check_grads(f, args, order=1, modes=("fwd", "rev"), eps=None, atol=None, rtol=None,
                _order_done=0, _name=None, _argnames=None):
    """Check AD of `f` at `args` against central finite differences.

    For each argument with float leaves and a random direction v, the forward
    mode `jvp(f, args, v)` must match (f(x + eps v) - f(x - eps v)) / (2 eps),
    and the reverse mode must satisfy the inner-product identity
    <u, J v> == <vjp(u), v> for a random output cotangent u. With order > 1 the
    derivative functions (x -> J(x) v and x -> vjp(x)(u)) are checked again,
    recursively. Raises AssertionError naming the argument, order, mode and
    worst relative error.
    """
    check_callable(f, "check_grads")
    if not isinstance(args, (tuple, list)):  # an array would be split into its rows
        raise TypeError(f"check_grads: args must be a tuple of f's arguments, e.g. (x,), "
                        f"got {type(args).__name__}")
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(modes)
    # a typo must not make the check vacuous
    if not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes!r}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"check_grads: order must be an integer >= 1, got {order!r}")
    for label, v, ok, bound in (("eps", eps, lambda v: v > 0, "> 0"),
                                ("atol", atol, lambda v: v >= 0, ">= 0"),
                                ("rtol", rtol, lambda v: v >= 0, ">= 0")):
        if v is not None and not ok(v):  # nan fails too
            raise ValueError(f"check_grads: {label} must be {bound}, got {v!r}")
    args = tuple(args)
    name = _name or _fn_name(f)
    leaves, tree = tree_flatten(args)
    leaves = [np.asarray(x) for x in leaves]
    args = tree_unflatten(tree, leaves)
    eps_, atol_, rtol_ = _tols(leaves, eps, atol, rtol)
    rng = np.random.default_rng(1234 + _order_done)
    names = _argnames or _arg_names(f, len(args))
    arg_trees = tree.children
    offsets = [0]
    for t in arg_trees:
        offsets.append(offsets[-1] + t.num_leaves)
    if not any(x.dtype.kind == "f" for x in leaves):  # nothing to check: say so, not pass
        raise ValueError(f"check_grads: no argument of {name} has float values, so there is "
                         "no derivative to check (pass floats, e.g. np.arange(3.0))")
    out0 = f(*args)
    out_leaves, out_tree = tree_flatten(out0)
    if _order_done == 0:
        for x in out_leaves:
            kind = np.asarray(x).dtype.kind if isinstance(x, VALUE_TYPES) else None
            if kind != "f":  # finite differences of an integer output are not a derivative
                got = f"dtype {np.asarray(x).dtype}" if kind else type(x).__name__
                raise TypeError(f"check_grads: {name} must return float arrays (a pytree of "
                                f"them) to have derivatives to check, got an output of {got}")
    order_k = _order_done + 1

    mismatches = []  # every argument and mode is checked; the worst one is raised
    for i in range(len(args)):
        rng_i = range(offsets[i], offsets[i + 1])
        if not any(leaves[k].dtype.kind == "f" for k in rng_i):
            continue
        dirs = [
            rng.standard_normal(x.shape).astype(x.dtype) if (k in rng_i and x.dtype.kind == "f")
            else np.zeros_like(x)
            for k, x in enumerate(leaves)
        ]
        v_args = tree_unflatten(tree, dirs)

        def shifted(sign):
            xs = [x + sign * eps_ * d if x.dtype.kind == "f" else x for x, d in zip(leaves, dirs)]
            return f(*tree_unflatten(tree, xs))

        fd = [(np.asarray(p, np.float64) - np.asarray(m, np.float64)) / (2 * eps_)
              for p, m in zip(_flat_float(shifted(1)), _flat_float(shifted(-1)))]
        where = f"order {order_k}, argument {names[i]} of {name}"
        if "fwd" in modes:
            _, t_out = jvp(f, args, v_args)
            mismatches.append(_mismatch(_flat_float(t_out), fd, atol_, rtol_,
                                        f"{where}, mode fwd"))
        if "rev" in modes:
            cts = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
                   if np.asarray(o).dtype.kind == "f" else np.zeros(np.shape(o), np.asarray(o).dtype)
                   for o in out_leaves]
            u = tree_unflatten(out_tree, cts)
            _, vjp_fn = vjp(f, *args)
            in_cts = vjp_fn(u)
            lhs = sum(float(np.sum(np.asarray(c, np.float64) * d))
                      for c, d in zip(tree_flatten(in_cts)[0], dirs) if d.dtype.kind == "f")
            rhs = sum(float(np.sum(np.asarray(c, np.float64) * r)) for c, r in zip(cts, fd))
            scale = sum(float(np.sum(np.abs(np.asarray(c, np.float64) * r)))
                        for c, r in zip(cts, fd))
            mismatches.append(_mismatch([lhs], [rhs], atol_ * max(1.0, scale), rtol_,
                                        f"{where}, mode rev (inner product <vjp(u), v> vs "
                                        "<u, J v>)"))
    mismatches = [m for m in mismatches if m is not None]
    if mismatches:
        raise AssertionError(max(mismatches, key=lambda m: m[0])[1])

    if order > 1:
        if "fwd" in modes:
            v_all = tree_unflatten(tree, [
                rng.standard_normal(x.shape).astype(x.dtype) if x.dtype.kind == "f"
                else np.zeros_like(x) for x in leaves])

            def f_jvp(*xs):
                return jvp(f, xs, v_all)[1]

            check_grads(f_jvp, args, order - 1, ("fwd",), eps, atol, rtol, order_k, name, names)
        if "rev" in modes:
            u_all = tree_unflatten(out_tree, [
                rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
                for o in out_leaves])

            def f_vjp(*xs):
                return vjp(f, *xs)[1](u_all)

            check_grads(f_vjp, args, order - 1, ("rev",), eps, atol, rtol, order_k, name, names)
