"""The options of a VAE step (objective, KL estimate, β, α) checked, and the KL route they choose for the tape."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..bounds.registry import OBJECTIVES, make_bound
from ..latent.kl import kl_analytic_for

__all__ = ["KL_KINDS", "StepOptions", "step_options", "check_options"]

KL_KINDS = ("analytic", "mc")


class StepOptions(NamedTuple):
    """What the options decide for one step: the KL route, its closed-form pair, β and the bound."""
    route: str          # "analytic" (a closed-form KL), "mc" (log q − log p(z) in log w) or "none" (a point mass)
    pair: object        # the (q, p) pair's analytic KL (latent.kl.kl_analytic_for), or None
    beta: float
    bound: object       # the bound (bounds.make_bound): ELBO, IWAE, VR, VR-max


def step_options(posterior, prior, objective, kl, beta, alpha) -> StepOptions:
    """Check the options for this family and prior; return the route the forward takes and the backward walks."""
    pair = kl_analytic_for(posterior, prior)
    objective, kl, beta = check_options(objective, kl, beta, analytic=pair is not None)
    bound_fn = make_bound(objective, alpha)
    if kl == "analytic" and pair is None:
        raise ValueError(f"kl='analytic': the posterior {posterior.name!r} and prior "
                         f"{prior.name!r} have no closed-form KL; use kl='mc'")
    if not getattr(posterior, "has_density", True):               # a point mass: the plain autoencoder
        if objective != "elbo":
            raise ValueError(f"the {posterior.name!r} posterior (a plain autoencoder) has one z per "
                             f"example and no KL term; objective must be 'elbo', got {objective!r}")
        return StepOptions("none", pair, beta, bound_fn)
    return StepOptions(kl, pair, beta, bound_fn)


def check_options(objective, kl, beta, analytic=True):
    """Validate the options; kl defaults to "analytic" for the ELBO when the (q, p) pair has one."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if kl is None:
        kl = "analytic" if objective == "elbo" and analytic else "mc"
    if kl not in KL_KINDS:
        raise ValueError(f"kl must be one of {KL_KINDS}, got {kl!r}")
    if objective != "elbo" and kl == "analytic":
        raise ValueError(f"the {objective} bound needs log q(z|x) − log p(z) at each sample: "
                         "use kl='mc' (or leave kl unset)")
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
            or not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if objective != "elbo" and beta != 1.0:
        raise ValueError(f"beta weights the ELBO's KL term; the {objective} bound is defined for beta = 1, "
                         f"got {beta}")
    return objective, kl, float(beta)
