"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 28x28 grey images of clothes.

A drop-in replacement for MNIST that is harder to fit, with the same file
layout. Debian ships it: `apt-get install dataset-fashion-mnist` puts the four
.gz files in /usr/share/datasets/fashion-mnist. Labels: 0 T-shirt/top,
1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag,
9 ankle boot.
"""
from __future__ import annotations

import os
from pathlib import Path

from .dataset import Dataset
from .idx_split import load_idx_directory, missing_files

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "NUMPYVAE_FASHION_MNIST"
CLASS_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
SOURCE = "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; Zalando SE, MIT licence); standard 60,000/10,000 split"
HOW_TO_GET = (f"install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs {DEFAULT_DIR}), "
              f"or download the four IDX files from https://github.com/zalandoresearch/fashion-mnist "
              f"and pass load('fashion-mnist', path=DIR) or set {ENV_VAR}=DIR")


def fashion_dir(path=None) -> Path:
    """Where to look: the `path` argument, else $NUMPYVAE_FASHION_MNIST, else the Debian location."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def load_fashion_mnist(dtype="float32", *, path=None) -> Dataset:
    """Load Fashion-MNIST: x (60000, 784) and (10000, 784) in [0, 1], labels 0..9."""
    directory = fashion_dir(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST directory not found: {directory}; {HOW_TO_GET}")
    missing = missing_files(directory)
    if missing:
        raise FileNotFoundError(f"Fashion-MNIST directory {directory} lacks {', '.join(missing)}; {HOW_TO_GET}")
    return load_idx_directory(directory, "fashion-mnist", SOURCE, dtype)
