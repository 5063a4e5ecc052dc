"""Gumbel-softmax (Concrete) family: M categorical latent variables with C classes each.

A categorical sample c ~ Cat(softmax(a)) is a jump from one class to another, so it
has no derivative with respect to the logits a. Two facts give a reparameterization
(Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017):

* Gumbel-max: with u_c ~ U(0, 1) and g_c = −log(−log u_c) (standard Gumbel noise),
  argmax_c (a_c + g_c) is distributed exactly as Cat(softmax(a)).
* Relaxation: replace the argmax by a softmax at temperature τ,

      y = softmax((a + g) / τ),

  a point of the simplex that is a smooth function of a for fixed noise u, and tends
  to the one-hot argmax as τ → 0. Low τ: close to one-hot, large-variance gradients;
  high τ: smooth, biased towards the centre of the simplex.

The noise u is the explicit input (the engine contract): ``draw_noise`` draws it,
``rsample`` turns (logits, u) into z. Shapes, for N examples and S samples each:

    logits (N, M·C)      the encoder's single head, M blocks of C
    u      (S, N, M, C)  uniform noise
    y      (S, N, M, C)  one point of the simplex per variable
    z      (S, N, M·C)   y flattened: what the decoder reads, M·C numbers wide
    log_q  (S, N)        the Concrete log-density of y (summed over the M variables)

The relaxed ELBO that Jang et al. train uses the closed-form KL of the *unrelaxed*
categorical q(c|x) to the uniform prior (:class:`CategoricalUniformKL`); ``log_q`` is
there for Monte Carlo use with a relaxed (Concrete) prior.

The files: relaxation.py (the pieces as plain functions: Gumbel noise, the tempered softmax and
its backward, the Concrete log-density), family.py (the family q(z|x) built from them),
categorical.py (one-hot codes and the uniform categorical prior), categorical_kl.py (the
closed-form KL of q(c|x) to that prior) and schedule.py (the temperature's annealing).
"""
from .categorical import UniformCategorical, one_hot_codes, sweep_codes
from .categorical_kl import CategoricalUniformKL, analytic_kl_pair
from .family import GumbelSoftmax
from .relaxation import concrete_log_density, gumbel_noise, gumbel_softmax, gumbel_softmax_backward
from .schedule import TemperatureSchedule

__all__ = ["GumbelSoftmax", "CategoricalUniformKL", "UniformCategorical", "TemperatureSchedule",
           "analytic_kl_pair", "gumbel_noise", "gumbel_softmax", "gumbel_softmax_backward",
           "concrete_log_density", "one_hot_codes", "sweep_codes"]
