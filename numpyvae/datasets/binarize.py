"""Turning grey images in [0, 1] into 0/1 images for a Bernoulli decoder, and the one policy that decides a run's.

A Bernoulli likelihood is only a true probability for 0/1 data, so MNIST is
usually binarized first, in one of three ways:

- static, threshold:  x_bin = (x > 0.5). Deterministic; removes all pixel noise.
- static, sampled:    x_bin ~ Bernoulli(x), drawn ONCE with a fixed seed and then
  kept, like the fixed "binarized MNIST" of Larochelle & Murray (2011).
- dynamic:            a fresh x_bin ~ Bernoulli(x) every time an example is used
  (every epoch). The model never sees the same binary image twice, which acts
  as data augmentation and reduces over-fitting.

Why it matters: the three are different data sets. The same model reaches a
different test log-likelihood on each (thresholded images are the easiest to
model; dynamic training over-fits least), so published MNIST numbers
(e.g. "-log p(x) = 85 nats") are comparable only when the binarization, and
whether the test set was binarized the same way, match. Always report which.

A run's policy is decided in one place, :func:`resolved_binarize` (its ``binarize`` setting,
"auto" resolved from the likelihood and the data), and its test set is drawn by
:func:`binarize_test_set`: the trainers, evaluate and every model kind ask here.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_unit_interval
from ..seeds import test_seed

METHODS = ("threshold", "sample")
#: a run's binarize setting: auto resolves to dynamic or none (:func:`resolved_binarize`)
BINARIZE = ("auto", "dynamic", "static", "none")


def binarize_static(x: np.ndarray, method: str = "threshold", threshold: float = 0.5,
                    seed: int = 0) -> np.ndarray:
    """One fixed binarization of `x`, to be computed once and kept.

    Parameters
    ----------
    x : (N, D) float32 or float64 in [0, 1]
    method : "threshold" -> x > threshold;  "sample" -> one Bernoulli(x) draw
    threshold : used by "threshold" only
    seed : used by "sample" only; the same seed gives the same binary images

    Returns
    -------
    (N, D) array of 0.0 / 1.0 in x's dtype (a new array; x is unchanged).
    """
    dtype = as_dtype(x.dtype)
    check_unit_interval(x, "binarize_static")
    if method == "threshold":
        return (x > threshold).astype(dtype)
    if method == "sample":
        rng = np.random.default_rng(seed)
        return (rng.random(x.shape, dtype=dtype) < x).astype(dtype)
    raise ValueError(f"binarize_static: unknown method {method!r}; use one of {METHODS}")


def binarize_dynamic(x: np.ndarray, rng: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
    """A fresh Bernoulli(x) draw: call it on every batch, every epoch.

    Parameters
    ----------
    x : (N, D) float32 or float64, values in [0, 1] (pixel i is 1 with probability x[i];
        not re-checked here, since this runs on every batch)
    rng : np.random.Generator, owned by the trainer, so that runs are reproducible
    out : optional preallocated (N, D) array of x's dtype, C-contiguous, to write into

    Returns
    -------
    out (or a new array): 0.0 / 1.0 in x's dtype, equal to
    (rng.random(x.shape, dtype=x.dtype) < x).astype(x.dtype) draw for draw.

    The uniforms are drawn straight into `out` and compared in place, so a
    training loop that passes the same `out` each step allocates nothing.
    """
    dtype = as_dtype(x.dtype)
    if out is None:
        out = np.empty(x.shape, dtype=dtype)
    elif out.shape != x.shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"binarize_dynamic: out must be a C-contiguous {dtype.name} array of shape {x.shape}, "
                         f"got {out.dtype.name} {out.shape}"
                         f"{'' if out.flags.c_contiguous else ' (not C-contiguous)'}")
    rng.random(dtype=dtype, out=out)   # u ~ U[0, 1), written into out
    np.less(out, x, out=out)           # 1.0 where u < x, else 0.0 (bool -> float on store)
    return out


# --------------------------------------------------------------------------
# a run's binarization policy
# --------------------------------------------------------------------------

def resolved_binarize(binarize: str, likelihood: str, dataset: str, features: str = "") -> str:
    """The binarization a run uses: ``binarize`` itself, or for "auto" dynamic
    binarization when the likelihood is Bernoulli on image data (0/1 pixels are
    what it models) and none (grey levels) otherwise, and none for M1+M2 (``features``: M1's run directory),
    whose M1 reads the grey pixels as Kingma et al.'s code does. The one place that decides it: the trainers,
    evaluate (from a run's saved config) and the AVB experiment all ask here."""
    if binarize not in BINARIZE:
        raise ValueError(f"binarize must be one of {', '.join(BINARIZE)}, got {binarize!r}")
    if binarize != "auto":
        return binarize
    return "dynamic" if likelihood == "bernoulli" and dataset != "ring" and not features else "none"


def binarize_test_set(x: np.ndarray, binarize: str, seed: int | None = None) -> tuple[np.ndarray, str]:
    """The test set a model trained with ``binarize`` is measured on, and a sentence saying how.

    * "dynamic": one stochastic binarization x_bin ~ Bernoulli(x), drawn once
      with a fixed seed. The literature evaluates dynamically binarized models
      on such a sampled test set (e.g. Burda et al., 2015): the model was
      trained on Bernoulli(x) draws, so its test data is one more draw, and the
      fixed seed makes every evaluation see the same 0/1 images.
    * "static": also one Bernoulli(x) draw with a fixed seed, the way the
      trainer binarizes a static run's training set.
    * "none": x unchanged (grayscale). For a Bernoulli decoder the numbers are
      then not log-probabilities of any data set: report them as such.

    ``seed``: the trainer and the evaluator pass :func:`test_seed` of the run's
    seed, so ``val_loss`` in the history and the test ELBO are measured on the
    same 0/1 images; None means ``test_seed(0)`` (a run with seed 0).
    """
    seed = test_seed(0) if seed is None else seed
    if binarize in ("dynamic", "static"):
        kind = "stochastically" if binarize == "dynamic" else "statically"
        return binarize_static(x, method="sample", seed=seed), f"{kind} binarized, one Bernoulli(x) draw, seed {seed}"
    if binarize in (None, "none"):
        return x, "not binarized (grey levels)"
    raise ValueError(f"binarize must be one of {BINARIZE[1:]}, got {binarize!r}")
