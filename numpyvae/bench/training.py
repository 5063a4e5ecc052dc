"""The epoch bench: the real trainer timed epoch by epoch against the BLAS bound, and where each epoch's time went.

:func:`run_bench` builds the :class:`numpyvae.run.train.Trainer` users run (nothing here is a special fast
path), times the products of one step in isolation (:mod:`numpyvae.bench.matmul_bound`), trains, and
splits every epoch's seconds with stopwatches on the model's own pieces (:mod:`numpyvae.bench.step_timing`).
The command around it, its flags and its variants (``--busy``, ``--posterior``, ``--arch``) are in
:mod:`numpyvae.bench.command`.
"""
from __future__ import annotations

import contextlib
import os
import platform
import time

import numpy as np

from ..optim import parallel
from ..run import threads as blas_threads
from ..run.cores import usable_cores
from .data import FULL_EXAMPLES, bench_data, blas_kernel, load_average
from .matmul_bound import matmul_shapes, measure_matmuls
from .step_timing import Stopwatches

__all__ = ["run_bench"]

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _step_stopwatches(trainer) -> Stopwatches:
    """Stopwatches on the pieces of this trainer's step: the two calls the loop makes (the model's
    loss_and_grads, the optimizer's step) and, inside the first, the encoder's and decoder's Dense
    layers (where every matmul is), their activations, the likelihood and the variational family."""
    from ..nn.activations import Activation
    from ..nn.dense import Dense
    model = trainer.model
    watch = Stopwatches()
    watch.add("forward+backward", model, "loss_and_grads")
    watch.add("optimizer", trainer.optimizer, "step")
    watch.add_layers("matmul layers", model.networks(), Dense)
    watch.add_layers("activations", model.networks(), Activation)
    watch.add("likelihood", model.likelihood, "forward", "backward")
    for family in model.latent_families():
        watch.add("posterior", family, "rsample", "backward")
    return watch


def _pieces(seconds: dict, epoch_seconds: float) -> dict:
    """An epoch's seconds by piece: the timed parts of loss_and_grads, the rest of it ("other model":
    the KL, the bound, the checks, the tape), the optimizer, and the loop around them ("loop": the
    batch gather, the binarization draw, the loss checks, the progress bar)."""
    inside = ("matmul layers", "activations", "likelihood", "posterior")
    pieces = {name: seconds[name] for name in inside}
    pieces["other model"] = seconds["forward+backward"] - sum(pieces.values())
    pieces["optimizer"] = seconds["optimizer"]
    pieces["loop"] = max(0.0, epoch_seconds - seconds["forward+backward"] - seconds["optimizer"])
    return pieces


def run_bench(*, hidden=(400,), z_dim: int = 20, batch_size: int = 128, dtype: str = "float32",
              epochs: int = 3, examples: int = FULL_EXAMPLES, seed: int = 0, matmul_repeats: int = 5,
              matmul_seconds: float = 0.3, log=print, posterior: str = "gaussian", stochastic=(),
              during=None) -> dict:
    """Train the VAE x_dim-hidden-z_dim (ReLU, Bernoulli, Adam, dynamic binarization) and time it.

    Parameters: the architecture (``hidden``, ``z_dim``), ``batch_size``,
    ``dtype``, ``epochs``, ``examples`` per epoch, ``seed``; ``matmul_repeats``
    and ``matmul_seconds`` set how long the isolated matmul timing runs;
    ``log`` receives the human-readable lines (``log=None`` for silence);
    ``posterior`` the variational family (see :func:`numpyvae.bench.command.posterior_costs`); ``stochastic`` the layer sizes
    of a hierarchy (an HVAE with ``hidden`` before z₁) instead of the one-layer VAE; ``during``, a
    function of the trainer that returns a context manager, is entered around the timed epochs
    (``bench --busy-from``: the busy processes that start part-way).

    Returns a JSON-able dict:
        model    {arch, hidden, z_dim, x_dim, likelihood, activation, optimizer, dtype, parameters}
        data     {source, examples, batch_size, steps_per_epoch}
        machine  {cpus, usable_cores (numpyvae.run.cores.usable_cores), threads (the BLAS thread variables), parallel_threads (numpyvae.optim.parallel),
                  numpy, python, load_before, load_after}
        matmul   {ops: [{layer, op, a, b, flops, seconds}], flops_per_step, seconds_per_step,
                  gflops, bound_epoch_seconds, gflops_before_training, gflops_after_training,
                  cpu_bound_epoch_seconds (the bound in CPU time), best_cpu_times_cpu_bound}
        epochs   [{epoch, seconds, examples_per_sec, gflops, bound_seconds, times_bound,
                   fraction_of_bound, share_forward_backward, share_optimizer, share_rest, train_loss,
                   cpu_seconds (process CPU time, all threads: on a busy machine, with one
                   thread, the time the epoch would take if it had a core to itself),
                   pieces {matmul layers, activations, likelihood, posterior, other model, optimizer,
                   loop: seconds of the epoch in each (see _pieces)},
                   blas_threads {thread count: steps run at it}}]
        last_vs_first   seconds of the last epoch / seconds of the first
    The bound uses the better of the two matmul timings (before and after training).
    """
    from ..checks import check_positive_int
    from ..run.train import TrainConfig, Trainer
    say = log or (lambda *a, **k: None)
    for name, v in (("z_dim", z_dim), ("batch_size", batch_size), ("epochs", epochs), ("examples", examples)):
        check_positive_int(v, "run_bench", name)
    if examples < batch_size:
        raise ValueError(f"run_bench: examples ({examples}) must be at least batch_size ({batch_size})")
    load_before = load_average()
    data, source = bench_data(examples, dtype)
    cfg = TrainConfig(dataset="fashion-mnist" if source.startswith("fashion") else "digits",
                      hidden=[int(h) for h in hidden], batch_size=batch_size, epochs=epochs, dtype=dtype, seed=seed,
                      **(dict(stochastic=[int(k) for k in stochastic]) if stochastic   # a hierarchy, or the VAE
                         else dict(z_dim=z_dim, posterior=posterior)))
    trainer = Trainer(cfg, data=data, quiet=True)
    model = trainer.model
    steps = trainer.x_train.shape[0] // batch_size
    ops = matmul_shapes(model, batch_size)
    arch = "-".join(str(d) for d in [model.x_dim, *model.hidden, "|".join(map(str, getattr(model, "stochastic",
                                                                                           [model.z_dim])))])
    threads = {v: os.environ.get(v) for v in THREAD_VARS}
    say(f"numpyvae bench: VAE {arch} (relu, bernoulli), batch {batch_size}, adam, {dtype}")
    say(f"data: {source}, {trainer.x_train.shape[0]:,} examples = {steps} steps per epoch")
    pin = blas_threads.pinned()
    usable = usable_cores()
    cpus = f"{os.cpu_count()} CPUs" + (f", {usable} usable" if usable != os.cpu_count() else "")
    say(f"threads: BLAS {'pinned at ' + str(pin) if pin else 'chosen by numpyvae (size and load)'}, elementwise "
        f"passes {parallel.threads()} ({cpus}); load average (1 min) {load_before}")
    say(f"OpenBLAS kernel: {blas_kernel()}")
    if load_before is not None and load_before > 0.5:
        say(f"warning: the machine is busy (load {load_before}): these numbers measure the sharing, not the code.")

    mm = measure_matmuls(ops, dtype, repeats=matmul_repeats, min_seconds=matmul_seconds)
    bound = steps * mm["seconds_per_step"]
    say(f"matmuls per step: {len(ops)}, {mm['flops_per_step'] / 1e6:.1f} MFLOP; "
        f"{steps * mm['flops_per_step'] / 1e9:.1f} GFLOP per epoch")
    say(f"this machine's {dtype} matmul rate on these shapes: {mm['gflops']:.1f} GFLOP/s "
        f"({mm['seconds_per_step'] * 1e3:.3f} ms per step) -> BLAS bound {bound:.3f} s per epoch")

    watch = _step_stopwatches(trainer)
    rows = []
    try:
        with during(trainer) if during else contextlib.nullcontext():
            for _ in range(epochs):
                watch.take()
                cpu0 = time.process_time()
                r = trainer._train_epoch()
                cpu = time.process_time() - cpu0
                used = trainer.blas.take_used()
                trainer.epoch += 1
                sec = r["seconds"]
                seconds = watch.take()
                pieces = _pieces(seconds, sec)
                fb, opt = seconds["forward+backward"], seconds["optimizer"]
                row = dict(epoch=trainer.epoch, seconds=sec, examples_per_sec=steps * batch_size / sec,
                           gflops=steps * mm["flops_per_step"] / sec / 1e9, bound_seconds=bound,
                           times_bound=sec / bound, fraction_of_bound=bound / sec,
                           share_forward_backward=fb / sec, share_optimizer=opt / sec,
                           share_rest=pieces["loop"] / sec, train_loss=r["train_loss"],
                           cpu_seconds=cpu, pieces=pieces, blas_threads={str(k): v for k, v in used.items()})
                rows.append(row)
                say(f"epoch {row['epoch']:2d}  {sec:7.3f} s  {row['examples_per_sec']:8.0f} ex/s  "
                    f"{row['gflops']:6.1f} GFLOP/s  {row['times_bound']:.2f}x bound ({100 * row['fraction_of_bound']:.0f}%)  "
                    f"fwd+bwd {100 * row['share_forward_backward']:.0f}%  optimizer {100 * row['share_optimizer']:.0f}%  "
                    f"rest {100 * row['share_rest']:.0f}%  loss {row['train_loss']:.2f}  cpu {cpu:.3f} s  threads {used}")
                say("          " + ", ".join(f"{name} {t:.3f}" for name, t in pieces.items())
                    + f" s  (the matmul layers are {pieces['matmul layers'] / bound:.2f}x the bound)")
    finally:
        watch.remove()
    # the bound in CPU time too (best of the before and after timings), for the CPU seconds of the epochs
    cpu_step = min(measure_matmuls(ops, dtype, repeats=matmul_repeats, min_seconds=matmul_seconds,
                                   clock=time.process_time)["seconds_per_step"] for _ in range(2))
    # the rate again after training: a rate measured while another program ran is too slow, so keep the better one
    mm_before = mm
    mm_after = measure_matmuls(ops, dtype, repeats=matmul_repeats, min_seconds=matmul_seconds)
    if mm_after["seconds_per_step"] < mm["seconds_per_step"]:
        say(f"matmul rate measured again after training: {mm_after['gflops']:.1f} GFLOP/s; bound and ratios "
            f"below use it ({steps * mm_after['seconds_per_step']:.3f} s per epoch)")
        mm = mm_after
        bound = steps * mm["seconds_per_step"]
        for row in rows:
            row.update(bound_seconds=bound, times_bound=row["seconds"] / bound, fraction_of_bound=bound / row["seconds"])
    load_after = load_average()
    best = min(r["seconds"] for r in rows)
    say(f"best epoch {best:.3f} s = {best / bound:.2f}x the BLAS bound ({bound:.3f} s)")
    best_cpu, cpu_bound = min(r["cpu_seconds"] for r in rows), steps * cpu_step
    say(f"in CPU time: best epoch {best_cpu:.3f} s = {best_cpu / cpu_bound:.2f}x the bound in CPU time "
        f"({cpu_bound:.3f} s; the fairer ratio on a busy machine, at one BLAS thread)")
    last_vs_first = rows[-1]["seconds"] / rows[0]["seconds"]
    say(f"epoch {rows[-1]['epoch']} / epoch 1 time: {last_vs_first:.2f}; load average (1 min) {load_after}")
    return dict(
        model=dict(arch=arch, hidden=list(model.hidden), z_dim=model.z_dim, x_dim=model.x_dim,
                   likelihood="bernoulli", activation="relu", optimizer="adam", dtype=dtype,
                   parameters=int(model.flat_params.size)),
        data=dict(source=source, examples=int(trainer.x_train.shape[0]), batch_size=batch_size,
                  steps_per_epoch=steps),
        machine=dict(cpus=os.cpu_count(), usable_cores=usable, threads=threads, blas_pinned=pin, parallel_threads=parallel.threads(), blas_kernel=blas_kernel(),
                     numpy=np.__version__, python=platform.python_version(),
                     load_before=load_before, load_after=load_after),
        matmul=dict(ops=[{**op, "seconds": s} for op, s in zip(ops, mm["per_op"])],
                    flops_per_step=mm["flops_per_step"], seconds_per_step=mm["seconds_per_step"],
                    gflops=mm["gflops"], bound_epoch_seconds=bound,
                    gflops_before_training=mm_before["gflops"], gflops_after_training=mm_after["gflops"],
                    cpu_bound_epoch_seconds=cpu_bound, best_cpu_times_cpu_bound=best_cpu / cpu_bound),
        epochs=rows,
        last_vs_first=last_vs_first,
    )
