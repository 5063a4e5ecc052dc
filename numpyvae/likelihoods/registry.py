"""The likelihoods by name: LIKELIHOODS and make_likelihood("bernoulli" | "gaussian" | "gaussian-learned" | "continuous-bernoulli")."""
from __future__ import annotations

from .base import Likelihood
from .bernoulli import Bernoulli
from .continuous_bernoulli import ContinuousBernoulli
from .gaussian import Gaussian, LearnedGaussian

__all__ = ["LIKELIHOODS", "make_likelihood"]

LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "gaussian-learned": LearnedGaussian,
    "continuous-bernoulli": ContinuousBernoulli,
}


def make_likelihood(name, **kw) -> Likelihood:
    """A likelihood by name: "bernoulli", "gaussian" (fixed sigma, kw sigma=1.0),
    "gaussian-learned" (kw min_logvar=None) or "continuous-bernoulli".

    Case and "_" vs "-" are ignored. A Likelihood instance is returned as is
    (then kw must be empty). Unknown names raise ValueError listing the valid ones.
    """
    if isinstance(name, Likelihood):
        if kw:
            raise ValueError(f"make_likelihood: got a {type(name).__name__} instance and options {sorted(kw)}; "
                             "pass options to its constructor instead")
        return name
    if not isinstance(name, str):
        raise ValueError(f"make_likelihood: name must be a string or a Likelihood, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {', '.join(repr(k) for k in LIKELIHOODS)}")
    try:
        return LIKELIHOODS[key](**kw)
    except TypeError as err:
        raise ValueError(f"make_likelihood({name!r}): bad options {sorted(kw)}: {err}") from err
