"""Likelihoods p(x | z): the decoder's raw outputs ("heads") turned into a negative log-likelihood.

| name                     | class              | heads             | x            |
|--------------------------|--------------------|-------------------|--------------|
| "bernoulli"              | Bernoulli          | logits            | [0, 1]       |
| "gaussian"               | Gaussian(sigma)    | mean              | real         |
| "gaussian-learned"       | LearnedGaussian    | mean, logvar      | real         |
| "continuous-bernoulli"   | ContinuousBernoulli| logits            | [0, 1]       |

The contract every likelihood follows (forward hands back a tape, backward takes one weight per
sample) is written out in :mod:`numpyvae.likelihoods.base`. Where each piece lives:

    base.py                     the contract: input checks, forward's tape, backward's weights
    bernoulli.py                Bernoulli
    gaussian.py                 Gaussian with a fixed σ, and with a learned per-pixel log-variance
    continuous_bernoulli.py     the continuous Bernoulli, with the series of log C and E[x] near a = 0
    registry.py                 make_likelihood: a likelihood by name
"""
from .base import Likelihood
from .bernoulli import Bernoulli
from .continuous_bernoulli import ContinuousBernoulli
from .gaussian import Gaussian, LearnedGaussian
from .registry import LIKELIHOODS, make_likelihood

__all__ = ["Likelihood", "Bernoulli", "Gaussian", "LearnedGaussian", "ContinuousBernoulli",
           "make_likelihood", "LIKELIHOODS"]
