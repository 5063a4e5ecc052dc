"""What a one-layer VAE step is handed, checked and shaped: x, a conditional VAE's labels y, the noise eps.

A conditional VAE (n_labels = C > 0) concatenates the one-hot code of y to the encoder's input x and to the
decoder's input z (:meth:`VAEInputs.one_hot`, :meth:`VAEInputs._with_label`); ``encode`` and ``decode`` run one
network with them. A subclass may condition on something else by overriding ``one_hot``
(measure/structured_output.py conditions on an image part).
"""
from __future__ import annotations

import numpy as np

from ..checks import check_array

__all__ = ["VAEInputs"]


class VAEInputs:
    """Mixin: the checks and shapes of x, y and eps, and encode / decode (see the module docstring)."""

    def _check_x(self, x, where):
        check_array(x, where, ndim=2, last=self.x_dim, dtype=self.dtype)
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x has no rows (shape {x.shape}); a batch needs at least one example")
        return self.likelihood.check_x(x, where)

    def one_hot(self, y, n: int, where: str) -> np.ndarray | None:
        """Labels y (n,) in 0..C−1 -> one-hot (n, C) in the model's dtype; None for an unconditional model.

        A conditional model refuses a missing y; an unconditional one refuses a given y.
        """
        if not self.n_labels:
            if y is not None:
                raise ValueError(f"{where}: y is given but the model is not conditional (n_labels = 0)")
            return None
        C = self.n_labels
        if y is None:
            raise ValueError(f"{where}: this conditional VAE needs the labels y (integers in 0..{C - 1}, "
                             f"one per example), got none")
        y = np.asarray(y)
        if y.ndim == 0:
            y = np.full(n, y)
        if y.dtype.kind not in "iu" or y.shape != (n,):
            raise ValueError(f"{where}: y must be {n} integer labels (shape ({n},)), got dtype {y.dtype.name} "
                             f"shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= C):
            raise ValueError(f"{where}: labels y must lie in 0..{C - 1} (n_labels = {C}), got values in "
                             f"[{y.min()}, {y.max()}]")
        onehot = np.zeros((n, C), dtype=self.dtype)
        onehot[np.arange(n), y] = 1.0
        return onehot

    @staticmethod
    def _with_label(a: np.ndarray, onehot) -> np.ndarray:
        """[a, onehot] along the last axis; a (..., N, F), onehot (N, C) broadcast over leading axes."""
        if onehot is None:
            return a
        return np.concatenate([a, np.broadcast_to(onehot, (*a.shape[:-1], onehot.shape[-1]))], axis=-1)

    def encode(self, x: np.ndarray, y=None) -> list[np.ndarray]:
        """q(z|x[, y]): x (N, D) -> the family's parameters, each (N, size) (for the Gaussian: [mu, logvar])."""
        self._check_x(x, "VAE.encode")
        return self.encoder.forward(self._with_label(x, self.one_hot(y, x.shape[0], "VAE.encode")))[0]

    def decode(self, z: np.ndarray, y=None) -> list[np.ndarray]:
        """p(x|z[, y]): z (..., N, K) -> the likelihood's heads, each (..., N, D) (e.g. [logits])."""
        check_array(z, "VAE.decode", ndim=(2, 3), last=self.z_dim, dtype=self.dtype, name="z")
        return self.decoder.forward(self._with_label(z, self.one_hot(y, z.shape[-2], "VAE.decode")))[0]

    def noise(self, rng: np.random.Generator, n_samples: int, n: int) -> np.ndarray:
        """The family's noise for n examples, S samples each, from ``rng`` (e.g. an evaluator's own): (S, N, K)."""
        return self.posterior.draw_noise(rng, n_samples, n, self.dtype)

    def draw_eps(self, n: int, n_samples: int = 1) -> np.ndarray:
        """The family's noise (for the Gaussian eps ~ N(0, I), (S, N, K)) from the model's own seeded generator."""
        return self.posterior.draw_noise(self.rng, n_samples, n, self.dtype)

    def _own_eps(self, eps, n, n_samples):
        """The noise for this step: drawn here, or a private copy of the caller's (see forward)."""
        if eps is None:
            return self.draw_eps(n, n_samples)
        tail = self.noise_shape                       # (K,), or (M, C) for a categorical family
        check_array(eps, "VAE.forward", ndim=(len(tail) + 1, len(tail) + 2), last=tail[-1], dtype=self.dtype,
                    name="eps")
        if eps.ndim == len(tail) + 1:
            eps = eps[None]
        if eps.shape[1:] != (n, *tail):
            shape = ", ".join(map(str, (n, *tail)))
            raise ValueError(f"VAE.forward: eps must have shape (S, {shape}) or ({shape}) for x with {n} rows "
                             f"and the {self.posterior.name} family's noise, got {eps.shape}")
        return eps.copy()
