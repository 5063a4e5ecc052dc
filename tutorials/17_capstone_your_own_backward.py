# %% [markdown]
# # 17 · Capstone: your own backward pass trains the network
#
# Tutorials 02–05 and the workbook (16) asked you for one backward pass at a time: a Dense
# layer, ReLU, the reparameterization, the KL (analytic and Monte Carlo), the Bernoulli
# likelihood, the importance weights. Each was graded alone against finite differences. Here you
# put them together into the **whole backward pass** of tutorial 06's model (MLP encoder with ReLU,
# diagonal Gaussian $q(z\mid x)$ with $z = \mu + \sigma\varepsilon$, analytic KL to
# $\mathcal{N}(0, I)$, Bernoulli pixels, the ELBO with $S$ samples, or the IWAE bound), check it,
# and then train the lecture's network on the digits with nothing but your own gradients.
#
# ## The chain, from the loss back
#
# For a batch of $N$ digits and $S$ samples each, the forward pass computes per sample a log weight
# $\log w_{sn} = -\mathrm{nll}_{sn}$ (the ELBO; the KL enters per example) or
# $\log w_{sn} = -\mathrm{nll}_{sn} - \mathrm{kl}_{sn}$ with $\mathrm{kl}_{sn} = \log q(z_{sn}) - \log p(z_{sn})$
# (IWAE), a bound per example, and the loss $-\frac1N\sum_n \text{bound}_n$. Write
# $c_{sn} = \partial(\frac1N\sum_n \text{bound}_n)/\partial \log w_{sn}$, the weight of each sample:
#
# <!-- answer: What is $c_{sn}$ for the ELBO with $S$ samples, and for the IWAE bound? What then are $\partial\,\text{loss}/\partial\,\mathrm{nll}_{sn}$, $\partial\,\text{loss}/\partial\,\mathrm{KL}_n$ (ELBO, analytic KL) and $\partial\,\text{loss}/\partial\,\mathrm{kl}_{sn}$ (IWAE)? -->
# ELBO: $c_{sn} = \frac{1}{SN}$; IWAE: $c_{sn} = \tilde w_{sn}/N$, the normalized weights (your `iwae_weights`).
# Then $\partial\,\text{loss}/\partial\,\mathrm{nll}_{sn} = c_{sn}$, $\partial\,\text{loss}/\partial\,\mathrm{KL}_n = \frac1N$
# and $\partial\,\text{loss}/\partial\,\mathrm{kl}_{sn} = c_{sn}$.
# <!-- /answer -->
#
# From there every step is one of your functions, applied in reverse order of the forward pass:
#
# | forward | backward, with your piece |
# |---|---|
# | $\mathrm{nll}_{sn} = \sum_d \operatorname{softplus}(a_{snd}) - x_{nd}a_{snd}$ | `bernoulli_backward`, each sample weighted by $c_{sn}$ |
# | decoder: Dense (+ ReLU) layers on $z$, all $S\cdot N$ samples as rows | `dense_backward`, `relu_backward`, head first |
# | $z_s = \mu + e^{\ell/2}\varepsilon_s$ | `reparam_backward` (sums over the samples) |
# | $\mathrm{KL}_n$ (analytic) or $\mathrm{kl}_{sn}$ (Monte Carlo) | `kl_backward` or `kl_mc_backward` |
# | encoder: trunk, then the heads $\mu$ and $\ell = \log\sigma^2$ | `dense_backward` for each head; the trunk gets the **sum** of what the two heads send back |
#
# <!-- answer: Why does the encoder's trunk receive a sum, and the decoder's first layer's weight gradient a sum over samples? -->
# The trunk's output $h$ feeds both heads, so $\partial L/\partial h = \sum_j \partial L/\partial\,\text{out}_j \, W_j^\top$;
# the decoder's weights are used by every sample, so their gradient sums over all $S\cdot N$ rows (which
# `dense_backward` does when the samples are stacked as rows).
# <!-- /answer -->

# %%
import time

import numpy as np

from numpyvae.teach.tutorial_support import FAST, HERE, plt, savefig
from numpyvae import VAE
from numpyvae.datasets import binarize_dynamic, load
from numpyvae.optim import Adam
from numpyvae.teach import exercises
from numpyvae.teach.gradcheck import relative_error
from numpyvae.teach.tape_view import read_tape
from numpyvae.teach.your_work import PIECES, your_pieces

# %% [markdown]
# ## Your pieces
#
# `your_pieces` reads your functions back from the tutorials you wrote them in (the scripts
# `NN_*.py` next to this one, or your notebooks in `notebooks/`), runs only their definitions, and
# grades each again on a fresh problem. A piece that is still a stub, or fails, is replaced by its
# stand-in, and the table says so.

# %%
pieces = your_pieces(HERE)
dense_backward, relu_backward, reparam_backward, kl_backward, kl_mc_backward, bernoulli_backward, iwae_weights = (
    pieces[name] for name in PIECES)
all_yours = all(not fn.__name__.endswith("_stand_in") for fn in pieces.values())
if not all_yours:
    print("Finish the pieces marked 'the stand-in' first: a stand-in is a finite difference, good to about 1e-8 "
          "on its own, and a backward pass built on several can miss the grader's 1e-7 by their error alone.")

# %% [markdown]
# ## What the tape holds
#
# `model.forward(x, eps)` returns the step's tape; `read_tape` (of the model and its tape) lays out
# what a backward pass reads, in forward order, each Dense layer as a `Step(name, x, W, b, h)`: `x`
# its input as rows, `h` the ReLU output after it (`None` for a head), and `step.a` the ReLU's
# input $a = xW + b$. ReLU keeps only its output, so `step.a` computes $a$ again (one matmul) when
# you ask for it: it is what `relu_backward` takes. The
# gradients go into a dict under the names of `model.params` (`step.name + ".W"`, `".b"`).
# A small model shows the shapes:

# %%
tiny = VAE(6, [5, 4], 3, seed=0, dtype="float64")
x_tiny = (np.random.default_rng(0).random((2, 6)) < 0.5).astype(np.float64)
tiny_tape = tiny.forward(x_tiny, np.random.default_rng(1).standard_normal((3, 2, 3)))
view = read_tape(tiny, tiny_tape)
print(f"objective {view.objective}, KL {view.kl}; x {view.x.shape}, eps {view.eps.shape}, "
      f"mu {view.mu.shape}, logits {view.logits.shape}, log_w {view.log_w.shape}")
for step in view.encoder + list(view.encoder_heads.values()) + view.decoder + [view.decoder_head]:
    print(f"  {step.name:<16} x {str(step.x.shape):<8} W {str(step.W.shape):<7} "
          f"h {'-' if step.h is None else step.h.shape}")
print("parameters:", ", ".join(tiny.params))

# %% [markdown]
# ## Exercise: vae_backward
#
# Write `vae_backward(model, tape)`: return a dict with the gradient of `tape.loss` for every name
# in `model.params`, using only the pieces above (no `model.backward`). Handle the ELBO with
# analytic KL (`view.kl == "analytic"`, tutorial 06's setting) and the IWAE bound
# (`view.objective == "iwae"`, Monte Carlo KL). The grader builds a random small float64 VAE of this
# kind per problem, a batch of one and two larger ones (the third with IWAE), and compares your
# gradients with `model.backward` parameter by parameter and with central finite differences of
# the model's loss. Keep the dtypes of the tape (float32 in training): a constant such as
# $1/(SN)$ made in float64 would turn every later array into float64.

# %%
# EXERCISE: vae_backward — return {name: dloss/dparam} for every name in model.params, from your pieces
def vae_backward(model, tape):
    raise NotImplementedError


my_backward = exercises.grade_or_solution("vae_backward", vae_backward)
mine = my_backward is vae_backward

# %% [markdown]
# ## Training with your backward pass
#
# Tutorial 06's loop and network (784-500-500-20; 784-128-128-20 in fast mode), twice from the same
# seed: once with `my_backward`, once with the library's
# `model.backward`. Each step: a dynamically binarized batch, `tape = model.forward(xb)`, the
# gradients into `model.grads`, one Adam step. The two runs draw the same batches and the same
# noise. Every 10th step of the first run, `model.backward` also runs on the same tape, and the
# relative error between the two gradients is recorded.
#
# (If `vae_backward` or one of its pieces is a stand-in, the "yours" run uses `model.backward`
# instead: the finite-difference stand-ins of the pieces would take hours on a million weights.)

# %%
data = load("digits")
n_train, batch_size, epochs = (1000, 100, 20) if FAST else (9000, 150, 10)
hidden = [128, 128] if FAST else [500, 500]        # fast mode: a narrower network, the same kind
x_train = data.x_train[:n_train]
yours_all_the_way = mine and all_yours
train_backward = my_backward if yours_all_the_way else exercises.stand_in("vae_backward")
print(f"784-{'-'.join(map(str, hidden))}-20 network, {n_train} digits, batches of {batch_size}, {epochs} epochs "
      f"= {epochs * (n_train // batch_size)} steps" + ("  (NUMPYVAE_FAST=1)" if FAST else ""))
print("the 'yours' run uses", "your vae_backward" if yours_all_the_way
      else "model.backward (a stand-in: " + ("a piece is not yours yet)" if mine else "vae_backward is not done)"))


def train(backward, check_every=0):
    """Tutorial 06's loop; backward(model, tape) -> {name: gradient}. Returns the mean loss per epoch,
    the model, and (every check_every steps) the relative error of backward's gradients against
    model.backward's on the same tape."""
    model = VAE(784, hidden, 20, likelihood="bernoulli", activation="relu", seed=0)
    opt = Adam(model.params, model.grads, lr=1e-3)
    rng = np.random.default_rng(0)
    curve, errors, step = [], [], 0
    for _ in range(epochs):
        losses = []
        for idx in np.array_split(rng.permutation(n_train), n_train // batch_size):
            tape = model.forward(binarize_dynamic(x_train[idx], rng))
            grads = backward(model, tape)
            if check_every and step % check_every == 0:
                reference = model.backward(tape)          # fills model.grads; overwritten just below
                errors.append(max(relative_error(grads[k], reference[k]) for k in reference))
            for name, g in grads.items():
                model.grads[name][...] = g
            opt.step()
            losses.append(tape.loss)
            step += 1
        curve.append(np.mean(losses))
    return np.array(curve), model, errors


def library_backward(model, tape):
    return model.backward(tape)


t0 = time.process_time()
curve_yours, model_yours, errors = train(train_backward, check_every=10)
t1 = time.process_time()
curve_lib, model_lib, _ = train(library_backward)
t2 = time.process_time()
print(f"CPU time: yours {t1 - t0:.1f} s (with a model.backward every 10th step), model.backward {t2 - t1:.1f} s")
print(f"the gradients of the 'yours' run against model.backward's on the same tape, every 10th step "
      f"({len(errors)} steps): worst relative error {max(errors):.1e}, median {np.median(errors):.1e}")
print(" epoch   -ELBO (yours)   -ELBO (model.backward)   difference")
for e, (a, b) in enumerate(zip(curve_yours, curve_lib), start=1):
    print(f"{e:6d}   {a:13.4f}   {b:22.4f}   {a - b:10.2e}")
weight_gap = max(float(np.max(np.abs(model_yours.params[k] - model_lib.params[k]))) for k in model_lib.params)
print(f"largest difference between the two runs' final weights: {weight_gap:.1e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
ep = np.arange(1, epochs + 1)
axes[0].plot(ep, curve_yours, "o-", label="your backward")
axes[0].plot(ep, curve_lib, "x--", label="model.backward")
axes[0].set_xlabel("epoch")
axes[0].set_title("training -ELBO (nats per digit)", fontsize=10)
axes[0].legend()
axes[1].semilogy(ep, np.abs(curve_yours - curve_lib) + 1e-12, "o-")
axes[1].set_xlabel("epoch")
axes[1].set_title("|difference| of the two curves", fontsize=10)
savefig(fig, "17_your_backward_trains.png")

# %% [markdown]
# ![two training curves](figures/17_your_backward_trains.png)
#
# The numbers and the figure above are this run's. Two things to read in them when `vae_backward`
# and every piece are yours:
#
# * **the gradients**, compared on the same tape every 10th step: a worst relative error of a few
#   times 1e-7, float32 rounding (the two backward passes add the same float32 numbers in a
#   different order). A wrong term, such as a KL gradient left out, is off by far more: the grader
#   above already compares in float64 to 1e-7.
# * **the curves**: in the fast run (the narrow network, 200 steps) they agree to float32 rounding
#   all the way, differences of a few 1e-6 nats and final weights within about 1e-6 of each other
#   (what our run printed). In the full run (784-500-500-20, 600 steps) they agree to five or six
#   digits in the first epoch and then drift apart, by 0.09 nats at epoch 10 of our run (0.1% of
#   the loss), the final weights by about 0.2. That drift is the training, not your gradient: the
#   gradients still agree to a few 1e-7 at every checked step, and the wide network with Adam
#   carries two float32 rounding patterns apart a little more each step; the curves fall together.
#
# In the student edition as shipped both runs use `model.backward`, so every difference printed is
# exactly 0.
#
# **Take-aways.** A VAE's backward pass is nothing but the chain rule through pieces you can each
# check alone: the bound's sample weights, the likelihood, two MLPs, the reparameterization and the
# KL. Checked against finite differences one at a time and then as a whole, they train the
# lecture's network as the library does, to float32 rounding.
