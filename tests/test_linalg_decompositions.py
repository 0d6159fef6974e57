"""np.linalg.eigh / eigvalsh / svd / svdvals / qr and what is built on them (pinv, lstsq,
matrix_rank, cond, the spectral and nuclear norms), with matrix_power and multi_dot:
values against NumPy on both backends, derivatives against finite differences (first
and second order, forward and reverse), compiled against the interpreter, batching
against a loop, and errors."""
import numpy as np
import pytest

import pullback as pb
from pullback.ir import parse, typecheck
from pullback.ir import primitives as P
from pullback.ir.core import ShapedArray

rng = np.random.default_rng(12)
SQUARE = rng.standard_normal((4, 4))
SYM = SQUARE + SQUARE.T
TALL = rng.standard_normal((5, 3))
WIDE = rng.standard_normal((3, 5))
STACK = rng.standard_normal((2, 4, 3))


def separated(m, n):
    """An m x n matrix with singular values 3, 2, 1, ...: finite differences of its
    singular vectors stay accurate (they grow like 1 / the gaps)."""
    q1, _ = np.linalg.qr(rng.standard_normal((m, m)))
    q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    return q1[:, :k] @ np.diag(np.arange(k, 0, -1.0)) @ q2[:, :k].T


S_SQUARE, S_TALL, S_WIDE = separated(4, 4), separated(5, 3), separated(3, 5)
_q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
S_SYM = _q @ np.diag([4.0, 3.0, 2.0, 1.0]) @ _q.T  # eigenvalues 1, 2, 3, 4


def sym(a):
    return a + np.swapaxes(a, -1, -2)


# name -> (function of one matrix (stack) returning a tuple of arrays, its inputs)
VALUES = {
    "eigh": (lambda a: tuple(np.linalg.eigh(a)), [SYM, np.stack([SYM, 2 * SYM])]),
    "eigh_upper": (lambda a: tuple(np.linalg.eigh(a, UPLO="U")), [SQUARE]),
    "eigvalsh": (lambda a: (np.linalg.eigvalsh(a),), [SYM]),
    "svd": (lambda a: tuple(np.linalg.svd(a)), [SQUARE, TALL, WIDE, STACK]),
    "svd_thin": (lambda a: tuple(np.linalg.svd(a, full_matrices=False)), [TALL, WIDE, STACK]),
    "svd_values": (lambda a: (np.linalg.svd(a, compute_uv=False),), [TALL, WIDE]),
    "svdvals": (lambda a: (np.linalg.svdvals(a),), [STACK]),
    "svd_hermitian": (lambda a: tuple(np.linalg.svd(a, hermitian=True)), [SYM]),
    "qr": (lambda a: tuple(np.linalg.qr(a)), [SQUARE, TALL, WIDE, STACK]),
    "qr_complete": (lambda a: tuple(np.linalg.qr(a, mode="complete")), [TALL, WIDE]),
    "qr_r": (lambda a: (np.linalg.qr(a, mode="r"),), [TALL]),
    "pinv": (lambda a: (np.linalg.pinv(a),), [TALL, WIDE, STACK]),
    "matrix_rank": (lambda a: (np.linalg.matrix_rank(a),), [TALL, np.outer(TALL[:, 0], WIDE[0])]),
    "cond": (lambda a: (np.linalg.cond(a), np.linalg.cond(a, -2), np.linalg.cond(a, 1)),
             [SQUARE]),
    "norms": (lambda a: (np.linalg.norm(a, 2), np.linalg.norm(a, -2), np.linalg.norm(a, "nuc")),
              [TALL, WIDE]),
    "lstsq": (lambda a: np.linalg.lstsq(a, np.arange(5.0))[:2], [TALL]),
    "lstsq_wide": (lambda a: np.linalg.lstsq(a, np.ones((3, 2)))[0:4:3], [WIDE]),
    "matrix_power": (lambda a: tuple(np.linalg.matrix_power(a, n) for n in (0, 1, 3, 6, -2)),
                     [SQUARE]),
    "multi_dot": (lambda a: (np.linalg.multi_dot([a, a.T, a, np.ones(3)]),), [TALL]),
}


@pytest.mark.parametrize("name", sorted(VALUES))
@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_values_equal_numpy(name, backend):
    f, inputs = VALUES[name]
    for a in inputs + [inputs[0].astype(np.float32)]:
        got, want = pb.jit(f, backend=backend)(a), f(a)
        for g, w in zip(got, want):
            w = np.asarray(w)
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype)
            tol = 1e-4 if a.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_factors_equal_numpys_to_the_bit():
    # the same LAPACK routines, called per matrix as NumPy calls them: not only equal
    # up to signs of singular or eigen vectors, but the same numbers
    for f, a in ((lambda a: tuple(np.linalg.eigh(a)), SYM),
                 (lambda a: tuple(np.linalg.eigh(a, UPLO="U")), SQUARE),  # LAPACK's 'U' too
                 (lambda a: tuple(np.linalg.svd(a)), TALL),
                 (lambda a: tuple(np.linalg.qr(a)), TALL)):
        for g, w in zip(pb.jit(f)(a), f(a)):
            np.testing.assert_array_equal(g, w)


SCALAR_LOSSES = {  # (loss, input); eigenvector and singular vector signs cancel in each
    "eigvalsh": (lambda a: np.sum(np.linalg.eigvalsh(sym(a)) ** 3), S_SYM),
    "eigenvectors": (lambda a: np.sum(np.linalg.eigh(sym(a))[1] ** 4 * np.arange(4.0)),
                     S_SYM),
    "svd_square": (lambda a: np.sum(np.linalg.svd(a)[0] ** 4 * np.linalg.svd(a)[1]), S_SQUARE),
    "svd_tall": (lambda a: np.sum(np.linalg.svd(a, full_matrices=False)[0] ** 4)
                 + np.sum(np.linalg.svd(a, full_matrices=False)[2] ** 4), S_TALL),
    "svd_wide": (lambda a: np.sum(np.linalg.svd(a, full_matrices=False)[0] ** 4)
                 + np.sum(np.linalg.svd(a, full_matrices=False)[2] ** 4), S_WIDE),
    "qr": (lambda a: np.sum(np.linalg.qr(a)[0] ** 3) + np.sum(np.linalg.qr(a)[1] ** 3), S_TALL),
    "qr_complete_square": (lambda a: np.sum(np.sin(np.linalg.qr(a, mode="complete")[0])),
                           S_SQUARE),
    "pinv": (lambda a: np.sum(np.sin(np.linalg.pinv(a))), S_WIDE),
    "lstsq": (lambda a: np.sum(np.linalg.lstsq(a, np.arange(5.0))[0] ** 2), S_TALL),
    "norms": (lambda a: np.linalg.norm(a, 2) + np.linalg.norm(a, "nuc") * np.linalg.cond(a),
              S_SQUARE),
}


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_derivatives_match_finite_differences(name):
    f, a = SCALAR_LOSSES[name]
    pb.check_grads(f, (a,), order=2, modes=("fwd", "rev"))


def test_derivatives_are_those_of_the_triangle_read():
    # eigh (and cholesky, test_linalg.py) read one triangle, as NumPy: their derivative
    # is that of the function of that triangle, so finite differences in any direction,
    # the other triangle's included (where the value does not move), agree
    spd = S_SYM + 5.0 * np.eye(4)
    for f in (lambda a: np.sum(np.linalg.eigvalsh(a) ** 2),
              lambda a: np.sum(np.linalg.eigh(a, UPLO="U")[1] ** 4 * np.arange(4.0)),
              lambda a: np.sum(np.linalg.svd(a, hermitian=True)[1] ** 2),
              # pinv's own rule took the whole tangent (its upper triangle too)
              lambda a: np.sum(np.linalg.pinv(a, hermitian=True) * np.arange(16.0).reshape(4, 4))):
        pb.check_grads(f, (spd,), order=2, modes=("fwd", "rev"))
    g = pb.grad(lambda a: np.sum(np.linalg.pinv(a, hermitian=True) * np.arange(16.0).reshape(4, 4)))
    assert np.all(np.triu(g(spd), 1) == 0.0)
    upper_only = np.triu(np.ones((4, 4)), 1)
    f = lambda a: np.sum(np.linalg.eigvalsh(a) ** 2)  # noqa: E731
    assert pb.jvp(f, (spd,), (upper_only,))[1] == 0.0
    # a symmetric tangent counts once (as in JAX's convention): its lower triangle
    # alone moves the value as much
    sym_t = upper_only + upper_only.T
    np.testing.assert_allclose(pb.jvp(f, (spd,), (sym_t,))[1],
                               pb.jvp(f, (spd,), (np.tril(sym_t),))[1], rtol=1e-14)


@pytest.mark.parametrize("name", sorted(SCALAR_LOSSES))
def test_compiled_gradients_and_hessians_equal_the_interpreter(name):
    f, a = SCALAR_LOSSES[name]
    # compiled Hessians of the three factorizations (a Hessian kernel of small products
    # takes Numba seconds; the derivative rules themselves are checked above)
    hessian = name in ("eigenvectors", "svd_tall", "qr")
    for g in (pb.grad(f), pb.hessian(f)) if hessian else (pb.grad(f),):
        np.testing.assert_allclose(pb.jit(g)(a), pb.jit(g, backend="interpreter")(a),
                                   rtol=1e-10, atol=1e-10)


def test_gradients_of_known_closed_forms():
    # d lambda_k = v_k v_k^T as a symmetric matrix, read from the lower triangle (each
    # off-diagonal entry stands for two); d s_k = u_k v_k^T; d |a|_* = u v^T
    w, v = np.linalg.eigh(SYM)
    got = pb.jit(pb.grad(lambda a: np.linalg.eigvalsh(a)[3]))(SYM)
    vv = np.outer(v[:, 3], v[:, 3])
    np.testing.assert_allclose(got, np.tril(vv) + np.tril(vv, -1), rtol=1e-12, atol=1e-14)
    u, s, vh = np.linalg.svd(TALL, full_matrices=False)
    got = pb.jit(pb.grad(lambda a: np.linalg.svd(a, compute_uv=False)[0]))(TALL)
    np.testing.assert_allclose(got, np.outer(u[:, 0], vh[0]), rtol=1e-12, atol=1e-14)
    got = pb.jit(pb.grad(lambda a: np.linalg.norm(a, "nuc")))(TALL)
    np.testing.assert_allclose(got, u @ vh, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["eigenvectors", "svd_tall", "qr", "pinv"])
def test_vmap_equals_a_loop(name):
    f, a = SCALAR_LOSSES[name]
    stack = np.stack([a, 2 * a, a + 0.5])
    for g in (f, pb.grad(f)):
        got = pb.jit(pb.vmap(g))(stack)
        np.testing.assert_allclose(got, np.stack([g(x) for x in stack]), rtol=1e-11,
                                   atol=1e-12)


def test_nan_and_empty_inputs_as_numpy():
    with_nan = np.array([[1.0, np.nan], [np.nan, 2.0]])
    for backend in ("numba", "interpreter"):
        for f in (np.linalg.svd, np.linalg.svdvals, np.linalg.pinv):
            with pytest.raises(np.linalg.LinAlgError, match="SVD did not converge"):
                pb.jit(f, backend=backend)(with_nan)
        assert np.isnan(pb.jit(np.linalg.eigvalsh, backend=backend)(with_nan)).all()
        r = pb.jit(lambda a: np.linalg.qr(a)[1], backend=backend)(with_nan)
        np.testing.assert_array_equal(r, np.linalg.qr(with_nan)[1])
    for shape in ((3, 0), (0, 3), (0, 0)):
        a = np.zeros(shape)
        for f in (lambda a: tuple(np.linalg.svd(a)),
                  lambda a: tuple(np.linalg.svd(a, full_matrices=False)),
                  lambda a: tuple(np.linalg.qr(a)), lambda a: tuple(np.linalg.qr(a, mode="complete")),
                  lambda a: (np.linalg.pinv(a),)):
            for g, w in zip(pb.jit(f)(a), f(a)):
                assert g.shape == w.shape
                np.testing.assert_array_equal(g, w)


def test_errors():
    with pytest.raises(np.linalg.LinAlgError, match="must be square"):
        pb.make_ir(np.linalg.eigh)(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="at least two-dimensional"):
        pb.make_ir(np.linalg.svd)(np.ones(3))
    with pytest.raises(ValueError, match="UPLO"):
        pb.make_ir(lambda a: np.linalg.eigh(a, UPLO="X"))(SYM)
    with pytest.raises(NotImplementedError, match="mode='raw'"):
        pb.make_ir(lambda a: np.linalg.qr(a, mode="raw"))(TALL)
    with pytest.raises(ValueError, match="Invalid norm order"):
        pb.make_ir(lambda a: np.linalg.norm(a, 3))(TALL)
    # derivatives that are not unique: refused, naming the primitive
    with pytest.raises(NotImplementedError, match="svd with full_matrices=True"):
        pb.grad(lambda a: np.sum(np.linalg.svd(a)[0]))(TALL)
    with pytest.raises(NotImplementedError, match="derivative of qr"):
        pb.grad(lambda a: np.sum(np.linalg.qr(a)[1]))(WIDE)
    with pytest.raises(P.ShapeError, match="eigh"):
        P.shape_rules[P.eigh_p](ShapedArray((3, 2), np.float64), lower=True)
    with pytest.raises(P.ShapeError, match="svd"):
        P.shape_rules[P.svd_p](ShapedArray((3, 3), np.int64), full_matrices=False,
                               compute_uv=True)


def test_residuals_and_rank():
    # residuals: one per right-hand side whenever m > n (NumPy: empty when rank < n)
    b = rng.standard_normal((5, 2))
    x, res, rank, s = pb.jit(np.linalg.lstsq)(TALL, b)
    x0, res0, rank0, s0 = np.linalg.lstsq(TALL, b)
    np.testing.assert_allclose(x, x0, rtol=1e-12)
    np.testing.assert_allclose(res, res0, rtol=1e-12)
    assert rank == rank0 == 3
    np.testing.assert_allclose(s, s0, rtol=1e-14)
    low_rank = np.outer(TALL[:, 0], [1.0, 2.0, 3.0])
    x, _, rank, _ = pb.jit(np.linalg.lstsq)(low_rank, b)
    assert rank == 1
    np.testing.assert_allclose(x, np.linalg.lstsq(low_rank, b)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("jit", [False, True])
def test_pseudo_inverse_derivatives_at_repeated_singular_values(jit):
    # the identity, diag(1, 1, 2), eye(2, 3): pinv is smooth there, but the SVD's rule
    # divides by s_j^2 - s_i^2 = 0; pinv, lstsq and cond(x, p) use pinv's own rule
    J = pb.jit if jit else (lambda f: f)
    W = np.arange(9.0).reshape(3, 3)
    a = np.diag([1.0, 1.0, 2.0])
    inv_loss = pb.grad(lambda a: np.sum(np.linalg.inv(a) * W))(a)  # the same, through inv
    np.testing.assert_allclose(J(pb.grad(lambda a: np.sum(np.linalg.pinv(a) * W)))(a),
                               inv_loss, atol=1e-14)
    np.testing.assert_allclose(
        J(pb.grad(lambda a: np.sum(np.linalg.lstsq(a, np.ones(3))[0])))(a),
        pb.grad(lambda a: np.sum(np.linalg.solve(a, np.ones(3))))(a), atol=1e-14)
    np.testing.assert_allclose(J(pb.grad(lambda a: np.linalg.cond(a, "fro")))(a)[0],
                               [-1.0206207261596576, 0.0, 0.0], atol=1e-14)  # JAX's
    np.testing.assert_allclose(J(pb.grad(lambda a: np.sum(np.linalg.pinv(a))))(np.eye(2, 3))[0],
                               [-1.0, -1.0, 1.0], atol=1e-14)  # JAX's
    assert np.all(np.isfinite(J(pb.hessian(lambda a: np.sum(np.linalg.pinv(a) * W)))(a)))
    # and elsewhere still the derivative, to second order
    for x in (TALL, WIDE, np.diag([1.0, 1.0, 2.0]) + 0.1):
        pb.check_grads(lambda a: np.sum(np.sin(np.linalg.pinv(a))), (x,), order=2)
    b = np.arange(5.0)
    pb.check_grads(lambda a: np.sum(np.linalg.lstsq(a, b)[0] ** 2), (TALL,), order=2)


def test_ir_text_round_trip():
    f = SCALAR_LOSSES["svd_tall"][0]
    g = SCALAR_LOSSES["eigenvectors"][0]
    h = SCALAR_LOSSES["qr"][0]
    for fn, a, name in ((f, TALL, "svd"), (g, SQUARE, "eigh"), (h, TALL, "qr")):
        ir = pb.make_ir(pb.grad(fn))(a)
        text = str(ir)
        assert f" {name}" in text
        again = parse(text, consts=ir.consts)
        typecheck(again)
        assert str(again) == text


def test_float32_is_factored_in_float64_as_numpy():
    # NumPy computes float32 linear algebra in float64 and rounds the results back: a
    # float32 factorization would keep pinv's singular value of 6e-8 (1e-16 in float64)
    singular = np.array([[1, 2], [2, 4]], np.float32)
    a = SQUARE.astype(np.float32)
    for f, x in ((np.linalg.svdvals, singular), (np.linalg.pinv, singular),
                 (np.linalg.cond, singular), (lambda a: tuple(np.linalg.eigh(a + a.T)), a),
                 (lambda a: tuple(np.linalg.svd(a)), a), (lambda a: tuple(np.linalg.qr(a)), a),
                 (np.linalg.inv, a), (np.linalg.det, a), (lambda a: tuple(np.linalg.slogdet(a)), a),
                 (lambda a: np.linalg.solve(a, a[:, :2]), a),
                 (np.linalg.cholesky, a @ a.T + np.eye(4, dtype=np.float32))):
        got, want = pb.jit(f)(x), f(x)
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            assert g.dtype == np.float32
            np.testing.assert_array_equal(g, w)


def test_norms_and_cond_at_the_edges_as_numpy():
    for backend in ("numba", "interpreter"):
        jit = lambda f: pb.jit(f, backend=backend)  # noqa: E731
        # the largest of no values is 0 (NumPy's initial=0), the smallest an error
        for f, x in ((lambda x: np.linalg.norm(x, 2), np.zeros((0, 3))),
                     (lambda x: np.linalg.norm(x, 1), np.zeros((3, 0))),
                     (lambda x: np.linalg.norm(x, np.inf), np.zeros(0)),
                     (lambda x: np.linalg.norm(x, 2, axis=(-2, -1)), np.ones((2, 3, 0)))):
            np.testing.assert_array_equal(jit(f)(x), f(x))
        with pytest.raises(ValueError, match="zero-size array"):
            jit(lambda x: np.linalg.norm(x, -2))(np.zeros((0, 3)))
        # cond is inf at singular matrices (NaN turned into inf, as NumPy), also in stacks,
        # with no error from the inverse
        assert jit(np.linalg.cond)(np.zeros((2, 2))) == np.inf
        stack = np.stack([np.eye(2), np.zeros((2, 2))])
        np.testing.assert_allclose(jit(lambda x: np.linalg.cond(x, "fro"))(stack), [2.0, np.inf],
                                   rtol=1e-15)  # the inverse from the SVD: rounding
        for p in (None, 1, -1, 2, -2, np.inf, "fro", "nuc"):
            np.testing.assert_allclose(jit(lambda x: np.linalg.cond(x, p))(SQUARE),
                                       np.linalg.cond(SQUARE, p), rtol=1e-12)
        with pytest.raises(np.linalg.LinAlgError, match="must be square"):
            jit(lambda x: np.linalg.svd(x, hermitian=True))(TALL)
    with pytest.warns(DeprecationWarning, match="'full' option is deprecated"):
        r = pb.jit(lambda x: np.linalg.qr(x, "full")[1])(TALL)
    np.testing.assert_array_equal(r, np.linalg.qr(TALL)[1])
