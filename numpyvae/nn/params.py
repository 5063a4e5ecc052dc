"""Named parameters stored in one flat buffer.

Every model exposes its arrays as an ordered dict ``name -> array``
(``"encoder.0.W"``, ...). Behind the names, :func:`pack` places all of them,
back to back, in one contiguous 1-D buffer, and each name is a *view* into it.

Why: an optimizer that walks 14 small arrays doing 8 NumPy calls on each spends
more time in Python than in arithmetic. With one buffer it can do the same
update in 8 calls in total (see :mod:`numpyvae.optim`). The plain version,
a loop over the names, gives the same numbers; the views just make it cheap.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


def pack(arrays: "OrderedDict[str, np.ndarray]", dtype=None) -> tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
    """Copy ``arrays`` into one new flat buffer; return ``(flat, views)``.

    ``views[name]`` has the shape of ``arrays[name]`` and shares memory with
    ``flat``, in the order of ``arrays``. ``flat`` has shape (P,), P the total
    number of values.
    """
    if dtype is None:
        dtype = next(iter(arrays.values())).dtype if arrays else np.float64
    total = sum(a.size for a in arrays.values())
    flat = np.empty(total, dtype=dtype)
    views: OrderedDict[str, np.ndarray] = OrderedDict()
    start = 0
    for name, a in arrays.items():
        view = flat[start:start + a.size].reshape(a.shape)
        view[...] = a
        views[name] = view
        start += a.size
    return flat, views


def flat_view(arrays: "OrderedDict[str, np.ndarray]") -> np.ndarray | None:
    """The 1-D buffer that ``arrays`` tile exactly, in order, or None if they do not.

    Lets code that was handed a dict find out whether it may work on all
    values at once. Returns None for anything :func:`pack` did not produce
    (separate arrays, gaps, another order).
    """
    if not arrays:
        return None
    first = next(iter(arrays.values()))
    base = first.base if first.base is not None else first
    while base.base is not None:
        base = base.base
    if base.ndim != 1 or not base.flags.c_contiguous:
        return None
    start = base.__array_interface__["data"][0]
    offset = 0
    for a in arrays.values():
        if a.dtype != base.dtype or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != start + offset * base.itemsize:
            return None
        offset += a.size
    if offset != base.size:
        return None
    return base


def zeros_like(arrays: "OrderedDict[str, np.ndarray]") -> tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
    """A zero flat buffer laid out like ``arrays``, with named views: ``(flat, views)``."""
    flat, views = pack(arrays)
    flat[...] = 0
    return flat, views
