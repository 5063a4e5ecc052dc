"""im2col and col2im: a convolution's windows as the columns of one matrix, and the adjoint scatter.

The shared machinery of numpyvae.nn.conv's Conv2D and ConvTranspose2D (its module docstring
derives the layers from these two functions), in the same notation:

    cols[(c, p, q), (n, i, j)] = xp[n, c, sh·i + p, sw·j + q]       im2col: x (N, C, H, W) -> (C·kh·kw, N·Ho·Wo)
    x[n, c, h, w] = Σ over the (p, q, i, j) that copied pixel (h, w)  col2im: its adjoint, cols -> x

Both work channel-major, (C, N, H, W) in memory, the layout the layers' matmuls produce and
consume, and both can take a :class:`~numpyvae.nn.workspace.Workspace` whose buffers they reuse
across steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .workspace import Workspace

__all__ = ["Geometry", "im2col", "col2im", "channel_major", "from_channel_major"]


# =============================================================================
# geometry: kernel, stride, padding and the output sizes they imply
# =============================================================================

@dataclass(frozen=True)
class Geometry:
    """Kernel (kh, kw), stride (sh, sw) and zero padding (ph, pw) of one convolution."""
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int

    def conv_out(self, H: int, W: int) -> tuple[int, int]:
        """Output size of the convolution on an H×W input: floor((H + 2ph − kh)/sh) + 1, same for W."""
        return (H + 2 * self.ph - self.kh) // self.sh + 1, (W + 2 * self.pw - self.kw) // self.sw + 1

    def __str__(self) -> str:
        return f"kernel {self.kh}x{self.kw}, stride {self.sh}x{self.sw}, padding {self.ph}x{self.pw}"


# =============================================================================
# the shared machinery: layout changes, im2col, col2im
# =============================================================================

def channel_major(a: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """(N, C, H, W) -> (C, N·H·W): channel c's pixels of every example in row c.

    Free (a view) when ``a`` already lives channel-major in memory, as every output of the
    layers here does; otherwise one transposing copy (into a buffer of ``ws`` when given).
    """
    N, C, H, W = a.shape
    a_t = a.transpose(1, 0, 2, 3)
    if ws is None or a_t.flags.c_contiguous:
        return a_t.reshape(C, N * H * W)
    a_cm, _ = ws.take("channel_major", (C, N * H * W), a.dtype)
    np.copyto(a_cm.reshape(C, N, H, W), a_t)
    return a_cm


def from_channel_major(a_cm: np.ndarray, N: int, H: int, W: int) -> np.ndarray:
    """(C, N·H·W) -> the (N, C, H, W) view of the same memory (no copy)."""
    return a_cm.reshape(a_cm.shape[0], N, H, W).transpose(1, 0, 2, 3)


def _padded(x: np.ndarray, g: Geometry, ws: Workspace | None) -> np.ndarray:
    """x (N, C, H, W) zero-padded by (ph, pw), channel-major: xp (C, N, H + 2ph, W + 2pw).

    Writes the interior and zeroes only the four border strips, not the whole buffer, which may
    be a reused one (``ws``'s "pad").
    """
    N, C, H, W = x.shape
    shape = (C, N, H + 2 * g.ph, W + 2 * g.pw)
    xp = np.empty(shape, dtype=x.dtype) if ws is None else ws.take("pad", shape, x.dtype)[0]
    xp[:, :, :g.ph], xp[:, :, g.ph + H:] = 0, 0
    xp[:, :, g.ph:g.ph + H, :g.pw], xp[:, :, g.ph:g.ph + H, g.pw + W:] = 0, 0
    xp[:, :, g.ph:g.ph + H, g.pw:g.pw + W] = x.transpose(1, 0, 2, 3)
    return xp


def im2col(x: np.ndarray, g: Geometry, ws: Workspace | None = None) -> np.ndarray:
    """Copy every window of the padded input into a column.

    x: (N, C, H, W) -> cols: (C·kh·kw, N·Ho·Wo),  cols[(c, p, q), (n, i, j)] = xp[n, c, sh·i + p, sw·j + q].

    The windows are a strided *view* of xp (window (i, j) starts sh·i rows and sw·j columns in);
    the one copy lays them out for BLAS, into a buffer of ``ws`` when given (see
    :mod:`numpyvae.nn.workspace`; the result is then that buffer). That copy is
    the layer's peak temporary: kh·kw times the size of x (less by sh·sw).
    """
    N, C, H, W = x.shape
    # pad channel-major: the layout cols needs (without padding, a transposed view; the copy reads through it)
    xp = _padded(x, g, ws) if g.ph or g.pw else x.transpose(1, 0, 2, 3)
    Ho, Wo = (xp.shape[2] - g.kh) // g.sh + 1, (xp.shape[3] - g.kw) // g.sw + 1
    # windows[c, n, i, j, p, q] = xp[c, n, sh·i + p, sw·j + q]: one strided view, (C, N, Ho, Wo, kh, kw).
    # (sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw] is the same view, but it marks
    # it read-only, and NumPy caches a small object per such call: ~100 bytes per training step that
    # only stop growing after thousands of steps. The view is read once, by the copy below.)
    s0, s1, s2, s3 = xp.strides
    windows = as_strided(xp, (C, N, Ho, Wo, g.kh, g.kw), (s0, s1, g.sh * s2, g.sw * s3, s2, s3))
    shape = (C * g.kh * g.kw, N * Ho * Wo)
    cols = np.empty(shape, dtype=x.dtype) if ws is None else ws.take("cols", shape, x.dtype)[0]
    np.copyto(cols.reshape(C, g.kh, g.kw, N, Ho, Wo), windows.transpose(0, 4, 5, 1, 2, 3))
    return cols


def _inside(p: int, s: int, pad: int, n_windows: int, size: int) -> tuple[int, int]:
    """Windows i in [i0, i1) whose offset p lands inside the unpadded image: 0 <= s·i + p − pad < size."""
    i0 = max(0, -((p - pad) // s))                     # ceil((pad − p) / s), at least 0
    i1 = min(n_windows, (size - 1 + pad - p) // s + 1)
    return i0, max(i0, i1)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], g: Geometry,
           ws: Workspace | None = None, bias: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of im2col: add every column entry back onto the pixel it was copied from.

    cols: (C·kh·kw, N·Ho·Wo) -> x: (N, C, H, W),
        x[n, c, h, w] = Σ_{p, q, i, j : sh·i + p − ph = h, sw·j + q − pw = w} cols[(c, p, q), (n, i, j)].

    One strided slice-add per kernel offset (p, q): kh·kw whole-array additions, no loop over
    pixels or examples. (np.add.at does the same scatter in one call but ~10x slower.) Entries
    that im2col copied from the zero padding have no pixel to go back to: each offset's slice
    keeps only the windows that land inside the image (:func:`_inside`), so the sums go straight
    into a dense channel-major (C, N, H, W) buffer (from ``ws`` when given), no padded canvas to
    crop. Returns its (N, C, H, W) view.

    No zero fill when the kernel is at least the stride: in padded coordinates the first sh×sw
    offsets (p < sh, q < sw) land on disjoint pixels that tile rows [0, sh·Ho) × columns
    [0, sw·Wo), and each is the first term of its pixels' sums in the loop's order (the smallest
    p, then q, that reaches padded pixel (h, w) is (h mod sh, w mod sw)), so they are written, not
    added to zeros: the same sums, the same bits (up to the sign of an exact zero: −0 stays −0
    instead of 0 + −0 = +0). Only the strip beyond that tile, where the floor dropped rows,
    starts at zero.

    ``bias`` (C,), if given, is added to every pixel of its channel after the sums (ConvTranspose2D's b).
    """
    N, C, H, W = x_shape
    Ho, Wo = g.conv_out(H, W)
    shape = (C, N, H, W)
    x_cm = np.empty(shape, dtype=cols.dtype) if ws is None else ws.take("col2im", shape, cols.dtype)[0]
    tiled = g.kh >= g.sh and g.kw >= g.sw
    if tiled:                               # the tile ends at padded row sh·Ho, image row sh·Ho − ph
        h_end, w_end = max(0, min(H, g.sh * Ho - g.ph)), max(0, min(W, g.sw * Wo - g.pw))
        x_cm[:, :, h_end:], x_cm[:, :, :h_end, w_end:] = 0, 0
    else:                                   # a stride larger than the kernel skips pixels: they stay zero
        x_cm.fill(0)
    c6 = cols.reshape(C, g.kh, g.kw, N, Ho, Wo)
    for p in range(g.kh):
        i0, i1 = _inside(p, g.sh, g.ph, Ho, H)
        for q in range(g.kw):
            j0, j1 = _inside(q, g.sw, g.pw, Wo, W)
            if i0 == i1 or j0 == j1:
                continue
            # window (i, j) put offset (p, q) on pixel (sh·i + p − ph, sw·j + q − pw)
            h0, w0 = g.sh * i0 + p - g.ph, g.sw * j0 + q - g.pw
            pixels = x_cm[:, :, h0:h0 + g.sh * (i1 - i0 - 1) + 1:g.sh, w0:w0 + g.sw * (j1 - j0 - 1) + 1:g.sw]
            if tiled and p < g.sh and q < g.sw:
                pixels[...] = c6[:, p, q, :, i0:i1, j0:j1]
            else:
                pixels += c6[:, p, q, :, i0:i1, j0:j1]
    if bias is not None:
        x_cm += bias[:, None, None, None]
    return x_cm.transpose(1, 0, 2, 3)
