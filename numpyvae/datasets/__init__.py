"""Datasets for numpyvae, all usable offline except full MNIST.

    from numpyvae.datasets import load
    data = load("digits")            # 10,000 real MNIST digits, bundled
    data.x_train.shape               # (9000, 784), float32 in [0, 1]

Names: "digits", "fashion-mnist", "mnist", "ring" (see DATASETS).
Binarize for a Bernoulli decoder with binarize_static or binarize_dynamic.
Read IDX files directly with read_idx.
"""
from .binarize import binarize_dynamic, binarize_static
from .catalog import DATASETS, load
from .dataset import Dataset
from .idx import read_idx

__all__ = ["load", "read_idx", "Dataset", "binarize_static", "binarize_dynamic", "DATASETS"]
