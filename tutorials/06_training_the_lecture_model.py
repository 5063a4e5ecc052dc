# %% [markdown]
# # 06 · Training the lecture's VAE, one visible loop
#
# The lecture's model: encoder 784 → 500 → 500 → (μ, log σ²) ∈ ℝ²⁰, decoder 20 → 500 → 500 → 784
# logits, ReLU hidden units, Bernoulli likelihood, Adam with learning rate $10^{-3}$, minibatches
# of 150. Everything below is NumPy: the forward and backward passes are
# `VAE.loss_and_grads`, the optimizer is `numpyvae.optim.Adam`, written from the paper's
# Algorithm 1 (tutorial 16 asks you to write it as the exercise `adam_step`):
#
# <!-- answer: Write Adam's step: both moment estimates, their bias corrections, and the update of θ. -->
# $$m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
# \theta \leftarrow \theta - \text{lr}\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}.$$
# <!-- /answer -->
#
# The loss is the negative ELBO in nats per example, with its two parts
#
# $$-\text{ELBO}(x) = \underbrace{-\mathbb{E}_q[\log p(x\mid z)]}_{\text{reconstruction}} + \underbrace{\mathrm{KL}(q(z\mid x)\,\|\,p(z))}_{\text{KL}}.$$

# %%
import time

import numpy as np

from numpyvae.teach.tutorial_support import FAST, plt, savefig, show_grid
from numpyvae import VAE
from numpyvae.datasets import binarize_dynamic, binarize_static, load
from numpyvae.optim import Adam
from numpyvae.teach.stepthrough import print_trace, trace_step

data = load("digits")
n_train, n_test, epochs = (1500, 500, 2) if FAST else (9000, 1000, 30)
x_train, x_test = data.x_train[:n_train], data.x_test[:n_test]
x_test_bin = binarize_static(x_test, method="sample", seed=0)    # one fixed draw, so test numbers compare
print(f"{n_train} training digits, {n_test} test digits, {epochs} epochs" + ("  (NUMPYVAE_FAST=1)" if FAST else ""))

model = VAE(784, [500, 500], 20, likelihood="bernoulli", activation="relu", seed=0)
opt = Adam(model.params, model.grads, lr=1e-3)
print({name: p.shape for name, p in model.params.items()})
print(f"{model.flat_params.size:,} parameters")

# %% [markdown]
# ## One step, every tensor
#
# Before training, walk through one step on 8 digits with the step-through view: every
# intermediate of the forward pass, the loss terms, and every gradient on its way back to the
# weights, with shapes and statistics. (The `equation` column says how each line was computed;
# `numpyvae/teach/stepthrough.py` copies the intermediate gradients that the model's own backward
# pass left in the step's tape, so what you see is exactly what training uses; the one exception
# is dh, the gradient at the encoder trunk's output, recomputed by the encoder's own formula.)

# %%
x8 = binarize_static(x_train[:8], method="sample", seed=1)
trace = trace_step(model, x8)
print_trace(trace, notes=True)
print("dz for the first digit:", np.round(trace["dz"].array[0, 0, :5], 4), "...")

# %% [markdown]
# ## The loop
#
# Dynamic binarization: each time a digit is used, its grey levels are turned into a fresh
# Bernoulli draw, so the model never sees exactly the same binary image twice.

# %%
batch_size = 150
rng = np.random.default_rng(0)
history = []
t0 = time.time()
for epoch in range(1, epochs + 1):
    sums = np.zeros(3)
    n_batches = 0
    for idx in np.array_split(rng.permutation(n_train), n_train // batch_size):
        xb = binarize_dynamic(x_train[idx], rng)
        loss, grads = model.loss_and_grads(xb)          # forward + backward, grads filled in place
        opt.step()                                      # Adam updates model.params in place
        p = model.last_parts
        sums += (p["loss"], p["recon"], p["kl"])
        n_batches += 1
    train = sums / n_batches
    test_loss = model.loss_and_grads(x_test_bin)[0]     # one-sample test ELBO (the gradients are ignored)
    test = (test_loss, model.last_parts["recon"], model.last_parts["kl"])
    history.append(dict(epoch=epoch, train=train, test=test))
    print(f"epoch {epoch:3d}  train -ELBO {train[0]:7.2f} (recon {train[1]:7.2f}, KL {train[2]:5.2f})"
          f"  test -ELBO {test[0]:7.2f}   {time.time() - t0:5.1f}s")

# %% [markdown]
# ## Curves
#
# The negative ELBO falls, almost all of it through the reconstruction term. The KL does not
# simply follow: at random initialization q is some arbitrary Gaussian, and the first steps pull
# it towards the prior (the KL drops, as in the fast run); as the decoder learns to use $z$, the
# model spends more nats on the code and the KL climbs again over a longer run. Trained VAEs of
# this size on MNIST end with a KL of a couple of dozen nats and a reconstruction term several
# times that (a full run prints its own): the code carries the digit's identity and style, the
# decoder the rest.

# %%
ep = [h["epoch"] for h in history]
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, i, title in zip(axes, range(3), ("-ELBO", "reconstruction  -E_q log p(x|z)", "KL(q || p)")):
    ax.plot(ep, [h["train"][i] for h in history], "o-", label="train")
    ax.plot(ep, [h["test"][i] for h in history], "s--", label="test")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
axes[0].legend()
savefig(fig, "06_curves.png")

# %% [markdown]
# ![training curves](figures/06_curves.png)
#
# ## Samples from the prior, and reconstructions
#
# Generation is ancestral sampling (tutorial 01) with the trained decoder:
# $z \sim \mathcal{N}(0, I)$, then the pixel probabilities $\sigma(\text{decoder}(z))$. We draw
# 60 of them as in the lecture, and next to them test digits with their reconstructions.

# %%
samples = model.sample(60, rng=np.random.default_rng(3))
recon = model.reconstruct(x_test[:30])
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
show_grid(axes[0], samples, 10, "60 samples from the prior (pixel probabilities)")
show_grid(axes[1], np.concatenate([x_test[i * 10:(i + 1) * 10] if j == 0 else recon[i * 10:(i + 1) * 10]
                                   for i in range(3) for j in range(2)]), 10,
          "test digits (rows 1, 3, 5) and reconstructions (2, 4, 6)")
savefig(fig, "06_samples.png")

# %% [markdown]
# ![samples and reconstructions](figures/06_samples.png)
#
# In fast mode the model has seen a few thousand digits and its samples are blobs; a full run
# (`python tutorials/06_training_the_lecture_model.py`, 30 epochs on the 9,000 bundled digits,
# several minutes on two cores) gives recognisable digits. The same run from the command line,
# with checkpoints and plots: `python -m numpyvae train --preset lecture`.
#
# **Take-aways.** Training is a dozen lines: binarize a batch, `loss_and_grads`, `opt.step()`.
# Watch the two parts of the loss separately: the KL tells you how much the code is used.
