"""The variational autoencoder, assembled from pieces, forward and backward written out by hand.

    x (N, D) ─encoder─► params of q(z|x), e.g. mu, logvar (N, K)
    eps (S, N, K) ~ noise, an explicit input
    z, log q(z|x) = q.rsample(params, eps)                 z = mu + exp(logvar / 2) * eps
    ─decoder─► heads of p(x|z), e.g. logits              (S, N, D)
    −log p(x|z) from the likelihood; KL analytic (if the (q, p) pair has one) or log q − log p(z)
    loss = −mean_n bound_n,  bound = ELBO (β, S samples) or IWAE (k = S)

Each piece is its own object with its own forward and backward
(``numpyvae.nn`` networks, a ``numpyvae.latent`` family and prior, a
likelihood, a bound). :meth:`VAE.forward` calls them in order and returns a
tape, the record of the step; :meth:`VAE.backward` walks the tape in reverse.
Nothing a backward needs is kept on the model, so any call between the two,
or a change to the caller's x or eps, leaves the gradients alone.
"""
from __future__ import annotations

import numpy as np

from ..bounds.registry import OBJECTIVES, make_bound
from ..checks import NonFiniteError, as_dtype, check_array, check_positive_int
from ..latent.families import make_posterior
from ..latent.kl import kl_analytic_for
from ..latent.priors import make_prior
from ..likelihoods import make_likelihood
from .base import Model, ParamGroup, unbatch
from ..nn import MLP, Dense, MultiHead, named_arrays, pack_layers
from ..nn.spec import decoder_trunk, encoder_trunk, image_head
from ..seeds import noise_seed, posterior_init_seed, prior_init_seed
from .vae_uses import VAEUses

KL_KINDS = ("analytic", "mc")


def _sizes(sizes, name: str) -> list:
    """Layer sizes as a list: an int is one layer (hidden=400 is [400]), like the run settings."""
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        return [sizes]
    if not isinstance(sizes, (list, tuple)):
        raise TypeError(f"VAE: {name} must be a list of layer sizes such as [400], got {type(sizes).__name__}")
    return list(sizes)


class Tape(dict):
    """The record of one forward pass: every intermediate by name, and the pieces' own tapes.

    ``tape["mu"]``, ``tape["z"]``, ``tape["nll"]``, ``tape["bound"]`` (N,), ...;
    ``tape.loss`` and ``tape.parts`` ({"loss", "recon", "kl"}). The path the backward takes is
    recorded, not inferred: ``tape["kl_route"]`` is "analytic" (a closed-form KL, its tape in
    "_kl"), "mc" (log q − log p(z) in log w; the prior's density and tape in "_prior", the tape of
    its encoder pass, or None, in "_prior_enc") or "none" (a point-mass q, no KL). After
    :meth:`VAE.backward` it also holds the intermediate gradients it computed
    ("c", "d decoder.<head>", "dz", "dmu", "dlogvar"), for the step-through view. Head
    names are those of the parameters: "decoder.out" (logits or mean), "decoder.logvar".
    """

    loss: float
    parts: dict

    @property
    def bound(self) -> np.ndarray:
        """The per-example bound (N,), ``tape["bound"]``: what the protocol (models/base.py) calls ``tape.bound``."""
        return self["bound"]


class VAE(VAEUses, Model):
    """A VAE: MLP encoder and decoder, a variational family, a prior, a likelihood.

    Parameters
    ----------
    x_dim : int              D, pixels per example
    hidden : list of int     hidden sizes of the encoder
    z_dim : int              K, latent dimensions
    likelihood : str         "bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"
    activation : str         hidden activation ("relu", "tanh", ...)
    seed : int               seeds both the initial weights and the noise eps
    dtype : "float32" (training) | "float64" (gradient checks)
    likelihood_kwargs : dict, optional   e.g. {"sigma": 0.1} for the fixed Gaussian
    hidden_dec : list of int, optional   hidden sizes of the decoder (default: hidden reversed)
    posterior : str          the variational family q(z|x): "gaussian" (diagonal), "full-gaussian",
                             "planar:K", "radial:K" or "iaf:K" (a normalizing flow of K steps)
    prior : str              the prior p(z): "standard" (N(0, I)), "mog:K" (a learned mixture of K
                             Gaussians) or "vamp:K" (VampPrior: q(z|u_k) at K learned pseudo-inputs u_k)
    init : str, optional     initializer of every Dense layer, e.g. "pytorch" (W, b ~ U(±1/√fan_in));
                             default: He for ReLU-like activations, Glorot otherwise, heads Glorot, biases 0
    n_labels : int           0: an ordinary VAE. C > 0: a conditional VAE (Sohn et al. 2015), q(z|x, y) and
                             p(x|z, y) with a label y in 0..C−1, its one-hot code concatenated to the encoder's
                             input x and to the decoder's input z; forward, encode, decode, reconstruct and
                             sample then take ``y`` (integer labels (N,)).
    encoder, decoder : str, optional   a network spec (numpyvae.nn.spec) in place of the MLP from hidden /
                             hidden_dec, e.g. encoder="conv:32:3:2,conv:64:3:2,flatten,dense:16",
                             decoder="dense:3136,reshape:64:7:7,convt:64:3:2,convt:32:3:2"
    image_shape : (H, W) or (C, H, W), optional   the images behind the flat x, for a conv spec
                             (default: square, one channel: 784 -> (1, 28, 28))

    Parameters are in ``self.params`` (ordered dict, names like "encoder.0.W",
    "encoder.mu.W", "decoder.out.b"), gradients in ``self.grads`` under the
    same names; all are views into one flat buffer each.
    """

    def __init__(self, x_dim: int, hidden=(400,), z_dim: int = 20, likelihood: str = "bernoulli",
                 activation: str = "relu", seed: int = 0, dtype="float32", likelihood_kwargs=None, *,
                 hidden_dec=None, posterior: str = "gaussian", prior: str = "standard", init: str | None = None,
                 encoder: str = "", decoder: str = "", image_shape=None, n_labels: int = 0):
        self.dtype = as_dtype(dtype)
        self.x_dim, self.z_dim = check_positive_int(x_dim, "VAE", "x_dim"), check_positive_int(z_dim, "VAE", "z_dim")
        self.hidden = [check_positive_int(h, "VAE", "hidden size") for h in _sizes(hidden, "hidden")]
        self.hidden_dec = (list(reversed(self.hidden)) if hidden_dec is None
                           else [check_positive_int(h, "VAE", "hidden_dec size") for h in _sizes(hidden_dec, "hidden_dec")])
        self.config = dict(x_dim=self.x_dim, hidden=self.hidden, z_dim=self.z_dim, likelihood=likelihood,
                           activation=activation, seed=seed, dtype=self.dtype.name,
                           likelihood_kwargs=dict(likelihood_kwargs or {}), hidden_dec=self.hidden_dec,
                           posterior=posterior, prior=prior, init=init)
        self.n_labels = 0 if n_labels == 0 else check_positive_int(n_labels, "VAE", "n_labels")
        if self.n_labels:                        # recorded only when set, so unconditional configs stay as they were
            self.config["n_labels"] = self.n_labels
        self.likelihood = make_likelihood(likelihood, **(likelihood_kwargs or {}))
        self.posterior = make_posterior(posterior, self.z_dim, dtype=self.dtype,
                                        rng=np.random.default_rng(posterior_init_seed(seed)))
        self.prior = make_prior(prior, self.z_dim, x_dim=self.x_dim, dtype=self.dtype,
                                rng=np.random.default_rng(prior_init_seed(seed)),
                                n_classes=getattr(self.posterior, "n_classes", None))   # categorical: C
        if (self.prior.name == "categorical") != (getattr(self.posterior, "n_classes", None) is not None):
            raise ValueError(f"VAE: a Gumbel-softmax posterior (gumbel:C, gumbel-st:C) goes with prior='categorical' "
                             f"and only with it, got posterior={posterior!r}, prior={prior!r}")
        if self.prior.encoded is not None and self.n_labels:
            raise ValueError("VAE: a conditional VAE (n_labels > 0) cannot use the VampPrior: its pseudo-inputs "
                             "would need labels too; use prior='standard' or 'mog:K'")
        if self.prior.encoded is not None and posterior != "gaussian":
            raise ValueError(f"VAE: the VampPrior's components are the encoder's diagonal Gaussians; "
                             f"it needs posterior='gaussian', got {posterior!r}")
        if encoder or decoder:      # only then, so that MLP configs (and their checkpoints) stay as they were
            self.config.update(encoder=encoder, decoder=decoder,
                               image_shape=None if image_shape is None else list(image_shape))
        init_rng = np.random.default_rng(seed)
        self.rng = np.random.default_rng(noise_seed(seed))   # the noise stream, separate from the weights'
        # the shape of one example's noise: (K,) for the Gaussians and flows, (M, C) for the Gumbel-softmax
        self.noise_shape = self.posterior.draw_noise(np.random.default_rng(0), 1, 1, self.dtype).shape[2:]
        C = self.n_labels                        # the one-hot label widens both networks' inputs
        if C and (encoder or decoder):
            raise ValueError("VAE: a conditional VAE (n_labels > 0) concatenates the label to flat inputs, so it "
                             "uses the MLP encoder and decoder; leave encoder and decoder unset")
        self.encoder = (self._spec_encoder(encoder, image_shape, activation, init_rng) if encoder else
                        self._network(self.x_dim + C, self.hidden, activation, self.posterior.heads, init_rng))
        dec_heads = {("out" if i == 0 else name): self.x_dim for i, name in enumerate(self.likelihood.heads)}
        self.decoder = (self._spec_decoder(decoder, image_shape, activation, dec_heads, init_rng) if decoder else
                        self._network(self.z_dim + C, self.hidden_dec, activation, dec_heads, init_rng))
        self.flat_params, self.flat_grads = pack_layers(self.named_layers())
        self.params = named_arrays(self.named_layers(), "params")
        self.grads = named_arrays(self.named_layers(), "grads")
        self.last_tape: Tape | None = None   # the tape of the last loss_and_grads, to look at; never read back
        if not getattr(self.posterior, "has_density", True):
            self.no_log_likelihood = ("no log p(x): a point mass has no density (the plain autoencoder's q puts "
                                      "one z per example), so there is no proposal to importance-sample with")

    kind = "vae"

    @property
    def groups(self) -> dict:
        """{"model": ParamGroup}: every parameter, views into one flat buffer (one optimizer)."""
        return {"model": ParamGroup(self.params, self.grads, self.flat_params, self.flat_grads)}

    def _network(self, d_in, hidden, activation, heads: dict, rng) -> MultiHead:
        """An MLP trunk d_in -> hidden..., then one linear Dense head per entry of ``heads`` (name -> size)."""
        init = self.config["init"]
        trunk = MLP([d_in, *hidden], activation, rng=rng, dtype=self.dtype, pack=False, init=init)
        last = hidden[-1] if hidden else d_in
        return MultiHead(trunk, [(name, Dense(last, size, init=init or "glorot_uniform", rng=rng, dtype=self.dtype))
                                 for name, size in heads.items()])

    def _spec_encoder(self, spec, image_shape, activation, rng) -> MultiHead:
        """The trunk of ``spec`` on x (flat, reshaped to images inside), then one Dense head per family head."""
        init = self.config["init"]
        trunk = encoder_trunk(spec, self.x_dim, image_shape, activation, init=init, rng=rng, dtype=self.dtype)
        return MultiHead(trunk, [(name, Dense(trunk.out_shape[0], size, init=init or "glorot_uniform", rng=rng,
                                              dtype=self.dtype)) for name, size in self.posterior.heads.items()])

    def _spec_decoder(self, spec, image_shape, activation, heads: dict, rng) -> MultiHead:
        """The trunk of ``spec`` on z, then per likelihood head a Dense (flat trunk) or ConvT + Flatten (images)."""
        init = self.config["init"]
        trunk = decoder_trunk(spec, self.z_dim, activation, init=init, rng=rng, dtype=self.dtype)
        net = MultiHead(trunk, [(name, image_head(trunk.out_shape, size, image_shape, init=init or "glorot_uniform",
                                                  rng=rng, dtype=self.dtype)) for name, size in heads.items()])
        # floats alive per sample of z in one decoder pass, for the evaluator's memory budget
        self.decoder_floats = trunk.floats + sum(getattr(h, "floats", 2 * size) for (_, h), size
                                                 in zip(net.heads, heads.values()))
        return net

    def networks(self) -> list:
        """The model's networks (each an ``nn.MultiHead``), the ones a step runs: encoder, decoder."""
        return [self.encoder, self.decoder]

    def latent_families(self) -> list:
        """The variational families a step samples from (one here; a hierarchy has one per layer)."""
        return [self.posterior]

    def named_layers(self):
        """(name, piece) for every piece with parameters, encoder first; the names prefix the parameter names."""
        yield from self.encoder.named_layers("encoder.")
        yield from self.decoder.named_layers("decoder.")
        yield "prior", self.prior
        # a family's global parameters (IAF's MADE weights, a global flow): its own layers, so that
        # packing rebinds the arrays they hold
        yield from ((f"posterior.{n}", layer) for n, layer in getattr(self.posterior, "named_layers", tuple)())

    # ---- the pieces, one at a time ----------------------------------------------

    def _check_x(self, x, where):
        check_array(x, where, ndim=2, last=self.x_dim, dtype=self.dtype)
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x has no rows (shape {x.shape}); a batch needs at least one example")
        return self.likelihood.check_x(x, where)

    def one_hot(self, y, n: int, where: str) -> np.ndarray | None:
        """Labels y (n,) in 0..C−1 -> one-hot (n, C) in the model's dtype; None for an unconditional model.

        A conditional model refuses a missing y; an unconditional one refuses a given y.
        """
        if not self.n_labels:
            if y is not None:
                raise ValueError(f"{where}: y is given but the model is not conditional (n_labels = 0)")
            return None
        C = self.n_labels
        if y is None:
            raise ValueError(f"{where}: this conditional VAE needs the labels y (integers in 0..{C - 1}, "
                             f"one per example), got none")
        y = np.asarray(y)
        if y.ndim == 0:
            y = np.full(n, y)
        if y.dtype.kind not in "iu" or y.shape != (n,):
            raise ValueError(f"{where}: y must be {n} integer labels (shape ({n},)), got dtype {y.dtype.name} "
                             f"shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= C):
            raise ValueError(f"{where}: labels y must lie in 0..{C - 1} (n_labels = {C}), got values in "
                             f"[{y.min()}, {y.max()}]")
        onehot = np.zeros((n, C), dtype=self.dtype)
        onehot[np.arange(n), y] = 1.0
        return onehot

    @staticmethod
    def _with_label(a: np.ndarray, onehot) -> np.ndarray:
        """[a, onehot] along the last axis; a (..., N, F), onehot (N, C) broadcast over leading axes."""
        if onehot is None:
            return a
        return np.concatenate([a, np.broadcast_to(onehot, (*a.shape[:-1], onehot.shape[-1]))], axis=-1)

    def encode(self, x: np.ndarray, y=None) -> list[np.ndarray]:
        """q(z|x[, y]): x (N, D) -> the family's parameters, each (N, size) (for the Gaussian: [mu, logvar])."""
        self._check_x(x, "VAE.encode")
        return self.encoder.forward(self._with_label(x, self.one_hot(y, x.shape[0], "VAE.encode")))[0]

    def decode(self, z: np.ndarray, y=None) -> list[np.ndarray]:
        """p(x|z[, y]): z (..., N, K) -> the likelihood's heads, each (..., N, D) (e.g. [logits])."""
        check_array(z, "VAE.decode", ndim=(2, 3), last=self.z_dim, dtype=self.dtype, name="z")
        return self.decoder.forward(self._with_label(z, self.one_hot(y, z.shape[-2], "VAE.decode")))[0]

    def noise(self, rng: np.random.Generator, n_samples: int, n: int) -> np.ndarray:
        """The family's noise for n examples, S samples each, from ``rng`` (e.g. an evaluator's own): (S, N, K)."""
        return self.posterior.draw_noise(rng, n_samples, n, self.dtype)

    def draw_eps(self, n: int, n_samples: int = 1) -> np.ndarray:
        """The family's noise (for the Gaussian eps ~ N(0, I), (S, N, K)) from the model's own seeded generator."""
        return self.posterior.draw_noise(self.rng, n_samples, n, self.dtype)

    def _own_eps(self, eps, n, n_samples):
        """The noise for this step: drawn here, or a private copy of the caller's (see forward)."""
        if eps is None:
            return self.draw_eps(n, n_samples)
        tail = self.noise_shape                       # (K,), or (M, C) for a categorical family
        check_array(eps, "VAE.forward", ndim=(len(tail) + 1, len(tail) + 2), last=tail[-1], dtype=self.dtype,
                    name="eps")
        if eps.ndim == len(tail) + 1:
            eps = eps[None]
        if eps.shape[1:] != (n, *tail):
            shape = ", ".join(map(str, (n, *tail)))
            raise ValueError(f"VAE.forward: eps must have shape (S, {shape}) or ({shape}) for x with {n} rows "
                             f"and the {self.posterior.name} family's noise, got {eps.shape}")
        return eps.copy()

    # ---- forward and backward -------------------------------------------------------

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

    def forward(self, x, eps: np.ndarray | None = None, *, n_samples: int = 1,
                beta: float = 1.0, kl: str | None = None, objective: str = "elbo",
                alpha: float | None = None, y=None) -> Tape:
        """The forward half of :meth:`loss_and_grads` (same arguments): returns the step's :class:`Tape`.

        ``x`` is an (N, D) array or a :class:`~numpyvae.models.base.Batch` (whose ``y`` are the labels).
        ``tape.loss`` is the loss, ``tape["bound"]`` the per-example bound (N,),
        ``tape.parts`` the loss's parts. The tape owns copies of x and eps, so
        the caller may reuse its buffers before calling :meth:`backward`.
        """
        x, y = unbatch(x, y, "VAE.forward")
        route, beta, bound_fn = self._route(objective, kl, beta, alpha)
        self._check_x(x, "VAE.forward")
        onehot = self.one_hot(y, x.shape[0], "VAE.forward")              # (N, C), or None
        x = x.copy()
        eps = self._own_eps(eps, x.shape[0], check_positive_int(n_samples, "VAE.forward", "n_samples"))
        t = Tape(x=x, eps=eps)
        q_params, t["_enc"] = self.encoder.forward(self._with_label(x, onehot))   # [mu, logvar], (N, K) each
        return self._forward_q(t, q_params, onehot, route, beta, bound_fn)

    def forward_q(self, x: np.ndarray, q_params, eps: np.ndarray, *, beta: float = 1.0, kl: str | None = None,
                  objective: str = "elbo", alpha: float | None = None, y=None) -> Tape:
        """The forward pass from given heads of q instead of the encoder's (local inference optimizes them).

        x (N, D); q_params, one (N, size) array per ``posterior.heads``; eps (S, N, ...) the family's
        noise; the options as for :meth:`forward`. :meth:`backward_q` walks the tape back to the heads.
        """
        route, beta, bound_fn = self._route(objective, kl, beta, alpha)
        self._check_x(x, "VAE.forward_q")
        onehot = self.one_hot(y, x.shape[0], "VAE.forward_q")
        t = Tape(x=x.copy(), eps=self._own_eps(eps, x.shape[0], 1), _enc=None)
        return self._forward_q(t, list(q_params), onehot, route, beta, bound_fn)

    def _forward_q(self, t: Tape, q_params, onehot, route: str, beta: float, bound_fn) -> Tape:
        """From the heads of q to the bound, recording the KL route on the tape (see :class:`Tape`)."""
        x, eps = t["x"], t["eps"]
        z, log_q, t["_q"] = self.posterior.rsample(q_params, eps)           # z = mu + sigma * eps, (S, N, K)
        if not np.isfinite(z).all():                                        # (S, N, K): a cheap look
            raise NonFiniteError(self._why_not_finite("z", q_params))
        heads, t["_dec"] = self.decoder.forward(self._with_label(z, onehot))   # e.g. [logits], (S, N, D)
        nll, t["_lik"] = self.likelihood.forward(x, *heads, check=False)    # −log p(x|z), (S, N); x checked above
        t["kl_route"], t["_prior_enc"] = route, None                       # the prior's encoder pass: "mc" only
        if route == "none":                                                 # a point mass: the plain autoencoder
            log_w = np.negative(nll)                                        # reconstruction only: no KL,
            bound, bound_tape = bound_fn.forward(log_w)                     # no log p(z), no log q
            kl_n = np.zeros(x.shape[0], dtype=self.dtype)
        elif route == "analytic":
            pair = kl_analytic_for(self.posterior, self.prior)
            kl_n, kl_tape = pair.forward(q_params)                          # KL(q || p), (N,)
            t["_kl"] = (pair, kl_tape)
            log_w = np.negative(nll)                                        # β·KL enters per example, below
            bound, bound_tape = bound_fn.forward(log_w)                     # the ELBO's (1/S) Σ_s
            bound -= beta * kl_n                                            # ELBO = E_q[log p(x|z)] − β KL
        else:                                                               # "mc"
            density, t["_prior_enc"] = self.prior_density()
            log_p, p_tape = density.log_prob(z)                             # log p(z), (S, N)
            t["_prior"] = (density, p_tape)
            kl_sn = log_q - log_p                                           # Monte Carlo KL per sample
            log_w = -(nll + beta * kl_sn)                                   # log w = log p(x|z) − β (log q − log p)
            bound, bound_tape = bound_fn.forward(log_w)                     # ELBO, IWAE, VR..., (N,)
            kl_n = kl_sn.mean(0)
        t["_bound"] = (bound_fn, bound_tape)

        t.loss = float(-bound.mean())
        if not np.isfinite(t.loss):
            raise NonFiniteError(self._why_not_finite(f"the loss, {t.loss},", q_params))
        t.parts = {"loss": t.loss, "recon": float(nll.mean()), "kl": float(kl_n.mean())}
        t.update(dict(zip(self.posterior.heads, q_params)), z=z, log_q=log_q, nll=nll, kl=kl_n,
                 log_w=log_w, bound=bound, beta=beta,
                 **{f"decoder.{name}": hd for (name, _), hd in zip(self.decoder.heads, heads)})
        return t

    def backward(self, tape: Tape, c: np.ndarray | None = None, *, dbound: np.ndarray | None = None):
        """The backward half of :meth:`loss_and_grads`: fills and returns ``self.grads``.

        Every sample's weight c_sn = ∂(mean_n bound_n)/∂log w_sn comes first
        (1/(SN) for the ELBO, normalized importance weights / N for IWAE); the
        loss is −mean bound and log w = −nll − β (log q − log p), so
            ∂loss/∂nll = c,   ∂loss/∂log q = β c,   ∂loss/∂log p = −β c.
        Then the forward path is walked in reverse, one hand-written backward per piece.

        c : (S, N), optional   the weights of another objective of the same log weights, the
            gradient being that of −Σ_sn c_sn log w_sn (local inference, a χ-trained q). With the
            analytic KL (an ELBO), ∂L/∂KL_n = β Σ_s c_sn, as for the bound's own weights.
        dbound : (N,), optional   ∂L/∂bound_n for another scalar L of the bounds (a weighted sum,
            as M2's Σ_y q(y|x) L(x, y)); default −1/N, the loss −mean_n bound_n. Every
            per-example path scales by g_n = −N·dbound_n: c_sn -> g_n c_sn, ∂L/∂KL_n = β g_n / N.
        """
        if isinstance(tape, Tape) and tape.get("_enc", 0) is None:
            raise ValueError("VAE.backward: this tape is from forward_q (given heads of q, no encoder pass); "
                             "walk it back with backward_q")
        dq = self.backward_q(tape, c, dbound=dbound)
        self.encoder.backward(dq, tape["_enc"], need_dx=False)             # dL/dx is not needed: x is data
        if tape["kl_route"] == "mc" and tape["_prior_enc"] is not None:    # the prior's own encoder pass
            self._prior_inputs_backward(tape["_prior"][0], tape["_prior_enc"])
        return self.grads

    def backward_q(self, tape: Tape, c: np.ndarray | None = None, *, dbound: np.ndarray | None = None) -> list:
        """Walk ``tape`` back to the heads of q: returns dq, one array per ``posterior.heads`` like them.

        On the way it writes the decoder's, a learned prior's and a flow's global gradients into
        ``self.grads``; :meth:`backward` then runs the encoder. ``c``, ``dbound``: see :meth:`backward`.
        """
        if not isinstance(tape, Tape):
            raise TypeError("VAE.backward: pass the tape forward returned (tape = model.forward(x); "
                            f"model.backward(tape)), got {type(tape).__name__}")
        beta = tape["beta"]
        c, dkl = self._sample_weights(tape, c, dbound)                    # (S, N), (N,) or None
        dheads = self.likelihood.backward(c, tape["_lik"])                 # ∂(c·nll)/∂heads
        dz = self.decoder.backward(list(dheads), tape["_dec"])            # ∂(c·nll)/∂z (and ∂/∂label)
        if self.n_labels:                                                  # the label is data: keep ∂/∂z only
            dz = np.ascontiguousarray(dz[..., :self.z_dim])
        route = tape["kl_route"]
        if route == "mc":                                                  # Monte Carlo KL
            density, p_tape = tape["_prior"]
            dz += density.backward(-beta * c, p_tape)                      # −β c ∂log p(z)/∂z
            dq = self.posterior.backward(dz, beta * c, tape["_q"])         # through z and through log q
        elif route == "none":                                              # no KL term (plain autoencoder)
            dq = self.posterior.backward(dz, None, tape["_q"])
        else:                                                              # analytic KL, per example
            dq = self.posterior.backward(dz, None, tape["_q"])
            pair, kl_tape = tape["_kl"]
            for d, d_kl in zip(dq, pair.backward(dkl, kl_tape)):
                d += d_kl
        # keep the intermediate gradients (references, no copies) for the step-through view
        tape.update({"c": c, "dz": dz}, **{f"d{name}": d for name, d in zip(self.posterior.heads, dq)},
                    **{f"d decoder.{n}": d for (n, _), d in zip(self.decoder.heads, dheads)})
        return dq

    def _sample_weights(self, tape: Tape, c, dbound):
        """(c (S, N), ∂L/∂KL_n (N,)): the bound's own weights, scaled by dbound, or the caller's c."""
        beta, N = tape["beta"], tape["x"].shape[0]
        bound_fn, bound_tape = tape["_bound"]
        if c is not None:
            if dbound is not None:
                raise ValueError("VAE.backward: pass c (per-sample weights) or dbound (per-example), not both")
            S = tape["eps"].shape[0]
            check_array(c, "VAE.backward", ndim=2, dtype=self.dtype, name="c")
            if c.shape != (S, N):
                raise ValueError(f"VAE.backward: c must have log w's shape ({S}, {N}), got {c.shape}")
            return c, beta * c.sum(axis=0)
        c = bound_fn.weights(bound_tape)                                   # (S, N)
        dkl = np.full(N, beta / N, dtype=self.dtype)                       # ∂loss/∂KL_n = β/N
        if dbound is not None:
            check_array(dbound, "VAE.backward", ndim=1, dtype=self.dtype, name="dbound")
            if dbound.shape != (N,):
                raise ValueError(f"VAE.backward: dbound must have the bound's shape ({N},), got {dbound.shape}")
            g = dbound * -N                                                # 1 for the plain loss
            c = c * g                                                      # ∂L/∂log w_sn = dbound_n ∂bound_n/∂log w_sn
            dkl *= g
        return c, dkl

    # ---- the prior's one explicit step (VAEUses.prior_density), this model's side -------------

    def _encode_prior_inputs(self, u):
        """The encoder's heads at the prior's inputs u (C, D), and its tape."""
        return self.encoder.forward(u)

    def _prior_inputs_backward(self, density, enc_tape) -> None:
        """Send the density's component gradients back through the encoder's second pass into the prior's inputs.

        The encoder was used twice in the step, on x and on u: its gradients from u add to those from x."""
        du = self.encoder.backward(list(density.grads.values()), enc_tape, accumulate=True)
        self.prior.grads[self.prior.encoded][...] = du

    def _why_not_finite(self, what: str, q_params) -> str:
        """The message for a value that overflowed, with the encoder outputs that led to it."""
        sizes = ", ".join(f"{name} within [{float(p.min()):.3g}, {float(p.max()):.3g}]"
                          for name, p in zip(self.posterior.heads, q_params))
        return (f"VAE.forward: {what} is not finite ({sizes}); exp(logvar / 2), the KL or a likelihood term "
                f"overflowed {self.dtype.name}: the weights have diverged (try a smaller learning rate)")

    def _route(self, objective, kl, beta, alpha):
        """Check the options; return (KL route "analytic" | "mc" | "none", beta, the bound)."""
        pair = kl_analytic_for(self.posterior, self.prior)
        objective, kl, beta = self._check_options(objective, kl, beta, analytic=pair is not None)
        bound_fn = make_bound(objective, alpha)
        if kl == "analytic" and pair is None:
            raise ValueError(f"kl='analytic': the posterior {self.posterior.name!r} and prior "
                             f"{self.prior.name!r} have no closed-form KL; use kl='mc'")
        if not getattr(self.posterior, "has_density", True):               # a point mass: the plain autoencoder
            if objective != "elbo":
                raise ValueError(f"the {self.posterior.name!r} posterior (a plain autoencoder) has one z per "
                                 f"example and no KL term; objective must be 'elbo', got {objective!r}")
            return "none", beta, bound_fn
        return kl, beta, bound_fn

    @staticmethod
    def _check_options(objective, kl, beta, analytic=True):
        """Validate the options; kl defaults to "analytic" for the ELBO when the (q, p) pair has one."""
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if kl is None:
            kl = "analytic" if objective == "elbo" and analytic else "mc"
        if kl not in KL_KINDS:
            raise ValueError(f"kl must be one of {KL_KINDS}, got {kl!r}")
        if objective != "elbo" and kl == "analytic":
            raise ValueError(f"the {objective} bound needs log q(z|x) − log p(z) at each sample: "
                             "use kl='mc' (or leave kl unset)")
        if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
                or not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if objective != "elbo" and beta != 1.0:
            raise ValueError(f"beta weights the ELBO's KL term; the {objective} bound is defined for beta = 1, "
                             f"got {beta}")
        return objective, kl, float(beta)
