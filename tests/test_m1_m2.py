"""M1+M2 (Kingma et al. 2014's best model): M2 on the active units of a frozen VAE's q(z|x).

What is checked, each against a computation written here rather than read from the code:
the active-unit rule; the features (q's mean and a draw) against M1's own encoder; the decoded images
against M1's decoder; the whole model's gradient against finite differences in float64 with M1's draws
held fixed; that no update reaches M1; and the protocol end to end (train from an M1 run, resume bit for
bit, evaluate, sample, plot, the checkpoint holding M1), with the one-line refusals of bad input.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import numpyvae.datasets
from numpyvae.cli import main
from numpyvae.models.base import Batch
from numpyvae.models.m1_features import M1Features, active_units
from numpyvae.models.m2 import M2Model
from numpyvae.models.vae import VAE
from numpyvae.run import checkpoint as ckpt
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

D, K = 12, 5


def _m1(dtype="float64", seed=2):
    """A small trained-looking VAE (random weights scaled up so its units differ)."""
    m1 = VAE(D, [7], K, "bernoulli", "tanh", seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    m1.flat_params += 0.5 * rng.standard_normal(m1.flat_params.shape).astype(dtype)
    return m1


def _features(m1, keep, dtype="float64"):
    f = M1Features(m1.config, keep, run="here", dtype=dtype)
    f.vae.flat_params[...] = m1.flat_params
    return f


def test_active_units_are_those_whose_mean_varies_with_sd_above_a_tenth():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 4))
    z -= z.mean(0)
    z /= z.std(0)                                        # each column's sd exactly 1, then scaled
    mu = z * np.array([0.5, 0.05, 0.11, 0.09])
    assert active_units(mu) == [0, 2]
    assert active_units(np.zeros((10, 3))) == []


def test_the_features_are_m1s_q_on_the_kept_units_and_a_draw_is_mean_plus_sd_times_noise():
    m1 = _m1()
    x = np.random.default_rng(1).uniform(size=(6, D))
    keep = [3, 0]
    f = _features(m1, keep)
    h = np.tanh(x @ m1.params["encoder.0.W"] + m1.params["encoder.0.b"])   # M1's encoder, by hand
    mu = h @ m1.params["encoder.mu.W"] + m1.params["encoder.mu.b"]
    logvar = h @ m1.params["encoder.logvar.W"] + m1.params["encoder.logvar.b"]
    got_mu, got_logvar = f.moments(x)
    np.testing.assert_allclose(got_mu, mu[:, keep], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_logvar, logvar[:, keep], rtol=1e-12, atol=1e-12)
    eps = np.random.default_rng(5).standard_normal((6, 2))
    np.testing.assert_allclose(f.draw(x, np.random.default_rng(5)), mu[:, keep] + np.exp(logvar[:, keep] / 2) * eps,
                               rtol=1e-12, atol=1e-12)
    many = np.stack([f.draw(x, np.random.default_rng(s)) for s in range(2000)])
    np.testing.assert_allclose(many.std(0), np.exp(logvar[:, keep] / 2), rtol=0.1)


def test_images_decode_the_features_with_the_other_units_at_the_prior_mean():
    m1 = _m1()
    f = _features(m1, [1, 4])
    feats = np.random.default_rng(2).standard_normal((3, 2))
    z = np.zeros((3, K))
    z[:, [1, 4]] = feats
    h = np.tanh(z @ m1.params["decoder.0.W"] + m1.params["decoder.0.b"])
    logits = h @ m1.params["decoder.out.W"] + m1.params["decoder.out.b"]
    np.testing.assert_allclose(f.images(feats), 1 / (1 + np.exp(-logits)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keep, message", [([], "at least one"), ([0, 0], "distinct"), ([K], "distinct"),
                                           ([-1], "distinct")])
def test_bad_kept_units_are_refused(keep, message):
    with pytest.raises(ValueError, match=message):
        M1Features(_m1().config, keep)


def test_m1_must_be_a_one_layer_unconditional_vae_with_a_gaussian_q():
    with pytest.raises(ValueError, match="unconditional"):
        M1Features(VAE(D, [4], K, n_labels=3).config, [0])
    with pytest.raises(ValueError, match="diagonal Gaussian"):
        M1Features(VAE(D, [4], K, posterior="full-gaussian").config, [0])


def _m1m2(keep=(0, 2, 3)):
    m1 = _m1()
    model = M2Model(D, 3, hidden=[5], z_dim=2, classifier_hidden=[4], activation="tanh", alpha=2.5, seed=1,
                    dtype="float64", features=dict(model=m1.config, keep=list(keep), run="here"))
    model.features.vae.flat_params[...] = m1.flat_params
    rng = np.random.default_rng(3)
    model.m2.flat_params += 0.3 * rng.standard_normal(model.m2.flat_params.shape)
    x = rng.uniform(size=(7, D))
    return model, Batch(x=x[:3], y=np.array([2, 0, 1]), x_unlabelled=x[3:], weights=(0.4, 0.2)), m1


def test_the_whole_m1_m2_model_matches_finite_differences_with_m1s_draws_held_fixed():
    model, batch, _ = _m1m2()
    eps = (model.vae.draw_eps(3, 2), model.vae.draw_eps(4 * 3, 2))
    start = model.rng.bit_generator.state

    def loss():
        model.rng.bit_generator.state = start            # the same draws of M1's features every time
        return model.forward(batch, eps).loss

    loss()
    model.rng.bit_generator.state = start
    model.backward(model.forward(batch, eps))
    group = model.groups["model"]
    analytic = np.concatenate([group.grads[k].ravel() for k in group.params])
    fd = np.concatenate([numerical_gradient(lambda _: loss(), p).ravel() for p in group.params.values()])
    assert relative_error(analytic, fd) <= 1e-7
    assert np.abs(analytic).max() > 0


def test_m2_reads_m1s_features_a_fresh_draw_in_training_and_the_mean_to_classify():
    model, batch, m1 = _m1m2()
    f = _features(m1, [0, 2, 3])
    start = model.rng.bit_generator.state
    eps = (model.vae.draw_eps(3, 1), model.vae.draw_eps(12, 1))
    model.rng.bit_generator.state = start
    t = model.forward(batch, eps)
    rng = np.random.default_rng(0)
    rng.bit_generator.state = start                      # the model's draws, by hand: labelled, then unlabelled
    by_hand = model.m2.forward(f.draw(batch.x, rng), batch.y, f.draw(batch.x_unlabelled, rng), *eps,
                               weights=batch.weights)
    assert t.loss == pytest.approx(by_hand.loss, rel=1e-12)
    x = batch.x_unlabelled
    np.testing.assert_array_equal(model.classify(x), model.m2.classifier.forward(f.moments(x)[0])[0].argmax(-1))


def test_no_update_reaches_m1_and_its_group_has_no_optimizer(small_digits):
    model, batch, m1 = _m1m2()
    groups = model.groups
    assert groups["features"].trainable is False and groups["model"].trainable is True
    from numpyvae.optim import make_optimizer
    opt = make_optimizer("adam", groups["model"].params, groups["model"].grads, lr=0.1)
    before = model.m2.flat_params.copy()
    for _ in range(3):
        model.backward(model.forward(batch))
        opt.step()
    np.testing.assert_array_equal(model.features.vae.flat_params, m1.flat_params)
    assert not np.array_equal(model.m2.flat_params, before)
    assert not np.any(model.features.vae.flat_grads)


# ---- the protocol, end to end --------------------------------------------------------------------

TINY = ["--epochs", "2", "--batch-size", "100", "--quiet", "--no-plots"]
M2 = ["--model", "m2", "--labels", "20", "--classifier-hidden", "8", "--hidden", "8", "--z-dim", "2"]


def cli(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def m1_run(small, tmp_path, capsys):
    run = tmp_path / "m1"
    assert cli(["train", "--hidden", "32", "--z-dim", "6", *TINY, "--out", run], capsys)[0] == 0
    return run


def state(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(("param/", "optim/", "rng/"))}


def test_an_m1_m2_run_trains_resumes_bit_for_bit_evaluates_samples_and_plots(m1_run, tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    flags = [*M2, "--features", m1_run]
    assert cli(["train", *flags, *TINY, "--out", straight], capsys)[0] == 0
    one = [a if a != "2" or TINY[i - 1] != "--epochs" else "1" for i, a in enumerate(TINY)]
    assert cli(["train", *flags, *one, "--out", resumed], capsys)[0] == 0
    m1_weights = ckpt.load_run(m1_run).model.flat_params.copy()
    moved = m1_run.rename(tmp_path / "m1-moved")                   # the run alone resumes: M1 travels in it
    assert cli(["resume", resumed, "--epochs", "2", "--quiet", "--no-plots"], capsys)[0] == 0
    moved.rename(m1_run)
    a, b = state(straight / ckpt.CHECKPOINT), state(resumed / ckpt.CHECKPOINT)
    assert sorted(a) == sorted(b)
    assert not [k for k in a if not np.array_equal(a[k], b[k])]
    # M1's weights travel in the run's checkpoint, unchanged, and have no optimizer state
    run = ckpt.load_run(straight)
    np.testing.assert_array_equal(run.model.features.vae.flat_params, m1_weights)
    assert any(k.startswith("param/features/") for k in a) and not any(k.startswith("optim/features/") for k in a)
    assert run.config["features"] == str(m1_run) and run.model.config["likelihood"] == "gaussian-learned"
    assert run.model.m2.x_dim == len(run.model.features.keep) and run.model.x_dim == 784

    code, out, err = cli(["evaluate", straight, "--k", "5", "--n-test", "20", "--baseline"], capsys)
    assert code == 0, err
    results = json.loads((straight / "evaluation.json").read_text())
    assert "features" in results["no_log_likelihood"] and 0 <= results["test_error"] <= 1
    assert results["test_data"] == "not binarized (grey levels)" and results["k"] is None
    assert results["baseline"] and "exact test log p(x)" in out        # the mixtures on the pixels still fit
    assert cli(["sample", straight, "-n", "4"], capsys)[0] == 0 and (straight / "samples.png").stat().st_size > 0
    code, out, err = cli(["plot", straight], capsys)
    assert code == 0, err
    assert {"samples.png", "reconstructions.png"} <= {Path(line.split()[-1]).name for line in out.splitlines()}


def test_an_m1_m2_run_reads_grey_pixels_and_keeps_m1s_active_units(m1_run, tmp_path, capsys):
    from numpyvae.run.config import TrainConfig
    out = tmp_path / "m2"
    assert cli(["train", *M2, "--features", m1_run, *TINY, "--out", out], capsys)[0] == 0
    cfg = TrainConfig.from_dict({**ckpt.load_run(out).config, "out": ""})
    assert cfg.resolved_binarize() == "none"            # M1 reads the grey pixels, as Kingma's code
    m1 = ckpt.load_run(m1_run).model
    x = numpyvae.datasets.load("digits").x_train[:1000]
    mu = m1.encode(x)[0]
    assert list(ckpt.load_run(out).model.features.keep) == [i for i in range(6) if mu[:, i].std() > 0.1]


@pytest.mark.parametrize("flags, message", [
    (lambda tmp, m1: [*M2, "--features", tmp / "nowhere"], "no such run directory"),
    (lambda tmp, m1: ["--model", "vae", "--features", m1], "is a setting of --model m2"),
])
def test_bad_features_are_refused_in_one_line(flags, message, m1_run, tmp_path, capsys):
    code, out, err = cli(["train", *flags(tmp_path, m1_run), *TINY, "--out", tmp_path / "x"], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("numpyvae: error: ")


def test_m1_must_be_a_vae_run_on_the_same_dataset(m1_run, tmp_path, capsys):
    m2_run = tmp_path / "m2"
    assert cli(["train", *M2, *TINY, "--out", m2_run], capsys)[0] == 0
    code, _, err = cli(["train", *M2, "--features", m2_run, *TINY, "--out", tmp_path / "x"], capsys)
    assert code == 2 and "must be a VAE" in err and "m2 model" in err and err.startswith("numpyvae: error: ")
    config = json.loads((m1_run / "config.json").read_text())
    ring = tmp_path / "ring"
    assert cli(["train", "--dataset", "ring", "--hidden", "8", "--z-dim", "2", *TINY, "--out", ring], capsys)[0] == 0
    code, _, err = cli(["train", *M2, "--features", ring, *TINY, "--out", tmp_path / "y"], capsys)
    assert code == 2 and "'ring'" in err and config["dataset"] == "digits"


def test_the_classifier_on_m1s_features_needs_an_m1_m2_run(small):
    from numpyvae.run.classifier_alone import classifier_alone
    settings = dict(model="m2", labels=20, classifier_hidden=[8], hidden=[8], z_dim=2, epochs=1, batch_size=100,
                    dataset="digits")
    with pytest.raises(ValueError, match="on_features needs an M1\\+M2 run"):
        classifier_alone(settings, data=small, on_features=True)
