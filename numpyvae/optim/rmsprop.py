"""The RMSprop update rule: each step divided by the recent RMS of its gradient."""
from __future__ import annotations

import numpy as np

from .engine import Optimizer
from .hyperparameters import as_decay, as_positive
from .inplace import axpy, scaled_step

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, Coursera lecture 6e, 2012), Keras's default form::

        v ← ρ·v + (1 − ρ)·g²
        θ ← θ − lr·g / (√v + ε)

    v is a running mean of squared gradients, so each parameter's step is its
    gradient divided by that gradient's recent RMS. ε sits outside the square
    root, as in standalone Keras 2 and PyTorch; tf.keras and Keras 3 use
    √(v + ε) instead, which differs for parameters with v not far above ε.
    Defaults lr = 1e-3, ρ = 0.9, ε = 1e-7 are Keras's.

    Nine passes over the parameters per step, none allocating (the keras
    preset trains with it).

    State: "t", "v/<name>". Guard: v is floored at 1e-30 every few steps. Where
    the floor acts, √v goes from below 1e-15 to 1e-15: the denominator √v + ε
    changes by at most 1e-15 / ε = 1e-8 relative, below float32 resolution.
    """

    name = "rmsprop"
    state_names = ("v",)

    def __init__(self, params, grads, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        self.rho = as_decay(rho, "RMSprop", "rho")
        self.eps = as_positive(eps, "RMSprop", "eps")
        self._guards = (("v", "floor", self.rho),)
        super().__init__(params, grads, lr)

    def _update(self, theta, g, s, v, *, t):
        rho = self.rho
        np.multiply(v, rho, out=v)
        np.multiply(g, g, out=s)
        axpy(1.0 - rho, s, v, s)                   # v ← ρ·v + (1 − ρ)·g²
        scaled_step(theta, g, s, v, self.lr, self.eps)    # θ ← θ − lr·g / (√v + ε)

    def config(self) -> dict:
        return dict(name="rmsprop", lr=self.lr, rho=self.rho, eps=self.eps)
