"""Checkpoints and run directories.

A checkpoint is one ``.npz`` file (NumPy's zip of arrays, read with
allow_pickle=False, so loading one runs no code). It holds:

    format_version        int, bumped whenever the layout changes
    config                JSON text: the model's and the run's configuration
    param/<name>          every model parameter ("param/encoder.0.W", ...)
    optim/<key>           the optimizer's state_dict ("optim/t", "optim/m/encoder.0.W", ...)
    rng/<name>            JSON text: bit-generator states (model noise, trainer shuffling)
    state/<name>          what the model needs beyond its parameters to be rebuilt as it was
                          ("state/posterior.tau": a Gumbel-softmax posterior's temperature, which the
                          trainer anneals; without it evaluate and plot would use τ = 1)
    progress              JSON text: epochs done, history so far

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

from .files import atomic_save
from .models import model_from_config
from .vae import VAE

FORMAT_VERSION = 1
CHECKPOINT = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not match what it is loaded into."""


def save_json(path, obj) -> Path:
    """Write JSON atomically (histories and configs hold work too)."""
    return atomic_save(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def _json_array(obj) -> np.ndarray:
    return np.array(json.dumps(obj))


def save_checkpoint(path, model: VAE, optimizer=None, *, config: dict | None = None,
                    rngs: dict | None = None, progress: dict | None = None) -> Path:
    """Write model (+ optimizer state, generator states, progress) to ``path`` atomically.

    Parameters
    ----------
    path : str or Path           the .npz file
    model : VAE
    optimizer : numpyvae.optim.Optimizer, optional
    config : dict, optional      the run's configuration (JSON-able)
    rngs : dict name -> np.random.Generator, optional   their states are saved
    progress : dict, optional    e.g. {"epoch": 3, "history": [...]}
    """
    arrays = {"format_version": np.array(FORMAT_VERSION),
              "config": _json_array({"model": model.config, "run": config or {}}),
              "progress": _json_array(progress or {})}
    arrays["rng/model"] = _json_array(model.rng.bit_generator.state)
    for name, rng in (rngs or {}).items():
        arrays[f"rng/{name}"] = _json_array(rng.bit_generator.state)
    arrays.update({f"param/{k}": v for k, v in model.params.items()})
    if hasattr(getattr(model, "posterior", None), "tau"):
        arrays["state/posterior.tau"] = np.array(float(model.posterior.tau))
    if optimizer is not None:
        arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    return atomic_save(path, lambda f: np.savez(f, **arrays))


@dataclass
class Checkpoint:
    """What a checkpoint file holds, read back (see :func:`read_checkpoint`)."""
    path: Path
    model_config: dict
    run_config: dict
    params: dict
    optim_state: dict
    rng_states: dict
    progress: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


def no_checkpoint(path) -> CheckpointError:
    """The error for a checkpoint that is not there."""
    return CheckpointError(f"no checkpoint at {path}; train first (python -m numpyvae train) "
                           "or give the run directory that holds checkpoint.npz")


def read_checkpoint(path) -> Checkpoint:
    """Read and validate a checkpoint file; a clear CheckpointError if it is missing or corrupt."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise no_checkpoint(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file (a directory is in the way of the checkpoint)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:     # BadZipFile, NotImplementedError ("zip file version"), OSError, ...
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
    try:
        version = int(data.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version}, this numpyvae reads "
                              f"version {FORMAT_VERSION}")
    try:
        config = json.loads(str(data["config"]))
        progress = json.loads(str(data.get("progress", "{}")))
        rngs = {k[4:]: json.loads(str(v)) for k, v in data.items() if k.startswith("rng/")}
        model_config = config["model"]
        if not isinstance(model_config, dict) or not isinstance(progress, dict) or \
                not isinstance(config.get("run", {}), dict) or not all(isinstance(v, dict) for v in rngs.values()):
            raise ValueError("config, progress and generator states must be JSON objects")
    except (KeyError, ValueError, AttributeError) as err:      # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"{path} is missing or has corrupt metadata ({err})") from None
    return Checkpoint(path=path, model_config=model_config, run_config=config.get("run", {}),
                      params={k[6:]: v for k, v in data.items() if k.startswith("param/")},
                      optim_state={k[6:]: v for k, v in data.items() if k.startswith("optim/")},
                      rng_states=rngs, progress=progress,
                      state={k[6:]: v for k, v in data.items() if k.startswith("state/")})


def load_params(model: VAE, params: dict, where: str = "checkpoint") -> None:
    """Copy named arrays into the model, after checking that names and shapes match exactly."""
    missing = [k for k in model.params if k not in params]
    extra = [k for k in params if k not in model.params]
    if missing or extra:
        raise CheckpointError(f"{where}: parameter names do not match the model; "
                              f"missing: {missing}, unexpected: {extra}")
    for k, v in params.items():
        if v.shape != model.params[k].shape:
            raise CheckpointError(f"{where}: {k} has shape {v.shape}, the model expects {model.params[k].shape}")
        if not np.isfinite(v).all():
            raise CheckpointError(f"{where}: {k} contains NaN or inf")
    for k, v in params.items():
        np.copyto(model.params[k], v, casting="same_kind")


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


def model_from_checkpoint(ckpt: Checkpoint) -> VAE:
    """Build the VAE a checkpoint describes and load its weights and noise state."""
    try:
        model = model_from_config(ckpt.model_config)    # a VAE, or an HVAE for a hierarchy
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{ckpt.path}: cannot rebuild the model from its config ({err})") from err
    load_params(model, ckpt.params, str(ckpt.path))
    load_state(model, ckpt)
    if "model" in ckpt.rng_states:
        restore_rng(model.rng, ckpt.rng_states["model"], str(ckpt.path))
    return model


def load_model(path) -> VAE:
    """A trained VAE from a checkpoint file or a run directory."""
    return model_from_checkpoint(read_checkpoint(path))


@dataclass
class Run:
    """A run directory read back: the trained model, its configuration and history."""
    path: Path
    model: VAE
    config: dict
    history: list


def load_run(run_dir) -> Run:
    """Read a run directory into a :class:`Run`: everything from its checkpoint.

    The weights, the run config and the history all come from the one
    checkpoint file, so they always belong together. config.json and
    history.json are copies written after it for reading by eye; a process
    killed between the two writes leaves them one epoch behind, so they are
    never read here.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        why = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise CheckpointError(f"run directory {run_dir} {why}")
    ckpt = read_checkpoint(run_dir / CHECKPOINT)
    history = check_progress(ckpt.progress, str(ckpt.path))[1] if "epoch" in ckpt.progress else []
    return Run(path=run_dir, model=model_from_checkpoint(ckpt), config=ckpt.run_config, history=history)
