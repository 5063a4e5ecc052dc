"""The checks every hyperparameter goes through: a real number of the right range, returned as a Python float.

A Python float, never an ``np.float64``: NumPy 2 treats a Python float as
"weak" (``float32_array * 0.9`` stays float32) but an ``np.float64(0.9)`` as
strong, which would turn a float32 step into float64 (see
:class:`numpyvae.optim.engine.Optimizer` on dtypes). Each check raises one
ValueError that names the optimizer and the hyperparameter.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["as_real", "as_positive", "as_non_negative", "as_decay"]


def as_real(value, where: str, name: str) -> float:
    """``value`` as a Python float, finite (never np.float64: see the module docstring)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return value


def as_positive(value, where: str, name: str) -> float:
    """``value`` as a Python float, > 0."""
    value = as_real(value, where, name)
    if value <= 0.0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return value


def as_non_negative(value, where: str, name: str) -> float:
    """``value`` as a Python float, >= 0."""
    value = as_real(value, where, name)
    if value < 0.0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return value


def as_decay(value, where: str, name: str) -> float:
    """A decay rate: 0 <= value < 1 (at 1 the average would never forget)."""
    value = as_real(value, where, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{where}: {name} must satisfy 0 <= {name} < 1, got {value!r}")
    return value
