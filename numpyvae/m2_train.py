"""Training M2 with a few labels: ``python -m numpyvae m2 --labels 100``.

The labeled set: ``labels / C`` examples of each class drawn from the training set with a
fixed seed (balanced, the same for the same seed). The unlabeled set: every other training
example. Batches mix the two as Kingma's code does (``m2.paper_batches``): each step holds
about N_l/S labeled and N_u/S unlabeled examples, summed with weight S/N, dynamically
binarized for the Bernoulli likelihood; an epoch is one pass over both sets. After each epoch
the classifier's error on the held-out test digits is printed (the test images binarized once
with a fixed seed, as the VAE's evaluation does), and the error of argmax_y L(x, y).

``--baseline`` also trains the same classifier network on the labeled examples alone
(cross-entropy, the same optimizer, batches and number of steps) and prints its test error
beside M2's.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .checks import as_dtype
from .config import binarize_test_set, test_seed
from .datasets import DATASETS, binarize_dynamic, load
from .m2 import M2, ClassifierAlone, generative_error, paper_alpha, paper_batches
from .optim import make_optimizer


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


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", choices=[d for d in DATASETS if d != "ring"])
    p.add_argument("--labels", type=int, default=100, help="labeled examples, balanced across classes (default 100)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the unlabeled set (default 10)")
    p.add_argument("--batch-size", type=int, default=100, help="unlabeled (and labeled) examples per step")
    p.add_argument("--hidden", type=int, nargs="+", default=[500], help="VAE hidden sizes (default 500)")
    p.add_argument("--z-dim", type=int, default=50, help="latent dimensions (default 50)")
    p.add_argument("--classifier-hidden", type=int, nargs="+", default=[500], help="classifier hidden sizes")
    p.add_argument("--alpha", type=float, default=None, help="weight of log q(y|x) on labeled examples "
                   "(default 0.1·N/N_l, N the training examples, N_l the labeled ones, as Kingma's code)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", action="store_true", help="also train the classifier on the labels alone")
    p.add_argument("--quiet", action="store_true")


def _check(args) -> None:
    for name in ("epochs", "batch_size", "z_dim"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {getattr(args, name)}")
    if min(args.hidden + args.classifier_hidden) < 1:
        raise ValueError("--hidden and --classifier-hidden sizes must be integers >= 1")
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    if not (args.lr > 0):
        raise ValueError(f"--lr must be a number > 0, got {args.lr}")
    if args.alpha is not None and not (args.alpha >= 0 and np.isfinite(args.alpha)):
        raise ValueError(f"--alpha must be a finite number >= 0, got {args.alpha}")


def train_m2(args, data=None, log=print) -> dict:
    """Train M2 (and, with args.baseline, the classifier alone); returns {"m2": [errors], "baseline": [...]}."""
    _check(args)
    dtype = as_dtype("float32")
    data = data if data is not None else load(args.dataset, dtype=dtype)
    x, y = data.x_train.astype(dtype, copy=False), np.asarray(data.y_train)
    C = int(max(y.max(), data.y_test.max())) + 1
    labeled = choose_labeled(y, args.labels, C, args.seed)
    unlabeled = np.setdiff1d(np.arange(x.shape[0]), labeled)
    x_l, y_l, x_u = x[labeled], y[labeled], x[unlabeled]
    x_test, _ = binarize_test_set(data.x_test.astype(dtype, copy=False), "dynamic", seed=test_seed(args.seed))
    y_test = np.asarray(data.y_test)
    alpha = paper_alpha(x.shape[0], x_l.shape[0]) if args.alpha is None else args.alpha
    B = min(args.batch_size, x_u.shape[0])
    B_l = min(args.batch_size, x_l.shape[0])
    steps = x_u.shape[0] // B
    log(f"M2 on {args.dataset}: {args.labels} labels ({args.labels // C} per class, seed {args.seed}), "
        f"{x_u.shape[0]} unlabeled, alpha {alpha:g}, {steps} steps per epoch of {B} unlabeled + "
        f"~{x_l.shape[0] / steps:.2g} labeled")
    history = {"m2": [], "baseline": [], "generative": []}
    model = M2(x.shape[1], C, hidden=args.hidden, z_dim=args.z_dim, classifier_hidden=args.classifier_hidden,
               alpha=alpha, seed=args.seed, dtype=dtype)
    opt = make_optimizer("adam", model.params, model.grads, lr=args.lr)
    rng = np.random.default_rng([args.seed, 2])
    for epoch in range(1, args.epochs + 1):
        start, total = time.perf_counter(), 0.0
        for b, (idx, idx_u, weights) in enumerate(paper_batches(x_l.shape[0], x_u.shape[0], B, rng)):
            xb_u = binarize_dynamic(x_u[idx_u], rng)
            xb_l, yb_l = (binarize_dynamic(x_l[idx], rng), y_l[idx]) if idx.size else (None, None)
            loss, _ = model.loss_and_grads(xb_l, yb_l, xb_u, weights=weights)
            if not np.isfinite(loss):
                raise RuntimeError(f"M2: the loss became {loss} at epoch {epoch}, step {b + 1}; try a smaller --lr")
            opt.step()
            total += loss
        err = model.test_error(x_test, y_test)
        history["m2"].append(err)
        history["generative"].append(generative_error(model, x_test, y_test, np.random.default_rng([args.seed, 8])))
        if not args.quiet:
            log(f"epoch {epoch:3d}  loss {total / steps:9.2f}  test error {100 * err:5.2f}%  "
                f"argmax_y L(x, y) error {100 * history['generative'][-1]:5.2f}%  "
                f"{time.perf_counter() - start:.1f}s")
    if args.baseline:
        clf = ClassifierAlone(x.shape[1], C, args.classifier_hidden, seed=args.seed, dtype=dtype)
        opt = make_optimizer("adam", clf.params, clf.grads, lr=args.lr)
        rng = np.random.default_rng([args.seed, 2])
        for epoch in range(1, args.epochs + 1):
            perm_l = _label_order(rng, x_l.shape[0], steps * B_l)
            for b in range(steps):
                idx = perm_l[b * B_l:(b + 1) * B_l]
                clf.loss_and_grads(binarize_dynamic(x_l[idx], rng), y_l[idx])
                opt.step()
            history["baseline"].append(clf.test_error(x_test, y_test))
            if not args.quiet:
                log(f"baseline epoch {epoch:3d}  test error {100 * history['baseline'][-1]:5.2f}%")
    history["predictions"] = {"m2": model.classify(x_test), **({"baseline": clf.classify(x_test)} if args.baseline else {})}
    history["y_test"] = y_test                  # per-digit predictions: for paired comparisons (reproduce)
    summary = f"test error with {args.labels} labels on {args.dataset}: M2 {100 * history['m2'][-1]:.2f}%"
    if args.baseline:
        summary += f", the classifier alone {100 * history['baseline'][-1]:.2f}%"
    log(summary + f" (after {args.epochs} epochs, seed {args.seed})")
    return history


def _label_order(rng, n: int, total: int) -> np.ndarray:
    """Indices into the labeled set for ``total`` draws: whole permutations, one after another."""
    reps = -(-total // n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:total]


def cmd_m2(args) -> int:
    train_m2(args)
    return 0
