"""The pictures a VAE or a hierarchy draws of itself (their ``figures``), on numpyvae.plots' canvas.

reconstructions.png, samples.png, latent.png, interpolation.png; manifold.png when z_dim = 2;
code_sweep.png for a Gumbel-softmax code; kl_per_dimension.png when the KL splits per dimension;
the learned prior's pictures (plots_prior.py); a conditional VAE draws its label grid only
(the other pictures would need a label for every x).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["vae_figures"]


def vae_figures(model, data, out_dir, n_points: int = 2000) -> list[Path]:
    """Draw the pictures that apply to ``model`` into ``out_dir``; return the paths.

    data: x (N, D) and y (N,), the test set the run is measured on, and image_shape ((H, W), or
    None for 2-D points); the latent plot uses the first ``n_points`` examples.
    """
    from ..measure.latent_use import has_kl_per_dimension
    from ..plots.decoded import plot_interpolation, plot_manifold, plot_reconstructions, plot_samples
    from ..plots.latent_space import plot_code_sweep, plot_kl_per_dimension, plot_label_grid, plot_latent
    from ..plots.prior import plot_prior
    out, x, y, shape = Path(out_dir), data.x, data.y, data.image_shape
    paths = []
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
    if model.prior_components() is not None:      # a learned mixture prior: its samples and components
        paths.extend(plot_prior(model, out, shape, x=x[:n_points]))
    return paths
