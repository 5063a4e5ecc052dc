"""Variational families q(z|x) and priors p(z) by name, for the model, the CLI and TOML files."""
from __future__ import annotations

from .gaussian import DiagonalGaussian
from .priors import StandardNormal

#: name -> family class; each is built as cls(z_dim)
POSTERIORS = {"gaussian": DiagonalGaussian}
#: name -> prior class; each is built as cls(z_dim)
PRIORS = {"standard": StandardNormal}


def _make(kind: str, registry: dict, name, z_dim: int):
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(repr(k) for k in registry)}")
    return registry[name](z_dim)


def make_posterior(name: str, z_dim: int):
    """The variational family q(z|x) called ``name`` ("gaussian") for a K = z_dim latent."""
    return _make("posterior", POSTERIORS, name, z_dim)


def make_prior(name: str, z_dim: int):
    """The prior p(z) called ``name`` ("standard") for a K = z_dim latent."""
    return _make("prior", PRIORS, name, z_dim)
