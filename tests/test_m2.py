"""The M2 model (Kingma et al. 2014): every gradient against float64 finite differences, written here
independently: the enumerated unlabeled bound with its entropy, the labeled part, the unlabeled
part and the whole model."""
import math

import numpy as np
import pytest

from numpyvae.models.semi_supervised import M2, ClassifierAlone, enumerated_bound, enumerated_bound_backward
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
    import numpyvae.run.train
    from numpyvae.cli import main
    monkeypatch.setattr(numpyvae.run.train, "load", lambda name, dtype=None: small_digits)
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


# ---- the paper's weighting and batch composition (Kingma's learn_yz_x_ss.py) ------------------

def test_weighted_loss_is_the_weighted_sum_of_its_parts_by_hand_and_matches_fd():
    """loss = −(w_l Σ_l (L + α log q_y) + w_u Σ_u U), each piece computed here from the networks."""
    model, x_l, y_l, x_u = _model()
    eps_l, eps_u = model.vae.draw_eps(3, 1), model.vae.draw_eps(4 * C, 1)
    w_l, w_u = 0.07, 0.013
    t = model.forward(x_l, y_l, x_u, eps_l, eps_u, weights=(w_l, w_u))
    a = model.classifier.forward(np.concatenate([x_l, x_u]))[0]
    log_q = a - np.log(np.exp(a).sum(1, keepdims=True))
    L_l = model.vae.forward(x_l, eps_l, y=y_l)["bound"] - math.log(C)
    L_u = model.vae.forward(np.tile(x_u, (C, 1)), eps_u, y=np.repeat(np.arange(C), 4))["bound"].reshape(C, 4).T
    q_u = np.exp(log_q[3:])
    U = (q_u * (L_u - math.log(C) - log_q[3:])).sum(1)
    expected = -(w_l * np.sum(L_l + 2.5 * log_q[np.arange(3), y_l]) + w_u * U.sum())
    assert t.loss == pytest.approx(expected, rel=1e-12)
    # the protocol's per-example bound: J_l for the labelled rows, then U for the unlabelled ones
    np.testing.assert_allclose(t["bound"], np.concatenate([L_l + 2.5 * log_q[np.arange(3), y_l], U]), rtol=1e-12)
    model.loss_and_grads(x_l, y_l, x_u, eps_l, eps_u, weights=(w_l, w_u))
    got = np.concatenate([model.grads[k].ravel() for k in model.params])
    fd = np.concatenate([numerical_gradient(
        lambda _: model.forward(x_l, y_l, x_u, eps_l, eps_u, weights=(w_l, w_u)).loss, p).ravel()
        for p in model.params.values()])
    assert relative_error(got, fd) <= 1e-7
    with pytest.raises(ValueError, match="weights must be two finite numbers >= 0"):
        model.forward(x_l, y_l, x_u, weights=(1.0, -1.0))


def test_paper_batches_see_each_example_once_and_weigh_log_q_nine_times_an_unlabeled_bound():
    """9,000 digits, 100 labels, batches of 100 unlabeled: over an epoch the weight on one labeled example's
    log q(y|x) (α · Σ w_l over its appearances) is 0.1·N/N_l = 9 times the weight on one unlabeled U."""
    from numpyvae.models.semi_supervised import paper_alpha, paper_batches
    N_l, N_u = 100, 8900
    steps = paper_batches(N_l, N_u, 100, np.random.default_rng(0))
    assert len(steps) == 89
    seen_l = np.concatenate([l for l, _, _ in steps])
    seen_u = np.concatenate([u for _, u, _ in steps])
    assert np.array_equal(np.sort(seen_l), np.arange(N_l)) and np.array_equal(np.sort(seen_u), np.arange(N_u))
    assert all(len(l) in (1, 2) and len(u) == 100 for l, u, _ in steps)
    alpha = paper_alpha(N_l + N_u, N_l)
    assert alpha == pytest.approx(9.0)
    weight_log_q = {i: 0.0 for i in range(N_l)}
    weight_U = {i: 0.0 for i in range(N_u)}
    for l, u, (w_l, w_u) in steps:
        for i in l:
            weight_log_q[i] += alpha * w_l
        for i in u:
            weight_U[i] += w_u
    ratio = np.array(list(weight_log_q.values())) / np.mean(list(weight_U.values()))
    assert np.allclose(ratio, 0.1 * 9000 / 100)
    # the epoch's sums are the training set's objective per example times the number of steps: Σ w = S/N · N
    assert sum(w_u * len(u) + w_l * len(l) for l, u, (w_l, w_u) in steps) == pytest.approx(89.0)


def test_generative_error_is_near_chance_when_the_decoder_ignores_y_and_zero_when_y_decides_x():
    from numpyvae.models.semi_supervised import generative_error
    model = M2(4, 2, hidden=[], z_dim=1, classifier_hidden=[3], seed=0, dtype="float64")
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1]] * 50, dtype=np.float64)
    y = np.array([0, 1] * 50)
    for name, p in model.params.items():                  # every label explains x equally: a tie, argmax says 0
        if name.startswith("vae."):
            p[...] = 0.0
    assert generative_error(model, x, y, np.random.default_rng(0)) == 0.5
    W = model.params["vae.decoder.out.W"]                 # rows: z, then the one-hot label
    W[1] = [8, 8, -8, -8]                                 # y = 0 says "left half on"
    W[2] = [-8, -8, 8, 8]
    assert generative_error(model, x, y, np.random.default_rng(0)) == 0.0
    assert generative_error(model, x, 1 - y, np.random.default_rng(0)) == 1.0


def test_generative_error_ranks_the_labels_under_the_same_noise():
    """A decoder in which y adds a small edge (0.3 per pixel toward the digit's half) and z a large common
    shift (5·z, z ~ q with σ = e): for any one z the right label explains x better, so with the same draw
    for every label the error is 0; one independent draw per label lets the 5·z noise decide instead."""
    from numpyvae.models.semi_supervised import generative_error
    model = M2(4, 2, hidden=[], z_dim=1, classifier_hidden=[3], seed=0, dtype="float64")
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1]] * 100, dtype=np.float64)
    y = np.array([0, 1] * 100)
    for name, p in model.params.items():
        if name.startswith("vae."):
            p[...] = 0.0
    model.params["vae.encoder.logvar.b"][...] = 2.0           # q(z|x, y) = N(0, e²) whatever the label
    W = model.params["vae.decoder.out.W"]                     # rows: z, then the one-hot label
    W[0] = 5.0
    W[1] = [0.3, 0.3, -0.3, -0.3]
    W[2] = [-0.3, -0.3, 0.3, 0.3]
    assert generative_error(model, x, y, np.random.default_rng(0), n_samples=1) == 0.0
    assert generative_error(model, x, 1 - y, np.random.default_rng(0), n_samples=1) == 1.0


def test_the_trainers_m2_takes_kingmas_batches_and_alpha(small_digits):
    """train --model m2: each step ~N_l/S labelled + N_u/S unlabelled, both sums weighted S/N, every example once an
    epoch, and α = class_weight·N/N_l (0.1·N/N_l by default, Kingma's code)."""
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.train import Trainer
    cfg = TrainConfig(model="m2", labels=20, hidden=[8], z_dim=2, classifier_hidden=[8], batch_size=50, epochs=1)
    trainer = Trainer(cfg, data=small_digits)
    N, N_l = small_digits.x_train.shape[0], 20
    N_u = N - N_l
    assert trainer.model.m2.alpha == pytest.approx(0.1 * N / N_l)
    assert Trainer(TrainConfig.from_dict({**cfg.to_dict(), "class_weight": 0.3}),
                   data=small_digits).model.m2.alpha == pytest.approx(0.3 * N / N_l)
    batches = trainer.batches
    S = N_u // 50
    assert batches.steps == S
    order = batches.order(np.random.default_rng(1))
    rows_l, rows_u = [], []
    for b in range(S):
        batch = batches.batch(order, b, np.random.default_rng(2))
        assert batch.weights == (pytest.approx(S / N), pytest.approx(S / N))
        assert batch.x.shape[0] in (N_l // S, N_l // S + 1) and batch.x_unlabelled.shape[0] in (N_u // S, N_u // S + 1)
        rows_l.append(batch.y)
        rows_u.append(batch.x_unlabelled.shape[0])
    assert sum(rows_u) == N_u and np.array_equal(np.sort(np.concatenate(rows_l)), np.sort(batches.y_l))
    # the step's loss is M2's with the batch's weights: −S/N (Σ J_l + Σ U)
    batch = batches.batch(order, 0, np.random.default_rng(2))
    eps_l = trainer.model.vae.noise(np.random.default_rng(3), 1, batch.x.shape[0])
    eps_u = trainer.model.vae.noise(np.random.default_rng(4), 1, 10 * batch.x_unlabelled.shape[0])
    got = trainer.model.forward(batch, noise=(eps_l, eps_u)).loss
    m2 = trainer.model.m2
    summed = m2.forward(batch.x, batch.y, batch.x_unlabelled, eps_l, eps_u,
                        weights=(1.0, 1.0)).loss
    assert got == pytest.approx(S / N * summed, rel=1e-6)


def test_the_m2_epoch_line_reports_the_test_error_and_the_argmax_error(small_digits, capsys):
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.train import Trainer
    trainer = Trainer(TrainConfig(model="m2", labels=20, hidden=[8], z_dim=2, classifier_hidden=[8], batch_size=100,
                                  epochs=1), data=small_digits)
    trainer.fit()
    row = trainer.history[-1]
    assert 0 <= row["val_generative_error"] <= 1 and 0 <= row["val_error"] <= 1
    line = capsys.readouterr().out
    assert f"test error {100 * row['val_error']:5.2f}%" in line
    assert f"argmax_y L(x, y) error {100 * row['val_generative_error']:5.2f}%" in line


def test_an_m2_run_and_its_classifier_alone_start_from_the_configs_init(small_digits):
    """--init reaches both of M2's networks and the baseline (Kingma's N(0, 0.001²) here; it was ignored)."""
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.classifier_alone import classifier_alone
    from numpyvae.run.train import Trainer
    cfg = TrainConfig(model="m2", labels=20, hidden=[300], z_dim=2, classifier_hidden=[300], batch_size=50,
                      epochs=1, init="kingma", lr=1e-30)
    model = Trainer(cfg, data=small_digits).model
    weights = {name: p for name, p in model.params.items() if name.endswith(".W")}
    assert {name.split(".")[0] for name in weights} == {"vae", "classifier"}
    assert all(p.std() == pytest.approx(1e-3, rel=0.1) for p in weights.values()), \
        {name: float(p.std()) for name, p in weights.items()}
    assert model.config["init"] == "kingma"
    frozen, _ = classifier_alone(cfg, data=small_digits)
    assert all(np.allclose(p, model.params[f"classifier.{name}"]) for name, p in frozen.params.items())


def test_the_classifier_alone_is_m2s_network_on_m2s_labels_for_as_many_steps(small_digits):
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.classifier_alone import classifier_alone
    from numpyvae.run.train import Trainer
    cfg = TrainConfig(model="m2", labels=20, hidden=[8], z_dim=2, classifier_hidden=[8], batch_size=50, epochs=2)
    m2 = Trainer(cfg, data=small_digits)
    start = {name: p.copy() for name, p in m2.model.m2.params.items() if name.startswith("classifier.")}
    clf, errors = classifier_alone(cfg, data=small_digits)
    assert len(errors) == 2 and all(0 <= e <= 1 for e in errors)
    again, errors_again = classifier_alone(cfg, data=small_digits)
    assert errors_again == errors                                  # the same seed, the same bits
    # the same initial weights as M2's classifier: one step with zero learning rate changes nothing
    frozen, _ = classifier_alone(TrainConfig.from_dict({**cfg.to_dict(), "lr": 1e-30, "epochs": 1}),
                                 data=small_digits)
    assert [np.allclose(p, start[f"classifier.{name}"]) for name, p in frozen.params.items()] == [True] * len(start)
    with pytest.raises(ValueError, match="the baseline of an M2 run"):
        classifier_alone(TrainConfig(model="vae"))
