"""Gumbel-softmax (Concrete) family: M categorical latent variables with C classes each.

A categorical sample c ~ Cat(softmax(a)) is a jump from one class to another, so it
has no derivative with respect to the logits a. Two facts give a reparameterization
(Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017):

* Gumbel-max: with u_c ~ U(0, 1) and g_c = −log(−log u_c) (standard Gumbel noise),
  argmax_c (a_c + g_c) is distributed exactly as Cat(softmax(a)).
* Relaxation: replace the argmax by a softmax at temperature τ,

      y = softmax((a + g) / τ),

  a point of the simplex that is a smooth function of a for fixed noise u, and tends
  to the one-hot argmax as τ → 0. Low τ: close to one-hot, large-variance gradients;
  high τ: smooth, biased towards the centre of the simplex.

The noise u is the explicit input (the engine contract): ``draw_noise`` draws it,
``rsample`` turns (logits, u) into z. Shapes, for N examples and S samples each:

    logits (N, M·C)      the encoder's single head, M blocks of C
    u      (S, N, M, C)  uniform noise
    y      (S, N, M, C)  one point of the simplex per variable
    z      (S, N, M·C)   y flattened: what the decoder reads, M·C numbers wide
    log_q  (S, N)        the Concrete log-density of y (summed over the M variables)

The relaxed ELBO that Jang et al. train uses the closed-form KL of the *unrelaxed*
categorical q(c|x) to the uniform prior (:class:`CategoricalUniformKL`); ``log_q`` is
there for Monte Carlo use with a relaxed (Concrete) prior.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int
from ..stable import log_softmax, softmax

__all__ = ["GumbelSoftmax", "CategoricalUniformKL", "UniformCategorical", "TemperatureSchedule",
           "analytic_kl_pair", "gumbel_noise", "gumbel_softmax", "gumbel_softmax_backward",
           "concrete_log_density", "one_hot_codes", "sweep_codes"]


# =============================================================================
# the pieces, as plain functions (the tutorial uses these one at a time)
# =============================================================================

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


def one_hot_codes(codes, n_classes: int, dtype="float32") -> np.ndarray:
    """Integer codes (n, M), each in 0..C−1 -> one-hot z (n, M·C): a chosen point to decode.

    Used to decode from a chosen code, e.g. sweep one variable across its C values
    while the others stay fixed (``np.repeat`` a base code, then set column m to 0..C−1).
    """
    C = check_positive_int(n_classes, "one_hot_codes", "n_classes")
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype.kind not in "iu":
        raise ValueError(f"one_hot_codes: codes must be an integer array (n, M), got dtype {codes.dtype.name} "
                         f"shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= C):
        raise ValueError(f"one_hot_codes: codes must lie in 0..{C - 1} (n_classes={C}), got values in "
                         f"[{codes.min()}, {codes.max()}]")
    n, M = codes.shape
    z = np.zeros((n, M, C), dtype=as_dtype(dtype))
    np.put_along_axis(z, codes[..., None], 1.0, axis=-1)
    return z.reshape(n, M * C)


def sweep_codes(code, m: int, n_classes: int) -> np.ndarray:
    """C codes (C, M) equal to ``code`` (M,) except variable m, which runs through 0..C−1.

    ``one_hot_codes(sweep_codes(code, m, C), C)`` is the decoder input for a picture of
    one categorical variable swept across its values while the others stay fixed.
    """
    C = check_positive_int(n_classes, "sweep_codes", "n_classes")
    code = np.asarray(code)
    if code.ndim != 1 or code.dtype.kind not in "iu":
        raise ValueError(f"sweep_codes: code must be an integer array (M,), got dtype {code.dtype.name} "
                         f"shape {code.shape}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 0 <= m < code.size:
        raise ValueError(f"sweep_codes: m must be a variable index in 0..{code.size - 1}, got {m!r}")
    codes = np.repeat(code[None], C, axis=0)
    codes[:, m] = np.arange(C)
    return codes


# =============================================================================
# the family
# =============================================================================

class GumbelSoftmax:
    """q(z|x): M independent categorical variables with C classes, relaxed (Gumbel-softmax).

    Parameters
    ----------
    n_vars : int       M, the number of categorical variables (Jang et al.'s MNIST model: 20)
    n_classes : int    C, the classes of each (their model: 10); C ≥ 2
    tau : float        softmax temperature τ > 0; change it during training (``family.tau = ...``,
                       e.g. from :class:`TemperatureSchedule`). Each forward records the τ it used.
    hard : bool        straight-through: z is the one-hot argmax in the forward pass, and the
                       backward pass uses the gradient of the relaxed y as if z were y. This is a
                       BIASED estimator of the gradient (the one-hot forward and the relaxed
                       backward are different functions); it lets the decoder see true
                       one-hot codes during training.

    Interface (the engine contract)::

        family.heads                     {"logits": M·C}
        u = family.draw_noise(rng, S, N, dtype)              (S, N, M, C), U(0, 1)
        z, log_q, tape = family.rsample([logits], u)         z (S, N, M·C), log_q (S, N)
        [dlogits] = family.backward(dz, dlog_q, tape)        dz (S, N, M·C) or None, dlog_q (S, N) or None
        family.mean([logits]) -> (N, M·C)                    softmax probabilities, E[one-hot c]

    log_q is the Concrete log-density of the relaxed y (:func:`concrete_log_density`),
    also with hard=True (the density of the relaxed sample behind the one-hot z). For
    the relaxed ELBO of Jang et al. use the analytic KL :class:`CategoricalUniformKL`.
    """

    name = "gumbel"     # the model's registry names the instance "gumbel:C" or "gumbel-st:C"

    def __init__(self, n_vars: int, n_classes: int, tau: float = 1.0, hard: bool = False):
        self.n_vars = check_positive_int(n_vars, "GumbelSoftmax", "n_vars")
        self.n_classes = check_positive_int(n_classes, "GumbelSoftmax", "n_classes")
        if self.n_classes < 2:
            raise ValueError(f"GumbelSoftmax: n_classes must be >= 2 (a 1-class variable carries nothing), "
                             f"got {n_classes}")
        if not isinstance(hard, (bool, np.bool_)):
            raise TypeError(f"GumbelSoftmax: hard must be True or False, got {hard!r}")
        self.hard = bool(hard)
        self.tau = tau
        self.params: OrderedDict = OrderedDict()     # no learned global parameters
        self.grads: OrderedDict = OrderedDict()

    @property
    def tau(self) -> float:
        """The temperature the next rsample uses."""
        return self._tau

    @tau.setter
    def tau(self, value) -> None:
        self._tau = check_tau(value, "GumbelSoftmax")

    @property
    def heads(self) -> dict:
        """What the encoder must output per example: {"logits": M·C}."""
        return {"logits": self.n_vars * self.n_classes}

    @property
    def z_dim(self) -> int:
        """Width of z, the decoder's input: M·C."""
        return self.n_vars * self.n_classes

    def __repr__(self) -> str:
        return (f"GumbelSoftmax(n_vars={self.n_vars}, n_classes={self.n_classes}, tau={self.tau:g}, "
                f"hard={self.hard})")

    # -- noise ----------------------------------------------------------------
    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype="float32") -> np.ndarray:
        """u ~ U(0, 1) of shape (S, N, M, C) in ``dtype``, from ``rng``."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"GumbelSoftmax.draw_noise: rng must be a numpy Generator "
                            f"(np.random.default_rng(seed)), got {type(rng).__name__}")
        S = check_positive_int(n_samples, "GumbelSoftmax.draw_noise", "n_samples")
        N = check_positive_int(n, "GumbelSoftmax.draw_noise", "n")
        return rng.random((S, N, self.n_vars, self.n_classes), dtype=as_dtype(dtype))

    # -- forward --------------------------------------------------------------
    def _logits(self, params, where: str) -> np.ndarray:
        if not isinstance(params, (list, tuple)) or len(params) != 1:
            got = f"a list of {len(params)}" if isinstance(params, (list, tuple)) else type(params).__name__
            raise ValueError(f"{where}: params must be a list with one array [logits], got {got}")
        logits = check_array(params[0], where, ndim=2, last=self.z_dim, name="logits")
        if logits.dtype not in (np.float32, np.float64):
            raise ValueError(f"{where}: logits must be float32 (training) or float64 (gradient checks), "
                             f"got {logits.dtype.name}")
        return logits

    def rsample(self, params, u: np.ndarray):
        """z, log_q, tape from params = [logits (N, M·C)] and noise u (S, N, M, C).

        z = softmax((logits + g)/τ) flattened to (S, N, M·C), with g = −log(−log u);
        with hard=True z is instead the one-hot argmax of the same y.
        log_q (S, N) is the Concrete log-density of the relaxed y.
        """
        where = "GumbelSoftmax.rsample"
        logits = self._logits(params, where)
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        check_array(u, where, ndim=4, dtype=logits.dtype, name="u")
        if u.shape[1:] != (N, M, C):
            raise ValueError(f"{where}: u must have shape (S, {N}, {M}, {C}) for {N} examples of "
                             f"{M} variables x {C} classes, got {u.shape}")
        if u.size and (u.min() < 0.0 or u.max() > 1.0):
            raise ValueError(f"{where}: u must be uniform noise in [0, 1], got values in "
                             f"[{u.min():.4g}, {u.max():.4g}]")
        tau = self.tau
        eps = float(np.finfo(logits.dtype).eps)
        if tau < eps:
            # below machine epsilon y is the one-hot to working precision and its gradient
            # scales as 1/τ, which overflows float32 for tiny τ: refuse rather than return inf
            raise ValueError(f"{where}: tau={tau:g} is below the machine epsilon of {logits.dtype.name} "
                             f"({eps:.3g}); use tau >= {eps:.3g} or hard=True")
        S = u.shape[0]
        g, e = gumbel_noise(u)
        y, log_y = gumbel_softmax(logits.reshape(N, M, C), g, tau)
        log_q = concrete_log_density(log_y, g, e, tau)
        if self.hard:
            z = np.zeros_like(y)
            np.put_along_axis(z, y.argmax(axis=-1)[..., None], 1.0, axis=-1)   # argmax y = argmax (a + g)
        else:
            z = y
        tape = {"y": y, "tau": tau, "shape": (S, N, M, C)}
        return z.reshape(S, N, M * C), log_q, tape

    # -- backward -------------------------------------------------------------
    def backward(self, dz, dlog_q, tape) -> list:
        """[dlogits (N, M·C)]: the path through z plus the path through log_q, noise held fixed.

        Through z (also for hard=True, the straight-through rule dy := dz):
            da_j = y_j (dz_j − Σ_i y_i dz_i) / τ            (gumbel_softmax_backward)
        Through log_q = … − Σ_c log y_c + (terms of u only), with
        ∂ log y_c/∂a_j = (δ_cj − y_j)/τ:
            ∂ log_q/∂a_j = −Σ_c (δ_cj − y_j)/τ = (C y_j − 1)/τ
        (summing to 0 over j: shifting all logits changes nothing). Both are summed
        over the S samples, which share the logits.
        """
        where = "GumbelSoftmax.backward"
        y, tau = tape["y"], tape["tau"]
        S, N, M, C = tape["shape"]
        da = np.zeros_like(y)
        if dz is not None:
            check_array(dz, where, ndim=3, dtype=y.dtype, finite=False, name="dz")
            if dz.shape != (S, N, M * C):
                raise ValueError(f"{where}: dz must have z's shape {(S, N, M * C)}, got {dz.shape}")
            da += gumbel_softmax_backward(dz.reshape(S, N, M, C), y, tau)
        if dlog_q is not None:
            check_array(dlog_q, where, ndim=2, dtype=y.dtype, finite=False, name="dlog_q")
            if dlog_q.shape != (S, N):
                raise ValueError(f"{where}: dlog_q must have log_q's shape {(S, N)}, got {dlog_q.shape}")
            # dlog_q · (C y − 1)/τ = y · (C dlog_q/τ) − dlog_q/τ, with one (S, N, M, C) temporary
            w = dlog_q[..., None, None] / tau
            da += y * (C * w)
            da -= w
        return [da.sum(axis=0).reshape(N, M * C)]

    # -- the unrelaxed categorical, for importance sampling ----------------------
    def discrete_sample(self, params, u: np.ndarray):
        """Exact draws of the categorical q(c|x) itself from the same noise u (S, N, M, C), and their log-probability.

        Gumbel-max: c_m = argmax_j (a_mj + g_mj), g = −log(−log u), is distributed as Cat(softmax(a_m))
        (the relaxation's τ → 0 limit). Returns one-hot codes (S, N, M·C) and
        log q(c|x) = Σ_m log softmax(a_m)[c_m], (S, N): an importance-sampling proposal with a
        probability mass, where the relaxed z has none under the discrete prior.
        """
        where = "GumbelSoftmax.discrete_sample"
        logits = self._logits(params, where)
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        check_array(u, where, ndim=4, dtype=logits.dtype, name="u")
        if u.shape[1:] != (N, M, C):
            raise ValueError(f"{where}: u must have shape (S, {N}, {M}, {C}), got {u.shape}")
        a = logits.reshape(N, M, C)
        g, _ = gumbel_noise(u)
        codes = (a + g).argmax(axis=-1)                                 # (S, N, M)
        log_q = np.take_along_axis(log_softmax(a)[None], codes[..., None], axis=-1)[..., 0].sum(axis=-1)
        z = np.zeros(u.shape, dtype=logits.dtype)
        np.put_along_axis(z, codes[..., None], 1.0, axis=-1)
        return z.reshape(u.shape[0], N, M * C), log_q

    # -- summaries ------------------------------------------------------------
    def mean(self, params) -> np.ndarray:
        """softmax(logits) per variable, (N, M·C): the mean of the one-hot categorical c ~ q(c|x)."""
        logits = self._logits(params, "GumbelSoftmax.mean")
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        return softmax(logits.reshape(N, M, C)).reshape(N, M * C)

    def mode(self, params) -> np.ndarray:
        """The most probable code as one-hot z (N, M·C): argmax of the logits per variable."""
        logits = self._logits(params, "GumbelSoftmax.mode")
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        return one_hot_codes(logits.reshape(N, M, C).argmax(axis=-1), C, logits.dtype)


# =============================================================================
# the analytic KL of the unrelaxed categorical to the uniform prior
# =============================================================================

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


class UniformCategorical:
    """The prior p(c) = Π_m 1/C over M categorical variables, as one-hot codes z (n, M·C).

    ``sample`` draws codes to decode (generation from the prior). ``log_prob`` refuses:
    the relaxed z of :class:`GumbelSoftmax` is a point of the simplex, which has no
    density under this discrete prior, so the Monte Carlo KL log q − log p is not
    defined for the pair; use the analytic :class:`CategoricalUniformKL`.
    """

    name = "categorical"
    encoded = None

    def __init__(self, n_vars: int, n_classes: int):
        self.n_vars = check_positive_int(n_vars, "UniformCategorical", "n_vars")
        self.n_classes = check_positive_int(n_classes, "UniformCategorical", "n_classes")
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def components(self):
        """None: not a mixture of Gaussians."""
        return None

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n one-hot codes (n, M·C), each variable's class uniform on 0..C−1."""
        n = check_positive_int(n, "UniformCategorical.sample", "n")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"UniformCategorical.sample: rng must be a numpy Generator, got {type(rng).__name__}")
        codes = rng.integers(self.n_classes, size=(n, self.n_vars))
        return one_hot_codes(codes, self.n_classes, dtype)

    def log_pmf(self, codes: np.ndarray) -> np.ndarray:
        """log p(c) = −M log C of one-hot codes (..., M·C) -> (...); refuses anything that is not one-hot."""
        where = "UniformCategorical.log_pmf"
        check_array(codes, where, last=self.n_vars * self.n_classes, name="codes")
        c = codes.reshape(*codes.shape[:-1], self.n_vars, self.n_classes)
        if not (np.isin(c, (0.0, 1.0)).all() and (c.sum(axis=-1) == 1).all()):
            raise ValueError(f"{where}: codes must be one-hot per variable (exact categorical draws), not relaxed z")
        return np.full(codes.shape[:-1], -self.n_vars * np.log(self.n_classes), dtype=codes.dtype)

    def log_prob(self, z):
        raise ValueError("UniformCategorical.log_prob: a relaxed Gumbel-softmax z has no density under the "
                         "discrete uniform prior; use the analytic KL (CategoricalUniformKL) instead of the "
                         "Monte Carlo one")

    def backward(self, dlog_p, tape):
        raise ValueError("UniformCategorical.backward: there is no log_prob to differentiate; "
                         "use the analytic KL (CategoricalUniformKL)")


# =============================================================================
# temperature annealing
# =============================================================================

class TemperatureSchedule:
    """τ_t = max(τ_min, τ_0 · exp(−r · t)), with t the global step rounded down to a multiple of ``every``.

    Jang et al. (2017) anneal the temperature this way: τ starts at 1 and is lowered
    in steps, updated every 500 or 1,000 training steps, with τ_min = 0.5 and
    r ∈ {1e-5, 1e-4}. High τ early gives smooth, low-variance gradients while the
    networks find their footing; low τ later makes the relaxed samples nearly
    one-hot, closer to the discrete model being fit.

    Usage::

        schedule = TemperatureSchedule(tau_min=0.5, rate=1e-4, every=1000)
        family.tau = schedule(step)         # before each step (or each `every` steps)
    """

    def __init__(self, tau_min: float = 0.5, rate: float = 1e-4, every: int = 1000, tau0: float = 1.0):
        self.tau_min = check_tau(tau_min, "TemperatureSchedule (tau_min)")
        self.tau0 = check_tau(tau0, "TemperatureSchedule (tau0, the starting temperature)")
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(float(rate)) and rate >= 0):
            raise ValueError(f"TemperatureSchedule: rate must be a finite number >= 0, got {rate!r}")
        self.rate = float(rate)
        self.every = check_positive_int(every, "TemperatureSchedule", "every")

    def __call__(self, step: int) -> float:
        """τ at global step ``step`` (an integer >= 0)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"TemperatureSchedule: step must be an integer >= 0, got {step!r}")
        t = (int(step) // self.every) * self.every       # held constant between updates
        return max(self.tau_min, self.tau0 * math.exp(-self.rate * t))

    def __repr__(self) -> str:
        return (f"TemperatureSchedule(tau_min={self.tau_min:g}, rate={self.rate:g}, every={self.every}, "
                f"tau0={self.tau0:g})")
