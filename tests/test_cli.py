"""The `pullback dump` command line, run as `python -m pullback` in a subprocess."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pullback as pb
from pullback import cli
from pullback.ir import IR, Eqn, ShapedArray, Var, parse
from pullback.ir import primitives as P
from pullback.passes.manager import optimize

USER_FILE = textwrap.dedent("""\
    import numpy as np

    def f(x, y):
        s = np.sin(x) * y
        return np.sum(s * 1.0)

    def two(x, y):
        return x * y, np.log(x)

    def act(x, n, kind):
        return np.tanh(x) * n if kind == "tanh" else x

    def broken(x):
        return x + np.ones(7)

    def stray(x):
        raise GeneratorExit

    NOT_A_FUNCTION = 3
    """)


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.py"
    path.write_text(USER_FILE)
    return path


def run(*argv):
    return subprocess.run([sys.executable, "-m", "pullback", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run_here(capsys):
    """cli.main in this process: the code behind `python -m pullback`, without the
    interpreter start-up (the subprocess path is covered by the tests using `run`)."""
    def go(*argv):
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as e:  # --help
            rc = e.code
        out, err = capsys.readouterr()
        return Result(rc, out, err)

    return go


def load(user_file, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_test_model", user_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


# ---------------------------------------------------------------- text
def test_dump_text_is_the_optimized_ir(user_file):
    r = run("dump", f"{user_file}:f", "--args", "f64[3], f64[]")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    f = load(user_file, "f")
    want = optimize(pb.make_ir(f)(np.ones(3), 1.0))
    assert r.stdout == str(want) + "\n"
    assert r.stdout.startswith("{ lambda ; a:f64[3] b:f64[]. let\n    c:f64[3] = sin a\n")
    assert str(parse(r.stdout.strip())) == r.stdout.strip()


def test_dump_no_opt_and_passes_and_stats(user_file):
    f = load(user_file, "f")
    raw = pb.make_ir(f)(np.ones(3), 1.0)
    r = run("dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--no-opt")
    assert r.returncode == 0 and r.stdout == str(raw) + "\n"
    assert "mul e 1.0" in r.stdout  # the `* 1.0` survives without optimization

    r = run("dump", f"{user_file}:f", "--args", "f64[3],f64[]", "--passes", "dce", "--stats")
    assert r.returncode == 0, r.stderr
    assert r.stdout == str(optimize(raw, passes=["dce"])) + "\n"
    lines = r.stderr.splitlines()
    assert lines[0].split()[:2] == ["pass", "dce"]
    n = len(raw.eqns)
    assert f"eqns {n:>6} -> {n:<6}" in lines[0] and lines[0].endswith("ms")
    assert lines[-1].startswith("total ")


def test_dump_dtypes_and_static_args(user_file, run_here):
    r = run_here("dump", f"{user_file}:act", "--args", "f32[2,2], 2", "--static", "'tanh'",
            "--no-opt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "{ lambda ; a:f32[2,2]. let\n"
        "    b:f32[2,2] = tanh a\n"
        "    c:f32[2,2] = mul b 2.0:f32[]\n"
        "  in (c,) }\n"
    )
    r = run_here("dump", f"{user_file}:act", "--args", "i64[], 1, 'none'", "--no-opt")
    assert r.returncode == 0 and r.stdout == "{ lambda ; a:i64[]. let\n  in (a,) }\n"


# ---------------------------------------------------------------- json and dot
def test_dump_json(user_file):
    r = run("dump", f"{user_file}:two", "--args", "f64[2], f64[2]", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [v["name"] for v in doc["invars"]] == ["a", "b"]
    assert doc["invars"][0] == {"name": "a", "type": "f64[2]", "shape": [2], "dtype": "float64"}
    assert [e["primitive"] for e in doc["eqns"]] == ["mul", "log"]
    mul = doc["eqns"][0]
    assert mul["inputs"] == ["a", "b"] and mul["outputs"][0]["name"] == "c"
    assert mul["source"]["line"] == 8 and mul["source"]["file"].endswith("model.py")
    assert mul["source"]["function"] == "two"
    assert doc["outvars"] == ["c", "d"] and doc["constvars"] == []


def test_dump_dot(user_file):
    r = run("dump", f"{user_file}:two", "--args", "f64[2], f64[2]", "--format", "dot")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.startswith("digraph ir {") and text.rstrip().endswith("}")
    assert '[label="a:f64[2]", shape="ellipse"]' in text
    assert 'label="c:f64[2] = mul"' in text and 'label="d:f64[2] = log"' in text
    # edges: a->mul, b->mul, a->log, mul->out, log->out
    assert text.count(" -> ") == 5


_call_p = P.Primitive("cli_call", multiple_results=True)


@pytest.fixture
def call_prim():
    P.PRIMITIVES[_call_p.name] = _call_p
    P.shape_rules[_call_p] = lambda *avals, body, branches, _name=None: [
        v.aval for v in body.outvars]
    yield
    P.PRIMITIVES.pop(_call_p.name)
    P.shape_rules.pop(_call_p)


def test_json_and_dot_nest_sub_irs(call_prim):
    body = pb.make_ir(lambda x: np.sin(x) + np.inf)(np.ones(2))
    a, b = Var(ShapedArray((2,), np.float64)), Var(ShapedArray((2,), np.float64))
    ir = IR([], [], [a], [Eqn(_call_p, [a], [b], {"body": body, "branches": (body, body)})], [b])
    doc = json.loads(json.dumps(cli.ir_to_json(ir), allow_nan=False))
    sub = doc["eqns"][0]["params"]["body"]
    assert [e["primitive"] for e in sub["eqns"]] == ["sin", "add"]
    assert sub["eqns"][1]["inputs"][1] == {"literal": "inf", "type": "f64[]"}
    # a NaN keeps its sign, as in the text
    neg_nan = pb.make_ir(lambda x: x + np.copysign(np.nan, -1.0))(np.ones(2))
    assert "-nan" in str(neg_nan)
    lit = cli.ir_to_json(neg_nan)["eqns"][0]["inputs"][1]
    assert lit == {"literal": "-nan", "type": "f64[]"}
    assert len(doc["eqns"][0]["params"]["branches"]) == 2
    # names agree with the printed text
    assert sub["invars"][0]["name"] == "c" and "body={ lambda ; c:f64[2]. let" in str(ir)
    dot = cli.ir_to_dot(ir)
    assert dot.count("subgraph cluster_") == 3
    assert 'label="cli_call body"' in dot and 'label="cli_call branches[1]"' in dot


# ---------------------------------------------------------------- transforms
def test_vmap_transform_adds_batch_axis(user_file):
    r = run("dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--transform", "vmap",
            "--in-axes", "0,None", "--batch-size", "4", "--no-opt")
    assert r.returncode == 0, r.stderr
    f = load(user_file, "f")
    want = pb.make_ir(pb.vmap(f, in_axes=(0, None)))(np.ones((4, 3)), 1.0)
    assert r.stdout == str(want) + "\n"
    assert r.stdout.startswith("{ lambda ; a:f64[4,3] b:f64[]. let")
    assert "in (" in r.stdout and "f64[4] = reduce_sum[axes=(1,)]" in r.stdout


def _dump_and_eval(run_here, user_file, *extra):
    """Run the CLI, parse its text, evaluate it on the example inputs (ones)."""
    r = run_here("dump", f"{user_file}:f", "--args", "f64[3], f64[]", *extra)
    assert r.returncode == 0, r.stderr
    text = r.stdout.strip()
    ir = parse(text, consts=None)
    consts = []
    if ir.constvars:  # e.g. jacfwd's one-hot basis: take the values from --format json
        r_json = run_here("dump", f"{user_file}:f", "--args", "f64[3], f64[]", *extra,
                          "--format", "json")
        consts = [np.array(c["value"], c["dtype"]).reshape(c["shape"])
                  for c in json.loads(r_json.stdout)["constvars"]]
        ir = parse(text, consts=consts)
    assert str(ir) == text
    from pullback.backends.interpreter import eval_ir

    args = [np.ones(v.aval.shape, v.aval.dtype) for v in ir.invars]
    return [np.asarray(o) for o in eval_ir(ir, ir.consts, args)]


X, Y = np.ones(3), 1.0


@pytest.mark.parametrize("extra,want", [
    (["--transform", "grad"], [np.cos(X) * Y]),
    (["--transform", "grad", "--argnums", "0,1"], [np.cos(X) * Y, np.sum(np.sin(X))]),
    (["--transform", "jacfwd"], [np.cos(X) * Y]),
    (["--transform", "jacrev", "--no-opt"], [np.cos(X) * Y]),
    (["--transform", "hessian"], [np.diag(-np.sin(X) * Y)]),
    (["--transform", "jvp"], [np.sum(np.sin(X) * Y), np.sum(np.cos(X) * Y + np.sin(X))]),
    (["--transform", "vjp"], [np.cos(X) * Y, np.sum(np.sin(X))]),
    (["--transform", "vmap", "--in-axes", "0,None"], [np.full(3, np.sum(np.sin(X)))]),
    (["--transform", "vmap", "--in-axes", "1,None"], [np.full(3, np.sum(np.sin(X)))]),
    # values that start with '-' (argparse took them for options)
    (["--transform", "vmap", "--in-axes", "-1,None"], [np.full(3, np.sum(np.sin(X)))]),
    (["--transform", "grad", "--argnums", "-1,0"], [np.sum(np.sin(X)), np.cos(X) * Y]),
    (["--transform", "grad", "--transform", "vmap", "--in-axes", "0,None", "--batch-size", "2"],
     [np.cos(np.ones((2, 3)))]),
])
def test_transforms(run_here, user_file, extra, want):
    got = _dump_and_eval(run_here, user_file, *extra)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_grad_transform_subprocess_matches_api(user_file):
    r = run("dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--transform", "grad")
    assert r.returncode == 0, r.stderr
    f = load(user_file, "f")
    assert r.stdout == str(optimize(pb.make_ir(pb.grad(f))(np.ones(3), 1.0))) + "\n"
    assert "sin" not in r.stdout and "cos a" in r.stdout


def test_source_format(run_here, user_file):
    r = run_here("dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--format", "source")
    assert r.returncode == 0, r.stderr
    f = load(user_file, "f")
    assert r.stdout.rstrip("\n") == pb.jit(f).source(np.ones(3), 1.0).rstrip("\n")
    assert "def " in r.stdout and "sin" in r.stdout
    # --stats: the passes pb.jit runs on that IR, each on a line
    r = run_here("dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--format", "source",
                 "--stats")
    assert r.returncode == 0 and "pass simplify" in r.stderr and "pass dce" in r.stderr, r.stderr


def test_parallel_source(run_here, user_file, monkeypatch, capsys):
    # the kernel pb.jit(f, parallel=True) compiles: a prange for the 2**17-element map
    from pullback.backends import numba as nb

    monkeypatch.setattr(nb, "threads", lambda: 2)
    argv = ["dump", f"{user_file}:f", "--args", "f64[131072], f64[]", "--format", "source"]
    assert cli.main(argv + ["--parallel"]) == 0
    out = capsys.readouterr().out
    f = load(user_file, "f")
    assert out.rstrip("\n") == pb.jit(f, parallel=True).source(np.ones(131072), 1.0).rstrip("\n")
    assert "_prange(" in out
    assert cli.main(argv) == 0 and "_prange(" not in capsys.readouterr().out
    assert cli.main(argv[:-2] + ["--parallel"]) == 2
    assert capsys.readouterr().err == ("pullback: error: --parallel applies to --format source "
                                       "only\n")


def test_missing_transform_is_reported(monkeypatch, user_file, capsys):
    monkeypatch.delattr(pb, "vmap")
    rc = cli.main(["dump", f"{user_file}:f", "--args", "f64[3], f64[]", "--transform", "vmap"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err == "pullback: error: transform vmap is not available\n"


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv,msg", [
    (["{f}:f", "--args", "f64[3"], "unbalanced brackets"),
    (["{f}:f", "--args", "f99[3], f64[]"], "bad argument spec 'f99[3]'"),
    (["{f}:f", "--args", "f64[a], f64[]"], "bad argument spec 'f64[a]'"),
    (["{f}:f", "--args", "f64[3],, f64[]"], "empty entry in --args"),
    (["{d}/missing.py:f", "--args", "f64[3]"], "no such file"),
    (["{f}:nope", "--args", "f64[3]"], "has no function 'nope'"),
    (["{f}:NOT_A_FUNCTION"], "is a int, not a function"),
    (["{f}", "--args", "f64[3]"], "should look like path/to/file.py:function"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "curl"], "unknown transform 'curl'"),
    (["{f}:f", "--args", "f64[3], f64[]", "--passes", "dce,nope"], "unknown pass 'nope'"),
    (["{f}:f", "--args", "f64[3], f64[]", "--format", "xml"], "unknown format 'xml'"),
    (["{f}:f", "--args", "f64[3], f64[]", "--no-opt", "--passes", "dce"], "not allowed with"),
    (["{f}:f", "--args", "f64[3], f64[]", "--bogus"], "unrecognized arguments: --bogus"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "vmap", "--in-axes", "0,x"],
     "--in-axes wants"),
    (["{f}:broken", "--args", "f64[3]"], "tracing"),
    (["{f}:f", "--args", "f64[3]"], "missing 1 required positional argument"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "grad", "--argnums", "5"], "argnums"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "vmap", "--in-axes", "7,None"],
     "--in-axes 7 is out of range"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "vmap", "--in-axes", "0,0,0"],
     "--in-axes has 3 entries"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "vmap", "--batch-size", "0"],
     "--batch-size must be"),
    # a transform's option without the transform would be ignored
    (["{f}:f", "--args", "f64[3], f64[]", "--argnums", "0"], "--argnums applies to --transform"),
    (["{f}:f", "--args", "f64[3], f64[]", "--transform", "jvp", "--argnums", "1"],
     "--argnums applies to --transform grad"),
    (["{f}:f", "--args", "f64[3], f64[]", "--in-axes", "0"],
     "--in-axes applies to --transform vmap"),
    (["{f}:f", "--args", "f64[3], f64[]", "--batch-size", "4"],
     "--batch-size applies to --transform vmap"),
    (["{f}:f", "--args", "f64[3], f64[]", "--format", "source", "--no-opt"],
     "do not apply to --format source"),
    (["{f}:f", "--args", "f64[3], f64[]", "--format", "source", "--passes", "dce"],
     "do not apply to --format source"),
    (["{f}:stray", "--args", "f64[3]"], "GeneratorExit"),
])
def test_bad_input_exits_2_with_one_line(user_file, argv, msg, capsys):
    # in-process (the subprocess path is covered below): same main(), faster
    argv = [a.format(f=user_file, d=user_file.parent) for a in argv]
    rc = cli.main(["dump", *argv])
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("pullback: error: ") and msg in err, err


@pytest.mark.parametrize("argv,msg", [
    (["{f}:f", "--args", "f64[3], f64"], "bad argument spec 'f64'"),
    (["{f}:broken", "--args", "f64[3]"], "tracing"),
])
def test_bad_input_subprocess(user_file, argv, msg):
    argv = [a.format(f=user_file, d=user_file.parent) for a in argv]
    r = run("dump", *argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("pullback: error: ") and msg in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_shape_error_names_the_user_line(user_file, run_here):
    r = run_here("dump", f"{user_file}:broken", "--args", "f64[3]")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "(3,)" in r.stderr and "(7,)" in r.stderr and "model.py" in r.stderr, r.stderr


def test_import_error_of_user_file(tmp_path, run_here):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nraise RuntimeError('boom')\n")
    r = run_here("dump", f"{bad}:f")
    assert r.returncode == 2 and r.stderr == (
        f"pullback: error: importing {bad} failed: RuntimeError: boom\n")


def test_no_command_and_help(run_here):
    r = run()
    assert r.returncode == 2 and r.stderr.startswith("pullback: error: a command is required")
    r = run_here("dump", "--help")
    assert r.returncode == 0 and "--transform" in r.stdout


def test_arg_spec_parser():
    specs = cli.parse_args_spec("f64[3], f32[2,2], i64[], bool[], i32[0,1], 2, 'a,b', (1, 2)")
    assert [s[1].str_short() if s[0] == "array" else s[1] for s in specs] == [
        "f64[3]", "f32[2,2]", "i64[]", "bool[]", "i32[0,1]", 2, "a,b", (1, 2)]
    assert cli.parse_args_spec("") == []
    with pytest.raises(cli.CLIError):
        cli.parse_args_spec("f64[-1]")


def test_huge_shapes_print_without_allocating_or_fail_clearly(user_file, run_here):
    # before: f64[100000,100000] allocated 74.5 GiB of example ones (MemoryError), and
    # too large dimensions or batch sizes were "internal error"s
    r = run_here("dump", f"{user_file}:two", "--args", "f64[100000,100000], f64[]")
    assert r.returncode == 0 and "f64[100000,100000] = mul" in r.stdout, r.stderr
    r = run_here("dump", f"{user_file}:two", "--args", "f64[99999999999999999999], f64[]")
    assert r.returncode == 2 and "is too large for an array" in r.stderr
    assert "internal error" not in r.stderr
    r = run_here("dump", f"{user_file}:two", "--args", "f64[3], f64[]", "--transform", "vmap",
                 "--in-axes", "0,None", "--batch-size", "99999999999999999999")
    assert r.returncode == 2 and "is too large for an array" in r.stderr


def test_user_code_that_calls_sys_exit_is_one_line_and_status_2(tmp_path, run_here):
    (tmp_path / "ex.py").write_text("import sys\nimport numpy as np\n\n\ndef f(x):\n"
                                    "    sys.exit(3)\n\n\ndef g(x):\n    return np.sin(x)\n")
    (tmp_path / "ex2.py").write_text("import sys\nsys.exit(4)\n")
    r = run_here("dump", f"{tmp_path / 'ex.py'}:f", "--args", "f64[3]")
    assert r.returncode == 2 and "failed: SystemExit: 3" in r.stderr and r.stderr.count("\n") == 1
    r = run_here("dump", f"{tmp_path / 'ex2.py'}:f", "--args", "f64[3]")
    assert r.returncode == 2 and "importing" in r.stderr and "SystemExit: 4" in r.stderr
    r = run_here("dump", f"{tmp_path / 'ex.py'}:g", "--args", "f64[3,]")  # as Python's (3,)
    assert r.returncode == 0 and "a:f64[3]" in r.stdout
