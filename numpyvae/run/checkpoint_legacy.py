"""The checkpoints written before format 2, read: format 1 (a VAE or HVAE) and the Helmholtz trainer's helmholtz.npz.

Both are read into the same :class:`numpyvae.run.checkpoint_format.Checkpoint` as a format-2
file, so evaluate, sample, plot and resume take them; a resumed run saves format 2. Neither is
ever written again.
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint_format import Checkpoint, CheckpointError, json_member, metadata, saved_state

__all__ = ["from_format_1", "from_helmholtz_npz"]


def from_format_1(path: Path, data: dict) -> Checkpoint:
    """A checkpoint written before the protocol: a VAE or an HVAE, parameters "param/<name>", one optimizer."""
    model_config, run_config, rngs, progress = metadata(path, data)
    params = {k[6:]: v for k, v in data.items() if k.startswith("param/")}
    if not params:
        raise CheckpointError(f"{path} holds no parameters (no param/<name> member)")
    optim = {k[6:]: v for k, v in data.items() if k.startswith("optim/")}
    return Checkpoint(path=path, kind="hvae" if model_config.get("stochastic") else "vae",
                      model_config=model_config, run_config=run_config, groups={"model": params},
                      optim={"model": optim} if optim else {}, rng_states=rngs, progress=progress, format_version=1,
                      state=saved_state(data))


def from_helmholtz_npz(path: Path, data: dict) -> Checkpoint:
    """The Helmholtz trainer's helmholtz.npz (before format 2): "meta" JSON with config, epoch, history, rngs."""
    from ..models.helmholtz import helmholtz_model_config
    meta = json_member(path, data, "meta")
    run_config, rngs = meta.get("config"), meta.get("rngs", {})
    if not isinstance(run_config, dict) or not isinstance(rngs, dict) or \
            not all(isinstance(v, dict) for v in rngs.values()):
        raise CheckpointError(f"{path} has corrupt metadata (its meta must hold a config and generator states)")
    params = {k[6:]: v for k, v in data.items() if k.startswith("param/")}
    encoder_w = [v for k, v in params.items() if k.startswith("encoder.") and k.endswith(".W") and v.ndim == 2]
    if not encoder_w:
        raise CheckpointError(f"{path} holds no encoder weights (no param/encoder.*.W member)")
    try:
        model_config = helmholtz_model_config(run_config, x_dim=int(encoder_w[0].shape[0]))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config does not describe a Helmholtz machine ({err})") from None
    optim = {k[6:]: v for k, v in data.items() if k.startswith("optim/")}
    progress = {"epoch": meta.get("epoch"), "history": meta.get("history")}
    if "noise" in rngs:                        # the machine's own noise (h ~ q and the dreams) is its rng/model
        rngs = {"model": rngs["noise"], **{k: v for k, v in rngs.items() if k != "noise"}}
    return Checkpoint(path=path, kind="helmholtz", model_config=model_config, run_config=run_config,
                      groups={"model": params}, optim={"model": optim} if optim else {}, rng_states=rngs,
                      progress=progress, format_version=0)
