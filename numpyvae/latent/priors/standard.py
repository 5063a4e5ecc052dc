"""The standard normal prior p(z) = N(z; 0, I): no parameters, log p = −½ Σ_k (z_k² + log 2π)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_positive_int, check_rng
from .arguments import check_dlog_p, check_sample_count, flatten_z

LOG_2PI = float(np.log(2 * np.pi))


class StandardNormal:
    """p(z) = N(z; 0, I) on K = z_dim dimensions; no parameters.

    Works in the dtype of the z it is given (float32 in training, float64 in checks).
    """

    name = "standard"
    encoded = None              # reads nothing of the model's encoder

    def __init__(self, z_dim: int):
        self.z_dim = check_positive_int(z_dim, "StandardNormal", "z_dim")
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        return f"StandardNormal(z_dim={self.z_dim})"

    def log_prob(self, z: np.ndarray) -> tuple[np.ndarray, tuple]:
        """log N(z; 0, I) = −½ Σ_k (z_k² + log 2π): z (S, N, K) or (N, K) -> (S, N) or (N,)."""
        flatten_z(z, self.z_dim, "StandardNormal.log_prob")
        log_p = np.einsum("...k,...k->...", z, z)     # Σ_k z_k², without a z² temporary
        log_p += self.z_dim * LOG_2PI
        log_p *= -0.5
        return log_p, (z,)

    def backward(self, dlog_p: np.ndarray, tape: tuple) -> np.ndarray:
        """∂log p/∂z_k = −z_k, so dz = −dlog_p · z (shape of z)."""
        (z,) = tape
        check_dlog_p(dlog_p, z.shape[:-1], "StandardNormal.backward")
        dz = z * dlog_p[..., None]
        return np.negative(dz, out=dz)

    def components(self):
        """None: not a mixture (see :meth:`MixtureOfGaussians.components`)."""
        return None

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws, (n, K)."""
        n = check_sample_count(n, "StandardNormal.sample")
        rng = check_rng(rng, "StandardNormal.sample")
        return rng.standard_normal((n, self.z_dim), dtype=as_dtype(dtype))
