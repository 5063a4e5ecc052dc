"""KL(q(z|x) || p(z)) for q = N(mu, diag(exp(logvar))) and p = N(0, I).

Two ways to get it, both used by the ELBO:

* analytic: KL = ½ Σ_k (mu² + e^logvar − 1 − logvar), exact, low variance;
* Monte Carlo: log q(z|x) − log p(z) at the sampled z, unbiased; the only
  option when q or p has no closed-form KL, and what the IWAE bound needs.

Shapes: mu, logvar (N, K); eps, z (S, N, K).
"""
from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def kl_analytic(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Per example and latent dimension: ½ (mu² + e^logvar − 1 − logvar), shape (N, K).

    Sum over the last axis for the per-example KL. It is ≥ 0, and 0 exactly
    at mu = 0, logvar = 0 (q equals the prior).

    Written as expm1(logvar) − logvar rather than e^logvar − 1 − logvar: for
    tiny logvar, e^logvar rounds to 1 and the plain form returns −logvar,
    a negative KL. expm1(t) ≥ t holds after rounding too, so this never is.
    """
    return 0.5 * (mu * mu + (np.expm1(logvar) - logvar))


def kl_analytic_backward(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∂KL/∂mu = mu and ∂KL/∂logvar = ½ (e^logvar − 1), each (N, K)."""
    return mu, 0.5 * np.expm1(logvar)


def log_standard_normal(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) summed over the last axis: −½ Σ_k (z² + log 2π). (…, K) -> (…)."""
    return -0.5 * (np.einsum("...k,...k->...", z, z) + z.shape[-1] * LOG_2PI)


def log_q(eps: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log N(z; mu, e^logvar) at z = mu + sigma * eps, shape (S, N).

    (z − mu)² / sigma² = eps², so log q = −½ Σ_k (eps² + logvar + log 2π):
    eps is all we need, and using it avoids the cancellation in z − mu.
    """
    K = eps.shape[-1]
    return -0.5 * (np.einsum("snk,snk->sn", eps, eps) + logvar.sum(-1) + K * LOG_2PI)


def kl_monte_carlo(z: np.ndarray, eps: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log q(z|x) − log p(z) at each sample, shape (S, N); its mean over s estimates the KL."""
    return log_q(eps, logvar) - log_standard_normal(z)


def kl_monte_carlo_backward(z: np.ndarray, dkl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of Σ_sn dkl_sn · (log q − log p), with eps held fixed.

    With eps fixed, log q = −½ Σ_k (eps² + logvar + log 2π) depends on logvar
    directly, and −log p(z) = ½ Σ_k (z² + log 2π) depends on z:
        ∂/∂z      = dkl · z                  (S, N, K), then through z (reparam backward)
        ∂/∂logvar = −½ Σ_s dkl  (per k)      (N, K), the direct path only
    Returns (dz, dlogvar_direct).
    """
    dz = z * dkl[..., None]
    dlogvar = np.broadcast_to(-0.5 * dkl.sum(axis=0)[:, None], z.shape[1:])
    return dz, dlogvar
