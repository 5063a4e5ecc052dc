"""Reference solutions of the gradient exercises: TEACHER MATERIAL.

Not part of the installed package and not in the student edition of the course
(`python -m numpyvae course build DIR --edition student` leaves this folder out;
the teacher edition splices each function into its tutorial's EXERCISE cell).
Grading never needs these: it uses finite differences (numpyvae.teach.exercises).

Each function has the exercise's name and signature; the derivation is in its docstring.
"""
import numpy as np

from numpyvae.teach.tape_view import read_tape


def dense_backward(x, W, b, dy):
    """y = x W + b, δ = dy:  dx = δ Wᵀ,  dW = xᵀ δ,  db = Σ_n δ_n."""
    return dy @ W.T, x.T @ dy, dy.sum(axis=0)


def relu_backward(x, dy):
    """y = max(x, 0):  dy/dx = [x > 0] (0 at the kink, by convention)."""
    return dy * (x > 0)


def leaky_relu_backward(x, dy, alpha):
    """y = x for x > 0, αx otherwise:  dy/dx = 1 or α."""
    return np.where(x > 0, dy, alpha * dy)


def elu_backward(x, dy, alpha):
    """y = x for x > 0, α(eˣ − 1) otherwise:  dy/dx = 1 or α eˣ (= y + α)."""
    return np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0.0)))


def tanh_backward(x, dy):
    """y = tanh(x):  dy/dx = 1 − tanh(x)²."""
    return dy * (1.0 - np.tanh(x) ** 2)


def sigmoid_backward(x, dy):
    """y = σ(x) = 1 / (1 + e^−x):  dy/dx = σ(x) (1 − σ(x))."""
    s = 1.0 / (1.0 + np.exp(-x))
    return dy * s * (1.0 - s)


def softplus_backward(x, dy):
    """y = log(1 + eˣ):  dy/dx = eˣ / (1 + eˣ) = σ(x)."""
    return dy / (1.0 + np.exp(-x))


def reparam_backward(dz, mu, logvar, eps):
    """z_s = mu + exp(logvar/2) eps_s for every sample s:
    dmu = Σ_s dz_s,  dlogvar = Σ_s dz_s eps_s exp(logvar/2) / 2."""
    sigma = np.exp(0.5 * logvar)
    return dz.sum(axis=0), 0.5 * sigma * (dz * eps).sum(axis=0)


def kl_backward(mu, logvar):
    """KL = ½ Σ (mu² + e^logvar − 1 − logvar):  dKL/dmu = mu,  dKL/dlogvar = ½ (e^logvar − 1)."""
    return mu.copy(), 0.5 * (np.exp(logvar) - 1.0)


def kl_mc_backward(dkl, mu, logvar, eps):
    """kl_s = log q(z_s) − log p(z_s) = Σ_k ½ (z² − eps² − logvar), z = mu + σ eps, eps fixed.

    d kl_s / dmu = z_s;   d kl_s / dlogvar = z_s eps_s σ/2 − ½;   summed over s with weights dkl_s.
    """
    sigma = np.exp(0.5 * logvar)
    z = mu + sigma * eps
    w = dkl[..., None]
    return (w * z).sum(axis=0), (w * (0.5 * sigma * z * eps - 0.5)).sum(axis=0)


def bernoulli_backward(x, logits):
    """nll = Σ softplus(a) − x a:  dnll/da = σ(a) − x."""
    return 1.0 / (1.0 + np.exp(-logits)) - x


def gaussian_backward(x, mean, sigma):
    """nll = Σ (x − m)² / (2σ²) + const:  dnll/dm = (m − x) / σ²."""
    return (mean - x) / sigma ** 2


def gaussian_learned_backward(x, mean, logvar):
    """nll = ½ Σ ((x − m)² e^−s + s + log 2π), s = logvar:
    dnll/dm = (m − x) e^−s,   dnll/ds = ½ (1 − (x − m)² e^−s)."""
    inv_var = np.exp(-logvar)
    r = mean - x
    return r * inv_var, 0.5 * (1.0 - r * r * inv_var)


def cb_log_norm_backward(logits, dy):
    """With λ = σ(a): 1 − 2λ = −tanh(a/2) and artanh(1 − 2λ) = −a/2, so C = a / tanh(a/2) and
    log C = log a − log tanh(a/2) (even in a).  d log C / da = 1/a − 1/sinh(a)."""
    return dy * (1.0 / logits - 1.0 / np.sinh(logits))


def iwae_weights(log_w):
    """bound_n = log (1/S) Σ_s exp(log w_sn);  d(mean_n bound_n)/d log w_sn = softmax_s(log w)_sn / N."""
    w = np.exp(log_w - log_w.max(axis=0))
    return w / w.sum(axis=0) / log_w.shape[1]


def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    """Kingma & Ba (2015), Algorithm 1, step t (counting from 1)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def gumbel_softmax_backward(dy, y, tau):
    """y = softmax((a + g)/τ):  ∂y_i/∂a_j = y_i (δ_ij − y_j)/τ,  so  da_j = y_j (dy_j − Σ_i y_i dy_i)/τ."""
    return y * (dy - np.sum(y * dy, axis=-1, keepdims=True)) / tau


def planar_logdet_backward(z, u, w, b, dlogdet):
    """logdet_n = log|1 + uᵀψ_n|, ψ_n = h'(a_n) w, a_n = z_n·w + b, h = tanh.

    With c = 1 + h'(a) uᵀw and h'' = −2 tanh(a) h':
        dc = dlogdet / c,  d(uᵀw) = Σ_n dc h',  da = dc uᵀw h''(a)
        dz = da wᵀ,  du = d(uᵀw) w,  dw = zᵀ da + d(uᵀw) u,  db = Σ_n da
    """
    a = z @ w + b[0]
    t = np.tanh(a)
    hp = 1.0 - t * t
    uw = u @ w
    dc = dlogdet / (1.0 + hp * uw)
    duw = np.sum(dc * hp)
    da = dc * uw * (-2.0 * t * hp)
    return np.outer(da, w), duw * w, z.T @ da + duw * u, np.array([da.sum()])


def conv2d_backward_dW(x, W, dy, stride, padding):
    """y[n,o,i,j] = Σ_{c,p,q} W[o,c,p,q] xp[n,c,s·i+p,s·j+q]  (xp: x zero-padded):
    dW[o,c,p,q] = Σ_{n,i,j} dy[n,o,i,j] · xp[n,c,s·i+p,s·j+q], one kernel tap (p, q) at a time."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = dy.shape[2:]
    dW = np.zeros_like(W)
    for p in range(W.shape[2]):
        for q in range(W.shape[3]):
            patch = xp[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride]
            dW[:, :, p, q] = np.einsum("noij,ncij->oc", dy, patch)
    return dW


def avb_critic_backward(t_q, t_p):
    """L_T = (1/N) Σ_n [softplus(−t_q,n) + softplus(t_p,n)], since −log σ(t) = softplus(−t) and
    −log(1 − σ(t)) = softplus(t); softplus' = σ, so
        dL_T/dt_q,n = −σ(−t_q,n)/N = (σ(t_q,n) − 1)/N,     dL_T/dt_p,n = σ(t_p,n)/N."""
    N = len(t_q)
    return (1.0 / (1.0 + np.exp(-t_q)) - 1.0) / N, 1.0 / (1.0 + np.exp(-t_p)) / N


def vae_backward(model, tape):
    """The whole backward pass of tutorial 06's VAE, from the pieces above; returns {name: gradient}.

    loss = −(1/N) Σ_n bound_n with log w_sn = −nll_sn (− kl_sn for IWAE), so, with
    c_sn = ∂(mean_n bound_n)/∂log w_sn (1/(SN) for the ELBO, iwae_weights for IWAE):
        ∂loss/∂nll_sn = c_sn,   ∂loss/∂kl_sn = c_sn (Monte Carlo KL),   ∂loss/∂KL_n = 1/N (analytic)
    then backwards: likelihood -> decoder head and trunk -> z -> (mu, logvar) -> encoder.
    """
    t = read_tape(model, tape)
    S, N = t.eps.shape[:2]
    grads = {}

    def through(steps, dy):
        """Dense (+ ReLU) layers in reverse: record dW, db; return the gradient at the first input."""
        for step in reversed(steps):
            if step.h is not None:                            # a trunk layer: ReLU(a), a = x W + b
                dy = relu_backward(step.a, dy)
            dy, grads[step.name + ".W"], grads[step.name + ".b"] = dense_backward(step.x, step.W, step.b, dy)
        return dy

    weight = iwae_weights(t.log_w) if t.objective == "iwae" else np.full((S, N), 1.0 / (S * N), t.x.dtype)
    dlogits = weight[..., None] * bernoulli_backward(np.broadcast_to(t.x, t.logits.shape), t.logits)
    dz = through(t.decoder, through([t.decoder_head], dlogits.reshape(S * N, -1))).reshape(t.eps.shape)
    dmu, dlogvar = reparam_backward(dz, t.mu, t.logvar, t.eps)
    if t.kl == "analytic":
        kl_dmu, kl_dlogvar = kl_backward(t.mu, t.logvar)       # of Σ_n KL_n; the loss has (1/N) Σ_n
        dmu, dlogvar = dmu + kl_dmu / N, dlogvar + kl_dlogvar / N
    else:
        mc_dmu, mc_dlogvar = kl_mc_backward(weight, t.mu, t.logvar, t.eps)
        dmu, dlogvar = dmu + mc_dmu, dlogvar + mc_dlogvar
    heads = t.encoder_heads
    dh = through([heads["mu"]], dmu) + through([heads["logvar"]], dlogvar)
    through(t.encoder, dh)
    return grads
