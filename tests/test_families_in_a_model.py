"""Every family inside a small model, ELBO and IWAE, gradients by finite differences.

The model is written here in a few lines (a linear encoder that outputs all of the
family's heads side by side, a linear Bernoulli decoder, the N(0, I) prior), so the test
shows exactly how a VAE calls a family:

    heads = split(encoder(x), family.heads)                    each (N, size)
    z, log_q, tape = family.rsample(heads, eps)                eps = family.draw_noise(rng, S, N, dtype)
    log_w = log p(x|z) + log p(z) − log_q                      (S, N)
    c = ∂(mean_n bound_n)/∂log_w                               ELBO: 1/(S·N);  IWAE: softmax_s(log_w)/N
    loss = −mean_n bound_n, so ∂loss/∂log_w = −c and
        dz     = −c · (∂log p(x|z)/∂z + ∂log p(z)/∂z)
        dlog_q = +c
    dheads = family.backward(dz, dlog_q, tape)                 then back through the encoder
"""
import zlib

import numpy as np
import pytest
from scipy.special import expit, logsumexp, softmax

from numpyvae.latent.families import make_posterior
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

LOG_2PI = np.log(2 * np.pi)
FAMILIES = ["full-gaussian", "planar:2", "radial:2", "iaf:2", "planar:2 global", "radial:2 global"]


def build(name, K, rng):
    if name.endswith(" global"):
        return make_posterior(name.split()[0], K, amortized=False, rng=rng, dtype="float64")
    return make_posterior(name, K, rng=rng, dtype="float64")


class TinyModel:
    def __init__(self, family, D, K, rng):
        self.family = family
        H = sum(family.heads.values())
        self.sizes = list(family.heads.values())
        self.W = {"We": 0.3 * rng.standard_normal((D, H)), "be": 0.3 * rng.standard_normal(H),
                  "Wd": 0.5 * rng.standard_normal((K, D)), "bd": 0.3 * rng.standard_normal(D)}
        self.W["be"][:] += 0.3                     # keep planar w away from 0 for every x

    def heads(self, x):
        out = x @ self.W["We"] + self.W["be"]
        return np.split(out, np.cumsum(self.sizes)[:-1], axis=1)

    def log_w(self, x, eps):
        z, log_q, tape = self.family.rsample(self.heads(x), eps)
        a = z @ self.W["Wd"] + self.W["bd"]
        log_px = np.sum(x * a - np.logaddexp(0, a), -1)
        log_pz = -0.5 * np.sum(z * z, -1) - 0.5 * z.shape[-1] * LOG_2PI
        return log_px + log_pz - log_q, (z, a, tape)

    def loss(self, x, eps, bound):
        log_w, _ = self.log_w(x, eps)
        S = log_w.shape[0]
        per_example = log_w.mean(0) if bound == "elbo" else logsumexp(log_w, axis=0) - np.log(S)
        return -per_example.mean()

    def grads(self, x, eps, bound):
        log_w, (z, a, tape) = self.log_w(x, eps)
        S, N = log_w.shape
        c = np.full((S, N), 1.0 / (S * N)) if bound == "elbo" else softmax(log_w, axis=0) / N
        da = -c[..., None] * (x - expit(a))                          # ∂loss/∂a, a the decoder logits
        g = {"Wd": np.einsum("snk,snd->kd", z, da), "bd": da.sum((0, 1))}
        dz = da @ self.W["Wd"].T + c[..., None] * z                   # decoder path, prior path (∂(−log p)/∂z = z)
        dheads = self.family.backward(dz, c, tape)                    # log_q enters log_w with a minus sign
        dout = np.concatenate(dheads, axis=1)
        g["We"], g["be"] = x.T @ dout, dout.sum(0)
        return g


@pytest.mark.parametrize("bound", ["elbo", "iwae"])
@pytest.mark.parametrize("name", FAMILIES)
def test_whole_model_gradients_match_finite_differences(name, bound):
    rng = np.random.default_rng(zlib.crc32(f"{name} {bound}".encode()))
    D, K, N, S = 5, 2, 3, 4
    fam = build(name, K, rng)
    for p in fam.params.values():                                      # non-trivial global weights
        p += 0.2 * rng.standard_normal(p.shape) * (p != 0 if p.ndim == 2 else 1)
    model = TinyModel(fam, D, K, rng)
    x = (rng.uniform(size=(N, D)) < 0.5).astype(np.float64)
    eps = fam.draw_noise(rng, S, N, "float64")
    g = model.grads(x, eps, bound)
    g.update({k: v.copy() for k, v in fam.grads.items()})
    arrays = dict(model.W, **fam.params)
    a = np.concatenate([np.ravel(g[k]) for k in arrays])
    n = np.concatenate([numerical_gradient(lambda _: model.loss(x, eps, bound), arr).ravel()
                        for arr in arrays.values()])
    assert relative_error(a, n) <= 1e-7


def test_iwae_with_one_sample_is_the_elbo_with_a_monte_carlo_kl():
    rng = np.random.default_rng(3)
    fam = build("planar:2", 2, rng)
    model = TinyModel(fam, 4, 2, rng)
    x = (rng.uniform(size=(3, 4)) < 0.5).astype(np.float64)
    eps = fam.draw_noise(rng, 1, 3, "float64")
    np.testing.assert_allclose(model.loss(x, eps, "iwae"), model.loss(x, eps, "elbo"), rtol=1e-14)
    ge, gi = model.grads(x, eps, "elbo"), model.grads(x, eps, "iwae")
    for k in ge:
        np.testing.assert_allclose(gi[k], ge[k], rtol=1e-12, atol=1e-15)
