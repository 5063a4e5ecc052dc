"""Tests for numpyvae.baselines (mixture.py, mixture_components.py): EM for Gaussian and Bernoulli mixtures.

Every expected value here is computed independently of the implementation:
densities with scipy.stats, log p(x) as log(sum_k pi_k p_k(x)) without a
log-sum-exp, recovered parameters from the true labels of generated data.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from numpyvae.baselines import BernoulliMixture, GaussianMixture

# Rounding slack for "never decreases": objectives are O(10) nats per example in
# float64, so a genuine decrease would be far larger than this.
MONOTONE_SLACK = 1e-10


# ---------------------------------------------------------------- data makers

def gaussian_data(rng, n, weights, means, sds):
    """n rows from a known diagonal Gaussian mixture; returns (x, labels)."""
    labels = rng.choice(len(weights), size=n, p=weights)
    x = means[labels] + sds[labels] * rng.standard_normal((n, means.shape[1]))
    return x, labels


def bernoulli_data(rng, n, weights, probs):
    """n binary rows from a known Bernoulli mixture; returns (x, labels)."""
    labels = rng.choice(len(weights), size=n, p=weights)
    x = (rng.random((n, probs.shape[1])) < probs[labels]).astype(np.float64)
    return x, labels


def match(fitted_means, true_means):
    """Permutation perm with fitted component perm[j] <-> true component j."""
    cost = ((fitted_means[:, None, :] - true_means[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(cols), dtype=int)
    perm[cols] = rows
    return perm


WELL_SEPARATED = dict(
    weights=np.array([0.5, 0.3, 0.2]),
    means=np.array([[0.0, 0.0, 0.0, 0.0, 0.0],
                    [20.0, -20.0, 20.0, 0.0, 5.0],
                    [-20.0, 20.0, 0.0, 20.0, -5.0]]),
    sds=np.array([[1.0, 0.5, 2.0, 1.0, 1.5],
                  [0.7, 1.0, 1.0, 2.0, 1.0],
                  [1.5, 1.5, 0.5, 1.0, 0.8]]),
)


def bernoulli_prototypes(d=60):
    """Three prototypes, probabilities 0.05 / 0.95, pairwise differing in >= 20 pixels."""
    bits = np.zeros((3, d), dtype=bool)
    bits[0, : d // 3] = True
    bits[1, d // 3: 2 * d // 3] = True
    bits[2, 2 * d // 3:] = True
    bits[2, :5] = True
    return np.where(bits, 0.95, 0.05)


# ---------------------------------------------------------------- EM never decreases its objective

@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 5), n=st.integers(8, 80),
       d=st.integers(1, 6), const_cols=st.booleans())
def test_gaussian_em_never_decreases_training_log_likelihood(seed, k, n, d, const_cols):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) + 3.0 * rng.integers(0, 3, size=(n, 1))
    if const_cols:
        x[:, 0] = 0.25                      # a constant pixel: the variance floor is active
    k = min(k, n)
    gm = GaussianMixture(k, reg=1e-3, max_iter=40, tol=0.0, seed=seed % 1000).fit(x)
    h = np.array(gm.history)
    assert np.all(np.diff(h) >= -MONOTONE_SLACK * np.maximum(1.0, np.abs(h[1:])))
    # For the Gaussian the monotone quantity is the plain log-likelihood itself.
    assert gm.objective_history == gm.history
    assert np.all(gm.variances >= 1e-3)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), n=st.integers(8, 80),
       d=st.integers(1, 12), alpha=st.sampled_from([1e-3, 0.5, 2.0]))
def test_bernoulli_em_never_decreases_penalized_objective(seed, k, n, d, alpha):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, d)) < rng.random((1, d))).astype(np.float64)
    k = min(k, n)
    bm = BernoulliMixture(k, alpha=alpha, max_iter=40, tol=0.0, seed=seed % 1000).fit(x)
    obj = np.array(bm.objective_history)
    assert np.all(np.diff(obj) >= -MONOTONE_SLACK * np.maximum(1.0, np.abs(obj[1:])))


def test_bernoulli_objective_is_log_likelihood_plus_beta_log_prior():
    """objective_history[-1] equals the documented penalized objective, recomputed with scipy."""
    rng = np.random.default_rng(3)
    x, _ = bernoulli_data(rng, 200, np.array([0.6, 0.4]), bernoulli_prototypes(12)[:2])
    alpha = 0.7
    bm = BernoulliMixture(2, alpha=alpha, max_iter=5, tol=0.0).fit(x)
    mu, pi = bm.means, bm.weights
    px = sum(pi[k] * np.exp(stats.bernoulli.logpmf(x, mu[k]).sum(axis=1)) for k in range(2))
    beta_log_prior = stats.beta.logpdf(mu, 1 + alpha, 1 + alpha).sum() \
        - mu.size * stats.beta.logpdf(0.5, 1 + alpha, 1 + alpha) + mu.size * alpha * 2 * np.log(0.5)
    expected = np.log(px).mean() + beta_log_prior / len(x)
    assert bm.history[-1] == pytest.approx(np.log(px).mean(), rel=1e-12)
    assert bm.objective_history[-1] == pytest.approx(expected, rel=1e-12)


def test_gaussian_m_step_is_the_constrained_maximiser():
    """No small move of (weights, means, variances >= reg) raises the training log-likelihood
    above a converged fit: the floor is a constraint, and EM's fixed point is a local max."""
    rng = np.random.default_rng(5)
    x, _ = gaussian_data(rng, 300, **{**WELL_SEPARATED, "means": WELL_SEPARATED["means"] / 8})
    x[:, 4] = 1.0                                             # constant pixel -> variance at the floor
    reg = 1e-2
    gm = GaussianMixture(3, reg=reg, max_iter=500, tol=0.0).fit(x)

    def mean_ll(w, m, v):
        logs = [np.log(w[k]) + stats.multivariate_normal(m[k], np.diag(v[k])).logpdf(x) for k in range(3)]
        return logsumexp(np.stack(logs, axis=1), axis=1).mean()

    best = mean_ll(gm.weights, gm.means, gm.variances)
    assert best == pytest.approx(gm.history[-1], rel=1e-12)
    for _ in range(20):
        dm = 1e-3 * rng.standard_normal(gm.means.shape)
        dv = np.maximum(gm.variances * np.exp(1e-3 * rng.standard_normal(gm.variances.shape)), reg)
        dw = gm.weights * np.exp(1e-3 * rng.standard_normal(3))
        assert mean_ll(dw / dw.sum(), gm.means + dm, dv) <= best + 1e-12


# ---------------------------------------------------------------- recovery of a known mixture

@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_mixture_recovers_well_separated_components(seed):
    rng = np.random.default_rng(100 + seed)
    x, labels = gaussian_data(rng, 3000, **WELL_SEPARATED)
    gm = GaussianMixture(3, n_init=3, seed=seed).fit(x)
    perm = match(gm.means, WELL_SEPARATED["means"])
    assert gm.converged
    for j in range(3):
        xj = x[labels == j]
        # Components this far apart give hard responsibilities, so EM's answer is
        # the per-label maximum-likelihood estimate, computed here from the labels.
        assert gm.weights[perm[j]] == pytest.approx(len(xj) / len(x), abs=1e-9)
        np.testing.assert_allclose(gm.means[perm[j]], xj.mean(0), rtol=0, atol=1e-9)
        np.testing.assert_allclose(gm.variances[perm[j]], xj.var(0), rtol=1e-9)
        # ... and close to the truth, within 5 standard errors.
        se = WELL_SEPARATED["sds"][j] / np.sqrt(len(xj))
        assert np.all(np.abs(gm.means[perm[j]] - WELL_SEPARATED["means"][j]) < 5 * se)
    w_se = np.sqrt(WELL_SEPARATED["weights"] * (1 - WELL_SEPARATED["weights"]) / len(x))
    assert np.all(np.abs(gm.weights[perm] - WELL_SEPARATED["weights"]) < 5 * w_se)


@pytest.mark.parametrize("seed", [0, 1])
def test_bernoulli_mixture_recovers_well_separated_components(seed):
    rng = np.random.default_rng(200 + seed)
    probs, weights, alpha = bernoulli_prototypes(), np.array([0.2, 0.5, 0.3]), 1e-3
    x, labels = bernoulli_data(rng, 3000, weights, probs)
    bm = BernoulliMixture(3, alpha=alpha, n_init=3, seed=seed).fit(x)
    perm = match(bm.means, probs)
    assert bm.converged
    for j in range(3):
        xj = x[labels == j]
        assert bm.weights[perm[j]] == pytest.approx(len(xj) / len(x), abs=1e-9)
        smoothed = (xj.sum(0) + alpha) / (len(xj) + 2 * alpha)   # the Beta-MAP estimate, by hand
        np.testing.assert_allclose(bm.means[perm[j]], smoothed, rtol=0, atol=1e-9)
        se = np.sqrt(probs[j] * (1 - probs[j]) / len(xj))
        assert np.all(np.abs(bm.means[perm[j]] - probs[j]) < 5 * se)
    w_se = np.sqrt(weights * (1 - weights) / len(x))
    assert np.all(np.abs(bm.weights[perm] - weights) < 5 * w_se)


# ---------------------------------------------------------------- log p(x) against scipy

def test_gaussian_log_likelihood_and_responsibilities_match_scipy():
    rng = np.random.default_rng(7)
    x, _ = gaussian_data(rng, 150, **{**WELL_SEPARATED, "means": WELL_SEPARATED["means"] / 10})
    gm = GaussianMixture(4, reg=1e-3, max_iter=15).fit(x)
    x_new = rng.standard_normal((40, 5)) * 2.0
    joint = np.stack([gm.weights[k] * stats.multivariate_normal(gm.means[k], np.diag(gm.variances[k])).pdf(x_new)
                      for k in range(4)], axis=1)                     # (N, K), no log-sum-exp
    np.testing.assert_allclose(gm.log_likelihood(x_new), np.log(joint.sum(1)), rtol=1e-11)
    np.testing.assert_allclose(gm.responsibilities(x_new), joint / joint.sum(1, keepdims=True),
                               rtol=1e-9, atol=1e-14)


def test_bernoulli_log_likelihood_and_responsibilities_match_scipy():
    rng = np.random.default_rng(8)
    x, _ = bernoulli_data(rng, 200, np.array([0.3, 0.3, 0.4]), bernoulli_prototypes(24))
    bm = BernoulliMixture(3, alpha=0.1, max_iter=20).fit(x)
    x_new = (rng.random((50, 24)) < 0.5).astype(np.float64)
    joint = np.stack([bm.weights[k] * stats.bernoulli.pmf(x_new, bm.means[k]).prod(axis=1) for k in range(3)], axis=1)
    np.testing.assert_allclose(bm.log_likelihood(x_new), np.log(joint.sum(1)), rtol=1e-11)
    np.testing.assert_allclose(bm.responsibilities(x_new), joint / joint.sum(1, keepdims=True),
                               rtol=1e-9, atol=1e-14)


def test_log_likelihood_is_stable_far_from_every_component():
    """log densities near -1e6 would underflow exp(); the max-subtracted form stays exact."""
    rng = np.random.default_rng(9)
    x, _ = gaussian_data(rng, 300, **WELL_SEPARATED)
    gm = GaussianMixture(3).fit(x)
    far = np.full((2, 5), 1e3)
    far[1] *= -1
    logs = np.stack([np.log(gm.weights[k]) + stats.multivariate_normal(gm.means[k], np.diag(gm.variances[k])).logpdf(far)
                     for k in range(3)], axis=1)
    ll = gm.log_likelihood(far)
    assert np.all(np.isfinite(ll)) and np.all(ll < -1e4)
    np.testing.assert_allclose(ll, logsumexp(logs, axis=1), rtol=1e-12)
    assert np.all(np.isfinite(gm.responsibilities(far)))


def test_bernoulli_accepts_bool_and_int_input():
    rng = np.random.default_rng(10)
    xb = rng.random((60, 9)) < 0.4
    a = BernoulliMixture(2).fit(xb)
    b = BernoulliMixture(2).fit(xb.astype(np.uint8))
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.log_likelihood(xb), b.log_likelihood(xb.astype(np.float64)))


# ---------------------------------------------------------------- sampling

def test_gaussian_samples_come_from_their_components():
    rng = np.random.default_rng(11)
    x, _ = gaussian_data(rng, 2000, **WELL_SEPARATED)
    gm = GaussianMixture(3).fit(x)
    xs, comp = gm.sample(30000, rng=np.random.default_rng(12))
    assert xs.shape == (30000, 5) and comp.shape == (30000,)
    # Components are 20 sd apart: each sample is nearest to its own component's mean.
    nearest = ((xs[:, None, :] - gm.means[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest, comp)
    counts = np.bincount(comp, minlength=3)
    assert np.all(np.abs(counts / len(comp) - gm.weights) < 5 * np.sqrt(gm.weights * (1 - gm.weights) / len(comp)))
    for k in range(3):
        xk = xs[comp == k]
        sd = np.sqrt(gm.variances[k])
        assert np.all(np.abs(xk.mean(0) - gm.means[k]) < 5 * sd / np.sqrt(len(xk)))
        # sample variance has sd ~ var * sqrt(2 / n) for Gaussian data
        assert np.all(np.abs(xk.var(0) - gm.variances[k]) < 5 * gm.variances[k] * np.sqrt(2 / len(xk)))


def test_bernoulli_samples_come_from_their_components():
    rng = np.random.default_rng(13)
    x, _ = bernoulli_data(rng, 2000, np.array([0.2, 0.5, 0.3]), bernoulli_prototypes())
    bm = BernoulliMixture(3).fit(x)
    xs, comp = bm.sample(20000, rng=np.random.default_rng(14))
    assert set(np.unique(xs)) <= {0.0, 1.0}
    counts = np.bincount(comp, minlength=3)
    assert np.all(np.abs(counts / len(comp) - bm.weights) < 5 * np.sqrt(bm.weights * (1 - bm.weights) / len(comp)))
    for k in range(3):
        xk = xs[comp == k]
        se = np.sqrt(bm.means[k] * (1 - bm.means[k]) / len(xk))
        assert np.all(np.abs(xk.mean(0) - bm.means[k]) < 5 * se + 1e-12)


def test_sampling_is_reproducible_and_the_default_rng_is_the_models():
    x, _ = gaussian_data(np.random.default_rng(15), 200, **WELL_SEPARATED)
    gm = GaussianMixture(3, seed=4).fit(x)
    a = gm.sample(5, rng=np.random.default_rng(1))
    b = gm.sample(5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = GaussianMixture(3, seed=4).fit(x).sample(5)
    d = GaussianMixture(3, seed=4).fit(x).sample(5)
    np.testing.assert_array_equal(c[0], d[0])
    assert not np.array_equal(gm.sample(5)[0], gm.sample(5)[0])   # the owned generator advances


# ---------------------------------------------------------------- determinism, dtype

@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_same_seed_same_bits(cls):
    rng = np.random.default_rng(16)
    x = (rng.random((300, 20)) < rng.random((1, 20))).astype(np.float64)
    a, b = cls(4, seed=3).fit(x), cls(4, seed=3).fit(x)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.history == b.history
    a.fit(x)                                                   # refitting repeats the same run
    np.testing.assert_array_equal(a.means, b.means)


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_restarts_keep_the_best_run(cls):
    """The first of n_init starts is the n_init=1 start, so the kept run can only be as good or better."""
    rng = np.random.default_rng(19)
    x = (rng.random((400, 30)) < rng.random((4, 30))[rng.integers(0, 4, 400)]).astype(np.float64)
    finals = []
    for seed in range(4):
        one, three = cls(6, n_init=1, seed=seed).fit(x), cls(6, n_init=3, seed=seed).fit(x)
        assert three.objective_history[-1] >= one.objective_history[-1]
        # The kept parameters are the ones its history describes.
        assert three.log_likelihood(x).mean() == pytest.approx(three.history[-1], rel=1e-12)
        finals.append(three.objective_history[-1] > one.objective_history[-1])
    assert any(finals)                                        # restarts did help at least once here


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_float32_model_stays_float32_and_agrees_with_scipy(cls):
    rng = np.random.default_rng(17)
    x = (rng.random((300, 16)) < rng.random((1, 16))).astype(np.float32)
    m = cls(3, dtype="float32").fit(x)
    params = [m.weights, m.means] + ([m.variances] if cls is GaussianMixture else [])
    assert all(p.dtype == np.float32 for p in params)
    ll = m.log_likelihood(x)
    assert ll.dtype == np.float32 and m.responsibilities(x).dtype == np.float32
    assert m.sample(4)[0].dtype == np.float32
    x64, w, mu = x.astype(np.float64), m.weights.astype(np.float64), m.means.astype(np.float64)
    if cls is GaussianMixture:
        v = m.variances.astype(np.float64)
        logs = [stats.multivariate_normal(mu[k], np.diag(v[k])).logpdf(x64) for k in range(3)]
    else:
        logs = [stats.bernoulli.logpmf(x64, mu[k]).sum(1) for k in range(3)]
    ref = logsumexp(np.stack(logs, 1) + np.log(w), axis=1)
    # float32 has ~7 digits; sums of 16 terms of size <= ~40 keep ~1e-5 absolute.
    np.testing.assert_allclose(ll, ref, rtol=0, atol=1e-3)


# ---------------------------------------------------------------- bad input

@pytest.fixture
def fitted():
    x = (np.random.default_rng(18).random((50, 6)) < 0.5).astype(np.float64)
    return GaussianMixture(2).fit(x), BernoulliMixture(2).fit(x)


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_n_components(cls, k):
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        cls(k)


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_more_components_than_examples(cls):
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"n_components must be <= the number of examples, got n_components=5 for 4"):
        cls(5).fit(x)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(n_init=0), "n_init must be an integer >= 1"),
    (dict(tol=-1.0), "tol must be finite and >= 0"),
    (dict(tol=float("nan")), "tol must be finite"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(seed=1.5), "seed must be an integer >= 0"),
    (dict(dtype="int32"), "unsupported dtype 'int32'"),
])
@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_bad_constructor_arguments(cls, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        cls(2, **kwargs)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(covariance="full"), "covariance must be 'diagonal', got 'full'"),
    (dict(reg=0.0), "reg must be finite and > 0"),
    (dict(reg=-1e-3), "reg must be finite and > 0"),
    (dict(reg="big"), "reg must be a real number"),
])
def test_bad_gaussian_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2, **kwargs)


@pytest.mark.parametrize("alpha", [0.0, -0.5, float("inf")])
def test_bad_bernoulli_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be finite and > 0"):
        BernoulliMixture(2, alpha=alpha)


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
@pytest.mark.parametrize("x, err, msg", [
    (np.zeros(10), ValueError, r"x must have 2 dimensions, got shape \(10,\)"),
    (np.zeros((4, 3, 2)), ValueError, r"x must have 2 dimensions, got shape \(4, 3, 2\)"),
    (np.zeros((0, 3)), ValueError, r"at least one example and one feature, got shape \(0, 3\)"),
    (np.zeros((5, 0)), ValueError, r"at least one example and one feature, got shape \(5, 0\)"),
    (np.array([[0.0, np.nan], [1.0, 0.0]]), ValueError, r"1 non-finite value"),
    (np.array([[0.0, np.inf], [1.0, 0.0]]), ValueError, r"1 non-finite value"),
    ([[0.0, 1.0], [1.0, 0.0]], TypeError, "x must be a numpy array, got list"),
])
def test_bad_training_data(cls, x, err, msg):
    with pytest.raises(err, match=msg):
        cls(1).fit(x)


def test_bernoulli_refuses_non_binary_data():
    x = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"x must be binary .* got 1 other value\(s\), e.g. 0.5; binarize first"):
        BernoulliMixture(1).fit(x)
    bm = BernoulliMixture(1).fit(np.array([[0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="x must be binary"):
        bm.log_likelihood(np.array([[0.0, 2.0, 1.0]]))


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
@pytest.mark.parametrize("method", ["log_likelihood", "responsibilities"])
def test_queries_before_fit(cls, method):
    with pytest.raises(RuntimeError, match=f"{cls.__name__}.{method}: the model is not fitted yet; call fit"):
        getattr(cls(2), method)(np.zeros((3, 4)))


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_sample_before_fit(cls):
    with pytest.raises(RuntimeError, match="not fitted yet"):
        cls(2).sample(3)


def test_feature_count_mismatch(fitted):
    for model in fitted:
        for method in (model.log_likelihood, model.responsibilities):
            with pytest.raises(ValueError, match=r"x must have 6 features \(the model was fitted on 6\), got shape \(3, 7\)"):
                method(np.zeros((3, 7)))


def test_failed_refit_leaves_the_fitted_model_usable(fitted):
    for model in fitted:
        with pytest.raises(ValueError, match="non-finite"):
            model.fit(np.full((5, 9), np.nan))
        with pytest.raises(ValueError, match=r"x must have 6 features"):
            model.log_likelihood(np.zeros((3, 9)))
        assert model.log_likelihood(np.zeros((3, 6))).shape == (3,)


def test_nan_at_query_time(fitted):
    x = np.zeros((3, 6))
    x[1, 2] = np.nan
    for model in fitted:
        with pytest.raises(ValueError, match="non-finite"):
            model.log_likelihood(x)


@pytest.mark.parametrize("n", [0, -2, 1.5])
def test_bad_sample_count(fitted, n):
    for model in fitted:
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            model.sample(n)


def test_bad_sample_rng(fitted):
    for model in fitted:
        with pytest.raises(ValueError, match="rng must be a numpy.random.Generator or None, got int"):
            model.sample(3, rng=42)
