"""``python -m numpyvae m2``: the old command for M2, now an alias of ``python -m numpyvae train --model m2``.

Its flags keep their meaning and defaults (784-500-50 with a 500-unit classifier, Adam 3e-4,
batches of 100); the run is trained, saved, resumable, evaluated and plotted like any other
(numpyvae/run/recipes.py builds it). Two flags did not carry over and are refused in one line:
``--alpha`` (now ``--class-weight``, α = class_weight·N/N_l) and ``--baseline`` (the classifier alone:
``python -m numpyvae reproduce m2``, or :func:`numpyvae.run.classifier_alone.classifier_alone`).
"""
from __future__ import annotations

import argparse

from ..datasets import DATASETS
from .recipes import choose_labeled  # noqa: F401 (its home before the protocol)

__all__ = ["add_flags", "config_of", "choose_labeled"]


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", choices=[d for d in DATASETS if d != "ring"])
    p.add_argument("--labels", type=int, default=100, help="labeled examples, balanced across classes (default 100)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the unlabeled set (default 10)")
    p.add_argument("--batch-size", type=int, default=100, help="unlabeled (and labeled) examples per step")
    p.add_argument("--hidden", type=int, nargs="+", default=[500], help="VAE hidden sizes (default 500)")
    p.add_argument("--z-dim", type=int, default=50, help="latent dimensions (default 50)")
    p.add_argument("--classifier-hidden", type=int, nargs="+", default=[500], help="classifier hidden sizes")
    p.add_argument("--alpha", type=float, default=None,
                   help="(replaced by train --model m2 --class-weight W, α = W·N/N_l)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="", help="run directory (default: runs/<dataset>-z<K>-<time>)")
    p.add_argument("--baseline", action="store_true", help="(not carried over: reproduce m2 trains M2 and the classifier alone)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-plots", action="store_true")


def config_of(args):
    """The TrainConfig of ``train --model m2`` that the old flags mean; the two that did not carry over refused."""
    from .config import TrainConfig
    if args.alpha is not None:
        raise ValueError(f"m2 --alpha {args.alpha:g}: the weight of log q(y|x) is now `python -m numpyvae train "
                         f"--model m2 --class-weight W`, alpha = W·N/N_l for N training examples, N_l labelled "
                         f"(default 0.1, Kingma's)")
    if args.baseline:
        raise ValueError("m2 --baseline (the classifier trained on the labels alone) did not carry over to "
                         "`python -m numpyvae train --model m2`; remove --baseline (`python -m numpyvae reproduce m2` "
                         "trains both, numpyvae.run.classifier_alone the baseline)")
    from .settings import settings_from_sources
    names = ("dataset", "labels", "epochs", "batch_size", "hidden", "z_dim", "classifier_hidden", "lr", "seed", "out")
    sources = [("m2", {"model": "m2"})] + [(f"--{n.replace('_', '-')}", {n: getattr(args, n)}) for n in names]
    return TrainConfig(**settings_from_sources(sources))          # a bad value is named by its flag
