"""Pytrees: nested tuples, lists and dicts (and None) of array leaves."""
from __future__ import annotations


class TreeDef:
    """Hashable structure of a pytree: ('leaf',) or (kind, aux, children)."""

    __slots__ = ("kind", "aux", "children", "_hash")

    def __init__(self, kind, aux=None, children=()):
        self.kind = kind
        self.aux = aux
        self.children = tuple(children)
        self._hash = hash((kind, aux, self.children))

    def __eq__(self, other):
        return (
            isinstance(other, TreeDef)
            and self.kind == other.kind
            and self.aux == other.aux
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


def _flatten(x, leaves):
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return TreeDef("tuple", None, [_flatten(c, leaves) for c in x])
    if isinstance(x, tuple):  # namedtuple
        return TreeDef("namedtuple", type(x), [_flatten(c, leaves) for c in x])
    if isinstance(x, list):
        return TreeDef("list", None, [_flatten(c, leaves) for c in x])
    if isinstance(x, dict):
        keys = tuple(sorted(x.keys(), key=repr))
        return TreeDef("dict", keys, [_flatten(x[k], leaves) for k in keys])
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
    return dict(zip(td.aux, children))


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
