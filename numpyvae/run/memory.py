"""Will a run fit in this machine's memory? An estimate from the sizes alone, before anything is allocated.

The trainer calls :func:`check_memory` before it builds the model, so that a model or batch
far too large for the machine is refused in one line instead of after a long wait in swap.
"""
from __future__ import annotations

import os

import numpy as np

from .config import TrainConfig
from ..latent.families import FLOWS, parse_posterior, split_options
from ..likelihoods import LIKELIHOODS

__all__ = ["memory_estimate", "posterior_cost", "prior_cost", "available_memory", "check_memory", "peak_memory_mb"]


def memory_estimate(cfg: TrainConfig, x_dim: int, image_shape=None) -> tuple[int, int, int]:
    """(parameters, bytes, rows per step) that a training step of ``cfg``'s model needs, from the sizes alone.

    Counts floats: the parameters four times (weights, gradients, two optimizer
    moments) plus, per sample of z per example of a batch, every hidden
    activation twice and the likelihood's heads and temporaries (about 4·D).
    A network spec (encoder / decoder) counts its own layers, im2col matrices, canvases and
    feature maps (:func:`numpyvae.nn.spec.vae_step_cost`): the encoder's per example, the
    decoder's per sample of z. The posterior's and the prior's own sizes (a flow's steps, a
    mixture's components, the VampPrior's pseudo-inputs and their encoder pass) are
    :func:`latent_cost`'s.
    """
    rows = cfg.batch_size * cfg.n_samples
    q_params, q_heads, q_row = posterior_cost(cfg.posterior, cfg.z_dim)
    if cfg.encoder or cfg.decoder:
        from ..nn.spec import vae_step_cost
        heads = len(getattr(LIKELIHOODS.get(cfg.likelihood), "heads", ("out",)))
        params, f_enc, f_dec = vae_step_cost(cfg.encoder, cfg.decoder, x_dim, cfg.z_dim, image_shape,
                                             hidden=cfg.hidden, hidden_dec=cfg.hidden_dec or None, dec_heads=heads,
                                             enc_head_floats=2 * cfg.z_dim + q_heads)
        f_example, f_row = f_enc + 2 * x_dim, f_dec + 2 * cfg.z_dim + 4 * x_dim
    else:                       # the MLP's hidden activations, encoder's and decoder's, counted per row
        h = cfg.hidden
        sizes = [x_dim, *h, cfg.z_dim]
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + (h[-1] + 1) * (cfg.z_dim + q_heads)
        params += sum((a + 1) * b for a, b in zip([cfg.z_dim, *h[::-1]], [*h[::-1], 2 * x_dim]))
        f_enc, f_example, f_row = 2 * sum(h) + 2 * cfg.z_dim, 2 * q_heads, 2 * sum(h) + 2 * cfg.z_dim + 4 * x_dim
    p_params, p_step, p_row = prior_cost(cfg.prior, cfg.z_dim, x_dim, f_enc)
    params += q_params + p_params
    floats = 4 * params + cfg.batch_size * f_example + rows * (f_row + q_row + p_row) + p_step
    return params, floats * np.dtype(cfg.dtype).itemsize, rows


def posterior_cost(posterior: str, z_dim: int) -> tuple[int, int, int]:
    """(global parameters, encoder head floats per example beyond mu and logvar, floats per sample of z)
    of the family q(z|x) called ``posterior`` (numpyvae.latent.families), from its name alone.

    A flow of L steps on K latents: a planar step has heads u, w (K) and b (1), a radial one
    z0 (K), alpha, beta (1): encoder heads per example, or global parameters with amortized=false;
    an IAF step is a MADE K -> H -> 2K (H = hidden, default 4K) with a context C -> H (C =
    context_dim, default K, an encoder head). Each step keeps about 4K + 2H floats per sample
    (its input, outputs and gates; H = 0 for planar and radial). The full-covariance Gaussian
    adds the K(K−1)/2 head "tril" and keeps L, K² floats, per example.
    """
    head, options = split_options(posterior)
    base, length = parse_posterior(head)
    K = z_dim
    if base == "full-gaussian":
        return 0, K * (K - 1) // 2, K * K
    if base not in FLOWS:
        return 0, 0, 0
    if base == "iaf":
        C, H = options.get("context_dim", K), options.get("hidden", 4 * K)
        step = (K + 1) * H + (C + 1) * H * bool(C) + (H + 1) * 2 * K
        return length * 2 * step, C, length * (4 * K + 2 * H)     # 2: a MADE keeps a mask beside each W
    step = 2 * K + 1 if base == "planar" else K + 2
    if options.get("amortized", True):
        return 0, length * step, length * 4 * K
    return length * step, 0, length * 4 * K


def prior_cost(prior: str, z_dim: int, x_dim: int, f_enc: int) -> tuple[int, int, int]:
    """(parameters, floats per step, floats per sample of z) of the prior p(z) called ``prior``.

    A mixture of C components (mog:C, vamp:C) keeps, per sample of z, the (C,) log densities,
    responsibilities and their gradient; mog:C learns C(2K + 1) numbers, vamp:C its C
    pseudo-inputs of D features, which the encoder reads every step (``f_enc`` floats each).
    """
    kind, _, count = prior.partition(":")
    if kind not in ("mog", "vamp"):
        return 0, 0, 0
    C = int(count)
    if kind == "mog":
        return C * (2 * z_dim + 1), 0, 3 * C
    return C * x_dim, C * (f_enc + 2 * x_dim), 3 * C


def available_memory() -> tuple[int, str] | None:
    """(bytes, what they are) this process may use: the machine's memory, or less under a limit on
    its address space (ulimit -v); None where the platform does not say."""
    try:
        have, what = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's"
    except (ValueError, OSError, AttributeError):
        return None
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        soft = -1
    if soft != -1 and soft != getattr(resource, "RLIM_INFINITY", -1) and soft < have:
        have, what = soft, "the (ulimit -v) limit of"
    return have, what


def check_memory(cfg: TrainConfig, x_dim: int, fraction: float = 0.8, image_shape=None) -> None:
    """Refuse a model and batch that cannot fit in this machine's memory, before allocating them.

    The need is :func:`memory_estimate`'s. An estimate: a run near the limit may still fail,
    a run far above it surely would, after a long wait in swap.
    """
    params, need, rows = memory_estimate(cfg, x_dim, image_shape)
    available = available_memory()
    if available is None:
        return
    have, what = available
    if need > fraction * have:
        named = [f"{k} {getattr(cfg, k)!r}" for k, plain in (("posterior", "gaussian"), ("prior", "standard"),
                 ("encoder", ""), ("decoder", "")) if getattr(cfg, k) != plain]
        raise ValueError(f"this model and batch need about {need / 2 ** 30:,.1f} GiB "
                         f"({params:,} parameters, {rows:,} rows per step), more than {what} "
                         f"{have / 2 ** 30:.1f} GiB of memory; use smaller hidden sizes, z_dim, batch_size, "
                         f"n_samples" + "".join(f", {n}" for n in named))


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
