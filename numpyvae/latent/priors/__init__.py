"""Priors p(z): the standard normal, a learned Gaussian mixture, and the VampPrior's mixture.

Every prior follows one contract, written out here (README.md, "Architecture", lists the pieces):

    log_p, tape = prior.log_prob(z)      # z (S, N, K) or (N, K)  ->  log p(z), (S, N) or (N,)
    dz = prior.backward(dlog_p, tape)    # dlog_p like log_p; returns ∂L/∂z like z and, for a
                                         # learned prior, writes ∂L/∂θ into prior.grads
    z = prior.sample(n, rng, dtype)      # (n, K), exact samples
    prior.params, prior.grads            # OrderedDicts name -> array (empty for N(0, I))
    prior.encoded                        # None, or the name of the parameter the model's encoder reads

A prior built on the model's encoder (the VampPrior: p(z) = (1/C) Σ_c q(z | u_c)) takes one
explicit step first: the model encodes ``prior.params[prior.encoded]`` (the pseudo-inputs u) and
hands the result over, ``density = prior.given(mu_u, logvar_u)``; ``density`` then follows the
contract above, and its backward writes ∂L/∂mu_u, ∂L/∂logvar_u into ``density.grads`` for the
model to send back through its encoder into ``prior.grads[prior.encoded]``. The model does this
in one place (``VAE.prior_density``); no model looks at a prior's name.

Here L stands for whatever scalar the caller differentiates; backward receives
dlog_p = ∂L/∂log p(z) per sample, and returns ∂L/∂z = dlog_p · ∂log p/∂z.

The three densities
-------------------
* StandardNormal: log N(z; 0, I) = −½ Σ_k (z_k² + log 2π).
* MixtureOfGaussians (a learned prior, e.g. Dilokthanakul et al. 2016; Tomczak & Welling 2018):
      p(z) = Σ_c π_c N(z; m_c, diag e^{s_c}),   π = softmax(a),
  with means m (C, K), log-variances s (C, K) and mixing logits a (C,) as parameters.
* VampMixture: the density part of Tomczak & Welling's VampPrior,
      p(z) = (1/C) Σ_c q(z | u_c) = (1/C) Σ_c N(z; mu_c, diag e^{logvar_c}),
  where (mu_c, logvar_c) are what the encoder makes of the learned pseudo-inputs u_c.
  It is handed (mu, logvar) by :meth:`VampMixture.given`, and its density returns their
  gradients, so the model can send them back through the encoder (see the class docstring).

Both mixtures share one computation, :func:`mixture_log_prob` and
:func:`mixture_backward`: the log-sum-exp over components, and the gradient through
it, which is the component gradient weighted by the responsibility

The files: arguments.py (what every prior checks of its arguments), standard.py (N(0, I)),
mixture.py (the log-sum-exp both mixtures share), mog.py (the learned mixture), vamp.py (the
VampPrior and its density for one step), by_name.py (:func:`make_prior`, the priors by name).
"""
from .by_name import PRIORS, make_prior
from .mixture import mixture_backward, mixture_log_prob
from .mog import MixtureOfGaussians
from .standard import StandardNormal
from .vamp import UniformMixture, VampMixture

__all__ = ["StandardNormal", "MixtureOfGaussians", "VampMixture", "UniformMixture", "PRIORS", "make_prior",
           "mixture_log_prob", "mixture_backward"]
