"""What a VAE offers around its forward and backward, shared by the VAE and the hierarchy.

The prior's one explicit step (:meth:`VAEUses.prior_density`: a prior built on the encoder, the
VampPrior, is handed the encoder's heads at its pseudo-inputs), a training step kept for a look
(:meth:`VAEUses.loss_and_grads`: forward, then backward), and the protocol's uses of a model
(:mod:`numpyvae.models.base`): importance weights and the one log p(x) estimator, pictures,
ancestral samples, reconstructions, latent means. These are the one-layer VAE's versions;
:class:`numpyvae.models.hvae.HVAE` overrides those that walk its chain of layers. A class using this
mixin provides ``forward``, ``backward``, ``prior``, ``encode``, ``decode``, ``posterior``, ``likelihood``, ``rng``, ``dtype``
and ``_encode_prior_inputs(u)``.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_positive_int, check_rng
from ..measure.vae_log_likelihood import log_likelihood    # beside the one estimator, below the models
from .base import NoLogLikelihood

__all__ = ["VAEUses"]


class VAEUses:
    """Mixin: the prior's density for a step, loss_and_grads, log weights, log p(x), figures, samples (module docstring)."""

    def prior_density(self):
        """The prior p(z) as a density for this step, and the tape of the encoder pass it took (or None).

        A prior built on the model's encoder names the parameter the encoder reads,
        ``prior.encoded`` (the VampPrior: its pseudo-inputs u, p(z) = (1/C) Σ_c q(z | u_c)): here the
        encoder runs on u and hands its heads to ``prior.given``. Every other prior is its own density.
        """
        if getattr(self.prior, "encoded", None) is None:      # a prior of one's own need not say so
            return self.prior, None
        heads_u, enc_tape = self._encode_prior_inputs(self.prior.params[self.prior.encoded])
        return self.prior.given(*heads_u), enc_tape

    def prior_components(self):
        """A mixture prior's components (the top layer's): (means (C, K), logvars (C, K), log weights (C,)); None for N(0, I)."""
        density = self.prior_density()[0]
        return density.components() if hasattr(density, "components") else None

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """log p(z), z (..., K) -> (...): the prior's density, after its encoder pass if it has one."""
        return self.prior_density()[0].log_prob(z)[0]

    # ---- a training step, kept for a look ----------------------------------------------------

    def loss_and_grads(self, x: np.ndarray, eps: np.ndarray | None = None, *, n_samples: int = 1,
                       beta: float = 1.0, kl: str | None = None, objective: str = "elbo",
                       alpha: float | None = None, y=None):
        """The batch mean of −bound in nats per example, and its gradient for every parameter.

        Parameters
        ----------
        x : (N, D)       the batch, in the model's dtype
        eps : (S, N, K) or (N, K), optional   the noise; drawn from self.rng if None
        n_samples : int  S when eps is None (for IWAE, k = S)
        beta : float     weight of the KL term (β-VAE); ELBO only
        kl : "analytic" | "mc"   analytic KL (ELBO default) or log q − log p at the samples (IWAE's only option)
        objective : "elbo" | "iwae" | "vr" | "vr-max"   the bound (IWAE, VR and VR-max use k = S samples)
        alpha : float    the Rényi order of objective="vr" (0: IWAE; -> 1: the ELBO)
        y : (N,) int     the labels of a conditional VAE (n_labels > 0), each in 0..n_labels−1

        Returns
        -------
        loss : float
        grads : ordered dict name -> array, the live ``self.grads`` buffers:
            the next call overwrites them, so copy what you want to keep.
        The step's tape stays in ``self.last_tape`` for a look (``last_parts`` are its loss parts).
        """
        self.last_tape = None      # let the previous step's arrays go before this step makes its own
        tape = self.forward(x, eps, n_samples=n_samples, beta=beta, kl=kl, objective=objective, alpha=alpha, y=y)
        grads = self.backward(tape)
        self.last_tape = tape
        return tape.loss, grads

    @property
    def last_parts(self) -> dict:
        """{"loss", "recon", "kl"} of the last loss_and_grads, in nats per example."""
        return self.last_tape.parts if self.last_tape is not None else {}

    # ---- what a trained model offers: log weights, log p(x), pictures, samples ---------------

    def log_weights(self, x: np.ndarray, eps: np.ndarray, q_params=None, y=None) -> np.ndarray:
        """log w = log p(x|z) + log p(z) − log q(z|x) at z from eps (S, N, ...): (S, N), in the model's dtype.

        Forward only (no tape is kept): what the importance-sampled log p(x) averages
        (:meth:`log_likelihood`). q_params: the proposal's heads (default the encoder's at x, y).
        A Gumbel-softmax family proposes from the unrelaxed categorical q(c|x) behind it, scored
        by the categorical prior's probability mass (the relaxed z has no density under it).
        """
        q_params = self.proposal_params(x, y) if q_params is None else q_params
        if hasattr(self.posterior, "discrete_sample"):                   # a relaxation of a categorical
            z, log_q = self.posterior.discrete_sample(q_params, eps)     # exact codes, log q(c|x)
            log_p = self.prior.log_pmf(z)
        else:
            z, log_q, _ = self.posterior.rsample(q_params, eps)         # (S, N, K), (S, N)
            log_p = None
        nll, _ = self.likelihood.forward(x, *self.decode(z, y), check=False)
        return (self.log_prior(z) if log_p is None else log_p) - nll - log_q

    def proposal_params(self, x: np.ndarray, y=None) -> list:
        """The importance-sampling proposal's heads for x (N, D): the encoder's q(z|x[, y])."""
        return self.encode(x, y)

    def log_likelihood(self, x: np.ndarray, k: int, rng=None, y=None, *, batch_size: int = 100) -> np.ndarray:
        """Importance-sampled log p(x) per example ((N,) float64, nats; log p(x|y) for a conditional VAE).

        The one estimator through :func:`numpyvae.measure.vae_log_likelihood.log_likelihood` (k samples from q
        as the proposal, chunked, a running log-sum-exp; ``batch_size`` examples a pass). rng: None (the evaluation seed),
        an int, or a Generator. A plain autoencoder raises :class:`~numpyvae.models.base.NoLogLikelihood`
        with its reason.
        """
        if self.no_log_likelihood:
            raise NoLogLikelihood(self.no_log_likelihood)
        return log_likelihood(self, x, k, rng=rng, y=y, progress=False, batch_size=batch_size)

    def latent_means(self, x: np.ndarray, y=None) -> list:
        """The posterior's point summary E_q[z], one (N, K) array per stochastic layer (here one)."""
        return [self.posterior.mean(self.encode(x, y))]

    def figures(self, data, out_dir) -> list:
        """Draw this model's pictures (:func:`numpyvae.models.vae_pictures.vae_figures`) into out_dir.

        data: x (N, D), y (N,) and image_shape of the test set (optionally n_points, for the latent plot).
        """
        from .vae_pictures import vae_figures     # the pictures layer, above the models
        return vae_figures(self, data, out_dir, n_points=getattr(data, "n_points", 2000))

    def reconstruct(self, x: np.ndarray, y=None) -> np.ndarray:
        """E[x | z = E_q[z]]: the decoder's mean at the posterior mean, (N, D) (a conditional VAE: given y)."""
        z = self.posterior.mean(self.encode(x, y))
        return self.likelihood.mean(*self.decode(z, y))

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None, *, mean: bool = True) -> np.ndarray:
        """Ancestral sampling: z ~ p(z), then x ~ p(x|z) (or its mean if ``mean``), (n, D).

        A conditional VAE needs ``y``: one label for all n, or n labels, each in 0..n_labels−1;
        sample(10, y=np.arange(10)) draws one of each digit.
        """
        rng = check_rng(rng if rng is not None else self.rng, "VAE.sample")
        n = check_positive_int(n, "VAE.sample", "n")
        self.one_hot(y, n, "VAE.sample")                      # refuse a missing or bad y before drawing
        z = self.prior_density()[0].sample(n, rng, self.dtype)
        heads = self.decode(z, y)
        return self.likelihood.mean(*heads) if mean else self.likelihood.sample(rng, *heads)
