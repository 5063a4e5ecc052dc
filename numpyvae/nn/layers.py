"""Layers with hand-written forward and backward passes.

Every layer follows one contract:

* ``forward(x)`` computes the output and keeps what ``backward`` will need;
* ``backward(dy)`` takes dL/dy (same shape as the output), writes dL/dθ into
  ``self.grads`` (same names and shapes as ``self.params``) and returns dL/dx.

Inputs may carry extra leading axes, (..., D): the decoder sees z of shape
(S, N, K) for S Monte Carlo samples of N examples. A Dense layer treats all
leading axes as one batch axis, so one matmul serves every sample.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_array
from .init import get_initializer
from .params import pack


class Layer:
    """Base class: no parameters, shape bookkeeping for backward."""

    def __init__(self):
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        self._out_shape = None  # set by forward; backward checks dy against it

    def _check_dy(self, dy: np.ndarray, where: str) -> np.ndarray:
        if self._out_shape is None:
            raise RuntimeError(f"{where}: backward called before forward; run forward(x) first")
        check_array(dy, where, finite=False, name="dy")
        if dy.shape != self._out_shape:
            raise ValueError(f"{where}: dy must have the output's shape {self._out_shape}, got {dy.shape}")
        return dy


class Dense(Layer):
    """Affine map y = x @ W + b.

    Parameters
    ----------
    d_in, d_out : int     sizes; W has shape (D_in, D_out), b has shape (D_out,)
    init : str            "glorot_uniform" (default), "glorot_normal", "he_uniform", "he_normal"
    rng : np.random.Generator   source of the initial weights
    dtype : "float32" | "float64"
    """

    def __init__(self, d_in: int, d_out: int, *, init: str = "glorot_uniform",
                 rng: np.random.Generator | None = None, dtype="float32"):
        super().__init__()
        self.dtype = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = get_initializer(init)(rng, d_in, d_out, self.dtype)
        self.params["b"] = np.zeros(d_out, dtype=self.dtype)
        self.grads["W"] = np.zeros_like(self.params["W"])
        self.grads["b"] = np.zeros_like(self.params["b"])
        self._x2 = None

    @property
    def d_in(self) -> int:
        return self.params["W"].shape[0]

    @property
    def d_out(self) -> int:
        return self.params["W"].shape[1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., D_in) -> y: (..., D_out)."""
        check_array(x, "Dense.forward", ndim=(1, 2, 3), last=self.d_in, dtype=self.dtype)
        # Flatten leading axes into one batch axis: one BLAS call for all of them.
        self._x2 = x.reshape(-1, self.d_in)
        y = self._x2 @ self.params["W"]
        y += self.params["b"]  # in place: no second temporary for the bias
        self._out_shape = x.shape[:-1] + (self.d_out,)
        return y.reshape(self._out_shape)

    def backward(self, dy: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Gradients of y = x W + b, with x2 = x flattened to (B, D_in), dy2 to (B, D_out).

        y_bj = Σ_i x_bi W_ij + b_j, so
            dL/dW_ij = Σ_b x_bi dy_bj         ->  dW = x2.T @ dy2     (D_in, D_out)
            dL/db_j  = Σ_b dy_bj              ->  db = dy2.sum(0)     (D_out,)
            dL/dx_bi = Σ_j dy_bj W_ij         ->  dx = dy2 @ W.T      (B, D_in)
        dW and db are written into self.grads in place (``out=``), so a model
        whose grads are views into one flat buffer sees them there.

        ``need_dx=False`` skips dx and returns None: the first layer of an
        encoder gets the data as x, and nobody needs dL/d(data). That saves
        one of the layer's three matmuls, the largest of a 784-400 layer's.
        """
        self._check_dy(dy, "Dense.backward")
        dy2 = dy.reshape(-1, self.d_out)
        np.matmul(self._x2.T, dy2, out=self.grads["W"])
        np.sum(dy2, axis=0, out=self.grads["b"])
        if not need_dx:
            return None
        dx = dy2 @ self.params["W"].T
        return dx.reshape(self._out_shape[:-1] + (self.d_in,))


class Sequential(Layer):
    """Layers applied in order; parameters named "<layer name>.<param>".

    Parameters
    ----------
    layers : list of (name, layer) pairs. Layers without parameters (activations)
        need names too, but contribute nothing to ``params``.
    """

    def __init__(self, layers):
        super().__init__()
        self.layers = list(layers)
        names = [n for n, _ in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"Sequential: layer names must be unique, got {names}")
        self._collect()

    def _collect(self):
        """Rebuild the flat name -> array dicts from the layers' own dicts."""
        self.params = named_arrays(self.named_layers(), "params")
        self.grads = named_arrays(self.named_layers(), "grads")

    def named_layers(self, prefix: str = ""):
        """Yield (dotted name, leaf layer) for every layer inside, in order."""
        for name, layer in self.layers:
            full = f"{prefix}{name}"
            if isinstance(layer, Sequential):
                yield from layer.named_layers(full + ".")
            else:
                yield full, layer

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (..., D_in) -> (..., D_out), through every layer in order."""
        for _, layer in self.layers:
            x = layer.forward(x)
        self._out_shape = x.shape
        return x

    def backward(self, dy: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        """Chain rule: hand each layer the gradient of the layer after it, last to first.

        ``need_dx=False``: the caller does not want dL/dx (x is data), so a
        first Dense layer skips that matmul and None is returned.
        """
        self._check_dy(dy, "Sequential.backward")
        for _, layer in reversed(self.layers[1:]):
            dy = layer.backward(dy)
        first = self.layers[0][1]
        if not need_dx and isinstance(first, Dense):
            return first.backward(dy, need_dx=False)
        return first.backward(dy)


def named_arrays(named_layers, which: str) -> "OrderedDict[str, np.ndarray]":
    """{"<layer>.<param>": array} over (name, layer) pairs; ``which`` is "params" or "grads"."""
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for lname, layer in named_layers:
        for pname, arr in getattr(layer, which).items():
            out[f"{lname}.{pname}"] = arr
    return out


def pack_layers(named_layers) -> tuple[np.ndarray, np.ndarray]:
    """Move every layer's params and grads into two flat buffers; return (flat_params, flat_grads).

    Afterwards ``layer.params[k]`` and ``layer.grads[k]`` are views into the
    buffers (see :mod:`numpyvae.nn.params`), so an optimizer can update all
    weights with a few whole-buffer operations. Values are unchanged.
    """
    named_layers = list(named_layers)
    flat_p, views_p = pack(named_arrays(named_layers, "params"))
    flat_g, views_g = pack(named_arrays(named_layers, "grads"))
    for lname, layer in named_layers:
        for pname in layer.params:
            layer.params[pname] = views_p[f"{lname}.{pname}"]
            layer.grads[pname] = views_g[f"{lname}.{pname}"]
    return flat_p, flat_g


class MLP(Sequential):
    """Dense layers with an activation after each: sizes [D_0, D_1, ..., D_L].

    Dense layer i maps D_i -> D_{i+1} and is named str(i), so its weights are
    "i.W" and "i.b". ``final_activation=False`` leaves the last layer linear.
    ReLU-family activations get He initialization, others Glorot.

    Parameters
    ----------
    sizes : list of int
    activation : str    "relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "identity"
    final_activation : bool
    rng : np.random.Generator
    dtype : "float32" | "float64"
    pack : bool         put all parameters in one flat buffer (see pack_layers)
    """

    def __init__(self, sizes, activation: str = "relu", *, final_activation: bool = True,
                 rng: np.random.Generator | None = None, dtype="float32", pack: bool = True):
        from .activations import get_activation  # local: activations imports layers
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must list at least an input and an output size, all >= 1; got {sizes}")
        rng = rng if rng is not None else np.random.default_rng(0)
        init = "he_uniform" if activation in ("relu", "leaky_relu", "elu") else "glorot_uniform"
        layers = []
        n = len(sizes) - 1
        for i in range(n):
            layers.append((str(i), Dense(sizes[i], sizes[i + 1], init=init, rng=rng, dtype=dtype)))
            if i < n - 1 or final_activation:
                layers.append((f"{i}.{activation}", get_activation(activation)))
        super().__init__(layers)
        if pack:
            self.flat_params, self.flat_grads = pack_layers(self.named_layers())
            self._collect()
