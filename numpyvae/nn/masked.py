"""A masked Dense layer and the MADE masks that make a network autoregressive.

MADE (Germain et al., 2015) turns an ordinary MLP into an autoregressive one
by zeroing weights: give every input a degree (its position in an ordering
1..D), every hidden unit a degree, and keep a weight only where information
may flow:

    input i  -> hidden k :  keep if deg_h[k] >= deg_in[i]
    hidden k -> output j :  keep if deg_out[j] >  deg_h[k]      (strict)

Then output j depends only on inputs with a smaller degree: its Jacobian with
respect to the input is strictly triangular in the ordering. Inverse
autoregressive flows (latent/flows/iaf.py) rely on exactly that.

A MaskedDense is a Dense whose weight is multiplied by a fixed 0/1 mask M,
in forward and in backward:
    y = x (W ⊙ M) + b
and it follows the network contract: ``y, tape = layer.forward(x)``,
``dx = layer.backward(dy, tape, need_dx=True, accumulate=False)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import as_dtype, check_array
from .base import check_dy, check_tape
from .dense import Affine
from .init import get_initializer


def made_mask(deg_in: np.ndarray, deg_out: np.ndarray, *, strict: bool) -> np.ndarray:
    """0/1 mask (D_in, D_out): M[i, j] = deg_out[j] > deg_in[i] if strict, else >=."""
    deg_in, deg_out = np.asarray(deg_in)[:, None], np.asarray(deg_out)[None, :]
    return (deg_out > deg_in) if strict else (deg_out >= deg_in)


class MaskedDenseTape(NamedTuple):
    """What MaskedDense.backward needs: x flattened to (B, D_in), the masked weight, x's shape."""
    x2: np.ndarray
    w_masked: np.ndarray
    x_shape: tuple


class MaskedDense(Affine):
    """y = x (W ⊙ M) + b with a fixed 0/1 mask M of W's shape.

    Parameters
    ----------
    d_in, d_out : int
    mask : array (D_in, D_out) of 0/1 (or bool): which weights exist
    init : str       initializer name (see nn/init.py); masked entries start at 0
    rng : np.random.Generator
    dtype : "float32" | "float64"

    params / grads: {"W": (D_in, D_out), "b": (D_out,)}; grads["W"] is 0
    wherever the mask is 0, so an optimizer never moves a masked weight.
    """

    def __init__(self, d_in: int, d_out: int, mask, *, init: str = "glorot_uniform",
                 rng: np.random.Generator | None = None, dtype="float32"):
        dtype = as_dtype(dtype)
        mask = np.asarray(mask)
        if mask.shape != (d_in, d_out):
            raise ValueError(f"MaskedDense: mask must have shape (d_in, d_out) = ({d_in}, {d_out}), got {mask.shape}")
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("MaskedDense: mask must contain only 0 and 1")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.mask = mask.astype(dtype)
        super().__init__(get_initializer(init)(rng, d_in, d_out, dtype) * self.mask, np.zeros(d_out, dtype=dtype))

    def forward(self, x: np.ndarray):
        """x (..., D_in) -> y (..., D_out), tape.

        Leading axes are flattened into one batch axis (one BLAS call). The
        tape keeps the flattened x, the masked weight W ⊙ M and x's shape.
        """
        check_array(x, "MaskedDense.forward", last=self.d_in, dtype=self.dtype)
        x2 = x.reshape(-1, self.d_in)
        w_masked = self.params["W"] * self.mask
        y = x2 @ w_masked
        y += self.params["b"]
        return y.reshape(x.shape[:-1] + (self.d_out,)), MaskedDenseTape(x2, w_masked, x.shape)

    def backward(self, dy: np.ndarray, tape, *, need_dx: bool = True, accumulate: bool = False):
        """Gradients of y = x (W ⊙ M) + b, x2 and dy2 flattened to (B, ·).

            dL/dW = (x2ᵀ dy2) ⊙ M     the mask multiplies W elementwise, so its
                                      entry's derivative is M_ij times Dense's
            dL/db = Σ_b dy2
            dL/dx = dy2 (W ⊙ M)ᵀ
        Written into self.grads (overwritten, or added with accumulate=True).
        Returns dx of x's shape, or None with need_dx=False.
        """
        x2, w_masked, x_shape = check_tape(tape, MaskedDenseTape, "MaskedDense.backward")
        check_dy(dy, x_shape[:-1] + (self.d_out,), "MaskedDense.backward")
        dy2 = dy.reshape(x2.shape[0], self.d_out)      # not -1: d_out may be 0 (see Dense.backward)
        if accumulate:
            self.grads["W"] += (x2.T @ dy2) * self.mask
            self.grads["b"] += dy2.sum(axis=0)
        else:
            np.matmul(x2.T, dy2, out=self.grads["W"])
            self.grads["W"] *= self.mask
            np.sum(dy2, axis=0, out=self.grads["b"])
        if not need_dx:
            return None
        return (dy2 @ w_masked.T).reshape(x_shape)
