"""The priors by name: make_prior("standard" | "mog:K" | "vamp:K" | "categorical", z_dim, ...)."""
from __future__ import annotations

import numpy as np

from .mog import MixtureOfGaussians
from .standard import StandardNormal
from .vamp import VampMixture


def _standard(z_dim, k, *, x_dim, rng, dtype):
    if k is not None:
        raise ValueError(f"make_prior: 'standard' takes no number of components, got 'standard:{k}'")
    return StandardNormal(z_dim)


def _mog(z_dim, k, *, x_dim, rng, dtype):
    return MixtureOfGaussians(z_dim, k, rng=rng, dtype=dtype)


def _vamp(z_dim, k, *, x_dim, rng, dtype):
    if x_dim is None:
        raise ValueError("make_prior: 'vamp:K' needs x_dim (the data dimension D of the pseudo-inputs)")
    return VampMixture(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype)


def _categorical(z_dim, k, *, x_dim, rng, dtype, n_classes=None):
    from ..gumbel.categorical import UniformCategorical     # the discrete prior lives beside its family
    if k is not None:
        raise ValueError(f"make_prior: 'categorical' takes no number of components, got 'categorical:{k}'; "
                         "the classes C come from the posterior gumbel:C")
    if n_classes is None:
        raise ValueError("make_prior: 'categorical' is the uniform prior of a Gumbel-softmax posterior "
                         "(gumbel:C or gumbel-st:C); it needs that posterior's number of classes")
    if z_dim % n_classes:
        raise ValueError(f"make_prior: 'categorical': z_dim = {z_dim} is not a multiple of C = {n_classes}")
    return UniformCategorical(z_dim // n_classes, n_classes)


# name -> (builder, needs a number of components K)
PRIORS = {
    "standard": (_standard, False),
    "mog": (_mog, True),
    "vamp": (_vamp, True),
    "categorical": (_categorical, False),
}


def make_prior(name: str, z_dim: int, *, x_dim: int | None = None,
               rng: np.random.Generator | None = None, dtype="float32", n_classes: int | None = None):
    """Build a prior from its name: "standard", "mog:K" or "vamp:K" (K components, an integer >= 1),
    or "categorical" (uniform over z_dim / C variables of C = n_classes classes, for a gumbel:C posterior).

    x_dim (the data dimension D) is needed by "vamp:K" for its pseudo-inputs; rng
    initializes learned priors (default seed 0); dtype is theirs.
    """
    if not isinstance(name, str):
        raise TypeError(f"make_prior: name must be a string like 'standard', 'mog:10' or 'vamp:500', "
                        f"got {type(name).__name__}")
    kind, sep, k_text = name.partition(":")
    if kind not in PRIORS:
        raise ValueError(f"make_prior: unknown prior {name!r}; choose 'standard', 'mog:K', 'vamp:K' or 'categorical'")
    builder, needs_k = PRIORS[kind]
    k = None
    if sep:
        if not (k_text.isascii() and k_text.isdigit() and int(k_text) >= 1):
            raise ValueError(f"make_prior: the number of components in {name!r} must be an integer >= 1")
        k = int(k_text)
    elif needs_k:
        raise ValueError(f"make_prior: {kind!r} needs a number of components, e.g. '{kind}:10'")
    if kind == "categorical":
        return builder(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype, n_classes=n_classes)
    return builder(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype)
