"""A VAE with several stochastic layers (Burda, Grosse & Salakhutdinov, 2015), forward and backward by hand.

Two layers, Burda et al.'s architecture (``HVAE(784, stochastic=[100, 50], hidden=[100, 100])``):

    inference   x ─2 tanh of 100─► q(z₁|x) (100) ─2 tanh of 50─► q(z₂|z₁) (50)         diagonal Gaussians
    generative  z₂ ~ p(z₂) ─2 tanh of 50─► p(z₁|z₂) (100) ─2 tanh of 100─► p(x|z₁)    Bernoulli

One sample of the whole chain, with one noise array eps (S, N, K₁ + K₂) cut into a slice per layer:

    z₁ = mu₁(x) + sigma₁(x)·eps₁,   z₂ = mu₂(z₁) + sigma₂(z₁)·eps₂
    log w = log p(x|z₁) + log p(z₁|z₂) + log p(z₂) − log q(z₁|x) − log q(z₂|z₁)

so the ELBO is the mean of log w over samples, a Monte Carlo KL at every layer, and the
IWAE bound is logsumexp over the S joint samples (z₁, z₂)_s. More layers chain the same way.

Pieces: every network is an ``nn.MultiHead`` (an MLP trunk and linear heads); each q(z_l | z_{l−1})
is a ``latent.gaussian.DiagonalGaussian``; each p(z_l | z_{l+1}) a
``latent.conditional.ConditionalGaussian``; p(z_L) any prior of ``latent.priors`` (standard,
mog:K, vamp:K); p(x|z₁) any likelihood; the bound any of ``bounds``. :meth:`HVAE.forward` returns
a tape, :meth:`HVAE.backward` walks it in reverse. The public API is :class:`numpyvae.models.vae.VAE`'s,
so the trainer, checkpoints, evaluate and plots take either model.

Deterministic layers: the block between x and z₁ has the sizes ``hidden``; each deeper block,
between z_{l−1} and z_l, has len(hidden) layers of K_l units (Burda et al.: 100 100 | 50 50).
The generative blocks mirror the inference ones.
"""
from __future__ import annotations

import numpy as np

from ..bounds.registry import OBJECTIVES, make_bound
from ..checks import as_dtype, check_array, check_positive_int
from ..latent.conditional import ConditionalGaussian
from ..latent.gaussian import DiagonalGaussian
from ..latent.priors import make_prior
from ..likelihoods import make_likelihood
from .base import Model, unbatch
from ..nn import named_arrays, pack_layers
from ..seeds import noise_seed, prior_init_seed
from .vae import Tape
from .vae_build import VAEBuild
from .vae_uses import VAEUses

__all__ = ["HVAE"]


class HVAE(VAEUses, Model):
    """A hierarchical VAE with stochastic layers of sizes ``stochastic`` = [K₁, ..., K_L] (z₁ nearest x).

    Parameters
    ----------
    x_dim : int                    D
    stochastic : list of int       [K₁, ..., K_L], at least one layer
    hidden : list of int           the deterministic layers between x and z₁ (deeper blocks: K_l units each)
    likelihood, activation, seed, dtype, likelihood_kwargs, init : as for VAE
    prior : str                    p(z_L): "standard", "mog:K", "vamp:K". The VampPrior's components
                                   are q(z_L | u_k) along the mean path u_k -> mu₁ -> ... -> (mu_L, logvar_L)
                                   (each lower layer at its mean), so they are Gaussians and the gradient
                                   reaches the pseudo-inputs through every encoder.

    Parameter names: "q.z1.0.W" (the encoder of q(z₁|x)), "q.z2.mu.b", "p.z1.logvar.W" (the
    network of p(z₁|z₂)), "p.x.out.W" (of p(x|z₁)), "prior.means".
    """

    def __init__(self, x_dim: int, stochastic=(100, 50), hidden=(100, 100), likelihood: str = "bernoulli",
                 activation: str = "tanh", seed: int = 0, dtype="float32", likelihood_kwargs=None, *,
                 prior: str = "standard", init: str | None = None):
        self.dtype = as_dtype(dtype)
        self.x_dim = check_positive_int(x_dim, "HVAE", "x_dim")
        if isinstance(stochastic, (int, np.integer)) or not len(stochastic):
            raise ValueError(f"HVAE: stochastic must be a non-empty list of layer sizes, e.g. [100, 50], "
                             f"got {stochastic!r}")
        self.stochastic = [check_positive_int(k, "HVAE", "stochastic layer size") for k in stochastic]
        self.hidden = [check_positive_int(h, "HVAE", "hidden size") for h in hidden]
        self.z_dim = self.stochastic[-1]                 # the prior's space: what decode and sample take
        self.eps_dim = sum(self.stochastic)              # one noise array for every layer
        self.config = dict(x_dim=self.x_dim, stochastic=self.stochastic, hidden=self.hidden,
                           likelihood=likelihood, activation=activation, seed=seed, dtype=self.dtype.name,
                           likelihood_kwargs=dict(likelihood_kwargs or {}), prior=prior, init=init)
        self.likelihood = make_likelihood(likelihood, **(likelihood_kwargs or {}))
        self.posterior = DiagonalGaussian(self.z_dim)    # the top layer's family (point summaries, plots)
        self.families = [DiagonalGaussian(k) for k in self.stochastic]
        self.conditionals = [ConditionalGaussian(k) for k in self.stochastic[:-1]]
        self.prior = make_prior(prior, self.z_dim, x_dim=self.x_dim, dtype=self.dtype,
                                rng=np.random.default_rng(prior_init_seed(seed)))
        init_rng = np.random.default_rng(seed)
        self.rng = np.random.default_rng(noise_seed(seed))   # the noise stream, apart from the weights'
        blocks = [self.hidden] + [[k] * len(self.hidden) for k in self.stochastic[1:]]
        ins = [self.x_dim] + self.stochastic[:-1]
        gauss = lambda k: {"mu": k, "logvar": k}   # noqa: E731  the heads of a Gaussian layer
        # inference: q(z_l | z_{l-1}), z_0 = x
        self.encoders = [self._network(d, b, activation, gauss(k), init_rng)
                         for d, b, k in zip(ins, blocks, self.stochastic)]
        # generative: p(z_l | z_{l+1}) for l < L, read from z_{l+1} through block l+1 reversed
        self.cond_nets = [self._network(self.stochastic[l + 1], blocks[l + 1][::-1], activation,
                                        gauss(self.stochastic[l]), init_rng) for l in range(len(self.stochastic) - 1)]
        dec_heads = {("out" if i == 0 else name): self.x_dim for i, name in enumerate(self.likelihood.heads)}
        self.decoder = self._network(self.stochastic[0], self.hidden[::-1], activation, dec_heads, init_rng)
        self.flat_params, self.flat_grads = pack_layers(self.named_layers())
        self.params = named_arrays(self.named_layers(), "params")
        self.grads = named_arrays(self.named_layers(), "grads")
        self.last_tape: Tape | None = None

    kind = "hvae"
    groups = VAEBuild.groups

    _network = VAEBuild._network      # an MLP trunk and one Dense head per output, built as the VAE builds them

    def networks(self) -> list:
        """Every network a step runs: the encoders bottom-up, the networks of p(z_l | z_{l+1}), p(x|z₁)'s."""
        return [*self.encoders, *self.cond_nets, self.decoder]

    def latent_families(self) -> list:
        """The diagonal Gaussian of every stochastic layer, bottom-up."""
        return list(self.families)

    def named_layers(self):
        """(name, piece) for every piece with parameters: encoders bottom-up, p(z_l|z_{l+1}), p(x|z₁), prior."""
        for l, enc in enumerate(self.encoders, 1):
            yield from enc.named_layers(f"q.z{l}.")
        for l, net in enumerate(self.cond_nets, 1):
            yield from net.named_layers(f"p.z{l}.")
        yield from self.decoder.named_layers("p.x.")
        yield "prior", self.prior

    @property
    def n_layers(self) -> int:
        return len(self.stochastic)

    # ---- noise ---------------------------------------------------------------------

    def noise(self, rng: np.random.Generator, n_samples: int, n: int) -> np.ndarray:
        """eps ~ N(0, I) for every layer at once, (S, N, K₁ + ... + K_L)."""
        return rng.standard_normal((n_samples, n, self.eps_dim), dtype=self.dtype)

    def draw_eps(self, n: int, n_samples: int = 1) -> np.ndarray:
        """The noise from the model's own seeded generator, (S, N, ΣK)."""
        return self.noise(self.rng, n_samples, n)

    def _eps_layer(self, eps, l):
        """Layer l's slice of eps, (S, N, K_l) (a view)."""
        start = sum(self.stochastic[:l])
        return eps[..., start:start + self.stochastic[l]]

    def _own_eps(self, eps, n, n_samples):
        if eps is None:
            return self.draw_eps(n, n_samples)
        check_array(eps, "HVAE.forward", ndim=(2, 3), last=self.eps_dim, dtype=self.dtype, name="eps")
        eps = eps[None] if eps.ndim == 2 else eps
        if eps.shape[1] != n:
            raise ValueError(f"HVAE.forward: eps must have shape (S, {n}, {self.eps_dim}) for x with {n} rows "
                             f"(the noise of every layer, K = {'+'.join(map(str, self.stochastic))}), got {eps.shape}")
        return eps.copy()

    # ---- one stochastic layer of q --------------------------------------------------------

    def _rsample(self, l, params, eps_l):
        """z_l, log q(z_l | z_{l−1}) and the family's tape. Layer 1 has one (mu, logvar) per example,
        (N, K); deeper layers one per sample, (S, N, K), so they go through the family as S·N examples
        with one sample each: the family's Σ_s in its backward is then a sum over one term."""
        if l == 0:
            return self.families[0].rsample(params, eps_l)
        S, N, K = eps_l.shape
        z, log_q, tape = self.families[l].rsample([p.reshape(S * N, K) for p in params], eps_l.reshape(1, S * N, K))
        return z.reshape(S, N, K), log_q.reshape(S, N), tape

    def _family_backward(self, l, dz, dlog_q, tape):
        if l == 0:
            return self.families[0].backward(dz, dlog_q, tape)
        S, N, K = dz.shape
        dparams = self.families[l].backward(dz.reshape(1, S * N, K), dlog_q.reshape(1, S * N), tape)
        return [d.reshape(S, N, K) for d in dparams]

    # ---- forward and backward ---------------------------------------------------------------

    def forward(self, x, eps=None, *, n_samples: int = 1, beta: float = 1.0, kl: str | None = None,
                objective: str = "elbo", alpha: float | None = None, y=None) -> Tape:
        """The forward pass: tape.loss, tape["bound"] (N,), tape["log_w"] (S, N), tape.parts.

        kl must be None or "mc": with several layers the KL is the Monte Carlo one,
        Σ_l [log q(z_l|z_{l−1}) − log p(z_l|z_{l+1})] at the sampled chain.
        """
        x, y = unbatch(x, y, "HVAE.forward")
        if y is not None:
            raise ValueError("HVAE.forward: a hierarchy is not a conditional model; y must be None")
        if kl not in (None, "mc"):
            raise ValueError(f"HVAE: kl must be 'mc' (or unset): a hierarchy's KL is estimated at the samples, got {kl!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if objective != "elbo" and beta != 1.0:
            raise ValueError(f"beta weights the ELBO's KL term; the {objective} bound is defined for beta = 1, got {beta}")
        bound_fn = make_bound(objective, alpha)
        check_array(x, "HVAE.forward", ndim=2, last=self.x_dim, dtype=self.dtype)
        self.likelihood.check_x(x, "HVAE.forward")
        x = x.copy()
        eps = self._own_eps(eps, x.shape[0], check_positive_int(n_samples, "HVAE.forward", "n_samples"))
        t = Tape(x=x, eps=eps, beta=float(beta))

        # inference, bottom-up: z_l ~ q(z_l | z_{l-1})
        h, zs, t["_enc"], t["_q"] = x, [], [], []
        log_q = np.zeros(eps.shape[:2], dtype=self.dtype)
        kl_layers = []
        for l, enc in enumerate(self.encoders):
            params, enc_tape = enc.forward(h)                              # [mu_l, logvar_l]
            z, log_q_l, q_tape = self._rsample(l, params, self._eps_layer(eps, l))
            t["_enc"].append(enc_tape)
            t["_q"].append(q_tape)
            log_q += log_q_l
            kl_layers.append(log_q_l)
            zs.append(z)
            h = z
        # generative, top-down: log p(z_L) + Σ_l log p(z_l | z_{l+1})
        t["kl_route"] = "mc"                                               # always: log q − log p at the samples
        density, t["_prior_enc"] = self.prior_density()                    # p(z_L)
        log_p_top, p_tape = density.log_prob(zs[-1])                       # (S, N)
        t["_prior"] = (density, p_tape)
        log_p = log_p_top.copy()
        kl_layers[-1] = kl_layers[-1] - log_p_top
        t["_cond"] = []
        for l, (net, cond) in enumerate(zip(self.cond_nets, self.conditionals)):
            (mu, logvar), net_tape = net.forward(zs[l + 1])                # p(z_l | z_{l+1}), (S, N, K_l)
            log_p_l, cond_tape = cond.log_prob(zs[l], mu, logvar)
            t["_cond"].append((net_tape, cond_tape))
            log_p += log_p_l
            kl_layers[l] = kl_layers[l] - log_p_l
        heads, t["_dec"] = self.decoder.forward(zs[0])                     # p(x | z₁)
        nll, t["_lik"] = self.likelihood.forward(x, *heads, check=False)   # (S, N)

        kl_sn = log_q - log_p                                              # Monte Carlo KL of the whole chain
        log_w = -(nll + beta * kl_sn)
        bound, bound_tape = bound_fn.forward(log_w)
        t["_bound"] = (bound_fn, bound_tape)
        kl_n = kl_sn.mean(0)
        t.loss = float(-bound.mean())
        t.parts = {"loss": t.loss, "recon": float(nll.mean()), "kl": float(kl_n.mean())}
        t.update(z=zs, nll=nll, kl=kl_n, kl_layers=[k.mean(0) for k in kl_layers], log_q=log_q, log_p=log_p,
                 log_w=log_w, bound=bound)
        return t

    def backward(self, tape: Tape, c: np.ndarray | None = None):
        """Fill and return ``self.grads`` from a tape of :meth:`forward`.

        c : (S, N), optional   per-sample weights ∂L/∂log w of another objective of the same log
            weights (the gradient is then that of −Σ c · log w); default the bound's own.

        With c = ∂(mean bound)/∂log w (the bound's sample weights) and log w = −nll + β (log p − log q):
            ∂loss/∂nll = c,   ∂loss/∂log p(·) = −β c  (every generative density),   ∂loss/∂log q_l = β c.
        First the generative side, which gives every dz_l its share from p(x|z₁), p(z_l|z_{l+1})
        (both through z_l itself and through the network reading z_{l+1}) and the prior; then the
        encoders top-down, each adding its dL/dz_{l−1} (the network of q(z_l|z_{l−1}) reads z_{l−1}).
        """
        if not isinstance(tape, Tape):
            raise TypeError("HVAE.backward: pass the tape forward returned, got " + type(tape).__name__)
        beta = tape["beta"]
        if c is None:
            bound_fn, bound_tape = tape["_bound"]
            c = bound_fn.weights(bound_tape)                               # (S, N)
        else:
            check_array(c, "HVAE.backward", ndim=2, dtype=self.dtype, name="c")
            if c.shape != tape["log_w"].shape:
                raise ValueError(f"HVAE.backward: c must have log w's shape {tape['log_w'].shape}, got {c.shape}")
        g_p = -beta * c                                                    # ∂loss/∂log p
        dz = [None] * self.n_layers
        dheads = self.likelihood.backward(c, tape["_lik"])
        dz[0] = self.decoder.backward(list(dheads), tape["_dec"])          # through p(x | z₁)
        for l, (net, cond) in enumerate(zip(self.cond_nets, self.conditionals)):
            net_tape, cond_tape = tape["_cond"][l]
            dz_l, dmu, dlogvar = cond.backward(g_p, cond_tape)             # log p(z_l | z_{l+1}) at z_l ...
            dz[l] += dz_l
            dz[l + 1] = net.backward([dmu, dlogvar], net_tape)             # ... and through its network at z_{l+1}
        density, p_tape = tape["_prior"]
        dz[-1] += density.backward(g_p, p_tape)                            # log p(z_L)
        g_q = beta * c                                                     # ∂loss/∂log q_l
        for l in reversed(range(self.n_layers)):
            dparams = self._family_backward(l, dz[l], g_q, tape["_q"][l])  # through z_l and log q_l
            if l > 0:
                dz[l - 1] += self.encoders[l].backward(dparams, tape["_enc"][l])   # q(z_l|z_{l-1}) reads z_{l-1}
            else:
                self.encoders[0].backward(dparams, tape["_enc"][0], need_dx=False)  # x is data
        if tape["_prior_enc"] is not None:                                 # the prior's own pass through the encoders
            self._prior_inputs_backward(density, tape["_prior_enc"])
        tape.update(c=c, dz=dz)
        return self.grads

    # ---- the prior on the top layer ------------------------------------------------------

    def _encode_prior_inputs(self, u):
        """The prior's inputs u (C, D) up the mean path: -> ((mu_L, logvar_L), the encoders' tapes)."""
        h, tapes = u, []
        for enc in self.encoders:
            (mu, logvar), enc_tape = enc.forward(h)
            tapes.append(enc_tape)
            h = mu
        return (mu, logvar), tapes

    def _prior_inputs_backward(self, density, enc_tapes) -> None:
        """Down the mean path: layer l's input is mu_{l−1} only, so below the top the logvar head gets 0."""
        dq = list(density.grads.values())
        for l in reversed(range(self.n_layers)):
            dh = self.encoders[l].backward(dq, enc_tapes[l], accumulate=True)
            dq = [dh, np.zeros_like(dh)]
        self.prior.grads[self.prior.encoded][...] = dh

    def floats_per_sample(self) -> int:
        """Rough floats alive per (sample, example) in one forward without backward (evaluate's memory
        estimate): eps and z of every layer, every hidden layer of both paths twice (pre-activation and
        activation, kept on the tapes), the Gaussian heads, and the likelihood's heads and temporaries."""
        hidden = sum(self.hidden) + sum(len(self.hidden) * k for k in self.stochastic[1:])
        return 6 * self.eps_dim + 4 * hidden + self.x_dim * (len(self.likelihood.heads) + 2)

    # ---- the public conveniences of VAE --------------------------------------------------

    def log_weights(self, x: np.ndarray, eps: np.ndarray, q_params=None, y=None) -> np.ndarray:
        """log w = log p(x, z₁..z_L) − log q(z₁..z_L | x) at the samples of eps (S, N, ΣK): (S, N).

        The proposal is the chain of encoders itself (q_params must be None: no other proposal)."""
        if q_params is not None:
            raise ValueError("HVAE.log_weights: q_params (another proposal) is for a one-layer VAE; a hierarchy's "
                             "proposal is its own chain of encoders")
        return self.forward(x, eps, y=y)["log_w"]

    def proposal_params(self, x: np.ndarray, y=None):
        """None: the proposal is the chain of encoders, run inside :meth:`log_weights`."""
        return None



    def latent_means(self, x: np.ndarray, y=None) -> list:
        """The mean path: z₁ = mu₁(x), z_l = mu_l(z_{l−1}); one (N, K_l) array per layer (active units)."""
        if y is not None:
            raise ValueError("HVAE.latent_means: a hierarchy is not a conditional model; y must be None")
        check_array(x, "HVAE.latent_means", ndim=2, last=self.x_dim, dtype=self.dtype)
        h, out = x, []
        for enc in self.encoders:
            h = enc.forward(h)[0][0]
            out.append(h)
        return out

    def encode(self, x: np.ndarray) -> list:
        """[mu_L, logvar_L] of q(z_L | ...) along the mean path, (N, K_L) each (the top layer's point summary)."""
        check_array(x, "HVAE.encode", ndim=2, last=self.x_dim, dtype=self.dtype)
        self.likelihood.check_x(x, "HVAE.encode")
        h = x
        for enc in self.encoders[:-1]:
            h = enc.forward(h)[0][0]
        return self.encoders[-1].forward(h)[0]

    def _down(self, z, draw, rng):
        """From z_L to p(x|z₁)'s heads: each z_l the mean of p(z_l | z_{l+1}) or, if ``draw``, a sample."""
        for net in reversed(self.cond_nets):
            mu, logvar = net.forward(z)[0]
            z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=self.dtype) if draw else mu
        return self.decoder.forward(z)[0]

    def decode(self, z: np.ndarray) -> list:
        """z_L (..., K_L) -> the likelihood's heads, each lower layer at the mean of p(z_l | z_{l+1})."""
        check_array(z, "HVAE.decode", ndim=(2, 3), last=self.z_dim, dtype=self.dtype, name="z")
        return self._down(z, False, None)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """E[x | z₁ = mu₁(x)]: the bottom layer's posterior mean through p(x|z₁), (N, D)."""
        return self.likelihood.mean(*self.decoder.forward(self.latent_means(x)[0])[0])

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None, *, mean: bool = True) -> np.ndarray:
        """Ancestral sampling: z_L ~ p(z_L), z_l ~ p(z_l | z_{l+1}), then E[x|z₁] (or x ~ p(x|z₁)), (n, D)."""
        if y is not None:
            raise ValueError("HVAE.sample: a hierarchy is not a conditional model; y must be None")
        rng = rng if rng is not None else self.rng
        n = check_positive_int(n, "HVAE.sample", "n")
        z = self.prior_density()[0].sample(n, rng, self.dtype)
        heads = self._down(z, True, rng)
        return self.likelihood.mean(*heads) if mean else self.likelihood.sample(rng, *heads)
