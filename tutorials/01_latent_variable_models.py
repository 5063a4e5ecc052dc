# %% [markdown]
# # 01 · Latent-variable models
#
# We are handed examples $x^{(1)}, \dots, x^{(n)}$ drawn from some distribution $p(x)$
# that nobody can write down, and we want a model we can *sample from* and *score with*.
# Modelling all the dependencies between the coordinates of $x$ (784 pixels for a digit)
# directly is hard. The latent-variable idea moves the difficulty somewhere easier:
#
# $$p_\theta(x, z) = p_\theta(x \mid z)\, p(z), \qquad p(z) = \mathcal{N}(z \mid 0, I).$$
#
# The prior $p(z)$ is fixed: it has nothing to learn. All the structure of the data has to be
# put into $p_\theta(x \mid z)$, typically "a simple distribution whose parameters are a
# deterministic function of $z$". Sampling is then *ancestral*: first the parent, then the child,
#
# $$z^{(\ell)} \sim p(z), \qquad x^{(\ell)} \sim p_\theta(x \mid z^{(\ell)}).$$
#
# This tutorial shows, in 2-D where everything can be drawn, that (1) a simple latent density
# pushed through a fixed function can make a complicated data density, and (2) computing
# $p(x)$ for such a model is already awkward, which is what the rest of the course is about.
#
# Run it with `python tutorials/01_latent_variable_models.py`; figures land in `tutorials/figures/`.

# %%
import numpy as np
from scipy.special import logsumexp

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae.datasets.ring import ring_points, octant

rng = np.random.default_rng(0)

# %% [markdown]
# ## A deterministic map makes a ring
#
# The lecture's example: draw $z \sim \mathcal{N}(0, I_2)$ and set
#
# $$x = f(z) = \frac{z}{10} + \frac{z}{\lVert z \rVert}.$$
#
# The second term puts every point on the unit circle (it keeps only the direction of $z$);
# the first adds a small radial spread. A round blob becomes a thin ring. Colouring by the
# angle of $z$ shows that $f$ keeps the angle and throws the radius almost away.

# %%
n = 2000
z = rng.standard_normal((n, 2))
x = ring_points(z)                      # z/10 + z/||z||
label = octant(z)                       # which 45° sector z points into

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
axes[0].scatter(z[:, 0], z[:, 1], c=label, s=4, cmap="hsv")
axes[0].set_title(r"latent $z \sim \mathcal{N}(0, I)$")
axes[1].scatter(x[:, 0], x[:, 1], c=label, s=4, cmap="hsv")
axes[1].set_title(r"data $x = z/10 + z/\|z\|$")
for ax in axes:
    ax.set_aspect("equal")
    ax.set_xlim(-3.2, 3.2)
    ax.set_ylim(-3.2, 3.2)
savefig(fig, "01_ring.png")

# %% [markdown]
# ![the ring](figures/01_ring.png)
#
# ## From a map to a likelihood
#
# A deterministic $x = f(z)$ puts all its mass on a curve, so it has no density in the plane.
# A latent-variable model adds noise around the map: here
# $p(x \mid z) = \mathcal{N}(x \mid f(z), s^2 I)$ with a small $s$. Ancestral sampling is two
# lines of code, and it is exactly how a VAE generates once trained: the decoder plays $f$.

# %%
s = 0.05


def f(z):
    return ring_points(z)


def ancestral_sample(n, rng):
    z = rng.standard_normal((n, 2))                         # z ~ p(z)
    return f(z) + s * rng.standard_normal((n, 2))           # x ~ p(x | z)


def log_p_x_given_z(x, z):
    """log N(x; f(z), s² I) for one x (2,) against many z (M, 2)."""
    r = x - f(z)
    return -0.5 * np.sum(r * r, axis=-1) / s**2 - np.log(2 * np.pi * s**2)


samples = ancestral_sample(1000, rng)
print("ancestral samples:", samples.shape, "mean radius", np.linalg.norm(samples, axis=1).mean().round(3))

# %% [markdown]
# ## Why $p(x)$ is hard
#
# The model's probability of a data point is an integral over every latent value that could
# have produced it:
#
# $$p(x) = \int p(x \mid z)\, p(z)\, dz = \mathbb{E}_{p(z)}\big[p(x \mid z)\big].$$
#
# In 2-D we can still evaluate it on a grid (the "truth" below). The generic alternative,
# averaging $p(x \mid z)$ over samples from the prior,
#
# $$\hat p_S(x) = \frac1S \sum_{\ell=1}^S p(x \mid z^{(\ell)}), \qquad z^{(\ell)} \sim p(z),$$
#
# is unbiased but wasteful: for a given $x$, only the prior samples that point in nearly the
# right direction give $p(x\mid z)$ that is not essentially zero. We compute the log of it with
# log-sum-exp, since $p(x\mid z)$ underflows for most $z$.

# %%
x0 = np.array([0.0, 1.1])             # a point on the ring

grid_n = 300 if FAST else 800
g = np.linspace(-5, 5, grid_n)
Z = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
cell = (g[1] - g[0]) ** 2
log_joint = log_p_x_given_z(x0, Z) - 0.5 * np.sum(Z**2, -1) - np.log(2 * np.pi)
log_px_grid = logsumexp(log_joint) + np.log(cell)
print(f"log p(x0) by a {grid_n}x{grid_n} grid: {log_px_grid:.3f}")

sizes = [10, 100, 1000, 10_000] + ([] if FAST else [100_000])
repeats = 50
estimates = {}
for S in sizes:
    est = []
    for _ in range(repeats):
        zs = rng.standard_normal((S, 2))
        est.append(logsumexp(log_p_x_given_z(x0, zs)) - np.log(S))
    estimates[S] = np.array(est)
    useful = np.mean(log_p_x_given_z(x0, rng.standard_normal((S, 2))) > log_px_grid - 5)
    print(f"S = {S:>6}: log p-hat mean {estimates[S].mean():8.3f}, spread (std) {estimates[S].std():.3f}, "
          f"fraction of prior samples that matter {useful:.3f}")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.boxplot([estimates[S] for S in sizes])
ax.set_xticks(range(1, len(sizes) + 1), [str(S) for S in sizes])
ax.set_ylim(log_px_grid - 6, log_px_grid + 1.5)       # some S = 10 estimates are far below: -inf-ish
ax.axhline(log_px_grid, color="k", ls="--", label="grid quadrature")
ax.set_xlabel("prior samples S")
ax.set_ylabel(r"$\log \hat p_S(x_0)$")
ax.legend()
savefig(fig, "01_prior_sampling.png")

# %% [markdown]
# ![estimates of log p(x) from prior samples](figures/01_prior_sampling.png)
#
# Two things to read off (the printed table says the same in numbers). The estimates of $\log p(x)$ sit *below* the truth for small $S$
# (by Jensen's inequality, $\mathbb{E}[\log \hat p] \le \log \mathbb{E}[\hat p]$) and scatter
# widely; and only a small fraction of prior samples contributes at all. In 2-D a grid rescues
# us. In 20-D a grid with 300 points per axis has $300^{20}$ cells, and prior sampling wastes
# almost every sample, because the region of $z$ that explains one particular digit is tiny.
#
# ## The posterior is where the mass is
#
# The useful $z$ for $x_0$ are those with high posterior probability,
# $p(z \mid x_0) = p(x_0 \mid z)\,p(z) / p(x_0)$. On the grid we can draw it: a thin sliver
# pointing in $x_0$'s direction. Computing it needs $p(x_0)$, the very thing we could not get.
# The VAE's move (tutorial 03) is to *learn* an approximation $q(z \mid x) \approx p(z \mid x)$
# and sample from that instead of the prior.

# %%
post = np.exp(log_joint - logsumexp(log_joint)).reshape(grid_n, grid_n)
fig, ax = plt.subplots(figsize=(4.5, 4.2))
ax.contourf(g, g, post, levels=20, cmap="viridis")
ax.scatter(*rng.standard_normal((300, 2)).T, s=3, c="w", alpha=0.6, label="prior samples")
ax.set_title(r"posterior $p(z \mid x_0)$, $x_0 = (0, 1.1)$")
ax.set_aspect("equal")
ax.legend(loc="lower left", fontsize=8)
savefig(fig, "01_posterior.png")

# %% [markdown]
# ![posterior of one point](figures/01_posterior.png)
#
# **Take-aways.** A latent-variable model is a prior plus a decoder; sampling from it is easy
# (ancestral sampling); scoring data with it is hard, because $p(x)$ is an integral whose mass
# sits in a small posterior region. Next: the building block of the decoder and encoder, a
# Dense layer with its gradient written by hand (02).
