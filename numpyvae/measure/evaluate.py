"""Measuring a trained VAE: test ELBO, importance-sampled log p(x), active units, a mixture baseline.

Every number is in nats per example (sums over pixels and latent dimensions,
means over examples), the unit of the training loss.

* :func:`test_elbo` -- the bound the model was trained on, with its two parts,
      ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z))      (recon = −E_q[log p(x|z)]).
* :func:`log_likelihood` -- an estimate of log p(x) itself (Burda, Grosse &
  Salakhutdinov, 2015, appendix; the protocol the literature reports, k = 5000):
      log p(x) ≈ log (1/k) Σ_i w_i,   w_i = p(x, z_i) / q(z_i|x),   z_i ~ q(z|x).
  Its expectation is the IWAE bound L_k: a lower bound that rises with k to
  log p(x). The gap log p(x) − ELBO = KL(q(z|x) || p(z|x)) ≥ 0 is how far the
  encoder is from the true posterior -- itself a lesson.
* :func:`active_units` and :func:`kl_per_dimension` -- which latent dimensions
  the model uses (Burda et al.: unit k is active if Var_x(E_q[z_k]) > 0.01).
* :func:`mixture_baseline` -- the lecture's model before the VAE, with an exact
  test log-likelihood, on the same data.
* :func:`evaluate_run` / :func:`format_table` -- all of it for a run directory.

Nothing here runs a backward pass. :func:`test_elbo` calls the model's own
forward; :func:`log_likelihood` composes its pieces (encode, the family's rsample,
decode, likelihood.forward, log q, log p) because it needs every log weight
of a chunk of samples.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .. import bounds_extra
from ..datasets import binarize as binarization
from ..checks import check_array, check_positive_int
from ..datasets.binarize import binarize_test_set
from ..run import settings as run_settings
from ..seeds import EVAL_SEED, test_seed, train_draw_seed
from ..files import check_writable
from .estimator import check_k, importance_sampled
from ..latent.kl import kl_analytic
from ..models.base import NoLogLikelihood
from ..run.progress import Progress
from ..run.words import bound_reported, estimate_described, trained_objective
from ..run.threads import policy_for

__all__ = ["test_elbo", "log_likelihood", "active_units", "kl_per_dimension", "binarize_test_set",
           "test_seed", "estimate_seconds", "mixture_baseline", "run_baselines", "run_test_data", "evaluate_run",
           "format_table", "save_evaluation"]

# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _as_rng(rng, where: str) -> np.random.Generator:
    """None -> a fresh generator seeded EVAL_SEED (same call, same numbers); an int seeds one; a Generator is used as is.

    Evaluation never touches ``model.rng``: measuring a model must not change
    the noise its training would draw next.
    """
    if rng is None:
        return np.random.default_rng(EVAL_SEED)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{where}: rng must be None, an integer seed >= 0 or a numpy.random.Generator, "
                     f"got {type(rng).__name__} {rng!r}")


def _check_x(model, x, where: str) -> np.ndarray:
    """x (N, D) in the model's dtype with at least one row; the model's own checks do the rest."""
    check_array(x, where, ndim=2, last=model.x_dim, dtype=model.dtype)
    if x.shape[0] == 0:
        raise ValueError(f"{where}: x must have at least one example, got shape {x.shape}")
    model.likelihood.check_x(x, where)      # e.g. values in [0, 1] for a Bernoulli decoder
    return x


def _batches(n: int, batch_size: int):
    """Slices covering range(n) in order, each at most batch_size long."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


# --------------------------------------------------------------------------
# the numbers
# --------------------------------------------------------------------------

def test_elbo(model, x: np.ndarray, batch_size: int = 500, n_samples: int = 1, rng=None, y=None,
              per_example: bool = False) -> dict:
    """The ELBO on x, in nats per example, with its reconstruction and KL parts.

    It runs the model's own :meth:`VAE.forward` (analytic KL, beta = 1), so it is
    the quantity training reports, bit for bit given the same eps, but without a
    backward pass and one batch at a time, so memory stays at
    O(batch_size · n_samples · D) for any N. It never draws from ``model.rng``.

    Parameters
    ----------
    model : VAE
    x : (N, D) in the model's dtype
    batch_size : examples per forward pass
    n_samples : S, samples of z per example in the reconstruction term
    rng : None | int | np.random.Generator   the noise eps; None means EVAL_SEED (0).
        Per batch, eps = rng.standard_normal((S, n_batch, K)), in order.
    y : (N,) int labels, for a conditional VAE only
    per_example : also return "each", the ELBO of every example (N,) float64 (for paired comparisons)

    Returns
    -------
    dict with floats: "elbo" (mean ELBO), "loss" (= −elbo, the training loss),
    "recon" (mean −log p(x|z), averaged over the S samples), "kl" (mean analytic KL).
    """
    where = "test_elbo"
    x = _check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    S = check_positive_int(n_samples, where, "n_samples")
    rng = _as_rng(rng, where)
    recon_sum = kl_sum = 0.0                                 # float64 sums over examples
    each = np.empty(x.shape[0]) if per_example else None
    for sl in _batches(x.shape[0], batch_size):
        xb = x[sl]
        eps = model.noise(rng, S, xb.shape[0])               # a hierarchy's noise covers every layer
        tape = model.forward(xb, eps, y=None if y is None else y[sl])   # the training forward pass, β = 1
        recon_sum += float(tape["nll"].mean(0).sum(dtype=np.float64))   # −log p(x|z), (S, n)
        kl_sum += float(tape["kl"].sum(dtype=np.float64))
        if per_example:
            each[sl] = -(tape["nll"].mean(0, dtype=np.float64) + tape["kl"])
    n = x.shape[0]
    recon, kl = recon_sum / n, kl_sum / n
    out = {"elbo": -(recon + kl), "loss": recon + kl, "recon": recon, "kl": kl}
    return {**out, "each": each} if per_example else out


test_elbo.__test__ = False      # a library function, not a pytest test


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
        :func:`numpyvae.bounds_extra.sandwich`. CUBO_2 = ½ log (1/k) Σ w_i² bounds log p(x)
        from above only in expectation over an infinite k: its k-sample estimate is biased
        low (log of a mean), so a CUBO_k below the IWAE_k means k is too small, not a bug.

    Returns
    -------
    (N,) float64, the estimate of log p(x_n) in nats; with ``sandwich`` a dict of (N,) float64
    arrays {"elbo", "iwae", "cubo"}, "iwae" being that same estimate.
    """
    where = "log_likelihood"
    x = _check_x(model, x, where)
    if model.no_log_likelihood:
        raise NoLogLikelihood(f"{where}: {model.no_log_likelihood}")
    _check_labels(x, y, where)
    if q_params is not None and model.proposal_params(x[:1], None if y is None else y[:1]) is None:
        raise ValueError(f"{where}: q_params (another proposal) is for a one-layer VAE; a hierarchy's proposal "
                         "is its own chain of encoders")
    k = check_k(k, where)
    if sandwich and k < 2:
        raise ValueError(f"{where}: sandwich=True needs k >= 2 importance samples (CUBO from one sample "
                         f"is log w, an ELBO), got k = {k}")
    batch_size = check_positive_int(batch_size, where, "batch_size")
    chunk = _chunk_size(model, k, min(batch_size, x.shape[0]), chunk_size, max_memory_mb, where)
    rng = _as_rng(rng, where)
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
        bounds = bounds_extra.sandwich(chunks)                        # ELBO, IWAE_k, CUBO_2 from the same w
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
    t0 = time.perf_counter()
    model.log_likelihood(xb, kp, np.random.default_rng(EVAL_SEED), y=None if y is None else y[:xb.shape[0]],
                         batch_size=batch_size)
    per_pair = (time.perf_counter() - t0) / (kp * xb.shape[0])
    return per_pair * k * x.shape[0]


def _q_batches(model, x, batch_size, y=None):
    """Yield the parameters of q(z|x[, y]) (for the diagonal Gaussian [mu, logvar]) batch by batch."""
    for sl in _batches(x.shape[0], batch_size):
        yield model.encode(x[sl]) if y is None else model.encode(x[sl], y[sl])


def has_kl_per_dimension(model) -> bool:
    """The KL splits over latent dimensions in closed form only for a diagonal Gaussian q and N(0, I)."""
    return model.posterior.name == "gaussian" and model.prior.name == "standard" and not hasattr(model, "stochastic")


def active_units(model, x: np.ndarray, threshold: float = 0.01, batch_size: int = 500,
                 y=None) -> tuple[int, np.ndarray]:
    """Latent dimensions the model uses (Burda et al., 2015, section 5.2).

    Unit k is active if A_k = Var_x(E_{q(z|x)}[z_k]) > threshold: if the posterior
    mean of z_k barely moves from one input to the next, z_k carries no
    information about x (its KL is ~0 too, q(z_k|x) ≈ p(z_k)).
    E_q[z] is the family's point summary (mu for a Gaussian; for a flow, mu
    pushed through the flow, its value at eps = 0), so A_k is its variance over
    the rows of x (population variance, divided by N).

    y: the labels of a conditional VAE (its q(z|x, y) reads them).

    Returns (count, A) with A of shape (K,), float64.
    """
    where = "active_units"
    x = _check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"{where}: threshold must be a finite number >= 0, got {threshold!r}")
    variance = np.concatenate([layer.var(axis=0) for layer in latent_means(model, x, batch_size, y)])
    return int((variance > threshold).sum()), variance


def latent_means(model, x: np.ndarray, batch_size: int = 500, y=None) -> list:
    """E_q[z] of every stochastic layer over x: a list of (N, K_l) float64 arrays (one for a VAE;
    for a hierarchy, the mean path z₁ = mu₁(x), z₂ = mu₂(z₁), ...); y: a conditional VAE's labels."""
    per_batch = [model.latent_means(x[sl], None if y is None else y[sl]) for sl in _batches(x.shape[0], batch_size)]
    return [np.concatenate(layer).astype(np.float64) for layer in zip(*per_batch)]


def active_units_per_layer(model, variance: np.ndarray, threshold: float = 0.01) -> list:
    """Active units of each stochastic layer, from :func:`active_units`' variances (K₁ + ... values)."""
    sizes = getattr(model, "stochastic", [variance.size])
    bounds = np.cumsum([0, *sizes])
    return [int((variance[a:b] > threshold).sum()) for a, b in zip(bounds[:-1], bounds[1:])]


def kl_per_dimension(model, x: np.ndarray, batch_size: int = 500, y=None) -> np.ndarray:
    """Mean over x of the analytic KL(q(z_k|x) || N(0, 1)) per latent dimension, (K,) float64, nats.

    Sums to the KL part of :func:`test_elbo`. A dimension with KL ≈ 0 has
    collapsed to the prior ("posterior collapse") and is inactive.
    """
    where = "kl_per_dimension"
    if not has_kl_per_dimension(model):
        raise ValueError(f"{where}: the KL splits per dimension only for posterior 'gaussian' with prior "
                         f"'standard'; this model has {model.posterior.name!r} and {model.prior.name!r}")
    x = _check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    total = np.zeros(model.z_dim)
    for mu, logvar in _q_batches(model, x, batch_size, y):
        total += kl_analytic(mu, logvar).sum(axis=0, dtype=np.float64)
    return total / x.shape[0]


# --------------------------------------------------------------------------
# the data a run is measured on
# --------------------------------------------------------------------------

def _binarize(config: dict) -> str:
    """The binarization a run trained with, from its saved config dict (binarization.resolved_binarize decides;
    a config saved before the setting existed did not binarize)."""
    return binarization.resolved_binarize(config.get("binarize", "none"), config.get("likelihood", "bernoulli"),
                                        config.get("dataset"))


def _check_labels(x: np.ndarray, y, where: str) -> None:
    """Labels must be one per image: y of shape (N,) for x of shape (N, D)."""
    if y is None:
        return
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{where}: labels do not match the images: expected y of shape ({x.shape[0]},) "
                         f"for x of shape {x.shape}, got y of shape {y.shape}")


# --------------------------------------------------------------------------
# the lecture's baseline
# --------------------------------------------------------------------------

def mixture_baseline(x_train: np.ndarray, x_test: np.ndarray, kind: str = "bernoulli",
                     n_components: int = 10, seed: int = 0, **mixture_kwargs) -> dict:
    """Fit the lecture's mixture model by EM on x_train and score x_test exactly.

    kind : "bernoulli" (binary data: log p(x) is an exact log-probability,
        comparable with a Bernoulli VAE on the same 0/1 images) or "gaussian"
        (diagonal covariances, grayscale data: log p(x) is a density)
    n_components, seed, **mixture_kwargs : passed to the mixture class
        (e.g. max_iter, n_init, alpha, reg)

    Returns dict: "kind", "n_components", "test_log_likelihood" (mean over x_test, nats),
    "train_log_likelihood", "n_iter", "seconds", "model" (the fitted mixture:
    .means, .weights, .sample(n)).
    """
    from ..baselines.mixture import BernoulliMixture, GaussianMixture
    classes = {"bernoulli": BernoulliMixture, "gaussian": GaussianMixture}
    if kind not in classes:
        raise ValueError(f"mixture_baseline: kind must be one of {tuple(classes)}, got {kind!r}")
    for name, arr in (("x_train", x_train), ("x_test", x_test)):
        check_array(arr, "mixture_baseline", ndim=2, name=name)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"mixture_baseline: x_train and x_test must have the same number of features, "
                         f"got {x_train.shape} and {x_test.shape}")
    start = time.perf_counter()
    model = classes[kind](n_components, seed=seed, **mixture_kwargs).fit(x_train)
    return {"kind": kind, "n_components": int(n_components),
            "test_log_likelihood": float(model.log_likelihood(x_test).mean()),
            "train_log_likelihood": float(model.history[-1]), "n_iter": int(model.n_iter),
            "seconds": time.perf_counter() - start, "model": model}


# --------------------------------------------------------------------------
# a run directory
# --------------------------------------------------------------------------

def _load_run(run_dir):
    from ..run.checkpoint import load_run      # imported here: checkpoint imports the whole model stack
    return load_run(run_dir)


def _dataset_for(config: dict):
    """The Dataset named in a run's config (config["dataset"], e.g. "digits")."""
    from ..datasets import load
    name = config.get("dataset")
    if not isinstance(name, str):
        raise ValueError(f"the run's config does not name its dataset (config['dataset'] = {name!r}); "
                         f"pass dataset=load(NAME)")
    return load(name)


def _seed(config: dict) -> int:
    """The run's seed from its config (0 if it has none, the trainer's default); a bad one is an error,
    not silently 0 (it decides which test draw the numbers are measured on)."""
    return run_settings.check_setting("seed", config.get("seed", 0), "the run's config")


def run_test_data(run, dataset=None) -> tuple[np.ndarray, np.ndarray, str, object]:
    """(x_test, y_test, how x_test was binarized, the Dataset) for a loaded run.

    x_test is in the model's dtype and binarized as the run's training data was
    (:func:`binarize_test_set`, seed = :func:`numpyvae.seeds.test_seed` of the run's seed). Shared by
    :func:`evaluate_run` and :func:`numpyvae.plots.run.plot_run`, so the numbers and
    the pictures use the same test images. ``dataset`` overrides the config's.
    """
    config = run.config or {}
    data = dataset if dataset is not None else _dataset_for(config)
    _check_labels(data.x_test, data.y_test, "the test set")
    if data.x_test.ndim != 2 or data.x_test.shape[1] != run.model.x_dim:
        raise ValueError(f"the test set has shape {data.x_test.shape} but the model takes {run.model.x_dim} "
                         f"features; is this the dataset the run was trained on?")
    x = np.ascontiguousarray(data.x_test, dtype=run.model.dtype)
    x, how = binarize_test_set(x, _binarize(config), seed=test_seed(_seed(config)))
    return x, np.asarray(data.y_test), how, data


def save_evaluation(results: dict, run_dir) -> Path:
    """Write results (JSON-able values only) to RUN_DIR/evaluation.json atomically; return the path.

    Written to a temporary file beside it, then renamed over the old one (the
    checkpoint module's atomic_save): a reader never sees half a file.
    """
    from ..run.checkpoint_format import save_json
    return save_json(Path(run_dir) / "evaluation.json", results)


DEFAULT_BASELINE_COMPONENTS = (10, 50)


def evaluate_run(run_dir, k: int = 5000, *, batch_size: int = 100, chunk_size: int | None = None,
                 max_memory_mb: float | None = 512, dataset=None, n_test: int | None = None,
                 threshold: float = 0.01, baseline=False, seed: int = EVAL_SEED,
                 progress: bool = True, save: bool = True, on_estimate=None, gaps: bool = False) -> dict:
    """Every number for a trained run, saved as RUN_DIR/evaluation.json.

    Parameters
    ----------
    run_dir : a run directory (checkpoint.npz, config.json, ...)
    k : importance samples per example for log p(x) (5000 as in Burda et al.; lower is faster)
    batch_size, chunk_size, max_memory_mb : memory of the log p(x) estimate (see :func:`log_likelihood`)
    dataset : a Dataset to use instead of the one named in the run's config
    n_test : use only the first n_test test examples (None: all)
    threshold : active-unit threshold on Var_x(E_q[z])
    baseline : False; True (mixtures with K = 10 and 50); an int K; or a list of K.
        Fits the lecture's mixture model on the training images prepared like
        the test images and scores the same test images exactly: a Bernoulli
        mixture for binarized runs, a diagonal Gaussian one for grey levels.
    seed : seeds the noise of the estimates
    progress : progress bar on stderr while estimating log p(x) (only on a terminal)
    save : write evaluation.json into run_dir (atomically); checked to be writable before the work
    on_estimate : None, or called with the estimated seconds of the log p(x) estimate before it
        starts (see :func:`estimate_seconds`); it may raise to stop there
    gaps : also split the gap into approximation and amortization gaps
        (:func:`numpyvae.measure.local_inference.inference_gaps`: each example's own q, optimized) -> results["gaps"]

    Returns
    -------
    dict of JSON-able values: "test_elbo", "test_recon", "test_kl" (nats per example),
    "log_likelihood" (mean IS estimate), "log_likelihood_stderr", "k",
    "gap" (= log_likelihood − test_elbo), "active_units", "active_threshold", "z_dim",
    "latent_variance" (K values), "kl_per_dimension" (K values, or None when the KL does not split
    per dimension in closed form), "n_test",
    "dataset", "binarize", "test_data" (how the test set was binarized),
    "likelihood", "seconds", "sandwich" ({"elbo", "iwae", "cubo"}: the means of
    :func:`log_likelihood`'s sandwich over the same k samples; None for k = 1), and "baseline" (a list of dicts, see
    :func:`mixture_baseline`) when asked.

    Raises the checkpoint module's error (a ValueError) for a directory without
    a checkpoint, and ValueError for labels that do not match the images.
    """
    start = time.perf_counter()
    run = _load_run(run_dir)
    if save:
        check_writable(Path(run_dir) / "evaluation.json", "evaluation")      # before the work, not after
    model, config = run.model, run.config or {}
    if gaps:
        _check_gaps(model, run_dir)
    x, y, how, data = run_test_data(run, dataset)
    if n_test is not None:
        n_test = check_positive_int(n_test, "evaluate_run", "n_test")
        x, y = x[:n_test], y[:n_test]
    labels = None                                       # what a conditional VAE reads beside x
    if getattr(model, "n_labels", 0):
        if y is None or not len(y):
            raise ValueError(f"evaluate {run_dir}: a conditional VAE measures log p(x|y), and the test set has no labels")
        labels = np.asarray(y).astype(np.int64)
    if on_estimate is not None and not model.no_log_likelihood:
        on_estimate(estimate_seconds(model, x, k, batch_size=batch_size, y=labels))
    rng = np.random.default_rng(seed)
    parts = test_elbo(model, x, rng=rng, y=labels)
    n_active, variance = None, None
    results = {
        "dataset": getattr(data, "name", None), "binarize": _binarize(config), "test_data": how,
        "n_test": int(x.shape[0]), "likelihood": model.config.get("likelihood"), "z_dim": int(model.z_dim),
        "kind": model.kind, "objective": trained_objective(config), "bound_reported": list(bound_reported(model)),
        "relaxed": hasattr(model.posterior, "discrete_sample"),
        "test_elbo": parts["elbo"], "test_recon": parts["recon"], "test_kl": parts["kl"],
        "k": int(k), "log_likelihood": None, "log_likelihood_stderr": None, "gap": None, "sandwich": None,
        "no_log_likelihood": model.no_log_likelihood, "estimate": None,
    }
    if not model.no_log_likelihood:
        bounds = log_likelihood(model, x, k, chunk_size=chunk_size, batch_size=batch_size,
                                max_memory_mb=max_memory_mb, rng=rng, progress=progress, sandwich=k >= 2, y=labels)
        ll = bounds["iwae"] if k >= 2 else bounds
        results.update({
            "log_likelihood": float(ll.mean()), "log_likelihood_stderr": float(ll.std() / math.sqrt(ll.size)),
            "gap": float(ll.mean()) - parts["elbo"], "estimate": estimate_described(model),
            # the same k samples' [ELBO, IWAE_k, CUBO_2] (None for k = 1); CUBO_k is biased low
            "sandwich": {name: float(bounds[name].mean()) for name in ("elbo", "iwae", "cubo")} if k >= 2 else None,
        })
    n_active, variance = active_units(model, x, threshold, y=labels)
    results.update({
        "active_units": n_active, "active_threshold": float(threshold),
        "active_units_per_layer": active_units_per_layer(model, variance, threshold),
        "stochastic": list(getattr(model, "stochastic", [model.z_dim])),
        "latent_variance": variance.tolist(),
        "kl_per_dimension": kl_per_dimension(model, x, y=labels).tolist() if has_kl_per_dimension(model) else None,
    })
    if gaps:
        from .local_inference import inference_gaps
        results["gaps"] = inference_gaps(model, x, k=k, seed=seed, progress=progress, log_likelihood_encoder_q=ll,
                                         log_likelihood=log_likelihood)
    if baseline is not False and baseline is not None:
        results["baseline"] = baseline_results(run, data, x, baseline)
    results["seconds"] = time.perf_counter() - start
    if save:
        save_evaluation(results, run_dir)
    return results


def _check_gaps(model, run_dir) -> None:
    """`--gaps` optimizes each example's own heads of one q(z|x); refuse, in one line, the models without them."""
    why = ("a hierarchy's q(z₂|z₁) has heads per sample of z₁, not per example, so there are no per-example "
           "heads to optimize" if model.kind == "hvae" else
           "a conditional VAE's local inference would need the labels; it is not implemented"
           if getattr(model, "n_labels", 0) else model.no_log_likelihood)
    if why:
        raise ValueError(f"evaluate {run_dir}: --gaps (the approximation/amortization split) does not apply: {why}")


def baseline_results(run, data, x_test: np.ndarray, baseline) -> list[dict]:
    """evaluate's "baseline" entry: :func:`run_baselines` for ``baseline`` (True: K = 10 and 50; an int K;
    a list of K), each result without its fitted model (JSON-able)."""
    ks = DEFAULT_BASELINE_COMPONENTS if baseline is True else baseline
    return [{key: v for key, v in res.items() if key != "model"} for res in run_baselines(run, data, x_test, ks)]


def run_baselines(run, data, x_test: np.ndarray, components, seed: int = EVAL_SEED) -> list[dict]:
    """:func:`mixture_baseline` for each K in ``components`` (an int or a list), on a run's data.

    The training images are prepared like the test images: for a binarized run,
    one Bernoulli(x) draw with the run's seed (a static run's exact training
    set; for a dynamic run one of the draws it trained on, in distribution).
    """
    binarize = _binarize(run.config or {})
    x_train = np.ascontiguousarray(data.x_train, dtype=np.float64)
    x_train, _ = binarize_test_set(x_train, binarize, seed=train_draw_seed(_seed(run.config or {})))
    kind = "bernoulli" if binarize in ("dynamic", "static") else "gaussian"
    ks = [components] if isinstance(components, (int, np.integer)) else list(components)
    return [mixture_baseline(x_train, x_test.astype(np.float64), kind=kind, n_components=K, seed=seed)
            for K in ks]


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------

def format_table(results: dict) -> str:
    """A small text table of :func:`evaluate_run`'s results (nats per example)."""
    def row(name, value, note=""):
        return f"  {name:<34}{value:>10}  {note}".rstrip()

    lines = [f"test set: {results.get('dataset')}, {results.get('n_test')} examples, {results.get('test_data')}"]
    if results.get("objective"):
        lines.append(f"trained on {results['objective']}")
    lines.append(f"  {'quantity':<34}{'nats':>10}")
    trained_on_elbo = results.get("objective", "the ELBO") == "the ELBO"
    name, what = results.get("bound_reported") or ("ELBO", "")
    if results.get("no_log_likelihood"):               # a plain autoencoder: reconstruction only
        lines.append(row(name, f"{results['test_recon']:.2f}", "the training objective"))
        lines.append(f"  {results['no_log_likelihood']}")
    else:
        bound = "" if results.get("relaxed") else "a lower bound"     # the relaxed ELBO bounds no log p(x)
        note = (f"the training objective{', ' if bound else ''}{bound}" if trained_on_elbo
                else f"{bound + ' ' if bound else ''}(not the training objective)")
        lines.append(row(name, f"{results['test_elbo']:.2f}", note))
        if what:
            lines.append(f"    ({what})")
        lines.append(row("  reconstruction −E[log p(x|z)]", f"{results['test_recon']:.2f}"))
        lines.append(row("  KL(q(z|x) || p(z))", f"{results['test_kl']:.2f}"))
        lines.append(row(f"log p(x), IS k={results['k']}", f"{results['log_likelihood']:.2f}",
                         f"± {results['log_likelihood_stderr']:.2f} (std. error over examples)"))
        if results.get("estimate"):
            lines.append(f"    ({results['estimate']})")
        if results.get("sandwich"):
            sw = results["sandwich"]
            lines.append(f"  {'sandwich [ELBO, IWAE_k, CUBO_2]':<34}[{sw['elbo']:.2f}, {sw['iwae']:.2f}, {sw['cubo']:.2f}]"
                         f"  same k={results['k']} samples")
            lines.append(row("", "", "log p(x) is inside in expectation; CUBO's k-sample estimate is biased low"))
        if not results.get("relaxed"):
            lines.append(row("gap log p(x) − ELBO", f"{results['gap']:.2f}", "≈ KL(q(z|x) || p(z|x))"))
    layers = results.get("stochastic") or [results["z_dim"]]
    lines.append(row("active units", f"{results['active_units']}/{sum(layers)}",
                     f"Var_x(E_q[z]) > {results.get('active_threshold', 0.01)}"))
    if len(layers) > 1:
        for i, (n, k) in enumerate(zip(results["active_units_per_layer"], layers), 1):
            lines.append(row(f"  layer z{i}", f"{n}/{k}"))
    if "gaps" in results:
        from .local_inference import format_gaps
        lines.append(format_gaps(results["gaps"]))
    for mix in results.get("baseline", []):
        lines.append(row(f"mixture, {mix['kind']} K={mix['n_components']}", f"{mix['test_log_likelihood']:.2f}",
                         "exact test log p(x)"))
    return "\n".join(lines)
