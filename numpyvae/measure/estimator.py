"""The importance-sampling estimate of log p(x), chunk by chunk, for any model that gives its log weights.

    log p(x) ≈ log (1/k) Σ_{i=1..k} w_i,     log w_i = log p(x, z_i) − log r(z_i | x),   z_i ~ r(z | x)

for a proposal r (a VAE's q, a Helmholtz machine's q(h|x), a Gaussian fitted to AVB's implicit q,
M2's q(z|x, y) for each y). Its expectation is a lower bound on log p(x) that rises to it as k grows.

A model supplies ``log_weights(sl, c, rng) -> (c, n)``: the log weights of ``c`` fresh samples for
the examples ``sl`` (a slice of the N). The k samples go ``chunk`` at a time for ``batch_size``
examples at a time, so memory is about chunk × batch_size × D floats whatever k. The sum over
chunks is a running log-sum-exp: m = max log w so far, a = Σ exp(log w − m); a new chunk with max m'
makes m_new = max(m, m'), a ← a·exp(m − m_new) + Σ exp(log w − m_new). Every exp is ≤ 1 and a ≥ 1,
so nothing overflows and log a is finite, while exp(log w) of −100 nats or less would underflow.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["importance_sampled", "check_k"]


def check_k(k, where: str) -> int:
    """k, importance samples per example, as an int >= 1; ValueError naming ``where`` otherwise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: k (importance samples per example) must be an integer >= 1, got {k!r}")
    return int(k)


def importance_sampled(log_weights, n: int, k: int, rng: np.random.Generator, *, batch_size: int = 100,
                       chunk: int = 100, bar=None, on_batch=None) -> dict:
    """{"log_likelihood": (N,), "elbo": (N,)} float64: log (1/k) Σ w_i and (1/k) Σ log w_i (the ELBO of the
    same samples) per example; ``log_weights(sl, c, rng)`` -> (c, n_sl) gives one chunk's log weights.

    The draws happen batch after batch, chunk after chunk, in that order, from ``rng``; ``bar`` (a
    Progress, optional) is advanced once per chunk. ``on_batch(sl, chunks)``, optional, receives each
    batch's float64 log-weight chunks once the batch is done (k × batch_size floats; evaluate's sandwich
    reads its other bounds from them); without it no chunk is kept.
    """
    k = check_k(k, "importance_sampled")
    out, elbo = np.empty(n), np.empty(n)
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        m = np.full(sl.stop - start, -np.inf)              # running max of log w
        a = np.zeros(sl.stop - start)                     # running Σ exp(log w − m)
        total = np.zeros(sl.stop - start)                 # Σ log w, for the ELBO
        kept = []
        for done in range(0, k, chunk):
            log_w = np.asarray(log_weights(sl, min(chunk, k - done), rng), dtype=np.float64)   # (c, n)
            m_new = np.maximum(m, log_w.max(axis=0))
            a *= np.exp(m - m_new)
            a += np.exp(log_w - m_new).sum(axis=0)
            m = m_new
            total += log_w.sum(axis=0)
            if on_batch is not None:
                kept.append(log_w)
            if bar is not None:
                bar.update()
        out[sl] = m + np.log(a) - math.log(k)
        elbo[sl] = total / k
        if on_batch is not None:
            on_batch(sl, kept)
    return {"log_likelihood": out, "elbo": elbo}
