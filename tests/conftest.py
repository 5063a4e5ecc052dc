"""Shared test set-up: headless matplotlib, modest hypothesis budgets."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

settings.register_profile("numpyvae", max_examples=25, deadline=None)
settings.load_profile("numpyvae")
