"""Every picture that applies to a run, drawn into its directory: one call above the drawing modules.

The other modules of :mod:`numpyvae.plots` draw one picture each;
this module reads a run (checkpoint, history, its test data) and calls the ones
that apply. It sits above both, so neither imports the other's caller.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ..run.checkpoint import load_run
from ..measure.mixture_baseline import run_baselines
from ..measure.run_data import run_test_data
from .history import plot_history
from .mixture import plot_mixture
from ..run.words import history_labels

__all__ = ["plot_run"]


def plot_run(run_dir, dataset=None, n_points: int = 2000, baseline: int | None = None) -> list[Path]:
    """Draw every picture that applies to a run into its directory; return the paths written.

    history.png, reconstructions.png, samples.png, latent.png, interpolation.png,
    kl_per_dimension.png, and manifold.png when z_dim = 2. The test set is the
    one :func:`numpyvae.measure.evaluate.evaluate_run` measures (binarized the same way);
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
        paths.append(plot_history(run.history, out / "history.png", **history_labels(run.config or {})))
    paths.extend(model.figures(SimpleNamespace(x=x, y=y, image_shape=shape, n_points=n_points), out))
    if baseline is not None and shape is not None:
        (res,) = run_baselines(run, data, x, int(baseline))
        paths.extend(plot_mixture(res["model"], out, shape))
    return paths


def plot_model_run(run, x, y, image_shape, out: Path) -> list[Path]:
    """history.png (every quantity the run recorded, per epoch) and the model's own ``figures``."""
    from types import SimpleNamespace
    from ..models.pictures import plot_curves
    paths = []
    if run.history:
        paths.append(plot_curves(run.history, out / "history.png", f"{run.kind} run: per-epoch quantities"))
    paths.extend(run.model.figures(SimpleNamespace(x=x, y=y, image_shape=image_shape), out))
    return paths
