"""The protocol every model follows: what the trainer, the checkpoint, evaluate, sample and plot ask of it.

Every model in numpyvae (the VAE with any family, prior, bound or network; the hierarchy;
M2; the Helmholtz machine; AVB) is a :class:`Model`:

    kind : str                        "vae", "hvae", "m2", "helmholtz", "avb"
    config : dict                     JSON-able; ``models.registry.model_from_kind(kind, config)`` rebuilds it
    groups : dict[str, ParamGroup]    named parameter groups with their gradients: "model" for most,
                                      AVB has "generator" and "critic"; one optimizer per group
    forward(batch, noise=None, **options) -> tape     ``tape.bound``: the per-example bound (N,),
                                      ``tape.loss``: what the step minimizes, ``tape.parts``: its named parts
    backward(tape, c=None) -> grads   walk the tape back; ``c`` (S, N), optional: per-sample weights
                                      ∂L/∂log w_sn of another objective of the same log weights (local
                                      inference, a χ-trained q); default: the bound's own weights
    log_likelihood(x, k, rng, y=None) -> (N,)    an importance-sampled estimate of log p(x) per example,
                                      or ``no_log_likelihood``: the one-line reason the model has none
    sample(n, rng=None, y=None) -> (n, D)        decoded samples (means) from the model's prior
    figures(data, out_dir) -> list of paths      the pictures this model knows how to draw

A batch is a :class:`Batch`: x (N, D), the labels y (N,) of a conditional model or of M2's
labelled part, and M2's unlabelled x_unlabelled (N_u, D).

The loss unit everywhere is nats per example: −mean_n bound_n.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batch", "ParamGroup", "Model", "NoLogLikelihood", "unbatch"]


@dataclass
class Batch:
    """One step's data: x (N, D); y (N,) int labels or None; x_unlabelled (N_u, D) or None and weights
    (w_l, w_u), the weights of the labelled and unlabelled sums, or None (two batch means) (M2 only)."""
    x: np.ndarray
    y: np.ndarray | None = None
    x_unlabelled: np.ndarray | None = None
    weights: tuple | None = None


def unbatch(x, y=None, where: str = "forward"):
    """(x, y) from a :class:`Batch` or from a bare x (N, D) and its labels y; a Batch and a separate y is an error."""
    if isinstance(x, Batch):
        if y is not None:
            raise ValueError(f"{where}: the labels come with the Batch (batch.y); do not pass y as well")
        if x.x_unlabelled is not None or x.weights is not None:
            raise ValueError(f"{where}: this model takes no unlabelled part (batch.x_unlabelled and batch.weights "
                             "are M2's)")
        return x.x, x.y
    return x, y


@dataclass
class ParamGroup:
    """A named set of parameters and their gradients, same names and shapes (views into flat buffers).

    params : dict name -> array     e.g. "encoder.0.W" (D_in, D_out)
    grads  : dict name -> array     written by the model's backward
    flat_params, flat_grads : (P,) the buffers the views tile, when the model packed them (else None)
    trainable : bool                False for a frozen group (M1+M2's M1): saved with the run, given no optimizer
    """
    params: dict
    grads: dict
    flat_params: np.ndarray | None = None
    flat_grads: np.ndarray | None = None
    trainable: bool = True
    meta: dict = field(default_factory=dict)


class NoLogLikelihood(ValueError):
    """Raised by :meth:`Model.log_likelihood` of a model that has no density p(x) to estimate."""


class Model:
    """The base every model derives from; each method says what it must return.

    Subclasses set ``kind`` and ``config`` and implement the methods below. A model that cannot
    estimate log p(x) sets ``no_log_likelihood`` to the reason, one sentence, and leaves
    :meth:`log_likelihood` as it is here.
    """

    kind: str = ""
    config: dict
    no_log_likelihood: str | None = None

    @property
    def groups(self) -> dict:
        """{name: ParamGroup}; one group "model" unless the model has several optimizers."""
        raise NotImplementedError(f"{type(self).__name__} does not define its parameter groups")

    def forward(self, batch: Batch, noise=None, **options):
        """One step's forward pass: a tape with ``bound`` (N,), ``loss`` (float) and ``parts`` (dict)."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, tape, c: np.ndarray | None = None) -> dict:
        """Walk ``tape`` back; fill and return the gradients ({group: {name: array}} or the one group's dict)."""
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def log_likelihood(self, x: np.ndarray, k: int, rng: np.random.Generator, y=None) -> np.ndarray:
        """Importance-sampled log p(x) per example, (N,) in nats."""
        raise NoLogLikelihood(self.no_log_likelihood or f"{type(self).__name__} has no log p(x) estimator")

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None) -> np.ndarray:
        """n decoded samples from the prior, (n, D); ``y`` the labels of a conditional model."""
        raise NotImplementedError(f"{type(self).__name__}.sample")

    def figures(self, data, out_dir) -> list:
        """Draw this model's pictures into ``out_dir``; return the paths written."""
        return []
