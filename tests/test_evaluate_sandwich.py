"""evaluate's sandwich [ELBO, IWAE_k, CUBO_2] from the chunked log p(x) loop, against the bounds written here.

The witness is the linear Gaussian VAE of test_evaluate (p(x) = N(b, A Aᵀ + σ² I) exactly), with a
wrong but broad encoder so that the three numbers differ.
"""
import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from numpyvae import VAE
from numpyvae.measure import evaluate as ev
from numpyvae.measure import vae_log_likelihood as vll

D, K, SIGMA = 5, 2, 0.5


def linear_model(seed=0):
    """A float64 linear Gaussian VAE, its true log p(x) on 30 draws, and an encoder that is not the posterior."""
    rng = np.random.default_rng(seed)
    model = VAE(D, hidden=[], z_dim=K, likelihood="gaussian", dtype="float64", likelihood_kwargs={"sigma": SIGMA})
    A, b = rng.standard_normal((D, K)), rng.standard_normal(D)
    model.params["decoder.out.W"][...] = A.T
    model.params["decoder.out.b"][...] = b
    cov = np.linalg.inv(np.eye(K) + A.T @ A / SIGMA ** 2)          # the true posterior's covariance
    W_mu = A @ cov / SIGMA ** 2                                     # and mean m(x) = (x − b) W_mu
    model.params["encoder.mu.W"][...] = 0.8 * W_mu                  # a shrunken mean and a variance twice
    model.params["encoder.mu.b"][...] = -0.8 * b @ W_mu + 0.2       # the largest posterior one: wider than
    model.params["encoder.logvar.W"][...] = 0.0                     # p(z|x), so E_q[w²] is finite (CUBO_2 exists)
    model.params["encoder.logvar.b"][...] = math.log(2 * np.linalg.eigvalsh(cov).max())
    x = rng.standard_normal((30, K)) @ A.T + b + SIGMA * rng.standard_normal((30, D))
    truth = multivariate_normal(mean=b, cov=A @ A.T + SIGMA ** 2 * np.eye(D)).logpdf(x)
    return model, x, truth


def log_weights(model, x, k, seed):
    """All k log w = log p(x|z) + log p(z) − log q(z|x) per example, from the model's own forward (MC KL)."""
    eps = model.posterior.draw_noise(np.random.default_rng(seed), k, x.shape[0], model.dtype)
    return model.forward(x, eps, n_samples=k, objective="iwae")["log_w"]


def test_sandwich_is_the_three_bounds_of_the_same_samples():
    model, x, _ = linear_model()
    got = vll.log_likelihood(model, x, k=40, chunk_size=7, batch_size=30, rng=3, progress=False, sandwich=True)
    log_w = log_weights(model, x, 40, seed=3)        # one batch, so the same eps in the same order
    w = np.exp(log_w)
    np.testing.assert_allclose(got["elbo"], log_w.mean(0), rtol=1e-12)
    np.testing.assert_allclose(got["iwae"], np.log(w.mean(0)), rtol=1e-12)
    np.testing.assert_allclose(got["cubo"], 0.5 * np.log((w ** 2).mean(0)), rtol=1e-12)
    plain = vll.log_likelihood(model, x, k=40, chunk_size=7, batch_size=30, rng=3, progress=False)
    np.testing.assert_array_equal(got["iwae"], plain)          # the sandwich leaves the estimate alone


def test_sandwich_orders_per_example_and_does_not_depend_on_chunks():
    model, x, _ = linear_model(seed=1)
    whole = vll.log_likelihood(model, x, k=50, batch_size=10, rng=4, progress=False, sandwich=True)
    chunked = vll.log_likelihood(model, x, k=50, chunk_size=3, batch_size=10, rng=4, progress=False, sandwich=True)
    for name in ("elbo", "iwae", "cubo"):
        np.testing.assert_allclose(chunked[name], whole[name], rtol=0, atol=1e-12)
    # Jensen and the power-mean inequality hold for every draw, not only in expectation
    assert (whole["elbo"] <= whole["iwae"]).all() and (whole["iwae"] <= whole["cubo"]).all()


def test_sandwich_brackets_the_true_log_px_with_many_samples():
    """E[ELBO] ≤ log p(x) ≤ CUBO_2; CUBO's k-sample estimate is biased low, so k is large here."""
    model, x, truth = linear_model(seed=2)
    got = vll.log_likelihood(model, x, k=20_000, rng=5, progress=False, sandwich=True)
    assert got["elbo"].mean() < got["iwae"].mean() < truth.mean() + 0.05 < got["cubo"].mean()
    assert abs(got["iwae"].mean() - truth.mean()) < 0.05


def test_sandwich_with_one_sample_is_refused():
    model, x, _ = linear_model()
    with pytest.raises(ValueError, match=r"log_likelihood: sandwich=True needs k >= 2 .*got k = 1"):
        vll.log_likelihood(model, x, k=1, progress=False, sandwich=True)


def test_evaluate_run_reports_the_sandwich(tmp_path):
    from numpyvae.run.checkpoint_format import CHECKPOINT, save_checkpoint
    from numpyvae.datasets import Dataset, load
    d = load("digits")
    data = Dataset(name="digits", x_train=d.x_train[:50], y_train=d.y_train[:50], x_test=d.x_test[:30],
                   y_test=d.y_test[:30], image_shape=d.image_shape, source=d.source)
    save_checkpoint(tmp_path / CHECKPOINT, VAE(784, hidden=[16], z_dim=2, seed=1),
                    config={"dataset": "digits", "binarize": "auto", "likelihood": "bernoulli", "seed": 3})
    res = ev.evaluate_run(tmp_path, k=20, dataset=data, progress=False)
    sw = res["sandwich"]
    assert sw["iwae"] == res["log_likelihood"] and sw["elbo"] <= sw["iwae"] <= sw["cubo"]
    assert json.loads((tmp_path / "evaluation.json").read_text())["sandwich"] == sw
    table = ev.format_table(res)
    assert f"[{sw['elbo']:.2f}, {sw['iwae']:.2f}, {sw['cubo']:.2f}]" in table and "biased low" in table
    one = ev.evaluate_run(tmp_path, k=1, dataset=data, progress=False, save=False)
    assert one["sandwich"] is None and "sandwich" not in ev.format_table(one)
