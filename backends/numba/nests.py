"""The loop nests of the numba backend's code generator (codegen.py): a closed
group's buffered lines (`Nest`), consecutive nests sharing their outer loops
(`Chain`), reads hoisted out of a nest's innermost loop (`Hoist`), and whether
a nest's outer loop is a map that may run as prange (`outer_map`).
"""
from __future__ import annotations

import re


class Nest:
    """The buffered lines of one closed group's loop nest: `lines` as
    (text, eqn, indent); `headers` the positions of its `for` lines, of which
    the first `share` may be shared with neighbouring nests."""

    def __init__(self, lines, headers, share, written, reads, lane):
        self.lines, self.headers, self.written, self.reads, self.lane = (
            lines, headers, written, reads, lane)
        # the shareable headers must directly follow one another
        n = 0
        while n < share and headers[n] == headers[0] + n:
            n += 1
        self.share = n if headers else 0
        self.map = False       # its outer loop is a map (outer_map)
        self.wish = False      # ... that should run as prange (parallel, PARALLEL_MIN)


class Chain:
    """Consecutive nests under one shared outer loop: each nest's inner loops run
    in turn inside it. Fewer loops for LLVM to optimize (compile time) with the same
    work per element. A nest joins only if every value it reads from the chain is
    final within the same outer iteration (read at the outer indices it was written
    at), and never into the same innermost loop as a nest of another lane (a loop of
    libm calls would stop vectorizing the other's). A nest with vecmath calls whose
    loops would all be shared stays out of chains with inner loops: in the outer
    loop's body its math runs scalar, slower than libm (seed_jacfwd's tanh and
    sin/cos over 2000 rows: 92 -> 202 us per call). Sibling nests with equal inner
    loops keep them apart: merging the logsumexp gradient's tie count and sum of exp
    into one inner loop saved ~3% of its compile time but cost ~4% per call."""

    def __init__(self, nest):
        k = nest.share
        h0 = nest.headers[0]
        self.shared = nest.lines[h0:h0 + k]
        self.head = []
        self.members = []
        self.interlude = []   # comments emitted since the last nest joined: after the loop
        self.before = []      # comments emitted before a nest that joined: before the loop
        self.written = {}
        self.inner_lanes = set()
        self.reads = []
        self.member_ids = set()
        self.row_values = set()
        self.flat_vector_math = False   # a nest sharing all its loops calls vecmath
        self.deep = False               # a nest has loops inside the shared ones
        self.maps = nest.map            # every nest's outer loop is a map
        self.parallel = nest.wish       # the shared outer loop runs as prange
        self._add(nest, k)

    def admit(self, nest):
        k = len(self.shared)
        if nest.share < k:
            return False
        h0 = nest.headers[0]
        if [(t, i) for t, _, i in nest.lines[h0:h0 + k]] != [(t, i) for t, _, i in self.shared]:
            return False
        if any(i <= k for _, _, i in nest.lines[h0 + k:]):
            return False
        flat = len(nest.headers) == k    # its body would be the outer loop's body
        lanes = self.inner_lanes | ({nest.lane} if flat else set())
        if len(lanes) > 1:
            return False
        if (self.flat_vector_math and not flat) or (flat and nest.vector_math and self.deep):
            return False
        if (nest.wish and not self.maps) or (self.parallel and not nest.map):
            return False  # a prange loop holds only maps
        outer = {t.split()[1] for t, _, _ in self.shared}  # the shared loops' index names
        for v, ridx in nest.reads:
            w = self.written.get(v)
            if w is None:
                continue
            widx, red = w
            if widx is None or ridx is None or outer & set(red):
                return False
            if any(wi in outer and ri != wi for wi, ri in zip(widx, ridx)):
                return False
        self.before += self.interlude
        self.interlude = []
        self.maps &= nest.map
        self.parallel |= nest.wish
        self._add(nest, k)
        return True

    def _add(self, nest, k):
        h0 = nest.headers[0]
        head, notes = self._split_head(nest.lines[:h0], k)
        self.head += head
        self.members.append(notes + nest.lines[h0 + k:])  # its lines inside the shared loops
        self.written.update(nest.written)
        self.reads += nest.reads
        self.member_ids |= nest.member_ids
        self.row_values |= nest.row_values
        if len(nest.headers) == k:
            self.inner_lanes.add(nest.lane)
            self.flat_vector_math |= nest.vector_math
        else:
            self.deep = True

    def scalarize(self, cg):
        """Values of one element per outer iteration (a row's max, sum, ...) that
        only this chain reads, in the iteration that writes them, become scalar
        locals: no array allocated (each allocation is compile time too)."""
        outer = {t.split()[1] for t, _, _ in self.shared}
        subst = {}
        for v in self.row_values:
            widx, _ = self.written[v]
            if widx is None or not all(i in outer or i == "0" for i in widx):
                continue
            if any(r != widx for x, r in self.reads if x is v):
                continue
            if not cg.read_only_by(v, self.member_ids):
                continue
            subst[f"{cg.name(v)}[{', '.join(widx)}]"] = (cg.name(v), cg.name(v) + "_row")
        if not subst:
            return
        allocs = {nm + " = _h.empty(" for nm, _ in subst.values()}
        self.head = [x for x in self.head if not any(x[0].startswith(a) for a in allocs)]
        pat = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in subst) + ")")

        def sub(lines):
            return [(t if t.startswith("#") else pat.sub(lambda m: subst[m.group(1)][1], t), e, i)
                    for t, e, i in lines]

        self.members = [sub(m) for m in self.members]

    @staticmethod
    def _split_head(lines, k):
        """(allocations, the nest's comments moved inside the shared loops)."""
        return ([x for x in lines if not x[0].startswith("#")],
                [(t, e, k + 1) for t, e, _ in lines if t.startswith("#")])

    def lines(self):
        shared = self.shared
        if self.parallel:
            (text, eqn, indent), *rest = shared
            shared = [(text.replace(" in range(", " in _prange(", 1), eqn, indent)] + rest
        out = self.head + self.before + shared
        for m in self.members:
            out += m
        return out + self.interlude


class Hoist:
    """Reads the innermost loop of a nest does not change (a broadcast column, a
    row's clamped neighbour) are computed before that loop, at buffer position
    `pos`: LLVM would not hoist them itself, as it cannot prove that the loop's
    stores leave the arrays read unchanged (Rosenbrock's banded Hessian: 5.5 ->
    4.1 us per call). `index` matches the innermost index; `names` are the
    locals hoisted so far (a recomputed value of only those is hoisted too)."""

    def __init__(self, lines, pos, index):
        self.lines, self.pos, self.index = lines, pos, index
        self.indent = lines[pos][2]  # that of the innermost loop's header
        self.names = set()
        self.exprs = {}

    def put(self, text, eqn, name):
        self.lines.insert(self.pos, (text, eqn, self.indent))
        self.pos += 1
        self.names.add(name)

    def local(self, cg, expr):
        """A hoisted local holding `expr` (one per distinct expression)."""
        nm = self.exprs.get(expr)
        if nm is None:
            nm = self.exprs[expr] = cg.fresh("inv")
            self.put(f"{nm} = {expr}", None, nm)
        return nm


def outer_map(shape, order, axes, reductions):
    """Does every iteration of a nest's outer loop write elements of its own, with
    no value carried over to the next? Then its iterations may run in any order, on
    any thread (prange). Not so where a reduction spans the outer loop: a full sum,
    a column sum. (Stored values are written at every loop's index; the trig guard's
    count is a reduction Numba's parallel loops support.)"""
    looped = [d for d in order if shape[d] != 1]
    return bool(looped) and looped[0] not in axes and all(
        e.outputs[0].aval.ndim for e in reductions)
