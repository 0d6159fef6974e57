"""np.sort / argsort / median / quantile / percentile: bitwise NumPy values on both
backends (NaN, inf, -0.0, ints, float32, Python and array q), derivatives, batching."""
import warnings

import numpy as np
import pytest

import pullback as pb

rng = np.random.default_rng(5)
X = rng.standard_normal((4, 5))
X[1, 2], X[2, 0], X[2, 1], X[3, 3] = np.nan, -0.0, 0.0, np.inf
ARRAYS = {"f64": X, "f32": X.astype(np.float32), "int": rng.integers(-5, 5, (4, 5)),
          "bool": rng.standard_normal((4, 5)) > 0, "vector": np.array([1.0, np.inf, -2.0])}
QS = [0.3, 0.5, 1.0, 0, 1, [0.1, 0.75], np.float32(0.3),
      np.array([0.25, 0.9], np.float32), [0, 1]]


def cases(a):
    axes = [None, 0, -1] if a.ndim > 1 else [None, 0]
    for ax in axes:
        yield f"sort{ax}", lambda a, ax=ax: np.sort(a, axis=ax)
        yield f"argsort{ax}", lambda a, ax=ax: np.argsort(a, axis=ax)
        yield f"median{ax}", lambda a, ax=ax: np.median(a, axis=ax)
        yield f"median_keepdims{ax}", lambda a, ax=ax: np.median(a, axis=ax, keepdims=True)
        if a.dtype == bool:
            continue
        for q in QS:
            yield f"quantile{q}{ax}", lambda a, ax=ax, q=q: np.quantile(a, q, axis=ax)
            pct = q * 100 if isinstance(q, (int, float)) else np.asarray(q) * 100
            yield f"percentile{q}{ax}", lambda a, ax=ax, q=pct: np.percentile(a, q, axis=ax)
    if a.dtype != bool:
        yield "quantile_keepdims", lambda a: np.quantile(a, [0.2, 0.6], axis=0, keepdims=True)


@pytest.mark.parametrize("kind", sorted(ARRAYS))
@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_values_are_numpys_bits(kind, backend):
    a = ARRAYS[kind]
    named = list(cases(a))
    # all cases in one jitted function: one kernel to compile per array kind
    together = pb.jit(lambda a: tuple(f(a) for _, f in named), backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = together(a)
    for (name, f), got in zip(named, outs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.startswith("argsort"):  # ours is stable: NumPy's quicksort orders ties freely
                ax = None if name.endswith("None") else int(name[7:])
                want = np.argsort(a, axis=ax, kind="stable")
            else:
                want = np.asarray(f(a))
        assert got.dtype == want.dtype and got.shape == want.shape, name
        # bitwise, NaN included (the sign of a sorted zero may differ only among equal keys)
        assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), (name, got, want)


def test_sorted_zeros_keep_stable_order():
    a = np.array([0.0, -0.0, 1.0, -0.0])
    np.testing.assert_array_equal(np.signbit(pb.jit(np.sort)(a)), [False, True, True, False])


LOSSES = {
    "sort": lambda x: np.sum(np.sort(x, axis=1) * np.arange(1.0, 6.0)),
    "sort_flat": lambda x: np.sum(np.sin(np.sort(x, axis=None))[:7]),
    "median": lambda x: np.sum(np.median(x, axis=0) ** 2) + np.median(x),
    "quantile": lambda x: np.sum(np.quantile(x, [0.1, 0.5, 0.8], axis=1) ** 2),
    "percentile": lambda x: np.percentile(x, 37.5),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_derivatives(name):
    x = rng.standard_normal((4, 5))  # distinct values: the order is locally constant
    pb.check_grads(LOSSES[name], (x,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(pb.jit(pb.grad(LOSSES[name]))(x),
                               pb.jit(pb.grad(LOSSES[name]), backend="interpreter")(x),
                               rtol=1e-13, atol=1e-15)


def test_gradient_of_the_median_picks_the_middle():
    x = np.array([3.0, -1.0, 7.0, 0.5, 2.0])
    np.testing.assert_array_equal(pb.jit(pb.grad(np.median))(x), [0, 0, 0, 0, 1.0])
    np.testing.assert_array_equal(pb.jit(pb.grad(np.median))(x[:4]), [0.5, 0, 0, 0.5])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_vmap_equals_a_loop(name):
    xs = rng.standard_normal((3, 4, 5))
    for f in (LOSSES[name], pb.grad(LOSSES[name])):
        got = pb.jit(pb.vmap(f))(xs)
        np.testing.assert_allclose(got, np.stack([f(x) for x in xs]), rtol=1e-13, atol=1e-15)
    a = rng.standard_normal((6, 3))
    got = pb.vmap(lambda c: np.argsort(c), in_axes=1)(a)
    np.testing.assert_array_equal(got, np.argsort(a.T, axis=1, kind="stable"))


def test_errors():
    with pytest.raises(ValueError, match=r"Quantiles must be in the range \[0, 1\]"):
        pb.make_ir(lambda x: np.quantile(x, 1.5))(X)
    with pytest.raises(ValueError, match=r"Percentiles must be in the range \[0, 100\]"):
        pb.make_ir(lambda x: np.percentile(x, -1))(X)
    with pytest.raises(NotImplementedError, match="numpy.quantile with method='nearest'"):
        pb.make_ir(lambda x: np.quantile(x, 0.5, method="nearest"))(X)
    with pytest.raises(NotImplementedError, match="traced q"):
        pb.make_ir(lambda x, q: np.quantile(x, q))(X, 0.5)
    with pytest.raises(np.exceptions.AxisError):
        pb.make_ir(np.sort)(np.float64(1.0))
    assert np.isnan(pb.jit(np.median)(np.zeros((0,))))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_a_nan_median_or_quantile_is_the_slices_nan_with_its_sign(backend):
    # NumPy returns the NaN it found (sorted last), not a fresh +nan
    for a in (np.array([-np.nan, 1.0]), np.array([[1.0, -np.nan], [2.0, 3.0]]),
              np.array([-np.nan, 1.0], np.float32)):
        for fn in (lambda a: np.median(a, axis=-1), lambda a: np.quantile(a, [0.1, 0.5], axis=-1),
                   lambda a: np.percentile(a, 30, axis=-1)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = fn(a)
            got = pb.jit(fn, backend=backend)(a)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
            np.testing.assert_array_equal(got, want)


def test_median_of_negative_zeros_and_of_nothing_are_numpys():
    for v in ([-0.0], [-0.0, -0.0], [-0.0, 1.0, -0.0]):
        for backend in ("numba", "interpreter"):
            got = pb.jit(np.median, backend=backend)(np.array(v))
            assert np.signbit(got) == np.signbit(np.median(np.array(v))) and got == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = np.median(np.zeros(0))
    got = pb.jit(np.median)(np.zeros(0))
    assert np.isnan(got) and np.signbit(got) == np.signbit(want)


def test_empty_batches():
    for f, shape in ((np.sort, (0, 4)), (np.median, (0,)), (lambda v: np.quantile(v, 0.3), (0,))):
        assert pb.vmap(f)(np.zeros((0, 4))).shape == shape
        assert pb.jit(pb.vmap(f))(np.zeros((0, 4))).shape == shape
    got = pb.vmap(lambda v, i: np.take_along_axis(v, i, 0))(np.ones((0, 4)), np.zeros((0, 4), int))
    assert got.shape == (0, 4)


def test_quantile_of_bools_is_numpys_type_error():
    with pytest.raises(TypeError, match="boolean subtract"):
        pb.make_ir(lambda x: np.quantile(x, 0.5))(np.array([True, False]))


# ---------------------------------------------------------------- selection (argselect)
def _select_inputs():
    r = np.random.default_rng(11)
    n = 301  # above the selection's insertion-sort window, so partitions run
    organ = np.concatenate([np.arange(n // 2 + 1), np.arange(n // 2)[::-1]]).astype(float)
    yield "normal", r.standard_normal((3, n))
    yield "few values", r.integers(0, 3, (3, n)).astype(float)
    yield "specials", r.choice([np.nan, 0.0, -0.0, 1.0, -np.inf, np.inf, 2.5], (3, n))
    yield "sorted, reversed, organ pipe, constant", np.stack(
        [np.arange(n) * 1.0, -np.arange(n) * 1.0, organ, np.full(n, 4.0)])
    yield "int", r.integers(-4, 4, (2, n))
    yield "f32", r.standard_normal((2, n)).astype(np.float32)
    yield "bool", r.standard_normal((2, n)) > 0.3
    yield "short rows", r.choice([np.nan, 1.0, -0.0, 0.0], (5, 7))


@pytest.mark.parametrize("name,x", list(_select_inputs()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_argselect_is_a_stable_sorts_positions(name, x):
    from pullback.tracer import lax

    n = x.shape[1]
    rank_sets = [(0,), (n - 1,), (0, n - 1), tuple(sorted({(n - 1) // 2, n // 2, n - 1})),
                 tuple(sorted(set(np.random.default_rng(n).integers(0, n, 9).tolist())))]
    order = np.argsort(x, axis=1, kind="stable")
    for ranks in rank_sets:
        for axis, a in ((1, x), (0, x.T)):
            want = np.take(order, ranks, axis=1)
            want = want if axis == 1 else want.T
            for backend in ("numba", "interpreter"):
                got = pb.jit(lambda a: lax.argselect(a, axis, ranks), backend=backend)(a)
                assert got.dtype == np.int64
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {ranks} {backend}")


def test_selection_helpers_hold_up_on_adversarial_orders():
    from pullback.backends.numba import helpers as _h

    a = np.random.default_rng(2).standard_normal(1000)
    b = a.copy()
    _h._heapsort(b, 100, 900)  # the fallback of a selection that stops shrinking
    np.testing.assert_array_equal(b[100:900], np.sort(a[100:900]))
    np.testing.assert_array_equal(b[:100], a[:100])
    n = 20001
    organ = np.concatenate([np.arange(n // 2 + 1), np.arange(n // 2)[::-1]]).astype(float)
    for x in (organ, np.arange(n) % 7 * 1.0, np.tile([1.0, 0.0], n // 2 + 1)[:n]):
        ranks = np.array([0, n // 3, n // 2, n - 1])
        np.testing.assert_array_equal(_h.argselect2(x[None], ranks)[0],
                                      np.argsort(x, kind="stable")[ranks])


def test_median_and_few_quantiles_select_many_quantiles_sort():
    x = rng.standard_normal(50)
    prims = lambda f: [e.prim.name for e in pb.make_ir(f)(x).eqns]  # noqa: E731
    for f in (np.median, lambda x: np.quantile(x, [0.1, 0.9]), lambda x: np.percentile(x, 37)):
        assert "argselect" in prims(f) and "argsort" not in prims(f)
    many = lambda x: np.quantile(x, np.linspace(0, 1, 11))  # noqa: E731  (21 positions)
    assert "argsort" in prims(many) and "argselect" not in prims(many)
    np.testing.assert_array_equal(pb.jit(many)(x), many(x))


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_gradient_of_a_median_of_ties_goes_where_the_stable_order_puts_it(backend):
    # the middle of [2, 1, 2, 2, 0] in stable order is the first 2 (index 0); for the even
    # [2, 2, 1, 2] half each to the ranks 1 and 2 of the order, indices 0 and 1
    g = pb.jit(pb.grad(np.median), backend=backend)
    np.testing.assert_array_equal(g(np.array([2.0, 1.0, 2.0, 2.0, 0.0])), [1.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(g(np.array([2.0, 2.0, 1.0, 2.0])), [0.5, 0.5, 0, 0])


def _is_partition(values, order_values, kth, axis):
    """Each kth value in its sorted place, none larger before it, none smaller after."""
    s = np.sort(values, axis=axis)
    p = np.moveaxis(order_values, axis, -1)
    s = np.moveaxis(s, axis, -1)
    for k in np.atleast_1d(kth) % p.shape[-1]:
        np.testing.assert_array_equal(p[..., k], s[..., k])
        assert np.all(p[..., :k] <= p[..., k:k + 1]) and np.all(p[..., k + 1:] >= p[..., k:k + 1])


@pytest.mark.parametrize("backend", ["numba", "interpreter"])
def test_partition_and_argpartition_are_valid_partitions(backend):
    x = np.array([[3.0, 1.0, 2.0, 5.0, 4.0, 2.0], [0.0, -1.0, 7.0, 2.0, 2.0, np.inf]])
    for kth, axis in [(2, -1), ((1, 4), 1), (0, 0), (-1, 1)]:
        part = pb.jit(lambda a: np.partition(a, kth, axis=axis), backend=backend)(x)
        _is_partition(x, part, kth, axis)
        idx = pb.jit(lambda a: np.argpartition(a, kth, axis=axis), backend=backend)(x)
        assert idx.dtype == np.argpartition(x, kth, axis=axis).dtype
        _is_partition(x, np.take_along_axis(x, idx, axis), kth, axis)
    # the k smallest and their gradient (top-k): the stable order's elements among ties
    g = pb.jit(pb.grad(lambda a: np.sum(np.partition(a, 2)[:, :3] ** 2)), backend=backend)(x)
    np.testing.assert_array_equal(g, [[0.0, 2.0, 4.0, 0.0, 0.0, 4.0], [0.0, -2.0, 0.0, 4.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"kth\(=6\) out of bounds \(6\)"):
        pb.jit(lambda a: np.partition(a, 6), backend=backend)(x)


def test_indices_from_an_arrays_shape():
    a = np.arange(12.0).reshape(3, 4)
    for fn in (lambda a: a[np.triu_indices_from(a, k=1)], lambda a: a[np.tril_indices_from(a)],
               lambda a: a[:, :3][np.diag_indices_from(a[:, :3])]):
        np.testing.assert_array_equal(pb.jit(fn)(a), fn(a))
