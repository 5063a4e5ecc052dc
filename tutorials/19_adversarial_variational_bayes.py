# %% [markdown]
# # 19 · Adversarial variational Bayes: a posterior without a density
#
# Every $q(z\mid x)$ so far had a formula: a Gaussian (tutorials 03–08), a flow with its
# log-determinant (10), a relaxed categorical (11). The formula is what the ELBO needs,
#
# $$\text{ELBO}(x) = \mathbb{E}_{q(z\mid x)}\big[\log p(x\mid z)\big]
#   - \mathbb{E}_{q(z\mid x)}\big[\log q(z\mid x) - \log p(z)\big],$$
#
# since its second term asks for $\log q$ at the samples. Adversarial variational Bayes (AVB,
# Mescheder, Nowozin & Geiger, 2017) drops the formula. Its encoder reads noise beside $x$,
#
# $$z = f_\phi(x, \varepsilon), \qquad \varepsilon \sim \mathcal{N}(0, I_E),$$
#
# a network on $[x, \varepsilon]$. Drawing from $q$ is as easy as before: draw $\varepsilon$, run the
# network. But $q$ is now **implicit**: it is the push-forward of $\mathcal{N}(0, I)$ through
# $f_\phi(x, \cdot)$, and its density at a point $z$ would be
#
# $$q(z\mid x) = \int \delta\big(z - f_\phi(x, \varepsilon)\big)\, \mathcal{N}(\varepsilon; 0, I)\, d\varepsilon .$$
#
# With $E = K$ and an invertible $f$ this is the change of variables of tutorial 10, but a
# network of $\varepsilon$ is not invertible in general: many $\varepsilon$ reach the same $z$, and
# the integral runs over all of them (for $E > K$, over a whole manifold of $\varepsilon$). Nobody
# can evaluate it, so the KL term cannot be computed, and neither can its gradient. What a free
# network buys is a $q$ of any shape (bent, multimodal, correlated); the price is the KL.
#
# The Keras write-up among the course's sources ends on this idea: replace its layer that computes
# the KL in closed form by a learned estimator of the density ratio, which frees $q$ (and even
# $p(z)$) from needing a density, and pay with a rougher estimate of the ELBO. Here is what that
# estimator is, where it fails, and how AVB repairs it.
#
# ## The density-ratio trick
#
# The KL needs only the *ratio* $q(z\mid x)/p(z)$, and a ratio of two densities we can sample from
# can be learned by telling their samples apart. Train a **critic** $T_\psi(x, z)$ by logistic
# regression: label pairs $(x, z)$ with $z \sim q(z\mid x)$ as 1 and pairs with $z \sim p(z)$ as 0,
#
# $$\mathcal{L}_T(\psi) = \mathbb{E}_{x}\Big[\mathbb{E}_{q(z\mid x)}\big[-\log \sigma(T(x, z))\big]
#   + \mathbb{E}_{p(z)}\big[-\log\big(1 - \sigma(T(x, z))\big)\big]\Big].$$
#
# For each $(x, z)$ the loss is $-q \log \sigma(T) - p \log(1 - \sigma(T))$, smallest at
# $\sigma(T) = q/(q + p)$, that is
#
# $$T^*(x, z) = \log q(z\mid x) - \log p(z), \qquad
#   \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big) = \mathbb{E}_{q(z\mid x)}\big[T^*(x, z)\big].$$
#
# So AVB puts $T$ in place of the KL: the encoder and decoder minimize
# $\mathbb{E}_q[-\log p(x\mid z) + T_\psi(x, z)]$ with $\psi$ held fixed (the gradient reaches
# $\phi$ through $\partial T/\partial z$), and the critic is trained in between, one step each per
# batch, as in a GAN. In numpyvae it is `numpyvae.models.adversarial.AVB`, every gradient by hand and checked
# against finite differences in `tests/test_avb.py`.
#
# ## A known KL, and a critic that saturates
#
# First a case where the answer is known. Freeze the encoder at a *linear* map,
# $z = W_x x + b + L\varepsilon$: then $q(z\mid x) = \mathcal{N}(W_x x + b, LL^\top)$, a correlated
# 4-D Gaussian, whose KL to $\mathcal{N}(0, I)$ has a formula. The network does not know it is
# Gaussian; the critic only sees samples. We train critics alone (Adam, $\beta_1 = 0.5$ as in
# Mescheder's code) and watch their KL estimate $\mathbb{E}_q[T]$ against the truth.

# %%
import math
import tempfile

import numpy as np

from numpyvae.models.adversarial import AVB, log_px_by_quadrature
from numpyvae.run.presets import PRESETS
from numpyvae.datasets import load
from numpyvae.optim import Adam
from numpyvae.teach import exercises
from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae.run.train import train

D, K = 3, 4
critic_steps = 300 if FAST else 1500


def frozen_gaussian_q(critic, adaptive_contrast):
    """An AVB whose encoder is linear, z = W_x x + b + L ε, and stays fixed: q(z|x) = N(W_x x + b, L Lᵀ).
    Returns the model and a function giving the exact log q(z|x) − log p(z) at (x, z)."""
    m = AVB(D, [], K, noise_dim=K, likelihood="gaussian", activation="tanh", seed=0, dtype="float64",
            hidden_disc=[32], critic=critic, adaptive_contrast=adaptive_contrast, n_moment_samples=64)
    rng = np.random.default_rng(0)
    W, b = m.gen_params["encoder.0.W"], m.gen_params["encoder.0.b"]      # rows of W: x (3), then ε (4)
    W[:D] = rng.standard_normal((D, K))
    L = np.tril(rng.standard_normal((K, K)) * 0.5) + np.diag([0.3, 0.5, 2.0, 0.4])
    W[D:] = L.T
    b[...] = [3.0, -2.0, 1.0, 2.5]
    cov_inv, logdet = np.linalg.inv(L @ L.T), np.linalg.slogdet(L @ L.T)[1]

    def log_ratio(x, z):                       # log N(z; W_x x + b, LLᵀ) − log N(z; 0, I), exactly
        d = z - (x @ W[:D] + b)
        return -0.5 * (np.einsum("ni,ij,nj->n", d, cov_inv, d) + logdet) + 0.5 * (z ** 2).sum(1)
    return m, log_ratio


def draw_x(rng, n):
    return 0.5 * rng.standard_normal((n, D))


rng_eval = np.random.default_rng(2)
x_eval = draw_x(rng_eval, 2000)
eps_eval = rng_eval.standard_normal((2000, K))
critics = {"MLP on [x, z]": ("mlp", False), "inner product": ("inner", False),
           "MLP, adaptive contrast": ("mlp", True), "inner product, adaptive contrast": ("inner", True)}
curves, at_samples = {}, {}
for name, (critic, ac) in critics.items():
    m, log_ratio = frozen_gaussian_q(critic, ac)
    opt = Adam(m.disc_params, m.disc_grads, lr=1e-3, beta1=0.5)
    rng = np.random.default_rng(1)
    curves[name] = []
    for step in range(1, critic_steps + 1):
        x = draw_x(rng, 256)
        z_c = m.generator_grads(x, rng.standard_normal((256, K)))["z"]   # what the critic reads (z, or z̃)
        fit = m.discriminator_grads(x, z_c, rng.standard_normal((256, K)))
        opt.step()                                  # the critic's optimizer only: q stays frozen
        if step % 25 == 0:
            z = m.encode(x_eval, eps_eval)[0]
            curves[name].append((step, m.kl_estimate(x_eval, z, None).mean()))
    z = m.encode(x_eval, eps_eval)[0]
    truth = log_ratio(x_eval, z)
    at_samples[name] = truth, m.kl_estimate(x_eval, z, None)
    print(f"{name:<33} KL estimate {at_samples[name][1].mean():6.2f}   true KL {truth.mean():6.2f}   "
          f"critic accuracy {fit['accuracy']:6.1%}   logistic loss {fit['loss']:.3f}")
true_kl = at_samples["MLP on [x, z]"][0].mean()
for name in ("MLP on [x, z]", "inner product, adaptive contrast"):
    truth, est = (np.percentile(v, [5, 95]) for v in at_samples[name])
    print(f"at q's samples, 5th to 95th percentile: true log q - log p {truth[0]:5.1f} to {truth[1]:5.1f}; "
          f"{name}'s estimate {est[0]:5.1f} to {est[1]:5.1f}")

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
for name, curve in curves.items():
    steps, est = zip(*curve)
    axes[0].plot(steps, est, label=name)
axes[0].axhline(true_kl, color="k", ls="--", label="true KL")
axes[0].set(xlabel="critic step", ylabel="mean KL estimate (nats)", title="E_q[T] against the true KL")
axes[0].legend(fontsize=8)
for name in ("MLP on [x, z]", "inner product, adaptive contrast"):
    truth, est = at_samples[name]
    axes[1].scatter(truth[:500], est[:500], s=4, alpha=0.5, label=name)
lims = [min(t.min() for t, _ in at_samples.values()), max(t.max() for t, _ in at_samples.values())]
axes[1].plot(lims, lims, "k--", lw=0.8)
axes[1].set(xlabel="true log q(z|x) - log p(z)", ylabel="the critic's estimate",
            title="at q's samples: the estimate against the truth")
axes[1].legend(fontsize=8)
savefig(fig, "19_critic_estimates.png")

# %% [markdown]
# ![KL estimates against the truth](figures/19_critic_estimates.png)
#
# The true KL here is
# 14.65<!-- printed fast: MLP on [x, z] … true KL --> nats (the mean of the exact
# $\log q - \log p$ at 2000 fresh pairs $(x, z)$; the same in both modes). The plain critics fall far
# short: after the full run's 1500 steps the MLP on $[x, z]$ estimated
# 5.42<!-- printed full: MLP on [x, z] … KL estimate --> nats and the inner-product critic of
# Mescheder's code ($\langle\theta(x), s(z)\rangle + T_x(x) + T_z(z)$)
# 6.82<!-- printed full: inner product  … KL estimate --> (the fast run's 300 steps:
# 3.12<!-- printed fast: MLP on [x, z] … KL estimate --> and
# 5.89<!-- printed fast: inner product  … KL estimate -->), and their curves rise slowly (the
# inner product's noisily, up and down by a nat or two). Look at their accuracy: 100.0%<!-- printed full: MLP on [x, z] … critic accuracy --> in the
# full run, with a logistic loss near zero. This $q$ sits far from $\mathcal{N}(0, I)$ (its mean is
# several of $p$'s standard deviations from the origin), so the two sets of samples barely overlap, and the classifier separates them long before $T$ reaches
# $\log q - \log p$: once $\sigma(T) \approx 1$ on every sample of $q$ and $\approx 0$ on every
# sample of $p$, the logistic loss is nearly zero and its gradient gives no reason to push $T$
# from 5 to 15. The right panel shows it sample by sample: at 90% of $q$'s samples the truth lies
# between 10.9<!-- printed fast: at q's samples … true log q - log p --> and
# 20.3<!-- printed fast: at q's samples … true log q - log p … to --> nats (in both modes),
# while the plain MLP critic's $T$ is flattened into
# 4.6<!-- printed full: at q's samples … MLP on [x, z]'s estimate --> to
# 6.2<!-- printed full: at q's samples … MLP on [x, z]'s estimate … to --> nats in the full run,
# and the critic with adaptive contrast spans
# 10.8<!-- printed full: at q's samples … adaptive contrast's estimate --> to
# 19.9<!-- printed full: at q's samples … adaptive contrast's estimate … to --> (next section). The critic **saturates**, and AVB's KL is underestimated,
# so its "ELBO" overstates the fit and the encoder is never charged the full price of leaving the
# prior.
#
# ## Exercise: avb_critic_backward
#
# Where does the push on $T$ go? On a batch, write the critic's logits at the $N$ pairs from $q$ as
# $t_{q,n} = T(x_n, z^q_n)$ and at the $N$ pairs from $p$ as $t_{p,n} = T(x_n, z^p_n)$; the critic's loss is
#
# $$\mathcal{L}_T = \frac{1}{N}\sum_n \Big[-\log \sigma(t_{q,n}) - \log\big(1 - \sigma(t_{p,n})\big)\Big].$$
#
# Write its gradient with respect to the logits: `avb_critic_backward(t_q, t_p)` gets the two
# arrays (N,) and returns $(\partial\mathcal{L}_T/\partial t_q, \partial\mathcal{L}_T/\partial t_p)$, each (N,).
# (Two identities shorten it: $-\log\sigma(t) = \operatorname{softplus}(-t)$ and
# $-\log(1 - \sigma(t)) = \operatorname{softplus}(t)$; mind the mean over the batch.) This is
# what `AVB.discriminator_grads` sends into the critic's backward pass, so the next cell checks
# yours by sending it through the same critic and comparing the parameters' gradients; then it
# prints your gradient at pairs from $q$ that the critic already calls more and more confidently.

# %%
# EXERCISE: avb_critic_backward — L_T = mean(-log sigmoid(t_q)) + mean(-log(1 - sigmoid(t_p))); return (dL_T/dt_q, dL_T/dt_p)
def avb_critic_backward(t_q, t_p):
    raise NotImplementedError("-log sigmoid(t) = softplus(-t), -log(1 - sigmoid(t)) = softplus(t), softplus' = ?")


avb_critic_backward = exercises.grade_or_solution("avb_critic_backward", avb_critic_backward)

# %%
m, _ = frozen_gaussian_q("mlp", False)
rng = np.random.default_rng(5)
x = draw_x(rng, 64)
z_q, z_p = m.encode(x, rng.standard_normal((64, K)))[0], rng.standard_normal((64, K))
m.discriminator_grads(x, z_q, z_p)
library = {name: g.copy() for name, g in m.disc_grads.items()}
t, tape = m.critic(np.concatenate([x, x]), np.concatenate([z_q, z_p]))
m.discriminator.backward(np.concatenate(avb_critic_backward(t[:64], t[64:])), tape, need_dz=False)
err = max(np.abs(m.disc_grads[name] - g).max() / np.abs(g).max() for name, g in library.items())
print(f"the critic's gradients from your dL_T/dT against AVB.discriminator_grads': relative difference {err:.1e}; "
      f"agree (< 1e-7): {err < 1e-7}")
t_confident = np.array([0.0, 5.0, 10.0])
dt_q = avb_critic_backward(t_confident, -t_confident)[0]
print("N * dL_T/dt_q at t_q = 0, 5, 10:", ", ".join(f"{v:.2g}" for v in len(t_confident) * dt_q),
      f"(at 10, {dt_q[0] / dt_q[2]:,.0f} times weaker than at 0)")

# %% [markdown]
# Where the critic is undecided, $t_q = 0$, a sample of $q$ gets $N\,\partial\mathcal{L}_T/\partial t_q =$
# −0.5<!-- printed fast: N * dL_T/dt_q at t_q = 0, 5, 10: -->, a firm push upwards on its logit; where
# it is sure, $t_q = 10$, the push is
# 11,014<!-- printed fast: N * dL_T/dt_q at t_q = 0, 5, 10: … (at 10, -->
# times weaker (it is $-\sigma(-t_q)$). The plain critics above end with $\sigma(T) \approx 1$ at nearly
# all of $q$'s samples, so almost no gradient is left to raise $T$ towards the true log ratio: the
# loss is satisfied long before $T$ is right.
#
# ## Adaptive contrast
#
# The critic's task is easy because $p$ is a poor contrast for $q$. AVB's remedy: compare $q$ with
# a distribution that is close to it and has a formula, $r(z\mid x) = \mathcal{N}(\mu(x),
# \operatorname{diag}\sigma^2(x))$, the Gaussian with $q$'s own mean and variance (estimated from a
# few extra draws of $\varepsilon$ per $x$, and held constant in every gradient). Then
#
# $$\mathrm{KL}(q\,\|\,p) = \mathbb{E}_q\big[\log q - \log r\big] + \mathbb{E}_q\big[\log r - \log p\big],$$
#
# where the second term is a formula and only the first needs a critic. Standardize,
# $\tilde z = (z - \mu(x))/\sigma(x)$: under $q$, $\tilde z$ has mean 0 and variance 1 in every
# coordinate, and under $r$ it is exactly $\mathcal{N}(0, I)$. So the critic tells $\tilde z$ (from
# $q$) from $\mathcal{N}(0, I)$ (the Jacobian $1/\sigma$ is the same on both sides and cancels), its
# optimum is $T^* = \log q(z\mid x) - \log r(z\mid x)$, and
#
# $$\mathrm{KL} \approx \mathbb{E}_q\big[T(x, \tilde z) + \log r(z\mid x) - \log p(z)\big].$$
#
# Now the two samples overlap wherever $q$ is close to Gaussian, and the critic has to learn only
# what $r$ misses (here: the correlations, since $r$ is diagonal). The full run's estimates were
# 13.41<!-- printed full: MLP, adaptive contrast … KL estimate --> nats (MLP) and
# 14.30<!-- printed full: inner product, adaptive contrast … KL estimate --> (inner product) against
# the truth of 14.65; the critics' accuracy has dropped to
# 88.7%<!-- printed full: MLP, adaptive contrast … critic accuracy --> and
# 90.0%<!-- printed full: inner product, adaptive contrast … critic accuracy -->: the two samples
# overlap, and there is something left to learn. In the right panel the adaptive-contrast
# estimate follows the truth along the diagonal, a little below it. (The fast run, 300 steps:
# 12.95<!-- printed fast: inner product, adaptive contrast … KL estimate --> with the inner
# product, already most of the way: the part $\mathbb{E}_q[\log r - \log p]$ is computed from a
# formula, not learned, and the critic only adds the rest.)
#
# ## AVB on the ring, beside a VAE
#
# Now train AVB for real, with both the encoder and the critic moving, on the lecture's ring
# (tutorial 01: $z \sim \mathcal{N}(0, I_2)$, $x = z/10 + z/\lVert z\rVert$; the models' $p(x\mid z)$ is a
# Gaussian with $\sigma = 0.05$). Its posterior $p(z\mid x)$ is a thin sliver, which need not be the
# axis-aligned ellipse of a diagonal Gaussian; an implicit $q$ can take its shape. The settings are those of the reproduce command's
# AVB comparison (`python -m numpyvae reproduce avb`), with 100 epochs here (five in fast mode): the ring preset, the inner-product critic, adaptive contrast
# and Adam's $\beta_1 = 0.5$; the VAE is the same preset with a Gaussian $q$. With a 2-D latent,
# $\log p(x) = \log \int p(x\mid z)\,p(z)\,dz$ can be computed by quadrature on a grid, whatever the
# encoder, so the two are judged on the same scale without ever evaluating $q$ (for AVB we could
# not).

# %%
ring_epochs, n_train, n_test, grid_n = (5, 2000, 100, 201) if FAST else (100, 10000, 500, 401)
data = load("ring", n_train=n_train, n_test=n_test)
base = {**PRESETS["ring"], "epochs": ring_epochs, "seed": 0}
with tempfile.TemporaryDirectory() as runs:
    avb = train({**base, "model": "avb", "critic": "inner", "adaptive_contrast": True, "beta1": 0.5,
                 "out": f"{runs}/avb"}, data=data, quiet=True).model
    vae = train({**base, "model": "vae", "out": f"{runs}/vae"}, data=data, quiet=True).model
decoders = {"AVB": lambda z: avb.avb.decoder.forward(z.astype(np.float32))[0],
            "VAE": lambda z: vae.decode(z.astype(np.float32))}
x_test = data.x_test.astype(np.float64)
models = {"AVB": avb, "VAE": vae}
log_px = {name: log_px_by_quadrature(dec, models[name].likelihood, x_test, n=grid_n) for name, dec in decoders.items()}
diff = log_px["AVB"] - log_px["VAE"]
for name in log_px:
    print(f"{name}: test log p(x) by quadrature {log_px[name].mean():7.3f} nats ({ring_epochs} epochs, "
          f"{n_test} test points)")
print(f"AVB - VAE: {diff.mean():+.3f} +- {diff.std(ddof=1) / math.sqrt(n_test):.3f} nats (paired SE); "
      f"AVB better on {np.mean(diff > 0):.0%} of the points")

# The bounds each model reports for itself: the VAE's ELBO (analytic KL, 100 samples of z),
# AVB's ELBO estimate (the critic's KL in place of the true one)
x32 = data.x_test.astype(np.float32)
elbo_vae = vae.forward(x32, np.random.default_rng(3).standard_normal((100,) + (n_test, 2)).astype(np.float32),
                       n_samples=100).bound
est = avb.validation(x32, None, np.random.default_rng(7))
print(f"VAE: ELBO {elbo_vae.mean():7.3f}, so log p(x) - ELBO {log_px['VAE'].mean() - elbo_vae.mean():.3f} nats")
print(f"AVB: ELBO estimate {est['val_elbo_estimate']:7.3f} (critic's KL {est['val_kl_estimate']:.3f}), "
      f"so log p(x) - ELBO estimate {log_px['AVB'].mean() - est['val_elbo_estimate']:.3f} nats")

# %% [markdown]
# Read the printed lines. By quadrature, the full run's AVB reached
# −0.708<!-- printed full: AVB: test log p(x) by quadrature --> nats per test point and the VAE
# −1.332<!-- printed full: VAE: test log p(x) by quadrature -->: AVB is better by
# 0.623<!-- printed full: AVB - VAE: --> nats, with a paired standard error of
# 0.028<!-- printed full: AVB - VAE: … +- --> (better on
# 88%<!-- printed full: AVB - VAE: … AVB better on --> of the points), in the direction the paper
# reports (on MNIST). (The fast run's five epochs on 2000 points put AVB ahead by
# 2.682<!-- printed fast: AVB - VAE: --> nats: there the VAE has hardly started, see its ELBO.
# Only the full run's numbers say anything about the two methods.)
#
# Why, when both decoders are the same size? A likely reason (the figure below fits it, it proves
# nothing): both are fitted with their own bound, and tutorial 18 showed that the model drifts
# towards posteriors its $q$ can represent: a VAE's decoder is pulled
# towards posteriors a diagonal Gaussian fits, at some cost in $\log p(x)$. AVB's $q$ is freer, so its
# decoder is pulled less. The other two lines say how tight each model's own bound is: for the VAE,
# $\log p(x) - \text{ELBO}$ is a true gap, never negative (here
# 0.736<!-- printed full: VAE: ELBO … log p(x) - ELBO --> nats in the full run). For AVB the
# "ELBO" is only an estimate, with the critic's KL in place of the true one, and nothing keeps it
# below $\log p(x)$: in the full run it sits *above* it, the printed gap is
# −0.235<!-- printed full: AVB: ELBO estimate … log p(x) - ELBO estimate --> nats. No true ELBO
# can do that, so the critic's KL (2.684<!-- printed full: AVB: ELBO estimate … critic's KL -->
# nats) must be too small by at least about 0.235 on average (up to the Monte Carlo noise of the
# estimate's one-draw reconstruction term): an underestimate like those of the first part, met
# again in training. That is why AVB is judged here by quadrature and in `evaluate` by importance sampling
# with a proposal fitted to $q$'s samples (`numpyvae/models/avb.py`), never by its own estimate.
#
# Last, what the two posteriors look like. For four points on the ring, the model's own posterior
# $p(z\mid x) \propto p(x\mid z)\,p(z)$ on a grid (contours), and 500 draws of each model's $q(z\mid x)$.

# %%
angles = np.deg2rad([20, 110, 200, 290])
x_show = np.stack([1.1 * np.cos(angles), 1.1 * np.sin(angles)], 1).astype(np.float32)
grid_points = 81 if FAST else 161


def log_joint_on_grid(name, x, lo, hi):
    """log p(x|z) + log p(z) on a grid_points² grid over the box [lo, hi] (lo, hi: (2,)), for one x (2,)."""
    g1, g2 = np.linspace(lo[0], hi[0], grid_points), np.linspace(lo[1], hi[1], grid_points)
    zz = np.stack(np.meshgrid(g1, g2, indexing="ij"), -1).reshape(-1, 2)
    nll = models[name].likelihood.forward(np.broadcast_to(x, zz.shape).astype(np.float32), *decoders[name](zz),
                                          check=False)[0]
    return g1, g2, (-nll - 0.5 * (zz ** 2).sum(1)).reshape(grid_points, grid_points)


rng = np.random.default_rng(4)
fig, axes = plt.subplots(2, 4, figsize=(15, 7.5))
for row, name in zip(axes, ("AVB", "VAE")):
    for ax, x in zip(row, x_show):
        if name == "AVB":
            eps = rng.standard_normal((500, avb.avb.noise_dim)).astype(np.float32)
            z = avb.avb.encode(np.broadcast_to(x, (500, 2)).copy(), eps)[0]
        else:
            mu, logvar = vae.encode(x[None])
            z = mu + np.exp(logvar / 2) * rng.standard_normal((500, 2)).astype(np.float32)
        # find where the posterior lives on a coarse grid, then draw it (and q's draws) on a finer one there
        g1, g2, lj = log_joint_on_grid(name, x, (-4, -4), (4, 4))
        i, j = np.nonzero(lj > lj.max() - 10)
        pts = np.concatenate([np.c_[g1[i], g2[j]], z])
        centre, half = (pts.min(0) + pts.max(0)) / 2, (pts.max(0) - pts.min(0)).max() / 2 + 0.1
        g1, g2, lj = log_joint_on_grid(name, x, centre - half, centre + half)
        ax.contour(g1, g2, np.exp(lj - lj.max()).T, levels=[0.01, 0.1, 0.3, 0.6, 0.9], cmap="viridis")
        ax.scatter(z[:, 0], z[:, 1], s=3, color="C3", alpha=0.4)
        ax.set(title=f"{name}: x = ({x[0]:.2f}, {x[1]:.2f})", xlim=(centre[0] - half, centre[0] + half),
               ylim=(centre[1] - half, centre[1] + half))
        ax.set_aspect("equal")
savefig(fig, "19_ring_posteriors.png")

# %% [markdown]
# ![each model's posterior and draws of its q](figures/19_ring_posteriors.png)
#
# Each panel is one model's own posterior, so the contours differ between the rows: each decoder
# made its own latent space (AVB's is rotated against the data; the panels are zoomed to where
# each posterior lives). After our full run the picture says two things. The VAE's posteriors are
# narrow slivers lying almost along the axes, and its diagonal $q$ sits on them: tutorial 18's
# drift, the decoder has made posteriors its $q$ can fit. AVB's posteriors are long slivers, two of
# the four bent into arcs, which no Gaussian fits, and its draws, coming from a network of noise, follow the bend.
# But they cover only part of each arc (a stretch of one arm, not the whole): this $q$ is freer
# than a Gaussian, not exact. The part it misses costs AVB in its true ELBO (a larger
# $\mathrm{KL}(q\,\|\,p(z\mid x))$), not in the $\log p(x)$ measured above, which does not involve $q$. (In the fast run, five
# epochs, both models are still rough and the VAE's $q$ is much wider than its posterior; run the
# full mode to compare shapes.)
#
# **Take-aways.** An implicit $q$, a network fed with noise, can take any shape, but has no
# density, so the ELBO's KL term is out of reach. A critic trained to tell $q$'s samples from the
# prior's learns the log density ratio, and its mean is the KL; in practice a plain critic
# saturates when $q$ is far from $p$ and underestimates it badly. Adaptive contrast lets the
# critic learn only what a Gaussian with $q$'s moments misses, and its estimate comes close. With
# it, AVB on the ring beats a VAE of the same size in $\log p(x)$, measured by quadrature, the one
# judge that needs no density of $q$.
