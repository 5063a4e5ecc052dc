"""The VAE and the hierarchy as models of the protocol (numpyvae/models/base.py).

* both are ``Model``s with a kind, one parameter group over their flat buffers, and a forward
  that takes a ``Batch``;
* ``backward(tape, c)`` with the weights c (S, N) of another objective of the same log weights is
  the gradient of that objective: −Σ c·log w (+ β Σ_n (Σ_s c_sn) KL_n on the analytic route), checked
  by central differences in float64 on every KL route, a learned prior, the VampPrior and a hierarchy;
* the KL route is written on the tape, and the backward follows what is written there.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.models.hvae import HVAE
from numpyvae.models.base import Batch, Model
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

N, D, K = 3, 5, 2


def _nudged(model, seed=7):
    model.flat_params[:] += 0.05 * np.random.default_rng(seed).standard_normal(model.flat_params.size)
    return model


def _x(seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(N, D))


def _fd(model, loss):
    """Central differences over every value of the model's flat float64 parameter buffer."""
    return numerical_gradient(lambda _: loss(), model.flat_params)


def _weighted(model, x, eps, c, **opts):
    """The objective whose gradient backward(tape, c) returns, recomputed from a fresh forward."""
    t = model.forward(x, eps, **opts)
    loss = -float((c * t["log_w"]).sum())
    if t["kl_route"] == "analytic":             # log w = −nll; the KL enters per example, weighted Σ_s c
        loss += t["beta"] * float((c.sum(axis=0) * t["kl"]).sum())
    return loss


CASES = [
    ("analytic", dict(), dict(beta=0.7)),
    ("mc", dict(), dict(kl="mc", objective="iwae")),
    ("mc", dict(prior="mog:3"), dict(beta=0.5)),
    ("mc", dict(prior="vamp:3"), dict(objective="iwae")),
    ("mc", dict(posterior="planar:2"), dict()),
    ("none", dict(posterior="deterministic"), dict()),
]


@pytest.mark.parametrize("route,build,opts", CASES)
def test_backward_with_weights_c_is_the_gradient_of_the_weighted_log_weights(route, build, opts):
    model = _nudged(VAE(D, [4], K, activation="tanh", seed=0, dtype="float64", **build))
    x = _x()
    S = 3
    eps = model.noise(np.random.default_rng(1), S, N)
    c = np.random.default_rng(2).uniform(-1.0, 1.0, size=(S, N))   # any weights, not the bound's
    tape = model.forward(x, eps, **opts)
    assert tape["kl_route"] == route
    model.backward(tape, c)
    analytic = model.flat_grads.copy()
    numeric = _fd(model, lambda: _weighted(model, x, eps, c, **opts))
    assert relative_error(analytic, numeric) <= 1e-7


def test_hierarchy_backward_with_weights_c_matches_finite_differences():
    model = _nudged(HVAE(D, [3, 2], [4], seed=0, dtype="float64", prior="vamp:2"))
    x = (_x() > 0.5).astype(np.float64)
    eps = model.noise(np.random.default_rng(1), 4, N)
    c = np.random.default_rng(2).uniform(-1.0, 1.0, size=(4, N))
    model.backward(model.forward(x, eps, objective="iwae"), c)
    analytic = model.flat_grads.copy()
    numeric = _fd(model, lambda: -float((c * model.forward(x, eps, objective="iwae")["log_w"]).sum()))
    assert relative_error(analytic, numeric) <= 1e-7


def test_the_bounds_own_weights_passed_as_c_give_the_default_gradient_bit_for_bit():
    model = VAE(D, [4], K, prior="mog:2", seed=0)
    x = _x().astype(np.float32)
    tape = model.forward(x, model.noise(np.random.default_rng(1), 3, N), objective="iwae")
    default = model.backward(tape)["encoder.0.W"].copy()
    bound_fn, bound_tape = tape["_bound"]
    np.testing.assert_array_equal(model.backward(tape, bound_fn.weights(bound_tape))["encoder.0.W"], default)


def test_c_of_the_wrong_shape_or_with_dbound_is_refused():
    model = VAE(D, [4], K, seed=0, dtype="float64")
    tape = model.forward(_x(), model.noise(np.random.default_rng(1), 2, N))
    with pytest.raises(ValueError, match=r"c must have log w's shape \(2, 3\), got \(3, 2\)"):
        model.backward(tape, np.ones((3, 2)))
    with pytest.raises(ValueError, match="not both"):
        model.backward(tape, np.ones((2, 3)), dbound=np.ones(3))
    local = model.forward_q(_x(), model.encode(_x()), model.noise(np.random.default_rng(1), 2, N))
    with pytest.raises(ValueError, match="from forward_q .* walk it back with backward_q"):
        model.backward(local)


def test_the_backward_follows_the_route_written_on_the_tape():
    """Two tapes of one model, analytic and Monte Carlo KL: each walks its own route, whatever other
    keys a tape holds; a tape without a route is not guessed at."""
    model = VAE(D, [4], K, seed=0, dtype="float64")
    x, eps = _x(), model.noise(np.random.default_rng(1), 1, N)
    analytic, mc = model.forward(x, eps), model.forward(x, eps, kl="mc")
    assert (analytic["kl_route"], mc["kl_route"]) == ("analytic", "mc")
    g_analytic = model.backward(analytic)["encoder.mu.W"].copy()
    g_mc = model.backward(mc)["encoder.mu.W"].copy()
    assert not np.allclose(g_analytic, g_mc)           # one sample: the two KL estimates differ
    del analytic["kl_route"]
    with pytest.raises(KeyError, match="kl_route"):
        model.backward(analytic)


@pytest.mark.parametrize("model", [VAE(D, [4], K, seed=0), HVAE(D, [3, 2], [4], seed=0)])
def test_vae_and_hierarchy_are_models_of_the_protocol(model):
    assert isinstance(model, Model) and model.kind == ("hvae" if isinstance(model, HVAE) else "vae")
    group = model.groups["model"]
    assert list(group.params) == list(model.params) and group.flat_params is model.flat_params
    assert all(group.grads[n] is model.grads[n] for n in model.grads)
    x = (_x() > 0.5).astype(np.float32)
    eps = model.noise(np.random.default_rng(1), 2, N)
    tape = model.forward(Batch(x), eps)
    assert tape.loss == model.forward(x, eps).loss and tape.bound is tape["bound"] and tape.bound.shape == (N,)


def test_a_conditional_vae_takes_its_labels_from_the_batch():
    model = VAE(D, [4], K, seed=0, n_labels=3)
    x, y = _x().astype(np.float32), np.array([0, 2, 1])
    eps = model.noise(np.random.default_rng(1), 1, N)
    assert model.forward(Batch(x, y), eps).loss == model.forward(x, eps, y=y).loss
    with pytest.raises(ValueError, match="labels come with the Batch"):
        model.forward(Batch(x, y), eps, y=y)


# ---- the one importance-sampled estimator ------------------------------------------------------

@pytest.mark.parametrize("model", [VAE(D, [4], K, seed=0, prior="vamp:2"), HVAE(D, [3, 2], [4], seed=0)])
def test_model_log_likelihood_is_the_evaluators_estimate_bit_for_bit(model):
    from numpyvae.measure.vae_log_likelihood import log_likelihood
    x = (_x() > 0.5).astype(np.float32)
    ours = model.log_likelihood(x, 7, np.random.default_rng(3))
    np.testing.assert_array_equal(ours, log_likelihood(model, x, 7, rng=np.random.default_rng(3), progress=False))
    assert ours.shape == (N,) and ours.dtype == np.float64


def test_the_gumbel_softmax_vae_is_importance_sampled_with_its_unrelaxed_categorical():
    """M = 2 variables of C = 3 classes: 9 codes, so log p(x) = logsumexp_c [log p(x|c) − M log C] exactly."""
    import itertools
    from numpyvae.latent.gumbel import one_hot_codes
    model = _nudged(VAE(D, [4], 6, seed=0, dtype="float64", posterior="gumbel:3", prior="categorical"), seed=3)
    x = (_x(1) > 0.5).astype(np.float64)
    codes = one_hot_codes(np.array(list(itertools.product(range(3), repeat=2))), 3, "float64")   # (9, 6)
    nll = np.stack([model.likelihood.forward(x, *model.decode(np.repeat(c[None], N, 0)), check=False)[0]
                    for c in codes])                                                          # (9, N)
    exact = np.logaddexp.reduce(-nll - 2 * np.log(3), axis=0)
    estimate = model.log_likelihood(x, 20000, np.random.default_rng(0))
    np.testing.assert_allclose(estimate, exact, atol=0.02)
    with pytest.raises(ValueError, match="one-hot per variable"):
        model.prior.log_pmf(np.full((1, 6), 1 / 3))


def test_the_exact_categorical_draws_follow_q():
    from numpyvae.latent.gumbel import GumbelSoftmax
    family = GumbelSoftmax(1, 3)
    logits = np.log(np.array([[0.2, 0.5, 0.3]]))
    codes, log_q = family.discrete_sample([logits], family.draw_noise(np.random.default_rng(0), 40000, 1, "float64"))
    np.testing.assert_allclose(codes[:, 0].mean(0), [0.2, 0.5, 0.3], atol=0.01)
    np.testing.assert_allclose(log_q[:, 0], np.log((codes[:, 0] * [0.2, 0.5, 0.3]).sum(-1)), rtol=1e-12)


def test_a_conditional_vae_estimates_log_p_of_x_given_its_label():
    model = VAE(D, [4], K, seed=0, n_labels=3)
    x = (_x() > 0.5).astype(np.float32)
    by_label = [model.log_likelihood(x, 50, 0, y=np.full(N, label)) for label in range(3)]
    assert not np.allclose(by_label[0], by_label[1])
    with pytest.raises(ValueError, match="needs the labels y"):
        model.log_likelihood(x, 5)


# ---- sample and figures --------------------------------------------------------------------------

@pytest.mark.parametrize("model", [VAE(16, [4], 2, seed=0, prior="mog:2"), HVAE(16, [3, 2], [4], seed=0)])
def test_figures_draw_the_models_pictures_and_sample_takes_rng_positionally(model, tmp_path):
    from types import SimpleNamespace
    x = (np.random.default_rng(0).uniform(size=(20, 16)) > 0.5).astype(np.float32)
    paths = model.figures(SimpleNamespace(x=x, y=np.arange(20) % 3, image_shape=(4, 4)), tmp_path)
    names = {p.name for p in paths}
    assert {"samples.png", "reconstructions.png", "latent.png", "interpolation.png"} <= names
    assert all(p.stat().st_size > 500 for p in paths)
    np.testing.assert_array_equal(model.sample(3, np.random.default_rng(1)),
                                  model.sample(3, rng=np.random.default_rng(1)))


def test_titles_say_what_was_sampled_and_what_was_trained():
    from numpyvae.run.words import history_labels
    from numpyvae.plots.decoded import prior_label
    assert "p(z_l | z_(l+1))" in prior_label(HVAE(16, [3, 2], [4]))     # not just "z ~ N(0, I)"
    assert prior_label(VAE(16, [4], 2)) == "N(0, I)"
    assert history_labels({"model": "ae"}) == {"loss_label": "reconstruction −log p(x|z) (loss)", "kl": False}
    assert history_labels({"objective": "iwae"})["loss_label"] == "−IWAE bound (loss)"
    assert history_labels({})["loss_label"] == "−ELBO (loss)"


def test_the_model_never_asks_a_prior_for_its_name():
    """A VampPrior under another name takes the same path: the model reads prior.encoded, not prior.name."""
    x = (_x() > 0.5).astype(np.float64)
    results = []
    for name in ("vamp", "renamed"):
        model = VAE(D, [4], K, seed=0, dtype="float64", prior="vamp:3")
        model.prior.name = name
        eps = model.noise(np.random.default_rng(1), 2, N)
        loss, grads = model.loss_and_grads(x, eps, objective="iwae")
        results.append((loss, grads["prior.pseudo_inputs"].copy(), model.log_prior(eps[0]),
                        model.sample(2, np.random.default_rng(0))))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert np.abs(results[0][1]).max() > 0


def test_a_plain_autoencoders_curves_have_no_kl_panel_and_name_their_loss(tmp_path, monkeypatch):
    from numpyvae import plots
    from numpyvae.plots import history
    from numpyvae.run.words import history_labels
    drawn = []
    real = history.save_png
    monkeypatch.setattr(history, "save_png", lambda fig, path: drawn.append([ax.get_title() for ax in fig.axes])
                        or real(fig, path))
    history = [{"epoch": e, "train_loss": 3.0 - e, "train_recon": 3.0 - e, "train_kl": 0.0} for e in (1, 2)]
    plots.plot_history(history, tmp_path / "ae.png", **history_labels({"model": "ae"}))
    plots.plot_history(history, tmp_path / "iwae.png", **history_labels({"objective": "iwae"}))
    assert drawn[0] == ["reconstruction −log p(x|z) (loss)", "reconstruction −E_q[log p(x|z)]"]
    assert drawn[1][0] == "−IWAE bound (loss)" and len(drawn[1]) == 3
