"""Training: shuffled minibatches, the optimizer, validation, checkpoints, history.

The loop, in one screen (:meth:`Trainer._train_epoch`)::

    for each minibatch xb of a fresh permutation:
        xb = Bernoulli(xb) draw            (dynamic binarization, if asked)
        loss, grads = model.loss_and_grads(xb, beta=β_t)   (β_t: KL warm-up)
        clip the gradient norm             (if asked)
        optimizer.step()

After every epoch the validation ELBO is computed, the history and an atomic
checkpoint are written, so an interrupted run loses at most one epoch and
``resume`` continues bit for bit as if nothing had happened.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from .checks import as_dtype
from .config import (BINARIZE, HELP, PRESETS, TrainConfig, binarize_test_set, config_from_toml,  # noqa: F401 (re-exported)
                     check_memory, model_seed, test_seed, train_draw_seed, trainer_seed, validation_seed)
from .datasets import binarize_dynamic, binarize_static, load
from .evaluate import test_elbo
from .optim import make_optimizer
from .progress import Progress
from .vae import VAE

class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; says where and what to try."""


class Trainer:
    """Owns the model, optimizer, data and the shuffling generator of one run."""

    def __init__(self, cfg: TrainConfig, data=None, run_dir: Path | None = None, quiet: bool = False):
        cfg.validate()
        self.cfg, self.quiet = cfg, quiet
        self.dtype = as_dtype(cfg.dtype)
        self.data = data if data is not None else load(cfg.dataset, dtype=self.dtype)
        self.x_train, self.x_val = self._prepare(self.data.x_train, self.data.x_test)
        n = self.x_train.shape[0]
        if cfg.batch_size > n:
            raise ValueError(f"batch_size {cfg.batch_size} is larger than the {n} training examples; "
                             f"use --batch-size {min(128, n)} or less")
        check_memory(cfg, self.x_train.shape[1])
        self.model = VAE(self.x_train.shape[1], cfg.hidden, cfg.z_dim, likelihood=cfg.likelihood,
                         activation=cfg.activation, seed=model_seed(cfg.seed), dtype=self.dtype,
                         likelihood_kwargs=cfg.likelihood_kwargs())
        # refuse data the likelihood cannot model now, not at the first batch
        self.model.likelihood.check_x(self.x_train, f"dataset {cfg.dataset!r} with likelihood {cfg.likelihood!r}")
        self.optimizer = make_optimizer(cfg.optimizer, self.model.params, self.model.grads, lr=cfg.lr)
        self.rng = np.random.default_rng(trainer_seed(cfg.seed))   # shuffling and dynamic binarization
        self.epoch, self.history = 0, []
        self.run_dir = run_dir
        # batch buffers, reused every step (no per-step allocation of batch-sized arrays)
        self._xb = np.empty((cfg.batch_size, self.x_train.shape[1]), dtype=self.dtype)
        self._xbin = np.empty_like(self._xb)

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
        totals = np.zeros(3)
        bar = Progress(steps, f"epoch {self.epoch + 1}/{cfg.epochs}", quiet=self.quiet)
        start = time.perf_counter()
        for b in range(steps):
            np.take(x, perm[b * cfg.batch_size:(b + 1) * cfg.batch_size], axis=0, out=self._xb)
            xb = binarize_dynamic(self._xb, self.rng, out=self._xbin) if dynamic else self._xb
            beta = self.beta_at(self.epoch * steps + b, steps)
            loss, _ = model.loss_and_grads(xb, n_samples=cfg.n_samples, beta=beta, objective=cfg.objective)
            if not (math.isfinite(loss) and math.isfinite(float(model.flat_grads.sum()))):
                raise TrainingDiverged(
                    f"the loss became {loss} at epoch {self.epoch + 1}, batch {b + 1}; the last good "
                    f"checkpoint is kept. Try a smaller learning rate (--lr {cfg.lr / 10:g}), gradient "
                    "clipping (--clip-grad-norm 100), or a KL warm-up (--warmup-epochs 5)")
            if cfg.clip_grad_norm > 0:
                self._clip()
            self.optimizer.step()
            totals += (loss, model.last_parts["recon"], model.last_parts["kl"])
            bar.update(1, loss=loss, **{"ex/s": int((b + 1) * cfg.batch_size / (time.perf_counter() - start))})
        bar.close()
        seconds = time.perf_counter() - start
        train_loss, train_recon, train_kl = totals / steps
        return dict(train_loss=train_loss, train_recon=train_recon, train_kl=train_kl, beta=beta,
                    seconds=seconds, samples_per_sec=steps * cfg.batch_size / seconds)

    def validate(self, batch_size: int = 1000) -> dict:
        """Validation −ELBO (β = 1: the true bound, whatever β training uses), recon and KL.

        Forward only, batched, with its own fixed noise (:func:`numpyvae.config.validation_seed`), so it draws
        nothing from the training generators and every epoch is measured alike.
        """
        parts = test_elbo(self.model, self.x_val, batch_size=batch_size, rng=validation_seed(self.cfg.seed))
        return {"val_loss": parts["loss"], "val_recon": parts["recon"], "val_kl": parts["kl"]}

    def fit(self, epochs: int | None = None) -> list:
        """Train up to cfg.epochs (or ``epochs`` more); checkpoint after each epoch."""
        target = self.cfg.epochs if epochs is None else self.epoch + epochs
        while self.epoch < target:
            row = {"epoch": self.epoch + 1, **self._train_epoch(), **self.validate()}
            self.epoch += 1
            self.history.append({k: (float(v) if not isinstance(v, int) else v) for k, v in row.items()})
            if not self.quiet:
                print(f"epoch {row['epoch']:3d}  train {row['train_loss']:8.2f}  val {row['val_loss']:8.2f} "
                      f"(recon {row['val_recon']:.2f}, KL {row['val_kl']:.2f})  "
                      f"{row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s", flush=True)
            if self.run_dir is not None:
                self.save()
        return self.history

    # ---- saving and resuming ------------------------------------------------

    def save(self) -> None:
        """Checkpoint, then history and config, each written atomically."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.cfg.to_dict()
        ckpt.save_checkpoint(self.run_dir / ckpt.CHECKPOINT, self.model, self.optimizer, config=config,
                             rngs={"trainer": self.rng}, progress={"epoch": self.epoch, "history": self.history})
        ckpt.save_json(self.run_dir / "history.json", self.history)
        ckpt.save_json(self.run_dir / "config.json", config)

    @classmethod
    def resume(cls, run_dir, epochs: int | None = None, quiet: bool = False) -> "Trainer":
        """Rebuild a trainer from a run directory's checkpoint, exactly where it stopped.

        ``epochs`` raises the run's target number of epochs (e.g. train 20 more).
        """
        run_dir = Path(run_dir)
        saved = ckpt.read_checkpoint(run_dir / ckpt.CHECKPOINT)
        cfg = TrainConfig.from_dict(saved.run_config, f"{saved.path} config")
        if epochs is not None:
            cfg.epochs = epochs
        trainer = cls(cfg, run_dir=run_dir, quiet=quiet)
        ckpt.load_params(trainer.model, saved.params, str(saved.path))
        try:
            trainer.optimizer.load_state_dict(saved.optim_state)
        except ValueError as err:
            raise ckpt.CheckpointError(f"{saved.path}: optimizer state does not match: {err}") from err
        ckpt.restore_rng(trainer.model.rng, saved.rng_states["model"])
        ckpt.restore_rng(trainer.rng, saved.rng_states["trainer"])
        trainer.epoch = int(saved.progress["epoch"])
        trainer.history = list(saved.progress["history"])
        return trainer

    def result(self) -> ckpt.Run:
        """The run as :func:`numpyvae.checkpoint.load_run` would read it back."""
        return ckpt.Run(path=self.run_dir, model=self.model, config=self.cfg.to_dict(), history=self.history)


def new_run_dir(cfg: TrainConfig) -> Path:
    """cfg.out if given (refusing one that already holds a run), else runs/<dataset>-<time>."""
    if cfg.out:
        path = Path(cfg.out)
        if (path / ckpt.CHECKPOINT).exists():
            raise FileExistsError(f"{path} already holds a run; continue it with "
                                  f"`python -m numpyvae resume {path}` or choose another --out")
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{cfg.dataset}-z{cfg.z_dim}-{stamp}"
    i = 1
    while path.exists():
        i += 1
        path = Path("runs") / f"{cfg.dataset}-z{cfg.z_dim}-{stamp}-{i}"
    return path


def train(config, data=None, quiet: bool = False) -> ckpt.Run:
    """Train a VAE from a TrainConfig (or a dict of its fields); returns a :class:`numpyvae.checkpoint.Run`.

    With ``cfg.out`` (or by default) the run is saved to a directory after every epoch.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    trainer = Trainer(cfg, data=data, run_dir=new_run_dir(cfg), quiet=quiet)
    trainer.fit()
    return trainer.result()
