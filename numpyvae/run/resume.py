"""Saving a run after every epoch, and resuming it exactly where it stopped, checked against the run it claims to be.

:class:`SaveAndResume` is a mixin of :class:`numpyvae.run.train.Trainer`: :meth:`~SaveAndResume.save`
writes the one checkpoint (weights, optimizers, generators, config and history in one atomic
file) and the copies for reading by eye; :meth:`~SaveAndResume.resume` rebuilds a trainer from
a run directory and checks every saved piece (sizes, model, optimizer steps, generators) before
it is used.
"""
from __future__ import annotations

from pathlib import Path

from . import checkpoint as ckpt
from . import checkpoint_format as ckpt_file
from .config import TrainConfig
from .directory import claim_run_dir
from ..plots.animate import SNAPSHOTS, LatentSnapshots

__all__ = ["RunNotSaved", "SaveAndResume"]


class RunNotSaved(RuntimeError):
    """A checkpoint could not be written (full disk, permissions); says what is kept."""



class SaveAndResume:
    """Mixin: saving and resuming for a trainer that has ``cfg``, ``model``, ``optimizers``,
    ``optimizer``, ``rng``, ``batches``, ``snapshots``, ``epoch``, ``history`` and ``run_dir``,
    and is built as ``cls(cfg, data=..., quiet=..., run_dir=..., lock=...)``."""

    def save(self) -> None:
        """Write the checkpoint (weights, optimizer, generators, config and history in one atomic file),
        then config.json and history.json, copies for reading by eye (readers use the checkpoint's).

        A write that fails (full disk, permissions) leaves the previous checkpoint
        whole and raises :class:`RunNotSaved` saying which epoch is kept.
        """
        config = self.cfg.to_dict()
        path = self.run_dir / ckpt_file.CHECKPOINT
        try:
            ckpt_file.save_checkpoint(path, self.model, self.optimizers, config=config, rngs={"trainer": self.rng},
                                 progress={"epoch": self.epoch, "history": self.history})
        except OSError as err:
            if not path.exists():
                raise RunNotSaved(f"could not save epoch {self.epoch} to {path}: {err.strerror or err}; "
                                  "no checkpoint exists yet") from None
            raise RunNotSaved(f"could not save epoch {self.epoch} to {path}: {err.strerror or err}; the checkpoint "
                              f"of epoch {self.epoch - 1} is kept whole. Free space (or fix permissions), then "
                              f"`python -m numpyvae resume {self.run_dir}`") from None
        if self.snapshots is not None:
            self.snapshots.save(self.run_dir / SNAPSHOTS)
        try:
            ckpt_file.save_json(self.run_dir / "history.json", self.history)
            ckpt_file.save_json(self.run_dir / "config.json", config)
        except OSError as err:
            raise RunNotSaved(f"epoch {self.epoch} is saved in {path}, but history.json/config.json could not be "
                              f"written ({err.strerror or err}); readers use the checkpoint's copy") from None

    @classmethod
    def resume(cls, run_dir, epochs: int | None = None, quiet: bool = False, data=None) -> "SaveAndResume":
        """Rebuild a trainer from a run directory's checkpoint, exactly where it stopped.

        ``epochs`` raises the run's target number of epochs (e.g. train 20 more).
        The directory is locked before the checkpoint is read; everything in the
        checkpoint is checked against the run it claims to be before it is used.
        """
        run_dir = Path(run_dir)
        lock = claim_run_dir(run_dir, new=False)
        try:
            saved = ckpt.read_checkpoint(run_dir)
            if "trainer" not in saved.rng_states or "epoch" not in saved.progress:
                raise ckpt_file.CheckpointError(
                    f"{saved.path} holds a model but no training state (no trainer generator or progress: it "
                    f"was written by save_checkpoint(), not by training); evaluate, plot or sample it, but it "
                    f"cannot be resumed")
            cfg = TrainConfig.from_dict(saved.run_config, f"{saved.path} config")
            ckpt.check_sizes(cfg.to_dict(), saved.groups, str(saved.path))   # before the model is built
            if epochs is not None:
                cfg.epochs = epochs
                cfg.validate(f"resume {run_dir} --epochs")
            trainer = cls(cfg, data=data, quiet=quiet, run_dir=run_dir, lock=lock)
        except BaseException:
            lock.release()
            raise
        try:
            trainer._restore(saved)
        except BaseException:
            trainer.close()
            raise
        ckpt_file.save_json(run_dir / "history.json", trainer.history)   # repair a copy a kill left behind
        return trainer

    def _restore(self, saved: ckpt_file.Checkpoint) -> None:
        """Load a checkpoint's state into this freshly built trainer, checking it is this run's."""
        where = str(saved.path)
        differ = {k: (v, self.model.config[k]) for k, v in saved.model_config.items()
                  if k in self.model.config and v != self.model.config[k]}
        if differ:     # e.g. a learned Gaussian saved before min_logvar had a default: same shapes, other model
            raise ckpt_file.CheckpointError(f"{where}: the model it holds differs from the one its run config builds "
                                            f"now (saved, now: {differ}); it can be evaluated, but not resumed")
        if saved.kind != ckpt_file.model_kind(self.model):
            raise ckpt_file.CheckpointError(f"{where} holds a {saved.kind} model, but its run config builds a "
                                            f"{ckpt_file.model_kind(self.model)}; the checkpoint is inconsistent")
        ckpt.load_groups(self.model, saved.groups, where)
        ckpt.load_state(self.model, saved)                 # e.g. the temperature τ it was last trained at
        epoch, history = ckpt.check_progress(saved.progress, where)
        steps = self.batches.steps
        if sorted(saved.optim) != sorted(self.optimizers):
            raise ckpt_file.CheckpointError(f"{where}: optimizer states for {sorted(saved.optim)} do not match the "
                                            f"model's parameter groups {sorted(self.optimizers)}")
        for group, optimizer in self.optimizers.items():
            try:
                optimizer.load_state_dict(saved.optim[group])
            except ValueError as err:
                raise ckpt_file.CheckpointError(f"{where}: optimizer state does not match: {err}") from err
            per_step = self.cfg.critic_steps if group == "critic" else 1
            if optimizer.t != epoch * steps * per_step:
                raise ckpt_file.CheckpointError(f"{where}: the optimizer took {optimizer.t} steps but {epoch} epoch(s) "
                                                f"of {steps} steps make {epoch * steps * per_step}; the checkpoint is "
                                                "inconsistent")
        for name, rng in (("model", self.model.rng), ("trainer", self.rng)):
            ckpt.restore_rng(rng, ckpt.rng_state(saved, name), where)
        self.epoch, self.history = epoch, history
        if self.snapshots is not None and (self.run_dir / SNAPSHOTS).exists():   # go on adding frames
            kept = LatentSnapshots.load(self.run_dir / SNAPSHOTS)
            frames = [i for i, t in enumerate(kept.steps) if t <= self.optimizer.t]
            self.snapshots.steps = [kept.steps[i] for i in frames]
            self.snapshots.codes = [kept.codes[i] for i in frames]
            self.snapshots.images = [kept.images[i] for i in frames]
