"""python -m numpyvae bench: time training epochs against this machine's BLAS bound.

What it does, in order:

1. builds the real :class:`numpyvae.run.train.Trainer` (the model, the optimizer,
   the minibatch loop users run: nothing here is a special fast path) on
   60,000 examples of 784 pixels: Fashion-MNIST when it is installed, else the
   bundled digits tiled to 60,000 rows (the output says which);
2. lists every matrix product one training step performs, from the model's own
   Dense layers (:func:`matmul_shapes`), and counts their FLOPs from the shapes:
   forward ``x @ W`` (B·D_in·D_out multiply-adds), ``dW = x.T @ dy`` (the same)
   and ``dx = dy @ W.T`` (the same, except for the first encoder layer, whose
   dx would be the gradient with respect to the data, which nobody needs);
3. times those same products in isolation (:func:`measure_matmuls`): that is
   this machine's BLAS rate on these shapes, and ``steps × time per step`` is
   the *BLAS bound*, the time an epoch would take if it did nothing but its
   matmuls;
4. trains for ``--epochs`` epochs and prints, per epoch, the seconds,
   examples/s, achieved GFLOP/s (matmul FLOPs / epoch seconds), the ratio to
   the bound, and where the time went: ``model.loss_and_grads`` (forward +
   backward), ``optimizer.step`` and the rest (batch gather, binarization,
   the loop itself); a second line splits it finer, with stopwatches on the
   model's own pieces (:mod:`numpyvae.bench.step_timing`): the Dense layers, which
   hold every matmul (so their seconds against the bound say how close to it
   the matmuls run inside the loop), the activations, the likelihood, the
   variational family, the rest of the model, the optimizer and the loop.

Threads. Without ``--threads`` the benchmark runs as training does: numpyvae chooses the BLAS
thread count by the model's size and the machine's load (:mod:`numpyvae.run.threads`), and each epoch
line says which counts it used (``threads {2: 468}``: 468 steps at two threads). ``--threads N``
pins it (as do NUMPYVAE_BLAS_THREADS and OPENBLAS_NUM_THREADS). The optimizer's elementwise passes
stay on one thread unless ``NUMPYVAE_THREADS=N`` asks for more (:mod:`numpyvae.parallel`).

``--busy N`` starts N processes of its own that each keep a core busy (:mod:`numpyvae.bench.busy`: the
browser and the video call of a student's laptop), after a first run on the machine as it is, and
prints the two runs' epochs side by side with the thread counts used in each. The busy processes
end with the benchmark, also on Ctrl-C or an error.

Run it as ``python -m numpyvae bench [options]`` or ``python -m numpyvae.bench.training [options]``.
The benchmark is not a test: its numbers depend on the machine and its load
(the 1-minute load average is printed before and after). Compare numbers from
one run with each other.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from .data import FULL_EXAMPLES, bench_data, blas_kernel, load_average

from .. import parallel
from ..run import threads as blas_threads
from ..argparser import Parser
from .step_timing import Stopwatches, best_per_call

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# --------------------------------------------------------------------------- what a step multiplies

def matmul_shapes(model, batch_size: int, n_samples: int = 1) -> list[dict]:
    """Every matrix product of one training step of ``model``, in the order the step runs them.

    Each entry is a dict with the layer name, the op ("forward", "dW", "dx"),
    the operand shapes ``a`` (m, k) and ``b`` (k, n) and ``flops = 2·m·k·n``
    (one multiply and one add per term). The layers reading x (the encoder; a hierarchy's q(z₁|x))
    see B = batch_size rows, all others B = n_samples·batch_size (all samples in one matmul).
    The first encoder layer has no "dx": its input is the data.
    """
    from ..nn import Dense
    dense = [(name, layer) for name, layer in model.named_layers() if isinstance(layer, Dense)]
    ops = []
    for i, (name, layer) in enumerate(dense):
        rows = batch_size * (1 if name.startswith(("encoder", "q.z1.")) else n_samples)
        d_in, d_out = layer.d_in, layer.d_out
        ops.append(dict(layer=name, op="forward", a=(rows, d_in), b=(d_in, d_out)))   # x @ W
        ops.append(dict(layer=name, op="dW", a=(d_in, rows), b=(rows, d_out)))        # x.T @ dy
        if i > 0:
            ops.append(dict(layer=name, op="dx", a=(rows, d_out), b=(d_out, d_in)))   # dy @ W.T
    for op in ops:
        (m, k), (_, n) = op["a"], op["b"]
        op["flops"] = 2 * m * k * n
    return ops


def matmul_operands(ops: list[dict], dtype="float32", seed: int = 0) -> list[tuple]:
    """(a, b, out) for each product of :func:`matmul_shapes`, random, laid out as the layers lay them out:
    ``x @ W`` on C-contiguous arrays, ``x.T @ dy`` and ``dy @ W.T`` on transposed views, and a
    preallocated result for ``np.matmul(a, b, out=out)``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    calls = []
    for op in ops:
        (m, k), (_, n) = op["a"], op["b"]
        if op["op"] == "forward":
            a = rng.standard_normal((m, k), dtype=dtype)
            b = rng.standard_normal((k, n), dtype=dtype)
        elif op["op"] == "dW":     # x.T @ dy: x is (B, D_in) C-contiguous, transposed view
            a = rng.standard_normal((k, m), dtype=dtype).T
            b = rng.standard_normal((k, n), dtype=dtype)
        else:                      # dy @ W.T: W is (D_in, D_out) C-contiguous, transposed view
            a = rng.standard_normal((m, k), dtype=dtype)
            b = rng.standard_normal((n, k), dtype=dtype).T
        calls.append((a, b, np.empty((m, n), dtype=dtype)))
    return calls


def measure_matmuls(ops: list[dict], dtype="float32", *, repeats: int = 5, min_seconds: float = 0.2,
                    seed: int = 0, clock=time.perf_counter) -> dict:
    """Time the products of one step in isolation: seconds per step, best of ``repeats``.

    Each product is computed exactly as the layers compute it (:func:`matmul_operands`),
    each into a preallocated result (``out=``). The whole list is timed by
    :func:`numpyvae.bench.step_timing.best_per_call` (the best of ``repeats``, about
    ``min_seconds`` in all): other programs can only slow a repeat down, never
    speed it up.

    ``clock`` is the timer: wall time (``time.perf_counter``), or the process's CPU
    time (``time.process_time``), which other programs cannot inflate; with one
    BLAS thread the two agree on a quiet machine.

    Returns {"seconds_per_step", "flops_per_step", "gflops", "per_op": [seconds per op]}.
    """
    calls = matmul_operands(ops, dtype, seed)

    def run_all():
        for a, b, out in calls:
            np.matmul(a, b, out=out)

    best = best_per_call(run_all, repeats=repeats, min_seconds=min_seconds, clock=clock)
    # the split per op, for the report: each product alone, in an equal share of the time
    per_op = [best_per_call(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats=1,
                            min_seconds=min_seconds / len(calls), clock=clock) for a, b, out in calls]
    flops = sum(op["flops"] for op in ops)
    return dict(seconds_per_step=best, flops_per_step=flops, gflops=flops / best / 1e9, per_op=per_op)


# --------------------------------------------------------------------------- data

# --------------------------------------------------------------------------- timing the real loop

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
              matmul_seconds: float = 0.3, log=print, posterior: str = "gaussian", stochastic=()) -> dict:
    """Train the VAE x_dim-hidden-z_dim (ReLU, Bernoulli, Adam, dynamic binarization) and time it.

    Parameters: the architecture (``hidden``, ``z_dim``), ``batch_size``,
    ``dtype``, ``epochs``, ``examples`` per epoch, ``seed``; ``matmul_repeats``
    and ``matmul_seconds`` set how long the isolated matmul timing runs;
    ``log`` receives the human-readable lines (``log=None`` for silence);
    ``posterior`` the variational family (see :func:`posterior_costs`); ``stochastic`` the layer sizes
    of a hierarchy (an HVAE with ``hidden`` before z₁) instead of the one-layer VAE.

    Returns a JSON-able dict:
        model    {arch, hidden, z_dim, x_dim, likelihood, activation, optimizer, dtype, parameters}
        data     {source, examples, batch_size, steps_per_epoch}
        machine  {cpus, threads (the BLAS thread variables), parallel_threads (numpyvae.parallel),
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
    say(f"threads: BLAS {'pinned at ' + str(pin) if pin else 'chosen by numpyvae (size and load)'}, elementwise "
        f"passes {parallel.threads()} ({os.cpu_count()} CPUs); load average (1 min) {load_before}")
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
        machine=dict(cpus=os.cpu_count(), threads=threads, blas_pinned=pin, parallel_threads=parallel.threads(), blas_kernel=blas_kernel(),
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


# --------------------------------------------------------------------------- the families' cost

def posterior_costs(posteriors, log=print, **kw) -> dict:
    """Epoch time of each variational family relative to the diagonal Gaussian, same model otherwise.

    posteriors : list of names ("full-gaussian", "planar:8", "iaf:2", ...); "gaussian" is always
        timed first, as the reference. kw: run_bench's settings (epochs, examples, seed, ...).
    Each family's time is its best epoch (the least disturbed by other programs on the machine).
    Returns {"reference": "gaussian", "rows": [{posterior, best_epoch_seconds, relative, parameters}],
    "load_before", "load_after"}.
    """
    from ..run.settings import check_setting
    names = ["gaussian"] + [p for p in posteriors if p != "gaussian"]
    for name in names:
        check_setting("posterior", name, "--posterior")    # a bad name fails before any timing
    say = log or (lambda *a, **k: None)
    load_before = load_average()
    rows = []
    for name in names:
        res = run_bench(posterior=name, log=None, **kw)
        best = min(r["seconds"] for r in res["epochs"])
        rows.append(dict(posterior=name, best_epoch_seconds=best, relative=best / rows[0]["best_epoch_seconds"]
                         if rows else 1.0, parameters=res["model"]["parameters"]))
        say(f"{name:<16} best epoch {best:7.3f} s  {rows[-1]['relative']:5.2f}x gaussian  "
            f"({rows[-1]['parameters']:,} parameters)")
    load_after = load_average()
    say(f"load average (1 min) {load_before} before, {load_after} after")
    return dict(reference="gaussian", rows=rows, load_before=load_before, load_after=load_after)


# --------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m numpyvae bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: python -m numpyvae bench --threads 1 --epochs 5 --json bench.json")
    p.add_argument("--hidden", type=int, nargs="+", default=[400], metavar="SIZE", help="hidden sizes (default: 400)")
    p.add_argument("--z-dim", type=int, default=20, help="latent dimensions (default: 20)")
    p.add_argument("--stochastic", type=int, nargs="+", default=[], metavar="K",
                   help="time a hierarchy (HVAE) with these stochastic layer sizes, e.g. 100 50")
    p.add_argument("--batch-size", type=int, default=128, help="examples per step (default: 128)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(default: float32)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads, pinned (default: numpyvae chooses by size and load, numpyvae.run.threads)")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="also run with N busy processes of the benchmark's own beside it, and print both")
    p.add_argument("--epochs", type=int, default=3, help="epochs to time (default: 3)")
    p.add_argument("--examples", type=int, default=FULL_EXAMPLES,
                   help=f"training examples per epoch (default: {FULL_EXAMPLES:,})")
    p.add_argument("--smoke", action="store_true",
                   help="a few batches and a quick matmul timing: checks that the benchmark runs, measures nothing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON (atomically)")
    p.add_argument("--arch", choices=["mlp", "keras-conv"], default="mlp",
                   help="mlp: the VAE of --hidden and --z-dim; keras-conv: the keras-io convolutional VAE "
                        "(--preset keras-conv), with its im2col and col2im time (default: mlp)")
    p.add_argument("--posterior", nargs="+", metavar="NAME",
                   help="instead, the epoch time of each of these variational families (e.g. full-gaussian "
                        "planar:8 iaf:2) relative to the diagonal Gaussian, same model and data")
    p.add_argument("--optimizer-only", action="store_true",
                   help="instead, time one Adam step and its subnormal guards on 650,000 float32 values "
                        "(normal versus subnormal state): the measurements behind numpyvae.optim's guards")
    return p


def beside_busy(busy: int, log=print, **kw) -> dict:
    """:func:`run_bench` on the machine as it is, then again beside ``busy`` processes that each keep a
    core busy (:func:`numpyvae.bench.busy.busy_processes`, ended however this returns); kw: run_bench's.
    Returns {"busy": busy, "as_is": results, "beside_busy": results}."""
    from .busy import busy_processes
    say = log or (lambda *a, **k: None)
    say("--- the machine as it is")
    as_is = run_bench(log=log, **kw)
    say(f"--- beside {busy} busy process{'es' if busy > 1 else ''} of the benchmark's own")
    with busy_processes(busy):
        beside = run_bench(log=log, **kw)
    for name, res in (("as it is", as_is), (f"{busy} busy", beside)):
        best = min(res["epochs"], key=lambda r: r["seconds"])
        say(f"{name:>10}: best epoch {best['seconds']:.3f} s, threads {best['blas_threads']} "
            f"(load {res['machine']['load_before']} -> {res['machine']['load_after']})")
    return dict(busy=busy, as_is=as_is, beside_busy=beside)


def _run_and_save(run, kw: dict, json_path) -> int:
    """Run one benchmark (``run(**kw)`` -> results) and write its results to ``json_path`` if given;
    a bad setting is a one-line ``numpyvae: error:`` and exit status 2."""
    try:
        results = run(**kw)
    except ValueError as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
    if json_path:
        from ..run.checkpoint_format import save_json
        save_json(json_path, results)
        print(f"results written to {json_path}")
    return 0


def _conv_main(args) -> int:
    """``--arch keras-conv``: numpyvae.bench.conv, with this parser's --epochs, --batch-size, --seed,
    --dtype, --smoke and --json (--examples defaults to 4,096 here: a conv epoch is ~50x an MLP one)."""
    from .conv import run_conv_bench
    examples = args.examples if args.examples != FULL_EXAMPLES else 4096
    kw = dict(epochs=args.epochs, examples=max(examples, args.batch_size), batch_size=args.batch_size,
              seed=args.seed, dtype=args.dtype)
    if args.smoke:
        kw.update(examples=2 * args.batch_size, epochs=1, matmul_repeats=1, matmul_seconds=0.01)
    return _run_and_save(run_conv_bench, kw, args.json)


def main(argv=None) -> int:
    """``python -m numpyvae bench [options]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:          # `python -m numpyvae bench -- --epochs 5` passes the separator through
        argv = argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("z_dim", "batch_size", "epochs", "examples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.stochastic and (args.posterior or args.arch != "mlp"):
        parser.error("--stochastic times a hierarchy of diagonal Gaussians; it does not combine with "
                     "--posterior or --arch")
    if any(k < 1 for k in args.stochastic):
        parser.error(f"--stochastic sizes must be >= 1, got {args.stochastic}")
    if any(h < 1 for h in args.hidden):
        parser.error(f"--hidden sizes must be >= 1, got {args.hidden}")
    if args.examples < args.batch_size:
        parser.error(f"--examples ({args.examples}) must be at least --batch-size ({args.batch_size}): "
                     "an epoch needs one full batch")
    if args.json:                   # before the timing, not after it: a bad path would lose the results
        from ..files import check_writable
        try:
            check_writable(args.json, "benchmark results")
        except ValueError as err:
            print(f"numpyvae: error: bench: --json: {err}", file=sys.stderr)
            return 2
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        blas_threads.pin(args.threads)
    if args.busy < 0:
        parser.error(f"--busy must be >= 0, got {args.busy}")
    if args.busy and (args.arch != "mlp" or args.posterior or args.optimizer_only):
        parser.error("--busy times the MLP benchmark; it does not combine with --arch keras-conv, "
                     "--posterior or --optimizer-only")
    if args.optimizer_only:
        from .optim import print_optimizer_step_costs
        print_optimizer_step_costs()
        return 0
    if args.arch != "mlp":
        return _conv_main(args)
    kw = dict(hidden=args.hidden, z_dim=args.z_dim, batch_size=args.batch_size, dtype=args.dtype,
              epochs=args.epochs, examples=args.examples, seed=args.seed,
              **(dict(stochastic=args.stochastic) if args.stochastic else {}))
    if args.smoke:
        kw.update(examples=min(args.examples, 4 * args.batch_size), epochs=min(args.epochs, 2),
                  matmul_repeats=1, matmul_seconds=0.01)
    run = (lambda **kw: posterior_costs(args.posterior, **kw)) if args.posterior else (
        (lambda **kw: beside_busy(args.busy, **kw)) if args.busy else run_bench)
    return _run_and_save(run, kw, args.json)


if __name__ == "__main__":
    sys.exit(main())
