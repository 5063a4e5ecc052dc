"""Measuring trained models: the one importance-sampling estimator every model's log p(x) uses (``estimator.py``),
``evaluate`` (``evaluate.py``; ``report.py`` for M2, the Helmholtz machine and AVB), the sandwich
[ELBO, IWAE_k, CUBO_n] over chunks of samples (``sandwich.py``), the gaps by local inference,
a 2-D posterior on a grid, and the papers' comparisons (``comparisons.py``, ``reproduce.py``, ``structured_output.py``)."""
from .estimator import importance_sampled

__all__ = ["importance_sampled"]
