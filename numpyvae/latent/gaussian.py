"""The diagonal Gaussian family q(z|x) = N(mu, diag(exp(logvar))), and the reparameterization trick.

A sample z ~ N(mu, sigma^2) drawn directly has no derivative with respect to
mu or sigma. Drawing eps ~ N(0, I) first and moving it makes z a smooth
function of (mu, logvar) with eps as a plain input (Kingma & Welling, 2014),
so the chain rule goes through:

    z = mu + exp(logvar / 2) * eps

Shapes: mu, logvar (N, K); eps (S, N, K) for S samples per example; z (S, N, K).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def reparameterize(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (z, sigma): sigma = exp(logvar / 2) (N, K), z = mu + sigma * eps (S, N, K)."""
    if mu.shape != logvar.shape or eps.shape[-mu.ndim:] != mu.shape:
        raise ValueError(f"reparameterize: mu {mu.shape} and logvar {logvar.shape} must have one shape (N, K), "
                         f"and eps {eps.shape} must be (S, N, K) or (N, K) with the same (N, K)")
    sigma = np.exp(0.5 * logvar)
    z = eps * sigma
    z += mu                    # in place: one temporary instead of two
    return z, sigma


def reparameterize_backward(dz: np.ndarray, eps: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of L through z = mu + sigma * eps, sigma = exp(logvar / 2).

    ∂z/∂mu = 1                          ->  dmu     = Σ_s dz
    ∂z/∂logvar = eps * sigma / 2        ->  dlogvar = Σ_s dz * eps * sigma / 2
    The sum over s is there because every sample z_s was computed from the
    same (mu, logvar). Shapes: dz, eps (S, N, K); sigma, dmu, dlogvar (N, K).
    """
    if dz.shape != eps.shape or eps.ndim != 3 or eps.shape[1:] != sigma.shape:
        raise ValueError(f"reparameterize_backward: dz {dz.shape} and eps {eps.shape} must be (S, N, K) "
                         f"with (N, K) = sigma's shape {sigma.shape}")
    dmu = dz.sum(axis=0)
    dlogvar = np.einsum("snk,snk->nk", dz, eps)   # Σ_s dz * eps without an (S, N, K) temporary
    dlogvar *= sigma
    dlogvar *= 0.5
    return dmu, dlogvar


def log_q(eps: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log N(z; mu, e^logvar) at z = mu + sigma * eps, summed over k: shape (S, N).

    (z − mu)² / sigma² = eps², so log q = −½ Σ_k (eps² + logvar + log 2π):
    eps is all we need, and using it avoids the cancellation in z − mu.
    """
    K = eps.shape[-1]
    return -0.5 * (np.einsum("snk,snk->sn", eps, eps) + logvar.sum(-1) + K * LOG_2PI)


class GaussianTape(NamedTuple):
    eps: np.ndarray
    sigma: np.ndarray


class DiagonalGaussian:
    """q(z|x) = N(mu, diag(e^logvar)): the encoder's two heads, mu and logvar, each (N, K).

    The family contract (every q(z|x) in numpyvae.latent follows it)::

        eps = family.draw_noise(rng, S, N, dtype)         # the noise, an explicit input
        z, log_q, tape = family.rsample([mu, logvar], eps)
        dmu, dlogvar = family.backward(dz, dlog_q, tape)

    log_q is log q(z|x) at the sample, as a function of (mu, logvar) with eps
    held fixed, so its gradient is the total derivative along the sample path.
    """

    name = "gaussian"

    def __init__(self, z_dim: int):
        self.z_dim = int(z_dim)
        self.heads = {"mu": self.z_dim, "logvar": self.z_dim}

    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype) -> np.ndarray:
        """eps ~ N(0, I), shape (S, N, K)."""
        return rng.standard_normal((n_samples, n, self.z_dim), dtype=dtype)

    def rsample(self, params, eps: np.ndarray):
        """[mu, logvar] (N, K) each, eps (S, N, K) -> (z (S, N, K), log q(z|x) (S, N), tape)."""
        mu, logvar = params
        z, sigma = reparameterize(mu, logvar, eps)
        return z, log_q(eps, logvar), GaussianTape(eps, sigma)

    def backward(self, dz, dlog_q, tape: GaussianTape):
        """Gradients of a loss that reads z (dz, (S, N, K)) and log q (dlog_q, (S, N)); either may be None.

        Through z: :func:`reparameterize_backward`. Through log q with eps fixed,
        log q = −½ Σ_k (eps² + logvar + log 2π), so
            ∂log q/∂mu = 0,    ∂log q/∂logvar_k = −½   ->  dlogvar += −½ Σ_s dlog_q
        Returns [dmu, dlogvar], each (N, K).
        """
        eps, sigma = tape
        if dz is None:
            dz = np.zeros_like(eps)
        dmu, dlogvar = reparameterize_backward(dz, eps, sigma)
        if dlog_q is not None:
            dlogvar += np.broadcast_to(-0.5 * dlog_q.sum(axis=0)[:, None], dlogvar.shape)
        return [dmu, dlogvar]

    def mean(self, params) -> np.ndarray:
        """E_q[z] = mu, (N, K)."""
        return params[0]
