"""How the trainer sets up each kind of model that is not a VAE: the model from the run's config,
its batches, one optimizer per parameter group, and the hooks its steps need.

    m2          Kingma's mixed batches, sums weighted S/N (run.batches.SemiSupervised);
                α = class_weight · N/N_l (semi_supervised.paper_alpha: Kingma's code with class_weight = 0.1)
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

__all__ = ["RECIPES", "choose_labeled", "CriticSteps"]


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
    trainer.model = M2Model(x.shape[1], C, hidden=cfg.hidden, z_dim=cfg.z_dim, classifier_hidden=cfg.classifier_hidden,
                            likelihood=cfg.likelihood, activation=cfg.activation,
                            alpha=paper_alpha(x.shape[0], labeled.size, cfg.class_weight), seed=model_seed(cfg.seed),
                            dtype=trainer.dtype.name, init=None if cfg.init == "auto" else cfg.init)
    trainer.batches = SemiSupervised(x[labeled], y[labeled], x[unlabeled], cfg.batch_size, _dynamic(trainer))
    trainer.optimizers = _optimizers(trainer)


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
