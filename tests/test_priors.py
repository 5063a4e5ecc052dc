"""Priors p(z): densities against independent formulas, float64 finite differences of every
gradient, normalization on a grid, exact sampling, and clear errors for bad input."""
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from numpyvae.latent.priors import (PRIORS, MixtureOfGaussians, StandardNormal, VampMixture,
                                    make_prior)
from numpyvae.teach.gradcheck import check_gradients, numerical_gradient, relative_error

TOL = 1e-7


def reference_mixture_log_prob(z, log_w, means, logvars):
    """log Σ_c w_c Π_k N(z_k; m_ck, σ_ck²), straight from scipy's univariate normal, one
    component at a time, with log-sum-exp by hand (independent of the library code)."""
    per_c = np.stack([log_w[c] + norm.logpdf(z, loc=means[c], scale=np.exp(0.5 * logvars[c])).sum(-1)
                      for c in range(means.shape[0])], axis=-1)
    top = per_c.max(-1, keepdims=True)
    return (top + np.log(np.exp(per_c - top).sum(-1, keepdims=True)))[..., 0]


def random_mog(z_dim, n_components, seed, dtype="float64"):
    """A MoG with non-trivial parameters: unequal weights and variances."""
    rng = np.random.default_rng(seed)
    prior = MixtureOfGaussians(z_dim, n_components, rng=rng, dtype=dtype)
    prior.params["means"][...] = rng.normal(scale=0.8, size=(n_components, z_dim))
    prior.params["logvars"][...] = rng.normal(scale=0.5, size=(n_components, z_dim))
    prior.params["logits"][...] = rng.normal(size=n_components)
    return prior


# ---- N(0, I) -------------------------------------------------------------------

def test_standard_normal_matches_scipy_and_keeps_shapes():
    z = np.random.default_rng(0).normal(size=(3, 4, 5))
    prior = StandardNormal(5)
    log_p, _ = prior.log_prob(z)
    assert log_p.shape == (3, 4)
    np.testing.assert_allclose(log_p, norm.logpdf(z).sum(-1), rtol=1e-13)
    log_p2, _ = prior.log_prob(z[0])
    assert log_p2.shape == (4,)
    assert prior.params == OrderedDict() and prior.grads == OrderedDict()


@pytest.mark.parametrize("shape", [(1, 3), (4, 3), (2, 1, 3), (3, 5, 3)])
def test_standard_normal_gradient_matches_finite_differences(shape):
    rng = np.random.default_rng(1)
    z, g = rng.normal(size=shape), rng.normal(size=shape[:-1])
    prior = StandardNormal(3)
    _, tape = prior.log_prob(z)
    dz = prior.backward(g, tape)
    numeric = numerical_gradient(lambda _: float(np.sum(g * prior.log_prob(z)[0])), z)
    assert relative_error(dz, numeric) <= TOL


def test_standard_normal_float32_and_samples():
    prior = StandardNormal(4)
    z = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    log_p, tape = prior.log_prob(z)
    assert log_p.dtype == np.float32
    assert prior.backward(np.ones(6, np.float32), tape).dtype == np.float32
    s = prior.sample(50_000, np.random.default_rng(3), "float32")
    assert s.shape == (50_000, 4) and s.dtype == np.float32
    assert np.abs(s.mean(0)).max() < 0.03 and np.abs(s.var(0) - 1).max() < 0.03
    np.testing.assert_array_equal(prior.sample(5, np.random.default_rng(7)), prior.sample(5, np.random.default_rng(7)))


# ---- mixture of Gaussians --------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 3), (2, 5, 3)])
def test_mog_log_prob_matches_an_independent_formula(shape):
    prior = random_mog(3, 4, seed=0)
    z = np.random.default_rng(1).normal(size=shape)
    log_p, _ = prior.log_prob(z)
    a = prior.params["logits"]
    log_w = a - np.log(np.exp(a).sum())
    ref = reference_mixture_log_prob(z, log_w, prior.params["means"], prior.params["logvars"])
    assert log_p.shape == shape[:-1]
    np.testing.assert_allclose(log_p, ref, rtol=1e-12)


@given(n=st.integers(1, 4), s=st.integers(1, 3), k=st.integers(1, 3), c=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_mog_gradients_match_finite_differences(n, s, k, c, seed):
    prior = random_mog(k, c, seed)
    rng = np.random.default_rng(seed + 1)
    z = rng.normal(size=(s, n, k))
    g = rng.normal(size=(s, n))                 # L = Σ g · log p(z)

    _, tape = prior.log_prob(z)
    dz = prior.backward(g, tape)
    analytic = {"z": dz, **{name: gr.copy() for name, gr in prior.grads.items()}}
    arrays = {"z": z, **prior.params}
    assert whole_gradient_error(lambda: float(np.sum(g * prior.log_prob(z)[0])), arrays, analytic) <= TOL


def whole_gradient_error(f, arrays, analytic):
    """Relative error of the whole gradient, every array's values in one vector.

    Per array it is ill-conditioned: the mixing logits' gradient sums to zero over the
    components and can be ~1e-8 of the others, where a central difference of the
    three-matmul quadratic form (see mixture_log_prob) measures float64 rounding
    (hypothesis found n=3, s=3, k=2, c=2, seed=18969: 3e-9 absolute, 2.6e-7 relative).
    A mistake in any array still shows above 1e-7 in the whole vector.
    """
    num = [numerical_gradient(lambda _: f(), a) for a in arrays.values()]
    return relative_error(np.concatenate([np.ravel(analytic[k]) for k in arrays]),
                          np.concatenate([n.ravel() for n in num]))


def test_mog_gradients_with_two_dimensional_z_and_many_components():
    prior = random_mog(2, 12, seed=5)
    rng = np.random.default_rng(6)
    z, g = 1.5 * rng.normal(size=(9, 2)), rng.normal(size=9)
    _, tape = prior.log_prob(z)
    analytic = {"z": prior.backward(g, tape), **{name: gr.copy() for name, gr in prior.grads.items()}}
    report = check_gradients(lambda: float(np.sum(g * prior.log_prob(z)[0])), {"z": z, **prior.params}, analytic)
    assert report.passed(TOL), str(report)


def test_mog_with_one_component_is_a_gaussian():
    rng = np.random.default_rng(2)
    prior = MixtureOfGaussians(3, 1, rng=rng, dtype="float64")
    m, s = rng.normal(size=3), rng.normal(size=3)
    prior.params["means"][0], prior.params["logvars"][0], prior.params["logits"][0] = m, s, 4.0
    z, g = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5))
    log_p, tape = prior.log_prob(z)
    np.testing.assert_allclose(log_p, norm.logpdf(z, m, np.exp(s / 2)).sum(-1), rtol=1e-12)
    dz = prior.backward(g, tape)
    np.testing.assert_allclose(dz, -g[..., None] * (z - m) * np.exp(-s), rtol=1e-10)
    assert prior.grads["logits"][0] == 0.0          # one weight, always 1


def test_mog_is_stable_far_from_every_component():
    prior = random_mog(2, 3, seed=3)
    z = np.array([[1e3, -1e3], [40.0, 40.0]])
    log_p, tape = prior.log_prob(z)
    assert np.isfinite(log_p).all()
    a = prior.params["logits"]
    ref = reference_mixture_log_prob(z, a - np.log(np.exp(a).sum()), prior.params["means"], prior.params["logvars"])
    np.testing.assert_allclose(log_p, ref, rtol=1e-9)
    assert np.isfinite(prior.backward(np.ones(2), tape)).all()


def test_mog_sample_moments_and_seeds():
    prior = MixtureOfGaussians(2, 3, dtype="float64")
    prior.params["means"][...] = [[-3.0, 0.0], [2.0, 1.0], [0.0, 4.0]]
    prior.params["logvars"][...] = np.log([[0.5, 1.0], [1.5, 0.2], [1.0, 1.0]])
    prior.params["logits"][...] = np.log([0.2, 0.5, 0.3])
    n = 200_000
    z = prior.sample(n, np.random.default_rng(0), "float64")
    assert z.shape == (n, 2) and z.dtype == np.float64
    pi = np.array([0.2, 0.5, 0.3])
    m, var = prior.params["means"], np.exp(prior.params["logvars"])
    mean = pi @ m                                   # E z = Σ π_c m_c
    second = pi @ (var + m ** 2)                    # E z² = Σ π_c (σ_c² + m_c²)
    total_var = second - mean ** 2
    se = np.sqrt(total_var / n)
    assert np.all(np.abs(z.mean(0) - mean) < 5 * se)
    np.testing.assert_allclose(z.var(0), total_var, rtol=0.02)
    np.testing.assert_array_equal(prior.sample(10, np.random.default_rng(4)), prior.sample(10, np.random.default_rng(4)))
    assert prior.sample(10, np.random.default_rng(4)).dtype == np.float32


def test_mog_float32_stays_float32_and_writes_grads_in_place():
    prior = MixtureOfGaussians(4, 5, rng=np.random.default_rng(0))       # float32 by default
    flat = np.zeros(sum(g.size for g in prior.grads.values()), np.float32)
    start = 0
    for name, g in list(prior.grads.items()):      # as a model packs them: views into one buffer
        prior.grads[name] = flat[start:start + g.size].reshape(g.shape)
        start += g.size
    z = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    log_p, tape = prior.log_prob(z)
    dz = prior.backward(np.full((2, 3), 0.5, np.float32), tape)
    assert log_p.dtype == np.float32 and dz.dtype == np.float32
    assert all(g.dtype == np.float32 for g in prior.grads.values())
    assert np.count_nonzero(flat) > 0.9 * flat.size


def test_backward_reads_only_its_tape():
    prior = random_mog(3, 4, seed=8)
    rng = np.random.default_rng(9)
    z1, z2, g = rng.normal(size=(5, 3)), rng.normal(size=(6, 3)), rng.normal(size=5)
    _, tape1 = prior.log_prob(z1)
    first = prior.backward(g, tape1), {k: v.copy() for k, v in prior.grads.items()}
    prior.log_prob(z2)                              # another forward in between
    second = prior.backward(g, tape1), prior.grads
    np.testing.assert_array_equal(first[0], second[0])
    for name in prior.grads:
        np.testing.assert_array_equal(first[1][name], second[1][name])


# ---- VampPrior's mixture ---------------------------------------------------------

def test_vamp_mixture_is_a_uniform_mog():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(6, 3)), 0.5 * rng.normal(size=(6, 3))
    z = rng.normal(size=(2, 4, 3))
    log_p, _ = VampMixture(3, 6, dtype="float64").given(mu, logvar).log_prob(z)
    ref = reference_mixture_log_prob(z, np.full(6, -np.log(6)), mu, logvar)
    np.testing.assert_allclose(log_p, ref, rtol=1e-12)


@pytest.mark.parametrize("shape,c", [((1, 2), 1), ((5, 2), 3), ((2, 3, 4), 7)])
def test_vamp_mixture_gradients_match_finite_differences(shape, c):
    rng = np.random.default_rng(c)
    k = shape[-1]
    mu, logvar = 0.7 * rng.normal(size=(c, k)), 0.5 * rng.normal(size=(c, k))
    z, g = rng.normal(size=shape), rng.normal(size=shape[:-1])
    prior = VampMixture(k, c, dtype="float64")
    density = prior.given(mu, logvar)
    _, tape = density.log_prob(z)
    dz = density.backward(g, tape)
    dmu, dlogvar = density.grads["mu"], density.grads["logvar"]
    report = check_gradients(lambda: float(np.sum(g * prior.given(mu, logvar).log_prob(z)[0])),
                             {"z": z, "mu": mu, "logvar": logvar}, {"z": dz, "mu": dmu, "logvar": dlogvar})
    assert report.passed(TOL), str(report)


def test_vamp_gradient_reaches_the_pseudo_inputs_through_an_encoder():
    """The wiring the model does: u -> toy encoder -> (mu, logvar) -> log p(z); du by the chain rule."""
    rng = np.random.default_rng(4)
    C, D, K = 4, 5, 2
    prior = VampMixture(K, C, x_dim=D, rng=rng, dtype="float64")
    prior.set_pseudo_inputs(rng.uniform(size=(C, D)))
    A, B = rng.normal(size=(D, K)), 0.3 * rng.normal(size=(D, K))
    u = prior.params["pseudo_inputs"]

    def encoder(u):                                # mu = tanh(u A), logvar = u B
        return np.tanh(u @ A), u @ B

    z, g = rng.normal(size=(3, 2, K)), rng.normal(size=(3, 2))
    mu, logvar = encoder(prior.params[prior.encoded])
    density = prior.given(mu, logvar)
    _, tape = density.log_prob(z)
    dz = density.backward(g, tape)
    dmu, dlogvar = density.grads.values()
    du = (dmu * (1 - mu ** 2)) @ A.T + dlogvar @ B.T
    report = check_gradients(lambda: float(np.sum(g * prior.given(*encoder(u)).log_prob(z)[0])),
                             {"pseudo_inputs": u, "z": z}, {"pseudo_inputs": du, "z": dz})
    assert report.passed(TOL), str(report)


def test_vamp_samples_are_reproducible_and_near_the_components():
    mu, logvar = np.array([[-5.0, 0.0], [5.0, 0.0]]), np.full((2, 2), np.log(0.01))
    prior = VampMixture(2, 2)
    z = prior.given(mu, logvar).sample(4000, np.random.default_rng(0), "float64")
    assert z.shape == (4000, 2)
    left = z[:, 0] < 0
    assert abs(left.mean() - 0.5) < 0.04           # uniform weights
    assert np.abs(z[left] - mu[0]).max() < 0.6 and np.abs(z[~left] - mu[1]).max() < 0.6
    np.testing.assert_array_equal(prior.given(mu, logvar).sample(3, np.random.default_rng(1)),
                                  prior.given(mu, logvar).sample(3, np.random.default_rng(1)))


# ---- every density integrates to one -------------------------------------------

def _grid_integral(log_density):
    h = 0.05
    t = np.arange(-12.0, 12.0 + h / 2, h)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    return float(np.exp(log_density(grid)).sum() * h * h)


def test_densities_integrate_to_one_on_a_2d_grid():
    mog = random_mog(2, 5, seed=11)
    rng = np.random.default_rng(12)
    mu, logvar = rng.normal(size=(3, 2)), 0.4 * rng.normal(size=(3, 2))
    vamp = VampMixture(2, 3, dtype="float64")
    assert _grid_integral(lambda z: StandardNormal(2).log_prob(z)[0]) == pytest.approx(1.0, abs=1e-6)
    assert _grid_integral(lambda z: mog.log_prob(z)[0]) == pytest.approx(1.0, abs=1e-6)
    assert _grid_integral(lambda z: vamp.given(mu, logvar).log_prob(z)[0]) == pytest.approx(1.0, abs=1e-6)


# ---- by name, and bad input --------------------------------------------------------

def test_make_prior_builds_each_kind():
    assert isinstance(make_prior("standard", 3), StandardNormal)
    mog = make_prior("mog:7", 3, rng=np.random.default_rng(0), dtype="float64")
    assert isinstance(mog, MixtureOfGaussians) and mog.params["means"].shape == (7, 3)
    assert list(mog.params) == ["means", "logvars", "logits"] and mog.params["means"].dtype == np.float64
    assert [g.shape for g in mog.grads.values()] == [p.shape for p in mog.params.values()]
    vamp = make_prior("vamp:5", 3, x_dim=10)
    assert isinstance(vamp, VampMixture) and vamp.params["pseudo_inputs"].shape == (5, 10)
    assert vamp.grads["pseudo_inputs"].shape == (5, 10)
    assert set(PRIORS) == {"standard", "mog", "vamp", "categorical"}


@pytest.mark.parametrize("name,match", [
    ("gauss", "unknown prior 'gauss'"), ("mog", "needs a number of components"),
    ("mog:0", "integer >= 1"), ("mog:x", "integer >= 1"), ("vamp:-3", "integer >= 1"), ("mog:2.5", "integer >= 1"),
    ("mog:", "integer >= 1"), ("standard:3", "takes no number of components"), ("vamp:5", "needs x_dim"),
])
def test_make_prior_rejects_bad_names(name, match):
    with pytest.raises(ValueError, match=match):
        make_prior(name, 3)


def test_make_prior_rejects_non_strings_and_bad_sizes():
    with pytest.raises(TypeError, match="name must be a string"):
        make_prior(5, 3)
    with pytest.raises(ValueError, match="z_dim must be an integer >= 1"):
        make_prior("mog:3", 0)


def test_bad_input_is_refused_with_a_clear_message():
    mog = random_mog(3, 2, seed=0)
    with pytest.raises(ValueError, match="MixtureOfGaussians.log_prob: z must have 3 features"):
        mog.log_prob(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="z must have 2 or 3 dimensions"):
        mog.log_prob(np.zeros(3))
    with pytest.raises(ValueError, match="z has dtype float32 but this model uses float64"):
        mog.log_prob(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        StandardNormal(3).log_prob(np.full((2, 3), np.nan))
    _, tape = mog.log_prob(np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match=r"dlog_p must have log_p's shape \(2, 4\)"):
        mog.backward(np.zeros(8), tape)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        mog.sample(3, 0)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        StandardNormal(3).sample(-1, np.random.default_rng(0))
    vamp = VampMixture(3, 2, dtype="float64")
    with pytest.raises(ValueError, match="mu and logvar must have the same shape"):
        vamp.given(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"one row per component \(2\), got 3"):
        vamp.given(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"hand them over first: prior.given\(mu_u, logvar_u\).log_prob"):
        vamp.log_prob(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="has no pseudo-inputs"):
        vamp.set_pseudo_inputs(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"u must have shape \(2, 5\)"):
        VampMixture(3, 2, x_dim=5).set_pseudo_inputs(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        MixtureOfGaussians(2, 0)
    with pytest.raises(ValueError, match="unsupported dtype"):
        MixtureOfGaussians(2, 2, dtype="int32")
