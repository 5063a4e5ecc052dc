"""Run settings: one check per setting, errors that name the key and the file, choices from the registries."""
import math

import numpy as np
import pytest

from numpyvae import seeds
from numpyvae.datasets import binarize as binarization
from numpyvae.run import config, memory, sections, settings
from numpyvae.run.presets import PRESETS
from numpyvae.cli import build_parser, config_from_args, main
from numpyvae.run.config import TrainConfig
from numpyvae.likelihoods import LIKELIHOODS


def run_cli(argv, capsys):
    """main(argv) -> (exit status, stderr); argparse's own exits count as a status too."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("line,message", [
    ('seed = "abc"', "seed must be an integer >= 0, got 'abc' (str)"),
    ("seed = 1.5", "seed must be an integer >= 0, got 1.5 (float)"),
    ("out = 5", "out must be a directory path (a string), got 5 (int)"),
    ('dataset = ["digits"]', "dataset must be one of digits, fashion-mnist, mnist, ring (a string), got ['digits']"),
    ("beta = true", "beta must be a number, got True (bool)"),
    ("clip_grad_norm = true", "clip_grad_norm must be a number, got True (bool)"),
    ("epochs = 2.0", "epochs must be an integer >= 1, got 2.0 (float)"),
    ("lr = nan", "lr must be a finite number"),
    ('hidden = [32, "a"]', "each hidden size must be an integer >= 1, got 'a' (str)"),
    ("hidden = []", "hidden must be a non-empty list"),
    ("[train]\nepochs = 3", "unknown key(s) ['train']"),
    ("sigma = 0.5", "sigma is an option of the likelihood gaussian, not of 'bernoulli'"),
])
def test_bad_toml_values_name_the_file_and_the_key(tmp_path, capsys, line, message):
    toml = tmp_path / "run.toml"
    toml.write_text(line + "\n")
    code, err = run_cli(["train", "--config", str(toml), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.startswith("numpyvae: error: ") and err.count("\n") == 1
    assert message in err
    if "unknown key" not in message and "option of" not in message:
        assert f"config file {toml}: " in err


def test_hidden_as_one_integer_means_one_layer(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("hidden = 32\n")
    cfg = config_from_args(build_parser().parse_args(["train", "--config", str(toml)]))
    assert cfg.hidden == [32]


@pytest.mark.parametrize("content,message", [
    (None, "is a directory"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "is not a text (UTF-8) TOML file"),
])
def test_config_paths_that_are_not_toml_files(tmp_path, capsys, content, message):
    path = tmp_path / "c.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    code, err = run_cli(["train", "--config", str(path)], capsys)
    assert code == 2 and f"config file {path} {message}" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["--seed", "-1"], "--seed: seed must be an integer >= 0, got -1"),
    (["--lr", "0"], "--lr: lr must be a number > 0, got 0"),
    (["--beta", "inf"], "--beta: beta must be a finite number, got inf"),
    (["--hidden", "0"], "--hidden: each hidden size must be an integer >= 1, got 0"),
    (["--min-logvar", "-3"], "min_logvar is an option of the likelihood gaussian-learned, not of 'bernoulli'"),
    (["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["--objective", "iwae", "--beta", "0.5"], "the iwae objective needs beta = 1"),
    (["--posterior", "bogus"], "--posterior: posterior: unknown posterior 'bogus'; choose one of"),
    (["--posterior", "planar:0"], "--posterior: posterior:"),
    (["--prior", "mog"], "--prior: prior: make_prior: 'mog' needs a number of components"),
    (["--prior", "vamp:0"], "--prior: prior: make_prior: the number of components in 'vamp:0' must be an integer >= 1"),
    (["--alpha", "0.3"], "alpha is the order of the vr objective, not of 'elbo'"),
    (["--posterior", "planar:2,depth=3"], "'planar' does not take the option(s) ['depth']; it takes: amortized"),
    (["--posterior", "iaf:2,hidden=wide"], "option hidden must be an integer or true/false, got 'wide'"),
    (["--objective", "vr", "--alpha", "1"], "the vr bound at alpha = 1 is the ELBO"),
    (["--hidden-dec", "0"], "--hidden-dec: each hidden_dec size must be an integer >= 1, got 0"),
])
def test_bad_flags_name_the_flag(capsys, argv, message):
    code, err = run_cli(["train", *argv, "--quiet"], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith("numpyvae: error: ")


@pytest.mark.parametrize("objective", ["iwae", "vr", "vr-max"])
def test_a_multi_sample_bound_with_one_sample_is_refused(objective, tmp_path, capsys):
    """The help says these need n_samples >= 2 (with k = 1 each is the ELBO); the default is 1."""
    argv = ["train", "--preset", "ring", "--epochs", "1", "--no-plots", "--out", str(tmp_path / "run"), "--quiet"]
    code, err = run_cli([*argv, "--objective", objective], capsys)
    assert code == 2 and f"the {objective} objective needs n_samples >= 2" in err and "Traceback" not in err
    assert err.splitlines()[-1].startswith("numpyvae: error: ") and not (tmp_path / "run").exists()
    assert run_cli([*argv, "--objective", objective, "--n-samples", "2"], capsys)[0] == 0


def test_preset_values_are_checked_like_the_rest():
    for name, preset in PRESETS.items():
        TrainConfig.from_dict(preset, name)
    with pytest.raises(ValueError, match="preset 'x': beta must be a number >= 0, got -1"):
        settings.settings_from_sources([("preset 'x'", {"beta": -1})])


def test_python_construction_is_checked_too():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -2"):
        TrainConfig(seed=-2)
    with pytest.raises(ValueError, match="z_dim must be an integer >= 1, got True"):
        TrainConfig(z_dim=True)
    assert TrainConfig(hidden=(8, 4)).hidden == [8, 4]
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)


def test_choices_come_from_the_registries():
    assert settings.CHOICES["likelihood"] == tuple(LIKELIHOODS)
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    flag = {a.dest: a for a in train._actions}
    assert tuple(flag["likelihood"].choices) == tuple(LIKELIHOODS)
    assert "min_logvar" in config.likelihood_options("gaussian-learned")
    assert config.likelihood_options("gaussian") == ("sigma",)
    assert config.likelihood_options("bernoulli") == ()


def test_min_logvar_reaches_the_model_and_has_a_safe_default(small_digits):
    from numpyvae.run.train import Trainer
    data = small_digits
    t = Trainer(TrainConfig(likelihood="gaussian-learned", hidden=[8], z_dim=2, batch_size=50, epochs=1),
                data=data, quiet=True)
    assert t.model.likelihood.min_logvar == sections.DEFAULT_MIN_LOGVAR == math.log(0.01)
    t = Trainer(TrainConfig(likelihood="gaussian-learned", min_logvar=-3.0, hidden=[8], z_dim=2, batch_size=50,
                            epochs=1), data=data, quiet=True)
    assert t.model.likelihood.min_logvar == -3.0
    assert t.model.config["likelihood_kwargs"] == {"min_logvar": -3.0}


def test_seed_derivations():
    assert seeds.model_seed(7) == 7 and seeds.noise_seed(7) == [7, 1] and seeds.trainer_seed(7) == [7, 2]
    assert seeds.test_seed(7) == 8 and seeds.validation_seed(7) == 10 and seeds.train_draw_seed(7) == 7
    from numpyvae.models.vae import VAE
    m = VAE(4, [3], 2, seed=seeds.model_seed(7))
    assert m.rng.bit_generator.state == np.random.default_rng(seeds.noise_seed(7)).bit_generator.state


def test_resolved_binarize_policy():
    assert binarization.resolved_binarize("auto", "bernoulli", "digits") == "dynamic"
    assert binarization.resolved_binarize("auto", "bernoulli", "ring") == "none"
    assert binarization.resolved_binarize("auto", "gaussian", "digits") == "none"
    assert binarization.resolved_binarize("static", "gaussian", "digits") == "static"


def test_a_model_too_big_for_memory_is_refused_before_allocation():
    cfg = TrainConfig(hidden=[10 ** 7, 10 ** 7])
    with pytest.raises(ValueError, match="GiB"):
        memory.check_memory(cfg, 784)
    memory.check_memory(TrainConfig(), 784)   # the default fits anywhere


def test_families_priors_and_bounds_are_settings_of_a_run(tmp_path, capsys):
    """A flow posterior, a learned prior, the VR bound and a decoder of its own, trained from the
    command line; the run directory rebuilds the same model for evaluate."""
    out = tmp_path / "run"
    code, err = run_cli(["train", "--hidden", "16", "--hidden-dec", "8", "12", "--z-dim", "3", "--posterior",
                         "planar:2", "--prior", "mog:3", "--objective", "vr", "--alpha", "0.5", "--n-samples",
                         "2", "--epochs", "1", "--batch-size", "500", "--out", str(out), "--quiet", "--no-plots"],
                        capsys)
    assert code == 0, err
    from numpyvae.run.checkpoint import load_run
    model = load_run(out).model
    assert model.posterior.name == "planar:2" and model.config["posterior"] == "planar:2"
    assert model.prior.name == "mog" and model.hidden_dec == [8, 12]
    assert "prior.means" in model.params
    code, err = run_cli(["evaluate", str(out), "--k", "4"], capsys)
    assert code == 0, err


def test_a_toml_file_names_a_bad_family(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('posterior = 5\n')
    code, err = run_cli(["train", "--config", str(path)], capsys)
    assert code == 2 and f"config file {path}: posterior must be a name such as planar:8" in err


def test_a_flows_options_travel_in_its_name():
    from numpyvae import VAE
    model = VAE(6, [5], 2, posterior="planar:2,amortized=false", dtype="float64")
    assert list(model.posterior.heads) == ["mu", "logvar"]          # global steps: no per-example heads
    assert any(k.startswith("posterior.") for k in model.params)      # ... their parameters are the model's
    model = VAE(6, [5], 2, posterior="iaf:1,hidden=7,context_dim=3")
    assert model.posterior.heads["context"] == 3


def test_avb_options_are_settings_checked_by_name_and_rebuilt_from_the_checkpoint(tmp_path):
    """--critic, --adaptive-contrast, --beta1 reach the model and its optimizers, are refused elsewhere, and the
    saved config rebuilds the same AVB."""
    from numpyvae.run.checkpoint import load_run
    from numpyvae.run.train import train
    with pytest.raises(ValueError, match="beta1 must be a number >= 0 and < 1"):
        TrainConfig(model="avb", beta1=1.0)
    with pytest.raises(ValueError, match="critic must be one of mlp, inner"):
        TrainConfig(model="avb", critic="dot")
    with pytest.raises(ValueError, match="adaptive_contrast must be true or false"):
        TrainConfig(model="avb", adaptive_contrast=1)
    with pytest.raises(ValueError, match="critic, adaptive_contrast are settings of --model avb"):
        TrainConfig(model="vae", critic="inner", adaptive_contrast=True)
    with pytest.raises(ValueError, match="beta1 is Adam's β₁, not 'sgd'"):
        TrainConfig(optimizer="sgd", beta1=0.5)
    cfg = TrainConfig(model="avb", dataset="ring", hidden=[8], z_dim=2, likelihood="gaussian", sigma=0.1, epochs=1,
                      batch_size=100, critic="inner", adaptive_contrast=True, beta1=0.5, out=str(tmp_path / "r"))
    from numpyvae.models.avb_critic import InnerProductCritic
    from numpyvae.run.train import Trainer
    trainer = Trainer(TrainConfig.from_dict({**cfg.to_dict(), "out": ""}))
    assert {name: o.beta1 for name, o in trainer.optimizers.items()} == {"generator": 0.5, "critic": 0.5}
    run = train(cfg, quiet=True)
    assert run.model.avb.adaptive_contrast and isinstance(run.model.avb.discriminator, InnerProductCritic)
    back = load_run(tmp_path / "r")
    assert back.model.avb.adaptive_contrast and back.model.config["critic"] == "inner"
    assert type(back.model.avb.discriminator) is type(run.model.avb.discriminator)
    assert back.config["beta1"] == 0.5


# ---- the per-model sections ---------------------------------------------------------------------

OWN_VALUES = {"labels": 50, "classifier_hidden": [7], "class_weight": 0.5, "features": "runs/m1", "q_update": "wake", "critic_steps": 2,
              "lr_critic": 1e-4, "noise_dim": 3, "hidden_critic": [5], "critic": "inner", "adaptive_contrast": True}


def test_the_run_config_is_made_of_the_sections_with_one_flat_name_each():
    from dataclasses import fields
    names = [f.name for section in (sections.RunSettings, *sections.SECTIONS.values()) for f in fields(section)]
    assert len(set(names)) == len(names)                                   # no name in two sections
    assert [f.name for f in fields(TrainConfig)] == names == list(sections.DEFAULTS)
    assert sections.MODEL_ONLY == {"m2": ("labels", "classifier_hidden", "class_weight", "features"),
                                   "helmholtz": ("q_update",),
                                   "avb": ("critic_steps", "lr_critic", "noise_dim", "hidden_critic", "critic",
                                           "adaptive_contrast")}
    assert set(OWN_VALUES) == {n for own in sections.MODEL_ONLY.values() for n in own}
    cfg = TrainConfig(model="avb", critic="inner", critic_steps=2, batch_size=100)
    assert list(cfg.to_dict()) == names and TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("owner", sorted(sections.MODEL_ONLY))
def test_a_models_own_setting_is_refused_by_every_other_model_naming_both(owner):
    for name in sections.MODEL_ONLY[owner]:
        for model in sections.MODELS:
            if model == owner:
                continue
            with pytest.raises(ValueError) as err:
                TrainConfig(model=model, **{name: OWN_VALUES[name]})
            assert name in str(err.value) and f"--model {owner}" in str(err.value), (model, name, str(err.value))
