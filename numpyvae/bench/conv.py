"""python -m numpyvae bench --arch keras-conv: time the convolutional VAE against its own BLAS bound.

The MLP benchmark's method (:mod:`numpyvae.bench.training`) applied to the keras-io conv VAE
(``--preset keras-conv``), with what convolutions add:

1. every matrix product of one training step, from the model's own layers and the input
   shapes they see (recorded on one real step): Conv2D forward ``W_col @ cols``, dW
   ``dy_cm @ cols.T``, dx ``W_col.T @ dy_cm``; ConvTranspose2D forward ``W_col.T @ x_cm``,
   dW ``x_cm @ cols.T``, dx ``W_col @ cols``; Dense as in the MLP bench. FLOPs = 2·m·k·n;
2. those products timed alone, in the same memory layouts (C-contiguous or a transposed view):
   ``steps × seconds per step`` is the BLAS bound of an epoch;
3. the im2col buffer, the largest temporary of a step (C·kh·kw × N·Ho·Wo floats), in MB;
4. the real training loop (the Trainer users run) for ``epochs`` epochs, timing inside it
   ``loss_and_grads``, ``optimizer.step``, every im2col copy, every col2im scatter (with
   ConvTranspose2D's bias add), every activation's forward and backward (ReLU on the feature
   maps, with its input check) and every Flatten/Reshape, so the gap between an epoch and its
   bound is accounted for: matmuls, im2col, col2im, activations, reshapes, the rest (bias sums,
   input checks of the conv layers, the likelihood, the latent layer, the batch gather), Adam;
5. the memory the conv layers keep across steps in their workspaces (numpyvae.nn.workspace):
   the im2col matrices, canvases and products they reuse instead of allocating each step.

Every time is CPU seconds of this process (see CLOCK), so run it with ``--threads 1``.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .data import bench_data, load_average
from .step_timing import Stopwatches, best_per_call

#: CPU seconds of this process, not wall seconds: on a shared machine the wall clock also counts the
#: time slices other programs take (at load 20 on 2 cores, 8x the CPU time). With one BLAS thread
#: (--threads 1) CPU time is what the same run takes on an idle core; with more it is their sum.
CLOCK = time.process_time


__all__ = ["conv_matmul_shapes", "measure_conv_matmuls", "run_conv_bench"]


def _layer_inputs(model, x):
    """{layer name: input shape} of every Dense / Conv2D / ConvTranspose2D, recorded on one forward."""
    from ..nn import Dense
    from ..nn.conv import Conv2D, ConvTranspose2D
    shapes, wrapped = {}, []
    for name, layer in model.named_layers():
        if isinstance(layer, (Dense, Conv2D, ConvTranspose2D)):
            fwd = layer.forward

            def record(a, _fwd=fwd, _name=name):
                shapes[_name] = a.shape
                return _fwd(a)
            layer.forward = record
            wrapped.append(layer)
    try:
        model.forward(x)
    finally:
        for layer in wrapped:
            del layer.forward
    return shapes


def conv_matmul_shapes(model, x) -> list[dict]:
    """Every matrix product of one training step on batch ``x``, in step order.

    Each entry: layer, op ("forward", "dW", "dx"), operand shapes a (m, k), b (k, n), their
    layouts ("C" or "T": a transposed view of a C-contiguous array, as the layers pass them),
    flops = 2·m·k·n. The first layer with weights has no dx (its input is the data).
    """
    from ..nn import Dense
    from ..nn.conv import Conv2D
    shapes = _layer_inputs(model, x)
    layers = dict(model.named_layers())
    ops = []
    for i, (name, shape) in enumerate(shapes.items()):
        layer = layers[name]
        if isinstance(layer, Dense):
            rows = int(np.prod(shape[:-1]))
            d_in, d_out = layer.d_in, layer.d_out
            mats = [("forward", (rows, d_in), (d_in, d_out), "CC"), ("dW", (d_in, rows), (rows, d_out), "TC"),
                    ("dx", (rows, d_out), (d_out, d_in), "CT")]
        else:
            g = layer.geometry
            n = int(np.prod(shape[:-3]))
            H, W = shape[-2:]
            kk = g.kh * g.kw
            if isinstance(layer, Conv2D):
                Ho, Wo = g.conv_out(H, W)
                P, ci, co = n * Ho * Wo, layer.c_in, layer.c_out
                mats = [("forward", (co, ci * kk), (ci * kk, P), "CC"),     # W_col @ cols
                        ("dW", (co, P), (P, ci * kk), "CT"),                # dy_cm @ cols.T
                        ("dx", (ci * kk, co), (co, P), "TC")]               # W_col.T @ dy_cm
            else:
                P, ci, co = n * H * W, layer.c_in, layer.c_out
                mats = [("forward", (co * kk, ci), (ci, P), "TC"),          # W_col.T @ x_cm
                        ("dW", (ci, P), (P, co * kk), "CT"),                # x_cm @ cols.T
                        ("dx", (ci, co * kk), (co * kk, P), "CC")]          # W_col @ cols
        for op, a, b, layout in mats:
            if op == "dx" and i == 0:
                continue
            ops.append(dict(layer=name, op=op, a=a, b=b, layout=layout, flops=2 * a[0] * a[1] * b[1]))
    return ops


def measure_conv_matmuls(ops, dtype="float32", *, repeats: int = 5, min_seconds: float = 0.3, seed: int = 0):
    """Seconds per step of the products alone (best of ``repeats``), and the GFLOP/s they reach."""
    rng = np.random.default_rng(seed)
    calls = []
    for op in ops:
        (m, k), (_, n) = op["a"], op["b"]
        a = rng.standard_normal((m, k) if op["layout"][0] == "C" else (k, m), dtype=dtype)
        b = rng.standard_normal((k, n) if op["layout"][1] == "C" else (n, k), dtype=dtype)
        calls.append((a if op["layout"][0] == "C" else a.T, b if op["layout"][1] == "C" else b.T,
                      np.empty((m, n), dtype)))

    def run_all():
        for a, b, out in calls:
            np.matmul(a, b, out=out)
    best = best_per_call(run_all, repeats=repeats, min_seconds=min_seconds, clock=CLOCK)
    flops = sum(op["flops"] for op in ops)
    return dict(seconds_per_step=best, flops_per_step=flops, gflops=flops / best / 1e9)


def run_conv_bench(*, epochs: int = 2, examples: int = 4096, batch_size: int = 128, seed: int = 0,
                   dtype: str = "float32", matmul_repeats: int = 5, matmul_seconds: float = 0.3, log=print) -> dict:
    """Train the keras-conv preset's VAE for ``epochs`` epochs of ``examples`` digits and account for the time."""
    from ..run.presets import PRESETS
    from ..nn import conv as conv_module
    from ..run.train import TrainConfig, Trainer
    say = log or (lambda *a, **k: None)
    load_before = load_average()
    data, source = bench_data(examples, dtype)
    settings = dict(PRESETS["keras-conv"], epochs=epochs, batch_size=batch_size, seed=seed, dtype=dtype)
    cfg = TrainConfig(dataset="fashion-mnist" if source.startswith("fashion") else "digits", **settings)
    trainer = Trainer(cfg, data=data, quiet=True)
    model, steps = trainer.model, trainer.x_train.shape[0] // batch_size
    ops = conv_matmul_shapes(model, trainer.x_train[:batch_size])
    # the im2col matrix of every conv layer is the b operand of its dW product (cols.T, layout "CT")
    cols_bytes = max(op["b"][0] * op["b"][1] for op in ops if op["op"] == "dW" and op["layout"] == "CT")
    cols_bytes *= np.dtype(dtype).itemsize
    say(f"numpyvae bench --arch keras-conv: encoder [{cfg.encoder}] z {cfg.z_dim} decoder [{cfg.decoder}], "
        f"{model.flat_params.size:,} parameters, batch {batch_size}, adam, {dtype}")
    say(f"data: {source}, {trainer.x_train.shape[0]:,} examples = {steps} steps per epoch")
    say(f"threads: BLAS {trainer.blas.threads} ({'pinned' if trainer.blas.fixed else 'chosen by numpyvae'}; "
        f"{os.cpu_count()} CPUs); load average (1 min) {load_before}")
    mm = measure_conv_matmuls(ops, dtype, repeats=matmul_repeats, min_seconds=matmul_seconds)
    bound = steps * mm["seconds_per_step"]
    say(f"matmuls per step: {len(ops)}, {mm['flops_per_step'] / 1e9:.2f} GFLOP "
        f"(conv and convt: {sum(o['flops'] for o in ops if 'conv' in o['layer']) / 1e9:.2f})")
    say(f"these matmuls alone: {mm['gflops']:.1f} GFLOP/s, {mm['seconds_per_step'] * 1e3:.1f} ms per step "
        f"-> BLAS bound {bound:.2f} s per epoch")
    say(f"largest im2col buffer (the peak temporary of a step): {cols_bytes / 2 ** 20:.1f} MB, "
        f"kept in its layer's workspace and reused every step")

    from ..nn.activations import Activation
    from ..nn.shape import Flatten, Reshape
    watch = Stopwatches(CLOCK)
    watch.add("forward+backward", model, "loss_and_grads")
    watch.add("optimizer", trainer.optimizer, "step")
    watch.add("im2col", conv_module, "im2col")               # the layers call them through the module
    watch.add("col2im", conv_module, "col2im")
    watch.add_layers("activations", [model], Activation)
    watch.add_layers("reshapes", [model], (Flatten, Reshape))
    rows = []
    try:
        for _ in range(epochs):
            watch.take()
            t0 = CLOCK()
            r = trainer._train_epoch()
            sec = CLOCK() - t0
            trainer.epoch += 1
            t = watch.take()
            fb, opt, i2c, c2i = t["forward+backward"], t["optimizer"], t["im2col"], t["col2im"]
            act_s, shape_s = t["activations"], t["reshapes"]
            row = dict(epoch=trainer.epoch, seconds=sec, examples_per_sec=steps * batch_size / sec,
                       wall_seconds=r["seconds"], gflops=steps * mm["flops_per_step"] / sec / 1e9,
                       times_bound=sec / bound,
                       im2col_seconds=i2c, col2im_seconds=c2i,
                       activation_seconds=act_s, reshape_seconds=shape_s,
                       other_forward_backward=fb - i2c - c2i - act_s - shape_s - bound,
                       optimizer_seconds=opt, loop_seconds=sec - fb - opt,
                       train_loss=r["train_loss"])
            rows.append(row)
            say(f"epoch {row['epoch']}  {sec:6.2f} s CPU ({r['seconds']:.2f} s wall)  {row['examples_per_sec']:6.0f} ex/s  "
                f"{row['gflops']:5.1f} GFLOP/s  {row['times_bound']:.2f}x bound  | matmuls (bound) {bound:.2f} s, "
                f"im2col {i2c:.2f} s, col2im {c2i:.2f} s, activations {act_s:.2f} s, "
                f"reshapes {shape_s:.2f} s, other fwd+bwd {row['other_forward_backward']:.2f} s, "
                f"optimizer {opt:.2f} s, loop {row['loop_seconds']:.2f} s")
    finally:
        watch.remove()
    best = min(rows, key=lambda r: r["seconds"])
    load_after = load_average()
    kept = sum(layer.workspace.nbytes() for _, layer in model.named_layers() if hasattr(layer, "workspace"))
    say(f"best epoch {best['seconds']:.2f} s = {best['times_bound']:.2f}x its BLAS bound ({bound:.2f} s); "
        f"load average (1 min) {load_after}")
    parts = [("matmuls (bound)", bound), ("im2col", best["im2col_seconds"]), ("col2im", best["col2im_seconds"]),
             ("activations", best["activation_seconds"]), ("reshapes", best["reshape_seconds"]),
             ("other fwd+bwd", best["other_forward_backward"]),
             ("optimizer and loop", best["optimizer_seconds"] + best["loop_seconds"])]
    say("of the best epoch: " + ", ".join(f"{name} {100 * t / best['seconds']:.0f}%" for name, t in parts))
    say(f"conv workspaces: {kept / 2 ** 20:.1f} MB kept across steps (im2col matrices, canvases, products)")
    return dict(model=dict(arch="keras-conv", encoder=cfg.encoder, decoder=cfg.decoder, z_dim=cfg.z_dim,
                           parameters=int(model.flat_params.size), dtype=dtype),
                data=dict(source=source, examples=int(trainer.x_train.shape[0]), batch_size=batch_size,
                          steps_per_epoch=steps),
                machine=dict(cpus=os.cpu_count(), load_before=load_before, load_after=load_after,
                             threads=trainer.blas.threads, threads_pinned=trainer.blas.fixed is not None),
                matmul=dict(ops=ops, flops_per_step=mm["flops_per_step"], seconds_per_step=mm["seconds_per_step"],
                            gflops=mm["gflops"], bound_epoch_seconds=bound),
                im2col_buffer_bytes=int(cols_bytes), workspace_bytes=int(kept), epochs=rows)
