"""The Gumbel-softmax relaxation as plain functions: Gumbel noise, the tempered softmax and its backward, the Concrete density.

The tutorial (11) uses them one at a time; :class:`numpyvae.latent.gumbel.family.GumbelSoftmax` chains them.
"""
from __future__ import annotations

import math

import numpy as np


def check_tau(tau, where: str) -> float:
    """Return τ as a float, or raise: the temperature must be a finite number > 0."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: tau must be a number > 0, got {type(tau).__name__}")
    tau = float(tau)
    if not (math.isfinite(tau) and tau > 0.0):
        raise ValueError(f"{where}: tau must be a finite number > 0 (the softmax temperature), got {tau!r}")
    return tau


def gumbel_noise(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard Gumbel noise from uniforms: returns (g, e) with e = −log u and g = −log e.

    e ~ Exp(1), and g = −log(−log u) is a standard Gumbel variable.

    u is clipped to [tiny, 1 − eps] of its dtype first. Why: u = 0 gives e = inf and
    g = −inf, u = 1 gives e = 0 and g = +inf, and either turns the softmax below into
    inf − inf = NaN. After clipping, e and g are finite (float32: g ∈ [−4.5, 15.9];
    float64: g ∈ [−6.6, 36.0]). The clipped set has probability about tiny + eps per
    draw, so the distribution barely changes; U(0, 1) generators return 0 (never 1)
    with about that probability, and a user may pass the endpoints explicitly.
    Shapes: u, g, e all (..., C), dtype of u.
    """
    info = np.finfo(u.dtype)
    e = np.clip(u, info.tiny, 1.0 - info.eps)
    np.log(e, out=e)
    np.negative(e, out=e)          # e = −log u > 0
    g = np.log(e)
    np.negative(g, out=g)          # g = −log e
    return g, e


def gumbel_softmax(a: np.ndarray, g: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """y = softmax((a + g) / τ) over the last axis; returns (y, log_y).

    a (N, M, C) logits, g (S, N, M, C) Gumbel noise -> y, log_y (S, N, M, C).

    Stable form: subtract the largest a + g *before* dividing by τ, so every
    exponent is ≤ 0 for any τ > 0: a tiny τ sends the others to −inf (exp = 0),
    never to inf − inf. log_y = s − log Σ_c e^{s_c} is the log-softmax, finite even
    where y itself underflows to 0 (the Concrete log-density needs it).
    """
    s = a + g                                   # (S, N, M, C), broadcast over samples
    s -= s.max(axis=-1, keepdims=True)
    s /= tau                                    # every entry ≤ 0, the largest exactly 0
    y = np.exp(s)
    total = y.sum(axis=-1, keepdims=True)        # in [1, C]: the largest term is e^0 = 1
    y /= total
    s -= np.log(total)                           # log_y, without a second pass of exp or log
    return y, s


def gumbel_softmax_backward(dy: np.ndarray, y: np.ndarray, tau: float) -> np.ndarray:
    """Gradient through y = softmax((a + g)/τ) with respect to a, per sample: (S, N, M, C).

    The softmax Jacobian with the temperature is
        ∂y_i/∂a_j = y_i (δ_ij − y_j) / τ,
    so for an upstream gradient dy (a row vector, per variable)
        da_j = Σ_i dy_i ∂y_i/∂a_j = y_j (dy_j − Σ_i y_i dy_i) / τ,
    one weighted mean per variable instead of a (C, C) matrix. The caller sums
    over the sample axis (every sample was computed from the same logits).
    """
    da = dy - np.einsum("...c,...c->...", dy, y)[..., None]   # dy_j − Σ_i y_i dy_i
    da *= y
    da /= tau
    return da


def concrete_log_density(log_y: np.ndarray, g: np.ndarray, e: np.ndarray, tau: float) -> np.ndarray:
    """log p(y) of a Concrete sample, summed over the variables: (S, N, M, C) -> (S, N).

    Maddison et al. (2017), for location logits a and temperature τ:
        log p(y) = log((C−1)! τ^(C−1)) + Σ_c (a_c − (τ+1) log y_c) − C log Σ_c e^{a_c − τ log y_c}.
    At y = softmax((a + g)/τ) we have a_c − τ log y_c = −g_c + τ·lse with
    lse = log Σ_c e^{(a_c+g_c)/τ}, and the a's cancel:
        log p(y) = log (C−1)! + (C−1) log τ − Σ_c log y_c − Σ_c g_c − C log Σ_c e_c,
    with e = −log u = e^{−g} (so log Σ_c e^{−g_c} = log Σ_c e_c). Every term is finite
    for clipped u (the log-softmax log y is computed directly, never log of an
    underflowed y), so there is no cancellation between huge terms even for
    logits ±1e4 and small τ. Shapes: log_y, g, e (S, N, M, C).
    """
    C = log_y.shape[-1]
    per_var = g.sum(axis=-1)
    np.negative(per_var, out=per_var)
    per_var -= C * np.log(e.sum(axis=-1))
    per_var -= log_y.sum(axis=-1)
    per_var += math.lgamma(C) + (C - 1) * math.log(tau)
    return per_var.sum(axis=-1)
