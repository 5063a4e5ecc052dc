"""The VR, VR-max, CUBO and CUBO-surrogate bounds: gradients by finite differences, limits, and the sandwich.

The sandwich is checked on a linear-Gaussian model where everything is exact:

    p(z) = N(0, I_K),   p(x|z) = N(A z + b, σ² I_D)   =>   p(x) = N(b, A Aᵀ + σ² I),
    p(z|x) = N(m, Σ),   Σ = (I + AᵀA/σ²)⁻¹,   m = Σ Aᵀ (x − b)/σ²,

with q(z|x) = N(μ, s² I) deliberately wrong (shifted mean, a spherical covariance broader than the
correlated posterior). Closed forms written here from these formulas:

    E_q[ELBO] = log p(x) − KL(q || p(z|x))
    CUBO₂ (exact) = ½ log E_q[w²] = log p(x) + ½ log ∫ N(z; m, Σ)² / N(z; μ, S) dz.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from numpyvae.bounds import CUBO, VR, CUBOSurrogate, VRMax
from numpyvae.measure.sandwich import sandwich
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

ALPHAS = [-3.0, -1.0, -0.5, 0.0, 0.3, 0.9, 1.5, 3.0]
shapes = st.tuples(st.integers(2, 6), st.integers(1, 4))       # (k, N): batch 1 included
seeds = st.integers(0, 2**32 - 1)


def random_log_w(shape, seed, spread=4.0):
    """Log weights like a model's: around −20, several nats apart."""
    return -20.0 + spread * np.random.default_rng(seed).standard_normal(shape)


def own_iwae(log_w):
    """log (1/k) Σ_s w_s, written out with the max shifted out by hand."""
    m = log_w.max(axis=0)
    return m + np.log(np.mean(np.exp(log_w - m), axis=0))


# ---------------------------------------------------------------- gradients against finite differences

def fd_check(bound, log_w):
    _, tape = bound.forward(log_w)
    c = bound.weights(tape)
    numeric = numerical_gradient(lambda lw: bound.forward(lw)[0].mean(), log_w)
    return relative_error(c, numeric)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=seeds, alpha=st.sampled_from(ALPHAS))
def test_vr_weights_match_finite_differences(shape, seed, alpha):
    assert fd_check(VR(alpha), random_log_w(shape, seed)) <= 1e-7


@settings(max_examples=20, deadline=None)
@given(shape=shapes, seed=seeds, n=st.sampled_from([1.5, 2, 3]))
def test_cubo_weights_match_finite_differences(shape, seed, n):
    assert fd_check(CUBO(n), random_log_w(shape, seed)) <= 1e-7


@settings(max_examples=20, deadline=None)
@given(shape=shapes, seed=seeds)
def test_vr_max_weights_match_finite_differences(shape, seed):
    log_w = random_log_w(shape, seed)
    top2 = np.sort(log_w, axis=0)[-2:]
    assume((top2[1] - top2[0]).min() > 1e-3)           # away from ties the max is differentiable
    assert fd_check(VRMax(), log_w) <= 1e-7


@settings(max_examples=20, deadline=None)
@given(shape=shapes, seed=seeds, n=st.sampled_from([1.5, 2, 3]))
def test_cubo_surrogate_weights_match_finite_differences_with_the_shift_held(shape, seed, n):
    log_w = random_log_w(shape, seed)
    shift = log_w.max(axis=0).copy()                   # Dieng et al.'s constant, frozen at the current point

    def surrogate(lw):                                  # mean_n (1/k) Σ_s exp(n (log w − shift)), written here
        return np.mean(np.exp(n * (lw - shift)))

    bound = CUBOSurrogate(n)
    value, tape = bound.forward(log_w)
    assert value.mean() == pytest.approx(surrogate(log_w), rel=1e-14)
    assert relative_error(bound.weights(tape), numerical_gradient(surrogate, log_w)) <= 1e-7


@settings(max_examples=20, deadline=None)
@given(shape=shapes, seed=seeds, n=st.sampled_from([1.5, 2, 3]))
def test_cubo_surrogate_is_exp_of_cubo_and_descends_in_cubos_direction(shape, seed, n):
    log_w = random_log_w(shape, seed)
    cubo, cubo_tape = CUBO(n).forward(log_w)
    L, tape = CUBOSurrogate(n).forward(log_w)
    k = shape[0]
    assert ((L >= 1 / k - 1e-15) & (L <= 1 + 1e-15)).all()
    np.testing.assert_allclose(tape[1] + np.log(L) / n, cubo, rtol=1e-13)          # CUBO = m + (1/n) log L
    # per example the surrogate's gradient is CUBO's times n L_n > 0
    np.testing.assert_allclose(CUBOSurrogate(n).weights(tape), n * L * CUBO(n).weights(cubo_tape), rtol=1e-12)


# ---------------------------------------------------------------- limits and orderings (hypothesis)

@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=seeds, spread=st.floats(0.01, 30))
def test_vr_at_alpha_zero_is_iwae(shape, seed, spread):
    log_w = random_log_w(shape, seed, spread)
    bound, tape = VR(0.0).forward(log_w)
    np.testing.assert_allclose(bound, own_iwae(log_w), rtol=1e-13)
    w = np.exp(log_w - log_w.max(axis=0))
    np.testing.assert_allclose(VR(0).weights(tape), w / w.sum(axis=0) / shape[1], rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=seeds, spread=st.floats(0.01, 30), side=st.sampled_from([-1.0, 1.0]))
def test_vr_near_alpha_one_approaches_the_mean_of_log_w(shape, seed, spread, side):
    """L_α = mean log w + ½ (1−α) Var_s log w + O((1−α)²): within (1−α)·Var of the ELBO's estimate."""
    log_w = random_log_w(shape, seed, spread)
    one_minus_alpha = side * 1e-6
    bound, tape = VR(1.0 - one_minus_alpha).forward(log_w)
    mean, var = log_w.mean(axis=0), log_w.var(axis=0)
    assert (np.abs(bound - mean) <= 1e-6 * var + 1e-8).all()
    assert (side * (bound - mean) >= -1e-8).all()      # above the mean for α < 1, below for α > 1
    np.testing.assert_allclose(VR(1.0 - one_minus_alpha).weights(tape), 1.0 / (shape[0] * shape[1]), rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, seed=seeds, spread=st.floats(0.01, 30))
def test_the_family_is_ordered_like_power_means(shape, seed, spread):
    log_w = random_log_w(shape, seed, spread)
    k = shape[0]
    alphas = [-50.0, -3.0, -1.0, 0.0, 0.5, 0.99, 1.01, 2.0, 5.0]
    values = np.array([VR(a).forward(log_w)[0] for a in alphas])
    assert (np.diff(values, axis=0) <= 1e-12 * np.abs(values[1:]).max()).all()     # non-increasing in α
    vr_max = VRMax().forward(log_w)[0]
    np.testing.assert_array_equal(vr_max, log_w.max(axis=0))
    # L_α = max + (log Σ e^{p(log w − max)} − log k)/p lies in [max − log k / p, max] for p = 1 − α > 0
    assert (values[0] <= vr_max + 1e-12).all() and (values[0] >= vr_max - math.log(k) / 51 - 1e-12).all()
    np.testing.assert_allclose(CUBO(2).forward(log_w)[0], VR(-1.0).forward(log_w)[0], rtol=1e-14)


@pytest.mark.parametrize("bound", [VR(0.5), VR(-1), VRMax(), CUBO(2), CUBOSurrogate(2)], ids=repr)
def test_float32_stays_float32_and_agrees_with_float64(bound):
    log_w = random_log_w((5, 3), 0)
    v64, t64 = bound.forward(log_w)
    v32, t32 = bound.forward(log_w.astype(np.float32))
    c32 = bound.weights(t32)
    assert v32.dtype == np.float32 and c32.dtype == np.float32 and c32.shape == (5, 3)
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
    np.testing.assert_allclose(c32, bound.weights(t64), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(bound.weights(t64), bound.weights(t64))   # weights leave the tape intact


@pytest.mark.parametrize("bound", [VR(0.5), VR(-2), VRMax(), CUBO(2)], ids=repr)
def test_weights_of_each_example_sum_to_one_over_n(bound):
    c = bound.weights(bound.forward(random_log_w((7, 4), 1))[1])
    np.testing.assert_allclose(c.sum(axis=0), 0.25, rtol=1e-12)
    assert (c >= 0).all()


# ---------------------------------------------------------------- the sandwich on a model with exact log p(x)

D, K, SIGMA = 4, 2, 0.5


def linear_gaussian(seed=0, n_data=3):
    """A, b, data x (n_data, D), the exact posterior (m (n, K), Σ), and a wrong q: μ (n, K), s²."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((D, K))                            # generic columns: a correlated posterior
    b = rng.standard_normal(D)
    x = rng.standard_normal((n_data, K)) @ A.T + b + SIGMA * rng.standard_normal((n_data, D))
    cov = np.linalg.inv(np.eye(K) + A.T @ A / SIGMA ** 2)
    m = (x - b) @ A @ cov / SIGMA ** 2
    mu_q = m + np.array([0.3, -0.2])
    s2 = 1.5 * np.linalg.eigvalsh(cov).max()                   # broader than the posterior: E_q[w⁴] < ∞
    return A, b, x, m, cov, mu_q, s2


def log_p_x(A, b, x):
    return multivariate_normal(mean=b, cov=A @ A.T + SIGMA ** 2 * np.eye(D)).logpdf(x)


def log_weights(A, b, x, mu_q, s2, n_samples, rng):
    """log w (n_samples, N) = log p(x|z) + log p(z) − log q(z|x) at z = μ + s ε."""
    eps = rng.standard_normal((n_samples, len(x), K))
    z = mu_q + math.sqrt(s2) * eps
    r = x - z @ A.T - b
    log_lik = -0.5 * ((r ** 2).sum(-1) / SIGMA ** 2 + D * math.log(2 * math.pi * SIGMA ** 2))
    log_prior = -0.5 * ((z ** 2).sum(-1) + K * math.log(2 * math.pi))
    log_q = -0.5 * ((eps ** 2).sum(-1) + K * math.log(2 * math.pi * s2))
    return log_lik + log_prior - log_q


def expected_elbo(A, b, x, m, cov, mu_q, s2):
    """log p(x) − KL(N(μ, s² I) || N(m, Σ)), per example."""
    prec = np.linalg.inv(cov)
    d = m - mu_q
    kl = 0.5 * (s2 * np.trace(prec) + np.einsum("nk,kl,nl->n", d, prec, d) - K
                + np.linalg.slogdet(cov)[1] - K * math.log(s2))
    return log_p_x(A, b, x) - kl


def exact_cubo2(A, b, x, m, cov, mu_q, s2):
    """½ log E_q[w²] = log p(x) + ½ log ∫ N(z; m, Σ)² / N(z; μ, S) dz, S = s² I, per example.

    With Λ = Σ⁻¹, Ψ = S⁻¹ the integrand is a Gaussian kernel exp(−½ zᵀPz + hᵀz + c),
    P = 2Λ − Ψ, h = 2Λm − Ψμ, c = −mᵀΛm + ½ μᵀΨμ, so the integral is
    (2π)^{-K/2} |Σ|⁻¹ |S|^{½} · (2π)^{K/2} |P|^{-½} exp(½ hᵀP⁻¹h + c).
    """
    lam, psi = np.linalg.inv(cov), np.eye(K) / s2
    P = 2 * lam - psi
    h = m @ (2 * lam) - mu_q @ psi
    c = -np.einsum("nk,kl,nl->n", m, lam, m) + 0.5 * np.einsum("nk,kl,nl->n", mu_q, psi, mu_q)
    log_integral = (-np.linalg.slogdet(cov)[1] + 0.5 * K * math.log(s2) - 0.5 * np.linalg.slogdet(P)[1]
                    + 0.5 * np.einsum("nk,kl,nl->n", h, np.linalg.inv(P), h) + c)
    return log_p_x(A, b, x) + 0.5 * log_integral


def draws_as_examples(log_w, k):
    """(R·k, N) independent log weights -> (k, R·N): R independent k-sample estimates per example."""
    R = log_w.shape[0] // k
    return log_w.reshape(R, k, -1).transpose(1, 0, 2).reshape(k, -1)


def mean_and_se(bound, log_w, k, n_data):
    """The bound averaged over repeated k-sample draws, per example, and its standard error."""
    values = bound.forward(draws_as_examples(log_w, k))[0].reshape(-1, n_data)
    return values.mean(axis=0), values.std(axis=0) / math.sqrt(len(values))


def test_exact_posterior_makes_every_bound_log_p_x():
    A, b, x, m, cov, _, _ = linear_gaussian(seed=1)
    # q = p(z|x) is not spherical, so draw from it directly: every weight equals p(x)
    rng = np.random.default_rng(0)
    z = m + rng.standard_normal((8, len(x), K)) @ np.linalg.cholesky(cov).T
    r = x - z @ A.T - b
    log_joint = (-0.5 * ((r ** 2).sum(-1) / SIGMA ** 2 + D * math.log(2 * math.pi * SIGMA ** 2))
                 - 0.5 * ((z ** 2).sum(-1) + K * math.log(2 * math.pi)))
    log_w = log_joint - multivariate_normal(mean=np.zeros(K), cov=cov).logpdf(z - m)
    truth = log_p_x(A, b, x)
    for bound in (VR(0.5), VR(-1), VRMax(), CUBO(2), CUBO(3)):
        np.testing.assert_allclose(bound.forward(log_w)[0], truth, rtol=0, atol=1e-10)


def test_exact_cubo_formula_is_log_p_x_when_q_is_the_posterior():
    """With S = Σ (here a spherical posterior: orthogonal equal-length columns) the integral is 1."""
    rng = np.random.default_rng(2)
    A = np.linalg.qr(rng.standard_normal((D, K)))[0] * 1.3
    b = rng.standard_normal(D)
    x = rng.standard_normal((3, D))
    cov = np.linalg.inv(np.eye(K) + A.T @ A / SIGMA ** 2)
    m = (x - b) @ A @ cov / SIGMA ** 2
    np.testing.assert_allclose(exact_cubo2(A, b, x, m, cov, m, cov[0, 0]), log_p_x(A, b, x), atol=1e-12)
    np.testing.assert_allclose(expected_elbo(A, b, x, m, cov, m, cov[0, 0]), log_p_x(A, b, x), atol=1e-12)


def test_sandwich_elbo_iwae_log_p_x_cubo_on_the_linear_gaussian_model():
    """E[ELBO] ≤ E[IWAE_k] ≤ log p(x) ≤ CUBO₂, each gap larger than 4 standard errors.

    The k-sample CUBO estimate is biased low, so "log p(x) ≤ CUBO₂" is checked against the exact
    CUBO₂ (closed form, ``exact_cubo2``), and the estimator is checked separately: with k = 100,000
    (bias of order Var(w²)/(2k E[w²]²), far below the margins) it agrees with the closed form, and
    its average over draws rises with k towards it from below.
    """
    A, b, x, m, cov, mu_q, s2 = linear_gaussian(seed=0)
    n_data = len(x)
    truth = log_p_x(A, b, x)
    elbo = expected_elbo(A, b, x, m, cov, mu_q, s2)
    cubo_exact = exact_cubo2(A, b, x, m, cov, mu_q, s2)
    assert (elbo < truth - 0.1).all() and (cubo_exact > truth + 0.1).all()   # q is visibly wrong

    rng = np.random.default_rng(3)
    log_w = log_weights(A, b, x, mu_q, s2, 200_000, rng)
    # the ELBO's Monte Carlo estimate agrees with its closed form
    assert (np.abs(log_w.mean(axis=0) - elbo) < 4 * log_w.std(axis=0) / math.sqrt(len(log_w))).all()
    previous = elbo
    for k in (2, 5, 20):
        iwae, se = mean_and_se(VR(0.0), log_w, k, n_data)
        assert (iwae > previous + 4 * se).all(), k         # rises with k ...
        assert (iwae < truth - 4 * se).all(), k            # ... and stays below log p(x)
        previous = iwae

    # CUBO: the estimate's average rises with k towards the exact value, from below
    previous = -np.inf
    for k in (2, 5, 20):
        cubo_k, se = mean_and_se(CUBO(2), log_w, k, n_data)
        assert (cubo_k > previous + 4 * se).all() and (cubo_k < cubo_exact - 4 * se).all(), k
        if k == 2:   # here the low bias is large enough to put the average *below* log p(x)
            assert (cubo_k < truth - 4 * se).all()
        previous = cubo_k
    cubo_big = CUBO(2).forward(log_weights(A, b, x, mu_q, s2, 100_000, rng))[0]
    np.testing.assert_allclose(cubo_big, cubo_exact, atol=0.02)
    assert (cubo_big > truth + 0.05).all()


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("make, message", [
    (lambda: VR(1), "alpha = 1 is the ELBO"),
    (lambda: VR(1.0), "use the ELBO"),
    (lambda: VR(float("nan")), "alpha is NaN"),
    (lambda: VR(-math.inf), "use VRMax"),
    (lambda: VR(math.inf), "alpha must be finite"),
    (lambda: CUBO(1), "n must be a finite number > 1"),
    (lambda: CUBO(0.5), "got n = 0.5"),
    (lambda: CUBOSurrogate(1), "n must be a finite number > 1"),
])
def test_bad_settings_are_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: VR("0.5"), lambda: VR(True), lambda: CUBO(None), lambda: CUBOSurrogate([2])])
def test_settings_of_the_wrong_type_are_type_errors(make):
    with pytest.raises(TypeError, match="must be a real number"):
        make()


@pytest.mark.parametrize("bound", [VR(0.5), VR(0), VRMax(), CUBO(2), CUBOSurrogate(2)], ids=repr)
def test_one_sample_is_a_clear_error(bound):
    with pytest.raises(ValueError, match=r"needs k >= 2 samples per example.*k = 1"):
        bound.forward(np.zeros((1, 5)))


@pytest.mark.parametrize("bound", [VR(0.5), VRMax(), CUBO(2), CUBOSurrogate(2)], ids=repr)
def test_bad_log_w_is_a_clear_error(bound):
    with pytest.raises(ValueError, match="log_w must have 2 dimensions"):
        bound.forward(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        bound.forward(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="float32 or float64"):
        bound.forward(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="no examples"):
        bound.forward(np.zeros((3, 0)))
    with pytest.raises(TypeError, match="numpy array"):
        bound.forward([[0.0, 1.0], [1.0, 2.0]])


# ---------------------------------------------------------------- the sandwich over chunks

@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_data=st.integers(1, 3), cuts=st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_sandwich_over_chunks_equals_the_bounds_on_all_samples(seed, n_data, cuts):
    log_w = random_log_w((sum(cuts) + 1, n_data), seed, spread=30.0)    # wide: merging must not overflow
    edges = np.cumsum([0] + cuts + [1])
    parts = sandwich(log_w[a:b] for a, b in zip(edges[:-1], edges[1:]))
    assert parts["k"] == len(log_w)
    # the sums run in another order, so agreement is to rounding of the log weights' own size (~30):
    # a bound that lands near 0 (hypothesis: seed 262 gave 0.0033) cannot match to 1e-13 relative
    tol = dict(rtol=1e-13, atol=1e-13 * np.abs(log_w).max())
    np.testing.assert_allclose(parts["elbo"], log_w.mean(0), **tol)
    np.testing.assert_allclose(parts["iwae"], own_iwae(log_w), **tol)
    np.testing.assert_allclose(parts["cubo"], CUBO(2).forward(log_w)[0], **tol)
    assert (parts["elbo"] <= parts["iwae"]).all() and (parts["iwae"] <= parts["cubo"]).all()


def test_sandwich_bad_input():
    with pytest.raises(ValueError, match="needs k >= 2 samples in all, got k = 1"):
        sandwich([np.zeros((1, 3))])
    with pytest.raises(ValueError, match="same 3 examples"):
        sandwich([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="n must be a finite number > 1"):
        sandwich([np.zeros((2, 3))], n=1)
