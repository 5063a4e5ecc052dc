"""The lecture's mixture model as a baseline: fit by EM on a run's training images, scored exactly on its test images.

A Bernoulli mixture for binarized runs (an exact log-probability, comparable with a Bernoulli VAE on the
same 0/1 images), a diagonal Gaussian one for grey levels (a density).
"""
from __future__ import annotations

import time

import numpy as np

from ..checks import check_array
from ..datasets.binarize import binarize_test_set
from ..seeds import EVAL_SEED, train_draw_seed
from .run_data import binarization_of, seed_of

__all__ = ["mixture_baseline", "run_baselines", "baseline_results", "DEFAULT_BASELINE_COMPONENTS"]

DEFAULT_BASELINE_COMPONENTS = (10, 50)


def mixture_baseline(x_train: np.ndarray, x_test: np.ndarray, kind: str = "bernoulli",
                     n_components: int = 10, seed: int = 0, **mixture_kwargs) -> dict:
    """Fit the lecture's mixture model by EM on x_train and score x_test exactly.

    kind : "bernoulli" (binary data: log p(x) is an exact log-probability,
        comparable with a Bernoulli VAE on the same 0/1 images) or "gaussian"
        (diagonal covariances, grayscale data: log p(x) is a density)
    n_components, seed, **mixture_kwargs : passed to the mixture class
        (e.g. max_iter, n_init, alpha, reg)

    Returns dict: "kind", "n_components", "test_log_likelihood" (mean over x_test, nats),
    "train_log_likelihood", "n_iter", "seconds", "model" (the fitted mixture:
    .means, .weights, .sample(n)).
    """
    from ..baselines.mixture_components import BernoulliMixture, GaussianMixture
    classes = {"bernoulli": BernoulliMixture, "gaussian": GaussianMixture}
    if kind not in classes:
        raise ValueError(f"mixture_baseline: kind must be one of {tuple(classes)}, got {kind!r}")
    for name, arr in (("x_train", x_train), ("x_test", x_test)):
        check_array(arr, "mixture_baseline", ndim=2, name=name)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"mixture_baseline: x_train and x_test must have the same number of features, "
                         f"got {x_train.shape} and {x_test.shape}")
    start = time.perf_counter()
    model = classes[kind](n_components, seed=seed, **mixture_kwargs).fit(x_train)
    return {"kind": kind, "n_components": int(n_components),
            "test_log_likelihood": float(model.log_likelihood(x_test).mean()),
            "train_log_likelihood": float(model.history[-1]), "n_iter": int(model.n_iter),
            "seconds": time.perf_counter() - start, "model": model}


def baseline_results(run, data, x_test: np.ndarray, baseline) -> list[dict]:
    """evaluate's "baseline" entry: :func:`run_baselines` for ``baseline`` (True: K = 10 and 50; an int K;
    a list of K), each result without its fitted model (JSON-able)."""
    ks = DEFAULT_BASELINE_COMPONENTS if baseline is True else baseline
    return [{key: v for key, v in res.items() if key != "model"} for res in run_baselines(run, data, x_test, ks)]


def run_baselines(run, data, x_test: np.ndarray, components, seed: int = EVAL_SEED) -> list[dict]:
    """:func:`mixture_baseline` for each K in ``components`` (an int or a list), on a run's data.

    The training images are prepared like the test images: for a binarized run,
    one Bernoulli(x) draw with the run's seed (a static run's exact training
    set; for a dynamic run one of the draws it trained on, in distribution).
    """
    binarize = binarization_of(run.config or {})
    x_train = np.ascontiguousarray(data.x_train, dtype=np.float64)
    x_train, _ = binarize_test_set(x_train, binarize, seed=train_draw_seed(seed_of(run.config or {})))
    kind = "bernoulli" if binarize in ("dynamic", "static") else "gaussian"
    ks = [components] if isinstance(components, (int, np.integer)) else list(components)
    return [mixture_baseline(x_train, x_test.astype(np.float64), kind=kind, n_components=K, seed=seed)
            for K in ks]
