"""The Helmholtz machine's pieces under their names of before the protocol (tutorial 08 imports them).

Training, saving, resuming and evaluating a Helmholtz machine go through the one trainer and CLI
now: ``python -m numpyvae train --model helmholtz`` (numpyvae/models/helmholtz.py,
numpyvae/run/recipes.py). A run directory of before, with its ``helmholtz.npz``, is read by the one
checkpoint reader (numpyvae.checkpoint) and can be evaluated, sampled, plotted and resumed.
"""
from __future__ import annotations

import numpy as np

from .models.helmholtz import build_machine, machine_log_likelihood
from .wake_sleep import HelmholtzMachine

__all__ = ["build_helmholtz", "log_likelihood"]


def build_helmholtz(x_dim: int, cfg, seed: int, dtype) -> HelmholtzMachine:
    """The machine of a TrainConfig: MLP encoder x_dim-hidden-z_dim and decoder z_dim-hidden_dec-x_dim."""
    return build_machine(x_dim, cfg.hidden, cfg.z_dim, cfg.hidden_dec or None, cfg.activation,
                         None if cfg.init == "auto" else cfg.init, seed, np.dtype(dtype))


def log_likelihood(hm: HelmholtzMachine, x: np.ndarray, k: int, rng: np.random.Generator, *,
                   batch_size: int = 100, chunk: int = 100) -> dict:
    """{"log_likelihood", "elbo"} (N,): IS log p(x) with q(h|x) as proposal, and the same samples' ELBO."""
    return machine_log_likelihood(hm, x, k, rng, batch_size=batch_size, chunk=chunk)
