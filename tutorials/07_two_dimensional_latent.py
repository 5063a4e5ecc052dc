# %% [markdown]
# # 07 · A 2-D latent space, and what β trades
#
# With $K = 2$ latent dimensions the whole code space fits on a page. Following the Keras
# write-up: encoder 784 → 256 → (μ, log σ²) ∈ ℝ², decoder 2 → 256 → 784, ReLU, a Bernoulli
# likelihood on the grey-level digits, RMSprop. Two pictures:
#
# * the **encoder's view**: $\mu(x)$ for every test digit, coloured by its label (which the
#   model never saw);
# * the **decoder's view**, the *manifold*: decode a regular grid of $z$. The grid is regular in
#   probability, not in $z$: $z_i = \Phi^{-1}(u_i)$ for $u_i$ evenly spaced in $(0.01, 0.99)$,
#   $\Phi$ the standard normal CDF, so every cell covers the same prior mass.

# %%
import numpy as np
from scipy.stats import norm

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae import VAE
from numpyvae.datasets import load
from numpyvae.optim import make_optimizer
from numpyvae.plots.animate import LatentSnapshots, show_animation, write_animation
from numpyvae.plots import mosaic

data = load("digits")
n_train, epochs = (1000, 2) if FAST else (9000, 50)
x_train, x_test, y_test = data.x_train[:n_train], data.x_test, data.y_test


def fit(beta, seed=0, snapshots=None):
    """784-256-2 VAE with the β-weighted loss  recon + β·KL, RMSprop, batch 100.

    snapshots: a numpyvae.plots.animate.LatentSnapshots to record a frame into every `snap_every` steps.
    """
    model = VAE(784, [256], 2, seed=seed)
    opt = make_optimizer("rmsprop", model.params, model.grads, lr=1e-3)
    rng = np.random.default_rng(seed)
    if snapshots is not None:
        snapshots.record(model, 0)
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(n_train), n_train // 100):
            model.loss_and_grads(x_train[idx], beta=beta)
            opt.step()
            if snapshots is not None and opt.t % snap_every == 0:
                snapshots.record(model, opt.t)
    model.loss_and_grads(x_test, beta=1.0)              # test ELBO at beta = 1, and its parts
    return model, dict(model.last_parts)


snapshots = LatentSnapshots(x_test[:500], y_test[:500])   # frames for the animation at the end (cheap)
snap_every = 2 if FAST else 150
model, parts = fit(beta=1.0, snapshots=snapshots)
print(f"beta = 1: test -ELBO {parts['loss']:.2f} = recon {parts['recon']:.2f} + KL {parts['kl']:.2f}")

# %%
mu, _ = model.encode(x_test)
n = 15
grid = norm.ppf(np.linspace(0.01, 0.99, n))
z_grid = np.array([[zx, zy] for zy in grid[::-1] for zx in grid], dtype=np.float32)   # top row: largest z2
images = model.likelihood.mean(*model.decode(z_grid))

fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
sc = axes[0].scatter(mu[:, 0], mu[:, 1], c=y_test, cmap="tab10", s=8, alpha=0.7)
fig.colorbar(sc, ax=axes[0], ticks=range(10))
axes[0].set_title(r"test digits: encoder mean $\mu(x)$, coloured by label")
axes[0].set_xlabel("$z_1$")
axes[0].set_ylabel("$z_2$")
axes[1].imshow(mosaic(images, (28, 28), n, pad=0), cmap="gray", extent=(0, n, 0, n))
axes[1].set_xticks(np.arange(n) + 0.5, [f"{g:.1f}" for g in grid], fontsize=6, rotation=90)
axes[1].set_yticks(np.arange(n) + 0.5, [f"{g:.1f}" for g in grid], fontsize=6)
axes[1].set_title(r"decoded grid, $z = \Phi^{-1}(u)$")
savefig(fig, "07_latent_and_manifold.png")

# %% [markdown]
# ![latent scatter and manifold](figures/07_latent_and_manifold.png)
#
# What to expect after a full run (`python tutorials/07_two_dimensional_latent.py`, 50 epochs,
# as in the Keras write-up): the classes form regions, several of them overlapping near the
# origin (digits that are drawn alike, such as 3, 5 and 8, mix), while a class drawn very
# differently can sit apart with an empty band between it and the rest (in our full run the
# 1s form their own island below the others). The manifold still morphs smoothly from one digit
# into the next: the decoder is a continuous function of $z$ and the KL term keeps the codes
# inside the prior's bulk, so grid points in a gap decode to in-between shapes rather than to
# noise. In fast mode the regions are only beginning to separate.
#
# ## β: a knob between reconstruction and the prior
#
# Weighting the KL by $\beta$, the loss $-\mathbb{E}_q[\log p(x\mid z)] + \beta\,\mathrm{KL}(q\,\|\,p)$
# is the ELBO only at $\beta = 1$. With $\beta < 1$ codes may spread out and be precise (better
# reconstruction, a latent space with holes the prior will sample into); with $\beta > 1$ they are
# squeezed towards the prior (smoother, blurrier, less information in $z$). The test numbers
# below are all measured at $\beta = 1$, so they are comparable ELBOs.

# %%
betas = [0.25, 1.0, 4.0]
results = {1.0: (model, parts)}
for b in betas:
    if b not in results:
        results[b] = fit(beta=b)
fig, axes = plt.subplots(1, len(betas), figsize=(4 * len(betas), 3.8), sharex=True, sharey=True)
print(f"{'beta':>5} {'recon':>8} {'KL':>7} {'-ELBO':>8}")
for ax, b in zip(axes, betas):
    m, p = results[b]
    mu_b, _ = m.encode(x_test)
    ax.scatter(mu_b[:, 0], mu_b[:, 1], c=y_test, cmap="tab10", s=5, alpha=0.7)
    ax.set_title(f"β = {b}: recon {p['recon']:.1f}, KL {p['kl']:.2f}", fontsize=9)
    print(f"{b:5.2f} {p['recon']:8.2f} {p['kl']:7.2f} {p['loss']:8.2f}")
savefig(fig, "07_beta.png")

# %% [markdown]
# ![β sweep](figures/07_beta.png)
#
# Read the table row by row: as β grows the KL falls and the reconstruction term rises. That
# trade is the whole story of β; which β is "best" depends on what the latent space is for.
# (The blog post's model trains on squared error with a KL weight of $10^{-4}$. By tutorial 05's
# Gaussian argument, and because its KL is summed over the batch of 8 while the squared error is
# averaged over the batch's $8 \cdot 784$ pixels, that is σ = 1 with a per-example
# $\beta = 10^{-4} \cdot 8 \cdot 784 / 2 \approx 0.31$: a β below 1, chosen for sharper reconstructions.)

# %% [markdown]
# ## Training you can watch
#
# The first model above was trained with a recorder beside it (`numpyvae.plots.animate.LatentSnapshots`):
# every few steps (2 in fast mode, 150 in full mode) it kept the codes $\mu(x)$ of 500 test digits and
# the decoded $\Phi^{-1}$ grid. Played in order, the frames show the codes leaving the small clump
# where the untrained encoder puts every image, and the grid turning from the untrained decoder's
# noise into digit shapes; in full mode (4,500 steps) the classes then pull apart into the regions
# of the scatter above, while the fast run's 20 steps show only the start. For a run of the
# command line the same recording is
# `python -m numpyvae train --z-dim 2 --snapshot-every 50 ...`, and
# `python -m numpyvae plot RUN --animate` writes `RUN/training.gif`.

# %%
from numpyvae.teach.tutorial_support import FIG_DIR  # noqa: E402

FIG_DIR.mkdir(parents=True, exist_ok=True)
print(f"{len(snapshots.steps)} frames, steps {snapshots.steps[0]} to {snapshots.steps[-1]}")
show_animation(write_animation(snapshots, FIG_DIR / "07_training.gif"))
