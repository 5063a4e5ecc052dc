"""Scratch buffers a layer keeps across training steps, handed out only when nobody else holds them.

Why: a convolution's largest arrays (the padded input, the im2col matrix, the col2im canvas)
are tens of MB at batch 128. Allocated afresh every step, each one comes from the operating
system as untouched pages, and the first write to every page costs a page fault: about a
tenth of a conv VAE's epoch on this project's machine. Kept from one step to the next, the
pages are already mapped.

Why it is safe: the network contract says a tape stays valid until its backward (a network may
run forward twice in one step, the VampPrior and ``accumulate=True`` do, and backward the first
tape after the second forward). So a buffer may be reused only when no tape, output or view
refers to it any more. CPython counts references: a buffer that only the workspace's own list
refers to has the reference count of a buffer nobody else holds (``_FREE``, measured below with
the same code path, not assumed). Any view of it (a tape's array, a layer's output, an
``as_strided`` window) holds its base and raises the count, so a buffer in use is never
handed out twice; the workspace then allocates another one.

Each role (e.g. "cols") keeps at most ``keep`` buffers, the most recently used, so a network
used on two batch shapes in one step (the VampPrior's data and pseudo-inputs) reuses both. A
buffer larger than ``max_buffer_bytes`` is never kept, and a request for one lets the role's free
buffers go, so an evaluation's large batches neither stay resident nor sit beside training's.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["Workspace"]


def _refcount_of_item(items: list, i: int) -> int:
    """The reference count of items[i] as seen from here (the list's reference and the call's)."""
    return sys.getrefcount(items[i])


#: the count of a buffer held by nothing but the workspace's list (measured, so it holds on any CPython)
_FREE = _refcount_of_item([np.empty(0)], 0)


class Workspace:
    """Per-layer buffers by role: ``take(role, shape, dtype)`` -> (array, fresh).

    ``fresh`` is True when the array was just allocated (then it is all zeros) and False when it
    is a reused one (then it holds whatever its last user left in it). Roles are names the
    caller picks; two uses of a layer's step that never overlap in time and have the same shape
    share one (a conv's padded input and its col2im canvas), so the workspace holds one buffer
    for both.

    A workspace is scratch, not state: copying a layer (``copy.deepcopy``, pickling) gives the
    copy an empty one, and backward never reads what a forward left in it. It is not for one
    layer run from two threads at once (numpyvae runs layers on one thread; only the optimizer
    uses helper threads).
    """

    #: the largest buffer kept, in bytes; larger ones are allocated per use, as plain NumPy would.
    #: A training batch's buffers fit (keras-conv at batch 128: 29 MB at most); an evaluation's
    #: batch of 1000 makes im2col matrices of hundreds of MB that should not stay resident.
    MAX_BUFFER_BYTES = 32 * 2 ** 20

    def __init__(self, keep: int = 2, max_buffer_bytes: int | None = None):
        self.keep = keep
        self.max_buffer_bytes = self.MAX_BUFFER_BYTES if max_buffer_bytes is None else int(max_buffer_bytes)
        self._roles: dict[str, list[np.ndarray]] = {}

    def take(self, role: str, shape: tuple, dtype) -> tuple[np.ndarray, bool]:
        """A C-contiguous array of ``shape`` and ``dtype`` that nobody else refers to."""
        shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        items = self._roles.setdefault(role, [])
        for i in range(len(items)):
            if items[i].shape == shape and items[i].dtype == dtype and _refcount_of_item(items, i) == _FREE:
                items.append(items.pop(i))              # most recently used last
                return items[-1], False
        too_large = int(np.prod(shape)) * dtype.itemsize > self.max_buffer_bytes
        if too_large:
            # An evaluation's large batch after training's: let the free buffers go, so they do not stay
            # resident beside it (busy ones stay listed; the next training step allocates them again).
            items[:] = [items[i] for i in range(len(items)) if _refcount_of_item(items, i) != _FREE]
            return np.zeros(shape, dtype), True        # too large to keep: used once, like any array
        # A keepable shape the free buffers do not have: keep the others too, up to ``keep``, so a
        # network used on two shapes in one step (data and the VampPrior's pseudo-inputs, each shape
        # backward after the other's forward) reuses both instead of trading one for the other twice.
        buf = np.zeros(shape, dtype)                    # zeros: fresh pages from calloc, touched on first write
        if len(items) >= self.keep:                     # let the least recently used go (a tape may still hold it)
            items.pop(0)
        items.append(buf)
        return buf, True

    def nbytes(self) -> int:
        """Bytes the workspace holds."""
        return sum(a.nbytes for items in self._roles.values() for a in items)

    def clear(self) -> None:
        """Let every buffer go (arrays still referred to elsewhere live on there)."""
        self._roles.clear()

    def __deepcopy__(self, memo) -> "Workspace":
        return Workspace(self.keep, self.max_buffer_bytes)

    def __getstate__(self) -> dict:
        return {"keep": self.keep, "max_buffer_bytes": self.max_buffer_bytes, "_roles": {}}
