"""The χ upper bound CUBO_n (a power mean of the weights) and the exp-trick surrogate that trains q by it.

Both follow the bound contract of :mod:`numpyvae.bounds`, and both are minimized (``maximize``
is False), with respect to q only.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import check_log_w, check_real
from .power_mean import PowerMean

__all__ = ["CUBO", "CUBOSurrogate"]


class CUBO(PowerMean):
    """χ upper bound of order n (Dieng et al., 2017), k-sample estimate per example.

        CUBO_n = (1/n) log (1/k) Σ_s w_s^n = (logsumexp_s(n log w_s) − log k) / n,      n > 1

    (the VR bound with α = 1 − n; CUBO₂ = ½ log (1/k) Σ w_s² is the χ² one).

    What is an upper bound is the *exact* value, (1/n) log E_q[w^n]: by Jensen,
    E_q[w^n]^(1/n) ≥ E_q[w] = p(x) for n ≥ 1. Equivalently exp(n · CUBO_n) = (1/k) Σ w_s^n is an
    *unbiased* estimate of E_q[w^n] ≥ p(x)^n: CUBO is an upper bound "in expectation of exp".

    **The k-sample estimate is biased LOW.** log is concave, so E[(1/n) log (1/k) Σ w_s^n]
    ≤ (1/n) log E_q[w^n]; the bias shrinks as k grows (the expectation is non-decreasing in k, by
    the same argument as for IWAE_k), but for small k — or when w^n is heavy-tailed, as when q is
    narrower than the posterior — the average estimate can fall below log p(x). Report it with a
    large k, and never read one small-k estimate as a certified upper bound.

    Gradient: Σ_s ŵ_s ∇ log w_s with ŵ = softmax(n log w) (see ``weights``): the weights of the
    largest w_s are sharpened n-fold compared with IWAE. For training q use
    :class:`CUBOSurrogate`, whose Monte Carlo gradient is unbiased.

    Parameters: n, a real number > 1 (default 2).
    """

    name = "cubo"
    maximize = False
    _why_several = "with k = 1 the CUBO estimate is log w, whose expectation is the ELBO, not an upper bound"

    def __init__(self, n: float = 2):
        n = check_real(n, "CUBO", "n")
        if not (1.0 < n < math.inf):
            raise ValueError(f"CUBO: n must be a finite number > 1 (n = 1 is the IWAE formula, n < 1 is not an "
                             f"upper bound), got n = {n}")
        self.n = n
        self.power = n

    def __repr__(self):
        return f"CUBO(n={self.n!r})"


class CUBOSurrogate:
    """Dieng et al.'s surrogate for minimizing CUBO_n over q: L = exp(n · CUBO_n), computed stably.

    Why not descend CUBO_n itself? Its k-sample estimate is a log of a mean, so the gradient of the
    estimate is a biased estimate of the gradient of the true CUBO. exp(n · CUBO_n) = (1/k) Σ w_s^n
    is unbiased for E_q[w^n], so its gradient is unbiased, and exp is monotone: minimizing
    E_q[w^n] minimizes CUBO_n.

    Computed as is, w_s^n = e^{n log w_s} under- or overflows (log w ≈ −100 for a digit). The exp
    trick divides by the constant e^{n m} with m_n = max_s log w_sn, held fixed in the gradient:

        L_n = (1/k) Σ_s exp(n (log w_sn − m_n)),    every exponent ≤ 0, the largest term 1,
        so 1/k ≤ L_n ≤ 1,   and   CUBO_n = m_n + (1/n) log L_n.

    Holding m fixed rescales example n's gradient by the positive factor e^{−n m_n}, so this is
    descent on a per-example reweighted objective; per example the direction is CUBO's:
        ∂L_n/∂ log w_sn = n L_n · softmax_s(n log w)_sn = n L_n · ∂CUBO_n/∂ log w_sn,
    a factor n L_n ∈ [n/k, n] (compare :meth:`CUBO.weights`).

    ``forward`` returns L (N,), to be MINIMIZED (``maximize`` is False), and with respect to q
    only; the shift m is in the tape (``tape[1]``). Needs k ≥ 2. Parameters: n > 1 (default 2).
    """

    name = "cubo_surrogate"
    maximize = False
    min_samples = 2

    def __init__(self, n: float = 2):
        n = check_real(n, "CUBOSurrogate", "n")
        if not (1.0 < n < math.inf):
            raise ValueError(f"CUBOSurrogate: n must be a finite number > 1 (the order of CUBO_n), got n = {n}")
        self.n = n

    def forward(self, log_w: np.ndarray):
        """log_w (S, N) -> L (N,) in [1/k, 1], tape (exp(n (log w − m)) (S, N), m (N,))."""
        log_w = check_log_w(log_w, "CUBOSurrogate.forward",
                             "with k = 1 the stabilized surrogate is exp(0) = 1 and its gradient the ELBO's")
        m = log_w.max(axis=0)                               # the shift, a constant for the gradient
        scaled = np.subtract(log_w, m)                      # log w − m ≤ 0
        scaled *= self.n
        np.exp(scaled, out=scaled)                          # exp(n (log w − m)) ∈ (0, 1]
        return scaled.mean(axis=0), (scaled, m)

    def weights(self, tape) -> np.ndarray:
        """c_sn = ∂(mean_n L_n)/∂ log w_sn with m held fixed = (n/k) exp(n (log w_sn − m_n)) / N, (S, N).

        L_n = (1/k) Σ_s e^{n (log w_sn − m_n)}; d/du e^{n(u − m)} = n e^{n(u − m)}, and only the
        s-th term depends on log w_sn, so ∂L_n/∂ log w_sn = (n/k) e^{n (log w_sn − m_n)}.
        The mean over N adds 1/N.
        """
        scaled, _ = tape
        k, N = scaled.shape
        return scaled * (self.n / (k * N))

    def __repr__(self):
        return f"CUBOSurrogate(n={self.n!r})"
