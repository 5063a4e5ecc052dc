"""How the trainer sets up each kind of model that is not a VAE: the model from the run's config,
its batches, one optimizer per parameter group, and the hooks its steps need.

    m2          Kingma's mixed batches, sums weighted S/N (run.batches.SemiSupervised);
                α = class_weight · N/N_l (semi_supervised.paper_alpha: Kingma's code with class_weight = 0.1);
                with --features M1_RUN, M1+M2: M2 on the active units of a trained VAE's q(z|x) (m1_features)
    helmholtz   plain minibatches of binarized images; its wake-sleep step is forward + backward
    avb         plain minibatches; the critic (mlp or inner) and adaptive contrast of the config; two
                optimizers (generator, critic: lr_critic; both with the config's Adam β₁); after each
                step, critic_steps − 1 extra critic steps (the hook :class:`CriticSteps`)

Every recipe takes the trainer (its cfg, data, prepared x_train, dtype) and sets ``model``,
``batches``, ``optimizers`` ({group: Optimizer}), ``after_step`` (hooks) and ``y_val``.
"""
from __future__ import annotations

import numpy as np

from ..seeds import model_seed
from ..models.semi_supervised import paper_alpha
from ..optim import make_optimizer
from .batches import Minibatches, SemiSupervised

__all__ = ["RECIPES", "choose_labeled", "CriticSteps", "m1_features"]


def choose_labeled(y: np.ndarray, n_labels: int, n_classes: int, seed: int) -> np.ndarray:
    """Indices of ``n_labels`` training examples, n_labels / C of each class, drawn with ``seed`` (sorted).

    Refuses more labels than there are examples, a count not divisible by C (it would not be
    balanced), and a class with fewer examples than its share.
    """
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)) or n_labels < n_classes:
        raise ValueError(f"--labels must be an integer >= {n_classes} (one per class at least), got {n_labels!r}")
    if n_labels > y.shape[0]:
        raise ValueError(f"--labels {n_labels}: the training set has only {y.shape[0]} examples")
    if n_labels % n_classes:
        raise ValueError(f"--labels {n_labels}: must be a multiple of the {n_classes} classes, so that every "
                         f"class gets the same number (e.g. {n_labels // n_classes * n_classes or n_classes})")
    per_class = n_labels // n_classes
    rng = np.random.default_rng([seed, 7])
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(y == c)
        if members.size < per_class:
            raise ValueError(f"--labels {n_labels}: class {c} has only {members.size} training examples, "
                             f"fewer than its share {per_class}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _optimizers(trainer, lr: dict | None = None) -> dict:
    """{group: Optimizer} of the run's optimizer over each of the model's parameter groups."""
    cfg, lr = trainer.cfg, lr or {}
    out = {}
    for name, group in trainer.model.groups.items():
        if not group.trainable:                  # a frozen group (M1+M2's M1) has no optimizer
            continue
        kwargs = cfg.optimizer_kwargs()
        if name in lr:
            kwargs["lr"] = lr[name]
        out[name] = make_optimizer(cfg.optimizer, group.params, group.grads, **kwargs)
    return out


def _check_pixels(x: np.ndarray, model: str, dataset: str) -> None:
    """Refuse data outside [0, 1] for a model of Bernoulli pixels, before any work."""
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=1.0))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"--model {model} models pixels in [0, 1] (Bernoulli); dataset {dataset!r} has values in "
                         f"[{lo:.4g}, {hi:.4g}]: use an image dataset")


def _dynamic(trainer) -> bool:
    return trainer.cfg.resolved_binarize() == "dynamic"


def build_m2(trainer) -> None:
    from ..models.m2 import M2Model
    from .labels import conditional_labels
    cfg, x = trainer.cfg, trainer.x_train
    _check_pixels(x, "m2", cfg.dataset)
    y, trainer.y_val, C = conditional_labels(trainer.data, cfg.dataset, "model m2")
    labeled = choose_labeled(y, cfg.labels, C, cfg.seed)
    unlabeled = np.setdiff1d(np.arange(x.shape[0]), labeled)
    if unlabeled.size == 0:
        raise ValueError(f"--labels {cfg.labels}: every training example is labelled; M2 needs unlabelled ones")
    m1 = features = None
    if cfg.features and trainer.resuming:        # M1 as the run saved it: its config here, its weights with the checkpoint
        features = _saved_features(trainer.run_dir)
    elif cfg.features:                           # M1 read from its run directory
        m1 = m1_features(cfg.features, x, cfg.dataset)
        features = m1.config
    trainer.model = M2Model(x.shape[1], C, hidden=cfg.hidden, z_dim=cfg.z_dim, classifier_hidden=cfg.classifier_hidden,
                            likelihood=cfg.likelihood, activation=cfg.activation,
                            alpha=paper_alpha(x.shape[0], labeled.size, cfg.class_weight), seed=model_seed(cfg.seed),
                            dtype=trainer.dtype.name, init=None if cfg.init == "auto" else cfg.init,
                            features=features)
    if m1 is not None:                           # M1's trained weights into the model's frozen group
        trainer.model.features.vae.flat_params[...] = m1.vae.flat_params
    trainer.batches = SemiSupervised(x[labeled], y[labeled], x[unlabeled], cfg.batch_size, _dynamic(trainer))
    trainer.optimizers = _optimizers(trainer)


def _saved_features(run_dir) -> dict:
    """The M1 config an M1+M2 run's checkpoint holds (its model config's "features")."""
    from .checkpoint import read_run_checkpoint
    from .checkpoint_format import CheckpointError
    saved = read_run_checkpoint(run_dir)
    if not isinstance(saved.model_config.get("features"), dict):
        raise CheckpointError(f"{saved.path}: its run config names M1 features ({run_dir}), but the model it holds "
                              "has none; the checkpoint is inconsistent")
    return saved.model_config["features"]


def m1_features(run_dir, x_train: np.ndarray, dataset: str):
    """M1 for M1+M2 (:class:`numpyvae.models.m1_features.M1Features`): the VAE of the run directory
    ``run_dir``, checked to be a one-layer VAE with a Gaussian q trained on ``dataset``, keeping the units
    active on the first 1,000 training images (Kingma's rule, :func:`numpyvae.models.m1_features.active_units`)."""
    from pathlib import Path
    from ..models.m1_features import ACTIVE_FROM, ACTIVE_SD, M1Features, active_units
    from .checkpoint import load_run
    where = f"--features {run_dir}"
    if not Path(run_dir).is_dir():
        raise ValueError(f"{where}: no such run directory (train M1 first, e.g. python -m numpyvae train "
                         f"--dataset {dataset} --out M1_RUN)")
    run = load_run(run_dir)
    trained_on = (run.config or {}).get("dataset")
    if run.kind != "vae" or trained_on != dataset:
        raise ValueError(f"{where}: M1 must be a VAE trained on dataset {dataset!r}; this run holds a {run.kind} "
                         f"model trained on {trained_on!r}")
    m1 = run.model
    if m1.x_dim != x_train.shape[1]:
        raise ValueError(f"{where}: M1 reads {m1.x_dim} pixels, the training images have {x_train.shape[1]}")
    keep = active_units(m1.encode(np.asarray(x_train[:ACTIVE_FROM], dtype=m1.dtype))[0])
    if not keep:
        raise ValueError(f"{where}: M1 has no active unit (no posterior mean varies with sd > {ACTIVE_SD} over the "
                         f"first {ACTIVE_FROM} images): it has nothing to pass on")
    try:
        features = M1Features(m1.config, keep, run=str(run_dir), dtype=x_train.dtype)
    except ValueError as err:                    # not a one-layer, unconditional VAE with a Gaussian q
        raise ValueError(f"{where}: {err}") from None
    features.vae.flat_params[...] = m1.flat_params
    return features


def build_helmholtz(trainer) -> None:
    from ..models.helmholtz import HelmholtzModel, helmholtz_model_config
    cfg = trainer.cfg
    _check_pixels(trainer.x_train, "helmholtz", cfg.dataset)
    if cfg.resolved_binarize() == "none":
        raise ValueError("the Helmholtz machine models binary pixels: --binarize none is not a setting of "
                         "--model helmholtz (use dynamic or static)")
    trainer.model = HelmholtzModel(**helmholtz_model_config(cfg.to_dict(), trainer.x_train.shape[1]))
    trainer.batches = Minibatches(trainer.x_train, cfg.batch_size, _dynamic(trainer))
    trainer.optimizers = _optimizers(trainer)


class CriticSteps:
    """After each step: n − 1 more critic updates on fresh draws of q and p (AVB's critic_steps = n)."""

    def __init__(self, n: int):
        self.extra = n - 1

    def __call__(self, trainer, batch) -> None:
        for _ in range(self.extra):
            trainer.model.critic_step(batch)
            trainer.optimizers["critic"].step()


def build_avb(trainer) -> None:
    from ..models.avb import AVBModel
    cfg = trainer.cfg
    trainer.model = AVBModel(trainer.x_train.shape[1], cfg.hidden, cfg.z_dim, noise_dim=cfg.noise_dim or None,
                             hidden_disc=cfg.hidden_critic or None, likelihood=cfg.likelihood,
                             likelihood_kwargs=cfg.likelihood_kwargs(), activation=cfg.activation,
                             seed=model_seed(cfg.seed), dtype=trainer.dtype.name, critic=cfg.critic,
                             adaptive_contrast=cfg.adaptive_contrast)
    trainer.model.likelihood.check_x(trainer.x_train, f"dataset {cfg.dataset!r} with likelihood {cfg.likelihood!r}")
    trainer.batches = Minibatches(trainer.x_train, cfg.batch_size, _dynamic(trainer))
    trainer.optimizers = _optimizers(trainer, {"critic": cfg.lr_critic or cfg.lr})
    if cfg.critic_steps > 1:
        trainer.after_step.append(CriticSteps(cfg.critic_steps))


RECIPES = {"m2": build_m2, "helmholtz": build_helmholtz, "avb": build_avb}
