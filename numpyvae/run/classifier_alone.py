"""M2's baseline: its classifier network trained on the labelled examples alone (cross-entropy).

Kingma et al. (2014) compare M2 against classifiers that see only the N_l labels. Here the baseline
is the very network q(y|x) of an M2 run (``classifier_hidden``, ``activation``, the same initial
weights: :class:`numpyvae.models.semi_supervised.ClassifierAlone` draws them as M2 does), on the same labelled set
(:func:`numpyvae.run.recipes.choose_labeled` with the run's seed), the same optimizer and learning
rate, the same binarization and the same number of steps as the M2 run: ``epochs`` times S steps,
each on min(B, N_l) labels, cycling through the labels in whole permutations (a step of M2 holds
only about N_l/S labels, too few for a classifier trained on nothing else).
"""
from __future__ import annotations

import numpy as np

from ..seeds import model_seed, trainer_seed
from .config import TrainConfig
from ..datasets import binarize_dynamic
from ..models.semi_supervised import ClassifierAlone
from ..optim import make_optimizer
from .batches import label_order

__all__ = ["classifier_alone", "OnFeatures"]


def classifier_alone(config, data=None, log=None, on_features: bool = False) -> tuple:
    """Train the M2 run ``config``'s classifier on its labels alone; returns (ClassifierAlone, test errors per epoch).

    ``config``: an M2 TrainConfig (or a dict of its fields); ``data``: its Dataset (default: loaded by name).
    The test errors (in [0, 1]) are measured on the run's validation set, the test set binarized as
    evaluate does. ``log``: called with a line per epoch, or None. ``on_features``: an M1+M2 run's
    classifier on M1's feature means μ(x) instead of the pixels (the returned classifier still takes
    images: it reads them through M1).
    """
    from .train import Trainer
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    if cfg.model != "m2":
        raise ValueError(f"classifier_alone: the baseline of an M2 run; got --model {cfg.model}")
    trainer = Trainer(TrainConfig.from_dict({**cfg.to_dict(), "out": ""}), data=data)    # the run's data and labels
    batches = trainer.batches
    x_l, y_l = batches.x_l, batches.y_l
    features = trainer.model.features
    if on_features and features is None:
        raise ValueError("classifier_alone: on_features needs an M1+M2 run (--features M1_RUN)")
    x_val = trainer.x_val
    if on_features:                              # M1's feature means, once: M1 is frozen
        x_l, x_val = features.moments(x_l)[0], features.moments(x_val)[0]
    B_l = min(cfg.batch_size, x_l.shape[0])
    clf = ClassifierAlone(x_l.shape[1], trainer.model.n_classes, cfg.classifier_hidden, cfg.activation,
                          seed=model_seed(cfg.seed), dtype=trainer.dtype, init=None if cfg.init == "auto" else cfg.init)
    opt = make_optimizer(cfg.optimizer, clf.params, clf.grads, **cfg.optimizer_kwargs())
    rng = np.random.default_rng(trainer_seed(cfg.seed))
    errors = []
    for epoch in range(1, cfg.epochs + 1):
        if cfg.lr_schedule != "constant":
            opt.lr = cfg.lr_at(epoch - 1)
        order = label_order(rng, x_l.shape[0], batches.steps * B_l)
        for b in range(batches.steps):
            idx = order[b * B_l:(b + 1) * B_l]
            xb = binarize_dynamic(x_l[idx], rng) if batches.dynamic and not on_features else x_l[idx]
            clf.loss_and_grads(xb, y_l[idx])
            if not opt.step(check_finite=True):
                raise RuntimeError(f"classifier_alone: the weights became non-finite at epoch {epoch}, step "
                                   f"{b + 1}; try a smaller --lr")
        errors.append(clf.test_error(x_val, trainer.y_val))
        if log is not None:
            log(f"classifier alone, epoch {epoch:3d}  test error {100 * errors[-1]:5.2f}%")
    return (clf if not on_features else OnFeatures(clf, features)), errors


class OnFeatures:
    """A classifier of M1's feature means, reading images: classify(x) = clf.classify(μ(x))."""

    def __init__(self, clf, features):
        self.clf, self.features = clf, features

    def classify(self, x: np.ndarray) -> np.ndarray:
        return self.clf.classify(self.features.moments(x)[0])

    def test_error(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.classify(x) != np.asarray(y)))
