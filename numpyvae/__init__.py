"""numpyvae: variational autoencoders in pure NumPy, every gradient by hand.

Start with :class:`numpyvae.VAE` (numpyvae/models/vae.py), whose ``forward`` and
``backward`` walk the whole model one hand-written step at a time, and
:mod:`numpyvae.teach.gradcheck` to check any of them against finite differences.
"""
from .teach import exercises, gradcheck
from .nn import ELU, MLP, Dense, Identity, LeakyReLU, ReLU, Sequential, Sigmoid, Softplus, Tanh, get_activation
from .models.vae import VAE

__version__ = "0.1.0"
__all__ = ["VAE", "Dense", "MLP", "Sequential", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus",
           "Identity", "get_activation", "gradcheck", "exercises"]
