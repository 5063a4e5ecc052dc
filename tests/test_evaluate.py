"""Evaluation numbers, checked against closed forms computed here independently.

The main witness is a linear Gaussian VAE (hidden=[]: both trunks are the identity):

    p(z) = N(0, I_K),   p(x|z) = N(A z + b, σ² I_D)   =>   p(x) = N(b, A Aᵀ + σ² I)

(decoder.out.W is Aᵀ, decoder.out.b is b). Its exact posterior is Gaussian,
    Σ = (I + AᵀA/σ²)⁻¹,   m(x) = Σ Aᵀ (x − b)/σ²,
diagonal when A has orthogonal columns, so a diagonal-Gaussian encoder can
represent it exactly.
"""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from numpyvae import VAE
from numpyvae.measure.elbo import test_elbo
from numpyvae.measure import evaluate as ev
from numpyvae.measure import latent_use
from numpyvae.measure import mixture_baseline
from numpyvae.measure import run_data
from numpyvae.measure import vae_log_likelihood as vll
from numpyvae.datasets.binarize import binarize_test_set

D, K, SIGMA = 5, 2, 0.5


def linear_model(seed=0):
    """A float64 linear Gaussian VAE with orthogonal decoder columns, its A, b and a data sample."""
    rng = np.random.default_rng(seed)
    model = VAE(D, hidden=[], z_dim=K, likelihood="gaussian", dtype="float64",
                likelihood_kwargs={"sigma": SIGMA})
    q, _ = np.linalg.qr(rng.standard_normal((D, K)))          # orthonormal columns
    A = q * np.array([1.5, 0.7])                               # orthogonal, different lengths
    b = rng.standard_normal(D)
    model.params["decoder.out.W"][...] = A.T
    model.params["decoder.out.b"][...] = b
    z = rng.standard_normal((20, K))
    x = z @ A.T + b + SIGMA * rng.standard_normal((20, D))
    return model, A, b, x


def true_log_px(A, b, x):
    return multivariate_normal(mean=b, cov=A @ A.T + SIGMA ** 2 * np.eye(D)).logpdf(x)


def exact_posterior(A, b):
    """Encoder weights (W_mu, b_mu, log diag Σ) of the exact posterior, from the formulas above."""
    cov = np.linalg.inv(np.eye(K) + A.T @ A / SIGMA ** 2)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-12   # diagonal, as constructed
    W_mu = A @ cov / SIGMA ** 2                                # mu = x @ W_mu + b_mu
    return W_mu, -b @ W_mu, np.log(np.diag(cov))


def set_encoder(model, W_mu, b_mu, logvar):
    model.params["encoder.mu.W"][...] = W_mu
    model.params["encoder.mu.b"][...] = b_mu
    model.params["encoder.logvar.W"][...] = 0.0
    model.params["encoder.logvar.b"][...] = logvar


def closed_form_elbo(A, b, x, W_mu, b_mu, logvar):
    """E_q[log p(x|z)] − KL(q || p) for q = N(x W_mu + b_mu, diag e^logvar), per example."""
    mu = x @ W_mu + b_mu
    s2 = np.exp(logvar)
    r = x - mu @ A.T - b
    # E_q ||x − A z − b||² = ||x − A mu − b||² + tr(A diag(s2) Aᵀ)
    e_sq = (r ** 2).sum(1) + (A ** 2 * s2).sum()
    e_log_lik = -0.5 * (e_sq / SIGMA ** 2 + D * math.log(2 * math.pi * SIGMA ** 2))
    kl = 0.5 * (mu ** 2 + s2 - 1 - logvar).sum(1)
    return e_log_lik - kl


# ---------------------------------------------------------------- log p(x) and the ELBO

def test_exact_posterior_makes_the_bound_tight_and_is_zero_variance():
    model, A, b, x = linear_model()
    W_mu, b_mu, logvar = exact_posterior(A, b)
    set_encoder(model, W_mu, b_mu, logvar)
    truth = true_log_px(A, b, x)
    # with q = p(z|x), every weight p(x, z)/q(z|x) equals p(x): one sample is exact
    for k in (1, 50):
        est = vll.log_likelihood(model, x, k=k, rng=k, progress=False)
        np.testing.assert_allclose(est, truth, rtol=0, atol=1e-10)
    # the expected ELBO equals log p(x); the MC estimate agrees within its noise
    np.testing.assert_allclose(closed_form_elbo(A, b, x, W_mu, b_mu, logvar), truth, rtol=0, atol=1e-10)
    parts = test_elbo(model, x, n_samples=4000, rng=1)
    assert abs(parts["elbo"] - truth.mean()) < 0.02


def test_importance_sampling_converges_to_log_px_and_elbo_stays_below():
    model, A, b, x = linear_model(seed=1)
    W_mu, b_mu, logvar = exact_posterior(A, b)
    W_bad, b_bad, lv_bad = W_mu * 0.8, b_mu + 0.3, logvar + math.log(2.0)   # a wrong but broad q
    set_encoder(model, W_bad, b_bad, lv_bad)
    truth = true_log_px(A, b, x)
    elbo = closed_form_elbo(A, b, x, W_bad, b_bad, lv_bad)
    assert (elbo < truth - 0.05).all()                         # the gap is KL(q || p(z|x)) > 0
    errors = [np.abs(vll.log_likelihood(model, x, k=k, rng=7, progress=False) - truth).mean()
              for k in (1, 10, 100, 1000, 30_000)]
    assert errors[0] > errors[1] > errors[2] > errors[3] > errors[4]    # shrinks like 1/sqrt(k)
    assert errors[4] < 0.01
    est = vll.log_likelihood(model, x, k=5000, rng=8, progress=False)
    assert est.mean() > elbo.mean()
    parts = test_elbo(model, x, n_samples=4000, rng=2)
    assert abs(parts["elbo"] - elbo.mean()) < 0.02
    assert parts["elbo"] < truth.mean()


def test_log_likelihood_does_not_depend_on_chunks_or_batches():
    model, A, b, x = linear_model(seed=2)
    whole = vll.log_likelihood(model, x, k=40, rng=3, batch_size=20, progress=False)
    chunked = vll.log_likelihood(model, x, k=40, chunk_size=7, rng=3, batch_size=20, progress=False)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-12)
    # an independent k=40 estimate from the same noise, with scipy's logsumexp in one go
    from scipy.special import logsumexp
    eps = np.random.default_rng(3).standard_normal((40, x.shape[0], K))
    mu = x @ model.params["encoder.mu.W"] + model.params["encoder.mu.b"]
    logvar = x @ model.params["encoder.logvar.W"] + model.params["encoder.logvar.b"]
    z = mu + np.exp(logvar / 2) * eps
    log_pxz = multivariate_normal(np.zeros(D), SIGMA ** 2 * np.eye(D)).logpdf(x - z @ A.T - b)
    log_pz = -0.5 * (z ** 2).sum(-1) - K / 2 * math.log(2 * math.pi)
    log_qz = -0.5 * (eps ** 2 + logvar + math.log(2 * math.pi)).sum(-1)
    np.testing.assert_allclose(whole, logsumexp(log_pxz + log_pz - log_qz, axis=0) - math.log(40),
                               rtol=0, atol=1e-10)


def bernoulli_model_and_data(dtype="float64", n=13):
    model = VAE(12, hidden=[7], z_dim=3, likelihood="bernoulli", activation="tanh", seed=4, dtype=dtype)
    x = (np.random.default_rng(5).random((n, 12)) < 0.4).astype(dtype)
    return model, x


@pytest.mark.parametrize("batch_size,n_samples", [(100, 1), (5, 1), (4, 3)])
def test_test_elbo_matches_loss_and_grads(batch_size, n_samples):
    model, x = bernoulli_model_and_data()
    parts = test_elbo(model, x, batch_size=batch_size, n_samples=n_samples, rng=9)
    rng = np.random.default_rng(9)
    totals = np.zeros(3)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        eps = rng.standard_normal((n_samples, xb.shape[0], 3))
        model.loss_and_grads(xb, eps=eps)
        p = model.last_parts
        totals += xb.shape[0] * np.array([p["loss"], p["recon"], p["kl"]])
    loss, recon, kl = totals / x.shape[0]
    assert parts["loss"] == pytest.approx(loss, rel=1e-12)
    assert parts["recon"] == pytest.approx(recon, rel=1e-12)
    assert parts["kl"] == pytest.approx(kl, rel=1e-12)
    assert parts["elbo"] == pytest.approx(-loss, rel=1e-12)


def test_test_elbo_float32_agrees_with_loss_and_grads():
    model, x = bernoulli_model_and_data("float32", n=50)
    parts = test_elbo(model, x, rng=0)
    eps = np.random.default_rng(0).standard_normal((1, 50, 3), dtype=np.float32)
    loss, _ = model.loss_and_grads(x, eps=eps)
    assert parts["loss"] == pytest.approx(loss, rel=1e-6)


def test_evaluation_leaves_the_model_noise_stream_alone():
    model, x = bernoulli_model_and_data()
    before = model.rng.bit_generator.state
    test_elbo(model, x)
    vll.log_likelihood(model, x, k=5, progress=False)
    assert model.rng.bit_generator.state == before


def test_progress_bar_is_silent_when_not_a_terminal(capsys):
    model, x = bernoulli_model_and_data()
    vll.log_likelihood(model, x, k=5, chunk_size=2, progress=True)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- active units, KL per dimension

def test_active_units_and_kl_per_dimension_against_hand_formulas():
    model, A, b, x = linear_model(seed=3)
    W_mu = np.zeros((D, K))
    W_mu[:, 0] = A[:, 0] * 0.5                                  # z_0 follows x, z_1 ignores it
    set_encoder(model, W_mu, np.array([0.1, -0.2]), np.array([-1.0, 0.0]))
    n, variance = latent_use.active_units(model, x, batch_size=7)
    mu = x @ W_mu + np.array([0.1, -0.2])
    np.testing.assert_allclose(variance, ((mu - mu.mean(0)) ** 2).mean(0), rtol=1e-12, atol=1e-15)
    assert n == 1 and variance[1] < 1e-20
    kl = latent_use.kl_per_dimension(model, x, batch_size=6)
    lv = np.array([-1.0, 0.0])
    np.testing.assert_allclose(kl, (0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)).mean(0), rtol=1e-12)
    assert kl.sum() == pytest.approx(test_elbo(model, x)["kl"], rel=1e-12)
    assert latent_use.active_units(model, x, threshold=10.0)[0] == 0


# ---------------------------------------------------------------- bad input

def test_bad_k_chunk_and_memory_are_clear_errors():
    model, x = bernoulli_model_and_data()
    for k in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="k .*integer >= 1"):
            vll.log_likelihood(model, x, k=k, progress=False)
    for c in (0, -1, 1.5):
        with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
            vll.log_likelihood(model, x, k=10, chunk_size=c, progress=False)
    with pytest.raises(ValueError, match="cannot hold even one sample"):
        vll.log_likelihood(model, x, k=10, max_memory_mb=1e-6, progress=False)
    with pytest.raises(ValueError, match="chunk_size=10 .* more than max_memory_mb"):
        vll.log_likelihood(model, x, k=10, chunk_size=10, max_memory_mb=0.0002, progress=False)
    with pytest.raises(ValueError, match="max_memory_mb must be"):
        vll.log_likelihood(model, x, k=10, max_memory_mb=0, progress=False)
    with pytest.raises(ValueError, match="rng must be"):
        vll.log_likelihood(model, x, k=10, rng="seed", progress=False)


def test_wrong_data_is_a_clear_error():
    model, x = bernoulli_model_and_data()
    with pytest.raises(ValueError, match="dtype float32 but this model uses float64"):
        test_elbo(model, x.astype(np.float32))
    with pytest.raises(ValueError, match="12 features"):
        vll.log_likelihood(model, x[:, :5], k=2, progress=False)
    with pytest.raises(ValueError, match="at least one example"):
        latent_use.active_units(model, x[:0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        latent_use.kl_per_dimension(model, x * 2)


def test_labels_that_do_not_match_images_are_rejected():
    model, x = bernoulli_model_and_data()
    data = SimpleNamespace(name="toy", x_train=x, y_train=np.zeros(13, dtype=int), x_test=x,
                           y_test=np.zeros(12, dtype=int))
    run = SimpleNamespace(model=model, config={"binarize": "none"})
    with pytest.raises(ValueError, match=r"labels do not match the images.*\(13,\).*\(12,\)"):
        run_data.run_test_data(run, data)


def test_run_dir_without_checkpoint_is_a_clear_error(tmp_path):
    pytest.importorskip("numpyvae.run.checkpoint")
    with pytest.raises((FileNotFoundError, ValueError)):
        ev.evaluate_run(tmp_path / "no-such-run", k=2, progress=False)
    with pytest.raises((FileNotFoundError, ValueError)):
        ev.evaluate_run(tmp_path, k=2, progress=False)     # exists, but holds no checkpoint


# ---------------------------------------------------------------- test-set binarization

def test_binarize_test_set():
    x = np.random.default_rng(0).random((400, 30)).astype(np.float32)
    dyn, how = binarize_test_set(x, "dynamic")
    assert set(np.unique(dyn)) <= {0.0, 1.0} and dyn.dtype == np.float32 and "seed" in how
    np.testing.assert_array_equal(dyn, binarize_test_set(x, "dynamic")[0])   # fixed seed
    assert abs(dyn.mean() - x.mean()) < 0.01                                        # a Bernoulli(x) draw
    np.testing.assert_array_equal(binarize_test_set(x, "static", seed=4)[0],
                                  (np.random.default_rng(4).random(x.shape, dtype=np.float32) < x).astype(np.float32))
    assert binarize_test_set(x, "none")[0] is x
    with pytest.raises(ValueError, match="binarize must be one of"):
        binarize_test_set(x, "sometimes")


# ---------------------------------------------------------------- the mixture baseline

def test_mixture_baseline_one_component_has_a_closed_form():
    rng = np.random.default_rng(1)
    p = rng.random(16)
    x_train = (rng.random((300, 16)) < p).astype(np.float64)
    x_test = (rng.random((50, 16)) < p).astype(np.float64)
    res = mixture_baseline.mixture_baseline(x_train, x_test, kind="bernoulli", n_components=1, alpha=0.5)
    mu = (x_train.sum(0) + 0.5) / (300 + 1.0)                  # the Beta-smoothed pixel frequency
    expected = (x_test * np.log(mu) + (1 - x_test) * np.log1p(-mu)).sum(1).mean()
    assert res["test_log_likelihood"] == pytest.approx(expected, rel=1e-12)
    assert res["n_components"] == 1 and res["model"].means.shape == (1, 16)
    g = mixture_baseline.mixture_baseline(x_train, x_test, kind="gaussian", n_components=2)
    assert np.isfinite(g["test_log_likelihood"])


def test_mixture_baseline_bad_input():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="kind must be one of"):
        mixture_baseline.mixture_baseline(x, x, kind="poisson")
    with pytest.raises(ValueError, match="same number of features"):
        mixture_baseline.mixture_baseline(x, np.zeros((3, 5)))


# ---------------------------------------------------------------- saving and the table

def fake_results():
    return {"dataset": "digits", "n_test": 1000, "test_data": "stochastically binarized", "z_dim": 20,
            "test_elbo": -101.25, "test_recon": 76.5, "test_kl": 24.75, "log_likelihood": -96.5,
            "log_likelihood_stderr": 0.8, "k": 5000, "gap": 4.75, "active_units": 14, "active_threshold": 0.01,
            "baseline": [{"kind": "bernoulli", "n_components": 50, "test_log_likelihood": -137.3}]}


def test_save_evaluation_is_atomic_and_readable(tmp_path):
    res = fake_results()
    path = ev.save_evaluation(res, tmp_path)
    assert json.loads(path.read_text()) == res
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.json"]   # no temporary left behind


def test_format_table_shows_every_number():
    table = ev.format_table(fake_results())
    for text in ("-101.25", "76.50", "24.75", "-96.50", "k=5000", "4.75", "14/20", "K=50", "-137.30"):
        assert text in table


# ---------------------------------------------------------------- a whole run directory

def tiny_run(tmp_path, binarize="auto"):
    from numpyvae.run.checkpoint_format import CHECKPOINT, save_checkpoint
    from numpyvae.datasets import Dataset, load
    d = load("digits")
    data = Dataset(name="digits", x_train=d.x_train[:300], y_train=d.y_train[:300], x_test=d.x_test[:40],
                   y_test=d.y_test[:40], image_shape=d.image_shape, source=d.source)
    model = VAE(784, hidden=[16], z_dim=2, seed=1)
    config = {"dataset": "digits", "binarize": binarize, "likelihood": "bernoulli", "seed": 3}
    save_checkpoint(tmp_path / CHECKPOINT, model, config=config)
    return model, data


def test_evaluate_run_end_to_end(tmp_path):
    model, data = tiny_run(tmp_path)
    res = ev.evaluate_run(tmp_path, k=20, dataset=data, baseline=2, progress=False)
    # the test set is the trainer's validation draw: Bernoulli(x) with the run's seed + 1
    x = (np.random.default_rng(4).random(data.x_test.shape, dtype=np.float32) < data.x_test).astype(np.float32)
    assert res["binarize"] == "dynamic" and res["n_test"] == 40 and "seed 4" in res["test_data"]
    assert res["test_elbo"] == pytest.approx(test_elbo(model, x, rng=0)["elbo"], rel=1e-6)
    assert res["gap"] == pytest.approx(res["log_likelihood"] - res["test_elbo"])
    assert len(res["kl_per_dimension"]) == 2 and len(res["latent_variance"]) == 2
    assert res["baseline"][0]["kind"] == "bernoulli" and res["baseline"][0]["n_components"] == 2
    assert json.loads((tmp_path / "evaluation.json").read_text()) == res
    assert "IS k=20" in ev.format_table(res)


def test_a_run_config_with_a_bad_seed_is_an_error_not_seed_0():
    from numpyvae.measure.run_data import seed_of
    assert seed_of({}) == 0 and seed_of({"seed": 4}) == 4
    for bad in (-5, 1.5, "3", True):
        with pytest.raises(ValueError, match="the run's config: seed must be an integer >= 0"):
            seed_of({"seed": bad})
