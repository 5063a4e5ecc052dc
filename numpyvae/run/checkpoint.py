"""Reading a checkpoint back: the one validating reader of every format, and the model and run it holds.

:func:`read_checkpoint` reads a format-2 file (:mod:`numpyvae.run.checkpoint_format`, which
also writes it), a format-1 file or a pre-protocol ``helmholtz.npz``
(:mod:`numpyvae.run.checkpoint_legacy`) into one :class:`Checkpoint`; it refuses a missing,
truncated, bit-flipped, empty or crafted file, a missing member and (given ``kind``) a
checkpoint of another kind, with one :class:`CheckpointError` line naming the file.
:func:`model_from_checkpoint` checks the saved config's sizes against the saved arrays before
it builds anything (:func:`check_sizes`), then every array's name, shape and finiteness
(:func:`load_params`).

A run directory holds ``checkpoint.npz``, ``config.json``, ``history.json``,
``LOCK`` (see :class:`numpyvae.files.DirectoryLock`) and the pictures;
:func:`load_run` reads it back from the checkpoint alone (config.json and
history.json are copies for reading by eye).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint_format import (CHECKPOINT, LEGACY_HELMHOLTZ, Checkpoint, CheckpointError, check_version,
                                from_format_2, model_groups, model_kind, no_checkpoint, read_members)
from .checkpoint_legacy import from_format_1, from_helmholtz_npz


def read_checkpoint(path, kind: str | None = None) -> Checkpoint:
    """Read and validate a checkpoint file (a run directory: its checkpoint.npz, or a pre-protocol
    helmholtz.npz); a one-line CheckpointError naming the file if it is missing, corrupt, crafted,
    or (given ``kind``) holds another kind of model."""
    path = _checkpoint_path(path)
    data = read_members(path)
    if "format_version" not in data and "meta" in data:
        ckpt = from_helmholtz_npz(path, data)                 # the Helmholtz trainer's own file, before format 2
    else:
        version = check_version(path, data)
        ckpt = from_format_1(path, data) if version == 1 else from_format_2(path, data)
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


def load_state(model, ckpt: Checkpoint) -> None:
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
