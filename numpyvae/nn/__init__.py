"""Networks with hand-written forward and backward passes: Dense layers, activations, stacks.

Every piece follows one contract (:mod:`numpyvae.nn.base`)::

    y, tape = layer.forward(x)
    dx = layer.backward(dy, tape)      # and dL/dθ is in layer.grads
"""
from .activations import ACTIVATIONS, ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, get_activation
from .base import Layer
from .dense import Dense
from .sequential import MLP, MultiHead, Sequential, named_arrays, pack_layers

__all__ = ["Layer", "Dense", "Sequential", "MLP", "MultiHead", "named_arrays", "pack_layers", "ACTIVATIONS",
           "get_activation", "Identity", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus"]
