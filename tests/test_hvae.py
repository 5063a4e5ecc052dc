"""The hierarchical VAE (numpyvae.models.hvae) and its conditional Gaussian: finite differences, values, API."""
import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import norm

from numpyvae import VAE
from numpyvae.models.hvae import HVAE
from numpyvae.latent.conditional import ConditionalGaussian
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

N, D = 3, 6


def tiny_hvae(prior="standard", stochastic=(4, 3), seed=0):
    model = HVAE(D, list(stochastic), [5], activation="tanh", prior=prior, seed=seed, dtype="float64")
    # nonzero biases, so db is exercised; small, so tanh stays in its smooth range
    model.flat_params[:] += 0.05 * np.random.default_rng(seed + 7).standard_normal(model.flat_params.size)
    return model


def binary_x(seed=0):
    return (np.random.default_rng(seed).uniform(size=(N, D)) < 0.5).astype(np.float64)


def fd_over_all_params(model, loss, h=1e-6):
    """Central differences over every value in the flat buffer (gradcheck's loop, which the
    library's own tests check, perturbing the model's weights in place)."""
    return numerical_gradient(lambda _: loss(), model.flat_params, h)


# ---- the conditional Gaussian p(z | h) ----------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 3), (2, 4, 3)])
def test_conditional_gaussian_value_and_gradient(shape):
    rng = np.random.default_rng(0)
    z, mu, logvar = (rng.standard_normal(shape) for _ in range(3))
    piece = ConditionalGaussian(shape[-1])
    log_p, tape = piece.log_prob(z, mu, logvar)
    expected = norm.logpdf(z, loc=mu, scale=np.exp(0.5 * logvar)).sum(-1)
    assert np.allclose(log_p, expected, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(shape[:-1])                 # L = Σ g · log p
    dz, dmu, dlogvar = piece.backward(g, tape)
    arrays = {"z": z, "mu": mu, "logvar": logvar}
    for (name, a), analytic in zip(arrays.items(), (dz, dmu, dlogvar)):
        numeric = numerical_gradient(lambda _: float((g * piece.log_prob(z, mu, logvar)[0]).sum()), a)
        assert relative_error(analytic, numeric) <= 1e-7, name


def test_conditional_gaussian_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        ConditionalGaussian(3).log_prob(np.zeros((2, 3)), np.zeros((1, 3)), np.zeros((2, 3)))


# ---- the multi-layer bound: values against a forward written out here ----------------------------

def manual_log_w(model, x, eps):
    """log p(x|z₁) + log p(z₁|z₂) + log N(z₂; 0, I) − log q(z₁|x) − log q(z₂|z₁), from the networks alone."""
    K1, K2 = model.stochastic
    (mu1, lv1), _ = model.encoders[0].forward(x)
    z1 = mu1 + np.exp(0.5 * lv1) * eps[..., :K1]
    (mu2, lv2), _ = model.encoders[1].forward(z1)
    z2 = mu2 + np.exp(0.5 * lv2) * eps[..., K1:]
    (pm, plv), _ = model.cond_nets[0].forward(z2)
    (logits,), _ = model.decoder.forward(z1)
    p = expit(logits)
    log_px = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(-1)
    log_q = (norm.logpdf(z1, mu1, np.exp(0.5 * lv1)).sum(-1) + norm.logpdf(z2, mu2, np.exp(0.5 * lv2)).sum(-1))
    log_p = norm.logpdf(z1, pm, np.exp(0.5 * plv)).sum(-1) + norm.logpdf(z2).sum(-1)
    return log_px + log_p - log_q


def test_two_layer_elbo_and_iwae_values_match_a_manual_forward_pass():
    model, x = tiny_hvae(), binary_x()
    eps = np.random.default_rng(1).standard_normal((4, N, model.eps_dim))
    log_w = manual_log_w(model, x, eps)
    elbo = model.forward(x, eps)
    assert np.allclose(elbo["log_w"], log_w, rtol=1e-12)
    assert np.isclose(elbo.loss, -log_w.mean(), rtol=1e-12)
    iwae = model.forward(x, eps, objective="iwae")
    assert np.allclose(iwae["bound"], logsumexp(log_w, axis=0) - np.log(4), rtol=1e-12)
    assert np.allclose(sum(elbo["kl_layers"]), elbo["kl"], rtol=1e-12)


def test_one_layer_hvae_is_the_vae_with_monte_carlo_kl():
    hvae = tiny_hvae(stochastic=(3,))
    vae = VAE(D, [5], 3, activation="tanh", dtype="float64")
    for name in vae.params:       # encoder.* -> q.z1.*, decoder.* -> p.x.*
        vae.params[name][...] = hvae.params[name.replace("encoder.", "q.z1.").replace("decoder.", "p.x.")]
    x, eps = binary_x(), np.random.default_rng(2).standard_normal((3, N, 3))
    for objective in ("elbo", "iwae"):
        lv, gv = vae.loss_and_grads(x, eps, kl="mc", objective=objective)
        gv = {k: g.copy() for k, g in gv.items()}
        lh, gh = hvae.loss_and_grads(x, eps, objective=objective)
        assert np.isclose(lv, lh, rtol=1e-12)
        for name in gv:
            assert np.allclose(gv[name], gh[name.replace("encoder.", "q.z1.").replace("decoder.", "p.x.")],
                               rtol=1e-10, atol=1e-14), name


# ---- whole-model finite differences: 2L x {ELBO, IWAE} x {standard, mog, vamp}, and 3L ------------

CONFIGS = list(itertools.product(["standard", "mog:2", "vamp:2"], ["elbo", "iwae"])) + [("mog:2", "vr")]


@pytest.mark.parametrize("prior,objective", CONFIGS)
def test_whole_two_layer_model_gradient_matches_finite_differences(prior, objective):
    model, x = tiny_hvae(prior), binary_x()
    eps = np.random.default_rng(1).standard_normal((3, N, model.eps_dim))
    opts = dict(objective=objective, beta=0.7 if objective == "elbo" else 1.0,
                alpha=0.5 if objective == "vr" else None)
    model.loss_and_grads(x, eps, **opts)
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, **opts)[0])
    assert relative_error(analytic, numeric) <= 1e-7
    base = model.flat_params.__array_interface__["data"][0]
    for name, p in model.params.items():      # and no parameter hides behind the big ones
        off = (p.__array_interface__["data"][0] - base) // 8
        assert relative_error(analytic[off:off + p.size], numeric[off:off + p.size]) <= 1e-7, name


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_three_layers_gradient_matches_finite_differences(objective):
    model, x = tiny_hvae("vamp:2", stochastic=(3, 2, 2)), binary_x()
    eps = np.random.default_rng(3).standard_normal((2, N, model.eps_dim))
    model.loss_and_grads(x, eps, objective=objective)
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, objective=objective)[0])
    assert relative_error(analytic, numeric) <= 1e-7


# ---- API and bad input ---------------------------------------------------------------------------

def test_burda_architecture_names_and_shapes():
    model = HVAE(784, [100, 50], [100, 100])
    assert model.params["q.z1.0.W"].shape == (784, 100) and model.params["q.z1.mu.W"].shape == (100, 100)
    assert model.params["q.z2.0.W"].shape == (100, 50) and model.params["q.z2.1.W"].shape == (50, 50)
    assert model.params["q.z2.logvar.W"].shape == (50, 50)
    assert model.params["p.z1.0.W"].shape == (50, 50) and model.params["p.z1.mu.W"].shape == (50, 100)
    assert model.params["p.x.0.W"].shape == (100, 100) and model.params["p.x.out.W"].shape == (100, 784)
    assert model.flat_params.dtype == np.float32 and model.z_dim == 50 and model.eps_dim == 150


def test_float32_training_step_stays_float32_and_conveniences_have_their_shapes():
    model = HVAE(D, [4, 3], [5], prior="vamp:3")
    x = binary_x().astype(np.float32)
    loss, grads = model.loss_and_grads(x, n_samples=2, objective="iwae")
    assert np.isfinite(loss) and all(g.dtype == np.float32 for g in grads.values())
    assert model.last_tape["log_w"].dtype == np.float32
    assert [m.shape for m in model.latent_means(x)] == [(N, 4), (N, 3)]
    assert [p.shape for p in model.encode(x)] == [(N, 3), (N, 3)]
    assert model.decode(np.zeros((2, 3), np.float32))[0].shape == (2, D)
    assert model.sample(5, rng=np.random.default_rng(0)).shape == (5, D)
    assert model.reconstruct(x).shape == (N, D)
    assert model.log_weights(x, model.noise(np.random.default_rng(0), 7, N)).shape == (7, N)


@pytest.mark.parametrize("kwargs,match", [
    (dict(stochastic=[]), "non-empty"), (dict(stochastic=[3, 0]), "stochastic layer size"),
    (dict(prior="mog"), "number of components")])
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HVAE(D, **{"stochastic": [3, 2], "hidden": [4], **kwargs})


def test_bad_forward_options():
    model, x = tiny_hvae(), binary_x()
    with pytest.raises(ValueError, match="kl must be 'mc'"):
        model.forward(x, kl="analytic")
    with pytest.raises(ValueError, match="eps must have 7 features"):
        model.forward(x, np.zeros((1, N, 4)))
    with pytest.raises(ValueError, match=r"eps must have shape \(S, 3, 7\)"):
        model.forward(x, np.zeros((1, N + 1, 7)))
    with pytest.raises(ValueError, match="beta = 1"):
        model.forward(x, objective="iwae", n_samples=2, beta=0.5)
