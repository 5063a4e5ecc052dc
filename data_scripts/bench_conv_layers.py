"""Time Conv2D / ConvTranspose2D forward+backward against their matmuls alone (the BLAS bound).

    python data_scripts/bench_conv_layers.py [--batch 128] [--repeats 7] [--torch]

The layers are the keras-io convolutional VAE's, at batch 128, float32:

    encoder  Conv(1->32, 3, s2, p1)  28 -> 14     Conv(32->64, 3, s2, p1)  14 -> 7
    decoder  ConvT(64->64, 3, s2, p1, op1) 7 -> 14   ConvT(64->32, 3, s2, p1, op1) 14 -> 28
             ConvT(32->1, 3, s1, p1) 28 -> 28

For each layer it prints the best-of-N time of forward + backward (the first layer skips dx:
its input is data), the time of the same layer's matmuls alone on arrays of the same shapes
and memory layouts, and the time of the im2col copy and of the col2im scatter on their own
(with a reused workspace, as in the layers), so the gap between the two is accounted for.
``--torch`` adds PyTorch CPU on the same layers (if it is installed; it is not a dependency). Times are best-of-N CPU seconds of this process on
one thread (see CLOCK). A measurement, not a test: numbers depend on the
machine and its load; compare numbers from one run.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # before NumPy loads OpenBLAS; see CLOCK
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from numpyvae.nn.conv import Conv2D, ConvTranspose2D, channel_major, col2im, im2col  # noqa: E402
from numpyvae.nn.workspace import Workspace  # noqa: E402

LAYERS = [  # name, class, (c_in, c_out, kernel, stride, padding[, output_padding]), input H, need_dx
    ("Conv 1->32 s2 28->14", Conv2D, (1, 32, 3, 2, 1), 28, False),
    ("Conv 32->64 s2 14->7", Conv2D, (32, 64, 3, 2, 1), 14, True),
    ("ConvT 64->64 s2 7->14", ConvTranspose2D, (64, 64, 3, 2, 1, 1), 7, True),
    ("ConvT 64->32 s2 14->28", ConvTranspose2D, (64, 32, 3, 2, 1, 1), 14, True),
    ("ConvT 32->1 s1 28->28", ConvTranspose2D, (32, 1, 3, 1, 1), 28, True),
]


# CPU seconds of this process, not wall seconds: on a machine shared with other programs the
# wall clock also counts the time slices they take. With one BLAS thread (the default below)
# CPU time is what the same run takes on an idle core; with more threads it is their sum.
CLOCK = time.process_time


def best_of(fn, repeats: int) -> float:
    fn()                                                    # warm up (allocator, BLAS threads)
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return min(times)


def matmuls_of(layer, x, dy, need_dx):
    """The layer's matrix products, as (a, b) pairs with the layouts the layer passes to BLAS."""
    W_col = layer.params["W"].reshape(layer.params["W"].shape[0], -1)
    if isinstance(layer, Conv2D):
        cols, dy_cm = im2col(x, layer.geometry), channel_major(dy)
        pairs = [(W_col, cols), (dy_cm, cols.T)] + ([(W_col.T, dy_cm)] if need_dx else [])
    else:
        x_cm, cols = channel_major(x), im2col(dy, layer.geometry)
        pairs = [(W_col.T, x_cm), (x_cm, cols.T)] + ([(W_col, cols)] if need_dx else [])
    return [(np.ascontiguousarray(a) if a.flags.c_contiguous else a, b) for a, b in pairs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--torch", action="store_true", help="also time PyTorch CPU on the same layers")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"batch {args.batch}, float32, best of {args.repeats} in CPU ms, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'layer':<24} {'fwd+bwd ms':>10} {'matmuls ms':>10} {'ratio':>6} {'GFLOP/s':>8} "
          f"{'im2col ms':>9} {'col2im ms':>9} {'cols MB':>8}" + (f" {'torch ms':>9}" if args.torch else ""))
    tot = np.zeros(3)
    for name, cls, cfg, H, need_dx in LAYERS:
        layer = cls(*cfg, rng=rng, dtype="float32")
        x = rng.standard_normal((args.batch, cfg[0], H, H)).astype(np.float32)
        y, tape = layer.forward(x)
        dy = rng.standard_normal(y.shape).astype(np.float32)

        def step():
            _, t = layer.forward(x)
            layer.backward(dy, t, need_dx=need_dx)
        t_layer = best_of(step, args.repeats)
        pairs = matmuls_of(layer, x, dy, need_dx)
        flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs)
        t_mm = best_of(lambda: [a @ b for a, b in pairs], args.repeats)
        conv_side = x if cls is Conv2D else dy                 # the array im2col reads
        ws = Workspace()                                       # reused buffers, as the layers' own
        t_im2col = best_of(lambda: im2col(conv_side, layer.geometry, ws), args.repeats)
        scat = layer.params["W"].reshape(cfg[0] if cls is ConvTranspose2D else cfg[1], -1).T \
            @ channel_major(dy if cls is Conv2D else x)   # what col2im scatters
        back_shape = x.shape if cls is Conv2D else y.shape
        t_col2im = best_of(lambda: col2im(scat, back_shape, layer.geometry, ws), args.repeats) \
            if (need_dx or cls is ConvTranspose2D) else 0.0
        mb = im2col(conv_side, layer.geometry).nbytes / 1e6
        row = (f"{name:<24} {1e3 * t_layer:10.2f} {1e3 * t_mm:10.2f} {t_layer / t_mm:6.2f} {flops / t_mm / 1e9:8.1f} "
               f"{1e3 * t_im2col:9.2f} {1e3 * t_col2im:9.2f} {mb:8.1f}")
        if args.torch:
            row += f" {1e3 * torch_time(cls, cfg, x, dy, need_dx, args.repeats):9.2f}"
        print(row)
        tot += (t_layer, t_mm, flops / 1e9)
    print(f"{'all five':<24} {1e3 * tot[0]:10.2f} {1e3 * tot[1]:10.2f} {tot[0] / tot[1]:6.2f} {tot[2] / tot[1]:8.1f}")


def torch_time(cls, cfg, x, dy, need_dx, repeats):
    import torch
    torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
    m = (torch.nn.Conv2d(*cfg[:5]) if cls is Conv2D else
         torch.nn.ConvTranspose2d(*cfg[:5], output_padding=cfg[5] if len(cfg) > 5 else 0))
    tx, tdy = torch.from_numpy(x).requires_grad_(need_dx), torch.from_numpy(dy)

    def step():
        m.zero_grad(set_to_none=True)
        m(tx).backward(tdy)
    return best_of(step, repeats)


if __name__ == "__main__":
    main()
