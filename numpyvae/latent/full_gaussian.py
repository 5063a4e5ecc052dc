"""The full-covariance Gaussian q(z|x) = N(mu, L Lᵀ), and its KL to N(0, I).

A diagonal Gaussian cannot tilt: its contours are ellipses along the axes,
while true posteriors often correlate the latent dimensions. Letting the
encoder output a Cholesky factor L (lower triangular, positive diagonal) of
the covariance Σ = L Lᵀ fixes that at a cost of K(K−1)/2 extra outputs per
example (the AEVB paper's z = μ + Σ^½ ε with Σ^½ = L).

Heads, per example (what the encoder outputs):
    mu       K              the mean
    tril     K(K−1)/2       the strictly lower entries of L, row by row
                            (the order of np.tril_indices(K, −1))
    logdiag  K              log L_ii: exp keeps the diagonal positive

Reparameterization, eps ~ N(0, I) of shape (S, N, K):
    z = mu + L eps
    log q(z) = −½ (z − mu)ᵀ Σ⁻¹ (z − mu) − ½ log det Σ − (K/2) log 2π
             = −½ εᵀε − Σ_i log L_ii − (K/2) log 2π
because L⁻¹(z − mu) = eps and det Σ = (Π_i L_ii)². As for the diagonal
Gaussian, log q is computed from eps, never from z − mu (no cancellation).

With tril = 0 this is the diagonal Gaussian with logvar = 2 logdiag, and the
code is arranged so that it gives the same bits (tests/test_full_gaussian.py).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_positive_int
from .heads import check_grad, check_heads, check_noise

LOG_2PI = float(np.log(2 * np.pi))


class FullCovGaussian:
    """q(z|x) = N(mu, L Lᵀ) with L from the heads "tril" and "logdiag".

    Parameters
    ----------
    z_dim : int   K, the latent size

    No global parameters: everything comes from the encoder per example.
    """

    name = "full-gaussian"

    def __init__(self, z_dim: int):
        self.z_dim = K = check_positive_int(z_dim, "FullCovGaussian", "z_dim")
        self.heads = OrderedDict([("mu", K), ("tril", K * (K - 1) // 2), ("logdiag", K)])
        self.rows, self.cols = np.tril_indices(K, -1)      # where "tril" goes in L
        self.diag = np.arange(K)
        self.params: OrderedDict = OrderedDict()            # no learned global parameters
        self.grads: OrderedDict = OrderedDict()

    def __repr__(self) -> str:
        return f"FullCovGaussian(z_dim={self.z_dim})"

    # ------------------------------------------------------------------ noise
    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype="float32") -> np.ndarray:
        """eps ~ N(0, I), shape (S, N, K), drawn from ``rng`` in ``dtype``."""
        S = check_positive_int(n_samples, "FullCovGaussian.draw_noise", "n_samples")
        N = check_positive_int(n, "FullCovGaussian.draw_noise", "n")
        return rng.standard_normal((S, N, self.z_dim), dtype=as_dtype(dtype))

    # ------------------------------------------------------------------ L
    def cholesky(self, tril: np.ndarray, logdiag: np.ndarray) -> np.ndarray:
        """L (N, K, K): tril's entries below the diagonal, exp(logdiag) on it, zeros above."""
        N, K = logdiag.shape
        L = np.zeros((N, K, K), dtype=logdiag.dtype)
        L[:, self.rows, self.cols] = tril
        L[:, self.diag, self.diag] = np.exp(logdiag)
        return L

    # ------------------------------------------------------------------ sample
    def rsample(self, params, eps: np.ndarray):
        """z = mu + L eps and log q(z|x).

        params : [mu (N, K), tril (N, K(K−1)/2), logdiag (N, K)]
        eps : (S, N, K)
        Returns z (S, N, K), log_q (S, N), tape.
        """
        mu, tril, logdiag = check_heads(params, self.heads, "FullCovGaussian.rsample")
        check_noise(eps, mu.shape[0], (self.z_dim,), mu.dtype, "FullCovGaussian.rsample")
        K = self.z_dim
        L = self.cholesky(tril, logdiag)
        # z[s, n, i] = Σ_j L[n, i, j] eps[s, n, j]: one batched matmul over n,
        # (N, S, K) @ (N, K, K)ᵀ, then back to (S, N, K).
        z = np.matmul(eps.transpose(1, 0, 2), L.transpose(0, 2, 1)).transpose(1, 0, 2)
        z = np.ascontiguousarray(z)
        z += mu
        # −½ (εᵀε + 2 Σ log L_ii + K log 2π): the grouping of the diagonal
        # Gaussian's −½ Σ_k (eps² + logvar + log 2π), so tril = 0 gives its bits.
        log_q = -0.5 * (np.einsum("snk,snk->sn", eps, eps) + 2 * logdiag.sum(-1) + K * LOG_2PI)
        tape = (eps, L[:, self.diag, self.diag])            # eps and the diagonal L_ii
        return z, log_q, tape

    def backward(self, dz, dlog_q, tape) -> list:
        """Gradients [dmu, dtril, dlogdiag] of L given dz = ∂L/∂z and dlog_q = ∂L/∂log q.

        Path through z = mu + L eps (each sample s used the same mu and L):
            dmu       = Σ_s dz                                    (N, K)
            dL_ij     = Σ_s dz_i eps_j    = G_ij                  (N, K, K)
            dtril     = G at the strictly lower (i, j)
            dlogdiag_i = G_ii · L_ii      (L_ii = exp(logdiag_i), its own derivative)
        Path through log q = −½ εᵀε − Σ_i logdiag_i − const (eps held fixed):
            dlogdiag_i −= Σ_s dlog_q
        Either gradient may be None (that path is absent).
        """
        eps, l_diag = tape
        S, N, K = eps.shape
        check_grad(dz, eps.shape, "dz", "FullCovGaussian.backward")
        check_grad(dlog_q, (S, N), "dlog_q", "FullCovGaussian.backward")
        if dz is None:
            dmu = np.zeros((N, K), dtype=eps.dtype)
            dtril = np.zeros((N, len(self.rows)), dtype=eps.dtype)
            dlogdiag = np.zeros((N, K), dtype=eps.dtype)
        else:
            dmu = dz.sum(axis=0)
            # G[n, i, j] = Σ_s dz[s, n, i] eps[s, n, j]: (N, K, S) @ (N, S, K)
            G = np.matmul(dz.transpose(1, 2, 0), eps.transpose(1, 0, 2))
            dtril = G[:, self.rows, self.cols]
            dlogdiag = G[:, self.diag, self.diag] * l_diag
        if dlog_q is not None:
            dlogdiag -= dlog_q.sum(axis=0)[:, None]
        return [dmu, dtril, dlogdiag]

    def mean(self, params) -> np.ndarray:
        """The posterior mean mu, (N, K) (a copy)."""
        mu, _, _ = check_heads(params, self.heads, "FullCovGaussian.mean")
        return mu.copy()

    def covariance(self, params) -> np.ndarray:
        """Σ = L Lᵀ, (N, K, K): for plots and checks, not the training path."""
        _, tril, logdiag = check_heads(params, self.heads, "FullCovGaussian.covariance")
        L = self.cholesky(tril, logdiag)
        return L @ L.transpose(0, 2, 1)


class FullCovGaussianStandardNormalKL:
    """Analytic KL(N(mu, L Lᵀ) ‖ N(0, I)) per example, and its gradient.

        KL = ½ (tr Σ + μᵀμ − K − log det Σ)
           = ½ (tr L Lᵀ + μᵀμ − K) − Σ_i log L_ii

    with tr L Lᵀ = Σ_ij L_ij² = Σ_i e^{2 logdiag_i} + Σ tril². Grouped by
    dimension it reads
        KL = ½ Σ_i (mu_i² + (e^{2 logdiag_i} − 1) − 2 logdiag_i) + ½ Σ tril²,
    the diagonal Gaussian's KL at logvar = 2 logdiag plus a term for the
    off-diagonal entries; expm1 keeps it ≥ 0 when logdiag is tiny.

    Usage (the pair contract; built with no arguments, as kl.ANALYTIC_KL does):
        pair = FullCovGaussianStandardNormalKL()
        kl, tape = pair.forward(params);  dparams = pair.backward(dkl, tape)
    """

    def forward(self, params):
        """params [mu (N, K), tril (N, K(K−1)/2), logdiag (N, K)] -> (kl (N,), tape)."""
        if not isinstance(params, (list, tuple)) or len(params) != 3:
            raise ValueError("FullCovGaussianStandardNormalKL.forward: params must be [mu, tril, logdiag]")
        K = params[0].shape[-1] if isinstance(params[0], np.ndarray) and params[0].ndim == 2 else None
        if K is None:
            raise ValueError("FullCovGaussianStandardNormalKL.forward: mu must be an (N, K) array")
        heads = {"mu": K, "tril": K * (K - 1) // 2, "logdiag": K}
        mu, tril, logdiag = check_heads(params, heads, "FullCovGaussianStandardNormalKL.forward")
        two_l = 2 * logdiag
        kl = 0.5 * (mu * mu + (np.expm1(two_l) - two_l)).sum(-1)
        kl += 0.5 * (tril * tril).sum(-1)
        return kl, (mu, tril, two_l)

    def backward(self, dkl: np.ndarray, tape) -> list:
        """[dmu, dtril, dlogdiag] for ∂L/∂kl = dkl (N,).

            ∂KL/∂mu = mu,   ∂KL/∂tril = tril,
            ∂KL/∂logdiag_i = ½ (2 e^{2 logdiag_i} − 2) = expm1(2 logdiag_i)
        each times dkl_n.
        """
        mu, tril, two_l = tape
        if dkl is None:
            raise ValueError("FullCovGaussianStandardNormalKL.backward: dkl is required, an array of shape (N,)")
        check_grad(dkl, mu.shape[:1], "dkl", "FullCovGaussianStandardNormalKL.backward")
        d = dkl[:, None]
        return [d * mu, d * tril, d * np.expm1(two_l)]
