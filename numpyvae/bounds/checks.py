"""The checks of the bounds' inputs: a finite float log_w (S, N) with S ≥ 2, and a real order (α, n)."""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..checks import FLOAT_DTYPES, check_array

__all__ = ["check_log_w", "check_real"]


def check_log_w(log_w, where: str, why_several: str) -> np.ndarray:
    """log_w must be a finite float (S, N) array with S ≥ 2 samples per example; return it."""
    check_array(log_w, where, ndim=2, name="log_w")
    if log_w.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{where}: log_w must be float32 or float64, got {log_w.dtype.name}")
    if log_w.shape[1] == 0:
        raise ValueError(f"{where}: log_w has no examples (shape {log_w.shape})")
    if log_w.shape[0] < 2:
        raise ValueError(f"{where}: needs k >= 2 samples per example, got log_w of shape {log_w.shape} "
                         f"(k = {log_w.shape[0]}); {why_several}")
    return log_w


def check_real(value, where: str, name: str) -> float:
    """A real number (not bool, not NaN) as a Python float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{where}: {name} is NaN")
    return value
