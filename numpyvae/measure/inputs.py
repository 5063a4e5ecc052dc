"""What a measurement is given, checked: the data, its labels, and the generator of its noise.

Every measurement (the test ELBO, log p(x), the latent units) takes x (N, D) in the model's dtype, optional
labels y (N,), and an ``rng`` that is never ``model.rng`` (measuring a model must not change the noise its
training would draw next); they check them here, the same way, and walk x in batches.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_array
from ..seeds import EVAL_SEED

__all__ = ["as_rng", "check_x", "check_labels", "batches"]


def as_rng(rng, where: str) -> np.random.Generator:
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


def check_x(model, x, where: str) -> np.ndarray:
    """x (N, D) in the model's dtype with at least one row; the model's own checks do the rest."""
    check_array(x, where, ndim=2, last=model.x_dim, dtype=model.dtype)
    if x.shape[0] == 0:
        raise ValueError(f"{where}: x must have at least one example, got shape {x.shape}")
    model.likelihood.check_x(x, where)      # e.g. values in [0, 1] for a Bernoulli decoder
    return x


def batches(n: int, batch_size: int):
    """Slices covering range(n) in order, each at most batch_size long."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def check_labels(x: np.ndarray, y, where: str) -> None:
    """Labels must be one per image: y of shape (N,) for x of shape (N, D)."""
    if y is None:
        return
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{where}: labels do not match the images: expected y of shape ({x.shape[0]},) "
                         f"for x of shape {x.shape}, got y of shape {y.shape}")

