"""The SGD update rule: plain, with momentum (heavy ball) or with Nesterov momentum."""
from __future__ import annotations

import numpy as np

from .engine import Optimizer
from .hyperparameters import as_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    Plain (momentum = 0)::

        θ ← θ − lr·g

    Momentum μ (Polyak's heavy ball, in the form of Sutskever et al., 2013),
    with a velocity u that starts at 0::

        u ← μ·u − lr·g
        θ ← θ + u

    Nesterov (Sutskever et al., 2013, rewritten by Bengio et al., 2012 so that
    the gradient is taken at the stored θ, not at a look-ahead point)::

        u ← μ·u − lr·g
        θ ← θ + μ·u − lr·g

    (PyTorch stores b = −u / lr instead; with a constant lr the steps are the
    same.) State: "t", "u/<name>" if μ > 0. Guard: a velocity whose gradients
    are zero decays like μᵗ; |u| < 1e-30 is set to 0, which changes θ by less
    than 1e-30 per step.
    """

    name = "sgd"

    def __init__(self, params, grads, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        self.momentum = as_decay(momentum, "SGD", "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0 (e.g. momentum=0.9), got momentum=0")
        self.nesterov = bool(nesterov)
        self.state_names = ("u",) if self.momentum > 0.0 else ()
        self._guards = (("u", "flush", self.momentum),) if self.momentum > 0.0 else ()
        super().__init__(params, grads, lr)

    def _update(self, theta, g, s, *state, t):
        lr, mu = self.lr, self.momentum
        np.multiply(g, lr, out=s)                 # s = lr·g
        if mu == 0.0:
            np.subtract(theta, s, out=theta)      # θ ← θ − lr·g
            return
        (u,) = state
        np.multiply(u, mu, out=u)
        np.subtract(u, s, out=u)                  # u ← μ·u − lr·g
        if not self.nesterov:
            np.add(theta, u, out=theta)           # θ ← θ + u
        else:
            np.subtract(theta, s, out=theta)      # θ ← θ − lr·g ...
            np.multiply(u, mu, out=s)
            np.add(theta, s, out=theta)           # ... + μ·u

    def config(self) -> dict:
        return dict(name="sgd", lr=self.lr, momentum=self.momentum, nesterov=self.nesterov)
