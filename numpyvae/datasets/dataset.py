"""The one object every loader returns, and the uint8 -> float conversion."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import FLOAT_DTYPES, as_dtype


@dataclass
class Dataset:
    """A train/test split ready for a model.

    Attributes
    ----------
    name : str                  the name given to `load`, e.g. "digits"
    x_train : (N_train, D) float32 or float64
        Images are flattened 28x28 = 784 pixels in [0, 1]; ring points are 2-D.
    y_train : (N_train,) int64  class labels (digit 0-9, garment 0-9, ring octant 0-7)
    x_test, y_test : the same for the held-out examples
    image_shape : (28, 28) for images (x.reshape(-1, *image_shape) to draw), None otherwise
    source : str                where the data comes from and whom to credit
    z_train, z_test : (N, K) or None
        The true latent codes, for synthetic data (ring) only.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int] | None
    source: str
    z_train: np.ndarray | None = None
    z_test: np.ndarray | None = None

    def __post_init__(self):
        """Check both splits once, here, so that no loader or caller of the API can hand the trainer,
        evaluate or a plot data that would give a silent wrong answer (a NaN binarizes to 0)."""
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or y.shape != (x.shape[0],):
                raise ValueError(f"Dataset {self.name!r}: x_{split} {x.shape} and y_{split} {y.shape} "
                                 f"do not match; expected (N, D) and (N,)")
            if x.dtype not in FLOAT_DTYPES:
                raise ValueError(f"Dataset {self.name!r}: x_{split} has dtype {x.dtype.name}; numpyvae computes in "
                                 f"float32 or float64: convert it with x_{split}.astype('float32')")
            if not np.isfinite(x).all():
                bad = int(x.size - np.count_nonzero(np.isfinite(x)))
                raise ValueError(f"Dataset {self.name!r}: x_{split} contains {bad} non-finite value(s) (NaN or inf)")
            if y.dtype.kind not in "iu":
                raise ValueError(f"Dataset {self.name!r}: y_{split} must hold integer labels, got {y.dtype.name}")

    @property
    def dim(self) -> int:
        """D, the number of features per example (784 for images)."""
        return self.x_train.shape[1]

    def __repr__(self) -> str:  # the default repr would print whole arrays
        return (f"Dataset({self.name!r}, train {self.x_train.shape[0]}x{self.dim}, "
                f"test {self.x_test.shape[0]}x{self.dim}, {self.x_train.dtype.name}, "
                f"image_shape={self.image_shape})")


def images_to_float(images: np.ndarray, dtype) -> np.ndarray:
    """uint8 pixels (N, H, W) or (N, D) -> floats in [0, 1], shape (N, H*W), in `dtype`.

    Cast first, then divide in place, so float32 data never passes through a
    float64 temporary (that would double the memory of a 60k x 784 array).
    """
    dtype = as_dtype(dtype)
    x = images.reshape(images.shape[0], -1).astype(dtype)
    np.divide(x, dtype.type(255), out=x)
    return x


def labels_to_int(labels: np.ndarray) -> np.ndarray:
    """Labels as int64: uint8 labels overflow silently in arithmetic (e.g. 0 - 1 == 255)."""
    return labels.astype(np.int64)


def dataset_from_arrays(arrays: dict, name: str, source: str, dtype) -> Dataset:
    """A 28x28-image Dataset from uint8 arrays x_train, y_train, x_test, y_test, as floats in [0, 1]."""
    return Dataset(
        name=name,
        x_train=images_to_float(arrays["x_train"], dtype),
        y_train=labels_to_int(arrays["y_train"]),
        x_test=images_to_float(arrays["x_test"], dtype),
        y_test=labels_to_int(arrays["y_test"]),
        image_shape=(28, 28),
        source=source,
    )
