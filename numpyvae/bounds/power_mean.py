"""The power mean of the k importance weights: the one picture that orders the bounds, and the base of VR and CUBO.

One picture holds the family together: the **power mean** of the k weights w_s (log w as in
:mod:`numpyvae.bounds`),

    log M_p = (1/p) log (1/k) Σ_s w_s^p = (1/p) (logsumexp_s(p log w_s) − log k),      p ≠ 0.

log M_p is non-decreasing in p (the power-mean inequality): p → 0 gives the geometric mean,
mean_s log w_s (the ELBO's estimate); p = 1 the arithmetic mean (the IWAE bound); p → ∞ the
largest weight. The Rényi bound of order α (Li & Turner, 2016) is p = 1 − α; the χ upper bound
CUBO_n (Dieng et al., 2017) is p = n. So, for the same samples,

    mean_s log w_s  ≤  VR_α (0 < α < 1)  ≤  IWAE_k = VR_0  ≤  CUBO_n = VR_{1−n}  ≤  max_s log w_s = VR-max,

and relative to log p(x), in expectation over the samples,

    E[ELBO] ≤ E[VR_α, 0 ≤ α < 1] ≤ E[IWAE_k] ≤ log p(x) ≤ CUBO_n(exact) = (1/n) log E_q[w^n],

while the k-sample CUBO estimate is biased low (see :class:`numpyvae.bounds.cubo.CUBO`) and VR_α
for α < 0 has no guarantee either way for finite k.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from .checks import check_log_w

__all__ = ["PowerMean"]


class PowerMean:
    """log M_p = (1/p) log (1/k) Σ_s w_s^p per example, for a fixed power p ≠ 0 (base of VR and CUBO)."""

    maximize = True
    min_samples = 2
    power: float
    _why_several = ""

    def forward(self, log_w: np.ndarray):
        """Bound per example and its tape: log_w (S, N) -> bound (N,), tape (p log w (S, N), lse (N,)).

        logsumexp subtracts the largest p log w_s before exponentiating: for images log w is
        −100 or below, and exp of that (or of twice that, for CUBO₂) underflows to 0.
        Keeps the dtype of log_w (p and log k are Python floats).
        """
        log_w = check_log_w(log_w, f"{self.name}.forward", self._why_several)
        k = log_w.shape[0]
        p_log_w = self.power * log_w                        # log w_s^p, (S, N)
        lse = logsumexp(p_log_w, axis=0)                    # log Σ_s w_s^p, (N,)
        bound = (lse - math.log(k)) / self.power
        return bound, (p_log_w, lse)

    def weights(self, tape) -> np.ndarray:
        """c_sn = ∂(mean_n bound_n)/∂ log w_sn = softmax_s(p log w)_sn / N, (S, N); each column sums to 1/N.

        bound_n = (1/p) (logsumexp_s(a_sn) − log k) with a_sn = p log w_sn, and
        ∂ logsumexp_s(a_s)/∂a_j = e^{a_j} / Σ_s e^{a_s} = softmax(a)_j. The chain rule through
        a = p log w multiplies by p, which cancels the 1/p in front:
            ∂ bound_n / ∂ log w_sn = (1/p) · p · softmax_s(p log w)_sn = softmax_s(p log w)_sn.
        The mean over the N examples adds 1/N. The weights are the normalized w_s^p: p = 1 is
        IWAE's w̃_s, p → 0 tends to 1/k (the ELBO), p → ∞ puts all weight on the largest w_s.
        """
        p_log_w, lse = tape
        c = np.subtract(p_log_w, lse)                       # log softmax, a new array: the tape stays intact
        np.exp(c, out=c)
        c /= p_log_w.shape[1]
        return c
