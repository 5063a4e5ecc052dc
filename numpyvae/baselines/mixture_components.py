"""The two component families of the EM mixture: diagonal Gaussians for grey levels, Bernoulli pixels for binary ones.

Two kinds of component:

* :class:`GaussianMixture` -- diagonal Gaussian per component, for grayscale
  pixels in [0, 1]. Its log p(x) is a *density*: it can be positive and is not
  comparable with the log-probabilities of binarized data.
* :class:`BernoulliMixture` -- independent Bernoulli pixels per component, for
  binarized digits. Its log p(x) is an exact log-probability in nats, directly
  comparable with a Bernoulli VAE's ELBO and importance-sampled estimate.

Each supplies the family's pieces (its log density under every component, its M-step, its log
prior, its sampler) to the one EM loop, :class:`numpyvae.baselines.mixture.Mixture`.
"""
from __future__ import annotations

import numpy as np

from .mixture import Mixture, check_float

__all__ = ["GaussianMixture", "BernoulliMixture"]

LOG_2PI = float(np.log(2.0 * np.pi))


# --------------------------------------------------------------------------
# Gaussian components
# --------------------------------------------------------------------------

class GaussianMixture(Mixture):
    """Mixture of diagonal Gaussians, for grayscale pixels.

    p_k(x) = prod_d N(x_d | mu_kd, sigma2_kd).

    Parameters
    ----------
    n_components : int, K >= 1 (and <= the number of training examples)
    covariance : "diagonal" (the only kind: a full 784 x 784 covariance per
        component would need ~300k parameters each)
    reg : float > 0, the variance floor: sigma2_kd >= reg.
        Why it is needed: in grayscale digits many pixels are constant within a
        component (the border is 0 in every image). Their maximum-likelihood
        variance is 0, the density there is infinite, and the log-likelihood has
        no maximum. The floor makes it bounded: a pixel with variance ``reg`` can
        add at most -1/2 log(2 pi reg) nats (2.5 nats for reg=1e-3) to log p(x).
    max_iter, tol : EM stops after max_iter iterations or when the mean
        log-likelihood per example improves by less than tol nats.
    n_init : int, number of k-means++ starts; the fit with the highest final
        objective is kept (EM finds local maxima only).
    seed : int, seeds the starts (same seed, same bits) and sample().
    dtype : "float64" (default) or "float32".

    Attributes after fit: weights (K,), means (K, D), variances (K, D),
    history (mean train log p(x) per EM iteration), objective_history (equal to
    history here), n_iter, converged.

    What is monotone: the floor is a *constraint*, not a penalty. For fixed
    responsibilities the M-step objective in (mu_k, sigma2_kd) separates, the
    weighted mean is optimal for mu_k whatever sigma2, and
    -1/2 N_k [log v + S_kd / v] is increasing for v < S_kd and decreasing for
    v > S_kd, so on v >= reg its maximiser is max(S_kd, reg). The M-step is
    therefore the exact maximiser over the constrained set, and EM never
    decreases the plain training log-likelihood ``history``.
    """

    def __init__(self, n_components: int, covariance: str = "diagonal", reg: float = 1e-3,
                 max_iter: int = 100, tol: float = 1e-4, n_init: int = 1, seed: int = 0,
                 dtype="float64"):
        super().__init__(n_components, max_iter, tol, n_init, seed, dtype)
        if covariance != "diagonal":
            raise ValueError(f"GaussianMixture: covariance must be 'diagonal', got {covariance!r}")
        self.covariance = covariance
        self.reg = check_float(reg, "GaussianMixture", "reg", positive=True)
        self.variances: np.ndarray | None = None  # (K, D)

    _fitted_names = Mixture._fitted_names + ("variances",)

    def _cache(self, x):
        """x**2, (N, D): needed by both steps, computed once per dataset."""
        return x * x

    def _log_px_given_k(self, x, x2):
        """log N(x_n | mu_k, diag sigma2_k) for all n, k; (N, K).

        log p_k(x) = -1/2 [ D log 2pi + sum_d log sigma2_kd + sum_d (x_d - mu_kd)^2 / sigma2_kd ]
        and the quadratic term expands into matmuls over pixels:
            sum_d (x_d - mu_kd)^2 / s_kd = x^2 @ (1/s).T - 2 x @ (mu/s).T + sum_d mu_kd^2 / s_kd.
        (In float32 this expansion loses ~1e-3 nats to cancellation when 1/s is
        large; float64, the default, does not.)
        """
        prec = 1.0 / self.variances                                   # (K, D)
        mu_prec = self.means * prec
        quad = x2 @ prec.T                                            # (N, K)
        quad -= x @ (2.0 * mu_prec).T
        quad += np.einsum("kd,kd->k", self.means, mu_prec)
        log_norm = -0.5 * (x.shape[1] * LOG_2PI + np.log(self.variances).sum(axis=1))  # (K,)
        quad *= -0.5
        quad += log_norm
        return quad

    def _m_step(self, x, x2, resp):
        """Weighted counts, means and floored variances from responsibilities (N, K).

        N_k = sum_n r_nk,  pi_k = N_k / N,  mu_k = sum_n r_nk x_n / N_k,
        S_kd = sum_n r_nk x_nd^2 / N_k - mu_kd^2   (the weighted variance),
        sigma2_kd = max(S_kd, reg)                (see the class docstring).
        A component that lost every example (N_k = 0) keeps pi_k = 0: it is dead.
        """
        nk = resp.sum(axis=0)                                         # (K,)
        self.weights = nk / x.shape[0]
        inv_nk = 1.0 / np.maximum(nk, np.finfo(self.dtype).tiny)      # 0/0 -> 0 for dead components
        self.means = (resp.T @ x) * inv_nk[:, None]
        var = (resp.T @ x2) * inv_nk[:, None]
        var -= self.means * self.means
        self.variances = np.maximum(var, self.reg, out=var)

    def _log_prior(self):
        return 0.0

    def _sample_given_k(self, component, rng):
        """x = mu_c + sigma_c * eps, eps ~ N(0, I). Values are not clipped to [0, 1]."""
        eps = rng.standard_normal((component.shape[0], self.n_features), dtype=self.dtype)
        eps *= np.sqrt(self.variances)[component]
        eps += self.means[component]
        return eps


# --------------------------------------------------------------------------
# Bernoulli components
# --------------------------------------------------------------------------

class BernoulliMixture(Mixture):
    """Mixture of independent Bernoulli pixels, for binarized digits.

    p_k(x) = prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d),  x in {0, 1}^D,
    so log p(x) is an exact log-probability in nats.

    Parameters
    ----------
    n_components : int, K >= 1 (and <= the number of training examples)
    alpha : float > 0, Beta smoothing. Each mu_kd gets a Beta(1 + alpha, 1 + alpha)
        prior and the M-step is its MAP estimate,
            mu_kd = (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha),
        i.e. alpha pseudo-counts of "on" and of "off" per pixel. Why: a pixel
        that is 0 in every training example of a component would get mu = 0,
        and one test digit with that pixel on would have log p(x) = -inf.
        With alpha > 0, mu stays strictly inside (0, 1).
    max_iter, tol, n_init, seed, dtype : as in :class:`GaussianMixture`.

    Attributes after fit: weights (K,), means (K, D) (pixel probabilities;
    draw them as images), history (mean train log p(x) per iteration),
    objective_history, n_iter, converged.

    What is monotone: the M-step maximises the expected complete
    log-likelihood *plus the log prior*, so EM never decreases the penalized
    objective, per example,
        objective_history[t] = history[t] + alpha/N * sum_kd [log mu_kd + log(1 - mu_kd)].
    The plain log-likelihood ``history`` usually rises too, but is not guaranteed to.
    """

    def __init__(self, n_components: int, alpha: float = 1e-3, max_iter: int = 100,
                 tol: float = 1e-4, n_init: int = 1, seed: int = 0, dtype="float64"):
        super().__init__(n_components, max_iter, tol, n_init, seed, dtype)
        self.alpha = check_float(alpha, "BernoulliMixture", "alpha", positive=True)

    def _check_values(self, x, where):
        """Only 0 and 1: for values in between log p(x) would not be a probability."""
        binary = (x == 0) | (x == 1)
        if not binary.all():
            bad = x[~binary]
            raise ValueError(f"{where}: x must be binary (every value 0 or 1) for a Bernoulli mixture, "
                             f"got {bad.size} other value(s), e.g. {bad.flat[0].item()!r}; binarize first, "
                             f"e.g. (x > 0.5).astype('float64'), or use GaussianMixture for grayscale")

    def _cache(self, x):
        return None

    def _log_px_given_k(self, x, _cache):
        """log p_k(x_n) for all n, k; (N, K), one matmul:

        sum_d [x_d log mu_kd + (1 - x_d) log(1 - mu_kd)]
            = x @ logit(mu).T + sum_d log(1 - mu_kd),   logit(mu) = log mu - log(1 - mu).
        """
        log1m = np.log1p(-self.means)                                 # log(1 - mu), (K, D)
        logit = np.log(self.means)
        logit -= log1m
        a = x @ logit.T                                               # (N, K)
        a += log1m.sum(axis=1)
        return a

    def _m_step(self, x, _cache, resp):
        """pi_k = N_k / N and the Beta-smoothed mu_k (see the class docstring)."""
        nk = resp.sum(axis=0)                                         # (K,)
        self.weights = nk / x.shape[0]
        mu = resp.T @ x                                               # sum_n r_nk x_nd, (K, D)
        mu += self.alpha
        mu /= (nk + 2.0 * self.alpha)[:, None]
        self.means = mu

    def _log_prior(self):
        """alpha * sum_kd [log mu_kd + log(1 - mu_kd)], the Beta(1+alpha, 1+alpha) log prior up to a constant."""
        return self.alpha * float(np.log(self.means).sum() + np.log1p(-self.means).sum())

    def _sample_given_k(self, component, rng):
        """x_d = 1 with probability mu_cd, independently per pixel."""
        u = rng.random((component.shape[0], self.n_features), dtype=self.dtype)
        return (u < self.means[component]).astype(self.dtype)
