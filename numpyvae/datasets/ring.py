"""The lecture's toy data: a ring in 2-D made by a fixed map of a Gaussian.

    z ~ N(0, I_2),    x = z / 10 + z / ||z||

z / ||z|| puts every point on the unit circle; z / 10 adds a little radial
spread. A simple latent density turned into a complicated data density by a
deterministic function is exactly what a VAE's decoder must learn, and in 2-D
both can be drawn. The true z is returned too (Dataset.z_train, z_test).

Labels: the octant of the angle of z, 0..7 (angle in [k*45, (k+1)*45) degrees,
counted from the +x axis). x is z times a positive number, so x has the same
angle; colouring points by label shows whether the encoder kept the angle.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_positive_int
from .dataset import Dataset

SOURCE = "synthetic ring: z ~ N(0, I_2), x = z/10 + z/||z|| (the lecture's example)"


def ring_points(z: np.ndarray) -> np.ndarray:
    """x = z/10 + z/||z|| for z of shape (N, 2); returns (N, 2)."""
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return z / 10 + z / norm  # ||z|| = 0 has probability zero for Gaussian z


def octant(z: np.ndarray) -> np.ndarray:
    """(N,) int64 in 0..7: which 45-degree sector the angle of z falls in."""
    angle = np.arctan2(z[:, 1], z[:, 0]) % (2 * np.pi)   # in [0, 2*pi)
    return np.minimum((angle // (np.pi / 4)).astype(np.int64), 7)  # guard against rounding to 8


def load_ring(dtype="float32", *, n_train: int = 10_000, n_test: int = 1_000, seed: int = 0) -> Dataset:
    """Sample the ring: x (n_train, 2) and (n_test, 2), z alongside, octant labels.

    The train and test sets come from two independent streams spawned from
    `seed`, so changing n_train does not change the test set. Same seed and
    NumPy version, same numbers.
    """
    dtype = as_dtype(dtype)
    n_train = check_positive_int(n_train, "load('ring')", "n_train")
    n_test = check_positive_int(n_test, "load('ring')", "n_test")
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    z_train = np.random.default_rng(train_seed).standard_normal((n_train, 2))
    z_test = np.random.default_rng(test_seed).standard_normal((n_test, 2))
    return Dataset(
        name="ring",
        x_train=ring_points(z_train).astype(dtype), y_train=octant(z_train),
        x_test=ring_points(z_test).astype(dtype), y_test=octant(z_test),
        image_shape=None, source=SOURCE,
        z_train=z_train.astype(dtype), z_test=z_test.astype(dtype),
    )
