"""Elementwise activations with hand-written backward passes.

For y = f(x) applied elementwise, the chain rule is one product per element:
dL/dx = dL/dy * f'(x). Each class writes f'(x) in the form that is cheapest
given what forward kept (often y itself: tanh' = 1 - y^2, sigmoid' = y(1 - y)).

The price of reusing y: deep in saturation (|x| > ~10) 1 - y^2 cancels, so
f' is accurate to ~1e-16 absolute rather than relative (tanh'(30) comes out
as 0, not 3.5e-26). Next to float32 training noise that is nothing, and it
saves an exp per element; tests/test_layers.py checks exactly this promise.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_array
from ..stable import sigmoid, softplus
from .base import Layer, check_dy, check_tape


def _memory_rows(x: np.ndarray):
    """(x2, order) with x2 a 2-D view of x's memory, (first axis in memory, everything else), and
    ``order`` x's axes from slowest to fastest; None unless x is 3-D or more and one dense block
    (a C-contiguous array with its axes permuted)."""
    if x.ndim < 3 or x.size == 0:
        return None
    order = sorted(range(x.ndim), key=lambda a: -x.strides[a])
    xt = x.transpose(order)
    if not xt.flags.c_contiguous:
        return None
    return xt.reshape(xt.shape[0], -1), order


class ActivationTape(NamedTuple):
    """What an activation's backward needs: the array(s) it saved (often y), and the shape."""
    saved: object
    shape: tuple


class Activation(Layer):
    """Shared bookkeeping: validate x, pack what ``_forward`` saved into a tape.

    A subclass writes ``_forward(x) -> (y, saved)`` and ``_backward(dy, saved) -> dx``.
    """

    name = "activation"

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ActivationTape]:
        """x: any shape -> (y: same shape and dtype, tape)."""
        check_array(x, f"{type(self).__name__}.forward")
        if x.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}.forward: x must be float32 or float64, got {x.dtype}")
        y, saved = self._forward(x)
        return y, ActivationTape(saved, x.shape)

    def backward(self, dy: np.ndarray, tape: ActivationTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray:
        """dy: shape of y -> dx: shape of x. No parameters, so ``accumulate`` changes nothing;
        ``need_dx`` is accepted for a uniform call but dx is always returned."""
        where = f"{type(self).__name__}.backward"
        saved, shape = check_tape(tape, ActivationTape, where)
        check_dy(dy, shape, where)
        return self._backward(dy, saved)


class Identity(Activation):
    """y = x;  dx = dy."""

    name = "identity"

    def _forward(self, x):
        return x, None

    def _backward(self, dy, saved):
        return dy


class ReLU(Activation):
    """y = max(x, 0);  dx = dy * [x > 0]  (we take the derivative at 0 to be 0)."""

    name = "relu"

    def _forward(self, x):
        """Plain version: ``np.maximum(x, 0)``. NumPy's maximum against a scalar
        runs a slow, non-vectorized loop (about 3x slower for a 128 x 400
        float32 batch on this project's machine); against a row of zeros that
        broadcasts over the batch it uses SIMD. Same values, same bits.

        The row should be long: a conv feature map (N, C, H, W) has rows of only W
        pixels, so when x is one dense block of memory (in any axis order, as the conv
        layers' channel-major outputs are) the maximum runs over that block as
        (first axis in memory, the rest) rows: ~2.5x faster for 128 x 32 x 28 x 28."""
        rows = _memory_rows(x)
        if rows is None:
            y = np.maximum(x, np.zeros(x.shape[-1:], x.dtype))
            return y, y
        x2, order = rows
        y2 = np.maximum(x2, np.zeros(x2.shape[-1:], x.dtype))
        y = y2.reshape([x.shape[a] for a in order]).transpose(np.argsort(order))   # x's shape, x's memory order
        return y, y

    def _backward(self, dy, y):
        # [x > 0] == [y > 0], so the tape keeps y, which is the output anyway.
        return dy * (y > 0)


class LeakyReLU(Activation):
    """y = x for x > 0, alpha * x otherwise;  dx = dy * (1 if x > 0 else alpha)."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU: alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)

    def _forward(self, x):
        pos = x > 0
        return np.where(pos, x, x * self.alpha), pos

    def _backward(self, dy, pos):
        return np.where(pos, dy, dy * self.alpha)


class ELU(Activation):
    """y = x for x > 0, alpha * (e^x - 1) otherwise.

    dy/dx = 1 for x > 0, alpha * e^x = y + alpha otherwise, so backward needs
    only y. expm1 of min(x, 0) never overflows and is exact near 0.
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"ELU: alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def _forward(self, x):
        pos = x > 0
        neg = np.expm1(np.minimum(x, 0))
        neg *= self.alpha
        y = np.where(pos, x, neg)
        return y, (pos, y)

    def _backward(self, dy, saved):
        pos, y = saved
        return np.where(pos, dy, dy * (y + self.alpha))


class Tanh(Activation):
    """y = tanh(x);  dx = dy * (1 - y^2)."""

    name = "tanh"

    def _forward(self, x):
        y = np.tanh(x)
        return y, y

    def _backward(self, dy, y):
        return dy * (1 - y * y)


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x);  dx = dy * y * (1 - y)."""

    name = "sigmoid"

    def _forward(self, x):
        y = sigmoid(x)
        return y, y

    def _backward(self, dy, y):
        return dy * y * (1 - y)


class Softplus(Activation):
    """y = log(1 + e^x);  dx = dy * sigmoid(x)."""

    name = "softplus"

    def _forward(self, x):
        return softplus(x), x

    def _backward(self, dy, x):
        return dy * sigmoid(x)


ACTIVATIONS = {cls.name: cls for cls in (Identity, ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softplus)}


def get_activation(name: str) -> Activation:
    """A new activation layer by name; a clear error lists the known names."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None
