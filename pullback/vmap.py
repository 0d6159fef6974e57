"""pb.vmap: vectorize a function over a batch axis of its arguments.

`vmap(f, in_axes, out_axes)(*args)` traces f once on the unbatched shapes,
batches the IR with `passes.batching.vmap_ir`, and evaluates the result with
`eval_ir`, which goes through `bind`: at top level it computes with NumPy,
inside an enclosing trace (jit, grad, another vmap) it records the batched
equations there. That is what makes jit(vmap(f)), vmap(vmap(f)), grad(vmap(f))
and vmap(grad(f)) compose.
"""
from __future__ import annotations

import functools

import numpy as np

from .api import (_arg_names, _fn_name, abstractify, check_callable, owned_output,
                  pass_through, trace_to_ir)
from .backends.interpreter import eval_ir
from .passes.batching import vmap_ir
from .passes.jvp import forward_numbers
from .tracer.pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten


def _check_axis_spec(spec, what):
    if spec is None or isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return
    raise TypeError(
        f"vmap {what} entries must be int or None, got {type(spec).__name__} {spec!r}"
    )


def broadcast_prefix(prefix, td: TreeDef, what, path=""):
    """One axis spec per leaf of `td`, from `prefix` (an int/None, or a pytree
    prefix of the tree whose leaves are int/None)."""
    if prefix is None or isinstance(prefix, (int, np.integer)):
        _check_axis_spec(prefix, what)
        return [None if prefix is None else int(prefix)] * td.num_leaves
    kind = {tuple: "tuple", list: "list", dict: "dict"}.get(type(prefix))
    if kind is None and isinstance(prefix, tuple):
        kind = "namedtuple"
    if kind is None and isinstance(prefix, dict):  # OrderedDict, defaultdict
        kind = "dict"
    if kind is None:
        _check_axis_spec(prefix, what)
    if td.kind != kind and not (kind in ("tuple", "list") and td.kind in ("tuple", "list", "namedtuple")):
        raise ValueError(
            f"vmap {what}{path} is a {type(prefix).__name__}, but the value at {path or 'top level'} "
            f"has structure {td!r}; {what} must be an int, None, or a pytree prefix of it"
        )
    if kind == "dict":
        if sorted(prefix.keys(), key=repr) != sorted(td.aux, key=repr):
            raise ValueError(
                f"vmap {what}{path} has keys {sorted(prefix, key=repr)}, but the "
                f"value has keys {list(td.aux)}"
            )
        items = [(f"[{k!r}]", prefix[k]) for k in td.aux]
    else:
        if len(prefix) != len(td.children):
            raise ValueError(
                f"vmap {what}{path} has {len(prefix)} entries, but the value has "
                f"{len(td.children)}"
            )
        items = [(f"[{i}]", p) for i, p in enumerate(prefix)]
    out = []
    for (key, p), child in zip(items, td.children):
        out += broadcast_prefix(p, child, what, path + key)
    return out


def _abstract_placeholder(aval):
    # zero-strided: a shape for tracing without allocating the (unused) data
    return np.broadcast_to(np.zeros((), aval.dtype), aval.shape)


def vmap(f, in_axes=0, out_axes=0, axis_size=None):
    """Vectorize `f` over axes of its arguments (JAX's vmap semantics).

    `in_axes`: an int or None for every argument, or a tuple/list with one entry
    per positional argument, each an int, None or a pytree prefix of that
    argument; negative axes count from the end. Keyword arguments are batched
    along axis 0. `out_axes` likewise for the outputs (None: the output must not
    depend on the batch). `axis_size`: the batch size, needed only when no argument
    is batched (then every output is a broadcast of one result, as in JAX).
    """
    check_callable(f, "vmap")
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(f)
    def batched(*args, **kwargs):
        fname = _fn_name(f)
        names = _arg_names(f, len(args))
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                f"vmap of {fname}: in_axes has {len(in_axes)} entries but {fname} "
                f"was called with {len(args)} positional arguments"
            )
        spec = in_axes
        if isinstance(in_axes, dict) and len(args) == 1:
            spec = (in_axes,)
        if not kwargs:
            return _vmap_call(f, fname, names, spec, out_axes, args, axis_size)
        # as in JAX, keyword arguments are batched along axis 0
        if not isinstance(spec, tuple):
            spec = (spec,) * len(args)
        return _vmap_call(
            lambda *a: f(*a[:-1], **a[-1]), fname, names + ["kwargs"], spec + (0,),
            out_axes, args + (dict(kwargs),), axis_size,
        )

    return batched


def _vmap_call(f, fname, names, spec, out_axes, args, axis_size=None):
    args = tuple(args)
    leaves, in_tree = tree_flatten(args)
    axes = broadcast_prefix(spec, in_tree, "in_axes")
    # unbatched leaves that are not arrays (ints, bools, strings) reach f untouched
    per_arg, k = [], 0
    for child in in_tree.children:
        per_arg.append(axes[k:k + child.num_leaves])
        k += child.num_leaves
    untraced = {i: [a is None for a in ax] for i, ax in enumerate(per_arg)}
    f, args, kept = pass_through(f, args, [i for i in untraced if any(untraced[i])], untraced)
    if kept:  # those arguments are now lists of their traced leaves, and so their specs
        spec = spec if isinstance(spec, tuple) else (spec,) * len(args)
        spec = tuple([ax for ax, k in zip(per_arg[i], kept[i]) if k] if i in kept else s
                     for i, s in enumerate(spec))
        leaves, in_tree = tree_flatten(args)
        axes = broadcast_prefix(spec, in_tree, "in_axes")
    paths = []
    for k, child in enumerate(in_tree.children):
        paths += [names[k] + p for p in leaf_paths(child)]
    avals = [abstractify(x, p) for x, p in zip(leaves, paths)]

    size, size_from = None, None
    in_dims, unbatched = [], []
    for x, aval, ax, path in zip(leaves, avals, axes, paths):
        if ax is None:
            in_dims.append(None)
            unbatched.append(x)
            continue
        if not -aval.ndim <= ax < aval.ndim:
            raise ValueError(
                f"vmap of {fname}: in_axes {ax} is out of range for argument "
                f"{path} of shape {aval.shape} (rank {aval.ndim})"
            )
        ax %= aval.ndim
        n = aval.shape[ax]
        if size is None:
            size, size_from = n, (path, ax, aval.shape)
        elif n != size:
            p0, a0, s0 = size_from
            raise ValueError(
                f"vmap of {fname}: inconsistent batch sizes: argument {p0} has "
                f"size {size} along axis {a0} (shape {s0}), but argument {path} "
                f"has size {n} along axis {ax} (shape {aval.shape})"
            )
        in_dims.append(ax)
        shp = aval.shape[:ax] + aval.shape[ax + 1 :]
        unbatched.append(_abstract_placeholder(aval.update(shape=shp)))
    if axis_size is not None:
        if not isinstance(axis_size, (int, np.integer)) or isinstance(axis_size, bool) \
                or axis_size < 0:
            raise ValueError(f"vmap of {fname}: axis_size must be a non-negative int, got "
                             f"{axis_size!r}")
        if size is not None and size != axis_size:
            p0, a0, s0 = size_from
            raise ValueError(f"vmap of {fname}: axis_size is {axis_size}, but argument {p0} "
                             f"has size {size} along axis {a0} (shape {s0})")
        size = int(axis_size)
    if size is None:
        raise ValueError(
            f"vmap of {fname}: no argument is batched (in_axes is None for every "
            "array); at least one needs a batch axis, or pass axis_size"
        )

    # Unbatched leaves stay as they are: tracers of an enclosing trace keep
    # their avals and become inputs of the traced IR; known values travel along
    # (a Python-int loop bound stays a bound, `if n > 2` works, as in JAX).
    numbers = []
    ir, _, out_tree = trace_to_ir(f, tuple(tree_unflatten(in_tree, unbatched)),
                                  concrete=[d is None for d in in_dims], numbers=numbers)
    # Python numbers made of an enclosing trace's values: that trace's to judge (grad)
    forward_numbers(ir, list(unbatched) + list(ir.consts), numbers)
    out_dims = broadcast_prefix(out_axes, out_tree, "out_axes")
    bir = vmap_ir(ir, in_dims, size, out_dims)
    outs = eval_ir(bir, bir.consts, leaves)
    return tree_unflatten(out_tree, [owned_output(o) for o in outs])
