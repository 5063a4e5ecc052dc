"""The continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham, 2019), with the series for log C and E[x] near a = 0."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..checks import check_rng
from .base import Likelihood, dot_last

__all__ = ["ContinuousBernoulli"]

# Continuous Bernoulli: series for small |a|.
#
# With t = |a| and Z(a) = ∫_0^1 e^(a x) dx = (e^a - 1)/a the normalizer,
#     log Z(a) = max(a, 0) + g(t),     g(t) = log((1 - e^(-t))/t),
#     E[x]     = d log Z/da = 1/(1 - e^(-a)) - 1/a
#              = 1/(1 - e^(-t)) - 1/t        for a ≥ 0,
#              = 1/t - e^(-t)/(1 - e^(-t))   for a < 0 (each form free of cancellation for t ≥ 1).
# The direct forms cancel catastrophically as t → 0 (0/0 at t = 0). From the
# Bernoulli-number series t/(e^t - 1) = Σ B_n t^n/n! and
# log(sinh(u)/u) = Σ_{k≥1} 2^(2k) B_2k u^(2k) / (2k (2k)!):
#     g(t)  = -t/2 + Σ_{k≥1} B_2k t^(2k) / (2k (2k)!)   = -t/2 + t²/24 - t⁴/2880 + t⁶/181440 - …
#     E[x]  =  1/2 + Σ_{k≥1} B_2k a^(2k-1) / (2k)!      =  1/2 + a/12 - a³/720 + a⁵/30240 - …
# (the mean's series is in the signed a: E[x | -a] = 1 - E[x | a]).
# Both converge for t < 2π; each term is about (t/2π)² times the previous one.
# Below _CB_SWITCH = 1 we use the series with enough terms that the first one
# left out is below the dtype's rounding error at t = 1 (float64: 12, float32: 6).
# Above it, 1 - e^(-t) ≥ 0.63 is computed without cancellation. Measured against
# np.longdouble: ≤ 2.5 ulp on both sides of the switch.
_CB_SWITCH = 1.0
_CB_TERMS = {np.dtype(np.float64): 12, np.dtype(np.float32): 6}
# Bernoulli numbers B_2, B_4, …, B_24, exact (scipy.special.bernoulli's B_4 is
# off by 2e-12 relative, which would show in float64).
_B2K = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
        Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798),
        Fraction(-174611, 330), Fraction(854513, 138), Fraction(-236364091, 2730)]
# Python floats, so that float32 arrays stay float32 when multiplied by them
_G_COEF = [float(b / (2 * k * math.factorial(2 * k))) for k, b in enumerate(_B2K, 1)]   # t^(2k)
_MU_COEF = [float(b / math.factorial(2 * k)) for k, b in enumerate(_B2K, 1)]            # t^(2k-1)


def _horner(coefs, t2):
    """Σ_j coefs[j] · t2^j by Horner's rule."""
    acc = np.full_like(t2, coefs[-1])
    for c in coefs[-2::-1]:
        acc *= t2
        acc += c
    return acc


def _cb_g_series(t):
    """g(t) = log((1 - e^(-t))/t) for small t ≥ 0 (see the series above)."""
    t2 = t * t
    g = _horner(_G_COEF[:_CB_TERMS[t.dtype]], t2)
    g *= t2
    g -= 0.5 * t
    return g


def _cb_mean_series(a):
    """E[x | a] = 1/(1 - e^(-a)) - 1/a for small |a| (see the series above)."""
    mu = _horner(_MU_COEF[:_CB_TERMS[a.dtype]], a * a)
    mu *= a
    mu += 0.5
    return mu


def _cb_parts(a):
    """The shared pieces of the continuous Bernoulli at logits a (any shape):
    the mask of |a| < _CB_SWITCH where the series replace the direct forms,
    t = |a| and e = e^(-t), the one exponential."""
    t = np.abs(a)
    small = t < _CB_SWITCH
    e = np.negative(t)
    np.exp(e, out=e)
    return small, t, e


def _cb_mean(a, small, t, e):
    """E[x | a]: 1/(1-e) - 1/t for a ≥ 0, 1/t - e/(1-e) for a < 0, the series where |a| < 1.

    Plain version: np.where(a >= 0, 1/(1-e) - 1/t, 1/t - e/(1-e)). Below, both
    branches are computed as one, numerator/(1-e) - 1/t, which is E[x] for a ≥ 0
    and -E[x] for a < 0; since E[x] > 0, the sign flip is an abs.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 at a = 0, replaced by the series
        mu = np.maximum(e, a >= 0)                        # numerator: e where a < 0, else 1 (e <= 1)
        mu /= 1 - e
        mu -= np.reciprocal(t)
        np.abs(mu, out=mu)
    if small.any():
        mu[small] = _cb_mean_series(a[small])
    return mu


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli on [0, 1] with logits a (Loaiza-Ganem & Cunningham, 2019).

    p(x | λ) = C(λ) λ^x (1-λ)^(1-x),  λ = sigmoid(a), so
    log p(x | a) = x·a - softplus(a) + log C(a),  C(a) = a / tanh(a/2)  (C(0) = 2).

    Written with the normalizer Z(a) = ∫_0^1 e^(a x) dx = (e^a - 1)/a of the
    density e^(a x)/Z(a) (softplus(a) - log C(a) = log Z(a)):
        -log p(x | a) = log Z(a) - x·a,   log Z(a) = max(a, 0) + log((1 - e^(-|a|))/|a|)
        d/da          = E[x | a] - x,     E[x | a] = 1/(1 - e^(-a)) - 1/a
    (the same as sigmoid(a) - x - (1/a - 1/sinh(a)) from d log C/da = 1/a - 1/sinh(a)).
    For |a| < 1 both use the Bernoulli-number series above (the density tends
    to uniform, log Z → a/2, E[x] → 1/2 at a = 0); for large |a| the forms
    above are already stable (e^(-|a|) underflows to 0 harmlessly).
    """
    name = "continuous-bernoulli"
    heads = ("logits",)
    unit_interval = True

    def _nll(self, x, a):
        # Plain version (for a ≠ 0): nll = (log((exp(a) - 1) / a) - x * a).sum(-1)
        small, t, e = _cb_parts(a)
        g = np.subtract(1, e)
        with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 at a = 0, replaced by the series
            g /= t
            np.log(g, out=g)                              # g = log((1 - e^(-|a|))/|a|)
        if small.any():
            g[small] = _cb_g_series(t[small])
        g += np.maximum(a, 0)                             # log Z(a) = max(a, 0) + g
        nll = g.sum(axis=-1) - dot_last(a, x)
        return nll, (a, x, small, t, e)

    def _grads(self, c, cache):
        """d nll/da = E[x | a] - x."""
        a, x, small, t, e = cache
        da = _cb_mean(a, small, t, e)
        da -= x
        da *= c
        return (da,)

    def mean(self, logits):
        """E[x | a] = 1/(1 - e^(-a)) - 1/a  (= λ/(2λ-1) + 1/(2 artanh(1-2λ)); 1/2 at a = 0)."""
        return _cb_mean(logits, *_cb_parts(logits))

    def sample(self, rng, logits):
        """Inverse CDF. F(x) = (e^(a x) - 1)/(e^a - 1), so for u ~ U(0, 1)
        x = log1p(u·expm1(a))/a (x = u at a = 0). Computed for -|a| (where
        expm1 cannot overflow) and mirrored, x ↦ 1 - x, where a > 0."""
        check_rng(rng, "ContinuousBernoulli.sample")
        u = rng.random(logits.shape, dtype=logits.dtype)
        nt = -np.abs(logits)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log1p(u * np.expm1(nt)) / nt
        x = np.where(nt == 0, u, x)
        x = np.where(logits > 0, 1 - x, x)
        return np.clip(x, 0, 1, out=x)
