"""The labels a conditional VAE or M2 trains on, checked once where the trainer takes the data set."""
from __future__ import annotations

import numpy as np

__all__ = ["conditional_labels"]


def conditional_labels(data, name: str, what: str = "conditional"):
    """(y_train, y_test, C) of a dataset for a conditional VAE: integer labels in 0..C−1, C = max label + 1.

    Refuses a dataset without labels, labels that are not integers >= 0, a class 0..C−1 with no
    training example, and a test label >= C, by name.
    """
    y_train, y_test = data.y_train, data.y_test
    if y_train is None or y_test is None or len(y_train) != len(data.x_train) or len(y_test) != len(data.x_test):
        raise ValueError(f"{what}: dataset {name!r} has no label for every example; "
                         f"{'a conditional VAE' if what == 'conditional' else what} needs them")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.dtype.kind not in "iu" or y_test.dtype.kind not in "iu" or min(y_train.min(), y_test.min()) < 0:
        raise ValueError(f"{what}: dataset {name!r} labels must be integers >= 0")
    C = int(y_train.max()) + 1
    # Every class is learned from the training set: a class it never shows (a typo of 10**6 would make
    # a million-wide one-hot input) or a test label beyond its range is a mistake in the data.
    absent = np.setdiff1d(np.arange(C), y_train)
    if absent.size:
        raise ValueError(f"{what}: dataset {name!r}: classes {_ranges(absent)} have no training example "
                         f"(C = max label + 1 = {C}); labels must be 0..C−1, each seen in training")
    if y_test.max() >= C:
        raise ValueError(f"{what}: dataset {name!r}: the test labels reach {int(y_test.max())}, outside the "
                         f"training labels' 0..{C - 1}")
    return y_train.astype(np.int64), y_test.astype(np.int64), C


def _ranges(values) -> str:
    """[3, 4, 5, 9] -> "3..5, 9": sorted integers as runs."""
    runs, start = [], values[0]
    for a, b in zip(values, list(values[1:]) + [None]):
        if b != a + 1:
            runs.append(f"{start}..{a}" if a > start else f"{a}")
            start = b
    return ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
