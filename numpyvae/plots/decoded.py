"""A model's pictures in data space: its reconstructions, its samples, interpolations and the decoded 2-D manifold.

For 2-D data (``image_shape=None``, e.g. the ring) reconstructions, samples, the manifold and interpolations
are scatter plots in the data plane instead of images. Every function returns the path it wrote.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ..checks import check_array, check_positive_int
from .canvas import DPI, check_image_shape, mosaic, new_figure, plot_image_grid, save_png, show_image

__all__ = ["plot_reconstructions", "prior_label", "plot_samples", "plot_prior_decodings", "plot_interpolation",
           "plot_manifold", "model_x", "encode_mean", "decode_mean"]


def model_x(model, x, where: str, name: str = "x") -> np.ndarray:
    """x as a 2-D array in the model's dtype, D = model.x_dim."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None]
    check_array(x, where, ndim=2, last=model.x_dim, name=name)
    if x.shape[0] == 0:
        raise ValueError(f"{where}: {name} must have at least one example, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=model.dtype)


def encode_mean(model, x, batch_size: int = 1000) -> np.ndarray:
    """E_q[z|x] (the family's point summary: mu for a Gaussian) for every row of x, batched; (N, K)."""
    return np.concatenate([model.posterior.mean(model.encode(x[i:i + batch_size]))
                           for i in range(0, x.shape[0], batch_size)])


def decode_mean(model, z) -> np.ndarray:
    """E[x|z], the decoder's mean, for z (N, K); (N, D)."""
    z = np.ascontiguousarray(z, dtype=model.dtype)
    return model.likelihood.mean(*model.decode(z))


def plot_reconstructions(model, x, path, n: int = 10, image_shape=(28, 28), figsize=None, dpi: int = DPI) -> Path:
    """Inputs (top row) above their reconstructions E[x | z = mu(x)] (bottom row), the first n rows of x.

    For 2-D data (image_shape=None): every row of x and its reconstruction as
    points in the plane, the first n pairs joined by a line.
    """
    where = "plot_reconstructions"
    x = model_x(model, x, where)
    n = check_positive_int(n, where, "n")
    shape = check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        recon = model.reconstruct(x)
        fig = new_figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.5, label="input x")
        ax.scatter(recon[:, 0], recon[:, 1], s=4, alpha=0.5, label="reconstruction E[x | z = mu(x)]")
        m = min(n, x.shape[0])
        ax.plot(np.stack([x[:m, 0], recon[:m, 0]]), np.stack([x[:m, 1], recon[:m, 1]]), color="0.3", lw=0.6)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title="inputs and their reconstructions", aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return save_png(fig, path)
    x = x[:n]
    recon = model.reconstruct(x)
    fig = new_figure(figsize, (max(4.0, 0.9 * x.shape[0] + 1), 2.6), dpi)
    axes = fig.subplots(2, 1)
    for ax, images, label in zip(axes, (x, recon), ("input", "reconstruction")):
        show_image(ax, mosaic(images, shape, images.shape[0]))
        ax.set_ylabel(label)
    axes[0].set_title("inputs (top) and reconstructions E[x | z = mu(x)] (bottom)")
    return save_png(fig, path)


def prior_label(model) -> str:
    """How a title names the model's prior p(z): "N(0, I)", or the learned prior's setting, e.g. "vamp:500"."""
    prior = getattr(model, "prior", None)
    name = getattr(prior, "name", "standard")
    if name == "standard":
        label = "N(0, I)"
    else:
        setting = getattr(model, "config", {}).get("prior", name)
        described = {"mog": "a learned mixture of Gaussians", "vamp": "the VampPrior",
                     "categorical": "uniform categorical"}.get(name, "the prior")
        label = f"p(z), {described} ({setting})"
    if getattr(model, "kind", "vae") == "hvae":       # the prior is on the top layer only
        L = model.n_layers
        return f"{label} on z{L}, then each z_l ~ p(z_l | z_(l+1)) down to z1"
    return label


def plot_samples(model, path, n: int = 100, seed: int = 0, image_shape=(28, 28), figsize=None,
                 dpi: int = DPI) -> Path:
    """n draws from the model: z ~ p(z) (the model's prior, named in the title), shown as the decoder's mean E[x|z].

    The mean, not a draw x ~ p(x|z): a Bernoulli draw is salt-and-pepper noise
    around it. For 2-D data both are drawn, as two colours of points (for a learned
    prior, from two separate draws of z).
    """
    where = "plot_samples"
    n = check_positive_int(n, where, "n")
    shape = check_image_shape(image_shape, model.x_dim, where)
    rng = np.random.default_rng(seed)
    title = f"{n} samples, z ~ {prior_label(model)}"
    if shape is None:
        if getattr(getattr(model, "prior", None), "name", "standard") == "standard":
            z = rng.standard_normal((n, model.z_dim)).astype(model.dtype)
            heads = model.decode(z)
            mean, drawn = model.likelihood.mean(*heads), model.likelihood.sample(rng, *heads)
        else:                           # a learned prior draws its own z (a VampPrior through the encoder)
            mean, drawn = model.sample(n, mean=True, rng=rng), model.sample(n, mean=False, rng=rng)
        fig = new_figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        ax.scatter(drawn[:, 0], drawn[:, 1], s=4, alpha=0.4, label="x ~ p(x|z)")
        ax.scatter(mean[:, 0], mean[:, 1], s=4, alpha=0.6, label="E[x|z]")
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return save_png(fig, path)
    images = model.sample(n, mean=True, rng=rng)
    return plot_image_grid(images, path, shape, title=f"{n} samples: E[x|z], z ~ {prior_label(model)}",
                           figsize=figsize, dpi=dpi)


def plot_prior_decodings(models: dict, path, n: int = 36, seed: int = 0, image_shape=(28, 28), figsize=None,
                         dpi: int = DPI) -> Path:
    """What each model's decoder makes of z ~ N(0, I), side by side: {label: model} -> one panel each.

    The picture behind the KL term: a VAE's decoder was trained on codes that the
    KL pulls toward N(0, I), so prior draws decode to digits; a plain autoencoder's
    codes sit wherever reconstruction put them, so most prior draws land between or
    outside them and decode to blur. Every model gets the same z when the sizes agree
    (one generator seeded ``seed``, drawn per model in order otherwise). Decoder means E[x|z].
    """
    where = "plot_prior_decodings"
    if not isinstance(models, dict) or not models:
        raise ValueError(f"{where}: models must be a non-empty dict label -> model, got {models!r}")
    n = check_positive_int(n, where, "n")
    ncol = math.ceil(math.sqrt(n))
    fig = new_figure(figsize, (3.2 * len(models), 3.6), dpi)
    for i, (label, model) in enumerate(models.items()):
        shape = check_image_shape(image_shape, model.x_dim, where)
        if shape is None:
            raise ValueError(f"{where}: needs image data; model {label!r} has x_dim = {model.x_dim}")
        z = np.random.default_rng(seed).standard_normal((n, model.z_dim))
        ax = fig.add_subplot(1, len(models), i + 1)
        show_image(ax, mosaic(decode_mean(model, z), shape, ncol))
        ax.set_title(f"{label}: decoder at z ~ N(0, I)", fontsize="medium")
    return save_png(fig, path)


def plot_interpolation(model, x_a, x_b, path, steps: int = 10, image_shape=(28, 28), figsize=None,
                       dpi: int = DPI) -> Path:
    """Decode the straight line z(t) = (1 − t)·mu(x_a) + t·mu(x_b), t = 0 … 1 in ``steps`` steps.

    Drawn as one row: x_a, the decoded means E[x | z(t)], x_b. A smooth change
    of digit along the row is what a continuous latent space buys.
    For 2-D data: the decoded path as points in the plane, with x_a and x_b.
    """
    where = "plot_interpolation"
    x_a, x_b = model_x(model, x_a, where, "x_a")[:1], model_x(model, x_b, where, "x_b")[:1]
    steps = check_positive_int(steps, where, "steps")
    if steps < 2:
        raise ValueError(f"{where}: steps must be >= 2 (both ends of the line), got {steps}")
    shape = check_image_shape(image_shape, model.x_dim, where)
    mu = encode_mean(model, np.concatenate([x_a, x_b]))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    decoded = decode_mean(model, (1 - t) * mu[0] + t * mu[1])
    if shape is None:
        fig = new_figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        sc = ax.scatter(decoded[:, 0], decoded[:, 1], c=t[:, 0], cmap="viridis", s=20)
        ax.scatter(*x_a[0], marker="x", color="C3", s=60, label="$x_a$")
        ax.scatter(*x_b[0], marker="+", color="C3", s=80, label="$x_b$")
        fig.colorbar(sc, ax=ax, label="t", shrink=0.7)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title="decoded path from mu($x_a$) to mu($x_b$)", aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return save_png(fig, path)
    fig = new_figure(figsize, (0.9 * (steps + 2) + 0.5, 1.9), dpi)
    axes = fig.subplots(1, steps + 2)
    h, w = shape
    tiles = [(x_a[0], "$x_a$")] + [(d, f"t={ti:.2f}") for d, ti in zip(decoded, t[:, 0])] + [(x_b[0], "$x_b$")]
    for ax, (image, label) in zip(axes, tiles):
        show_image(ax, image.reshape(h, w))
        ax.set_xlabel(label, fontsize="small")
    fig.suptitle("interpolation in latent space: E[x | (1 − t) mu($x_a$) + t mu($x_b$)]")
    return save_png(fig, path)


def plot_manifold(model, path, n: int = 20, image_shape=(28, 28), quantiles=(0.01, 0.99), figsize=None,
                  dpi: int = DPI) -> Path:
    """The decoder's mean over a grid of z in a 2-D latent space (K must be 2).

    As in the Keras write-up: n evenly spaced quantiles q in [0.01, 0.99] are
    mapped through the inverse CDF of N(0, 1), z = Φ⁻¹(q) (scipy.stats.norm.ppf),
    so the grid covers the prior with equal probability between lines, denser
    near 0 where most codes are. z_1 grows to the right, z_2 upward.
    For 2-D data: each grid line decoded, as a curve in the data plane.
    """
    where = "plot_manifold"
    if model.z_dim != 2:
        raise ValueError(f"{where}: the manifold is drawn for a 2-D latent space only; this model has "
                         f"z_dim={model.z_dim}. Train with --z-dim 2, or use plot_latent (PCA) for K > 2")
    n = check_positive_int(n, where, "n")
    lo, hi = quantiles
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"{where}: quantiles must satisfy 0 < low < high < 1, got {quantiles!r}")
    shape = check_image_shape(image_shape, model.x_dim, where)
    grid = norm.ppf(np.linspace(lo, hi, n))                       # z values, increasing
    if shape is None:
        fine = norm.ppf(np.linspace(lo, hi, 200))
        fig = new_figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        for j, g in enumerate(grid):
            ones = np.full_like(fine, g)
            line1 = decode_mean(model, np.stack([fine, ones], axis=1))        # z_2 fixed, z_1 varies
            line2 = decode_mean(model, np.stack([ones, fine], axis=1))        # z_1 fixed, z_2 varies
            ax.plot(line1[:, 0], line1[:, 1], color="C0", lw=0.7, label="z_2 fixed, z_1 varies" if j == 0 else None)
            ax.plot(line2[:, 0], line2[:, 1], color="C1", lw=0.7, label="z_1 fixed, z_2 varies" if j == 0 else None)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"decoded grid of z = Φ⁻¹(q), {n} lines each way",
               aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return save_png(fig, path)
    z1, z2 = np.meshgrid(grid, grid[::-1])                        # top row: the largest z_2
    decoded = decode_mean(model, np.stack([z1.ravel(), z2.ravel()], axis=1))
    h, w = shape
    picture = mosaic(decoded, shape, n, pad=0)
    fig = new_figure(figsize, (max(4.0, n * w / 28 * 0.5 + 1), max(4.0, n * h / 28 * 0.5 + 0.8)), dpi)
    ax = fig.add_subplot()
    show_image(ax, picture)
    ticks = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
    ax.set_xticks(ticks * w + (w - 1) / 2, [f"{grid[i]:.2f}" for i in ticks])
    ax.set_yticks(ticks * h + (h - 1) / 2, [f"{grid[::-1][i]:.2f}" for i in ticks])
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=f"E[x|z] on a {n}×{n} grid, z = Φ⁻¹(q), q in [{lo}, {hi}]")
    return save_png(fig, path)
