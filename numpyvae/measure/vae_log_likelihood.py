"""The VAE's importance-sampled log p(x): the one estimator fed its log weights chunk by chunk, under a memory bound.

:func:`log_likelihood` is what ``model.log_likelihood`` of a VAE (every family, prior, conditional,
categorical) and of a hierarchy calls: it draws the model's noise, asks the model for its log weights,
and hands them to :func:`numpyvae.measure.estimator.importance_sampled`, the one estimator. The
samples go through the decoder a chunk at a time (:func:`_chunk_size`: the chunk that fills
FAST_CHUNK_MB, never more than ``max_memory_mb``), and :func:`estimate_seconds` times a small piece
first so a long estimate can be refused before it starts.

It sits beside the estimator so that the models import it (``VAEUses.log_likelihood``) without reaching up into
``evaluate``: it reads the model protocol, the seeds, and the run package's progress bar and BLAS thread policy,
none of which imports a model.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .sandwich import sandwich as sandwich_of_chunks
from ..checks import check_positive_int
from ..models.base import NoLogLikelihood
from ..run.progress import Progress
from ..run.cores import REUSE, MachineLoad
from ..run.threads import pinned, policy_for
from ..seeds import EVAL_SEED
from .estimator import check_k, importance_sampled
from .inputs import as_rng, check_labels, check_x

__all__ = ["log_likelihood", "estimate_seconds", "FAST_CHUNK_MB"]


def _floats_per_sample(model) -> int:
    """Rough count of floats alive per (sample of z, example) during one decoder forward.

    z and eps (2K), each decoder hidden layer's pre-activation and activation
    (2H, kept by the layers for a backward we never run), the likelihood's heads
    (D each) and its two D-sized temporaries. An estimate, on the safe side.
    """
    if hasattr(model, "floats_per_sample"):          # a hierarchy counts its own layers
        return model.floats_per_sample()
    hidden = getattr(model, "decoder_floats", None) or 2 * sum(model.hidden)   # a spec decoder counts its own
    return 2 * model.z_dim + hidden + model.x_dim * (len(model.likelihood.heads) + 2)


#: the working memory of one chunk, chosen when the user gives no chunk_size. Smaller chunks are faster: a
#: chunk of 400 samples x 100 examples of the 784-400-20 VAE (512 MB, the old choice) ran evaluate --k 5000
#: in 5.4 CPU s per 50 Fashion-MNIST images, half of it the kernel's page faults of arrays too big to reuse;
#: chunks of 50 (64 MB) in 3.0 s, with a peak of 355 MB instead of 888 MB (6 December, two interleaved rounds)
FAST_CHUNK_MB = 64


def _fast_chunk(per_sample_bytes: int) -> int:
    """The samples of z per chunk that fill FAST_CHUNK_MB (at least 1)."""
    return max(1, int(FAST_CHUNK_MB * 2 ** 20 // per_sample_bytes))


def _chunk_size(model, k: int, batch_size: int, chunk_size, max_memory_mb, where: str) -> int:
    """Samples of z per decoder pass: the user's chunk_size, checked, or (at most k) the samples that fill
    FAST_CHUNK_MB, fewer if max_memory_mb holds fewer."""
    per_sample_bytes = _floats_per_sample(model) * model.dtype.itemsize * batch_size
    if max_memory_mb is None:
        budget = None
    else:
        if isinstance(max_memory_mb, bool) or not isinstance(max_memory_mb, (int, float, np.integer, np.floating)) \
                or not math.isfinite(max_memory_mb) or max_memory_mb <= 0:
            raise ValueError(f"{where}: max_memory_mb must be a finite number > 0 or None, got {max_memory_mb!r}")
        budget = int(max_memory_mb * 2 ** 20 // per_sample_bytes)   # samples that fit
    if chunk_size is None:
        if budget is not None and budget < 1:
            raise ValueError(f"{where}: max_memory_mb={max_memory_mb} cannot hold even one sample of z for "
                             f"{batch_size} examples (~{per_sample_bytes / 2 ** 20:.2f} MB); "
                             f"raise max_memory_mb or lower batch_size")
        fast = _fast_chunk(per_sample_bytes)
        return min(k, fast) if budget is None else min(k, fast, budget)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"{where}: chunk_size must be an integer >= 1 (samples of z per pass) or None, "
                         f"got {chunk_size!r}")
    chunk_size = min(int(chunk_size), k)
    if budget is not None and chunk_size > budget:
        raise ValueError(f"{where}: chunk_size={chunk_size} with batch_size={batch_size} needs about "
                         f"{chunk_size * per_sample_bytes / 2 ** 20:.0f} MB, more than max_memory_mb={max_memory_mb}; "
                         f"use chunk_size <= {max(budget, 0)}, a smaller batch_size, or a larger max_memory_mb")
    return chunk_size


def log_likelihood(model, x: np.ndarray, k: int = 5000, *, chunk_size: int | None = None,
                   batch_size: int = 100, max_memory_mb: float | None = 512, rng=None,
                   progress: bool = True, q_params=None, sandwich: bool = False, y=None):
    """Importance-sampled estimate of log p(x) per example, with q(z|x) as the proposal: the one estimator.

    ``model.log_likelihood(x, k, rng)`` of a VAE or a hierarchy calls this. The model gives the log
    weights of a chunk of samples, ``model.log_weights(x, eps, q_params, y)`` (S, N), from its own
    noise ``model.noise(rng, S, N)``, and the heads of its proposal, ``model.proposal_params(x, y)``
    (None for a hierarchy, whose proposal is its chain of encoders). A Gumbel-softmax model proposes
    from its unrelaxed categorical q(c|x) (see :meth:`numpyvae.models.vae.VAE.log_weights`).

        log p(x) ≈ log (1/k) Σ_{i=1..k} w_i,   log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x),

    z_i = mu + sigma·eps_i ~ q(z|x) (Burda et al., 2015, with k = 5000). Never
    above log p(x) in expectation, and it reaches it as k grows.

    Memory: the k samples go through the decoder chunk_size at a time for
    batch_size examples at a time, so the peak is about chunk_size × batch_size
    × D floats, whatever k and N. The sum over chunks is a running
    log-sum-exp: keep m = max log w so far and a = Σ exp(log w − m); for a new
    chunk with max m', m_new = max(m, m'), a ← a·exp(m − m_new) + Σ exp(log w − m_new).
    Every exp is ≤ 1 (no overflow) and a ≥ 1 (log a is finite), while log w of
    −100 nats or less would underflow exp() directly.

    Parameters
    ----------
    model : VAE
    x : (N, D) in the model's dtype
    k : int >= 1, importance samples per example
    chunk_size : samples of z per decoder pass; None: the largest that fits max_memory_mb (at most k)
    batch_size : examples per pass
    max_memory_mb : bound on the estimated working memory of one pass (None: no bound);
        a chunk_size that does not fit it is an error, not a silent slowdown
    rng : None | int | np.random.Generator  the noise; None means EVAL_SEED (0). For each
        batch, chunk after chunk, eps = rng.standard_normal((c, n_batch, K)), so the
        numbers do not depend on chunk_size.
    progress : draw a progress bar on stderr (only when stderr is a terminal)
    q_params : None (the encoder's q), or the proposal's heads, a list of (N, size) arrays
        (e.g. each example's optimized q from :mod:`numpyvae.measure.local_inference`)
    y : (N,) int labels of a conditional VAE: the estimate is then of log p(x|y)
    sandwich : also return the same samples' ELBO and CUBO_2 estimates (needs k >= 2): the
        batch's float64 log w chunks (k × batch_size floats, 4 MB at k = 5000) go to
        :func:`numpyvae.measure.sandwich.sandwich`. CUBO_2 = ½ log (1/k) Σ w_i² bounds log p(x)
        from above only in expectation over an infinite k: its k-sample estimate is biased
        low (log of a mean), so a CUBO_k below the IWAE_k means k is too small, not a bug.

    Returns
    -------
    (N,) float64, the estimate of log p(x_n) in nats; with ``sandwich`` a dict of (N,) float64
    arrays {"elbo", "iwae", "cubo"}, "iwae" being that same estimate.
    """
    where = "log_likelihood"
    x = check_x(model, x, where)
    if model.no_log_likelihood:
        raise NoLogLikelihood(f"{where}: {model.no_log_likelihood}")
    check_labels(x, y, where)
    if q_params is not None and model.proposal_params(x[:1], None if y is None else y[:1]) is None:
        raise ValueError(f"{where}: q_params (another proposal) is for a one-layer VAE; a hierarchy's proposal "
                         "is its own chain of encoders")
    k = check_k(k, where)
    if sandwich and k < 2:
        raise ValueError(f"{where}: sandwich=True needs k >= 2 importance samples (CUBO from one sample "
                         f"is log w, an ELBO), got k = {k}")
    batch_size = check_positive_int(batch_size, where, "batch_size")
    chunk = _chunk_size(model, k, min(batch_size, x.shape[0]), chunk_size, max_memory_mb, where)
    rng = as_rng(rng, where)
    N = x.shape[0]
    n_chunks = -(-k // chunk)
    bar = Progress(-(-N // batch_size) * n_chunks, f"log p(x), k={k}", quiet=not progress)
    proposal = {"batch": None, "q": None}   # the batch's heads of q, computed once per batch, on its first chunk

    blas = policy_for(model, chunk * min(batch_size, N), flops_per_weight=2)   # BLAS threads: threads.py

    def log_weights(sl, c, rng):
        """(c, n) log weights of c fresh samples for the examples sl, from the model's own noise."""
        blas.tick()
        yb = None if y is None else y[sl]
        if proposal["batch"] != (sl.start, sl.stop):
            # e.g. [mu, logvar]; a hierarchy (None) makes its own from every layer's noise
            proposal["q"] = model.proposal_params(x[sl], yb) if q_params is None else [p[sl] for p in q_params]
            proposal["batch"] = (sl.start, sl.stop)
        return model.log_weights(x[sl], model.noise(rng, c, sl.stop - sl.start), proposal["q"], yb)

    elbo, cubo = np.empty(N), np.empty(N)

    def sandwich_of(sl, chunks):
        bounds = sandwich_of_chunks(chunks)                        # ELBO, IWAE_k, CUBO_2 from the same w
        elbo[sl], cubo[sl] = bounds["elbo"], bounds["cubo"]

    out = importance_sampled(log_weights, N, k, rng, batch_size=batch_size, chunk=chunk, bar=bar,
                             on_batch=sandwich_of if sandwich else None)["log_likelihood"]
    bar.close()
    return {"elbo": elbo, "iwae": out, "cubo": cubo} if sandwich else out


def estimate_seconds(model, x: np.ndarray, k: int, batch_size: int = 100, probe_k: int = 50, y=None) -> float:
    """Rough seconds ``model.log_likelihood`` will take on x with k samples, from timing a small piece:
    any model of the protocol (a VAE, a hierarchy, M2, the Helmholtz machine, AVB).

    Times min(k, probe_k) samples for one batch of x and scales by the number
    of (sample, example) pairs; the encoder's share is negligible for k >= 10.
    """
    k = int(k)
    xb = x[:min(batch_size, x.shape[0])]
    kp = min(k, probe_k)
    if pinned() is None:
        MachineLoad(reuse=REUSE).now()     # the thread policy's first reading (0.1 s), outside the clock: reused there
    t0 = time.perf_counter()
    model.log_likelihood(xb, kp, np.random.default_rng(EVAL_SEED), y=None if y is None else y[:xb.shape[0]],
                         batch_size=batch_size)
    per_pair = (time.perf_counter() - t0) / (kp * xb.shape[0])
    return per_pair * k * x.shape[0]

