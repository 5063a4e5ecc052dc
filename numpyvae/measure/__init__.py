"""Measuring trained models: the one importance-sampling estimator every model's log p(x) uses."""
from .estimator import importance_sampled

__all__ = ["importance_sampled"]
