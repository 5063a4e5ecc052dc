"""AVB's critics T(x, z): an MLP on [x, z], or the reference code's inner product ⟨θ(x), s(z)⟩ + T_x(x) + T_z(z).

Both have one interface: ``forward(x, z) -> (T (N,), tape)``, ``backward(dT (N,), tape) -> dT/dz (N, K)``
(filling the networks' grads; x is data, so no dx), ``named_layers(prefix)``.

The inner-product critic is the adversary of Mescheder et al.'s code (avb/avb/models/*.py,
``T = reduce_sum(theta * s) + Tx + Tz``): two feature maps θ(x), s(z) of width H, and an x-only
and a z-only scalar network. Its optimum T* = log q(z|x) − log p(z) splits the same way for a
q whose log density is a sum of an x-part, a z-part and products of the two (a Gaussian's is).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn import MLP

__all__ = ["ConcatCritic", "InnerProductCritic", "make_critic"]


class ConcatCritic:
    """T(x, z) = MLP([x, z]) with one linear output: sizes [D + K, *hidden, 1]."""

    def __init__(self, x_dim: int, z_dim: int, hidden, activation: str, rng, dtype):
        self.x_dim = x_dim
        self.net = MLP([x_dim + z_dim, *hidden, 1], activation, final_activation=False, rng=rng, dtype=dtype,
                       pack=False)

    def named_layers(self, prefix: str = ""):
        return self.net.named_layers(prefix)

    def forward(self, x: np.ndarray, z: np.ndarray):
        """x (N, D), z (N, K) -> (T (N,), tape)."""
        t, tape = self.net.forward(np.concatenate([x, z], axis=1))
        return t[:, 0], tape

    def backward(self, dt: np.ndarray, tape, need_dz: bool = True):
        """dT (N,) -> ∂/∂z (N, K): the last K columns of ∂/∂[x, z] (None with need_dz=False)."""
        dxz = self.net.backward(dt[:, None], tape, need_dx=need_dz)
        return None if dxz is None else dxz[:, self.x_dim:]


class InnerTape(NamedTuple):
    theta: np.ndarray
    s: np.ndarray
    tapes: tuple


class InnerProductCritic:
    """T(x, z) = ⟨θ(x), s(z)⟩ + T_x(x) + T_z(z): θ, s MLPs to H features, T_x, T_z MLPs to one number.

    Each MLP has the hidden sizes ``hidden``; θ, T_x read x (D), s, T_z read z (K).
    """

    def __init__(self, x_dim: int, z_dim: int, hidden, activation: str, rng, dtype, width: int = 32):
        def mlp(d_in, d_out):
            return MLP([d_in, *hidden, d_out], activation, final_activation=False, rng=rng, dtype=dtype, pack=False)
        self.nets = {"theta": mlp(x_dim, width), "s": mlp(z_dim, width), "tx": mlp(x_dim, 1), "tz": mlp(z_dim, 1)}

    def named_layers(self, prefix: str = ""):
        for name, net in self.nets.items():
            yield from net.named_layers(f"{prefix}{name}.")

    def forward(self, x: np.ndarray, z: np.ndarray):
        """x (N, D), z (N, K) -> (T (N,), tape)."""
        n = self.nets
        (theta, t_th), (s, t_s), (tx, t_x), (tz, t_z) = (n["theta"].forward(x), n["s"].forward(z),
                                                         n["tx"].forward(x), n["tz"].forward(z))
        t = np.einsum("nh,nh->n", theta, s) + tx[:, 0] + tz[:, 0]
        return t, InnerTape(theta, s, (t_th, t_s, t_x, t_z))

    def backward(self, dt: np.ndarray, tape: InnerTape, need_dz: bool = True):
        """dT (N,) -> ∂/∂z (N, K).

        T = Σ_h θ_h s_h + T_x + T_z:  ∂T/∂θ = s,  ∂T/∂s = θ,  ∂T/∂T_x = ∂T/∂T_z = 1; z reaches T through s and T_z:
            dz = s.backward(dT ⊙ θ) + T_z.backward(dT)
        """
        n, (t_th, t_s, t_x, t_z) = self.nets, tape.tapes
        d = dt[:, None]
        n["theta"].backward(d * tape.s, t_th, need_dx=False)
        n["tx"].backward(d, t_x, need_dx=False)
        dz_s = n["s"].backward(d * tape.theta, t_s, need_dx=need_dz)
        dz_t = n["tz"].backward(d, t_z, need_dx=need_dz)
        return dz_s + dz_t if need_dz else None


def make_critic(kind: str, x_dim: int, z_dim: int, hidden, activation: str, rng, dtype):
    """"mlp" (T on [x, z]) or "inner" (the reference code's ⟨θ(x), s(z)⟩ + T_x(x) + T_z(z))."""
    if kind == "mlp":
        return ConcatCritic(x_dim, z_dim, hidden, activation, rng, dtype)
    if kind == "inner":
        return InnerProductCritic(x_dim, z_dim, hidden, activation, rng, dtype)
    raise ValueError(f"AVB: critic must be 'mlp' or 'inner', got {kind!r}")
