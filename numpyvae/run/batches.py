"""What one training step sees: a :class:`numpyvae.models.base.Batch`, drawn from an epoch's order.

Two compositions, one interface (``steps``, ``order(rng)`` once per epoch, ``batch(order, b, rng)``):

* :class:`Minibatches` -- a fresh permutation of the training set each epoch, consecutive slices of
  it (the last partial batch dropped), dynamically binarized if asked; labels with them when given.
  The rows are gathered into reused buffers (no per-step allocation of batch-sized arrays).
* :class:`SemiSupervised` -- M2's, as Kingma's code: an epoch is one pass over both sets, each step
  about N_l/S labelled and N_u/S unlabelled examples whose sums are weighted S/N (``Batch.weights``).
"""
from __future__ import annotations

import numpy as np

from ..datasets import binarize_dynamic
from ..models.semi_supervised import paper_batches
from ..models.base import Batch

__all__ = ["Minibatches", "SemiSupervised", "label_order"]


class Minibatches:
    """x (N, D) and optional labels y (N,), batch_size rows per step, dynamic binarization if ``dynamic``."""

    def __init__(self, x: np.ndarray, batch_size: int, dynamic: bool, y: np.ndarray | None = None):
        self.x, self.y, self.batch_size, self.dynamic = x, y, batch_size, dynamic
        self.steps = x.shape[0] // batch_size
        self._xb = np.empty((batch_size, x.shape[1]), dtype=x.dtype)
        self._xbin = np.empty_like(self._xb)

    def order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(self.x.shape[0])

    def batch(self, order: np.ndarray, b: int, rng: np.random.Generator) -> Batch:
        """Rows order[b·B:(b+1)·B] (a fresh Bernoulli draw of them if dynamic). The Batch's x is a reused buffer."""
        idx = order[b * self.batch_size:(b + 1) * self.batch_size]
        np.take(self.x, idx, axis=0, out=self._xb)
        xb = binarize_dynamic(self._xb, rng, out=self._xbin) if self.dynamic else self._xb
        return Batch(x=xb, y=None if self.y is None else self.y[idx])


def label_order(rng: np.random.Generator, n: int, total: int) -> np.ndarray:
    """Indices into a labelled set of n for ``total`` draws: whole permutations, one after another."""
    reps = -(-total // n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:total]


class SemiSupervised:
    """M2's batches as Kingma's code composes them (:func:`numpyvae.models.semi_supervised.paper_batches`).

    x_l (N_l, D) with labels y_l (N_l,), x_u (N_u, D) unlabelled, B = batch_size. An epoch is
    S = max(1, N_u // B) steps; both sets are shuffled and cut into S nearly equal parts, so step s
    holds about N_l/S labelled and N_u/S unlabelled examples (each seen once an epoch; with fewer
    labels than steps some steps hold none), and the step's two sums are weighted w_l = w_u = S/N
    (``Batch.weights``): an epoch's steps add up to the objective per training example.
    """

    def __init__(self, x_l: np.ndarray, y_l: np.ndarray, x_u: np.ndarray, batch_size: int, dynamic: bool):
        self.x_l, self.y_l, self.x_u, self.dynamic = x_l, y_l, x_u, dynamic
        self.batch_size = min(batch_size, x_u.shape[0])
        self.steps = max(1, x_u.shape[0] // self.batch_size)

    def order(self, rng: np.random.Generator) -> list:
        """The epoch's steps: [(labelled indices, unlabelled indices, (w_l, w_u))] * S."""
        return paper_batches(self.x_l.shape[0], self.x_u.shape[0], self.batch_size, rng)

    def batch(self, order, b: int, rng: np.random.Generator) -> Batch:
        idx, idx_u, weights = order[b]
        x_l, x_u = self.x_l[idx], self.x_u[idx_u]
        if self.dynamic:
            x_u, x_l = binarize_dynamic(x_u, rng), binarize_dynamic(x_l, rng)
        return Batch(x=x_l, y=self.y_l[idx], x_unlabelled=x_u, weights=weights)
