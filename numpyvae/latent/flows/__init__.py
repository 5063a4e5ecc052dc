"""Normalizing flows: a diagonal Gaussian pushed through K invertible maps.

Change of variables. If z_0 ~ q_0 and z_1 = f(z_0) with f invertible and
smooth, the density of z_1 is q_0 divided by how much f stretches volume:

    log q_1(z_1) = log q_0(z_0) − log |det ∂f/∂z_0|

and for a chain z_K = f_K ∘ … ∘ f_1(z_0) the log-determinants add up:

    log q_K(z_K) = log q_0(z_0) − Σ_k log |det J_k|        (Rezende & Mohamed, 2015)

The family here: q_0 = N(mu, diag(exp(logvar))) reparameterized as
z_0 = mu + exp(logvar/2) ⊙ eps, then K steps of one kind:

* planar   f(z) = z + û tanh(wᵀz + b)                       amortized (u, w, b per example)
* radial   f(z) = z + β h(α, r)(z − z₀), h = 1/(α + r)      amortized (z₀, α', β' per example)
* iaf      z = σ ⊙ z + (1 − σ) ⊙ m, [m, s] = MADE(z, h)     global MADE weights + a per-example
                                                            context h from the encoder

"amortized" means the encoder outputs the step's parameters for every
example (extra heads); "global" means they are learned arrays of the family
(``self.params`` / ``self.grads``, like a layer's), shared by all examples.
Planar and radial support both (amortized by default; wrap a step in
GlobalStep, or pass amortized=False to the builders, for global), IAF the
global one (its MADE weights; its context is amortized).

Every step has the same small contract:

    f, logdet, tape = step.forward(z, theta, context)      z (S, N, D) -> f (S, N, D), logdet (S, N)
    dz, dtheta, dcontext = step.backward(df, dlogdet, tape)

theta is the step's list of head arrays (each (N, size)); dtheta is the list
of their gradients; dcontext is None for steps that do not read the context.
The only Python loop is over the K steps; everything inside is vectorized
over samples and examples.

The files: planar.py, radial.py and iaf.py (one kind of step each), global_step.py (planar and
radial parameters shared by all examples), flow.py (the family that chains the steps, and the
builders planar_flow, radial_flow, iaf_flow); potentials.py and fit_density.py (the paper's own
test of the family, away from any VAE: a global planar flow fitted to its four 2-D densities).
"""
from .flow import Flow, iaf_flow, planar_flow, radial_flow
from .global_step import GlobalStep
from .iaf import IAFStep
from .planar import PlanarStep
from .radial import RadialStep

__all__ = ["Flow", "PlanarStep", "RadialStep", "IAFStep", "GlobalStep", "planar_flow", "radial_flow", "iaf_flow"]
