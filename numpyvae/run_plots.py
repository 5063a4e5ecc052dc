"""Every picture that applies to a run, drawn into its directory: one call above the drawing modules.

:mod:`numpyvae.plots` and :mod:`numpyvae.plots_prior` draw one picture each;
this module reads a run (checkpoint, history, its test data) and calls the ones
that apply. It sits above both, so neither imports the other's caller.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import load_run
from .evaluate import has_kl_per_dimension, run_baselines, run_test_data
from .plots import (plot_code_sweep, plot_history, plot_interpolation, plot_kl_per_dimension, plot_label_grid,
                    plot_latent, plot_manifold, plot_mixture, plot_reconstructions, plot_samples)
from .plots_prior import plot_prior

__all__ = ["plot_run"]


def plot_run(run_dir, dataset=None, n_points: int = 2000, baseline: int | None = None) -> list[Path]:
    """Draw every picture that applies to a run into its directory; return the paths written.

    history.png, reconstructions.png, samples.png, latent.png, interpolation.png,
    kl_per_dimension.png, and manifold.png when z_dim = 2. The test set is the
    one :func:`numpyvae.evaluate.evaluate_run` measures (binarized the same way);
    the latent plot uses its first ``n_points`` examples. ``baseline`` = K also
    fits a K-component mixture and draws its means and samples.
    """
    run = load_run(run_dir)
    model, out = run.model, Path(run_dir)
    x, y, _, data = run_test_data(run, dataset)
    shape = data.image_shape
    if run.kind in ("m2", "helmholtz", "avb"):      # the protocol's models draw their own pictures
        return plot_model_run(run, x, y, shape, out)
    paths = []
    if run.history:
        paths.append(plot_history(run.history, out / "history.png"))
    if getattr(model, "n_labels", 0):             # a conditional VAE: the pictures that need no labels of x
        if shape is not None:
            paths.append(plot_label_grid(model, out / "label_grid.png", image_shape=shape))
        return paths
    paths.append(plot_reconstructions(model, x[:n_points] if shape is None else x, out / "reconstructions.png",
                                      image_shape=shape))
    paths.append(plot_samples(model, out / "samples.png", n=100 if shape is not None else n_points, image_shape=shape))
    paths.append(plot_latent(model, x[:n_points], y[:n_points], out / "latent.png"))
    if model.z_dim == 2:
        paths.append(plot_manifold(model, out / "manifold.png", image_shape=shape))
    other = np.flatnonzero(y != y[0])
    j = int(other[0]) if other.size else min(1, x.shape[0] - 1)
    paths.append(plot_interpolation(model, x[0], x[j], out / "interpolation.png", image_shape=shape))
    if getattr(model.posterior, "n_classes", None) is not None and shape is not None:
        paths.append(plot_code_sweep(model, out / "code_sweep.png", image_shape=shape))
    if has_kl_per_dimension(model):
        paths.append(plot_kl_per_dimension(model, x, out / "kl_per_dimension.png"))
    if model.prior.name in ("mog", "vamp"):     # a learned prior: its samples and components (plots_prior.py)
        paths.extend(plot_prior(model, out, shape, x=x[:n_points]))
    if baseline is not None and shape is not None:
        (res,) = run_baselines(run, data, x, int(baseline))
        paths.extend(plot_mixture(res["model"], out, shape))
    return paths


def plot_model_run(run, x, y, image_shape, out: Path) -> list[Path]:
    """history.png (every quantity the run recorded, per epoch) and the model's own ``figures``."""
    from types import SimpleNamespace
    from .models.pictures import plot_curves
    paths = []
    if run.history:
        paths.append(plot_curves(run.history, out / "history.png", f"{run.kind} run: per-epoch quantities"))
    paths.extend(run.model.figures(SimpleNamespace(x=x, y=y, image_shape=image_shape), out))
    return paths
