# %% [markdown]
# # 08 · More samples, tighter bounds
#
# The ELBO is one lower bound on $\log p(x)$ among many. This tutorial measures three
# quantities on the same trained model and the same test digits:
#
# 1. the **ELBO with $S$ samples**, $\frac1S\sum_s \log p(x\mid z_s) - \mathrm{KL}$: more samples make the
#    *estimate* less noisy, but its expectation, the bound itself, does not move;
# 2. the **importance-weighted bound** (IWAE; Burda, Grosse & Salakhutdinov, 2015): with
#    $w_s = p(x, z_s)/q(z_s\mid x)$, $z_s \sim q(z \mid x)$,
#    $$\mathcal{L}_k = \mathbb{E}\Big[\log \frac1k \sum_{s=1}^k w_s\Big], \qquad
#    \text{ELBO} = \mathcal{L}_1 \le \mathcal{L}_2 \le \dots \le \mathcal{L}_k \xrightarrow{k\to\infty} \log p(x);$$
#    the bound *does* tighten with $k$ (Jensen's inequality applied to a mean of $k$ weights
#    instead of one);
# 3. the **importance-sampled log-likelihood**: $\log \frac1k\sum_s w_s$ with a large $k$
#    (5000 in the literature; 1000 here, to keep the full run within a few minutes, 200 in fast
#    mode: in expectation it is $\mathcal{L}_k$, so a smaller $k$ reads a little low), the standard way to report
#    $\log p(x)$ for a VAE. It uses $q$ as
#    the proposal of tutorial 01's Monte Carlo estimate, instead of the prior: that is why it
#    works in 20 dimensions where prior sampling failed.
#
# The gap $\log p(x) - \text{ELBO} = \mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x))$ (tutorial 03) is then
# measurable on real digits: how far the encoder is from the true posterior.

# %%
import numpy as np

from numpyvae.teach.tutorial_support import FAST, mosaic, plt, savefig
from numpyvae import VAE
from numpyvae.datasets import binarize_dynamic, binarize_static, load
from numpyvae.measure.vae_log_likelihood import log_likelihood
from numpyvae.optim import Adam

data = load("digits")
# full mode: 500 test digits and k = 1000 (the run took 10 minutes with 1,000 digits and k = 5000,
# most of it in the three importance-sampled log p(x) at the end; the comparisons are the same)
n_train, epochs, n_test = (1500, 3, 100) if FAST else (9000, 30, 500)
k_big = 200 if FAST else 1000
x_train = data.x_train[:n_train]
x_test = binarize_static(data.x_test[:n_test], method="sample", seed=0)

model = VAE(784, [200], 20, seed=0)
opt = Adam(model.params, model.grads, lr=1e-3)
rng = np.random.default_rng(0)
for epoch in range(epochs):
    for idx in np.array_split(rng.permutation(n_train), n_train // 100):
        model.loss_and_grads(binarize_dynamic(x_train[idx], rng))
        opt.step()
print(f"trained 784-200-20 for {epochs} epochs on {n_train} digits")

# %% [markdown]
# ## The ELBO with S samples: less noise, same bound
#
# We recompute the test ELBO many times with fresh noise, for several $S$. The mean stays put
# (within its standard error, printed after the ±); the spread shrinks like $1/\sqrt{S}$, so the
# last column, std$\cdot\sqrt{S}$, stays about constant. A standard deviation measured from a
# few dozen repeats is itself uncertain (the script prints by how much), and single draws have a
# heavy tail, so expect the last column to wobble by that much; with only 10 repeats the pattern
# can drown completely.

# %%
repeats = 40 if FAST else 100
print(f"(a standard deviation from {repeats} repeats is uncertain by about ±{1 / np.sqrt(2 * (repeats - 1)):.0%})")
for S in (1, 4, 16):
    vals = [-model.loss_and_grads(x_test, n_samples=S)[0] for _ in range(repeats)]
    print(f"S = {S:2d}: test ELBO mean {np.mean(vals):8.3f} ± {np.std(vals) / np.sqrt(repeats):.3f}, "
          f"std over repeats {np.std(vals):.3f}, std·√S {np.std(vals) * np.sqrt(S):.3f}")

# %% [markdown]
# ## The importance-weighted bound tightens with k
#
# $\mathcal{L}_1$ is the ELBO with a Monte Carlo KL; the model's default ELBO uses the analytic
# KL. Both estimate the same number, with different noise, so single draws differ by a few
# tenths of a nat or more. We average both over the same number of draws and print each with its
# standard error: the two means agree to within a few standard errors.

# %%
def mean_and_stderr(draw, n):
    vals = np.array([draw() for _ in range(n)])
    return vals.mean(), vals.std() / np.sqrt(n)


ks = [1, 5, 50] if FAST else [1, 5, 50, 500]
bounds, stderrs = [], []
for k in ks:
    draws = repeats if k == 1 else 5                     # k samples cost k times more; their noise is smaller
    bound, se = mean_and_stderr(lambda: -model.loss_and_grads(x_test, objective="iwae", n_samples=k)[0], draws)
    bounds.append(bound)
    stderrs.append(se)
    print(f"IWAE bound, k = {k:4d}: {bound:8.3f} ± {se:.3f}")
elbo, elbo_se = mean_and_stderr(lambda: -model.loss_and_grads(x_test)[0], repeats)   # analytic KL
log_px = log_likelihood(model, x_test, k=k_big, progress=False)
print(f"ELBO (analytic KL):  {elbo:8.3f} ± {elbo_se:.3f}    (L_1 - ELBO = {bounds[0] - elbo:+.3f}, "
      f"{abs(bounds[0] - elbo) / np.hypot(elbo_se, stderrs[0]):.1f} standard errors of the difference)")
print(f"log p(x), importance-sampled, k = {k_big}: {log_px.mean():8.3f}")
print(f"gap log p(x) - ELBO = mean KL(q || p(z|x)) ~ {log_px.mean() - elbo:.3f} nats per digit")

fig, ax = plt.subplots(figsize=(5.2, 3.4))
ax.semilogx(ks, bounds, "o-", label=r"IWAE bound $\mathcal{L}_k$")
ax.axhline(log_px.mean(), color="k", ls="--", label=f"IS log p(x), k = {k_big}")
ax.axhline(elbo, color="C1", ls=":", label="ELBO (analytic KL)")
ax.set_xlabel("k")
ax.set_ylabel("nats per test digit")
ax.legend(fontsize=8)
savefig(fig, "08_bounds.png")

# %% [markdown]
# ![bounds against k](figures/08_bounds.png)
#
# The printed bounds rise with $k$ towards the importance-sampled $\log p(x)$. The printed gap
# between ELBO and $\log p(x)$ is the price of a diagonal Gaussian $q$ and of amortizing
# inference in one encoder; it shrinks as the encoder trains (compare a fast and a full run). (Each line is itself a Monte Carlo estimate; with
# few test digits in fast mode, neighbouring values can be within noise of each other.)
# Training *on* $\mathcal{L}_k$ instead of the ELBO is one switch,
# `model.loss_and_grads(x, objective="iwae", n_samples=k)`, or
# `python -m numpyvae train --objective iwae --n-samples 5`. Its gradient is the ELBO's with each
# sample reweighted (tutorial 10's exercise `iwae_weights`):
#
# <!-- answer: How is each sample weighted in the IWAE gradient? -->
# each sample is weighted by its normalized importance weight $\tilde w_s = w_s / \sum_j w_j$.
# <!-- /answer -->
#
# ## A look back, in code: Helmholtz machines and wake–sleep
#
# Two networks, one recognizing ($x \to h$) and one generating ($h \to x$), are older than VAEs:
# the **Helmholtz machine** (Dayan, Hinton, Neal & Zemel, 1995) had exactly that pair. Here its
# latents are binary, $h \in \{0,1\}^{20}$, with $p(h) = \prod_j \mathrm{Bern}(h_j; \sigma(a_j))$,
# $p(x \mid h)$ Bernoulli with logits from the decoder, $q(h \mid x)$ Bernoulli with logits from the
# encoder (`numpyvae/models/wake_sleep.py`, the same `nn.MLP` networks as the VAE's). There is no
# reparameterization for a binary $h$, so the encoder cannot get the ELBO's gradient the VAE's way.
#
# **Wake–sleep** (Hinton et al., 1995) gives each network a maximum-likelihood step on
# "complete" data, where both $x$ and $h$ are known and every gradient is
# $\partial \log \mathrm{Bern}(v; \sigma(l))/\partial l = v - \sigma(l)$:
#
# * **wake**: infer $h \sim q(h\mid x)$ for real $x$, and climb $\nabla_\theta \log p(x, h)$ (trains $p$);
# * **sleep**: *dream* $h \sim p(h)$, $\tilde x \sim p(x \mid h)$, and climb $\nabla_\phi \log q(h \mid \tilde x)$
#   (trains $q$ to invert the generator on its own fantasies).
#
# The sleep step minimizes $\mathrm{KL}(p\,\|\,q)$ on dreams, not the $\mathrm{KL}(q\,\|\,p)$ of the ELBO
# on data, so the two phases do not climb one common objective. **Reweighted wake–sleep**
# (Bornschein & Bengio, 2015) draws $k$ wake samples and weights each by its normalized importance
# weight $\tilde w_s$, exactly the IWAE weights above: the wake step for $p$ is then the IWAE gradient,
# and "wake-q" trains $q$ on real data with the same weights. Here is one classic step, phase by phase:

# %%
from numpyvae.models.helmholtz import build_machine
from numpyvae.models.wake_sleep import machine_log_likelihood


def helmholtz():
    """784-200-20 binary-latent machine, the VAE's sizes; returns it and its Adam optimizer."""
    hm = build_machine(784, hidden=[200], z_dim=20, seed=0, dtype=np.float32)
    return hm, Adam(hm.params, hm.grads, lr=1e-3)


hm, opt = helmholtz()
rng = np.random.default_rng(0)
xb = binarize_dynamic(x_train[:100], rng)
h = hm.sample_q(xb, 1, rng)                        # wake: h ~ q(h|x) on real digits, (1, 100, 20)
hm.wake_grads(xb, h)                               # -> decoder and prior grads: -∇ log p(x, h)
h_dream, x_dream = hm.dream(100, rng)              # sleep: h ~ p(h), x~ ~ p(x|h)
log_q = hm.sleep_grads(h_dream, x_dream)           # -> encoder grads: -∇ log q(h | x~)
opt.step()
print(f"one wake-sleep step: mean log q(h | dream) = {log_q:.2f} nats "
      f"(a q of fair coins would score 20 log 1/2 = {20 * np.log(0.5):.2f})")

# %% [markdown]
# Now train the classic version and reweighted wake–sleep ($k = 5$, 3 in fast mode; $q$ by both
# wake-q and sleep) on the same digits, the same number of epochs and batches as the VAE above, and
# measure each with the same importance-sampled $\log p(x)$ on the same test digits (with $q$ as
# the proposal, like the VAE's).

# %%
results = {"VAE (reparameterized ELBO)": log_px.mean()}
machines = {}
k_rws = 3 if FAST else 5                           # fast mode: fewer wake samples, to stay quick
for label, q_update, k in (("wake-sleep", "sleep", 1), (f"reweighted wake-sleep, k = {k_rws}", "both", k_rws)):
    hm, opt = helmholtz()
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        for idx in np.array_split(rng.permutation(n_train), n_train // 100):
            hm.step_grads(binarize_dynamic(x_train[idx], rng), rng, k=k, q_update=q_update)
            opt.step()
    got = machine_log_likelihood(hm, x_test, k_big, np.random.default_rng(1))
    results[label] = got["log_likelihood"].mean()
    machines[label] = hm
for label, value in results.items():
    print(f"{label:30s} test log p(x), IS k = {k_big}: {value:8.2f}")

fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
panels = {"VAE": model.sample(25, rng=np.random.default_rng(2))}
for label, hm in machines.items():
    h_prior, _ = hm.dream(25, np.random.default_rng(2))
    panels[label] = 1 / (1 + np.exp(-hm.decoder.forward(h_prior)[0]))      # E[x | h], h ~ p(h)
for ax, (label, images) in zip(axes, panels.items()):
    ax.imshow(mosaic(images, (28, 28), 5), cmap="gray", vmin=0, vmax=1)
    ax.set_title(label, fontsize=9)
    ax.axis("off")
savefig(fig, "08_helmholtz_dreams.png")

# %% [markdown]
# ![dreams of each model](figures/08_helmholtz_dreams.png)
#
# Decoder means at prior draws ("dreams") of each model. The printed numbers are this run's; on
# the full run (`python -m numpyvae train --model helmholtz ...`, the table in
# tutorials/reference/beyond-the-elbo.md) the reparameterized VAE is far ahead of both machines after
# the same epochs, and reweighting helps the machine. Two things differ at once, the gradient *and* the latent space (20 binary
# units hold at most $2^{20}$ codes; 20 Gaussian ones are continuous), so the comparison is of
# the two recipes as a whole. Kingma & Welling's contribution was to optimize the ELBO with
# respect to *both* networks at once, and the reparameterization trick (tutorial 04) is what
# made the encoder's part of that gradient low-variance enough to work; for discrete latents
# where it does not apply, tutorial 11's Gumbel-softmax relaxation is the other road. The
# importance weights above are the same idea as reweighted wake–sleep: use $q$ as a proposal
# and let the weights correct for its mistakes.
