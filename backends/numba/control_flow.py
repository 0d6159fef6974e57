"""Numba lowering of cond, while and scan: real branches and loops in the one kernel.

A sub-IR is generated as nested code of the same function by a `_Nested`
codegen: it shares the kernel's names, output lines and temporaries with its
parent, has its own fusion groups, and writes its results to names the parent
chose. So

    cond   ->  if pred: <true branch> else: <false branch>
    while  ->  while True: <cond>; if not p: break; <body>; carries = body outs
    scan   ->  for i in range(length) (or reversed): x = xs[i]; <body>; ys[i] = y

and control flow nests to any depth (scan in cond in fori_loop) without
unrolling and without a second compiled function.

Numba unifies the type of a name over all its assignments, so a value that
crosses a branch or an iteration keeps one type: 0-d values are pinned to their
dtype with a constructor (`np.float32(...)`, `np.int64(0)`), and arrays that
cross are C-contiguous (carries start as copies, xs are read through a
C-contiguous array, pass-through operands are copied).
"""
from __future__ import annotations

import re

from ...ir import control_flow as CF
from ...ir.core import Literal
from . import lowering as L
from .calls import CALLS, COMMENT_HEADERS
from .codegen import Codegen

CONTROL_FLOW = {CF.cond_p, CF.while_p, CF.scan_p}
_ALLOC = re.compile(r"(\w+) = _h\.empty\(\((.*)\), (np\.\w+)\)$")  # name, shape, dtype


class _Nested(Codegen):
    """Code of a closed sub-IR, emitted into the parent's function `depth` levels deeper."""

    def __init__(self, parent, ir, depth):
        # a codegen of its own for the sub-IR (fusion groups, virtual values,
        # consumers), then the parent's names, output lines and lowering context
        super().__init__(ir, parent.ctx.vecmath_names)
        self.parent = parent
        self.depth = depth
        self.ctx = parent.ctx
        self.pctx = parent.pctx
        self.names = parent.names
        self.trig_guard = parent.trig_guard
        self.parallel = parent.parallel  # a big map in a loop's body: a prange per iteration
        self.out_names = {self.name(v) for v in ir.outvars if not isinstance(v, Literal)}
        self.buf = []  # (text, eqn, indent in the parent, hoistable): replayed by the parent

    def emit(self, text, eqn=None, indent=1):
        m = _ALLOC.match(text)
        self.buf.append((text, eqn, indent + self.depth,
                         m is not None and m.group(1) not in self.out_names))

    def put(self, item):
        text, eqn, indent, hoist = item
        self.buf.append((text, eqn, indent + self.depth, hoist))

    def fresh(self, base="t"):
        return self.parent.fresh(base)

    def name(self, v):
        nm = self.names.get(v)
        if nm is None:  # not seen by the printer (should not happen): a unique name
            nm = self.names[v] = self.fresh("v")
        return nm

    def run_into(self, bindings, targets):
        """Bind the sub-IR's invars to `bindings` (expressions), run it, and assign
        its outputs to the names `targets` with types that unify across branches
        and iterations."""
        ir = self.ir
        for v, expr in zip(ir.invars, bindings):
            self.emit(f"{self.name(v)} = {expr}")
            self.arrays.add(v)
        for e in ir.eqns:
            self.eqn(e)
        for g in sorted(self.open.values(), key=lambda g: g.id):
            self.close(g)
        written = set()
        for v, t in zip(ir.outvars, targets):
            if t.endswith("]") and v.aval.ndim:
                self._write_row(v, t[:-1])
                continue
            if isinstance(v, Literal):
                expr = L.literal(v.val, v.aval.dtype)
                if v.aval.ndim:  # an array literal: a fresh filled array
                    expr = f"_h.full({tuple(v.aval.shape)}, {expr}, {L.DT[v.aval.dtype]})"
            else:
                expr = self.materialize(v)
            if t.endswith("]"):  # a 0-d row of a stacked output
                self.emit(f"{t} = {expr}")
                continue
            if v.aval.ndim and (v in ir.invars or v in written):
                # fresh, C-contiguous: never the caller's array, nor one array for
                # two outputs (a body returning (c, c): writing into one changed both)
                expr = f"_h.copy({expr})"
            written.add(v)
            self.emit(f"{t} = {_typed(expr, v.aval)}")
        return targets

    def _write_row(self, v, row):
        """Write array `v` into the row `row` ("ys[i", index still open) of a stacked
        output element by element: no copy of a view, and no `ys[i] = arr`, whose Numba
        lowering compiles a shape-error formatter per kernel (~0.3 s each)."""
        if not isinstance(v, Literal):
            self.need(v)
        idx, indent = self.loop_nest(v.aval.shape, None)
        self.emit(f"{row}, {', '.join(idx)}] = {self.read(v, idx)}", None, indent)


def _typed(expr, aval):
    """`expr` pinned to aval's type when 0-d (one Numba type across assignments)."""
    if aval.ndim or expr.startswith(L.DT[aval.dtype] + "("):
        return expr
    return f"{L.DT[aval.dtype]}({expr})"


def _operand(cg, a, e):
    """Expression of an operand of a control flow equation, read outside the loop."""
    if isinstance(a, Literal):
        return _typed(L.literal(a.val, a.aval.dtype), a.aval)
    return cg.materialize(a, e)


def _foreign(cg, a):
    """Does `a` come from outside this (sub-)IR, with a layout the code does not know?
    (Arrays the kernel makes itself are C-contiguous.)"""
    return a in cg.ir.invars or a in cg.ir.constvars


def _carry_init(cg, a, e):
    expr = _operand(cg, a, e)
    if a.aval.ndim:  # the loop variable owns a C-contiguous array (no output aliases init)
        return f"_h.copy({expr})"
    return _typed(expr, a.aval)


def _put(cg, item):
    """Replay a line of a nested sub-IR into `cg` (the kernel, or a sub-IR's buffer)."""
    if isinstance(cg, _Nested):
        cg.put(item)
    else:
        cg.emit(item[0], item[1], item[2])


def _loop(cg, e, header, bodies):
    """Emit `header` and under it `bodies`, lists of buffered lines
    (text, eqn, indent, hoistable). Allocations of arrays that stay inside
    one iteration move in front of the loop: every iteration rewrites all their
    elements before reading them, and no reference to them outlives the iteration
    (sub-IR outputs are never hoisted; carries and ys rows hold other arrays or
    copies), so one buffer serves all iterations instead of one malloc each."""
    items = [it for part in bodies for it in part]
    for text, eqn, _, hoist in items:
        if hoist:
            _put(cg, (text, eqn, 1, True))
    cg.emit(header, e)
    for it in items:
        if not it[3]:
            _put(cg, it)


def _line(text, e, indent):
    return [(text, e, indent, False)]


def _two_rows(cg, e, buf, carries, avals, i):
    """The scan or while body's lines (`buf` itself if nothing changes) with each
    array carry that is a fresh `_h.empty` of the iteration (number `i`) written
    into row `i & 1` of a (2, ...) buffer allocated before the loop: the new carry
    never overwrites the one the iteration reads, and the loop allocates nothing.
    Only where every array carry is fresh (an allocation or a copy): a carry that
    could be a view of another iteration's array keeps the per-iteration allocation
    of all of them. The buffer is allocated in front of
    this loop, never hoisted further (an enclosing loop may keep the final carry)."""
    rows, allocs = {}, []
    for c, aval in zip(carries, avals):
        if not aval.ndim:
            continue
        assigned = next((it for it in buf if it[0].startswith(f"{c} = ")), None)
        if assigned is None:
            return buf
        expr = assigned[0][len(c) + 3:]
        if expr.startswith(("_h.copy(", "_h.full(")):
            continue
        made = next((k for k, it in enumerate(buf) if it[0].startswith(f"{expr} = _h.")
                     and it[2] == assigned[2] and not it[3]), None)
        if made is not None and buf[made][0].startswith(f"{expr} = _h.full("):
            continue
        m = _ALLOC.match(buf[made][0]) if made is not None else None
        if m is None or m.group(1) != expr:
            return buf  # a view, or something this does not know: keep the allocations
        if made not in rows:
            b = cg.fresh(expr + "_rows")
            allocs.append(f"{b} = _h.empty((2, {m.group(2).rstrip(',')}), {m.group(3)})")
            rows[made] = (f"{expr} = {b}[{i} & 1]",) + buf[made][1:]
    if not rows:
        return buf
    for text in allocs:
        _put(cg, (text, e, 1, False))
    return [rows.get(k, it) for k, it in enumerate(buf)]


def _cond(cg, e):
    pred, *ops = e.inputs
    false_ir, true_ir = e.params["branches"]
    args = [_operand(cg, a, e) for a in ops]
    p = _operand(cg, pred, e)
    targets = [cg.name(v) for v in e.outputs]
    for head, note, ir in ((f"if {p}:", "# true branch", true_ir),
                           ("else:", "# false branch", false_ir)):
        branch = _Nested(cg, ir, 1)
        branch.run_into(args, targets)
        cg.emit(head, e)
        cg.emit(note, e, 2)
        for it in branch.buf:  # allocations stay flagged: an enclosing loop may hoist them
            _put(cg, it)


def _while(cg, e):
    cn, bn = e.params["cond_nconsts"], e.params["body_nconsts"]
    cconsts = [_operand(cg, a, e) for a in e.inputs[:cn]]
    bconsts = [_operand(cg, a, e) for a in e.inputs[cn:cn + bn]]
    init = e.inputs[cn + bn:]
    carries = [cg.fresh("c") for _ in init]
    for c, a in zip(carries, init):
        cg.emit(f"{c} = {_carry_init(cg, a, e)}", e)
    p = cg.fresh("p")
    test = _Nested(cg, e.params["cond"], 1)
    test.run_into(cconsts + carries, [p])
    body = _Nested(cg, e.params["body"], 1)
    body.run_into(bconsts + carries, carries)
    k = cg.fresh("k")  # iterations done: the row of _two_rows this one writes
    lines = _two_rows(cg, e, body.buf, carries, [a.aval for a in init], k)
    if lines is not body.buf:
        cg.emit(f"{k} = 0", e)
        lines = lines + _line(f"{k} += 1", e, 2)
    _loop(cg, e, "while True:", [_line("# loop condition", e, 2), test.buf,
                                 _line(f"if not {p}:", e, 2), _line("break", e, 3),
                                 _line("# loop body", e, 2), lines])
    for v, c in zip(e.outputs, carries):
        cg.emit(f"{cg.name(v)} = {c}", e)


def _scan(cg, e):
    p = e.params
    n, nc, nk = p["length"], p["num_consts"], p["num_carry"]
    consts = [_operand(cg, a, e) for a in e.inputs[:nc]]
    init = e.inputs[nc:nc + nk]
    xs = e.inputs[nc + nk:]
    carries = [cg.fresh("c") for _ in init]
    for c, a in zip(carries, init):
        cg.emit(f"{c} = {_carry_init(cg, a, e)}", e)
    xnames = []
    for a in xs:
        nm = _operand(cg, a, e)
        if a.aval.ndim >= 2 and _foreign(cg, a):  # slices are arrays: read them from a C array
            t = cg.fresh("xs")
            cg.emit(f"{t} = _h.contiguous({nm})", e)
            nm = t
        xnames.append(nm)
    ys = e.outputs[nk:]
    for v in ys:
        cg.emit(f"{cg.name(v)} = _h.empty({tuple(v.aval.shape)}, {L.DT[v.aval.dtype]})", e)
    i = cg.fresh("i")
    rng = f"range({n} - 1, -1, -1)" if p["reverse"] else f"range({n})"
    slices = [f"{x}[{i}]" for x in xnames]
    rows = [f"{cg.name(v)}[{i}]" for v in ys]
    body = _Nested(cg, p["body"], 1)
    body.run_into(consts + carries + slices, carries + rows)
    _loop(cg, e, f"for {i} in {rng}:",
          [_two_rows(cg, e, body.buf, carries, [a.aval for a in init], i)])
    for v, c in zip(e.outputs[:nk], carries):
        cg.emit(f"{cg.name(v)} = {c}", e)


CALLS[CF.cond_p] = _cond
CALLS[CF.while_p] = _while
CALLS[CF.scan_p] = _scan


def comment_header(cg, eqn):
    """One-line comment for a control flow equation (its sub-IRs follow as code)."""
    outs = " ".join(f"{cg.name(v)}:{v.aval.str_short()}" for v in eqn.outputs)
    params = ", ".join(f"{k}={v}" for k, v in sorted(eqn.params.items())
                       if k not in ("branches", "cond", "body"))
    ins = " ".join(cg.pctx.use(a) for a in eqn.inputs)
    return f"{outs} = {eqn.prim.name}[{params}] {ins}"


for _p in CONTROL_FLOW:
    COMMENT_HEADERS[_p] = comment_header
