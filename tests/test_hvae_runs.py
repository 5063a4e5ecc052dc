"""The hierarchy and Burda's schedule as run settings: config checks, the trainer, resume, evaluate, the CLI."""
import math

import numpy as np
import pytest

from numpyvae.run import checkpoint as ckpt
from numpyvae.cli import main
from numpyvae.run.config import TrainConfig, burda_epochs
from numpyvae.run.presets import PRESETS
from numpyvae.measure.evaluate import evaluate_run, format_table
from numpyvae.models.hvae import HVAE
from numpyvae.run.train import Trainer


def small(**kw):
    base = dict(hidden=[16], stochastic=[6, 3], activation="tanh", batch_size=50, epochs=2, seed=0)
    return TrainConfig(**{**base, **kw})


def test_the_burda_schedule_lengths_and_rates():
    assert [burda_epochs(n) for n in (1, 3, 4, 8)] == [1, 13, 40, 3280]
    cfg = TrainConfig(lr_schedule="burda", burda_stages=3, epochs=13, lr=1e-3)
    rates = [cfg.lr_at(e) for e in range(13)]
    expected = [1e-3] + [1e-3 * 10 ** (-1 / 7)] * 3 + [1e-3 * 10 ** (-2 / 7)] * 9   # 3^0, 3^1, 3^2 epochs
    assert np.allclose(rates, expected, rtol=1e-15)
    assert TrainConfig(lr=0.01).lr_at(99) == 0.01


def test_burda_presets_are_the_papers_settings():
    for name in ("burda-1l", "burda-2l"):
        cfg = TrainConfig(**PRESETS[name])
        assert (cfg.batch_size, cfg.adam_eps, cfg.epochs, cfg.lr_at(3279)) == (20, 1e-4, 3280, 1e-3 * 10 ** -1)
        assert cfg.optimizer_kwargs() == {"lr": 1e-3, "eps": 1e-4} and cfg.resolved_binarize() == "dynamic"
        assert cfg.output_bias == "data"          # yburda/iwae's get_train_bias_np
    assert TrainConfig(**PRESETS["burda-2l"]).model_kwargs()["stochastic"] == [100, 50]


@pytest.mark.parametrize("kwargs,message", [
    (dict(stochastic=[4, 2], z_dim=3), "z_dim is a setting of the one-layer VAE"),
    (dict(stochastic=[4, 2], posterior="planar:2"), "posterior is a setting of the one-layer VAE"),
    (dict(stochastic=[4, 0]), "each stochastic layer size must be an integer >= 1"),
    (dict(lr_schedule="burda", burda_stages=3, epochs=10), "set epochs to 13"),
    (dict(burda_stages=3), "burda_stages is a setting of lr_schedule burda"),
    (dict(optimizer="sgd", adam_eps=1e-4), "adam_eps is Adam's epsilon"),
    (dict(adam_eps=0.0), "adam_eps must be a number > 0"),
    (dict(lr_schedule="cosine"), "lr_schedule must be one of constant, burda"),
])
def test_bad_settings_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_cli_errors_are_one_line(capsys):
    for argv, message in ([["train", "--stochastic", "4", "0"], "stochastic layer size"],
                          [["train", "--preset", "burda-2l", "--burda-stages", "3"], "set epochs to 13"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("numpyvae: error: ") and message in err and "Traceback" not in err


def test_train_resume_evaluate_a_hierarchy_with_a_learned_prior(small_digits, tmp_path):
    cfg = small(prior="mog:3", lr_schedule="burda", burda_stages=2, epochs=4, adam_eps=1e-4)
    whole = Trainer(cfg, data=small_digits, quiet=True)
    whole.fit()
    assert isinstance(whole.model, HVAE)
    assert [row["lr"] for row in whole.history] == pytest.approx([1e-3] + [1e-3 * 10 ** (-1 / 7)] * 3)
    assert whole.optimizer.eps == 1e-4
    first = Trainer(cfg, data=small_digits, run_dir=tmp_path, quiet=True)
    first.fit(2)
    first.close()
    resumed = Trainer.resume(tmp_path, data=small_digits, quiet=True)
    resumed.fit()
    assert np.array_equal(resumed.model.flat_params, whole.model.flat_params)   # same bits as uninterrupted
    resumed.close()
    run = ckpt.load_run(tmp_path)
    assert isinstance(run.model, HVAE) and run.model.stochastic == [6, 3]
    res = evaluate_run(tmp_path, k=20, dataset=small_digits, progress=False)
    assert res["stochastic"] == [6, 3] and len(res["latent_variance"]) == 9
    assert sum(res["active_units_per_layer"]) == res["active_units"]
    assert res["kl_per_dimension"] is None and math.isfinite(res["log_likelihood"])
    assert res["log_likelihood"] >= res["test_elbo"] - 5       # IS k=20 is not far below the ELBO
    assert "layer z2" in format_table(res)
