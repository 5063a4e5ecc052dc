"""The full-covariance Gaussian family and its analytic KL to N(0, I).

Forward values are checked against formulas written here (scipy's
multivariate normal density, the KL from slogdet); backward passes against
float64 central differences of the scalar Σ a·z + Σ b·log_q (or Σ c·kl).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from numpyvae.latent.full_gaussian import FullCovGaussian, FullCovGaussianStandardNormalKL

from family_gradients import assert_gradients_match, rsample_objective

LOG_2PI = np.log(2 * np.pi)


def random_params(rng, N, K, dtype=np.float64):
    M = K * (K - 1) // 2
    return [rng.standard_normal((N, K)).astype(dtype),
            rng.standard_normal((N, M)).astype(dtype),
            rng.uniform(-0.7, 0.7, (N, K)).astype(dtype)]


def L_by_loops(tril, logdiag):
    """L built entry by entry from the documented layout (row-major strictly lower part)."""
    N, K = logdiag.shape
    L = np.zeros((N, K, K))
    for n in range(N):
        t = 0
        for i in range(K):
            for j in range(i):
                L[n, i, j] = tril[n, t]
                t += 1
            L[n, i, i] = np.exp(logdiag[n, i])
    return L


# ---------------------------------------------------------------- forward values
def test_z_and_log_q_match_the_multivariate_normal():
    rng = np.random.default_rng(0)
    fam = FullCovGaussian(3)
    params = random_params(rng, 4, 3)
    eps = fam.draw_noise(rng, 2, 4, "float64")
    z, log_q, _ = fam.rsample(params, eps)
    L = L_by_loops(params[1], params[2])
    for n in range(4):
        cov = L[n] @ L[n].T
        for s in range(2):
            np.testing.assert_allclose(z[s, n], params[0][n] + L[n] @ eps[s, n], rtol=1e-13, atol=1e-13)
            expect = multivariate_normal(params[0][n], cov).logpdf(z[s, n])
            np.testing.assert_allclose(log_q[s, n], expect, rtol=1e-10)
    np.testing.assert_allclose(fam.covariance(params), L @ L.transpose(0, 2, 1), rtol=1e-13)
    np.testing.assert_array_equal(fam.mean(params), params[0])


def test_kl_matches_the_log_det_formula_and_a_monte_carlo_estimate():
    rng = np.random.default_rng(1)
    K = 4
    fam = FullCovGaussian(K)
    params = random_params(rng, 3, K)
    kl, _ = FullCovGaussianStandardNormalKL().forward(params)
    L = L_by_loops(params[1], params[2])
    for n in range(3):
        cov = L[n] @ L[n].T
        mu = params[0][n]
        expect = 0.5 * (np.trace(cov) + mu @ mu - K - np.linalg.slogdet(cov)[1])
        np.testing.assert_allclose(kl[n], expect, rtol=1e-12)
    # Monte Carlo: mean over samples of log q − log N(z; 0, I)
    eps = fam.draw_noise(rng, 200_000, 3, "float64")
    z, log_q, _ = fam.rsample(params, eps)
    log_p = -0.5 * (np.sum(z ** 2, -1) + K * LOG_2PI)
    mc = (log_q - log_p).mean(0)
    se = (log_q - log_p).std(0) / np.sqrt(eps.shape[0])
    assert np.all(np.abs(mc - kl) < 5 * se)
    assert np.all(kl >= 0)


# ---------------------------------------------------------------- diagonal special case
def diagonal_gaussian(mu, logvar, eps):
    """The diagonal Gaussian written from its formulas (independent of numpyvae)."""
    K = mu.shape[-1]
    z = eps * np.exp(logvar / 2) + mu
    log_q = -0.5 * (np.einsum("snk,snk->sn", eps, eps) + logvar.sum(-1) + K * LOG_2PI)
    kl = 0.5 * (mu * mu + (np.expm1(logvar) - logvar)).sum(-1)
    return z, log_q, kl


@given(S=st.integers(1, 3), N=st.integers(1, 4), K=st.integers(1, 5), seed=st.integers(0, 2 ** 31))
def test_with_diagonal_L_it_is_the_diagonal_gaussian_bit_for_bit(S, N, K, seed):
    rng = np.random.default_rng(seed)
    fam = FullCovGaussian(K)
    mu, tril, logdiag = random_params(rng, N, K)
    tril[:] = 0.0
    eps = fam.draw_noise(rng, S, N, "float64")
    z, log_q, _ = fam.rsample([mu, tril, logdiag], eps)
    kl, _ = FullCovGaussianStandardNormalKL().forward([mu, tril, logdiag])
    z_d, log_q_d, kl_d = diagonal_gaussian(mu, 2 * logdiag, eps)
    np.testing.assert_array_equal(z, z_d)
    np.testing.assert_array_equal(log_q, log_q_d)
    np.testing.assert_array_equal(kl, kl_d)


# ---------------------------------------------------------------- gradients
@given(S=st.integers(1, 3), N=st.integers(1, 3), K=st.integers(1, 4), seed=st.integers(0, 2 ** 31),
       paths=st.sampled_from(["both", "z", "log_q"]))
def test_rsample_backward_matches_finite_differences(S, N, K, seed, paths):
    rng = np.random.default_rng(seed)
    fam = FullCovGaussian(K)
    params = random_params(rng, N, K)
    eps = fam.draw_noise(rng, S, N, "float64")
    scalar, grads = rsample_objective(fam, params, eps, rng, paths)
    assert_gradients_match(scalar, dict(zip(fam.heads, params)), dict(zip(fam.heads, grads)))


@given(N=st.integers(1, 3), K=st.integers(1, 4), seed=st.integers(0, 2 ** 31))
def test_kl_backward_matches_finite_differences(N, K, seed):
    rng = np.random.default_rng(seed)
    pair = FullCovGaussianStandardNormalKL()
    params = random_params(rng, N, K)
    c = rng.standard_normal(N)
    _, tape = pair.forward(params)
    grads = pair.backward(c, tape)
    names = ["mu", "tril", "logdiag"]
    assert_gradients_match(lambda: float(c @ pair.forward(params)[0]), dict(zip(names, params)),
                           dict(zip(names, grads)))


def test_float32_in_float32_out():
    rng = np.random.default_rng(2)
    fam = FullCovGaussian(3)
    params = random_params(rng, 2, 3, np.float32)
    eps = fam.draw_noise(rng, 2, 2, "float32")
    z, log_q, tape = fam.rsample(params, eps)
    assert z.dtype == log_q.dtype == np.float32
    grads = fam.backward(np.ones_like(z), np.ones_like(log_q), tape)
    assert all(g.dtype == np.float32 for g in grads)
    kl, t = FullCovGaussianStandardNormalKL().forward(params)
    assert kl.dtype == np.float32
    assert all(g.dtype == np.float32 for g in FullCovGaussianStandardNormalKL().backward(kl, t))


# ---------------------------------------------------------------- bad input
def test_heads_sizes():
    assert dict(FullCovGaussian(4).heads) == {"mu": 4, "tril": 6, "logdiag": 4}
    assert dict(FullCovGaussian(1).heads) == {"mu": 1, "tril": 0, "logdiag": 1}


@pytest.mark.parametrize("z_dim", [0, -2, 2.5, "3", True])
def test_bad_z_dim(z_dim):
    with pytest.raises(ValueError, match="z_dim"):
        FullCovGaussian(z_dim)


def test_bad_heads_and_noise():
    rng = np.random.default_rng(3)
    fam = FullCovGaussian(3)
    params = random_params(rng, 2, 3)
    eps = fam.draw_noise(rng, 1, 2, "float64")
    with pytest.raises(ValueError, match="expected 3 head arrays"):
        fam.rsample(params[:2], eps)
    with pytest.raises(TypeError, match="list of arrays"):
        fam.rsample(params[0], eps)
    with pytest.raises(ValueError, match="tril"):
        fam.rsample([params[0], params[1][:, :2], params[2]], eps)
    with pytest.raises(ValueError, match="same batch size"):
        fam.rsample([params[0], params[1], params[2][:1]], eps)
    with pytest.raises(ValueError, match="one dtype"):
        fam.rsample([params[0], params[1], params[2].astype(np.float32)], eps)
    with pytest.raises(ValueError, match="eps must have shape"):
        fam.rsample(params, eps[:, :1])
    with pytest.raises(ValueError, match="eps has dtype"):
        fam.rsample(params, eps.astype(np.float32))
    bad = [p.copy() for p in params]
    bad[2][0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fam.rsample(bad, eps)
    _, _, tape = fam.rsample(params, eps)
    with pytest.raises(ValueError, match="dz must have shape"):
        fam.backward(np.zeros((2, 2, 3)), None, tape)
    with pytest.raises(ValueError, match="dlog_q must have shape"):
        fam.backward(None, np.zeros((1, 3)), tape)
    with pytest.raises(ValueError, match="n_samples"):
        fam.draw_noise(rng, 0, 2)
    pair = FullCovGaussianStandardNormalKL()
    with pytest.raises(ValueError, match="tril"):
        pair.forward([params[0], params[1][:, :2], params[2]])
    with pytest.raises(ValueError, match=r"\[mu, tril, logdiag\]"):
        pair.forward(params[:2])
    _, kl_tape = pair.forward(params)
    with pytest.raises(ValueError, match="dkl is required"):
        pair.backward(None, kl_tape)
    with pytest.raises(ValueError, match=r"dkl must have shape \(2,\)"):
        pair.backward(np.ones(3), kl_tape)
