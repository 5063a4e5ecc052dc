"""M1's features: a trained VAE (M1) whose q(z|x) gives M2 its inputs, the paper's M1+M2 (Kingma et al. 2014).

Kingma, Rezende, Mohamed & Welling's best model on MNIST with 100 labels (3.33 % test error, against
11.97 % for M2 on the pixels) stacks two models: M1, a VAE trained on every training image without
labels, and M2 trained on M1's latent codes instead of the pixels. Their code
(dpkingma/nips14-ssl, learn_yz_x_ss.py, ``mnist_2layer``) does three things, and so does this file:

1. keeps only M1's *active* latent units: those whose posterior mean varies over the first 1,000
   training images with a standard deviation above 0.1 (the others copy the prior and carry nothing);
2. feeds M2 a fresh draw z₁ ~ q(z₁|x) = N(μ(x), σ²(x)) of each training image's features at every step
   (a sample, not the mean: M1's uncertainty is part of the data M2 sees);
3. classifies a test image by its features' mean μ(x).

M2 then models the features with a Gaussian p(z₁|y, z₂) (a mean and a log-variance per feature) in
place of the Bernoulli over pixels. M1's weights stay frozen: no gradient reaches them. They travel in
the M2 run's checkpoint as the parameter group "features", which no optimizer updates, so the run
needs M1's directory only when it is first built (``numpyvae.run.recipes.m1_features``).
"""
from __future__ import annotations

import numpy as np

from ..checks import check_array

__all__ = ["M1Features", "active_units", "ACTIVE_SD", "ACTIVE_FROM"]

ACTIVE_SD = 0.1        # Kingma's rule: a unit is active if its posterior mean's sd over the images exceeds this
ACTIVE_FROM = 1000     # ... over the first this many training images


def active_units(mu: np.ndarray) -> list[int]:
    """Indices of the latent units whose posterior mean μ (N, K) varies with sd > ACTIVE_SD over its rows."""
    return [int(i) for i in np.flatnonzero(mu.std(axis=0) > ACTIVE_SD)]


class M1Features:
    """A frozen VAE's q(z|x) restricted to its active units: x (N, D) -> features (N, F), F = len(keep).

    Parameters
    ----------
    model : dict    the M1 VAE's model config (its checkpoint's); a one-layer VAE with a Gaussian q
    keep : list     the active units' indices in 0..K−1, at least one
    run : str       where M1 was trained (recorded for the reader; not read again)
    dtype           the features' dtype (M2's)
    """

    def __init__(self, model: dict, keep, run: str = "", dtype="float32"):
        from . import model_from_config
        if not isinstance(model, dict) or model.get("stochastic") or model.get("n_labels"):
            raise ValueError("M1Features: M1 must be a one-layer, unconditional VAE (its model config)")
        self.vae = model_from_config(dict(model))
        if self.vae.posterior.name != "gaussian":
            raise ValueError(f"M1Features: M1's posterior must be the diagonal Gaussian (its features are a mean "
                             f"and a variance per unit), got {self.vae.posterior.name!r}")
        keep = [int(i) for i in keep]
        if not keep or len(set(keep)) != len(keep) or min(keep) < 0 or max(keep) >= self.vae.z_dim:
            raise ValueError(f"M1Features: keep must be distinct unit indices in 0..{self.vae.z_dim - 1}, at least "
                             f"one, got {keep!r}")
        self.keep, self.run, self.dtype = np.array(keep), str(run), np.dtype(dtype)
        self.x_dim, self.n_features = self.vae.x_dim, len(keep)
        self.config = dict(model=self.vae.config, keep=keep, run=self.run)

    def moments(self, x: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """(μ, log σ²) of q(z|x) on the kept units, each (N, F) in M2's dtype."""
        check_array(x, "M1Features", ndim=2, last=self.x_dim)
        x = np.asarray(x, dtype=self.vae.dtype)
        if x.shape[0] == 0:
            empty = np.empty((0, self.n_features), self.dtype)
            return empty, empty.copy()
        parts = [self.vae.encode(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        mu = np.concatenate([m[:, self.keep] for m, _ in parts]).astype(self.dtype, copy=False)
        logvar = np.concatenate([lv[:, self.keep] for _, lv in parts]).astype(self.dtype, copy=False)
        return mu, logvar

    def draw(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw z₁ = μ + σ·ε, ε ~ N(0, I), of each row's features: (N, F) (Kingma's training inputs)."""
        mu, logvar = self.moments(x)
        eps = rng.standard_normal(mu.shape).astype(self.dtype, copy=False)
        return mu + np.exp(0.5 * logvar) * eps

    def images(self, features: np.ndarray) -> np.ndarray:
        """M1's decoder mean E[x|z] at z = the features on the kept units and 0 (the prior's mean) elsewhere: (N, D)."""
        check_array(features, "M1Features.images", ndim=2, last=self.n_features)
        z = np.zeros((features.shape[0], self.vae.z_dim), dtype=self.vae.dtype)
        z[:, self.keep] = features
        return self.vae.likelihood.mean(*self.vae.decode(z))

    def describe(self) -> str:
        c = self.vae.config
        return (f"the {self.n_features} active units of M1, a {c['x_dim']}-{'-'.join(map(str, c['hidden']))}-"
                f"{c['z_dim']} VAE")
