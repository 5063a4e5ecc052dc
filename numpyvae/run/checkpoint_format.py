"""The checkpoint file, format 2: its layout, its atomic writer, its members read back and checked.

A checkpoint is one ``.npz`` file (NumPy's zip of arrays, read with
allow_pickle=False, so loading one runs no code). Every kind of model (vae, hvae,
m2, helmholtz, avb: :data:`numpyvae.models.registry.KINDS`) is saved the same way:

    format_version        int, bumped whenever the layout changes (now 2)
    kind                  the model's kind, e.g. "vae" or "avb"
    config                JSON text: the model's and the run's configuration
    param/<group>/<name>  every parameter of every group ("param/model/encoder.0.W";
                          AVB: "param/generator/...", "param/critic/...")
    optim/<group>/<key>   each group's optimizer state_dict ("optim/model/t", "optim/model/m/encoder.0.W")
    rng/<name>            JSON text: bit-generator states (model noise, trainer shuffling)
    state/<name>          what the model needs beyond its parameters to be rebuilt as it was
                          ("state/posterior.tau": a Gumbel-softmax posterior's temperature, which the
                          trainer anneals; without it evaluate and plot would use τ = 1)
    progress              JSON text: epochs done, history so far

It is written atomically: to a temporary file beside the target, flushed to
disk, then renamed over it with os.replace. A crash mid-write leaves the
previous checkpoint intact and loadable.

The one reader of every format (this one, format 1 and ``helmholtz.npz``:
:mod:`numpyvae.run.checkpoint_legacy`) is :func:`numpyvae.run.checkpoint.read_checkpoint`;
the member readers here refuse a truncated, bit-flipped, empty or crafted file with one
:class:`CheckpointError` line naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_save

FORMAT_VERSION = 2
CHECKPOINT = "checkpoint.npz"
#: what the Helmholtz trainer wrote before the protocol (read, converted, never written)
LEGACY_HELMHOLTZ = "helmholtz.npz"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not match what it is loaded into."""


def save_json(path, obj) -> Path:
    """Write JSON atomically (histories and configs hold work too)."""
    return atomic_save(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def _json_array(obj) -> np.ndarray:
    return np.array(json.dumps(obj))


def model_kind(model) -> str:
    """A model's kind: its ``kind`` attribute, or for the engine's VAE classes "hvae" / "vae"."""
    kind = getattr(model, "kind", "")
    if kind:
        return kind
    return "hvae" if getattr(model, "stochastic", None) else "vae"


def model_groups(model) -> dict:
    """{group: {name: array}}: a protocol model's ``groups``, or the one group "model" of a VAE."""
    groups = getattr(model, "groups", None)
    if isinstance(groups, dict) and groups:
        return {g: pg.params for g, pg in groups.items()}
    return {"model": model.params}


def save_checkpoint(path, model, optimizer=None, *, config: dict | None = None,
                    rngs: dict | None = None, progress: dict | None = None) -> Path:
    """Write model (+ optimizer states, generator states, progress) to ``path`` atomically.

    Parameters
    ----------
    path : str or Path           the .npz file
    model : a VAE, HVAE or any protocol model (numpyvae.models.base.Model)
    optimizer : an Optimizer (of the one group "model"), or {group: Optimizer}, optional
    config : dict, optional      the run's configuration (JSON-able)
    rngs : dict name -> np.random.Generator, optional   their states are saved
    progress : dict, optional    e.g. {"epoch": 3, "history": [...]}
    """
    arrays = {"format_version": np.array(FORMAT_VERSION), "kind": np.array(model_kind(model)),
              "config": _json_array({"model": model.config, "run": config or {}}),
              "progress": _json_array(progress or {})}
    if getattr(model, "rng", None) is not None:
        arrays["rng/model"] = _json_array(model.rng.bit_generator.state)
    for name, rng in (rngs or {}).items():
        arrays[f"rng/{name}"] = _json_array(rng.bit_generator.state)
    for group, params in model_groups(model).items():
        arrays.update({f"param/{group}/{k}": v for k, v in params.items()})
    optimizers = optimizer if isinstance(optimizer, dict) else {} if optimizer is None else {"model": optimizer}
    for group, opt in optimizers.items():
        arrays.update({f"optim/{group}/{k}": v for k, v in opt.state_dict().items()})
    if hasattr(getattr(model, "posterior", None), "tau"):
        arrays["state/posterior.tau"] = np.array(float(model.posterior.tau))
    return atomic_save(path, lambda f: np.savez(f, **arrays))


def no_checkpoint(path) -> CheckpointError:
    """The error for a checkpoint that is not there."""
    return CheckpointError(f"no checkpoint at {path}; train first (python -m numpyvae train) "
                           "or give the run directory that holds checkpoint.npz")


@dataclass
class Checkpoint:
    """What a checkpoint file holds, read back (see :func:`read_checkpoint`).

    groups : {group: {name: array}}     optim : {group: {key: array}}
    ``params`` and ``optim_state`` are the group "model" (a VAE's or HVAE's only group).
    """
    path: Path
    kind: str
    model_config: dict
    run_config: dict
    groups: dict
    optim: dict
    rng_states: dict
    progress: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    state: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        return self.groups.get("model", {})

    @property
    def optim_state(self) -> dict:
        return self.optim.get("model", {})


def read_members(path: Path) -> dict:
    """Every member of the .npz as an array; CheckpointError for anything that is not a whole npz of arrays."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:     # BadZipFile, NotImplementedError ("zip file version"), OSError, EOFError, ...
        raise CheckpointError(f"{path} is corrupt or not a numpyvae checkpoint ({type(err).__name__}: {err}); "
                              "delete it and train again, or use an older copy") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path} is a single .npy array, not a numpyvae checkpoint (an .npz archive); "
                              "give the checkpoint.npz that training wrote")
    try:
        with loaded as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as err:     # any failure while decompressing a member is corruption of this file
        raise CheckpointError(f"{path} is corrupt: a member cannot be read ({type(err).__name__}: {err}); "
                              "delete it and train again, or use an older copy") from None
    odd = [k for k, v in data.items() if not isinstance(v, np.ndarray)]
    if odd:
        raise CheckpointError(f"{path} is corrupt: member(s) {odd} are not .npy arrays")
    if not data:
        raise CheckpointError(f"{path} is an empty archive, not a numpyvae checkpoint")
    return data


def check_version(path: Path, data: dict) -> int:
    try:
        version = int(data.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version not in (1, FORMAT_VERSION):
        raise CheckpointError(f"{path} has checkpoint format version {version}, this numpyvae reads "
                              f"versions 1 and {FORMAT_VERSION}")
    return version


def json_member(path: Path, data: dict, name: str, default=None):
    """A JSON-object member, parsed; CheckpointError if it is missing (and has no default) or not an object."""
    if name not in data:
        if default is not None:
            return default
        raise CheckpointError(f"{path} is missing its {name!r} member")
    try:
        value = json.loads(str(data[name]))
    except ValueError as err:               # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"{path} has a corrupt {name!r} member ({err})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: its {name!r} member must be a JSON object, got {type(value).__name__}")
    return value


def metadata(path: Path, data: dict):
    """(model config, run config, rng states, progress) from the JSON members, each checked to be an object."""
    config = json_member(path, data, "config")
    progress = json_member(path, data, "progress", {})
    rngs = {k[4:]: json_member(path, data, k) for k in data if k.startswith("rng/")}
    if not isinstance(config.get("model"), dict) or not isinstance(config.get("run", {}), dict):
        raise CheckpointError(f"{path} is missing or has corrupt metadata (config must hold a 'model' object "
                              "and a 'run' object)")
    return config["model"], config.get("run", {}), rngs, progress


def grouped(path: Path, data: dict, prefix: str) -> dict:
    """{group: {name: array}} from members "<prefix>/<group>/<name>"."""
    out = {}
    for key, value in data.items():
        if key.startswith(prefix + "/"):
            group, _, name = key[len(prefix) + 1:].partition("/")
            if not group or not name:
                raise CheckpointError(f"{path}: member {key!r} is not {prefix}/<group>/<name>")
            out.setdefault(group, {})[name] = value
    return out


def from_format_2(path: Path, data: dict) -> Checkpoint:
    from ..models.registry import KINDS
    known = {"format_version", "kind", "config", "progress"}
    stray = [k for k in data if k not in known and not k.startswith(("param/", "optim/", "rng/", "state/"))]
    if stray:
        raise CheckpointError(f"{path} holds member(s) a numpyvae checkpoint does not have: {stray}")
    if "kind" not in data or data["kind"].dtype.kind != "U" or data["kind"].ndim != 0:
        raise CheckpointError(f"{path} is missing its 'kind' member (which model it holds)")
    kind = str(data["kind"])
    if kind not in KINDS:
        raise CheckpointError(f"{path} holds a model of kind {kind!r}; this numpyvae knows {list(KINDS)}")
    model_config, run_config, rngs, progress = metadata(path, data)
    groups = grouped(path, data, "param")
    if not groups:
        raise CheckpointError(f"{path} holds no parameters (no param/<group>/<name> member)")
    return Checkpoint(path=path, kind=kind, model_config=model_config, run_config=run_config, groups=groups,
                      optim=grouped(path, data, "optim"), rng_states=rngs, progress=progress, state=saved_state(data))


def saved_state(data: dict) -> dict:
    """{name: array} of the members "state/<name>"."""
    return {k[6:]: v for k, v in data.items() if k.startswith("state/")}

