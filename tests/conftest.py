"""Shared test set-up: headless matplotlib, modest hypothesis budgets, a small slice of the digits."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

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
