"""numpyvae: variational autoencoders in pure NumPy, every gradient by hand."""
from . import gradcheck
from .activations import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, Identity, get_activation
from .layers import MLP, Dense, Sequential
from .vae import VAE

__version__ = "0.1.0"
