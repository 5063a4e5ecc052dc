"""The standard four-file layout shared by MNIST and Fashion-MNIST.

    train-images-idx3-ubyte[.gz]   (60000, 28, 28) uint8
    train-labels-idx1-ubyte[.gz]   (60000,) uint8
    t10k-images-idx3-ubyte[.gz]    (10000, 28, 28) uint8
    t10k-labels-idx1-ubyte[.gz]    (10000,) uint8

Either the gzip or the uncompressed file is accepted for each.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, dataset_from_arrays
from .idx import read_idx

STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def find_idx_file(directory: Path, stem: str) -> Path | None:
    """directory/stem.gz if present, else directory/stem, else None."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def missing_files(directory: Path) -> list[str]:
    """Names of the four standard files not found in `directory` (gz or raw)."""
    return [f"{stem}.gz" for stem in STEMS.values() if find_idx_file(directory, stem) is None]


def read_split(directory: Path) -> dict[str, np.ndarray]:
    """Read and check the four files: images (N, 28, 28) uint8, labels (N,) uint8, 0..9."""
    arrays = {key: read_idx(find_idx_file(directory, stem)) for key, stem in STEMS.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        where = f"{directory}: {STEMS['x_' + split]} / {STEMS['y_' + split]}"
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{where}: images are {x.dtype} {x.shape}, expected uint8 (N, 28, 28)")
        if y.dtype != np.uint8 or y.shape != (x.shape[0],):
            raise ValueError(f"{where}: labels are {y.dtype} {y.shape}, expected uint8 ({x.shape[0]},)")
        if y.size and y.max() > 9:
            raise ValueError(f"{where}: label {int(y.max())} out of range 0..9")
    return arrays


def load_idx_directory(directory: Path, name: str, source: str, dtype) -> Dataset:
    """A Dataset from the four IDX files in `directory` (which must hold all four)."""
    arrays = read_split(directory)
    return dataset_from_arrays(arrays, name, source, dtype)
