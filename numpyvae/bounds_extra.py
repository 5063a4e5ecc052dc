"""More bounds from the same log weights: Rényi (VR), VR-max, the χ upper bound (CUBO), CUBO's exp-trick surrogate.

Every bound here is a function of the log importance weights of k samples per example,

    log w_sn = log p(x_n | z_sn) + log p(z_sn) − log q(z_sn | x_n),   z_sn ~ q(z | x_n),   log_w (S, N), S = k,

and has the interface of the bounds in ``bounds.py`` (README.md, "Architecture"):

    bound, tape = B.forward(log_w)      # (S, N) -> (N,)
    c = B.weights(tape)                 # (S, N): ∂(mean_n bound_n) / ∂ log w_sn, including the 1/N

so the model's backward is the ELBO's with the per-sample weights c.

One picture holds the family together: the **power mean** of the k weights,

    log M_p = (1/p) log (1/k) Σ_s w_s^p = (1/p) (logsumexp_s(p log w_s) − log k),      p ≠ 0.

log M_p is non-decreasing in p (the power-mean inequality): p → 0 gives the geometric mean,
mean_s log w_s (the ELBO's estimate); p = 1 the arithmetic mean (the IWAE bound); p → ∞ the
largest weight. The Rényi bound of order α (Li & Turner, 2016) is p = 1 − α; the χ upper bound
CUBO_n (Dieng et al., 2017) is p = n. So, for the same samples,

    mean_s log w_s  ≤  VR_α (0 < α < 1)  ≤  IWAE_k = VR_0  ≤  CUBO_n = VR_{1−n}  ≤  max_s log w_s = VR-max,

and relative to log p(x), in expectation over the samples,

    E[ELBO] ≤ E[VR_α, 0 ≤ α < 1] ≤ E[IWAE_k] ≤ log p(x) ≤ CUBO_n(exact) = (1/n) log E_q[w^n],

while the k-sample CUBO estimate is biased low (see :class:`CUBO`) and VR_α for α < 0 has no
guarantee either way for finite k.

Training direction: ``maximize`` is True for the VR family (loss = −mean bound, like the ELBO)
and False for the CUBO pair, which is an *upper* bound and is minimized — with respect to q only;
minimizing an upper bound over the decoder would push log p(x) down.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
from scipy.special import logsumexp

from .checks import FLOAT_DTYPES, check_array

__all__ = ["VR", "VRMax", "CUBO", "CUBOSurrogate", "sandwich"]


# ---------------------------------------------------------------- input checks

def _check_log_w(log_w, where: str, why_several: str) -> np.ndarray:
    """log_w must be a finite float (S, N) array with S ≥ 2 samples per example; return it."""
    check_array(log_w, where, ndim=2, name="log_w")
    if log_w.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{where}: log_w must be float32 or float64, got {log_w.dtype.name}")
    if log_w.shape[1] == 0:
        raise ValueError(f"{where}: log_w has no examples (shape {log_w.shape})")
    if log_w.shape[0] < 2:
        raise ValueError(f"{where}: needs k >= 2 samples per example, got log_w of shape {log_w.shape} "
                         f"(k = {log_w.shape[0]}); {why_several}")
    return log_w


def _check_real(value, where: str, name: str) -> float:
    """A real number (not bool, not NaN) as a Python float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{where}: {name} is NaN")
    return value


# ---------------------------------------------------------------- power means: VR and CUBO

class _PowerMean:
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
        log_w = _check_log_w(log_w, f"{self.name}.forward", self._why_several)
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


class VR(_PowerMean):
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
        alpha = _check_real(alpha, "VR", "alpha")
        if alpha == 1.0:
            raise ValueError("VR: alpha = 1 is the ELBO (the limit of the VR bound as alpha -> 1); use the ELBO bound")
        if math.isinf(alpha):
            raise ValueError(f"VR: alpha must be finite, got {alpha}; for alpha -> -inf use VRMax (the largest weight)")
        self.alpha = alpha
        self.power = 1.0 - alpha

    def __repr__(self):
        return f"VR(alpha={self.alpha!r})"


class CUBO(_PowerMean):
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
        n = _check_real(n, "CUBO", "n")
        if not (1.0 < n < math.inf):
            raise ValueError(f"CUBO: n must be a finite number > 1 (n = 1 is the IWAE formula, n < 1 is not an "
                             f"upper bound), got n = {n}")
        self.n = n
        self.power = n

    def __repr__(self):
        return f"CUBO(n={self.n!r})"


# ---------------------------------------------------------------- VR-max

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
        log_w = _check_log_w(log_w, "VRMax.forward",
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


# ---------------------------------------------------------------- CUBO's exp-trick surrogate

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
        n = _check_real(n, "CUBOSurrogate", "n")
        if not (1.0 < n < math.inf):
            raise ValueError(f"CUBOSurrogate: n must be a finite number > 1 (the order of CUBO_n), got n = {n}")
        self.n = n

    def forward(self, log_w: np.ndarray):
        """log_w (S, N) -> L (N,) in [1/k, 1], tape (exp(n (log w − m)) (S, N), m (N,))."""
        log_w = _check_log_w(log_w, "CUBOSurrogate.forward",
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


# ---------------------------------------------------------------- the sandwich, over chunks of samples

def sandwich(log_w_chunks, n: float = 2) -> dict:
    """ELBO, IWAE_k and CUBO_n estimates per example from k samples that arrive in chunks.

    log_w_chunks: an iterable of (k_i, N) arrays of log weights of the same N examples
    (evaluation draws k = 5000 samples in chunks to bound memory). Returns a dict of (N,) arrays
    {"elbo": mean_s log w_s, "iwae": log (1/k) Σ_s w_s, "cubo": (1/n) log (1/k) Σ_s w_s^n} and
    "k". Combining chunks needs only running totals: Σ log w, and log Σ w and log Σ w^n merged
    with logaddexp (log(e^a + e^b) without overflow). Remember the CUBO estimate is biased low
    (see :class:`CUBO`): it brackets log p(x) from above only for large k.
    """
    n = _check_real(n, "sandwich", "n")
    if not (1.0 < n < math.inf):
        raise ValueError(f"sandwich: n must be a finite number > 1 (the order of CUBO_n), got n = {n}")
    k, sum_log_w, lse_w, lse_wn = 0, None, None, None
    for chunk in log_w_chunks:
        check_array(chunk, "sandwich", ndim=2, name="log_w chunk")
        if sum_log_w is None:
            sum_log_w, lse_w, lse_wn = chunk.sum(0), logsumexp(chunk, axis=0), logsumexp(n * chunk, axis=0)
        elif chunk.shape[1] != sum_log_w.shape[0]:
            raise ValueError(f"sandwich: every chunk must hold the same {sum_log_w.shape[0]} examples, "
                             f"got a chunk of shape {chunk.shape}")
        else:
            sum_log_w = sum_log_w + chunk.sum(0)
            lse_w = np.logaddexp(lse_w, logsumexp(chunk, axis=0))
            lse_wn = np.logaddexp(lse_wn, logsumexp(n * chunk, axis=0))
        k += chunk.shape[0]
    if k < 2:
        raise ValueError(f"sandwich: needs k >= 2 samples in all, got k = {k}; the CUBO estimate with one "
                         "sample is log w, whose expectation is the ELBO")
    log_k = math.log(k)
    return {"elbo": sum_log_w / k, "iwae": lse_w - log_k, "cubo": (lse_wn - log_k) / n, "k": k}
