"""The sandwich [ELBO, IWAE_k, CUBO_n] of a trained model from the same k samples, accumulated over chunks."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from ..bounds.checks import check_real
from ..checks import check_array

__all__ = ["sandwich"]


def sandwich(log_w_chunks, n: float = 2) -> dict:
    """ELBO, IWAE_k and CUBO_n estimates per example from k samples that arrive in chunks.

    log_w_chunks: an iterable of (k_i, N) arrays of log weights of the same N examples
    (evaluation draws k = 5000 samples in chunks to bound memory). Returns a dict of (N,) arrays
    {"elbo": mean_s log w_s, "iwae": log (1/k) Σ_s w_s, "cubo": (1/n) log (1/k) Σ_s w_s^n} and
    "k". Combining chunks needs only running totals: Σ log w, and log Σ w and log Σ w^n merged
    with logaddexp (log(e^a + e^b) without overflow). Remember the CUBO estimate is biased low
    (see :class:`numpyvae.bounds.cubo.CUBO`): it brackets log p(x) from above only for large k.
    """
    n = check_real(n, "sandwich", "n")
    if not (1.0 < n < math.inf):
        raise ValueError(f"sandwich: n must be a finite number > 1 (the order of CUBO_n), got n = {n}")
    k, sum_log_w, lse_w, lse_wn = 0, None, None, None
    for chunk in log_w_chunks:
        check_array(chunk, "sandwich", ndim=2, name="log_w chunk")
        if sum_log_w is None:
            sum_log_w, lse_w, lse_wn = chunk.sum(0), logsumexp(chunk, axis=0), logsumexp(n * chunk, axis=0)
        elif chunk.shape[1] != sum_log_w.shape[0]:
            raise ValueError(f"sandwich: every chunk must hold the same {sum_log_w.shape[0]} examples, "
                             f"got a chunk of shape {chunk.shape}")
        else:
            sum_log_w = sum_log_w + chunk.sum(0)
            lse_w = np.logaddexp(lse_w, logsumexp(chunk, axis=0))
            lse_wn = np.logaddexp(lse_wn, logsumexp(n * chunk, axis=0))
        k += chunk.shape[0]
    if k < 2:
        raise ValueError(f"sandwich: needs k >= 2 samples in all, got k = {k}; the CUBO estimate with one "
                         "sample is log w, whose expectation is the ELBO")
    log_k = math.log(k)
    return {"elbo": sum_log_w / k, "iwae": lse_w - log_k, "cubo": (lse_wn - log_k) / n, "k": k}
