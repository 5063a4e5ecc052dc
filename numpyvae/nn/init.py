"""Weight initializers: Glorot/Xavier and He, uniform and normal.

All draw from a ``np.random.Generator`` the caller passes in, so one user
seed fixes every bit of a model. Shapes follow the code's convention: a weight
matrix ``W`` maps ``D_in -> D_out`` and has shape (D_in, D_out).

Glorot & Bengio (2010) keep the variance of activations and of gradients
roughly constant through tanh/sigmoid layers: Var[W] = 2 / (D_in + D_out).
He et al. (2015) account for ReLU zeroing half its inputs: Var[W] = 2 / D_in.
A uniform U(-a, a) has variance a^2 / 3, hence the sqrt(3 * var) bounds.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype


def _draw(rng: np.random.Generator, shape, var: float, kind: str, dtype) -> np.ndarray:
    dtype = as_dtype(dtype)
    if kind == "uniform":
        a = np.sqrt(3.0 * var)
        return rng.uniform(-a, a, size=shape).astype(dtype)
    return (np.sqrt(var) * rng.standard_normal(size=shape)).astype(dtype)


def glorot_uniform(rng, d_in: int, d_out: int, dtype="float32") -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / (D_in + D_out)); shape (D_in, D_out)."""
    return _draw(rng, (d_in, d_out), 2.0 / (d_in + d_out), "uniform", dtype)


def glorot_normal(rng, d_in: int, d_out: int, dtype="float32") -> np.ndarray:
    """W ~ N(0, 2 / (D_in + D_out)); shape (D_in, D_out)."""
    return _draw(rng, (d_in, d_out), 2.0 / (d_in + d_out), "normal", dtype)


def he_uniform(rng, d_in: int, d_out: int, dtype="float32") -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / D_in); shape (D_in, D_out)."""
    return _draw(rng, (d_in, d_out), 2.0 / d_in, "uniform", dtype)


def he_normal(rng, d_in: int, d_out: int, dtype="float32") -> np.ndarray:
    """W ~ N(0, 2 / D_in); shape (D_in, D_out)."""
    return _draw(rng, (d_in, d_out), 2.0 / d_in, "normal", dtype)


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def get_initializer(name: str):
    """Look an initializer up by name; a clear error lists the known names."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown initializer {name!r}; choose one of {sorted(INITIALIZERS)}") from None
