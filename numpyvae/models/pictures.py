"""The pictures M2, the Helmholtz machine and AVB draw (their ``figures``), on numpyvae.plots.canvas.

Images (a dataset with an image_shape) are drawn as grids; 2-D data (the ring) as points in the
plane. The history panel draws whatever per-epoch quantities a run recorded, each under its name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_curves", "plot_model_samples", "plot_model_reconstructions"]


def plot_curves(history: list, path, title: str = "") -> Path:
    """One panel per quantity of a history (rows of {"train_X": ..., "val_Y": ...}), train and validation."""
    from matplotlib.ticker import MaxNLocator
    from ..plots.canvas import DPI, new_figure, save_png
    names = []
    for row in history:
        for key, value in row.items():
            if key.startswith(("train_", "val_")) and isinstance(value, (int, float)) and key.split("_", 1)[1] not in names:
                names.append(key.split("_", 1)[1])
    names = names[:4] or ["loss"]
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    fig = new_figure(None, (3.6 * len(names) + 0.5, 3.4), DPI)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        for prefix, label in (("train_", "train"), ("val_", "validation")):
            values = [row.get(prefix + name) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker=".", label=label)
        ax.set(xlabel="epoch", title=name.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def plot_model_samples(images: np.ndarray, path, image_shape, title: str, nrow: int | None = None) -> Path:
    """Samples (n, D) as an image grid, or as points in the plane for 2-D data (image_shape None)."""
    from ..plots.canvas import DPI, new_figure, plot_image_grid, save_png
    if image_shape is not None:
        return plot_image_grid(images, path, image_shape, nrow=nrow, title=title)
    fig = new_figure(None, (5, 5), DPI)
    ax = fig.add_subplot()
    ax.scatter(images[:, 0], images[:, 1], s=4, alpha=0.5)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, aspect="equal")
    return save_png(fig, path)


def plot_model_reconstructions(x: np.ndarray, recon: np.ndarray, path, image_shape, what: str) -> Path:
    """Inputs above their reconstructions (images), or both as points (2-D data); ``what`` names the reconstruction."""
    from ..plots.canvas import DPI, mosaic, new_figure, save_png, show_image
    if image_shape is None:
        fig = new_figure(None, (5, 5), DPI)
        ax = fig.add_subplot()
        ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.5, label="input x")
        ax.scatter(recon[:, 0], recon[:, 1], s=4, alpha=0.5, label=what)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title="inputs and their reconstructions", aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return save_png(fig, path)
    x, recon = x[:10], recon[:10]
    fig = new_figure(None, (max(4.0, 0.9 * x.shape[0] + 1), 2.6), DPI)
    axes = fig.subplots(2, 1)
    for ax, images, label in zip(axes, (x, recon), ("input", "reconstruction")):
        show_image(ax, mosaic(images, tuple(image_shape), images.shape[0]))
        ax.set_ylabel(label)
    axes[0].set_title(f"inputs (top) and {what} (bottom)")
    return save_png(fig, path)
