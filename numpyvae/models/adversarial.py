"""Adversarial variational Bayes (Mescheder, Nowozin & Geiger, 2017): an implicit q(z|x) and a discriminator for the KL.

The ELBO needs log q(z|x) − log p(z) at the samples. AVB gives q no density at all: the
encoder takes noise as an input,

    z = f_φ(x, ε),   ε ~ N(0, I_E),     the encoder reads [x, ε] concatenated,

so q(z|x) can be any shape the network makes, but log q is unknown. A discriminator
T_ψ(x, z) (an MLP on [x, z], or the reference code's ⟨θ(x), s(z)⟩ + T_x(x) + T_z(z): avb_critic.py) is trained with the logistic loss to tell pairs (x, z ~ q(z|x))
from pairs (x, z ~ p(z)):

    L_T(ψ) = mean_n [ softplus(−T(x_n, z_n^q)) + softplus(T(x_n, z_n^p)) ],

whose minimizer is T*(x, z) = log q(z|x) − log p(z) (Goodfellow et al.'s optimal discriminator
in log-odds form). Put in for the KL, the encoder and decoder minimize

    L_G(φ, θ) = mean_n [ −log p_θ(x_n | z_n) + T_ψ(x_n, z_n) ],   z_n = f_φ(x_n, ε_n),

with ψ held fixed (its gradient reaches φ through ∂T/∂z). At T = T* this is the negative ELBO.
The two players alternate, one step each per batch (the paper's Algorithm 1).

**Adaptive contrast** (``adaptive_contrast=True``, the paper's remedy for a saturated critic, and the ``is_ac`` path of
Mescheder's avb/avb/__init__.py). When q is far from p the critic's job is easy, its logistic loss
saturates and T underestimates the KL. Contrast q with r(z|x) = N(μ(x), σ²(x)) instead, its own
moments (held constant, as tf.stop_gradient does there; here estimated from M extra noise draws
per x): the critic tells z̃ = (z − μ)/σ from N(0, I), so at its optimum T* = log q̃(z̃) −
log N(z̃; 0, I) = log q(z|x) − log r(z|x) (the Jacobian 1/σ cancels), and

    KL estimate = T(x, z̃) + log r(z|x) − log p(z),   log r = −½ Σ (z̃² + log σ² + log 2π).

Through z (μ, σ constant): ∂KL/∂z = ∂T/∂z̃ / σ − z̃/σ + z.

Every gradient is by hand on the engine's layers (MLP, MultiHead, Dense) and likelihoods:

    generator:      dnll = 1/N -> likelihood -> decoder -> dz_rec
                    dT   = 1/N -> critic -> dz_T  (with adaptive contrast: dz_T/σ − z̃/(Nσ) + z/N)
                    encoder.backward(dz_rec + dz_T)       (its input [x, ε] is data)
    discriminator:  one pass over the 2N pairs [(x, z_q); (x, z_p)], z_q a constant here;
                    softplus'(t) = σ(t), so dL_T/dT_q = −σ(−T_q)/N = (σ(T_q) − 1)/N, dL_T/dT_p = σ(T_p)/N.

One step is :meth:`AVB.forward` (both players' passes, a tape with the per-example ELBO estimate)
then :meth:`AVB.backward`. The generator's walk writes garbage into the discriminator's grads (the
T-path runs through it); the backward therefore walks the critic's tape second, overwriting them.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int
from ..likelihoods import make_likelihood
from .avb_critic import make_critic
from ..nn import MLP, Dense, MultiHead, named_arrays
from ..stable import sigmoid, softplus


class AVB:
    """Implicit-q autoencoder with a discriminator in place of the KL.

    Parameters
    ----------
    x_dim, z_dim : D and K
    hidden : hidden sizes of the encoder (input [x, ε], D + E) and, mirrored, of the decoder
    noise_dim : E, the size of ε fed into the encoder (default K)
    hidden_disc : hidden sizes of T(x, z) (default: hidden)
    critic : "mlp" (T on [x, z]) or "inner" (⟨θ(x), s(z)⟩ + T_x(x) + T_z(z), the reference code's), avb_critic.py
    adaptive_contrast : bool   contrast q with its own moments' Gaussian instead of p (see above)
    n_moment_samples : M, the noise draws per x that estimate μ(x), σ²(x) for the adaptive contrast
    likelihood, likelihood_kwargs : p(x|z), as for the VAE ("bernoulli", "gaussian" with sigma, ...)
    activation, seed, dtype : as for the VAE

    ``gen_params`` / ``gen_grads`` (encoder and decoder) and ``disc_params`` / ``disc_grads``
    are OrderedDicts of the layers' own arrays, one optimizer for each player.
    """

    def __init__(self, x_dim: int, hidden=(64,), z_dim: int = 2, *, noise_dim: int | None = None,
                 hidden_disc=None, likelihood: str = "bernoulli", likelihood_kwargs=None,
                 activation: str = "relu", seed: int = 0, dtype="float32", critic: str = "mlp",
                 adaptive_contrast: bool = False, n_moment_samples: int = 16):
        self.dtype = as_dtype(dtype)
        self.x_dim = check_positive_int(x_dim, "AVB", "x_dim")
        self.z_dim = check_positive_int(z_dim, "AVB", "z_dim")
        self.noise_dim = check_positive_int(noise_dim if noise_dim is not None else z_dim, "AVB", "noise_dim")
        hidden = [check_positive_int(h, "AVB", "hidden size") for h in hidden]
        hidden_disc = hidden if hidden_disc is None else [check_positive_int(h, "AVB", "hidden_disc size")
                                                          for h in hidden_disc]
        self.likelihood = make_likelihood(likelihood, **(likelihood_kwargs or {}))
        rng = np.random.default_rng(seed)
        mlp = dict(rng=rng, dtype=self.dtype, pack=False)
        self.encoder = MLP([self.x_dim + self.noise_dim, *hidden, self.z_dim], activation, final_activation=False, **mlp)
        dec_hidden = list(reversed(hidden))
        trunk = MLP([self.z_dim, *dec_hidden], activation, **mlp)
        self.decoder = MultiHead(trunk, [(name, Dense(dec_hidden[-1] if dec_hidden else self.z_dim, self.x_dim,
                                                      init="glorot_uniform", rng=rng, dtype=self.dtype))
                                         for name in self.likelihood.heads])
        self.discriminator = make_critic(critic, self.x_dim, self.z_dim, hidden_disc, activation, rng, self.dtype)
        self.adaptive_contrast = bool(adaptive_contrast)
        self.n_moment_samples = check_positive_int(n_moment_samples, "AVB", "n_moment_samples")
        if self.adaptive_contrast and self.n_moment_samples < 2:
            raise ValueError(f"AVB: adaptive_contrast needs n_moment_samples >= 2 to estimate a variance, "
                             f"got {n_moment_samples}")
        self.rng = np.random.default_rng([seed, 1])
        gen = list(self.encoder.named_layers("encoder.")) + list(self.decoder.named_layers("decoder."))
        self.gen_params, self.gen_grads = named_arrays(gen, "params"), named_arrays(gen, "grads")
        disc = list(self.discriminator.named_layers("discriminator."))
        self.disc_params, self.disc_grads = named_arrays(disc, "params"), named_arrays(disc, "grads")

    # ------------------------------------------------------------ the pieces

    def _check_x(self, x, where):
        check_array(x, where, ndim=2, last=self.x_dim, dtype=self.dtype)
        return self.likelihood.check_x(x, where)

    def draw_noise(self, n: int, rng: np.random.Generator | None = None):
        """(ε (n, E) for the encoder, z_p (n, K) ~ p(z) = N(0, I)), from rng (default: the model's own)."""
        rng = rng if rng is not None else self.rng
        return (rng.standard_normal((n, self.noise_dim), dtype=self.dtype),
                rng.standard_normal((n, self.z_dim), dtype=self.dtype))

    def encode(self, x: np.ndarray, eps: np.ndarray):
        """z = f(x, ε): x (N, D), ε (N, E) -> (z (N, K), tape)."""
        return self.encoder.forward(np.concatenate([x, eps], axis=1))

    def critic(self, x: np.ndarray, z: np.ndarray):
        """T(x, z): x (N, D), z (N, K) -> (T (N,), tape); at the optimum T = log q(z|x) − log p(z)."""
        return self.discriminator.forward(x, z)

    def moment_noise(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """eps_moments (M, n, E) ~ N(0, I), the noise of the moment estimate, from rng (default: the model's own)."""
        rng = rng if rng is not None else self.rng
        return rng.standard_normal((self.n_moment_samples, n, self.noise_dim), dtype=self.dtype)

    def moments(self, x: np.ndarray, eps_moments: np.ndarray):
        """μ(x), σ(x) of q(z|x) from M noise draws: x (N, D), eps_moments (M, N, E) -> (μ (N, K), σ (N, K)).

        Constants for every gradient (the reference's tf.stop_gradient); σ² gets 1e-4 added, as there.
        """
        M, N = eps_moments.shape[:2]
        z = self.encode(np.tile(x, (M, 1)), eps_moments.reshape(M * N, -1))[0].reshape(M, N, self.z_dim)
        return z.mean(0), np.sqrt(z.var(0) + 1e-4)

    def contrast(self, x: np.ndarray, z: np.ndarray, eps_moments: np.ndarray | None = None):
        """(z_c, σ, log r(z|x) − log p(z)): what the critic reads and the KL estimate's correction, forward only.

        Without adaptive contrast: (z, None, 0). With it: z̃ = (z − μ)/σ from :meth:`moments` (eps_moments
        (M, N, E), drawn from the model's generator if None) and log r − log p per row (N,).
        """
        if not self.adaptive_contrast:
            return z, None, 0.0
        if eps_moments is None:
            eps_moments = self.moment_noise(x.shape[0])
        mu, sigma = self.moments(x, eps_moments)
        z_c = (z - mu) / sigma
        log_r = -0.5 * (z_c ** 2 + 2 * np.log(sigma) + math.log(2 * math.pi)).sum(1)
        log_p = -0.5 * (z ** 2 + math.log(2 * math.pi)).sum(1)
        return z_c, sigma, log_r - log_p

    def kl_estimate(self, x: np.ndarray, z: np.ndarray, eps_moments: np.ndarray | None = None) -> np.ndarray:
        """The critic's estimate of log q(z|x) − log p(z) at q's draws z (N, K): T, or T(x, z̃) + log r − log p."""
        z_c, _, log_r_over_p = self.contrast(x, z, eps_moments)
        return self.critic(x, z_c)[0] + log_r_over_p

    def decode_mean(self, z: np.ndarray) -> np.ndarray:
        """E[x|z], (N, D)."""
        return self.likelihood.mean(*self.decoder.forward(z)[0])

    # ------------------------------------------------------------ one step: forward, then backward

    def forward(self, x: np.ndarray, rng: np.random.Generator | None = None) -> "AVBTape":
        """Both players' forward passes on one batch x (N, D): the step's :class:`AVBTape`.

        Draws ε (N, E) and z_p (N, K) ~ p(z) from rng (default: the model's own generator), then
        the generator's pass (:meth:`generator_forward`; with adaptive contrast its moment noise
        comes from the model's generator) and the critic's pass on the generator's z (z̃ with
        adaptive contrast) against z_p (:meth:`critic_forward`). The tape owns a copy of x.
        """
        x = self._check_x(x, "AVB.forward").copy()
        eps, z_p = self.draw_noise(x.shape[0], rng)
        generator = self.generator_forward(x, eps)
        return AVBTape(generator, self.critic_forward(x, generator.z_c, z_p), eps, z_p)

    def backward(self, tape: "AVBTape") -> None:
        """Fill gen_grads and disc_grads from the step's tape: the generator's walk first, then the critic's.

        The generator's walk runs back through the critic (its T-path), which writes the critic's
        grads; the critic's own walk comes second and overwrites them with ∂L_T/∂ψ.
        """
        if not isinstance(tape, AVBTape):
            raise TypeError(f"AVB.backward: pass the tape forward returned, got {type(tape).__name__}")
        self.generator_backward(tape.generator)
        self.critic_backward(tape.critic)

    # ------------------------------------------------------------ the generator: L_G

    def generator_forward(self, x: np.ndarray, eps: np.ndarray,
                          eps_moments: np.ndarray | None = None) -> "GeneratorTape":
        """L_G's forward: z = f(x, ε), −log p(x|z), and the critic's KL estimate at z, per example.

        KL_n = T(x_n, z_n), or with adaptive contrast T(x_n, z̃_n) + log r(z_n) − log p(z_n).
        eps_moments (M, N, E): the noise of the moment estimate (drawn from the model's generator if
        None; unused without adaptive contrast).
        """
        x = self._check_x(x, "AVB.generator_forward")
        check_array(eps, "AVB.generator_forward", ndim=2, last=self.noise_dim, dtype=self.dtype, name="eps")
        if self.adaptive_contrast and eps_moments is None:
            eps_moments = self.moment_noise(x.shape[0])              # drawn here to be kept on the tape
        z, enc_tape = self.encode(x, eps)
        heads, dec_tape = self.decoder.forward(z)
        nll, lik_tape = self.likelihood.forward(x, *heads, check=False)
        z_c, sigma, log_r_over_p = self.contrast(x, z, eps_moments)
        t, critic_tape = self.critic(x, z_c)
        kl = t + log_r_over_p if self.adaptive_contrast else t
        return GeneratorTape(z, z_c, sigma, nll, t, kl, eps_moments, (enc_tape, dec_tape, lik_tape, critic_tape))

    def generator_backward(self, tape: "GeneratorTape") -> None:
        """Write ∂L_G/∂(φ, θ) into gen_grads, for L_G = mean_n [nll_n + KL_n] (ψ held fixed).

        ∂L_G/∂nll_n = ∂L_G/∂KL_n = 1/N.
        Through the decoder: dz_rec = decoder.backward(likelihood.backward(1/N)).
        Through the critic: dz_T = critic.backward(1/N) (this writes the critic's grads too: garbage
        for it, which :meth:`critic_backward` overwrites); with adaptive contrast
            dz_KL = dz_T / σ + (−z̃ / σ + z) / N     (∂z̃/∂z = 1/σ; ∂log r/∂z = −z̃/σ; ∂(−log p)/∂z = z).
        The encoder's input [x, ε] is data: need_dx=False.
        """
        z, z_c, sigma = tape.z, tape.z_c, tape.sigma
        enc_tape, dec_tape, lik_tape, critic_tape = tape.tapes
        N = z.shape[0]
        d = np.full(N, 1.0 / N, dtype=self.dtype)
        dz = self.decoder.backward(list(self.likelihood.backward(d, lik_tape)), dec_tape)
        dz_t = self.discriminator.backward(d, critic_tape)
        if self.adaptive_contrast:
            dz += (dz_t + (z * sigma - z_c) / N) / sigma                # dz_T/σ + (z − z̃/σ)/N
        else:
            dz += dz_t
        self.encoder.backward(dz, enc_tape, need_dx=False)

    def generator_grads(self, x: np.ndarray, eps: np.ndarray, eps_moments: np.ndarray | None = None) -> dict:
        """The generator's forward and backward on its own (the critic's grads are left as garbage):
        {"loss", "recon", "T", "KL", "z"} (z: what the critic reads, z or z̃)."""
        tape = self.generator_forward(x, eps, eps_moments)
        self.generator_backward(tape)
        return {**tape.parts, "z": tape.z_c}

    # ------------------------------------------------------------ the critic: L_T

    def critic_forward(self, x: np.ndarray, z_q: np.ndarray, z_p: np.ndarray) -> "CriticTape":
        """L_T's forward: T on the 2N pairs [(x, z_q); (x, z_p)] in one pass, its logistic loss and accuracy.

        L_T = mean_n softplus(−T(x_n, z_q,n)) + mean_n softplus(T(x_n, z_p,n)); z_q is a constant here.
        """
        x = self._check_x(x, "AVB.critic_forward")
        N = x.shape[0]
        for name, z in (("z_q", z_q), ("z_p", z_p)):
            check_array(z, "AVB.critic_forward", ndim=2, last=self.z_dim, dtype=self.dtype, name=name)
            if z.shape[0] != N:
                raise ValueError(f"AVB.critic_forward: {name} must have {N} rows like x, got {z.shape}")
        t, tape = self.critic(np.concatenate([x, x]), np.concatenate([z_q, z_p]))
        t_q, t_p = t[:N], t[N:]
        loss = float(softplus(-t_q).mean() + softplus(t_p).mean())
        accuracy = float(((t_q > 0).sum() + (t_p < 0).sum()) / (2 * N))
        return CriticTape(t, tape, loss, accuracy)

    def critic_backward(self, tape: "CriticTape") -> None:
        """Write ∂L_T/∂ψ into disc_grads. softplus' = σ, so
            ∂L_T/∂T_q = −σ(−T_q)/N = (σ(T_q) − 1)/N,     ∂L_T/∂T_p = σ(T_p)/N.
        """
        N = tape.t.shape[0] // 2
        dt = sigmoid(tape.t)
        dt[:N] -= 1.0
        dt /= N
        self.discriminator.backward(dt, tape.tape, need_dz=False)

    def discriminator_grads(self, x: np.ndarray, z_q: np.ndarray, z_p: np.ndarray) -> dict:
        """The critic's forward and backward on its own: ∂L_T/∂ψ into disc_grads; returns {"loss", "accuracy"}."""
        tape = self.critic_forward(x, z_q, z_p)
        self.critic_backward(tape)
        return {"loss": tape.loss, "accuracy": tape.accuracy}


class GeneratorTape(NamedTuple):
    """The generator's forward (:meth:`AVB.generator_forward`): per example (N,) nll, T and the KL estimate;
    z (N, K) and what the critic read z_c (z, or z̃ with adaptive contrast; σ (N, K) or None); the moment
    noise (M, N, E) of the adaptive contrast (or None); the pieces' tapes (encoder, decoder, likelihood, critic)."""
    z: np.ndarray
    z_c: np.ndarray
    sigma: np.ndarray | None
    nll: np.ndarray
    t: np.ndarray
    kl: np.ndarray
    eps_moments: np.ndarray | None
    tapes: tuple

    @property
    def parts(self) -> dict:
        """{"loss", "recon", "T", "KL"}: L_G = recon + KL and its parts, batch means."""
        recon, kl = float(self.nll.mean()), float(self.kl.mean())
        return {"loss": recon + kl, "recon": recon, "T": float(self.t.mean()), "KL": kl}


class CriticTape(NamedTuple):
    """The critic's forward (:meth:`AVB.critic_forward`): T (2N,) on [(x, z_q); (x, z_p)], its tape, L_T, accuracy."""
    t: np.ndarray
    tape: object
    loss: float
    accuracy: float


class AVBTape(NamedTuple):
    """One step's record (:meth:`AVB.forward`): both players' tapes and the noise drawn, ε (N, E) and z_p (N, K).

    ``bound`` (N,): the per-example ELBO estimate −nll_n − KL_n (the critic in place of the KL);
    ``loss``: L_G, what the generator minimizes; ``parts``: recon, T, the ELBO estimate and the critic's loss
    and accuracy, batch means.
    """
    generator: GeneratorTape
    critic: CriticTape
    eps: np.ndarray
    z_p: np.ndarray

    @property
    def bound(self) -> np.ndarray:
        return -(self.generator.nll + self.generator.kl)

    @property
    def loss(self) -> float:
        return self.generator.parts["loss"]

    @property
    def parts(self) -> dict:
        g = self.generator.parts
        return {"recon": g["recon"], "T": g["T"], "elbo_estimate": -g["recon"] - g["KL"],
                "critic_loss": self.critic.loss, "critic_accuracy": self.critic.accuracy}


def log_px_by_quadrature(decode_heads, likelihood, x: np.ndarray, limit: float = 4.0, n: int = 401,
                         batch: int = 16) -> np.ndarray:
    """log p(x) = log ∫ p(x|z) N(z; 0, I) dz for a 2-D latent, on an n × n grid over [−limit, limit]², (N,) float64.

    decode_heads : z (M, 2) -> list of likelihood heads (M, D). The rule is the midpoint sum
    Σ_g p(x|z_g) p(z_g) Δ²; the prior's mass outside the square is e^{−limit²/2}-small. A model-free
    judge for a 2-D model whatever its q (AVB's q has no density, so importance sampling is out).
    """
    g = np.linspace(-limit, limit, n)
    step = g[1] - g[0]
    zz = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    log_prior = -0.5 * (zz ** 2).sum(1) - math.log(2 * math.pi) + 2 * math.log(step)
    heads = [h.astype(np.float64) for h in decode_heads(zz.astype(np.float64))]
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], batch):
        xb = x[start:start + batch].astype(np.float64)
        nll, _ = likelihood.forward(np.broadcast_to(xb, (zz.shape[0],) + xb.shape).reshape(-1, xb.shape[1]),
                                    *[np.repeat(h, xb.shape[0], axis=0) for h in heads], check=False)
        log_joint = log_prior[:, None] - nll.reshape(zz.shape[0], xb.shape[0])
        m = log_joint.max(0)
        out[start:start + batch] = m + np.log(np.exp(log_joint - m).sum(0))
    return out
