"""Adversarial variational Bayes (numpyvae.models.adversarial) as a protocol model: ``--model avb``.

Two parameter groups, each with its own optimizer: "generator" (the implicit encoder and the
decoder) and "critic" (T(x, z)). One step is AVB's :meth:`~numpyvae.models.adversarial.AVB.forward` (both
players' passes: the generator's mean[−log p(x|z) + T(x, z)], the critic's logistic loss on the generator's
z against fresh prior draws; the tape's ``bound`` is the per-example ELBO estimate) and
:meth:`~numpyvae.models.adversarial.AVB.backward` (both players' gradients from that tape); the trainer then
steps both optimizers and, for ``critic_steps`` > 1, takes the extra critic steps (:meth:`AVBModel.critic_step`).

log p(x): the implicit q(z|x) has no density, so it cannot be the proposal. For each x, M = 100
draws z = f(x, ε) of q are summarized by their mean m and per-dimension standard deviation s, and
the proposal is the defensive mixture

    r(z|x) = ½ N(z; m, (1.5 s)²) + ½ N(z; 0, I)

a Gaussian fitted to q's samples (widened by 1.5 so its tails cover q's), mixed with the prior so
that every weight is at most 2 p(x|z): a fitted Gaussian narrower than the true posterior alone
would make the estimate's variance explode (an untrained AVB's q is nearly a point). Then

    log p(x) ≈ log (1/k) Σ_i p(x|z_i) p(z_i) / r(z_i|x),   z_i ~ r(z|x)

an importance-sampled estimate with a proposal *built from q's samples*, a stochastic lower bound
like any other (:func:`numpyvae.measure.importance_sampled`); evaluate labels it so.
"""
from __future__ import annotations

import math

import numpy as np

from .adversarial import AVB, AVBTape, log_px_by_quadrature
from ..checks import check_positive_int
from ..measure.estimator import check_k, importance_sampled
from ..measure.inputs import as_rng
from .base import Batch, Model, ParamGroup

__all__ = ["AVBModel", "FIT_SAMPLES", "WIDEN"]

FIT_SAMPLES = 100      # draws of the implicit q per example to fit the proposal
WIDEN = 1.5            # the proposal's standard deviation, in units of q's sample standard deviation


class AVBModel(Model):
    """:class:`numpyvae.models.adversarial.AVB` with the protocol's methods (the keyword arguments are AVB's)."""

    kind = "avb"
    proposal = (f"IS, proposal ½ N(m, ({WIDEN} s)²) + ½ p(z), m and s fitted to {FIT_SAMPLES} draws of the "
                "implicit q")

    def __init__(self, x_dim: int, hidden=(64,), z_dim: int = 2, noise_dim: int | None = None, hidden_disc=None,
                 likelihood: str = "bernoulli", likelihood_kwargs=None, activation: str = "relu", seed: int = 0,
                 dtype="float32", **options):
        """``options``: any further keyword of :class:`numpyvae.models.adversarial.AVB` (saved in the config as given)."""
        self.avb = AVB(x_dim, hidden, z_dim, noise_dim=noise_dim, hidden_disc=hidden_disc, likelihood=likelihood,
                       likelihood_kwargs=likelihood_kwargs, activation=activation, seed=seed, dtype=dtype, **options)
        a = self.avb
        self.x_dim, self.z_dim, self.dtype, self.likelihood = a.x_dim, a.z_dim, a.dtype, a.likelihood
        self.config = dict(x_dim=a.x_dim, hidden=list(hidden), z_dim=a.z_dim, noise_dim=a.noise_dim,
                           hidden_disc=None if hidden_disc is None else list(hidden_disc), likelihood=likelihood,
                           likelihood_kwargs=dict(likelihood_kwargs or {}), activation=activation, seed=int(seed),
                           dtype=a.dtype.name, **options)
        self.rng = a.rng

    @property
    def groups(self) -> dict:
        return {"generator": ParamGroup(self.avb.gen_params, self.avb.gen_grads),
                "critic": ParamGroup(self.avb.disc_params, self.avb.disc_grads)}

    def forward(self, batch: Batch, noise=None, **options) -> AVBTape:
        """Both players' forward passes on the batch (:meth:`numpyvae.models.adversarial.AVB.forward`): a tape
        with ``bound`` (N,), ``loss`` (the generator's) and ``parts``; ``noise``: a Generator for ε and the
        prior draws (default the model's)."""
        return self.avb.forward(batch.x, noise)

    def backward(self, tape: AVBTape, c=None) -> dict:
        """Fill both groups' gradients from the tape: {"generator": ..., "critic": ...}.

        c is refused: per-sample weights serve objectives of a q with heads or a density (local inference,
        a χ-trained q), and AVB's implicit q has neither."""
        if c is not None:
            raise ValueError("AVBModel.backward: AVB's objective takes no per-sample weights (c)")
        self.avb.backward(tape)
        return {"generator": self.avb.gen_grads, "critic": self.avb.disc_grads}

    def critic_step(self, batch: Batch, rng=None) -> dict:
        """One more critic gradient on fresh samples of q and p (then step the critic's optimizer): the pairs the
        step's own critic pass reads, z from q (z̃ with adaptive contrast, its moment noise from the model's
        generator) against z_p ~ N(0, I)."""
        eps, z_p = self.avb.draw_noise(batch.x.shape[0], rng)
        z_c = self.avb.contrast(batch.x, self.avb.encode(batch.x, eps)[0])[0]
        return self.avb.discriminator_grads(batch.x, z_c, z_p)

    def proposal_of(self, x: np.ndarray, rng: np.random.Generator):
        """(m, s), each (N, K): the fitted Gaussian proposal (mean, widened std) from FIT_SAMPLES draws of q."""
        n = x.shape[0]
        eps = rng.standard_normal((FIT_SAMPLES * n, self.avb.noise_dim), dtype=self.dtype)
        z = self.avb.encode(np.tile(x, (FIT_SAMPLES, 1)), eps)[0].reshape(FIT_SAMPLES, n, self.z_dim)
        z = z.astype(np.float64)
        s = np.maximum(z.std(axis=0), 1e-3) * WIDEN          # a floor: a q collapsed to a point still gets a proposal
        return z.mean(axis=0), s

    def log_likelihood(self, x: np.ndarray, k: int, rng=None, y=None, **options) -> np.ndarray:
        """IS log p(x) with the proposal fitted to q's samples (module docstring), (N,) float64."""
        return self.estimates(x, k, rng, y, **options)["log_likelihood"]

    def estimates(self, x: np.ndarray, k: int, rng=None, y=None, *, batch_size: int = 100, chunk: int = 100,
                  bar=None) -> dict:
        """{"log_likelihood", "elbo"} (N,) float64 with the fitted proposal; "elbo" is the proposal's ELBO
        E_r[log w], not AVB's critic-based estimate. ``rng``: None (the evaluation seed), an integer seed or a Generator."""
        k = check_k(k, "AVBModel.log_likelihood")
        if y is not None:
            raise ValueError("AVB is not conditional: log_likelihood takes no labels")
        rng = as_rng(rng, "AVBModel.log_likelihood")
        cache = {}
        K = self.z_dim

        def log_weights(sl, c, rng):
            if sl.start not in cache:
                cache.clear()
                cache[sl.start] = self.proposal_of(x[sl], rng)
            m, s = cache[sl.start]
            z = rng.standard_normal((c,) + m.shape)                              # (c, n, K)
            fitted = rng.random((c, m.shape[0], 1)) < 0.5                        # which half of the mixture
            z = np.where(fitted, m + s * z, z)
            half_log_2pi = 0.5 * K * math.log(2 * math.pi)
            log_p = -0.5 * (z ** 2).sum(-1) - half_log_2pi
            log_fit = -0.5 * (((z - m) / s) ** 2).sum(-1) - np.log(s).sum(-1) - half_log_2pi
            log_r = np.logaddexp(log_fit, log_p) - math.log(2)
            heads = self.avb.decoder.forward(z.astype(self.dtype))[0]
            nll, _ = self.likelihood.forward(x[sl], *heads, check=False)
            return log_p - nll - log_r
        return importance_sampled(log_weights, x.shape[0], k, rng, batch_size=batch_size, chunk=chunk, bar=bar)

    def log_likelihood_by_quadrature(self, x: np.ndarray) -> np.ndarray:
        """log p(x) by quadrature over a 2-D z (exact up to the grid), (N,); only for z_dim = 2."""
        if self.z_dim != 2:
            raise ValueError(f"quadrature needs a 2-D latent, this AVB has z_dim = {self.z_dim}")
        return log_px_by_quadrature(lambda zz: self.avb.decoder.forward(zz.astype(self.dtype))[0], self.likelihood,
                                    x.astype(np.float64))

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None, mean: bool = True) -> np.ndarray:
        """z ~ N(0, I), then E[x|z] (or a draw with mean=False), (n, D)."""
        if y is not None:
            raise ValueError("AVB is not conditional: it takes no labels")
        rng = self.rng if rng is None else rng
        z = rng.standard_normal((check_positive_int(n, "AVBModel.sample", "n"), self.z_dim), dtype=self.dtype)
        heads = self.avb.decoder.forward(z)[0]
        return self.likelihood.mean(*heads) if mean else self.likelihood.sample(rng, *heads)

    def reconstruct(self, x: np.ndarray, rng=None) -> np.ndarray:
        """E[x|z] at one draw z = f(x, ε) of the implicit q, (N, D)."""
        eps, _ = self.avb.draw_noise(x.shape[0], np.random.default_rng(0) if rng is None else rng)
        return self.avb.decode_mean(self.avb.encode(x, eps)[0])

    def validation(self, x: np.ndarray, y, rng: np.random.Generator) -> dict:
        """Reconstruction −log p(x|z), the critic's KL estimate (T, or T + log r − log p with adaptive contrast)
        and the ELBO estimate −recon − KL on the validation set."""
        eps, _ = self.avb.draw_noise(x.shape[0], rng)
        z = self.avb.encode(x, eps)[0]
        recon = float(self.likelihood.forward(x, *self.avb.decoder.forward(z)[0], check=False)[0].mean())
        eps_moments = self.avb.moment_noise(x.shape[0], rng) if self.avb.adaptive_contrast else None
        kl = float(self.avb.kl_estimate(x, z, eps_moments).mean())
        return {"val_recon": recon, "val_kl_estimate": kl, "val_elbo_estimate": -recon - kl}

    def epoch_line(self, row: dict) -> str:
        return (f"epoch {row['epoch']:3d}  train recon {row['train_recon']:9.3f}  T {row['train_T']:8.3f}  "
                f"ELBO~ {row['train_elbo_estimate']:9.3f}  critic loss {row['train_critic_loss']:.3f} acc "
                f"{row['train_critic_accuracy']:5.1%}  val ELBO~ {row['val_elbo_estimate']:9.3f}  "
                f"{row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    def describe(self) -> str:
        return (f"AVB {self.x_dim}+{self.avb.noise_dim}-{'-'.join(map(str, self.config['hidden']))}-{self.z_dim} "
                f"(implicit q) with a critic T(x, z)")

    def figures(self, data, out_dir) -> list:
        """samples.png (E[x|z], z ~ N(0, I)) and reconstructions.png (at one draw of q); on 2-D data also
        latent.png (q's draws for the test points, over the prior's)."""
        from pathlib import Path
        from .pictures import plot_model_reconstructions, plot_model_samples
        out_dir, shape = Path(out_dir), data.image_shape
        rng = np.random.default_rng(0)
        n = 100 if shape is not None else 2000
        x = data.x[:2000]
        return [plot_model_samples(self.sample(n, rng), out_dir / "samples.png", shape,
                                   f"{n} samples: E[x|z], z ~ N(0, I)"),
                plot_model_reconstructions(x, self.reconstruct(x), out_dir / "reconstructions.png", shape,
                                           "E[x|z] at one z ~ q(z|x)")]
