"""Checkpoints and run directories.

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

:func:`read_checkpoint` is the one reader: it refuses a truncated, bit-flipped, empty or
crafted file, a missing member and (given ``kind``) a checkpoint of another kind, with one
:class:`CheckpointError` line naming the file. Format 1 (numpyvae before the protocol: a
VAE or HVAE with ``param/<name>``, no kind) and the Helmholtz trainer's ``helmholtz.npz``
are read into the same :class:`Checkpoint` (evaluate, sample, plot and resume them; a resumed
run saves format 2).

It is written atomically: to a temporary file beside the target, flushed to
disk, then renamed over it with os.replace. A crash mid-write leaves the
previous checkpoint intact and loadable.

A run directory holds ``checkpoint.npz``, ``config.json``, ``history.json``,
``LOCK`` (see :class:`numpyvae.files.DirectoryLock`) and the pictures;
:func:`load_run` reads it back from the checkpoint alone (config.json and
history.json are copies for reading by eye).
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


def no_checkpoint(path) -> CheckpointError:
    """The error for a checkpoint that is not there."""
    return CheckpointError(f"no checkpoint at {path}; train first (python -m numpyvae train) "
                           "or give the run directory that holds checkpoint.npz")


def read_checkpoint(path, kind: str | None = None) -> Checkpoint:
    """Read and validate a checkpoint file (a run directory: its checkpoint.npz, or a pre-protocol
    helmholtz.npz); a one-line CheckpointError naming the file if it is missing, corrupt, crafted,
    or (given ``kind``) holds another kind of model."""
    path = _checkpoint_path(path)
    data = _read_members(path)
    if "format_version" not in data and "meta" in data:
        ckpt = _from_helmholtz_npz(path, data)                 # the Helmholtz trainer's own file, before format 2
    else:
        version = _version(path, data)
        ckpt = _from_format_1(path, data) if version == 1 else _from_format_2(path, data)
    if path.name == LEGACY_HELMHOLTZ and ckpt.kind != "helmholtz":
        raise CheckpointError(f"{path} holds a {ckpt.kind} model, not a Helmholtz machine; a run's checkpoint "
                              f"is {CHECKPOINT}")
    if kind is not None and ckpt.kind != kind:
        raise CheckpointError(f"{path} holds a {ckpt.kind} model, not a {kind}")
    return ckpt


def _checkpoint_path(path) -> Path:
    path = Path(path)
    if path.is_dir():
        legacy = path / LEGACY_HELMHOLTZ
        path = legacy if legacy.is_file() and not (path / CHECKPOINT).exists() else path / CHECKPOINT
    if not path.exists():
        raise no_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file (a directory is in the way of the checkpoint)")
    return path


def _read_members(path: Path) -> dict:
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


def _version(path: Path, data: dict) -> int:
    try:
        version = int(data.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version not in (1, FORMAT_VERSION):
        raise CheckpointError(f"{path} has checkpoint format version {version}, this numpyvae reads "
                              f"versions 1 and {FORMAT_VERSION}")
    return version


def _json_member(path: Path, data: dict, name: str, default=None):
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


def _metadata(path: Path, data: dict):
    """(model config, run config, rng states, progress) from the JSON members, each checked to be an object."""
    config = _json_member(path, data, "config")
    progress = _json_member(path, data, "progress", {})
    rngs = {k[4:]: _json_member(path, data, k) for k in data if k.startswith("rng/")}
    if not isinstance(config.get("model"), dict) or not isinstance(config.get("run", {}), dict):
        raise CheckpointError(f"{path} is missing or has corrupt metadata (config must hold a 'model' object "
                              "and a 'run' object)")
    return config["model"], config.get("run", {}), rngs, progress


def _grouped(path: Path, data: dict, prefix: str) -> dict:
    """{group: {name: array}} from members "<prefix>/<group>/<name>"."""
    out = {}
    for key, value in data.items():
        if key.startswith(prefix + "/"):
            group, _, name = key[len(prefix) + 1:].partition("/")
            if not group or not name:
                raise CheckpointError(f"{path}: member {key!r} is not {prefix}/<group>/<name>")
            out.setdefault(group, {})[name] = value
    return out


def _from_format_2(path: Path, data: dict) -> Checkpoint:
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
    model_config, run_config, rngs, progress = _metadata(path, data)
    groups = _grouped(path, data, "param")
    if not groups:
        raise CheckpointError(f"{path} holds no parameters (no param/<group>/<name> member)")
    return Checkpoint(path=path, kind=kind, model_config=model_config, run_config=run_config, groups=groups,
                      optim=_grouped(path, data, "optim"), rng_states=rngs, progress=progress, state=_state(data))


def _state(data: dict) -> dict:
    """{name: array} of the members "state/<name>"."""
    return {k[6:]: v for k, v in data.items() if k.startswith("state/")}


def _from_format_1(path: Path, data: dict) -> Checkpoint:
    """A checkpoint written before the protocol: a VAE or an HVAE, parameters "param/<name>", one optimizer."""
    model_config, run_config, rngs, progress = _metadata(path, data)
    params = {k[6:]: v for k, v in data.items() if k.startswith("param/")}
    if not params:
        raise CheckpointError(f"{path} holds no parameters (no param/<name> member)")
    optim = {k[6:]: v for k, v in data.items() if k.startswith("optim/")}
    return Checkpoint(path=path, kind="hvae" if model_config.get("stochastic") else "vae",
                      model_config=model_config, run_config=run_config, groups={"model": params},
                      optim={"model": optim} if optim else {}, rng_states=rngs, progress=progress, format_version=1,
                      state=_state(data))


def _from_helmholtz_npz(path: Path, data: dict) -> Checkpoint:
    """The Helmholtz trainer's helmholtz.npz (before format 2): "meta" JSON with config, epoch, history, rngs."""
    from ..models.helmholtz import helmholtz_model_config
    meta = _json_member(path, data, "meta")
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


def load_params(model, params: dict, where: str = "checkpoint", target: dict | None = None) -> None:
    """Copy named arrays into the model (or into ``target``, one group's {name: array}), after checking
    that names and shapes match exactly and every value is finite."""
    target = model.params if target is None else target
    missing = [k for k in target if k not in params]
    extra = [k for k in params if k not in target]
    if missing or extra:
        raise CheckpointError(f"{where}: parameter names do not match the model; "
                              f"missing: {missing}, unexpected: {extra}")
    for k, v in params.items():
        if v.shape != target[k].shape:
            raise CheckpointError(f"{where}: {k} has shape {v.shape}, the model expects {target[k].shape}")
        if v.dtype.kind not in "fiu":
            raise CheckpointError(f"{where}: {k} holds {v.dtype} values, not numbers")
        if not np.isfinite(v).all():
            raise CheckpointError(f"{where}: {k} contains NaN or inf")
    for k, v in params.items():
        np.copyto(target[k], v, casting="same_kind")


def load_state(model: VAE, ckpt: Checkpoint) -> None:
    """Put the model's saved state (see the module docstring: state/<name>) back; CheckpointError if it
    does not fit the model. A checkpoint without it (written before it was saved) leaves the model as built."""
    for name, value in ckpt.state.items():
        if name != "posterior.tau" or not hasattr(getattr(model, "posterior", None), "tau"):
            raise CheckpointError(f"{ckpt.path}: member state/{name} does not belong to this model")
        try:
            model.posterior.tau = float(value) if value.shape == () else value
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{ckpt.path}: the saved temperature state/posterior.tau is unusable ({err})") from None


def restore_rng(rng: np.random.Generator, state: dict, where: str = "checkpoint") -> None:
    """Put a generator back in a saved state (same bits from here on); CheckpointError if the state is bad."""
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise CheckpointError(f"{where}: a saved generator state is corrupt ({type(err).__name__}: {err})") from None


def rng_state(saved: Checkpoint, name: str) -> dict:
    """The saved state of generator ``name`` (member rng/<name>); CheckpointError naming the file and
    the member if it is absent (a damaged or crafted file: training always writes it)."""
    if name not in saved.rng_states:
        raise CheckpointError(f"{saved.path} is missing the member rng/{name} (a generator state); "
                              "the checkpoint is damaged: use an older copy or train again")
    return saved.rng_states[name]


def check_progress(progress: dict, where: str = "checkpoint") -> tuple[int, list]:
    """(epoch, history) from a checkpoint's progress, checked: epoch an integer >= 0 and the
    history exactly one row per epoch done, rows numbered 1..epoch. CheckpointError otherwise."""
    epoch, history = progress.get("epoch"), progress.get("history", [])
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"{where}: progress epoch must be an integer >= 0, got {epoch!r}")
    if not isinstance(history, list) or len(history) != epoch:
        n = len(history) if isinstance(history, list) else type(history).__name__
        raise CheckpointError(f"{where}: the history has {n} row(s) for {epoch} epoch(s) done; "
                              "the checkpoint is inconsistent")
    for i, row in enumerate(history, 1):
        if not isinstance(row, dict) or row.get("epoch") != i:
            raise CheckpointError(f"{where}: history row {i} is not the record of epoch {i}")
    return epoch, list(history)


def load_groups(model, groups: dict, where: str) -> None:
    """Copy every group's arrays into the model's groups (same group names, then :func:`load_params` each)."""
    mine = model_groups(model)
    if sorted(groups) != sorted(mine):
        raise CheckpointError(f"{where}: parameter groups {sorted(groups)} do not match the model's {sorted(mine)}")
    for group, params in groups.items():
        load_params(model, params, f"{where} (group {group})" if len(mine) > 1 else where, target=mine[group])


#: the settings of a model's (or a run's) config that are widths: each is a dimension of the weights
#: of a layer it sizes (n_labels and noise_dim: part of an input width, x_dim + n_labels)
WIDTHS = ("x_dim", "z_dim", "hidden", "hidden_dec", "stochastic", "classifier_hidden", "hidden_disc",
          "hidden_critic", "noise_dim", "n_classes", "n_labels")


def check_sizes(config: dict, groups: dict, where: str) -> None:
    """Refuse, before anything is built, a config whose sizes the saved arrays cannot hold.

    A model built from a crafted config (hidden [10**9], z_dim 10**8) would allocate and
    initialize its weights before :func:`load_params` could compare their shapes: a MemoryError,
    or minutes in swap. Two lower bounds that hold for every model of every kind:

    * each width (:data:`WIDTHS`, and a network spec's channels, kernels and dense sizes) is a
      dimension of the weights of the layer it sizes, so none exceeds the largest saved dimension;
    * a flow's steps, a mixture's components, the VampPrior's pseudo-inputs are parameters (or
      encoder heads with at least one weight each): :func:`numpyvae.run.memory.posterior_cost` and
      :func:`numpyvae.run.memory.prior_cost` count them (an IAF's count includes a mask beside
      each weight, so half of it is weights), and they cannot exceed the numbers the file holds.

    ``config``: a model's config, or a run's (TrainConfig.to_dict(): then only the settings of its
    own model are read). ``groups``: {group: {name: array}} as saved.
    """
    from .sections import MODEL_ONLY
    from .memory import posterior_cost, prior_cost
    arrays = [a for params in groups.values() for a in params.values()]
    largest, held = max((max(a.shape, default=1) for a in arrays), default=0), sum(a.size for a in arrays)
    unused = {n for model, names in MODEL_ONLY.items() if config.get("model", model) != model for n in names}
    if config.get("stochastic"):
        unused.add("z_dim")                        # a hierarchy's sizes are its stochastic layers
    if config.get("encoder") or config.get("decoder"):
        unused.update(("x_dim", "hidden", "hidden_dec"))   # a network spec's own layers are read instead
    widths = [(name, v) for name in WIDTHS if name not in unused
              for v in (config.get(name) if isinstance(config.get(name), list) else [config.get(name)])]
    for name in ("encoder", "decoder"):
        widths += [(f"{name} layer {layer.text!r}", v) for layer in _spec_layers(config.get(name))
                   if layer.kind in ("conv", "convt", "dense") for v in layer.args[:2]]
    for name, v in widths:
        if isinstance(v, int) and not isinstance(v, bool) and v > largest:
            raise CheckpointError(f"{where}: its config gives {name} {v}, but no saved array has a dimension that "
                                  f"large (the largest is {largest}); refused before building the model: the "
                                  "config does not describe these weights")
    try:
        q_params, q_heads, _ = posterior_cost(str(config.get("posterior", "gaussian")), int(config.get("z_dim", 1)))
        p_params = prior_cost(str(config.get("prior", "standard")), int(config.get("z_dim", 1)),
                              int(config.get("x_dim", 1)), 0)[0]
    except (TypeError, ValueError):                # not a name these count: the model's own checks say why
        return
    for name, need in (("posterior", q_params // 2 + q_heads), ("prior", p_params)):
        if need > held:
            raise CheckpointError(f"{where}: its config gives {name} {config[name]!r}, which needs at least "
                                  f"{need:,} parameters, but the file holds {held:,} numbers; refused before "
                                  "building the model: the config does not describe these weights")


def _spec_layers(spec) -> list:
    """A network spec's layers, or [] for none or one the builder will refuse with its own error."""
    from ..nn.spec import parse_spec
    try:
        return parse_spec(spec) if spec else []
    except ValueError:
        return []


def model_from_checkpoint(ckpt: Checkpoint):
    """Build the model a checkpoint describes (any kind) and load its weights and noise state; a config
    whose sizes the saved arrays cannot hold is refused before the model is built (:func:`check_sizes`)."""
    from ..models.registry import model_from_kind
    check_sizes(ckpt.model_config, ckpt.groups, str(ckpt.path))
    try:
        model = model_from_kind(ckpt.kind, ckpt.model_config)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{ckpt.path}: cannot rebuild the {ckpt.kind} model from its config ({err})") from None
    load_groups(model, ckpt.groups, str(ckpt.path))
    load_state(model, ckpt)
    if "model" in ckpt.rng_states and getattr(model, "rng", None) is not None:
        restore_rng(model.rng, ckpt.rng_states["model"], str(ckpt.path))
    return model


def load_model(path):
    """A trained model (any kind) from a checkpoint file or a run directory."""
    return model_from_checkpoint(read_checkpoint(path))


@dataclass
class Run:
    """A run directory read back: the trained model, its configuration and history."""
    path: Path
    model: object
    config: dict
    history: list

    @property
    def kind(self) -> str:
        return model_kind(self.model)


def read_run_checkpoint(run_dir) -> Checkpoint:
    """The checkpoint of a run directory (read and validated); CheckpointError if the directory is not there."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        why = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise CheckpointError(f"run directory {run_dir} {why}")
    return read_checkpoint(run_dir)


def load_run(run_dir) -> Run:
    """Read a run directory into a :class:`Run`: everything from its checkpoint.

    The weights, the run config and the history all come from the one
    checkpoint file, so they always belong together. config.json and
    history.json are copies written after it for reading by eye; a process
    killed between the two writes leaves them one epoch behind, so they are
    never read here.
    """
    run_dir = Path(run_dir)
    ckpt = read_run_checkpoint(run_dir)
    history = check_progress(ckpt.progress, str(ckpt.path))[1] if "epoch" in ckpt.progress else []
    return Run(path=run_dir, model=model_from_checkpoint(ckpt), config=ckpt.run_config, history=history)
