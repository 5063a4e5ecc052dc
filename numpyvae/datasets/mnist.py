"""Full MNIST (LeCun, Cortes & Burges): 60,000 training and 10,000 test digits.

Not bundled (11 MB compressed) and not reachable offline: a user with
internet fetches the four standard files once into a cache directory,

    python -m numpyvae.datasets.fetch          (or: python data_scripts/fetch_mnist.py)

which checks each against the SHA-256 below. The cache is
$NUMPYVAE_DATA/mnist if NUMPYVAE_DATA is set, else ~/.cache/numpyvae/mnist.
A file appears there under its final name only after its checksum passed
(fetch.py writes to a temporary file and renames it), so the loader does not
hash the files again; it does validate their IDX headers and lengths.
"""
from __future__ import annotations

import os
from pathlib import Path

from .dataset import Dataset
from .idx_split import load_idx_directory, missing_files

ENV_VAR = "NUMPYVAE_DATA"
FETCH_COMMAND = "python -m numpyvae.datasets.fetch  (or, in a source checkout, python data_scripts/fetch_mnist.py)"
SOURCE = "MNIST (Yann LeCun, Corinna Cortes & Christopher J.C. Burges; CC BY-SA 3.0); standard 60,000/10,000 split"

# Public mirrors of the original files (yann.lecun.com itself now often refuses downloads).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# SHA-256 of the four gzip files (sizes 9,912,422 / 28,881 / 1,648,877 / 4,542 bytes),
# the same sums torchvision and other loaders pin.
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def cache_root() -> Path:
    """$NUMPYVAE_DATA if set, else ~/.cache/numpyvae."""
    root = os.environ.get(ENV_VAR)
    return Path(root) if root else Path.home() / ".cache" / "numpyvae"


def mnist_dir() -> Path:
    """Where fetch puts MNIST and where load("mnist") looks for it."""
    return cache_root() / "mnist"


def load_mnist(dtype="float32", *, path=None) -> Dataset:
    """Load full MNIST from `path` or the cache: x (60000, 784) / (10000, 784) in [0, 1]."""
    directory = Path(path) if path is not None else mnist_dir()
    missing = missing_files(directory) if directory.is_dir() else list(SHA256)
    if missing:
        raise FileNotFoundError(
            f"MNIST not found in {directory} (missing {', '.join(missing)}). It needs a one-time "
            f"download (11 MB, internet): {FETCH_COMMAND}. Offline, use load('digits'), "
            f"10,000 real MNIST digits bundled with numpyvae.")
    return load_idx_directory(directory, "mnist", SOURCE, dtype)
