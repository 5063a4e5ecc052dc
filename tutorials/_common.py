"""Shared set-up for the tutorials: fast mode, where figures go, image grids.

Kept tiny on purpose; every tutorial imports it with ``from _common import ...``.

* ``FAST``: True when NUMPYVAE_FAST=1. Tutorials then shrink data and epochs so
  each runs in about 20 seconds (the test suite runs them this way).
* ``savefig(fig, name)``: writes tutorials/figures/<name> (or $NUMPYVAE_FIGURES/<name>)
  and, inside Jupyter, also shows the figure.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    HERE = Path(__file__).resolve().parent
except NameError:                       # inside Jupyter, a notebook has no __file__
    HERE = Path.cwd()

try:                                    # use the installed package, or the one in this checkout
    import numpyvae  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent))

import matplotlib

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")               # headless: pictures go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from numpyvae.plots import mosaic  # noqa: E402

FAST = os.environ.get("NUMPYVAE_FAST", "").strip() in ("1", "true", "yes")
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
    """imshow a tiled grid of images on ``ax`` in grey, axes off."""
    ax.imshow(mosaic(np.asarray(images), shape, n_cols), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
