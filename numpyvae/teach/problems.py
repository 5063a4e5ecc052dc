"""The exercises' problems: random float64 inputs (a batch of n) and a scalar loss written from the formula.

Each exercise in :mod:`numpyvae.teach.exercises` pairs a ``draw_*(rng, n) -> dict`` with a
``loss_*(**arrays) -> float`` of the form L = Σ upstream ⊙ forward(...), so the learner's backward,
fed the upstream gradient, must return exactly ∂L/∂(each input the exercise names). The losses are
written from the formulas, independently of the package's layers, so that finite differences of them
judge an answer without any reference solution.
"""
import math

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)

def softplus(a):
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Values with |x| in [low, high]: finite differences cannot see a kink they straddle."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def dims(rng, k=1):
    return tuple(int(d) for d in rng.integers(2, 6, size=k))


def draw_dense(rng, n):
    d_in, d_out = dims(rng, 2)
    return dict(x=rng.standard_normal((n, d_in)), W=rng.standard_normal((d_in, d_out)),
                b=rng.standard_normal(d_out), dy=rng.standard_normal((n, d_out)))


def loss_dense(x, W, b, dy):
    return np.sum(dy * (x @ W + b))


def draw_elementwise(kinked=False, alpha=None):
    def draw(rng, n):
        shape = (n,) + dims(rng)
        x = away_from_zero(rng, shape) if kinked else rng.uniform(-3, 3, shape)
        arrays = dict(x=x, dy=rng.standard_normal(shape))
        if alpha is not None:
            arrays["alpha"] = float(rng.uniform(*alpha))
        return arrays
    return draw


def elementwise_loss(g):
    return lambda x, dy, **kw: np.sum(dy * g(x, **kw))


def relu(x):
    return np.maximum(x, 0.0)


def leaky_relu(x, alpha):
    return np.where(x > 0, x, alpha * x)


def elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def draw_gaussian_q(rng, n, samples=True):
    shape = (n,) + dims(rng)
    arrays = dict(mu=rng.standard_normal(shape), logvar=rng.uniform(-1.5, 1.5, shape))
    if samples:
        # one sample in some batch of one; always several in larger batches, where a forgotten Σ_s shows
        S = int(rng.integers(1, 4)) if n == 1 else int(rng.integers(2, 4))
        arrays["eps"] = rng.standard_normal((S,) + shape)
    return arrays


def draw_reparam(rng, n):
    a = draw_gaussian_q(rng, n)
    return dict(dz=rng.standard_normal(a["eps"].shape), **a)


def loss_reparam(dz, mu, logvar, eps):
    return np.sum(dz * (mu + np.exp(0.5 * logvar) * eps))          # z_s = mu + σ eps_s


def loss_kl(mu, logvar):
    return 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1.0 - logvar)   # KL(N(mu, σ²) || N(0, 1)), summed


def draw_kl_mc(rng, n):
    a = draw_gaussian_q(rng, n)
    return dict(dkl=rng.standard_normal(a["eps"].shape[:2]), **a)


def loss_kl_mc(dkl, mu, logvar, eps):
    """Σ_sn dkl_sn (log q(z_sn) − log p(z_sn)) with z = mu + σ eps and the noise eps held fixed."""
    z = mu + np.exp(0.5 * logvar) * eps
    log_q = -0.5 * np.sum(((z - mu) / np.exp(0.5 * logvar)) ** 2 + logvar + LOG_2PI, axis=-1)
    log_p = -0.5 * np.sum(z ** 2 + LOG_2PI, axis=-1)
    return np.sum(dkl * (log_q - log_p))


def draw_pixels(rng, n):
    return (n,) + dims(rng)


def draw_bernoulli(rng, n):
    shape = draw_pixels(rng, n)
    return dict(x=rng.uniform(0, 1, shape), logits=rng.uniform(-4, 4, shape))


def loss_bernoulli(x, logits):
    lam = sigmoid(logits)                                          # −log λ^x (1−λ)^(1−x), summed
    return -np.sum(x * np.log(lam) + (1 - x) * np.log1p(-lam))


def draw_gaussian(rng, n):
    shape = draw_pixels(rng, n)
    return dict(x=rng.uniform(0, 1, shape), mean=rng.uniform(-0.5, 1.5, shape), sigma=float(rng.uniform(0.3, 2.0)))


def loss_gaussian(x, mean, sigma):
    return np.sum((x - mean) ** 2 / (2 * sigma ** 2) + 0.5 * math.log(2 * math.pi * sigma ** 2))


def draw_gaussian_learned(rng, n):
    shape = draw_pixels(rng, n)
    return dict(x=rng.uniform(0, 1, shape), mean=rng.uniform(-0.5, 1.5, shape), logvar=rng.uniform(-3, 1, shape))


def loss_gaussian_learned(x, mean, logvar):
    var = np.exp(logvar)
    return np.sum(0.5 * ((x - mean) ** 2 / var + np.log(2 * math.pi * var)))


def draw_cb(rng, n):
    shape = draw_pixels(rng, n)
    return dict(logits=away_from_zero(rng, shape, 0.3, 5.0), dy=rng.standard_normal(shape))


def loss_cb_log_norm(logits, dy):
    """Σ dy ⊙ log C(λ), C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ), λ = σ(logits) (Loaiza-Ganem & Cunningham)."""
    t = 1.0 - 2.0 * sigmoid(logits)
    return np.sum(dy * np.log(2.0 * np.arctanh(t) / t))


def draw_iwae(rng, n):
    S = int(rng.integers(2, 6))
    return dict(log_w=rng.normal(-5.0, 2.0, (S, n)))   # |L| ~ 5: rounding stays far below 1e-7


def loss_iwae(log_w):
    """mean_n log (1/S) Σ_s w_sn, computed stably around the largest weight."""
    top = log_w.max(axis=0)
    return np.mean(top + np.log(np.mean(np.exp(log_w - top), axis=0)))


def draw_adam(rng, n):
    shape = (n,) + dims(rng)
    return dict(theta=rng.standard_normal(shape), g=rng.standard_normal(shape),
                m=0.1 * rng.standard_normal(shape), v=0.1 * rng.uniform(0, 1, shape),
                t=int(rng.integers(1, 30)), lr=float(rng.uniform(1e-3, 1e-1)),
                beta1=float(rng.uniform(0.8, 0.95)), beta2=float(rng.uniform(0.9, 0.999)),
                eps=float(rng.uniform(1e-3, 1e-1)))       # a large ε, so where it goes is visible


def adam_paper(theta, g, m, v, t, lr, beta1, beta2, eps):
    """Kingma & Ba (2015), Algorithm 1, step t (t counts from 1).

    m_t = β₁ m + (1 − β₁) g;   v_t = β₂ v + (1 − β₂) g²
    m̂ = m_t / (1 − β₁ᵗ);      v̂ = v_t / (1 − β₂ᵗ)
    θ_t = θ − lr · m̂ / (√v̂ + ε)
    Compared as (θ_t − θ, m_t, v_t): the step itself, not θ, whose size would hide it.
    """
    m_t = beta1 * m + (1 - beta1) * g
    v_t = beta2 * v + (1 - beta2) * g * g
    step = -lr * (m_t / (1 - beta1 ** t)) / (np.sqrt(v_t / (1 - beta2 ** t)) + eps)
    return step, m_t, v_t


def draw_gumbel_softmax(rng, n):
    """a = logits + g with the Gumbel noise g held fixed; y = softmax(a/τ) is what the learner gets."""
    C, tau = int(rng.integers(2, 6)), float(rng.uniform(0.4, 1.5))
    logits = rng.normal(0, 0.6, (n, C)) - np.log(-np.log(rng.uniform(0.2, 0.8, (n, C))))
    return dict(dy=rng.standard_normal((n, C)), y=softmax(logits / tau), tau=tau, logits=logits)


def softmax(a):
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def loss_gumbel_softmax(dy, y, tau, logits):
    return np.sum(dy * softmax(logits / tau))


def loss_gumbel_softmax_rows(dy, y, tau, logits):
    """The terms of loss_gumbel_softmax, one per row (N,): rows do not interact, so a stand-in can take
    finite differences of all rows at once (tutorial 11 runs it on 50 000 rows)."""
    return np.sum(dy * softmax(logits / tau), axis=-1)


def gumbel_logits_from_y(arrays):
    """softmax(τ log y / τ) = y, and logits that differ by a constant per row give the same gradient."""
    return {**arrays, "logits": arrays["tau"] * np.log(arrays["y"])}


def draw_planar(rng, n):
    D = int(rng.integers(2, 5))
    z, w, b = rng.standard_normal((n, D)), rng.standard_normal(D), rng.standard_normal(1)
    u = 0.7 * rng.standard_normal(D)
    if u @ w < -0.5:                                   # keep 1 + h' uᵀw well away from 0
        u = -u
    # move each z along w until 0.3 <= |z·w + b| <= 1: deep in tanh's saturation h' ~ 1e-6, and at
    # 0 the log-det's slope in z (∝ h'' = −2 tanh h') vanishes; either way a central difference
    # would measure rounding, not the slope
    a = z @ w + b[0]
    target = np.where(a < 0, -1.0, 1.0) * np.clip(np.abs(a), 0.3, 1.0)
    z -= np.outer((a - target) / (w @ w), w)
    return dict(z=z, u=u, w=w, b=b, dlogdet=rng.standard_normal(n))


def loss_planar(z, u, w, b, dlogdet):
    """Σ_n dlogdet_n log|1 + uᵀψ_n|, ψ_n = tanh'(z_n·w + b) w."""
    psi = (1.0 - np.tanh(z @ w + b[0]) ** 2)[:, None] * w[None, :]
    return np.sum(dlogdet * np.log(np.abs(1.0 + psi @ u)))


def draw_avb_critic(rng, n):
    """The critic's logits at n pairs from q (t_q) and n from p (t_p), some confident, some not."""
    return dict(t_q=rng.uniform(-4.0, 6.0, n), t_p=rng.uniform(-6.0, 4.0, n))


def loss_avb_critic_rows(t_q, t_p):
    """AVB's critic loss per pair n (N,): [−log σ(t_q,n) − log(1 − σ(t_p,n))] / N, pairs from q labelled 1."""
    return -(np.log(sigmoid(t_q)) + np.log1p(-sigmoid(t_p))) / len(t_q)


def loss_avb_critic(t_q, t_p):
    """L_T = mean_n −log σ(t_q,n) + mean_n −log(1 − σ(t_p,n)), the logistic loss of Mescheder et al. (2017)."""
    return np.sum(loss_avb_critic_rows(t_q, t_p))

def conv_patches(x, kh, kw, stride, padding, Ho, Wo):
    """Yield (p, q, xp[:, :, s·i + p, s·j + q] for all i < Ho, j < Wo): the inputs kernel tap (p, q) sees."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    for p in range(kh):
        for q in range(kw):
            yield p, q, xp[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride]


def draw_conv2d(rng, n):
    C_in, C_out, k = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    H, W_ = int(rng.integers(k, 7)), int(rng.integers(k, 7))
    Ho, Wo = (H + 2 * padding - k) // stride + 1, (W_ + 2 * padding - k) // stride + 1
    return dict(x=rng.standard_normal((n, C_in, H, W_)), W=rng.standard_normal((C_out, C_in, k, k)),
                dy=rng.standard_normal((n, C_out, Ho, Wo)), stride=stride, padding=padding)


def loss_conv2d(x, W, dy, stride, padding):
    """L = Σ dy ⊙ conv(x, W), the convolution summed tap by tap (independent of numpyvae.nn.conv)."""
    y = np.zeros(dy.shape)
    for p, q, patch in conv_patches(x, W.shape[2], W.shape[3], stride, padding, *dy.shape[2:]):
        y += np.einsum("oc,ncij->noij", W[:, :, p, q], patch)
    return np.sum(dy * y)
