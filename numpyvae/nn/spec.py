"""Networks from a short text spec: "conv:32:3:2,conv:64:3:2,flatten,dense:16".

A spec is a comma-separated list of layers, applied in order; the activation of the
network goes after every layer with weights (conv, convt, dense), never after a reshape:

    conv:C:K[:S[:P]]          Conv2D to C channels, K×K kernel, stride S (1), zero padding P
                              (default K//2: "same" for odd K, H -> ceil(H/S))
    convt:C:K[:S[:P[:OP]]]    ConvTranspose2D to C channels; padding P (default K//2) and
                              output_padding OP (default S − 1 when P is left out, else 0):
                              the defaults give "same", H -> H·S, for odd K
    dense:D                   Dense to D features (its input must be flat: put "flatten" before it)
    flatten                   (C, H, W) -> (C·H·W)
    reshape:A[:B[:C]]         (A·B·C) -> (A, B, C)

Each layer's input channels come from the layer before it, so a network is fixed by the
spec and the input shape; :func:`build_network` walks the spec once with that shape and
refuses, naming the layer and the shapes, a kernel larger than its padded input, a conv
on flat features, a dense on images, a reshape whose size does not match.

The VAE uses two of them (see :func:`encoder_trunk`, :func:`decoder_trunk`, :func:`image_head`):
x stays flat (N, D) everywhere, so an encoder whose first layer is a conv starts with an
implicit Reshape to the data's (C, H, W) and ends flat (a Flatten is added if the spec ends
on images); a decoder whose spec ends on images (C', H, W) gets, per head of the likelihood,
``convt:C:3`` to the image's channels followed by Flatten, so every head is (…, D).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .activations import get_activation
from .conv import Conv2D, ConvTranspose2D
from .dense import Dense
from .init import DENSE_INITIALIZERS
from .sequential import Sequential, SequentialTape
from .shape import Flatten, Reshape

__all__ = ["LayerSpec", "parse_spec", "build_network", "step_cost", "vae_step_cost", "SpecNetwork", "encoder_trunk", "decoder_trunk",
           "image_head", "image_chw", "KINDS"]

#: kind -> (names of its integer arguments, how many are required)
KINDS = {
    "conv": (("channels", "kernel", "stride", "padding"), 2),
    "convt": (("channels", "kernel", "stride", "padding", "output_padding"), 2),
    "dense": (("size",), 1),
    "flatten": ((), 0),
    "reshape": (("size", "size", "size"), 1),
}
_MIN = {"channels": 1, "kernel": 1, "stride": 1, "padding": 0, "output_padding": 0, "size": 1}


class LayerSpec(NamedTuple):
    """One parsed layer: its kind, its integer arguments (as written) and the text it came from."""
    kind: str
    args: tuple
    text: str


def _usage(kind: str) -> str:
    names, required = KINDS[kind]
    return ":".join([kind, *(n.upper() if i < required else f"[{n.upper()}]" for i, n in enumerate(names))])


def parse_spec(spec, where: str = "spec") -> list[LayerSpec]:
    """Text (or a list of layer strings) -> [LayerSpec], syntax only; ValueError naming the bad layer.

    >>> parse_spec("conv:32:3:2,flatten,dense:16")[0]
    LayerSpec(kind='conv', args=(32, 3, 2), text='conv:32:3:2')
    """
    if isinstance(spec, str):
        tokens = [t.strip() for t in spec.split(",")]
    elif isinstance(spec, (list, tuple)) and all(isinstance(t, str) for t in spec):
        tokens = [t.strip() for t in spec]
    else:
        raise ValueError(f"{where}: a network spec is a string like 'conv:32:3:2,flatten,dense:16', "
                         f"got {spec!r} ({type(spec).__name__})")
    if not any(tokens):
        raise ValueError(f"{where}: the network spec is empty")
    layers = []
    for i, tok in enumerate(tokens):
        kind, *raw = tok.split(":")
        at = f"{where}: layer {i} {tok!r}"
        if kind not in KINDS:
            raise ValueError(f"{at}: unknown layer kind {kind!r}; use one of "
                             + ", ".join(_usage(k) for k in KINDS))
        names, required = KINDS[kind]
        if not required <= len(raw) <= len(names):
            raise ValueError(f"{at}: expected {_usage(kind)}, got {len(raw)} number(s)")
        args = []
        for name, text in zip(names, raw):
            if not (text.isascii() and text.isdigit()):       # plain digits: no sign, no spaces, no "1_0"
                raise ValueError(f"{at}: {name} must be an integer >= {_MIN[name]}, got {text!r}")
            value = int(text)
            if value < _MIN[name]:
                raise ValueError(f"{at}: {name} must be an integer >= {_MIN[name]}, got {value}")
            args.append(value)
        layers.append(LayerSpec(kind, tuple(args), tok))
    return layers


# =============================================================================
# from a spec and an input shape to layers
# =============================================================================

def _conv_shape(s: LayerSpec, shape: tuple, at: str):
    """Spec ``s`` (conv or convt) on per-example input ``shape`` (C, H, W): its checked arguments
    (c_out, kernel, stride, padding, output_padding) and output shape, without building the layer."""
    if len(shape) != 3:
        raise ValueError(f"{at} needs (C, H, W) images but its input has shape {shape}; "
                         f"put 'reshape:C:H:W' before it")
    c_in, H, W = shape
    c_out, k, stride, *rest = s.args + (1,) * (3 - len(s.args))
    padding = rest[0] if rest else k // 2
    if s.kind == "conv":
        if H + 2 * padding < k or W + 2 * padding < k:
            raise ValueError(f"{at}: kernel {k}x{k} is larger than the padded input {H + 2 * padding}x"
                             f"{W + 2 * padding} (input shape {shape}, padding {padding})")
        if padding >= min(H, W) or k - padding > min(H, W):
            # a kernel row i is at image row o·stride − padding + i of output o: row 0 never reaches the
            # image when padding >= H, row k−1 never when k − padding > H. Such weights only ever see the
            # zero padding, and the im2col matrix grows with k² (conv:4:99 on 28x28: 7.7M floats an image).
            raise ValueError(f"{at}: kernel {k}x{k} with padding {padding} is larger than the {H}x{W} image it "
                             f"slides over (input shape {shape}): some of its weights would only ever see the "
                             f"zero padding; use a kernel of at most {min(H, W)}x{min(H, W)}")
        Ho, Wo = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
        return (c_out, k, stride, padding, 0), (c_out, Ho, Wo)
    op = rest[1] if len(rest) > 1 else (stride - 1 if not rest else 0)
    if op >= stride:
        raise ValueError(f"{at}: output_padding {op} must be smaller than the stride {stride}")
    Ho, Wo = (H - 1) * stride - 2 * padding + k + op, (W - 1) * stride - 2 * padding + k + op
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{at}: the output (H − 1)·stride − 2·padding + kernel + output_padding = {Ho}x{Wo} "
                         f"is empty (input shape {shape}, padding {padding})")
    return (c_out, k, stride, padding, op), (c_out, Ho, Wo)


def _conv_layer(s: LayerSpec, shape: tuple, at: str, **kw):
    """The Conv2D / ConvTranspose2D of spec ``s`` on per-example input ``shape`` (C, H, W), and its output shape."""
    (c_out, k, stride, padding, op), out = _conv_shape(s, shape, at)
    if s.kind == "conv":
        return Conv2D(shape[0], c_out, k, stride, padding, **kw), out
    return ConvTranspose2D(shape[0], c_out, k, stride, padding, op, **kw), out


def _layer(s: LayerSpec, shape: tuple, at: str, init: str, rng, dtype):
    """(layer, output shape) for spec ``s`` on per-example input ``shape``."""
    if s.kind in ("conv", "convt"):
        if init in DENSE_INITIALIZERS and init != "pytorch":
            raise ValueError(f"{at}: initializer {init!r} is for Dense layers only; convolutions take "
                             "glorot_uniform, glorot_normal, he_uniform, he_normal or pytorch")
        return _conv_layer(s, shape, at, init=init, rng=rng, dtype=dtype)
    if s.kind == "dense":
        if len(shape) != 1:
            raise ValueError(f"{at} needs flat features but its input has shape {shape}; put 'flatten' before it")
        return Dense(shape[0], s.args[0], init=init, rng=rng, dtype=dtype), (s.args[0],)
    if s.kind == "flatten":
        if len(shape) == 1:
            raise ValueError(f"{at}: its input {shape} is already flat")
        return Flatten(len(shape)), (int(np.prod(shape)),)
    # reshape
    if int(np.prod(shape)) != int(np.prod(s.args)):
        raise ValueError(f"{at}: cannot reshape an input of shape {shape} ({int(np.prod(shape))} values) "
                         f"to {s.args} ({int(np.prod(s.args))} values)")
    return Reshape(s.args), tuple(s.args)


class SpecNetwork(Sequential):
    """A Sequential built from a spec; knows its input and output shapes (per example).

    Its backward with ``need_dx=False`` also spares every layer up to the first one with
    weights: an encoder that starts with Reshape then Conv2D skips the conv's col2im, whose
    only use would be the gradient with respect to the data.
    """

    def __init__(self, layers, in_shape: tuple, out_shape: tuple, floats: int = 0):
        super().__init__(layers)
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.floats = floats     # floats alive per example in one forward (outputs and im2col buffers), an estimate

    def backward(self, dy, tape: SequentialTape, *, need_dx: bool = True, accumulate: bool = False):
        if need_dx:
            return super().backward(dy, tape, accumulate=accumulate)
        first = next((i for i, (_, layer) in enumerate(self.layers) if layer.params), 0)
        for (_, layer), t in zip(reversed(self.layers[first + 1:]), reversed(tape.tapes[first + 1:])):
            dy = layer.backward(dy, t, accumulate=accumulate)
        self.layers[first][1].backward(dy, tape.tapes[first], need_dx=False, accumulate=accumulate)
        return None


def build_network(spec, in_shape, activation: str = "relu", *, init: str | None = None, rng=None,
                  dtype="float32", where: str = "network") -> SpecNetwork:
    """The network of ``spec`` on per-example inputs of shape ``in_shape``.

    Layers are named "<kind><position>" ("conv0", "dense3"; parameters "conv0.W"), activations
    "<layer>.<activation>". ``init`` None: He for ReLU-like activations, Glorot otherwise, as MLP.
    """
    specs = spec if isinstance(spec, list) and all(isinstance(s, LayerSpec) for s in spec) else parse_spec(spec, where)
    rng = rng if rng is not None else np.random.default_rng(0)
    if init is None:
        init = "he_uniform" if activation in ("relu", "leaky_relu", "elu") else "glorot_uniform"
    shape, layers, floats = tuple(int(s) for s in in_shape), [], 0
    for i, s in enumerate(specs):
        in_shape_i = shape
        layer, shape = _layer(s, shape, f"{where}: layer {i} {s.text!r}", init, rng, dtype)
        name = f"{s.kind}{i}"
        floats += 2 * int(np.prod(shape)) + _cols_floats(layer, in_shape_i, shape)
        layers.append((name, layer))
        if layer.params:
            layers.append((f"{name}.{activation}", get_activation(activation)))
    return SpecNetwork(layers, in_shape, shape, floats)


def _cols_floats(layer, in_shape, out_shape) -> int:
    """Per example, the im2col matrix of a Conv2D (C_in·kh·kw·Ho·Wo) or the W_col.T @ x product a
    ConvTranspose2D scatters (C_out·kh·kw·H·W); 0 for other layers."""
    if isinstance(layer, (Conv2D, ConvTranspose2D)):
        g = layer.geometry
        hw = out_shape[1] * out_shape[2] if isinstance(layer, Conv2D) else in_shape[1] * in_shape[2]
        c = layer.c_in if isinstance(layer, Conv2D) else layer.c_out
        return c * g.kh * g.kw * hw
    return 0


def step_cost(spec, in_shape, where: str = "network") -> tuple[int, int, tuple]:
    """(parameters, floats alive per example in one training step, output shape) of the network of
    ``spec`` on per-example inputs ``in_shape``, from the shapes alone: nothing is allocated, so
    :func:`numpyvae.run.memory.check_memory` can refuse a model before building it. The same checks
    (and errors) as :func:`build_network`.

    Per layer with weights: its output and its activation's (2·out) and the backward's gradients
    of both (2·out). A Conv2D also holds, in its tape and its workspace (numpyvae.nn.workspace),
    the im2col matrix and the backward's W_colᵀ·dy of the same size (2·cols), the padded input
    (padded) and dx (in); a ConvTranspose2D one buffer for the spread product W_colᵀ·x and
    im2col(dy) (cols), the padded dy (padded), and its input channel-major and dx (2·in).
    An estimate: tests/test_conv_loose_ends.py holds it within a factor 2 of tracemalloc's peak.
    """
    specs = spec if isinstance(spec, list) and all(isinstance(s, LayerSpec) for s in spec) else parse_spec(spec, where)
    shape, params, floats = tuple(int(s) for s in in_shape), 0, 0
    for i, s in enumerate(specs):
        at = f"{where}: layer {i} {s.text!r}"
        if s.kind in ("conv", "convt"):
            (c_out, k, stride, pad, _), out = _conv_shape(s, shape, at)
            c_in, H, W = shape
            params += c_in * c_out * k * k + c_out
            if s.kind == "conv":
                floats += 2 * c_in * k * k * out[1] * out[2] + c_in * (H + 2 * pad) * (W + 2 * pad) + c_in * H * W
            else:
                floats += c_out * k * k * H * W + c_out * (out[1] + 2 * pad) * (out[2] + 2 * pad) + 2 * c_in * H * W
            floats += 4 * int(np.prod(out))
        elif s.kind == "dense":
            if len(shape) != 1:
                raise ValueError(f"{at} needs flat features but its input has shape {shape}; put 'flatten' before it")
            params += (shape[0] + 1) * s.args[0]
            out = (s.args[0],)
            floats += 4 * s.args[0]
        else:                                   # flatten, reshape: checked by _layer, a copy at most
            out = _layer(s, shape, at, "glorot_uniform", None, "float32")[1]
            floats += 2 * int(np.prod(out))
        shape = out
    return params, floats, shape


def vae_step_cost(encoder: str, decoder: str, x_dim: int, z_dim: int, image_shape=None, *, hidden=(400,),
                  hidden_dec=None, enc_head_floats: int | None = None, dec_heads: int = 1) -> tuple[int, int, int]:
    """(parameters, floats per example in the encoder, floats per sample of z in the decoder) of a VAE
    whose encoder and/or decoder is a spec (an empty spec: the MLP of ``hidden`` / ``hidden_dec``).

    enc_head_floats: the posterior's head sizes summed (default 2·z_dim: mu and logvar);
    dec_heads: the likelihood's number of heads, each of x_dim features.
    """
    heads = 2 * z_dim if enc_head_floats is None else enc_head_floats
    hidden_dec = list(reversed(hidden)) if hidden_dec is None else list(hidden_dec)
    if encoder:
        specs = parse_spec(encoder, "encoder")
        chw = image_chw(image_shape, x_dim, "encoder") if _needs_images(specs) else (x_dim,)
        p_enc, f_enc, out = step_cost(specs, chw, "encoder")
        F = int(np.prod(out))
        f_enc += 2 * F + 2 * x_dim                  # a Flatten's copy at the end, the Reshape of x (a view) and dx
    else:
        sizes = [x_dim, *hidden]
        p_enc, f_enc, F = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])), 4 * sum(hidden), sizes[-1]
    p_enc += (F + 1) * heads
    f_enc += 2 * heads
    if decoder:
        p_dec, f_dec, out = step_cost(decoder, (z_dim,), "decoder")
        if len(out) == 3:                           # per head: convt:C:3 to the data's channels, then Flatten
            C, H, W = image_chw(image_shape, x_dim, "decoder")
            p_head, f_head, _ = step_cost([LayerSpec("convt", (C, 3, 1, 1), f"convt:{C}:3")], out, "decoder")
            p_dec, f_dec = p_dec + dec_heads * p_head, f_dec + dec_heads * (f_head + 2 * x_dim)
        else:
            p_dec, f_dec = p_dec + dec_heads * (out[0] + 1) * x_dim, f_dec + 2 * dec_heads * x_dim
    else:
        sizes = [z_dim, *hidden_dec]
        p_dec = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) + dec_heads * (sizes[-1] + 1) * x_dim
        f_dec = 4 * sum(hidden_dec) + 2 * dec_heads * x_dim
    return p_enc + p_dec, f_enc, f_dec


# =============================================================================
# the VAE's encoder and decoder
# =============================================================================

def image_chw(image_shape, x_dim: int, where: str) -> tuple[int, int, int]:
    """The data's (C, H, W) from an image shape (H, W) or (C, H, W), checked against x_dim = C·H·W.

    None: a square single-channel image, when x_dim is a square (784 -> (1, 28, 28)).
    """
    if image_shape is None:
        side = int(round(np.sqrt(x_dim)))
        if side * side != x_dim:
            raise ValueError(f"{where}: a convolutional network needs images; {x_dim} features are not a "
                             "square image, so give image_shape (H, W) or (C, H, W)")
        return 1, side, side
    chw = tuple(int(s) for s in image_shape)
    chw = (1, *chw) if len(chw) == 2 else chw
    if len(chw) != 3 or int(np.prod(chw)) != x_dim:
        raise ValueError(f"{where}: image_shape {tuple(image_shape)} does not give {x_dim} features per example")
    return chw


def _needs_images(specs) -> bool:
    return specs[0].kind in ("conv", "convt")


def encoder_trunk(spec, x_dim: int, image_shape, activation: str, *, init=None, rng=None, dtype="float32"):
    """x (..., D) -> features (..., F): [Reshape to (C, H, W) if the spec starts with a conv], the spec,
    [Flatten if it ends on images]. Returns the SpecNetwork; F = out_shape[0]."""
    where = "encoder"
    specs = parse_spec(spec, where)
    chw = image_chw(image_shape, x_dim, where) if _needs_images(specs) else (x_dim,)
    net = build_network(specs, chw, activation, init=init, rng=rng, dtype=dtype, where=where)
    if len(chw) > 1:                            # x stays flat outside: the network makes the images itself
        net.layers.insert(0, ("image", Reshape(chw)))
        net.in_shape = (x_dim,)
    if len(net.out_shape) > 1:
        net.layers.append(("flatten", Flatten(len(net.out_shape))))
        net.out_shape = (int(np.prod(net.out_shape)),)
    return net


def decoder_trunk(spec, z_dim: int, activation: str, *, init=None, rng=None, dtype="float32"):
    """z (..., K) -> the trunk's output, flat (..., F) or images (..., C', H, W): the spec itself."""
    return build_network(spec, (z_dim,), activation, init=init, rng=rng, dtype=dtype, where="decoder")


def image_head(trunk_shape: tuple, x_dim: int, image_shape, *, init: str, rng, dtype, kernel: int = 3):
    """One head of the decoder: the trunk's output -> (..., D).

    Flat trunk (F,): Dense(F, D). Image trunk (C', H, W): ConvTranspose2D(C', C, kernel, stride 1,
    padding kernel//2) to the image's C channels, then Flatten: (..., C, H, W) -> (..., D).
    """
    if len(trunk_shape) == 1:
        return Dense(trunk_shape[0], x_dim, init=init, rng=rng, dtype=dtype)
    C, H, W = image_chw(image_shape, x_dim, "decoder")
    if trunk_shape[1:] != (H, W):
        raise ValueError(f"decoder: the spec ends on images of shape {trunk_shape}, but the data's images are "
                         f"{H}x{W}; the head convt:{C}:{kernel} keeps the size, so the last layer must give "
                         f"(·, {H}, {W})")
    conv = ConvTranspose2D(trunk_shape[0], C, kernel, 1, kernel // 2, init=init, rng=rng, dtype=dtype)
    floats = 2 * x_dim + _cols_floats(conv, trunk_shape, (C, H, W))
    return SpecNetwork([("convt", conv), ("flatten", Flatten(3))], trunk_shape, (x_dim,), floats)
