"""The `pullback` command line (also `python -m pullback`).

    pullback dump path/to/file.py:func --args "f64[3], f64[]"
        [--static "3, 'tanh'"] [--transform NAME ...] [--argnums 0,1]
        [--in-axes 0,None] [--batch-size N] [--no-opt | --passes dce,cse]
        [--format text|dot|json|source [--parallel]] [--stats]

`--args` lists the arguments: an aval (`f64[3]`, `f32[2,2]`, `i64[]`, `bool[]`)
becomes an array of ones of that type (ones, so that log/division do not meet
0); any other entry is read as a Python literal (`3`, `'tanh'`, `None`) and passed
as a static argument, as are the `--static` values appended after them.
`--transform` (repeatable, innermost first) wraps the function:
grad/jacfwd/jacrev/hessian (with --argnums), jvp (ones tangents), vjp (ones
cotangent) and vmap (with --in-axes; batched arguments get an axis of
--batch-size, default 3). Bad input exits with status 2 and one line on stderr
(PULLBACK_DEBUG=1 shows the traceback of an internal error instead).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import os
import re
import sys
import time

import numpy as np

FORMATS = ("text", "json", "dot", "source")
# what user code may raise, sys.exit() and a stray GeneratorExit included (not ^C)
USER_ERRORS = (Exception, SystemExit, GeneratorExit)
TRANSFORMS = ("grad", "jacfwd", "jacrev", "hessian", "jvp", "vjp", "vmap")


class CLIError(Exception):
    """Bad input: reported as one line, exit status 2."""


class _ArgParser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(message)


def _build_parser():
    p = _ArgParser(prog="pullback", description="pullback: a tracing compiler for NumPy code")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("dump", help="print the IR of a function in a Python file")
    d.add_argument("target", metavar="FILE.py:func", help="the file and the function in it")
    d.add_argument("--args", default="", help='argument avals, e.g. "f64[3], f64[]"')
    d.add_argument("--static", default="", help="Python literals appended as static arguments")
    d.add_argument("--transform", action="append", default=[], metavar="NAME",
                   help="grad, jacfwd, jacrev, hessian, jvp, vjp or vmap; repeatable, innermost first")
    d.add_argument("--argnums", help="argnums of grad/jac*/hessian, e.g. 0 or 0,1 (default 0)")
    d.add_argument("--in-axes", help="vmap in_axes, e.g. 0 or 0,None (default 0)")
    d.add_argument("--batch-size", type=int,
                   help="size of the vmap batch axis (default 3)")
    opt = d.add_mutually_exclusive_group()
    opt.add_argument("--no-opt", action="store_true", help="print the IR as traced")
    opt.add_argument("--passes", default=None, help="comma-separated passes to run, in order")
    d.add_argument("--format", default="text", help="text (default), json, dot or source")
    d.add_argument("--parallel", action="store_true",
                   help="with --format source: the kernel of pb.jit(f, parallel=True)")
    d.add_argument("--stats", action="store_true", help="per-pass statistics on stderr")
    return p


# ---------------------------------------------------------------- argument specs
_AVAL = re.compile(r"^\s*(f64|f32|i64|i32|bool)\s*\[\s*([0-9,\s]*)\]\s*$")


def _split_top(text):
    """Split on commas that are not inside brackets, parentheses or quotes."""
    parts, depth, cur, quote = [], 0, "", None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if quote or depth:
        raise CLIError(f"unbalanced brackets or quotes in {text!r}")
    if cur.strip() or parts:
        parts.append(cur)
    return [s.strip() for s in parts]


def parse_aval(spec):
    """'f32[2,3]' -> ShapedArray, or None if `spec` is not an aval."""
    from .ir.core import DTYPES, ShapedArray

    m = _AVAL.match(spec)
    if not m:
        return None
    dims = [d.strip() for d in m.group(2).split(",")] if m.group(2).strip() else []
    if len(dims) > 1 and dims[-1] == "":  # f64[3,] as Python writes (3,)
        dims.pop()
    if any(not d.isdigit() for d in dims):
        raise CLIError(f"bad shape in argument spec {spec!r}")
    return ShapedArray([int(d) for d in dims], DTYPES[m.group(1)])


def parse_args_spec(text, what="--args"):
    """[('array', aval) | ('static', value)] for each comma-separated entry."""
    out = []
    for item in _split_top(text):
        if not item:
            raise CLIError(f"empty entry in {what} {text!r}")
        aval = parse_aval(item)
        if aval is not None:
            out.append(("array", aval))
            continue
        if re.match(r"^[A-Za-z0-9_]+\s*\[", item):
            raise CLIError(
                f"bad argument spec {item!r} in {what}: want DTYPE[dims] with DTYPE one of "
                "f64, f32, i64, i32, bool (e.g. f64[3], f32[2,2], i64[])"
            )
        try:
            out.append(("static", ast.literal_eval(item)))
        except (ValueError, SyntaxError):
            raise CLIError(
                f"bad argument spec {item!r} in {what}: want an aval such as f64[3] or "
                "f32[2,2], or a Python literal for a static argument"
            ) from None
    return out


def parse_ints(text, what, allow_none=False):
    vals = []
    for item in _split_top(text):
        if allow_none and item == "None":
            vals.append(None)
            continue
        try:
            vals.append(int(item))
        except ValueError:
            raise CLIError(
                f"{what} wants comma-separated integers{' or None' if allow_none else ''}, "
                f"got {text!r}"
            ) from None
    if not vals:
        raise CLIError(f"{what} is empty")
    return vals


def example_value(aval):
    """Ones of the aval's shape without allocating them (a zero-strided view):
    tracing reads only shapes and dtypes, so f64[100000,100000] costs nothing."""
    return _ones_view(aval.shape, aval.dtype)


def _ones_view(shape, dtype):
    try:
        return np.broadcast_to(np.ones((), dtype), tuple(shape))
    except (ValueError, OverflowError):
        raise CLIError(f"shape {tuple(shape)} is too large for an array") from None


# ---------------------------------------------------------------- loading
def load_function(target):
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise CLIError(f"target {target!r} should look like path/to/file.py:function")
    if not os.path.isfile(path):
        raise CLIError(f"no such file: {path}")
    modname = "_pullback_cli_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # so that the file's own sibling imports work
    try:
        spec.loader.exec_module(module)
    except USER_ERRORS as e:
        raise CLIError(f"importing {path} failed: {_one_line(e)}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            del sys.path[0]
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise CLIError(f"{path} has no function {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CLIError(f"{path}:{name} is a {type(obj).__name__}, not a function")
    return obj


# ---------------------------------------------------------------- transforms
def _transform(pb, name):
    fn = getattr(pb, name, None)
    if fn is None:
        raise CLIError(f"transform {name} is not available")
    return fn


def apply_transforms(f, names, argnums, in_axes):
    """The function whose IR is dumped, innermost transform first."""
    import pullback as pb

    vmaps = 0
    for name in names:
        if name not in TRANSFORMS:
            raise CLIError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        t = _transform(pb, name)
        if name in ("grad", "jacfwd", "jacrev", "hessian"):
            f = t(f, argnums=argnums)
        elif name == "jvp":
            f = _jvp_of(t, f)
        elif name == "vjp":
            f = _vjp_of(t, f)
        else:
            f = t(f, in_axes=in_axes)
            vmaps += 1
    return f, vmaps


def _jvp_of(jvp, f):
    def f_jvp(*primals):
        tangents = tuple(np.ones_like(p) for p in primals)
        return jvp(f, primals, tangents)

    f_jvp.__name__ = f"jvp_{getattr(f, '__name__', 'f')}"
    return f_jvp


def _ones_of(x):
    """Concrete ones with the shape and dtype of `x` (a traced or concrete value)."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return np.ones(x.shape, x.dtype)
    return np.ones_like(np.asarray(x))


def _vjp_of(vjp, f):
    from .tracer.pytree import tree_map

    def f_vjp(*primals):
        out, pullback_fn = vjp(f, *primals)[:2]
        cotangent = tree_map(_ones_of, out)
        return pullback_fn(cotangent)

    f_vjp.__name__ = f"vjp_{getattr(f, '__name__', 'f')}"
    return f_vjp


# ---------------------------------------------------------------- output formats
def _json_float(x):
    if math.isnan(x):  # its sign, as the text format writes it
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _json_scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return _json_float(float(v))


def _aval_json(aval):
    return {"type": aval.str_short(), "shape": list(aval.shape), "dtype": str(aval.dtype)}


def ir_to_json(ir):
    """A JSON-able dict of `ir`, its variables named as in the printed text."""
    from .ir.printer import _Ctx

    return _ir_json(ir, _Ctx())


def _ir_json(ir, ctx):
    """Walks `ir` in the printer's order so that names match the text (a sub-IR
    object that occurs twice gets fresh names at each occurrence, as printed)."""
    from .ir.core import DTYPE_NAMES, IR, Literal

    def atom(a):
        if isinstance(a, Literal):
            return {"literal": _json_scalar(a.val), "type": a.aval.str_short()}
        return ctx.use(a)

    def binder(v):
        return {"name": ctx.define(v), **_aval_json(v.aval)}

    def param(v):
        if isinstance(v, IR):
            return _ir_json(v, ctx)
        if isinstance(v, tuple):
            return [param(x) for x in v]
        if isinstance(v, np.dtype):
            return DTYPE_NAMES.get(v, str(v))
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, (bool, int, float, np.generic)):
            return _json_scalar(v)
        return getattr(v, "__name__", repr(v))

    consts = []
    for v, c in zip(ir.constvars, ir.consts):
        entry = binder(v)
        try:
            arr = np.asarray(c)
            if arr.size <= 100:
                entry["value"] = [_json_scalar(x) for x in arr.ravel()]
        except ValueError:  # an unknown constant of a parsed IR
            pass
        consts.append(entry)
    invars = [binder(v) for v in ir.invars]
    eqns = []
    for e in ir.eqns:
        outputs = [binder(v) for v in e.outputs]
        params = {k: param(v) for k, v in sorted(e.params.items())}
        src = e.source
        eqns.append({
            "primitive": e.prim.name,
            "params": params,
            "inputs": [atom(a) for a in e.inputs],
            "outputs": outputs,
            "source": None if src is None else {
                "file": src[0], "line": src[1], "function": src[2]},
        })
    return {"constvars": consts, "invars": invars, "eqns": eqns,
            "outvars": [atom(a) for a in ir.outvars]}


def _dot_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def ir_to_dot(ir):
    """Graphviz text: a node per input, constant, equation and the outputs; an
    edge per value flowing between them; sub-IRs as clusters."""
    from .ir.printer import _Ctx

    lines = ["digraph ir {", "  rankdir=TB;",
             '  node [shape=box, fontname="monospace", fontsize=10];',
             '  edge [fontname="monospace", fontsize=9];']
    counter = [0, 0]  # clusters, nodes
    _dot_ir(ir, _Ctx(), lines, counter, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_ir(ir, ctx, lines, counter, pad):
    from .ir.core import IR, Literal
    from .ir.printer import format_literal, format_param

    counter[0] += 1  # cluster ids
    producer = {}

    def node(label, **attrs):
        counter[1] += 1
        nid = f"n{counter[1]}"
        extra = "".join(f", {a}={_dot_str(str(v))}" for a, v in attrs.items())
        lines.append(f"{pad}{nid} [label={_dot_str(label)}{extra}];")
        return nid

    for v in ir.constvars:
        producer[v] = node(f"const {ctx.define(v)}:{v.aval.str_short()}", shape="note")
    for v in ir.invars:
        producer[v] = node(f"{ctx.define(v)}:{v.aval.str_short()}", shape="ellipse")
    for e in ir.eqns:
        simple = {kk: vv for kk, vv in e.params.items() if not _holds_ir(vv)}
        text = e.prim.name
        if simple:
            text += "[" + ", ".join(
                f"{kk}={format_param(vv, None, 0)}" for kk, vv in sorted(simple.items())) + "]"
        lits = [format_literal(a) for a in e.inputs if isinstance(a, Literal)]
        if lits:
            text += " " + " ".join(lits)
        outs = " ".join(f"{ctx.define(v)}:{v.aval.str_short()}" for v in e.outputs)
        nid = node(f"{outs} = {text}" if outs else text)
        for a in e.inputs:
            if not isinstance(a, Literal) and a in producer:
                lines.append(f"{pad}{producer[a]} -> {nid} [label={_dot_str(ctx.use(a))}];")
        for v in e.outputs:
            producer[v] = nid
        for kk, vv in sorted(e.params.items()):
            subs = [vv] if isinstance(vv, IR) else [x for x in vv if isinstance(x, IR)] \
                if isinstance(vv, tuple) else []
            for i, sub in enumerate(subs):
                label = kk if isinstance(vv, IR) else f"{kk}[{i}]"
                cid = counter[0]
                lines.append(f"{pad}subgraph cluster_{cid} {{")
                lines.append(f"{pad}  label={_dot_str(f'{e.prim.name} {label}')}; style=dashed;")
                out_id = _dot_ir(sub, ctx, lines, counter, pad + "  ")
                lines.append(f"{pad}}}")
                lines.append(f"{pad}{out_id} -> {nid} [style=dashed, label={_dot_str(label)}];")
    outs = ", ".join(
        ctx.use(a) for a in ir.outvars)
    out_id = node(f"out ({outs})", shape="ellipse")
    for a in ir.outvars:
        if not isinstance(a, Literal) and a in producer:
            lines.append(f"{pad}{producer[a]} -> {out_id} [label={_dot_str(ctx.use(a))}];")
    return out_id


def _holds_ir(v):
    from .ir.core import IR

    return isinstance(v, IR) or (isinstance(v, tuple) and any(isinstance(x, IR) for x in v))


# ---------------------------------------------------------------- dump
def _one_line(e):
    msg = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def dump(opts, out, err):
    if opts.format not in FORMATS:
        raise CLIError(f"unknown format {opts.format!r}; known: {', '.join(FORMATS)}")
    if opts.parallel and opts.format != "source":
        raise CLIError("--parallel applies to --format source only")
    if opts.format == "source" and (opts.no_opt or opts.passes is not None):
        raise CLIError("--no-opt and --passes do not apply to --format source: the code is "
                       "generated from the IR the default pipeline optimizes, as pb.jit's")
    for name in opts.transform:
        if name not in TRANSFORMS:
            raise CLIError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
    # an option of a transform that is not applied would be ignored: refused instead
    differentiating = {"grad", "jacfwd", "jacrev", "hessian"} & set(opts.transform)
    if opts.argnums is not None and not differentiating:
        raise CLIError("--argnums applies to --transform grad, jacfwd, jacrev or hessian")
    for flag, value in (("--in-axes", opts.in_axes), ("--batch-size", opts.batch_size)):
        if value is not None and "vmap" not in opts.transform:
            raise CLIError(f"{flag} applies to --transform vmap")
    opts.argnums = "0" if opts.argnums is None else opts.argnums
    opts.in_axes = "0" if opts.in_axes is None else opts.in_axes
    opts.batch_size = 3 if opts.batch_size is None else opts.batch_size
    from .passes.manager import PASSES, optimize

    passes = None
    if opts.passes is not None:
        passes = [p.strip() for p in opts.passes.split(",") if p.strip()]
        unknown = [p for p in passes if p not in PASSES]
        if unknown or not passes:
            raise CLIError(
                f"unknown pass {unknown[0] if unknown else opts.passes!r}; "
                f"known: {', '.join(sorted(PASSES))}")
    entries = parse_args_spec(opts.args) + parse_args_spec(opts.static, "--static")
    argnums = parse_ints(opts.argnums, "--argnums")
    argnums = argnums[0] if len(argnums) == 1 else tuple(argnums)
    dyn_avals = [a for kind, a in entries if kind == "array"]
    in_axes = parse_ints(opts.in_axes, "--in-axes", allow_none=True)
    if len(in_axes) == 1:
        in_axes = in_axes * len(dyn_avals)
    elif len(in_axes) != len(dyn_avals):
        raise CLIError(
            f"--in-axes has {len(in_axes)} entries for {len(dyn_avals)} array arguments")
    if opts.batch_size < 1:
        raise CLIError("--batch-size must be at least 1")

    f = load_function(opts.target)
    if any(kind == "static" for kind, _ in entries):
        user_f = f

        def f(*dyn):  # the static values are closed over; transforms see arrays only
            it = iter(dyn)
            return user_f(*[next(it) if kind == "array" else v for kind, v in entries])

        f.__name__ = getattr(user_f, "__name__", "f")
    try:
        g, vmaps = apply_transforms(f, opts.transform, argnums, tuple(in_axes))
    except CLIError:
        raise
    except USER_ERRORS as e:
        raise CLIError(f"applying {', '.join(opts.transform)} failed: {_one_line(e)}") from None
    args = [example_value(a) for a in dyn_avals]
    for _ in range(vmaps):
        args = [x if ax is None else _add_batch_axis(x, ax, opts.batch_size)
                for x, ax in zip(args, in_axes)]

    import pullback as pb

    if opts.format == "source":
        if opts.stats:  # the passes pb.jit runs, on the same IR
            stats = []
            try:
                optimize(pb.make_ir(g)(*args), stats=stats)
            except USER_ERRORS as e:
                raise CLIError(f"tracing {opts.target} failed: {_one_line(e)}") from None
            _write_stats(stats, err)
        try:
            text = pb.jit(g, parallel=opts.parallel).source(*args)
        except CLIError:
            raise
        except USER_ERRORS as e:
            raise CLIError(f"source generation failed: {_one_line(e)}") from None
        out.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        ir = pb.make_ir(g)(*args)
    except USER_ERRORS as e:
        raise CLIError(f"tracing {opts.target} failed: {_one_line(e)}") from None
    if not opts.no_opt:
        stats = [] if opts.stats else None
        try:
            ir = optimize(ir, passes=passes, stats=stats)
        except Exception as e:
            raise CLIError(f"optimization failed: {_one_line(e)}") from None
        if stats is not None:
            _write_stats(stats, err)
    elif opts.stats:
        err.write("no passes run (--no-opt)\n")
    if opts.format == "text":
        out.write(str(ir) + "\n")
    elif opts.format == "json":
        out.write(json.dumps(ir_to_json(ir), indent=1, allow_nan=False) + "\n")
    else:
        out.write(ir_to_dot(ir))


def _write_stats(stats, err):
    for s in stats:
        rnd = f"round {s['round']:<2} " if "round" in s else ""
        err.write(f"pass {s['pass']:<10} {rnd}eqns {s['eqns_before']:>6} -> "
                  f"{s['eqns_after']:<6} {1000 * s['seconds']:8.2f} ms\n")


def _add_batch_axis(x, axis, size):
    nd = x.ndim + 1
    if not -nd <= axis < nd:
        raise CLIError(f"--in-axes {axis} is out of range for an argument of shape {x.shape}")
    shape = list(x.shape)
    shape.insert(axis % nd, size)
    return _ones_view(shape, x.dtype)


_VALUE_OPTIONS = ("--args", "--static", "--argnums", "--in-axes")


def _glued(argv):
    """`--in-axes -1,None` as `--in-axes=-1,None`: argparse reads a value that starts
    with '-' (and is not a plain number) as an option of its own."""
    out, it = [], iter(argv)
    for a in it:
        if a in _VALUE_OPTIONS:
            nxt = next(it, None)
            out.append(a if nxt is None else f"{a}={nxt}")
        else:
            out.append(a)
    return out


def main(argv=None):
    """Entry point of `pullback` and `python -m pullback`; returns the exit status."""
    out, err = sys.stdout, sys.stderr
    try:
        opts = _build_parser().parse_args(_glued(sys.argv[1:] if argv is None else argv))
        if opts.command is None:
            raise CLIError("a command is required: pullback dump FILE.py:func --args ...")
        t0 = time.perf_counter()
        dump(opts, out, err)
        if opts.stats:
            err.write(f"total {1000 * (time.perf_counter() - t0):.1f} ms\n")
        return 0
    except CLIError as e:
        err.write(f"pullback: error: {' '.join(str(e).split())}\n")
        return 2
    except Exception as e:  # a bug in pullback: still one line, unless debugging
        if os.environ.get("PULLBACK_DEBUG"):
            raise
        err.write(f"pullback: error: internal error: {_one_line(e)} "
                  "(set PULLBACK_DEBUG=1 for the traceback)\n")
        return 2
    except KeyboardInterrupt:
        err.write("pullback: error: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
