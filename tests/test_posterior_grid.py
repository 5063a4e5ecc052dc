"""The grid posterior of a 2-D latent (numpyvae/measure/posterior_grid.py), on a model where it is known.

A linear-Gaussian VAE, p(z) = N(0, I), p(x|z) = N(z W + b, σ² I), has a Gaussian posterior and
a Gaussian marginal in closed form: the grid's log p(x) and posterior mean are checked against
them, and the Monte Carlo KL(q || p(z|x)) of an encoder set to a chosen diagonal Gaussian
against the closed-form KL between two Gaussians.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.measure.posterior_grid import grid_posterior, kl_to_posterior, log_joint, plot_ring_posteriors

SIGMA = 0.5


def linear_model():
    model = VAE(3, [4], 2, "gaussian", activation="tanh", seed=0, dtype="float64",
                likelihood_kwargs={"sigma": SIGMA}, hidden_dec=[])
    W, b = model.params["decoder.out.W"], model.params["decoder.out.b"]
    W[...] = [[1.0, 0.5, -0.3], [0.2, -0.8, 0.6]]
    b[...] = [0.1, -0.2, 0.3]
    x = np.array([0.5, -0.4, 1.0])
    precision = np.eye(2) + W @ W.T / SIGMA ** 2
    cov = np.linalg.inv(precision)
    mean = cov @ W @ (x - b) / SIGMA ** 2
    marginal = W.T @ W + SIGMA ** 2 * np.eye(3)
    d = x - b
    log_px = -0.5 * (d @ np.linalg.solve(marginal, d) + np.linalg.slogdet(2 * np.pi * marginal)[1])
    return model, x, mean, cov, log_px


def test_the_grid_gives_log_px_and_the_posterior_mean():
    model, x, mean, _, log_px = linear_model()
    g = grid_posterior(model, x, n=300)
    assert g["log_px"] == pytest.approx(log_px, abs=1e-6)
    np.testing.assert_allclose(g["mean"], mean, atol=1e-6)
    cell = (g["g1"][1] - g["g1"][0]) * (g["g2"][1] - g["g2"][0])
    assert np.exp(g["log_post"]).sum() * cell == pytest.approx(1.0, abs=1e-9)


def test_kl_of_a_chosen_diagonal_q_matches_the_closed_form():
    model, x, mean, cov, log_px = linear_model()
    mu_q, var_q = mean + np.array([0.1, -0.05]), np.array([0.15, 0.1])
    for name in ("encoder.mu", "encoder.logvar"):          # the encoder outputs its head biases
        model.params[name + ".W"][...] = 0.0
    model.params["encoder.mu.b"][...] = mu_q
    model.params["encoder.logvar.b"][...] = np.log(var_q)
    inv = np.linalg.inv(cov)
    d = mean - mu_q
    exact = 0.5 * (np.trace(inv * var_q) + d @ inv @ d - 2 + np.linalg.slogdet(cov)[1] - np.log(var_q).sum())
    kl, z = kl_to_posterior(model, x, log_px, n_samples=200_000)
    assert z.shape == (200_000, 2)
    # the Monte Carlo part's standard error here is about 1e-3
    assert kl == pytest.approx(exact, abs=5e-3)
    assert exact > 0.1


def test_log_joint_is_the_models_own():
    model, x, *_ = linear_model()
    z = np.random.default_rng(0).standard_normal((5, 2))
    heads = model.decode(z)
    nll, _ = model.likelihood.forward(np.tile(x, (5, 1)), *heads)
    np.testing.assert_allclose(log_joint(model, x, z), model.log_prior(z) - nll, rtol=1e-12)


def test_a_latent_that_is_not_2d_is_refused():
    model = VAE(3, [4], 3, "gaussian", dtype="float64")
    with pytest.raises(ValueError, match="z_dim = 3"):
        grid_posterior(model, np.zeros(3))


def test_the_picture_has_two_panels_per_model_and_x(tmp_path):
    model, x, *_ = linear_model()
    fig, kls = plot_ring_posteriors({"a": model, "b": model}, [x, x + 0.1], tmp_path / "p.png",
                                    n=40, n_samples=500)
    assert len(fig.axes) == 2 * 2 * 2 and (tmp_path / "p.png").exists()
    assert set(kls) == {"a", "b"} and len(kls["a"]) == 2 and kls["a"] == kls["b"]
