"""Non-amortized inference, and where the gap log p(x) − ELBO comes from.

A VAE's encoder *amortizes* inference: one network maps every x to the
parameters φ(x) of q(z|x). Before inference networks, each example had its own
variational parameters φ_n, fitted by maximizing its own ELBO:

    ELBO_n(φ_n) = E_{q(z|φ_n)} [log p(x_n|z) + log p(z) − log q(z|φ_n)]
                = E_q [log p(x_n|z)] − KL(q(z|φ_n) || p(z))

Optimizing φ_n directly, starting from the encoder's φ(x_n), gives q*_n, the
best member of the family for this x_n (as far as the optimizer gets). Then
the gap of the encoder's ELBO splits into two (Cremer, Li & Duvenaud, 2018,
"Inference suboptimality in variational autoencoders"):

    log p(x) − ELBO[q_φ(x)]  =  (log p(x) − ELBO[q*])   +   (ELBO[q*] − ELBO[q_φ(x)])
                                 approximation gap            amortization gap
                                 (the family is too narrow)   (the encoder misses q*)

The gradient of ELBO_n with respect to φ_n is the one training uses, stopped
at the encoder's heads: the family's backward returns ∂loss/∂heads, and here
the heads themselves are the parameters. Because ELBO_n depends only on φ_n,
the gradient of Σ_n ELBO_n with respect to φ_n is ELBO_n's own, and Adam is
elementwise, so one vectorized Adam on the (N, size) head arrays *is* N
independent per-example optimizations, with no loop over examples.

What is local: every per-example head of the family (mu, logvar; a full
Gaussian's tril, logdiag; an amortized flow's u, w, b; IAF's context). A flow's
global parameters (IAF's MADE weights) and the decoder stay as trained.

Functions
---------
local_elbo(model, x, params, eps)        per-example ELBO at given heads, and its tape
local_elbo_backward(model, tape)         ∂(−Σ_n ELBO_n)/∂heads, a list like params
optimize_local(model, x, params, ...)    Adam on the heads from a starting point
inference_gaps(model, x, ...)            the split above, averaged over x
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..checks import check_array, check_positive_int
from ..optim import Adam

#: defaults of inference_gaps (and `evaluate --gaps`)
DEFAULT_STEPS = 300
DEFAULT_LR = 1e-2
DEFAULT_TRAIN_SAMPLES = 4      # S per Adam step
DEFAULT_EVAL_SAMPLES = 100     # S of the final ELBO estimates (the same eps for q_φ(x) and q*)


def _heads(model, params, where):
    params = list(params)
    if len(params) != len(model.posterior.heads):
        raise ValueError(f"{where}: expected {len(model.posterior.heads)} head arrays "
                         f"{list(model.posterior.heads)}, got {len(params)}")
    return params


def local_elbo(model, x: np.ndarray, params, eps: np.ndarray):
    """ELBO_n at the heads ``params`` (not the encoder's), for each example.

    Parameters
    ----------
    model : VAE              its decoder, prior, likelihood and family are used; its encoder is not
    x : (N, D)               the examples, in the model's dtype
    params : list of (N, size) arrays, one per ``model.posterior.heads``
    eps : (S, N, ...)        the family's noise

    Returns
    -------
    elbo : (N,)   (1/S) Σ_s log p(x|z_s) − KL, with the analytic KL when the (family, prior) pair
                  has one (as :func:`numpyvae.measure.elbo.test_elbo` does), else
                  (1/S) Σ_s [log p(x|z_s) + log p(z_s) − log q(z_s)]
    tape : the model's own tape (:meth:`VAE.forward_q`), for :func:`local_elbo_backward`
    """
    where = "local_elbo"
    if not hasattr(model, "forward_q"):
        raise ValueError(f"{where}: local inference optimizes one q(z|x)'s heads per example; a "
                         f"{type(model).__name__} has no such heads (a hierarchy's q is a chain of encoders)")
    check_array(x, where, ndim=2, last=model.x_dim, dtype=model.dtype, name="x")
    tape = model.forward_q(x, _heads(model, params, where), eps)         # the ELBO, β = 1
    return tape["bound"], tape


def local_elbo_backward(model, tape) -> list:
    """∂L/∂heads for L = −Σ_n ELBO_n (a loss, to minimize), a list of (N, size) arrays.

    The model's own walk (:meth:`VAE.backward_q`) with the per-sample weights of this loss,
    c_sn = ∂(Σ_n ELBO_n)/∂log w_sn = 1/S (not the training loss's 1/(SN): each example's own sum):
        ∂L/∂nll_sn = 1/S,   ∂L/∂log q_sn = 1/S,   ∂L/∂log p_sn = −1/S,
    and with the analytic KL, ∂L/∂KL_n = Σ_s c_sn = 1.

    The walk also writes the decoder's parameter gradients into ``model.grads``
    (they are not used here); the model's parameters do not change.
    """
    S, N = tape["log_w"].shape
    return model.backward_q(tape, np.full((S, N), 1.0 / S, dtype=model.dtype))


def optimize_local(model, x: np.ndarray, params, *, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR,
                   n_samples: int = DEFAULT_TRAIN_SAMPLES, rng=None):
    """Each example's own heads, fitted by Adam on its ELBO from the starting point ``params``.

    Every step draws fresh noise eps (S = n_samples, N, ...) from ``rng``, computes
    :func:`local_elbo` and its gradient, and takes one Adam step on all the
    (N, size) head arrays at once (elementwise, so per example). The step size
    falls linearly from lr to 0 over the steps: with a constant one, Adam keeps
    jittering around the optimum by about lr. ``params`` is not changed.

    Returns (the optimized heads, a list like params; mean ELBO per step, (steps,) float64).
    """
    where = "optimize_local"
    steps = check_positive_int(steps, where, "steps")
    n_samples = check_positive_int(n_samples, where, "n_samples")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    names = list(model.posterior.heads)
    theta = OrderedDict((name, np.array(p, dtype=model.dtype, copy=True))
                        for name, p in zip(names, _heads(model, params, where)))
    grads = OrderedDict((name, np.zeros_like(p)) for name, p in theta.items())
    adam = Adam(theta, grads, lr=lr)
    history = np.empty(steps)
    for i in range(steps):
        eps = model.posterior.draw_noise(rng, n_samples, x.shape[0], model.dtype)
        elbo, tape = local_elbo(model, x, list(theta.values()), eps)
        for g, d in zip(grads.values(), local_elbo_backward(model, tape)):
            g[...] = d
        adam.lr = lr * (1.0 - i / steps)          # linear decay to 0: Adam's jitter around φ* fades out
        adam.step()
        history[i] = elbo.mean()
    return list(theta.values()), history


def inference_gaps(model, x: np.ndarray, *, k: int = 1000, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR,
                   n_samples: int = DEFAULT_TRAIN_SAMPLES, eval_samples: int = DEFAULT_EVAL_SAMPLES,
                   batch_size: int = 100, seed: int = 0, progress: bool = False,
                   log_likelihood_encoder_q: np.ndarray | None = None, log_likelihood=None) -> dict:
    """Split log p(x) − ELBO into the approximation and the amortization gap, mean over x (N, D).

    For each batch of examples: the encoder's heads φ(x), then the optimized
    heads φ* (:func:`optimize_local`, ``steps`` Adam steps at ``lr``, S = n_samples),
    both ELBOs with the same ``eval_samples`` draws of the noise. log p(x) is the
    importance-sampled estimate with k samples (:func:`numpyvae.measure.vae_log_likelihood.log_likelihood`),
    once with q_φ(x) and once with q* as the proposal; each is a stochastic lower
    bound, so the larger of the two is kept per example. ``log_likelihood_encoder_q`` (N,):
    the first of these, already computed (by ``evaluate``), to reuse. ``log_likelihood``: the
    estimator itself, :func:`numpyvae.measure.vae_log_likelihood.log_likelihood` (passed in: evaluate calls this module).

    Returns a dict of floats (nats per example): "elbo_encoder", "elbo_local",
    "log_likelihood", "log_likelihood_encoder_q", "log_likelihood_local_q", "gap"
    (= log_likelihood − elbo_encoder), "approximation_gap" (log_likelihood − elbo_local),
    "amortization_gap" (elbo_local − elbo_encoder), and the settings.
    """
    where = "inference_gaps"
    if log_likelihood is None:   # handed in, so this module stays below evaluate (which calls it for --gaps)
        raise TypeError(f"{where}: pass log_likelihood=numpyvae.measure.vae_log_likelihood.log_likelihood, the IS estimator")
    check_array(x, where, ndim=2, last=model.x_dim, dtype=model.dtype, name="x")
    batch_size = check_positive_int(batch_size, where, "batch_size")
    eval_samples = check_positive_int(eval_samples, where, "eval_samples")
    rng = np.random.default_rng(seed)
    N = x.shape[0]
    elbo_enc, elbo_loc = np.empty(N), np.empty(N)
    enc_heads, loc_heads = [], []
    for start in range(0, N, batch_size):
        xb = x[start:start + batch_size]
        phi = model.encode(xb)
        phi_star, _ = optimize_local(model, xb, phi, steps=steps, lr=lr, n_samples=n_samples, rng=rng)
        eps = model.posterior.draw_noise(rng, eval_samples, xb.shape[0], model.dtype)
        elbo_enc[start:start + len(xb)] = local_elbo(model, xb, phi, eps)[0]
        elbo_loc[start:start + len(xb)] = local_elbo(model, xb, phi_star, eps)[0]
        enc_heads.append(phi)
        loc_heads.append(phi_star)
    enc_heads = [np.concatenate(h) for h in zip(*enc_heads)]
    loc_heads = [np.concatenate(h) for h in zip(*loc_heads)]
    ll_enc = (log_likelihood(model, x, k, q_params=enc_heads, rng=rng, progress=progress)
              if log_likelihood_encoder_q is None else np.asarray(log_likelihood_encoder_q, dtype=np.float64))
    if ll_enc.shape != (N,):
        raise ValueError(f"{where}: log_likelihood_encoder_q must have shape ({N},), got {ll_enc.shape}")
    ll_loc = log_likelihood(model, x, k, q_params=loc_heads, rng=rng, progress=progress)
    ll = np.maximum(ll_enc, ll_loc)
    mean = lambda a: float(a.mean())   # noqa: E731
    return {"posterior": model.config["posterior"],
            "n_test": int(N), "k": int(k), "steps": int(steps), "lr": float(lr), "n_samples": int(n_samples),
            "eval_samples": int(eval_samples),
            "elbo_encoder": mean(elbo_enc), "elbo_local": mean(elbo_loc),
            "log_likelihood": mean(ll), "log_likelihood_encoder_q": mean(ll_enc),
            "log_likelihood_local_q": mean(ll_loc),
            "gap": mean(ll - elbo_enc), "approximation_gap": mean(ll - elbo_loc),
            "amortization_gap": mean(elbo_loc - elbo_enc),
            "improved_fraction": mean(elbo_loc > elbo_enc),
            "stderr_amortization_gap": float((elbo_loc - elbo_enc).std() / math.sqrt(N))}


def format_gaps(g: dict) -> str:
    """Lines for the evaluate table: the split of log p(x) − ELBO."""
    def row(name, value, note=""):
        return f"  {name:<34}{value:>10}  {note}".rstrip()
    return "\n".join([
        f"inference gaps ({g['posterior']}, {g['n_test']} examples; q* = {g['steps']} Adam steps "
        f"at lr {g['lr']:g} on each example's own heads, S={g['n_samples']}; ELBOs with S={g['eval_samples']})",
        row("ELBO, encoder's q", f"{g['elbo_encoder']:.2f}"),
        row("ELBO, optimized q*", f"{g['elbo_local']:.2f}", f"higher for {100 * g['improved_fraction']:.0f}% "
                                                          "of the examples"),
        row(f"log p(x), IS k={g['k']}", f"{g['log_likelihood']:.2f}", "larger of the q and q* proposals"),
        row("gap log p(x) − ELBO", f"{g['gap']:.2f}"),
        row("  approximation  log p(x) − ELBO[q*]", f"{g['approximation_gap']:.2f}", "the family"),
        row("  amortization   ELBO[q*] − ELBO[q]", f"{g['amortization_gap']:.2f}",
            f"± {g['stderr_amortization_gap']:.2f}, the encoder"),
    ])
