"""Priors p(z).

The prior contract (every p(z) in numpyvae.latent follows it)::

    log_p, tape = prior.log_prob(z)        # z (..., K) -> (...)
    dz = prior.backward(dlog_p, tape)      # and prior.grads, for a learned prior
    z = prior.sample(n, rng, dtype)        # (n, K)
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def log_standard_normal(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) summed over the last axis: −½ Σ_k (z² + log 2π). (…, K) -> (…)."""
    return -0.5 * (np.einsum("...k,...k->...", z, z) + z.shape[-1] * LOG_2PI)


class StandardNormal:
    """p(z) = N(0, I): no parameters."""

    name = "standard"

    def __init__(self, z_dim: int):
        self.z_dim = int(z_dim)
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()

    def log_prob(self, z: np.ndarray):
        """z (..., K) -> (log p(z) (...), tape); the tape is z itself."""
        return log_standard_normal(z), z

    def backward(self, dlog_p: np.ndarray, tape) -> np.ndarray:
        """log p = −½ Σ_k z_k² + const, so ∂log p/∂z = −z  ->  dz = −dlog_p · z, shape of z."""
        z = tape
        return z * -dlog_p[..., None]

    def sample(self, n: int, rng: np.random.Generator, dtype) -> np.ndarray:
        """z ~ N(0, I), (n, K)."""
        return rng.standard_normal((n, self.z_dim), dtype=dtype)
