"""The conditional VAE q(z|x, y), p(x|z, y): whole-model gradients by finite differences, labels, sampling.

The label's one-hot code is concatenated to the encoder's input x and to the decoder's input z;
the gradient must flow through z only (the label is data), for every likelihood and family.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

D, K, C, N = 6, 2, 3, 4


def _model(likelihood="bernoulli", posterior="gaussian", prior="standard", z_dim=K):
    model = VAE(D, [5], z_dim, likelihood=likelihood, activation="tanh", seed=1, dtype="float64",
                posterior=posterior, prior=prior, n_labels=C)
    rng = np.random.default_rng(2)
    for p in model.params.values():
        p += 0.3 * rng.standard_normal(p.shape)
    x = rng.uniform(size=(N, D))
    if likelihood == "bernoulli":
        x = (x < 0.5).astype(np.float64)
    return model, x, np.array([0, 2, 1, 2])


def _check_fd(model, x, y, **options):
    eps = model.draw_eps(N, 2)
    model.loss_and_grads(x, eps, y=y, **options)
    a = np.concatenate([model.grads[k].ravel() for k in model.params])
    n = np.concatenate([numerical_gradient(lambda _: model.forward(x, eps, y=y, **options).loss, p).ravel()
                        for p in model.params.values()])
    assert relative_error(a, n) <= 1e-7


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"])
def test_conditional_vae_matches_finite_differences_for_every_likelihood(likelihood):
    model, x, y = _model(likelihood)
    _check_fd(model, x, y)


@pytest.mark.parametrize("posterior, prior, z_dim, options", [
    ("full-gaussian", "standard", K, {}),
    ("planar:2", "standard", K, {}),
    ("iaf:1", "mog:2", K, {}),
    ("gaussian", "standard", K, dict(objective="iwae", n_samples=2)),
    ("gumbel:3", "categorical", 6, {}),
])
def test_conditional_vae_matches_finite_differences_for_other_families(posterior, prior, z_dim, options):
    model, x, y = _model(posterior=posterior, prior=prior, z_dim=z_dim)
    if "gumbel" in posterior:
        model.posterior.tau = 0.7
    _check_fd(model, x, y, **{k: v for k, v in options.items() if k != "n_samples"})


def test_the_label_changes_what_the_decoder_draws():
    model, x, y = _model()
    z = np.zeros((2, K))
    a, b = model.decode(z, np.array([0, 1]))[0]
    assert not np.allclose(a, b)
    assert model.encode(x, y)[0].shape == (N, K)
    assert model.reconstruct(x, y).shape == (N, D)


def test_sample_generates_chosen_labels_and_refuses_bad_ones():
    model, _, _ = _model()
    assert model.sample(3, y=np.array([0, 1, 2])).shape == (3, D)
    assert model.sample(4, y=2).shape == (4, D)       # one label for all
    with pytest.raises(ValueError, match=r"needs the labels y \(integers in 0..2"):
        model.sample(3)
    with pytest.raises(ValueError, match=r"labels y must lie in 0..2 \(n_labels = 3\), got values in \[0, 3\]"):
        model.sample(2, y=np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels y must lie in 0..2"):
        model.sample(2, y=np.array([-1, 0]))
    with pytest.raises(ValueError, match="must be 2 integer labels"):
        model.sample(2, y=np.array([0.0, 1.0]))


def test_forward_refuses_missing_or_bad_labels_and_an_unconditional_model_refuses_any():
    model, x, y = _model()
    with pytest.raises(ValueError, match="VAE.forward: this conditional VAE needs the labels y"):
        model.loss_and_grads(x)
    with pytest.raises(ValueError, match=r"VAE.forward: labels y must lie in 0..2"):
        model.loss_and_grads(x, y=np.array([0, 1, 5, 0]))
    plain = VAE(D, [5], K)
    with pytest.raises(ValueError, match="not conditional"):
        plain.loss_and_grads(x.astype(np.float32), y=y)
    with pytest.raises(ValueError, match="cannot use the VampPrior"):
        VAE(D, [5], K, prior="vamp:2", n_labels=C)
    with pytest.raises(ValueError, match="uses the MLP encoder and decoder"):
        VAE(16, [5], K, n_labels=C, encoder="flatten,dense:8")


def test_backward_with_per_example_weights_is_the_gradient_of_the_weighted_bound():
    """dbound (N,) = ∂L/∂bound_n: checked against finite differences of L = Σ_n w_n bound_n."""
    model, x, y = _model()
    w = np.array([0.3, -1.2, 0.5, 2.0])
    eps = model.draw_eps(N, 2)
    model.backward(model.forward(x, eps, y=y), dbound=w)
    a = np.concatenate([model.grads[k].ravel() for k in model.params])
    n = np.concatenate([numerical_gradient(lambda _: float(w @ model.forward(x, eps, y=y)["bound"]), p).ravel()
                        for p in model.params.values()])
    assert relative_error(a, n) <= 1e-7


def test_cli_trains_a_conditional_vae_and_draws_its_label_grid(tmp_path, small_digits, monkeypatch):
    from numpyvae.run import train as train_mod
    from numpyvae.run.checkpoint import load_run
    from numpyvae.run.config import TrainConfig
    from numpyvae.plots import plot_label_grid
    cfg = TrainConfig(conditional=True, hidden=[16], z_dim=2, batch_size=100, epochs=1, out=str(tmp_path / "r"))
    run = train_mod.train(cfg, data=small_digits, quiet=True)
    model = load_run(run.path).model
    assert model.n_labels == 10
    assert plot_label_grid(model, tmp_path / "grid.png").exists()
    with pytest.raises(ValueError, match="not conditional"):
        plot_label_grid(VAE(784, [4], 2), tmp_path / "g.png")
    from numpyvae.measure.evaluate import evaluate_run, format_table
    results = evaluate_run(run.path, k=20, save=False, n_test=50)     # log p(x|y) on the test labels
    assert results["log_likelihood"] >= results["test_elbo"] - 1.0 and results["active_units"] >= 0
    assert "log p(x|y) on the test labels" in results["estimate"] and "ELBO of log p(x|y)" in format_table(results)


def test_conditional_flag_is_parsed_and_checked(tmp_path):
    from numpyvae.cli import build_parser, config_from_args
    args = build_parser().parse_args(["train", "--conditional"])
    assert config_from_args(args).conditional is True
    from numpyvae.run.config import TrainConfig
    with pytest.raises(ValueError, match="conditional must be true or false"):
        TrainConfig(conditional=1)
    with pytest.raises(ValueError, match="does not combine with --model helmholtz"):
        TrainConfig(conditional=True, model="helmholtz")


@pytest.mark.parametrize("where,label,message", [
    ("y_test", 10, r"the test labels reach 10, outside the training labels' 0\.\.9"),
    ("y_train", 10 ** 6, r"classes 10\.\.999999 have no training example"),
])
def test_labels_out_of_range_are_refused_at_the_trainers_entry(small_digits, tmp_path, where, label, message):
    """A label the training set never shows would silently widen the model's one-hot input
    (C = max label + 1: a typo of 10**6 makes a million-wide decoder input)."""
    from numpyvae.datasets.dataset import Dataset
    from numpyvae.run.train import TrainConfig, Trainer
    y = {"y_train": small_digits.y_train.copy(), "y_test": small_digits.y_test.copy()}
    y[where][3] = label
    data = Dataset("digits", small_digits.x_train, y["y_train"], small_digits.x_test, y["y_test"],
                   small_digits.image_shape, "")
    cfg = TrainConfig(conditional=True, hidden=[16], z_dim=2, batch_size=100, epochs=1)
    with pytest.raises(ValueError, match=message):
        Trainer(cfg, data=data, run_dir=tmp_path / "run", quiet=True)
