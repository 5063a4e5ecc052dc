"""Likelihoods p(x | z): the decoder's raw outputs ("heads") turned into a negative log-likelihood.

Each likelihood is a small class with the same four jobs:

    nll, tape = lik.forward(x, *heads)    # -log p(x | heads), summed over the D pixels
    dheads = lik.backward(dnll, tape)     # d sum(dnll * nll) / d head, for every head
    lik.mean(*heads), lik.sample(rng, *heads)

Shapes: x is (N, D); each head is (S, N, D) for S samples of z per example
(or (N, D) for one); nll has the head's shape without the last axis, (S, N)
or (N,). `dnll` is the weight c of each sample (1/(S*N) for the ELBO's batch mean, the
normalized importance weights / N for IWAE), so backward returns exactly what the
chain rule needs: dL/dhead = c[..., None] * ∂nll/∂head.

| name                     | class              | heads             | x            |
|--------------------------|--------------------|-------------------|--------------|
| "bernoulli"              | Bernoulli          | logits            | [0, 1]       |
| "gaussian"               | Gaussian(sigma)    | mean              | real         |
| "gaussian-learned"       | LearnedGaussian    | mean, logvar      | real         |
| "continuous-bernoulli"   | ContinuousBernoulli| logits            | [0, 1]       |

forward() hands back, in its tape, the arrays backward() needs, so every exp/log
is computed once per training step; in float32 no float64 temporary is made.
The likelihood object itself holds only its settings (sigma, min_logvar).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from .checks import check_array, check_unit_interval
from .stable import sigmoid, softplus

__all__ = ["Likelihood", "Bernoulli", "Gaussian", "LearnedGaussian", "ContinuousBernoulli",
           "make_likelihood", "LIKELIHOODS"]

LOG_2PI = math.log(2.0 * math.pi)


class LikelihoodTape(NamedTuple):
    """What a likelihood's backward needs: its per-distribution cache, nll's shape and dtype."""
    cache: tuple
    nll_shape: tuple
    dtype: np.dtype


def _dot_last(a, b):
    """Σ_d a[..., d] * b[..., d], broadcasting the leading axes, without an (S, N, D) temporary."""
    return np.einsum("...d,...d->...", a, b)


class Likelihood:
    """Base class: input checks and the forward/backward bookkeeping.

    A subclass sets `name`, `heads`, `unit_interval` and writes
    `_nll(x, *heads) -> (nll, cache)` and `_grads(c, cache) -> tuple of dheads`
    (c = dnll[..., None], the per-sample weights), plus `mean` and `sample`.
    """
    name: str = ""
    heads: tuple[str, ...] = ()
    unit_interval: bool = False     # x must lie in [0, 1]

    def __repr__(self):
        return f"{type(self).__name__}()"

    # ---- checks -------------------------------------------------------------
    def check_x(self, x, where: str = "Likelihood"):
        """Validate data x of shape (N, D): a float array, finite, and in [0, 1] if required. Returns x."""
        check_array(x, where, ndim=2)
        if x.dtype.kind != "f":
            raise ValueError(f"{where}: x must be a float array (float32 or float64), got dtype {x.dtype.name}")
        if self.unit_interval:
            check_unit_interval(x, where)
        return x

    def _check_heads(self, x, heads, where):
        if len(heads) != len(self.heads):
            raise ValueError(f"{where}: {self.name} takes {len(self.heads)} head(s) {self.heads}, got {len(heads)}")
        for hname, h in zip(self.heads, heads):
            check_array(h, where, ndim=(2, 3), finite=False, name=hname)
            if h.dtype.kind != "f":
                raise ValueError(f"{where}: {hname} must be a float array (float32 or float64), got dtype {h.dtype.name}")
            if h.shape[-2:] != x.shape:
                raise ValueError(f"{where}: {hname} has shape {h.shape} but x has shape {x.shape}; "
                                 f"{hname} must be (N, D) or (S, N, D) with (N, D) = {x.shape}")
            if h.shape != heads[0].shape:
                raise ValueError(f"{where}: heads must share one shape, got {self.heads[0]} {heads[0].shape} "
                                 f"and {hname} {h.shape}")
            if h.dtype != x.dtype:
                raise ValueError(f"{where}: {hname} has dtype {h.dtype.name} but x has {x.dtype.name}; "
                                 f"convert x with x.astype('{h.dtype.name}')")

    # ---- the public steps ---------------------------------------------------
    def forward(self, x, *heads, check: bool = True):
        """Negative log-likelihood -log p(x | heads) summed over the last axis (D).

        x : (N, D);  each head : (S, N, D) or (N, D), same dtype as x.
        Returns (nll of shape heads[0].shape[:-1], tape); the tape is what backward needs.
        check=False skips the O(N*D) value checks on x (for a caller that has
        already run check_x on this batch); shapes and dtypes are always checked.
        """
        where = f"{type(self).__name__}.forward"
        if check:
            self.check_x(x, where)
        else:
            check_array(x, where, ndim=2, finite=False)
        self._check_heads(x, heads, where)
        nll, cache = self._nll(x, *heads)
        return nll, LikelihoodTape(cache, nll.shape, nll.dtype)

    def backward(self, dnll, tape):
        """Gradient of sum(dnll * nll) with respect to each head of the forward that made ``tape``.

        dnll : array of nll's shape (S, N) or (N,), or a scalar; one weight per sample.
        Returns a tuple with one array per head, each of the head's shape and dtype.
        """
        where = f"{type(self).__name__}.backward"
        if not isinstance(tape, LikelihoodTape):
            raise TypeError(f"{where}: tape must be the tape forward returned "
                            f"(nll, tape = lik.forward(x, *heads)), got {type(tape).__name__}")
        dnll = np.asarray(dnll)
        if dnll.ndim != 0 and dnll.shape != tape.nll_shape:
            raise ValueError(f"{where}: dnll must have the shape of nll {tape.nll_shape} (or be a scalar), "
                             f"got {dnll.shape}")
        # a float64 weight must not up-cast a float32 step; the cast touches only S*N numbers
        c = dnll.astype(tape.dtype, copy=False)[..., None]
        return self._grads(c, tape.cache)

    def log_prob(self, x, *heads):
        """log p(x | heads) summed over D, shape heads[0].shape[:-1] (forward without the tape)."""
        where = f"{type(self).__name__}.log_prob"
        self.check_x(x, where)
        self._check_heads(x, heads, where)
        nll, _ = self._nll(x, *heads)
        return -nll

    # ---- per distribution ---------------------------------------------------
    def _nll(self, x, *heads):
        raise NotImplementedError

    def _grads(self, c, cache):
        raise NotImplementedError

    def mean(self, *heads):
        """E[x | heads], shape of the heads."""
        raise NotImplementedError

    def sample(self, rng, *heads):
        """One draw x ~ p(x | heads), shape and dtype of the heads."""
        raise NotImplementedError


def _check_rng(rng, where):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


# =============================================================================
class Bernoulli(Likelihood):
    """Pixel-wise Bernoulli with logits a:  p(x | a) = λ^x (1-λ)^(1-x),  λ = sigmoid(a).

    -log p(x | a) = softplus(a) - x·a          (for binary x; used as is for x in [0, 1])
    d/da          = sigmoid(a) - x

    Stable for any finite a: with e = exp(-|a|) in (0, 1],
        softplus(a) = max(a, 0) + log1p(e),
        sigmoid(a)  = 1/(1+e) if a >= 0 else e/(1+e),
    so e is the only exponential, computed once in forward and reused in backward.
    """
    name = "bernoulli"
    heads = ("logits",)
    unit_interval = True

    def _nll(self, x, a):
        # Plain version: nll = (softplus(a) - x * a).sum(-1)
        e = np.abs(a)
        np.negative(e, out=e)
        np.exp(e, out=e)                                  # e = exp(-|a|), kept for backward
        sp = np.log1p(e)
        # softplus(a) = log1p(e) + max(a, 0). The 0 is a row of zeros, not the scalar 0: NumPy's maximum
        # against a scalar runs an unvectorized loop (3x slower here); the row broadcasts and uses SIMD
        sp += np.maximum(a, np.zeros(a.shape[-1], a.dtype))
        nll = sp.sum(axis=-1) - _dot_last(a, x)
        return nll, (a, x, e)

    def _grads(self, c, cache):
        """d nll/da = sigmoid(a) - x, with sigmoid from the cached e = exp(-|a|):
        1/(1+e) for a >= 0 and e/(1+e) for a < 0 (both exact, no cancellation)."""
        a, x, e = cache
        # numerator np.where(a < 0, e, 1), written as max(e, [a >= 0]) since e <= 1
        # (np.where is ~10x slower on float32 with a mixed mask)
        da = np.maximum(e, a >= 0)
        da /= 1 + e                                       # sigmoid(a)
        da -= x
        da *= c
        return (da,)

    def mean(self, logits):
        """E[x] = λ = sigmoid(a)."""
        return sigmoid(logits)

    def sample(self, rng, logits):
        """x = 1[u < sigmoid(a)], u ~ U(0, 1); 0/1 values in the logits' dtype."""
        _check_rng(rng, "Bernoulli.sample")
        u = rng.random(logits.shape, dtype=logits.dtype)
        return (u < sigmoid(logits)).astype(logits.dtype)


# =============================================================================
class Gaussian(Likelihood):
    """Gaussian with a fixed standard deviation σ:  p(x | m) = N(x; m, σ² I).

    -log p(x | m) = ½ Σ_d ((x - m)²/σ² + log 2πσ²)
    d/dm          = (m - x)/σ²

    The MSE view: with σ fixed, the reconstruction term of the ELBO is the
    squared error Σ(x - m)² scaled by 1/(2σ²) plus a constant, so
    -ELBO = ||x - m||²/(2σ²) + KL + const. Multiplying through by 2σ²
    gives ||x - m||² + 2σ²·KL: β_eff = 2σ², so a small σ weights reconstruction
    over the KL (like β < 1), a large σ does the opposite.
    """
    name = "gaussian"
    heads = ("mean",)

    def __init__(self, sigma: float = 1.0):
        super().__init__()
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.floating, np.integer)) \
                or not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"Gaussian: sigma must be a finite number > 0, got {sigma!r}")
        self.sigma = float(sigma)

    def __repr__(self):
        return f"Gaussian(sigma={self.sigma!r})"

    def _nll(self, x, m):
        # Plain version: nll = 0.5 * (((x - m) / sigma)**2 + log(2 pi sigma^2)).sum(-1)
        r = np.subtract(m, x)                             # residual m - x, kept for backward
        D = x.shape[-1]
        nll = _dot_last(r, r)
        nll *= 0.5 / self.sigma ** 2
        nll += 0.5 * D * (LOG_2PI + 2.0 * math.log(self.sigma))
        return nll, (r,)

    def _grads(self, c, cache):
        """d nll/dm = (m - x)/σ²."""
        (r,) = cache
        dm = np.multiply(r, c)
        dm *= 1.0 / self.sigma ** 2
        return (dm,)

    def mean(self, mean):
        """E[x] = m."""
        return mean

    def sample(self, rng, mean):
        """x = m + σ ε, ε ~ N(0, I)."""
        _check_rng(rng, "Gaussian.sample")
        eps = rng.standard_normal(mean.shape, dtype=mean.dtype)
        eps *= self.sigma
        eps += mean
        return eps


# =============================================================================
class LearnedGaussian(Likelihood):
    """Gaussian with a learned per-pixel log-variance:  p(x | m, s) = N(x; m, e^s).

    -log p = ½ Σ_d ((x - m)² e^(-s) + s + log 2π)
    d/dm   = (m - x) e^(-s)
    d/ds   = ½ (1 - (x - m)² e^(-s))

    min_logvar (optional) floors the variance smoothly: the decoder's raw head
    r becomes s = min_logvar + softplus(r - min_logvar) ≥ min_logvar, and
    d/dr = d/ds · sigmoid(r - min_logvar). Without a floor, pixels that are
    constant in the data (MNIST's borders) drive s → -inf and the nll → -inf;
    a smooth floor (not a clip) keeps the gradient alive below it.
    """
    name = "gaussian-learned"
    heads = ("mean", "logvar")

    def __init__(self, min_logvar: float | None = None):
        super().__init__()
        if min_logvar is not None and (isinstance(min_logvar, bool) or not isinstance(min_logvar, (int, float, np.floating, np.integer))
                                       or not math.isfinite(min_logvar)):
            raise ValueError(f"LearnedGaussian: min_logvar must be None or a finite number, got {min_logvar!r}")
        self.min_logvar = None if min_logvar is None else float(min_logvar)

    def __repr__(self):
        return f"LearnedGaussian(min_logvar={self.min_logvar!r})"

    def _floored(self, logvar):
        """s = min_logvar + softplus(logvar - min_logvar) and ds/dlogvar (or logvar itself and None)."""
        if self.min_logvar is None:
            return logvar, None
        u = logvar - self.min_logvar
        s = softplus(u)
        s += self.min_logvar
        return s, sigmoid(u, out=u)                       # ds/dlogvar = sigmoid(logvar - min_logvar)

    def _nll(self, x, m, logvar):
        # Plain version: nll = 0.5 * ((x - m)**2 * exp(-s) + s + log(2 pi)).sum(-1)
        s, ds_dlogvar = self._floored(logvar)
        r = np.subtract(m, x)                             # m - x
        rw = np.negative(s)
        np.exp(rw, out=rw)                                # e^(-s), the precision
        rw *= r                                           # (m - x) e^(-s), kept for backward
        nll = _dot_last(r, rw)                            # Σ (x - m)² e^(-s)
        nll += s.sum(axis=-1)
        nll += x.shape[-1] * LOG_2PI
        nll *= 0.5
        return nll, (r, rw, ds_dlogvar)

    def _grads(self, c, cache):
        """dm = (m - x) e^(-s);  ds = ½ (1 - (m - x) · (m - x) e^(-s));  dlogvar = ds · ds/dlogvar."""
        r, rw, ds_dlogvar = cache
        dm = np.multiply(rw, c)
        ds = np.multiply(r, rw)
        np.subtract(1, ds, out=ds)
        ds *= 0.5 * c
        if ds_dlogvar is not None:
            ds *= ds_dlogvar
        return dm, ds

    def mean(self, mean, logvar):
        """E[x] = m."""
        return mean

    def sample(self, rng, mean, logvar):
        """x = m + e^(s/2) ε, ε ~ N(0, I) (s floored as in forward)."""
        _check_rng(rng, "LearnedGaussian.sample")
        s, _ = self._floored(logvar)
        std = np.multiply(s, 0.5)
        np.exp(std, out=std)
        x = rng.standard_normal(mean.shape, dtype=mean.dtype)
        x *= std
        x += mean
        return x


# =============================================================================
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
        nll = g.sum(axis=-1) - _dot_last(a, x)
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
        _check_rng(rng, "ContinuousBernoulli.sample")
        u = rng.random(logits.shape, dtype=logits.dtype)
        nt = -np.abs(logits)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.log1p(u * np.expm1(nt)) / nt
        x = np.where(nt == 0, u, x)
        x = np.where(logits > 0, 1 - x, x)
        return np.clip(x, 0, 1, out=x)


# =============================================================================
LIKELIHOODS = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "gaussian-learned": LearnedGaussian,
    "continuous-bernoulli": ContinuousBernoulli,
}


def make_likelihood(name, **kw) -> Likelihood:
    """A likelihood by name: "bernoulli", "gaussian" (fixed sigma, kw sigma=1.0),
    "gaussian-learned" (kw min_logvar=None) or "continuous-bernoulli".

    Case and "_" vs "-" are ignored. A Likelihood instance is returned as is
    (then kw must be empty). Unknown names raise ValueError listing the valid ones.
    """
    if isinstance(name, Likelihood):
        if kw:
            raise ValueError(f"make_likelihood: got a {type(name).__name__} instance and options {sorted(kw)}; "
                             "pass options to its constructor instead")
        return name
    if not isinstance(name, str):
        raise ValueError(f"make_likelihood: name must be a string or a Likelihood, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {', '.join(repr(k) for k in LIKELIHOODS)}")
    try:
        return LIKELIHOODS[key](**kw)
    except TypeError as err:
        raise ValueError(f"make_likelihood({name!r}): bad options {sorted(kw)}: {err}") from err
