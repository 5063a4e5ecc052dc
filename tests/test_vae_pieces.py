"""Reparameterization, KL and the IWAE bound, each checked on its own."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import integrate, stats
from scipy.special import logsumexp as scipy_lse

from numpyvae.teach.gradcheck import numerical_gradient, relative_error
from numpyvae.bounds.elbo_iwae import ELBO, IWAE, iwae_bound
from numpyvae.latent.gaussian import DiagonalGaussian, log_q, reparameterize, reparameterize_backward
from numpyvae.latent.kl import GaussianToStandardNormal, kl_analytic, kl_analytic_backward, kl_analytic_for
from numpyvae.latent.priors import StandardNormal


def kl_monte_carlo(mu, lv, eps):
    """log q − log p at z = mu + sigma * eps, from the family's and the prior's own forwards."""
    z, lq, _ = DiagonalGaussian(mu.shape[-1]).rsample([mu, lv], eps)
    return lq - StandardNormal(mu.shape[-1]).log_prob(z)[0]

rng = np.random.default_rng(0)


def test_reparameterize_gradient_matches_finite_differences():
    S, N, K = 3, 4, 2
    mu, logvar, eps = rng.standard_normal((N, K)), rng.standard_normal((N, K)), rng.standard_normal((S, N, K))
    g = rng.standard_normal((S, N, K))  # L = Σ g ⊙ z

    def loss(_):
        return np.sum(g * (mu + np.exp(logvar / 2) * eps))

    z, sigma = reparameterize(mu, logvar, eps)
    dmu, dlogvar = reparameterize_backward(g, eps, sigma)
    assert relative_error(dmu, numerical_gradient(loss, mu)) < 1e-8
    assert relative_error(dlogvar, numerical_gradient(loss, logvar)) < 1e-8


def test_reparameterized_samples_have_the_right_distribution():
    mu, logvar = np.array([[1.5, -2.0]]), np.array([[np.log(0.25), np.log(4.0)]])
    eps = np.random.default_rng(1).standard_normal((200_000, 1, 2))
    z, _ = reparameterize(mu, logvar, eps)
    np.testing.assert_allclose(z.mean(axis=(0, 1)), mu[0], atol=0.02)
    np.testing.assert_allclose(z.std(axis=(0, 1)), [0.5, 2.0], rtol=0.01)


@given(m=st.floats(-3, 3), lv=st.floats(-3, 2))
def test_analytic_kl_equals_numerical_integral(m, lv):
    """KL(N(m, e^lv) || N(0, 1)) = ∫ q log(q / p), by quadrature with scipy.stats."""
    q, p = stats.norm(m, np.exp(lv / 2)), stats.norm(0, 1)
    want, _ = integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)), -np.inf, np.inf)
    assert kl_analytic(np.array([[m]]), np.array([[lv]]))[0, 0] == pytest.approx(want, rel=1e-6, abs=1e-9)


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=2), st.lists(st.floats(-5, 5), min_size=2, max_size=2))
def test_kl_is_nonnegative_and_zero_only_at_the_prior(mu, logvar):
    kl = kl_analytic(np.array([mu]), np.array([logvar]))
    assert (kl >= 0).all()
    assert kl_analytic(np.zeros((1, 2)), np.zeros((1, 2))).sum() == 0.0


def test_analytic_kl_gradient():
    mu, logvar = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    dmu, dlv = kl_analytic_backward(mu, logvar)
    assert relative_error(dmu, numerical_gradient(lambda _: kl_analytic(mu, logvar).sum(), mu)) < 1e-8
    assert relative_error(dlv, numerical_gradient(lambda _: kl_analytic(mu, logvar).sum(), logvar)) < 1e-8


def test_log_densities_match_scipy():
    z, eps, mu, lv = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(StandardNormal(4).log_prob(z)[0], stats.norm.logpdf(z).sum(-1), rtol=1e-12)
    zq = mu + np.exp(lv / 2) * eps
    np.testing.assert_allclose(log_q(eps, lv), stats.norm.logpdf(zq, mu, np.exp(lv / 2)).sum(-1), rtol=1e-12)


def test_monte_carlo_kl_is_unbiased():
    mu, lv = np.array([[0.7, -0.3]]), np.array([[-0.5, 0.4]])
    eps = np.random.default_rng(2).standard_normal((400_000, 1, 2))
    assert kl_monte_carlo(mu, lv, eps).mean() == pytest.approx(kl_analytic(mu, lv).sum(), abs=5e-3)


def test_monte_carlo_kl_gradient_through_reparameterization():
    S, N, K = 3, 2, 2
    mu, lv, eps = rng.standard_normal((N, K)), rng.standard_normal((N, K)), rng.standard_normal((S, N, K))
    w = rng.random((S, N))

    def loss(_):
        return np.sum(w * kl_monte_carlo(mu, lv, eps))

    q, p = DiagonalGaussian(K), StandardNormal(K)
    z, _, q_tape = q.rsample([mu, lv], eps)
    _, p_tape = p.log_prob(z)
    dz = p.backward(-w, p_tape)                      # ∂/∂z of −Σ w log p(z)
    dmu, dlv = q.backward(dz, w, q_tape)             # through z, and through log q with eps fixed
    assert relative_error(dmu, numerical_gradient(loss, mu)) < 1e-8
    assert relative_error(dlv, numerical_gradient(loss, lv)) < 1e-8


def test_analytic_kl_pair_is_found_by_its_pieces_and_matches_the_formula():
    pair = kl_analytic_for(DiagonalGaussian(3), StandardNormal(3))
    assert isinstance(pair, GaussianToStandardNormal)
    mu, lv, dkl = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.random(4)
    kl, tape = pair.forward([mu, lv])
    np.testing.assert_allclose(kl, 0.5 * (mu ** 2 + np.exp(lv) - 1 - lv).sum(-1), rtol=1e-12)
    dmu, dlv = pair.backward(dkl, tape)
    f = lambda _: np.sum(dkl * pair.forward([mu, lv])[0])   # noqa: E731
    assert relative_error(dmu, numerical_gradient(f, mu)) < 1e-8
    assert relative_error(dlv, numerical_gradient(f, lv)) < 1e-8


def test_iwae_bound_and_weights():
    log_w = np.array([[-1000.0, 2.0], [-1001.0, 3.0], [-999.0, 1.0]])
    want = np.log(np.mean(np.exp(log_w - log_w.max(0)), axis=0)) + log_w.max(0)
    np.testing.assert_allclose(iwae_bound(log_w), want)
    c = IWAE.weights(IWAE().forward(log_w)[1])
    np.testing.assert_allclose(c.sum(0), [0.5, 0.5])   # softmax over s, times 1/N
    np.testing.assert_allclose(c[:, 1] * 2, np.exp(log_w[:, 1] - scipy_lse(log_w[:, 1])))
    np.testing.assert_allclose(ELBO.weights(ELBO().forward(log_w)[1]), np.full((3, 2), 1 / 6))
    np.testing.assert_allclose(ELBO().forward(log_w)[0], log_w.mean(0))
