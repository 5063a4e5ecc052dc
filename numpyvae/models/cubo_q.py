"""Training q with the χ upper bound (Dieng et al., 2017) while the decoder climbs a lower bound: ``--q-objective cubo``.

CUBO_2 = ½ log E_q[w²] is an upper bound on log p(x) that only q can lower (p's parameters
would simply shrink p(x) to lower it), so it is a training signal for the encoder alone. One
step, from one forward pass with k samples (Monte Carlo KL, so log w is complete):

    decoder (and a learned MoG prior):   climb the ELBO or IWAE_k          (weights c_p = bound.weights)
    encoder (and a flow's global weights): descend Dieng's surrogate L = (1/k) Σ_s exp(2 (log w_s − m))
                                          (m = max_s log w_s held fixed: the exp-trick, bounds.cubo.CUBOSurrogate)

In the model's convention loss = −Σ c · log w, a descent on L is c_q = −∂(mean L)/∂log w. The
model's own backward walks the same tape twice (``model.backward(tape, c)``): first with c_q, of
which q's gradients (the encoder's and a flow's global weights) are kept, then with c_p, of which
the rest (the decoder's and the prior's) are kept. So q's parameters see only CUBO's weights.
"""
from __future__ import annotations

from ..bounds.cubo import CUBOSurrogate

Q_OBJECTIVES = ("same", "cubo")


def cubo_q_loss_and_grads(model, x, eps=None, *, n_samples: int, objective: str = "iwae", alpha=None,
                          n: float = 2.0):
    """One step's gradients: encoder by the CUBO_n surrogate, decoder and prior by ``objective``.

    model : VAE;  x (N, D);  eps (S, N, K) or None (drawn);  n_samples : k >= 2;
    objective : "elbo" or "iwae", the decoder's bound (log w with the Monte Carlo KL).
    Returns (loss, grads): loss = −mean bound (the decoder's objective, for the training log) and
    ``model.grads`` (live buffers). The tape stays in ``model.last_tape``.
    """
    where = "cubo_q_loss_and_grads"
    if objective not in ("elbo", "iwae") or alpha is not None:
        raise ValueError(f"{where}: the decoder's objective must be 'elbo' or 'iwae' when q is trained with CUBO, "
                         f"got {objective!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"{where}: CUBO needs n_samples >= 2 (with one sample its surrogate is constant), "
                         f"got {n_samples!r}")
    if getattr(model.prior, "encoded", None) is not None or not getattr(model.posterior, "has_density", True):
        # a prior built on the encoder would mix the two objectives inside the encoder's gradient
        raise ValueError(f"{where}: q by CUBO is implemented for the standard and mixture priors and a q with a "
                         f"density, not prior {model.prior.name!r} / posterior {model.posterior.name!r}")
    model.last_tape = None
    tape = model.forward(x, eps, n_samples=n_samples, objective=objective, kl="mc")
    surrogate = CUBOSurrogate(n)
    value, s_tape = surrogate.forward(tape["log_w"])
    c_q = -surrogate.weights(s_tape)                                   # descend L: c = −∂(mean L)/∂log w
    # pass 1, for q: ∂/∂nll = c_q, ∂/∂log p = −c_q, ∂/∂log q = c_q (β = 1); keep q's gradients
    model.backward(tape, c_q)
    q_grads = {name: g.copy() for name, g in model.grads.items() if name.startswith(("encoder.", "posterior."))}
    # pass 2, for p: the bound's own weights; then q's gradients of pass 1 go back in place
    model.backward(tape)
    for name, g in q_grads.items():
        model.grads[name][...] = g
    tape.update(c_q=c_q, cubo_surrogate=value)
    model.last_tape = tape
    return tape.loss, model.grads


def linear_gaussian_problem(diagonal: bool = True, D: int = 5, K: int = 2, sigma: float = 0.5, n: int = 200,
                            seed: int = 0):
    """A linear Gaussian VAE (p fixed, x = A z + b + σ·noise, z ~ N(0, I)) and n data points from it.

    diagonal=True draws A with orthogonal columns, so the posterior precision Λ_p = I + AᵀA/σ² is
    diagonal and the encoder's family (linear mean, diagonal Gaussian) holds p(z|x) exactly;
    diagonal=False draws A with independent N(0, 1) entries (the old experiment: posterior
    correlation −0.654 at seed 0). Returns (model, x (n, D), exact mean log p(x), Λ_p (K, K)).
    """
    import numpy as np
    from scipy.stats import multivariate_normal

    from .vae import VAE
    rng = np.random.default_rng(seed)
    model = VAE(D, hidden=[], z_dim=K, likelihood="gaussian", dtype="float64", likelihood_kwargs={"sigma": sigma})
    A, b = rng.standard_normal((D, K)), rng.standard_normal(D)
    if diagonal:                                  # orthonormal columns, then scaled: AᵀA = diag(scale²)
        A = np.linalg.qr(A)[0] * np.linalg.norm(A, axis=0)
    model.params["decoder.out.W"][...] = A.T
    model.params["decoder.out.b"][...] = b
    x = rng.standard_normal((n, K)) @ A.T + b + sigma * rng.standard_normal((n, D))
    truth = float(multivariate_normal(b, A @ A.T + sigma ** 2 * np.eye(D)).logpdf(x).mean())
    return model, x, truth, np.eye(K) + A.T @ A / sigma ** 2


def cubo2_is_finite(precision_p, precision_q) -> bool:
    """Is CUBO_2 = ½ log E_q[(p(z|x)/q(z))²] finite? Gaussians p, q (precisions Λ_p, Λ_q, (K, K)).

    (p/q)²·q = p²/q ∝ exp(−½ zᵀ(2Λ_p − Λ_q)z + linear), integrable iff 2Λ_p − Λ_q is positive definite.
    """
    import numpy as np
    return bool(np.linalg.eigvalsh(2 * precision_p - precision_q).min() > 0)


def linear_gaussian_experiment(steps: int = 1500, k: int = 32, lr: float = 0.01, report_every: int = 300,
                               warm_steps: int = 2000, diagonal: bool = True, k_eval: int = 5000,
                               log=print) -> list:
    """Train only the encoder of a linear Gaussian VAE (exact log p(x), p fixed): ELBO first, then the CUBO surrogate.

    ``warm_steps`` of ELBO (one sample, analytic KL) put q near the best q of its family; then ``steps``
    of the CUBO_2 surrogate with k samples. With diagonal=True the family holds p(z|x), where
    w = p(x) for every sample and ELBO = IWAE = CUBO_2 = log p(x); with diagonal=False the ELBO's
    best diagonal q makes 2Λ_p − Λ_q indefinite, CUBO_2 is infinite there and the surrogate's
    descent has nothing finite to descend. Logs and returns rows (step, mean ELBO, IWAE, CUBO_2 with
    k_eval samples, log p(x)); step counts from the end of the warm start.
    """
    import numpy as np

    from ..measure.vae_log_likelihood import log_likelihood
    from ..optim import Adam
    model, x, truth, _ = linear_gaussian_problem(diagonal)
    enc = {n: p for n, p in model.params.items() if n.startswith("encoder.")}
    opt = Adam(enc, {n: model.grads[n] for n in enc}, lr=lr)
    for _ in range(warm_steps):
        model.loss_and_grads(x)
        opt.step()
    opt = Adam(enc, {n: model.grads[n] for n in enc}, lr=lr)       # a fresh Adam: CUBO's gradients have their own scale
    rows = []
    for step in range(steps + 1):
        if step % report_every == 0 or step == steps:
            s = log_likelihood(model, x, k=k_eval, rng=1, progress=False, sandwich=True)
            rows.append((step, *(float(np.mean(s[n])) for n in ("elbo", "iwae", "cubo")), truth))
            log("step %5d  ELBO %12.4f  IWAE %12.4f  CUBO_2 %12.4f  log p(x) %.4f" % rows[-1])
        if step < steps:
            cubo_q_loss_and_grads(model, x, n_samples=k)
            opt.step()
    return rows


if __name__ == "__main__":
    linear_gaussian_experiment()
