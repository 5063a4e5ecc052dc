"""Fit a planar flow to an unnormalized 2-D density (Rezende & Mohamed 2015, section 6.1 and Figure 3).

q_K is N(0, I) pushed through K planar steps with global parameters (one map, no encoder);
p*(z) = exp(−U(z)) / Z is one of :mod:`numpyvae.latent.flows.potentials`. The fit minimizes

    KL(q_K ‖ p*) = E_{z0 ~ N(0, I)}[ log q_K(z_K) + U(z_K) ] + log Z,
    log q_K(z_K) = log q0(z0) − Σ_k log|det ∂f_k/∂z|                  (the flow family, flow.py)

over the flow's parameters; log Z does not depend on them, so the objective is the expectation
alone, estimated with S reparameterized draws z0 = eps per update (float64: 2-D is cheap).
Its gradient: every draw's log q_K enters the mean with weight 1/S, its z_K through U with
dU/dz / S; Flow.backward walks both back through the steps into the steps' global grads.

The measurement: F = log q_K(z_K) + U(z_K) per draw on a fixed set of evaluation draws
(``eval_noise``, the same for every K: differences between two K are paired). Its mean + log Z
is KL(q_K ‖ p*) ≥ 0, with log Z by quadrature (potentials.log_normalizer): the mean of F can
never fall below −log Z by more than its Monte Carlo error, a check on everything above.
"""
from __future__ import annotations

import math

import numpy as np

from ...checks import check_positive_int
from ...nn import pack_layers
from ...optim import Adam
from .flow import planar_flow

__all__ = ["objective_and_grads", "free_energy", "eval_noise", "fit_planar"]

EVAL_CHUNK = 10_000       # evaluation draws pushed through the flow at once


def _base(flow):
    """The heads of q0 = N(0, I) for one "example": mu = 0, logvar = 0, each (1, D)."""
    zeros = np.zeros((1, flow.z_dim))
    return [zeros, zeros.copy()]


def free_energy(flow, U, eps) -> np.ndarray:
    """F = log q_K(z_K) + U(z_K) for each draw, (S,); eps (S, 1, D) are the base draws z0."""
    z, log_q, _ = flow.rsample(_base(flow), eps)
    return log_q[:, 0] + U(z[:, 0])


def objective_and_grads(flow, U, eps) -> tuple[float, np.ndarray]:
    """mean_s F_s (the KL up to log Z) and its gradient in ``flow.grads`` (the steps' u, w, b).

    eps (S, 1, D). Returns (the mean, F per draw (S,)).
    ∂ mean F / ∂ log q_K(z_K, s) = 1/S,   ∂ mean F / ∂ z_K, s = (∂U/∂z)(z_K, s) / S.
    """
    z, log_q, tape = flow.rsample(_base(flow), eps)
    u, cache = U.forward(z[:, 0])
    S = eps.shape[0]
    dz = U.backward(np.full(S, 1.0 / S), cache)[:, None, :]
    flow.backward(dz, np.full((S, 1), 1.0 / S), tape)
    F = log_q[:, 0] + u
    return float(F.mean()), F


def eval_noise(n: int, seed: int = 0, dim: int = 2) -> np.ndarray:
    """The evaluation draws z0 (n, 1, dim): the same for every K given the seed (common random numbers)."""
    n = check_positive_int(n, "eval_noise", "n")
    return np.random.default_rng([seed, 25]).standard_normal((n, 1, dim))


def fit_planar(U, K: int, *, steps: int, samples: int, lr: float = 1e-3, seed: int = 0, eval_eps=None,
               report_every: int = 0, log=None) -> dict:
    """Train a K-step global planar flow on exp(−U) by Adam on the reparameterized objective.

    U : a Potential (forward/backward over z (..., 2));  K : the number of planar steps;
    steps : Adam updates;  samples : S draws per update;  seed : the flow's start and its noise;
    eval_eps : (n, 1, 2) evaluation draws (``eval_noise``; default 10,000 of seed 0).
    Returns {"flow", "each": F on the evaluation draws (n,), "mean", "se": sd(F)/√n,
    "history": [(update, mean F of its S draws)] every ``report_every`` updates}.
    """
    K = check_positive_int(K, "fit_planar", "K")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"fit_planar: steps must be an integer >= 0, got {steps!r}")
    S = check_positive_int(samples, "fit_planar", "samples")
    flow = planar_flow(2, K, amortized=False, rng=np.random.default_rng([seed, 0]), dtype="float64")
    pack_layers(flow.named_layers())                     # one flat buffer: Adam's step is a dozen calls, not 12·3K
    opt = Adam(flow.params, flow.grads, lr=lr)
    noise = np.random.default_rng([seed, 1])
    history = []
    for t in range(1, steps + 1):
        value, _ = objective_and_grads(flow, U, noise.standard_normal((S, 1, 2)))
        opt.step()
        if report_every and (t % report_every == 0 or t == steps):
            history.append((t, value))
            if log is not None:
                log(f"    K = {K}: update {t}/{steps}, mean log q + U = {value:.3f}")
    eval_eps = eval_noise(10_000) if eval_eps is None else eval_eps
    # a chunk of draws at a time: the tapes of K steps over the long budget's 100,000 draws would fill hundreds of MB
    F = np.concatenate([free_energy(flow, U, eval_eps[i:i + EVAL_CHUNK])
                        for i in range(0, eval_eps.shape[0], EVAL_CHUNK)])
    return {"flow": flow, "each": F, "mean": float(F.mean()), "se": float(F.std(ddof=1) / math.sqrt(F.size)),
            "history": history}
