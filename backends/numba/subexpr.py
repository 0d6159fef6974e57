"""Shared index arithmetic in a generated kernel body: a source-to-source pass.

The readers (readers.py) build each read as a self-contained expression, so one
loop body repeats the same clamps and bounds checks once per read
(`_h.clamp(i0, 98)` six times in Rosenbrock's Hessian, `(i1 - 2) >= 0` four
times in the ODE's Jacobian), and checks on outer indices sit inside inner
loops. Numba types and lowers every one of them: the kernel's compile time
grows with them, not with the work. This pass binds

* a pure subexpression that does not change in a loop to a local before it
  (loop-invariant code motion), and
* one that occurs twice or more in one block to a local before its first use
  (common-subexpression elimination),

where "pure" means built from names, numbers, arithmetic, compares, the
`_h.clamp`/`_h.where` intrinsics and reads of the kernel's input arrays, which
it never writes; no other array reads (the kernel writes its own arrays, so such
a read cannot move past a store without an alias analysis) and no other calls.
Values are unchanged: the same operations run on the same operands, only fewer
times. A name the body assigns more than once (an accumulator, a loop carry)
makes an expression stay where it is; so does an `else:` block (a line before
it would end its `if`).

Lines are the kernel body as the code generator emits them (four spaces per
level, `#` comments, one statement per line, block headers ending in ':').
"""
from __future__ import annotations

import ast
import itertools
import re

_HEADER = re.compile(r"(for|while|if|elif|else)\b")
# a quick filter: lines without these have no candidate worth parsing
_MAYBE = re.compile(r"_h\.clamp|_h\.where| [<>]=? | [=!]= ")
_TARGETS = re.compile(r"^((?:[A-Za-z_]\w*\s*,\s*)*[A-Za-z_]\w*),?\s*(?:[-+*/|&%]|//)?=(?!=)")
_FOR = re.compile(r"for\s+([A-Za-z_]\w*)\s+in\b")
_PURE_CALLS = {"clamp", "where"}
_PURE_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr,
             ast.Div, ast.USub, ast.Not, ast.Invert, ast.UAdd)
_MODULES = {"_h", "_vm", "np", "math"}
_NO_NAMES = frozenset()


class _Node:
    """What the pass needs of one expression node: is it pure (built from names,
    numbers, arithmetic, compares, clamp/where and reads of read-only arrays
    only), the names it reads, and a key equal for equal expressions."""
    __slots__ = ("node", "pure", "names", "key", "children")

    def __init__(self, node, pure, names, key, children):
        self.node, self.pure, self.names, self.key, self.children = node, pure, names, key, children

    @property
    def candidate(self):
        """Worth a local: pure, not a bare name/number/index tuple, and reads a name
        (an expression of numbers only is left for LLVM to fold)."""
        return self.pure and bool(self.names) and not isinstance(
            self.node, (ast.Name, ast.Constant, ast.Tuple))


def _analyze(n, readonly):
    """The _Node tree of expression `n` (one pass, bottom up)."""
    if isinstance(n, ast.Name):
        names = _NO_NAMES if n.id in _MODULES else frozenset((n.id,))
        return _Node(n, True, names, n.id, ())
    if isinstance(n, ast.Constant):
        return _Node(n, True, _NO_NAMES, (type(n.value).__name__, repr(n.value)), ())
    if isinstance(n, ast.BinOp):
        kids = (_analyze(n.left, readonly), _analyze(n.right, readonly))
        op = n.op
    elif isinstance(n, ast.UnaryOp):
        kids = (_analyze(n.operand, readonly),)
        op = n.op
    elif isinstance(n, ast.Compare):
        kids = tuple(_analyze(c, readonly) for c in [n.left, *n.comparators])
        op = tuple(type(o).__name__ for o in n.ops)
    elif isinstance(n, ast.Tuple):  # a multi-axis subscript
        kids = tuple(_analyze(e, readonly) for e in n.elts)
        op = "tuple"
    elif isinstance(n, ast.Subscript):
        kids = (_analyze(n.value, readonly), _analyze(n.slice, readonly))
        op = "[]" if isinstance(n.value, ast.Name) and n.value.id in readonly else None
    elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
          and isinstance(n.func.value, ast.Name) and n.func.value.id == "_h"
          and n.func.attr in _PURE_CALLS and not n.keywords):
        kids = tuple(_analyze(a, readonly) for a in n.args)
        op = n.func.attr
    else:
        kids = tuple(_analyze(c, readonly) for c in ast.iter_child_nodes(n)
                     if isinstance(c, ast.expr))
        return _Node(n, False, _NO_NAMES, None, kids)
    if isinstance(op, ast.AST):
        op = type(op).__name__ if isinstance(op, _PURE_OPS) else None
    pure = op is not None and all(k.pure for k in kids)
    names = frozenset().union(*(k.names for k in kids)) if pure else _NO_NAMES
    key = (op, *(k.key for k in kids)) if pure else None
    return _Node(n, pure, names, key, kids)


def _walk(t):
    yield t
    for k in t.children:
        yield from _walk(k)


class _Frame:
    """A block: the function body (start -1) or the body of the header at `start`."""

    def __init__(self, start, indent, loop_var=None, movable=True):
        self.start, self.indent, self.loop_var = start, indent, loop_var
        # a line may go right before this block's header (not before an `else:`)
        self.movable = movable


def share_subexpressions(lines, line_eqn, outer=(), readonly=(), fresh=None):
    """(new lines, new line -> eqn map): see the module docstring. `outer` are the
    names defined before the body (the kernel's arguments); `readonly` those of
    them that are arrays the kernel never writes, whose reads may move too. An
    expression with any other name the body does not visibly assign stays.
    `fresh()` names the new locals (the code generator's Codegen.fresh; by
    default _s1, _s2, ..., for bodies without such names)."""
    stmts = []  # (index, text) of the statements, headers excluded
    defs = {}   # name -> index of its only assignment, or None when assigned again
    frames_at = {}  # statement index -> the frames around it, outermost first
    stack = [_Frame(-1, 0)]
    for i, line in enumerate(lines):
        text = line.lstrip(" ")
        if not text or text.startswith("#"):
            continue
        indent = (len(line) - len(text)) // 4
        while len(stack) > 1 and indent <= stack[-1].indent:
            stack.pop()
        head = _HEADER.match(text)
        if head and text.endswith(":"):
            m = _FOR.match(text)
            if m:
                defs[m.group(1)] = None  # loop indices: located through the stack
            stack.append(_Frame(i, indent, m.group(1) if m else None,
                                movable=head.group(1) not in ("else", "elif")))
            continue
        frames_at[i] = tuple(stack)
        m = _TARGETS.match(text)
        if m:
            for nm in re.findall(r"[A-Za-z_]\w*", m.group(1)):
                defs[nm] = i if nm not in defs else None
        stmts.append((i, text))
    outer = {nm for nm in outer if nm not in defs}
    readonly = {nm for nm in readonly if nm in outer}

    def depth(t, frames, at):
        """Index of the outermost frame expression `t`, read at line `at`, can be
        computed in, or None (it reads a name assigned twice or after `at`, or a
        loop index of a loop it is not in)."""
        d = 0
        for nm in t.names:
            if nm not in defs:
                if nm not in outer:
                    return None
                continue
            q = defs[nm]
            if q is None:  # a loop index, or assigned twice
                k = next((j for j in range(len(frames) - 1, 0, -1)
                          if frames[j].loop_var == nm), None)
                if k is None:
                    return None
            elif q >= at:
                return None
            else:  # the innermost frame around its assignment
                k = max(j for j in range(len(frames)) if frames[j].start < q)
            d = max(d, k)
        while d + 1 < len(frames) and not frames[d + 1].movable:
            d += 1
        return d

    # parse the candidate lines; count each pure subexpression per block it
    # would be computed in
    parsed = {}
    counts = {}
    for i, text in stmts:
        if not _MAYBE.search(text):
            continue
        try:
            (st,) = ast.parse(text).body
        except SyntaxError:
            continue
        if not isinstance(st, (ast.Assign, ast.AugAssign, ast.Expr, ast.Return)) or st.value is None:
            continue
        tree = _analyze(st.value, readonly)
        parsed[i] = (text, tree)
        for t in _walk(tree):
            if t is not tree and t.candidate:
                d = depth(t, frames_at[i], i)
                if d is not None:
                    key = (frames_at[i][d].start, t.key)
                    counts[key] = counts.get(key, 0) + 1

    if fresh is None:
        fresh = map("_s{}".format, itertools.count(1)).__next__
    before = {}   # line index -> [(indent, binding text)] inserted before it
    bound = {}    # (block start, expression key) -> local name, bound before any later use

    def bind(t, src, frames, at, indent):
        """A local of block frames[-1] holding `t`'s value, defined before line `at`."""
        nm = bound[(frames[-1].start, t.key)] = fresh()
        before.setdefault(at, []).append((indent, f"{nm} = {rewrite(t, src, frames, at, indent)}"))
        return nm

    def rewrite(tree, src, frames, at, indent):
        """`tree`'s source with its shared subexpressions replaced by locals."""
        edits = []

        def visit(t):
            if t is not tree and t.candidate:
                d = depth(t, frames, at)
                if d is not None:
                    nm = next((bound[k] for k in ((f.start, t.key) for f in frames[d:])
                               if k in bound), None)  # a local of a block around it
                    if nm is None and d < len(frames) - 1:  # invariant in a loop around it
                        f = frames[d + 1]
                        nm = bind(t, src, frames[:d + 1], f.start, f.indent)
                    elif nm is None and counts.get((frames[d].start, t.key), 0) > 1:
                        nm = bind(t, src, frames, at, indent)
                    if nm is not None:
                        edits.append((t.node, nm))
                        return
            for k in t.children:
                visit(k)

        visit(tree)
        node = tree.node
        out = src[node.col_offset:node.end_col_offset]  # generated lines are one line each
        for n, nm in sorted(edits, key=lambda e: -e[0].col_offset):
            out = out[:n.col_offset - node.col_offset] + nm + out[n.end_col_offset - node.col_offset:]
        while edits and _UNWRAP.search(out):
            out = _UNWRAP.sub(r"\1", out)
        return out

    new_text = {}
    for i, (text, tree) in parsed.items():
        indent = (len(lines[i]) - len(text)) // 4
        rhs = rewrite(tree, text, frames_at[i], i, indent)
        value = tree.node
        if rhs != text[value.col_offset:value.end_col_offset]:
            new_text[i] = text[:value.col_offset] + rhs + text[value.end_col_offset:]
        m = _TARGETS.match(text)
        if m and defs.get(m.group(1)) == i and tree.candidate:  # later reads read the name
            bound.setdefault((frames_at[i][-1].start, tree.key), m.group(1))
    if not new_text:
        return lines, line_eqn
    out, out_eqn = [], {}
    for i, line in enumerate(lines):
        for indent, text in before.get(i, ()):
            out_eqn[len(out)] = line_eqn.get(i)
            out.append("    " * indent + text)
        out_eqn[len(out)] = line_eqn.get(i)
        out.append(line if i not in new_text else line[:len(line) - len(line.lstrip(" "))] + new_text[i])
    return out, out_eqn


# `(_s1)` -> `_s1` where the parentheses only wrapped the replaced expression
_UNWRAP = re.compile(r"(?<![\w)\]])\(([A-Za-z_]\w*)\)")
