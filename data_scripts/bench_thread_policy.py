"""Is numpyvae's automatic BLAS thread count (numpyvae.run.threads) within 10% of the best fixed count?

A measurement, not a test. For 0, 1 and 2 busy processes of its own (numpyvae.bench.busy), it trains
the 784-400-20 VAE (batch 128, Adam, float32: the pytorch/examples model) for short epochs with
the thread count fixed at 1, fixed at 2, and chosen by the policy, in interleaved rounds
(auto 1 2, 1 2 auto, 2 auto 1, ...), so that a change in the machine's load hits every setting alike. It prints
each setting's best and median epoch, the ratio of the policy's best to the best fixed count's,
the thread counts the policy used, and the 1-minute load average at the start and end of each block.

    python data_scripts/bench_thread_policy.py --examples 20000 --rounds 3 --busy 0 1 2

With ``--busy-from S`` it measures a program that starts while training runs: each setting trains a
run of ``--epochs`` epochs, the automatic one with a new policy as a new training run has, and N busy
processes (each value of ``--busy``) start S seconds into the run and end at ``--busy-until`` seconds
(else with the run). It prints each setting's best and median run, the policy's against the best
fixed count's, and the load average before each round.

    python data_scripts/bench_thread_policy.py --examples 20000 --epochs 4 --rounds 5 --busy 1 --busy-from 1

With ``--first`` it prints, for ``--rounds`` rounds, the first thread count a new automatic policy
chooses (before its first step): on the machine as it is, 2 s and 30 s after a busy process of its
own started, and 2 s after it ended, each with the 1-minute load average (which lags: it has hardly
risen 2 s after the start, and still counts the busy process 2 s after its end). It runs on an older
numpyvae too (PYTHONPATH=<its tree>), to compare how the first count is read; a round takes ~35 s.

    python data_scripts/bench_thread_policy.py --first --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from numpyvae.bench import busy as busy_module       # busy_between: this tree's (--first runs on older ones)
from numpyvae.bench.busy import busy_processes
from numpyvae.bench.data import bench_data, load_average
from numpyvae.run.train import TrainConfig, Trainer


_auto = {}        # the automatic policy, one for the whole run as in training (it learns from its steps)


def time_epoch(trainer, setting) -> tuple[float, dict]:
    """One epoch's seconds with ``setting`` ("auto" or a thread count), and the steps per thread count."""
    from numpyvae.run import threads
    threads.pin(None if setting == "auto" else int(setting))
    if setting == "auto":
        if "policy" not in _auto:
            _auto["policy"] = threads.policy_for(trainer.model, trainer.cfg.batch_size)
        trainer.blas = _auto["policy"]
        threads.set_blas_threads(trainer.blas.threads)
    else:
        trainer.blas = threads.policy_for(trainer.model, trainer.cfg.batch_size)
    t0 = time.perf_counter()
    trainer._train_epoch()
    seconds = time.perf_counter() - t0
    trainer.epoch += 1
    return seconds, trainer.blas.take_used()


def time_run(trainer, setting, epochs: int, n_busy: int, start: float, stop: float | None) -> tuple[float, dict]:
    """A training run of ``epochs`` epochs with ``setting`` (a new policy for "auto", as a new run has)
    while ``n_busy`` processes run from ``start`` to ``stop`` seconds into it: (seconds, steps per count)."""
    _auto.pop("policy", None)
    used = {}
    with busy_module.busy_between(n_busy, start, stop):
        t0 = time.perf_counter()
        for _ in range(epochs):
            for k, v in time_epoch(trainer, setting)[1].items():
                used[k] = used.get(k, 0) + v
        seconds = time.perf_counter() - t0
    return seconds, dict(sorted(used.items()))


def first_counts(trainer, rounds: int) -> list[dict]:
    """--first: the first count of a new automatic policy as is, 2 s and 30 s after a busy process started,
    2 s after it ended."""
    from numpyvae.run import threads
    rows = []

    def row(when):
        load = load_average()
        threads.pin(None)
        rows.append(dict(when=when, first=threads.policy_for(trainer.model, trainer.cfg.batch_size).threads, load=load))
        print(f"{when:>20}: first count {rows[-1]['first']} (load {load})", flush=True)
    for _ in range(rounds):
        row("as is")
        with busy_processes(1):
            time.sleep(2.0)
            row("busy since 2 s")
            time.sleep(28.0)
            row("busy since 30 s")
        time.sleep(2.0)
        row("busy ended 2 s ago")
    return rows


def run_mode(trainer, args) -> list[dict]:
    """--busy-from: whole runs with busy processes that start (and maybe stop) part-way, interleaved."""
    results = []
    when = f"from {args.busy_from:g} s" + (f" to {args.busy_until:g} s" if args.busy_until is not None else "")
    for busy in args.busy:
        times, used, loads = {"auto": [], "1": [], "2": []}, [], []
        time_epoch(trainer, "1")                          # warm-up
        order = list(times)
        for r in range(args.rounds):
            loads.append(load_average())
            for setting in order[r % 3:] + order[:r % 3]:     # auto 1 2, 1 2 auto, 2 auto 1, ...
                seconds, u = time_run(trainer, setting, args.epochs, busy, args.busy_from, args.busy_until)
                times[setting].append(seconds)
                if setting == "auto":
                    used.append(u)
        row = dict(busy=busy, busy_from=args.busy_from, busy_until=args.busy_until, epochs=args.epochs,
                   load_before_rounds=loads, load_after=load_average(), times=times, auto_used=used,
                   **ratios(times))
        results.append(row)
        print(f"{busy} busy {when}, runs of {args.epochs} epochs (load before each round {loads}, after "
              f"{row['load_after']}): " + "  ".join(
                  f"{s}: best {min(t):.3f} median {statistics.median(t):.3f}" for s, t in times.items())
              + f"  auto/best fixed {row['auto_over_best_fixed']:.2f} (medians "
              f"{row['auto_median_over_best_fixed_median']:.2f})  auto used {used}", flush=True)
    return results


def ratios(times: dict) -> dict:
    """The policy's best over the best fixed count's best, and its median over the better fixed median."""
    return dict(auto_over_best_fixed=min(times["auto"]) / min(min(times["1"]), min(times["2"])),
                auto_median_over_best_fixed_median=statistics.median(times["auto"])
                / min(statistics.median(times["1"]), statistics.median(times["2"])))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--busy-from", type=float, metavar="S",
                   help="time whole runs, the busy processes starting S seconds into each")
    p.add_argument("--busy-until", type=float, metavar="S", help="with --busy-from: they end S seconds into each run")
    p.add_argument("--epochs", type=int, default=4, help="with --busy-from: epochs per run")
    p.add_argument("--first", action="store_true",
                   help="only the first thread count a new automatic policy chooses, beside a busy process that "
                        "just started or just ended")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.busy_from is not None and (args.busy_from < 0 or min(args.busy) < 1 or args.epochs < 1):
        p.error("--busy-from needs S >= 0, --busy N >= 1 and --epochs >= 1")
    if args.busy_until is not None and (args.busy_from is None or args.busy_until <= args.busy_from):
        p.error("--busy-until needs --busy-from, and a later time")
    data, source = bench_data(args.examples)
    cfg = TrainConfig(dataset="digits", hidden=[400], z_dim=20, batch_size=128, epochs=10**6, seed=0)
    trainer = Trainer(cfg, data=data, quiet=True)
    print(f"784-400-20, batch 128, {source}")
    if args.first:
        results = first_counts(trainer, args.rounds)
        write(args.json, results)
        return dict(results=results)
    if args.busy_from is not None:
        results = run_mode(trainer, args)
        write(args.json, results)
        return dict(results=results)
    results = []
    for busy in args.busy:
        with busy_processes(busy):
            time.sleep(0.5)                                   # let the spinners start
            load0, times, used = load_average(), {"auto": [], "1": [], "2": []}, {}
            time_epoch(trainer, "1")                          # warm-up
            order = list(times)
            for r in range(args.rounds):
                for setting in order[r % 3:] + order[:r % 3]:     # auto 1 2, 1 2 auto, 2 auto 1, ...
                    seconds, u = time_epoch(trainer, setting)
                    times[setting].append(seconds)
                    if setting == "auto":
                        for k, v in u.items():
                            used[k] = used.get(k, 0) + v
            load1 = load_average()
        row = dict(busy=busy, load_before=load0, load_after=load1, times=times, auto_used=used, **ratios(times))
        results.append(row)
        print(f"busy {busy} (load {load0} -> {load1}): " + "  ".join(
            f"{s}: best {min(t):.3f} median {statistics.median(t):.3f}" for s, t in times.items())
            + f"  auto/best fixed {row['auto_over_best_fixed']:.2f} (medians {row['auto_median_over_best_fixed_median']:.2f})"
            + f"  auto used {used}", flush=True)
    write(args.json, results)
    return dict(results=results)


def write(path: str | None, results: list) -> None:
    """The results as JSON at ``path`` (if given), written whole or not at all."""
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
