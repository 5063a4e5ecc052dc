"""Objectives: the ELBO (with β and S samples) and the importance-weighted bound.

Both are written through one quantity, the log importance weight of sample s
of example n:

    log w_sn = log p(x_n | z_sn) + log p(z_sn) − log q(z_sn | x_n)

* ELBO (S samples): (1/S) Σ_s log w_sn   — with the analytic KL, the
  log p(z) − log q part is replaced by its exact expectation, −KL.
* IWAE bound, k = S samples (Burda et al., 2015):
      L_k = log (1/k) Σ_s w_sn = logsumexp_s(log w_sn) − log k
  ≥ ELBO, and non-decreasing in k. For k = 1 it is the ELBO with the Monte
  Carlo KL.

The gradient of either is Σ_s c_sn ∇ log w_sn with per-sample weights c:
c = 1/S for the ELBO, c = softmax_s(log w) for IWAE. So the backward pass is
the same code with different weights — see :func:`sample_weights`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

OBJECTIVES = ("elbo", "iwae")


def iwae_bound(log_w: np.ndarray) -> np.ndarray:
    """logsumexp_s(log w_sn) − log S, per example: (S, N) -> (N,).

    logsumexp subtracts the max before exponentiating: log w is often −500 or
    less for images, and exp(−500) is 0 in float64.
    """
    return logsumexp(log_w, axis=0) - math.log(log_w.shape[0])   # a Python float keeps float32 float32


def sample_weights(log_w: np.ndarray | None, objective: str, S: int, N: int, dtype) -> np.ndarray:
    """c_sn, the weight of sample (s, n) in the gradient of the batch-mean loss, (S, N).

    The loss is −mean_n(bound_n), so every weight carries a 1/N.
    ELBO: ∂/∂log w_sn of (1/S) Σ_s log w_sn is 1/S.
    IWAE: ∂/∂log w_sn of logsumexp_s(log w_sn) is softmax_s(log w)_sn = w̃_sn,
    the normalized importance weight.
    """
    if objective == "elbo":
        return np.full((S, N), 1.0 / (S * N), dtype=dtype)
    w_tilde = np.exp(log_w - logsumexp(log_w, axis=0, keepdims=True))
    return (w_tilde / N).astype(dtype, copy=False)
