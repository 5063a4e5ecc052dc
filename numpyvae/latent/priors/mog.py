"""A learned mixture of Gaussians p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}), π = softmax(a): means, log-variances, logits learned."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_positive_int, check_rng
from ...stable import log_softmax
from .arguments import check_dlog_p, check_sample_count, flatten_z
from .mixture import mixture_backward, mixture_log_prob, sample_mixture


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
        rng = check_rng(rng if rng is not None else np.random.default_rng(0), "MixtureOfGaussians")
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
        z2 = flatten_z(z, self.z_dim, "MixtureOfGaussians.log_prob", self.dtype)
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
        g = check_dlog_p(dlog_p, z_shape[:-1], "MixtureOfGaussians.backward")
        dz, dmeans, dlogvars, dlog_pi = mixture_backward(g, mix_tape)
        self.grads["means"][...] = dmeans
        self.grads["logvars"][...] = dlogvars
        da = self.grads["logits"]
        np.multiply(np.exp(log_pi), -dlog_pi.sum(), out=da)   # −π_j Σ_c dlog_pi_c
        da += dlog_pi
        return dz.reshape(z_shape)

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws (n, K): a component c ~ Cat(π), then z ~ N(m_c, e^{s_c})."""
        n = check_sample_count(n, "MixtureOfGaussians.sample")
        rng = check_rng(rng, "MixtureOfGaussians.sample")
        pi = np.exp(self.log_weights().astype(np.float64))
        pi /= pi.sum()                                  # rng.choice wants weights summing to 1 in float64
        return sample_mixture(n, rng, pi, self.params["means"], self.params["logvars"], as_dtype(dtype))
