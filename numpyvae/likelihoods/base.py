"""The contract every likelihood follows: input checks, forward's tape, backward's weight per sample.

Each likelihood is a small class with the same four jobs:

    nll, tape = lik.forward(x, *heads)    # -log p(x | heads), summed over the D pixels
    dheads = lik.backward(dnll, tape)     # d sum(dnll * nll) / d head, for every head
    lik.mean(*heads), lik.sample(rng, *heads)

Shapes: x is (N, D); each head is (S, N, D) for S samples of z per example
(or (N, D) for one); nll has the head's shape without the last axis, (S, N)
or (N,). `dnll` is the weight c of each sample (1/(S*N) for the ELBO's batch mean, the
normalized importance weights / N for IWAE), so backward returns exactly what the
chain rule needs: dL/dhead = c[..., None] * ∂nll/∂head.

forward() hands back, in its tape, the arrays backward() needs, so every exp/log
is computed once per training step; in float32 no float64 temporary is made.
The likelihood object itself holds only its settings (sigma, min_logvar).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_array, check_unit_interval

__all__ = ["Likelihood", "LikelihoodTape", "dot_last"]


class LikelihoodTape(NamedTuple):
    """What a likelihood's backward needs: its per-distribution cache, nll's shape and dtype."""
    cache: tuple
    nll_shape: tuple
    dtype: np.dtype


def dot_last(a, b):
    """Σ_d a[..., d] * b[..., d], broadcasting the leading axes, without an (S, N, D) temporary."""
    return np.einsum("...d,...d->...", a, b)


class Likelihood:
    """Base class: input checks and the forward/backward bookkeeping.

    A subclass sets `name`, `heads`, `unit_interval` and writes
    `_nll(x, *heads) -> (nll, cache)` and `_grads(c, cache) -> tuple of dheads`
    (c = dnll[..., None], the per-sample weights), plus `mean` and `sample`.
    """
    name: str = ""
    heads: tuple[str, ...] = ()
    unit_interval: bool = False     # x must lie in [0, 1]

    def __repr__(self):
        return f"{type(self).__name__}()"

    # ---- checks -------------------------------------------------------------
    def check_x(self, x, where: str = "Likelihood"):
        """Validate data x of shape (N, D): a float array, finite, and in [0, 1] if required. Returns x."""
        check_array(x, where, ndim=2)
        if x.dtype.kind != "f":
            raise ValueError(f"{where}: x must be a float array (float32 or float64), got dtype {x.dtype.name}")
        if self.unit_interval:
            check_unit_interval(x, where)
        return x

    def _check_heads(self, x, heads, where):
        if len(heads) != len(self.heads):
            raise ValueError(f"{where}: {self.name} takes {len(self.heads)} head(s) {self.heads}, got {len(heads)}")
        for hname, h in zip(self.heads, heads):
            check_array(h, where, ndim=(2, 3), finite=False, name=hname)
            if h.dtype.kind != "f":
                raise ValueError(f"{where}: {hname} must be a float array (float32 or float64), got dtype {h.dtype.name}")
            if h.shape[-2:] != x.shape:
                raise ValueError(f"{where}: {hname} has shape {h.shape} but x has shape {x.shape}; "
                                 f"{hname} must be (N, D) or (S, N, D) with (N, D) = {x.shape}")
            if h.shape != heads[0].shape:
                raise ValueError(f"{where}: heads must share one shape, got {self.heads[0]} {heads[0].shape} "
                                 f"and {hname} {h.shape}")
            if h.dtype != x.dtype:
                raise ValueError(f"{where}: {hname} has dtype {h.dtype.name} but x has {x.dtype.name}; "
                                 f"convert x with x.astype('{h.dtype.name}')")

    # ---- the public steps ---------------------------------------------------
    def forward(self, x, *heads, check: bool = True):
        """Negative log-likelihood -log p(x | heads) summed over the last axis (D).

        x : (N, D);  each head : (S, N, D) or (N, D), same dtype as x.
        Returns (nll of shape heads[0].shape[:-1], tape); the tape is what backward needs.
        check=False skips the O(N*D) value checks on x (for a caller that has
        already run check_x on this batch); shapes and dtypes are always checked.
        """
        where = f"{type(self).__name__}.forward"
        if check:
            self.check_x(x, where)
        else:
            check_array(x, where, ndim=2, finite=False)
        self._check_heads(x, heads, where)
        nll, cache = self._nll(x, *heads)
        return nll, LikelihoodTape(cache, nll.shape, nll.dtype)

    def backward(self, dnll, tape):
        """Gradient of sum(dnll * nll) with respect to each head of the forward that made ``tape``.

        dnll : array of nll's shape (S, N) or (N,), or a scalar; one weight per sample.
        Returns a tuple with one array per head, each of the head's shape and dtype.
        """
        where = f"{type(self).__name__}.backward"
        if not isinstance(tape, LikelihoodTape):
            raise TypeError(f"{where}: tape must be the tape forward returned "
                            f"(nll, tape = lik.forward(x, *heads)), got {type(tape).__name__}")
        dnll = np.asarray(dnll)
        if dnll.ndim != 0 and dnll.shape != tape.nll_shape:
            raise ValueError(f"{where}: dnll must have the shape of nll {tape.nll_shape} (or be a scalar), "
                             f"got {dnll.shape}")
        # a float64 weight must not up-cast a float32 step; the cast touches only S*N numbers
        c = dnll.astype(tape.dtype, copy=False)[..., None]
        return self._grads(c, tape.cache)

    def log_prob(self, x, *heads):
        """log p(x | heads) summed over D, shape heads[0].shape[:-1] (forward without the tape)."""
        where = f"{type(self).__name__}.log_prob"
        self.check_x(x, where)
        self._check_heads(x, heads, where)
        nll, _ = self._nll(x, *heads)
        return -nll

    # ---- per distribution ---------------------------------------------------
    def _nll(self, x, *heads):
        raise NotImplementedError

    def _grads(self, c, cache):
        raise NotImplementedError

    def mean(self, *heads):
        """E[x | heads], shape of the heads."""
        raise NotImplementedError

    def sample(self, rng, *heads):
        """One draw x ~ p(x | heads), shape and dtype of the heads."""
        raise NotImplementedError
