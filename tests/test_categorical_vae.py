"""The categorical (Gumbel-softmax) VAE: whole-model gradients by finite differences, and its settings.

VAE(posterior="gumbel:C" or "gumbel-st:C", z_dim=M·C, prior="categorical") trains Jang et al.'s
relaxed ELBO: E_q[log p(x|z)] at the relaxed (or straight-through one-hot) z minus the closed-form
KL of the unrelaxed categorical q(c|x) to the uniform prior.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.latent.gumbel import GumbelSoftmax, UniformCategorical
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

D, M, C = 6, 2, 3


def _model(posterior, likelihood="bernoulli"):
    model = VAE(D, [5], M * C, likelihood=likelihood, activation="tanh", seed=1, dtype="float64",
                posterior=posterior, prior="categorical")
    rng = np.random.default_rng(2)
    for p in model.params.values():            # non-zero biases, so every path carries gradient
        p += 0.3 * rng.standard_normal(p.shape)
    x = (rng.uniform(size=(4, D)) < 0.5).astype(np.float64)
    return model, x


def _fd(model, x, **options):
    return np.concatenate([numerical_gradient(lambda _: model.forward(x, **options).loss, p).ravel()
                           for p in model.params.values()])


def _flat(grads, model):
    return np.concatenate([grads[k].ravel() for k in model.params])


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_relaxed_categorical_vae_matches_finite_differences(likelihood):
    model, x = _model("gumbel:3", likelihood)
    model.posterior.tau = 0.7
    u = model.draw_eps(4, 2)
    assert u.shape == (2, 4, M, C)
    model.loss_and_grads(x, u)
    analytic = _flat(model.grads, model)
    assert relative_error(analytic, _fd(model, x, eps=u)) <= 1e-7


class _ShiftedRelaxed(GumbelSoftmax):
    """The straight-through estimator's definition: z = y + (one-hot − y) with the shift held fixed.

    Its value at the base point is the one-hot z, and its derivative is the relaxed y's, so
    finite differences of the loss through this family are the straight-through gradient.
    """

    def __init__(self, shift, **kw):
        super().__init__(M, C, **kw)
        self.shift = shift

    def rsample(self, params, u):
        z, log_q, tape = super().rsample(params, u)
        return z + self.shift, log_q, tape


def test_straight_through_categorical_vae_matches_its_defined_gradient():
    model, x = _model("gumbel-st:3")
    model.posterior.tau = 0.7
    u = model.draw_eps(4, 2)
    tape = model.loss_and_grads(x, u)[0]
    analytic = _flat(model.grads, model)
    z_hard = model.last_tape["z"]
    assert set(np.unique(z_hard)) == {0.0, 1.0} and np.all(z_hard.reshape(2, 4, M, C).sum(-1) == 1)
    relaxed = GumbelSoftmax(M, C, tau=0.7)
    y0 = relaxed.rsample(model.encode(x), u)[0]
    hard_loss = model.forward(x, u).loss
    model.posterior = _ShiftedRelaxed(z_hard - y0, tau=0.7)
    assert model.forward(x, u).loss == pytest.approx(hard_loss, rel=1e-12)
    assert relative_error(analytic, _fd(model, x, eps=u)) <= 1e-7
    del tape


def test_the_analytic_kl_is_the_categorical_kl_to_uniform():
    model, x = _model("gumbel:3")
    t = model.forward(x)
    q = model.posterior.mean(model.encode(x)).reshape(4, M, C)
    assert np.allclose(t["kl"], (q * np.log(q * C)).sum((1, 2)))


def test_categorical_settings_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="z_dim = 7 is not a multiple of C = 3"):
        VAE(D, [5], 7, posterior="gumbel:3", prior="categorical")
    with pytest.raises(ValueError, match="number of classes must be >= 2"):
        VAE(D, [5], 6, posterior="gumbel:1", prior="categorical")
    with pytest.raises(ValueError, match="prior='categorical'"):
        VAE(D, [5], 6, posterior="gumbel:3")
    with pytest.raises(ValueError, match="categorical"):
        VAE(D, [5], 6, prior="categorical")
    model, x = _model("gumbel:3")
    with pytest.raises(ValueError, match="eps must have 3 features"):
        model.loss_and_grads(x, np.full((1, 4, 3, 2), 0.5))
    with pytest.raises(ValueError, match=r"eps must have shape \(S, 4, 2, 3\)"):
        model.loss_and_grads(x, np.full((1, 5, 2, 3), 0.5))
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        model.posterior.tau = 0.0
    with pytest.raises(ValueError, match="no density under the discrete uniform prior"):
        model.loss_and_grads(x, n_samples=2, objective="iwae")


def test_samples_from_the_prior_are_one_hot_codes_and_reconstruct_works():
    model, x = _model("gumbel-st:3")
    assert isinstance(model.prior, UniformCategorical)
    assert model.sample(5).shape == (5, D) and model.reconstruct(x).shape == (4, D)


# ---- the temperature as run settings, the trainer, the picture ------------------------------

def test_the_trainer_sets_the_annealed_temperature_every_step(small_digits):
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.train import Trainer
    cfg = TrainConfig(posterior="gumbel:4", prior="categorical", z_dim=8, hidden=[16], batch_size=100, epochs=1,
                      tau=2.0, tau_min=0.5, tau_rate=0.1, tau_every=2)
    trainer = Trainer(cfg, data=small_digits, quiet=True)
    seen = []
    original = trainer.model.loss_and_grads

    def spy(x, **kw):
        seen.append(trainer.model.posterior.tau)
        return original(x, **kw)
    trainer.model.loss_and_grads = spy
    trainer._train_epoch()
    t = np.arange(6) // 2 * 2
    assert seen == pytest.approx(np.maximum(0.5, 2.0 * np.exp(-0.1 * t)).tolist(), rel=1e-12)


@pytest.mark.parametrize("settings, message", [
    (dict(tau=0.0), "tau must be a number > 0"),
    (dict(tau=-1.0), "tau must be a number > 0"),
    (dict(tau_min=0.0), "tau_min must be a number > 0"),
    (dict(tau_rate=-1e-4), "tau_rate must be a number >= 0"),
    (dict(tau_every=0), "tau_every must be an integer >= 1"),
    (dict(tau=0.3, tau_rate=1e-4), "tau_min = 0.5 is above the starting tau = 0.3"),
    (dict(z_dim=205), "z_dim = 205 is not a multiple of the 10 classes"),
])
def test_bad_temperature_settings_are_refused(settings, message):
    from numpyvae.run.config import TrainConfig
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**dict(posterior="gumbel:10", prior="categorical", z_dim=200), **settings})


def test_temperature_settings_of_a_gaussian_run_are_refused():
    from numpyvae.run.config import TrainConfig
    with pytest.raises(ValueError, match="tau_rate set the temperature of a Gumbel-softmax posterior"):
        TrainConfig(tau_rate=1e-4)


def test_the_temperature_is_saved_with_the_model_and_used_after_a_reload(small_digits, tmp_path):
    """evaluate, plot and sample rebuild the model from its checkpoint: they must see the τ it was
    trained at (here 6 steps of τ_t = max(0.5, 2·e^(−0.1 t)), the last at t = 5), not the family's 1."""
    from numpyvae.run.checkpoint import load_model, load_run
    from numpyvae.run.config import TrainConfig
    from numpyvae.run.train import Trainer
    cfg = TrainConfig(posterior="gumbel:4", prior="categorical", z_dim=8, hidden=[16], batch_size=100, epochs=1,
                      tau=2.0, tau_min=0.5, tau_rate=0.1, tau_every=1)
    trainer = Trainer(cfg, data=small_digits, quiet=True, run_dir=tmp_path / "run")
    trainer.fit()
    trainer.close()
    last = max(0.5, 2.0 * np.exp(-0.1 * 5))
    assert trainer.model.posterior.tau == pytest.approx(last, rel=1e-12)
    assert load_model(tmp_path / "run").posterior.tau == pytest.approx(last, rel=1e-12)
    assert load_run(tmp_path / "run").model.posterior.tau == pytest.approx(last, rel=1e-12)
    resumed = Trainer.resume(tmp_path / "run", epochs=2, data=small_digits, quiet=True)
    assert resumed.model.posterior.tau == pytest.approx(last, rel=1e-12)
    resumed.close()
    from numpyvae.run.checkpoint import CheckpointError
    path = tmp_path / "run" / "checkpoint.npz"
    with np.load(path) as f:
        arrays = dict(f)
    arrays["state/posterior.tau"] = np.array(np.nan)                  # a crafted temperature is refused
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="state/posterior.tau is unusable"):
        load_model(tmp_path / "run")


def test_code_sweep_decodes_one_variable_across_its_classes(tmp_path, monkeypatch):
    from numpyvae import plots
    from numpyvae.plots import latent_space
    model = VAE(16, [5], 3 * 4, posterior="gumbel:4", prior="categorical", seed=0)
    decoded = []
    original = latent_space.decode_mean
    monkeypatch.setattr(latent_space, "decode_mean", lambda m, z: decoded.append(z) or original(m, z))
    path = plots.plot_code_sweep(model, tmp_path / "sweep.png", code=[1, 2, 3], variables=[1], image_shape=(4, 4))
    assert path.exists()
    codes = decoded[0].reshape(4, 3, 4).argmax(-1)
    assert codes.tolist() == [[1, 0, 3], [1, 1, 3], [1, 2, 3], [1, 3, 3]]
    with pytest.raises(ValueError, match="no categorical variables"):
        plots.plot_code_sweep(VAE(16, [5], 2), tmp_path / "x.png", image_shape=(4, 4))
