# %% [markdown]
# # 09 · A VAE versus a mixture model
#
# The lecture opens with the simplest latent-variable model for digits, a **mixture**: the
# latent variable is one discrete choice $c \in \{1, \dots, K\}$,
#
# $$c \sim \text{Categorical}(\pi), \qquad x \mid c \sim p_c(x), \qquad
# \log p(x) = \log \sum_{c} \pi_c\, p_c(x)\quad\text{(exact: a sum of } K \text{ terms).}$$
#
# Each component is a fixed template with independent pixels, fitted by EM. Where the VAE's
# latent is continuous and passes through a network, the mixture's latent picks one of $K$
# templates. We fit both to the same binarized digits and compare samples and test
# log-likelihoods in nats: exact for the mixture, importance-sampled (tutorial 08) for the VAE.
#
# A note on units: a Bernoulli likelihood on 0/1 images gives log-*probabilities*, comparable
# across models. A Gaussian mixture on grey levels gives a log-*density*, which can be positive
# and is on another scale; we show the lecture's Gaussian mixture for its pictures only.

# %%
import numpy as np

from numpyvae.teach.tutorial_support import FAST, plt, savefig, show_grid
from numpyvae import VAE
from numpyvae.datasets import binarize_static, load
from numpyvae.measure.vae_log_likelihood import log_likelihood
from numpyvae.baselines import BernoulliMixture, GaussianMixture
from numpyvae.optim import Adam

data = load("digits")
# full mode: k = 1000 importance samples (k = 5000 made the VAE's log p(x) most of the 3.5-minute run;
# a smaller k reads a little low, on average, and the comparison with the mixtures stays the same)
n_train, n_test, epochs, k_is = (1200, 200, 3, 100) if FAST else (9000, 1000, 30, 1000)
x_train = binarize_static(data.x_train[:n_train], method="sample", seed=1)
x_test = binarize_static(data.x_test[:n_test], method="sample", seed=0)

# %% [markdown]
# ## The lecture's picture: a Gaussian mixture on grey levels
#
# Ten components; their means are the "templates", and sampling picks a template and adds
# independent per-pixel noise, which is why mixture samples look speckled.

# %%
gmm = GaussianMixture(10, seed=0, max_iter=20 if FAST else 100).fit(data.x_train[:n_train].astype(np.float64))
gmm_samples, _ = gmm.sample(10, rng=np.random.default_rng(0))
fig, axes = plt.subplots(2, 1, figsize=(8, 2.6))
show_grid(axes[0], gmm.means, 10, "Gaussian mixture: component means")
show_grid(axes[1], np.clip(gmm_samples, 0, 1), 10, "Gaussian mixture: samples")
savefig(fig, "09_gmm.png")

# %% [markdown]
# ![Gaussian mixture means and samples](figures/09_gmm.png)
#
# ## Bernoulli mixture and Bernoulli VAE on the same 0/1 digits

# %%
components = [10, 50] if not FAST else [10, 30]
mixtures = {K: BernoulliMixture(K, seed=0, max_iter=20 if FAST else 100).fit(x_train.astype(np.float64))
            for K in components}

vae = VAE(784, [200], 20, seed=0)
opt = Adam(vae.params, vae.grads, lr=1e-3)
rng = np.random.default_rng(0)
for _ in range(epochs):
    for idx in np.array_split(rng.permutation(n_train), n_train // 100):
        vae.loss_and_grads(x_train[idx])
        opt.step()

rows = []
for K, mix in mixtures.items():
    rows.append((f"Bernoulli mixture, K = {K}", mix.log_likelihood(x_test.astype(np.float64)).mean(), "exact"))
elbo = -vae.loss_and_grads(x_test)[0]
rows.append(("VAE 784-200-20, ELBO", elbo, "lower bound"))
rows.append((f"VAE 784-200-20, log p(x)", log_likelihood(vae, x_test, k=k_is, progress=False).mean(),
             f"importance sampled, k = {k_is}"))
print(f"{'model':<30} {'test log p(x), nats':>20}   how")
for name, value, how in rows:
    print(f"{name:<30} {value:20.2f}   {how}")

# %%
fig, axes = plt.subplots(3, 1, figsize=(8, 3.9))
mix = mixtures[components[0]]
show_grid(axes[0], mix.means[np.argsort(-mix.weights)], 10, f"Bernoulli mixture (K = {components[0]}): means by weight")
show_grid(axes[1], mix.sample(10, rng=np.random.default_rng(0))[0], 10, "Bernoulli mixture: samples (0/1)")
show_grid(axes[2], vae.sample(10, mean=False, rng=np.random.default_rng(0)), 10, "VAE: samples (0/1)")
savefig(fig, "09_mixture_vs_vae.png")

# %% [markdown]
# ![mixture and VAE samples](figures/09_mixture_vs_vae.png)
#
# Reading the table: higher is better, and all rows are in the same unit (nats per test digit,
# on the same binarized digits). The mixture's number is exact; the VAE's ELBO is a bound and
# its importance-sampled value an estimate from below (tutorial 08). More components help the
# mixture, but each new component is one more whole template: the number of templates needed
# to cover every digit in every style grows fast. A VAE shares one decoder across a
# continuous code and, once trained fully (`python tutorials/09_versus_a_mixture.py`), is
# expected to beat mixtures of comparable size on this measure; in fast mode it has had only
# a few epochs and may not yet. The samples show the qualitative difference either way: a
# mixture sample is a template with independent pixel noise, a VAE sample varies stroke by
# stroke because its pixels are dependent through $z$.
