"""The default output bias (issue 25): the data mean wherever it applies, zero one setting away.

* unset, ``output_bias`` starts the decoder's output head at the training pixels' mean for the
  N(0, I) VAE and for a hierarchy's p(x|z1) (it was zero for both before issue 25);
* the former default stays reachable: ``train --output-bias zero`` and ``output_bias = "zero"`` in a
  TOML file start a real CLI run at zero (and the same run without them starts at the data mean);
* the presets from the seeds' code (lecture, keras, blog, pytorch-example, keras-conv) keep their
  code's zero start; Burda et al.'s presets keep their code's data mean.
"""
import numpy as np
import pytest

from numpyvae.cli import build_parser, config_from_args, main
from numpyvae.datasets import load
from numpyvae.datasets.dataset import Dataset
from numpyvae.run import train as train_module
from numpyvae.run.config import TrainConfig
from numpyvae.run.output_bias import output_bias_value, resolve_output_bias
from numpyvae.run.train import Trainer

TINY = ["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--batch-size", "500", "--quiet", "--no-plots"]


@pytest.fixture(scope="module")
def few():
    """300 training and 100 test digits."""
    d = load("digits")
    return Dataset("digits", d.x_train[:300], d.y_train[:300], d.x_test[:100], d.y_test[:100], d.image_shape, d.source)


@pytest.mark.parametrize("settings, head", [
    (dict(hidden=[8], z_dim=2), "decoder.out.b"),                    # N(0, I), the default prior
    (dict(hidden=[8], stochastic=[4, 2], model="hvae"), "p.x.out.b")])  # a hierarchy's p(x|z1)
def test_unset_the_output_bias_starts_at_the_data_mean(settings, head, few):
    cfg = TrainConfig(epochs=1, batch_size=50, **settings)
    assert cfg.output_bias == "auto"
    trainer = Trainer(cfg, data=few, quiet=True)
    np.testing.assert_array_equal(trainer.model.params[head], output_bias_value("bernoulli", trainer.x_train))


@pytest.fixture
def first_bias(monkeypatch):
    """The decoder's output bias of every CLI run in this test, as it was when training began."""
    seen, fit = [], train_module.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(self.model.params["decoder.out.b"].copy())
        return fit(self, *args, **kwargs)
    monkeypatch.setattr(train_module.Trainer, "fit", recording_fit)
    return seen


@pytest.mark.parametrize("how", ["flag", "toml", "unset"])
def test_a_cli_run_starts_the_output_bias_as_told(how, first_bias, tmp_path):
    argv = TINY + ["--out", str(tmp_path / "run")]
    if how == "flag":
        argv += ["--output-bias", "zero"]
    elif how == "toml":
        (tmp_path / "run.toml").write_text('output_bias = "zero"\n')
        argv += ["--config", str(tmp_path / "run.toml")]
    assert main(argv) == 0
    (b,) = first_bias
    if how == "unset":     # the control: the same run, unset, starts elsewhere (the data mean's logit)
        assert b.min() < -6.0 and np.abs(b).max() > 0
    else:
        np.testing.assert_array_equal(b, np.zeros_like(b))


@pytest.mark.parametrize("preset, start", [
    ("lecture", "zero"), ("keras", "zero"), ("blog", "zero"), ("pytorch-example", "zero"), ("keras-conv", "zero"),
    ("burda-1l", "data"), ("burda-2l", "data")])
def test_each_preset_keeps_its_codes_start(preset, start):
    cfg = config_from_args(build_parser().parse_args(["train", "--preset", preset]))
    assert cfg.output_bias == start                      # said explicitly: no change of default moves it
    assert resolve_output_bias(cfg.output_bias) == start
