# %% [markdown]
# # 03 · The evidence lower bound, derived and checked
#
# Tutorial 01 ended with an intractable posterior $p(z \mid x)$. Variational inference picks a
# tractable family, here $q_\phi(z \mid x) = \mathcal{N}(z \mid \mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))$
# with $\mu_\phi, \sigma_\phi$ computed by an encoder network, and makes it close to the
# posterior in Kullback–Leibler divergence.
#
# ## Derivation
#
# Start from the divergence we would like to shrink and use Bayes' rule,
# $p(z \mid x) = p(x \mid z)\,p(z) / p(x)$:
#
# $$
# \begin{aligned}
# \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big)
#  &= \mathbb{E}_{q}\big[\log q(z\mid x) - \log p(z \mid x)\big] \\
#  &= \mathbb{E}_{q}\big[\log q(z\mid x) - \log p(x\mid z) - \log p(z)\big] + \log p(x).
# \end{aligned}
# $$
#
# $\log p(x)$ left the expectation because it does not depend on $z$. Rearranged:
#
# $$
# \log p(x) = \underbrace{\mathbb{E}_{q}\big[\log p(x \mid z)\big] - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{ELBO}(x)}
# \;+\; \mathrm{KL}\big(q(z\mid x)\,\|\,p(z \mid x)\big).
# $$
#
# The last term is $\ge 0$, so the ELBO is a lower bound on $\log p(x)$, tight exactly when $q$
# equals the posterior. Since $\log p(x)$ does not depend on $q$, raising the ELBO with respect
# to $\phi$ *is* lowering the divergence to the posterior; raising it with respect to $\theta$
# pushes up (a bound on) the likelihood. The two terms of the ELBO read as a reconstruction
# term and a pull of $q$ towards the prior.
#
# For a Gaussian $q$ and the standard normal prior the second term has a closed form, per
# latent dimension (a short Gaussian integral):
#
# $$\mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, 1)\big) = \tfrac12\big(\mu^2 + \sigma^2 - 1 - \log\sigma^2\big).$$
#
# The code works with $\ell = \log\sigma^2$ ("logvar"), which is unconstrained.
#
# ### Two slips in the lecture slides
#
# The slides ("The miracle: the ELBO", "Dissecting ELBO") derive the same identity; read them
# with two corrections.
#
# * They write the ELBO as $\mathrm{KL}[q_\phi(z\mid x)\,\|\,p(x, z)]$. The sign is wrong. The
#   first line of the derivation above says
#   $\text{ELBO} = \mathbb{E}_q[\log p(x, z) - \log q(z\mid x)] = -\mathbb{E}_q\big[\log \tfrac{q(z\mid x)}{p(x, z)}\big]$,
#   minus a "KL" against the unnormalized $p(x, z)$:
#   $\text{ELBO} = -\mathrm{KL}[q_\phi(z\mid x)\,\|\,p(x, z)]$. (That "KL" can be negative, since
#   $p(x, z)$ does not integrate to one over $z$; it equals $\mathrm{KL}(q\,\|\,p(z\mid x)) - \log p(x)$.)
# * Their Monte Carlo estimate of the reconstruction term drops a log: with $z^{(\ell)} \sim q$,
#   $-\mathbb{E}_q[\ln p_\theta(x\mid z)] \approx -\frac1m\sum_{\ell=1}^m \ln p_\theta(x\mid z^{(\ell)})$, not
#   $\frac1m\sum_\ell p_\theta(x\mid z^{(\ell)})$. The average of the densities themselves estimates
#   $\mathbb{E}_q[p(x\mid z)]$, a different quantity (and for 784 pixels a number like $e^{-100}$).
#   A smaller slip of the same kind: the prior term is written $\mathrm{KL}[\ln q_\phi(z\mid x)\,\|\,p(z)]$,
#   with a stray $\ln$ inside; it is $\mathrm{KL}[q_\phi(z\mid x)\,\|\,p(z)]$.

# %%
import numpy as np
from scipy import integrate
from scipy.stats import norm

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae import VAE, exercises

rng = np.random.default_rng(0)

# %% [markdown]
# ## A model small enough to integrate
#
# With a **one-dimensional** latent, $p(x) = \int p(x\mid z)p(z)\,dz$ is a 1-D integral that
# `scipy.integrate.quad` evaluates to ~1e-10. We take a tiny VAE (2-D data, one hidden layer of
# 8 tanh units, $K = 1$, Gaussian likelihood with $\sigma = 0.3$) with random weights, in
# float64, and check the identity above term by term, each by quadrature.

# %%
model = VAE(2, [8], 1, likelihood="gaussian", likelihood_kwargs={"sigma": 0.3},
            activation="tanh", seed=3, dtype="float64")
x = np.array([[0.4, -0.2]])


def log_lik(z):
    """log p(x | z) for a scalar z, through the decoder."""
    heads = model.decode(np.array([[z]]))
    return float(model.likelihood.log_prob(x, *heads)[0])


def log_joint(z):
    return log_lik(z) + norm.logpdf(z)


def quad(f):
    val, _ = integrate.quad(f, -12, 12, limit=200, epsabs=1e-13, epsrel=1e-11)
    return val


# log p(x): subtract a reference value inside the integral so exp() does not underflow
z_grid = np.linspace(-6, 6, 601)
ref = max(log_joint(z) for z in z_grid)
log_px = ref + np.log(quad(lambda z: np.exp(log_joint(z) - ref)))
print(f"log p(x) by quadrature: {log_px:.10f}")

# %%
# The posterior on a fine grid, normalized there (trapezoid rule), without using log p(x) above:
# an independent route to KL(q || p(z|x)).
def posterior_on_grid(zs):
    lj = np.array([log_joint(z) for z in zs])
    dens = np.exp(lj - lj.max())
    return np.log(dens / np.trapezoid(dens, zs))


z_fine = np.linspace(-12, 12, 4001 if FAST else 24001)
log_post_fine = posterior_on_grid(z_fine)


def elbo_and_gap(mu, logvar):
    """ELBO (quadrature + closed-form KL) and KL(q || p(z|x)) (grid posterior), for q = N(mu, e^logvar)."""
    sd = np.exp(0.5 * logvar)
    expected_ll = quad(lambda z: norm.pdf(z, mu, sd) * log_lik(z))
    kl_prior = 0.5 * (mu**2 + np.exp(logvar) - 1 - logvar)                      # closed form
    q = norm.pdf(z_fine, mu, sd)
    kl_post = np.trapezoid(q * (norm.logpdf(z_fine, mu, sd) - log_post_fine), z_fine)
    return expected_ll - kl_prior, kl_post


mu_enc, logvar_enc = (a.item() for a in model.encode(x))
elbo, gap = elbo_and_gap(mu_enc, logvar_enc)
print(f"encoder's q: mu = {mu_enc:.4f}, sigma = {np.exp(0.5 * logvar_enc):.4f}")
print(f"ELBO = {elbo:.8f}   KL(q || posterior) = {gap:.8f}")
print(f"ELBO + KL = {elbo + gap:.8f}  vs  log p(x) = {log_px:.8f}   difference {abs(elbo + gap - log_px):.1e}")
assert abs(elbo + gap - log_px) < 1e-5

# %% [markdown]
# The two sides were computed along different routes (quad for $\log p(x)$ and the expected
# log-likelihood, a closed form for the prior KL, a grid-normalized posterior for the gap) and
# agree to the grid's accuracy. The model's own ELBO estimate, averaged over many
# $\varepsilon$ draws (it uses one sample of $z$ per draw), should agree with the quadrature
# ELBO up to Monte Carlo error:

# %%
S = 2000 if FAST else 20000
eps = rng.standard_normal((S, 1, 1))
tape = model.forward(x, eps)                            # -ELBO with S samples, analytic KL; no backward needed
loss = tape.loss
stderr = tape["nll"].std() / np.sqrt(S)                 # Monte Carlo standard error of the mean
print(f"model's -loss with S = {S}: {-loss:.4f} ± {stderr:.4f}   quadrature ELBO: {elbo:.4f}")

# %% [markdown]
# ## Moving $q$ by hand
#
# Now sweep the mean of $q$ (at the encoder's $\sigma$) and draw both sides: $\log p(x)$ is flat
# in $\mu$, the ELBO is below it everywhere, and the gap between them is the KL to the posterior,
# smallest where $q$ sits on the posterior.

# %%
mus = np.linspace(mu_enc - 2.5, mu_enc + 2.5, 21 if FAST else 61)
vals = np.array([elbo_and_gap(m, logvar_enc) for m in mus])
post = np.exp(np.array([log_joint(z) for z in z_grid]) - log_px)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(mus, vals[:, 0], label="ELBO")
axes[0].plot(mus, vals[:, 0] + vals[:, 1], "--", label="ELBO + KL(q || p(z|x))")
axes[0].axhline(log_px, color="k", lw=0.8, label="log p(x) (quadrature)")
axes[0].set_xlabel(r"mean of $q$")
axes[0].legend(fontsize=8)
best = mus[np.argmax(vals[:, 0])]
axes[1].plot(z_grid, post, label=r"posterior $p(z\mid x)$")
axes[1].plot(z_grid, norm.pdf(z_grid, best, np.exp(0.5 * logvar_enc)), label=r"best $q$ in the sweep")
axes[1].set_xlabel("z")
axes[1].legend(fontsize=8)
savefig(fig, "03_elbo_gap.png")

# %% [markdown]
# ![ELBO, log p(x) and the gap](figures/03_elbo_gap.png)
#
# ## Exercise: kl_backward, the gradient of the KL term
#
# The encoder is trained through $\partial\,\mathrm{KL}/\partial\mu$ and
# $\partial\,\mathrm{KL}/\partial\ell$ with $\ell = \log\sigma^2$. Differentiate
# $\tfrac12\sum_k(\mu_k^2 + e^{\ell_k} - 1 - \ell_k)$ and fill in:

# %%
# EXERCISE: kl_backward — return (dKL/dmu, dKL/dlogvar), each the shape of mu
def kl_backward(mu, logvar):
    raise NotImplementedError


kl_backward = exercises.grade_or_solution("kl_backward", kl_backward)

# %% [markdown]
# <!-- answer: What are $\partial\,\mathrm{KL}/\partial\mu$ and $\partial\,\mathrm{KL}/\partial\ell$, and where do they pull $\mu$ and $\sigma^2$? -->
# (Solution check: $\partial/\partial\mu = \mu$, $\partial/\partial\ell = \tfrac12(e^{\ell} - 1)$: the
# KL pulls $\mu$ to 0 and $\sigma^2$ to 1.)
# <!-- /answer -->
#
# `numpyvae.latent.kl` holds the library's version.
#
# **Take-aways.** $\log p(x) = \text{ELBO} + \mathrm{KL}(q\,\|\,p(z\mid x))$ is an identity, not
# an approximation, and on a 1-D model we confirmed it numerically. What remains is to get
# gradients of $\mathbb{E}_q[\log p(x\mid z)]$ with respect to the encoder, whose output decides
# *where* that expectation samples. That is the reparameterization trick (04).
