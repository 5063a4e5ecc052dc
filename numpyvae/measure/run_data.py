"""The test images a run is measured on: its dataset's test set, binarized as the run trained.

Shared by evaluate, the pictures of a run, the report of the other kinds and the reproductions, so the
numbers and the pictures read the same images.
"""
from __future__ import annotations

import numpy as np

from ..datasets import binarize as binarization
from ..datasets.binarize import binarize_test_set
from ..run.settings import check_setting
from ..seeds import test_seed
from .inputs import check_labels

__all__ = ["run_test_data", "binarization_of", "seed_of"]


def binarization_of(config: dict) -> str:
    """The binarization a run trained with, from its saved config dict (datasets.binarize.resolved_binarize decides;
    a config saved before the setting existed did not binarize)."""
    return binarization.resolved_binarize(config.get("binarize", "none"), config.get("likelihood", "bernoulli"), config.get("dataset"),
                                          config.get("features", ""))


def _dataset_for(config: dict):
    """The Dataset named in a run's config (config["dataset"], e.g. "digits")."""
    from ..datasets import load
    name = config.get("dataset")
    if not isinstance(name, str):
        raise ValueError(f"the run's config does not name its dataset (config['dataset'] = {name!r}); "
                         f"pass dataset=load(NAME)")
    return load(name)


def seed_of(config: dict) -> int:
    """The run's seed from its config (0 if it has none, the trainer's default); a bad one is an error,
    not silently 0 (it decides which test draw the numbers are measured on)."""
    return check_setting("seed", config.get("seed", 0), "the run's config")


def run_test_data(run, dataset=None) -> tuple[np.ndarray, np.ndarray, str, object]:
    """(x_test, y_test, how x_test was binarized, the Dataset) for a loaded run.

    x_test is in the model's dtype and binarized as the run's training data was
    (:func:`binarize_test_set`, seed = :func:`numpyvae.seeds.test_seed` of the run's seed). Shared by
    :func:`numpyvae.measure.evaluate.evaluate_run` and :func:`numpyvae.plots.run.plot_run`, so the numbers and
    the pictures use the same test images. ``dataset`` overrides the config's.
    """
    config = run.config or {}
    data = dataset if dataset is not None else _dataset_for(config)
    check_labels(data.x_test, data.y_test, "the test set")
    if data.x_test.ndim != 2 or data.x_test.shape[1] != run.model.x_dim:
        raise ValueError(f"the test set has shape {data.x_test.shape} but the model takes {run.model.x_dim} "
                         f"features; is this the dataset the run was trained on?")
    x = np.ascontiguousarray(data.x_test, dtype=run.model.dtype)
    x, how = binarize_test_set(x, binarization_of(config), seed=test_seed(seed_of(config)))
    return x, np.asarray(data.y_test), how, data

