"""Tests for numpyvae.stable against independent high-precision formulas.

The references use the naive textbook formulas in np.longdouble (80-bit
extended precision on x86: exp(1e4) ≈ 8.8e4342 does not overflow there),
so they share no code with the stable forms under test.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpyvae.stable import log_sigmoid, sigmoid, softplus

LD = np.longdouble
EXTREMES = np.array([-1e4, -745.0, -100.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 100.0, 745.0, 1e4])
needs_extended = pytest.mark.skipif(np.finfo(LD).eps >= np.finfo(np.float64).eps,
                                    reason="np.longdouble is no wider than float64 on this platform")


def ref_sigmoid(a):
    a = np.asarray(a, dtype=LD)
    return LD(1) / (LD(1) + np.exp(-a))


def ref_softplus(a):
    a = np.asarray(a, dtype=LD)
    return np.log1p(np.exp(a))


def ref_log_sigmoid(a):
    a = np.asarray(a, dtype=LD)
    return -np.log1p(np.exp(-a))


FUNCS = [(sigmoid, ref_sigmoid), (softplus, ref_softplus), (log_sigmoid, ref_log_sigmoid)]


def rel_err(got, want):
    got = np.asarray(got, dtype=LD)
    want = np.asarray(want, dtype=LD)
    return np.abs(got - want) / np.maximum(np.abs(want), LD(np.finfo(np.float64).tiny))


@needs_extended
@pytest.mark.parametrize("f, ref", FUNCS, ids=["sigmoid", "softplus", "log_sigmoid"])
def test_float64_matches_extended_precision(f, ref):
    a = np.concatenate([EXTREMES, np.linspace(-40, 40, 801)])
    got = f(a)
    assert got.dtype == np.float64
    assert np.all(rel_err(got, ref(a)) <= 4 * np.finfo(np.float64).eps)


@needs_extended
@pytest.mark.parametrize("f, ref", FUNCS, ids=["sigmoid", "softplus", "log_sigmoid"])
def test_float32_matches_extended_precision(f, ref):
    a = np.concatenate([EXTREMES, np.linspace(-40, 40, 801)]).astype(np.float32)
    got = f(a)
    assert got.dtype == np.float32
    want = ref(a)
    # relative accuracy of a few float32 ulps, except in float32's subnormal
    # range (|value| < 1.2e-38), where only absolute accuracy is possible
    tiny32 = LD(np.finfo(np.float32).tiny)
    ok = (rel_err(got, want) <= 4 * np.finfo(np.float32).eps) | (np.abs(got - want) <= tiny32)
    assert np.all(ok)


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e4, 1e4, allow_nan=False))
def test_identities_hold_for_any_logit(a):
    """softplus(a) - softplus(-a) = a; log_sigmoid(a) = a - softplus(a); sigmoid(a) + sigmoid(-a) = 1."""
    a = np.array([a])
    assert np.allclose(softplus(a) - softplus(-a), a, rtol=1e-15, atol=1e-15)
    # a − softplus(a) is computed by subtracting two numbers of size |a|, so it is exact only
    # to about eps·|a| (at a = 28: 28 − 28.0000000000007 rounds to 0, log_sigmoid gives −6.9e-13)
    eps = np.finfo(float).eps
    assert np.allclose(log_sigmoid(a), a - softplus(a), rtol=1e-15, atol=2 * eps * max(1.0, abs(a[0])))
    # each term is correctly rounded, the sum may round to the next float above 1 (1 + eps)
    assert np.allclose(sigmoid(a) + sigmoid(-a), 1.0, rtol=0, atol=np.finfo(float).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_finite_values_and_gradients(dtype):
    a = EXTREMES.astype(dtype)
    # overflow, 0/0 or log(0) would raise here (underflow to 0 is harmless and expected)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = [sigmoid(a), softplus(a), log_sigmoid(a)]
        grads = [sigmoid(a) * sigmoid(-a),  # d sigmoid / da
                 sigmoid(a),                # d softplus / da
                 sigmoid(-a)]               # d log_sigmoid / da
    for v in values + grads:
        assert v.dtype == dtype and v.shape == a.shape
        assert np.all(np.isfinite(v))
    s, sp, ls = values
    # the limits written out by hand
    assert s[0] == 0.0 and s[-1] == 1.0
    assert sp[0] == 0.0 and sp[-1] == dtype(1e4)
    assert ls[0] == dtype(-1e4) and ls[-1] == 0.0


def central_diff(f, a, h=1e-6):
    return (f(a + h) - f(a - h)) / (2 * h)


@pytest.mark.parametrize("f, df", [
    (sigmoid, lambda a: sigmoid(a) * sigmoid(-a)),
    (softplus, sigmoid),
    (log_sigmoid, lambda a: sigmoid(-a)),
], ids=["sigmoid", "softplus", "log_sigmoid"])
def test_derivative_identities_by_finite_differences(f, df):
    a = np.linspace(-8, 8, 33)
    num = central_diff(f, a)
    ana = df(a)
    err = np.max(np.abs(ana - num)) / max(np.max(np.abs(ana) + np.abs(num)), 1e-300)
    assert err <= 1e-7


def test_out_argument_is_used_and_dtype_kept():
    a = np.linspace(-5, 5, 11, dtype=np.float32)
    for f in (sigmoid, softplus, log_sigmoid):
        out = np.empty_like(a)
        r = f(a, out=out)
        assert r is out and out.dtype == np.float32
        np.testing.assert_allclose(out, f(a.astype(np.float64)), rtol=1e-6, atol=1e-7)


def test_softplus_refuses_in_place():
    a = np.zeros(3)
    with pytest.raises(ValueError, match="share memory"):
        softplus(a, out=a)
