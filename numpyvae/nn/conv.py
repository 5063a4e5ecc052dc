"""2-D convolution and its adjoint, the transposed convolution, by hand on NCHW arrays.

Notation (the code uses the same names)
---------------------------------------
x      (N, C_in, H, W)            input images; xp is x zero-padded by (ph, pw) to (Hp, Wp)
Wt     (C_out, C_in, kh, kw)      the kernel, PyTorch's layout; stored as params["W"]
b      (C_out,)                   one bias per output channel
y      (N, C_out, Ho, Wo)         output, Ho = (Hp − kh) // sh + 1, Wo = (Wp − kw) // sw + 1

    y[n, o, i, j] = b[o] + Σ_{c, p, q} Wt[o, c, p, q] · xp[n, c, sh·i + p, sw·j + q]

(strictly a cross-correlation, as in every deep-learning library: the kernel is not flipped).

im2col turns this into one matrix product. Copy every kh×kw window of xp into a column:

    cols[(c, p, q), (n, i, j)] = xp[n, c, sh·i + p, sw·j + q]        cols: (C_in·kh·kw, N·Ho·Wo)
    W_col[o, (c, p, q)]        = Wt[o, c, p, q]                      W_col: (C_out, C_in·kh·kw)

    y_cm = W_col @ cols + b[:, None]                                  y_cm: (C_out, N·Ho·Wo)

y_cm is y in channel-major memory, (C_out, N, Ho, Wo); the layer hands it out as the NCHW view
``y_cm.reshape(C_out, N, Ho, Wo).transpose(1, 0, 2, 3)`` without a transposing copy. The next
layer reads it channel-major again (:func:`channel_major` is then free), and elementwise
activations keep the layout.

The adjoint of im2col is col2im: every column entry is added back onto the pixel it was copied
from. That scatter-add is the whole backward pass of the window copy, and (with W_col.T in front)
the forward pass of the transposed convolution:

    Conv2D.forward(x)            = W_col @ im2col(x)                  (+ b)
    Conv2D.backward, dx          = col2im(W_col.T @ dy_cm)
    ConvTranspose2D.forward(x)   = col2im(W_col.T @ x_cm)             (+ b)    (the same function)
    ConvTranspose2D.backward, dx = W_col @ im2col(dy)                          (the same function)

so the two layers share one im2col, one col2im (both in :mod:`numpyvae.nn.im2col`) and one
weight-gradient product.

Why floor: like PyTorch, Ho = floor((Hp − kh)/sh) + 1. When the stride does not divide Hp − kh,
the last (Hp − kh) mod sh rows of the padded input lie in no window: they do not affect y and
their gradient is 0 (the keras-io encoder's Conv(3, stride 2, padding 1) on 28 pixels is such a
case: 27/2 → 14 outputs). A transposed convolution resolves the same ambiguity the other way
with ``output_padding``: the number of such rows its output should have (0 ≤ output_padding < stride).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int
from .im2col import Geometry, channel_major, col2im, from_channel_major, im2col
from .init import get_initializer
from .workspace import Workspace

__all__ = ["Conv2D", "ConvTranspose2D", "Geometry", "im2col", "col2im", "channel_major",
           "from_channel_major", "conv_weight_init", "pytorch_conv_init"]


# =============================================================================
# argument checks, matmuls into place, initializers
# =============================================================================

def _pair(v, where: str, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> (v_h, v_w), each >= minimum, or a ValueError naming the setting."""
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    ok = len(vals) == 2 and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= minimum
                                for a in vals)
    if not ok:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum} or a pair of them, got {v!r}")
    return int(vals[0]), int(vals[1])


def _matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool) -> None:
    """out = a @ b (in place, no temporary), or out += a @ b."""
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)


def conv_weight_init(init: str, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
                     dtype) -> np.ndarray:
    """A kernel of ``shape`` drawn from initializer ``init`` with the given fans.

    numpyvae.nn.init's initializers take (rng, d_in, d_out, dtype) and return a (d_in, d_out)
    matrix whose variance is set by those two sizes (Glorot: 2/(d_in + d_out), He: 2/d_in).
    A kernel's fans are fan_in = C_in·kh·kw and fan_out = C_out·kh·kw, but it holds only
    C_out·C_in·kh·kw = fan_in·C_out values. So draw the (fan_in, fan_out) matrix and keep its
    first prod(shape) i.i.d. values: exactly the initializer's distribution for those fans,
    at kh·kw times the draws (milliseconds, once). A ``shape=`` argument in init.py would
    make the detour unnecessary.
    """
    full = get_initializer(init)(rng, fan_in, fan_out, dtype)
    size = int(np.prod(shape))
    return full.reshape(-1)[:size].reshape(shape).copy()


def pytorch_conv_init(rng: np.random.Generator, w_shape: tuple[int, int, int, int], c_out: int,
                      dtype) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's Conv2d / ConvTranspose2d default: W (w_shape) and b (c_out,) ~ U(±1/√fan_in), fan_in = W.shape[1]·kh·kw.

    PyTorch draws W with kaiming_uniform_(a=√5) and b from U(±1/√fan_in), both with
    fan_in = W.shape[1]·kh·kw (torch.nn.init._calculate_fan_in_and_fan_out; read in torch 2.14's
    source). kaiming_uniform_'s bound is gain·√(3/fan_in) with gain = √(2/(1 + a²)) = √(1/3),
    i.e. 1/√fan_in, the bias's bound too. W is drawn first, then b, as for Dense.

    W.shape[1] is C_in for Conv2D (W is (C_out, C_in, kh, kw)) but C_out for ConvTranspose2D
    (W is (C_in, C_out, kh, kw), PyTorch's layout): PyTorch applies the same rule to both, so a
    transposed convolution's fan_in is C_out·kh·kw, the fan_in of the Conv2D it is the adjoint of.
    """
    fan_in = w_shape[1] * w_shape[2] * w_shape[3]
    bound = 1.0 / np.sqrt(fan_in)
    W = rng.uniform(-bound, bound, size=w_shape).astype(dtype)
    b = rng.uniform(-bound, bound, size=c_out).astype(dtype)
    return W, b


# =============================================================================
# the layers
# =============================================================================

class ConvTape(NamedTuple):
    """What a convolution layer's backward needs from its forward.

    cols    : Conv2D: im2col(x), (C_in·kh·kw, N·Ho·Wo).  ConvTranspose2D: its input, channel-major,
              (C_in, N·H·W). Either way the left factor of the weight gradient.
    x_shape : the input's shape (leading axes included)
    """
    cols: np.ndarray
    x_shape: tuple


class _ConvBase:
    """Shared set-up and checks of Conv2D and ConvTranspose2D."""

    kind = "Conv"

    def __init__(self, c_in, c_out, kernel, stride, padding, w_shape, init, rng, dtype):
        where = f"{type(self).__name__}"
        self.c_in = check_positive_int(c_in, where, "c_in")
        self.c_out = check_positive_int(c_out, where, "c_out")
        kh, kw = _pair(kernel, where, "kernel", 1)
        sh, sw = _pair(stride, where, "stride", 1)
        ph, pw = _pair(padding, where, "padding", 0)
        self.geometry = Geometry(kh, kw, sh, sw, ph, pw)
        self.dtype = as_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        if init == "pytorch":
            self.params["W"], self.params["b"] = pytorch_conv_init(rng, w_shape, self.c_out, self.dtype)
        else:
            self.params["W"] = conv_weight_init(init, rng, w_shape, self.c_in * kh * kw, self.c_out * kh * kw,
                                                self.dtype)
            self.params["b"] = np.zeros(self.c_out, dtype=self.dtype)
        self.grads["W"] = np.zeros_like(self.params["W"])
        self.grads["b"] = np.zeros_like(self.params["b"])
        # scratch buffers reused across steps (never read by backward; see numpyvae.nn.workspace)
        self.workspace = Workspace()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.c_in}->{self.c_out}, {self.geometry})"

    def _W_col(self, which: str = "params") -> np.ndarray:
        """The kernel as a matrix: (C_out, C_in·kh·kw) for Conv2D, (C_in, C_out·kh·kw) for ConvTranspose2D.

        A view of params["W"] (or grads["W"]), which are contiguous, so writing into the
        gradient's matrix view writes the gradient.
        """
        W = getattr(self, which)["W"]
        if not W.flags.c_contiguous:        # reshape would copy, and a gradient written there would be lost
            raise RuntimeError(f"{self!r}: {which}['W'] must be C-contiguous (pack views are); it was rebound")
        return W.reshape(W.shape[0], -1)

    def _product(self, role: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b (m, k) @ (k, n) -> (m, n), written into a workspace buffer of ``role``."""
        out, _ = self.workspace.take(role, (a.shape[0], b.shape[1]), self.dtype)
        return np.matmul(a, b, out=out)

    def _check_x(self, x: np.ndarray, where: str) -> tuple[np.ndarray, tuple]:
        """Validate x (..., C_in, H, W); return it as (N, C_in, H, W) and its original shape."""
        check_array(x, where, dtype=self.dtype)
        if x.ndim < 4:
            raise ValueError(f"{where}: x must be (N, C, H, W) images (4 or more axes), got shape {x.shape}")
        if x.shape[-3] != self.c_in:
            raise ValueError(f"{where}: x has {x.shape[-3]} channels (axis -3) but the layer expects C_in={self.c_in}; "
                             f"input shape {x.shape}")
        return x.reshape((-1,) + x.shape[-3:]), x.shape

    def _check_dy(self, dy: np.ndarray, tape: ConvTape, where: str) -> np.ndarray:
        """Validate dy against the output shape the tape's input implies; return it as (N, C_out, Ho, Wo)."""
        if not isinstance(tape, ConvTape):
            raise TypeError(f"{where}: tape must be the ConvTape returned by forward, got {type(tape).__name__}")
        check_array(dy, where, finite=False, name="dy", dtype=self.dtype)
        want = tape.x_shape[:-3] + self._out_hw(tape.x_shape, where)
        if dy.shape != want:
            raise ValueError(f"{where}: dy must have the output's shape {want}, got {dy.shape}")
        return dy.reshape((-1,) + dy.shape[-3:])


class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation) of NCHW images, dilation 1.

    Parameters
    ----------
    c_in, c_out : int           channels in and out
    kernel : int or (kh, kw)
    stride : int or (sh, sw)    default 1
    padding : int or (ph, pw)   zeros added on every side, default 0
    init : str                  an initializer of numpyvae.nn.init, with fan_in = C_in·kh·kw, fan_out = C_out·kh·kw,
                                or "pytorch": W, b ~ U(±1/√(C_in·kh·kw)), PyTorch's Conv2d default
    rng : np.random.Generator   source of the initial weights
    dtype : "float32" | "float64"

    params["W"]: (C_out, C_in, kh, kw) as in PyTorch's Conv2d;  params["b"]: (C_out,).
    x: (..., C_in, H, W) -> y: (..., C_out, Ho, Wo), Ho = floor((H + 2ph − kh)/sh) + 1 (W alike).
    """

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, padding=0, *, init: str = "glorot_uniform",
                 rng: np.random.Generator | None = None, dtype="float32"):
        kh, kw = _pair(kernel, "Conv2D", "kernel", 1)
        super().__init__(c_in, c_out, kernel, stride, padding, (c_out, c_in, kh, kw), init, rng, dtype)

    def _out_hw(self, x_shape: tuple, where: str) -> tuple[int, int, int]:
        """(C_out, Ho, Wo) for an input of x_shape, or a ValueError if the kernel does not fit."""
        g, (H, W) = self.geometry, x_shape[-2:]
        if H + 2 * g.ph < g.kh or W + 2 * g.pw < g.kw:
            raise ValueError(f"{where}: kernel {g.kh}x{g.kw} is larger than the padded input "
                             f"{H + 2 * g.ph}x{W + 2 * g.pw} (input shape {x_shape}, padding {g.ph}x{g.pw})")
        return (self.c_out,) + g.conv_out(H, W)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ConvTape]:
        """x: (..., C_in, H, W) -> (y: (..., C_out, Ho, Wo), tape).

        y_cm = W_col @ cols + b, cols = im2col(x): one BLAS matmul for the whole batch.
        """
        where = f"{self!r}.forward"
        x4, x_shape = self._check_x(x, where)
        out_shape = x_shape[:-3] + self._out_hw(x_shape, where)
        cols = im2col(x4, self.geometry, self.workspace)          # (C_in·kh·kw, N·Ho·Wo)
        y_cm = self._product("y", self._W_col(), cols)            # (C_out, N·Ho·Wo)
        y_cm += self.params["b"][:, None]                         # in place: no second temporary
        y = from_channel_major(y_cm, x4.shape[0], *out_shape[-2:])
        return y.reshape(out_shape), ConvTape(cols, x_shape)

    def backward(self, dy: np.ndarray, tape: ConvTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """Gradients of y = conv(x; Wt) + b, in the notation of the module docstring.

        With dy_cm = dy channel-major, (C_out, N·Ho·Wo), and y_cm = W_col @ cols + b[:, None]:

            dL/dWt[o, c, p, q] = Σ_{n,i,j} dy[n, o, i, j] · xp[n, c, sh·i + p, sw·j + q]
                               -> dW_col = dy_cm @ cols.T                     (C_out, C_in·kh·kw)
            dL/db[o]           = Σ_{n,i,j} dy[n, o, i, j]
                               -> db = dy_cm.sum(1)                            (C_out,)
            dL/dcols[(c,p,q), (n,i,j)] = Σ_o Wt[o, c, p, q] · dy[n, o, i, j]
                               -> dcols = W_col.T @ dy_cm                      (C_in·kh·kw, N·Ho·Wo)
            dL/dxp[n, c, h, w] = Σ over the windows that copied pixel (h, w) of dcols
                               -> dx = col2im(dcols)                           (N, C_in, H, W)

        The last line is itself a convolution: for stride 1 it is the "full" correlation of dy
        (padded by kh − 1 − ph) with the kernel flipped in both spatial axes and its two channel
        axes swapped. That is exactly ConvTranspose2D's forward, which calls the same code.

        dW and db overwrite self.grads (accumulate=True adds to them). need_dx=False returns
        None and skips the dcols matmul and the col2im scatter.
        """
        where = f"{self!r}.backward"
        dy4 = self._check_dy(dy, tape, where)
        dy_cm = channel_major(dy4, self.workspace)                  # (C_out, N·Ho·Wo), free for our own outputs
        # dW_col = dy_cm @ cols.T, written into grads["W"] through its (C_out, C_in·kh·kw) view
        _matmul_into(dy_cm, tape.cols.T, self._W_col("grads"), accumulate)
        # db = dy_cm.sum(1)
        if accumulate:
            self.grads["b"] += dy_cm.sum(axis=1)
        else:
            np.sum(dy_cm, axis=1, out=self.grads["b"])
        if not need_dx:
            return None
        # dcols = W_col.T @ dy_cm, then dx = col2im(dcols): each window's share back onto its pixels
        dcols = self._product("dcols", self._W_col().T, dy_cm)
        dx = col2im(dcols, (dy4.shape[0],) + tape.x_shape[-3:], self.geometry, self.workspace)
        return dx.reshape(tape.x_shape)


class ConvTranspose2D(_ConvBase):
    """Transposed 2-D convolution: the adjoint of Conv2D, used to upsample in decoders.

    With the same kernel array, ConvTranspose2D(c_in, c_out, ...).forward is the input
    gradient of Conv2D(c_out, c_in, ...): it spreads every input pixel, weighted by the
    kernel, over a kh×kw patch of the output, patches sh, sw apart, and adds overlaps.

    Parameters
    ----------
    c_in, c_out : int              channels in and out
    kernel, stride, padding        as for Conv2D (padding is cropped from the output)
    output_padding : int or pair   extra rows/columns at the bottom/right of the output, 0 <= op < stride
    init, rng, dtype               as for Conv2D (fan_in = C_in·kh·kw, fan_out = C_out·kh·kw), but
                                   "pytorch" follows PyTorch's ConvTranspose2d: W, b ~ U(±1/√(C_out·kh·kw))

    params["W"]: (C_in, C_out, kh, kw) as in PyTorch's ConvTranspose2d;  params["b"]: (C_out,).
    x: (..., C_in, H, W) -> y: (..., C_out, Ho, Wo),  Ho = (H − 1)·sh − 2·ph + kh + oph (W alike).
    """

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, padding=0, output_padding=0, *,
                 init: str = "glorot_uniform", rng: np.random.Generator | None = None, dtype="float32"):
        kh, kw = _pair(kernel, "ConvTranspose2D", "kernel", 1)
        super().__init__(c_in, c_out, kernel, stride, padding, (c_in, c_out, kh, kw), init, rng, dtype)
        oph, opw = _pair(output_padding, "ConvTranspose2D", "output_padding", 0)
        g = self.geometry
        if oph >= g.sh or opw >= g.sw:
            raise ValueError(f"ConvTranspose2D: output_padding {oph}x{opw} must be smaller than the stride "
                             f"{g.sh}x{g.sw} (it picks one of the stride's possible output sizes)")
        self.output_padding = (oph, opw)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", output_padding {self.output_padding[0]}x{self.output_padding[1]})"

    def _out_hw(self, x_shape: tuple, where: str) -> tuple[int, int, int]:
        """(C_out, Ho, Wo) for an input of x_shape, or a ValueError if padding eats the whole output."""
        g, (H, W), (oph, opw) = self.geometry, x_shape[-2:], self.output_padding
        Ho = (H - 1) * g.sh - 2 * g.ph + g.kh + oph
        Wo = (W - 1) * g.sw - 2 * g.pw + g.kw + opw
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{where}: output size (H − 1)·stride − 2·padding + kernel + output_padding = "
                             f"{Ho}x{Wo} is empty for input shape {x_shape}")
        return self.c_out, Ho, Wo

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, ConvTape]:
        """x: (..., C_in, H, W) -> (y: (..., C_out, Ho, Wo), tape).

        y = col2im(W_col.T @ x_cm) + b, W_col = Wt.reshape(C_in, C_out·kh·kw), x_cm = x channel-major:
        each input pixel x[n, :, i, j] becomes the column W_col.T @ x[n, :, i, j] of kernel-weighted
        values, which col2im adds onto the output patch at (sh·i − ph, sw·j − pw).
        """
        where = f"{self!r}.forward"
        x4, x_shape = self._check_x(x, where)
        out_shape = x_shape[:-3] + self._out_hw(x_shape, where)
        x_cm = channel_major(x4, self.workspace)                   # (C_in, N·H·W)
        # "cols": the role of im2col(dy) in backward, the same shape; this product is free again after col2im
        y = col2im(self._product("cols", self._W_col().T, x_cm), (x4.shape[0],) + out_shape[-3:], self.geometry,
                   self.workspace, bias=self.params["b"])
        return y.reshape(out_shape), ConvTape(x_cm, x_shape)

    def backward(self, dy: np.ndarray, tape: ConvTape, *, need_dx: bool = True,
                 accumulate: bool = False) -> np.ndarray | None:
        """Gradients of y = col2im(W_col.T @ x_cm) + b.

        The adjoint of col2im is im2col, so with cols = im2col(dy), (C_out·kh·kw, N·H·W):

            dL/dx_cm = W_col @ cols         (C_in, N·H·W)     -- Conv2D's forward on dy
            dL/dW_col = x_cm @ cols.T       (C_in, C_out·kh·kw)
                 i.e. dL/dWt[c, o, p, q] = Σ_{n,i,j} x[n, c, i, j] · dyp[n, o, sh·i + p, sw·j + q]
            dL/db[o] = Σ_{n,h,w} dy[n, o, h, w]

        (y = Aᵀ x for the linear map A = W_col · im2col, so dL/dx = A dy.) dW and db overwrite
        self.grads (accumulate=True adds). need_dx=False skips the W_col @ cols matmul.
        """
        where = f"{self!r}.backward"
        dy4 = self._check_dy(dy, tape, where)
        cols = im2col(dy4, self.geometry, self.workspace)          # (C_out·kh·kw, N·H·W)
        # dW_col = x_cm @ cols.T, written into grads["W"] through its (C_in, C_out·kh·kw) view
        _matmul_into(tape.cols, cols.T, self._W_col("grads"), accumulate)
        # db[o] = Σ_{n,h,w} dy[n, o, h, w]
        if accumulate:
            self.grads["b"] += dy4.sum(axis=(0, 2, 3))
        else:
            np.sum(dy4, axis=(0, 2, 3), out=self.grads["b"])
        if not need_dx:
            return None
        # dx_cm = W_col @ cols: Conv2D's forward product, applied to dy
        N, _, H, W = dy4.shape[0], *tape.x_shape[-3:]
        dx = from_channel_major(self._product("dx", self._W_col(), cols), N, H, W)
        return dx.reshape(tape.x_shape)
