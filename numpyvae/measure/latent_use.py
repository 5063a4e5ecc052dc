"""Which latent dimensions a model uses: active units (Burda et al., 2015) and the KL of each dimension.

Unit k is active if Var_x(E_q[z_k]) > 0.01; a dimension whose KL(q(z_k|x) || p(z_k)) is ≈ 0 has
collapsed to the prior. Both are means over the rows of x; the KL is in nats.
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import check_positive_int
from ..latent.kl import kl_analytic
from .inputs import batches, check_x

__all__ = ["active_units", "active_units_per_layer", "latent_means", "kl_per_dimension", "has_kl_per_dimension"]


def _q_batches(model, x, batch_size, y=None):
    """Yield the parameters of q(z|x[, y]) (for the diagonal Gaussian [mu, logvar]) batch by batch."""
    for sl in batches(x.shape[0], batch_size):
        yield model.encode(x[sl]) if y is None else model.encode(x[sl], y[sl])


def has_kl_per_dimension(model) -> bool:
    """The KL splits over latent dimensions in closed form only for a diagonal Gaussian q and N(0, I)."""
    return model.posterior.name == "gaussian" and model.prior.name == "standard" and not hasattr(model, "stochastic")


def active_units(model, x: np.ndarray, threshold: float = 0.01, batch_size: int = 500,
                 y=None) -> tuple[int, np.ndarray]:
    """Latent dimensions the model uses (Burda et al., 2015, section 5.2).

    Unit k is active if A_k = Var_x(E_{q(z|x)}[z_k]) > threshold: if the posterior
    mean of z_k barely moves from one input to the next, z_k carries no
    information about x (its KL is ~0 too, q(z_k|x) ≈ p(z_k)).
    E_q[z] is the family's point summary (mu for a Gaussian; for a flow, mu
    pushed through the flow, its value at eps = 0), so A_k is its variance over
    the rows of x (population variance, divided by N).

    y: the labels of a conditional VAE (its q(z|x, y) reads them).

    Returns (count, A) with A of shape (K,), float64.
    """
    where = "active_units"
    x = check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"{where}: threshold must be a finite number >= 0, got {threshold!r}")
    variance = np.concatenate([layer.var(axis=0) for layer in latent_means(model, x, batch_size, y)])
    return int((variance > threshold).sum()), variance


def latent_means(model, x: np.ndarray, batch_size: int = 500, y=None) -> list:
    """E_q[z] of every stochastic layer over x: a list of (N, K_l) float64 arrays (one for a VAE;
    for a hierarchy, the mean path z₁ = mu₁(x), z₂ = mu₂(z₁), ...); y: a conditional VAE's labels."""
    per_batch = [model.latent_means(x[sl], None if y is None else y[sl]) for sl in batches(x.shape[0], batch_size)]
    return [np.concatenate(layer).astype(np.float64) for layer in zip(*per_batch)]


def active_units_per_layer(model, variance: np.ndarray, threshold: float = 0.01) -> list:
    """Active units of each stochastic layer, from :func:`active_units`' variances (K₁ + ... values)."""
    sizes = getattr(model, "stochastic", [variance.size])
    bounds = np.cumsum([0, *sizes])
    return [int((variance[a:b] > threshold).sum()) for a, b in zip(bounds[:-1], bounds[1:])]


def kl_per_dimension(model, x: np.ndarray, batch_size: int = 500, y=None) -> np.ndarray:
    """Mean over x of the analytic KL(q(z_k|x) || N(0, 1)) per latent dimension, (K,) float64, nats.

    Sums to the KL part of :func:`numpyvae.measure.elbo.test_elbo`. A dimension with KL ≈ 0 has
    collapsed to the prior ("posterior collapse") and is inactive.
    """
    where = "kl_per_dimension"
    if not has_kl_per_dimension(model):
        raise ValueError(f"{where}: the KL splits per dimension only for posterior 'gaussian' with prior "
                         f"'standard'; this model has {model.posterior.name!r} and {model.prior.name!r}")
    x = check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    total = np.zeros(model.z_dim)
    for mu, logvar in _q_batches(model, x, batch_size, y):
        total += kl_analytic(mu, logvar).sum(axis=0, dtype=np.float64)
    return total / x.shape[0]

