"""A conditional Gaussian p(z | h) = N(z; mu(h), diag e^{logvar(h)}): the generative link between two
stochastic layers of a hierarchical VAE (numpyvae.models.hvae), e.g. p(z₁ | z₂) in Burda et al.'s two-layer model.

The network that reads h and outputs (mu, logvar) is an ``nn.MultiHead`` owned by the model;
this piece is only the density and its gradient, so it can be checked on its own:

    log_p, tape = ConditionalGaussian(K).log_prob(z, mu, logvar)     # z, mu, logvar (..., K) -> (...)
    dz, dmu, dlogvar = piece.backward(dlog_p, tape)                   # each like z

Unlike q(z|x)'s ``log_q`` (a function of (mu, logvar) with the noise held fixed), here z is
an input of its own: z was drawn by the encoder, and p(z | h) is scored at it, so the gradient
has three parts, w.r.t. z, mu and logvar.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_array, check_positive_int

LOG_2PI = float(np.log(2 * np.pi))


class ConditionalGaussian:
    """log N(z; mu, diag e^{logvar}) summed over the K dimensions, and its hand-written gradient.

    Shapes: z, mu, logvar (..., K) (in a model (S, N, K): one (mu, logvar) per sample, since h
    is itself a sample); log_p (...,).
    """

    name = "conditional-gaussian"

    def __init__(self, z_dim: int):
        self.z_dim = check_positive_int(z_dim, "ConditionalGaussian", "z_dim")

    def log_prob(self, z: np.ndarray, mu: np.ndarray, logvar: np.ndarray):
        """log p(z | h) = −½ Σ_k [ (z_k − mu_k)² e^{−logvar_k} + logvar_k + log 2π ], (...,)."""
        where = "ConditionalGaussian.log_prob"
        for name, a in (("z", z), ("mu", mu), ("logvar", logvar)):
            check_array(a, where, last=self.z_dim, name=name)
        if not z.shape == mu.shape == logvar.shape:
            raise ValueError(f"{where}: z, mu and logvar must have one shape (..., {self.z_dim}), "
                             f"got {z.shape}, {mu.shape}, {logvar.shape}")
        precision = np.exp(-logvar)
        u = z - mu                                   # the residual
        u_p = u * precision                          # (z − mu) / sigma², kept for the backward
        log_p = np.einsum("...k,...k->...", u, u_p)  # Σ_k (z − mu)² / sigma², no squared temporary
        log_p += logvar.sum(-1)
        log_p += self.z_dim * LOG_2PI
        log_p *= -0.5
        return log_p, (u, u_p)

    def backward(self, dlog_p: np.ndarray, tape):
        """Gradients of L through log_p, given dlog_p = ∂L/∂log p (...,). Returns (dz, dmu, dlogvar).

        With u = z − mu and P = e^{−logvar}:
            ∂log p/∂z_k      = −u_k P_k                 -> dz      = −dlog_p · u P
            ∂log p/∂mu_k     = +u_k P_k                 -> dmu     = −dz
            ∂log p/∂logvar_k = ½ (u_k² P_k − 1)         -> dlogvar = ½ dlog_p · (u · uP − 1)
        (the last from ∂/∂s [−½ (u² e^{−s} + s)] = ½ u² e^{−s} − ½).
        """
        u, u_p = tape
        g = dlog_p[..., None]
        dz = u_p * g
        np.negative(dz, out=dz)
        dmu = -dz
        dlogvar = u * u_p
        dlogvar -= 1.0
        dlogvar *= g
        dlogvar *= 0.5
        return dz, dmu, dlogvar
