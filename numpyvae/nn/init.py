"""Weight initializers: Glorot/Xavier and He, uniform and normal.

All draw from a ``np.random.Generator`` the caller passes in, so one user
seed fixes every bit of a model. Shapes follow the code's convention: a weight
matrix ``W`` maps ``D_in -> D_out`` and has shape (D_in, D_out).

Glorot & Bengio (2010) keep the variance of activations and of gradients
roughly constant through tanh/sigmoid layers: Var[W] = 2 / (D_in + D_out).
He et al. (2015) account for ReLU zeroing half its inputs: Var[W] = 2 / D_in.
A uniform U(-a, a) has variance a^2 / 3, hence the sqrt(3 * var) bounds.

PyTorch's nn.Linear default ("pytorch") draws W and b from U(-1/sqrt(D_in), 1/sqrt(D_in)):
kaiming_uniform_ with a = sqrt(5) gives the bound gain * sqrt(3 / D_in) with
gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), i.e. 1/sqrt(D_in), and the bias uses the same
bound. Var[W] = 1 / (3 D_in), a third of He's. It is the only initializer here that sets
the bias too, so it returns (W, b); :func:`init_dense` gives every name that shape.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_positive_int


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


def kingma_normal(rng, d_in: int, d_out: int, dtype="float32") -> np.ndarray:
    """W ~ N(0, 0.001²) whatever the sizes; shape (D_in, D_out).

    Kingma, Rezende, Mohamed & Welling (2014) start every network of M2 this way (dpkingma/nips14-ssl:
    ``init_w(1e-3)``): the networks start nearly constant, whatever their fan-in. M2 depends on it
    (numpyvae.models.semi_supervised: from a fan-in-scaled start its decoder learns to ignore the label).
    """
    return _draw(rng, (d_in, d_out), 1e-6, "normal", dtype)


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kingma": kingma_normal,
}


def pytorch_uniform(rng, d_in: int, d_out: int, dtype="float32") -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's nn.Linear default: W (D_in, D_out) and b (D_out,) ~ U(-a, a), a = 1/sqrt(D_in).

    W is drawn first, then b, from the same generator.
    """
    d_in = check_positive_int(d_in, "pytorch_uniform", "d_in")
    d_out = check_positive_int(d_out, "pytorch_uniform", "d_out")
    dtype = as_dtype(dtype)
    a = 1.0 / np.sqrt(d_in)
    W = rng.uniform(-a, a, size=(d_in, d_out)).astype(dtype)
    b = rng.uniform(-a, a, size=d_out).astype(dtype)
    return W, b


# initializers that set both W and b; every other name leaves b at zero
DENSE_INITIALIZERS = {
    "pytorch": pytorch_uniform,
}


def init_dense(name: str, rng, d_in: int, d_out: int, dtype="float32") -> tuple[np.ndarray, np.ndarray]:
    """Initial (W (D_in, D_out), b (D_out,)) of a Dense layer for any initializer name.

    "pytorch" draws both (see :func:`pytorch_uniform`); "glorot_uniform", "glorot_normal",
    "he_uniform", "he_normal", "kingma" draw W and start b at zero.
    """
    if name in DENSE_INITIALIZERS:
        return DENSE_INITIALIZERS[name](rng, d_in, d_out, dtype)
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; choose one of "
                         f"{sorted(INITIALIZERS) + sorted(DENSE_INITIALIZERS)}")
    W = INITIALIZERS[name](rng, d_in, d_out, dtype)
    return W, np.zeros(d_out, dtype=W.dtype)


def get_initializer(name: str):
    """Look an initializer up by name; a clear error lists the known names."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        if name in DENSE_INITIALIZERS:
            raise ValueError(f"initializer {name!r} sets the bias too; use init_dense({name!r}, rng, d_in, d_out) "
                             "for (W, b)") from None
        raise ValueError(f"unknown initializer {name!r}; choose one of {sorted(INITIALIZERS)}") from None
