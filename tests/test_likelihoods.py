"""Tests for numpyvae.likelihoods.

Every value is checked against a computation that shares no code with the
implementation: scipy.stats densities, scipy.integrate.quad, naive formulas in
np.longdouble, and central finite differences computed here.
"""
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings, strategies as st
from scipy.integrate import quad

from numpyvae.likelihoods import (Bernoulli, ContinuousBernoulli, Gaussian, LearnedGaussian,
                                  Likelihood, make_likelihood)

S, N, D = 2, 3, 5
ALL = [Bernoulli(), Gaussian(sigma=0.7), LearnedGaussian(), LearnedGaussian(min_logvar=-2.0),
       ContinuousBernoulli()]
IDS = ["bernoulli", "gaussian", "gaussian-learned", "gaussian-learned-floor", "continuous-bernoulli"]


def make_inputs(lik, rng, shape=(S, N, D), dtype=np.float64, scale=2.0):
    x = rng.random(shape[-2:]).astype(dtype)
    heads = [(scale * rng.standard_normal(shape)).astype(dtype) for _ in lik.heads]
    return x, heads


def rel_err(a, n):
    return np.max(np.abs(a - n)) / max(np.max(np.abs(a) + np.abs(n)), 1e-300)


def numerical_grad(f, arr, h=1e-6):
    """Central differences of the scalar f() w.r.t. every entry of arr (changed in place, restored)."""
    g = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + h
        fp = f()
        arr[i] = old - h
        fm = f()
        arr[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def check_gradients(lik, x, heads, w):
    nll, tape = lik.forward(x, *heads)
    assert nll.shape == heads[0].shape[:-1]
    grads = lik.backward(w, tape)
    assert len(grads) == len(heads)
    for head, g in zip(heads, grads):
        assert g.shape == head.shape and g.dtype == head.dtype
        num = numerical_grad(lambda: float(np.sum(w * lik.log_prob(x, *heads) * -1)), head)
        assert rel_err(g, num) <= 1e-7, rel_err(g, num)


# ---- gradients --------------------------------------------------------------
@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_gradient_matches_finite_differences(lik):
    rng = np.random.default_rng(0)
    x, heads = make_inputs(lik, rng)
    w = rng.random((S, N))
    check_gradients(lik, x, heads, w)


@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_gradient_with_2d_heads(lik):
    rng = np.random.default_rng(1)
    x, heads = make_inputs(lik, rng, shape=(N, D))
    check_gradients(lik, x, heads, rng.random(N))


@pytest.mark.parametrize("scale", [1e-4, 0.3, 1.0, 3.0, 30.0], ids=lambda s: f"|a|~{s}")
def test_continuous_bernoulli_gradient_across_regimes(scale):
    """Logits near 0 (series branch), around the switch |a| = 1, and large (direct branch)."""
    rng = np.random.default_rng(2)
    lik = ContinuousBernoulli()
    x = rng.random((N, D))
    a = scale * rng.uniform(0.5, 1.5, (S, N, D)) * rng.choice([-1, 1], (S, N, D))
    check_gradients(lik, x, [a], rng.random((S, N)))


def test_continuous_bernoulli_gradient_formula_at_tiny_logits():
    """At |a| ~ 1e-9 finite differences are too coarse; compare with the
    independent form d/da = sigmoid(a) - x - (1/a - 1/sinh(a)), whose last
    bracket is a/6 - 7a³/360 to O(a⁵)."""
    lik = ContinuousBernoulli()
    a = np.array([[1e-9, -3e-9, 0.0, 2e-12]])
    x = np.array([[0.2, 0.9, 0.5, 0.0]])
    _, tape = lik.forward(x, a)
    (da,) = lik.backward(np.ones(1), tape)
    want = 1 / (1 + np.exp(-a)) - x - (a / 6 - 7 * a ** 3 / 360)
    np.testing.assert_allclose(da, want, rtol=1e-15, atol=1e-16)


# ---- values against scipy and closed forms --------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_bernoulli_log_prob_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (N, D)).astype(float)
    # |a| <= 5 keeps scipy's λ-based reference accurate (1 - λ >= 7e-3 loses no digits
    # that matter); larger logits are tested against hand limits further down
    a = rng.uniform(-5, 5, (S, N, D))
    lam = 1 / (1 + np.exp(-a))
    want = scipy.stats.bernoulli.logpmf(x, lam).sum(-1)
    np.testing.assert_allclose(Bernoulli().log_prob(x, a), want, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.05, 5.0))
def test_gaussian_log_prob_equals_scipy(seed, sigma):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    m = rng.normal(size=(S, N, D))
    s = rng.normal(size=(S, N, D))
    np.testing.assert_allclose(Gaussian(sigma).log_prob(x, m),
                               scipy.stats.norm.logpdf(x, m, sigma).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(LearnedGaussian().log_prob(x, m, s),
                               scipy.stats.norm.logpdf(x, m, np.exp(s / 2)).sum(-1), rtol=1e-12)


def test_learned_gaussian_floor_is_a_smooth_lower_bound():
    floor = -3.0
    x = np.zeros((1, 3))
    m = np.zeros((1, 3))
    raw = np.array([[-50.0, -3.0, 10.0]])
    s = floor + np.log1p(np.exp(raw - floor))          # the documented floor, by hand
    want = scipy.stats.norm.logpdf(0.0, 0.0, np.exp(s / 2)).sum(-1)
    np.testing.assert_allclose(LearnedGaussian(min_logvar=floor).log_prob(x, m, raw), want, rtol=1e-12)


def cb_density(x, lam):
    """Continuous Bernoulli density from the paper's λ form: C(λ) λ^x (1-λ)^(1-x),
    C(λ) = 2 artanh(1-2λ) / (1-2λ) (and 2 at λ = 1/2)."""
    c = 2.0 if lam == 0.5 else 2 * math.atanh(1 - 2 * lam) / (1 - 2 * lam)
    return c * lam ** x * (1 - lam) ** (1 - x)


LAMBDAS = [1e-6, 0.01, 0.2, 0.49, 0.4999999, 0.5, 0.5000001, 0.51, 0.8, 0.99, 1 - 1e-6]


@pytest.mark.parametrize("lam", LAMBDAS)
def test_continuous_bernoulli_density_integrates_to_one(lam):
    a = np.array([[math.log(lam) - math.log1p(-lam)]])      # logit(λ)
    lik = ContinuousBernoulli()
    dens = lambda x: math.exp(lik.log_prob(np.array([[x]]), a)[0])
    total, _ = quad(dens, 0, 1, epsabs=1e-13, epsrel=1e-12, points=[0.01, 0.99])
    assert abs(total - 1) < 1e-9
    # and it is the paper's density pointwise
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert dens(x) == pytest.approx(cb_density(x, lam), rel=1e-9)


@pytest.mark.parametrize("lam", LAMBDAS)
def test_continuous_bernoulli_mean_matches_integral(lam):
    a = np.array([[math.log(lam) - math.log1p(-lam)]])
    want, _ = quad(lambda x: x * cb_density(x, lam), 0, 1, epsabs=1e-13, epsrel=1e-12, points=[0.01, 0.99])
    got = ContinuousBernoulli().mean(a)[0, 0]
    assert got == pytest.approx(want, rel=1e-8, abs=1e-12)


def test_continuous_bernoulli_matches_extended_precision_across_switch():
    """log Z(a) = log((e^a - 1)/a) and E[x] = 1/(1-e^-a) - 1/a, naively in longdouble, around |a| = 1."""
    L = np.longdouble
    a = np.concatenate([np.linspace(0.05, 3, 300), -np.linspace(0.05, 3, 300)])[None, :]
    x = np.zeros_like(a)
    al = a.astype(L)
    logz = np.log(np.expm1(al) / al)
    mu = 1 / (-np.expm1(-al)) - 1 / al
    lik = ContinuousBernoulli()
    nll, _ = lik.forward(x, a)                              # x = 0: nll = log Z(a) summed
    assert abs((nll[0] - logz.sum()) / logz.sum()) < 1e-14
    got = lik.mean(a)
    assert np.max(np.abs((got - mu) / mu)) < 4 * np.finfo(float).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_bernoulli_per_element_accuracy_in_ulps(dtype):
    """Each element's log Z(a) and E[x] within 4 ulps of the dtype, |a| from 1e-3 to 20,
    against the naive formulas in longdouble at the same (rounded) logits."""
    L = np.longdouble
    t = np.geomspace(1e-3, 20, 400)
    a = np.concatenate([t, -t]).astype(dtype)[:, None]     # N = 800 examples, D = 1
    al = a.astype(L)
    logz = np.log(np.expm1(al) / al)[:, 0]
    mu = (1 / (-np.expm1(-al)) - 1 / al)[:, 0]
    lik = ContinuousBernoulli()
    eps = np.finfo(dtype).eps
    got_logz = lik.forward(np.zeros_like(a), a)[0].astype(L)    # x = 0: nll = log Z(a)
    got_mu = lik.mean(a)[:, 0].astype(L)
    assert np.max(np.abs(got_logz - logz) / np.abs(logz)) <= 4 * eps
    assert np.max(np.abs(got_mu - mu) / np.abs(mu)) <= 4 * eps


def test_continuous_bernoulli_series_near_zero():
    """For |a| ≤ 1e-3 compare with the hand-derived leading terms:
    log Z(a) = a/2 + a²/24 - a⁴/2880 + O(a⁶), E[x] = 1/2 + a/12 - a³/720 + O(a⁵)."""
    a = np.array([0.0, 1e-12, -1e-8, 1e-5, -3e-4, 1e-3])[:, None]    # N = 6 examples, D = 1
    lik = ContinuousBernoulli()
    logz, _ = lik.forward(np.zeros_like(a), a)                         # x = 0: nll = log Z(a)
    want = a[:, 0] / 2 + a[:, 0] ** 2 / 24 - a[:, 0] ** 4 / 2880
    np.testing.assert_allclose(logz, want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(lik.mean(a)[:, 0], 0.5 + a[:, 0] / 12 - a[:, 0] ** 3 / 720, rtol=1e-15)


# ---- samplers ---------------------------------------------------------------
@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_sampler_mean_matches_mean(lik):
    rng = np.random.default_rng(3)
    M = 40000
    heads = [np.broadcast_to(np.array([[-3.0, -0.5, 1e-4, 0.7, 4.0]]), (M, 5)).copy() for _ in lik.heads]
    draws = lik.sample(rng, *heads)
    assert draws.shape == heads[0].shape and draws.dtype == heads[0].dtype
    if lik.unit_interval:
        assert draws.min() >= 0 and draws.max() <= 1
    want = lik.mean(*heads)[0]
    sd = draws.std(axis=0)
    # 5 standard errors of the empirical mean
    assert np.all(np.abs(draws.mean(axis=0) - want) <= 5 * sd / math.sqrt(M) + 1e-12)


def test_continuous_bernoulli_sampler_matches_cdf():
    """Kolmogorov–Smirnov against the closed-form CDF F(x) = (e^(a x) - 1)/(e^a - 1)."""
    rng = np.random.default_rng(4)
    for a0 in (-20.0, -2.0, 1e-6, 3.0, 40.0):
        x = ContinuousBernoulli().sample(rng, np.full((4000, 1), a0))[:, 0]
        cdf = lambda v: np.expm1(a0 * v) / np.expm1(a0)
        assert scipy.stats.kstest(x, cdf).pvalue > 1e-3


# ---- stability and dtype ----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lik", [Bernoulli(), ContinuousBernoulli()], ids=["bernoulli", "continuous-bernoulli"])
def test_extreme_logits_finite(lik, dtype):
    a = np.array([[[-1e4, 1e4, -1e4, 1e4, 0.0]]], dtype=dtype)
    x = np.array([[0.0, 1.0, 1.0, 0.0, 0.5]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        nll, tape = lik.forward(x, a)
        (da,) = lik.backward(np.ones((1, 1), dtype=dtype), tape)
        mean = lik.mean(a)
    assert nll.dtype == dtype and da.dtype == dtype and mean.dtype == dtype
    assert np.all(np.isfinite(nll)) and np.all(np.isfinite(da)) and np.all(np.isfinite(mean))
    # wrong-side pixels cost |a| nats each (two of them), right-side ones ~0 (Bernoulli) or -log|a| (CB)
    assert 2e4 - 50 < float(nll[0, 0]) < 2e4 + 50
    # gradient: E[x|a] - x, so ±1 on the wrong side, 0 on the right side
    np.testing.assert_allclose(da[0, 0, :4], [1e-4 if isinstance(lik, ContinuousBernoulli) else 0.0,
                                              -1e-4 if isinstance(lik, ContinuousBernoulli) else 0.0,
                                              -1.0, 1.0], atol=2e-4)


@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_float32_stays_float32(lik):
    rng = np.random.default_rng(5)
    x, heads = make_inputs(lik, rng, dtype=np.float32)
    nll, tape = lik.forward(x, *heads)
    grads = lik.backward(np.full((S, N), 0.1), tape)          # float64 weights must not up-cast
    assert nll.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    assert lik.mean(*heads).dtype == np.float32
    assert lik.sample(np.random.default_rng(0), *heads).dtype == np.float32
    # and agrees with the float64 computation
    nll64 = lik.log_prob(x.astype(np.float64), *[h.astype(np.float64) for h in heads])
    np.testing.assert_allclose(nll, -nll64, rtol=2e-5, atol=1e-5)


def test_other_calls_between_forward_and_backward_change_nothing():
    rng = np.random.default_rng(6)
    lik = Bernoulli()
    x, (a,) = make_inputs(lik, rng)
    _, tape = lik.forward(x, a)
    (g1,) = lik.backward(np.ones((S, N)), tape)
    _, tape = lik.forward(x, a)
    lik.log_prob(x[:1], a[:, :1])
    lik.forward(x[:1], a[:, :1] + 1)
    (g2,) = lik.backward(np.ones((S, N)), tape)
    np.testing.assert_array_equal(g1, g2)


# ---- bad input --------------------------------------------------------------
@pytest.mark.parametrize("lik", [Bernoulli(), ContinuousBernoulli()], ids=["bernoulli", "continuous-bernoulli"])
@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_x_outside_unit_interval(lik, bad):
    x = np.full((N, D), 0.5)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        lik.forward(x, np.zeros((S, N, D)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        lik.check_x(x, "test")


@pytest.mark.parametrize("lik", ALL, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_x(lik, bad):
    x = np.full((N, D), 0.5)
    x[0, 0] = bad
    heads = [np.zeros((S, N, D)) for _ in lik.heads]
    with pytest.raises(ValueError, match="non-finite"):
        lik.forward(x, *heads)


@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_shape_mismatch(lik):
    x = np.full((N, D), 0.5)
    with pytest.raises(ValueError, match=r"must be \(N, D\) or \(S, N, D\)"):
        lik.forward(x, *[np.zeros((S, N, D + 1)) for _ in lik.heads])
    with pytest.raises(ValueError, match="dimensions"):
        lik.forward(x[0], *[np.zeros((S, N, D)) for _ in lik.heads])
    with pytest.raises(ValueError, match="head"):
        lik.forward(x, *[np.zeros((S, N, D))] * (len(lik.heads) + 1))


def test_heads_of_different_shapes_or_dtype():
    x = np.full((N, D), 0.5)
    with pytest.raises(ValueError, match="share one shape"):
        LearnedGaussian().forward(x, np.zeros((S, N, D)), np.zeros((N, D)))
    with pytest.raises(ValueError, match="dtype"):
        Bernoulli().forward(x, np.zeros((S, N, D), dtype=np.float32))
    with pytest.raises(ValueError, match="float array"):
        Bernoulli().forward(x, np.zeros((S, N, D), dtype=int))


@pytest.mark.parametrize("lik", ALL, ids=IDS)
def test_backward_needs_the_forwards_tape(lik):
    fresh = type(lik)()
    with pytest.raises(TypeError, match="tape"):
        fresh.backward(np.ones((S, N)), None)


def test_backward_with_wrong_weight_shape():
    lik = Bernoulli()
    _, tape = lik.forward(np.full((N, D), 0.5), np.zeros((S, N, D)))
    with pytest.raises(ValueError, match=r"shape of nll \(2, 3\)"):
        lik.backward(np.ones((N,)), tape)


def test_constructor_and_sampler_arguments():
    with pytest.raises(ValueError, match="sigma"):
        Gaussian(sigma=0.0)
    with pytest.raises(ValueError, match="sigma"):
        Gaussian(sigma=float("nan"))
    with pytest.raises(ValueError, match="min_logvar"):
        LearnedGaussian(min_logvar=float("inf"))
    with pytest.raises(TypeError, match="Generator"):
        Bernoulli().sample(0, np.zeros((2, 2)))


# ---- factory ----------------------------------------------------------------
def test_make_likelihood():
    assert isinstance(make_likelihood("bernoulli"), Bernoulli)
    assert isinstance(make_likelihood("Continuous_Bernoulli"), ContinuousBernoulli)
    g = make_likelihood("gaussian", sigma=0.1)
    assert isinstance(g, Gaussian) and g.sigma == 0.1
    lg = make_likelihood("gaussian-learned", min_logvar=-4)
    assert isinstance(lg, LearnedGaussian) and lg.min_logvar == -4.0
    inst = Bernoulli()
    assert make_likelihood(inst) is inst
    for lik in (make_likelihood(n) for n in ("bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli")):
        assert isinstance(lik, Likelihood) and lik.heads and lik.name
    with pytest.raises(ValueError, match="'bernoulli', 'gaussian', 'gaussian-learned', 'continuous-bernoulli'"):
        make_likelihood("poisson")
    with pytest.raises(ValueError, match="bad options"):
        make_likelihood("bernoulli", sigma=1.0)
