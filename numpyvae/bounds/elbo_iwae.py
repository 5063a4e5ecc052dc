"""The ELBO (with S samples) and the importance-weighted bound IWAE_k, from the log weights log_w (S, N).

With the log importance weights (:mod:`numpyvae.bounds`)

    log w_sn = log p(x_n | z_sn) + log p(z_sn) − log q(z_sn | x_n),

* ELBO (S samples): (1/S) Σ_s log w_sn   — with the analytic KL, the
  log p(z) − log q part is replaced by its exact expectation, −KL.
* IWAE bound, k = S samples (Burda et al., 2015):
      L_k = log (1/k) Σ_s w_sn = logsumexp_s(log w_sn) − log k
  ≥ ELBO, and non-decreasing in k. For k = 1 it is the ELBO with the Monte
  Carlo KL.

Both follow the bound contract of :mod:`numpyvae.bounds` (``forward`` and ``weights``):
c = 1/(S·N) for the ELBO, c = softmax_s(log w)/N for IWAE.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

__all__ = ["ELBO", "IWAE", "iwae_bound"]


def iwae_bound(log_w: np.ndarray) -> np.ndarray:
    """logsumexp_s(log w_sn) − log S, per example: (S, N) -> (N,).

    logsumexp subtracts the max before exponentiating: log w is often −500 or
    less for images, and exp(−500) is 0 in float64.
    """
    return logsumexp(log_w, axis=0) - math.log(log_w.shape[0])   # a Python float keeps float32 float32


class ELBO:
    """(1/S) Σ_s log w_sn per example; every sample weighs 1/(S·N) in the batch mean's gradient."""

    name = "elbo"

    def forward(self, log_w: np.ndarray):
        """log_w (S, N) -> (bound (N,), tape)."""
        return log_w.mean(0), (log_w.shape, log_w.dtype)

    @staticmethod
    def weights(tape) -> np.ndarray:
        """∂/∂log w_sn of (1/N) Σ_n (1/S) Σ_s log w_sn = 1/(S·N), (S, N)."""
        (S, N), dtype = tape
        return np.full((S, N), 1.0 / (S * N), dtype=dtype)


class IWAE:
    """logsumexp_s(log w_sn) − log S per example; sample weights softmax_s(log w)/N."""

    name = "iwae"

    def forward(self, log_w: np.ndarray):
        """log_w (S, N) -> (bound (N,), tape)."""
        return iwae_bound(log_w), log_w

    @staticmethod
    def weights(tape) -> np.ndarray:
        """∂/∂log w_sn of (1/N) Σ_n logsumexp_s(log w_sn) is softmax_s(log w)_sn / N = w̃_sn / N,
        w̃ the normalized importance weights, (S, N)."""
        log_w = tape
        w_tilde = np.exp(log_w - logsumexp(log_w, axis=0, keepdims=True))
        return (w_tilde / log_w.shape[1]).astype(log_w.dtype, copy=False)
