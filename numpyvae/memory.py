"""Will a run fit in this machine's memory? An estimate from the sizes alone, before anything is allocated.

The trainer calls :func:`check_memory` before it builds the model, so that a model or batch
far too large for the machine is refused in one line instead of after a long wait in swap.
"""
from __future__ import annotations

import os

import numpy as np

from .config import TrainConfig
from .likelihoods import LIKELIHOODS

__all__ = ["memory_estimate", "check_memory", "peak_memory_mb"]


def memory_estimate(cfg: TrainConfig, x_dim: int, image_shape=None) -> tuple[int, int, int]:
    """(parameters, bytes, rows per step) that a training step of ``cfg``'s model needs, from the sizes alone.

    Counts floats: the parameters four times (weights, gradients, two optimizer
    moments) plus, per sample of z per example of a batch, every hidden
    activation twice and the likelihood's heads and temporaries (about 4·D).
    A network spec (encoder / decoder) counts its own layers, im2col matrices, canvases and
    feature maps (:func:`numpyvae.nn.spec.vae_step_cost`): the encoder's per example, the
    decoder's per sample of z.
    """
    rows = cfg.batch_size * cfg.n_samples
    if cfg.encoder or cfg.decoder:
        from .nn.spec import vae_step_cost
        heads = len(getattr(LIKELIHOODS.get(cfg.likelihood), "heads", ("out",)))
        params, f_enc, f_dec = vae_step_cost(cfg.encoder, cfg.decoder, x_dim, cfg.z_dim, image_shape,
                                             hidden=cfg.hidden, hidden_dec=cfg.hidden_dec or None, dec_heads=heads)
        floats = 4 * params + cfg.batch_size * (f_enc + 2 * x_dim) + rows * (f_dec + 2 * cfg.z_dim + 4 * x_dim)
        return params, floats * np.dtype(cfg.dtype).itemsize, rows
    h = cfg.hidden
    sizes = [x_dim, *h, cfg.z_dim]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + (h[-1] + 1) * cfg.z_dim
    params += sum((a + 1) * b for a, b in zip([cfg.z_dim, *h[::-1]], [*h[::-1], 2 * x_dim]))
    floats = 4 * params + rows * (2 * sum(h) + 2 * cfg.z_dim + 4 * x_dim)
    return params, floats * np.dtype(cfg.dtype).itemsize, rows


def check_memory(cfg: TrainConfig, x_dim: int, fraction: float = 0.8, image_shape=None) -> None:
    """Refuse a model and batch that cannot fit in this machine's memory, before allocating them.

    The need is :func:`memory_estimate`'s. An estimate: a run near the limit may still fail,
    a run far above it surely would, after a long wait in swap.
    """
    params, need, rows = memory_estimate(cfg, x_dim, image_shape)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > fraction * have:
        raise ValueError(f"this model and batch need about {need / 2 ** 30:.1f} GiB "
                         f"({params:,} parameters, {rows:,} rows per step), more than this machine's "
                         f"{have / 2 ** 30:.1f} GiB of memory; use smaller hidden sizes, z_dim, batch_size "
                         f"or n_samples")


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far, in MB (``resource.getrusage``'s ru_maxrss: kilobytes on
    Linux, bytes on macOS); None where the system does not say (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10
