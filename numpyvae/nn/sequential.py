"""Networks made of layers: Sequential stacks, MLPs, and a trunk with several output heads.

All follow the contract of :mod:`numpyvae.nn.base`: ``y, tape = net.forward(x)``,
``dx = net.backward(dy, tape)``. A network's tape is the list of its layers' tapes.
Parameters are named "<layer name>.<param>" ("0.W", "mu.b", ...).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .activations import Identity, get_activation
from .base import Layer, check_tape
from .dense import Dense
from .params import pack


class SequentialTape(NamedTuple):
    """One tape per layer, in forward order."""
    tapes: list


class Sequential(Layer):
    """Layers applied in order; parameters named "<layer name>.<param>".

    Parameters
    ----------
    layers : list of (name, layer) pairs. Layers without parameters (activations)
        need names too, but contribute nothing to ``params``.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        names = [n for n, _ in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"Sequential: layer names must be unique, got {names}")

    # Read from the layers each time, so they always name the arrays the layers hold now
    # (after pack_layers has moved them into a flat buffer), never stale copies.
    @property
    def params(self) -> "OrderedDict[str, np.ndarray]":
        return named_arrays(self.named_layers(), "params")

    @property
    def grads(self) -> "OrderedDict[str, np.ndarray]":
        return named_arrays(self.named_layers(), "grads")

    def named_layers(self, prefix: str = ""):
        """Yield (dotted name, leaf layer) for every layer inside, in order."""
        for name, layer in self.layers:
            full = f"{prefix}{name}"
            if hasattr(layer, "named_layers"):
                yield from layer.named_layers(full + ".")
            else:
                yield full, layer

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, SequentialTape]:
        """x: (..., D_in) -> ((..., D_out), tape), through every layer in order."""
        tapes = []
        for _, layer in self.layers:
            x, tape = layer.forward(x)
            tapes.append(tape)
        return x, SequentialTape(tapes)

    def backward(self, dy: np.ndarray, tape: SequentialTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """Chain rule: hand each layer the gradient of the layer after it, last to first.

        ``need_dx=False``: the caller does not want dL/dx (x is data), so the
        first layer skips that matmul if it can, and None is returned.
        """
        tapes = check_tape(tape, SequentialTape, "Sequential.backward").tapes
        for (_, layer), t in zip(reversed(self.layers[1:]), reversed(tapes[1:])):
            dy = layer.backward(dy, t, accumulate=accumulate)
        dx = self.layers[0][1].backward(dy, tapes[0], need_dx=need_dx, accumulate=accumulate)
        return dx if need_dx else None


class MLP(Sequential):
    """Dense layers with an activation after each: sizes [D_0, D_1, ..., D_L].

    Dense layer i maps D_i -> D_{i+1} and is named str(i), so its weights are
    "i.W" and "i.b". ``final_activation=False`` leaves the last layer linear.
    ReLU-family activations get He initialization, others Glorot, unless ``init`` names one.
    With a single size ([D_0]) the MLP is the identity: no layers, no parameters.

    Parameters
    ----------
    sizes : list of int
    activation : str    "relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "identity"
    final_activation : bool
    rng : np.random.Generator
    dtype : "float32" | "float64"
    pack : bool         put all parameters in one flat buffer (see pack_layers)
    init : str, optional    the initializer of every Dense layer (see numpyvae.nn.init)
    """

    def __init__(self, sizes, activation: str = "relu", *, final_activation: bool = True,
                 rng: np.random.Generator | None = None, dtype="float32", pack: bool = True,
                 init: str | None = None):
        if len(sizes) < 1 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"MLP: sizes must list an input size and the layer sizes, all >= 1; got {sizes}")
        rng = rng if rng is not None else np.random.default_rng(0)
        if init is None:
            init = "he_uniform" if activation in ("relu", "leaky_relu", "elu") else "glorot_uniform"
        layers = []
        n = len(sizes) - 1
        for i in range(n):
            layers.append((str(i), Dense(sizes[i], sizes[i + 1], init=init, rng=rng, dtype=dtype)))
            if i < n - 1 or final_activation:
                layers.append((f"{i}.{activation}", get_activation(activation)))
        super().__init__(layers or [("id", Identity())])
        if pack:
            self.flat_params, self.flat_grads = pack_layers(self.named_layers())


class MultiHeadTape(NamedTuple):
    trunk: object
    heads: list


class MultiHead(Layer):
    """A trunk network followed by several heads (Dense layers, or any network) that all read its output.

    The encoder is one (heads mu and logvar of q(z|x)), the decoder another
    (one head per parameter of p(x|z): logits; or mean and log-variance).

        h = trunk(x);   out_j = h W_j + b_j   for every head j

    Parameters are named "<trunk layer>.<param>" and "<head name>.<param>".

    Parameters
    ----------
    trunk : a network (Sequential/MLP) with ``forward``/``backward``/``named_layers``
    heads : list of (name, head) pairs; a head is a Dense layer or any network with the contract
    """

    def __init__(self, trunk, heads):
        self.trunk = trunk
        self.heads = list(heads)

    params = Sequential.params
    grads = Sequential.grads

    def named_layers(self, prefix: str = ""):
        yield from self.trunk.named_layers(prefix)
        for name, head in self.heads:
            if hasattr(head, "named_layers"):          # a head that is itself a network (e.g. ConvT + Flatten)
                yield from head.named_layers(f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", head

    def forward(self, x: np.ndarray) -> tuple[list, MultiHeadTape]:
        """x: (..., D_in) -> ([out_j: (..., size_j) for every head], tape)."""
        h, trunk_tape = self.trunk.forward(x)
        outs, tapes = zip(*(head.forward(h) for _, head in self.heads))
        return list(outs), MultiHeadTape(trunk_tape, list(tapes))

    def backward(self, douts, tape: MultiHeadTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """Every head reads the same h, so dL/dh is the sum of what each head sends back:
            dh = Σ_j dout_j @ W_j.T          then dx = trunk.backward(dh)
        """
        tape = check_tape(tape, MultiHeadTape, "MultiHead.backward")
        if len(douts) != len(self.heads):
            raise ValueError(f"MultiHead.backward: expected {len(self.heads)} head gradient(s) "
                             f"{[n for n, _ in self.heads]}, got {len(douts)}")
        pairs = zip(self.heads, douts, tape.heads)
        (_, head), dout, t = next(pairs)
        dh = head.backward(dout, t, accumulate=accumulate)
        for (_, head), dout, t in pairs:
            dh += head.backward(dout, t, accumulate=accumulate)
        return self.trunk.backward(dh, tape.trunk, need_dx=need_dx, accumulate=accumulate)


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
