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

import numpy as np

from ..checks import check_array
from .layers import Layer
from ..stable import sigmoid, softplus


class Activation(Layer):
    """Shared forward bookkeeping: validate x, remember the output shape."""

    name = "activation"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: any shape -> y: same shape and dtype."""
        check_array(x, f"{type(self).__name__}.forward")
        if x.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}.forward: x must be float32 or float64, got {x.dtype}")
        self._out_shape = x.shape
        return self._forward(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: shape of y -> dx: shape of x."""
        self._check_dy(dy, f"{type(self).__name__}.backward")
        return self._backward(dy)


class Identity(Activation):
    """y = x;  dx = dy."""

    name = "identity"

    def _forward(self, x):
        return x

    def _backward(self, dy):
        return dy


class ReLU(Activation):
    """y = max(x, 0);  dx = dy * [x > 0]  (we take the derivative at 0 to be 0)."""

    name = "relu"

    def __init__(self):
        super().__init__()
        self._zeros = np.zeros(0)

    def _forward(self, x):
        """Plain version: ``np.maximum(x, 0)``. NumPy's maximum against a scalar
        runs a slow, non-vectorized loop (about 3.5x slower for a 128 x 400
        float32 batch on this project's machine); against an array of zeros of
        x's shape it uses SIMD. The zeros are made once per shape and never written."""
        if self._zeros.shape != x.shape or self._zeros.dtype != x.dtype:
            self._zeros = np.zeros_like(x)
            self._zeros.flags.writeable = False
        self._y = np.maximum(x, self._zeros)
        return self._y

    def _backward(self, dy):
        # [x > 0] == [y > 0], so forward need not keep x.
        return dy * (self._y > 0)


class LeakyReLU(Activation):
    """y = x for x > 0, alpha * x otherwise;  dx = dy * (1 if x > 0 else alpha)."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU: alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)

    def _forward(self, x):
        self._pos = x > 0
        return np.where(self._pos, x, x * self.alpha)

    def _backward(self, dy):
        return np.where(self._pos, dy, dy * self.alpha)


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
        self._pos = x > 0
        neg = np.expm1(np.minimum(x, 0))
        neg *= self.alpha
        self._y = np.where(self._pos, x, neg)
        return self._y

    def _backward(self, dy):
        return np.where(self._pos, dy, dy * (self._y + self.alpha))


class Tanh(Activation):
    """y = tanh(x);  dx = dy * (1 - y^2)."""

    name = "tanh"

    def _forward(self, x):
        self._y = np.tanh(x)
        return self._y

    def _backward(self, dy):
        return dy * (1 - self._y * self._y)


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x);  dx = dy * y * (1 - y)."""

    name = "sigmoid"

    def _forward(self, x):
        self._y = sigmoid(x)
        return self._y

    def _backward(self, dy):
        return dy * self._y * (1 - self._y)


class Softplus(Activation):
    """y = log(1 + e^x);  dx = dy * sigmoid(x)."""

    name = "softplus"

    def _forward(self, x):
        self._x = x
        return softplus(x)

    def _backward(self, dy):
        return dy * sigmoid(self._x)


ACTIVATIONS = {cls.name: cls for cls in (Identity, ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softplus)}


def get_activation(name: str) -> Activation:
    """A new activation layer by name; a clear error lists the known names."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None
