"""Adversarial variational Bayes: the discriminator's and the generator's gradients by finite differences,
the optimal critic, quadrature, and bad input.

The losses are written here from the definitions (log σ and log(1 − σ), the networks run forward
as a black box), independently of avb.py's softplus form and backward.
"""
import math

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import multivariate_normal

from numpyvae.models.adversarial import AVB, log_px_by_quadrature
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

N, D, K, E = 5, 4, 2, 3


def model(likelihood="bernoulli", seed=0, **kw):
    m = AVB(D, [6], K, noise_dim=E, likelihood=likelihood, activation="tanh", seed=seed, dtype="float64", **kw)
    rng = np.random.default_rng(seed + 1)
    for p in list(m.gen_params.values()) + list(m.disc_params.values()):   # nonzero biases too
        p += 0.1 * rng.standard_normal(p.shape)
    return m


def data(likelihood, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, (N, D)) if likelihood == "bernoulli" else rng.standard_normal((N, D))


def critic_loss(m, x, z_q, z_p):
    t_q = m.critic(x, z_q)[0]
    t_p = m.critic(x, z_p)[0]
    return -np.mean(np.log(expit(t_q))) - np.mean(np.log(1 - expit(t_p)))


def generator_loss(m, x, eps, likelihood):
    z = m.encode(x, eps)[0]
    heads = m.decoder.forward(z)[0]
    if likelihood == "bernoulli":
        p = expit(heads[0])
        nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    else:
        sigma = m.likelihood.sigma
        nll = ((x - heads[0]) ** 2).sum(1) / (2 * sigma ** 2) + D * math.log(2 * math.pi * sigma ** 2) / 2
    return np.mean(nll + m.critic(x, z)[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discriminator_gradient_against_finite_differences(seed):
    m, x = model(seed=seed), data("bernoulli", seed)
    rng = np.random.default_rng(seed)
    z_q, z_p = rng.standard_normal((N, K)) + 0.5, rng.standard_normal((N, K))
    out = m.discriminator_grads(x, z_q, z_p)
    assert out["loss"] == pytest.approx(critic_loss(m, x, z_q, z_p), rel=1e-12)
    for name, p in m.disc_params.items():
        numeric = numerical_gradient(lambda _: critic_loss(m, x, z_q, z_p), p)
        assert relative_error(m.disc_grads[name], numeric) <= 1e-7, name


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_generator_gradient_against_finite_differences(likelihood):
    m, x = model(likelihood), data(likelihood)
    eps = np.random.default_rng(3).standard_normal((N, E))
    out = m.generator_grads(x, eps)
    assert out["loss"] == pytest.approx(generator_loss(m, x, eps, likelihood), rel=1e-12)
    for name, p in m.gen_params.items():
        numeric = numerical_gradient(lambda _: generator_loss(m, x, eps, likelihood), p)
        assert relative_error(m.gen_grads[name], numeric) <= 1e-7, name


def test_step_leaves_the_critic_with_its_own_gradient_not_the_generators():
    m, x = model(seed=4), data("bernoulli", 4)
    m.backward(m.forward(x, np.random.default_rng(5)))
    got = {k: v.copy() for k, v in m.disc_grads.items()}
    eps, z_p = m.draw_noise(N, np.random.default_rng(5))
    z_q = m.encode(x, eps)[0]
    m.discriminator_grads(x, z_q, z_p)
    for name in got:
        np.testing.assert_array_equal(got[name], m.disc_grads[name])


@pytest.mark.parametrize("critic, adaptive_contrast", [("mlp", False), ("inner", False), ("mlp", True),
                                                       ("inner", True)])
def test_the_protocol_step_is_both_players_gradients_by_finite_differences(critic, adaptive_contrast):
    """AVBModel.forward(batch) returns a tape; backward(tape) fills the generator group with ∂L_G/∂(φ, θ) and the
    critic group with ∂L_T/∂ψ, both at the tape's own noise (ε, z_p, the moment noise), the critic's z_q being the
    generator's z (z̃) held constant. tape.bound is −(nll + KL) per example. Both losses from the definitions."""
    from numpyvae.models.avb import AVBModel
    from numpyvae.models.base import Batch
    m = AVBModel(D, [6], K, noise_dim=E, activation="tanh", seed=9, dtype="float64", critic=critic,
                 adaptive_contrast=adaptive_contrast, n_moment_samples=6)
    rng = np.random.default_rng(9)
    for group in m.groups.values():                                       # nonzero biases too
        for p in group.params.values():
            p += 0.1 * rng.standard_normal(p.shape)
    x, a = data("bernoulli", 9), m.avb
    tape = m.forward(Batch(x), np.random.default_rng(10))
    grads = m.backward(tape)
    eps, z_p, eps_m = tape.eps, tape.z_p, tape.generator.eps_moments
    assert (eps_m is not None) == adaptive_contrast
    if adaptive_contrast:                                                  # the moments, held fixed below
        zs = np.stack([a.encode(x, e)[0] for e in eps_m])
        mu, sigma = zs.mean(0), np.sqrt(zs.var(0) + 1e-4)
    else:
        mu, sigma = np.zeros(K), np.ones(K)

    def per_example():                                                     # nll_n + KL_n
        z = a.encode(x, eps)[0]
        p = expit(a.decoder.forward(z)[0][0])
        nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
        if not adaptive_contrast:
            return nll + a.critic(x, z)[0]
        log_r = np.array([multivariate_normal(mu[n], np.diag(sigma[n] ** 2)).logpdf(z[n]) for n in range(N)])
        log_p = multivariate_normal(np.zeros(K), np.eye(K)).logpdf(z)
        return nll + a.critic(x, (z - mu) / sigma)[0] + log_r - log_p

    np.testing.assert_allclose(tape.bound, -per_example(), rtol=1e-12)
    assert tape.loss == pytest.approx(per_example().mean(), rel=1e-12)
    z_q = (a.encode(x, eps)[0] - mu) / sigma                               # what the critic read: a constant for it
    assert tape.parts["critic_loss"] == pytest.approx(critic_loss(a, x, z_q, z_p), rel=1e-12)
    for name, p in m.groups["generator"].params.items():
        numeric = numerical_gradient(lambda _: per_example().mean(), p)
        assert relative_error(grads["generator"][name], numeric) <= 1e-7, name
    for name, p in m.groups["critic"].params.items():
        numeric = numerical_gradient(lambda _: critic_loss(a, x, z_q, z_p), p)
        assert relative_error(grads["critic"][name], numeric) <= 1e-7, name
    with pytest.raises(ValueError, match="takes no per-sample weights"):
        m.backward(tape, np.full((1, N), 1.0 / N))


def test_the_critic_learns_the_log_density_ratio():
    """q(z|x) = N(mu, s²) fixed (a linear encoder of ε), p = N(0, 1): T* = log q − log p is quadratic in z;
    a trained critic's T agrees with it where the samples are."""
    from numpyvae.optim import Adam
    m = AVB(1, [32], 1, noise_dim=1, likelihood="gaussian", activation="tanh", seed=0, dtype="float64")
    x = np.zeros((256, 1))
    mu, s = 1.0, 0.5
    opt = Adam(m.disc_params, m.disc_grads, lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(1500):
        z_q = mu + s * rng.standard_normal((256, 1))
        m.discriminator_grads(x, z_q, rng.standard_normal((256, 1)))
        opt.step()
    z = np.linspace(0.0, 2.0, 21)[:, None]
    t = m.critic(np.zeros_like(z), z)[0]
    truth = multivariate_normal(mu, s ** 2).logpdf(z[:, 0]) - multivariate_normal(0, 1).logpdf(z[:, 0])
    assert np.abs(t - truth).max() < 0.3, np.c_[t, truth]


def test_quadrature_is_exact_for_a_linear_gaussian_decoder():
    A, b, sigma = np.array([[1.0, 0.5], [-0.3, 0.8]]), np.array([0.2, -0.1]), 0.3
    from numpyvae.likelihoods import make_likelihood
    lik = make_likelihood("gaussian", sigma=sigma)
    x = np.random.default_rng(0).standard_normal((7, 2))
    got = log_px_by_quadrature(lambda z: [z @ A.T + b], lik, x, limit=6.0, n=301)
    truth = multivariate_normal(b, A @ A.T + sigma ** 2 * np.eye(2)).logpdf(x)
    np.testing.assert_allclose(got, truth, rtol=0, atol=1e-6)


def test_bad_input():
    m, x = model(), data("bernoulli")
    with pytest.raises(ValueError, match="eps must have 3 features"):
        m.generator_grads(x, np.zeros((N, E + 1)))
    with pytest.raises(ValueError, match="z_p must have 5 rows like x"):
        m.discriminator_grads(x, np.zeros((N, K)), np.zeros((N + 1, K)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.generator_grads(x * 3, np.zeros((N, E)))
    with pytest.raises(ValueError, match="noise_dim must be an integer >= 1"):
        AVB(D, [6], K, noise_dim=0)


def test_the_old_experiment_command_says_in_one_line_what_replaced_it(capsys):
    from numpyvae.avb_train import main
    assert main(["--dataset", "ring", "--epochs", "3", "--lr-disc", "1e-4", "--figure", "f.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["numpyvae: error: `python -m numpyvae.avb_train` was replaced by `python -m numpyvae train "
                   "--model avb --preset ring --epochs 3 --lr-critic 1e-4` (then `python -m numpyvae "
                   "evaluate|sample|plot RUN_DIR`)"]


# ---- the reference code's critic and the adaptive contrast --------------------------------------

@pytest.mark.parametrize("critic", ["inner", "mlp"])
def test_inner_product_critic_gradient_against_finite_differences(critic):
    m, x = model(seed=6, critic=critic), data("bernoulli", 6)
    rng = np.random.default_rng(6)
    z_q, z_p = rng.standard_normal((N, K)) + 0.5, rng.standard_normal((N, K))
    m.discriminator_grads(x, z_q, z_p)
    assert len(m.disc_params) == (16 if critic == "inner" else 4)       # θ, s, T_x, T_z: two Dense layers each
    for name, p in m.disc_params.items():
        numeric = numerical_gradient(lambda _: critic_loss(m, x, z_q, z_p), p)
        assert relative_error(m.disc_grads[name], numeric) <= 1e-7, name


def test_inner_product_critic_is_theta_dot_s_plus_two_scalars():
    m, x = model(seed=7, critic="inner"), data("bernoulli", 7)
    z = np.random.default_rng(7).standard_normal((N, K))
    nets = m.discriminator.nets
    theta, s = nets["theta"].forward(x)[0], nets["s"].forward(z)[0]
    expected = (theta * s).sum(1) + nets["tx"].forward(x)[0][:, 0] + nets["tz"].forward(z)[0][:, 0]
    np.testing.assert_allclose(m.critic(x, z)[0], expected, rtol=1e-13)


def ac_generator_loss(m, x, eps, eps_m, mu, sigma):
    """L_G with adaptive contrast, from the definitions: nll + T(x, (z − μ)/σ) + log N(z; μ, σ²) − log N(z; 0, I)."""
    z = m.encode(x, eps)[0]
    p = expit(m.decoder.forward(z)[0][0])
    nll = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    log_r = np.array([multivariate_normal(mu[n], np.diag(sigma[n] ** 2)).logpdf(z[n]) for n in range(N)])
    log_p = multivariate_normal(np.zeros(K), np.eye(K)).logpdf(z)
    return np.mean(nll + m.critic(x, (z - mu) / sigma)[0] + log_r - log_p)


@pytest.mark.parametrize("critic", ["inner", "mlp"])
def test_adaptive_contrast_generator_gradient_against_finite_differences(critic):
    m, x = model(seed=8, critic=critic, adaptive_contrast=True), data("bernoulli", 8)
    rng = np.random.default_rng(8)
    eps, eps_m = rng.standard_normal((N, E)), rng.standard_normal((6, N, E))
    zs = np.stack([m.encode(x, e)[0] for e in eps_m])                    # the moments, held fixed below
    mu, sigma = zs.mean(0), np.sqrt(zs.var(0) + 1e-4)
    out = m.generator_grads(x, eps, eps_moments=eps_m)
    assert out["loss"] == pytest.approx(ac_generator_loss(m, x, eps, eps_m, mu, sigma), rel=1e-12)
    for name, p in m.gen_params.items():
        numeric = numerical_gradient(lambda _: ac_generator_loss(m, x, eps, eps_m, mu, sigma), p)
        assert relative_error(m.gen_grads[name], numeric) <= 1e-7, name
    with pytest.raises(ValueError, match="adaptive_contrast needs n_moment_samples >= 2"):
        AVB(D, [6], K, adaptive_contrast=True, n_moment_samples=1)
    with pytest.raises(ValueError, match="critic must be 'mlp' or 'inner', got 'x'"):
        AVB(D, [6], K, critic="x")


def frozen_gaussian_q(adaptive_contrast, seed=0):
    """A linear encoder z = W_x x + W_ε ε + b: q(z|x) = N(W_x x + b, W_ε W_εᵀ), correlated; returns (m, Σ, KL(x))."""
    Dq, Kq = 3, 4
    m = AVB(Dq, [], Kq, noise_dim=Kq, likelihood="gaussian", activation="tanh", seed=seed, dtype="float64",
            hidden_disc=[32], critic="inner", adaptive_contrast=adaptive_contrast, n_moment_samples=64)
    rng = np.random.default_rng(seed)
    W = m.gen_params["encoder.0.W"]                                       # rows: x (3), then ε (4)
    W[:Dq] = rng.standard_normal((Dq, Kq))
    L = np.tril(rng.standard_normal((Kq, Kq)) * 0.5) + np.diag([0.3, 0.5, 2.0, 0.4])
    W[Dq:] = L.T                                                          # z = ... + L ε
    m.gen_params["encoder.0.b"][...] = [3.0, -2.0, 1.0, 2.5]
    cov = L @ L.T

    def kl(x):                                                            # KL(N(m, Σ) ‖ N(0, I)), per row of x
        mean = x @ W[:Dq] + m.gen_params["encoder.0.b"]
        return 0.5 * (np.trace(cov) + (mean ** 2).sum(1) - Kq - np.linalg.slogdet(cov)[1])
    return m, kl


def critic_kl_estimate(m, steps, rng):
    """Train the critic alone (Adam β₁ = 0.5, as Mescheder's code) against the frozen q; return the mean KL estimate
    on fresh x and its mean truth."""
    from numpyvae.optim import Adam
    opt = Adam(m.disc_params, m.disc_grads, lr=1e-3, beta1=0.5)
    for _ in range(steps):
        x = rng.standard_normal((256, 3)) * 0.5
        out = m.generator_grads(x, rng.standard_normal((256, 4)))
        m.discriminator_grads(x, out["z"], rng.standard_normal((256, 4)))
        opt.step()
    x = rng.standard_normal((2000, 3)) * 0.5
    return m.generator_grads(x, rng.standard_normal((2000, 4)))["KL"], x


def test_adaptive_contrast_critic_estimates_a_known_kl_within_ten_percent():
    """q(z|x) Gaussian with full covariance, frozen; p = N(0, I). The critic with adaptive contrast (a diagonal r)
    must still learn the correlation part log q − log r; its KL estimate lands within 10% of the exact KL."""
    m, kl = frozen_gaussian_q(adaptive_contrast=True)
    estimate, x = critic_kl_estimate(m, 600, np.random.default_rng(1))
    truth = kl(x).mean()
    assert truth == pytest.approx(14.8, abs=0.5)                          # the scale of KL
    assert abs(estimate - truth) <= 0.1 * truth, (estimate, truth)


def test_extra_critic_steps_read_what_the_steps_critic_reads_with_adaptive_contrast():
    """AVBModel.critic_step (critic_steps > 1) trains the critic on the same pairs as the step's own critic pass:
    with adaptive contrast on z̃ = (z − μ)/σ against N(0, I), not on the raw z (which T never sees otherwise)."""
    from numpyvae.models.avb import AVBModel
    from numpyvae.models.base import Batch
    m = AVBModel(D, [6], K, noise_dim=E, activation="tanh", seed=11, dtype="float64", adaptive_contrast=True,
                 n_moment_samples=6)
    a, x = m.avb, data("bernoulli", 11)
    state = a.rng.bit_generator.state
    m.critic_step(Batch(x), np.random.default_rng(12))
    got = {k: v.copy() for k, v in a.disc_grads.items()}
    eps, z_p = a.draw_noise(N, np.random.default_rng(12))
    a.rng.bit_generator.state = state                                     # the moment noise: the model's generator
    zs = np.stack([a.encode(x, e)[0] for e in a.moment_noise(N)])
    z_tilde = (a.encode(x, eps)[0] - zs.mean(0)) / np.sqrt(zs.var(0) + 1e-4)
    a.discriminator_grads(x, z_tilde, z_p)
    for name in got:
        np.testing.assert_allclose(got[name], a.disc_grads[name], rtol=1e-12, atol=0, err_msg=name)
