"""The test ELBO: the bound a model was trained on, with its two parts, measured without a backward pass.

    ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z))      (recon = −E_q[log p(x|z)]),

in nats per example (sums over pixels and latent dimensions, means over examples), the unit of the
training loss. It runs the model's own forward one batch at a time.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_positive_int
from .inputs import as_rng, batches, check_x

__all__ = ["test_elbo"]


def test_elbo(model, x: np.ndarray, batch_size: int = 500, n_samples: int = 1, rng=None, y=None,
              per_example: bool = False) -> dict:
    """The ELBO on x, in nats per example, with its reconstruction and KL parts.

    It runs the model's own :meth:`VAE.forward` (analytic KL, beta = 1), so it is
    the quantity training reports, bit for bit given the same eps, but without a
    backward pass and one batch at a time, so memory stays at
    O(batch_size · n_samples · D) for any N. It never draws from ``model.rng``.

    Parameters
    ----------
    model : VAE
    x : (N, D) in the model's dtype
    batch_size : examples per forward pass
    n_samples : S, samples of z per example in the reconstruction term
    rng : None | int | np.random.Generator   the noise eps; None means EVAL_SEED (0).
        Per batch, eps = rng.standard_normal((S, n_batch, K)), in order.
    y : (N,) int labels, for a conditional VAE only
    per_example : also return "each", the ELBO of every example (N,) float64 (for paired comparisons)

    Returns
    -------
    dict with floats: "elbo" (mean ELBO), "loss" (= −elbo, the training loss),
    "recon" (mean −log p(x|z), averaged over the S samples), "kl" (mean analytic KL).
    """
    where = "test_elbo"
    x = check_x(model, x, where)
    batch_size = check_positive_int(batch_size, where, "batch_size")
    S = check_positive_int(n_samples, where, "n_samples")
    rng = as_rng(rng, where)
    recon_sum = kl_sum = 0.0                                 # float64 sums over examples
    each = np.empty(x.shape[0]) if per_example else None
    for sl in batches(x.shape[0], batch_size):
        xb = x[sl]
        eps = model.noise(rng, S, xb.shape[0])               # a hierarchy's noise covers every layer
        tape = model.forward(xb, eps, y=None if y is None else y[sl])   # the training forward pass, β = 1
        recon_sum += float(tape["nll"].mean(0).sum(dtype=np.float64))   # −log p(x|z), (S, n)
        kl_sum += float(tape["kl"].sum(dtype=np.float64))
        if per_example:
            each[sl] = -(tape["nll"].mean(0, dtype=np.float64) + tape["kl"])
    n = x.shape[0]
    recon, kl = recon_sum / n, kl_sum / n
    out = {"elbo": -(recon + kl), "loss": recon + kl, "recon": recon, "kl": kl}
    return {**out, "each": each} if per_example else out


test_elbo.__test__ = False      # a library function, not a pytest test
