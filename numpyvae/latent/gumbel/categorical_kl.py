"""The closed-form KL of the unrelaxed categorical q(c|x) to the uniform prior: the relaxed ELBO's KL term."""
from __future__ import annotations

import math

import numpy as np

from ...checks import check_array
from ...stable import log_softmax
from .categorical import UniformCategorical
from .family import GumbelSoftmax


class CategoricalUniformKL:
    """KL(q(c|x) ‖ Uniform) for M categorical variables, C classes: the relaxed ELBO's KL.

    Jang et al. train E_q[log p(x | y)] (with the relaxed or straight-through y)
    minus the KL of the unrelaxed categorical q = softmax(logits) to the uniform
    prior p(c) = 1/C, in closed form:

        KL = Σ_m Σ_c q_mc log(q_mc · C)       (N,), in [0, M log C]

    Pair interface (the engine contract)::

        kl, tape = pair.forward([logits])     kl (N,)
        [dlogits] = pair.backward(dkl, tape)  dkl (N,)
    """

    def __init__(self, family: GumbelSoftmax):
        if not isinstance(family, GumbelSoftmax):
            raise TypeError(f"CategoricalUniformKL: family must be a GumbelSoftmax, got {type(family).__name__}")
        self.family = family

    def forward(self, params):
        """(kl (N,), tape) from params = [logits (N, M·C)]."""
        logits = self.family._logits(params, "CategoricalUniformKL.forward")
        N, M, C = logits.shape[0], self.family.n_vars, self.family.n_classes
        log_q = log_softmax(logits.reshape(N, M, C))
        q = np.exp(log_q)
        # Σ_c q log q per variable; q = 0 where it underflows, and 0 · (finite log q) = 0
        neg_entropy = np.einsum("nmc,nmc->nm", q, log_q)
        kl = neg_entropy.sum(axis=-1) + M * math.log(C)
        return kl, {"q": q, "log_q": log_q, "neg_entropy": neg_entropy}

    def backward(self, dkl, tape) -> list:
        """[dlogits (N, M·C)] for the upstream dkl (N,).

        Per variable KL = Σ_c q_c (log q_c + log C), with ∂q_c/∂a_j = q_c (δ_cj − q_j):
            ∂KL/∂a_j = Σ_c q_c (δ_cj − q_j)(log q_c + log C + 1)
                     = q_j (log q_j + log C + 1) − q_j Σ_c q_c (log q_c + log C + 1)
                     = q_j (log q_j − Σ_c q_c log q_c)        (the constants cancel: Σ_c q_c = 1)
        """
        q, log_q, neg_entropy = tape["q"], tape["log_q"], tape["neg_entropy"]
        N, M, C = q.shape
        check_array(dkl, "CategoricalUniformKL.backward", ndim=1, dtype=q.dtype, finite=False, name="dkl")
        if dkl.shape != (N,):
            raise ValueError(f"CategoricalUniformKL.backward: dkl must have kl's shape {(N,)}, got {dkl.shape}")
        da = log_q - neg_entropy[..., None]
        da *= q
        da *= dkl[:, None, None]
        return [da.reshape(N, M * C)]


def analytic_kl_pair(family, prior):
    """The analytic KL object for (family, prior), or None if this module has none for the pair.

    (GumbelSoftmax, UniformCategorical) with the same M and C -> CategoricalUniformKL;
    the same pair with different sizes is an error. For ``kl_analytic_for`` to delegate to.
    """
    if not (isinstance(family, GumbelSoftmax) and isinstance(prior, UniformCategorical)):
        return None
    if (family.n_vars, family.n_classes) != (prior.n_vars, prior.n_classes):
        raise ValueError(f"analytic KL: the family has {family.n_vars} variables x {family.n_classes} classes "
                         f"but the prior {prior.n_vars} x {prior.n_classes}")
    return CategoricalUniformKL(family)
