"""Download full MNIST into the numpyvae cache (a thin wrapper; the logic is numpyvae/datasets/fetch.py).

    python data_scripts/fetch_mnist.py [--dir DIR] [--timeout SECONDS]

Same as `python -m numpyvae.datasets.fetch`. Default directory:
$NUMPYVAE_DATA/mnist, else ~/.cache/numpyvae/mnist.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from numpyvae.datasets.fetch import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
