"""The Dense (affine) layer, y = x W + b, with its hand-written backward.

Inputs may carry extra leading axes, (..., D): the decoder sees z of shape
(S, N, K) for S Monte Carlo samples of N examples. A Dense layer treats all
leading axes as one batch axis, so one matmul serves every sample.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import as_dtype, check_array
from .base import Layer, check_dy, check_tape
from .init import init_dense


class DenseTape(NamedTuple):
    """What Dense.backward needs: the input flattened to (B, D_in), and the input's shape."""
    x2: np.ndarray
    x_shape: tuple


class Affine(Layer):
    """What every y = x W (+ b) layer holds: W (D_in, D_out), b (D_out,), a zero gradient buffer for
    each, and the sizes. Dense and MaskedDense (nn/masked.py) differ only in how W is used."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        super().__init__()
        self.dtype = W.dtype
        self.params["W"], self.params["b"] = W, b
        self.grads["W"] = np.zeros_like(W)
        self.grads["b"] = np.zeros_like(b)

    @property
    def d_in(self) -> int:
        return self.params["W"].shape[0]

    @property
    def d_out(self) -> int:
        return self.params["W"].shape[1]


class Dense(Affine):
    """Affine map y = x @ W + b.

    Parameters
    ----------
    d_in, d_out : int     sizes; W has shape (D_in, D_out), b has shape (D_out,)
    init : str            "glorot_uniform" (default), "glorot_normal", "he_uniform", "he_normal" (b = 0),
                          or "pytorch" (W and b ~ U(±1/√D_in), PyTorch's nn.Linear default)
    rng : np.random.Generator   source of the initial weights
    dtype : "float32" | "float64"
    """

    def __init__(self, d_in: int, d_out: int, *, init: str = "glorot_uniform",
                 rng: np.random.Generator | None = None, dtype="float32"):
        rng = rng if rng is not None else np.random.default_rng(0)
        super().__init__(*init_dense(init, rng, d_in, d_out, as_dtype(dtype)))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, DenseTape]:
        """x: (..., D_in) -> (y: (..., D_out), tape)."""
        check_array(x, "Dense.forward", ndim=(1, 2, 3), last=self.d_in, dtype=self.dtype)
        # Flatten leading axes into one batch axis: one BLAS call for all of them.
        x2 = x.reshape(-1, self.d_in)
        y = x2 @ self.params["W"]
        y += self.params["b"]  # in place: no second temporary for the bias
        return y.reshape(x.shape[:-1] + (self.d_out,)), DenseTape(x2, x.shape)

    def backward(self, dy: np.ndarray, tape: DenseTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """Gradients of y = x W + b, with x2 = x flattened to (B, D_in), dy2 to (B, D_out).

        y_bj = Σ_i x_bi W_ij + b_j, so
            dL/dW_ij = Σ_b x_bi dy_bj         ->  dW = x2.T @ dy2     (D_in, D_out)
            dL/db_j  = Σ_b dy_bj              ->  db = dy2.sum(0)     (D_out,)
            dL/dx_bi = Σ_j dy_bj W_ij         ->  dx = dy2 @ W.T      (B, D_in)
        dW and db are written into self.grads in place (``out=``), so a model
        whose grads are views into one flat buffer sees them there;
        ``accumulate=True`` adds them instead, for a layer used twice in a step.

        ``need_dx=False`` skips dx and returns None: the first layer of an
        encoder gets the data as x, and nobody needs dL/d(data). That saves
        one of the layer's three matmuls, the largest of a 784-400 layer's.
        """
        x2, x_shape = check_tape(tape, DenseTape, "Dense.backward")
        check_dy(dy, x_shape[:-1] + (self.d_out,), "Dense.backward")
        # The batch size from the tape, not -1: a head of width 0 (the full-covariance
        # Gaussian's "tril" at z_dim = 1) has dy of size 0, where -1 is ambiguous.
        dy2 = dy.reshape(x2.shape[0], self.d_out)
        if accumulate:
            self.grads["W"] += x2.T @ dy2
            self.grads["b"] += dy2.sum(axis=0)
        else:
            np.matmul(x2.T, dy2, out=self.grads["W"])
            np.sum(dy2, axis=0, out=self.grads["b"])
        if not need_dx:
            return None
        dx = dy2 @ self.params["W"].T
        return dx.reshape(x_shape)
