"""The plain autoencoder (--model ae): a deterministic code z = mu(x), the reconstruction loss alone, no KL.

Whole-model finite differences; the loss against a forward pass written here; the guard that no
KL or prior term enters; the CLI path and the picture of prior draws decoded next to a VAE's.
"""
import json

import numpy as np
import pytest
from scipy.special import expit

from numpyvae import VAE
from numpyvae.cli import main
from numpyvae.run.config import TrainConfig
from numpyvae.measure.vae_log_likelihood import log_likelihood
from numpyvae.models.base import NoLogLikelihood
from numpyvae.plots import plot_prior_decodings
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

N, D, K = 4, 6, 2


def tiny_ae(likelihood="bernoulli", seed=0):
    model = VAE(D, [5], K, likelihood=likelihood, activation="tanh", seed=seed, dtype="float64",
                posterior="deterministic")
    model.flat_params[:] += 0.05 * np.random.default_rng(seed + 3).standard_normal(model.flat_params.size)
    return model


def data(seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(N, D))


def manual_loss(model, x, likelihood):
    """encoder -> code -> decoder, written with the weights directly; mean reconstruction loss per example."""
    p = model.params
    code = np.tanh(x @ p["encoder.0.W"] + p["encoder.0.b"]) @ p["encoder.mu.W"] + p["encoder.mu.b"]
    out = np.tanh(code @ p["decoder.0.W"] + p["decoder.0.b"]) @ p["decoder.out.W"] + p["decoder.out.b"]
    if likelihood == "bernoulli":                       # cross-entropy with logits
        q = expit(out)
        return -np.mean((x * np.log(q) + (1 - x) * np.log(1 - q)).sum(1))
    sigma = model.likelihood.sigma                      # MSE / (2σ²) + the Gaussian's constant
    return np.mean(((x - out) ** 2).sum(1) / (2 * sigma ** 2) + D * np.log(2 * np.pi * sigma ** 2) / 2)


@pytest.mark.parametrize("likelihood, S", [("bernoulli", 1), ("gaussian", 1), ("bernoulli", 3)])
def test_whole_model_gradient_and_loss(likelihood, S):
    model, x = tiny_ae(likelihood), data()
    loss, _ = model.loss_and_grads(x, n_samples=S)
    assert loss == pytest.approx(manual_loss(model, x, likelihood), rel=1e-12)
    assert model.last_parts["kl"] == 0.0
    analytic = model.flat_grads.copy()
    numeric = numerical_gradient(lambda _: model.forward(x, n_samples=S).loss, model.flat_params)
    assert relative_error(analytic, numeric) <= 1e-7
    for name in model.params:                           # no parameter hides behind the big ones
        assert np.abs(model.grads[name]).max() > 0, name


def test_no_kl_or_prior_term_enters_whatever_the_options():
    model, x = tiny_ae(), data(1)
    base = model.forward(x).loss
    # beta, kl="mc" and the encoder's code far from N(0, I) change nothing: there is no prior term
    model.params["encoder.mu.b"][...] += 50.0
    far = model.forward(x, beta=0.3, kl="mc")
    assert far.parts["kl"] == 0.0 and far["kl_route"] == "none" and "_prior" not in far and "_kl" not in far
    assert far.loss == pytest.approx(manual_loss(model, x, "bernoulli"), rel=1e-12) and far.loss != base
    assert list(model.posterior.heads) == ["mu"] and "encoder.logvar.W" not in model.params


def test_bad_input_for_the_autoencoder():
    model, x = tiny_ae(), data()
    with pytest.raises(ValueError, match="plain autoencoder.*objective must be 'elbo', got 'iwae'"):
        model.forward(x, n_samples=3, objective="iwae")
    with pytest.raises(ValueError, match=r"no log p\(x\): a point mass has no density"):
        log_likelihood(model, x, k=5, progress=False)
    with pytest.raises(NoLogLikelihood, match=r"no log p\(x\): a point mass has no density"):
        model.log_likelihood(x, 5)
    with pytest.raises(ValueError, match="posterior 'deterministic' has no KL term.*--model ae"):
        TrainConfig(posterior="deterministic")
    with pytest.raises(ValueError, match="beta = 0.5 is not a setting of --model ae"):
        TrainConfig(model="ae", beta=0.5)
    with pytest.raises(ValueError, match="n_samples = 2 is not a setting of --model ae"):
        TrainConfig(model="ae", n_samples=2)


def test_cli_trains_an_autoencoder_and_the_picture_shows_both_decoders(tmp_path, small_digits, monkeypatch, capsys):
    import numpyvae.run.train as train_module
    monkeypatch.setattr(train_module, "load", lambda name, dtype=None: small_digits)
    flags = ["--hidden", "32", "--z-dim", "4", "--epochs", "2", "--batch-size", "50", "--quiet", "--no-plots"]
    assert main(["train", "--model", "ae", *flags, "--out", str(tmp_path / "ae")]) == 0
    assert main(["train", *flags, "--out", str(tmp_path / "vae")]) == 0
    history = json.loads((tmp_path / "ae" / "history.json").read_text())
    assert history[-1]["val_loss"] < history[0]["val_loss"] and all(row["val_kl"] == 0.0 for row in history)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "ae"), "--k", "5"]) == 0      # the rest of the evaluation runs
    out = capsys.readouterr().out
    assert out.count("no log p(x): a point mass has no density") == 1 and "reconstruction −log p(x|z)" in out
    assert "trained on the reconstruction error" in out and "active units" in out
    saved = json.loads((tmp_path / "ae" / "evaluation.json").read_text())
    assert saved["log_likelihood"] is None and saved["test_recon"] > 0 and saved["active_units"] >= 0
    from numpyvae.run.checkpoint import load_model
    ae, vae = load_model(tmp_path / "ae"), load_model(tmp_path / "vae")
    assert ae.posterior.name == "deterministic" and vae.posterior.name == "gaussian"
    path = plot_prior_decodings({"autoencoder": ae, "VAE": vae}, tmp_path / "prior.png", n=16)
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="models must be a non-empty dict"):
        plot_prior_decodings({}, tmp_path / "x.png")
