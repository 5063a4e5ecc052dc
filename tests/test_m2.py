"""The M2 model (Kingma et al. 2014): every gradient against float64 finite differences, written here
independently: the enumerated unlabeled bound with its entropy, the labeled part, the unlabeled
part and the whole model."""
import math

import numpy as np
import pytest

from numpyvae.m2 import M2, ClassifierAlone, enumerated_bound, enumerated_bound_backward
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

D, C = 6, 3


def test_enumerated_bound_is_expected_bound_plus_entropy_and_its_gradient_matches_fd():
    rng = np.random.default_rng(0)
    L, a, w = rng.normal(size=(4, C)) * 3, rng.normal(size=(4, C)), rng.normal(size=4)
    U, tape = enumerated_bound(L, a)
    q = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    assert np.allclose(U, (q * L).sum(1) - (q * np.log(q)).sum(1))
    dL, da = enumerated_bound_backward(w, tape)
    assert relative_error(dL, numerical_gradient(lambda _: float(w @ enumerated_bound(L, a)[0]), L)) <= 1e-7
    assert relative_error(da, numerical_gradient(lambda _: float(w @ enumerated_bound(L, a)[0]), a)) <= 1e-7
    # the entropy's part alone: H(q) = U with L = 0
    _, d_ent = enumerated_bound_backward(w, enumerated_bound(np.zeros_like(L), a)[1])
    fd = numerical_gradient(lambda _: float(w @ enumerated_bound(np.zeros_like(L), a)[0]), a)
    assert relative_error(d_ent, fd) <= 1e-7


def _model(likelihood="bernoulli"):
    model = M2(D, C, hidden=[5], z_dim=2, classifier_hidden=[4], likelihood=likelihood, activation="tanh",
               alpha=2.5, seed=1, dtype="float64")
    rng = np.random.default_rng(3)
    for p in model.params.values():
        p += 0.3 * rng.standard_normal(p.shape)
    x = (rng.uniform(size=(7, D)) < 0.5).astype(np.float64)
    return model, x[:3], np.array([2, 0, 1]), x[3:]


def _check(model, **batch):
    eps_l = model.vae.draw_eps(3, 2) if "x_l" in batch else None
    eps_u = model.vae.draw_eps(4 * C, 2) if "x_u" in batch else None
    model.loss_and_grads(**batch, eps_l=eps_l, eps_u=eps_u)
    a = np.concatenate([model.grads[k].ravel() for k in model.params])
    n = np.concatenate([numerical_gradient(lambda _: model.forward(**batch, eps_l=eps_l, eps_u=eps_u).loss, p).ravel()
                        for p in model.params.values()])
    assert relative_error(a, n) <= 1e-7
    return a


def test_labeled_part_matches_finite_differences():
    model, x_l, y_l, _ = _model()
    a = _check(model, x_l=x_l, y_l=y_l)
    cls = np.concatenate([model.grads[k].ravel() for k in model.params if k.startswith("classifier.")])
    assert np.abs(cls).max() > 0                         # α log q(y|x) reaches the classifier


def test_unlabeled_part_with_its_entropy_matches_finite_differences():
    model, _, _, x_u = _model()
    _check(model, x_u=x_u)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_whole_m2_model_matches_finite_differences(likelihood):
    model, x_l, y_l, x_u = _model(likelihood)
    _check(model, x_l=x_l, y_l=y_l, x_u=x_u)


def test_the_loss_is_the_sum_of_its_parts_by_hand():
    model, x_l, y_l, x_u = _model()
    eps_l, eps_u = model.vae.draw_eps(3, 1), model.vae.draw_eps(4 * C, 1)
    t = model.forward(x_l, y_l, x_u, eps_l, eps_u)
    a = model.classifier.forward(np.concatenate([x_l, x_u]))[0]
    log_q = a - np.log(np.exp(a).sum(1, keepdims=True))
    L_l = model.vae.forward(x_l, eps_l, y=y_l)["bound"] - math.log(C)
    J_l = L_l + 2.5 * log_q[np.arange(3), y_l]
    U = []
    for n in range(4):
        rows = [c * 4 + n for c in range(C)]
        L = np.array([model.vae.forward(x_u[n:n + 1], eps_u[:, r:r + 1], y=np.array([c]))["bound"][0]
                      for c, r in enumerate(rows)]) - math.log(C)
        q = np.exp(log_q[3 + n])
        U.append(q @ L - q @ np.log(q))
    assert t.loss == pytest.approx(-(J_l.mean() + np.mean(U)), rel=1e-12)


def test_bad_labels_are_refused():
    model, x_l, y_l, _ = _model()
    with pytest.raises(ValueError, match=r"labels y must lie in 0..2, got values in \[0, 3\]"):
        model.forward(x_l, np.array([0, 3, 1]))
    with pytest.raises(ValueError, match="give a labeled batch"):
        model.forward()
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        M2(D, C, alpha=-1.0)


def test_classifier_alone_cross_entropy_gradient_matches_fd():
    clf = ClassifierAlone(D, C, classifier_hidden=[4], activation="tanh", seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(5, D)), np.array([0, 1, 2, 2, 0])
    clf.loss_and_grads(x, y)
    a = np.concatenate([g.ravel().copy() for g in clf.grads.values()])
    n = np.concatenate([numerical_gradient(lambda _: clf.loss_and_grads(x, y)[0], p).ravel()
                        for p in clf.params.values()])
    assert relative_error(a, n) <= 1e-7
    assert clf.test_error(x, y) in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


# ---- the training command ------------------------------------------------------------------

def test_choose_labeled_is_balanced_fixed_by_seed_and_refuses_too_many():
    from numpyvae.run.recipes import choose_labeled
    y = np.repeat(np.arange(10), 30)
    idx = choose_labeled(y, 100, 10, seed=4)
    assert np.bincount(y[idx], minlength=10).tolist() == [10] * 10 and np.unique(idx).size == 100
    assert np.array_equal(idx, choose_labeled(y, 100, 10, seed=4))
    assert not np.array_equal(idx, choose_labeled(y, 100, 10, seed=5))
    with pytest.raises(ValueError, match="--labels 400: the training set has only 300 examples"):
        choose_labeled(y, 400, 10, seed=0)
    with pytest.raises(ValueError, match="multiple of the 10 classes"):
        choose_labeled(y, 105, 10, seed=0)
    with pytest.raises(ValueError, match="class 3 has only 30 training examples"):
        choose_labeled(np.repeat(np.arange(10), [40, 40, 40, 30, 40, 40, 40, 40, 40, 40]), 350, 10, seed=0)


def test_the_old_m2_command_is_an_alias_of_train_model_m2(small_digits, tmp_path, monkeypatch, capsys):
    """`python -m numpyvae m2` trains through the one trainer: a run directory with a checkpoint, the test
    error of every epoch in its history, and one line naming the command it stands for."""
    import json
    import numpyvae.train
    from numpyvae.cli import main
    monkeypatch.setattr(numpyvae.train, "load", lambda name, dtype=None: small_digits)
    out = tmp_path / "m2"
    assert main(["m2", "--labels", "20", "--epochs", "2", "--batch-size", "50", "--hidden", "8", "--z-dim", "2",
                 "--classifier-hidden", "8", "--out", str(out), "--quiet", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "`m2` is an alias of `python -m numpyvae train --model m2 --dataset digits --labels 20 --epochs 2" in err
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and all(0.0 <= row["val_error"] <= 1.0 for row in history)
    assert (out / "checkpoint.npz").is_file()


@pytest.mark.parametrize("flags, message", [
    (["--labels", "100000"], "numpyvae: error: --labels 100000: the training set has only 9000 examples"),
    (["--alpha", "5"], "numpyvae: error: m2 --alpha 5: the weight of log q(y|x) is now `python -m numpyvae train "
                       "--model m2 --class-weight W`"),
    (["--baseline"], "numpyvae: error: m2 --baseline (the classifier trained on the labels alone) did not carry over"),
    (["--epochs", "0"], "numpyvae: error: --epochs: epochs must be an integer >= 1, got 0"),
    (["--lr", "nan"], "numpyvae: error: --lr: lr must be a finite number, got nan"),
    (["--hidden", "0"], "numpyvae: error: --hidden: each hidden size must be an integer >= 1, got 0"),
])
def test_m2_command_refuses_in_one_line(flags, message, tmp_path, monkeypatch, capsys):
    from numpyvae.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["m2", *flags, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message) and "Traceback" not in "".join(err)
    assert not any((tmp_path / "runs").glob("*"))          # a refused run leaves no directory behind
