"""Pytrees: nested tuples, lists and dicts (and None) of array leaves."""
from __future__ import annotations

from collections import OrderedDict, defaultdict


class TreeDef:
    """Hashable structure of a pytree: ('leaf',) or (kind, aux, children). A dict's
    aux is its keys (sorted, or in insertion order for an OrderedDict, as in JAX) and
    `container` rebuilds it: None for dict, an OrderedDict class, or (defaultdict
    class, default_factory). Keys compare with their types: {1: x} is not {1.0: x}."""

    __slots__ = ("kind", "aux", "children", "container", "_key", "_hash")

    def __init__(self, kind, aux=None, children=(), container=None):
        self.kind = kind
        self.aux = aux
        self.children = tuple(children)
        self.container = container
        typed_aux = tuple((type(k), k) for k in aux) if kind == "dict" else aux
        self._key = (kind, typed_aux, container)
        self._hash = hash((self._key, self.children))

    def __eq__(self, other):
        return (
            isinstance(other, TreeDef)
            and self._key == other._key
            and self.children == other.children
        )

    def __hash__(self):
        return self._hash

    @property
    def num_leaves(self):
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.aux, self.children))
            return "{" + inner + "}"
        return ("(" + inner + ",)") if self.kind == "tuple" else ("[" + inner + "]")


LEAF = TreeDef("leaf")


def tree_flatten(tree):
    leaves = []
    return leaves, _flatten(tree, leaves)


def _sorted_keys(d):
    """A dict's keys in sorted order, as JAX orders them ({10: a, 9: b} flattens to
    [b, a]); keys of types that do not compare (1 and "a") by type name, then value."""
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(sorted(d, key=lambda k: (type(k).__name__, repr(k))))


def _flatten(x, leaves):
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return TreeDef("tuple", None, [_flatten(c, leaves) for c in x])
    if isinstance(x, tuple):  # namedtuple
        return TreeDef("namedtuple", type(x), [_flatten(c, leaves) for c in x])
    if isinstance(x, list):
        return TreeDef("list", None, [_flatten(c, leaves) for c in x])
    if isinstance(x, dict):
        container = None
        if isinstance(x, OrderedDict):
            keys, container = tuple(x), type(x)
        else:
            keys = _sorted_keys(x)
            if isinstance(x, defaultdict):
                container = (type(x), x.default_factory)
        return TreeDef("dict", keys, [_flatten(x[k], leaves) for k in keys], container)
    if x is None:
        return TreeDef("none")
    leaves.append(x)
    return LEAF


def tree_unflatten(treedef, leaves):
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == "tuple":
        return tuple(children)
    if td.kind == "namedtuple":
        return td.aux(*children)
    if td.kind == "list":
        return children
    pairs = zip(td.aux, children)
    if td.container is None:
        return dict(pairs)
    if isinstance(td.container, tuple):  # defaultdict(factory, pairs)
        return td.container[0](td.container[1], pairs)
    return td.container(pairs)


def tree_map(fn, tree, *rest):
    leaves, td = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def leaf_paths(treedef, prefix=""):
    """Human-readable paths of the leaves, e.g. "['w1']" or "[0][2]"."""
    if treedef.kind == "leaf":
        return [prefix]
    if treedef.kind == "none":
        return []
    out = []
    keys = treedef.aux if treedef.kind == "dict" else range(len(treedef.children))
    for k, c in zip(keys, treedef.children):
        out += leaf_paths(c, f"{prefix}[{k!r}]")
    return out
