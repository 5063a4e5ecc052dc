"""The models a run can train, built from a config: the one-layer VAE or the hierarchical HVAE.

A saved model config (checkpoint) that names stochastic layer sizes ("stochastic": [100, 50])
is an :class:`numpyvae.hvae.HVAE`; any other is a :class:`numpyvae.vae.VAE`. The trainer and
the checkpoint reader build models only through :func:`model_from_config`.
"""
from __future__ import annotations

from ..hvae import HVAE
from ..vae import VAE

__all__ = ["model_from_config", "MODEL_CLASSES"]

MODEL_CLASSES = (VAE, HVAE)


def model_from_config(config: dict):
    """VAE(**config), or HVAE(**config) when config has "stochastic" (the saved model config of either)."""
    return HVAE(**config) if config.get("stochastic") else VAE(**config)
