"""Reductions along axes: sum/prod/max/min (np.amax, ...), all/any, count_nonzero,
mean/var/std/ptp/average, argmax/argmin, the nan* family, cumsum/cumprod and
cumulative_sum/cumulative_prod, allclose, and the ufunc methods reduce/accumulate.
"""
from __future__ import annotations

import math

import numpy as np

from . import lax
from .np_elementwise import add, isclose, isnan, maximum, minimum, multiply, subtract
from .np_shape import ravel, take_along_axis
from .numpy_api import (
    FUNCTIONS, _arr, _axes, _consts_scalar, _dt, _float_dtype, _keep, _norm_axis, _shape,
    _sum_dtype, _take_range, implements, unsupported,
)
from .trace import Tracer


# ---------------------------------------------------------------- reductions
def _where_mask(where, a):
    """A `where=` argument as a bool array of a's shape."""
    return lax.broadcast_to(lax.convert(_arr(where), bool), _shape(a))


def _count(a, axes):
    """How many elements a reduction over `axes` combines."""
    return math.prod(_shape(a)[i] for i in axes)


def _extremum_identity(name, dt):
    """The value no element loses to in max (-inf, the integer minimum, False) or min."""
    if dt.kind == "f":
        return -np.inf if name == "max" else np.inf
    if dt.kind == "b":
        return name != "max"
    info = np.iinfo(dt)
    return info.min if name == "max" else info.max


def _reduction(prim_fn, name):
    def impl(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        a = _arr(a)
        if dtype is not None:
            a = lax.convert(a, dtype)
        elif name in ("sum", "prod"):
            a = lax.convert(a, _sum_dtype(_dt(a)))
        reduce = prim_fn
        if name in ("sum", "prod") and _dt(a).kind == "b":  # dtype=bool: NumPy's or / and
            reduce = lax.reduce_max if name == "sum" else lax.reduce_min
        axes = _axes(axis, lax.ndim(a))
        if where is not None and where is not True:
            # masked-out elements become the identity (or `initial` for max/min)
            if name in ("max", "min") and initial is None:
                raise ValueError(f"reduction operation '{name}imum' does not have an identity, "
                                 "so to use a where mask one has to specify 'initial'")
            # masked-out slots of max/min hold the identity, not `initial` itself: they
            # would take part in its ties (and split the gradient with it)
            fill = {"sum": 0, "prod": 1}.get(name) if name in ("sum", "prod") else \
                _extremum_identity(name, _dt(a))
            mask = _where_mask(where, a)
            a = lax.select(mask, a, lax.full(_shape(a), fill, _dt(a)))
        if name in ("max", "min") and initial is None and any(_shape(a)[i] == 0 for i in axes):
            raise ValueError(
                f"zero-size array to reduction operation {name}imum which has no identity")
        res = reduce(a, axes)
        if initial is not None:
            combine = {"sum": add, "prod": multiply, "max": maximum, "min": minimum}[name]
            res = combine(res, _consts_scalar(initial, _dt(res)))
        return _keep(a, res, axes, keepdims)

    if name in ("max", "min"):  # NumPy's signature: no dtype (a positional keepdims
        def extremum(a, axis=None, out=None, keepdims=False, initial=None, where=None):
            return impl(a, axis, None, out, keepdims, initial, where)  # landed in out)

        extremum.__name__ = name
        return extremum
    impl.__name__ = name
    return impl


FUNCTIONS[np.sum] = _reduction(lax.reduce_sum, "sum")
FUNCTIONS[np.prod] = _reduction(lax.reduce_prod, "prod")
FUNCTIONS[np.max] = FUNCTIONS[np.amax] = _reduction(lax.reduce_max, "max")
FUNCTIONS[np.min] = FUNCTIONS[np.amin] = _reduction(lax.reduce_min, "min")
sum_ = FUNCTIONS[np.sum]
prod_ = FUNCTIONS[np.prod]
max_ = FUNCTIONS[np.max]
min_ = FUNCTIONS[np.min]


def _bool_reduction(name):
    identity = name == "all"

    def impl(a, axis=None, out=None, keepdims=False, *, where=None):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        a = lax.convert(_arr(a), bool)
        axes = _axes(axis, lax.ndim(a))
        if where is not None and where is not True:  # masked-out slots hold the identity
            a = lax.select(_where_mask(where, a), a, lax.full(_shape(a), identity, bool))
        if any(_shape(a)[i] == 0 for i in axes):
            shp = [d for i, d in enumerate(_shape(a)) if i not in axes]
            res = lax.full(shp, identity, bool)
        else:
            res = (lax.reduce_min if identity else lax.reduce_max)(a, axes)
        return _keep(a, res, axes, keepdims)

    return impl


FUNCTIONS[np.all] = all_ = _bool_reduction("all")
FUNCTIONS[np.any] = any_ = _bool_reduction("any")


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    a = _arr(a)
    nz = lax.convert(lax.ne(a, _consts_scalar(0, _dt(a))), np.int64)
    return sum_(nz, axis=axis, keepdims=keepdims)


def _mean_dtype(a, dtype, name):
    if dtype is not None:
        if np.dtype(dtype).kind != "f":  # NumPy truncates the mean, and the variance, to it
            raise unsupported(f"numpy.{name} with dtype={np.dtype(dtype)}",
                              "an integer or bool accumulator; pass a float dtype")
        return np.dtype(dtype)
    return _dt(a) if _dt(a).kind == "f" else np.dtype(np.float64)


def _mean_operand(a, axis, dtype, name):
    """mean/var's operand in the dtype they compute in, and the reduced axes."""
    a = _arr(a)
    a = lax.convert(a, _mean_dtype(a, dtype, name))
    return a, _axes(axis, lax.ndim(a))


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    if out is not None:
        raise unsupported("numpy.mean with out=")
    a, axes = _mean_operand(a, axis, dtype, "mean")
    if where is not None and where is not True:
        mask = _where_mask(where, a)
        s = sum_(a, axis=axes, keepdims=keepdims, where=mask)
        return lax.div(s, lax.convert(sum_(mask, axis=axes, keepdims=keepdims), _dt(s)))
    n = _count(a, axes)
    s = lax.reduce_sum(a, axes)
    return _keep(a, lax.div(s, float(n)), axes, keepdims)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    return _var(a, axis, dtype, out, ddof, keepdims, where, mean, correction, "var")


def _var(a, axis, dtype, out, ddof, keepdims, where, mean, correction, name, skip_nan=False):
    """var (and std's square), or with `skip_nan` nanvar's: NaNs count as absent.
    `mean`, if given, is the mean with keepdims' shape (NumPy's mean=)."""
    if out is not None:
        raise unsupported(f"numpy.{name} with out=")
    if correction is not None:
        ddof = correction
    a, axes = _mean_operand(a, axis, dtype, name)
    given = None if mean is None else lax.convert(_arr(mean), _dt(a))
    masked = where is not None and where is not True
    if not (masked or skip_nan):
        n = _count(a, axes)
        m = given if given is not None else _keep(
            a, lax.div(lax.reduce_sum(a, axes), float(n)), axes, True)
        d = lax.sub(a, m)
        ss = lax.reduce_sum(lax.mul(d, d), axes)
        return _keep(a, lax.div(ss, float(max(n - ddof, 0))), axes, keepdims)
    # NumPy's steps: absent elements contribute zeros to the mean and the squares
    seen = _where_mask(where if masked else True, a)
    if skip_nan:
        seen = lax.bitwise_and(seen, lax.logical_not(isnan(a)))
    zero = lax.full(_shape(a), 0, _dt(a))
    count = lax.convert(lax.reduce_sum(lax.convert(seen, np.int64), axes), _dt(a))
    if given is None:
        given = _keep(a, lax.div(lax.reduce_sum(lax.select(seen, a, zero), axes), count), axes, True)
    d = lax.select(seen, lax.sub(a, given), zero)
    ss = lax.reduce_sum(lax.mul(d, d), axes)
    dof = lax.sub(count, _consts_scalar(ddof, _dt(a)))
    if skip_nan:  # NaN where count - ddof <= 0 (divided by 1 there: no NaN cotangents)
        bad = lax.le(dof, _consts_scalar(0, _dt(a)))
        one = lax.full(_shape(dof), 1, _dt(a))
        res = lax.select(bad, lax.full(_shape(dof), np.nan, _dt(a)),
                         lax.div(ss, lax.select(bad, one, dof)))
    else:  # var's max(count - ddof, 0): inf or NaN there
        res = lax.div(ss, lax.max(dof, _consts_scalar(0, _dt(a))))
    return _keep(a, res, axes, keepdims)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):
    return lax.sqrt(_var(a, axis, dtype, out, ddof, keepdims, where, mean, correction, "std"))


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    if out is not None:
        raise unsupported("numpy.ptp with out=")
    return subtract(max_(a, axis=axis, keepdims=keepdims), min_(a, axis=axis, keepdims=keepdims))


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _arr(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        n = _count(a, _axes(axis, lax.ndim(a)))
        wsum = lax.full(_shape(avg), n, _dt(avg))
        return (avg, wsum) if returned else avg
    w = _arr(weights)
    if _dt(a).kind in "biu":
        dt = lax.result_dtype(np.zeros((), _dt(a)), np.zeros((), _dt(w)), np.zeros((), np.float64))
    else:
        dt = lax.result_dtype(np.zeros((), _dt(a)), np.zeros((), _dt(w)))
    a, w = lax.convert(a, dt), lax.convert(w, dt)
    if _shape(w) != _shape(a):
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = _axes(axis, lax.ndim(a))
        if _shape(w) != tuple(_shape(a)[ax] for ax in axes):
            raise ValueError("Shape of weights must be consistent with shape of a along "
                             "specified axis.")
        # NumPy's: weights laid along the axes in increasing order, broadcast to a
        order = sorted(range(len(axes)), key=lambda k: axes[k])
        w = lax.broadcast_in_dim(lax.transpose(w, order), _shape(a), tuple(sorted(axes)))
    wsum = sum_(w, axis=axis, keepdims=keepdims)
    avg = lax.div(sum_(lax.mul(a, w), axis=axis, keepdims=keepdims), wsum)
    return (avg, wsum) if returned else avg


def _arg_reduction(prim_fn, name):
    def impl(a, axis=None, out=None, *, keepdims=False):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        a = _arr(a)
        if axis is None:  # over the flattened array
            if 0 in _shape(a):
                raise ValueError(f"attempt to get {name} of an empty sequence")
            res = prim_fn(ravel(a), 0)
            return lax.reshape(res, (1,) * lax.ndim(a)) if keepdims else res
        ax = _norm_axis(axis, lax.ndim(a))
        if _shape(a)[ax] == 0:
            raise ValueError(f"attempt to get {name} of an empty sequence")
        return _keep(a, prim_fn(a, ax), (ax,), keepdims)

    return impl


FUNCTIONS[np.argmax] = argmax = _arg_reduction(lax.argmax, "argmax")
FUNCTIONS[np.argmin] = argmin = _arg_reduction(lax.argmin, "argmin")


def _nan_replace(a, value):
    a = _arr(a)
    if _dt(a).kind != "f":
        return a
    return lax.select(isnan(a), _consts_scalar(value, _dt(a)), a)


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return sum_(_nan_replace(a, 0), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                initial=initial, where=where)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return prod_(_nan_replace(a, 1), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                 initial=initial, where=where)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    a = _arr(a)
    if _dt(a).kind != "f":
        return mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)
    if out is not None:
        raise unsupported("numpy.nanmean with out=")
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TypeError("If a is inexact, then dtype must be inexact")
    where = True if where is None else where
    total = nansum(a, axis=axis, dtype=dtype, keepdims=keepdims, where=where)
    count = sum_(lax.logical_not(isnan(a)), axis=axis, keepdims=keepdims, where=where)
    return lax.div(total, lax.convert(count, _dt(total)))


def _nan_extremum(name, fill):
    red = max_ if name == "nanmax" else min_

    def impl(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = _arr(a)
        if _dt(a).kind != "f":
            return red(a, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        where = True if where is None else where
        # NaNs become the identity (-inf for nanmax), so they never win
        res = red(_nan_replace(a, fill), axis=axis, keepdims=keepdims, initial=initial,
                  where=where)
        if initial is not None:  # NumPy's value even where every element is NaN
            return res
        seen = lax.select(isnan(a), False, lax.broadcast_to(lax.convert(where, np.bool_),
                                                            _shape(a)))
        none_seen = lax.logical_not(any_(seen, axis=axis, keepdims=keepdims))
        return lax.select(none_seen, _consts_scalar(np.nan, _dt(a)), res)

    return impl


FUNCTIONS[np.nanmax] = _nan_extremum("nanmax", -np.inf)
FUNCTIONS[np.nanmin] = _nan_extremum("nanmin", np.inf)


def _nan_var(name, root):
    def impl(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
             mean=None, correction=None):
        a = _arr(a)
        res = _var(a, axis, dtype, out, ddof, keepdims, where, mean, correction, name,
                   skip_nan=_dt(a).kind == "f")
        return lax.sqrt(res) if root else res

    return impl


FUNCTIONS[np.nanvar] = _nan_var("nanvar", False)
FUNCTIONS[np.nanstd] = _nan_var("nanstd", True)


def _nan_arg_extremum(name, fill):
    arg = argmax if name == "nanargmax" else argmin

    def impl(a, axis=None, out=None, *, keepdims=False):
        a = _arr(a)
        if _dt(a).kind != "f":
            return arg(a, axis=axis, out=out, keepdims=keepdims)
        # NaNs never win; a slice of NaNs alone gives -1 (NumPy raises ValueError on
        # the values, which a compiled program does not have; -1 as in JAX)
        res = arg(_nan_replace(a, fill), axis=axis, out=out, keepdims=keepdims)
        seen = lax.logical_not(isnan(a))
        none_seen = lax.logical_not(any_(seen, axis=axis, keepdims=keepdims))
        return lax.select(none_seen, lax.full(_shape(res), -1, _dt(res)), res)

    return impl


FUNCTIONS[np.nanargmax] = _nan_arg_extremum("nanargmax", -np.inf)
FUNCTIONS[np.nanargmin] = _nan_arg_extremum("nanargmin", np.inf)


# ---------------------------------------------------------------- cumulative
def _scan_operand(name, a, axis, dtype, out):
    """cumsum/cumprod's operand (flattened when axis is None) in the accumulator dtype,
    and the axis to scan."""
    if out is not None:
        raise unsupported(f"numpy.{name} with out=")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    a = lax.convert(a, np.dtype(dtype) if dtype is not None else _sum_dtype(_dt(a)))
    return a, _norm_axis(axis, lax.ndim(a))


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    a, ax = _scan_operand("cumsum", a, axis, dtype, out)
    if _dt(a) == np.bool_:  # NumPy's bool loop: a running or
        return lax.gt(lax.cumsum(lax.convert(a, np.int64), ax), 0)
    return lax.cumsum(a, ax)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    a, ax = _scan_operand("cumprod", a, axis, dtype, out)
    if _dt(a) == np.bool_:  # a running and: no False so far
        return lax.eq(lax.cumsum(lax.convert(lax.logical_not(a), np.int64), ax), 0)
    return lax.cumprod(a, ax)


FUNCTIONS[(np.add, "accumulate")] = lambda a, axis=0, dtype=None, **kw: cumsum(
    a, axis=axis, dtype=dtype, **kw)
FUNCTIONS[(np.multiply, "accumulate")] = lambda a, axis=0, dtype=None, **kw: cumprod(
    a, axis=axis, dtype=dtype, **kw)


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    return cumsum(_nan_replace(a, 0), axis=axis, dtype=dtype, out=out)


@implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    return cumprod(_nan_replace(a, 1), axis=axis, dtype=dtype, out=out)


def _cumulative(fn, identity):
    def impl(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        x = _arr(x)
        if axis is None:
            if lax.ndim(x) > 1:
                raise ValueError("axis must be specified for multi-dimensional arrays")
            axis = 0
        res = fn(x, axis=axis, dtype=dtype, out=out)
        if not include_initial:
            return res
        ax = _norm_axis(axis, lax.ndim(res))
        shp = list(_shape(res))
        shp[ax] = 1
        return lax.concatenate([lax.full(shp, identity, _dt(res)), res], ax)

    return impl


FUNCTIONS[np.cumulative_sum] = _cumulative(cumsum, 0)
FUNCTIONS[np.cumulative_prod] = _cumulative(cumprod, 1)


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A traced 0-d bool (NumPy returns a Python bool; deciding on it needs pb.cond)."""
    return all_(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    """Arrays of different shapes are unequal (False, known while tracing); otherwise a
    traced 0-d bool, as allclose's."""
    a1, a2 = _arr(a1), _arr(a2)
    if _shape(a1) != _shape(a2):
        return False
    same = lax.eq(a1, a2)
    if equal_nan:
        same = lax.bitwise_or(same, lax.bitwise_and(isnan(a1), isnan(a2)))
    return all_(same)


@implements(np.array_equiv)
def array_equiv(a1, a2):
    """Equal after broadcasting: False when the shapes do not broadcast."""
    a1, a2 = _arr(a1), _arr(a2)
    try:
        lax.broadcast_shapes(_shape(a1), _shape(a2))
    except ValueError:
        return False
    return all_(lax.eq(a1, a2))


# ---------------------------------------------------------------- ufunc methods
def _ufunc_reduce(reduction):
    def impl(a, axis=0, dtype=None, out=None, keepdims=False, **kw):
        return reduction(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    return impl


FUNCTIONS[(np.add, "reduce")] = _ufunc_reduce(sum_)
FUNCTIONS[(np.multiply, "reduce")] = _ufunc_reduce(prod_)
FUNCTIONS[(np.maximum, "reduce")] = lambda a, axis=0, **kw: max_(a, axis=axis, **kw)
FUNCTIONS[(np.minimum, "reduce")] = lambda a, axis=0, **kw: min_(a, axis=axis, **kw)
FUNCTIONS[(np.logical_and, "reduce")] = lambda a, axis=0, **kw: all_(a, axis=axis, **kw)
FUNCTIONS[(np.logical_or, "reduce")] = lambda a, axis=0, **kw: any_(a, axis=axis, **kw)


def _running(name, combine):
    """ufunc.accumulate of an associative, exactly rounded `combine` (maximum, minimum):
    log2(n) rounds of combining each element with the one 1, 2, 4, ... before it
    (the earlier operand first, as NumPy's running fold keeps its accumulator first),
    which give NumPy's values, NaNs and tied signed zeros included."""
    def impl(a, axis=0, dtype=None, out=None):
        if out is not None:
            raise unsupported(f"numpy.{name}.accumulate with out=")
        a = _arr(a)
        if dtype is not None:
            a = lax.convert(a, np.dtype(dtype))
        if lax.ndim(a) == 0:
            raise TypeError("cannot accumulate on a scalar")
        if isinstance(axis, (tuple, list)) or axis is None:  # NumPy: one axis at most
            axes = tuple(range(lax.ndim(a))) if axis is None else tuple(axis)
            if len(axes) != 1:
                raise ValueError("accumulate does not allow multiple axes")
            axis = axes[0]
        ax = _norm_axis(axis, lax.ndim(a))
        n, k = _shape(a)[ax], 1
        while k < n:
            later = combine(_take_range(a, ax, 0, n - k), _take_range(a, ax, k, n))
            a = lax.concatenate([_take_range(a, ax, 0, k), later], ax)
            k *= 2
        return a

    return impl


FUNCTIONS[(np.maximum, "accumulate")] = _running("maximum", maximum)
FUNCTIONS[(np.minimum, "accumulate")] = _running("minimum", minimum)


def _log_add_exp_reduce(name, exp, log):
    """logaddexp.reduce (base e or 2): max + log(sum(exp(x - max))), which equals NumPy's
    running logaddexp to rounding; -inf for all -inf (or none), inf if any is inf."""
    def impl(a, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        if out is not None or kwargs:
            raise unsupported(f"numpy.{name}.reduce with {'out' if out is not None else sorted(kwargs)}")
        a = _arr(a)
        a = lax.convert(a, np.dtype(dtype) if dtype is not None else _float_dtype(a))
        axes = _axes(axis, lax.ndim(a))
        m = lax.reduce_max(a, axes) if all(_shape(a)[i] for i in axes) else \
            lax.full(tuple(d for i, d in enumerate(_shape(a)) if i not in axes), -np.inf, _dt(a))
        finite = lax.is_finite(m)
        shift = lax.select(finite, m, lax.full(_shape(m), 0, _dt(m)))
        kept = lax.expand_dims(shift, axes)
        sums = lax.reduce_sum(exp(lax.sub(a, kept)), axes)
        # (1 where the max is not finite: log(0) there would make the gradient NaN)
        total = lax.add(shift, log(lax.select(finite, sums, lax.full(_shape(m), 1, _dt(m)))))
        res = lax.select(finite, total, m)
        return lax.expand_dims(res, axes) if keepdims else res

    return impl


FUNCTIONS[(np.logaddexp, "reduce")] = _log_add_exp_reduce("logaddexp", lax.exp,
                                                           lax.log)
FUNCTIONS[(np.logaddexp2, "reduce")] = _log_add_exp_reduce(
    "logaddexp2", lambda x: lax.exp(lax.mul(x, math.log(2.0))),
    lambda x: lax.div(lax.log(x), math.log(2.0)))


# ---------------------------------------------------------------- sorting and order statistics
# One primitive, argsort (stable, ascending, NaNs last as NumPy); the sorted values are a
# gather of it, so their derivative is the gather's (each value's tangent moves with it).
def _sort_along(a, ax):
    order = lax.argsort(a, ax)
    return take_along_axis(a, order, ax), order


def _sort_operand(a, axis, name, order):
    if order is not None:
        raise unsupported(f"numpy.{name} with order=", "structured arrays")
    a = _arr(a)
    if axis is None:
        return ravel(a), 0
    if lax.ndim(a) == 0:
        raise np.exceptions.AxisError(axis, 0)
    return a, _norm_axis(axis, lax.ndim(a))


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    a, ax = _sort_operand(a, axis, "sort", order)
    return _sort_along(a, ax)[0]


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if lax.ndim(_arr(a)) == 0 and axis in (-1, 0):  # NumPy's argsort of a 0-d array: [0]
        axis = None
    a, ax = _sort_operand(a, axis, "argsort", order)
    return lax.argsort(a, ax)


def _kth_checked(kth, n):
    """NumPy's checks of partition's kth (ints, or a sequence of them, within the axis)."""
    for k in np.atleast_1d(np.asarray(kth)).ravel():
        if not np.issubdtype(np.asarray(k).dtype, np.integer):
            raise TypeError("Partition index must be integer")
        if not -n <= int(k) < n:
            raise ValueError(f"kth(={int(k)}) out of bounds ({n})")


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A valid partition: each kth value in its sorted place, none larger before it and
    none smaller after. The sorted array is one; NumPy's introselect leaves the others
    in another order, which its contract does not fix (JAX's differs from both)."""
    a, ax = _sort_operand(a, axis, "partition", order)
    _kth_checked(kth, _shape(a)[ax])
    return _sort_along(a, ax)[0]


@implements(np.argpartition)
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """Indices of a valid partition (see partition): the stable sorting order."""
    if lax.ndim(_arr(a)) == 0 and axis in (-1, 0):
        axis = None
    a, ax = _sort_operand(a, axis, "argpartition", order)
    _kth_checked(kth, _shape(a)[ax])
    return lax.argsort(a, ax)


def _shape_only(np_fn):
    """`np_fn`, whose result depends on the array's shape alone (triu_indices_from):
    NumPy's own, on a stand-in of the static shape."""
    def impl(arr, *args, **kwargs):
        return np_fn(np.broadcast_to(np.zeros((), np.int8), _shape(_arr(arr))), *args, **kwargs)
    return impl


for _fn in (np.triu_indices_from, np.tril_indices_from, np.diag_indices_from):
    FUNCTIONS[_fn] = _shape_only(_fn)


@implements(np.lexsort)
def lexsort(keys, axis=-1):
    """Indices sorting by the last key, ties broken by the one before it, ...: stable
    argsorts from the first key to the last, each of the keys in the order so far."""
    if isinstance(keys, (list, tuple)):
        keys = [_arr(k) for k in keys]
    else:
        k = _arr(keys)
        if lax.ndim(k) == 0:
            raise TypeError("need sequence of keys with len > 0 in lexsort")
        keys = [k[i] for i in range(_shape(k)[0])]
    if not keys:
        raise TypeError("need sequence of keys with len > 0 in lexsort")
    if len({_shape(k) for k in keys}) != 1:
        raise ValueError("all keys need to be the same shape")
    first, ax = _sort_operand(keys[0], axis, "lexsort", None)
    order = lax.argsort(first, ax)
    for k in keys[1:]:
        order = take_along_axis(order, lax.argsort(take_along_axis(k, order, ax), ax), ax)
    return order


# median and quantile read a few positions of the order: up to this many are found by
# selection (argselect, O(n) each), more by one sort
SELECT_RANKS_MAX = 16


def _sorted_last(a, axis, ranks=None):
    """`a` with the axes of `axis` (None: all) moved last, merged into one and sorted:
    (sorted, reduced axes, number m of values per slice, column(position): where a sorted
    position is along the last axis). With `ranks` (sorted positions wanted, given m),
    the sorted values at those positions and the last one only (found by selection when
    they are few), each position's column where it landed among them."""
    a = _arr(a)
    nd = lax.ndim(a)
    axes = _axes(axis, nd)
    kept = [i for i in range(nd) if i not in axes]
    perm = kept + list(axes)
    if perm != list(range(nd)):
        a = lax.transpose(a, perm)
    m = math.prod(_shape(a)[len(kept):])
    a = lax.reshape(a, tuple(_shape(a)[:len(kept)]) + (m,))
    wanted = sorted({int(r) for r in ranks(m)} | {m - 1}) if ranks and m else ()
    if 0 < len(wanted) <= SELECT_RANKS_MAX:
        ax = len(kept)
        return (take_along_axis(a, lax.argselect(a, ax, tuple(wanted)), ax), axes, m,
                {r: i for i, r in enumerate(wanted)}.__getitem__)
    return _sort_along(a, len(kept))[0], axes, m, int


def _pick(s, k):
    """s[..., k] of the sorted values (k a static index)."""
    n = lax.ndim(s)
    return lax.reshape(_take_range(s, n - 1, k, k + 1), _shape(s)[:-1])


def _nan_if_any(s, result):
    """Where a slice holds a NaN, that NaN (the last in sorted order, its sign kept), as
    NumPy's median and quantile."""
    if _dt(s).kind != "f":
        return result
    last = _pick(s, _shape(s)[-1] - 1)
    has_nan = isnan(last)
    last = lax.convert(last, _dt(result))
    if lax.ndim(result) > lax.ndim(has_nan):  # quantile: q's axes lead
        has_nan = lax.broadcast_to(has_nan, _shape(result))
        last = lax.broadcast_to(last, _shape(result))
    return lax.select(has_nan, last, result)


def _float_of(s):
    return s if _dt(s).kind == "f" else lax.convert(s, np.float64)


@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    if out is not None:
        raise unsupported("numpy.median with out=")
    s, axes, m, column = _sorted_last(a, axis, lambda m: ((m - 1) // 2, m // 2))
    dt = _dt(_float_of(s))
    if m == 0:  # NumPy's mean of nothing, 0 / 0 (with its NaN's sign bit)
        with np.errstate(invalid="ignore"):
            res = lax.full(_shape(s)[:-1], np.divide(dt.type(0), dt.type(0)), dt)
    else:
        # NumPy's mean of the middle one or two: summed from +0.0 (the median of -0.0
        # is 0.0), then divided by their count
        lo = _float_of(_pick(s, column((m - 1) // 2)))
        hi = _float_of(_pick(s, column(m // 2)))
        total = lax.add(_consts_scalar(0, dt), lo)
        if m % 2 == 0:
            total = lax.add(total, hi)
        res = _nan_if_any(s, lax.div(total, _consts_scalar(2 - m % 2, dt)))
    return _keep(_arr(a), res, axes, keepdims)


def _quantile_q(a, q, method, weights, name, scale):
    """`q` checked as NumPy does, as an array of fractions, and whether it was a
    Python number (weak: NumPy computes its interpolation weights in double)."""
    if method != "linear" or weights is not None:
        raise unsupported(f"numpy.{name} with method={method!r} or weights=",
                          "only the default 'linear' method has a rule")
    if isinstance(q, Tracer):
        raise unsupported(f"numpy.{name} of a traced q", "q must be a concrete value")
    weak_q = type(q) in (int, float)
    q = np.asarray(np.true_divide(q, 100) if scale == 100 else q)
    if q.dtype.kind not in "biuf":
        raise TypeError(f"q must be real numbers, got {q.dtype}")
    if not (q.size == 0 or (np.all(q >= 0) and np.all(q <= 1))):
        raise ValueError("Percentiles must be in the range [0, 100]" if scale == 100
                         else "Quantiles must be in the range [0, 1]")
    if _dt(_arr(a)) == np.bool_ and q.dtype.kind == "f":  # integral q: no difference taken
        raise TypeError("numpy boolean subtract, the `-` operator, is not supported, use the "
                        "bitwise_xor, the `^` operator, or the logical_xor function instead.")
    return q, weak_q


def _q_leading(res, q, a, axes, keepdims):
    """A quantile's result, computed with q's values along a last axis, with q's
    axes leading (and the reduced axes kept as 1s under keepdims), as NumPy's."""
    nd = lax.ndim(res)
    rest = _shape(res)[:-1]
    res = lax.reshape(lax.transpose(res, [nd - 1] + list(range(nd - 1))), q.shape + rest)
    if keepdims:
        res = lax.reshape(res, q.shape + tuple(
            1 if i in axes else d for i, d in enumerate(_shape(_arr(a)))))
    return res


def _neighbours(q, m):
    """NumPy's 'linear' method's sorted positions for fractions q of m values: the
    virtual index (m - 1) q and, for float q, its neighbours floor and floor + 1 (both
    -1, the last one, from m - 1 on)."""
    virtual = np.ravel((m - 1) * q)
    if virtual.dtype.kind in "iu":
        return virtual, virtual, virtual
    floor = np.floor(virtual)
    above = virtual >= m - 1
    return virtual, np.where(above, -1, floor), np.where(above, -1, floor + 1)


def _quantile(a, q, axis, method, keepdims, weights, name, scale):
    q, weak_q = _quantile_q(a, q, method, weights, name, scale)
    s, axes, m, column = _sorted_last(a, axis, lambda m: np.concatenate(
        _neighbours(q, m)[1:]).astype(np.int64) % m)
    if m == 0:
        raise IndexError(f"numpy.{name}: cannot take a quantile of an empty slice")
    rest, arr_dt, nd = tuple(_shape(s)[:-1]), _dt(s), lax.ndim(s)
    # NumPy's 'linear' method with its own float operations, so the same bits: virtual
    # index (m - 1) q, neighbours floor and floor + 1 (both the last one from m - 1 on),
    # gamma = virtual - previous (as it computes it), and lerp a + (b - a) t, or
    # b - (b - a)(1 - t) where t >= 0.5. One gather per neighbour for all of q.
    virtual, prev, nxt = _neighbours(q, m)

    def neighbour(index):  # sorted position index[k] (from s's columns) for every k
        cols = [column(i) for i in (index.astype(np.int64) % m).tolist()]
        return lax.gather(s, np.array(cols, np.int64), nd - 1)

    if virtual.dtype.kind in "iu":
        res = neighbour(virtual)
    else:
        gamma = np.asarray(virtual - prev, dtype=virtual.dtype)
        out_dt = np.result_type(arr_dt, 1.0 if weak_q else gamma.dtype)
        x0, x1 = neighbour(prev), neighbour(nxt)
        diff = lax.convert(lax.sub(x1, x0), out_dt)
        if weak_q:  # a Python float: t and 1 - t in double, then in the array's type
            t, w = np.asarray(gamma, np.float64), 1.0 - np.asarray(gamma, np.float64)
        else:
            t, w = gamma, np.ones((), gamma.dtype) - gamma
        shape = rest + (virtual.size,)

        def const(v):
            return lax.broadcast_to(np.asarray(v, out_dt), shape)

        res = lax.select(lax.broadcast_to(t >= 0.5, shape),
                         lax.sub(lax.convert(x1, out_dt), lax.mul(diff, const(w))),
                         lax.add(lax.convert(x0, out_dt), lax.mul(diff, const(t))))
    # q's axes lead the result
    res = lax.reshape(lax.transpose(res, [nd - 1] + list(range(nd - 1))), q.shape + rest)
    res = _nan_if_any(s, res)
    if keepdims:
        res = lax.reshape(res, q.shape + tuple(
            1 if i in axes else d for i, d in enumerate(_shape(_arr(a)))))
    return res


def _present(s):
    """How many values of each sorted slice are not NaN (NaNs sort last), as int64."""
    return lax.reduce_sum(lax.convert(lax.logical_not(isnan(s)), np.int64), (lax.ndim(s) - 1,))


def _at(s, index):
    """s[..., index[..., j]] for traced indices, clamped into the slice."""
    m = _shape(s)[-1]
    return take_along_axis(s, lax.max(lax.min(index, m - 1), 0), -1)


def _nan_quantile(a, q, axis, method, keepdims, weights, name, scale):
    """nanquantile/nanpercentile: the quantile of each slice's values that are not
    NaN, by NumPy's 'linear' steps with the count of those values in place of the
    slice's length; NaN for a slice of NaNs alone."""
    if _dt(_arr(a)).kind != "f":
        return _quantile(a, q, axis, method, keepdims, weights, name[3:], scale)
    q, weak_q = _quantile_q(a, q, method, weights, name, scale)
    s, axes, m, _ = _sorted_last(a, axis)
    arr_dt, nd = _dt(s), lax.ndim(s)
    qs = np.ravel(q)
    shape = tuple(_shape(s)[:-1]) + (qs.size,)
    if m == 0:  # every slice is empty: NaN, as for a slice of NaNs
        dt = arr_dt if qs.dtype.kind in "biu" else np.result_type(arr_dt, 1.0 if weak_q else qs)
        return _q_leading(lax.full(shape, np.nan, dt), q, a, axes, keepdims)
    k = lax.broadcast_in_dim(_present(s), shape, tuple(range(nd - 1)))
    last = lax.sub(k, _consts_scalar(1, np.int64))
    none = lax.eq(k, _consts_scalar(0, np.int64))
    if qs.dtype.kind in "biu":  # q of 0s and 1s: the first or the last value
        res = _at(s, lax.mul(last, lax.broadcast_to(qs.astype(np.int64), shape)))
        res = lax.select(none, lax.full(shape, np.nan, arr_dt), res)
        return _q_leading(res, q, a, axes, keepdims)
    # NumPy's (n - 1) q with n the count: an integer times q's floats
    virtual = lax.mul(lax.convert(last, qs.dtype), lax.broadcast_to(qs, shape))
    floor = lax.floor(virtual)
    above = lax.ge(virtual, lax.convert(last, _dt(virtual)))
    minus_one = lax.full(shape, -1, _dt(virtual))
    prev = lax.select(above, minus_one, floor)   # -1: the last value, as NumPy indexes
    gamma = lax.sub(virtual, prev)
    index_prev = lax.select(above, last, lax.convert(floor, np.int64))
    index_next = lax.select(above, last, lax.add(lax.convert(floor, np.int64),
                                                 _consts_scalar(1, np.int64)))
    out_dt = np.result_type(arr_dt, 1.0 if weak_q else _dt(gamma))
    x0, x1 = _at(s, index_prev), _at(s, index_next)
    diff = lax.convert(lax.sub(x1, x0), out_dt)
    t = lax.convert(gamma, np.float64) if weak_q else gamma
    w = lax.sub(lax.full(shape, 1, _dt(t)), t)
    res = lax.select(lax.ge(t, _consts_scalar(0.5, _dt(t))),
                     lax.sub(lax.convert(x1, out_dt), lax.mul(diff, lax.convert(w, out_dt))),
                     lax.add(lax.convert(x0, out_dt), lax.mul(diff, lax.convert(t, out_dt))))
    res = lax.select(none, lax.full(shape, np.nan, out_dt), res)
    return _q_leading(res, q, a, axes, keepdims)


@implements(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median of each slice's values that are not NaN: the mean of the middle
    one or two, as median's; NaN for a slice of NaNs alone."""
    if _dt(_arr(a)).kind != "f":
        return median(a, axis=axis, out=out, keepdims=keepdims)
    if out is not None:
        raise unsupported("numpy.nanmedian with out=")
    s, axes, m, _ = _sorted_last(a, axis)
    dt = _dt(s)
    if m == 0:
        return median(a, axis=axis, keepdims=keepdims)
    k = lax.reshape(_present(s), tuple(_shape(s)[:-1]) + (1,))
    one = _consts_scalar(1, np.int64)
    two = _consts_scalar(2, np.int64)
    lo = _at(s, lax.div(lax.sub(k, one), two))   # (k - 1) // 2 for k >= 1
    hi = _at(s, lax.div(k, two))
    even = lax.eq(lax.rem(k, two), _consts_scalar(0, np.int64))
    total = lax.add(_consts_scalar(0, dt), lo)
    res = lax.select(even, lax.div(lax.add(total, hi), _consts_scalar(2, dt)), total)
    res = lax.select(lax.eq(k, _consts_scalar(0, np.int64)),
                     lax.full(_shape(res), np.nan, dt), res)
    return _keep(_arr(a), lax.reshape(res, _shape(res)[:-1]), axes, keepdims)


def _quantile_entry(impl, name, scale):
    """NumPy's signature of quantile (scale 1) or percentile (100), for `impl`."""
    def entry(a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, weights=None):
        if out is not None:
            raise unsupported(f"numpy.{name} with out=")
        return impl(a, q, axis, method, keepdims, weights, name, scale)

    entry.__name__ = name
    return entry


FUNCTIONS[np.quantile] = _quantile_entry(_quantile, "quantile", 1)
FUNCTIONS[np.percentile] = _quantile_entry(_quantile, "percentile", 100)
FUNCTIONS[np.nanquantile] = _quantile_entry(_nan_quantile, "nanquantile", 1)
FUNCTIONS[np.nanpercentile] = _quantile_entry(_nan_quantile, "nanpercentile", 100)
