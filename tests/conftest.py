"""Shared test set-up: headless matplotlib, modest hypothesis budgets, a small slice of the digits."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
# One BLAS thread for every test and every CLI subprocess, unless the caller pins another count:
# OpenBLAS's float32 products differ in the last bits between thread counts (numpyvae/run/threads.py),
# so tests that compare two runs need a fixed count; and on a shared or busy machine one thread per
# test process is the fast choice (two collapse beside a busy core).
if not any(os.environ.get(v, "").strip() for v in ("NUMPYVAE_BLAS_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
    os.environ["NUMPYVAE_BLAS_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"      # read by OpenBLAS when NumPy loads, in this process and children

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from numpyvae.datasets import load  # noqa: E402
from numpyvae.datasets.dataset import Dataset  # noqa: E402

# In CI (CI=true) hypothesis draws the same examples every run, so that a landing never hangs on
# a rare draw; on a developer's machine it explores, and its database replays what it found.
settings.register_profile("numpyvae", max_examples=25, deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("numpyvae")


@pytest.fixture(scope="module")
def small_digits():
    """The first 600 training and 200 test digits: enough to train a small model in a second."""
    d = load("digits")
    return Dataset("digits", d.x_train[:600], d.y_train[:600], d.x_test[:200], d.y_test[:200],
                   d.image_shape, d.source)


@pytest.fixture
def small(small_digits, monkeypatch):
    """small_digits patched in where the trainer and the datasets package load a dataset by name."""
    import numpyvae.datasets
    import numpyvae.run.train
    monkeypatch.setattr(numpyvae.run.train, "load", lambda name, dtype=None: small_digits)
    monkeypatch.setattr(numpyvae.datasets, "load", lambda name, dtype=None: small_digits)
    return small_digits
