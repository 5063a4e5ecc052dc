"""Networks with hand-written forward and backward passes: Dense layers, activations, stacks."""
from .activations import ACTIVATIONS, ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, get_activation
from .layers import MLP, Dense, Sequential

__all__ = ["Dense", "Sequential", "MLP", "ACTIVATIONS", "get_activation",
           "Identity", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus"]
