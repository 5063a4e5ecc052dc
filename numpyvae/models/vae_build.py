"""How a one-layer VAE is built from its config: sizes checked; family, prior and likelihood made; the two networks.

:class:`VAEBuild` is the constructor of :class:`numpyvae.models.vae.VAE` (whose docstring lists the parameters),
its one parameter group and the list of its pieces. The hierarchy (models/hvae.py) builds its networks with
:meth:`VAEBuild._network` too.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_positive_int
from ..latent.families import make_posterior
from ..latent.priors import make_prior
from ..likelihoods import make_likelihood
from ..nn import MLP, Dense, MultiHead, named_arrays, pack_layers
from ..nn.spec import decoder_trunk, encoder_trunk, image_head
from ..seeds import noise_seed, posterior_init_seed, prior_init_seed
from .base import ParamGroup

__all__ = ["VAEBuild"]


def _sizes(sizes, name: str) -> list:
    """Layer sizes as a list: an int is one layer (hidden=400 is [400]), like the run settings."""
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        return [sizes]
    if not isinstance(sizes, (list, tuple)):
        raise TypeError(f"VAE: {name} must be a list of layer sizes such as [400], got {type(sizes).__name__}")
    return list(sizes)


class VAEBuild:
    """Mixin: the VAE's constructor (the parameters: :class:`numpyvae.models.vae.VAE`), its parameter group, its pieces."""

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
        self.last_tape = None    # the Tape of the last loss_and_grads, to look at; never read back
        if not getattr(self.posterior, "has_density", True):
            self.no_log_likelihood = ("no log p(x): a point mass has no density (the plain autoencoder's q puts "
                                      "one z per example), so there is no proposal to importance-sample with")


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
