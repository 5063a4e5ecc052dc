"""Non-amortized inference (numpyvae/measure/local_inference.py): each example's own heads, fitted directly.

* the gradient of the per-example objective with respect to the heads, by finite differences,
  for every family, with the analytic and the Monte Carlo KL;
* on a tiny model, the optimized ELBO beats the encoder's for every example;
* a linear-Gaussian model, where p(z|x) is Gaussian and known in closed form: the optimized
  full-covariance q is p(z|x) (approximation gap 0), the optimized diagonal q has the
  known mean and variances 1/Λ_kk, and its gap is the known KL;
* the evaluate hook: log_likelihood with the encoder's heads passed in is the default, bit for bit.
"""
import json

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.measure.vae_log_likelihood import log_likelihood
from numpyvae.measure.local_inference import inference_gaps, local_elbo, local_elbo_backward, optimize_local
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

FAMILIES = ["gaussian", "full-gaussian", "planar:2", "radial:2", "iaf:1"]


def _tiny(posterior, seed=1, dtype="float64"):
    model = VAE(6, [5], 2, activation="tanh", seed=seed, dtype=dtype, posterior=posterior)
    rng = np.random.default_rng(seed + 10)
    for p in model.params.values():            # non-zero biases, so every path carries gradient
        p += 0.1 * rng.standard_normal(p.shape).astype(p.dtype)
    x = (rng.uniform(size=(3, 6)) < 0.5).astype(dtype)
    return model, x


@pytest.mark.parametrize("posterior,kl", [(p, "mc") for p in FAMILIES]
                         + [("gaussian", "analytic"), ("full-gaussian", "analytic")])
def test_the_gradient_wrt_each_examples_heads_matches_finite_differences(posterior, kl, monkeypatch):
    model, x = _tiny(posterior)
    if kl == "mc":        # the Gaussians' closed-form pair switched off: the Monte Carlo KL path
        monkeypatch.setattr("numpyvae.models.vae_options.kl_analytic_for", lambda q, p: None)   # the model walks it
    heads = [h + 0.1 * np.random.default_rng(3).standard_normal(h.shape) for h in model.encode(x)]
    eps = model.draw_eps(3, 4)

    def loss(_):
        return -local_elbo(model, x, heads, eps)[0].sum()

    analytic = local_elbo_backward(model, local_elbo(model, x, heads, eps)[1])
    for h, a in zip(heads, analytic):
        assert relative_error(a, numerical_gradient(loss, h)) <= 1e-7


@pytest.mark.parametrize("posterior", ["gaussian", "planar:2", "iaf:1"])
def test_the_optimized_elbo_beats_the_encoders_for_every_example(posterior):
    model, x = _tiny(posterior, seed=2)
    phi = model.encode(x)
    before = [h.copy() for h in phi]
    phi_star, history = optimize_local(model, x, phi, steps=300, lr=0.02, n_samples=8, rng=0)
    assert all(np.array_equal(b, h) for b, h in zip(before, phi))      # the start is not changed
    eps = model.draw_eps(3, 4000)                                       # the same noise for both
    enc, loc = local_elbo(model, x, phi, eps)[0], local_elbo(model, x, phi_star, eps)[0]
    assert np.all(loc > enc), (enc, loc)
    assert history[-20:].mean() > history[:20].mean()


def _linear_gaussian(posterior, sigma=0.5, seed=0):
    """A VAE whose decoder is one Dense layer: p(x|z) = N(z W + b, σ² I), p(z) = N(0, I)."""
    model = VAE(3, [4], 2, "gaussian", activation="tanh", seed=seed, dtype="float64",
                likelihood_kwargs={"sigma": sigma}, hidden_dec=[], posterior=posterior)
    W, b = model.params["decoder.out.W"], model.params["decoder.out.b"]     # (K, D), (D,)
    W[...] = [[1.0, 0.5, -0.3], [0.2, -0.8, 0.6]]
    b[...] = [0.1, -0.2, 0.3]
    x = np.array([[0.5, -0.4, 1.0], [-1.0, 0.3, 0.2]])
    precision = np.eye(2) + W @ W.T / sigma ** 2                               # Λ of p(z|x)
    cov = np.linalg.inv(precision)
    mean = (x - b) @ W.T / sigma ** 2 @ cov                                    # μ_n = Λ⁻¹ W (x_n − b)/σ²
    marginal = W.T @ W + sigma ** 2 * np.eye(3)                                # x ~ N(b, WᵀW + σ² I)
    diff = x - b
    log_px = -0.5 * (np.einsum("nd,de,ne->n", diff, np.linalg.inv(marginal), diff)
                     + np.linalg.slogdet(2 * np.pi * marginal)[1])
    return model, x, mean, cov, precision, log_px


def _kl_gaussians(m_q, cov_q, m_p, cov_p):
    """KL(N(m_q, cov_q) || N(m_p, cov_p)), exact."""
    inv = np.linalg.inv(cov_p)
    d = m_p - m_q
    return 0.5 * (np.trace(inv @ cov_q) + d @ inv @ d - len(d)
                  + np.linalg.slogdet(cov_p)[1] - np.linalg.slogdet(cov_q)[1])


# optimize_local's step size falls linearly to 0, so Adam ends at the optimum up to the noise of
# its last few steps; 3000 steps from lr 1e-2 reach KL(q* || best) ~ 1e-4 here.
STEPS, LR = 3000, 1e-2


def test_linear_gaussian_full_covariance_q_reaches_the_true_posterior():
    model, x, mean, cov, _, log_px = _linear_gaussian("full-gaussian")
    phi_star, _ = optimize_local(model, x, model.encode(x), steps=STEPS, lr=LR, n_samples=64, rng=1)
    for n in range(2):
        heads_n = [h[n:n + 1] for h in phi_star]
        cov_q = model.posterior.covariance(heads_n)[0]
        assert _kl_gaussians(phi_star[0][n], cov_q, mean[n], cov) < 1e-3
    np.testing.assert_allclose(phi_star[0], mean, atol=0.02)
    elbo = local_elbo(model, x, phi_star, model.draw_eps(2, 20000))[0]
    np.testing.assert_allclose(elbo, log_px, atol=0.01)        # approximation gap ~ 0


def test_linear_gaussian_diagonal_q_reaches_the_best_diagonal():
    """The KL(q || p)-optimal diagonal Gaussian for a Gaussian p with precision Λ has p's mean and
    variances 1/Λ_kk; its KL is ½ Σ_k log Λ_kk − ½ log det Λ (the approximation gap)."""
    model, x, mean, cov, precision, log_px = _linear_gaussian("gaussian")
    start = model.encode(x)
    phi_star, _ = optimize_local(model, x, start, steps=STEPS, lr=LR, n_samples=64, rng=1)
    np.testing.assert_allclose(phi_star[0], mean, atol=0.02)
    np.testing.assert_allclose(phi_star[1], np.broadcast_to(-np.log(np.diag(precision)), (2, 2)), atol=0.05)
    best_gap = 0.5 * (np.log(np.diag(precision)).sum() - np.linalg.slogdet(precision)[1])
    assert best_gap > 0.02                                      # the diagonal family really is too narrow (0.037)
    for n in range(2):
        gap = _kl_gaussians(phi_star[0][n], np.diag(np.exp(phi_star[1][n])), mean[n], cov)
        assert abs(gap - best_gap) < 1e-3
    elbo = local_elbo(model, x, phi_star, model.draw_eps(2, 20000))[0]
    np.testing.assert_allclose(log_px - elbo, best_gap, atol=0.01)


def test_inference_gaps_add_up_and_the_amortization_gap_is_positive():
    model, x = _tiny("gaussian", seed=3)
    from numpyvae.measure.vae_log_likelihood import log_likelihood
    g = inference_gaps(model, x, k=200, steps=200, lr=0.02, n_samples=4, eval_samples=2000, batch_size=2,
                       log_likelihood=log_likelihood)
    assert g["gap"] == pytest.approx(g["approximation_gap"] + g["amortization_gap"])
    assert g["amortization_gap"] > 0 and g["approximation_gap"] > -0.05
    assert g["log_likelihood"] >= max(g["log_likelihood_encoder_q"], g["log_likelihood_local_q"])


def test_log_likelihood_with_the_encoders_heads_passed_in_is_the_default():
    model, x = _tiny("planar:2", dtype="float32")
    a = log_likelihood(model, x, 50, rng=0, progress=False)
    b = log_likelihood(model, x, 50, rng=0, progress=False, q_params=model.encode(x))
    assert np.array_equal(a, b)


def test_bad_settings_are_one_line_errors():
    model, x = _tiny("gaussian")
    with pytest.raises(ValueError, match="steps"):
        optimize_local(model, x, model.encode(x), steps=0)
    with pytest.raises(ValueError, match="expected 2 head arrays"):
        optimize_local(model, x, model.encode(x)[:1])


def test_evaluate_gaps_from_the_command_line(tmp_path, capsys):
    from numpyvae.run.checkpoint_format import CHECKPOINT, save_checkpoint
    from numpyvae.cli import main
    model = VAE(784, hidden=[16], z_dim=2, seed=1, posterior="planar:1")
    save_checkpoint(tmp_path / CHECKPOINT, model, config={"dataset": "digits", "likelihood": "bernoulli", "seed": 3})
    assert main(["evaluate", str(tmp_path), "--k", "10", "--n-test", "6", "--gaps", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "approximation" in out and "amortization" in out
    res = json.loads((tmp_path / "evaluation.json").read_text())
    g = res["gaps"]
    assert g["posterior"] == "planar:1" and g["n_test"] == 6 and g["k"] == 10
    assert g["gap"] == pytest.approx(g["approximation_gap"] + g["amortization_gap"])
    assert g["log_likelihood_encoder_q"] == pytest.approx(res["log_likelihood"])   # evaluate's, reused


def test_the_step_size_falls_linearly_from_lr_to_zero(monkeypatch):
    """The schedule optimize_local documents: step i of n uses lr·(1 − i/n), so the first step is lr and
    the last lr/n. Recorded at every Adam step by a spy, compared with the formula written here."""
    from numpyvae.measure import local_inference
    seen = []

    class Spy(local_inference.Adam):
        def step(self):
            seen.append(self.lr)
            return super().step()

    monkeypatch.setattr(local_inference, "Adam", Spy)
    model, x = _tiny("gaussian")
    steps, lr = 40, 0.03
    optimize_local(model, x, model.encode(x), steps=steps, lr=lr, n_samples=2, rng=0)
    assert len(seen) == steps
    np.testing.assert_allclose(seen, [lr * (steps - i) / steps for i in range(steps)], rtol=1e-12, atol=0)
