"""The new families inside numpyvae's own VAE: whole-model gradients by finite differences.

Families whose parameters all come from the encoder (full-covariance Gaussian, amortized
planar and radial flows) plug into ``VAE(posterior=...)`` unchanged; each is checked with the
ELBO (Monte Carlo KL) and the IWAE bound. IAF's MADE weights are the family's own global
parameters, packed with the model's; the full-covariance Gaussian also has a closed-form KL.
"""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.teach.gradcheck import numerical_gradient, relative_error


CASES = [(p, o, "mc") for p in ("full-gaussian", "planar:2", "radial:2", "iaf:2", "radial:2,amortized=false")
         for o in ("elbo", "iwae")]
CASES.append(("full-gaussian", "elbo", "analytic"))    # the one new family with a closed-form KL


@pytest.mark.parametrize("posterior,objective,kl", CASES)
def test_vae_with_a_new_family_matches_finite_differences(posterior, objective, kl):
    model = VAE(6, [5], 2, activation="tanh", seed=1, dtype="float64", posterior=posterior)
    rng = np.random.default_rng(2)
    for p in model.params.values():            # non-zero biases, so every path carries gradient
        p += 0.1 * rng.standard_normal(p.shape)
    x = (rng.uniform(size=(3, 6)) < 0.5).astype(np.float64)
    eps = model.draw_eps(3, 4)
    options = dict(eps=eps, objective=objective, kl=kl)
    model.loss_and_grads(x, **options)
    analytic = {k: g.copy() for k, g in model.grads.items()}
    a = np.concatenate([analytic[k].ravel() for k in model.params])
    n = np.concatenate([numerical_gradient(lambda _: model.forward(x, **options).loss, p).ravel()
                        for p in model.params.values()])
    assert relative_error(a, n) <= 1e-7


@pytest.mark.parametrize("posterior, sizes", [("full-gaussian", [3, 3, 3]), ("planar:1", [3, 3, 3, 3, 1])])
def test_the_encoder_outputs_the_familys_heads_and_reconstruct_uses_its_mean(posterior, sizes):
    model = VAE(6, [5], 3, seed=0, posterior=posterior)
    x = (np.random.default_rng(0).uniform(size=(4, 6)) < 0.5).astype(np.float32)
    heads = model.encode(x)
    assert [h.shape for h in heads] == [(4, s) for s in sizes]
    z, log_q, _ = model.posterior.rsample(heads, model.draw_eps(4, 2))
    assert z.shape == (2, 4, 3) and log_q.shape == (2, 4) and z.dtype == log_q.dtype == np.float32
    x_hat = model.reconstruct(x)
    assert x_hat.shape == (4, 6) and np.all((x_hat > 0) & (x_hat < 1))


def test_iaf_weights_are_model_parameters_and_float64_follows_the_model():
    model = VAE(6, [5], 2, seed=1, dtype="float64", posterior="iaf:2")
    names = [k for k in model.params if k.startswith("posterior.")]
    assert names and all(model.params[k].dtype == np.float64 for k in names)


def test_a_family_without_closed_form_kl_refuses_kl_analytic():
    model = VAE(6, [5], 2, posterior="planar:2", dtype="float64")
    x = (np.random.default_rng(0).uniform(size=(3, 6)) < 0.5).astype(np.float64)
    with pytest.raises(ValueError, match="no closed-form KL"):
        model.loss_and_grads(x, kl="analytic")


@pytest.mark.parametrize("posterior,objective,kl", [("full-gaussian", "elbo", "analytic"), ("full-gaussian", "elbo", "mc"),
                                                    ("full-gaussian", "iwae", "mc"), ("gaussian", "elbo", "analytic"),
                                                    ("planar:2", "elbo", "mc"), ("radial:2", "iwae", "mc"),
                                                    ("iaf:1", "elbo", "mc")])
def test_a_one_dimensional_latent_matches_finite_differences(posterior, objective, kl):
    """z_dim = 1: the full-covariance Gaussian's "tril" head has width K(K−1)/2 = 0, so one
    encoder head is an empty Dense layer; its backward must still run (and give an empty gradient)."""
    model = VAE(6, [5], 1, activation="tanh", seed=3, dtype="float64", posterior=posterior)
    rng = np.random.default_rng(4)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    x = (rng.uniform(size=(3, 6)) < 0.5).astype(np.float64)
    options = dict(eps=model.draw_eps(3, 4), objective=objective, kl=kl)
    model.loss_and_grads(x, **options)
    a = np.concatenate([model.grads[k].ravel() for k in model.params])
    n = np.concatenate([numerical_gradient(lambda _: model.forward(x, **options).loss, p).ravel()
                        for p in model.params.values()])
    assert a.size == n.size and a.size > 0
    assert relative_error(a, n) <= 1e-7


def test_a_one_dimensional_full_covariance_run_trains_resumes_and_evaluates(tmp_path):
    """The whole road at z_dim = 1, where one encoder head is empty: the optimizer's finiteness
    check and evaluate (with the local-inference gaps) handle a parameter of size 0."""
    from numpyvae.cli import main
    out = str(tmp_path / "run")
    assert main(["train", "--preset", "ring", "--hidden", "8", "--z-dim", "1", "--posterior", "full-gaussian",
                 "--epochs", "1", "--quiet", "--no-plots", "--out", out]) == 0
    assert main(["resume", out, "--epochs", "2", "--quiet", "--no-plots"]) == 0
    assert main(["evaluate", out, "--k", "5", "--gaps", "--quiet"]) == 0
