"""Training curves: the loss, the reconstruction and the KL of every epoch, train and validation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from .canvas import DPI, new_figure, save_png

__all__ = ["plot_history"]


def plot_history(history, path, figsize=None, dpi: int = DPI, *, loss_label: str = "−ELBO (loss)",
                 kl: bool = True) -> Path:
    """Training curves from a run's history (a list of per-epoch dicts):
    three panels, −ELBO (loss), reconstruction −E_q[log p(x|z)] and KL, train and validation.
    ``loss_label`` names the loss (e.g. "−IWAE bound (loss)"); ``kl=False`` leaves out the KL panel
    (a plain autoencoder has none).

    The training numbers are averages over the epoch's batches (with the
    epoch's β, if a warm-up is on); validation is measured at its end.
    """
    where = "plot_history"
    if not isinstance(history, (list, tuple)) or not history or not all(isinstance(h, dict) for h in history):
        raise ValueError(f"{where}: history must be a non-empty list of per-epoch dicts, got {type(history).__name__}"
                         f"{'' if not isinstance(history, (list, tuple)) else f' of length {len(history)}'}")
    for key in ("train_loss", "train_recon", "train_kl"):
        missing = [i for i, h in enumerate(history) if key not in h]
        if missing:
            raise ValueError(f"{where}: epoch entry {missing[0]} has no {key!r}; keys: {sorted(history[missing[0]])}")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    panels = (("loss", loss_label), ("recon", "reconstruction −E_q[log p(x|z)]"), ("kl", "KL(q(z|x) || p(z))"))
    panels = panels if kl else panels[:2]
    fig = new_figure(figsize, (11 if kl else 7.5, 3.4), dpi)
    axes = fig.subplots(1, len(panels))
    for ax, (part, title) in zip(axes, panels):
        ax.plot(epochs, [h[f"train_{part}"] for h in history], marker=".", label="train")
        val = [h.get(f"val_{part}") for h in history]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel="nats per example", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    return save_png(fig, path)
