"""The mixture baseline's pictures: its component means, largest weight first, and its samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checks import check_positive_int
from .canvas import plot_image_grid

__all__ = ["plot_mixture"]


def plot_mixture(mixture, directory, image_shape=(28, 28), n_samples: int = 100, seed: int = 0,
                 prefix: str = "mixture") -> list[Path]:
    """A fitted mixture's component means (by weight, largest first) and n_samples draws, as two grids.

    Writes DIRECTORY/{prefix}_means.png and DIRECTORY/{prefix}_samples.png; returns both paths.
    """
    if getattr(mixture, "means", None) is None:
        raise ValueError("plot_mixture: the mixture is not fitted yet; call fit(x_train) first")
    directory = Path(directory)
    order = np.argsort(-mixture.weights)
    K = mixture.means.shape[0]
    means = plot_image_grid(mixture.means[order], directory / f"{prefix}_means.png", image_shape,
                            title=f"{type(mixture).__name__}: {K} component means, largest weight first")
    x, _ = mixture.sample(check_positive_int(n_samples, "plot_mixture", "n_samples"), rng=np.random.default_rng(seed))
    samples = plot_image_grid(x, directory / f"{prefix}_samples.png", image_shape,
                              title=f"{n_samples} samples from the {K}-component mixture")
    return [means, samples]
