"""Models the VAE is compared with: mixtures fitted by EM (the lecture's first generative model).

``mixture.py`` is the EM loop, ``mixture_components.py`` its two component families.
"""
from .mixture_components import BernoulliMixture, GaussianMixture

__all__ = ["BernoulliMixture", "GaussianMixture"]
