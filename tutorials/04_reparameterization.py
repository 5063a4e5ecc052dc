# %% [markdown]
# # 04 · The reparameterization trick
#
# The ELBO's first term is an expectation under the encoder's own distribution,
# $\mathbb{E}_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)]$, estimated with a sample
# $z \sim q_\phi(z\mid x)$. The sample depends on $\phi$, but a *drawn number* carries no
# record of how it was drawn: code that calls `rng.normal(mu, sigma)` hands back a float, and
# the chain rule has nothing to differentiate. The objective changes with $\phi$ only
# through *where* the samples land, which is hidden from the loss.
#
# ## The fix
#
# Draw the randomness first, from a distribution with no parameters, and move it:
#
# $$\varepsilon \sim \mathcal{N}(0, I), \qquad z = \mu + \sigma \odot \varepsilon, \qquad \sigma = e^{\ell/2}.$$
#
# Now $z$ is a smooth function of $(\mu, \ell)$ with $\varepsilon$ an ordinary input, and the
# gradient moves inside the expectation:
#
# $$\nabla_\phi\, \mathbb{E}_{q_\phi}[f(z)] = \mathbb{E}_{\varepsilon}\big[\nabla_\phi f(\mu_\phi + \sigma_\phi \odot \varepsilon)\big].$$
#
# The backward pass of $z = \mu + \sigma\varepsilon$, given $\delta = \partial L/\partial z$, sums over
# the $S$ samples $z_s$ drawn from the same $(\mu, \ell)$, and the chain rule goes through
# $\sigma = e^{\ell/2}$:
#
# <!-- answer: Given $\delta_s = \partial L/\partial z_s$ for every sample, what are $\partial L/\partial\mu$ and $\partial L/\partial\ell$? -->
# $$\frac{\partial L}{\partial \mu} = \sum_s \delta_s, \qquad
# \frac{\partial L}{\partial \ell} = \sum_s \delta_s \odot \varepsilon_s \odot \frac{\partial \sigma}{\partial \ell} = \sum_s \delta_s \odot \varepsilon_s \odot \frac{\sigma}{2}.$$
# <!-- /answer -->

# %%
import numpy as np

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae import VAE, exercises
from numpyvae.datasets import load, binarize_static
from numpyvae.teach.gradcheck import check_gradients
from numpyvae.latent.gaussian import reparameterize, reparameterize_backward

rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise: reparam_backward

# %%
# EXERCISE: reparam_backward — z[s] = mu + exp(logvar/2) * eps[s]; given dz (S, N, K) return (dmu, dlogvar), each (N, K)
def reparam_backward(dz, mu, logvar, eps):
    raise NotImplementedError


reparam_backward = exercises.grade_or_solution("reparam_backward", reparam_backward)

# %% [markdown]
# The library's `numpyvae.latent.gaussian.reparameterize_backward`, checked the same way on
# $L = \sum \delta \odot z$:

# %%
mu, logvar = rng.standard_normal((3, 2)), rng.uniform(-1, 1, (3, 2))
eps, dz = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
dmu, dlogvar = reparameterize_backward(dz, eps, np.exp(0.5 * logvar))
print(check_gradients(lambda: np.sum(dz * reparameterize(mu, logvar, eps)[0]),
                      {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar}))

# %% [markdown]
# ## Two gradient estimators, measured
#
# Without reparameterization there is still an unbiased estimator, the *score function*
# (REINFORCE) one, $\nabla_\phi \mathbb{E}_q[f] = \mathbb{E}_q[f(z)\,\nabla_\phi \log q_\phi(z)]$.
# It needs only $f$'s values, not its derivative, and pays for it in variance. Take a 1-D
# example with a known answer, $f(z) = z^2 + \sin 3z$ under $q = \mathcal{N}(\mu, \sigma^2)$:
# $\mathbb{E}_q f = \mu^2 + \sigma^2 + \sin(3\mu)e^{-9\sigma^2/2}$, so
# $\partial/\partial\mu = 2\mu + 3\cos(3\mu)e^{-9\sigma^2/2}$.

# %%
m, s = 0.7, 0.8
f = lambda z: z**2 + np.sin(3 * z)                      # noqa: E731
df = lambda z: 2 * z + 3 * np.cos(3 * z)                # noqa: E731
exact = 2 * m + 3 * np.cos(3 * m) * np.exp(-4.5 * s**2)

trials, S = (2000, 1) if FAST else (20000, 1)
e = rng.standard_normal((trials, S))
z = m + s * e
g_reparam = df(z).mean(1)                               # d f(m + s e) / dm
g_score = (f(z) * (z - m) / s**2).mean(1)               # f(z) d log q / dm
g_score_shifted = ((f(z) + 10) * (z - m) / s**2).mean(1)   # same expectation: E[(z - m)] = 0
print(f"exact d/dmu          {exact:8.4f}")
for name, g in (("reparameterization", g_reparam), ("score function", g_score),
                ("score, f + 10", g_score_shifted)):
    print(f"{name:<20} mean {g.mean():8.4f}   std of one-sample estimate {g.std():7.3f}")

fig, ax = plt.subplots(figsize=(5.5, 3.3))
bins = np.linspace(-15, 15, 80)
ax.hist(g_score, bins, alpha=0.6, density=True, label="score function")
ax.hist(g_reparam, bins, alpha=0.6, density=True, label="reparameterization")
ax.axvline(exact, color="k", lw=1)
ax.set_xlabel(r"one-sample estimate of $\partial\, \mathbb{E}f / \partial \mu$")
ax.legend(fontsize=8)
savefig(fig, "04_estimators.png")

# %% [markdown]
# ![two estimators](figures/04_estimators.png)
#
# All are centred on the exact value (up to the Monte Carlo error of the mean). The
# reparameterized one is the narrowest, because it uses the slope of $f$ rather than inferring it
# from which samples happened to score well. The third line shows the score function's weak
# spot: adding a constant to $f$ changes nothing about the gradient, yet its estimate gets much
# noisier (the reparameterized estimate does not see the constant at all). A log-likelihood of a
# 784-pixel image is a number of a few hundred nats, a very large "constant".
#
# ## Analytic or Monte Carlo KL?
#
# The KL term can use its closed form, or be estimated at the same sample as
# $\log q(z\mid x) - \log p(z)$. Both are unbiased for the KL's gradient; the closed form has
# no noise of its own. We measure the spread of the **whole loss gradient** of an (untrained)
# VAE on a fixed batch of digits over many draws of $\varepsilon$, for both options.

# %%
data = load("digits")
x = binarize_static(data.x_train[:100])
vae = VAE(784, [200], 20, seed=0)
draws = 30 if FAST else 200
spread = {}
for kind in ("analytic", "mc"):
    gs = []
    for _ in range(draws):
        vae.loss_and_grads(x, kl=kind)
        gs.append(np.concatenate([vae.grads[n].ravel() for n in ("encoder.mu.W", "encoder.logvar.W")]))
    gs = np.array(gs, dtype=np.float64)
    spread[kind] = gs.std(0).mean()
    print(f"KL {kind:<8}: mean over weights of the std of the encoder-head gradient: {spread[kind]:.4f}")
print(f"ratio mc / analytic: {spread['mc'] / spread['analytic']:.2f}")

# %% [markdown]
# The ratio printed above is above 1 with these seeds: the analytic KL removes one source of noise, which is why
# it is the default (`kl="analytic"`). The Monte Carlo form is still needed whenever $q$ or the
# prior has no closed-form KL, and by the importance-weighted bound of tutorial 08.
#
# **Take-aways.** A sample is not differentiable in its parameters; a deterministic function of
# parameter-free noise is. The resulting gradient is unbiased and has low variance, which is what
# made training the encoder by plain backpropagation possible.
