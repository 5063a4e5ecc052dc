"""Training you can watch: a 2-D latent space and its decoded manifold, frame by frame, as a GIF.

Recording costs nothing unless asked. With ``--snapshot-every K`` (TrainConfig.snapshot_every)
a trainer calls :meth:`LatentSnapshots.record` every K optimizer steps: one encoder pass over a
fixed set of validation images (their codes mu(x)) and one decoder pass over a fixed grid of z
(the manifold, z = Φ⁻¹(u) for u evenly spaced in (0.05, 0.95)², as in tutorial 07), kept in float16.
They are saved beside the checkpoint as ``snapshots.npz``; ``python -m numpyvae plot RUN --animate``
turns them into ``RUN/training.gif`` through matplotlib's Pillow writer (Pillow comes with matplotlib).

A frame is: left, the codes coloured by label; right, the decoded grid; the title says the step.
Memory: frames × (n_codes × 2 + grid² × D) float16 values (100 frames of 500 codes and a 12 × 12
grid of 784 pixels: 23 MB).
"""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ..files import atomic_save

__all__ = ["LatentSnapshots", "write_animation", "show_animation", "SNAPSHOTS"]

SNAPSHOTS = "snapshots.npz"


def _latent_grid(n: int) -> np.ndarray:
    """(n², 2) points z = Φ⁻¹(u), u evenly spaced in (0.05, 0.95) per axis; row-major, top row largest z₂."""
    g = norm.ppf(np.linspace(0.05, 0.95, n))
    return np.array([[a, b] for b in g[::-1] for a in g])


class LatentSnapshots:
    """Codes of fixed examples and the decoded grid of a 2-D latent, recorded during training.

    x : (n, D) the examples whose codes are followed (the same every frame)
    labels : (n,) their labels, for colour (or None)
    grid : the side of the decoded grid
    """

    def __init__(self, x, labels=None, grid: int = 12):
        self.x = np.asarray(x)
        self.labels = None if labels is None else np.asarray(labels)
        self.z_grid = _latent_grid(int(grid))
        self.grid = int(grid)
        self.steps, self.codes, self.images = [], [], []

    def record(self, model, step: int) -> None:
        """Add one frame: mu(x) of the fixed examples and E[x|z] on the grid, for the model as it is now."""
        if model.z_dim != 2:
            raise ValueError(f"snapshots: the latent space is drawn in 2-D; the model has z_dim = {model.z_dim}")
        mu = model.encode(self.x)[0]
        mean = model.likelihood.mean(*model.decode(self.z_grid.astype(model.dtype)))
        self.steps.append(int(step))
        self.codes.append(np.asarray(mu, dtype=np.float16))
        self.images.append(np.clip(np.asarray(mean, dtype=np.float32), 0, 1).astype(np.float16))

    def save(self, path) -> None:
        """Write every frame so far to ``path`` (.npz), atomically."""
        arrays = dict(steps=np.array(self.steps, dtype=np.int64), codes=np.array(self.codes),
                      images=np.array(self.images), z_grid=self.z_grid, x=self.x)
        if self.labels is not None:
            arrays["labels"] = self.labels
        atomic_save(path, lambda f: np.savez_compressed(f, **arrays))

    @classmethod
    def load(cls, path) -> "LatentSnapshots":
        """The frames saved by :meth:`save` (to append to on resume, or to animate)."""
        with np.load(path) as f:
            snap = cls(f["x"], f["labels"] if "labels" in f else None, grid=int(round(np.sqrt(len(f["z_grid"])))))
            snap.steps, snap.codes, snap.images = list(f["steps"]), list(f["codes"]), list(f["images"])
        return snap


def write_animation(snap: LatentSnapshots, path, image_shape=(28, 28), fps: int = 4) -> Path:
    """An animated GIF of the recorded frames (matplotlib's PillowWriter); returns its path."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    from .canvas import mosaic
    if not snap.steps:
        raise ValueError("animation: no frames were recorded (train with --snapshot-every K)")
    codes = np.asarray(snap.codes, dtype=np.float32)
    lim = float(np.percentile(np.abs(codes), 99.5)) * 1.1 or 1.0
    fig, (ax_z, ax_x) = plt.subplots(1, 2, figsize=(9, 4.4))
    colour = (dict(c=snap.labels, cmap="tab10", vmin=-0.5, vmax=9.5) if snap.labels is not None
              else dict(c="tab:blue"))
    dots = ax_z.scatter(codes[0][:, 0], codes[0][:, 1], s=5, **colour)
    ax_z.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="$z_1$", ylabel="$z_2$")
    picture = ax_x.imshow(mosaic(np.asarray(snap.images[0], dtype=np.float32), image_shape, snap.grid, pad=0),
                          cmap="gray", vmin=0, vmax=1)
    ax_x.axis("off")
    title = fig.suptitle("")

    def draw(i):
        dots.set_offsets(codes[i])
        picture.set_data(mosaic(np.asarray(snap.images[i], dtype=np.float32), image_shape, snap.grid, pad=0))
        title.set_text(f"step {snap.steps[i]}: codes mu(x) (left), decoded grid z = Φ⁻¹(u) (right)")
        return dots, picture, title

    path = Path(path)
    anim = FuncAnimation(fig, draw, frames=len(snap.steps), blit=False)
    tmp = path.with_name(f".{path.name}.partial.gif")
    try:
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=70)
        tmp.replace(path)                               # atomic: a reader never sees half a GIF
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def show_animation(path) -> None:
    """Inside Jupyter, show the GIF at ``path`` inline (as an <img>, which notebooks and the course site
    both render); elsewhere print where it is."""
    if "ipykernel" not in sys.modules:
        print(f"[animation saved: {path}]")
        return
    from IPython.display import HTML, display
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    display(HTML(f'<img src="data:image/gif;base64,{data}" alt="training, frame by frame">'))
