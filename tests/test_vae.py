"""The whole VAE: finite-difference gradients over every configuration, values, bounds, bad input."""
import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from numpyvae import VAE
from numpyvae.teach.gradcheck import relative_error

LIKELIHOODS = ["bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"]
N, D, K = 3, 5, 2


def tiny_vae(likelihood, seed=0):
    model = VAE(D, [4], K, likelihood=likelihood, activation="tanh", seed=seed, dtype="float64")
    # nonzero biases, so db is exercised; small, so tanh stays in its smooth range
    model.flat_params[:] += 0.05 * np.random.default_rng(seed + 7).standard_normal(model.flat_params.size)
    return model


def data(seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(N, D))


def fd_over_all_params(model, loss, h=1e-6):
    """Our own central-difference loop over every value in the flat buffer."""
    theta = model.flat_params
    num = np.empty_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + h
        up = loss()
        theta[i] = old - h
        down = loss()
        theta[i] = old
        num[i] = (up - down) / (2 * h)
    return num


CONFIGS = [(lik, kl, S, obj) for lik, kl, S, obj in itertools.product(
    LIKELIHOODS, ["analytic", "mc"], [1, 3], ["elbo", "iwae"]) if not (obj == "iwae" and kl == "analytic")]


@pytest.mark.parametrize("likelihood,kl,S,objective", CONFIGS)
def test_whole_model_gradient_matches_finite_differences(likelihood, kl, S, objective):
    model, x = tiny_vae(likelihood), data()
    k = 5 if objective == "iwae" else S
    eps = np.random.default_rng(1).standard_normal((k, N, K))
    opts = dict(kl=kl, objective=objective, beta=1.0 if objective == "iwae" else 0.7)
    _, grads = model.loss_and_grads(x, eps, **opts)
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, **opts)[0])
    assert relative_error(analytic, numeric) <= 1e-6
    for name in grads:  # and no single parameter hides behind the big ones
        sl = model.params[name]
        off = (sl.__array_interface__["data"][0] - model.flat_params.__array_interface__["data"][0]) // 8
        assert relative_error(analytic[off:off + sl.size], numeric[off:off + sl.size]) <= 1e-6, name


PRIOR_PARAMS = {"mog:3": ("prior.means", "prior.logvars", "prior.logits"), "vamp:3": ("prior.pseudo_inputs",)}


@pytest.mark.parametrize("prior", sorted(PRIOR_PARAMS))
@pytest.mark.parametrize("objective,hidden_dec", [("elbo", [5]), ("iwae", [3, 4])])
def test_whole_model_with_a_learned_prior_and_its_own_decoder_sizes(prior, objective, hidden_dec):
    """Prior parameters (a mixture's, or the VampPrior's pseudo-inputs, which reach the loss through
    the encoder a second time) live in the flat buffer and get their gradient; the decoder need not mirror."""
    model = VAE(D, [4], K, activation="tanh", seed=0, dtype="float64", prior=prior, hidden_dec=hidden_dec)
    model.flat_params[:] += 0.05 * np.random.default_rng(7).standard_normal(model.flat_params.size)
    assert set(PRIOR_PARAMS[prior]) <= set(model.params)
    assert model.params["decoder.0.W"].shape == (K, hidden_dec[0])
    x = data()
    eps = np.random.default_rng(1).standard_normal((3, N, K))
    _, grads = model.loss_and_grads(x, eps, objective=objective)     # no closed-form KL: Monte Carlo
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, objective=objective)[0])
    assert relative_error(analytic, numeric) <= 1e-6
    for name in PRIOR_PARAMS[prior] + ("encoder.0.W", "encoder.mu.b"):
        sl = model.params[name]
        off = (sl.__array_interface__["data"][0] - model.flat_params.__array_interface__["data"][0]) // 8
        assert relative_error(analytic[off:off + sl.size], numeric[off:off + sl.size]) <= 1e-6, name


def test_a_pair_without_closed_form_kl_refuses_kl_analytic():
    model = VAE(D, [4], K, prior="mog:2", dtype="float64")
    with pytest.raises(ValueError, match="no closed-form KL; use kl='mc'"):
        model.loss_and_grads(data(), kl="analytic")


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("objective,alpha", [("vr", 0.5), ("vr", -0.7), ("vr-max", None)])
def test_whole_model_gradient_for_renyi_bounds(likelihood, objective, alpha):
    model, x = tiny_vae(likelihood), data()
    eps = np.random.default_rng(4).standard_normal((4, N, K))
    opts = dict(objective=objective, alpha=alpha)
    model.loss_and_grads(x, eps, **opts)
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, **opts)[0])
    assert relative_error(analytic, numeric) <= 1e-6


def test_vr_with_alpha_zero_is_iwae_and_bad_options_are_refused():
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(5).standard_normal((3, N, K))
    assert model.loss_and_grads(x, eps, objective="vr", alpha=0.0)[0] == pytest.approx(
        model.loss_and_grads(x, eps, objective="iwae")[0], rel=1e-12)
    with pytest.raises(ValueError, match="needs alpha"):
        model.loss_and_grads(x, eps, objective="vr")
    with pytest.raises(ValueError, match="use the ELBO"):
        model.loss_and_grads(x, eps, objective="vr", alpha=1.0)
    with pytest.raises(ValueError, match="k >= 2"):
        model.loss_and_grads(x, eps[:1], objective="vr-max")
    with pytest.raises(ValueError, match="takes none"):
        model.loss_and_grads(x, eps, objective="iwae", alpha=0.5)


def test_iwae_with_one_sample_is_the_elbo_with_monte_carlo_kl():
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(2).standard_normal((1, N, K))
    l1, g1 = model.loss_and_grads(x, eps, objective="iwae")
    g1 = model.flat_grads.copy()
    l2, _ = model.loss_and_grads(x, eps, objective="elbo", kl="mc")
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, model.flat_grads, rtol=1e-10, atol=1e-14)


def manual_elbo(model, x, eps):
    """The Bernoulli ELBO (analytic KL) written from scratch from the weight dict."""
    p = model.params
    h = np.tanh(x @ p["encoder.0.W"] + p["encoder.0.b"])
    mu = h @ p["encoder.mu.W"] + p["encoder.mu.b"]
    lv = h @ p["encoder.logvar.W"] + p["encoder.logvar.b"]
    z = mu + np.exp(lv / 2) * eps
    hd = np.tanh(z @ p["decoder.0.W"] + p["decoder.0.b"])
    rho = expit(hd @ p["decoder.out.W"] + p["decoder.out.b"])
    log_px = np.sum(x * np.log(rho) + (1 - x) * np.log(1 - rho), axis=-1)      # (S, N)
    kl = 0.5 * np.sum(mu**2 + np.exp(lv) - 1 - lv, axis=-1)                   # (N,)
    return log_px, kl, mu, lv, z


def test_loss_value_matches_a_manual_forward_pass():
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(3).standard_normal((4, N, K))
    log_px, kl, *_ = manual_elbo(model, x, eps)
    loss, _ = model.loss_and_grads(x, eps, beta=0.5)
    assert loss == pytest.approx(-np.mean(log_px.mean(0) - 0.5 * kl), rel=1e-12)
    assert model.last_parts["recon"] == pytest.approx(-log_px.mean(), rel=1e-12)
    assert model.last_parts["kl"] == pytest.approx(kl.mean(), rel=1e-12)


def test_iwae_value_matches_a_manual_computation():
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(4).standard_normal((5, N, K))
    log_px, _, mu, lv, z = manual_elbo(model, x, eps)
    log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), -1)
    log_qz = -0.5 * np.sum((z - mu) ** 2 / np.exp(lv) + lv + np.log(2 * np.pi), -1)
    want = -np.mean(logsumexp(log_px + log_pz - log_qz, axis=0) - np.log(5))
    assert model.loss_and_grads(x, eps, objective="iwae")[0] == pytest.approx(want, rel=1e-12)


def test_iwae_bound_is_tighter_and_grows_with_k():
    """E[L_k] ≥ E[L_1] = ELBO (MC KL), non-decreasing in k: averaged over many replicates of x."""
    model = tiny_vae("bernoulli")
    x = np.repeat(data(), 2000, axis=0)
    bounds = []
    for k in (1, 2, 5, 20):
        model.rng = np.random.default_rng(10 + k)
        bounds.append(-model.loss_and_grads(x, n_samples=k, objective="iwae")[0])
    assert all(b2 > b1 for b1, b2 in zip(bounds, bounds[1:])), bounds
    elbo = -model.loss_and_grads(x, objective="elbo")[0]      # analytic KL
    assert bounds[-1] > elbo


def test_same_inputs_same_bits_and_seeded_noise():
    x = data()
    a, b = tiny_vae("continuous-bernoulli"), tiny_vae("continuous-bernoulli")
    la, _ = a.loss_and_grads(x, n_samples=2)
    lb, _ = b.loss_and_grads(x, n_samples=2)
    assert la == lb and np.array_equal(a.flat_grads, b.flat_grads)
    eps = a.draw_eps(N, 2)
    assert a.loss_and_grads(x, eps)[0] == a.loss_and_grads(x, eps)[0]


def test_float32_model_stays_float32():
    model = VAE(D, [4], K, seed=0)
    x = data().astype(np.float32)
    model.loss_and_grads(x, n_samples=2)
    assert all(g.dtype == np.float32 for g in model.grads.values())
    assert all(v.dtype == np.float32 for v in model.last_tape.values() if isinstance(v, np.ndarray))


def test_parameter_names_and_shapes():
    model = VAE(784, [500, 300], 20, likelihood="gaussian-learned")
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes["encoder.0.W"] == (784, 500) and shapes["encoder.1.W"] == (500, 300)
    assert shapes["encoder.mu.W"] == (300, 20) and shapes["encoder.logvar.b"] == (20,)
    assert shapes["decoder.0.W"] == (20, 300) and shapes["decoder.1.W"] == (300, 500)
    assert shapes["decoder.out.W"] == (500, 784) and shapes["decoder.logvar.W"] == (500, 784)
    assert list(model.grads) == list(model.params)


def test_pieces_for_tutorials():
    model = VAE(D, [4], K, seed=0)
    x = data().astype(np.float32)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (N, K)
    assert model.decode(mu)[0].shape == (N, D)
    r = model.reconstruct(x)
    assert r.shape == (N, D) and ((r > 0) & (r < 1)).all()
    s = model.sample(6)
    assert s.shape == (6, D)
    drawn = model.sample(6, mean=False)
    assert set(np.unique(drawn)) <= {0.0, 1.0}


# ---- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous-bernoulli"])
def test_x_outside_unit_interval(likelihood):
    model = VAE(D, [4], K, likelihood=likelihood)
    x = data().astype(np.float32) * 255
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.loss_and_grads(x)


def test_gaussian_accepts_any_real_x():
    model = VAE(D, [4], K, likelihood="gaussian")
    loss, _ = model.loss_and_grads((data() * 10 - 5).astype(np.float32))
    assert np.isfinite(loss)


def test_nan_and_inf_in_x():
    model = VAE(D, [4], K)
    for bad in (np.nan, np.inf):
        x = data().astype(np.float32)
        x[0, 0] = bad
        with pytest.raises(ValueError, match="non-finite"):
            model.loss_and_grads(x)


def test_wrong_feature_count():
    with pytest.raises(ValueError, match=f"must have {D} features"):
        VAE(D, [4], K).loss_and_grads(np.zeros((N, D + 1), np.float32))


def test_eps_of_wrong_shape():
    model, x = VAE(D, [4], K), data().astype(np.float32)
    with pytest.raises(ValueError, match="eps must have shape"):
        model.loss_and_grads(x, np.zeros((2, N + 1, K), np.float32))
    with pytest.raises(ValueError, match=f"{K} features"):
        model.loss_and_grads(x, np.zeros((2, N, K + 1), np.float32))


@pytest.mark.parametrize("opts,match", [
    (dict(beta=-0.1), "beta"), (dict(beta=float("nan")), "beta"),
    (dict(n_samples=0, objective="iwae"), "n_samples"), (dict(objective="vr"), "objective"),
    (dict(objective="iwae", kl="analytic"), "kl='mc'"), (dict(kl="exact"), "kl must be"),
    (dict(objective="iwae", beta=2.0), "beta = 1"),
])
def test_bad_options(opts, match):
    with pytest.raises(ValueError, match=match):
        VAE(D, [4], K).loss_and_grads(data().astype(np.float32), **opts)


def test_unknown_likelihood():
    with pytest.raises(ValueError, match="bernoulli"):
        VAE(D, [4], K, likelihood="poisson")


def test_backward_needs_the_tape_of_a_forward():
    with pytest.raises(TypeError, match="tape forward returned"):
        VAE(D, [4], K).backward(None)


def test_forward_alone_gives_the_same_loss_and_per_example_bound():
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(5).standard_normal((2, N, K))
    tape = model.forward(x, eps)
    assert tape["bound"].shape == (N,)
    assert tape.loss == model.loss_and_grads(x, eps)[0] == pytest.approx(-tape["bound"].mean())


# ---- the forward/backward contract: the two traps of issue 11 ------------------------------

def _grads(model, x, eps):
    _, grads = model.loss_and_grads(x, eps)
    return {k: g.copy() for k, g in grads.items()}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian-learned"])
def test_another_call_between_forward_and_backward_changes_nothing(likelihood):
    """m.forward(x1); m.encode(x2); m.forward(x2); m.backward(tape of x1) gives x1's gradients."""
    model = tiny_vae(likelihood)
    rng = np.random.default_rng(11)
    x1, x2 = data(), np.clip(data()[::-1] * 0.5 + 0.25, 0, 1)
    eps = rng.standard_normal((2, N, K))
    want = _grads(model, x1, eps)
    tape = model.forward(x1, eps)
    model.encode(x2)
    model.decode(rng.standard_normal((N, K)))
    model.forward(x2, eps[::-1].copy())
    model.sample(3)
    got = model.backward(tape)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_changing_x_or_eps_in_place_after_forward_changes_nothing():
    """m.forward(x, eps); x[:] = 0; eps[:] = 0; m.backward(tape): the tape owns copies of both."""
    model, x = tiny_vae("bernoulli"), data()
    eps = np.random.default_rng(12).standard_normal((2, N, K))
    want = _grads(model, x, eps)
    tape = model.forward(x, eps)
    x[:] = 0
    eps[:] = 0
    got = model.backward(tape)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_the_trainers_reused_batch_buffer_is_safe():
    """The trainer writes each batch into one buffer: a step's tape does not see the next batch."""
    model, x = tiny_vae("bernoulli"), data()
    buf = x.copy()
    eps = np.random.default_rng(13).standard_normal((2, N, K))
    want = _grads(model, x, eps)
    tape = model.forward(buf, eps)
    buf[...] = x[::-1]                                    # the next batch, written into the same buffer
    got = model.backward(tape)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# ---- bad input to the model's API (issue 15, item 8): clear one-line errors -----------------

def test_an_empty_batch_is_refused_by_name():
    with pytest.raises(ValueError, match=r"x has no rows \(shape \(0, \d+\)\)"):
        VAE(D, [4], K, dtype="float64").loss_and_grads(np.zeros((0, D)))


@pytest.mark.parametrize("beta", ["1", True, None, [1.0]])
def test_a_beta_that_is_not_a_number_is_refused(beta):
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        VAE(D, [4], K, dtype="float64").loss_and_grads(data(), beta=beta)


def test_hidden_sizes_an_int_is_one_layer_and_other_types_are_refused():
    assert VAE(D, 8, K).hidden == [8]
    with pytest.raises(TypeError, match=r"hidden must be a list of layer sizes such as \[400\], got str"):
        VAE(D, "8", K)


@pytest.mark.parametrize("make", [lambda x: np.asmatrix(x), lambda x: np.ma.masked_array(x)],
                         ids=["matrix", "masked"])
def test_matrix_and_masked_arrays_are_refused_at_the_door(make):
    with pytest.raises(TypeError, match=r"must be a plain numpy array.*np.asarray\(x\)"):
        VAE(D, [4], K, dtype="float64").loss_and_grads(make(data()))


def test_sample_with_a_seed_instead_of_a_generator_says_so():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        VAE(D, [4], K).sample(3, rng=42)


def test_the_gaussian_helpers_check_their_shapes():
    from numpyvae.latent.gaussian import reparameterize, reparameterize_backward
    from numpyvae.latent.kl import kl_analytic
    with pytest.raises(ValueError, match="reparameterize: mu"):
        reparameterize(np.zeros((3, 2)), np.zeros((3, 4)), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="reparameterize_backward"):
        reparameterize_backward(np.zeros((1, 3, 2)), np.zeros((1, 3, 4)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="kl_analytic: mu"):
        kl_analytic(np.zeros((3, 2)), np.zeros((2, 3)))


@pytest.mark.parametrize("logvar,what", [(100.0, r"the loss, inf,"), (200.0, "z")])
def test_a_loss_that_overflows_is_an_error_that_names_the_encoder_outputs(logvar, what):
    """An encoder log-variance of 100 overflows float32's exp in the KL (200: already in z): a clear
    error, not loss = inf and NaN gradients."""
    model = VAE(D, [4], K)
    model.params["encoder.logvar.b"][:] = logvar
    with pytest.raises(ValueError, match=rf"{what} is not finite \(mu within .*logvar within \[.*\]\).*diverged"):
        model.loss_and_grads(data().astype(np.float32))
