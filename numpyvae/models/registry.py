"""Every kind of model a run can hold, and how each is rebuilt from its saved config.

    vae, hvae     numpyvae.models.vae.VAE / numpyvae.models.hvae.HVAE (every family, prior, bound, network;
                  conditional, categorical, plain AE are VAEs)
    m2            numpyvae.models.m2.M2Model          (semi-supervised, Kingma et al. 2014)
    helmholtz     numpyvae.models.helmholtz.HelmholtzModel   (binary latents, wake-sleep)
    avb           numpyvae.models.avb.AVBModel        (implicit q and a critic; two parameter groups)

The checkpoint reader builds every model through :func:`model_from_kind`.
"""
from __future__ import annotations

__all__ = ["KINDS", "model_from_kind"]

KINDS = ("vae", "hvae", "m2", "helmholtz", "avb")


def model_from_kind(kind: str, config: dict):
    """The model of ``kind`` built from its saved config (``model.config``); ValueError for an unknown kind
    or a config that does not fit it."""
    if not isinstance(config, dict):
        raise ValueError(f"a model config must be a JSON object, got {type(config).__name__}")
    if kind in ("vae", "hvae"):
        from . import model_from_config
        if bool(config.get("stochastic")) != (kind == "hvae"):
            raise ValueError(f"a {kind} config {'needs' if kind == 'hvae' else 'has no'} stochastic layer sizes")
        return model_from_config(config)
    if kind == "m2":
        from .m2 import M2Model
        return M2Model(**config)
    if kind == "helmholtz":
        from .helmholtz import HelmholtzModel
        return HelmholtzModel(**config)
    if kind == "avb":
        from .avb import AVBModel
        return AVBModel(**config)
    raise ValueError(f"unknown model kind {kind!r}; one of {', '.join(KINDS)}")
