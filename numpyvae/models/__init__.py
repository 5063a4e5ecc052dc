"""The models a run can train, built from a config: the one-layer VAE or the hierarchical HVAE.

A saved model config (checkpoint) that names stochastic layer sizes ("stochastic": [100, 50])
is an :class:`numpyvae.models.hvae.HVAE`; any other is a :class:`numpyvae.models.vae.VAE`. The trainer and
the checkpoint reader build models only through :func:`model_from_config`.

The model classes are imported when first asked for, not with this package: they themselves
import :mod:`numpyvae.models.base`, the protocol they follow.
"""
from __future__ import annotations

__all__ = ["model_from_config", "MODEL_CLASSES"]


def model_from_config(config: dict):
    """VAE(**config), or HVAE(**config) when config has "stochastic" (the saved model config of either)."""
    from .hvae import HVAE
    from .vae import VAE
    return HVAE(**config) if config.get("stochastic") else VAE(**config)


def __getattr__(name):
    if name == "MODEL_CLASSES":
        from .hvae import HVAE
        from .vae import VAE
        return (VAE, HVAE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
