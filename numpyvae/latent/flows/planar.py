"""The planar step f(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed, 2015), its log-determinant and its backward."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import check_positive_int
from ...stable import sigmoid, softplus


class PlanarStep:
    """f(z) = z + û h(wᵀz + b), h = tanh; heads u (D), w (D), b (1) per example.

    Invertibility (Rezende & Mohamed, appendix A): along w, wᵀf(z) = wᵀz + (wᵀû) h(wᵀz + b)
    is increasing in wᵀz when wᵀû ≥ −1, because h' ∈ (0, 1]. Any u is mapped to
    such a û by
        û = u + (m(wᵀu) − wᵀu) w / ‖w‖²,   m(a) = −1 + softplus(a) > −1,
    which gives wᵀû = m(wᵀu) exactly.

    Log-determinant: ∂f/∂z = I + û ψᵀ with ψ = h'(wᵀz + b) w, a rank-one update,
    so det = 1 + ûᵀψ = 1 + h'(a) wᵀû = 1 + h'(a) m(wᵀu) > 0 (matrix determinant lemma).
    """

    kind = "planar"

    def __init__(self, dim: int):
        self.dim = D = check_positive_int(dim, "PlanarStep", "dim")
        self.heads = OrderedDict([("u", D), ("w", D), ("b", 1)])
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def named_layers(self):
        return iter(())

    def forward(self, z, theta, context=None):
        """z (S, N, D), theta [u, w (N, D), b (N, 1)] -> f (S, N, D), logdet (S, N), tape."""
        u, w, b = theta
        w2 = np.einsum("nd,nd->n", w, w)                   # ‖w‖²
        if not np.all(w2 > 0):
            raise ValueError("PlanarStep.forward: w is zero for some example; a planar step needs w != 0")
        wu = np.einsum("nd,nd->n", w, u)                   # wᵀu
        m = softplus(wu) - 1                               # m(wᵀu) = wᵀû
        gamma = (m - wu) / w2
        u_hat = u + gamma[:, None] * w
        a = np.einsum("snd,nd->sn", z, w) + b[:, 0]        # wᵀz + b
        h = np.tanh(a)
        hp = 1 - h * h                                     # h'(a) = 1 − tanh²
        f = z + h[..., None] * u_hat
        c = 1 + hp * m                                     # det J = 1 + h'(a) m
        logdet = np.log(c)
        return f, logdet, (z, u, w, w2, wu, m, gamma, u_hat, h, hp, c)

    def backward(self, df, dlogdet, tape):
        """Chain rule through f = z + û h(a) and logdet = log(1 + h'(a) m), a = wᵀz + b.

        f:       dû = Σ_s h df,            dh = dfᵀû,            dz = df (direct)
        logdet:  dc = dlogdet / c;  dm = Σ_s dc h',   dh' = dc m
        h' = 1 − h²:   dh += −2 h dh'
        h = tanh(a):   da = dh h'
        a = wᵀz + b:   dz += da w,   dw = Σ_s da z,   db = Σ_s da
        û = u + γ w:   du = dû,   dw += γ dû,   dγ = dûᵀw
        γ = (m − wᵀu)/‖w‖²:   dm += dγ/‖w‖²,   d(wᵀu) = −dγ/‖w‖²,   d‖w‖² = −dγ γ/‖w‖²
        m = softplus(wᵀu) − 1:   d(wᵀu) += dm sigmoid(wᵀu)
        wᵀu, ‖w‖²:   du += d(wᵀu) w,   dw += d(wᵀu) u + 2 d‖w‖² w
        Returns dz (S, N, D), [du, dw, db], None.
        """
        z, u, w, w2, wu, m, gamma, u_hat, h, hp, c = tape
        du_hat = np.einsum("sn,snd->nd", h, df)
        dh = np.einsum("snd,nd->sn", df, u_hat)
        dc = dlogdet / c
        dm = np.einsum("sn,sn->n", dc, hp)
        dh -= 2 * h * (dc * m[None, :])
        da = dh * hp
        dz = df + da[..., None] * w
        dw = np.einsum("sn,snd->nd", da, z)
        db = da.sum(axis=0)[:, None]
        du = du_hat.copy()
        dw += gamma[:, None] * du_hat
        dgamma = np.einsum("nd,nd->n", du_hat, w)
        dm += dgamma / w2
        dwu = -dgamma / w2
        dw2 = -dgamma * gamma / w2
        dwu += dm * sigmoid(wu)
        du += dwu[:, None] * w
        dw += dwu[:, None] * u + (2 * dw2)[:, None] * w
        return dz, [du, dw, db], None

