"""Priors p(z): the standard normal, a learned Gaussian mixture, and the VampPrior's mixture.

Every prior follows one contract, written out here (README.md, "Architecture", lists the pieces):

    log_p, tape = prior.log_prob(z)      # z (S, N, K) or (N, K)  ->  log p(z), (S, N) or (N,)
    dz = prior.backward(dlog_p, tape)    # dlog_p like log_p; returns ∂L/∂z like z and, for a
                                         # learned prior, writes ∂L/∂θ into prior.grads
    z = prior.sample(n, rng, dtype)      # (n, K), exact samples
    prior.params, prior.grads            # OrderedDicts name -> array (empty for N(0, I))
    prior.encoded                        # None, or the name of the parameter the model's encoder reads

A prior built on the model's encoder (the VampPrior: p(z) = (1/C) Σ_c q(z | u_c)) takes one
explicit step first: the model encodes ``prior.params[prior.encoded]`` (the pseudo-inputs u) and
hands the result over, ``density = prior.given(mu_u, logvar_u)``; ``density`` then follows the
contract above, and its backward writes ∂L/∂mu_u, ∂L/∂logvar_u into ``density.grads`` for the
model to send back through its encoder into ``prior.grads[prior.encoded]``. The model does this
in one place (``VAE.prior_density``); no model looks at a prior's name.

Here L stands for whatever scalar the caller differentiates; backward receives
dlog_p = ∂L/∂log p(z) per sample, and returns ∂L/∂z = dlog_p · ∂log p/∂z.

The three densities
-------------------
* StandardNormal: log N(z; 0, I) = −½ Σ_k (z_k² + log 2π).
* MixtureOfGaussians (a learned prior, e.g. Dilokthanakul et al. 2016; Tomczak & Welling 2018):
      p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}),   π = softmax(a),
  with means m (C, K), log-variances s (C, K) and mixing logits a (C,) as parameters.
* VampMixture: the density part of Tomczak & Welling's VampPrior,
      p(z) = (1/C) Σ_c q(z | u_c) = (1/C) Σ_c N(z; mu_c, diag e^{logvar_c}),
  where (mu_c, logvar_c) are what the encoder makes of the learned pseudo-inputs u_c.
  It is handed (mu, logvar) by :meth:`VampMixture.given`, and its density returns their
  gradients, so the model can send them back through the encoder (see the class docstring).

Both mixtures share one computation, :func:`mixture_log_prob` and
:func:`mixture_backward`: the log-sum-exp over components, and the gradient through
it, which is the component gradient weighted by the responsibility
r_c(z) = π_c N(z; m_c, e^{s_c}) / p(z) (the posterior probability of component c).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int
from ..stable import log_softmax

LOG_2PI = float(np.log(2 * np.pi))

__all__ = ["StandardNormal", "MixtureOfGaussians", "VampMixture", "UniformMixture", "PRIORS", "make_prior",
           "mixture_log_prob", "mixture_backward"]


# ---- shared helpers ----------------------------------------------------------

def _flatten_z(z, z_dim: int, where: str, dtype=None) -> np.ndarray:
    """Check z (S, N, K) or (N, K) and return it as (B, K), B = S·N (a view, no copy)."""
    check_array(z, where, ndim=(2, 3), last=z_dim, dtype=dtype, name="z")
    return z.reshape(-1, z_dim)


def _check_dlog_p(dlog_p, shape: tuple, where: str) -> np.ndarray:
    """dlog_p must have log_p's shape; returned flattened to (B,)."""
    check_array(dlog_p, where, finite=False, name="dlog_p")
    if dlog_p.shape != shape:
        raise ValueError(f"{where}: dlog_p must have log_p's shape {shape}, got {dlog_p.shape}")
    return dlog_p.reshape(-1)


def _check_rng(rng, where: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a np.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


def _check_sample_count(n, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{where}: n must be an integer >= 0, got {n!r}")
    return int(n)


# ---- N(0, I) -----------------------------------------------------------------

class StandardNormal:
    """p(z) = N(z; 0, I) on K = z_dim dimensions; no parameters.

    Works in the dtype of the z it is given (float32 in training, float64 in checks).
    """

    name = "standard"
    encoded = None              # reads nothing of the model's encoder

    def __init__(self, z_dim: int):
        self.z_dim = check_positive_int(z_dim, "StandardNormal", "z_dim")
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        return f"StandardNormal(z_dim={self.z_dim})"

    def log_prob(self, z: np.ndarray) -> tuple[np.ndarray, tuple]:
        """log N(z; 0, I) = −½ Σ_k (z_k² + log 2π): z (S, N, K) or (N, K) -> (S, N) or (N,)."""
        _flatten_z(z, self.z_dim, "StandardNormal.log_prob")
        log_p = np.einsum("...k,...k->...", z, z)     # Σ_k z_k², without a z² temporary
        log_p += self.z_dim * LOG_2PI
        log_p *= -0.5
        return log_p, (z,)

    def backward(self, dlog_p: np.ndarray, tape: tuple) -> np.ndarray:
        """∂log p/∂z_k = −z_k, so dz = −dlog_p · z (shape of z)."""
        (z,) = tape
        _check_dlog_p(dlog_p, z.shape[:-1], "StandardNormal.backward")
        dz = z * dlog_p[..., None]
        return np.negative(dz, out=dz)

    def components(self):
        """None: not a mixture (see :meth:`MixtureOfGaussians.components`)."""
        return None

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws, (n, K)."""
        n = _check_sample_count(n, "StandardNormal.sample")
        rng = _check_rng(rng, "StandardNormal.sample")
        return rng.standard_normal((n, self.z_dim), dtype=as_dtype(dtype))


# ---- the mixture computation both mixtures share -------------------------------

def mixture_log_prob(z2: np.ndarray, log_pi: np.ndarray, means: np.ndarray,
                     logvars: np.ndarray) -> tuple[np.ndarray, tuple]:
    """log p(z) for p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}), by log-sum-exp.

    Shapes: z2 (B, K); log_pi (C,); means m and logvars s (C, K). Returns log_p (B,)
    and the tape for :func:`mixture_backward`.

    Per component,  ℓ_bc = log π_c + log N(z_b; m_c, e^{s_c})
                         = log π_c − ½ Σ_k [ (z_bk − m_ck)² P_ck + s_ck + log 2π ],   P = e^{−s},
    and log p(z_b) = log Σ_c e^{ℓ_bc} = M_b + log Σ_c e^{ℓ_bc − M_b},  M_b = max_c ℓ_bc
    (subtracting the max keeps every exponent ≤ 0: no overflow, and the largest term is 1).

    The quadratic is expanded so that it becomes three matrix products instead of a
    (B, C, K) temporary (VampPrior has C = 500 components):
        Σ_k (z_bk − m_ck)² P_ck = (z² @ Pᵀ)_bc − 2 (z @ (m P)ᵀ)_bc + Σ_k m_ck² P_ck.
    The expansion trades a little precision (z² and m² can be much larger than
    (z − m)²) for speed; at latent scales (|z| of a few units) the error is far below
    anything that matters in float32 training, and float64 gradient checks are exact
    to ~1e-12.
    """
    K = z2.shape[1]
    P = np.exp(-logvars)                                # (C, K) precisions e^{−s}
    mP = means * P                                      # (C, K)
    z2sq = z2 * z2                                      # (B, K), kept for the backward
    ell = z2sq @ P.T                                    # (B, C): Σ_k z² P
    ell -= 2.0 * (z2 @ mP.T)                            #       − 2 Σ_k z m P
    ell += np.einsum("ck,ck->c", means, mP) + logvars.sum(axis=1) + K * LOG_2PI   # + Σ_k (m² P + s + log 2π)
    ell *= -0.5
    ell += log_pi                                       # ℓ_bc = log π_c + log N_c(z_b)
    M = ell.max(axis=1)                                 # (B,)
    ell -= M[:, None]                                   # ℓ − M ≤ 0
    r = np.exp(ell, out=ell)                            # e^{ℓ − M}, reusing ell's memory
    total = r.sum(axis=1)                               # Σ_c e^{ℓ − M} ≥ 1
    log_p = np.log(total)
    log_p += M
    r /= total[:, None]                                 # responsibilities r_bc = e^{ℓ_bc} / p(z_b); rows sum to 1
    return log_p, (z2, z2sq, r, means, P, mP)


def mixture_backward(g: np.ndarray, tape: tuple):
    """Gradients of L = Σ_b g_b log p(z_b) for the mixture of :func:`mixture_log_prob`.

    g (B,) is ∂L/∂log p(z_b). Returns (dz (B, K), dmeans (C, K), dlogvars (C, K),
    dlog_pi (C,)) — the last is ∂L/∂log π_c with log π treated as free numbers; a
    caller that parameterizes π chains it further (softmax: see MixtureOfGaussians).

    Differentiating a log-sum-exp gives a softmax: ∂log p/∂ℓ_c = e^{ℓ_c} / Σ_c' e^{ℓ_c'} = r_c.
    So every gradient is a responsibility-weighted sum of one component's gradient.
    Write G_bc = g_b r_bc (B, C), P = e^{−s}, d_bck = z_bk − m_ck:

        ∂ℓ_c/∂z_k   = −d_k P_ck          ->  dz_bk  = −Σ_c G_bc d_bck P_ck
                                                      = (G @ mP)_bk − z_bk (G @ P)_bk
        ∂ℓ_c/∂m_ck  = +d_k P_ck          ->  dm_ck  =  Σ_b G_bc d_bck P_ck
                                                      = P_ck (Gᵀ z)_ck − mP_ck Σ_b G_bc
        ∂ℓ_c/∂s_ck  = ½ (d_k² P_ck − 1)  ->  ds_ck  =  ½ Σ_b G_bc (d_bck² P_ck − 1)
                                                      = ½ [P (Gᵀ z²) − 2 mP (Gᵀ z) + m mP ΣG − ΣG]_ck
        ∂ℓ_c/∂log π_c = 1                ->  dlog_pi_c = Σ_b G_bc
    (the right-hand forms expand d² and d as in the forward, so nothing is (B, C, K)).
    """
    z2, z2sq, r, means, P, mP = tape
    G = r * g[:, None]                                  # (B, C)
    Gsum = G.sum(axis=0)                                # (C,)  Σ_b G_bc
    Gz = G.T @ z2                                       # (C, K) Σ_b G_bc z_bk
    dz = G @ mP                                         # (B, K)
    dz -= z2 * (G @ P)
    dmeans = P * Gz
    dmeans -= mP * Gsum[:, None]
    dlogvars = P * (G.T @ z2sq)                         # Σ_b G d² P, expanded: z² P − 2 z m P + m² P
    dlogvars -= 2.0 * (mP * Gz)
    dlogvars += (means * mP - 1.0) * Gsum[:, None]      # m² P ΣG − ΣG
    dlogvars *= 0.5
    return dz, dmeans, dlogvars, Gsum


def _check_components(means, logvars, z_dim: int, where: str, dtype=None) -> int:
    check_array(means, where, ndim=2, last=z_dim, dtype=dtype, name="mu")
    check_array(logvars, where, ndim=2, last=z_dim, dtype=dtype, name="logvar")
    if means.shape != logvars.shape:
        raise ValueError(f"{where}: mu and logvar must have the same shape (C, K), "
                         f"got {means.shape} and {logvars.shape}")
    return means.shape[0]


def _sample_mixture(n: int, rng: np.random.Generator, pi: np.ndarray, means: np.ndarray,
                    logvars: np.ndarray, dtype) -> np.ndarray:
    """Exact draws from Σ_c π_c N(m_c, e^{s_c}): first the component c ~ Cat(π), then
    z = m_c + e^{s_c/2} ε with ε ~ N(0, I) (n, K). Components first, noise second, in that order."""
    c = rng.choice(pi.shape[0], size=n, p=pi)
    eps = rng.standard_normal((n, means.shape[1]), dtype=dtype)
    z = eps * np.exp(0.5 * logvars[c]).astype(dtype, copy=False)
    z += means[c]
    return z


# ---- a learned mixture of Gaussians --------------------------------------------

class MixtureOfGaussians:
    """p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}), π = softmax(a); all three learned.

    Parameters (in ``params``, gradients under the same names in ``grads``)
    ----------
    "means"    m (C, K)   initialized N(0, I): the components start spread over the
                          region the standard prior covers
    "logvars"  s (C, K)   initialized 0 (unit variances)
    "logits"   a (C,)     initialized 0 (equal weights 1/C)

    Arguments: z_dim K, n_components C, rng (np.random.Generator; default seed 0),
    dtype ("float32" for training, "float64" for gradient checks). z passed to
    log_prob must have this dtype.

    Why logits and log-variances: both are unconstrained numbers, so any optimizer
    step gives a valid mixture (weights positive, summing to 1; variances positive).
    """

    name = "mog"
    encoded = None

    def __init__(self, z_dim: int, n_components: int, *, rng: np.random.Generator | None = None,
                 dtype="float32"):
        self.z_dim = check_positive_int(z_dim, "MixtureOfGaussians", "z_dim")
        C = check_positive_int(n_components, "MixtureOfGaussians", "n_components")
        self.dtype = as_dtype(dtype)
        rng = _check_rng(rng if rng is not None else np.random.default_rng(0), "MixtureOfGaussians")
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.params["means"] = rng.standard_normal((C, self.z_dim)).astype(self.dtype)
        self.params["logvars"] = np.zeros((C, self.z_dim), dtype=self.dtype)
        self.params["logits"] = np.zeros(C, dtype=self.dtype)
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict(
            (name, np.zeros_like(p)) for name, p in self.params.items())

    @property
    def n_components(self) -> int:
        return self.params["logits"].shape[0]

    def __repr__(self) -> str:
        return f"MixtureOfGaussians(z_dim={self.z_dim}, n_components={self.n_components}, dtype={self.dtype.name})"

    def log_weights(self) -> np.ndarray:
        """log π = a − logsumexp(a) = log_softmax(a), (C,)."""
        return log_softmax(self.params["logits"])

    def components(self):
        """(means (C, K), log-variances (C, K), log weights (C,)): the mixture's components, for pictures."""
        return self.params["means"], self.params["logvars"], self.log_weights()

    def log_prob(self, z: np.ndarray) -> tuple[np.ndarray, tuple]:
        """log p(z) by log-sum-exp (see :func:`mixture_log_prob`): z (S, N, K) or (N, K) -> (S, N) or (N,)."""
        z2 = _flatten_z(z, self.z_dim, "MixtureOfGaussians.log_prob", self.dtype)
        log_pi = self.log_weights()
        log_p, mix_tape = mixture_log_prob(z2, log_pi, self.params["means"], self.params["logvars"])
        return log_p.reshape(z.shape[:-1]), (z.shape, log_pi, mix_tape)

    def backward(self, dlog_p: np.ndarray, tape: tuple) -> np.ndarray:
        """Return dz (shape of z); write ∂L/∂means, ∂L/∂logvars, ∂L/∂logits into ``grads``.

        z, means and log-variances: see :func:`mixture_backward`. The logits reach
        log p only through log π_c = a_c − logsumexp(a), whose derivative is
        ∂log π_c/∂a_j = δ_cj − π_j. With dlog_pi_c = Σ_b G_bc (the mixture's gradient
        w.r.t. log π_c),
            da_j = Σ_c dlog_pi_c (δ_cj − π_j) = dlog_pi_j − π_j Σ_c dlog_pi_c,
        and Σ_c dlog_pi_c = Σ_b g_b Σ_c r_bc = Σ_b g_b, as responsibilities sum to 1.
        """
        z_shape, log_pi, mix_tape = tape
        g = _check_dlog_p(dlog_p, z_shape[:-1], "MixtureOfGaussians.backward")
        dz, dmeans, dlogvars, dlog_pi = mixture_backward(g, mix_tape)
        self.grads["means"][...] = dmeans
        self.grads["logvars"][...] = dlogvars
        da = self.grads["logits"]
        np.multiply(np.exp(log_pi), -dlog_pi.sum(), out=da)   # −π_j Σ_c dlog_pi_c
        da += dlog_pi
        return dz.reshape(z_shape)

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws (n, K): a component c ~ Cat(π), then z ~ N(m_c, e^{s_c})."""
        n = _check_sample_count(n, "MixtureOfGaussians.sample")
        rng = _check_rng(rng, "MixtureOfGaussians.sample")
        pi = np.exp(self.log_weights().astype(np.float64))
        pi /= pi.sum()                                  # rng.choice wants weights summing to 1 in float64
        return _sample_mixture(n, rng, pi, self.params["means"], self.params["logvars"], as_dtype(dtype))


# ---- the VampPrior's density -----------------------------------------------------

class UniformMixture:
    """p(z) = (1/C) Σ_c N(z; mu_c, diag e^{logvar_c}) with given components: a VampPrior's density for one step.

    Made by :meth:`VampMixture.given` from the encoder's (mu_u, logvar_u) (C, K). Follows the
    prior contract: ``log_prob(z)``, ``backward(dlog_p, tape) -> dz``, ``sample(n, rng, dtype)``;
    its parameters are the components, ``params = {"mu", "logvar"}``, and backward writes
    ∂L/∂mu, ∂L/∂logvar into ``grads`` (same names, the order of the encoder's heads).
    """

    name = "vamp"
    encoded = None

    def __init__(self, mu: np.ndarray, logvar: np.ndarray, *, z_dim: int, n_components: int, dtype=None):
        where = "VampMixture.given"
        C = _check_components(mu, logvar, z_dim, where, dtype)
        if C != n_components:
            raise ValueError(f"{where}: mu and logvar must have one row per component ({n_components}), got {C}")
        self.z_dim, self.dtype = z_dim, mu.dtype
        self.params = OrderedDict(mu=mu, logvar=logvar)
        self.grads = OrderedDict((name, np.zeros_like(p)) for name, p in self.params.items())

    def components(self):
        """(mu (C, K), logvar (C, K), log weights (C,), all −log C)."""
        mu, logvar = self.params.values()
        return mu, logvar, np.full(mu.shape[0], -np.log(mu.shape[0]), dtype=self.dtype)

    def log_prob(self, z: np.ndarray) -> tuple[np.ndarray, tuple]:
        """log p(z) = logsumexp_c log N(z; mu_c, e^{logvar_c}) − log C: z (S, N, K) or (N, K) -> (S, N) or (N,)."""
        z2 = _flatten_z(z, self.z_dim, "VampMixture.log_prob", self.dtype)
        mu, logvar = self.params.values()
        C = mu.shape[0]
        log_pi = np.full(C, -np.log(C), dtype=self.dtype)   # uniform weights 1/C
        log_p, mix_tape = mixture_log_prob(z2, log_pi, mu, logvar)
        return log_p.reshape(z.shape[:-1]), (z.shape, mix_tape)

    def backward(self, dlog_p: np.ndarray, tape: tuple) -> np.ndarray:
        """Return dz like z; write ∂L/∂mu, ∂L/∂logvar (C, K) into ``grads`` (see :func:`mixture_backward`).

        The weights 1/C are fixed, so the gradient w.r.t. log π is not needed. The model
        sends ``grads`` back through its encoder to the pseudo-inputs.
        """
        z_shape, mix_tape = tape
        g = _check_dlog_p(dlog_p, z_shape[:-1], "VampMixture.backward")
        dz, dmu, dlogvar, _ = mixture_backward(g, mix_tape)
        self.grads["mu"][...] = dmu
        self.grads["logvar"][...] = dlogvar
        return dz.reshape(z_shape)

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws (n, K): c uniform on the C components, then z ~ N(mu_c, e^{logvar_c})."""
        where = "VampMixture.sample"
        n = _check_sample_count(n, where)
        rng = _check_rng(rng, where)
        mu, logvar = self.params.values()
        return _sample_mixture(n, rng, np.full(mu.shape[0], 1.0 / mu.shape[0]), mu, logvar, as_dtype(dtype))


class VampMixture:
    """The VampPrior: p(z) = (1/C) Σ_c q(z | u_c), the encoder's posteriors at C learned pseudo-inputs u_c.

    In a VampPrior (Tomczak & Welling, 2018) the components are (mu_c, logvar_c) = encoder(u_c).
    The prior owns u, ``params["pseudo_inputs"]``; the model owns the encoder, so the
    density needs one explicit step (``encoded`` names the parameter the encoder reads):

        u = prior.params[prior.encoded]                           # (C, D)
        (mu_u, logvar_u), enc_tape_u = encoder.forward(u)         # (C, K) each
        density = prior.given(mu_u, logvar_u)                     # a UniformMixture
        log_p, tape = density.log_prob(z)                         # (S, N)
        ...
        dz = density.backward(dlog_p, tape)                       # writes density.grads
        du = encoder.backward(list(density.grads.values()), enc_tape_u, accumulate=True)
        prior.grads[prior.encoded][...] = du

    The encoder's gradient from the pseudo-inputs adds to its gradient from the data
    (accumulate=True): one network, used twice in a step. ``log_prob``, ``backward`` and
    ``sample`` on the prior itself refuse, naming this step.

    Parameters
    ----------
    z_dim : K;  n_components : C (500 in the paper)
    x_dim : D, optional — if given, the prior owns the pseudo-inputs as
        ``params["pseudo_inputs"]`` (C, D) with a matching ``grads`` entry, initialized
        N(pseudo_mean, pseudo_std²); set them from data with :meth:`set_pseudo_inputs`.
        (Tomczak & Welling's code, jmtomczak/vae_vampprior, draws them N(0.05, 0.01²): the
        argparse default −0.05 is overwritten by 0.05 in utils/load_data.py; it squashes them
        onto [0, 1] with a hardtanh, which is not done here: on the digits they stayed
        within [−0.03, 1.02], README "Deeper models and learned priors".)
    rng : np.random.Generator for that initialization (default seed 0)
    dtype : "float32" | "float64" — of z, mu, logvar and the pseudo-inputs
    """

    name = "vamp"
    encoded = "pseudo_inputs"

    def __init__(self, z_dim: int, n_components: int, *, x_dim: int | None = None,
                 rng: np.random.Generator | None = None, dtype="float32",
                 pseudo_mean: float = 0.05, pseudo_std: float = 0.01):
        self.z_dim = check_positive_int(z_dim, "VampMixture", "z_dim")
        self.n_components = check_positive_int(n_components, "VampMixture", "n_components")
        self.dtype = as_dtype(dtype)
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        if x_dim is not None:
            x_dim = check_positive_int(x_dim, "VampMixture", "x_dim")
            rng = _check_rng(rng if rng is not None else np.random.default_rng(0), "VampMixture")
            u = pseudo_mean + pseudo_std * rng.standard_normal((self.n_components, x_dim))
            self.params["pseudo_inputs"] = u.astype(self.dtype)
            self.grads["pseudo_inputs"] = np.zeros_like(self.params["pseudo_inputs"])

    def __repr__(self) -> str:
        return f"VampMixture(z_dim={self.z_dim}, n_components={self.n_components}, dtype={self.dtype.name})"

    def set_pseudo_inputs(self, u: np.ndarray) -> None:
        """Copy u (C, D) into the pseudo-inputs in place (e.g. C random training images)."""
        if "pseudo_inputs" not in self.params:
            raise ValueError("VampMixture.set_pseudo_inputs: this prior has no pseudo-inputs; "
                             "create it with x_dim=D")
        target = self.params["pseudo_inputs"]
        check_array(u, "VampMixture.set_pseudo_inputs", ndim=2, last=target.shape[1], name="u")
        if u.shape != target.shape:
            raise ValueError(f"VampMixture.set_pseudo_inputs: u must have shape {target.shape} "
                             f"(n_components, x_dim), got {u.shape}")
        target[...] = u

    def given(self, mu: np.ndarray, logvar: np.ndarray) -> UniformMixture:
        """The density for these components: mu, logvar (C, K), the encoder's q(z | u_c) -> a UniformMixture
        (in the components' dtype; its log_prob takes z of that dtype)."""
        return UniformMixture(mu, logvar, z_dim=self.z_dim, n_components=self.n_components)

    def _refuse(self, what: str):
        raise ValueError(f"VampMixture.{what}: the VampPrior's components are the encoder's q(z | u_c) at its "
                         f"pseudo-inputs; hand them over first: prior.given(mu_u, logvar_u).{what}(...) "
                         f"(a model does it in prior_density())")

    def log_prob(self, z):
        self._refuse("log_prob")

    def backward(self, dlog_p, tape):
        self._refuse("backward")

    def sample(self, n, rng, dtype="float32"):
        self._refuse("sample")


# ---- by name ---------------------------------------------------------------------

def _standard(z_dim, k, *, x_dim, rng, dtype):
    if k is not None:
        raise ValueError(f"make_prior: 'standard' takes no number of components, got 'standard:{k}'")
    return StandardNormal(z_dim)


def _mog(z_dim, k, *, x_dim, rng, dtype):
    return MixtureOfGaussians(z_dim, k, rng=rng, dtype=dtype)


def _vamp(z_dim, k, *, x_dim, rng, dtype):
    if x_dim is None:
        raise ValueError("make_prior: 'vamp:K' needs x_dim (the data dimension D of the pseudo-inputs)")
    return VampMixture(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype)


def _categorical(z_dim, k, *, x_dim, rng, dtype, n_classes=None):
    from .gumbel.categorical import UniformCategorical      # the discrete prior lives beside its family
    if k is not None:
        raise ValueError(f"make_prior: 'categorical' takes no number of components, got 'categorical:{k}'; "
                         "the classes C come from the posterior gumbel:C")
    if n_classes is None:
        raise ValueError("make_prior: 'categorical' is the uniform prior of a Gumbel-softmax posterior "
                         "(gumbel:C or gumbel-st:C); it needs that posterior's number of classes")
    if z_dim % n_classes:
        raise ValueError(f"make_prior: 'categorical': z_dim = {z_dim} is not a multiple of C = {n_classes}")
    return UniformCategorical(z_dim // n_classes, n_classes)


# name -> (builder, needs a number of components K)
PRIORS = {
    "standard": (_standard, False),
    "mog": (_mog, True),
    "vamp": (_vamp, True),
    "categorical": (_categorical, False),
}


def make_prior(name: str, z_dim: int, *, x_dim: int | None = None,
               rng: np.random.Generator | None = None, dtype="float32", n_classes: int | None = None):
    """Build a prior from its name: "standard", "mog:K" or "vamp:K" (K components, an integer >= 1),
    or "categorical" (uniform over z_dim / C variables of C = n_classes classes, for a gumbel:C posterior).

    x_dim (the data dimension D) is needed by "vamp:K" for its pseudo-inputs; rng
    initializes learned priors (default seed 0); dtype is theirs.
    """
    if not isinstance(name, str):
        raise TypeError(f"make_prior: name must be a string like 'standard', 'mog:10' or 'vamp:500', "
                        f"got {type(name).__name__}")
    kind, sep, k_text = name.partition(":")
    if kind not in PRIORS:
        raise ValueError(f"make_prior: unknown prior {name!r}; choose 'standard', 'mog:K', 'vamp:K' or 'categorical'")
    builder, needs_k = PRIORS[kind]
    k = None
    if sep:
        if not (k_text.isascii() and k_text.isdigit() and int(k_text) >= 1):
            raise ValueError(f"make_prior: the number of components in {name!r} must be an integer >= 1")
        k = int(k_text)
    elif needs_k:
        raise ValueError(f"make_prior: {kind!r} needs a number of components, e.g. '{kind}:10'")
    if kind == "categorical":
        return builder(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype, n_classes=n_classes)
    return builder(z_dim, k, x_dim=x_dim, rng=rng, dtype=dtype)
