"""Flatten and Reshape: the joints between convolutional (N, C, H, W) and dense (N, D) parts.

A reshape moves no number, so its backward is the reverse reshape of dy:
    y = x.reshape(new)   ->   dx = dy.reshape(x.shape).
Both layers follow the network contract (``y, tape = forward(x)``; ``dx = backward(dy, tape)``)
and have no parameters. The element order is NumPy's C order, the same as PyTorch's
``flatten``/``view`` on NCHW, so a Dense layer after Flatten sees features ordered (c, h, w).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import check_array, check_positive_int

__all__ = ["Flatten", "Reshape"]


class _ShapeLayer:
    """No parameters; backward reshapes dy back to the input's shape, kept in the tape."""

    def __init__(self):
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()

    def _out_shape(self, x_shape: tuple, where: str) -> tuple:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """x -> (x reshaped, tape = x.shape). A view when x's memory allows it, else one copy."""
        where = f"{self!r}.forward"
        check_array(x, where, finite=False)
        return x.reshape(self._out_shape(x.shape, where)), x.shape

    def backward(self, dy: np.ndarray, tape: tuple, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """dx = dy.reshape(x.shape): the same numbers, put back in the input's shape.

        ``accumulate`` is accepted for the common signature; there is nothing to accumulate.
        """
        where = f"{self!r}.backward"
        check_array(dy, where, finite=False, name="dy")
        want = self._out_shape(tape, where)
        if dy.shape != want:
            raise ValueError(f"{where}: dy must have the output's shape {want}, got {dy.shape}")
        return dy.reshape(tape) if need_dx else None


class Flatten(_ShapeLayer):
    """(..., C, H, W) -> (..., C·H·W): merge the last ``n_axes`` axes (default 3) into one."""

    def __init__(self, n_axes: int = 3):
        super().__init__()
        self.n_axes = check_positive_int(n_axes, "Flatten", "n_axes")

    def __repr__(self) -> str:
        return f"Flatten(n_axes={self.n_axes})"

    def _out_shape(self, x_shape, where):
        if len(x_shape) <= self.n_axes:
            raise ValueError(f"{where}: x needs a batch axis in front of the {self.n_axes} axes to flatten, "
                             f"got shape {x_shape}")
        return tuple(x_shape[:-self.n_axes]) + (int(np.prod(x_shape[-self.n_axes:])),)


class Reshape(_ShapeLayer):
    """(..., D) -> (..., *shape) with D = prod(shape); e.g. Reshape((64, 7, 7)) after Dense(·, 3136)."""

    def __init__(self, shape):
        super().__init__()
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        self.shape = tuple(check_positive_int(s, "Reshape", "every size in shape") for s in shape)
        self.size = int(np.prod(self.shape))

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"

    def _out_shape(self, x_shape, where):
        if len(x_shape) < 2 or x_shape[-1] != self.size:
            target = ", ".join(map(str, self.shape))
            raise ValueError(f"{where}: x must be (..., {self.size}) to become (..., {target}), got shape {x_shape}")
        return tuple(x_shape[:-1]) + self.shape
