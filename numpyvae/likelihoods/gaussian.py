"""The Gaussian likelihood of real pixels: a fixed σ (the MSE view), or a learned per-pixel log-variance."""
from __future__ import annotations

import math

import numpy as np

from ..checks import check_rng
from ..stable import sigmoid, softplus
from .base import Likelihood, dot_last

__all__ = ["Gaussian", "LearnedGaussian"]

LOG_2PI = math.log(2.0 * math.pi)


class Gaussian(Likelihood):
    """Gaussian with a fixed standard deviation σ:  p(x | m) = N(x; m, σ² I).

    -log p(x | m) = ½ Σ_d ((x - m)²/σ² + log 2πσ²)
    d/dm          = (m - x)/σ²

    The MSE view: with σ fixed, the reconstruction term of the ELBO is the
    squared error Σ(x - m)² scaled by 1/(2σ²) plus a constant, so
    -ELBO = ||x - m||²/(2σ²) + KL + const. Multiplying through by 2σ²
    gives ||x - m||² + 2σ²·KL: β_eff = 2σ², so a small σ weights reconstruction
    over the KL (like β < 1), a large σ does the opposite.
    """
    name = "gaussian"
    heads = ("mean",)

    def __init__(self, sigma: float = 1.0):
        super().__init__()
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.floating, np.integer)) \
                or not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"Gaussian: sigma must be a finite number > 0, got {sigma!r}")
        self.sigma = float(sigma)

    def __repr__(self):
        return f"Gaussian(sigma={self.sigma!r})"

    def _nll(self, x, m):
        # Plain version: nll = 0.5 * (((x - m) / sigma)**2 + log(2 pi sigma^2)).sum(-1)
        r = np.subtract(m, x)                             # residual m - x, kept for backward
        D = x.shape[-1]
        nll = dot_last(r, r)
        nll *= 0.5 / self.sigma ** 2
        nll += 0.5 * D * (LOG_2PI + 2.0 * math.log(self.sigma))
        return nll, (r,)

    def _grads(self, c, cache):
        """d nll/dm = (m - x)/σ²."""
        (r,) = cache
        dm = np.multiply(r, c)
        dm *= 1.0 / self.sigma ** 2
        return (dm,)

    def mean(self, mean):
        """E[x] = m."""
        return mean

    def sample(self, rng, mean):
        """x = m + σ ε, ε ~ N(0, I)."""
        check_rng(rng, "Gaussian.sample")
        eps = rng.standard_normal(mean.shape, dtype=mean.dtype)
        eps *= self.sigma
        eps += mean
        return eps


class LearnedGaussian(Likelihood):
    """Gaussian with a learned per-pixel log-variance:  p(x | m, s) = N(x; m, e^s).

    -log p = ½ Σ_d ((x - m)² e^(-s) + s + log 2π)
    d/dm   = (m - x) e^(-s)
    d/ds   = ½ (1 - (x - m)² e^(-s))

    min_logvar (optional) floors the variance smoothly: the decoder's raw head
    r becomes s = min_logvar + softplus(r - min_logvar) ≥ min_logvar, and
    d/dr = d/ds · sigmoid(r - min_logvar). Without a floor, pixels that are
    constant in the data (MNIST's borders) drive s → -inf and the nll → -inf;
    a smooth floor (not a clip) keeps the gradient alive below it.
    """
    name = "gaussian-learned"
    heads = ("mean", "logvar")

    def __init__(self, min_logvar: float | None = None):
        super().__init__()
        if min_logvar is not None and (isinstance(min_logvar, bool) or not isinstance(min_logvar, (int, float, np.floating, np.integer))
                                       or not math.isfinite(min_logvar)):
            raise ValueError(f"LearnedGaussian: min_logvar must be None or a finite number, got {min_logvar!r}")
        self.min_logvar = None if min_logvar is None else float(min_logvar)

    def __repr__(self):
        return f"LearnedGaussian(min_logvar={self.min_logvar!r})"

    def _floored(self, logvar):
        """s = min_logvar + softplus(logvar - min_logvar) and ds/dlogvar (or logvar itself and None)."""
        if self.min_logvar is None:
            return logvar, None
        u = logvar - self.min_logvar
        s = softplus(u)
        s += self.min_logvar
        return s, sigmoid(u, out=u)                       # ds/dlogvar = sigmoid(logvar - min_logvar)

    def _nll(self, x, m, logvar):
        # Plain version: nll = 0.5 * ((x - m)**2 * exp(-s) + s + log(2 pi)).sum(-1)
        s, ds_dlogvar = self._floored(logvar)
        r = np.subtract(m, x)                             # m - x
        rw = np.negative(s)
        np.exp(rw, out=rw)                                # e^(-s), the precision
        rw *= r                                           # (m - x) e^(-s), kept for backward
        nll = dot_last(r, rw)                            # Σ (x - m)² e^(-s)
        nll += s.sum(axis=-1)
        nll += x.shape[-1] * LOG_2PI
        nll *= 0.5
        return nll, (r, rw, ds_dlogvar)

    def _grads(self, c, cache):
        """dm = (m - x) e^(-s);  ds = ½ (1 - (m - x) · (m - x) e^(-s));  dlogvar = ds · ds/dlogvar."""
        r, rw, ds_dlogvar = cache
        dm = np.multiply(rw, c)
        ds = np.multiply(r, rw)
        np.subtract(1, ds, out=ds)
        ds *= 0.5 * c
        if ds_dlogvar is not None:
            ds *= ds_dlogvar
        return dm, ds

    def mean(self, mean, logvar):
        """E[x] = m."""
        return mean

    def sample(self, rng, mean, logvar):
        """x = m + e^(s/2) ε, ε ~ N(0, I) (s floored as in forward)."""
        check_rng(rng, "LearnedGaussian.sample")
        s, _ = self._floored(logvar)
        std = np.multiply(s, 0.5)
        np.exp(std, out=std)
        x = rng.standard_normal(mean.shape, dtype=mean.dtype)
        x *= std
        x += mean
        return x
