"""Variational families q(z|x) by name, for the model, the CLI and TOML files.

Priors have their own factory, :func:`numpyvae.latent.priors.by_name.make_prior`
("standard", "mog:K", "vamp:K").

A posterior name is a family, or a flow followed by ":K", its number of steps:

    gaussian           q = N(mu, diag(exp(logvar)))            (latent/gaussian.py)
    full-gaussian      q = N(mu, L Lᵀ)                         (latent/full_gaussian.py)
    planar:K           diagonal Gaussian + K planar steps      (latent/flows/)
    radial:K           diagonal Gaussian + K radial steps
    iaf:K              diagonal Gaussian + K IAF steps
    gumbel:C           z_dim / C categorical variables of C classes, Gumbel-softmax relaxed   (latent/gumbel/)
    gumbel-st:C        the same, straight-through (one-hot forward, relaxed backward)
    deterministic      z = mu(x), no density: the plain autoencoder (latent/deterministic.py)

A flow's options follow its name after commas, so that one string (a flag, a TOML
value) says everything: "planar:8,amortized=false", "iaf:2,hidden=80,context_dim=10".

Three registries: ``POSTERIORS`` (name -> class, built as cls(z_dim)) for families
without a length, ``FLOWS`` (name -> FlowSpec) for those that take one, and
``CATEGORICAL`` (name -> hard) for the Gumbel-softmax families, whose ":C" is the
number of classes of each variable (z_dim must be a multiple of C).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..checks import as_dtype, check_positive_int
from .deterministic import Deterministic
from .flows.flow import iaf_flow, planar_flow, radial_flow
from .full_gaussian import FullCovGaussian
from .gaussian import DiagonalGaussian
from .gumbel.family import GumbelSoftmax

#: name -> family class; each is built as cls(z_dim)
POSTERIORS = {"gaussian": DiagonalGaussian, "full-gaussian": FullCovGaussian,
              "deterministic": Deterministic}     # z = mu: the plain autoencoder (no KL term)


@dataclass(frozen=True)
class FlowSpec:
    """How to build a flow family of a given length.

    build : (z_dim, length, rng=..., dtype=..., **options) -> family
    summary : str           one line for help texts
    options : tuple of str  family-specific keyword options the builder accepts
    """
    build: Callable
    summary: str
    options: tuple = ()


#: name -> FlowSpec; named "<name>:K" with K >= 1 steps
FLOWS = {
    "planar": FlowSpec(planar_flow, "diagonal Gaussian then K planar steps, parameters from the encoder "
                       "(amortized=False: learned, shared by all examples)", options=("amortized",)),
    "radial": FlowSpec(radial_flow, "diagonal Gaussian then K radial steps, parameters from the encoder "
                       "(amortized=False: learned, shared by all examples)", options=("amortized",)),
    "iaf": FlowSpec(iaf_flow, "diagonal Gaussian then K inverse autoregressive steps "
                    "(global MADE weights, a context vector from the encoder)", options=("context_dim", "hidden")),
}


#: name -> hard (straight-through); named "<name>:C" with C >= 2 classes per variable
CATEGORICAL = {"gumbel": False, "gumbel-st": True}


def posterior_names() -> list[str]:
    """The accepted spellings, e.g. ["full-gaussian", "gaussian", "iaf:K", "planar:K", "radial:K"]."""
    return sorted(list(POSTERIORS) + [f"{n}:K" for n in FLOWS] + [f"{n}:C" for n in CATEGORICAL])


def parse_posterior(name: str) -> tuple[str, int | None]:
    """"planar:8" -> ("planar", 8); "gaussian" -> ("gaussian", None). Raises on bad names."""
    if not isinstance(name, str):
        raise TypeError(f"posterior must be a name such as 'gaussian' or 'planar:8', got {type(name).__name__}")
    base, sep, tail = name.strip().partition(":")
    if base in CATEGORICAL:
        return base, _n_classes(name, sep, tail)
    if base not in POSTERIORS and base not in FLOWS:
        raise ValueError(f"unknown posterior {name!r}; choose one of {', '.join(posterior_names())}")
    if base in POSTERIORS:
        if sep:
            raise ValueError(f"posterior {base!r} takes no length, got {name!r}")
        return base, None
    return base, _count(name, sep, tail, "steps", 1, "a number of steps", 4)


def _n_classes(name: str, sep: str, tail: str) -> int:
    """C of "gumbel:C": an integer >= 2."""
    return _count(name, sep, tail, "classes", 2, "a number of classes per variable", 10)


def _count(name: str, sep: str, tail: str, what: str, low: int, needs: str, example: int) -> int:
    """The integer after ':' in a posterior name (a flow's steps, a categorical's classes), >= low."""
    base = name.strip().partition(":")[0]
    if not sep:
        raise ValueError(f"posterior {base!r} needs {needs}, e.g. '{base}:{example}'")
    try:
        k = int(tail)
    except ValueError:
        raise ValueError(f"posterior {name!r}: the number of {what} after ':' must be an integer >= {low}") from None
    if k < low:
        raise ValueError(f"posterior {name!r}: the number of {what} must be >= {low}, got {k}")
    return k


def make_categorical(name: str, z_dim: int, n_classes: int) -> GumbelSoftmax:
    """A Gumbel-softmax family with z_dim / C variables of C classes; refuses a C that does not divide z_dim."""
    if z_dim % n_classes:
        raise ValueError(f"posterior {name!r}: z_dim = {z_dim} is not a multiple of C = {n_classes} classes; "
                         f"z_dim is M·C for M categorical variables (e.g. z_dim = {max(1, z_dim // n_classes) * n_classes})")
    family = GumbelSoftmax(z_dim // n_classes, n_classes, hard=CATEGORICAL[name.strip().partition(":")[0]])
    family.name = name.strip()
    return family


def split_options(name: str) -> tuple[str, dict]:
    """"iaf:2,hidden=80,amortized=false" -> ("iaf:2", {"hidden": 80, "amortized": False}).

    Values are integers, or true/false; anything else, or an option given twice, is an error naming it.
    """
    head, *pairs = name.split(",")
    options = {}
    for pair in pairs:
        key, eq, text = pair.strip().partition("=")
        if not eq or not key:
            raise ValueError(f"posterior {name!r}: options are written key=value after commas, got {pair!r}")
        if key in options:                  # the last one winning would hide which value was meant
            raise ValueError(f"posterior {name!r}: option {key} is given twice; give it once")
        if text.lower() in ("true", "false"):
            options[key] = text.lower() == "true"
        elif text.lstrip("-").isdigit():
            options[key] = int(text)
        else:
            raise ValueError(f"posterior {name!r}: option {key} must be an integer or true/false, got {text!r}")
    return head, options


def make_posterior(name: str, z_dim: int, *, rng: np.random.Generator | None = None,
                   dtype="float32", **options):
    """The variational family q(z|x) called ``name`` for a K = z_dim latent.

    name : "gaussian", "full-gaussian", "planar:K", "radial:K" or "iaf:K", optionally followed
           by the flow's options, e.g. "planar:8,amortized=false" (see :func:`split_options`)
    rng : np.random.Generator   initial values of a flow's global parameters (IAF, amortized=False)
    dtype : "float32" | "float64"   their dtype (must match the encoder's heads)
    options : a flow's settings listed in FLOWS[name].options
              (planar, radial: amortized; iaf: context_dim, hidden); anything else is refused.
    """
    if isinstance(name, str) and "," in name:
        name, in_name = split_options(name)
        options = {**in_name, **options}
    base, length = parse_posterior(name)
    z_dim = check_positive_int(z_dim, "make_posterior", "z_dim")
    if base in CATEGORICAL and not options:
        return make_categorical(name, z_dim, length)
    allowed = FLOWS[base].options if base in FLOWS else ()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"make_posterior: {base!r} does not take the option(s) {unknown}; "
                         f"it takes: {', '.join(allowed) if allowed else 'none'}")
    if base in POSTERIORS:
        return POSTERIORS[base](z_dim)
    return FLOWS[base].build(z_dim, length, rng=rng, dtype=as_dtype(dtype), **options)

