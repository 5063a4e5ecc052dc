"""Input checks shared by the variational families: heads in, noise in.

Every family says what the encoder must produce as an ordered dict
``heads = {name: size per example}``; ``rsample`` then receives one array per
head, each (N, size), and noise eps (S, N, K). A mismatch is a bug in the
caller, so it is caught here with one line that names the family, the head
and both shapes, instead of a broadcasting error deep inside a flow.
"""
from __future__ import annotations

import numpy as np

from ..checks import FLOAT_DTYPES, check_array


def check_heads(params, heads: dict, where: str) -> list:
    """Check ``params`` against ``heads``; return it as a list of (N, size) arrays.

    All heads must be float arrays of one dtype with the same N.
    """
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"{where}: params must be a list of arrays, one per head {list(heads)}, "
                        f"got {type(params).__name__}")
    if len(params) != len(heads):
        raise ValueError(f"{where}: expected {len(heads)} head arrays {list(heads)}, got {len(params)}")
    params = list(params)
    n = dtype = None
    for p, (name, size) in zip(params, heads.items()):
        check_array(p, where, ndim=2, last=size, name=name)
        if p.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{where}: head {name} must be float32 or float64, got {p.dtype}")
        if n is None:
            n, dtype = p.shape[0], p.dtype
        elif p.shape[0] != n:
            raise ValueError(f"{where}: every head needs the same batch size N; "
                             f"head {name} has shape {p.shape}, the first head has N = {n}")
        elif p.dtype != dtype:
            raise ValueError(f"{where}: heads must share one dtype; head {name} is {p.dtype}, "
                             f"the first head is {dtype}")
    return params


def check_noise(eps, n: int, shape_tail: tuple, dtype, where: str) -> np.ndarray:
    """Check eps has shape (S, n, *shape_tail) and the heads' dtype."""
    check_array(eps, where, ndim=2 + len(shape_tail), name="eps")
    if eps.shape[1:] != (n,) + tuple(shape_tail):
        raise ValueError(f"{where}: eps must have shape (S, {n}, {', '.join(map(str, shape_tail))}) "
                         f"to match the heads, got {eps.shape}")
    if eps.dtype != dtype:
        raise ValueError(f"{where}: eps has dtype {eps.dtype} but the heads are {dtype}")
    return eps


def check_grad(g, shape: tuple, name: str, where: str):
    """None passes through; otherwise g must be an array of exactly ``shape``."""
    if g is None:
        return None
    check_array(g, where, finite=False, name=name)
    if g.shape != tuple(shape):
        raise ValueError(f"{where}: {name} must have shape {tuple(shape)} (as returned by rsample), got {g.shape}")
    return g
