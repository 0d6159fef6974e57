"""IR -> Python source of one Numba kernel, with loop fusion.

The kernel is one function `kernel(<invars>, <constvars>)` returning a tuple of
outputs (0-d values travel as scalars; a guarded kernel's flag last, trig.py);
a diagonal constant that only loops read is an index compare instead of an
argument (readers.diagonal).
Equations are sorted into three kinds:

* **fused**: elementwise equations and reductions. Equations over the same
  iteration space (the output shape of an elementwise op, the input shape of a
  reduction) join one open *fusion group*; a group becomes one loop nest whose
  body computes every member as a scalar local. Only values used outside the
  group (or returned) are stored to arrays; reductions accumulate in scalars
  (when the reduced axes are trailing) or in their output array.
* **virtual**: layout ops (broadcast_in_dim, transpose, reshape, slice, rev,
  pad, gather, concatenate) and iota emit no code; they become index arithmetic
  at the point where a loop reads them (their rules: readers.py), so
  `x * y.T + b[None, :]` is one loop reading three arrays with three index
  expressions.
* **calls**: dot_general (a BLAS gemm through the `_h.dot_into` intrinsic,
  which also takes a literal scaling or a sum of two products; loops for
  integers and tiny products), scatter_add, cumsum and argmax/argmin call small
  njit helpers (helpers.py) on contiguous reshaped views; their rules are in
  calls.py, those of cond/while/scan (nested code in the same kernel) in
  control_flow.py. Allocation, views and selects are intrinsics too
  (intrinsics.py): Numba re-optimizes a called njit helper's body in every
  kernel, an intrinsic costs a few instructions.

* **chains**: consecutive nests whose outer loops agree share them (`Chain`):
  a row's max, the sum of exp(x - max) and the gradient row run as inner loops
  of one row loop, when every value a nest reads from the chain is final in the
  same outer iteration. Per-row values only the chain reads become scalars.
* **inside a nest**: reads the innermost loop does not change are computed before
  it (`Hoist`), and a 2-d loop whose stored values are banded (band.py)
  computes each row's band and copies one element to the rest of the row
  (`band_plan`). Both for the kernel's top-level loops; those of control-flow
  bodies keep every read inside and every column.
* **parallel** (`pb.jit(f, parallel=True)`): a nest of at least PARALLEL_MIN
  elements whose outer loop is a map (`outer_map`: every iteration writes its
  own elements, no accumulator spans iterations) runs that loop as `_prange`
  (numba.prange), also inside control-flow bodies; a chain's shared loop is a
  prange when one of its nests is that big and all are maps. A top-level nest
  whose reductions span its outer loop accumulates blocks in a prange loop
  (`parallel_blocks`).
* **after generation**: the clamps, bounds checks and input reads the readers
  repeat, or that a loop does not change, are bound to one local each
  (subexpr.py, a pass over the source lines, also into control-flow bodies).

A group is emitted ("closed") when something outside it needs one of its values:
by then every member is known, so exactly the values with an outside consumer
are stored. That keeps the program order valid: a value is always emitted before
its first outside use. Each IR equation appears as a comment above its code.
"""
from __future__ import annotations

import keyword
import re
from collections import defaultdict

import numpy as np

from ...ir import primitives as P
from ...ir.core import Literal, Var
from ...ir.printer import _Ctx, _pp, _pp_eqn
from . import lowering as L
from .readers import atomic, diagonal, readers
from .band import Band, band_hulls, union
from .nests import Chain, Hoist, Nest, outer_map
from .subexpr import share_subexpressions
from .trig import TrigGuard, magnitude_bound
from .vecmath import TRIG_MEDIUM

VIRTUAL = set(readers)  # layout ops read through index arithmetic (readers.py)
# a larger concatenation is copied out once (one loop nest) instead of being read
# through a branch per element by every loop that uses it
CONCAT_VIEW_MAX = 256
# a concatenation of more parts is written part by part, one copy loop each (as a
# view, every element would test its index against every part: nested selects, too
# deep for Python's parser at ~200 parts)
CONCAT_PARTS_MAX = 16
# ... and so is one of at least this many elements: read through index arithmetic,
# each element selected its part (every part loaded, clamped, and no vector loop:
# np.concatenate([a, a * 2, a + 1]) of 10^6 took 2.3x NumPy's time)
CONCAT_BY_PARTS_SIZE = 1 << 14
# a view whose element reads more than this many source elements (chains of rolls,
# hstacks) is copied out once
VIEW_READS_MAX = 16
REDUCE = {P.reduce_sum_p, P.reduce_prod_p, P.reduce_max_p, P.reduce_min_p}
# elementwise ops lowered to scalar libm calls (no vector form), and the ops the
# vectorizable kernels of vecmath.py implement (name there)
LIBM_CALLS = {P.tan_p, P.asin_p, P.acos_p, P.atan_p, P.sinh_p, P.cosh_p,
              P.asinh_p, P.acosh_p, P.atanh_p, P.erf_p, P.atan2_p, P.hypot_p, P.pow_p, P.cbrt_p,
              P.lgamma_p, P.digamma_p, P.polygamma_p}
VECMATH_PRIMS = {P.exp_p: "exp", P.log_p: "log", P.log1p_p: "log1p", P.expm1_p: "expm1",
                 P.tanh_p: "tanh", P.logistic_p: "logistic", P.sin_p: "sin", P.cos_p: "cos"}
# Fewer elements than this call libm's scalar functions instead of vecmath's:
# SIMD gains nothing there, and each inlined vecmath kernel costs Numba 10-20 ms
# of compile time (measured on grad(sin) at a scalar: 38 -> 60 ms with vecmath's cos).
VECMATH_MIN = 16
LANE_SPLIT_MIN = 1024   # elements (Lane split: see Codegen.lane)
LANE_SPLIT_MAX = 16384  # elements (128 KiB of float64: glibc's default mmap threshold)
BLAS_MIN_FLOPS = 512  # below this many multiply-adds, loops beat a BLAS call
# Float sums of more than SUM_BLOCK elements add each run of the innermost loop (at
# most SUM_BLOCK long, at least SUM_RUN_MIN) into a partial sum of its own, then the
# partials into the total. One accumulator over all of them (LLVM's vector lanes)
# errs by ~n/32 additions: 10^7 values of 0.1 summed to 999999.9999944, against
# NumPy's pairwise 1000000.0; in blocks ~B/32 + n/B: 999999.99999999 (see
# Codegen.sum_runs).
SUM_BLOCK = 8192
SUM_RUN_MIN = 64
# pb.jit(..., parallel=True): a loop nest of at least this many elements runs its
# outer loop as numba.prange, when that loop is a map (see nests.outer_map).
# Below it, starting the threads (~10-20 us) eats the gain.
PARALLEL_MIN = 1 << 16
PARALLEL_BLOCK = 1 << 14  # elements per block of a parallel full reduction (parallel_blocks)
# elementwise ops cheap enough to recompute in a consuming loop rather than store
# (see Codegen.defer_cheap); transcendental ones are stored
DEFER_CHEAP = {P.add_p, P.sub_p, P.mul_p, P.neg_p, P.div_p, P.convert_element_type_p,
               P.max_p, P.min_p, P.abs_p, P.select_p, P.eq_p, P.ne_p, P.lt_p, P.le_p,
               P.gt_p, P.ge_p}
DEFER_MAX_OPS = 6  # at most this many ops recomputed per element for one deferred value
# read through layout views, a deferred value is one nested expression: only ops whose
# lowering names each operand once, so the expression grows linearly
DEFER_LINEAR = {P.add_p, P.sub_p, P.mul_p, P.neg_p}
VIEW_THROUGH = {P.broadcast_in_dim_p, P.transpose_p, P.reshape_p, P.slice_p, P.rev_p, P.pad_p}


class LoweringError(NotImplementedError):
    pass


def _bitwise_uniform(val):
    """One value everywhere, bit for bit (0.0 and -0.0, or NaNs of two signs, differ)."""
    flat = np.ascontiguousarray(val).reshape(-1)
    bits = flat.view(f"u{flat.dtype.itemsize}")
    return bool((bits == bits[0]).all())


def _prod(xs):
    r = 1
    for x in xs:
        r *= int(x)
    return r


class _Group:
    def __init__(self, key, gid):
        self.key = key
        self.shape, self.lane = key
        self.id = gid
        self.members = []      # eqns, in program order
        self.member_ids = set()
        self.locals = set()    # vars computed in the loop body
        self.red_axes = None   # axes of the group's reductions (all equal)
        self.deps = []         # open groups whose stored values this one reads: emitted first
        self.closed = False


    def add_deps(self, groups):
        for h in groups:
            if h is not self and h not in self.deps:
                self.deps.append(h)


def _depends(h, g, seen=None):
    """Does open group `h` (transitively) read values of group `g`?"""
    seen = set() if seen is None else seen
    for d in h.deps:
        if d is g or (not d.closed and id(d) not in seen and (seen.add(id(d)) or _depends(d, g, seen))):
            return True
    return False


class Codegen:
    def __init__(self, ir, vecmath_names=(), guard_trig=False, parallel=False):
        self.ir = ir
        self.trig_guard = TrigGuard(guard_trig, count=parallel)
        self.parallel = parallel        # may big maps run as prange (PARALLEL_MIN)?
        self.ctx = L.LoweringContext(vecmath_names)
        self.scalar_ctx = L.LoweringContext()  # libm only (VECMATH_MIN)
        pctx = _Ctx()
        _pp(ir, pctx, 0)
        pctx.frozen = True
        self.pctx = pctx
        self.names = {}
        taken = {"np", "math", "numba", "_h", "_vm", "kernel", "range", "min", "max", "abs",
                 "_prange"}
        for v, n in pctx.names.items():
            name = n if not (keyword.iskeyword(n) or n in taken) else n + "_"
            self.names[v] = name
        self.lines = []                 # kernel body (without indentation of the def)
        self.line_eqn = {}              # body line index -> eqn (for error messages)
        self.arrays = set()             # materialized vars (arrays, or scalars when 0-d)
        self.virtual = {}               # var -> reader(idx list) -> expr
        self.group_of = {}              # local var -> its open group
        self.open = {}                  # iteration shape -> open group
        self.ngroups = 0
        self.tmp = 0
        self.consumers = defaultdict(set)
        for e in ir.eqns:
            for a in e.inputs:
                if isinstance(a, Var):
                    self.consumers[a].add(id(e))
        self.returned = {v for v in ir.outvars if isinstance(v, Var)}
        self.cur_loads = None
        self.cur_sincos = None  # operand -> (sin, cos) locals of the loop body (sincos)
        self.eqn_by_id = {id(e): e for e in ir.eqns}
        self.producer = {v: e for e in ir.eqns for v in e.outputs}
        self.bounds = {}  # value -> magnitude_bound
        self.hulls = None  # 2-d value -> its band's hull (band.band_hulls), on first need
        self.const_of = dict(zip(ir.constvars, ir.consts))
        self.const_args = []            # the constvars the kernel takes as arguments (run)
        self.folded = {}                # var -> its value when computable at codegen time
        self.deferred = {}              # var -> its cheap eqn, recomputed where read (not stored)
        self.defer_cost = {}            # deferred var -> ops per element to recompute it
        self.defer_linear = {}          # deferred var -> its recompute expression stays linear
        self.view_sources = {}          # virtual var -> the vars its reader reads
        self.view_reads = {}            # virtual var -> source reads per element read
        self.local_expr = {}            # group local -> the name/literal it copies (no code)
        self.dense_inputs = {}          # kernel input -> its C-contiguous copy (for products)
        self.permuted_copies = {}       # (value, permutation) -> its C-contiguous copy
        self.absorbed = set()           # ids of eqns a BLAS call computes (calls._epilogue)
        self.accumulate_into = {}       # id of a product's eqn -> the array its gemm adds to
        self._capture = None            # close(): the nest's lines, buffered (see Chain)
        self.hoist = None               # close(): where reads invariant in the innermost loop go
        self.read_log = None            # close(): (var, index exprs) of each array read
        self.pending = None             # the last nest(s), not yet emitted: later ones may share its outer loops

    # ------------------------------------------------------------ helpers
    def name(self, v):
        return self.names[v]

    def fresh(self, base="t"):
        self.tmp += 1
        return f"_{base}{self.tmp}"

    def emit(self, text, eqn=None, indent=1):
        if self._capture is not None:
            self._capture.append((text, eqn, indent))
            return
        if self.pending is not None:
            if text.startswith("#"):  # comments (views, deferred groups) do not end a chain
                self.pending.interlude.append((text, eqn, indent))
                return
            self.flush()
        self._put(text, eqn, indent)

    def _put(self, text, eqn, indent):
        self.line_eqn[len(self.lines)] = eqn
        self.lines.append("    " * indent + text)

    def flush(self):
        """Emit the pending chain of nests (one shared outer loop)."""
        c, self.pending = self.pending, None
        if c is not None:
            c.scalarize(self)
            for item in c.lines():
                self._put(*item)

    def comment(self, eqn, indent=1):
        header = COMMENT_HEADERS.get(eqn.prim)  # control flow: its sub-IRs follow as code
        text = header(self, eqn) if header else _pp_eqn(eqn, self.pctx, 0)
        # a file name may hold line breaks (exec of code compiled as "my\nfile.py")
        src = (f"  [{' '.join(str(eqn.source).splitlines())}]" if eqn.source is not None
               else "")
        for i, line in enumerate(text.splitlines()):
            self.emit("# " + line + (src if i == 0 else ""), eqn, indent)

    # ------------------------------------------------------------ reading values
    def read(self, a, idx, group=None, indent=None):
        """Expression of element `idx` (list of index exprs) of atom `a`."""
        if isinstance(a, Literal):
            return L.literal(a.val, a.aval.dtype)
        if group is not None and a in group.locals:
            return self.local_expr.get(a) or self.name(a) + "_"
        if a in self.virtual:
            expr = self.virtual[a](idx)
            h = self.hoist
            if (h is not None and "[" in expr and not h.index.search(expr)
                    and self.producer[a].prim is P.broadcast_in_dim_p):
                return h.local(self, expr)  # a broadcast column: one read per row
            return expr
        if a in self.arrays:
            if self.read_log is not None:
                self.read_log.append((a, tuple(idx) if a.aval.ndim else None))
            if a.aval.ndim == 0:
                return self.name(a)
            return f"{self.name(a)}[{', '.join(idx)}]"
        raise AssertionError(f"value {self.name(a)} read before it is defined")

    def need(self, a):
        """Make sure `a` can be read from outside any group (close its group; for a
        view, the groups of the values it reads)."""
        todo, seen = [a], set()  # views share sources (a roll reads one value twice):
        while todo:              # each is visited once, not once per path
            a = todo.pop()
            if not isinstance(a, Var) or a in seen:
                continue
            seen.add(a)
            if a in self.group_of:
                self.close(self.group_of[a])
            elif a in self.virtual:
                todo.extend(reversed(self.view_sources.get(a, ())))

    def materialize(self, a, eqn=None):
        """A name holding `a` as an array (or scalar when 0-d)."""
        if isinstance(a, Literal):
            return L.literal(a.val, a.aval.dtype)
        self.need(a)
        if a in self.arrays:
            return self.name(a)
        # virtual: copy it out with one loop nest
        shape = a.aval.shape
        nm = self.name(a)
        val = self.known_value(a) if shape else None
        if not shape:
            self.emit(f"{nm} = {self.read(a, [])}", eqn)
        elif val is not None and val.size and _bitwise_uniform(val):
            # one value everywhere (a broadcast constant): filled by the cached helper
            self.emit(f"{nm} = _h.full({tuple(shape)}, {L.literal(val.flat[0], a.aval.dtype)}, "
                      f"{L.DT[a.aval.dtype]})", eqn)
        else:
            self.copy_loop(nm, shape, a.aval.dtype, lambda idx: self.read(a, idx), eqn)
        self.arrays.add(a)
        del self.virtual[a]
        return nm

    def concatenate_by_parts(self, e):
        """Emit concatenation `e` as a fresh array written one part at a time."""
        (v,) = e.outputs
        d = e.params["dimension"]
        nm = self.name(v)
        self.emit(f"{nm} = _h.empty({tuple(v.aval.shape)}, {L.DT[v.aval.dtype]})", e)
        start = 0
        for a in e.inputs:
            n = a.aval.shape[d]
            if n:
                self.need(a)
                idx, indent = self.loop_nest(a.aval.shape, e)
                at = list(idx)
                at[d] = f"{idx[d]} + {start}" if start else idx[d]
                self.emit(f"{nm}[{', '.join(at)}] = {self.read(a, idx)}", e, indent)
            start += n
        self.arrays.add(v)

    def copy_loop(self, out, shape, dtype, read, eqn):
        """Emit `out = <fresh C array of shape>` filled by `read(idx)` with one loop nest.
        (Numba compiles `arr.transpose(axes)` very slowly, so layouts are copied here.)"""
        self.emit(f"{out} = _h.empty({tuple(shape)}, {L.DT[np.dtype(dtype)]})", eqn)
        idx, indent = self.loop_nest(shape, eqn)
        self.emit(f"{out}[{', '.join(idx)}] = {read(idx)}", eqn, indent)

    def loop_nest(self, shape, eqn, indent=1):
        """Emit `for` lines over `shape` (none for unit axes: their index is 0);
        returns the index expressions and the body's indentation."""
        idx = []
        for k, n in enumerate(shape):
            if n == 1:
                idx.append("0")
            else:
                idx.append(f"i{k}")
                self.emit(f"for i{k} in range({n}):", eqn, indent)
                indent += 1
        return idx, indent

    def permuted(self, a, perm, eqn):
        """A C-contiguous array holding transpose(a, perm) (a may be virtual), copied
        once per body: values never change, so later products reuse the copy."""
        key = (a, tuple(perm))
        out = self.permuted_copies.get(key)
        if out is not None:
            return out
        self.need(a)
        shape = [a.aval.shape[p] for p in perm]
        out = self.permuted_copies[key] = self.fresh("tr")

        def read(idx):
            src = [None] * len(perm)
            for k, q in enumerate(perm):
                src[q] = idx[k]
            return self.read(a, src)

        self.copy_loop(out, shape, a.aval.dtype, read, eqn)
        return out

    def contiguous(self, a, eqn):
        """A C-contiguous array expression of `a` (ndim >= 1)."""
        nm = self.materialize(a, eqn)
        if a.aval.ndim == 0:
            return f"_h.full((1,), {nm}, {L.DT[a.aval.dtype]})"
        return f"_h.contiguous({nm})"

    # ------------------------------------------------------------ groups
    def close(self, g):
        if g.closed:
            return
        g.closed = True
        if self.open.get(g.key) is g:
            del self.open[g.key]
        for h in g.deps:  # the loops whose stored values this one reads come first
            self.close(h)
        for v in [v for v, h in self.group_of.items() if h is g]:
            del self.group_of[v]
        stored = []
        for e in g.members:
            if e.prim in REDUCE:
                continue
            for v in e.outputs:
                if v in self.returned or any(c not in g.member_ids for c in self.consumers[v]):
                    stored.append(v)
        stored = self.defer_cheap(g, stored)
        reductions = [e for e in g.members if e.prim in REDUCE]
        live = self._live(g, stored, reductions)
        if not stored and not reductions:  # every value is recomputed where it is used
            self.emit(f"# fused loop over {list(g.shape)}: no code, its "
                      f"{len(g.members)} equation(s) are recomputed where used", None)
            for e in g.members:
                self.comment(e)
            return
        band = self.band_plan(g, stored, reductions)
        shape = g.shape
        nd = len(shape)
        axes = g.red_axes or ()
        trailing = tuple(axes) == tuple(range(nd - len(axes), nd))
        kept_dims = [d for d in range(nd) if d not in axes]
        order = kept_dims + list(axes) if trailing else list(range(nd))
        # nested sub-IRs emit their nests as they come (no chains)
        cap = self._capture = [] if type(self) is Codegen else None
        self.read_log = [] if cap is not None else None
        headers = []  # positions in cap of the `for` lines, in order
        self.emit(f"# fused loop over {list(shape)}" + (f", reducing axes {list(axes)}" if axes else "")
                  + f": {len(g.members)} equation(s)", None)
        is_map = outer_map(shape, order, axes, reductions)
        # the dtype of each reduction's accumulators: L.acc_dtype's where a reduced axis
        # is looped over; with unit axes alone (no loop: one addition to zero, exact) its
        # own, as the value may then be read in the same loop
        looped = any(shape[d] != 1 for d in axes)
        wide_of = {id(e): L.acc_dtype(e.prim, e.outputs[0].aval.dtype) if looped
                   else e.outputs[0].aval.dtype for e in reductions}
        blocks = self.parallel_blocks(g, is_map, reductions, cap)
        for v in stored:
            if v.aval.ndim:
                self.emit(f"{self.name(v)} = _h.empty({tuple(shape)}, {L.DT[v.aval.dtype]})")
        for e in reductions:
            (v,) = e.outputs
            dt = L.DT[v.aval.dtype]
            if v.aval.ndim and not trailing:
                # an array of accumulators in the accumulator dtype (float32 sums add
                # up in float64: one rounding at the end, as scalar accumulators)
                wide = wide_of[id(e)]
                adt = L.DT[wide]
                if blocks is None:
                    self.emit(f"{self.col_acc(v, wide)} = _h.full({tuple(v.aval.shape)}, "
                              f"{L.reduce_init(e.prim, wide)}, {adt})")
                else:  # a row of partial results per block
                    part_shape = (blocks[2],) + tuple(v.aval.shape)
                    self.emit(f"{self.name(v)}_part = _h.full({part_shape}, "
                              f"{L.reduce_init(e.prim, wide)}, {adt})")
            elif v.aval.ndim:
                self.emit(f"{self.name(v)} = _h.empty({tuple(v.aval.shape)}, {dt})")
            if trailing and blocks is not None:
                part_dt = L.DT[L.acc_dtype(e.prim, v.aval.dtype)]
                self.emit(f"{self.acc(e)}_part = _h.empty(({blocks[2]},), {part_dt})", e)
        idx = [f"i{d}" if shape[d] != 1 else "0" for d in range(nd)]  # unit axes: no loop
        kept_idx = [idx[d] for d in kept_dims]
        runs = [] if blocks is not None or band or not trailing else [
            e for e in reductions if e.prim is P.reduce_sum_p
            and np.dtype(L.acc_dtype(e.prim, e.outputs[0].aval.dtype)).kind == "f"]
        if runs and not (order and shape[order[-1]] >= SUM_RUN_MIN
                         and _prod(shape[d] for d in axes) > SUM_BLOCK):
            runs = []
        indent = 1
        wish = self.parallel and _prod(shape) >= PARALLEL_MIN and is_map
        # a top-level nest's loop becomes a prange when its chain is emitted (Chain)
        loop = "_prange" if wish and cap is None else "range"
        if blocks is not None:  # the accumulators start anew in each block
            blk, rows, n_blocks = blocks
            self.emit(f"for {blk} in _prange({n_blocks}):", None, indent)
            indent += 1
        for depth, d in enumerate(order):
            if trailing and depth == len(kept_dims):
                for e in reductions:
                    self.emit(f"{self.acc(e)} = {self.acc_init(e)}", e, indent)
            if shape[d] == 1:
                continue
            if blocks is not None and not headers:  # the block's rows
                # counted from 0, from a clamped base: LLVM vectorizes the loop only
                # where it can tell the index is not negative (Numba wraps negative
                # indices around); it cannot for a prange index or range(start, stop)
                base = self.fresh("base")
                self.emit(f"{base} = _h.clamp({blk} * {rows}, {shape[d] - 1})", None, indent)
                headers.append((len(cap), d))
                self.emit(f"for {base}_r in range(min({rows}, {shape[d]} - {base})):", None, indent)
                self.emit(f"i{d} = {base} + {base}_r", None, indent + 1)
                indent += 1
                continue
            if cap is not None:
                headers.append((len(cap), d))
            extent = shape[d]
            if band and d == 1:
                for nm, expr in (band.first, band.end):
                    self.emit(f"{nm} = {expr}", None, indent)
                extent = f"{band.first[0]}, {band.end[0]}"
            if runs and d == order[-1]:
                run_indent = indent = self.sum_runs(runs, d, shape[d], indent, headers, cap)
                indent += 1
                continue
            self.emit(f"for i{d} in {loop}({extent}):", None, indent)
            loop = "range"  # the inner loops
            indent += 1
        if trailing and len(order) == len(kept_dims):  # nothing reduced inside loops
            for e in reductions:
                self.emit(f"{self.acc(e)} = {self.acc_init(e)}", e, indent)
        if len(headers) >= 2:  # reads the innermost index does not change go before its loop
            pos, d = headers[-1]
            self.hoist = Hoist(cap, pos, re.compile(rf"\bi{d}\b"))
        self.cur_loads = {}
        self.cur_sincos = {}
        for e in g.members:
            self.comment(e, indent)
            if e.prim not in REDUCE and not any(v in live for v in e.outputs):
                # every use recomputes it (deferred) or reads it elsewhere: no code here
                self.emit("#   (not needed in this loop)", e, indent)
                continue
            if e.prim in REDUCE:
                (x,) = e.inputs
                xv = self.load(x, idx, g, indent, e)
                (v,) = e.outputs
                if trailing:
                    acc = self.acc(e) + ("_run" if e in runs else "")
                    self.emit(f"{acc} = {L.reduce_update(e.prim, v.aval.dtype, acc, xv)}", e, indent)
                else:
                    wide = wide_of[id(e)]
                    row = (f"{self.name(v)}_part[{blk}, " if blocks is not None
                           else f"{self.col_acc(v, wide)}[")
                    tgt = f"{row}{', '.join(kept_idx)}]" if v.aval.ndim else self.acc(e)
                    self.emit(f"{tgt} = {L.reduce_update(e.prim, v.aval.dtype, tgt, xv)}", e, indent)
                continue
            self.elementwise(e, idx, g, indent)
        if self.hoist is not None:
            headers[-1] = (self.hoist.pos, headers[-1][1])
            self.hoist = None
        for v in stored:
            if v.aval.ndim:
                self.emit(f"{self.name(v)}[{', '.join(idx)}] = {self.read(v, idx, g)}", None, indent)
        for e in runs:  # the run's partial sum into the total
            acc = self.acc(e)
            self.emit(f"{acc} = {L.reduce_update(e.prim, e.outputs[0].aval.dtype, acc, acc + '_run')}",
                      e, run_indent)
        if band:  # the rest of the row: copies of the column beside the band
            for v in stored:
                self.emit(f"_h.fill_outside({self.name(v)}, i0, {band.first[0]}, {band.end[0]}, "
                          f"{band.lo})", None, indent - 1)
        self.cur_loads = None
        result = {id(e): self.acc(e) for e in reductions}  # the name of each final value
        if blocks is not None and not trailing:  # the blocks' rows, reduced in turn
            for e in reductions:
                (v,) = e.outputs
                out = v.aval.shape
                wide = wide_of[id(e)]
                acc = self.col_acc(v, wide)
                self.emit(f"{acc} = _h.full({tuple(out)}, "
                          f"{L.reduce_init(e.prim, wide)}, {L.DT[wide]})", e, 1)
                self.emit(f"for {blk} in range({n_blocks}):", None, 1)
                ks = [self.fresh("k") for _ in out]
                for depth, (k, n) in enumerate(zip(ks, out)):
                    self.emit(f"for {k} in range({n}):", None, 2 + depth)
                at = ", ".join(ks)
                update = L.reduce_update(e.prim, v.aval.dtype, f"{acc}[{at}]",
                                         f"{self.name(v)}_part[{blk}, {at}]")
                self.emit(f"{acc}[{at}] = {update}", e, 2 + len(out))
        elif blocks is not None:  # each block's partial result, then their reduction in turn
            for e in reductions:
                self.emit(f"{self.acc(e)}_part[{blk}] = {self.acc(e)}", e, 2)
            for e in reductions:  # a name of its own: Numba would take the block
                # accumulator, if used after the prange loop, for a reduction of its own
                result[id(e)] = total = self.acc(e) + "_all"
                self.emit(f"{total} = {self.acc_init(e)}", e, 1)
            self.emit(f"for {blk} in range({n_blocks}):", None, 1)
            for e in reductions:
                total, dt = result[id(e)], e.outputs[0].aval.dtype
                part = f"{self.acc(e)}_part[{blk}]"
                self.emit(f"{total} = {L.reduce_update(e.prim, dt, total, part)}", e, 2)
        if not trailing:  # wide accumulators rounded once into the output
            for e in reductions:
                (v,) = e.outputs
                wide = wide_of[id(e)]
                if v.aval.ndim and wide != v.aval.dtype:
                    self.emit(f"{self.name(v)} = {self.col_acc(v, wide)}.astype("
                              f"{L.DT[v.aval.dtype]})", e, 1)
        if trailing:
            base = 1 + sum(1 for d in kept_dims if shape[d] != 1)
            for e in reductions:
                (v,) = e.outputs
                tgt = f"{self.name(v)}[{', '.join(kept_idx)}]" if v.aval.ndim else self.name(v)
                self.emit(f"{tgt} = {L.cast(result[id(e)], v.aval.dtype)}", e, base)
        for v in stored:
            if not v.aval.ndim:
                self.emit(f"{self.name(v)} = {self.read(v, [], g)}", None, 1)
        self.arrays.update(stored)
        self.arrays.update(e.outputs[0] for e in reductions)
        if cap is None:
            return
        self._capture, reads, self.read_log = None, self.read_log, None
        # the outer loops this nest may share: the kept ones of a trailing reduction,
        # else all but the innermost (all of a 1-d loop)
        widened = not trailing and any(
            e.outputs[0].aval.ndim and wide_of[id(e)] != e.outputs[0].aval.dtype for e in reductions)
        if blocks is not None or widened:  # the block loop is the nest's own; a widened
            share = 0  # accumulator array is rounded into the output after the whole nest
        elif trailing and axes:
            share = sum(1 for _, d in headers if d in kept_dims)
        else:
            share = len(headers) - 1 if len(headers) > 1 else len(headers)
        # where each value is written: its index (the element is final after the
        # outer iteration holding those indices), or None when only after the nest
        written = {}
        for v in stored:
            written[v] = (tuple(idx), ()) if v.aval.ndim else (None, ())
        for e in reductions:
            (v,) = e.outputs
            if not v.aval.ndim:
                written[v] = (None, ())
            else:  # a reduction over an outer loop is final only after the nest
                written[v] = (tuple(kept_idx), () if trailing else tuple(f"i{d}" for d in axes))
        nest = Nest(cap, [p for p, _ in headers], share, written, reads, g.lane)
        nest.member_ids = g.member_ids
        nest.map, nest.wish = is_map, wish
        nest.vector_math = _prod(g.shape) >= LANE_SPLIT_MIN and any(
            VECMATH_PRIMS.get(e.prim) in self.ctx.vecmath_names for e in g.members)
        nest.row_values = {v for v in stored if v.aval.ndim} | {
            e.outputs[0] for e in reductions if trailing and e.outputs[0].aval.ndim}
        c = self.pending
        if c is not None and c.admit(nest):
            return
        self.flush()
        if nest.share:
            self.pending = Chain(nest)
        else:
            for item in cap:
                self._put(*item)

    def sum_runs(self, runs, d, n, indent, headers, cap):
        """The loop header(s) over the innermost axis d (extent n) of a nest whose
        float sums `runs` add each run of the loop into a partial sum of their own
        (SUM_BLOCK): one loop when n <= SUM_BLOCK, else a loop over blocks of a
        loop over each block's elements. Returns the indent of the innermost
        header, where the partials are added to the totals after the loop."""
        blocks = -(-n // SUM_BLOCK)
        if blocks > 1:
            blk = self.fresh("sblk")
            if cap is not None:
                headers.append((len(cap), d))
            self.emit(f"for {blk} in range({blocks}):", None, indent)
            indent += 1
        for e in runs:
            self.emit(f"{self.acc(e)}_run = {self.acc_init(e)}", e, indent)
        if cap is not None:
            headers.append((len(cap), d))
        if blocks == 1:
            self.emit(f"for i{d} in range({n}):", None, indent)
            return indent
        # counted from 0 from a clamped base, so LLVM sees a non-negative index
        # (as parallel_blocks' rows)
        base = self.fresh("base")
        self.emit(f"{base} = _h.clamp({blk} * {SUM_BLOCK}, {n - 1})", None, indent)
        # the clamp's line comes after the header recorded above: move the header
        if cap is not None:
            headers[-1] = (len(cap), d)
        self.emit(f"for {base}_r in range(min({SUM_BLOCK}, {n} - {base})):", None, indent)
        self.emit(f"i{d} = {base} + {base}_r", None, indent + 1)
        return indent

    def parallel_blocks(self, g, is_map, reductions, cap):
        """For a top-level loop nest whose reductions span its outer loop (a sum of
        all elements, column sums), under `parallel`: (block index name, rows of the
        outer loop per block, number of blocks). Each block accumulates partial
        results of its own (scalars, or a row of the output) in a prange loop, then
        the blocks' partials are reduced in turn: a sum's order changes, as the SIMD
        lanes of its accumulator already change it. None when the nest is not such a
        reduction, is too small, or would be one block."""
        dims = [n for n in g.shape if n != 1]  # the loops' extents, outer first
        if not (self.parallel and cap is not None and reductions and dims and not is_map
                and _prod(g.shape) >= PARALLEL_MIN):
            return None
        per_row = _prod(dims[1:])
        rows = -(-PARALLEL_BLOCK // per_row)
        n_blocks = -(-dims[0] // rows)
        if n_blocks < 2:
            return None
        return self.fresh("blk"), rows, n_blocks

    def band_plan(self, g, stored, reductions):
        """When each row of every value the 2-d loop `g` stores holds one value
        outside a narrow band of offsets lo..hi (i1 - i0, band.py): a _Band, whose
        first and end columns the loop over axis 1 computes (the band and the column
        left of it, right where the row has none on the left); `_h.fill_outside`
        copies that column to the rest of the row. Else None: the loop covers
        every column."""
        if (reductions or not stored or len(g.shape) != 2 or min(g.shape) < 2
                or type(self) is not Codegen):
            return None
        if self.hulls is None:
            self.hulls = band_hulls(self.ir.eqns, self.known_value)
        hull = union([self.hulls.get(v) for v in stored])
        if hull is None:
            return None
        lo, hi = hull.lo, hull.hi
        n1 = g.shape[1]
        if max(hi - lo + 2, 1) > n1 // 2:  # wide: the copies save next to nothing
            return None

        def at(k):  # clamped: a row whose band lies outside it still computes a column
            return f"_h.clamp(i0 {'-' if k < 0 else '+'} {abs(k)}, {n1 - 1})"

        left = f"(i0 {'-' if lo < 1 else '+'} {abs(lo - 1)} >= 0)"  # a column left of the band
        return Band((self.fresh("first"), at(lo - 1)),
                     (self.fresh("end"), f"_h.where({left}, {at(hi)}, {at(hi + 1)}) + 1"), lo)

    def read_only_by(self, v, ids, depth=0):
        """Is `v` read only by the equations `ids` (directly, or through views and
        deferred values that only they read), and not returned?"""
        if v in self.returned or depth > 16:
            return False
        for c in self.consumers[v]:
            e = self.eqn_by_id[c]
            through = [o for o in e.outputs if o in self.virtual]  # a view or a recomputed value
            if through and len(through) == len(e.outputs):
                if not all(self.read_only_by(o, ids, depth + 1) for o in through):
                    return False
            elif c not in ids:
                return False
        return True

    def acc(self, e):
        return f"{self.name(e.outputs[0])}_acc"

    @staticmethod
    def acc_init(e):
        """The start of reduction e's scalar accumulator, in L.acc_dtype."""
        dt = L.acc_dtype(e.prim, e.outputs[0].aval.dtype)
        return L.cast(L.reduce_init(e.prim, dt), dt)

    @staticmethod
    def _live(g, stored, reductions):
        """The group's values the loop body must compute: the stored ones, the
        reductions' operands, and what they are computed from."""
        by_var = {v: e for e in g.members if e.prim not in REDUCE for v in e.outputs}
        todo = list(stored) + [x for e in reductions for x in e.inputs]
        live = set()
        while todo:
            v = todo.pop()
            if not isinstance(v, Var) or v in live or v not in g.locals:
                continue
            live.add(v)
            e = by_var.get(v)
            if e is not None:
                todo.extend(e.inputs)
        return live

    def known_value(self, a, limit=1 << 16):
        """The value of `a` if it depends on no kernel input (a constant, or layout
        and elementwise ops over constants and literals, like an identity matrix
        built from iota or pad), evaluated with the interpreter's rules; else None."""
        if isinstance(a, Literal):
            return np.asarray(a.val, a.aval.dtype)
        stack = [a]  # iterative, depth first: a chain of 300 layout ops is 900 levels deep
        while stack:
            v = stack[-1]
            if v in self.folded:
                stack.pop()
                continue
            e = self.producer.get(v)
            if v in self.const_of:
                val = np.asarray(self.const_of[v])
            elif (e is not None and len(e.outputs) == 1 and v.aval.size <= limit
                    and (e.prim in VIRTUAL or e.prim in P.ELEMENTWISE)):
                pending = [x for x in e.inputs if isinstance(x, Var) and x not in self.folded]
                if pending:
                    stack.extend(pending)
                    continue
                ins = [np.asarray(x.val, x.aval.dtype) if isinstance(x, Literal)
                       else self.folded[x] for x in e.inputs]
                val = None
                if all(x is not None for x in ins):
                    from ..interpreter import impl_rules

                    try:
                        val = np.asarray(impl_rules[e.prim](*ins, **e.params)[0])
                    except Exception:  # anything odd: simply not folded
                        val = None
            else:
                val = None
            self.folded[v] = val
            stack.pop()
        return self.folded[a]

    def defer_cheap(self, g, stored):
        """Of the values `g` would store, keep back the cheap elementwise ones whose
        consumers are all fused loops: each consumer loop recomputes them from
        their inputs (arrays by then), which costs a few flops instead of writing
        and re-reading a temporary array. Returns the values still to store."""
        if not g.shape:
            return stored
        stored_set = set(stored)
        by_var = {v: e for e in g.members for v in e.outputs}
        plan = {}

        def cost(v, depth=0):  # ops recomputed per element, or None if v must stay stored
            if v in plan:
                return plan[v]
            e = by_var[v]
            if (e.prim not in DEFER_CHEAP or e.prim not in L.scalar_rules or depth > 8
                    or len(e.outputs) != 1):
                return None
            total = 1
            for x in e.inputs:
                if not isinstance(x, Var):
                    continue
                if x not in g.locals:  # readable later: an array, a view, or deferred itself
                    total += self._read_cost(x)  # chains across loops add up
                    continue
                c = cost(x, depth + 1)  # a loop value: recomputed along with v if deferred
                if c is None:
                    if x in stored_set:  # stays stored: read from its array
                        continue
                    return None
                total += c
            if total > DEFER_MAX_OPS:
                return None
            plan[v] = total
            return total

        def linear(v):  # v and the loop values it needs use each operand once
            e = by_var[v]
            if e.prim not in DEFER_LINEAR:
                return False
            for x in e.inputs:
                if not isinstance(x, Var):
                    continue
                if x not in g.locals:
                    if not self._read_cost(x, linear_only=True):
                        return False
                elif x not in stored_set or x in plan:
                    if not linear(x):
                        return False
            return True

        keep = []
        for v in stored:
            outside = [self.eqn_by_id[c] for c in self.consumers[v] if c not in g.member_ids]
            uses = self._loop_uses(outside)
            if (v.aval.ndim and v not in self.returned and outside and uses is not None
                    and cost(v) is not None and (uses == "load" or linear(v))):
                continue
            keep.append(v)
        deferred_roots = set(stored) - set(keep)
        # only the values a deferred root actually needs are recomputed later
        need, todo = set(), list(deferred_roots)
        while todo:
            v = todo.pop()
            if v in need:
                continue
            need.add(v)
            for x in by_var[v].inputs:
                if isinstance(x, Var) and x in g.locals and x not in stored_set:
                    todo.append(x)
        for v in need:
            e = by_var[v]
            self.deferred[v] = e
            self.defer_cost[v] = plan[v]
            self.defer_linear[v] = linear(v)
            self.virtual[v] = self._recompute_reader(e)
            self.view_sources[v] = [x for x in e.inputs if isinstance(x, Var)]
        return keep

    def col_acc(self, v, wide):
        """The name of the array of accumulators of reduction output `v`: its own, or
        another where they add up in a wider dtype (`wide`) than v's."""
        return self.name(v) if wide == v.aval.dtype else self.name(v) + "_acc"

    def _read_cost(self, x, depth=0, linear_only=False):
        """Ops per element to read `x` later: the recompute cost of the deferred
        values it reads, directly or through layout views. With linear_only: whether
        those reads nest only linear expressions (True/False)."""
        if isinstance(x, Var) and x in self.deferred and x in self.virtual:
            return self.defer_linear.get(x, False) if linear_only else self.defer_cost.get(x, 0)
        e = self.producer.get(x) if isinstance(x, Var) else None
        if x in self.virtual and e is not None and e.prim in VIEW_THROUGH and depth < 8:
            parts = [self._read_cost(y, depth + 1, linear_only) for y in e.inputs]
            return all(parts) if linear_only else sum(parts)
        return True if linear_only else 0

    def _loop_uses(self, consumers, depth=0):
        """'load' if every consumer is a fused loop (reads the value through `load`,
        operands bound to locals); 'view' if some read it through layout views that
        end in fused loops (nested expressions); None if any other consumer."""
        kind = "load"
        for c in consumers:
            if c.prim in P.ELEMENTWISE or c.prim in REDUCE:
                continue
            if c.prim not in VIEW_THROUGH or depth >= 4:
                return None
            (o,) = c.outputs
            if o in self.returned or self._loop_uses(
                    [self.eqn_by_id[i] for i in self.consumers[o]], depth + 1) is None:
                return None
            kind = "view"
        return kind

    def _recompute_reader(self, e):
        """Expression of one element of a deferred value (for reads outside fused loops)."""
        (v,) = e.outputs
        dts = [a.aval.dtype for a in e.inputs]
        rule = L.scalar_rules[e.prim]
        return lambda idx: "(" + rule(self.rule_ctx(v), v.aval.dtype, dts,
                                      *[self.read(a, idx) for a in e.inputs], **e.params) + ")"

    def rule_ctx(self, v):
        """Lowering context of the elementwise value `v`: small ones call libm."""
        return self.ctx if _prod(v.aval.shape) >= VECMATH_MIN else self.scalar_ctx

    def load(self, a, idx, g, indent, eqn):
        """Bind a read of `a` inside the loop body to a local (once per group)."""
        if isinstance(a, Literal) or a in g.locals:
            return self.read(a, idx, g)
        if a in self.cur_loads:
            return self.cur_loads[a]
        de = self.deferred.get(a)
        if de is not None and a in self.virtual:  # recompute from its inputs, operands as locals
            ins = [self.load(x, idx, g, indent, eqn) for x in de.inputs]
            expr = L.scalar_rules[de.prim](self.rule_ctx(a), a.aval.dtype,
                                           [x.aval.dtype for x in de.inputs],
                                           *ins, **de.params)
            if atomic(expr):
                self.cur_loads[a] = expr
                return expr
            nm = self.name(a) + "_rc"
            line = f"{nm} = {expr}  # recomputed: {_pp_eqn(de, self.pctx, 0)}"
            h = self.hoist
            if h is not None and all(isinstance(x, Literal) or y in h.names
                                     for x, y in zip(de.inputs, ins)):
                h.put(line, eqn, nm)
            else:
                self.emit(line, eqn, indent)
            self.cur_loads[a] = nm
            return nm
        expr = self.read(a, idx, g)
        if atomic(expr):
            return expr
        nm = self.name(a) + "_ld"
        h = self.hoist
        if h is not None and not h.index.search(expr):
            h.put(f"{nm} = {expr}", eqn, nm)
        else:
            self.emit(f"{nm} = {expr}", eqn, indent)
        self.cur_loads[a] = nm
        return nm

    def elementwise(self, e, idx, g, indent):
        ins = [self.load(a, idx, g, indent, e) for a in e.inputs]
        (v,) = e.outputs
        out = v.aval.dtype
        target = self.name(v) + "_"
        if e.prim is P.integer_pow_p:
            lines, expr = L.integer_pow_lines(self.ctx, out, ins[0], e.params["y"],
                                              self.name(v) + "_p")
            if lines and lines[-1].startswith(expr + " = "):  # the last step computes v
                lines[-1] = target + lines[-1][len(expr):]
                expr = None
            for line in lines:
                self.emit(line, e, indent)
        elif e.prim in REDUCE:  # reduction over no axes: identity
            expr = ins[0]
        elif (e.prim in (P.sin_p, P.cos_p) and self.cur_loads is not None
              and self.rule_ctx(v) is self.ctx and "sin" in self.ctx.vecmath_names
              and e.inputs[0].aval.dtype in (np.float64, np.float32)):
            expr = L.cast(self.sincos(e, ins[0], indent)[e.prim is P.cos_p], out)
        else:
            try:
                rule = L.scalar_rules[e.prim]
            except KeyError:
                raise LoweringError(_no_rule(e.prim, e.params)) from None
            expr = rule(self.rule_ctx(v), out, [a.aval.dtype for a in e.inputs], *ins, **e.params)
        if expr is None:
            return
        if atomic(expr):  # a copy (same-dtype convert, stop_gradient, x**1): no statement
            self.local_expr[v] = expr
            return
        self.emit(f"{target} = {expr}", e, indent)

    def sincos(self, e, x, indent):
        """Locals holding sin and cos of the loop body's operand `x`: one
        `_vm.sincos_f64` call serves both (see vecmath.sincos_f64), or
        `_vm.sincos_medium_f64` where the operand is provably below 2**20 or
        the kernel is guarded (TrigGuard)."""
        names = self.cur_sincos.get(x)
        if names is None:
            base = self.name(e.outputs[0]) + "_sc"
            names = self.cur_sincos[x] = (base + "s", base + "c")
            arg = x if e.inputs[0].aval.dtype == np.float64 else f"np.float64({x})"
            medium = magnitude_bound(e.inputs[0], self.producer, self.bounds) < TRIG_MEDIUM
            guard = self.trig_guard
            if not medium and guard.enabled:
                guard.used = medium = True
                self.emit(guard.update(f"_vm.beyond_medium_f64({arg})"), e, indent)
            kernel = "sincos_medium_f64" if medium else "sincos_f64"
            self.emit(f"{names[0]}, {names[1]} = _vm.{kernel}({arg})", e, indent)
        return names

    def sources(self, inputs, g):
        """Open groups whose stored values a new member of `g` (the open group of its
        shape, or None) reads. They stay open (a group is emitted when something
        outside needs it, after the groups it reads), so groups of one shape are not
        split by an unrelated loop in between. A value of `g` itself that is not read
        as a plain local (a reduction result, or read through a view) closes `g`, as
        does any source group that already depends on `g` (it must come first)."""
        found = []

        def walk(a):
            if not isinstance(a, Var):
                return
            h = self.group_of.get(a)
            if h is not None:
                if h not in found:
                    found.append(h)
            elif a in self.virtual:
                for x in self.view_sources.get(a, ()):
                    walk(x)

        for a in inputs:
            if isinstance(a, Var) and g is not None and a in g.locals and self.group_of.get(a) is g:
                continue  # a local of the loop body
            walk(a)
        if g is not None and (g in found or any(_depends(h, g) for h in found)):
            self.close(g)
        return [h for h in found if not h.closed]

    def lane(self, e, shape):
        """Which open loop over `shape` an equation joins: calls of scalar libm
        functions (lane 1) stop LLVM from vectorizing a loop, so they get loops of
        their own, apart from the vectorizable ops (lane 0). Only for mid-sized
        shapes: on short loops vector code gains nothing and a second loop costs
        compile time; on large ones the values passed between the two loops are
        stored, and large temporaries cost page faults (glibc returns big blocks to
        the OS) that outweigh the vector speed-up in a default environment."""
        if not LANE_SPLIT_MIN <= _prod(shape) <= LANE_SPLIT_MAX:
            return 0
        vm = VECMATH_PRIMS.get(e.prim)
        if e.prim in LIBM_CALLS or (vm is not None and vm not in self.ctx.vecmath_names):
            return 1
        return 0

    def join(self, e, key):
        g = self.open.get(key)
        if g is None:
            self.ngroups += 1
            g = self.open[key] = _Group(key, self.ngroups)
        g.members.append(e)
        g.member_ids.add(id(e))
        if e.prim not in REDUCE or not e.params["axes"]:
            for v in e.outputs:
                g.locals.add(v)
                self.group_of[v] = g
        return g

    # ------------------------------------------------------------ driver
    def run(self):
        ir = self.ir
        self.arrays.update(ir.invars)
        for v in ir.constvars:
            # a diagonal constant only fused loops read: a compare, not an argument
            reader = None
            if v not in self.returned and self._loop_uses(
                    [self.eqn_by_id[i] for i in self.consumers[v]]) is not None:
                reader = diagonal(self.const_of[v])
            if reader is None:
                self.arrays.add(v)
                self.const_args.append(v)
            else:
                self.virtual[v] = reader
        for e in ir.eqns:
            self.eqn(e)
        for g in sorted(self.open.values(), key=lambda g: g.id):
            self.close(g)
        outs = []
        seen = set()
        for v in ir.outvars:
            if isinstance(v, Literal):
                outs.append(L.literal(v.val, v.aval.dtype))
                continue
            nm = self.materialize(v)
            if v.aval.ndim and (v in seen or v in ir.invars or v in ir.constvars):
                nm = f"_h.copy({nm})"
            seen.add(v)
            outs.append(nm)
        # what a return on a LAPACK helper's error gives (calls.EARLY_RETURN): values
        # of the outputs' types, never read (the entry raises)
        stand_ins = [L.literal(v.val, v.aval.dtype) if isinstance(v, Literal)
                     else f"_h.empty({(0,) * v.aval.ndim}, {L.DT[v.aval.dtype]})" if v.aval.ndim
                     else L.literal(0, v.aval.dtype) for v in ir.outvars]
        if self.trig_guard.used:
            outs.append(self.trig_guard.flag())
            stand_ins.append("0" if self.trig_guard.count else "False")
        self.early_return = "return " + _returned(stand_ins)
        self.emit("return " + _returned(outs))
        return self.lines

    def eqn(self, e):
        prim = e.prim
        if id(e) in self.absorbed:
            self.comment(e)
            self.emit("#   (no code: folded into the gemm call of its product)", e)
            return
        if prim in P.ELEMENTWISE or (prim in REDUCE and not e.params["axes"]):
            key = (tuple(e.outputs[0].aval.shape), self.lane(e, e.outputs[0].aval.shape))
            deps = self.sources(e.inputs, self.open.get(key))
            self.join(e, key).add_deps(deps)
            return
        if prim in REDUCE:
            (x,) = e.inputs
            key = (tuple(x.aval.shape), self.lane(e, x.aval.shape))
            axes = tuple(e.params["axes"])
            g = self.open.get(key)
            if g is not None and g.red_axes is not None and g.red_axes != axes:
                self.close(g)
                g = None
            deps = self.sources([x], g)
            g = self.join(e, key)
            g.add_deps(deps)
            g.red_axes = axes
            self.group_of[e.outputs[0]] = g  # readable only once the group is closed
            return
        parts = prim is P.concatenate_p and sum(
            1 for a in e.inputs if a.aval.shape[e.params["dimension"]])
        if parts and (parts > CONCAT_PARTS_MAX
                      or (parts > 1 and e.outputs[0].aval.size >= CONCAT_BY_PARTS_SIZE)):
            self.comment(e)
            self.concatenate_by_parts(e)
            return
        if prim in VIRTUAL:
            # no code; the groups of its sources stay open until something reads the
            # view (`need`), so e.g. a broadcast between two loops over one shape
            # does not split them
            self.comment(e)
            self.emit("#   (no code: read through index arithmetic where used)", e)
            v = e.outputs[0]
            self.virtual[v] = readers[e.prim](e, self.read)
            self.view_sources[v] = [a for a in e.inputs if isinstance(a, Var)]
            # reads of a view's sources per element read (a concatenation reads each
            # part): a chain of views that read one value twice would double it per step
            self.view_reads[v] = sum(self.view_reads.get(a, 1) for a in self.view_sources[v])
            if (prim is P.concatenate_p and v.aval.size > CONCAT_VIEW_MAX) or \
                    self.view_reads[v] > VIEW_READS_MAX:
                self.materialize(v, e)  # one copy loop; reads stay branch-free
                self.view_reads[v] = 1
            return
        for a in e.inputs:
            self.need(a)
        fn = CALLS.get(prim)
        if fn is None:
            raise LoweringError(_no_rule(prim, e.params))
        self.comment(e)
        fn(self, e)
        self.arrays.update(v for v in e.outputs if v not in self.virtual)  # a call may lower to a view

    # ------------------------------------------------------------ layout as index arithmetic
def _returned(values):
    """A return statement's value: bare for one (Numba boxes no tuple), else a tuple."""
    return values[0] if len(values) == 1 else "(" + "".join(v + ", " for v in values) + ")"


def _no_rule(prim, params):
    if prim is P.custom_vjp_linear_p:  # no backend can run it
        return P.custom_vjp_forward_error(params)
    return (f"the numba backend has no lowering for primitive '{prim.name}'; "
            "use pb.jit(..., backend=\"interpreter\") for this function")


# calls (dot_general, scatter_add, cumsum, argmax/argmin) and cond/while/scan
# register their lowering rules in CALLS; imported last, as they use Codegen
from .calls import CALLS, COMMENT_HEADERS, EARLY_RETURN  # noqa: E402
# cond / while / scan: nested code in the same kernel (registers CALLS entries)
from . import control_flow as _control_flow  # noqa: E402


# ---------------------------------------------------------------- module
def generate(ir, vecmath_names=(), guard_trig=True, parallel=False):
    """(def line, argument conversions, body, line -> eqn map, guarded, the
    constvars it takes after the invars, whether a loop is a prange, whether it takes
    the LAPACK helpers' status array `_err` last). The module defines `kernel`; a
    guarded kernel returns its TrigGuard flag after the outputs (with `parallel`, a
    count)."""
    cg = Codegen(ir, vecmath_names, guard_trig, parallel)
    body = cg.run()
    raises = any(line.strip() == EARLY_RETURN for line in body)
    body = [line.replace(EARLY_RETURN, cg.early_return) if line.strip() == EARLY_RETURN
            else line for line in body]
    args = []
    conv = []
    for v in ir.invars + cg.const_args:
        nm = cg.name(v)
        if v.aval.ndim == 0:  # scalars arrive as Python/NumPy scalars or 0-d arrays
            args.append(nm + "_in")
            conv.append(f"    {nm} = _h.scalar({nm}_in)")
        else:
            args.append(nm)
    if raises:  # the LAPACK helpers' status (calls.EARLY_RETURN), last
        args.append("_err")
    if cg.trig_guard.used:
        conv += [f"    {line}" for line in cg.trig_guard.declarations()]
    head = [f"def kernel({', '.join(args)}):"]
    params = [cg.name(v) for v in ir.invars + cg.const_args]
    arrays = [cg.name(v) for v in ir.invars + cg.const_args if v.aval.ndim]  # never written
    body, line_eqn = share_subexpressions(body, cg.line_eqn, params, arrays,
                                          lambda: cg.fresh("s"))
    prange = any("_prange(" in line for line in body)
    return head, conv, body, line_eqn, cg.trig_guard.used, cg.const_args, prange, raises
