"""Pictures of a learned prior p(z): what it generates, and (for mixtures) what each component stands for.

    plot_prior(model, directory, image_shape, x=None)     writes, for a run with prior mog:K or vamp:K,
        prior_samples.png      E[x|z] at 100 draws z ~ p(z) (the mixture itself)
        prior_components.png   E[x|z] at each component's mean, largest weight first (at most 100)
        pseudo_inputs.png      (VampPrior) the learned pseudo-inputs u_k themselves, as images
        prior_latent.png       (K = 2, given x) the prior's density over the encoded points E_q[z|x]:
                               where the aggregate posterior and the prior disagree ("holes")

Called by :func:`numpyvae.plots.run.plot_run` for mixture priors; works for the VAE and the HVAE
(whose prior sits on the top layer z_L; its pictures decode through the lower layers' means).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import logsumexp

from .canvas import DPI, new_figure, plot_image_grid, save_png

__all__ = ["prior_components", "plot_prior", "plot_prior_latent"]


def prior_components(model):
    """(means (C, K), logvars (C, K), log weights (C,)) of a mixture prior, or None for N(0, I)."""
    return model.prior_components()


def plot_prior(model, directory, image_shape=(28, 28), x=None, n_samples: int = 100, seed: int = 0,
               max_components: int = 100) -> list[Path]:
    """The pictures of a mixture prior (see the module docstring) into ``directory``; returns the paths.

    For 2-D data (image_shape None) only the latent picture is drawn (when K = 2 and x is given).
    """
    comps = prior_components(model)
    if comps is None:
        raise ValueError(f"plot_prior: the prior {model.prior.name!r} has no components to draw; "
                         "use plot_samples for N(0, I)")
    directory, paths = Path(directory), []
    means, logvars, log_w = (np.asarray(a) for a in comps)
    name = model.config.get("prior")
    if image_shape is not None:
        images = model.sample(n_samples, mean=True, rng=np.random.default_rng(seed))
        paths.append(plot_image_grid(images, directory / "prior_samples.png", image_shape,
                                     title=f"{n_samples} samples E[x|z], z ~ p(z) = {name}"))
        order = np.argsort(-log_w, kind="stable")[:max_components]
        decoded = model.likelihood.mean(*model.decode(np.ascontiguousarray(means[order], dtype=model.dtype)))
        paths.append(plot_image_grid(decoded, directory / "prior_components.png", image_shape,
                                     title=f"{name}: E[x|z] at {order.size} component means, largest weight first"))
        if model.prior.name == "vamp":
            u = np.clip(model.prior.params["pseudo_inputs"][:max_components], 0.0, 1.0)
            paths.append(plot_image_grid(u, directory / "pseudo_inputs.png", image_shape,
                                         title=f"{name}: the learned pseudo-inputs u_k (clipped to [0, 1])"))
    if model.z_dim == 2 and x is not None:
        from ..measure.latent_use import latent_means
        paths.append(plot_prior_latent(latent_means(model, x)[-1], (means, logvars, log_w),
                                       directory / "prior_latent.png", title=f"p(z) = {name} and E_q[z|x]"))
    return paths


def log_mixture_density(z: np.ndarray, means, logvars, log_w) -> np.ndarray:
    """log Σ_c π_c N(z; m_c, diag e^{s_c}) at points z (B, K), float64, by log-sum-exp over c."""
    z, means, logvars = (np.asarray(a, dtype=np.float64) for a in (z, means, logvars))
    d = z[:, None, :] - means[None]                                  # (B, C, K): fine for a picture's grid
    ell = -0.5 * ((d * d) * np.exp(-logvars) + logvars + np.log(2 * np.pi)).sum(-1) + log_w
    return logsumexp(ell, axis=1)


def plot_prior_latent(points: np.ndarray, components, path, title: str = "", figsize=None, dpi: int = DPI,
                      grid: int = 120) -> Path:
    """The prior's log-density as filled contours (``components`` as from :func:`prior_components`,
    or None for N(0, I)) with the encoded points (N, 2) on top: K = 2 only."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"plot_prior_latent: points must have shape (N, 2), got {points.shape}")
    lim = max(3.0, float(np.abs(points).max()) * 1.1)
    a = np.linspace(-lim, lim, grid)
    zz = np.stack(np.meshgrid(a, a), -1).reshape(-1, 2)
    if components is None:
        components = (np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1))
    log_p = log_mixture_density(zz, *components).reshape(grid, grid)
    fig = new_figure(figsize, (5.5, 5), dpi)
    ax = fig.add_subplot()
    cs = ax.contourf(a, a, np.maximum(log_p, log_p.max() - 12), levels=20, cmap="Blues")
    fig.colorbar(cs, ax=ax, label="log p(z)")
    ax.scatter(points[:, 0], points[:, 1], s=3, c="tab:red", alpha=0.5, label="E_q[z|x], test images")
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title, aspect="equal", xlim=(-lim, lim), ylim=(-lim, lim))
    ax.legend(loc="upper right", fontsize="small")
    return save_png(fig, path)
