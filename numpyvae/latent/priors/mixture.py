"""The computation both mixture priors share: log p(z) of Σ_c π_c N(z; m_c, diag e^{s_c}) by log-sum-exp, its gradient, exact draws.

Differentiating the log-sum-exp gives the responsibilities r_c(z) = π_c N(z; m_c, e^{s_c}) / p(z)
(the posterior probability of component c): every gradient is the component gradient weighted by them.
"""
from __future__ import annotations

import numpy as np

from ...checks import check_array

LOG_2PI = float(np.log(2 * np.pi))


def mixture_log_prob(z2: np.ndarray, log_pi: np.ndarray, means: np.ndarray,
                     logvars: np.ndarray) -> tuple[np.ndarray, tuple]:
    """log p(z) for p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}), by log-sum-exp.

    Shapes: z2 (B, K); log_pi (C,); means m and logvars s (C, K). Returns log_p (B,)
    and the tape for :func:`mixture_backward`.

    Per component,  ℓ_bc = log π_c + log N(z_b; m_c, e^{s_c})
                         = log π_c − ½ Σ_k [ (z_bk − m_ck)² P_ck + s_ck + log 2π ],   P = e^{−s},
    and log p(z_b) = log Σ_c e^{ℓ_bc} = M_b + log Σ_c e^{ℓ_bc − M_b},  M_b = max_c ℓ_bc
    (subtracting the max keeps every exponent ≤ 0: no overflow, and the largest term is 1).

    The quadratic is expanded so that it becomes three matrix products instead of a
    (B, C, K) temporary (VampPrior has C = 500 components):
        Σ_k (z_bk − m_ck)² P_ck = (z² @ Pᵀ)_bc − 2 (z @ (m P)ᵀ)_bc + Σ_k m_ck² P_ck.
    The expansion trades a little precision (z² and m² can be much larger than
    (z − m)²) for speed; at latent scales (|z| of a few units) the error is far below
    anything that matters in float32 training, and float64 gradient checks are exact
    to ~1e-12.
    """
    K = z2.shape[1]
    P = np.exp(-logvars)                                # (C, K) precisions e^{−s}
    mP = means * P                                      # (C, K)
    z2sq = z2 * z2                                      # (B, K), kept for the backward
    ell = z2sq @ P.T                                    # (B, C): Σ_k z² P
    ell -= 2.0 * (z2 @ mP.T)                            #       − 2 Σ_k z m P
    ell += np.einsum("ck,ck->c", means, mP) + logvars.sum(axis=1) + K * LOG_2PI   # + Σ_k (m² P + s + log 2π)
    ell *= -0.5
    ell += log_pi                                       # ℓ_bc = log π_c + log N_c(z_b)
    M = ell.max(axis=1)                                 # (B,)
    ell -= M[:, None]                                   # ℓ − M ≤ 0
    r = np.exp(ell, out=ell)                            # e^{ℓ − M}, reusing ell's memory
    total = r.sum(axis=1)                               # Σ_c e^{ℓ − M} ≥ 1
    log_p = np.log(total)
    log_p += M
    r /= total[:, None]                                 # responsibilities r_bc = e^{ℓ_bc} / p(z_b); rows sum to 1
    return log_p, (z2, z2sq, r, means, P, mP)


def mixture_backward(g: np.ndarray, tape: tuple):
    """Gradients of L = Σ_b g_b log p(z_b) for the mixture of :func:`mixture_log_prob`.

    g (B,) is ∂L/∂log p(z_b). Returns (dz (B, K), dmeans (C, K), dlogvars (C, K),
    dlog_pi (C,)) — the last is ∂L/∂log π_c with log π treated as free numbers; a
    caller that parameterizes π chains it further (softmax: see MixtureOfGaussians).

    Differentiating a log-sum-exp gives a softmax: ∂log p/∂ℓ_c = e^{ℓ_c} / Σ_c' e^{ℓ_c'} = r_c.
    So every gradient is a responsibility-weighted sum of one component's gradient.
    Write G_bc = g_b r_bc (B, C), P = e^{−s}, d_bck = z_bk − m_ck:

        ∂ℓ_c/∂z_k   = −d_k P_ck          ->  dz_bk  = −Σ_c G_bc d_bck P_ck
                                                      = (G @ mP)_bk − z_bk (G @ P)_bk
        ∂ℓ_c/∂m_ck  = +d_k P_ck          ->  dm_ck  =  Σ_b G_bc d_bck P_ck
                                                      = P_ck (Gᵀ z)_ck − mP_ck Σ_b G_bc
        ∂ℓ_c/∂s_ck  = ½ (d_k² P_ck − 1)  ->  ds_ck  =  ½ Σ_b G_bc (d_bck² P_ck − 1)
                                                      = ½ [P (Gᵀ z²) − 2 mP (Gᵀ z) + m mP ΣG − ΣG]_ck
        ∂ℓ_c/∂log π_c = 1                ->  dlog_pi_c = Σ_b G_bc
    (the right-hand forms expand d² and d as in the forward, so nothing is (B, C, K)).
    """
    z2, z2sq, r, means, P, mP = tape
    G = r * g[:, None]                                  # (B, C)
    Gsum = G.sum(axis=0)                                # (C,)  Σ_b G_bc
    Gz = G.T @ z2                                       # (C, K) Σ_b G_bc z_bk
    dz = G @ mP                                         # (B, K)
    dz -= z2 * (G @ P)
    dmeans = P * Gz
    dmeans -= mP * Gsum[:, None]
    dlogvars = P * (G.T @ z2sq)                         # Σ_b G d² P, expanded: z² P − 2 z m P + m² P
    dlogvars -= 2.0 * (mP * Gz)
    dlogvars += (means * mP - 1.0) * Gsum[:, None]      # m² P ΣG − ΣG
    dlogvars *= 0.5
    return dz, dmeans, dlogvars, Gsum


def check_components(means, logvars, z_dim: int, where: str, dtype=None) -> int:
    check_array(means, where, ndim=2, last=z_dim, dtype=dtype, name="mu")
    check_array(logvars, where, ndim=2, last=z_dim, dtype=dtype, name="logvar")
    if means.shape != logvars.shape:
        raise ValueError(f"{where}: mu and logvar must have the same shape (C, K), "
                         f"got {means.shape} and {logvars.shape}")
    return means.shape[0]


def sample_mixture(n: int, rng: np.random.Generator, pi: np.ndarray, means: np.ndarray,
                    logvars: np.ndarray, dtype) -> np.ndarray:
    """Exact draws from Σ_c π_c N(m_c, e^{s_c}): first the component c ~ Cat(π), then
    z = m_c + e^{s_c/2} ε with ε ~ N(0, I) (n, K). Components first, noise second, in that order."""
    c = rng.choice(pi.shape[0], size=n, p=pi)
    eps = rng.standard_normal((n, means.shape[1]), dtype=dtype)
    z = eps * np.exp(0.5 * logvars[c]).astype(dtype, copy=False)
    z += means[c]
    return z
