"""The VampPrior's collapse on the digits, its cause and its fix (numpyvae/run/output_bias.py).

* the decoder's output bias: "data" is the logit of the training pixels' mean (Burda et al.'s
  start), "auto" (the default) gives it wherever the decoder has such a head, bad settings are refused by name;
* the collapse itself, on the exact failing configuration (784-200-200-50 tanh, vamp:500,
  batch 100, the digits): one epoch from a zero bias ends with KL ~ 0, from the data bias it does not;
* the gradient on that configuration, a few steps into the collapse, against central
  differences in float64 (so the collapse is the optimization's, not a wrong gradient);
* plot_samples names the prior it draws from.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae import plots
from numpyvae.plots import decoded
from numpyvae.plots.decoded import prior_label
from numpyvae.cli import main
from numpyvae.run.config import TrainConfig
from numpyvae.datasets import load
from numpyvae.datasets.dataset import Dataset
from numpyvae.run.output_bias import output_bias_value, resolve_output_bias, set_output_bias
from numpyvae.run.train import Trainer

FAILING = dict(hidden=[200, 200], z_dim=50, activation="tanh", batch_size=100, seed=0, prior="vamp:500")


@pytest.fixture(scope="module")
def digits():
    """All 9,000 bundled training digits (the failing run's data), loaded once for this file."""
    return load("digits")


@pytest.fixture(scope="module")
def few(digits):
    """300 training and 100 test digits, for the settings' own tests."""
    return Dataset("digits", digits.x_train[:300], digits.y_train[:300], digits.x_test[:100], digits.y_test[:100],
                   digits.image_shape, digits.source)


# ---------------------------------------------------------------- the setting

def test_data_bias_makes_the_decoder_start_at_the_pixel_marginals():
    rng = np.random.default_rng(0)
    x = (rng.random((50, 12)) < np.linspace(0, 1, 12)).astype(np.float32)   # a pixel always 0, one always 1
    b = output_bias_value("bernoulli", x)
    assert b.dtype == np.float32 and b.shape == (12,)
    p = 1 / (1 + np.exp(-b.astype(np.float64)))                 # sigmoid of the bias: back to the mean pixel
    np.testing.assert_allclose(p, np.clip(x.mean(0), 0.001, 0.999), rtol=1e-5)
    np.testing.assert_allclose(output_bias_value("gaussian", x), x.mean(0), rtol=1e-6)


def test_auto_asks_for_data_and_the_others_mean_themselves():
    # issue 25: the data-mean start is the default for every prior (it was data only for mog/vamp)
    assert [resolve_output_bias(s) for s in ("auto", "zero", "data")] == ["data", "zero", "data"]
    with pytest.raises(ValueError, match="output_bias must be one of auto, zero, data, got 'mean'"):
        resolve_output_bias("mean")


@pytest.mark.parametrize("setting, prior, expect_data", [
    ("auto", "standard", True), ("zero", "standard", False), ("auto", "vamp:3", True), ("auto", "mog:2", True),
    ("zero", "vamp:3", False), ("data", "standard", True)])
def test_the_trainer_starts_the_output_bias_as_set(setting, prior, expect_data, few):
    cfg = TrainConfig(hidden=[8], z_dim=2, epochs=1, batch_size=50, prior=prior, output_bias=setting)
    trainer = Trainer(cfg, data=few, quiet=True)
    b = trainer.model.params["decoder.out.b"]
    expected = output_bias_value("bernoulli", trainer.x_train) if expect_data else np.zeros_like(b)
    np.testing.assert_array_equal(b, expected)


def test_a_hierarchy_gets_the_bias_on_its_pixels(few):
    cfg = TrainConfig(hidden=[8], stochastic=[4, 2], epochs=1, batch_size=50, output_bias="data")
    trainer = Trainer(cfg, data=few, quiet=True)
    np.testing.assert_array_equal(trainer.model.params["p.x.out.b"], output_bias_value("bernoulli", trainer.x_train))


def test_data_bias_refuses_what_it_cannot_set():
    with pytest.raises(ValueError, match="output_bias must be one of auto, zero, data, got 'mean'"):
        TrainConfig(output_bias="mean")
    with pytest.raises(ValueError, match="output_bias 'data'.*continuous-bernoulli has none to set"):
        TrainConfig(output_bias="data", likelihood="continuous-bernoulli")
    with pytest.raises(ValueError, match="output_bias 'data'.*--model helmholtz has none to set"):
        TrainConfig(output_bias="data", model="helmholtz")
    conv = VAE(16, z_dim=2, encoder="dense:4", decoder="dense:16,reshape:1:4:4", image_shape=(4, 4))
    x = np.zeros((3, 16), np.float32)
    with pytest.raises(ValueError, match="one bias per pixel"):
        set_output_bias(conv, "data", "bernoulli", x)
    assert set_output_bias(conv, "auto", "bernoulli", x) == "zero"   # auto: only where it applies


@pytest.mark.parametrize("argv, message", [
    (["train", "--output-bias", "mean"], "invalid choice: 'mean'"),
    (["train", "--output-bias", "data", "--likelihood", "continuous-bernoulli"], "has none to set")])
def test_cli_refuses_bad_output_bias_in_one_line(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:          # argparse refuses a bad choice itself
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("numpyvae: error: ") and message in err and "Traceback" not in err


# ---------------------------------------------------------------- the collapse and its fix

def _sixty_steps(output_bias, digits):
    data = Dataset("digits", digits.x_train[:6000], digits.y_train[:6000], digits.x_test[:300], digits.y_test[:300],
                   digits.image_shape, digits.source)
    trainer = Trainer(TrainConfig(**FAILING, epochs=1, output_bias=output_bias), data=data, quiet=True)
    trainer.fit(1)
    x = trainer.x_val
    mu = trainer.model.encode(x)[0]
    return trainer.history[-1]["val_kl"], float(mu.std(axis=0).mean())


@pytest.mark.slow      # 14 s at load 7-9
def test_vamp500_collapses_from_a_zero_bias_and_not_from_the_data_bias(digits):
    """The failing run of tutorials/reference/deeper-models-and-learned-priors.md for its first 60 steps (the collapse is over by step 50): from a zero
    bias the KL is ~0 and every digit has nearly the same code; from the data bias they differ and carry nats."""
    kl_zero, spread_zero = _sixty_steps("zero", digits)
    kl_data, spread_data = _sixty_steps("auto", digits)
    assert kl_zero < 0.2 and spread_zero < 0.1          # measured: 0.06 nats, spread 0.066
    assert kl_data > 4.0 and spread_data > 0.4          # measured: 9.1 nats, spread 0.68


def test_vamp_gradient_is_exact_on_the_failing_configuration_mid_collapse(digits):
    """Float64, 20 steps into the zero-bias run (the KL has fallen from 8 to ~1): the directional derivative of the
    loss along a random direction of every parameter array, against central differences with
    Richardson extrapolation, (4 D(h/2) − D(h)) / 3, whose error is O(h⁴)."""
    trainer = Trainer(TrainConfig(**FAILING, epochs=1, output_bias="zero", dtype="float64"), data=digits, quiet=True)
    model, steps = trainer.model, 20
    rng = np.random.default_rng(1)
    for b in range(steps):      # the trainer's own steps, as in Trainer._steps
        xb = (trainer.x_train[b * 100:(b + 1) * 100] > rng.random((100, 784))).astype(np.float64)
        model.loss_and_grads(xb, beta=1.0)
        trainer.optimizer.step()
    x = (trainer.x_train[:20] > rng.random((20, 784))).astype(np.float64)
    eps = rng.standard_normal((1, 20, 50))
    _, grads = model.loss_and_grads(x, eps)
    analytic, numeric = [], []
    for name, p in model.params.items():
        v = rng.standard_normal(p.shape)
        analytic.append(float((grads[name] * v).sum()))

        def central(h):
            old = p.copy()
            p[...] = old + h * v
            up = model.forward(x, eps).loss
            p[...] = old - h * v
            down = model.forward(x, eps).loss
            p[...] = old
            return (up - down) / (2 * h)
        numeric.append((4 * central(5e-5) - central(1e-4)) / 3)
    analytic, numeric = np.array(analytic), np.array(numeric)
    assert "prior.pseudo_inputs" in model.params
    err = np.abs(analytic - numeric) / (np.abs(analytic) + np.abs(numeric)).max()
    assert err.max() < 1e-7, dict(zip(model.params, err))


# ---------------------------------------------------------------- the samples' title

@pytest.mark.parametrize("prior, words", [("standard", "z ~ N(0, I)"), ("mog:3", "mixture of Gaussians (mog:3)"),
                                          ("vamp:4", "the VampPrior (vamp:4)")])
def test_plot_samples_names_the_prior(prior, words, tmp_path, monkeypatch):
    titles = []
    real = decoded.plot_image_grid
    monkeypatch.setattr(decoded, "plot_image_grid", lambda *a, title="", **k: titles.append(title) or real(*a, **k))
    model = VAE(20, hidden=[8], z_dim=2, prior=prior, seed=0)
    plots.plot_samples(model, tmp_path / "s.png", n=6, image_shape=(4, 5))
    assert words in titles[0] and ("N(0, I)" in titles[0]) == (prior == "standard")


def test_plot_samples_of_2d_data_draw_from_a_learned_prior(tmp_path):
    model = VAE(2, hidden=[8], z_dim=2, likelihood="gaussian", likelihood_kwargs={"sigma": 0.1}, prior="vamp:3")
    path = plots.plot_samples(model, tmp_path / "s.png", n=20, image_shape=None)
    assert path.exists() and "vamp:3" in prior_label(model)
