"""Training: shuffled minibatches, the optimizer, validation, checkpoints, history.

The loop, in one screen (:meth:`Trainer._train_epoch`)::

    for each minibatch xb of a fresh permutation:
        xb = Bernoulli(xb) draw            (dynamic binarization, if asked)
        loss, grads = model.loss_and_grads(xb, beta=β_t)   (β_t: KL warm-up)
        stop if the loss blew up           (non-finite, or |loss| 10⁴× its recent scale)
        clip the gradient norm             (if asked)
        optimizer.step()                   (stop if it left a weight non-finite: a NaN or inf gradient)

After every epoch the validation ELBO is computed and an atomic checkpoint is
written (weights, optimizer, generators and the history, in one file), so an
interrupted run loses at most one epoch and ``resume`` continues bit for bit
as if nothing had happened. A run directory belongs to one process at a time
(:class:`numpyvae.files.DirectoryLock`).
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from .checks import NonFiniteError, as_dtype
from .config import (BINARIZE, HELP, PRESETS, TrainConfig, binarize_test_set, config_from_toml,  # noqa: F401 (re-exported)
                     model_seed, test_seed, train_draw_seed, trainer_seed, validation_seed)
from .cubo_q import cubo_q_loss_and_grads
from .datasets import binarize_dynamic, binarize_static, load
from .epochs import EpochLoop
from .evaluate import test_elbo
from .files import DirectoryLock, check_writable, remove_partial_files
from .memory import check_memory
from .optim import make_optimizer
from .output_bias import set_output_bias
from .progress import Progress
from .models import model_from_config
from .threads import policy_for

#: a loss whose magnitude exceeds this many times its recent scale has exploded
EXPLOSION_FACTOR = 1e4
#: steps per block whose median |loss| sets the recent scale
SCALE_BLOCK = 20


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or exploded; says where, what is saved, and what to try."""


def is_new_run_dir(run_dir) -> bool:
    """Whether ``run_dir`` (a Path or None) is missing or an empty directory: one a new run may remove again."""
    return run_dir is not None and (not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())))


def build_or_leave_no_trace(trainer, build, fresh: bool) -> None:
    """Run ``build()``; if it fails, close ``trainer`` (releasing its lock) and re-raise. When the run
    directory was new (``fresh``), it is removed again: a run that never started leaves no empty directory."""
    try:
        build()
    except BaseException:
        if fresh:
            (trainer.run_dir / DirectoryLock.NAME).unlink(missing_ok=True)
            trainer.close()
            with contextlib.suppress(OSError):
                trainer.run_dir.rmdir()
        trainer.close()
        raise


class RunNotSaved(RuntimeError):
    """A checkpoint could not be written (full disk, permissions); says what is kept."""


def claim_run_dir(run_dir, *, new: bool) -> DirectoryLock:
    """Take ownership of a run directory for training, checking everything that can be checked first.

    Creates the directory (with its parents), takes its lock (a second
    process gets :class:`numpyvae.files.DirectoryInUse` naming the owner),
    checks that a checkpoint can be written there, and removes ``*.part``
    files that a killed writer left. ``new=True`` refuses a directory that
    already holds a run; ``new=False`` (resume) requires one.
    """
    run_dir = Path(run_dir)
    if not new and not (run_dir / ckpt.CHECKPOINT).exists():     # resume never creates a directory
        raise ckpt.no_checkpoint(run_dir / ckpt.CHECKPOINT)
    lock = DirectoryLock(run_dir).acquire()
    try:
        check_writable(run_dir / ckpt.CHECKPOINT, "checkpoint")
        has_run = (run_dir / ckpt.CHECKPOINT).exists()
        if new and has_run:
            raise FileExistsError(f"{run_dir} already holds a run; continue it with "
                                  f"`python -m numpyvae resume {run_dir}` or choose another --out")
        if not new and not has_run:                                # deleted while we took the lock
            raise ckpt.no_checkpoint(run_dir / ckpt.CHECKPOINT)
        remove_partial_files(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


class Trainer(EpochLoop):
    """Owns the model, optimizer, data and the shuffling generator of one run.

    With a ``run_dir`` the trainer owns that directory (its lock) until
    :meth:`close` or until the trainer is garbage-collected.
    """

    def __init__(self, cfg: TrainConfig, data=None, run_dir: Path | None = None, quiet: bool = False, *,
                 lock: DirectoryLock | None = None):
        cfg.validate()
        self.cfg, self.quiet = cfg, quiet
        self.run_dir = None if run_dir is None else Path(run_dir)
        fresh = lock is None and is_new_run_dir(self.run_dir)
        # own the directory before any work, so a run that cannot be saved fails in a second
        self._lock = lock if lock is not None or run_dir is None else claim_run_dir(self.run_dir, new=True)
        build_or_leave_no_trace(self, lambda: self._build(data), fresh)

    def _build(self, data) -> None:
        cfg = self.cfg
        self.dtype = as_dtype(cfg.dtype)
        self.data = data if data is not None else load(cfg.dataset, dtype=self.dtype)
        self.x_train, self.x_val = self._prepare(self.data.x_train, self.data.x_test)
        n = self.x_train.shape[0]
        if n == 0:
            raise ValueError(f"dataset {cfg.dataset!r} has no training examples")
        if cfg.batch_size > n:
            raise ValueError(f"batch_size {cfg.batch_size} is larger than the {n} training examples; "
                             f"use --batch-size {min(128, n)} or less")
        check_memory(cfg, self.x_train.shape[1], image_shape=self._image_kwargs().get("image_shape"))
        self.y_train = self.y_val = None
        labels = {}
        if cfg.conditional:                       # a conditional VAE trains on the dataset's labels
            self.y_train, self.y_val, labels["n_labels"] = conditional_labels(self.data, cfg.dataset)
        self.model = model_from_config(dict(x_dim=self.x_train.shape[1], **cfg.model_kwargs(), **labels,
                                            **self._image_kwargs(), seed=model_seed(cfg.seed),
                                            dtype=self.dtype.name))   # VAE or HVAE
        # refuse data the likelihood cannot model now, not at the first batch
        self.model.likelihood.check_x(self.x_train, f"dataset {cfg.dataset!r} with likelihood {cfg.likelihood!r}")
        # the decoder's output bias: zero, or the training pixels' mean (a learned prior needs it: output_bias.py)
        set_output_bias(self.model, cfg.output_bias, cfg.prior, cfg.likelihood, self.x_train)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.params, self.model.grads, **cfg.optimizer_kwargs())
        # a Gumbel-softmax posterior's temperature, set from the global step before every step
        self.tau_schedule = cfg.temperature_schedule() if hasattr(self.model.posterior, "tau") else None
        if self.tau_schedule is not None:
            self.model.posterior.tau = self.tau_schedule(0)
        self.rng = np.random.default_rng(trainer_seed(cfg.seed))   # shuffling and dynamic binarization
        self.epoch, self.history = 0, []
        self._scale, self._block = math.inf, []   # the recent |loss| scale (see _check_step)
        # batch buffers, reused every step (no per-step allocation of batch-sized arrays)
        self._xb = np.empty((cfg.batch_size, self.x_train.shape[1]), dtype=self.dtype)
        self._xbin = np.empty_like(self._xb)
        # BLAS threads: pinned by --threads or the environment, else chosen by size and load (threads.py)
        self.blas = policy_for(self.model, cfg.batch_size)

    def _image_kwargs(self) -> dict:
        """{"image_shape": the dataset's (H, W) or (C, H, W)} for a network spec, which builds its
        convolutions on the data's own images (non-square, several channels), not a guessed square."""
        if not (self.cfg.encoder or self.cfg.decoder) or self.cfg.stochastic:
            return {}
        shape = getattr(self.data, "image_shape", None)
        if shape is not None and int(np.prod(shape)) != self.x_train.shape[1]:
            raise ValueError(f"dataset {self.cfg.dataset!r}: its image_shape {tuple(shape)} does not hold its "
                             f"{self.x_train.shape[1]} features per example")
        return {"image_shape": None if shape is None else tuple(int(s) for s in shape)}

    def _prepare(self, x_train, x_test):
        """Binarize a static run's training set once; validate on the test set evaluation uses.

        The validation set is :func:`numpyvae.config.binarize_test_set`'s one
        fixed draw (for dynamic and static runs), so the history's val_loss and
        ``python -m numpyvae evaluate`` measure the same images.
        """
        mode = self.cfg.resolved_binarize()
        x_val, _ = binarize_test_set(x_test, mode, seed=test_seed(self.cfg.seed))
        if mode == "static":
            x_train = binarize_static(x_train, method="sample", seed=train_draw_seed(self.cfg.seed))
        return x_train, x_val

    def beta_at(self, step: int, steps_per_epoch: int) -> float:
        """Linear KL warm-up: β · min(1, (step + 1) / (warmup_epochs · steps_per_epoch))."""
        if self.cfg.warmup_epochs <= 0:
            return self.cfg.beta
        return self.cfg.beta * min(1.0, (step + 1) / (self.cfg.warmup_epochs * steps_per_epoch))

    def _clip(self) -> None:
        """Scale all gradients together so that their global L2 norm is at most clip_grad_norm."""
        g = self.model.flat_grads
        norm = math.sqrt(float(np.dot(g, g)))
        if norm > self.cfg.clip_grad_norm:
            g *= self.cfg.clip_grad_norm / norm

    def _train_epoch(self) -> dict:
        cfg, model, x = self.cfg, self.model, self.x_train
        steps = x.shape[0] // cfg.batch_size          # the last partial batch is dropped, as usual
        dynamic = cfg.resolved_binarize() == "dynamic"
        perm = self.rng.permutation(x.shape[0])
        if cfg.lr_schedule != "constant":             # a schedule changes it between epochs; else it is left alone
            self.optimizer.lr = cfg.lr_at(self.epoch)
        totals = np.zeros(3)
        bar = Progress(steps, f"epoch {self.epoch + 1}/{cfg.epochs}", quiet=self.quiet)
        start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # blow-ups are caught below, by name
            self._steps(steps, perm, dynamic, totals, bar, start)
        bar.close()
        seconds = time.perf_counter() - start
        train_loss, train_recon, train_kl = totals / steps
        return dict(train_loss=train_loss, train_recon=train_recon, train_kl=train_kl,
                    beta=self.beta_at(self.epoch * steps + steps - 1, steps),
                    seconds=seconds, samples_per_sec=steps * cfg.batch_size / seconds, lr=self.optimizer.lr)

    def _steps(self, steps, perm, dynamic, totals, bar, start) -> None:
        """One epoch's minibatch steps (the loop of the module docstring); adds loss, recon, KL to totals."""
        cfg, model, x = self.cfg, self.model, self.x_train
        for b in range(steps):
            self.blas.tick()
            np.take(x, perm[b * cfg.batch_size:(b + 1) * cfg.batch_size], axis=0, out=self._xb)
            xb = binarize_dynamic(self._xb, self.rng, out=self._xbin) if dynamic else self._xb
            yb = None if self.y_train is None else self.y_train[perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            beta = self.beta_at(self.epoch * steps + b, steps)
            if self.tau_schedule is not None:           # τ_t from the global step t (the optimizer's count)
                model.posterior.tau = self.tau_schedule(self.optimizer.t)
            try:
                if cfg.q_objective == "cubo":          # q by the χ upper bound, p by the objective
                    loss, _ = cubo_q_loss_and_grads(model, xb, **cfg.loss_kwargs())
                else:
                    loss, _ = model.loss_and_grads(xb, beta=beta, y=yb, **cfg.loss_kwargs())
            except (NonFiniteError, FloatingPointError) as err:     # the numbers blew up inside the model
                raise self._diverged(f"the loss became non-finite inside the model ({err})", f"batch {b + 1}") from None
            self._check_step(loss, b)
            if cfg.clip_grad_norm > 0:
                self._clip()
            if not self.optimizer.step(check_finite=True):          # θ summed as it is updated
                raise self._diverged(self._why_not_finite(loss), f"batch {b + 1}")
            totals += (loss, model.last_parts["recon"], model.last_parts["kl"])
            bar.update(1, loss=loss, **{"ex/s": int((b + 1) * cfg.batch_size / (time.perf_counter() - start))})

    def _check_step(self, loss: float, b: int) -> None:
        """Stop on a blow-up: a non-finite or exploded loss (non-finite gradients: see below).

        Exploded: |loss| > EXPLOSION_FACTOR × the recent scale, where the scale
        is the smallest median |loss| of any block of SCALE_BLOCK steps so far
        in this session (at least 1 nat). A median ignores a single odd batch;
        the smallest block keeps a slow climb (2× per step) from dragging the
        reference up with it.

        This reads only the loss, which the step computes anyway. A NaN or inf
        gradient is caught right after the update instead: it makes its
        parameter NaN or inf in every optimizer here (Adam: inf/inf = NaN), and
        ``optimizer.step(check_finite=True)`` sums θ as it updates it (a NaN or
        inf anywhere makes the sum so), so one pass over the weights per step
        checks both; :meth:`_why_not_finite` then says which it was.
        """
        if not math.isfinite(loss):
            raise self._diverged(f"the loss became {loss}", f"batch {b + 1}")
        if abs(loss) > EXPLOSION_FACTOR * max(self._scale, 1.0):
            raise self._diverged(f"the loss exploded to {loss:.4g}, over {EXPLOSION_FACTOR:g} times its recent scale "
                                 f"({self._scale:.4g})", f"batch {b + 1}")
        self._block.append(abs(loss))
        if len(self._block) == SCALE_BLOCK:
            self._scale = min(self._scale, float(np.median(self._block)))
            self._block.clear()

    def _why_not_finite(self, loss: float) -> str:
        """After an update left θ non-finite: were the gradients already (read only on this rare path)?"""
        if not math.isfinite(float(self.model.flat_grads.sum())):
            return f"the gradients became non-finite (loss {loss:.4g})"
        return "the weights overflowed in the update"

    def _diverged(self, what: str, where: str) -> TrainingDiverged:
        """The error for a blow-up, in the documented form, true to what is on disk."""
        has_checkpoint = self.run_dir is not None and (self.run_dir / ckpt.CHECKPOINT).exists()
        if has_checkpoint:
            kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.run_dir}, but resuming it "
                    f"would repeat the same steps; start again with")
        elif self.run_dir is not None:
            kept = (f"no checkpoint was written yet (the first epoch did not finish), so "
                    f"{self.run_dir} holds nothing to resume; start again with")
        else:
            kept = "nothing was saved (no run directory); start again with"
        return TrainingDiverged(
            f"{what} at epoch {self.epoch + 1}, {where}; {kept} a smaller learning rate "
            f"(--lr {self.cfg.lr / 10:g}), gradient clipping (--clip-grad-norm 100), or a KL warm-up "
            f"(--warmup-epochs 5)")

    def validate(self, batch_size: int = 1000) -> dict:
        """Validation −ELBO (β = 1: the true bound, whatever β training uses), recon and KL.

        Forward only, batched, with its own fixed noise (:func:`numpyvae.config.validation_seed`),
        so it draws nothing from the training generators and every epoch is measured alike.
        """
        try:
            parts = test_elbo(self.model, self.x_val, batch_size=batch_size, rng=validation_seed(self.cfg.seed),
                              y=self.y_val)
        except (NonFiniteError, FloatingPointError) as err:
            raise self._diverged(f"the validation loss became non-finite inside the model ({err})",
                                 "validation") from None
        if not math.isfinite(parts["loss"]):
            raise self._diverged(f"the validation loss became {parts['loss']}", "validation")
        return {"val_loss": parts["loss"], "val_recon": parts["recon"], "val_kl": parts["kl"]}

    def _epoch_line(self, row: dict) -> str:
        """The line ``fit`` prints after an epoch."""
        return (f"epoch {row['epoch']:3d}  train {row['train_loss']:8.2f}  val {row['val_loss']:8.2f} "
                f"(recon {row['val_recon']:.2f}, KL {row['val_kl']:.2f})  "
                f"{row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    # ---- saving and resuming ------------------------------------------------

    def save(self) -> None:
        """Write the checkpoint (weights, optimizer, generators, config and history in one atomic file),
        then config.json and history.json, copies for reading by eye (readers use the checkpoint's).

        A write that fails (full disk, permissions) leaves the previous checkpoint
        whole and raises :class:`RunNotSaved` saying which epoch is kept.
        """
        config = self.cfg.to_dict()
        path = self.run_dir / ckpt.CHECKPOINT
        try:
            ckpt.save_checkpoint(path, self.model, self.optimizer, config=config, rngs={"trainer": self.rng},
                                 progress={"epoch": self.epoch, "history": self.history})
        except OSError as err:
            if not path.exists():
                raise RunNotSaved(f"could not save epoch {self.epoch} to {path}: {err.strerror or err}; "
                                  "no checkpoint exists yet") from None
            raise RunNotSaved(f"could not save epoch {self.epoch} to {path}: {err.strerror or err}; the checkpoint "
                              f"of epoch {self.epoch - 1} is kept whole. Free space (or fix permissions), then "
                              f"`python -m numpyvae resume {self.run_dir}`") from None
        try:
            ckpt.save_json(self.run_dir / "history.json", self.history)
            ckpt.save_json(self.run_dir / "config.json", config)
        except OSError as err:
            raise RunNotSaved(f"epoch {self.epoch} is saved in {path}, but history.json/config.json could not be "
                              f"written ({err.strerror or err}); readers use the checkpoint's copy") from None

    @classmethod
    def resume(cls, run_dir, epochs: int | None = None, quiet: bool = False, data=None) -> "Trainer":
        """Rebuild a trainer from a run directory's checkpoint, exactly where it stopped.

        ``epochs`` raises the run's target number of epochs (e.g. train 20 more).
        The directory is locked before the checkpoint is read; everything in the
        checkpoint is checked against the run it claims to be before it is used.
        """
        run_dir = Path(run_dir)
        lock = claim_run_dir(run_dir, new=False)
        try:
            saved = ckpt.read_checkpoint(run_dir / ckpt.CHECKPOINT)
            if "trainer" not in saved.rng_states or "epoch" not in saved.progress:
                raise ckpt.CheckpointError(
                    f"{saved.path} holds a model but no training state (no trainer generator or progress: it "
                    f"was written by save_checkpoint(), not by training); evaluate, plot or sample it, but it "
                    f"cannot be resumed")
            cfg = TrainConfig.from_dict(saved.run_config, f"{saved.path} config")
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
        ckpt.save_json(run_dir / "history.json", trainer.history)   # repair a copy a kill left behind
        return trainer

    def _restore(self, saved: ckpt.Checkpoint) -> None:
        """Load a checkpoint's state into this freshly built trainer, checking it is this run's."""
        where = str(saved.path)
        differ = {k: (v, self.model.config[k]) for k, v in saved.model_config.items()
                  if k in self.model.config and v != self.model.config[k]}
        if differ:     # e.g. a learned Gaussian saved before min_logvar had a default: same shapes, other model
            raise ckpt.CheckpointError(f"{where}: the model it holds differs from the one its run config builds "
                                       f"now (saved, now: {differ}); it can be evaluated, but not resumed")
        ckpt.load_params(self.model, saved.params, where)
        epoch, history = ckpt.check_progress(saved.progress, where)
        steps = self.x_train.shape[0] // self.cfg.batch_size
        try:
            self.optimizer.load_state_dict(saved.optim_state)
        except ValueError as err:
            raise ckpt.CheckpointError(f"{where}: optimizer state does not match: {err}") from err
        if self.optimizer.t != epoch * steps:
            raise ckpt.CheckpointError(f"{where}: the optimizer took {self.optimizer.t} steps but {epoch} epoch(s) "
                                       f"of {steps} steps make {epoch * steps}; the checkpoint is inconsistent")
        ckpt.restore_rng(self.model.rng, saved.rng_states["model"], where)
        ckpt.restore_rng(self.rng, saved.rng_states["trainer"], where)
        self.epoch, self.history = epoch, history

    def result(self) -> ckpt.Run:
        """The run as :func:`numpyvae.checkpoint.load_run` would read it back."""
        return ckpt.Run(path=self.run_dir, model=self.model, config=self.cfg.to_dict(), history=self.history)


def conditional_labels(data, name: str):
    """(y_train, y_test, C) of a dataset for a conditional VAE: integer labels in 0..C−1, C = max label + 1.

    Refuses a dataset without labels, or labels that are not integers >= 0, by name.
    """
    y_train, y_test = data.y_train, data.y_test
    if y_train is None or y_test is None or len(y_train) != len(data.x_train) or len(y_test) != len(data.x_test):
        raise ValueError(f"conditional: dataset {name!r} has no label for every example; a conditional VAE needs them")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.dtype.kind not in "iu" or y_test.dtype.kind not in "iu" or min(y_train.min(), y_test.min()) < 0:
        raise ValueError(f"conditional: dataset {name!r} labels must be integers >= 0")
    return y_train.astype(np.int64), y_test.astype(np.int64), int(max(y_train.max(), y_test.max())) + 1


def new_run_dir(cfg: TrainConfig) -> Path:
    """cfg.out if given, else a fresh runs/<dataset>-z<K>-<time>, created here so no other run takes it.

    Whether cfg.out may be used (no run in it, writable, not in use) is
    :func:`claim_run_dir`'s to check, under the directory's lock.
    """
    if cfg.out:
        return Path(cfg.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    Path("runs").mkdir(exist_ok=True)
    for i in range(1, 1000):
        path = Path("runs") / (f"{cfg.dataset}-z{cfg.z_dim}-{stamp}" + (f"-{i}" if i > 1 else ""))
        try:
            path.mkdir()             # exclusive: two runs started in the same second get two directories
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"runs/ already holds 999 runs named {cfg.dataset}-z{cfg.z_dim}-{stamp}-*")


def train(config, data=None, quiet: bool = False) -> ckpt.Run:
    """Train a VAE from a TrainConfig (or a dict of its fields); returns a :class:`numpyvae.checkpoint.Run`.

    With ``cfg.out`` (or by default) the run is saved to a directory after every epoch.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    trainer = Trainer(cfg, data=data, run_dir=new_run_dir(cfg), quiet=quiet)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return trainer.result()
