"""The Rényi bound VR_α of order α (a power mean of the weights) and its α → −∞ limit VR-max, the largest log weight.

Both follow the bound contract of :mod:`numpyvae.bounds`; :mod:`numpyvae.bounds.power_mean`
says where they sit in the family.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import check_log_w, check_real
from .power_mean import PowerMean

__all__ = ["VR", "VRMax"]


class VR(PowerMean):
    """Rényi variational bound of order α (Li & Turner, 2016), k-sample estimate per example.

        L_α = 1/(1−α) · log (1/k) Σ_s w_s^(1−α) = (logsumexp_s((1−α) log w_s) − log k) / (1−α)

    * α = 0: the IWAE bound, logsumexp(log w) − log k.
    * α → 1: the ELBO's estimate mean_s log w_s (L_α = mean log w + ½(1−α) Var_s log w + O((1−α)²)).
      α = 1 itself is refused: use the ELBO. Near α = 1 the subtraction of log k loses digits
      (about 1e-16/|1−α| in float64, 1e-7/|1−α| in float32).
    * α → −∞: VR-max, the largest log w_s (class :class:`VRMax`).
    * For fixed samples L_α is non-increasing in α; for α ∈ [0, 1) it lies between the ELBO and
      IWAE_k, so it is a lower bound on log p(x) in expectation. For α < 0 the k-sample estimate
      carries no guarantee (the exact, k → ∞ value is ≥ log p(x)); Li & Turner still train with it.

    Gradient: Σ_s ŵ_s ∇ log w_s with ŵ = softmax((1−α) log w) (see ``weights``). Needs k ≥ 2: with
    one sample L_α = log w for every α.

    Parameters: alpha, a finite real number ≠ 1.
    """

    name = "vr"
    _why_several = ("with k = 1 the VR bound is log w, the ELBO's estimate, for every alpha; "
                    "use the ELBO or draw more samples")

    def __init__(self, alpha: float):
        alpha = check_real(alpha, "VR", "alpha")
        if alpha == 1.0:
            raise ValueError("VR: alpha = 1 is the ELBO (the limit of the VR bound as alpha -> 1); use the ELBO bound")
        if math.isinf(alpha):
            raise ValueError(f"VR: alpha must be finite, got {alpha}; for alpha -> -inf use VRMax (the largest weight)")
        self.alpha = alpha
        self.power = 1.0 - alpha

    def __repr__(self):
        return f"VR(alpha={self.alpha!r})"


class VRMax:
    """VR-max (Li & Turner, 2016): the largest log weight of the k samples, per example.

        L_max = max_s log w_s = lim_{α→−∞} L_α

    (the log k/(1−α) term vanishes in the limit). For fixed samples it is ≥ every VR_α and ≥
    IWAE_k; it is not a bound on log p(x) in either direction for finite k.

    Gradient: ∇ log w_{s*} of the best sample s* alone — one-hot weights (see ``weights``). Needs
    k ≥ 2: with one sample it is log w, the ELBO's estimate.
    """

    name = "vr_max"
    maximize = True
    min_samples = 2

    def forward(self, log_w: np.ndarray):
        """log_w (S, N) -> bound (N,) = max_s log w_sn, tape (argmax s* (N,), log_w's shape and dtype)."""
        log_w = check_log_w(log_w, "VRMax.forward",
                             "with k = 1 VR-max is log w, the ELBO's estimate; use the ELBO or draw more samples")
        best = np.argmax(log_w, axis=0)                     # s* per example (the first one on a tie)
        bound = np.take_along_axis(log_w, best[None, :], axis=0)[0]
        return bound, (best, log_w.shape, log_w.dtype)

    def weights(self, tape) -> np.ndarray:
        """c_sn = [s = s*_n] / N, (S, N).

        max_s a_s is piecewise linear: away from ties, moving a_j of the largest entry moves the
        max one for one, moving any other entry (by less than the gap) leaves it alone, so
        ∂ max_s a_s / ∂a_j = 1 if j = s* else 0. (At an exact tie the max has no derivative; the
        first maximizer gets the weight, a valid subgradient.) The mean over N adds 1/N.
        """
        best, shape, dtype = tape
        c = np.zeros(shape, dtype=dtype)
        np.put_along_axis(c, best[None, :], 1.0 / shape[1], axis=0)
        return c

    def __repr__(self):
        return "VRMax()"
