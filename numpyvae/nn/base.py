"""The contract every network piece follows: forward hands back a tape, backward reads it.

    y, tape = layer.forward(x)
    dx = layer.backward(dy, tape)            # writes dL/dθ into layer.grads

This is CS231n's ``out, cache = f_forward(x)`` / ``dx = f_backward(dout, cache)``.
Whatever backward needs travels in the tape, never on the layer: a layer keeps
only its parameters (``params``) and the gradient buffers its backward writes
(``grads``), so calling forward again, or any other method, between a forward
and its backward cannot change the gradients. Two forwards may even be live at
once; each backward uses its own tape.

A tape holds references, not copies: the arrays a forward was given and made.
Nothing in numpyvae writes into an array a tape holds, and the model copies the
data it is handed (see :meth:`numpyvae.models.vae.VAE.forward`), so a caller who
reuses a batch buffer cannot change a pending backward either.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import check_array


class Layer:
    """Base class: named parameters and gradient buffers, and the dy check every backward runs."""

    def __init__(self):
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()

    def forward(self, x: np.ndarray):
        """x -> (y, tape)."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray, tape, *, need_dx: bool = True, accumulate: bool = False):
        """(dL/dy, tape) -> dL/dx, writing dL/dθ into ``self.grads``."""
        raise NotImplementedError


def check_dy(dy: np.ndarray, out_shape: tuple, where: str) -> np.ndarray:
    """dL/dy must be an array of exactly the output's shape (NaN allowed: it is reported upstream)."""
    check_array(dy, where, finite=False, name="dy")
    if dy.shape != out_shape:
        raise ValueError(f"{where}: dy must have the output's shape {out_shape}, got {dy.shape}")
    return dy


def check_tape(tape, kind: type, where: str):
    """A backward given something other than its forward's tape gets a clear error, not a bad unpack."""
    if not isinstance(tape, kind):
        raise TypeError(f"{where}: tape must be the tape this layer's forward returned "
                        f"(y, tape = layer.forward(x)), got {type(tape).__name__}")
    return tape
