"""A 2-D latent's true posterior on a grid, the encoder's q beside it, and KL(q || p(z|x)).

With K = 2 a trained model's own posterior

    p(z | x) = p(x | z) p(z) / p(x),     p(x) = ∫ p(x | z) p(z) dz

can be computed by brute force: evaluate log p(x, z) (decoder, likelihood, prior) at every
point of a fine grid of z, and the integral is a sum over cells,
log p(x) ≈ logsumexp_cells log p(x, z_c) + log(cell area). The grid is placed in two
passes: a coarse one over [−lim, lim]² finds where the posterior lives (cells within
e^−12 of the peak), a fine one covers that box with a margin.

KL(q || p(z|x)) for the encoder's q, any family, without q's density on the grid (a flow
has no inverse to evaluate it there): with samples z_s ~ q and their log q(z_s) from rsample,

    KL(q || p(z|x)) = E_q[log q(z) − log p(x, z)] + log p(x) = log p(x) − ELBO,

the first part a Monte Carlo average at exact values, the second from the grid.

Functions: :func:`log_joint`, :func:`grid_posterior`, :func:`kl_to_posterior`,
:func:`plot_ring_posteriors` (the picture, for several trained models side by side).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..checks import check_array, check_positive_int


def _check_2d(model, x, where):
    if model.z_dim != 2:
        raise ValueError(f"{where}: the posterior is computed on a 2-D grid; the model has z_dim = {model.z_dim}")
    x = np.asarray(x, dtype=model.dtype).reshape(1, -1)
    check_array(x, where, ndim=2, last=model.x_dim, dtype=model.dtype, name="x")
    return x


def log_joint(model, x: np.ndarray, z: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """log p(x, z) = log p(x|z) + log p(z) for one x (D,) at points z (M, 2) -> (M,) float64."""
    x = _check_2d(model, x, "log_joint")
    z = np.asarray(z, dtype=model.dtype).reshape(-1, 2)
    out = np.empty(z.shape[0])
    for start in range(0, z.shape[0], chunk):
        zc = z[start:start + chunk, None, :]                                 # (m, N = 1, 2)
        nll, _ = model.likelihood.forward(x, *model.decode(zc), check=False)  # (m, 1)
        out[start:start + chunk] = (model.log_prior(zc) - nll)[:, 0]
    return out


def _grid(lo, hi, n):
    g1, g2 = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    return g1, g2, np.stack(np.meshgrid(g1, g2, indexing="ij"), -1).reshape(-1, 2)


def grid_posterior(model, x: np.ndarray, *, lim: float = 5.0, n: int = 300) -> dict:
    """The model's p(z | x) for one x (D,) on an n × n grid around its mass.

    Returns {"g1", "g2": the grid's axes (n,), "log_post": (n, n) log p(z|x) at the points
    (indexed [i along g1, j along g2]), "log_px": log p(x) (float), "mean": (2,) posterior mean}.
    """
    n = check_positive_int(n, "grid_posterior", "n")
    _, _, coarse = _grid((-lim, -lim), (lim, lim), 200)
    lj = log_joint(model, x, coarse)
    keep = coarse[lj > lj.max() - 12.0]                        # where the posterior lives (e^-12 of the peak)
    margin = 0.15 * (keep.max(0) - keep.min(0)) + 2 * (2 * lim / 199)
    g1, g2, fine = _grid(keep.min(0) - margin, keep.max(0) + margin, n)
    lj = log_joint(model, x, fine)
    log_px = float(logsumexp(lj) + np.log((g1[1] - g1[0]) * (g2[1] - g2[0])))
    post = np.exp(lj - lj.max())
    return {"g1": g1, "g2": g2, "log_post": (lj - log_px).reshape(n, n), "log_px": log_px,
            "mean": (post[:, None] * fine).sum(0) / post.sum()}


def kl_to_posterior(model, x: np.ndarray, log_px: float, n_samples: int = 20_000, seed: int = 0, heads=None):
    """KL(q(z|x) || p(z|x)) for the encoder's q and one x (D,): (kl, samples z (n_samples, 2)).

    kl = log p(x) − mean_s [log p(x, z_s) − log q(z_s|x)], z_s ~ q; log_px from :func:`grid_posterior`.
    heads : None (the encoder's q), or q's heads for this x, a list of (1, size) arrays
        (e.g. from :func:`numpyvae.measure.local_inference.optimize_local`)
    """
    x = _check_2d(model, x, "kl_to_posterior")
    heads = model.encode(x) if heads is None else heads
    eps = model.posterior.draw_noise(np.random.default_rng(seed), n_samples, 1, model.dtype)
    z, log_q, _ = model.posterior.rsample(heads, eps)                     # (S, 1, 2), (S, 1)
    z = z[:, 0]
    elbo = float(np.mean(log_joint(model, x, z) - log_q[:, 0]))
    return log_px - elbo, z


def plot_ring_posteriors(models: dict, xs, path=None, *, n: int = 300, n_samples: int = 20_000):
    """For each x (rows) and each trained model (name -> VAE with z_dim = 2), two panels: the model's
    own p(z|x) on a grid and its encoder's q(z|x) (a histogram of samples, with p's contours in white).

    Returns (figure, {name: [KL(q || p(z|x)) for each x]}); saves the figure to ``path`` if given.
    """
    import matplotlib.pyplot as plt
    xs = [np.asarray(x) for x in xs]
    fig, axes = plt.subplots(len(xs), 2 * len(models), figsize=(2.3 * 2 * len(models), 2.4 * len(xs)),
                             squeeze=False)
    kls = {name: [] for name in models}
    for row, x in zip(axes, xs):
        for j, (name, model) in enumerate(models.items()):
            g = grid_posterior(model, x, n=n)
            kl, z = kl_to_posterior(model, x, g["log_px"], n_samples=n_samples)
            kls[name].append(kl)
            post = np.exp(g["log_post"]).T                                      # [j along g2, i along g1]
            view = [g["g1"][[0, -1]], g["g2"][[0, -1]]]
            ax_p, ax_q = row[2 * j], row[2 * j + 1]
            ax_p.pcolormesh(g["g1"], g["g2"], post, shading="auto", cmap="viridis")
            ax_p.set_title(f"{name}: p(z|x)", fontsize=8)
            ax_q.hist2d(z[:, 0], z[:, 1], bins=70, range=view, cmap="viridis")
            ax_q.contour(g["g1"], g["g2"], post, levels=post.max() * np.array([0.05, 0.5]),
                         colors="w", linewidths=0.6)
            ax_q.set_title(f"{name}: q(z|x), KL {kl:.2f}", fontsize=8)
            for ax in (ax_p, ax_q):
                ax.set_xlim(*view[0])
                ax.set_ylim(*view[1])
                ax.set_xticks([])
                ax.set_yticks([])
        row[0].set_ylabel(f"x = ({x[0]:.2f}, {x[1]:.2f})", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig, kls
