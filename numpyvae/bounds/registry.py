"""The training objectives by name: make_bound("elbo" | "iwae" | "vr" | "vr-max")."""
from __future__ import annotations

from .elbo_iwae import ELBO, IWAE
from .renyi import VR, VRMax

__all__ = ["BOUNDS", "OBJECTIVES", "make_bound"]

#: name -> bound class; the training objectives
BOUNDS = {"elbo": ELBO, "iwae": IWAE, "vr": VR, "vr-max": VRMax}
OBJECTIVES = tuple(BOUNDS)


def make_bound(objective: str, alpha: float | None = None):
    """The bound called ``objective``: "elbo", "iwae", "vr" (needs ``alpha``, the Rényi order) or "vr-max".

    CUBO is an upper bound minimized over q alone; it is an evaluation quantity here
    (:func:`numpyvae.measure.sandwich.sandwich`) and the loss of a χ-trained q
    (:mod:`numpyvae.models.cubo_q`), not a training objective of the model.
    """
    if objective not in BOUNDS:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "vr":
        if alpha is None:
            raise ValueError("objective 'vr' needs alpha, the Rényi order (alpha = 0 is IWAE, alpha -> 1 the ELBO)")
        return VR(alpha)
    if alpha is not None:
        raise ValueError(f"alpha is the order of the 'vr' objective; objective {objective!r} takes none")
    return BOUNDS[objective]()
