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

from ..checks import NonFiniteError, check_array, check_positive_int
from .base import Model, unbatch
from .vae_build import VAEBuild
from .vae_inputs import VAEInputs
from .vae_options import StepOptions, step_options
from .vae_uses import VAEUses


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


class VAE(VAEBuild, VAEInputs, VAEUses, Model):
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
                             (``train`` then starts the output bias at the data mean: numpyvae.run.output_bias)
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

    Written here: the step, forward then backward. The rest of the class: the constructor and the networks
    (:class:`~numpyvae.models.vae_build.VAEBuild`, vae_build.py), the checks of x, y and eps with encode and
    decode (:class:`~numpyvae.models.vae_inputs.VAEInputs`, vae_inputs.py), the options
    (:func:`~numpyvae.models.vae_options.step_options`), and ``loss_and_grads``, log p(x), samples and pictures
    (:class:`~numpyvae.models.vae_uses.VAEUses`, vae_uses.py).
    """

    kind = "vae"

    # ---- the step: forward, then backward --------------------------------------------

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
        options = step_options(self.posterior, self.prior, objective, kl, beta, alpha)
        self._check_x(x, "VAE.forward")
        onehot = self.one_hot(y, x.shape[0], "VAE.forward")              # (N, C), or None
        x = x.copy()
        eps = self._own_eps(eps, x.shape[0], check_positive_int(n_samples, "VAE.forward", "n_samples"))
        t = Tape(x=x, eps=eps)
        q_params, t["_enc"] = self.encoder.forward(self._with_label(x, onehot))   # [mu, logvar], (N, K) each
        return self._forward_q(t, q_params, onehot, options)

    def forward_q(self, x: np.ndarray, q_params, eps: np.ndarray, *, beta: float = 1.0, kl: str | None = None,
                  objective: str = "elbo", alpha: float | None = None, y=None) -> Tape:
        """The forward pass from given heads of q instead of the encoder's (local inference optimizes them).

        x (N, D); q_params, one (N, size) array per ``posterior.heads``; eps (S, N, ...) the family's
        noise; the options as for :meth:`forward`. :meth:`backward_q` walks the tape back to the heads.
        """
        options = step_options(self.posterior, self.prior, objective, kl, beta, alpha)
        self._check_x(x, "VAE.forward_q")
        onehot = self.one_hot(y, x.shape[0], "VAE.forward_q")
        t = Tape(x=x.copy(), eps=self._own_eps(eps, x.shape[0], 1), _enc=None)
        return self._forward_q(t, list(q_params), onehot, options)

    def _forward_q(self, t: Tape, q_params, onehot, options: StepOptions) -> Tape:
        """From the heads of q to the bound, recording the KL route on the tape (see :class:`Tape`)."""
        x, eps = t["x"], t["eps"]
        route, pair, beta, bound_fn = options
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
