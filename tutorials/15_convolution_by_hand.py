# %% [markdown]
# # 15 · Convolution by hand: loops, im2col, the backward pass, the transposed convolution
#
# The convolutional VAE of the Keras examples reads a digit with two convolutions,
# `Conv(32, 3, stride 2)` then `Conv(64, 3, stride 2)` (28 → 14 → 7 pixels), and draws one
# with three *transposed* convolutions (7 → 14 → 28). A convolution is a Dense layer with two
# constraints: each output pixel looks only at a small window of the input, and every window
# uses the same weights. This tutorial builds `numpyvae.nn.conv.Conv2D` and `ConvTranspose2D`
# from the definition: first as loops, then as one matrix product (im2col), then backwards.
#
# ## The definition
#
# Images are NCHW arrays: $x \in \mathbb{R}^{N \times C_\text{in} \times H \times W}$. With a
# kernel $K \in \mathbb{R}^{C_\text{out} \times C_\text{in} \times k_h \times k_w}$ (PyTorch's
# layout; the code calls it `W`), stride $s$ and zero padding $p$ ($x_p$ is $x$ with $p$ zeros
# on every side),
#
# $$y_{n,o,i,j} = b_o + \sum_{c=1}^{C_\text{in}} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1} K_{o,c,u,v}\; x_{p\,n,c,\,s i + u,\, s j + v},
# \qquad H_\text{out} = \left\lfloor \frac{H + 2p - k_h}{s} \right\rfloor + 1 .$$
#
# (Strictly a cross-correlation: the kernel is not flipped. Every deep-learning library calls
# it a convolution; the flip will appear, honestly, in the backward pass.) Written as loops:

# %%
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae.datasets import load
from numpyvae.nn.conv import Conv2D, ConvTranspose2D, Geometry, col2im, im2col
from numpyvae.teach import exercises
from numpyvae.teach.gradcheck import check_gradients

rng = np.random.default_rng(0)


def pad(x, p):
    """Zero-pad the two image axes of (N, C, H, W) by p on every side."""
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def conv2d_loops(x, K, b, stride=1, padding=0):
    """The definition, one output pixel at a time. x (N, C_in, H, W), K (C_out, C_in, kh, kw), b (C_out,)."""
    N, _, H, W = x.shape
    C_out, _, kh, kw = K.shape
    xp = pad(x, padding)
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    y = np.empty((N, C_out, Ho, Wo))
    for n in range(N):
        for o in range(C_out):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, stride * i:stride * i + kh, stride * j:stride * j + kw]  # (C_in, kh, kw)
                    y[n, o, i, j] = b[o] + np.sum(K[o] * window)
    return y


# %% [markdown]
# Two hand-made kernels on a digit: a vertical-edge and a horizontal-edge detector (Sobel).
# Stride 1 and padding 1 keep the 28×28 size; stride 2 halves it, as in the VAE's encoder.

# %%
digits = load("digits").x_test[:8].reshape(-1, 1, 28, 28).astype(np.float64)
sobel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
K = np.stack([sobel, sobel.T])[:, None]                       # (C_out=2, C_in=1, 3, 3)
b = np.zeros(2)
edges = conv2d_loops(digits[:1], K, b, stride=1, padding=1)
edges_s2 = conv2d_loops(digits[:1], K, b, stride=2, padding=1)
print("one digit", digits[:1].shape, "-> stride 1:", edges.shape, " stride 2:", edges_s2.shape)

fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
panels = [(digits[0, 0], "digit 28x28", "gray"), (edges[0, 0], "vertical edges", "RdBu"),
          (edges[0, 1], "horizontal edges", "RdBu"), (edges_s2[0, 0], "vertical, stride 2: 14x14", "RdBu")]
for ax, (img, title, cmap) in zip(axes, panels):
    lim = np.abs(img).max()
    ax.imshow(img, cmap=cmap, vmin=0 if cmap == "gray" else -lim, vmax=lim)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
savefig(fig, "15_edges.png")

# %% [markdown]
# ![a digit and its edge maps](figures/15_edges.png)
#
# The library's `Conv2D` with these weights gives the same numbers:

# %%
layer = Conv2D(1, 2, 3, stride=1, padding=1, dtype="float64")
layer.params["W"][...] = K                                    # write into the arrays; never rebind them
y, tape = layer.forward(digits[:1])
print("max |loops - Conv2D| =", np.abs(y - edges).max())

# %% [markdown]
# ## im2col: every window becomes a column
#
# The loops compute $N \cdot C_\text{out} \cdot H_\text{out} W_\text{out}$ small dot products,
# each between one kernel (flattened to $C_\text{in} k_h k_w$ numbers) and one window. Put every
# window, flattened, into a column of a matrix, and the kernels into the rows of another:
#
# $$\text{cols}_{(c,u,v),\,(n,i,j)} = x_{p\,n,c,\,s i+u,\, s j+v}, \qquad W_{\text{col}\;o,(c,u,v)} = K_{o,c,u,v},
# \qquad y = W_\text{col}\,\text{cols} + b .$$
#
# One matrix product then does all the dot products at BLAS speed. A tiny example: a 4×4
# image, a 2×2 kernel, stride 1, so 3×3 windows of 4 pixels each.

# %%
tiny = np.arange(16.0).reshape(1, 1, 4, 4)
print(tiny[0, 0])
g = Geometry(kh=2, kw=2, sh=1, sw=1, ph=0, pw=0)
print("cols (rows: kernel tap (u, v); columns: window (i, j)):\n", im2col(tiny, g))

# %% [markdown]
# No window is copied in a Python loop. `sliding_window_view` builds *all* windows as a view
# of the same memory, with strides chosen so that stepping one window moves one pixel (and a
# stride-$s$ convolution keeps every $s$-th window); the single copy is the final reshape into
# the matrix BLAS wants:

# %%
views = sliding_window_view(tiny, (2, 2), axis=(2, 3))       # (N, C, 3, 3, 2, 2), no copy
print("window (1, 2):\n", views[0, 0, 1, 2], "\nshares memory with the image:", np.shares_memory(views, tiny))

# the whole forward pass: one im2col, one matmul
x = digits
cols = im2col(x, Geometry(3, 3, 2, 2, 1, 1))                 # (C_in·9, N·14·14)
y_cm = K.reshape(2, -1) @ cols                               # (C_out, N·14·14)
y_mat = y_cm.reshape(2, len(x), 14, 14).transpose(1, 0, 2, 3)
print("cols", cols.shape, "; max |im2col - loops| =", np.abs(y_mat - conv2d_loops(x, K, b, 2, 1)).max())

# %% [markdown]
# How much the loops cost: the same convolution, 8 channels in and out, on a batch of digits.

# %%
n_time = 4 if FAST else 32
xb = np.repeat(digits[:n_time], 8, axis=1)                   # (n, 8, 28, 28)
big = Conv2D(8, 8, 3, 1, 1, rng=rng, dtype="float64")
t0 = time.perf_counter()
y_loops = conv2d_loops(xb, big.params["W"], big.params["b"], 1, 1)
t_loops = time.perf_counter() - t0
big.forward(xb)                                              # warm up once, then take the best of 3
t_fast = np.inf
for _ in range(3):
    t0 = time.perf_counter()
    y_fast, _ = big.forward(xb)
    t_fast = min(t_fast, time.perf_counter() - t0)
print(f"{n_time} images, 8->8 channels: loops {1e3 * t_loops:.0f} ms, im2col + matmul {1e3 * t_fast:.1f} ms "
      f"({t_loops / t_fast:.0f}x); max difference {np.abs(y_loops - y_fast).max():.1e}")

# %% [markdown]
# ## The backward pass
#
# Given $\delta = \partial L/\partial y$, write $\delta_\text{cm}$ for $\delta$ as a
# $C_\text{out} \times (N H_\text{out} W_\text{out})$ matrix. The forward pass is a matrix
# product, so the Dense layer's rules apply to it (tutorial 02):
#
# $$\frac{\partial L}{\partial W_\text{col}} = \delta_\text{cm}\,\text{cols}^\top, \qquad
# \frac{\partial L}{\partial b_o} = \sum_{n,i,j} \delta_{n,o,i,j}, \qquad
# \frac{\partial L}{\partial\,\text{cols}} = W_\text{col}^\top\,\delta_\text{cm}.$$
#
# In indices the first reads $\partial L/\partial K_{o,c,u,v} = \sum_{n,i,j} \delta_{n,o,i,j}\,x_{p\,n,c,si+u,sj+v}$:
# a correlation of the input with $\delta$. The last step undoes im2col: a pixel was copied
# into every window that contains it, so its gradient is the **sum** over those copies.
# That scatter-add is `col2im`, the adjoint of im2col (one strided add per kernel tap, no
# loop over pixels):
#
# $$\frac{\partial L}{\partial x_{p\,n,c,h,w}} = \sum_{\substack{i,j,u,v:\\ si+u=h,\; sj+v=w}} \Big(\frac{\partial L}{\partial\,\text{cols}}\Big)_{(c,u,v),(n,i,j)} .$$
#
# ### The input gradient is a convolution with the flipped kernel
#
# For stride 1, substitute $u = h - i$:
# $\partial L/\partial x_{p\,n,c,h,w} = \sum_{o,i,j} \delta_{n,o,i,j} K_{o,c,h-i,w-j}$.
# That is again a correlation, of $\delta$ zero-padded by $k-1$, with the kernel **flipped**
# in both spatial axes and its channel axes **swapped** ($C_\text{out}$ is now the input).
# For stride $s$, first spread $\delta$ out with $s-1$ zeros between its entries. Check both
# against the layer:

# %%
def input_gradient_by_flipped_kernel(dy, K, x_shape, stride, padding):
    """dL/dx as a stride-1 correlation of (dilated, padded) dy with K flipped and channels swapped."""
    N, C_in, H, W = x_shape
    kh, kw = K.shape[2:]
    Ho, Wo = dy.shape[2:]
    dil = np.zeros((N, dy.shape[1], stride * (Ho - 1) + 1, stride * (Wo - 1) + 1))
    dil[:, :, ::stride, ::stride] = dy                        # s − 1 zeros between entries
    extra_h = (H + 2 * padding - kh) % stride                  # rows the forward's windows never reached
    extra_w = (W + 2 * padding - kw) % stride
    full = np.pad(dil, ((0, 0), (0, 0), (kh - 1, kh - 1 + extra_h), (kw - 1, kw - 1 + extra_w)))
    K_flip = K[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)         # (C_in, C_out, kh, kw)
    dxp = conv2d_loops(full, K_flip, np.zeros(C_in))           # gradient w.r.t. the padded input
    return dxp[:, :, padding:padding + H, padding:padding + W]


for stride, padding, H in [(1, 1, 6), (2, 1, 7), (2, 0, 8)]:
    conv = Conv2D(2, 3, 3, stride, padding, rng=rng, dtype="float64")
    x = rng.standard_normal((2, 2, H, H))
    y, tape = conv.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy, tape)
    dx_flip = input_gradient_by_flipped_kernel(dy, conv.params["W"], x.shape, stride, padding)
    print(f"stride {stride}, padding {padding}, {H}x{H}: max |col2im - flipped-kernel convolution| = "
          f"{np.abs(dx - dx_flip).max():.1e}")

# %% [markdown]
# And the finite-difference check the whole library relies on, for $x$, $K$ and $b$:

# %%
conv = Conv2D(2, 3, 3, stride=2, padding=1, rng=rng, dtype="float64")
conv.params["b"][:] = rng.standard_normal(3)
x = rng.standard_normal((2, 2, 7, 6))
y, tape = conv.forward(x)
dy = rng.standard_normal(y.shape)
dx = conv.backward(dy, tape)
print(check_gradients(lambda: float(np.sum(dy * conv.forward(x)[0])),
                      {"x": x, "W": conv.params["W"], "b": conv.params["b"]},
                      {"x": dx, "W": conv.grads["W"], "b": conv.grads["b"]}))

# %% [markdown]
# ## Exercise: conv2d_backward_dW
#
# Write the kernel gradient $\partial L/\partial K_{o,c,u,v} = \sum_{n,i,j} \delta_{n,o,i,j}\, x_{p\,n,c,si+u,sj+v}$
# for integer `stride` and `padding`. Either route works: the matrix form
# `dy_cm @ im2col(x, g).T` reshaped to $K$'s shape (mind the order of the axes of `dy_cm`:
# channel first, then $n, i, j$), or a loop over the $k_h k_w$ kernel taps, each an `einsum`
# of $\delta$ with the strided slice of $x_p$ that tap sees. The grader compares your function
# with central finite differences of $L = \sum \delta \odot \text{conv}(x, K)$ on a 5×6 input
# with stride 2 and padding 1 (6 + 2 − 3 is odd: the last padded column lies in no window).

# %%
# EXERCISE: conv2d_backward_dW — return dW (the shape of W) for y = conv(x, W), given dy = dL/dy
def conv2d_backward_dW(x, W, dy, stride, padding):
    raise NotImplementedError("dW[o, c, u, v] = sum over n, i, j of dy[n, o, i, j] * xp[n, c, s*i + u, s*j + v]")


conv2d_backward_dW = exercises.grade_or_solution("conv2d_backward_dW", conv2d_backward_dW)
# Your function agrees with the library's to rounding (~1e-15); the finite-difference stand-in,
# used while the exercise is not done, to ~1e-10: both well inside the grader's 1e-7.
dW = conv2d_backward_dW(x, conv.params["W"], dy, 2, 1)
dW_err = np.abs(dW - conv.grads["W"]).max() / np.abs(conv.grads["W"]).max()
print(f"relative difference from Conv2D.backward's dW: {dW_err:.1e}; agrees (< 1e-7): {dW_err < 1e-7}")

# %% [markdown]
# ## The transposed convolution is the adjoint
#
# Drop the bias: the convolution is a linear map $y = A x$ with
# $A = W_\text{col} \cdot \text{im2col}$, and we just computed $\partial L/\partial x = A^\top \delta$
# $= \text{col2im}(W_\text{col}^\top \delta_\text{cm})$. Using $A^\top$ as a layer of its own,
# $y = A^\top x + b$, maps a small image to a larger one: each input pixel stamps a
# kernel-weighted $k \times k$ patch onto the output, patches $s$ pixels apart, overlaps added.
# That is the **transposed convolution** of the VAE's decoder. `ConvTranspose2D`'s forward
# calls the very code of `Conv2D`'s input gradient, and its backward is `Conv2D`'s forward
# ($A^{\top\top} = A$): with the same kernel, the two agree bit for bit, and
# $\langle A x, y \rangle = \langle x, A^\top y \rangle$.

# %%
conv = Conv2D(32, 64, 3, stride=2, padding=1, rng=rng, dtype="float64")
x = rng.standard_normal((3, 32, 14, 14))
y, tape = conv.forward(x)
dy = rng.standard_normal(y.shape)
dx = conv.backward(dy, tape)
convT = ConvTranspose2D(64, 32, 3, stride=2, padding=1, output_padding=1, dtype="float64")
convT.params["W"][...] = conv.params["W"]                     # the same kernel array, (64, 32, 3, 3)
xT, _ = convT.forward(dy)
print("ConvTranspose2D.forward(dy) == Conv2D input gradient, bit for bit:", np.array_equal(xT, dx))
conv.params["b"][:] = 0.0
print(f"<A x, y> = {np.sum(conv.forward(x)[0] * dy):.12f}\n<x, Aᵀy> = {np.sum(x * convT.forward(dy)[0]):.12f}")

# %% [markdown]
# `output_padding` settles an ambiguity the floor in $H_\text{out}$ creates: a stride-2
# convolution sends both 13 and 14 pixels to 7, so its transpose must be told which to give
# back ($H_\text{out} = (H-1)s - 2p + k + \text{output\_padding}$). The decoder's three layers:

# %%
z_img = rng.standard_normal((1, 64, 7, 7)).astype(np.float32)
for layer in (ConvTranspose2D(64, 64, 3, 2, 1, 1, rng=rng), ConvTranspose2D(64, 32, 3, 2, 1, 1, rng=rng),
              ConvTranspose2D(32, 1, 3, 1, 1, rng=rng)):
    out, _ = layer.forward(z_img)
    print(f"{layer!r}: {z_img.shape} -> {out.shape}")
    z_img = out

# %% [markdown]
# Where the stamps overlap, they add. With a 3×3 kernel and stride 2, some output pixels get
# one stamp, some two, some four: a transposed convolution of a constant image with a constant
# kernel is not constant, the *checkerboard* pattern that trained decoders must learn to undo
# (Odena et al., 2016, "Deconvolution and checkerboard artifacts"). A single input pixel shows
# the stamp itself:

# %%
ones = ConvTranspose2D(1, 1, 3, stride=2, padding=1, output_padding=1, dtype="float64")
ones.params["W"][...] = 1.0
count, _ = ones.forward(np.ones((1, 1, 7, 7)))
one_pixel = np.zeros((1, 1, 7, 7))
one_pixel[0, 0, 3, 3] = 1.0
stamp_layer = ConvTranspose2D(1, 1, 3, stride=2, padding=1, output_padding=1, dtype="float64")
stamp_layer.params["W"][...] = sobel
stamp, _ = stamp_layer.forward(one_pixel)
fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
axes[0].imshow(count[0, 0], cmap="viridis")
axes[0].set_title("ones in, ones kernel: stamps per pixel", fontsize=9)
for (i, j), v in np.ndenumerate(count[0, 0]):
    axes[0].text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w")
axes[1].imshow(stamp[0, 0], cmap="RdBu", vmin=-2, vmax=2)
axes[1].set_title("one pixel in, Sobel kernel: its stamp", fontsize=9)
for ax in axes:
    ax.axis("off")
savefig(fig, "15_transposed.png")
print("stamps per output pixel:", sorted(set(count[0, 0].ravel().astype(int).tolist())))

# %% [markdown]
# ![overlap counts and a single stamp of a stride-2 transposed convolution](figures/15_transposed.png)
#
# **Take-aways.** A convolution is a matrix product once its windows are laid out as columns
# (im2col, a strided view plus one copy). Its backward is the Dense layer's, followed by the
# scatter-add that undoes im2col; for the input that amounts to a convolution with the flipped,
# channel-swapped kernel. The transposed convolution is that input gradient used as a layer,
# and its own backward is the convolution: two layers, one im2col, one col2im
# (`numpyvae/nn/conv.py`, derivations in the docstrings). Where the time goes is measured by
# `python data_scripts/bench_conv_layers.py`: the matrix products, plus the im2col copy and the
# col2im scatter.
