"""The trainer of every kind of model: its build, the one loop over the batches, validation and the history.

The one loop, in one screen (:meth:`Trainer._steps`), for the VAE, the hierarchy, M2, the
Helmholtz machine and AVB alike::

    for each batch of the epoch's order  (a fresh permutation; M2: unlabelled + labelled parts)
        batch = Bernoulli draw of it     (dynamic binarization, if asked)
        options = before-step hooks      (the Gumbel temperature τ_t; the KL warm-up β_t)
        loss = the model's step          (VAE: loss_and_grads; the others: forward, backward)
        stop if the loss blew up         (non-finite, or |loss| 10⁴× its recent scale: run/divergence.py)
        clip the gradient norm           (if asked, over all groups)
        every group's optimizer.step()   (stop if it left a weight non-finite: a NaN or inf gradient)
        after-step hooks                 (AVB: the extra critic steps)

How each kind is set up (its model, batches, optimizers, hooks) is in numpyvae/run/recipes.py;
the VAE's and the hierarchy's in :meth:`Trainer._build_vae`.

After every epoch the validation ELBO is computed and an atomic checkpoint is
written (weights, optimizer, generators and the history, in one file: numpyvae/run/resume.py), so an
interrupted run loses at most one epoch and ``resume`` continues bit for bit
as if nothing had happened. A run directory belongs to one process at a time
(:class:`numpyvae.files.DirectoryLock`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from ..checks import NonFiniteError, as_dtype
from .config import TrainConfig
from ..seeds import model_seed, test_seed, train_draw_seed, trainer_seed, validation_seed
from ..plots.animate import LatentSnapshots
from ..models.cubo_q import cubo_q_loss_and_grads
from ..datasets import binarize_static, load
from ..datasets.binarize import binarize_test_set
from .divergence import DivergenceChecks
from .epochs import EpochLoop
from ..measure.elbo import test_elbo
from ..files import DirectoryLock
from .memory import check_memory
from ..optim import make_optimizer
from .output_bias import set_output_bias
from .progress import Progress
from ..models import model_from_config
from .batches import Minibatches
from .directory import build_or_leave_no_trace, claim_run_dir, is_new_run_dir, new_run_dir  # noqa: F401 (re-exported)
from .labels import conditional_labels  # noqa: F401 (re-exported: its home before run/)
from .recipes import RECIPES
from .resume import SaveAndResume
from .threads import policy_for


class Trainer(EpochLoop, DivergenceChecks, SaveAndResume):
    """Owns the model, optimizer, data and the shuffling generator of one run.

    With a ``run_dir`` the trainer owns that directory (its lock) until
    :meth:`close` or until the trainer is garbage-collected.
    """

    def __init__(self, cfg: TrainConfig, data=None, run_dir: Path | None = None, quiet: bool = False, *,
                 lock: DirectoryLock | None = None):
        cfg.validate()
        self.cfg, self.quiet = cfg, quiet
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.resuming = lock is not None          # resume passes the lock it took before reading the checkpoint
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
        self.after_step, self.tau_schedule = [], None
        self.snapshots = None                     # frames for plot --animate (a 2-D VAE, --snapshot-every)
        if cfg.model in RECIPES:                  # M2, the Helmholtz machine, AVB (numpyvae/run/recipes.py)
            RECIPES[cfg.model](self)
            self.optimizer = next(iter(self.optimizers.values()))
        else:
            self._build_vae()
        self.rng = np.random.default_rng(trainer_seed(cfg.seed))   # shuffling and dynamic binarization
        self.epoch, self.history = 0, []
        self._scale, self._block = math.inf, []   # the recent |loss| scale (see _check_step)
        # BLAS threads: pinned by --threads or the environment, else chosen by size and load (threads.py)
        self.blas = policy_for(self.model, cfg.batch_size)

    def _build_vae(self) -> None:
        """The VAE or HVAE of the config, its optimizer, its batches and its temperature schedule."""
        cfg = self.cfg
        labels = {}
        if cfg.conditional:                       # a conditional VAE trains on the dataset's labels
            self.y_train, self.y_val, labels["n_labels"] = conditional_labels(self.data, cfg.dataset)
        self.model = model_from_config(dict(x_dim=self.x_train.shape[1], **cfg.model_kwargs(), **labels,
                                            **self._image_kwargs(), seed=model_seed(cfg.seed),
                                            dtype=self.dtype.name))   # VAE or HVAE
        # refuse data the likelihood cannot model now, not at the first batch
        self.model.likelihood.check_x(self.x_train, f"dataset {cfg.dataset!r} with likelihood {cfg.likelihood!r}")
        # the decoder's output bias: the training pixels' mean where it applies, or zero (output_bias.py)
        set_output_bias(self.model, cfg.output_bias, cfg.likelihood, self.x_train)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.params, self.model.grads, **cfg.optimizer_kwargs())
        self.optimizers = {"model": self.optimizer}
        # a Gumbel-softmax posterior's temperature, set from the global step before every step
        self.tau_schedule = cfg.temperature_schedule() if hasattr(self.model.posterior, "tau") else None
        if self.tau_schedule is not None:
            self.model.posterior.tau = self.tau_schedule(0)
        self.batches = Minibatches(self.x_train, cfg.batch_size, cfg.resolved_binarize() == "dynamic", self.y_train)
        if cfg.snapshot_every:                      # frames for plot --animate, only when asked (animate.py)
            labels = getattr(self.data, "y_test", None)
            self.snapshots = LatentSnapshots(self.x_val[:500], None if labels is None else labels[:500])

    @property
    def protocol(self) -> bool:
        """True for the models built by a recipe (M2, Helmholtz, AVB): forward/backward steps, own validation."""
        return self.cfg.model in RECIPES

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

        The validation set is :func:`numpyvae.datasets.binarize.binarize_test_set`'s one
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

    def _all_grads(self) -> list:
        """Every gradient array: the VAE's one flat buffer, or each group's arrays."""
        if not self.protocol:
            return [self.model.flat_grads]
        return [g for group in self.model.groups.values() for g in group.grads.values()]

    def _clip(self) -> None:
        """Scale all gradients together so that their global L2 norm is at most clip_grad_norm."""
        grads = self._all_grads()
        norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
        if norm > self.cfg.clip_grad_norm:
            for g in grads:
                g *= self.cfg.clip_grad_norm / norm

    def _train_epoch(self) -> dict:
        cfg = self.cfg
        steps = self.batches.steps                    # the last partial batch is dropped, as usual
        order = self.batches.order(self.rng)
        if cfg.lr_schedule != "constant":             # a schedule changes it between epochs; else it is left alone
            self.optimizer.lr = cfg.lr_at(self.epoch)
        totals = {}
        if self.snapshots is not None and not self.snapshots.steps and self.optimizer.t == 0:
            self.snapshots.record(self.model, 0)      # the first frame: the untrained model
        bar = Progress(steps, f"epoch {self.epoch + 1}/{cfg.epochs}", quiet=self.quiet)
        start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # blow-ups are caught below, by name
            self._steps(steps, order, totals, bar, start)
        bar.close()
        seconds = time.perf_counter() - start
        # a part's mean over the steps that had it (an M2 step with no labelled example has no labelled_bound)
        row = {f"train_{name}": total / count for name, (total, count) in totals.items()}
        if not self.protocol:
            row["beta"] = self.beta_at(self.epoch * steps + steps - 1, steps)
        batch_rows = steps * getattr(self.batches, "batch_size", cfg.batch_size)
        return dict(row, seconds=seconds, samples_per_sec=batch_rows / seconds, lr=self.optimizer.lr)

    def _before_step(self, b: int, steps: int) -> dict:
        """The hooks before a step: τ_t of a Gumbel-softmax posterior from the global step t (the optimizer's
        count), and the KL warm-up's β_t; returns the step's options ({"beta": β_t} for a VAE)."""
        if self.protocol:
            return {}
        if self.tau_schedule is not None:
            self.model.posterior.tau = self.tau_schedule(self.optimizer.t)
        return {"beta": self.beta_at(self.epoch * steps + b, steps)}

    def _step(self, batch, beta: float = 1.0):
        """One step's loss and named parts, the gradients left in the model's grads."""
        cfg, model = self.cfg, self.model
        if self.protocol:
            tape = model.forward(batch)
            model.backward(tape)
            loss, parts = (tape.loss, tape.parts) if hasattr(tape, "parts") else (tape["loss"], tape["parts"])
            return loss, {"loss": loss, **{k: v for k, v in parts.items() if k != "loss"}}
        if cfg.q_objective == "cubo":          # q by the χ upper bound, p by the objective
            loss, _ = cubo_q_loss_and_grads(model, batch.x, **cfg.loss_kwargs())
        else:
            loss, _ = model.loss_and_grads(batch.x, beta=beta, y=batch.y, **cfg.loss_kwargs())
        return loss, {"loss": loss, "recon": model.last_parts["recon"], "kl": model.last_parts["kl"]}

    def _steps(self, steps, order, totals, bar, start) -> None:
        """One epoch's steps (the loop of the module docstring); adds each named part of the loss to totals
        ({name: [sum, steps that had it]})."""
        for b in range(steps):
            self.blas.tick()
            batch = self.batches.batch(order, b, self.rng)
            options = self._before_step(b, steps)
            try:
                loss, parts = self._step(batch, **options)
            except (NonFiniteError, FloatingPointError) as err:     # the numbers blew up inside the model
                raise self._diverged(f"the loss became non-finite inside the model ({err})", f"batch {b + 1}") from None
            self._check_step(loss, b)
            if self.cfg.clip_grad_norm > 0:
                self._clip()
            for optimizer in self.optimizers.values():
                if not optimizer.step(check_finite=True):           # θ summed as it is updated
                    raise self._diverged(self._why_not_finite(loss), f"batch {b + 1}")
            if self.snapshots is not None and self.optimizer.t % self.cfg.snapshot_every == 0:
                self.snapshots.record(self.model, self.optimizer.t)
            for hook in self.after_step:
                hook(self, batch)
            for name, value in parts.items():
                total = totals.setdefault(name, [0.0, 0])
                total[0] += float(value)
                total[1] += 1
            bar.update(1, loss=loss, **{"ex/s": int((b + 1) * self.cfg.batch_size / (time.perf_counter() - start))})

    def validate(self, batch_size: int = 1000) -> dict:
        """Validation −ELBO (β = 1: the true bound, whatever β training uses), recon and KL.

        Forward only, batched, with its own fixed noise (:func:`numpyvae.seeds.validation_seed`),
        so it draws nothing from the training generators and every epoch is measured alike.
        M2, the Helmholtz machine and AVB measure their own quantities (their ``validation``).
        """
        if self.protocol:
            return self._validate_protocol()
        try:
            parts = test_elbo(self.model, self.x_val, batch_size=batch_size, rng=validation_seed(self.cfg.seed),
                              y=self.y_val)
        except (NonFiniteError, FloatingPointError) as err:
            raise self._diverged(f"the validation loss became non-finite inside the model ({err})",
                                 "validation") from None
        if not math.isfinite(parts["loss"]):
            raise self._diverged(f"the validation loss became {parts['loss']}", "validation")
        return {"val_loss": parts["loss"], "val_recon": parts["recon"], "val_kl": parts["kl"]}

    def _validate_protocol(self) -> dict:
        try:
            row = self.model.validation(self.x_val, self.y_val, np.random.default_rng(validation_seed(self.cfg.seed)))
        except (NonFiniteError, FloatingPointError) as err:
            raise self._diverged(f"the validation became non-finite inside the model ({err})", "validation") from None
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise self._diverged(f"the validation {bad[0]} became {row[bad[0]]}", "validation")
        return row

    def _epoch_line(self, row: dict) -> str:
        """The line ``fit`` prints after an epoch: the training loss named by the objective it is
        (:func:`objective_label`), the validation −ELBO (β = 1; an autoencoder's reconstruction) and its parts;
        a protocol model (M2, Helmholtz, AVB) writes its own."""
        if self.protocol:
            return self.model.epoch_line(row)
        return (f"epoch {row['epoch']:3d}  train {objective_label(self.cfg)} {row['train_loss']:8.2f}  "
                f"val {'-log p(x|z)' if self.cfg.model == 'ae' else '-ELBO'} {row['val_loss']:8.2f} "
                f"(recon {row['val_recon']:.2f}, KL {row['val_kl']:.2f})  "
                f"{row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    def result(self) -> ckpt.Run:
        """The run as :func:`numpyvae.run.checkpoint.load_run` would read it back."""
        return ckpt.Run(path=self.run_dir, model=self.model, config=self.cfg.to_dict(), history=self.history)


def objective_label(cfg: TrainConfig) -> str:
    """What a run's training loss is, for the epoch line: "-ELBO", "-ELBO(beta=0.5)", "-IWAE(k=5)",
    "-VR(alpha=0.5, S=5)", "-VR-max(S=5)"; a plain autoencoder's is its reconstruction "-log p(x|z)"."""
    if cfg.model == "ae":
        return "-log p(x|z)"
    S = cfg.n_samples
    label = {"elbo": "-ELBO", "iwae": f"-IWAE(k={S})", "vr": f"-VR(alpha={cfg.alpha:g}, S={S})",
             "vr-max": f"-VR-max(S={S})"}[cfg.objective]
    if cfg.objective == "elbo" and (cfg.beta != 1.0 or cfg.warmup_epochs > 0):
        label += f"(beta={cfg.beta:g}" + (", warm-up)" if cfg.warmup_epochs > 0 else ")")
    return label


def train(config, data=None, quiet: bool = False) -> ckpt.Run:
    """Train a VAE from a TrainConfig (or a dict of its fields); returns a :class:`numpyvae.run.checkpoint.Run`.

    With ``cfg.out`` (or by default) the run is saved to a directory after every epoch.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    trainer = Trainer(cfg, data=data, run_dir=new_run_dir(cfg), quiet=quiet)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return trainer.result()
