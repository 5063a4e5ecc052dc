"""python -m numpyvae bench: time training epochs against this machine's BLAS bound.

What it does, in order:

1. builds the real :class:`numpyvae.run.train.Trainer` (the model, the optimizer,
   the minibatch loop users run: nothing here is a special fast path) on
   60,000 examples of 784 pixels: Fashion-MNIST when it is installed, else the
   bundled digits tiled to 60,000 rows (the output says which);
2. lists every matrix product one training step performs, from the model's own
   Dense layers (:func:`numpyvae.bench.matmul_bound.matmul_shapes`), and counts
   their FLOPs from the shapes: forward ``x @ W`` (B·D_in·D_out multiply-adds),
   ``dW = x.T @ dy`` (the same) and ``dx = dy @ W.T`` (the same, except for the
   first encoder layer, whose dx would be the gradient with respect to the data,
   which nobody needs);
3. times those same products in isolation
   (:func:`numpyvae.bench.matmul_bound.measure_matmuls`): that is this machine's
   BLAS rate on these shapes, and ``steps × time per step`` is the *BLAS bound*,
   the time an epoch would take if it did nothing but its matmuls;
4. trains for ``--epochs`` epochs (:func:`numpyvae.bench.training.run_bench`)
   and prints, per epoch, the seconds, examples/s, achieved GFLOP/s (matmul
   FLOPs / epoch seconds), the ratio to the bound, and where the time went:
   ``model.loss_and_grads`` (forward + backward), ``optimizer.step`` and the rest
   (batch gather, binarization, the loop itself); a second line splits it finer,
   with stopwatches on the model's own pieces (:mod:`numpyvae.bench.step_timing`):
   the Dense layers, which hold every matmul (so their seconds against the bound
   say how close to it the matmuls run inside the loop), the activations, the
   likelihood, the variational family, the rest of the model, the optimizer and
   the loop.

Threads. Without ``--threads`` the benchmark runs as training does: numpyvae chooses the BLAS
thread count by the model's size and the machine's load (:mod:`numpyvae.run.threads`), and each epoch
line says which counts it used (``threads {2: 468}``: 468 steps at two threads). ``--threads N``
pins it (as do NUMPYVAE_BLAS_THREADS and OPENBLAS_NUM_THREADS). The optimizer's elementwise passes
stay on one thread unless ``NUMPYVAE_THREADS=N`` asks for more (:mod:`numpyvae.optim.parallel`).

``--busy N`` starts N processes of its own that each keep a core busy (:mod:`numpyvae.bench.busy`: the
browser and the video call of a student's laptop), after a first run on the machine as it is, and
prints the two runs' epochs side by side with the thread counts used in each. With ``--busy-from S``
there is one run instead, and the busy processes start S seconds into its training (the laptop's
video call that begins while a model trains; the same option as data_scripts/bench_thread_policy.py's):
it prints when they started (seconds, epoch and step), the thread counts used before and after,
and how long the policy kept its count after the start. The busy processes end with the benchmark,
also on Ctrl-C or an error.

Run it as ``python -m numpyvae bench [options]`` or ``python -m numpyvae.bench.command [options]``.
The benchmark is not a test: its numbers depend on the machine and its load
(the 1-minute load average is printed before and after). Compare numbers from
one run with each other.
"""
from __future__ import annotations

import argparse
import math
import sys

from ..argparser import Parser
from ..run import threads as blas_threads
from .data import FULL_EXAMPLES, load_average
from .training import run_bench

__all__ = ["main", "build_parser", "beside_busy", "busy_mid_run", "followed", "posterior_costs"]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m numpyvae bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples: python -m numpyvae bench --threads 1 --epochs 5 --json bench.json\n"
                                       "          python -m numpyvae bench --busy 1 --busy-from 2 --epochs 2")
    p.add_argument("--hidden", type=int, nargs="+", default=[400], metavar="SIZE", help="hidden sizes (default: 400)")
    p.add_argument("--z-dim", type=int, default=20, help="latent dimensions (default: 20)")
    p.add_argument("--stochastic", type=int, nargs="+", default=[], metavar="K",
                   help="time a hierarchy (HVAE) with these stochastic layer sizes, e.g. 100 50")
    p.add_argument("--batch-size", type=int, default=128, help="examples per step (default: 128)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="(default: float32)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads, pinned (default: numpyvae chooses by size, usable cores and load, "
                        "numpyvae.run.threads)")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="also run with N busy processes of the benchmark's own beside it, and print both")
    p.add_argument("--busy-from", type=float, default=None, metavar="SECONDS",
                   help="with --busy N: one run, the busy processes starting SECONDS into its training; "
                        "prints when, and the thread counts used before and after")
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


def followed(trace, started, steps_per_epoch: int) -> dict:
    """How the thread count followed busy processes that started at ``started`` (the clock of ``trace``,
    a Policy's [(time, count)] of every step; None: they never started). Returns started_seconds (into
    training), started_epoch and started_step, threads_before and threads_after ({count: steps}),
    count_at_start, and fewer_after_seconds / fewer_after_steps: how long the count in use at the start
    ran on before a smaller one (None if it never did)."""
    if started is None or not trace:
        return dict(started_seconds=None)
    before = [n for t, n in trace if t < started]
    after = [(t, n) for t, n in trace if t >= started]
    at_start = before[-1] if before else (after[0][1] if after else None)
    fewer = next((i for i, (_, n) in enumerate(after) if n < at_start), None)
    tally = lambda counts: {k: counts.count(k) for k in sorted(set(counts))}      # noqa: E731
    return dict(started_seconds=started - trace[0][0], started_epoch=len(before) // steps_per_epoch + 1,
                started_step=len(before) % steps_per_epoch + 1, count_at_start=at_start,
                threads_before=tally(before), threads_after=tally([n for _, n in after]),
                fewer_after_seconds=None if fewer is None else after[fewer][0] - started,
                fewer_after_steps=fewer)


def busy_mid_run(busy: int, start: float, log=print, **kw) -> dict:
    """:func:`run_bench` with ``busy`` busy processes that start ``start`` seconds into its training
    (:func:`numpyvae.bench.busy.busy_between`, ended however this returns); kw: run_bench's.
    Returns {"busy", "busy_from", "run": run_bench's results, "followed": :func:`followed`'s}."""
    import contextlib
    from .busy import busy_between
    say = log or (lambda *a, **k: None)
    seen = {}

    @contextlib.contextmanager
    def during(trainer):
        trainer.blas.trace = seen["trace"] = []
        with busy_between(busy, start) as seen["when"]:
            yield
    say(f"--- {busy} busy process{'es' if busy > 1 else ''} of the benchmark's own from {start:g} s into training")
    res = run_bench(log=log, during=during, **kw)
    f = followed(seen["trace"], seen["when"].get("started"), res["data"]["steps_per_epoch"])
    if f["started_seconds"] is None:
        say(f"the training ended before {start:g} s: no busy process started (a smaller --busy-from, or more --epochs)")
    else:
        kept = ("it was on one thread already" if f["count_at_start"] == 1 else
                f"it kept {f['count_at_start']} threads to the end" if f["fewer_after_seconds"] is None else
                f"first step on fewer than {f['count_at_start']} threads {f['fewer_after_seconds']:.3f} s "
                f"({f['fewer_after_steps']} steps) after the start")
        say(f"busy from {f['started_seconds']:.3f} s into training (epoch {f['started_epoch']}, step "
            f"{f['started_step']}); threads before {f['threads_before']}, after {f['threads_after']}; {kept}")
    return dict(busy=busy, busy_from=start, run=res, followed=f)


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
    if args.busy_from is not None and not (math.isfinite(args.busy_from) and args.busy_from >= 0):
        parser.error(f"--busy-from must be a number of seconds >= 0, got {args.busy_from}")
    if args.busy_from is not None and args.busy < 1:
        parser.error("--busy-from needs --busy N (N >= 1): the busy processes it starts")
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
    if args.posterior:
        run = lambda **kw: posterior_costs(args.posterior, **kw)      # noqa: E731
    elif args.busy_from is not None:
        run = lambda **kw: busy_mid_run(args.busy, args.busy_from, **kw)      # noqa: E731
    else:
        run = (lambda **kw: beside_busy(args.busy, **kw)) if args.busy else run_bench
    return _run_and_save(run, kw, args.json)


if __name__ == "__main__":
    sys.exit(main())
