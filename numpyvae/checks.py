"""Input checks shared by every public entry point.

A teaching tool must fail early and say why: a wrong shape caught here reads
"Dense.forward: x must have 784 features (last axis), got 785", not a BLAS
error three calls deeper. Each helper returns its input unchanged (or raises
ValueError), so a call reads as one line at the top of a function.
"""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NonFiniteError(ValueError):
    """An array holds NaN or inf. A ValueError like every bad input, and its own class so that
    the trainer can tell numbers that blew up inside the model from any other mistake."""


def as_dtype(dtype) -> np.dtype:
    """Resolve a dtype given by name or object; only float32 and float64 are supported.

    float32 is for training, float64 for gradient checks; anything else would
    silently lose precision or waste memory, so it is refused.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"unsupported dtype {dtype!r}: use 'float32' or 'float64'") from err
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"unsupported dtype {dt.name!r}: use 'float32' (training) or 'float64' (gradient checks)")
    return dt


def check_array(x, where: str, *, ndim: int | tuple[int, ...] | None = None,
                last: int | None = None, dtype: np.dtype | None = None,
                finite: bool = True, name: str = "x") -> np.ndarray:
    """Validate an array argument and return it.

    Parameters
    ----------
    x : array
    where : str        the caller, used as the message prefix ("Dense.forward")
    ndim : int or tuple of ints, optional   allowed ranks
    last : int, optional    required size of the last axis
    dtype : np.dtype, optional   required dtype (no silent casts)
    finite : bool      refuse NaN and inf
    name : str         the argument's name in the message
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy array, got {type(x).__name__}")
    if type(x) is not np.ndarray:      # np.matrix keeps 2 dims under indexing, a masked array hides values
        raise TypeError(f"{where}: {name} must be a plain numpy array, got {type(x).__module__}."
                        f"{type(x).__name__}; convert it with np.asarray({name})")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{where}: {name} must have {want} dimensions, got shape {x.shape}")
    if last is not None and (x.ndim == 0 or x.shape[-1] != last):
        raise ValueError(f"{where}: {name} must have {last} features (last axis), got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{where}: {name} has dtype {x.dtype.name} but this model uses {np.dtype(dtype).name}; "
                         f"convert with {name}.astype('{np.dtype(dtype).name}')")
    if finite and x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise NonFiniteError(f"{where}: {name} contains {bad} non-finite value(s) (NaN or inf)")
    return x


def check_unit_interval(x: np.ndarray, where: str, name: str = "x") -> np.ndarray:
    """Refuse values outside [0, 1] (Bernoulli-type likelihoods need them)."""
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=1.0))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{where}: {name} must lie in [0, 1] for this likelihood, got values in "
                         f"[{lo:.4g}, {hi:.4g}]; scale images by 1/255 or use likelihood='gaussian'")
    return x


def check_positive_int(k, where: str, name: str) -> int:
    """Return k as an int >= 1, or raise naming the argument."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: {name} must be an integer >= 1, got {k!r}")
    return int(k)


def check_rng(rng, where: str) -> np.random.Generator:
    """rng itself if it is a numpy.random.Generator; else one TypeError saying how to make one."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng
