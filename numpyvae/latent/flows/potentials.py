"""The four 2-D test densities of Rezende & Mohamed (2015, Table 1), p*(z) ∝ exp(−U(z)), with dU/dz by hand.

With w1(z) = sin(2π z1 / 4), w2(z) = 3 exp(−½((z1 − 1)/0.6)²), w3(z) = 3 σ((z1 − 1)/0.3):

    U1(z) = ½((‖z‖ − 2)/0.4)² − log(exp(−½((z1 − 2)/0.6)²) + exp(−½((z1 + 2)/0.6)²))
    U2(z) = ½((z2 − w1)/0.4)²
    U3(z) = −log(exp(−½((z2 − w1)/0.35)²) + exp(−½((z2 − w1 + w2)/0.35)²))
    U4(z) = −log(exp(−½((z2 − w1)/0.4)²) + exp(−½((z2 − w1 + w3)/0.35)²))

Every one has the same shape: an optional ring term and "bumps" c_j(z) with widths s_j,

    U(z) = ring(z) − log Σ_j exp(a_j),   a_j = −½ (c_j(z)/s_j)²

(U2 is the one-bump case: −log exp(a) = ½(c/s)²). So one backward serves all four.

One change to the paper's U2, U3 and U4: nothing in them depends on z1 far from the origin,
so exp(−U) has the same mass over every z1 and is not integrable over the plane: Z = ∞, and
KL(q ‖ p*) is not defined (a q could lower E_q[log q + U] without end by spreading along z1).
The paper draws them on (−4, 4)²; here they are confined to that strip by a wall outside it,
    wall(z) = ½ ((|z1| − 4)₊ / 0.4)²
which is zero inside the box, so the pictures there are the paper's. U1 needs none: its ring
already holds it (at |z1| = 4 its ring term is ½(2/0.4)² = 12.5).

``log_normalizer`` computes log Z = log ∫ exp(−U) dz by the midpoint rule on a grid.
"""
from __future__ import annotations

import math

import numpy as np

from ...stable import sigmoid

__all__ = ["Potential", "POTENTIALS", "potential", "log_normalizer", "BOX", "WALL_SCALE"]

BOX = 4.0            # the paper's pictures show (−4, 4)²; U2–U4 are walled in to |z1| ≤ BOX
WALL_SCALE = 0.4     # the wall's width: ½((|z1| − BOX)₊ / WALL_SCALE)²
RING_RADIUS, RING_SCALE = 2.0, 0.4
QUARTER_TURN = math.pi / 2          # w1 = sin(2π z1 / 4) = sin(z1 · π/2)


def _w1(z1):
    """w1 = sin(π z1/2) and its derivative (π/2) cos(π z1/2)."""
    return np.sin(QUARTER_TURN * z1), QUARTER_TURN * np.cos(QUARTER_TURN * z1)


def _w2(z1):
    """w2 = 3 exp(−½((z1 − 1)/0.6)²) and its derivative −w2 (z1 − 1)/0.6²."""
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    return w2, -w2 * (z1 - 1) / 0.36


def _w3(z1):
    """w3 = 3 σ((z1 − 1)/0.3) and its derivative 3 σ (1 − σ)/0.3."""
    s = sigmoid((z1 - 1) / 0.3)
    return 3 * s, 3 * s * (1 - s) / 0.3


def _bumps(name: str, z1, z2):
    """[(c_j, ∂c_j/∂z1, ∂c_j/∂z2, s_j)] of U = ring − log Σ_j exp(−½(c_j/s_j)²)."""
    one, zero = np.ones_like(z1), np.zeros_like(z1)
    if name == "U1":
        return [(z1 - 2, one, zero, 0.6), (z1 + 2, one, zero, 0.6)]
    w1, dw1 = _w1(z1)
    if name == "U2":
        return [(z2 - w1, -dw1, one, 0.4)]
    if name == "U3":
        w2, dw2 = _w2(z1)
        return [(z2 - w1, -dw1, one, 0.35), (z2 - w1 + w2, dw2 - dw1, one, 0.35)]
    w3, dw3 = _w3(z1)
    return [(z2 - w1, -dw1, one, 0.4), (z2 - w1 + w3, dw3 - dw1, one, 0.35)]


class Potential:
    """U(z) of one of the paper's four densities (``name`` "U1" … "U4"), walled in as the module says.

    forward(z): z (..., 2) -> U (...), cache;   backward(dU, cache): dU (...) -> dz (..., 2).
    """

    def __init__(self, name: str):
        if name not in POTENTIALS:
            raise ValueError(f"Potential: name must be one of {', '.join(POTENTIALS)}, got {name!r}")
        self.name = name
        self.ring = name == "U1"
        self.wall = name != "U1"

    def __repr__(self) -> str:
        return f"Potential({self.name!r})"

    def __call__(self, z) -> np.ndarray:
        return self.forward(z)[0]

    def forward(self, z):
        """U at z (..., 2); the cache holds what backward needs."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape[-1:] != (2,):
            raise ValueError(f"Potential.forward: z must have shape (..., 2), got {z.shape}")
        z1, z2 = z[..., 0], z[..., 1]
        bumps = _bumps(self.name, z1, z2)
        a = np.stack([-0.5 * (c / s) ** 2 for c, _, _, s in bumps])       # (J, ...)
        top = a.max(axis=0)
        lse = top + np.log(np.exp(a - top).sum(axis=0))                    # log Σ_j exp(a_j), stable
        U = -lse
        r = outside = None
        if self.ring:
            r = np.sqrt(z1 * z1 + z2 * z2)
            U = U + 0.5 * ((r - RING_RADIUS) / RING_SCALE) ** 2
        if self.wall:
            outside = np.maximum(np.abs(z1) - BOX, 0.0)
            U = U + 0.5 * (outside / WALL_SCALE) ** 2
        return U, (z, bumps, np.exp(a - lse), r, outside)

    def backward(self, dU, cache) -> np.ndarray:
        """dz = dU ∂U/∂z.

        bumps:  ∂(−log Σ_j e^{a_j})/∂z = −Σ_j p_j ∂a_j/∂z,  p_j = e^{a_j − lse},
                a_j = −½ (c_j/s_j)²  ⇒  ∂a_j/∂z = −(c_j/s_j²) ∂c_j/∂z,
                so the bumps give Σ_j p_j (c_j/s_j²) ∂c_j/∂z
        ring:   ∂/∂z ½((r − 2)/0.4)² = ((r − 2)/0.4²) z / r      (r = 0 has probability zero;
                there r is replaced by the smallest positive float)
        wall:   ∂/∂z1 ½((|z1| − 4)₊/0.4)² = sign(z1) (|z1| − 4)₊ / 0.4²
        """
        z, bumps, p, r, outside = cache
        g1, g2 = np.zeros(z.shape[:-1]), np.zeros(z.shape[:-1])
        for pj, (c, dc1, dc2, s) in zip(p, bumps):
            weight = pj * c / (s * s)
            g1 += weight * dc1
            g2 += weight * dc2
        if r is not None:
            pull = (r - RING_RADIUS) / (RING_SCALE ** 2) / np.maximum(r, np.finfo(np.float64).tiny)
            g1 += pull * z[..., 0]
            g2 += pull * z[..., 1]
        if outside is not None:
            g1 += np.sign(z[..., 0]) * outside / (WALL_SCALE ** 2)
        dU = np.asarray(dU, dtype=np.float64)
        return np.stack([dU * g1, dU * g2], axis=-1)


POTENTIALS = ("U1", "U2", "U3", "U4")


def potential(name: str) -> Potential:
    """The potential by its name in the paper's Table 1: "U1", "U2", "U3" or "U4"."""
    return Potential(name)


def log_normalizer(U, *, half_width: float = 8.0, spacing: float = 0.01, rows: int = 200) -> float:
    """log Z = log ∫ exp(−U(z)) dz over the square (−half_width, half_width)², by the midpoint rule.

    U : a callable z (..., 2) -> (...) (a Potential, or any other); the grid has cells of side
    ``spacing``, summed ``rows`` grid rows at a time (a 1,600² grid never sits in memory at once).
    log Z = log Σ_cells exp(−U(centre)) + 2 log(spacing), the sum taken stably (log-sum-exp).
    The square must hold all but a negligible part of the mass: for the four potentials
    (walled in to |z1| ≤ 4 + a few 0.4, |z2| ≤ 4 + a few 0.35) 8 is ample.
    """
    if not (half_width > 0 and spacing > 0 and spacing < half_width):
        raise ValueError(f"log_normalizer: need 0 < spacing < half_width, got {spacing}, {half_width}")
    n = int(round(2 * half_width / spacing))
    centres = -half_width + spacing * (np.arange(n) + 0.5)
    total, top = 0.0, -np.inf
    for start in range(0, n, rows):                      # a running log-sum-exp over blocks of rows
        z1, z2 = np.meshgrid(centres[start:start + rows], centres, indexing="ij")
        minus_u = -np.asarray(U(np.stack([z1, z2], axis=-1)), dtype=np.float64)
        block_top = minus_u.max()
        if block_top > top:
            total *= math.exp(top - block_top) if math.isfinite(top) else 0.0
            top = block_top
        total += float(np.exp(minus_u - top).sum())
    return top + math.log(total) + 2 * math.log(spacing)
