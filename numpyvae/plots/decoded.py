"""Pictures of a trained VAE, one call each, written as PNG files.

    plot_history(history, path)                      loss, reconstruction and KL per epoch
    plot_reconstructions(model, x, path)             inputs above their reconstructions
    plot_samples(model, path)                        x ~ p(x|z), z ~ p(z) (decoder means)
    plot_latent(model, x, y, path)                   E_q[z|x] coloured by label (PCA for K > 2)
    plot_manifold(model, path)                       decoded grid of z = Φ⁻¹(quantiles), K = 2
    plot_interpolation(model, x_a, x_b, path)        decoded straight line from mu(x_a) to mu(x_b)
    plot_kl_per_dimension(model, x, path)            which latent dimensions are used
    plot_code_sweep(model, path)                     categorical latents: one variable swept over its C values
    plot_label_grid(model, path)                     conditional VAE: rows one z ~ p(z), columns the labels
    plot_image_grid(images, path, image_shape)       any images, e.g. a mixture's means
    plot_mixture(mixture, directory, image_shape)    a mixture's component means and samples
    (all that apply to a run, into its directory: numpyvae.plots.run.plot_run; a learned prior's
    samples and components: numpyvae.plots.prior.plot_prior)

Every function returns the path it wrote. Figures are built with
``matplotlib.figure.Figure`` and saved through the Agg renderer, never
through pyplot: nothing opens a window, nothing needs a display, and no
figure stays registered anywhere after the call (the object is simply freed).
A figure's pixel size is figsize × dpi exactly (no tight bounding box).

Images are flat rows (N, D) reshaped row-major to ``image_shape`` (28, 28),
drawn upright in grey. For 2-D data (``image_shape=None``, e.g. the ring)
reconstructions, samples, the manifold and interpolations are scatter plots
in the data plane instead.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from scipy.stats import norm

from ..checks import check_array, check_positive_int

__all__ = ["mosaic", "plot_history", "plot_reconstructions", "plot_samples", "plot_latent", "plot_manifold",
           "plot_interpolation", "plot_kl_per_dimension", "plot_code_sweep", "plot_label_grid", "plot_image_grid",
           "plot_mixture", "plot_prior_decodings", "prior_label"]

DPI = 100


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _figure(figsize, default, dpi):
    size = default if figsize is None else figsize
    if len(size) != 2 or not all(isinstance(s, (int, float)) and s > 0 for s in size):
        raise ValueError(f"figsize must be (width, height) in inches, both > 0, got {figsize!r}")
    return Figure(figsize=tuple(float(s) for s in size), dpi=dpi, layout="constrained")


def _save(fig: Figure, path) -> Path:
    """Write fig as PNG to path (parent directories made); return the path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG: the path must end in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, format="png")
    fig.clear()
    return path


def _check_image_shape(image_shape, d: int, where: str):
    """image_shape (H, W) with H·W = D, or None for 2-D point data (D = 2)."""
    if image_shape is None:
        if d != 2:
            raise ValueError(f"{where}: data with {d} features needs an image_shape (e.g. (28, 28)) to be drawn; "
                             f"image_shape=None draws 2-D points only")
        return None
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or math.prod(shape) != d:
        raise ValueError(f"{where}: image_shape {tuple(image_shape)} does not fit {d} features per example "
                         f"(need H × W = {d})")
    return shape


def _as_model_x(model, x, where: str, name: str = "x") -> np.ndarray:
    """x as a 2-D array in the model's dtype, D = model.x_dim."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None]
    check_array(x, where, ndim=2, last=model.x_dim, name=name)
    if x.shape[0] == 0:
        raise ValueError(f"{where}: {name} must have at least one example, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=model.dtype)


def _encode_mean(model, x, batch_size: int = 1000) -> np.ndarray:
    """E_q[z|x] (the family's point summary: mu for a Gaussian) for every row of x, batched; (N, K)."""
    return np.concatenate([model.posterior.mean(model.encode(x[i:i + batch_size]))
                           for i in range(0, x.shape[0], batch_size)])


def _decode_mean(model, z) -> np.ndarray:
    """E[x|z], the decoder's mean, for z (N, K); (N, D)."""
    z = np.ascontiguousarray(z, dtype=model.dtype)
    return model.likelihood.mean(*model.decode(z))


def mosaic(images: np.ndarray, image_shape, ncol: int, pad: int = 1, fill: float = 0.5) -> np.ndarray:
    """(N, H·W) -> one (rows·(H+pad)−pad, ncol·(W+pad)−pad) picture, images row by row, upright.

    Each row of ``images`` is reshaped row-major to (H, W), so image[i, j] is
    pixel i·W + j: the first pixel is the top-left corner. The pad lines
    between images are ``fill`` (grey); slots after the last image are NaN,
    which imshow leaves transparent.
    """
    h, w = image_shape
    n = images.shape[0]
    nrows = -(-n // ncol)
    out = np.full((nrows * (h + pad) - pad, ncol * (w + pad) - pad), fill, dtype=np.float64)
    r, c = divmod(n, ncol)
    if c:
        out[r * (h + pad):, c * (w + pad) - pad:] = np.nan
    tiles = images.reshape(n, h, w)
    for i in range(n):                          # a loop over tiles to place, not over pixels
        r, c = divmod(i, ncol)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[i]
    return out


def _imshow(ax, picture: np.ndarray):
    """Grey image; values in [0, 1] on a fixed 0..1 scale (so two pictures compare), else auto-scaled."""
    lo, hi = float(np.nanmin(picture)), float(np.nanmax(picture))
    vmin, vmax = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)
    ax.imshow(picture, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------

def plot_image_grid(images, path, image_shape=(28, 28), nrow: int | None = None, title: str | None = None,
                    figsize=None, dpi: int = DPI) -> Path:
    """Draw images (N, H·W) as a grid, ``nrow`` images per row (default ⌈√N⌉), upright.

    Used for samples, reconstructions and a mixture's component means. Values in
    [0, 1] are drawn on a fixed black-to-white scale.
    """
    where = "plot_image_grid"
    images = np.asarray(images)
    if images.ndim == 3:                                          # (N, H, W) is fine too
        images = images.reshape(images.shape[0], -1)
    check_array(images, where, ndim=2, name="images")
    if images.shape[0] == 0:
        raise ValueError(f"{where}: no images to draw (shape {images.shape})")
    if image_shape is None:
        raise ValueError(f"{where}: image_shape (H, W) is required")
    shape = _check_image_shape(image_shape, images.shape[1], where)
    n = images.shape[0]
    if nrow is not None:
        ncol = check_positive_int(nrow, where, "nrow")
    else:
        ncol = n if n <= 10 else math.ceil(math.sqrt(n))
    ncol = min(ncol, n)
    picture = mosaic(images, shape, ncol)
    rows = -(-n // ncol)
    inch = 0.55 * shape[1] / 28                                   # a 28-pixel tile is drawn ~0.55 inch wide
    default = (max(4.0, ncol * inch + 0.3), max(1.5, rows * inch * shape[0] / shape[1] + 0.3 + (0.4 if title else 0.0)))
    fig = _figure(figsize, default, dpi)
    ax = fig.add_subplot()
    _imshow(ax, picture)
    if title:
        ax.set_title(title, fontsize="medium", wrap=True)
    return _save(fig, path)


def plot_reconstructions(model, x, path, n: int = 10, image_shape=(28, 28), figsize=None, dpi: int = DPI) -> Path:
    """Inputs (top row) above their reconstructions E[x | z = mu(x)] (bottom row), the first n rows of x.

    For 2-D data (image_shape=None): every row of x and its reconstruction as
    points in the plane, the first n pairs joined by a line.
    """
    where = "plot_reconstructions"
    x = _as_model_x(model, x, where)
    n = check_positive_int(n, where, "n")
    shape = _check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        recon = model.reconstruct(x)
        fig = _figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.5, label="input x")
        ax.scatter(recon[:, 0], recon[:, 1], s=4, alpha=0.5, label="reconstruction E[x | z = mu(x)]")
        m = min(n, x.shape[0])
        ax.plot(np.stack([x[:m, 0], recon[:m, 0]]), np.stack([x[:m, 1], recon[:m, 1]]), color="0.3", lw=0.6)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title="inputs and their reconstructions", aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return _save(fig, path)
    x = x[:n]
    recon = model.reconstruct(x)
    fig = _figure(figsize, (max(4.0, 0.9 * x.shape[0] + 1), 2.6), dpi)
    axes = fig.subplots(2, 1)
    for ax, images, label in zip(axes, (x, recon), ("input", "reconstruction")):
        _imshow(ax, mosaic(images, shape, images.shape[0]))
        ax.set_ylabel(label)
    axes[0].set_title("inputs (top) and reconstructions E[x | z = mu(x)] (bottom)")
    return _save(fig, path)


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
    shape = _check_image_shape(image_shape, model.x_dim, where)
    rng = np.random.default_rng(seed)
    title = f"{n} samples, z ~ {prior_label(model)}"
    if shape is None:
        if getattr(getattr(model, "prior", None), "name", "standard") == "standard":
            z = rng.standard_normal((n, model.z_dim)).astype(model.dtype)
            heads = model.decode(z)
            mean, drawn = model.likelihood.mean(*heads), model.likelihood.sample(rng, *heads)
        else:                           # a learned prior draws its own z (a VampPrior through the encoder)
            mean, drawn = model.sample(n, mean=True, rng=rng), model.sample(n, mean=False, rng=rng)
        fig = _figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        ax.scatter(drawn[:, 0], drawn[:, 1], s=4, alpha=0.4, label="x ~ p(x|z)")
        ax.scatter(mean[:, 0], mean[:, 1], s=4, alpha=0.6, label="E[x|z]")
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return _save(fig, path)
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
    fig = _figure(figsize, (3.2 * len(models), 3.6), dpi)
    for i, (label, model) in enumerate(models.items()):
        shape = _check_image_shape(image_shape, model.x_dim, where)
        if shape is None:
            raise ValueError(f"{where}: needs image data; model {label!r} has x_dim = {model.x_dim}")
        z = np.random.default_rng(seed).standard_normal((n, model.z_dim))
        ax = fig.add_subplot(1, len(models), i + 1)
        _imshow(ax, mosaic(_decode_mean(model, z), shape, ncol))
        ax.set_title(f"{label}: decoder at z ~ N(0, I)", fontsize="medium")
    return _save(fig, path)


def plot_interpolation(model, x_a, x_b, path, steps: int = 10, image_shape=(28, 28), figsize=None,
                       dpi: int = DPI) -> Path:
    """Decode the straight line z(t) = (1 − t)·mu(x_a) + t·mu(x_b), t = 0 … 1 in ``steps`` steps.

    Drawn as one row: x_a, the decoded means E[x | z(t)], x_b. A smooth change
    of digit along the row is what a continuous latent space buys.
    For 2-D data: the decoded path as points in the plane, with x_a and x_b.
    """
    where = "plot_interpolation"
    x_a, x_b = _as_model_x(model, x_a, where, "x_a")[:1], _as_model_x(model, x_b, where, "x_b")[:1]
    steps = check_positive_int(steps, where, "steps")
    if steps < 2:
        raise ValueError(f"{where}: steps must be >= 2 (both ends of the line), got {steps}")
    shape = _check_image_shape(image_shape, model.x_dim, where)
    mu = _encode_mean(model, np.concatenate([x_a, x_b]))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    decoded = _decode_mean(model, (1 - t) * mu[0] + t * mu[1])
    if shape is None:
        fig = _figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        sc = ax.scatter(decoded[:, 0], decoded[:, 1], c=t[:, 0], cmap="viridis", s=20)
        ax.scatter(*x_a[0], marker="x", color="C3", s=60, label="$x_a$")
        ax.scatter(*x_b[0], marker="+", color="C3", s=80, label="$x_b$")
        fig.colorbar(sc, ax=ax, label="t", shrink=0.7)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title="decoded path from mu($x_a$) to mu($x_b$)", aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return _save(fig, path)
    fig = _figure(figsize, (0.9 * (steps + 2) + 0.5, 1.9), dpi)
    axes = fig.subplots(1, steps + 2)
    h, w = shape
    tiles = [(x_a[0], "$x_a$")] + [(d, f"t={ti:.2f}") for d, ti in zip(decoded, t[:, 0])] + [(x_b[0], "$x_b$")]
    for ax, (image, label) in zip(axes, tiles):
        _imshow(ax, image.reshape(h, w))
        ax.set_xlabel(label, fontsize="small")
    fig.suptitle("interpolation in latent space: E[x | (1 − t) mu($x_a$) + t mu($x_b$)]")
    return _save(fig, path)


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
    shape = _check_image_shape(image_shape, model.x_dim, where)
    grid = norm.ppf(np.linspace(lo, hi, n))                       # z values, increasing
    if shape is None:
        fine = norm.ppf(np.linspace(lo, hi, 200))
        fig = _figure(figsize, (5, 5), dpi)
        ax = fig.add_subplot()
        for j, g in enumerate(grid):
            ones = np.full_like(fine, g)
            line1 = _decode_mean(model, np.stack([fine, ones], axis=1))        # z_2 fixed, z_1 varies
            line2 = _decode_mean(model, np.stack([ones, fine], axis=1))        # z_1 fixed, z_2 varies
            ax.plot(line1[:, 0], line1[:, 1], color="C0", lw=0.7, label="z_2 fixed, z_1 varies" if j == 0 else None)
            ax.plot(line2[:, 0], line2[:, 1], color="C1", lw=0.7, label="z_1 fixed, z_2 varies" if j == 0 else None)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"decoded grid of z = Φ⁻¹(q), {n} lines each way",
               aspect="equal")
        ax.legend(loc="upper right", fontsize="small")
        return _save(fig, path)
    z1, z2 = np.meshgrid(grid, grid[::-1])                        # top row: the largest z_2
    decoded = _decode_mean(model, np.stack([z1.ravel(), z2.ravel()], axis=1))
    h, w = shape
    picture = mosaic(decoded, shape, n, pad=0)
    fig = _figure(figsize, (max(4.0, n * w / 28 * 0.5 + 1), max(4.0, n * h / 28 * 0.5 + 0.8)), dpi)
    ax = fig.add_subplot()
    _imshow(ax, picture)
    ticks = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
    ax.set_xticks(ticks * w + (w - 1) / 2, [f"{grid[i]:.2f}" for i in ticks])
    ax.set_yticks(ticks * h + (h - 1) / 2, [f"{grid[::-1][i]:.2f}" for i in ticks])
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=f"E[x|z] on a {n}×{n} grid, z = Φ⁻¹(q), q in [{lo}, {hi}]")
    return _save(fig, path)


# --------------------------------------------------------------------------
# the latent space and the training curves
# --------------------------------------------------------------------------

def _colour_points(fig, ax, a, b, y, s=6):
    """Scatter (a, b) coloured by label y: a legend for up to 20 classes, else a colorbar."""
    if y is None:
        ax.scatter(a, b, s=s, alpha=0.5)
        return
    classes = np.unique(y)
    if np.issubdtype(y.dtype, np.integer) and classes.size <= 20:
        cmap = "tab10" if classes.size <= 10 else "tab20"
        colours = matplotlib.colormaps[cmap]
        for i, c in enumerate(classes):
            sel = y == c
            ax.scatter(a[sel], b[sel], s=s, alpha=0.6, color=colours(i), label=str(c))
        ax.legend(title="label", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                  markerscale=2, frameon=False)
    else:
        sc = ax.scatter(a, b, c=y, s=s, alpha=0.6, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="label")


def plot_latent(model, x, y, path, batch_size: int = 1000, figsize=None, dpi: int = DPI) -> Path:
    """The posterior means E_q[z|x] = mu(x) of every row of x, coloured by its label y.

    K = 2: the plane (z_1, z_2) itself. K > 2: projected onto the first two
    principal components of the means (the axes say so, with the share of
    variance each explains). K = 1: z_1 against the label.
    y : (N,) labels, or None for one colour.
    """
    where = "plot_latent"
    x = _as_model_x(model, x, where)
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{where}: labels do not match the images: expected y of shape ({x.shape[0]},) "
                             f"for x of shape {x.shape}, got y of shape {y.shape}")
    mu = _encode_mean(model, x, check_positive_int(batch_size, where, "batch_size")).astype(np.float64)
    fig = _figure(figsize, (6.5, 5), dpi)
    ax = fig.add_subplot()
    K = mu.shape[1]
    if K == 1:
        ax.scatter(mu[:, 0], y if y is not None else np.zeros(len(mu)), s=6, alpha=0.5)
        ax.set(xlabel="$z_1$ (mean of q(z|x))", ylabel="label" if y is not None else "",
               title="latent means (K = 1)")
        return _save(fig, path)
    if K == 2:
        a, b = mu[:, 0], mu[:, 1]
        xlabel, ylabel, title = "$z_1$ (mean of q(z|x))", "$z_2$ (mean of q(z|x))", "latent means E_q[z|x]"
    else:
        centred = mu - mu.mean(axis=0)
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        share = sv ** 2 / max(float((sv ** 2).sum()), np.finfo(float).tiny)
        a, b = centred @ vt[0], centred @ vt[1]
        xlabel = f"principal component 1 of E_q[z|x] ({100 * share[0]:.0f}% of variance)"
        ylabel = f"principal component 2 ({100 * share[1]:.0f}% of variance)"
        title = f"latent means E_q[z|x], K = {K}, projected by PCA"
    _colour_points(fig, ax, a, b, y)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return _save(fig, path)


def plot_kl_per_dimension(model, x, path, threshold: float = 0.01, figsize=None, dpi: int = DPI) -> Path:
    """Bar per latent dimension: its mean KL(q(z_k|x) || N(0, 1)) over x, in nats.

    Bars are coloured by whether the unit is active, Var_x(E_q[z_k]) > threshold
    (Burda et al., 2015). Inactive units have KL ≈ 0: collapsed to the prior.
    """
    from ..measure.latent_use import active_units, kl_per_dimension
    where = "plot_kl_per_dimension"
    x = _as_model_x(model, x, where)
    kl = kl_per_dimension(model, x)
    n_active, variance = active_units(model, x, threshold)
    active = variance > threshold
    K = kl.shape[0]
    fig = _figure(figsize, (max(5.0, 0.3 * K + 2), 3.5), dpi)
    ax = fig.add_subplot()
    dims = np.arange(1, K + 1)
    ax.bar(dims, kl, color=np.where(active, "C0", "0.6"))
    handles = [Patch(color="C0", label=f"active ({n_active})"), Patch(color="0.6", label=f"inactive ({K - n_active})")]
    ax.set(xlabel="latent dimension k", ylabel="mean KL(q(z_k|x) || N(0,1)) [nats]",
           title=f"KL per latent dimension (total {kl.sum():.2f} nats); active: Var_x(E_q[z_k]) > {threshold}")
    ax.set_xticks(dims if K <= 32 else np.unique(np.linspace(1, K, 16).round().astype(int)))
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    return _save(fig, path)


def plot_code_sweep(model, path, code=None, variables=None, seed: int = 0, image_shape=(28, 28), figsize=None,
                    dpi: int = DPI) -> Path:
    """Decoding from chosen codes: row r sweeps categorical variable m_r across its C values, the others fixed.

    For a model with a Gumbel-softmax posterior (M variables of C classes, z = M·C one-hot
    blocks). ``code`` (M,) integers in 0..C−1 is the fixed code (default: one draw from the
    uniform prior with ``seed``); ``variables`` the variables to sweep, one row each
    (default: the first min(M, 10)). The picture is len(variables) × C decoder means E[x|z].
    """
    from ..latent.gumbel import one_hot_codes, sweep_codes
    where = "plot_code_sweep"
    M, C = getattr(model.posterior, "n_vars", None), getattr(model.posterior, "n_classes", None)
    if C is None:
        raise ValueError(f"{where}: the model's posterior {model.posterior.name!r} has no categorical variables; "
                         "train one with --posterior gumbel:C --prior categorical")
    shape = _check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        raise ValueError(f"{where}: the sweep is drawn as images; give image_shape (H, W)")
    code = (np.random.default_rng(seed).integers(C, size=M) if code is None else np.asarray(code))
    variables = list(range(min(M, 10))) if variables is None else list(variables)
    if not variables:
        raise ValueError(f"{where}: variables must name at least one variable in 0..{M - 1}")
    if code.shape != (M,):
        raise ValueError(f"{where}: code must have shape ({M},), one class per variable, got {code.shape}")
    codes = np.concatenate([sweep_codes(code, m, C) for m in variables])          # (R·C, M)
    images = _decode_mean(model, one_hot_codes(codes, C, model.dtype))
    return plot_image_grid(images, path, shape, nrow=C,
                           title=f"rows: variables {variables[0]}..{variables[-1]} swept over classes 0..{C - 1}, "
                                 "the other variables fixed", figsize=figsize, dpi=dpi)


def plot_label_grid(model, path, n_rows: int = 10, seed: int = 0, image_shape=(28, 28), figsize=None,
                    dpi: int = DPI) -> Path:
    """A conditional VAE's style and content apart: row r decodes one z_r ~ p(z) with every label 0..C−1.

    Each row holds z fixed (the style: slant, thickness) while the label changes the digit
    across the columns: the picture is n_rows × C decoder means E[x | z_r, y = c].
    """
    where = "plot_label_grid"
    C = getattr(model, "n_labels", 0)
    if not C:
        raise ValueError(f"{where}: the model is not conditional; train one with --conditional")
    n_rows = check_positive_int(n_rows, where, "n_rows")
    shape = _check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        raise ValueError(f"{where}: the grid is drawn as images; give image_shape (H, W)")
    z = model.prior.sample(n_rows, np.random.default_rng(seed), model.dtype)          # (R, K)
    z = np.repeat(z, C, axis=0)                                                        # each z, C times
    labels = np.tile(np.arange(C), n_rows)
    images = model.likelihood.mean(*model.decode(z, labels))
    return plot_image_grid(images, path, shape, nrow=C, title=f"rows: one z ~ p(z) each; columns: labels 0..{C - 1}",
                           figsize=figsize, dpi=dpi)


def plot_history(history, path, figsize=None, dpi: int = DPI, *, loss_label: str = "−ELBO (loss)",
                 kl: bool = True) -> Path:
    """Training curves from a run's history (a list of per-epoch dicts):
    three panels, −ELBO (loss), reconstruction −E_q[log p(x|z)] and KL, train and validation.
    ``loss_label`` names the loss (e.g. "−IWAE bound (loss)"); ``kl=False`` leaves out the KL panel
    (a plain autoencoder has none).

    The training numbers are averages over the epoch's batches (with the
    epoch's β, if a warm-up is on); validation is measured at its end.
    """
    where = "plot_history"
    if not isinstance(history, (list, tuple)) or not history or not all(isinstance(h, dict) for h in history):
        raise ValueError(f"{where}: history must be a non-empty list of per-epoch dicts, got {type(history).__name__}"
                         f"{'' if not isinstance(history, (list, tuple)) else f' of length {len(history)}'}")
    for key in ("train_loss", "train_recon", "train_kl"):
        missing = [i for i, h in enumerate(history) if key not in h]
        if missing:
            raise ValueError(f"{where}: epoch entry {missing[0]} has no {key!r}; keys: {sorted(history[missing[0]])}")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    panels = (("loss", loss_label), ("recon", "reconstruction −E_q[log p(x|z)]"), ("kl", "KL(q(z|x) || p(z))"))
    panels = panels if kl else panels[:2]
    fig = _figure(figsize, (11 if kl else 7.5, 3.4), dpi)
    axes = fig.subplots(1, len(panels))
    for ax, (part, title) in zip(axes, panels):
        ax.plot(epochs, [h[f"train_{part}"] for h in history], marker=".", label="train")
        val = [h.get(f"val_{part}") for h in history]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel="nats per example", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    return _save(fig, path)


# --------------------------------------------------------------------------
# the mixture baseline and a whole run
# --------------------------------------------------------------------------

def plot_mixture(mixture, directory, image_shape=(28, 28), n_samples: int = 100, seed: int = 0,
                 prefix: str = "mixture") -> list[Path]:
    """A fitted mixture's component means (by weight, largest first) and n_samples draws, as two grids.

    Writes DIRECTORY/{prefix}_means.png and DIRECTORY/{prefix}_samples.png; returns both paths.
    """
    if getattr(mixture, "means", None) is None:
        raise ValueError("plot_mixture: the mixture is not fitted yet; call fit(x_train) first")
    directory = Path(directory)
    order = np.argsort(-mixture.weights)
    K = mixture.means.shape[0]
    means = plot_image_grid(mixture.means[order], directory / f"{prefix}_means.png", image_shape,
                            title=f"{type(mixture).__name__}: {K} component means, largest weight first")
    x, _ = mixture.sample(check_positive_int(n_samples, "plot_mixture", "n_samples"), rng=np.random.default_rng(seed))
    samples = plot_image_grid(x, directory / f"{prefix}_samples.png", image_shape,
                              title=f"{n_samples} samples from the {K}-component mixture")
    return [means, samples]
