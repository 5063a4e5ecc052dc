"""The benchmarks' data and machine readings, shared by the MLP bench and the conv bench."""
from __future__ import annotations

import os

import numpy as np

FULL_EXAMPLES = 60_000


def bench_data(n_examples: int = FULL_EXAMPLES, dtype="float32"):
    """(Dataset with n_examples training rows of 784 pixels, description of the source).

    Fashion-MNIST (60,000 training images) when installed; otherwise the
    bundled digits (9,000 training images) repeated row by row to n_examples.
    The test split is cut to 1,000 images: the benchmark never validates.
    """
    from ..datasets import load
    from ..datasets.dataset import Dataset
    try:
        data, source = load("fashion-mnist", dtype=dtype), "fashion-mnist"
    except (FileNotFoundError, OSError, ValueError):
        data, source = load("digits", dtype=dtype), "digits"
    n_have = data.x_train.shape[0]
    rows = np.arange(n_examples) % n_have
    x_train = data.x_train if n_examples == n_have else data.x_train[rows]
    y_train = data.y_train if n_examples == n_have else data.y_train[rows]
    if n_examples > n_have:
        source += f" ({n_have:,} images tiled to {n_examples:,})"
    elif n_examples < n_have:
        source += f" (first {n_examples:,} of {n_have:,} images)"
    return Dataset(data.name, x_train, y_train, data.x_test[:1000], data.y_test[:1000],
                   data.image_shape, data.source), source


def load_average() -> float | None:
    """The 1-minute load average, or None where the system does not say."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


#: variables some machines set to force an older OpenBLAS kernel than the one it would pick for the CPU
KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_kernel() -> str:
    """The CPU kernel NumPy's OpenBLAS runs ("Haswell", "SkylakeX", ...), and who chose it.

    OpenBLAS picks a kernel for the CPU when it loads, unless OPENBLAS_CORETYPE
    names one: some machines force an older kernel that way, because older
    OpenBLAS builds crash or compute wrong results on their CPUs. The matmul
    rate depends on it (AVX2 against AVX-512 kernels: about 1.7x on this
    project's machine, data_scripts/bench_gemms.py), so the benchmarks print it.
    """
    import ctypes
    import glob
    name = "unknown"
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")):
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                name = fn().decode()
                break
    forced = [f"{v}={os.environ[v]}" for v in KERNEL_VARS if v in os.environ]
    return name + (f" (set by {', '.join(forced)})" if forced else " (OpenBLAS's choice for this CPU)")
