"""The Adagrad update rule: each step divided by the root of the sum of all squared gradients so far."""
from __future__ import annotations

import numpy as np

from .engine import Optimizer
from .hyperparameters import as_non_negative, as_positive
from .inplace import scaled_step

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), diagonal form::

        G ← G + g²                     (G starts at initial_accumulator)
        θ ← θ − lr·g / (√G + ε)

    G is the sum of all squared gradients so far, so steps shrink over time,
    fastest for parameters with large or frequent gradients. Defaults
    (lr = 0.01, ε = 1e-10, G₀ = 0) are PyTorch's; Keras uses G₀ = 0.1.

    State: "t", "G/<name>". No guard: G never decreases, so it cannot decay
    into the subnormal range (it could only be subnormal if every gradient so
    far had |g| < 1e-19).
    """

    name = "adagrad"
    state_names = ("G",)

    def __init__(self, params, grads, lr: float = 0.01, eps: float = 1e-10, initial_accumulator: float = 0.0):
        self.eps = as_positive(eps, "Adagrad", "eps")
        self.initial_accumulator = as_non_negative(initial_accumulator, "Adagrad", "initial_accumulator")
        super().__init__(params, grads, lr)

    def _init_state(self) -> None:
        self._state["G"][0][...] = self.initial_accumulator

    def _update(self, theta, g, s, G, *, t):
        np.multiply(g, g, out=s)
        np.add(G, s, out=G)                        # G ← G + g²
        scaled_step(theta, g, s, G, self.lr, self.eps)    # θ ← θ − lr·g / (√G + ε)

    def config(self) -> dict:
        return dict(name="adagrad", lr=self.lr, eps=self.eps, initial_accumulator=self.initial_accumulator)
