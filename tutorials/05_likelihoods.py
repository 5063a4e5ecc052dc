# %% [markdown]
# # 05 · Choosing $p_\theta(x \mid z)$: Bernoulli, Gaussian, continuous Bernoulli
#
# The decoder outputs numbers; the likelihood says what they mean. All three below treat
# pixels as independent given $z$, so $\log p(x\mid z) = \sum_d \log p(x_d \mid z)$.
#
# **Bernoulli, from logits.** For binary pixels, $p(x_d\mid z) = \lambda_d^{x_d}(1-\lambda_d)^{1-x_d}$
# with $\lambda = \sigma(a)$, $a$ the decoder's *logits*. Substituting and simplifying,
#
# $$-\log p(x_d \mid a_d) = \operatorname{softplus}(a_d) - x_d a_d, \qquad \operatorname{softplus}(a) = \log(1 + e^a),$$
#
# which never takes the log of a probability that rounded to 0 (compute softplus as
# $\max(a, 0) + \log(1 + e^{-|a|})$). Its derivative is strikingly simple:
#
# <!-- answer: What is $\partial/\partial a$ of $\operatorname{softplus}(a) - x a$? -->
# $\partial/\partial a = \sigma(a) - x$.
# <!-- /answer -->
#
# **Gaussian with fixed $\sigma$.** $-\log p(x\mid m) = \frac{1}{2\sigma^2}\lVert x - m\rVert^2 + \frac D2 \log 2\pi\sigma^2$:
# the squared error of an ordinary autoencoder, scaled. Multiplying the whole negative ELBO by
# $2\sigma^2$ gives $\lVert x - m\rVert^2 + 2\sigma^2\,\mathrm{KL} + \text{const}$: a squared-error
# autoencoder with $\beta_\text{eff} = 2\sigma^2$ in front of the KL. Small $\sigma$ means
# "reconstruct sharply, never mind the prior", large $\sigma$ the opposite.
#
# **Continuous Bernoulli.** Grey-level pixels live in $[0, 1]$, and people often feed them to the
# Bernoulli formula anyway. But $\lambda^x(1-\lambda)^{1-x}$ is not a density on $[0, 1]$: it does
# not integrate to 1. Normalizing it gives the continuous Bernoulli (Loaiza-Ganem & Cunningham, 2019),
#
# $$p(x \mid \lambda) = C(\lambda)\,\lambda^x (1-\lambda)^{1-x}, \qquad
# C(\lambda) = \frac{2\,\operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}\ (\lambda \ne \tfrac12), \quad C(\tfrac12) = 2.$$

# %%
import numpy as np
from scipy import integrate

from numpyvae.teach.tutorial_support import FAST, plt, savefig, show_grid
from numpyvae import VAE, exercises
from numpyvae.datasets import load
from numpyvae.optim import Adam

rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise: bernoulli_backward, the Bernoulli backward pass
#
# Differentiate $\sum_{n,d} \operatorname{softplus}(a_{nd}) - x_{nd} a_{nd}$ with respect to the logits.

# %%
# EXERCISE: bernoulli_backward — return d(nll)/d(logits) for nll = sum(softplus(a) - x * a)
def bernoulli_backward(x, logits):
    raise NotImplementedError


bernoulli_backward = exercises.grade_or_solution("bernoulli_backward", bernoulli_backward)

# %% [markdown]
# ## The normalizing constant, checked by quadrature
#
# We integrate the unnormalized $\lambda^x(1-\lambda)^{1-x}$ over $[0, 1]$ for a few $\lambda$,
# and compare $1/\text{integral}$ with the closed form $C(\lambda)$.

# %%
def C(lam):
    lam = np.asarray(lam, dtype=float)
    t = 1 - 2 * lam
    with np.errstate(divide="ignore", invalid="ignore"):
        c = 2 * np.arctanh(t) / t
    return np.where(np.abs(t) < 1e-8, 2.0, c)


for lam in (0.05, 0.3, 0.5, 0.9):
    area, _ = integrate.quad(lambda v: lam**v * (1 - lam) ** (1 - v), 0, 1)
    print(f"lambda = {lam:4}: integral of the Bernoulli formula {area:.6f}, 1/integral {1 / area:.6f}, C = {float(C(lam)):.6f}")

lam_grid = np.linspace(0.001, 0.999, 400)
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.3))
axes[0].plot(lam_grid, C(lam_grid))
axes[0].set_xlabel(r"$\lambda$")
axes[0].set_title(r"normalizing constant $C(\lambda)$")
xs = np.linspace(0, 1, 200)
for lam in (0.1, 0.3, 0.5, 0.8):
    axes[1].plot(xs, C(lam) * lam**xs * (1 - lam) ** (1 - xs), label=rf"$\lambda = {lam}$")
axes[1].set_xlabel("x")
axes[1].set_title("continuous Bernoulli densities")
axes[1].legend(fontsize=8)
savefig(fig, "05_continuous_bernoulli.png")

# %% [markdown]
# ![C and the densities](figures/05_continuous_bernoulli.png)
#
# Note that the mean of a continuous Bernoulli is *not* $\lambda$ (it is pulled towards
# $\tfrac12$); `likelihood.mean(logits)` returns the right one, and that is what we draw below.
#
# ## The same digits, four likelihoods
#
# Each model below has the same architecture and sees the same grey-level digits (values in
# $[0, 1]$, no binarization, as in the Keras write-up) for the same number of Adam steps. Only
# the likelihood differs. We draw reconstructions (the decoder's mean at $z = \mu(x)$) and
# samples (the decoder's mean at $z \sim \mathcal{N}(0, I)$).

# %%
data = load("digits")
n_train, epochs = (1000, 2) if FAST else (9000, 15)
x_train, x_show = data.x_train[:n_train], data.x_test[:10]

configs = {
    "Bernoulli": dict(likelihood="bernoulli"),
    "Gaussian σ=1": dict(likelihood="gaussian", likelihood_kwargs={"sigma": 1.0}),
    "Gaussian σ=0.1": dict(likelihood="gaussian", likelihood_kwargs={"sigma": 0.1}),
    "cont. Bernoulli": dict(likelihood="continuous-bernoulli"),
}


def train_briefly(model, x, epochs, batch_size=100, lr=1e-3, seed=0):
    """Plain minibatch Adam on the negative ELBO (tutorial 06 explains this loop)."""
    opt = Adam(model.params, model.grads, lr=lr)
    order_rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for idx in np.array_split(order_rng.permutation(len(x)), len(x) // batch_size):
            model.loss_and_grads(x[idx])
            opt.step()
    return model


models = {}
for name, cfg in configs.items():
    models[name] = train_briefly(VAE(784, [200], 10, seed=0, **cfg), x_train, epochs)
    print(f"{name:<16} last batch: recon {models[name].last_parts['recon']:10.2f}  KL {models[name].last_parts['kl']:6.2f}")

fig, axes = plt.subplots(len(models) + 1, 2, figsize=(9, 1.4 * (len(models) + 1)))
show_grid(axes[0, 0], x_show, 10, "test digits")
axes[0, 1].axis("off")
for row, (name, model) in enumerate(models.items(), 1):
    show_grid(axes[row, 0], np.clip(model.reconstruct(x_show), 0, 1), 10, f"{name}: reconstructions")
    show_grid(axes[row, 1], np.clip(model.sample(10, rng=np.random.default_rng(1)), 0, 1), 10, f"{name}: samples")
savefig(fig, "05_likelihoods.png")

# %% [markdown]
# ![reconstructions and samples for each likelihood](figures/05_likelihoods.png)
#
# What to look for (clearer after a full run, `python tutorials/05_likelihoods.py`):
#
# * **Gaussian, σ = 1** ($\beta_\text{eff} = 2\sigma^2 = 2$): with pixel values in $[0, 1]$, a
#   squared error divided by $2\sigma^2 = 2$ is small next to the KL, so the model keeps $q$
#   close to the prior. After a full run its printed KL is far below the σ = 0.1 model's (about
#   6 against about 40 nats on our machine; in fast mode the two are still close). Its
#   reconstructions are blurred, low-contrast versions of the inputs, still recognizable, and
#   its samples are blurry digits.
# * **Gaussian, σ = 0.1** ($\beta_\text{eff} = 0.02$) weights reconstruction 100 times more: the
#   reconstructions are sharp, and the samples, decoded from prior draws that land where few
#   training codes are, come out speckled.
# * **Bernoulli** on grey levels works well in practice even though it is not a proper
#   likelihood for non-binary $x$ (its "log-likelihood" is not comparable to a density's).
# * **Continuous Bernoulli** is the properly normalized version; its numbers are genuine
#   log-densities. Its $\lambda$ is pushed to the extremes to produce dark backgrounds, and
#   the mean we draw is the distribution's actual mean.
#
# The reconstruction numbers printed above are on different scales (probability mass vs
# density, different σ), so compare pictures here, not those numbers. Next: the full training
# run of the lecture's model (06).
