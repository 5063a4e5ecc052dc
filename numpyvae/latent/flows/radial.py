"""The radial step f(z) = z + β h(α, r)(z − z₀) (Rezende & Mohamed, 2015), its log-determinant and its backward."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import check_positive_int
from ...stable import sigmoid, softplus


class RadialStep:
    """f(z) = z + β h(α, r)(z − z₀), r = ‖z − z₀‖, h = 1/(α + r); heads z0 (D), alpha (1), beta (1).

    Constraints by construction: α = softplus(α') > 0 and β = −α + softplus(β') > −α,
    which keeps f invertible (Rezende & Mohamed, appendix A).

    Log-determinant. ∂f/∂z = (1 + βh) I + β h'(r) (z − z₀)(z − z₀)ᵀ / r, a scaled
    identity plus rank one, so
        log det = (D − 1) log(1 + βh) + log(1 + βh + βh' r)
    and with h' = −h², 1 + βh + βh'r = 1 + βh(1 − hr) = 1 + β α h² (since 1 − hr = αh).
    """

    kind = "radial"

    def __init__(self, dim: int):
        self.dim = D = check_positive_int(dim, "RadialStep", "dim")
        self.heads = OrderedDict([("z0", D), ("alpha", 1), ("beta", 1)])
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def named_layers(self):
        return iter(())

    def forward(self, z, theta, context=None):
        """z (S, N, D), theta [z0 (N, D), alpha' (N, 1), beta' (N, 1)] -> f, logdet (S, N), tape."""
        z0, alpha_raw, beta_raw = theta
        alpha = softplus(alpha_raw[:, 0])                  # (N,)
        beta = softplus(beta_raw[:, 0]) - alpha
        d = z - z0                                         # (S, N, D)
        r = np.sqrt(np.einsum("snd,snd->sn", d, d))
        h = 1 / (alpha + r)
        bh = beta * h
        f = z + bh[..., None] * d
        c1 = 1 + bh                                        # the D − 1 directions across z − z₀
        c2 = 1 + beta * alpha * h * h                      # the direction along z − z₀
        logdet = (self.dim - 1) * np.log(c1) + np.log(c2)
        return f, logdet, (d, r, h, bh, alpha, beta, c1, c2, alpha_raw, beta_raw)

    def backward(self, df, dlogdet, tape):
        """Chain rule through f = z + βh d (d = z − z₀) and logdet = (D−1) log c1 + log c2.

        f:        dd = βh df,   g = dfᵀd,   dβ = h g,   dh = β g,   dz = df (direct)
        c1 = 1 + βh:        dc1 = (D − 1) dlogdet / c1;   dβ += dc1 h,   dh += dc1 β
        c2 = 1 + βαh²:      dc2 = dlogdet / c2;   dβ += dc2 αh²,   dα = dc2 βh²,   dh += dc2 2βαh
        h = 1/(α + r):      dα −= dh h²,   dr = −dh h²
        r = ‖d‖:            dd += dr d / r
        d = z − z₀:         dz += dd,   dz₀ = −Σ_s dd
        β = softplus(β') − α:   dβ' = Σ_s dβ · sigmoid(β'),   dα −= dβ
        α = softplus(α'):       dα' = Σ_s dα · sigmoid(α')
        (r = 0 exactly has probability zero under continuous noise; there r is
        replaced by the smallest positive float to keep the gradient finite.)
        Returns dz (S, N, D), [dz0, dalpha', dbeta'], None.
        """
        d, r, h, bh, alpha, beta, c1, c2, alpha_raw, beta_raw = tape
        g = np.einsum("snd,snd->sn", df, d)
        dd = bh[..., None] * df
        dbeta = h * g
        dh = beta * g
        dc1 = (self.dim - 1) * dlogdet / c1
        dc2 = dlogdet / c2
        hh = h * h
        dbeta += dc1 * h + dc2 * alpha * hh
        dalpha = dc2 * beta * hh
        dh += dc1 * beta + 2 * dc2 * beta * alpha * h
        dalpha -= dh * hh
        dr = -dh * hh
        dd += (dr / np.maximum(r, np.finfo(r.dtype).tiny))[..., None] * d
        dz = df + dd
        dz0 = -dd.sum(axis=0)
        dbeta = dbeta.sum(axis=0)
        dalpha = dalpha.sum(axis=0) - dbeta
        dalpha_raw = (dalpha * sigmoid(alpha_raw[:, 0]))[:, None]
        dbeta_raw = (dbeta * sigmoid(beta_raw[:, 0]))[:, None]
        return dz, [dz0, dalpha_raw, dbeta_raw], None

