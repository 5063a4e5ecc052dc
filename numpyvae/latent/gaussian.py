"""The reparameterization trick: z = mu + exp(logvar / 2) * eps.

A sample z ~ N(mu, sigma^2) drawn directly has no derivative with respect to
mu or sigma. Drawing eps ~ N(0, I) first and moving it makes z a smooth
function of (mu, logvar) with eps as a plain input (Kingma & Welling, 2014),
so the chain rule goes through.

Shapes: mu, logvar (N, K); eps (S, N, K) for S samples per example; z (S, N, K).
"""
from __future__ import annotations

import numpy as np


def reparameterize(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (z, sigma): sigma = exp(logvar / 2) (N, K), z = mu + sigma * eps (S, N, K)."""
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
    dmu = dz.sum(axis=0)
    dlogvar = np.einsum("snk,snk->nk", dz, eps)   # Σ_s dz * eps without an (S, N, K) temporary
    dlogvar *= sigma
    dlogvar *= 0.5
    return dmu, dlogvar
