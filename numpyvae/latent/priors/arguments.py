"""What every prior checks of its arguments: z, the upstream dlog_p, the random generator and a sample count."""
from __future__ import annotations

import numpy as np

from ...checks import check_array


def flatten_z(z, z_dim: int, where: str, dtype=None) -> np.ndarray:
    """Check z (S, N, K) or (N, K) and return it as (B, K), B = S·N (a view, no copy)."""
    check_array(z, where, ndim=(2, 3), last=z_dim, dtype=dtype, name="z")
    return z.reshape(-1, z_dim)


def check_dlog_p(dlog_p, shape: tuple, where: str) -> np.ndarray:
    """dlog_p must have log_p's shape; returned flattened to (B,)."""
    check_array(dlog_p, where, finite=False, name="dlog_p")
    if dlog_p.shape != shape:
        raise ValueError(f"{where}: dlog_p must have log_p's shape {shape}, got {dlog_p.shape}")
    return dlog_p.reshape(-1)



def check_sample_count(n, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{where}: n must be an integer >= 0, got {n!r}")
    return int(n)
