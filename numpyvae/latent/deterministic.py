"""The point-mass "family" of the plain autoencoder: z = mu(x), no noise, no density, no KL term.

The VAE blog starts here: an autoencoder squeezes x through a code z = f(x) and
rebuilds it, trained on the reconstruction alone (MSE, which is −log N(x; x̂, σ²I) up
to constants, or the Bernoulli cross-entropy). Nothing asks the codes to fill any
particular region, so decoding a z drawn from N(0, I) lands wherever the codes do not
live, and the picture is noise (plots.plot_prior_decodings). The VAE's KL term is what
fixes that.

Written to the family contract so the VAE runs it unchanged:

    heads = {"mu": K}                       the encoder outputs the code itself
    z = mu (copied to every sample)         (S, N, K); eps is all zeros and unused
    log q = 0                               a placeholder: a point mass has no density,
                                            and ``has_density = False`` tells the model
                                            to add no KL / prior term at all
    backward: dmu = Σ_s dz                  every sample is the same mu
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DeterministicTape(NamedTuple):
    n_samples: int


class Deterministic:
    """q(z|x) = δ(z − mu(x)): the plain autoencoder's code. Heads {"mu": K}."""

    name = "deterministic"
    has_density = False          # no log q, so no KL and no log p(z) term: the model checks this

    def __init__(self, z_dim: int):
        self.z_dim = int(z_dim)
        self.heads = {"mu": self.z_dim}

    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype) -> np.ndarray:
        """Zeros of shape (S, N, K): there is no noise (nothing is drawn from rng)."""
        return np.zeros((n_samples, n, self.z_dim), dtype=dtype)

    def rsample(self, params, eps: np.ndarray):
        """[mu] (N, K), eps (S, N, K) (ignored but for its shape) -> (z = mu per sample (S, N, K), zeros (S, N), tape)."""
        (mu,) = params
        z = np.broadcast_to(mu, eps.shape).copy()
        return z, np.zeros(eps.shape[:2], dtype=mu.dtype), DeterministicTape(eps.shape[0])

    def backward(self, dz, dlog_q, tape: DeterministicTape):
        """z_s = mu for every s, so ∂L/∂mu = Σ_s ∂L/∂z_s; log q is a constant 0, so dlog_q adds nothing."""
        if dz is None:
            raise ValueError("Deterministic.backward: dz is required (the code z = mu is all the encoder gives)")
        return [dz.sum(axis=0)]

    def mean(self, params) -> np.ndarray:
        """The code itself, mu (N, K)."""
        return params[0]
