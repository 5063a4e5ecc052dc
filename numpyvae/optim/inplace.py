"""In-place arithmetic the update rules share: y ← y + a·x and θ ← θ − lr·g / (√acc + ε), no temporary.

Every line of an update rule writes into an existing buffer (``out=``), so a
step allocates nothing; these are the two compound lines more than one rule
needs.
"""
from __future__ import annotations

import numpy as np

__all__ = ["axpy", "scaled_step"]


def axpy(a: float, x: np.ndarray, y: np.ndarray, scratch: np.ndarray) -> None:
    """y ← y + a·x in place, without a temporary: two NumPy calls through ``scratch``.

    x, y, scratch : arrays of one shape and float dtype; ``scratch`` may be
    overwritten (it may be x itself, when x is not needed afterwards).

    Plain form: ``y += a * x``, which allocates a temporary of x's size on every
    step. NumPy has no fused multiply-add ufunc, so two calls are the least it
    can do. Why not BLAS's ``axpy`` (``scipy.linalg.blas.saxpy``: one pass, one
    rounding)? It was tried (issue 17): at one BLAS thread it saved about
    0.15 ms of a 5 ms step, but SciPy brings its own OpenBLAS with its own
    thread pool, and at two threads the two pools' spinning workers fought
    over the two cores: ``python -m numpyvae bench --threads 2`` went from
    2.4-2.7 s to 6.8-7.5 s per epoch on the project's 2-core machine.
    """
    np.multiply(x, a, out=scratch)
    np.add(y, scratch, out=y)


def scaled_step(theta, g, s, acc, lr: float, eps: float) -> None:
    """θ ← θ − lr·g / (√acc + ε), in place: the step RMSprop and Adagrad share.

    ``acc`` is the running mean (RMSprop) or sum (Adagrad) of g²; ``s`` is
    scratch of θ's shape. Plain form: ``theta -= lr * g / (np.sqrt(acc) + eps)``,
    which would allocate three temporaries per step. Five passes, none allocating.
    """
    np.sqrt(acc, out=s)
    np.add(s, eps, out=s)                      # s = √acc + ε
    np.divide(g, s, out=s)
    axpy(-lr, s, theta, s)                     # θ ← θ − lr·g / (√acc + ε)
