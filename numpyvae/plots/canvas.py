"""The canvas every picture is drawn on: a headless figure saved as PNG, images tiled into one, a grid of them.

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg renderer, never through
pyplot: nothing opens a window, nothing needs a display, and no figure stays registered anywhere after
the call (the object is simply freed). A figure's pixel size is figsize × dpi exactly (no tight bounding
box). Images are flat rows (N, D) reshaped row-major to ``image_shape`` (28, 28), drawn upright in grey.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..checks import check_array, check_positive_int

__all__ = ["DPI", "new_figure", "save_png", "check_image_shape", "mosaic", "show_image", "plot_image_grid"]

DPI = 100


def new_figure(figsize, default, dpi):
    size = default if figsize is None else figsize
    if len(size) != 2 or not all(isinstance(s, (int, float)) and s > 0 for s in size):
        raise ValueError(f"figsize must be (width, height) in inches, both > 0, got {figsize!r}")
    return Figure(figsize=tuple(float(s) for s in size), dpi=dpi, layout="constrained")


def save_png(fig: Figure, path) -> Path:
    """Write fig as PNG to path (parent directories made); return the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG: the path must end in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, format="png")
    fig.clear()
    return path


def check_image_shape(image_shape, d: int, where: str):
    """image_shape (H, W) with H·W = D, or None for 2-D point data (D = 2)."""
    if image_shape is None:
        if d != 2:
            raise ValueError(f"{where}: data with {d} features needs an image_shape (e.g. (28, 28)) to be drawn; "
                             f"image_shape=None draws 2-D points only")
        return None
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or math.prod(shape) != d:
        raise ValueError(f"{where}: image_shape {tuple(image_shape)} does not fit {d} features per example "
                         f"(need H × W = {d})")
    return shape


def mosaic(images: np.ndarray, image_shape, ncol: int, pad: int = 1, fill: float = 0.5) -> np.ndarray:
    """(N, H·W) -> one (rows·(H+pad)−pad, ncol·(W+pad)−pad) picture, images row by row, upright.

    Each row of ``images`` is reshaped row-major to (H, W), so image[i, j] is
    pixel i·W + j: the first pixel is the top-left corner. The pad lines
    between images are ``fill`` (grey); slots after the last image are NaN,
    which imshow leaves transparent.
    """
    h, w = image_shape
    n = images.shape[0]
    nrows = -(-n // ncol)
    out = np.full((nrows * (h + pad) - pad, ncol * (w + pad) - pad), fill, dtype=np.float64)
    r, c = divmod(n, ncol)
    if c:
        out[r * (h + pad):, c * (w + pad) - pad:] = np.nan
    tiles = images.reshape(n, h, w)
    for i in range(n):                          # a loop over tiles to place, not over pixels
        r, c = divmod(i, ncol)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[i]
    return out


def show_image(ax, picture: np.ndarray):
    """Grey image; values in [0, 1] on a fixed 0..1 scale (so two pictures compare), else auto-scaled."""
    lo, hi = float(np.nanmin(picture)), float(np.nanmax(picture))
    vmin, vmax = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)
    ax.imshow(picture, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------

def plot_image_grid(images, path, image_shape=(28, 28), nrow: int | None = None, title: str | None = None,
                    figsize=None, dpi: int = DPI) -> Path:
    """Draw images (N, H·W) as a grid, ``nrow`` images per row (default ⌈√N⌉), upright.

    Used for samples, reconstructions and a mixture's component means. Values in
    [0, 1] are drawn on a fixed black-to-white scale.
    """
    where = "plot_image_grid"
    images = np.asarray(images)
    if images.ndim == 3:                                          # (N, H, W) is fine too
        images = images.reshape(images.shape[0], -1)
    check_array(images, where, ndim=2, name="images")
    if images.shape[0] == 0:
        raise ValueError(f"{where}: no images to draw (shape {images.shape})")
    if image_shape is None:
        raise ValueError(f"{where}: image_shape (H, W) is required")
    shape = check_image_shape(image_shape, images.shape[1], where)
    n = images.shape[0]
    if nrow is not None:
        ncol = check_positive_int(nrow, where, "nrow")
    else:
        ncol = n if n <= 10 else math.ceil(math.sqrt(n))
    ncol = min(ncol, n)
    picture = mosaic(images, shape, ncol)
    rows = -(-n // ncol)
    inch = 0.55 * shape[1] / 28                                   # a 28-pixel tile is drawn ~0.55 inch wide
    default = (max(4.0, ncol * inch + 0.3), max(1.5, rows * inch * shape[0] / shape[1] + 0.3 + (0.4 if title else 0.0)))
    fig = new_figure(figsize, default, dpi)
    ax = fig.add_subplot()
    show_image(ax, picture)
    if title:
        ax.set_title(title, fontsize="medium", wrap=True)
    return save_png(fig, path)
