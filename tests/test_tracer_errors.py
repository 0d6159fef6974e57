"""Bad input to a traced function: each error is clear and names what went wrong where."""
import re

import numpy as np
import pytest

import pullback as pb
from pullback.tracer.trace import ConcretizationError, EscapedTracerError

X3 = np.ones(3)
THIS_FILE = re.escape(__file__)


def _line_of(fn, text):
    """The line number in this file of the first line of `fn` containing `text`."""
    import inspect

    lines, start = inspect.getsourcelines(fn)
    for k, line in enumerate(lines):
        if text in line:
            return start + k
    raise AssertionError(f"{text!r} not in {fn}")


def _names_line(msg, fn, text):
    line = _line_of(fn, text)
    assert f'File "{__file__}", line {line}' in msg, msg
    assert text in msg, msg  # the source line itself is quoted


# ---------------------------------------------------------------- functions without a rule
@pytest.mark.parametrize("fn,name,arg", [
    (lambda x: np.fft.fft(x), "numpy.fft.fft", X3),
    (lambda x: np.roots(x), "numpy.roots", X3),
    (lambda x: np.linalg.eig(x), "numpy.linalg.eig", np.eye(2)),
    (lambda x: np.linalg.eigvals(x), "numpy.linalg.eigvals", np.eye(2)),
    (lambda x: np.unique(x), "numpy.unique", X3),
    (lambda x: np.nonzero(x), "numpy.nonzero", X3),
    (lambda x: np.gcd(x, x), "numpy.gcd", np.arange(3)),
    (lambda x: np.add.at(x, [0], 1.0), "numpy.add.at", X3),
    (lambda x: np.where(x), "numpy.where with one argument", X3),
    (lambda x: x.nonzero(), "numpy.nonzero", X3),
    (lambda x: x.sort(), "numpy.ndarray.sort", X3),
    (lambda x: np.ldexp(x, 2), "numpy.ldexp", X3),
])
def test_function_without_rule_raises_not_implemented_naming_it(fn, name, arg):
    with pytest.raises(NotImplementedError, match=re.escape(name)) as info:
        pb.make_ir(fn)(arg)
    assert __file__ in str(info.value)


def test_unsupported_keyword_is_named():
    with pytest.raises(NotImplementedError, match="numpy.cumsum with out="):
        pb.make_ir(lambda x: np.cumsum(x, out=np.empty(3)))(X3)


# ---------------------------------------------------------------- value-dependent Python
def test_if_on_traced_value_names_line_and_suggests_fixes():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(ConcretizationError) as info:
        pb.make_ir(f)(X3)
    msg = str(info.value)
    _names_line(msg, f, "if x.sum() > 0:")
    assert "static_argnums" in msg and "pb.cond" in msg


@pytest.mark.parametrize("conv", [bool, int, float])
def test_python_conversions_of_traced_values(conv):
    def f(x):
        return x * conv(x)

    with pytest.raises(ConcretizationError) as info:
        pb.make_ir(f)(1.0)
    msg = str(info.value)
    _names_line(msg, f, "return x * conv(x)")
    assert "static_argnums" in msg and "pb.cond" in msg


def test_if_under_jit_raises_too():
    @pb.jit(backend="interpreter")
    def f(x):
        while x > 0:
            x = x - 1
        return x

    with pytest.raises(ConcretizationError, match="static_argnums"):
        f(3.0)


def test_static_argnums_is_the_fix():
    def f(x, n):
        return x * 2 if n > 0 else x

    ir = pb.make_ir(f, static_argnums=1)(X3, 1)
    assert [e.prim.name for e in ir.eqns] == ["mul"]


def test_traced_slice_bound_names_line():
    def f(x, i):
        return x[i:]

    with pytest.raises(ConcretizationError) as info:
        pb.make_ir(f)(X3, 1)
    msg = str(info.value)
    _names_line(msg, f, "return x[i:]")
    assert "static_argnums" in msg and "np.arange" in msg


def test_item_needs_a_concrete_value():
    with pytest.raises(ConcretizationError, match=r"item\(\)"):
        pb.make_ir(lambda x: x.sum().item())(X3)


# ---------------------------------------------------------------- non-array arguments
@pytest.mark.parametrize("args,path", [
    (({"w": "abc"},), "['w']"),
    (((X3, [X3, object()]),), "[1][1]"),
    ((X3, {"b": {"c": None, "d": "s"}}), "['b']['d']"),
])
def test_non_array_argument_names_its_pytree_path(args, path):
    def f(*a):
        return a[0]

    with pytest.raises(TypeError, match=re.escape(path)) as info:
        pb.make_ir(f)(*args)
    assert "str" in str(info.value) or "object" in str(info.value)


def test_non_array_argument_path_uses_parameter_name():
    def f(params):
        return params["w"] * 2

    with pytest.raises(TypeError, match=re.escape("params['w']")):
        pb.make_ir(f)({"w": "abc"})


def test_string_inside_traced_function_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        pb.make_ir(lambda x: np.add(x, "abc"))(X3)


# ---------------------------------------------------------------- shape errors
def test_broadcast_error_names_shapes_and_line():
    def f(x, y):
        return x + y

    with pytest.raises(ValueError) as info:
        pb.make_ir(f)(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "(3,)" in msg and "(4,)" in msg
    _names_line(msg, f, "return x + y")


def test_matmul_mismatch_names_shapes_and_line():
    def f(a, b):
        return a @ b

    with pytest.raises(ValueError) as info:
        pb.make_ir(f)(np.ones((2, 3)), np.ones((2, 3)))
    msg = str(info.value)
    assert "(2, 3)" in msg
    _names_line(msg, f, "return a @ b")


@pytest.mark.parametrize("fn,text,exc", [
    (lambda x: np.reshape(x, (2, 2)), "into shape (2, 2)", ValueError),
    (lambda x: np.sum(x, axis=3), "axis 3 is out of bounds", np.exceptions.AxisError),
    (lambda x: x[0, 0], "too many indices", IndexError),
    (lambda x: x[5], "index 5 is out of bounds for axis 0 with size 3", IndexError),
    (lambda x: x[np.array([])], "integer or boolean arrays are valid indices", IndexError),
    (lambda x: x[True], r"x\[True\] as x\[None\]", IndexError),
    (lambda x: x[np.bool_(False)], "the bool False", IndexError),
    (lambda x: np.concatenate([x, np.ones((2, 2))]), "(3,), (2, 2)", ValueError),
    (lambda x: np.stack([x, np.ones(2)]), "same shape", ValueError),
    (lambda x: np.einsum("ij,jk", x, x), "does not match subscripts", ValueError),
    (lambda x: np.split(x, 2), "equal division", ValueError),
    (lambda x: np.broadcast_to(x, (2, 4)), "(3,)", ValueError),
    (lambda x: np.dot(np.ones((2, 2)), x), "mismatch", ValueError),
])
def test_shape_errors_name_shapes_and_line(fn, text, exc):
    with pytest.raises(exc) as info:
        pb.make_ir(fn)(X3)
    msg = str(info.value)
    assert text in msg, msg
    assert f'File "{__file__}"' in msg, msg


def test_primitive_shape_error_names_line():
    from pullback.tracer import lax

    def f(x):
        return lax.dot_general(x, x, (((0,), (1,)), ((), ())))

    with pytest.raises(ValueError) as info:
        pb.make_ir(f)(np.ones((2, 3)))
    _names_line(str(info.value), f, "return lax.dot_general")


# ---------------------------------------------------------------- lists, in-place, masks
def test_np_array_of_traced_values_suggests_stack():
    def f(x):
        return np.array([x, 2 * x])

    with pytest.raises(TypeError, match="np.stack") as info:
        pb.make_ir(f)(1.0)
    _names_line(str(info.value), f, "return np.array([x, 2 * x])")


def test_np_mean_of_list_suggests_stack():
    def f(x, y):
        return np.mean([x, y])

    with pytest.raises(TypeError, match="np.stack") as info:
        pb.make_ir(f)(1.0, 2.0)
    _names_line(str(info.value), f, "return np.mean([x, y])")


def test_stack_is_the_fix():
    f = pb.jit(lambda x, y: np.mean(np.stack([x, y])), backend="interpreter")
    assert f(1.0, 2.0) == 1.5


def test_in_place_assignment_names_line():
    def f(x):
        x[0] = 1
        return x

    with pytest.raises(TypeError, match="in-place") as info:
        pb.make_ir(f)(X3)
    _names_line(str(info.value), f, "x[0] = 1")


def test_reading_an_array_changed_in_place_names_both_lines():
    # NumPy's b += 1 also changes every array sharing b's memory: the array b views,
    # its other views, b under another name. Traced arrays are immutable (b is rebound),
    # so reading one of those afterwards raises, naming the in-place line and the read
    views = {"reshape": lambda a: a.reshape(3, 1), "slice": lambda a: a[:2],
             "T": lambda a: a.T, "np.ravel": np.ravel, "ellipsis": lambda a: a[...],
             "None": lambda a: a[None], "np.transpose": np.transpose, "alias": lambda a: a}
    for view in views.values():
        def returned(x):
            b = view(x)
            b += 1.0
            return x

        def read(x):
            b = view(x)
            b *= 2.0
            return np.sum(x)

        with pytest.raises(TypeError, match="changed in place by `\\+=`") as info:
            pb.make_ir(returned)(X3)
        _names_line(str(info.value), returned, "b += 1.0")
        with pytest.raises(TypeError, match="changed in place by `\\*=`") as info:
            pb.make_ir(read)(X3)
        _names_line(str(info.value), read, "b *= 2.0")
        _names_line(str(info.value), read, "return np.sum(x)")
    # a view of the changed array, made before the change, reads its memory too
    def sibling(x):
        v = x[1:]
        x += 1.0
        return v

    with pytest.raises(TypeError, match="changed in place"):
        pb.make_ir(sibling)(X3)
    # views made by np.split, np.flip, np.rot90 ...; and closed-over arrays changed in
    # the body of a cond or scan (a loop: every later step reads the change)
    M = np.arange(6.0).reshape(2, 3)

    def split(x):
        a, _ = np.split(x, 2)
        a += 1.0
        return x

    def flipped(x):
        y = np.flip(x)
        y += 1.0
        return x

    def in_cond(x):
        def change(c):
            v = x[:1]
            v *= 10.0
            return c
        return pb.cond(x[0, 0] < 1, change, lambda c: c, x[1, 1]) + np.sum(x)

    def in_scan(x):
        def body(c, _):
            v = x[0]
            v += 1.0
            return c + np.sum(x[0]), None
        return pb.scan(body, 0.0, None, length=3)[0]

    for f in (split, flipped, in_cond, in_scan):
        with pytest.raises(TypeError, match="changed in place"):
            pb.jit(f)(M)

    def each(x, y):  # np.atleast_1d(x, y): views of x and of y, not two of x
        _, b = np.atleast_1d(x, y)
        b += 1.0
        return x + b

    np.testing.assert_array_equal(pb.jit(each)(X3, X3 * 2), each(X3, X3 * 2))
    # where nothing reads the old memory, x op= y is NumPy's result: no error; copies
    # (x.copy(), np.copy, astype to the same dtype, +x) are other arrays
    fine = {"scalar": lambda a: a[0], "fancy": lambda a: a[[0, 2]], "flatten": lambda a: a.flatten(),
            "arith": lambda a: a * 2.0, "view": lambda a: a.reshape(3, 1), "ravel": np.ravel}
    copies = {"copy": lambda a: a.copy(), "np.copy": np.copy, "astype": lambda a: a.astype(a.dtype),
              "positive": lambda a: +a, "slice copy": lambda a: a[:2].copy()}
    for make in copies.values():
        def h(x):
            y = make(x)
            y *= 2.0
            return np.sum(x) + np.sum(y)

        assert pb.jit(h)(X3) == h(X3.copy())
        np.testing.assert_allclose(pb.grad(h)(X3), pb.grad(lambda x: np.sum(x) + np.sum(make(x) * 2.0))(X3))
    for make in fine.values():
        def g(x):
            b = make(x)
            b *= 3.0
            b -= np.mean(b)
            return b

        np.testing.assert_allclose(pb.jit(g)(X3), g(X3.copy()))
        np.testing.assert_allclose(pb.grad(lambda x: np.sum(g(x) ** 2))(X3 * 2.0), 0.0)


def test_setting_shape_names_line():
    def f(x):
        x.shape = (3, 1)
        return x

    with pytest.raises(TypeError, match="reshape") as info:
        pb.make_ir(f)(X3)
    _names_line(str(info.value), f, "x.shape = (3, 1)")


def test_ufunc_out_argument_is_refused():
    def f(x):
        return np.sin(x, out=x)

    with pytest.raises(TypeError, match="out=") as info:
        pb.make_ir(f)(X3)
    _names_line(str(info.value), f, "return np.sin(x, out=x)")


def test_traced_boolean_mask_suggests_where():
    def f(x):
        return x[x > 0]

    with pytest.raises(IndexError, match="np.where") as info:
        pb.make_ir(f)(X3)
    _names_line(str(info.value), f, "return x[x > 0]")


def test_float_index_is_refused():
    with pytest.raises(IndexError, match="integer"):
        pb.make_ir(lambda x, i: x[i])(X3, 1.0)


def test_traced_value_escaping_the_trace():
    from pullback.tracer.trace import EscapedTracerError

    leaked = []

    def f(x):
        leaked.append(x)
        return x

    pb.make_ir(f)(X3)
    with pytest.raises(EscapedTracerError):
        np.sin(leaked[0])


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        pb.make_ir(lambda x: x.frobnicate)(X3)
    # NumPy probes protocols with hasattr: those must stay plain AttributeErrors
    seen = []
    pb.make_ir(lambda x: seen.append((hasattr(x, "__array_interface__"), hasattr(x, "sort"),
                                      hasattr(x, "sum"))) or x)(X3)
    assert seen == [(False, False, True)]


@pytest.mark.parametrize("x, hint", [
    (np.ones(3, ">f8"), "big-endian byte order: pass x.astype(np.float64)"),
    (np.ones(3, np.int8), "supported: float64, float32, int64, int32, bool"),
])
def test_unsupported_dtype_names_the_argument_and_what_to_pass(x, hint):
    for f in (pb.jit(lambda x: x * 2.0), pb.grad(lambda x: np.sum(x * 2.0))):
        with pytest.raises(TypeError, match=re.escape(hint)) as info:
            f(x)
        assert "argument x" in str(info.value) and str(x.dtype) in str(info.value)


@pytest.mark.parametrize("fn, dtype", [
    (lambda x: x.astype(np.uint8), "uint8"),
    (lambda x: np.astype(x, np.float16), "float16"),
    (lambda x: x.astype(complex) * 2, "complex128"),
    (lambda x: np.sum(x, dtype=np.int8), "int8"),
    (lambda x: np.cumsum(x, dtype=np.uint16), "uint16"),
])
@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_conversion_to_an_unsupported_dtype_names_it_and_the_line(fn, dtype, backend):
    # before: traced into the IR, where the interpreter ran it and the numba
    # backend failed with a KeyError from its code generator
    with pytest.raises(TypeError, match=f"pullback does not support dtype {dtype}") as info:
        pb.jit(fn, backend=backend)(np.linspace(0.0, 3.0, 4))
    assert "test_tracer_errors.py" in str(info.value)


def test_asarray_with_a_dtype_on_a_traced_value_suggests_astype():
    with pytest.raises(TypeError, match=re.escape("x.astype(dtype) converts")):
        pb.jit(lambda x: np.asarray(x, dtype=np.float32))(np.ones(3))


def test_a_big_int_output_and_a_negative_tile_are_named():
    # before: an OverflowError from ir/core.py naming no output; an internal reshape ShapeError
    x = np.ones(3)
    with pytest.raises(OverflowError, match="output 1 of <lambda>: the Python int"):
        pb.jit(lambda x: (x, 2**70))(x)
    with pytest.raises(ValueError, match="negative dimensions are not allowed"):
        pb.jit(lambda x: np.tile(x, -1))(x)


def test_an_escaped_tracer_names_where_it_was_made_and_used():
    saved = []

    def keep(x):
        y = np.sin(x) * 2.0
        saved.append(y)
        return y

    pb.jit(keep)(np.ones(2))
    with pytest.raises(EscapedTracerError,
                       match=r"(?s)f64\[2\] escaped.*made at .*line \d+, in keep.*"
                             r"np.sin\(x\) \* 2.0.*used at .*in <lambda>"):
        pb.jit(lambda x: x + saved[0])(np.ones(2))
    with pytest.raises(EscapedTracerError, match=r"(?s)reached 'cos' outside of any trace.*made at"):
        np.cos(saved[0])
    with pytest.raises(EscapedTracerError, match=r"(?s)converted to a NumPy array outside of "
                                                 r"any trace.*made at"):
        np.asarray(saved[0])  # said "NumPy tried to convert a traced array"


def test_transforms_of_something_not_callable_fail_at_once():
    for transform in (pb.jit, pb.grad, pb.value_and_grad, pb.jacfwd, pb.jacrev, pb.hessian,
                      pb.vmap, pb.make_ir, pb.custom_jvp, pb.custom_vjp):
        with pytest.raises(TypeError, match="expects a function, got int"):
            transform(3)
    g = pb.custom_jvp(lambda x: x)
    with pytest.raises(TypeError, match="defjvp expects a function"):
        g.defjvp(3)


def test_control_flow_functions_returning_non_arrays_are_named():
    with pytest.raises(TypeError, match="pb.cond: the predicate must be a bool or a number, got str"):
        pb.cond("yes", lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match=r"(?s)<lambda> returned a str as output 0.*test_tracer_errors"):
        pb.jit(lambda x: pb.cond(x > 0, lambda: "a", lambda: "b"))(1.0)
    with pytest.raises(TypeError, match="returned a str as output 1"):
        pb.jit(lambda x: pb.scan(lambda c, _: (c, "s"), x, None, length=2))(1.0)


def test_ufunc_of_another_library_is_named_by_its_module():
    import scipy.special as special  # a dependency (Numba's BLAS and LAPACK)
    with pytest.raises(NotImplementedError, match=r"scipy\.special\.erfinv is not supported"):
        pb.make_ir(lambda x: special.erfinv(x))(X3)


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax"])
def test_python_function_of_another_library_is_named_with_the_users_line(name):
    """scipy.special.logsumexp is Python code that calls np.asarray on its argument:
    the error names it (not 'a traced value inside a list') and the user's line."""
    import scipy.special as special
    fn = getattr(special, name)
    with pytest.raises(NotImplementedError,
                       match=rf"(?s)scipy\.special\.{name} is not supported.*"
                             r"test_tracer_errors\.py.*fn\(x\)") as info:
        pb.jit(lambda x: fn(x))(X3)
    assert isinstance(info.value, TypeError)  # what converting a traced value raises
    # the hint lists every scipy.special ufunc with a rule
    assert "ufuncs erf, expit, logit, gammaln and psi trace" in str(info.value)


def test_library_functions_that_convert_directly_or_through_a_wrapper_are_named():
    # np.asarray called from the library's own frame (scipy.stats, scipy.linalg.expm), and
    # a decorator's wrapper that converts before the function runs (solve_triangular)
    import scipy.linalg as linalg
    import scipy.stats as stats
    for name, fn in (("scipy.stats.cdf", stats.norm.cdf), ("scipy.linalg.expm", linalg.expm),
                     ("scipy.linalg.solve_triangular",
                      lambda a: linalg.solve_triangular(a, np.ones(2)))):
        with pytest.raises(NotImplementedError,
                           match=rf"(?s){name} is not supported.*test_tracer_errors\.py"):
            pb.jit(pb.grad(lambda a: np.sum(fn(a))))(np.eye(2))
        # eagerly the library computes on the value, as on JAX's eager arrays: fine
        # where nothing is differentiated through it, refused where a derivative is lost
        with pytest.raises(pb.ConcretizationError,
                           match=rf"(?s){name} \(converting.*scipy.special.*derivative would "
                                 r"be lost.*test_tracer_errors\.py"):
            pb.grad(lambda a: np.sum(fn(a)))(np.eye(2))
        pb.grad(lambda x, a: np.sum(fn(a)) * x)(1.0, np.eye(2))
    with pytest.raises(NotImplementedError,
                       match=r"(?s)np.vectorize is not supported.*pb.vmap.*test_tracer_errors"):
        pb.jit(pb.grad(lambda x: np.sum(np.vectorize(np.sin)(x))))(np.ones(2))


def test_random_draws_with_traced_arguments_are_named():
    # C functions have no frame: the name comes from the user's line
    rng = np.random.default_rng(0)

    def module_level(x):
        return np.random.normal(loc=x)

    def generator(x):
        return rng.uniform(x, 2 * x)

    for f, name in ((module_level, r"np\.random\.normal"), (generator, r"rng\.uniform")):
        with pytest.raises(NotImplementedError,
                           match=rf"(?s){name}, called on this line, is not supported.*"
                                 r"loc \+ scale \* z.*test_tracer_errors\.py"):
            pb.jit(f)(np.ones(2))
    assert pb.jit(lambda x: x + np.random.default_rng(1).normal(size=2))(np.ones(2)).shape == (2,)


def test_control_flow_type_errors_name_the_users_line():
    for f in (lambda x: pb.fori_loop(0, 3, lambda i, u: np.concatenate([u, u]), x),
              lambda x: pb.scan(lambda c, _: (np.concatenate([c, c]), None), x, None, length=2),
              lambda x: pb.while_loop(lambda c: c[0] < 3, lambda c: c[:1], x),
              lambda x: pb.cond(x[0] > 0, lambda: x, lambda: x[:1])):
        with pytest.raises(TypeError, match=r"(?s)pb\.\w+:.*test_tracer_errors\.py.*lambda"):
            pb.jit(f)(np.ones(2))


@pytest.mark.parametrize("kwargs", [{}, {"dtype": np.float64}])
def test_np_full_of_a_traced_value_suggests_broadcast_to(kwargs):
    """NumPy's np.full converts its fill value (np.asarray, or np.copyto with a dtype):
    the error names np.full and what works instead, not 'a list' or numpy.copyto."""
    with pytest.raises(TypeError, match=r"(?s)np.full\(shape, v\).*np.broadcast_to.*"
                                        r"test_tracer_errors"):
        pb.jit(lambda x: np.full((2,), x, **kwargs))(1.0)


def test_integer_power_with_a_traced_exponent_names_it():
    with pytest.raises(NotImplementedError, match="traced exponent .an integer array or argument"):
        pb.jit(lambda x, n: x * 2 ** n)(np.ones(3), 3)


@pytest.mark.parametrize("call", [lambda f, x: np.apply_along_axis(f, 0, x),
                                  lambda f, x: np.piecewise(x, [x > 0], [f, 0.0])])
@pytest.mark.parametrize("transform", [pb.jit, pb.grad])
def test_a_callbacks_own_exception_passes_through_numpy_rules_unchanged(call, transform):
    # before: a ValueError raised by the user's function inside np.apply_along_axis was
    # replaced by a new one with the line appended (its identity and attributes lost)
    class Mine(ValueError):
        pass

    raised = Mine("boom")
    raised.payload = 42

    def callback(row):
        raise raised

    with pytest.raises(Mine) as info:
        transform(lambda x: np.sum(call(callback, x)))(np.ones(3))
    assert info.value is raised and str(info.value) == "boom"


def test_small_misuses_name_what_numpy_or_python_would():
    # ~ of floats named the internal primitive `not`
    with pytest.raises(TypeError, match=r"numpy.invert \(~\) is only defined for integer and "
                                        r"bool arrays, not float64"):
        pb.jit(lambda x: ~x)(np.ones(3))
    # a format spec on a traced value: Python's "unsupported format string"
    with pytest.raises(pb.ConcretizationError, match="formatting with '.3f'"):
        pb.jit(lambda x: (f"{x[0]:.3f}", x)[1])(np.ones(2))
    shown = []
    pb.grad(lambda x: (shown.append(f"{x[0]:.3f}"), np.sum(x))[1])(np.ones(2))
    assert shown == ["1.000"]
    # a traced array where a function belongs: "got Tracer"
    with pytest.raises(TypeError, match=r"pb.cond \(true_fun\) expects a function, got a "
                                        r"traced array f64\[2\]"):
        pb.jit(lambda x: pb.cond(x[0] > 0, x, lambda: x))(np.ones(2))


def test_a_dot_of_misaligned_matrices_is_named_dot_and_power_names_the_line():
    with pytest.raises(ValueError, match=r"(?s)shapes \(2, 3\) and \(2, 3\) not aligned: 3 \(dim 1\) "
                                         r"!= 2 \(dim 0\).*test_tracer_errors"):
        pb.jit(lambda m: np.dot(m, m))(np.ones((2, 3)))  # said matmul
    with pytest.raises(NotImplementedError, match=r"(?s)traced exponent.*test_tracer_errors"):
        pb.jit(lambda x, n: x * 2 ** n)(np.ones(3), 3)


@pytest.mark.parametrize("use", [lambda x, n: x.reshape(n), lambda x, n: np.tile(x, n),
                                 lambda x, n: np.split(x, n)[0], lambda x, n: np.arange(n) * x[0],
                                 lambda x, n: np.pad(x, n)])
def test_a_traced_int_used_as_a_size_says_so(use):
    # before: "iteration over a 0-d traced array" or "NumPy tried to convert a traced
    # array" (four causes, none of them this one)
    with pytest.raises(pb.ConcretizationError, match=r"(?s)traced integer used as a size, shape, "
                                                     r"count or bound.*static_argnums"):
        pb.jit(use)(np.arange(1.0, 4.0), 3)
    # its value, when the trace knows it (eager grad), is used
    x = np.arange(1.0, 4.0)
    val, _ = pb.value_and_grad(lambda x: np.sum(use(x, np.sum(x > 0)) * 1.0))(x)
    assert val == np.sum(use(x, 3) * 1.0)


def test_a_traced_int_times_a_python_list_is_refused():
    # Python repeats the list, NumPy multiplies its items: `[0.0] * n` under pb.jit gave
    # array([0.]) silently (JAX raises)
    for f in (lambda x, n: x * len([0.0] * n), lambda x, n: x * len(n * (0.0,))):
        with pytest.raises(TypeError, match="traced integer i64\\[\\] times a Python"):
            pb.jit(f)(np.arange(3.0), 3)
    np.testing.assert_array_equal(
        pb.jit(lambda x, n: x * len([0.0] * n), static_argnums=1)(np.arange(3.0), 3), [0, 3, 6])


def test_pickling_a_traced_value_names_the_line():
    import pickle

    def f(x):
        return x + pickle.loads(pickle.dumps(x))

    with pytest.raises(ConcretizationError, match=r"cannot be pickled(.|\n)*test_tracer_errors.py"):
        pb.jit(f)(np.ones(3))


def test_a_numpy_function_without_a_rule_is_named_when_it_converts():
    f = lambda a: np.lib.stride_tricks.as_strided(a, (3, 2), (8, 8)).sum(1)  # noqa: E731
    with pytest.raises(NotImplementedError, match=r"numpy\.lib\.stride_tricks\.as_strided is not supported"):
        pb.jit(f)(np.arange(4.0))
    with pytest.raises(TypeError, match=r"np\.stack"):  # one with a rule: the list's message
        pb.jit(lambda a: np.mean([a, a]))(np.arange(4.0))


@pytest.mark.parametrize("attr", ["flat", "real", "imag", "T"])
def test_setting_an_array_attribute_says_traced_arrays_are_immutable(attr):
    def f(x):
        setattr(x, attr, 0.0)
        return x

    with pytest.raises(TypeError, match=rf"immutable: x\.{attr} = (.|\n)*test_tracer_errors.py"):
        pb.jit(f)(np.ones(3))
