"""Structured output (Sohn et al. 2015): the split, both conditional models' gradients against float64 finite
differences (losses written here from the definitions), the CVAE's importance-sampled conditional log-likelihood
against the exact one of a linear Gaussian CVAE, and a small run."""
import math

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import multivariate_normal

from numpyvae.measure.structured_output import (DeterministicCompletion, ImageConditionedVAE, given_mask, run, split,
                                        cvae_conditional_log_likelihood)
from numpyvae.teach.gradcheck import numerical_gradient, relative_error


def test_split_gives_the_top_half_or_the_top_left_quadrant():
    x = np.arange(784, dtype=np.float32)[None]
    xi, xo = split(x, "top-half")
    assert xi.shape == (1, 392) and xi.max() == 391 and xo.min() == 392
    xi, xo = split(x, "quadrant")
    img = x.reshape(28, 28)
    assert np.array_equal(np.sort(xi[0]), np.sort(img[:14, :14].ravel())) and xo.shape == (1, 784 - 196)
    assert given_mask("quadrant").sum() == 196
    with pytest.raises(ValueError, match="given must be one of top-half, quadrant, got 'left'"):
        split(x, "left")


def test_network_gradient_against_finite_differences():
    rng = np.random.default_rng(0)
    nn = DeterministicCompletion(4, 3, hidden=[5], activation="tanh", seed=1, dtype="float64")
    xi, xo = rng.uniform(size=(6, 4)), (rng.uniform(size=(6, 3)) < 0.5).astype(np.float64)

    def loss(_):
        p = expit(nn.net.forward(xi)[0])
        return -np.mean((xo * np.log(p) + (1 - xo) * np.log(1 - p)).sum(1))

    value, grads = nn.loss_and_grads(xi, xo)
    assert value == pytest.approx(loss(None), rel=1e-12)
    got = {k: v.copy() for k, v in grads.items()}
    for name, p in nn.params.items():
        assert relative_error(got[name], numerical_gradient(loss, p)) <= 1e-7, name
    assert np.allclose(nn.conditional_log_likelihood(xi, xo).mean(), -loss(None))


def test_image_conditioned_vae_gradient_against_finite_differences():
    rng = np.random.default_rng(2)
    m = ImageConditionedVAE(3, [5], 2, activation="tanh", seed=0, dtype="float64", n_labels=4)
    m.flat_params[:] += 0.1 * rng.standard_normal(m.flat_params.size)
    xi, xo = rng.uniform(size=(5, 4)), (rng.uniform(size=(5, 3)) < 0.5).astype(np.float64)
    eps = m.noise(np.random.default_rng(3), 3, 5)

    def loss(_):                      # −IWAE_3 from the definitions: q, p(z), Bernoulli p(x_out|z, x_in)
        mu, logvar = (h for h in m.encoder.forward(np.concatenate([xo, xi], 1))[0])
        z = mu + np.exp(logvar / 2) * eps
        logits = m.decoder.forward(np.concatenate([z, np.broadcast_to(xi, (3, 5, 4))], -1))[0][0]
        log_px = (xo * np.log(expit(logits)) + (1 - xo) * np.log(1 - expit(logits))).sum(-1)
        log_pz = -0.5 * (z ** 2).sum(-1) - math.log(2 * math.pi)
        log_q = (-0.5 * eps ** 2 - logvar / 2).sum(-1) - math.log(2 * math.pi)
        log_w = log_px + log_pz - log_q
        return -np.mean(np.log(np.exp(log_w).mean(0)))

    value, grads = m.loss_and_grads(xo, eps, n_samples=3, objective="iwae", kl="mc", y=xi)
    assert value == pytest.approx(loss(None), rel=1e-10)
    got = {k: v.copy() for k, v in grads.items()}
    for name, p in m.params.items():
        assert relative_error(got[name], numerical_gradient(loss, p)) <= 1e-7, name
    with pytest.raises(ValueError, match=r"y must be the input part, shape \(5, 4\)"):
        m.forward(xo, eps, y=xi[:, :3])


def test_cvae_conditional_log_likelihood_reaches_the_exact_one_of_a_linear_gaussian_model():
    """x_out = A z + B x_in + b + σ ε, z ~ N(0, I): p(x_out | x_in) = N(B x_in + b, A Aᵀ + σ² I), exactly.
    q is the exact posterior's mean with its variances doubled (AᵀA diagonal, so the posterior is diagonal):
    a proposal importance sampling must correct; with k = 4000 what is left is noise of about 0.01 nats."""
    rng = np.random.default_rng(4)
    sigma = 0.5
    m = ImageConditionedVAE(3, [], 2, likelihood="gaussian", likelihood_kwargs={"sigma": sigma}, seed=0,
                            dtype="float64", n_labels=2)
    A = np.linalg.qr(rng.standard_normal((3, 2)))[0] * [1.5, 0.7]
    B, b = rng.standard_normal((3, 2)), rng.standard_normal(3)
    m.params["decoder.out.W"][...] = np.concatenate([A.T, B.T])          # decoder input [z, x_in]
    m.params["decoder.out.b"][...] = b
    cov = np.linalg.inv(np.eye(2) + A.T @ A / sigma ** 2)                 # the posterior's, diagonal
    gain = cov @ A.T / sigma ** 2                                          # mean = gain (x_out − B x_in − b)
    m.params["encoder.mu.W"][...] = np.concatenate([gain.T, -(gain @ B).T])   # encoder input [x_out, x_in]
    m.params["encoder.mu.b"][...] = -gain @ b
    m.params["encoder.logvar.W"][...] = 0.0
    m.params["encoder.logvar.b"][...] = np.log(2 * np.diag(cov))
    xi = rng.standard_normal((40, 2))
    xo = rng.standard_normal((40, 2)) @ A.T + xi @ B.T + b + sigma * rng.standard_normal((40, 3))
    exact = np.array([multivariate_normal(B @ xi[n] + b, A @ A.T + sigma ** 2 * np.eye(3)).logpdf(xo[n])
                      for n in range(40)])
    got = cvae_conditional_log_likelihood(m, xi, xo, k=4000, rng=np.random.default_rng(5), batch_size=10)
    assert np.abs(got - exact).max() < 0.05 and abs(np.mean(got - exact)) < 0.01, got - exact   # IS noise only
    one = cvae_conditional_log_likelihood(m, xi, xo, k=1, rng=np.random.default_rng(5), batch_size=10)
    assert one.mean() < exact.mean() - 0.05                               # k = 1 is the ELBO: clearly below


def test_a_small_run_scores_both_models_on_the_same_test_digits():
    out = run("top-half", hidden=[16], z_dim=2, epochs=1, k=5, n_train=300, n_test=50, log=lambda _: None)
    assert out["cvae"].shape == out["nn"].shape == (50,)
    assert np.isfinite(out["cvae"]).all() and (out["nn"] < 0).all() and out["settings"]["n_test"] == 50
