"""KL(q(z|x) || p(z)): in closed form where the (q, p) pair has one, looked up by pair.

Two ways to get the KL term of the ELBO:

* analytic, when the pair has a closed form — for q = N(mu, diag(e^logvar))
  and p = N(0, I): KL = ½ Σ_k (mu² + e^logvar − 1 − logvar); exact, low variance;
* Monte Carlo: log q(z|x) − log p(z) at the sampled z, unbiased, for every
  pair; what the IWAE bound needs. The model composes it from the family's
  log q and the prior's log p, so it needs no code here.

:func:`kl_analytic_for` finds the closed form of a pair, or None.
"""
from __future__ import annotations

import numpy as np

from .full_gaussian import FullCovGaussian, FullCovGaussianStandardNormalKL
from .gaussian import DiagonalGaussian
from .gumbel.categorical import UniformCategorical
from .gumbel.categorical_kl import analytic_kl_pair
from .gumbel.family import GumbelSoftmax
from .priors.standard import StandardNormal


def kl_analytic(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Per example and latent dimension: ½ (mu² + e^logvar − 1 − logvar), shape (N, K).

    Sum over the last axis for the per-example KL. It is ≥ 0, and 0 exactly
    at mu = 0, logvar = 0 (q equals the prior).

    Written as expm1(logvar) − logvar rather than e^logvar − 1 − logvar: for
    tiny logvar, e^logvar rounds to 1 and the plain form returns −logvar,
    a negative KL. expm1(t) ≥ t holds after rounding too, so this never is.
    """
    if np.shape(mu) != np.shape(logvar):
        raise ValueError(f"kl_analytic: mu {np.shape(mu)} and logvar {np.shape(logvar)} must have one shape (N, K)")
    return 0.5 * (mu * mu + (np.expm1(logvar) - logvar))


def kl_analytic_backward(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∂KL/∂mu = mu and ∂KL/∂logvar = ½ (e^logvar − 1), each (N, K)."""
    if np.shape(mu) != np.shape(logvar):
        raise ValueError(f"kl_analytic_backward: mu {np.shape(mu)} and logvar {np.shape(logvar)} must have one shape")
    return mu, 0.5 * np.expm1(logvar)


class GaussianToStandardNormal:
    """KL(N(mu, diag(e^logvar)) || N(0, I)) per example, with its gradient."""

    def forward(self, params):
        """[mu, logvar] (N, K) each -> (KL (N,), tape)."""
        mu, logvar = params
        return kl_analytic(mu, logvar).sum(-1), (mu, logvar)

    def backward(self, dkl: np.ndarray, tape):
        """dkl (N,) -> [dmu, dlogvar]: dkl · mu and dkl · ½ (e^logvar − 1), each (N, K)."""
        dmu, dlogvar = kl_analytic_backward(*tape)
        return [dmu * dkl[:, None], dlogvar * dkl[:, None]]


#: (family class, prior class) -> the class of their closed-form KL
ANALYTIC_KL = {(DiagonalGaussian, StandardNormal): GaussianToStandardNormal,
               (FullCovGaussian, StandardNormal): FullCovGaussianStandardNormalKL}


#: (family class, prior class) -> a builder (family, prior) -> KL object, for pairs whose KL
#: depends on the family's sizes (the categorical KL needs M and C)
ANALYTIC_KL_SIZED = {(GumbelSoftmax, UniformCategorical): analytic_kl_pair}


def kl_analytic_for(family, prior):
    """The closed-form KL(q || p) of this pair, or None when it has none."""
    for (family_cls, prior_cls), build in ANALYTIC_KL_SIZED.items():
        if isinstance(family, family_cls) and isinstance(prior, prior_cls):
            return build(family, prior)
    pair = ANALYTIC_KL.get((type(family), type(prior)))
    return pair() if pair is not None else None
