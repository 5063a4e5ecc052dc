"""Measuring trained models: the one importance-sampling estimator every model's log p(x) uses (``estimator.py``;
the VAE's chunked use of it, ``vae_log_likelihood.py``), the test ELBO (``elbo.py``), the latent units a model uses
(``latent_use.py``), the lecture's mixture baseline (``mixture_baseline.py``), the test images a run is measured on
(``run_data.py``), ``evaluate`` (``evaluate.py``; ``report.py`` for M2, the Helmholtz machine and AVB), the gaps by
local inference, a 2-D posterior on a grid, and the papers' comparisons (``comparisons.py``, ``reproduce.py``,
``structured_output.py``)."""
from .estimator import importance_sampled

__all__ = ["importance_sampled"]
