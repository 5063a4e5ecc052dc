"""Turning grey images in [0, 1] into 0/1 images, for a Bernoulli decoder.

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
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_unit_interval

METHODS = ("threshold", "sample")


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
