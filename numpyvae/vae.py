"""The variational autoencoder, forward and backward, written out by hand.

    x (N, D) ─encoder MLP─► h ─► mu, logvar (N, K)
    eps (S, N, K) ~ N(0, I)
    z = mu + exp(logvar / 2) * eps                        (S, N, K)
    ─decoder MLP─► heads of p(x|z), e.g. logits           (S, N, D)
    loss = −mean_n bound_n,  bound = ELBO (β, S samples) or IWAE (k = S)

:meth:`VAE.forward` and :meth:`VAE.backward` are that path, one small piece
per line; :meth:`VAE.loss_and_grads` runs one after the other. Everything else here is set-up and convenience.
"""
from __future__ import annotations

import numpy as np

from .checks import as_dtype, check_array, check_positive_int
from .latent.kl import kl_analytic, kl_analytic_backward, kl_monte_carlo, kl_monte_carlo_backward
from .nn.activations import Identity
from .nn.layers import MLP, Dense, Sequential, named_arrays, pack_layers
from .likelihoods import make_likelihood
from .bounds import OBJECTIVES, iwae_bound, sample_weights
from .latent.gaussian import reparameterize, reparameterize_backward

KL_KINDS = ("analytic", "mc")


class VAE:
    """A Gaussian-encoder VAE with MLP encoder and decoder.

    Parameters
    ----------
    x_dim : int              D, pixels per example
    hidden : list of int     hidden sizes of the encoder; the decoder mirrors them
    z_dim : int              K, latent dimensions
    likelihood : str         "bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"
    activation : str         hidden activation ("relu", "tanh", ...)
    seed : int               seeds both the initial weights and the noise eps
    dtype : "float32" (training) | "float64" (gradient checks)
    likelihood_kwargs : dict, optional   e.g. {"sigma": 0.1} for the fixed Gaussian

    Parameters are in ``self.params`` (ordered dict, names like "encoder.0.W",
    "encoder.mu.W", "decoder.out.b"), gradients in ``self.grads`` under the
    same names; all are views into one flat buffer each.
    """

    def __init__(self, x_dim: int, hidden=(400,), z_dim: int = 20, likelihood: str = "bernoulli",
                 activation: str = "relu", seed: int = 0, dtype="float32", likelihood_kwargs=None):
        self.dtype = as_dtype(dtype)
        self.x_dim, self.z_dim = check_positive_int(x_dim, "VAE", "x_dim"), check_positive_int(z_dim, "VAE", "z_dim")
        self.hidden = [check_positive_int(h, "VAE", "hidden size") for h in hidden]
        self.config = dict(x_dim=self.x_dim, hidden=self.hidden, z_dim=self.z_dim, likelihood=likelihood,
                           activation=activation, seed=seed, dtype=self.dtype.name,
                           likelihood_kwargs=dict(likelihood_kwargs or {}))
        self.likelihood = make_likelihood(likelihood, **(likelihood_kwargs or {}))
        init_rng = np.random.default_rng(seed)
        self.rng = np.random.default_rng([seed, 1])   # the noise stream, separate from the weights'
        last_h = self.hidden[-1] if self.hidden else self.x_dim
        self.encoder = self._trunk([self.x_dim, *self.hidden], activation, init_rng)
        self.enc_mu = Dense(last_h, self.z_dim, rng=init_rng, dtype=self.dtype)
        self.enc_logvar = Dense(last_h, self.z_dim, rng=init_rng, dtype=self.dtype)
        last_d = self.hidden[0] if self.hidden else self.z_dim
        self.decoder = self._trunk([self.z_dim, *reversed(self.hidden)], activation, init_rng)
        self.dec_heads = [Dense(last_d, self.x_dim, rng=init_rng, dtype=self.dtype)
                          for _ in self.likelihood.heads]
        self.flat_params, self.flat_grads = pack_layers(self.named_layers())
        self.params = named_arrays(self.named_layers(), "params")
        self.grads = named_arrays(self.named_layers(), "grads")
        self.cache: dict = {}      # intermediates of the last loss_and_grads, by name (step-through view)
        self.last_parts: dict = {}

    def _trunk(self, sizes, activation, rng):
        if len(sizes) < 2:
            return Sequential([("id", Identity())])
        return MLP(sizes, activation, rng=rng, dtype=self.dtype, pack=False)

    def named_layers(self):
        """(name, layer) for every layer, encoder first; the names prefix the parameter names."""
        yield from self.encoder.named_layers("encoder.")
        yield "encoder.mu", self.enc_mu
        yield "encoder.logvar", self.enc_logvar
        yield from self.decoder.named_layers("decoder.")
        head_names = ["out"] + list(self.likelihood.heads[1:])
        for name, layer in zip(head_names, self.dec_heads):
            yield f"decoder.{name}", layer

    # ---- the pieces -------------------------------------------------------

    def _check_x(self, x, where):
        check_array(x, where, ndim=2, last=self.x_dim, dtype=self.dtype)
        return self.likelihood.check_x(x, where)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """q(z|x): x (N, D) -> (mu, logvar), each (N, K)."""
        self._check_x(x, "VAE.encode")
        h = self.encoder.forward(x)
        return self.enc_mu.forward(h), self.enc_logvar.forward(h)

    def decode(self, z: np.ndarray) -> list[np.ndarray]:
        """p(x|z): z (..., K) -> the likelihood's heads, each (..., D) (e.g. [logits])."""
        check_array(z, "VAE.decode", ndim=(2, 3), last=self.z_dim, dtype=self.dtype, name="z")
        hd = self.decoder.forward(z)
        return [head.forward(hd) for head in self.dec_heads]

    def _decoder_backward(self, dheads) -> np.ndarray:
        """Back through the heads (their input gradients add up) and the trunk: -> dz."""
        dhd = self.dec_heads[0].backward(dheads[0])
        for head, dhead in zip(self.dec_heads[1:], dheads[1:]):
            dhd += head.backward(dhead)
        return self.decoder.backward(dhd)

    def draw_eps(self, n: int, n_samples: int = 1) -> np.ndarray:
        """eps ~ N(0, I) of shape (S, N, K) from the model's own seeded generator."""
        return self.rng.standard_normal((n_samples, n, self.z_dim), dtype=self.dtype)

    def _check_eps(self, eps, n, n_samples):
        if eps is None:
            return self.draw_eps(n, n_samples)
        check_array(eps, "VAE.forward", ndim=(2, 3), last=self.z_dim, dtype=self.dtype, name="eps")
        if eps.ndim == 2:
            eps = eps[None]
        if eps.shape[1] != n:
            raise ValueError(f"VAE.forward: eps must have shape (S, {n}, {self.z_dim}) or "
                             f"({n}, {self.z_dim}) for x with {n} rows, got {eps.shape}")
        return eps

    # ---- forward and backward ---------------------------------------------

    def loss_and_grads(self, x: np.ndarray, eps: np.ndarray | None = None, *, n_samples: int = 1,
                       beta: float = 1.0, kl: str | None = None, objective: str = "elbo"):
        """The batch mean of −bound in nats per example, and its gradient for every parameter.

        Parameters
        ----------
        x : (N, D)       the batch, in the model's dtype
        eps : (S, N, K) or (N, K), optional   the noise; drawn from self.rng if None
        n_samples : int  S when eps is None (for IWAE, k = S)
        beta : float     weight of the KL term (β-VAE); ELBO only
        kl : "analytic" | "mc"   analytic KL (ELBO default) or log q − log p at the samples (IWAE's only option)
        objective : "elbo" | "iwae"

        Returns
        -------
        loss : float
        grads : ordered dict name -> array, the live ``self.grads`` buffers:
            the next call overwrites them, so copy what you want to keep.
        """
        loss = self.forward(x, eps, n_samples=n_samples, beta=beta, kl=kl, objective=objective)
        return loss, self.backward()

    def forward(self, x: np.ndarray, eps: np.ndarray | None = None, *, n_samples: int = 1,
                beta: float = 1.0, kl: str | None = None, objective: str = "elbo") -> float:
        """The forward half of :meth:`loss_and_grads` (same arguments): returns the loss.

        Keeps every intermediate in ``self.cache`` (the per-example bound is
        ``cache["bound"]``, shape (N,)) and the loss's parts in ``last_parts``.
        Evaluation calls this alone; training follows it with :meth:`backward`.
        """
        objective, kl, beta = self._check_options(objective, kl, beta)
        self._check_x(x, "VAE.forward")
        eps = self._check_eps(eps, x.shape[0], check_positive_int(n_samples, "VAE.forward", "n_samples"))

        h = self.encoder.forward(x)
        mu, logvar = self.enc_mu.forward(h), self.enc_logvar.forward(h)
        z, sigma = reparameterize(mu, logvar, eps)
        heads = self.decode(z)
        nll = self.likelihood.forward(x, *heads, check=False)     # −log p(x|z), (S, N); x checked above
        if kl == "analytic":
            kl_n = kl_analytic(mu, logvar).sum(-1)                # (N,)
            bound = -(nll.mean(0) + beta * kl_n)                  # ELBO, (N,)
            log_w = None
        else:
            kl_sn = kl_monte_carlo(z, eps, logvar)                # log q − log p, (S, N)
            log_w = -(nll + beta * kl_sn)
            bound = log_w.mean(0) if objective == "elbo" else iwae_bound(log_w)
            kl_n = kl_sn.mean(0)

        loss = float(-bound.mean())
        self.last_parts = {"loss": loss, "recon": float(nll.mean()), "kl": float(kl_n.mean())}
        self.cache = dict(x=x, h=h, mu=mu, logvar=logvar, eps=eps, sigma=sigma, z=z,
                          **{f"decoder.{name}": hd for name, hd in zip(self.likelihood.heads, heads)},
                          nll=nll, kl=kl_n, log_w=log_w, bound=bound)
        self._options = (objective, kl, beta)
        return loss

    def backward(self):
        """The backward half of :meth:`loss_and_grads`: fills and returns ``self.grads``.

        Every sample's weight c_sn in the gradient comes first (1/(SN) for the
        ELBO, normalized importance weights / N for IWAE), then the forward
        path is walked in reverse, one hand-written backward per step.
        """
        if not self.cache:
            raise RuntimeError("VAE.backward: call forward(x) (or loss_and_grads) first")
        objective, kl, beta = self._options
        c_ = self.cache
        mu, logvar, eps, z = c_["mu"], c_["logvar"], c_["eps"], c_["z"]
        S, N = eps.shape[:2]

        c = sample_weights(c_["log_w"], objective, S, N, self.dtype)   # (S, N)
        dheads = self.likelihood.backward(c)                         # ∂(c·nll)/∂heads
        dz = self._decoder_backward(dheads)                          # ∂(c·nll)/∂z
        if kl == "analytic":
            dmu_kl, dlogvar_kl = kl_analytic_backward(mu, logvar)
            dmu_kl, dlogvar_kl = dmu_kl * (beta / N), dlogvar_kl * (beta / N)
        else:
            dz_kl, dlogvar_kl = kl_monte_carlo_backward(z, beta * c)
            dz += dz_kl
            dmu_kl = 0.0
        dmu, dlogvar = reparameterize_backward(dz, eps, c_["sigma"])
        dmu += dmu_kl
        dlogvar += dlogvar_kl
        dh = self.enc_mu.backward(dmu)
        dh += self.enc_logvar.backward(dlogvar)
        self.encoder.backward(dh, need_dx=False)                # dL/dx is not needed: x is data
        # keep the intermediate gradients (references, no copies) for the step-through view
        c_.update({"c": c, "dz": dz, "dmu": dmu, "dlogvar": dlogvar, "dh": dh},
                  **{f"d decoder.{n}": d for n, d in zip(self.likelihood.heads, dheads)})
        return self.grads

    @staticmethod
    def _check_options(objective, kl, beta):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if kl is None:
            kl = "analytic" if objective == "elbo" else "mc"
        if kl not in KL_KINDS:
            raise ValueError(f"kl must be one of {KL_KINDS}, got {kl!r}")
        if objective == "iwae" and kl == "analytic":
            raise ValueError("the IWAE bound needs log q(z|x) − log p(z) at each sample: use kl='mc' (or leave kl unset)")
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if objective == "iwae" and beta != 1.0:
            raise ValueError(f"beta weights the ELBO's KL term; the IWAE bound is defined for beta = 1, got {beta}")
        return objective, kl, float(beta)

    # ---- conveniences a tutorial needs --------------------------------------

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """E[x | z = mu(x)]: the decoder's mean at the posterior mean, (N, D)."""
        mu, _ = self.encode(x)
        return self.likelihood.mean(*self.decode(mu))

    def sample(self, n: int, *, mean: bool = True, rng: np.random.Generator | None = None) -> np.ndarray:
        """Ancestral sampling: z ~ N(0, I), then x ~ p(x|z) (or its mean if ``mean``), (n, D)."""
        rng = rng if rng is not None else self.rng
        z = rng.standard_normal((check_positive_int(n, "VAE.sample", "n"), self.z_dim), dtype=self.dtype)
        heads = self.decode(z)
        return self.likelihood.mean(*heads) if mean else self.likelihood.sample(rng, *heads)
