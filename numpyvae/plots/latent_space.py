"""Pictures of the latent space: posterior means by label, KL per dimension, a code swept, a label grid.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.patches import Patch

from ..checks import check_positive_int
from ..measure.inputs import check_labels
from .canvas import DPI, check_image_shape, new_figure, plot_image_grid, save_png
from .decoded import decode_mean, encode_mean, model_x

__all__ = ["plot_latent", "plot_kl_per_dimension", "plot_code_sweep", "plot_label_grid"]


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
    x = model_x(model, x, where)
    if y is not None:
        y = np.asarray(y)
        check_labels(x, y, where)
    mu = encode_mean(model, x, check_positive_int(batch_size, where, "batch_size")).astype(np.float64)
    fig = new_figure(figsize, (6.5, 5), dpi)
    ax = fig.add_subplot()
    K = mu.shape[1]
    if K == 1:
        ax.scatter(mu[:, 0], y if y is not None else np.zeros(len(mu)), s=6, alpha=0.5)
        ax.set(xlabel="$z_1$ (mean of q(z|x))", ylabel="label" if y is not None else "",
               title="latent means (K = 1)")
        return save_png(fig, path)
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
    return save_png(fig, path)


def plot_kl_per_dimension(model, x, path, threshold: float = 0.01, figsize=None, dpi: int = DPI) -> Path:
    """Bar per latent dimension: its mean KL(q(z_k|x) || N(0, 1)) over x, in nats.

    Bars are coloured by whether the unit is active, Var_x(E_q[z_k]) > threshold
    (Burda et al., 2015). Inactive units have KL ≈ 0: collapsed to the prior.
    """
    from ..measure.latent_use import active_units, kl_per_dimension
    where = "plot_kl_per_dimension"
    x = model_x(model, x, where)
    kl = kl_per_dimension(model, x)
    n_active, variance = active_units(model, x, threshold)
    active = variance > threshold
    K = kl.shape[0]
    fig = new_figure(figsize, (max(5.0, 0.3 * K + 2), 3.5), dpi)
    ax = fig.add_subplot()
    dims = np.arange(1, K + 1)
    ax.bar(dims, kl, color=np.where(active, "C0", "0.6"))
    handles = [Patch(color="C0", label=f"active ({n_active})"), Patch(color="0.6", label=f"inactive ({K - n_active})")]
    ax.set(xlabel="latent dimension k", ylabel="mean KL(q(z_k|x) || N(0,1)) [nats]",
           title=f"KL per latent dimension (total {kl.sum():.2f} nats); active: Var_x(E_q[z_k]) > {threshold}")
    ax.set_xticks(dims if K <= 32 else np.unique(np.linspace(1, K, 16).round().astype(int)))
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    return save_png(fig, path)


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
    shape = check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        raise ValueError(f"{where}: the sweep is drawn as images; give image_shape (H, W)")
    code = (np.random.default_rng(seed).integers(C, size=M) if code is None else np.asarray(code))
    variables = list(range(min(M, 10))) if variables is None else list(variables)
    if not variables:
        raise ValueError(f"{where}: variables must name at least one variable in 0..{M - 1}")
    if code.shape != (M,):
        raise ValueError(f"{where}: code must have shape ({M},), one class per variable, got {code.shape}")
    codes = np.concatenate([sweep_codes(code, m, C) for m in variables])          # (R·C, M)
    images = decode_mean(model, one_hot_codes(codes, C, model.dtype))
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
    shape = check_image_shape(image_shape, model.x_dim, where)
    if shape is None:
        raise ValueError(f"{where}: the grid is drawn as images; give image_shape (H, W)")
    z = model.prior.sample(n_rows, np.random.default_rng(seed), model.dtype)          # (R, K)
    z = np.repeat(z, C, axis=0)                                                        # each z, C times
    labels = np.tile(np.arange(C), n_rows)
    images = model.likelihood.mean(*model.decode(z, labels))
    return plot_image_grid(images, path, shape, nrow=C, title=f"rows: one z ~ p(z) each; columns: labels 0..{C - 1}",
                           figsize=figsize, dpi=dpi)
