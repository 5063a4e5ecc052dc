# %% [markdown]
# # The whole VAE in one file
#
# The default numpyvae model, 784-400-20 with ReLU, a Bernoulli decoder and a diagonal Gaussian
# $q(z\mid x)$, written out as plain NumPy functions: forward, hand-written backward, Adam and a
# training loop. Nothing here comes from numpyvae except the digits. Per example, with $S = 1$:
#
# $$h = \mathrm{relu}(xW_h + b_h),\quad \mu = hW_\mu + b_\mu,\quad \log\sigma^2 = hW_{\log\sigma^2} + b_{\log\sigma^2},\quad
#   z = \mu + \sigma\,\varepsilon,\ \varepsilon \sim \mathcal N(0, I),$$
# $$\text{logits} = \mathrm{relu}(zW_d + b_d)\,W_\text{out} + b_\text{out},\qquad
#   \mathcal L = \underbrace{\textstyle\sum_d \mathrm{softplus}(a_d) - x_d a_d}_{-\log p(x\mid z)}
#   + \underbrace{\tfrac12 \textstyle\sum_k (\mu_k^2 + \sigma_k^2 - 1 - \log\sigma_k^2)}_{\mathrm{KL}(q\,\|\,\mathcal N(0, I))},$$
#
# and the loss is the batch mean of $\mathcal L = -\text{ELBO}$. `tests/test_vae_in_one_file.py`
# checks that this file's loss and gradients equal the engine's, `numpyvae.VAE`, on the same
# weights and noise: in float32 bit for bit, which is why a few lines keep the engine's order of
# operations (an `einsum` for $\sum_d x_d a_d$, `1/N` as a weight). Run it:
# `python tutorials/vae_in_one_file.py` (with `NUMPYVAE_FAST=1` it takes seconds).

# %%
import os
import time

import numpy as np

from numpyvae.datasets import load   # the only numpyvae import: the bundled digits


def init_params(rng, x_dim=784, h_dim=400, z_dim=20, dtype=np.float32):
    """Weights W (D_in, D_out), so y = x @ W + b; biases 0. He-uniform before a ReLU, else Glorot."""
    def dense(d_in, d_out, relu):
        a = np.sqrt(6.0 / d_in) if relu else np.sqrt(6.0 / (d_in + d_out))
        return rng.uniform(-a, a, (d_in, d_out)).astype(dtype), np.zeros(d_out, dtype)
    p = {}
    p["W_h"], p["b_h"] = dense(x_dim, h_dim, True)               # encoder hidden layer
    p["W_mu"], p["b_mu"] = dense(h_dim, z_dim, False)            # q's mean
    p["W_logvar"], p["b_logvar"] = dense(h_dim, z_dim, False)    # q's log variance
    p["W_d"], p["b_d"] = dense(z_dim, h_dim, True)               # decoder hidden layer
    p["W_out"], p["b_out"] = dense(h_dim, x_dim, False)          # Bernoulli logits
    return p


# %% [markdown]
# ## Forward: x (N, D) and eps (N, K) in, the batch-mean loss and a cache out

# %%
def forward(p, x, eps):
    """Loss = mean_n (-log p(x_n|z_n) + KL(q(z|x_n) || N(0, I))), a float, and what backward needs.

    x (N, D) in [0, 1], eps (N, K) ~ N(0, I); cache: dict of the intermediates (N, ·).
    """
    h = np.maximum(x @ p["W_h"] + p["b_h"], 0)                   # (N, H)
    mu = h @ p["W_mu"] + p["b_mu"]                               # (N, K)
    logvar = h @ p["W_logvar"] + p["b_logvar"]                   # (N, K)
    sigma = np.exp(0.5 * logvar)
    z = eps * sigma + mu                                         # reparameterization, (N, K)
    hd = np.maximum(z @ p["W_d"] + p["b_d"], 0)                  # (N, H)
    logits = hd @ p["W_out"] + p["b_out"]                        # (N, D)
    # softplus(a) = log(1 + e^a) = max(a, 0) + log1p(e^-|a|): never exponentiates a positive number
    e = np.exp(-np.abs(logits))
    nll = (np.log1p(e) + np.maximum(logits, 0)).sum(1) - np.einsum("nd,nd->n", logits, x)
    # expm1(logvar) - logvar >= 0 even after rounding; e^logvar - 1 - logvar can come out negative
    kl = (0.5 * (mu**2 + (np.expm1(logvar) - logvar))).sum(1)
    loss = float((nll + kl).mean())
    cache = dict(x=x, eps=eps, h=h, mu=mu, logvar=logvar, sigma=sigma, z=z, hd=hd, logits=logits, e=e)
    return loss, cache


# %% [markdown]
# ## Backward: every gradient by hand, the chain rule one line at a time
#
# For $y = xW + b$ with $\delta = \partial L/\partial y$: $\partial L/\partial W = x^\top\delta$,
# $\partial L/\partial b = \sum_n \delta_n$, $\partial L/\partial x = \delta W^\top$
# (tutorial 02 derives them). For $y = \mathrm{relu}(u)$: $\partial L/\partial u = \delta\,[u > 0]$.

# %%
def backward(p, cache):
    """dLoss/dθ for the loss forward computed: a dict with the names and shapes of p."""
    c = cache
    N = c["x"].shape[0]
    g = {}
    # nll = softplus(a) - x a, so d nll/d a = sigmoid(a) - x; every example has weight 1/N (batch mean).
    # sigmoid from the cached e = exp(-|a|): 1/(1+e) for a >= 0, e/(1+e) for a < 0 (no overflow).
    sigmoid = np.where(c["logits"] >= 0, 1, c["e"]) / (1 + c["e"])
    dlogits = (sigmoid - c["x"]) * (1.0 / N)                     # (N, D)
    # logits = hd W_out + b_out:  dW = hdᵀ δ,  db = Σ_n δ,  dhd = δ W_outᵀ
    g["W_out"], g["b_out"] = c["hd"].T @ dlogits, dlogits.sum(0)
    dhd = dlogits @ p["W_out"].T                                 # (N, H)
    # hd = relu(u_d): du_d = dhd [u_d > 0], and [u_d > 0] = [hd > 0]
    du_d = dhd * (c["hd"] > 0)
    # u_d = z W_d + b_d
    g["W_d"], g["b_d"] = c["z"].T @ du_d, du_d.sum(0)
    dz = du_d @ p["W_d"].T                                       # (N, K)
    # z = mu + sigma eps gives dz/dmu = 1; KL has ½ mu², so dKL/dmu = mu (weight 1/N)
    dmu = dz + c["mu"] * (1.0 / N)
    # dz/dlogvar = eps dsigma/dlogvar = eps sigma / 2 (sigma = e^(logvar/2));
    # KL has ½ (e^logvar - logvar), so dKL/dlogvar = ½ (e^logvar - 1) (weight 1/N)
    dlogvar = dz * c["eps"] * c["sigma"] * 0.5 + 0.5 * np.expm1(c["logvar"]) * (1.0 / N)
    # mu = h W_mu + b_mu and logvar = h W_logvar + b_logvar
    g["W_mu"], g["b_mu"] = c["h"].T @ dmu, dmu.sum(0)
    g["W_logvar"], g["b_logvar"] = c["h"].T @ dlogvar, dlogvar.sum(0)
    # both heads read h, so their gradients add
    dh = dmu @ p["W_mu"].T + dlogvar @ p["W_logvar"].T           # (N, H)
    # h = relu(u), u = x W_h + b_h; dL/dx is not needed (x is data)
    du = dh * (c["h"] > 0)
    g["W_h"], g["b_h"] = c["x"].T @ du, du.sum(0)
    return g


# %% [markdown]
# ## Adam (Kingma & Ba, 2015, Algorithm 1)

# %%
def adam_step(p, g, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step on every parameter in place; state = {"t": 0, "m": {}, "v": {}} to start."""
    state["t"] += 1
    t = state["t"]
    for name in p:
        m = state["m"].setdefault(name, np.zeros_like(p[name]))
        v = state["v"].setdefault(name, np.zeros_like(p[name]))
        m[...] = beta1 * m + (1 - beta1) * g[name]                # first moment (mean of g)
        v[...] = beta2 * v + (1 - beta2) * g[name] ** 2           # second moment (mean of g²)
        m_hat = m / (1 - beta1**t)                                # bias corrections: m, v start at 0
        v_hat = v / (1 - beta2**t)
        p[name] -= lr * m_hat / (np.sqrt(v_hat) + eps)


# %% [markdown]
# ## Training on the bundled digits, with dynamic binarization
#
# Each batch is a fresh Bernoulli draw of the grey images, $x_\text{bin} \sim \mathrm{Bernoulli}(x)$,
# so the model never sees the same binary digit twice. The test loss is on one fixed draw.

# %%
def train(x_train, x_test, epochs=10, batch_size=128, lr=1e-3, seed=0):
    """Train from scratch; print train and test loss (−ELBO, nats) per epoch; return the params."""
    rng = np.random.default_rng(seed)
    p = init_params(rng, x_dim=x_train.shape[1])
    state = {"t": 0, "m": {}, "v": {}}
    x_test_bin = (rng.random(x_test.shape) < x_test).astype(np.float32)
    for epoch in range(1, epochs + 1):
        start, losses = time.perf_counter(), []
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch_size):
            x = x_train[order[i:i + batch_size]]
            x = (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)
            eps = rng.standard_normal((len(x), p["W_mu"].shape[1]), dtype=np.float32)
            loss, cache = forward(p, x, eps)
            adam_step(p, backward(p, cache), state, lr=lr)
            losses.append(loss)
        eps = rng.standard_normal((len(x_test_bin), p["W_mu"].shape[1]), dtype=np.float32)
        test_loss, _ = forward(p, x_test_bin, eps)
        print(f"epoch {epoch:3d}  train loss {np.mean(losses):7.2f}  test loss {test_loss:7.2f} nats"
              f"  ({time.perf_counter() - start:.1f} s)")
    return p


def main():
    fast = os.environ.get("NUMPYVAE_FAST", "").strip() in ("1", "true", "yes")
    data = load("digits")                                        # x in [0, 1], (9000, 784) and (1000, 784)
    x_train, x_test = (data.x_train[:1000], data.x_test[:200]) if fast else (data.x_train, data.x_test)
    train(x_train, x_test, epochs=2 if fast else 10)


if __name__ == "__main__":
    main()

# %% [markdown]
# In full mode (10 epochs, batch 128, Adam 1e-3) the train loss falls from about 230 nats in the
# first epoch to about 114 in the tenth, the test loss to about 116 (one noise draw per test
# digit; the script prints the numbers). `python -m numpyvae train --epochs 10 --output-bias zero`
# trains the same model with the engine, whose `numpyvae.optim.Adam` also keeps its moments out of
# the slow subnormal float range, which matters for runs much longer than this one. (Without the
# flag the engine starts $b_\text{out}$ at the logit of the mean training image, not at 0.)
