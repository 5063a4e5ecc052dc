"""The Helmholtz machine, trained by wake–sleep (Hinton et al., 1995) or reweighted wake–sleep (RWS).

Reweighted wake–sleep is Bornschein & Bengio (2015).

A Helmholtz machine is a VAE's two networks without the reparameterization trick. Here the
latents are binary, h ∈ {0, 1}^K, where no reparameterization exists at all:

    generative model  p(h) = Π_j Bern(h_j; σ(a_j)),     p(x | h) = Π_d Bern(x_d; σ(decoder(h)_d))
    recognition model q(h | x) = Π_j Bern(h_j; σ(encoder(x)_j))

Every gradient is the gradient of a log-probability at a *sampled* h, and the samples are
constants: no gradient flows through a sample. The one formula used everywhere:

    log Bern(v; σ(l)) = v·l − softplus(l),     ∂/∂l = v − σ(l).

Two phases, each a maximum-likelihood step on data that is "complete" (x and h both known):

* **wake** (trains p): draw h_1..h_k ~ q(h | x) for each real x, and climb
      Σ_s w̃_s ∇_θ log p(x, h_s),   w̃ = softmax_s(log p(x, h_s) − log q(h_s | x)).
  With k = 1, w̃ = 1 (classic wake–sleep). With k > 1 this is exactly ∇_θ of the IWAE bound,
  because the samples do not depend on θ: ∇_θ logsumexp_s(log w_s) = Σ_s w̃_s ∇_θ log p(x, h_s).
* **sleep** (trains q): dream h ~ p(h), x̃ ~ p(x | h) and climb ∇_φ log q(h | x̃) — q learns to
  invert the generative model on its own fantasies, a step on KL(p(h|x̃) || q(h|x̃)), not on the
  KL(q || p) of the ELBO, so the two phases do not climb one common objective.
* **wake-q** (trains q, reweighted wake–sleep): on real x with the wake samples,
      Σ_s w̃_s ∇_φ log q(h_s | x)
  (w̃ held constant), a self-normalized estimate of ∇_φ of −KL(p(h|x) || q(h|x)) on real data.

``q_update`` picks "sleep" (classic wake–sleep), "wake" (RWS's wake-q) or "both".

Networks follow the engine contract (numpyvae/nn/base.py; README.md, "Architecture"):
    logits, tape = net.forward(inputs);  net.backward(dlogits, tape, need_dx=False, accumulate=...)
with ``net.params`` / ``net.grads`` OrderedDicts. The encoder maps (N, D) -> (N, K) logits, the
decoder maps (..., K) -> (..., D) logits (it sees h of shape (k, N, K)).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from scipy.special import logsumexp

from ..checks import as_dtype, check_array, check_positive_int, check_unit_interval
from ..measure.estimator import check_k, importance_sampled
from ..stable import sigmoid, softplus

Q_UPDATES = ("sleep", "wake", "both")


def log_bernoulli(v: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Σ_last log Bern(v; σ(logits)) = Σ (v·l − softplus(l)); broadcasts, (..., D) -> (...)."""
    return (v * logits - softplus(logits)).sum(-1)


def sample_bernoulli(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """v ~ Bern(σ(logits)) elementwise, in the dtype of logits."""
    return (rng.random(logits.shape, dtype=logits.dtype) < sigmoid(logits)).astype(logits.dtype)


class HelmholtzMachine:
    """Binary-latent Helmholtz machine: encoder, decoder and prior logits a (K,).

    Parameters
    ----------
    encoder : network (N, D) -> (N, K) logits of q(h | x)
    decoder : network (..., K) -> (..., D) logits of p(x | h)
    n_latent : K
    dtype : "float32" (training) or "float64" (gradient checks)

    ``params`` / ``grads`` hold every array by name ("prior.logits", "encoder.<name>",
    "decoder.<name>"), the same objects as the networks' own, for an optimizer.
    """

    def __init__(self, encoder, decoder, n_latent: int, dtype="float32"):
        self.encoder, self.decoder = encoder, decoder
        self.n_latent = check_positive_int(n_latent, "HelmholtzMachine", "n_latent")
        self.dtype = as_dtype(dtype)
        self.prior_logits = np.zeros(self.n_latent, dtype=self.dtype)
        self.prior_grad = np.zeros_like(self.prior_logits)
        self.params = OrderedDict([("prior.logits", self.prior_logits)])
        self.grads = OrderedDict([("prior.logits", self.prior_grad)])
        for prefix, net in (("encoder", encoder), ("decoder", decoder)):
            for name in net.params:
                self.params[f"{prefix}.{name}"] = net.params[name]
                self.grads[f"{prefix}.{name}"] = net.grads[name]

    # ------------------------------------------------------------ sampling and log-probabilities

    def _check_x(self, x: np.ndarray, where: str) -> np.ndarray:
        check_array(x, where, ndim=2, dtype=self.dtype)
        return check_unit_interval(x, where)

    def sample_q(self, x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """k draws h ~ q(h | x) per example: x (N, D) -> h (k, N, K)."""
        x = self._check_x(x, "HelmholtzMachine.sample_q")
        k = check_positive_int(k, "HelmholtzMachine.sample_q", "k")
        logits_q, _ = self.encoder.forward(x)
        return sample_bernoulli(np.broadcast_to(logits_q, (k,) + logits_q.shape), rng)

    def dream(self, n: int, rng: np.random.Generator):
        """n fantasies from the generative model: h ~ p(h) (n, K), x̃ ~ p(x | h) (n, D)."""
        h = sample_bernoulli(np.broadcast_to(self.prior_logits, (n, self.n_latent)), rng)
        logits_x, _ = self.decoder.forward(h)
        return h, sample_bernoulli(logits_x, rng)

    def log_weights(self, x: np.ndarray, h: np.ndarray):
        """log w = log p(x, h) − log q(h | x), (k, N), and the tapes the wake gradients need."""
        logits_q, tape_q = self.encoder.forward(x)
        logits_x, tape_p = self.decoder.forward(h)
        log_p = log_bernoulli(x, logits_x) + log_bernoulli(h, self.prior_logits)
        log_q = log_bernoulli(h, logits_q)
        return log_p - log_q, (logits_q, tape_q, logits_x, tape_p)

    def log_likelihood(self, x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Importance-sampled log p(x) with q as proposal, logsumexp_s(log w_s) − log k, (N,).

        An IWAE bound, so biased low; the bias shrinks as k grows (tutorial 08). The one chunked
        estimator (:func:`machine_log_likelihood`, on :func:`numpyvae.measure.importance_sampled`) computes it.
        """
        return machine_log_likelihood(self, self._check_x(x, "HelmholtzMachine.log_likelihood"), k, rng)["log_likelihood"]

    # ------------------------------------------------------------ the phases' gradients

    def wake_grads(self, x: np.ndarray, h: np.ndarray, *, update_q: bool = False) -> float:
        """Write the wake gradients into ``grads``, given h (k, N, K) drawn from q; return mean IWAE_k.

        Loss (to minimize) for p: −(1/N) Σ_n Σ_s w̃_sn log p(x_n, h_sn), w̃ held constant.
        With update_q, also the wake-q loss −(1/N) Σ_n Σ_s w̃_sn log q(h_sn | x_n) (otherwise
        the encoder's grads are left alone).
        """
        x = self._check_x(x, "HelmholtzMachine.wake_grads")
        check_array(h, "HelmholtzMachine.wake_grads", ndim=3, last=self.n_latent, dtype=self.dtype, name="h")
        k, N = h.shape[:2]
        if N != x.shape[0]:
            raise ValueError(f"HelmholtzMachine.wake_grads: h must be (k, N, K) for the N = {x.shape[0]} examples "
                             f"of x, got shape {h.shape}")
        log_w, (logits_q, tape_q, logits_x, tape_p) = self.log_weights(x, h)
        lse = logsumexp(log_w, axis=0)
        c = np.exp(log_w - lse) / N                           # w̃_sn / N, (k, N); Σ_s c_sn = 1/N
        self._generative_backward(x, h, c, logits_x, tape_p)
        if update_q:
            self._wake_q_backward(h, c, logits_q, tape_q)
        return float(np.mean(lse) - math.log(k))

    def _generative_backward(self, x, h, c, logits_x, tape_p) -> None:
        """Gradient of −Σ_sn c_sn log p(x_n, h_sn) into the decoder's grads and the prior's.

        log p(x | h) = Σ_d (x_d l_d − softplus(l_d)) with l = decoder(h), and softplus' = σ, so
            ∂loss/∂l_snd = −c_sn (x_nd − σ(l_snd)) = c_sn (σ(l_snd) − x_nd).
        log p(h) = Σ_j (h_j a_j − softplus(a_j)) with the same a for every (s, n), so
            ∂loss/∂a_j = −Σ_sn c_sn (h_snj − σ(a_j)) = σ(a_j) − Σ_sn c_sn h_snj     (Σ_sn c_sn = 1).
        """
        d_logits_x = sigmoid(logits_x)
        d_logits_x -= x
        d_logits_x *= c[..., None]
        self.decoder.backward(d_logits_x, tape_p, need_dx=False)
        self.prior_grad[...] = sigmoid(self.prior_logits) - np.einsum("sn,snj->j", c, h)

    def _wake_q_backward(self, h, c, logits_q, tape_q) -> None:
        """Gradient of −Σ_sn c_sn log q(h_sn | x_n) into the encoder's grads (overwriting them).

        log q(h_s | x) = Σ_j (h_sj l_j − softplus(l_j)) with one l = encoder(x) for all k samples:
            ∂loss/∂l_nj = −Σ_s c_sn (h_snj − σ(l_nj)) = σ(l_nj)/N − Σ_s c_sn h_snj     (Σ_s c_sn = 1/N).
        """
        d_logits_q = sigmoid(logits_q) / h.shape[1] - np.einsum("sn,snj->nj", c, h)
        self.encoder.backward(d_logits_q, tape_q, need_dx=False, accumulate=False)

    def sleep_grads(self, h: np.ndarray, x_dream: np.ndarray, *, accumulate: bool = False) -> float:
        """Write the sleep gradient into the encoder's grads; return mean log q(h | x̃).

        h (n, K) and x̃ (n, D) are a dream (see ``dream``). Loss: −(1/n) Σ_i log q(h_i | x̃_i) with
        log q(h | x̃) = Σ_j (h_j l_j − softplus(l_j)), l = encoder(x̃), so
            ∂loss/∂l_ij = −(h_ij − σ(l_ij))/n = (σ(l_ij) − h_ij)/n.
        accumulate=True adds to the encoder's grads (after wake-q, for q_update="both").
        """
        check_array(h, "HelmholtzMachine.sleep_grads", ndim=2, last=self.n_latent, dtype=self.dtype, name="h")
        x_dream = self._check_x(x_dream, "HelmholtzMachine.sleep_grads")
        n = h.shape[0]
        if x_dream.shape[0] != n:
            raise ValueError(f"HelmholtzMachine.sleep_grads: h and x_dream must hold the same number of dreams, "
                             f"got {n} and {x_dream.shape[0]}")
        logits_q, tape_q = self.encoder.forward(x_dream)
        d_logits_q = sigmoid(logits_q)
        d_logits_q -= h
        d_logits_q /= n
        self.encoder.backward(d_logits_q, tape_q, need_dx=False, accumulate=accumulate)
        return float(log_bernoulli(h, logits_q).mean())

    def step_grads(self, x: np.ndarray, rng: np.random.Generator, *, k: int = 1, q_update: str = "sleep") -> dict:
        """One training step's gradients (then call the optimizer): wake for p, and q by ``q_update``.

        k = 1, q_update="sleep" is classic wake–sleep; k > 1 with "wake" or "both" is reweighted
        wake–sleep. The sleep phase dreams as many examples as the batch has. Returns the batch's
        IWAE_k (a running estimate of log p(x)) and, with sleep, the mean log q(h | x̃).
        """
        if q_update not in Q_UPDATES:
            raise ValueError(f"HelmholtzMachine.step_grads: q_update must be one of {Q_UPDATES}, got {q_update!r}")
        k = check_positive_int(k, "HelmholtzMachine.step_grads", "k")
        if k == 1 and q_update != "sleep":
            raise ValueError("HelmholtzMachine.step_grads: wake-q needs k >= 2 samples (with k = 1 every weight "
                             f"is 1 and q learns to reproduce its own samples); got k = 1, q_update={q_update!r}")
        out = {"iwae": self.wake_grads(x, self.sample_q(x, k, rng), update_q=q_update != "sleep")}
        if q_update != "wake":
            h, x_dream = self.dream(x.shape[0], rng)
            out["sleep_log_q"] = self.sleep_grads(h, x_dream, accumulate=q_update == "both")
        return out


def machine_log_likelihood(machine: HelmholtzMachine, x: np.ndarray, k: int, rng: np.random.Generator, *,
                           batch_size: int = 100, chunk: int = 100, bar=None) -> dict:
    """{"log_likelihood", "elbo"} (N,) float64 of a machine: IS with q(h|x) as proposal (an IWAE_k bound, biased
    low) and the ELBO of the same samples; h drawn batch by batch, chunk by chunk, as (c, n, K) from ``rng``."""
    k = check_k(k, "HelmholtzModel.log_likelihood")
    cache = {}

    def log_weights(sl, c, rng):
        if sl.start not in cache:
            cache.clear()
            cache[sl.start] = machine.encoder.forward(x[sl])[0]
        logits_q = cache[sl.start]
        h = sample_bernoulli(np.broadcast_to(logits_q, (c,) + logits_q.shape), rng)
        return machine.log_weights(x[sl], h)[0]
    return importance_sampled(log_weights, x.shape[0], k, rng, batch_size=batch_size, chunk=chunk, bar=bar)
