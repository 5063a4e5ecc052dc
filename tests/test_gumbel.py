"""Gumbel-softmax family: float64 finite differences against forwards written here from the
formulas, the Gumbel-max and τ → 0 properties, the Concrete density, and numerical safety."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import quad
from scipy.special import gammaln, logsumexp

from numpyvae.latent.gumbel import (CategoricalUniformKL, GumbelSoftmax, TemperatureSchedule,
                                    UniformCategorical, analytic_kl_pair, one_hot_codes, sweep_codes)
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

TOL = 1e-7


# ---------------------------------------------------------------------------
# reference forwards, written from the formulas without the library's tricks
# ---------------------------------------------------------------------------

def naive_relaxed(logits, u, tau):
    """y = softmax((a + g)/τ), g = −log(−log u), plain textbook softmax. (S, N, M, C)."""
    S, N, M, C = u.shape
    x = (logits.reshape(N, M, C) + (-np.log(-np.log(u)))) / tau
    ex = np.exp(x)
    return ex / ex.sum(-1, keepdims=True)


def naive_concrete_logpdf(logits, y, tau):
    """Maddison et al. (2017): log((C−1)! τ^(C−1)) + Σ (a − (τ+1) log y) − C log Σ exp(a − τ log y), summed over M."""
    S, N, M, C = y.shape
    a = np.broadcast_to(logits.reshape(N, M, C), y.shape)
    per_var = (gammaln(C) + (C - 1) * np.log(tau) + np.sum(a - (tau + 1) * np.log(y), -1)
               - C * logsumexp(a - tau * np.log(y), axis=-1))
    return per_var.sum(-1)


def naive_kl(logits, M, C):
    a = logits.reshape(len(logits), M, C)
    q = np.exp(a) / np.exp(a).sum(-1, keepdims=True)
    return np.sum(q * np.log(q * C), axis=(1, 2))


def problem(S, N, M, C, seed=0, tau=1.0):
    """Logits and noise with (a + g)/τ spread over a few units, so y is not saturated.

    A saturated y (entries like e^-20) has gradients far below the rounding error of the
    loss divided by h, and central differences could not check them (the numerical-safety
    tests cover that regime). u stays away from the clip, where the naive forms are exact.
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, tau, (N, M * C))
    u = rng.uniform(0.25, 0.75, (S, N, M, C))      # g in [-0.33, 1.25]
    return rng, logits, u


# ---------------------------------------------------------------------------
# finite differences
# ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(S=st.integers(1, 3), N=st.integers(1, 3), M=st.integers(1, 3), C=st.integers(2, 5),
       tau=st.sampled_from([0.3, 1.0, 2.5]), seed=st.integers(0, 10_000))
def test_relaxed_sample_and_its_gradient_wrt_logits(S, N, M, C, tau, seed):
    rng, logits, u = problem(S, N, M, C, seed, tau)
    fam = GumbelSoftmax(M, C, tau=tau)
    z, log_q, tape = fam.rsample([logits], u)
    np.testing.assert_allclose(z, naive_relaxed(logits, u, tau).reshape(S, N, M * C), rtol=1e-12, atol=1e-15)
    dz = rng.standard_normal(z.shape)
    (dlogits,) = fam.backward(dz, None, tape)
    numeric = numerical_gradient(lambda _: np.sum(dz * naive_relaxed(logits, u, tau).reshape(z.shape)), logits)
    assert relative_error(dlogits, numeric) <= TOL


@settings(max_examples=20, deadline=None)
@given(S=st.integers(1, 3), N=st.integers(1, 3), M=st.integers(1, 3), C=st.integers(2, 5),
       tau=st.sampled_from([0.4, 1.0, 2.0]), seed=st.integers(0, 10_000))
def test_concrete_log_density_matches_maddison_and_its_gradient(S, N, M, C, tau, seed):
    rng, logits, u = problem(S, N, M, C, seed, tau)
    fam = GumbelSoftmax(M, C, tau=tau)
    z, log_q, tape = fam.rsample([logits], u)
    y = naive_relaxed(logits, u, tau)
    np.testing.assert_allclose(log_q, naive_concrete_logpdf(logits, y, tau), rtol=1e-10, atol=1e-10)
    dlog_q = rng.standard_normal(log_q.shape)
    (dlogits,) = fam.backward(None, dlog_q, tape)

    def f(_):   # total derivative with u fixed: y moves with the logits
        return np.sum(dlog_q * naive_concrete_logpdf(logits, naive_relaxed(logits, u, tau), tau))
    assert relative_error(dlogits, numerical_gradient(f, logits)) <= TOL


def test_backward_sums_the_path_through_z_and_the_path_through_log_q():
    rng, logits, u = problem(2, 3, 2, 4, seed=5)
    fam = GumbelSoftmax(2, 4, tau=0.7)
    z, log_q, tape = fam.rsample([logits], u)
    dz, dlq = rng.standard_normal(z.shape), rng.standard_normal(log_q.shape)
    (both,) = fam.backward(dz, dlq, tape)

    def f(_):
        y = naive_relaxed(logits, u, 0.7)
        return np.sum(dz * y.reshape(z.shape)) + np.sum(dlq * naive_concrete_logpdf(logits, y, 0.7))
    assert relative_error(both, numerical_gradient(f, logits)) <= TOL
    np.testing.assert_array_equal(fam.backward(None, None, tape)[0], np.zeros_like(logits))


def test_straight_through_is_one_hot_forward_and_relaxed_gradient_backward():
    S, N, M, C, tau = 3, 2, 3, 4, 0.8
    rng, logits, u = problem(S, N, M, C, seed=1)
    fam = GumbelSoftmax(M, C, tau=tau, hard=True)
    z, _, tape = fam.rsample([logits], u)
    winner = (logits.reshape(N, M, C) - np.log(-np.log(u))).argmax(-1)      # Gumbel-max
    np.testing.assert_array_equal(z.reshape(S, N, M, C), np.eye(C)[winner])
    dz = rng.standard_normal(z.shape)
    (dlogits,) = fam.backward(dz, None, tape)
    numeric = numerical_gradient(lambda _: np.sum(dz * naive_relaxed(logits, u, tau).reshape(z.shape)), logits)
    assert relative_error(dlogits, numeric) <= TOL
    # the defined gradient is the relaxed one, not the (zero almost everywhere) gradient of the argmax
    (relaxed,) = GumbelSoftmax(M, C, tau=tau).backward(dz, None, GumbelSoftmax(M, C, tau=tau).rsample([logits], u)[2])
    np.testing.assert_array_equal(dlogits, relaxed)


@pytest.mark.parametrize("N,M,C", [(1, 1, 2), (3, 2, 5), (4, 20, 10)])
def test_categorical_kl_and_its_gradient(N, M, C):
    rng = np.random.default_rng(N + M + C)
    logits = rng.normal(0, 2, (N, M * C))
    pair = CategoricalUniformKL(GumbelSoftmax(M, C))
    kl, tape = pair.forward([logits])
    np.testing.assert_allclose(kl, naive_kl(logits, M, C), rtol=1e-12)
    assert np.all(kl > 0) and np.all(kl <= M * np.log(C))
    dkl = rng.standard_normal(N)
    (dlogits,) = pair.backward(dkl, tape)
    numeric = numerical_gradient(lambda _: np.sum(dkl * naive_kl(logits, M, C)), logits)
    assert relative_error(dlogits, numeric) <= TOL


def test_categorical_kl_is_zero_at_uniform_and_maximal_at_one_hot():
    pair = CategoricalUniformKL(GumbelSoftmax(3, 4))
    kl, tape = pair.forward([np.full((2, 12), 0.7)])
    assert np.all(np.abs(kl) < 1e-14)
    assert np.all(pair.backward(np.ones(2), tape)[0] == 0)
    confident = np.tile(np.array([1e4, -1e4, -1e4, -1e4]), 3)[None].astype(np.float32)
    kl, tape = pair.forward([confident])
    assert kl.dtype == np.float32
    np.testing.assert_allclose(kl, [3 * np.log(4)], rtol=1e-6)
    assert np.all(np.isfinite(pair.backward(np.ones(1, np.float32), tape)[0]))


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

def test_gumbel_max_is_distributed_as_softmax_of_the_logits():
    """argmax(a + g) ~ Cat(softmax(a)): empirical frequencies within 4 standard errors."""
    a = np.array([[1.0, 0.0, -1.0, 2.0, 0.5]])
    p = np.exp(a[0]) / np.exp(a[0]).sum()
    fam = GumbelSoftmax(1, 5, hard=True)
    n = 200_000
    z, _, _ = fam.rsample([a], fam.draw_noise(np.random.default_rng(3), n, 1, "float64"))
    freq = z.reshape(n, 5).mean(0)
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 4 * se), (freq, p)
    # and the test can tell: the uniform distribution is rejected
    assert np.any(np.abs(freq - 0.2) > 4 * np.sqrt(0.2 * 0.8 / n))


def test_relaxed_sample_approaches_the_gumbel_max_one_hot_as_tau_goes_to_zero():
    """1 − y_max = Σ_{j≠max} e^{−gap_j/τ} / (...) ≤ (C − 1) e^{−gap/τ}, gap = top-two difference of a + g."""
    S, N, M, C = 50, 4, 3, 6
    rng = np.random.default_rng(7)
    logits, u = rng.normal(0, 2, (N, M * C)), rng.uniform(0.001, 0.999, (S, N, M, C))
    x = logits.reshape(N, M, C) - np.log(-np.log(u))
    hot = np.eye(C)[x.argmax(-1)]
    top2 = np.sort(x, -1)[..., -2:]
    gap = top2[..., 1] - top2[..., 0]
    dist_prev = np.inf
    for tau in (2.0, 1.0, 0.3, 0.1, 0.03, 0.01):
        z, _, _ = GumbelSoftmax(M, C, tau=tau).rsample([logits], u)
        dist = np.abs(z.reshape(S, N, M, C) - hot).max(-1)          # per variable
        assert np.all(dist <= (C - 1) * np.exp(-gap / tau) + 1e-15)
        assert dist.max() < dist_prev
        dist_prev = dist.max()
    assert np.median(dist) < 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hard", [False, True])
def test_samples_lie_on_the_simplex_and_keep_the_dtype(dtype, hard):
    fam = GumbelSoftmax(4, 7, tau=0.5, hard=hard)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (5, 28)).astype(dtype)
    z, log_q, tape = fam.rsample([logits], fam.draw_noise(rng, 3, 5, dtype))
    assert z.dtype == log_q.dtype == np.dtype(dtype) and z.shape == (3, 5, 28) and log_q.shape == (3, 5)
    y = z.reshape(3, 5, 4, 7)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps)
    (d,) = fam.backward(np.ones_like(z), np.ones_like(log_q), tape)
    assert d.dtype == np.dtype(dtype) and d.shape == logits.shape


def test_sampler_and_concrete_density_agree_for_two_classes():
    """For C = 2 the density of y_1 integrates to 1, and P(y_1 < t) from samples matches its integral."""
    a, tau = np.array([[0.8, -0.4]]), 0.7

    def density(t):
        y = np.array([[[[t, 1 - t]]]])
        return np.exp(naive_concrete_logpdf(a, y, tau)[0, 0])
    total, _ = quad(density, 0, 1, limit=200)
    assert abs(total - 1) < 1e-6
    fam = GumbelSoftmax(1, 2, tau=tau)
    n = 100_000
    z, log_q, _ = fam.rsample([a], fam.draw_noise(np.random.default_rng(11), n, 1, "float64"))
    for t in (0.1, 0.5, 0.9):
        p, _ = quad(density, 0, t, limit=200)
        freq = np.mean(z[:, 0, 0] < t)
        assert abs(freq - p) <= 4 * math.sqrt(p * (1 - p) / n), (t, freq, p)
    # the family's log_q is that density at its own samples
    np.testing.assert_allclose(np.exp(log_q[:5, 0]), [density(t) for t in z[:5, 0, 0]], rtol=1e-9)


def test_tape_holds_the_temperature_of_its_forward():
    rng, logits, u = problem(2, 2, 2, 3, seed=2)
    fam = GumbelSoftmax(2, 3, tau=0.5)
    z, log_q, tape = fam.rsample([logits], u)
    dz = rng.standard_normal(z.shape)
    before = fam.backward(dz, None, tape)[0]
    fam.tau = 3.0                                   # e.g. the schedule moved on
    np.testing.assert_array_equal(fam.backward(dz, None, tape)[0], before)


def test_mean_mode_prior_and_codes():
    rng = np.random.default_rng(0)
    fam = GumbelSoftmax(3, 4)
    logits = rng.normal(size=(5, 12))
    q = fam.mean([logits]).reshape(5, 3, 4)
    np.testing.assert_allclose(q.sum(-1), 1.0)
    np.testing.assert_array_equal(fam.mode([logits]).reshape(5, 3, 4).argmax(-1), q.argmax(-1))
    prior = UniformCategorical(3, 4)
    z = prior.sample(2000, rng, "float32")
    assert z.shape == (2000, 12) and z.dtype == np.float32
    np.testing.assert_array_equal(z.reshape(2000, 3, 4).sum(-1), 1.0)
    freq = z.reshape(2000, 3, 4).mean(0)
    assert np.all(np.abs(freq - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 2000))
    with pytest.raises(ValueError, match="analytic KL"):
        prior.log_prob(z)
    codes = np.array([[0, 3, 1], [2, 2, 0]])
    np.testing.assert_array_equal(one_hot_codes(codes, 4).reshape(2, 3, 4).argmax(-1), codes)
    np.testing.assert_array_equal(sweep_codes(np.array([2, 0, 1]), 1, 4),
                                  [[2, 0, 1], [2, 1, 1], [2, 2, 1], [2, 3, 1]])
    assert isinstance(analytic_kl_pair(fam, prior), CategoricalUniformKL)
    assert analytic_kl_pair(fam, object()) is None
    with pytest.raises(ValueError, match="the family has 3 variables x 4 classes but the prior 3 x 5"):
        analytic_kl_pair(fam, UniformCategorical(3, 5))


# ---------------------------------------------------------------------------
# numerical safety and bad input
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noise_exactly_zero_or_one_gives_finite_results(dtype):
    fam = GumbelSoftmax(2, 3, tau=0.5)
    u = np.array([[[[0.0, 1.0, 0.5], [1.0, 1.0, 0.0]]]], dtype=dtype)   # (1, 1, 2, 3)
    logits = np.zeros((1, 6), dtype=dtype)
    z, log_q, tape = fam.rsample([logits], u)
    (d,) = fam.backward(np.ones_like(z), np.ones_like(log_q), tape)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(log_q)) and np.all(np.isfinite(d))
    np.testing.assert_allclose(z.reshape(2, 3).sum(-1), 1.0, atol=1e-6)
    assert z[0, 0, 1] > 0.99                        # u = 1 is the largest Gumbel draw there is


@pytest.mark.parametrize("tau", [1.0, 0.5, 1e-3, 2e-7])
@pytest.mark.parametrize("hard", [False, True])
def test_huge_logits_and_small_tau_stay_finite_in_float32(tau, hard):
    fam = GumbelSoftmax(3, 4, tau=tau, hard=hard)
    rng = np.random.default_rng(0)
    logits = rng.choice(np.array([-1e4, 1e4], np.float32), size=(6, 12))
    logits[0] = 1e4                                  # ties at +1e4: only the noise decides
    z, log_q, tape = fam.rsample([logits], fam.draw_noise(rng, 2, 6, "float32"))
    (d,) = fam.backward(rng.standard_normal(z.shape).astype(np.float32),
                        rng.standard_normal(log_q.shape).astype(np.float32), tape)
    for arr in (z, log_q, d):
        assert arr.dtype == np.float32 and np.all(np.isfinite(arr))
    np.testing.assert_allclose(z.reshape(2, 6, 3, 4).sum(-1), 1.0, atol=1e-6)


def test_tiny_tau_in_float64_is_finite_and_below_machine_epsilon_is_refused():
    fam = GumbelSoftmax(2, 3, tau=1e-15)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6))
    z, log_q, tape = fam.rsample([logits], fam.draw_noise(rng, 2, 2, "float64"))
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(log_q))
    assert np.all(np.isfinite(fam.backward(np.ones_like(z), np.ones_like(log_q), tape)[0]))
    fam.tau = 1e-9                                  # fine in float64, not in float32
    with pytest.raises(ValueError, match="machine epsilon of float32"):
        fam.rsample([logits.astype(np.float32)], fam.draw_noise(rng, 1, 2, "float32"))


@pytest.mark.parametrize("tau", [0, -1.0, 0.0, float("nan"), float("inf")])
def test_nonpositive_or_nonfinite_tau_is_a_clear_error(tau):
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        GumbelSoftmax(2, 3, tau=tau)
    fam = GumbelSoftmax(2, 3)
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        fam.tau = tau
    with pytest.raises(ValueError, match="tau_min"):
        TemperatureSchedule(tau_min=tau)


def test_bad_input_is_a_clear_error():
    fam = GumbelSoftmax(2, 3)
    rng = np.random.default_rng(0)
    logits = np.zeros((4, 6))
    u = fam.draw_noise(rng, 2, 4, "float64")
    with pytest.raises(TypeError, match="tau must be a number"):
        GumbelSoftmax(2, 3, tau="1")
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        GumbelSoftmax(2, 1)
    with pytest.raises(ValueError, match="n_vars must be an integer >= 1"):
        GumbelSoftmax(0, 3)
    with pytest.raises(ValueError, match="logits must have 6 features"):
        fam.rsample([np.zeros((4, 5))], u)
    with pytest.raises(ValueError, match="one array"):
        fam.rsample([logits, logits], u)
    with pytest.raises(ValueError, match=r"u must have shape \(S, 4, 2, 3\)"):
        fam.rsample([logits], u[:, :3])
    with pytest.raises(ValueError, match="uniform noise in"):
        fam.rsample([logits], u + 1.0)
    with pytest.raises(ValueError, match="u has dtype float32"):
        fam.rsample([logits], u.astype(np.float32))
    with pytest.raises(ValueError, match="logits must be float32"):
        fam.rsample([np.zeros((4, 6), dtype=np.int64)], u)
    with pytest.raises(ValueError, match="non-finite"):
        fam.rsample([np.full((4, 6), np.nan)], u)
    z, log_q, tape = fam.rsample([logits], u)
    with pytest.raises(ValueError, match="dz must have z's shape"):
        fam.backward(z[:, :2], None, tape)
    with pytest.raises(ValueError, match="dlog_q must have log_q's shape"):
        fam.backward(None, log_q[:1], tape)
    with pytest.raises(TypeError, match="Generator"):
        fam.draw_noise(np.random.RandomState(0), 1, 1)
    with pytest.raises(ValueError, match=r"codes must lie in 0..3"):
        one_hot_codes(np.array([[0, 4]]), 4)
    with pytest.raises(ValueError, match=r"codes must lie in 0..3"):
        one_hot_codes(np.array([[-1, 2]]), 4)
    with pytest.raises(ValueError, match="integer array"):
        one_hot_codes(np.array([[0.0, 1.0]]), 4)
    with pytest.raises(ValueError, match=r"m must be a variable index in 0..2"):
        sweep_codes(np.array([0, 1, 2]), 3, 4)
    with pytest.raises(TypeError, match="GumbelSoftmax"):
        CategoricalUniformKL(object())


def test_temperature_schedule():
    s = TemperatureSchedule(tau_min=0.5, rate=1e-4, every=1000)
    assert s(0) == 1.0 and s(999) == 1.0                       # held until the first update
    assert s(1000) == pytest.approx(math.exp(-0.1)) and s(1999) == s(1000)
    assert s(5000) == pytest.approx(math.exp(-0.5)) and s(5000) > 0.5
    assert s(7000) == 0.5 and s(10**7) == 0.5                  # floored at tau_min
    taus = [s(t) for t in range(0, 20000, 250)]
    assert all(b <= a for a, b in zip(taus, taus[1:]))
    assert TemperatureSchedule(rate=0.0)(10**6) == 1.0
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        s(-1)
    with pytest.raises(ValueError, match="rate must be a finite number >= 0"):
        TemperatureSchedule(rate=-1e-4)
    with pytest.raises(ValueError, match="every must be an integer >= 1"):
        TemperatureSchedule(every=0)
