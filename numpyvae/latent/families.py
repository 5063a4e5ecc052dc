"""Variational families q(z|x) by name, for the model, the CLI and TOML files.

Priors have their own factory, :func:`numpyvae.latent.priors.make_prior`
("standard", "mog:K", "vamp:K").
"""
from __future__ import annotations

from .gaussian import DiagonalGaussian

#: name -> family class; each is built as cls(z_dim)
POSTERIORS = {"gaussian": DiagonalGaussian}


def make_posterior(name: str, z_dim: int):
    """The variational family q(z|x) called ``name`` ("gaussian") for a K = z_dim latent."""
    if not isinstance(name, str) or name not in POSTERIORS:
        raise ValueError(f"unknown posterior {name!r}; choose one of {', '.join(repr(k) for k in POSTERIORS)}")
    return POSTERIORS[name](z_dim)
