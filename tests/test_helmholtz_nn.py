"""Wake–sleep on the engine's own networks (numpyvae.nn.MLP): gradients by finite differences, training,
the CLI path (--model helmholtz), the run directory and its evaluation, and the settings it refuses.

The finite-difference targets are written here from the definitions (log Bern(v; σ(l)) from
log σ and log(1 − σ)), independently of wake_sleep.py's softplus form.
"""
import json
import math

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from numpyvae.cli import main
from numpyvae.models.helmholtz import build_machine
from numpyvae.models.wake_sleep import machine_log_likelihood as log_likelihood
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

D, K = 7, 3


def log_bern(v, logits):
    p = expit(logits)
    return (v * np.log(p) + (1 - v) * np.log(1 - p)).sum(-1)


def machine(seed=0, activation="tanh"):
    hm = build_machine(D, hidden=[5, 4], z_dim=K, activation=activation, seed=seed, dtype=np.float64)
    hm.prior_logits[...] = np.random.default_rng(seed).standard_normal(K)
    return hm


def data(n, seed):
    x = (np.random.default_rng(seed).random((n, D)) < 0.4).astype(np.float64)
    x[:, 4:] = x[:, :3]
    return x


def log_joint(hm, x, h):
    return log_bern(x, hm.decoder.forward(h)[0]) + log_bern(h, hm.prior_logits)


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
@pytest.mark.parametrize("k, n", [(1, 1), (4, 3)])
def test_wake_gradients_of_p_and_wake_q_against_finite_differences(k, n, activation):
    hm = machine(k + n, activation)
    x = data(n, k)
    h = hm.sample_q(x, k, np.random.default_rng(k))
    log_w = log_joint(hm, x, h) - log_bern(h, hm.encoder.forward(x)[0])
    w_tilde = np.exp(log_w - logsumexp(log_w, axis=0))            # constants for wake-q
    value = hm.wake_grads(x, h, update_q=k > 1)
    assert value == pytest.approx(np.mean(logsumexp(log_w, axis=0)) - math.log(k), rel=1e-12)

    def iwae(_):
        lw = log_joint(hm, x, h) - log_bern(h, hm.encoder.forward(x)[0])
        return np.mean(logsumexp(lw, axis=0))

    def weighted_log_q(_):
        return np.mean((w_tilde * log_bern(h, hm.encoder.forward(x)[0])).sum(0))

    names = [m for m in hm.params if not m.startswith("encoder.")]
    assert any(m.startswith("decoder.") for m in names) and "prior.logits" in names
    for name in names:
        assert relative_error(hm.grads[name], -numerical_gradient(iwae, hm.params[name])) <= 1e-7, name
    if k > 1:
        for name in [m for m in hm.params if m.startswith("encoder.")]:
            numeric = numerical_gradient(weighted_log_q, hm.params[name])
            assert relative_error(hm.grads[name], -numeric) <= 1e-7, name


def test_sleep_gradient_against_finite_differences():
    hm = machine(5)
    h, x_dream = hm.dream(6, np.random.default_rng(1))
    hm.sleep_grads(h, x_dream)
    for name in [m for m in hm.params if m.startswith("encoder.")]:
        numeric = numerical_gradient(lambda _: np.mean(log_bern(h, hm.encoder.forward(x_dream)[0])), hm.params[name])
        assert relative_error(hm.grads[name], -numeric) <= 1e-7, name


def test_chunked_log_likelihood_is_the_importance_sampling_estimate():
    hm = machine(2)
    x = data(9, 3)
    got = log_likelihood(hm, x, 50, np.random.default_rng(4), batch_size=4, chunk=7)
    # the same draws in the same order: per batch of 4, chunks of 7 samples
    rng, want, elbo = np.random.default_rng(4), [], []
    for start in range(0, 9, 4):
        xb = x[start:start + 4]
        lq = hm.encoder.forward(xb)[0]
        hs = [(rng.random((c,) + lq.shape) < expit(lq)).astype(float) for c in (7,) * 7 + (1,)]
        log_w = np.concatenate([log_joint(hm, xb, h) - log_bern(h, lq) for h in hs])
        want.append(logsumexp(log_w, axis=0) - math.log(50))
        elbo.append(log_w.mean(0))
    np.testing.assert_allclose(got["log_likelihood"], np.concatenate(want), rtol=1e-12)
    np.testing.assert_allclose(got["elbo"], np.concatenate(elbo), rtol=1e-12)


@pytest.mark.parametrize("q_update, k", [("sleep", 1), ("both", 3)])
def test_training_from_the_cli_raises_log_px_and_the_run_evaluates_and_resumes(tmp_path, small_digits, monkeypatch,
                                                                              q_update, k, capsys):
    import numpyvae.datasets
    import numpyvae.models.helmholtz as mh
    import numpyvae.run.train
    from numpyvae.run.checkpoint import load_run
    monkeypatch.setattr(numpyvae.run.train, "load", lambda name, dtype=None: small_digits)
    monkeypatch.setattr(numpyvae.datasets, "load", lambda name, dtype=None: small_digits)
    monkeypatch.setattr(mh, "VAL_N", 100)         # validation on 100 images, k = 20: fast
    monkeypatch.setattr(mh, "VAL_K", 20)
    out = tmp_path / "run"
    code = main(["train", "--model", "helmholtz", "--q-update", q_update, "--n-samples", str(k), "--hidden", "32",
                 "--z-dim", "8", "--epochs", "3", "--batch-size", "50", "--lr", "0.003", "--out", str(out), "--quiet",
                 "--no-plots"])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["val_log_px"] > history[0]["val_log_px"] + 5, history
    assert all(row["val_elbo"] <= row["val_log_px"] for row in history)
    run = load_run(out)
    assert run.kind == "helmholtz" and run.config["q_update"] == q_update and run.history == history
    assert main(["evaluate", str(out), "--k", "20", "--n-test", "50"]) == 0
    assert "log p(x), IS k=20" in capsys.readouterr().out
    res = json.loads((out / "evaluation.json").read_text())
    assert res["n_test"] == 50 and res["elbo_same_samples"] <= res["log_likelihood"] < 0
    assert main(["resume", str(out), "--epochs", "4", "--quiet", "--no-plots"]) == 0
    assert [row["epoch"] for row in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4]


@pytest.mark.parametrize("flags, message", [
    (["--q-update", "wake"], "q_update is how a Helmholtz machine's q learns; it needs --model helmholtz"),
    (["--model", "helmholtz", "--q-update", "wake"], "needs n_samples >= 2 importance samples, got 1"),
    (["--model", "helmholtz", "--likelihood", "gaussian"], "likelihood = 'gaussian' is not a setting of --model helmholtz"),
    (["--model", "helmholtz", "--objective", "iwae", "--n-samples", "2"], "objective = 'iwae' is not a setting"),
    (["--model", "helmholtz", "--posterior", "planar:2"], "posterior = 'planar:2' is not a setting"),
    (["--model", "helmholtz", "--binarize", "none"], "--binarize none is not a setting of --model helmholtz"),
    (["--model", "hopfield"], "invalid choice: 'hopfield'"),
])
def test_bad_helmholtz_settings_are_one_line_errors(tmp_path, flags, message, capsys):
    with pytest.raises(SystemExit) if "invalid choice" in message else _no_raise():
        code = main(["train", *flags, "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet", "--no-plots"])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()           # a refused run leaves no directory behind


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
