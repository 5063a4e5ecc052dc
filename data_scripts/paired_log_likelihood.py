"""Compare runs on the same test digits, example by example: the mean difference of log p(x) and its
standard error over the paired differences (much smaller than either run's own ± over examples, since
the digits that are hard for one model are hard for the other).

    python data_scripts/paired_log_likelihood.py RUN_A RUN_B [RUN_C ...] --k 1000

Each run's log p(x) per test example is ``numpyvae.measure.vae_log_likelihood.log_likelihood`` on the run's own test set
(``run_test_data``, what ``evaluate`` measures) with the evaluator's default noise, so the means are
the ``evaluate --k`` numbers. Every run is compared with the first. Not imported by the package.
"""
from __future__ import annotations

import argparse

import numpy as np

from numpyvae.run.checkpoint import load_run
from numpyvae.measure.run_data import run_test_data
from numpyvae.measure.vae_log_likelihood import log_likelihood


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--k", type=int, default=1000)
    a = ap.parse_args()
    per_example = {}
    for run_dir in a.runs:
        run = load_run(run_dir)
        x, _, _, _ = run_test_data(run)
        per_example[run_dir] = log_likelihood(run.model, x, k=a.k, progress=False)
        ll = per_example[run_dir]
        print(f"{run_dir}: log p(x) {ll.mean():.2f} ± {ll.std(ddof=1) / np.sqrt(ll.size):.2f} (k = {a.k}, "
              f"{ll.size} test digits)", flush=True)
    first = a.runs[0]
    for run_dir in a.runs[1:]:
        d = per_example[run_dir] - per_example[first]
        print(f"{run_dir} − {first}: {d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(d.size):.2f} nats "
              f"(better on {np.mean(d > 0):.0%} of the digits)")


if __name__ == "__main__":
    main()
