"""One loading call for every dataset: load(name, dtype, **options)."""
from __future__ import annotations

from ..checks import as_dtype
from .dataset import Dataset
from .digits import load_digits
from .fashion import load_fashion_mnist
from .mnist import load_mnist
from .ring import load_ring

# name -> (loader, its options, one line for help texts)
DATASETS = {
    "digits": (load_digits, (), "10,000 real MNIST digits bundled with numpyvae, split 9,000/1,000 (offline)"),
    "fashion-mnist": (load_fashion_mnist, ("path",),
                      "Fashion-MNIST 60,000/10,000 from IDX files (apt-get install dataset-fashion-mnist)"),
    "mnist": (load_mnist, ("path",), "full MNIST 60,000/10,000 (fetch once: python -m numpyvae.datasets.fetch)"),
    "ring": (load_ring, ("n_train", "n_test", "seed"), "2-D toy data z ~ N(0, I), x = z/10 + z/||z||"),
}


def load(name: str = "digits", dtype="float32", **options) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : "digits" (default, bundled, offline), "fashion-mnist", "mnist" or "ring"
    dtype : "float32" (training) or "float64" (gradient checks)
    options : per dataset —
        fashion-mnist, mnist: path=DIR   (directory holding the four IDX files)
        ring: n_train=10000, n_test=1000, seed=0

    Returns
    -------
    Dataset with x_train (N, D), y_train (N,), x_test, y_test; images are
    D = 784 floats in [0, 1] (image_shape (28, 28)); ring points are D = 2.

    Raises
    ------
    ValueError on an unknown name, dtype or option; FileNotFoundError, naming
    the directory and the command that provides it, when data is not there.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    loader, allowed, _ = DATASETS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"load({name!r}): unknown option(s) {unknown}; "
                         f"this dataset accepts {list(allowed) or 'no options'}")
    return loader(as_dtype(dtype), **options)
