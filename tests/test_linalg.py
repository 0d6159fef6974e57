"""np.linalg.solve / inv / det / slogdet / cholesky: values against NumPy on both
backends, derivatives against finite differences (first and second order, forward
and reverse), batching against a loop, and errors."""
import numpy as np
import pytest

import pullback as pb
from pullback.ir import parse, typecheck
from pullback.ir import primitives as P
from pullback.ir.core import ShapedArray

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 3)) + 3.0 * np.eye(3)
B = rng.standard_normal((3, 2))
STACK = rng.standard_normal((4, 3, 3)) + 3.0 * np.eye(3)


def spd(a):
    return a @ np.swapaxes(a, -1, -2) + np.eye(a.shape[-1], dtype=a.dtype)


# each maps (a, b) -> a few arrays; `a` is a well-conditioned square matrix (stack)
FUNCTIONS = {
    "solve": lambda a, b: np.linalg.solve(a, b),
    "solve_vector": lambda a, b: np.linalg.solve(a, np.ravel(b)[:3]),  # one (3,) vector
    "inv": lambda a, b: np.linalg.inv(a),
    "det": lambda a, b: np.linalg.det(a),
    "slogdet": lambda a, b: tuple(np.linalg.slogdet(a)),
    "cholesky": lambda a, b: np.linalg.cholesky(spd(a)),
    "cholesky_upper": lambda a, b: np.linalg.cholesky(spd(a), upper=True),
}


def as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_values_equal_numpy(name, backend):
    f = FUNCTIONS[name]
    for a, b, dt in ((A, B, np.float64), (STACK, np.broadcast_to(B, (4, 3, 2)), np.float64),
                     (A.T, B, np.float64),  # a transposed (F-ordered) operand
                     (A.astype(np.float32), B.astype(np.float32), np.float32)):
        got = as_tuple(pb.jit(f, backend=backend)(a, b))
        want = as_tuple(f(a, b))
        for g, w in zip(got, want):
            assert g.dtype == dt and g.shape == np.shape(w)
            tol = 1e-5 if dt == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_cholesky_reads_numpys_triangle():
    # not symmetric: lower=True reads the lower triangle, upper=True the upper one
    m = np.array([[4.0, 2.0], [1.0, 3.0]])
    for backend in ("numba", "interpreter"):
        for upper in (False, True):
            got = pb.jit(lambda a: np.linalg.cholesky(a, upper=upper), backend=backend)(m)
            np.testing.assert_allclose(got, np.linalg.cholesky(m, upper=upper), rtol=1e-15)


def test_cholesky_derivative_is_that_of_the_lower_triangle():
    # NumPy's cholesky reads the lower triangle: finite differences in any direction
    # (those of the upper triangle leave the value alone) agree with the derivative
    a = spd(A)
    for f in (lambda a: np.sum(np.linalg.cholesky(a) * np.arange(9.0).reshape(3, 3)),
              lambda a: np.sum(np.linalg.cholesky(a, upper=True) ** 3)):
        pb.check_grads(f, (a,), order=2, modes=("fwd", "rev"))
    upper_only = np.triu(np.ones((3, 3)), 1)
    assert not pb.jvp(np.linalg.cholesky, (a,), (upper_only,))[1].any()


def test_numpy_types_and_broadcasting():
    ints = np.array([[2, 1], [1, 3]])
    x = pb.jit(np.linalg.solve)(ints, np.array([1, 2]))
    assert x.dtype == np.float64
    np.testing.assert_allclose(x, np.linalg.solve(ints, [1, 2]), rtol=1e-15)
    # a (2,) right-hand side is a vector for every matrix of a stack; (4, 3, 2) broadcasts
    # against a single matrix
    np.testing.assert_allclose(pb.jit(np.linalg.solve)(STACK, B[:, 0]),
                               np.linalg.solve(STACK, B[:, 0]), rtol=1e-13)
    rhs = rng.standard_normal((4, 3, 2))
    np.testing.assert_allclose(pb.jit(np.linalg.solve)(A, rhs), np.linalg.solve(A, rhs),
                               rtol=1e-13)
    s = pb.jit(np.linalg.slogdet)(-A)
    assert type(s).__name__ == "SlogdetResult"
    np.testing.assert_allclose(s.sign, np.linalg.slogdet(-A).sign)
    np.testing.assert_allclose(s.logabsdet, np.linalg.slogdet(-A).logabsdet, rtol=1e-14)


SCALAR_LOSSES = {
    "solve": lambda a, b: np.sum(np.sin(np.linalg.solve(a, b))),
    "solve_vector": lambda a, b: np.sum(np.linalg.solve(a, b[:, 0]) ** 2),
    "inv": lambda a, b: np.sum(np.linalg.inv(a) * b[:, :1]),
    "det": lambda a, b: np.linalg.det(a) * np.sum(b),
    "slogdet": lambda a, b: np.linalg.slogdet(a)[1] + np.linalg.slogdet(a)[0] * np.sum(b),
    "cholesky": lambda a, b: np.sum(np.linalg.cholesky(spd(a)) @ b),
    "cholesky_upper": lambda a, b: np.sum(np.cos(np.linalg.cholesky(spd(a), upper=True))),
    "gaussian_nll": lambda a, b: (0.5 * np.sum(b * np.linalg.solve(spd(a), b))
                                  + np.linalg.slogdet(spd(a))[1]),
}


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_derivatives_match_finite_differences(name):
    f = SCALAR_LOSSES[name]
    pb.check_grads(f, (A, B), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_compiled_gradients_and_hessians_equal_the_interpreter(name):
    f = SCALAR_LOSSES[name]
    for g in (pb.grad(f, argnums=(0, 1)), pb.hessian(f)):
        got = as_tuple(pb.jit(g)(A, B))
        want = as_tuple(pb.jit(g, backend="interpreter")(A, B))
        for x, y in zip(got, want):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-11)


def test_gradients_of_known_closed_forms():
    # d det(a) = det(a) a^-T;  d log|det a| = a^-T;  d sum(inv(a)) = -a^-T 1 1^T a^-T
    inv_t = np.linalg.inv(A).T
    np.testing.assert_allclose(pb.jit(pb.grad(np.linalg.det))(A), np.linalg.det(A) * inv_t,
                               rtol=1e-12)
    np.testing.assert_allclose(pb.jit(pb.grad(lambda a: np.linalg.slogdet(a)[1]))(A), inv_t,
                               rtol=1e-12)
    ones = np.ones((3, 3))
    np.testing.assert_allclose(pb.jit(pb.grad(lambda a: np.sum(np.linalg.inv(a))))(A),
                               -inv_t @ ones @ inv_t, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_vmap_equals_a_loop(name):
    f = SCALAR_LOSSES[name]
    bs = rng.standard_normal((4, 3, 2))
    for in_axes, args, each in (((0, None), (STACK, B), lambda i: (STACK[i], B)),
                                ((None, 0), (A, bs), lambda i: (A, bs[i])),
                                ((0, 0), (STACK, bs), lambda i: (STACK[i], bs[i]))):
        for g in (f, pb.grad(f)):  # compiled for one in_axes (the rest: the interpreter)
            backend = "numba" if in_axes == (0, 0) else "interpreter"
            got = pb.jit(pb.vmap(g, in_axes=in_axes), backend=backend)(*args)
            want = np.stack([g(*each(i)) for i in range(4)])
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_errors():
    with pytest.raises(np.linalg.LinAlgError, match="must be square"):
        pb.make_ir(np.linalg.inv)(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="at least two-dimensional"):
        pb.make_ir(np.linalg.det)(np.ones(3))
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        pb.make_ir(np.linalg.solve)(A, np.ones(4))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    for backend in ("numba", "interpreter"):
        with pytest.raises(np.linalg.LinAlgError):
            pb.jit(np.linalg.solve, backend=backend)(singular, np.ones(2))
        with pytest.raises(np.linalg.LinAlgError):
            pb.jit(np.linalg.cholesky, backend=backend)(-np.eye(2))
        assert pb.jit(np.linalg.det, backend=backend)(singular) == 0.0
    # a documented limit: det's derivative solves with the matrix
    with pytest.raises(np.linalg.LinAlgError):
        pb.grad(np.linalg.det)(singular)
    # NaN entries give NaNs, as in NumPy (Numba's np.linalg would raise)
    with_nan = np.array([[1.0, np.nan], [0.0, 1.0]])
    for backend in ("numba", "interpreter"):
        assert np.isnan(pb.jit(np.linalg.solve, backend=backend)(with_nan, np.ones(2))).all()
        assert np.isnan(pb.jit(np.linalg.det, backend=backend)(with_nan))
        s = pb.jit(np.linalg.slogdet, backend=backend)(singular)
        assert s.sign == 0.0 and s.logabsdet == -np.inf
    # empty matrices and empty stacks, as NumPy
    assert pb.jit(np.linalg.det)(np.zeros((0, 0))) == 1.0
    assert pb.jit(np.linalg.inv)(np.zeros((0, 2, 2))).shape == (0, 2, 2)
    # the IR-level checks name the primitive
    with pytest.raises(P.ShapeError, match="solve"):
        P.shape_rules[P.solve_p](ShapedArray((3, 3), np.float64),
                                 ShapedArray((2, 1), np.float64))
    with pytest.raises(P.ShapeError, match="cholesky"):
        P.shape_rules[P.cholesky_p](ShapedArray((3, 3), np.int64))


def test_ir_text_round_trip():
    ir = pb.make_ir(pb.grad(SCALAR_LOSSES["gaussian_nll"]))(A, B)
    text = str(ir)
    for name in ("solve", "cholesky", "slogdet") if "cholesky" in text else ("solve", "slogdet"):
        assert f" {name} " in text
    again = parse(text, consts=ir.consts)
    typecheck(again)
    assert str(again) == text


def test_einsum_and_tensordot_refuse_what_numpy_refuses():
    a = np.ones((2, 2))
    with pytest.raises(TypeError, match="according to the rule 'safe'"):
        pb.jit(lambda a: np.einsum("ij,jk", a, a, dtype=np.float32))(a)
    assert pb.jit(lambda a: np.einsum("ij,jk", a, a, dtype=np.float32,
                                      casting="same_kind"))(a).dtype == np.float32
    with pytest.raises(ValueError, match=r"collapsing index 'i' don't match \(1 != 3\)"):
        pb.jit(lambda a: np.einsum("ii->i", a))(np.ones((1, 3)))
    with pytest.raises(ValueError, match="duplicate axes are not allowed in tensordot"):
        pb.jit(lambda a: np.tensordot(a, a, axes=([0, 0], [0, 1])))(np.ones((3, 3)))
    with pytest.raises(ValueError, match="invalid subscripts"):
        pb.jit(lambda a: np.einsum("i->->i", a))(np.ones(3))
