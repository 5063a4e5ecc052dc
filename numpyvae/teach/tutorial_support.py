"""What every tutorial shares: fast mode, the tutorial's folder, where figures go, image grids.

Every tutorial starts with ``from numpyvae.teach.tutorial_support import FAST, plt, savefig, ...``,
so a tutorial runs wherever numpyvae is installed: as a script (``python tutorials/03_the_elbo.py``),
as a notebook in any folder (Jupyter, Colab, Binder) and in the browser (JupyterLite).

* ``FAST``: True when NUMPYVAE_FAST=1. Tutorials then shrink data and epochs so
  each runs in about 20 seconds (the test suite runs them this way).
* ``HERE``: the tutorial's folder: the script's own folder, or in a notebook the
  working directory (Jupyter starts a notebook's kernel in the notebook's folder).
* ``savefig(fig, name)``: writes HERE/figures/<name> (or $NUMPYVAE_FIGURES/<name>)
  and, inside a notebook, also shows the figure.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib
import numpy as np

from ..plots.canvas import mosaic

__all__ = ["FAST", "HERE", "FIG_DIR", "IN_NOTEBOOK", "plt", "savefig", "show_grid", "mosaic"]

IN_NOTEBOOK = "ipykernel" in sys.modules or "pyodide_kernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")               # headless: pictures go to files
import matplotlib.pyplot as plt  # noqa: E402


def _tutorial_folder() -> Path:
    """The running script's folder; in a notebook (whose __main__ has no file) the working directory."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if IN_NOTEBOOK or not main_file:
        return Path.cwd()
    return Path(main_file).resolve().parent


FAST = os.environ.get("NUMPYVAE_FAST", "").strip() in ("1", "true", "yes")
HERE = _tutorial_folder()
FIG_DIR = Path(os.environ.get("NUMPYVAE_FIGURES", HERE / "figures"))


def savefig(fig, name: str) -> None:
    """Save ``fig`` as FIG_DIR/name; in a notebook show it inline, elsewhere print where it went.

    Returns nothing, so a notebook cell that ends with savefig(...) shows no stray Out[] line.
    """
    FIG_DIR.mkdir(parents=True, exist_ok=True)
    path = FIG_DIR / name
    fig.savefig(path, dpi=90, bbox_inches="tight")
    if IN_NOTEBOOK:
        plt.show()
    else:
        print(f"[figure saved: {path}]")
    plt.close(fig)


def show_grid(ax, images, n_cols: int, title: str = "", shape=(28, 28)):
    """imshow a tiled grid of images (n, H*W) on ``ax`` in grey, ``n_cols`` per row, axes off."""
    ax.imshow(mosaic(np.asarray(images), shape, n_cols), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
