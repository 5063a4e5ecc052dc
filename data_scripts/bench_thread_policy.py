"""Is numpyvae's automatic BLAS thread count (numpyvae.run.threads) within 10% of the best fixed count?

A measurement, not a test. For 0, 1 and 2 busy processes of its own (numpyvae.bench.busy), it trains
the 784-400-20 VAE (batch 128, Adam, float32: the pytorch/examples model) for short epochs with
the thread count fixed at 1, fixed at 2, and chosen by the policy, in interleaved rounds
(auto 1 2, 1 2 auto, 2 auto 1, ...), so that a change in the machine's load hits every setting alike. It prints
each setting's best and median epoch, the ratio of the policy's best to the best fixed count's,
the thread counts the policy used, and the 1-minute load average at the start and end of each block.

    python data_scripts/bench_thread_policy.py --examples 20000 --rounds 3 --busy 0 1 2
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


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


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    from numpyvae.bench.data import bench_data, load_average
    from numpyvae.bench.busy import busy_processes
    from numpyvae.run.train import TrainConfig, Trainer
    data, source = bench_data(args.examples)
    cfg = TrainConfig(dataset="digits", hidden=[400], z_dim=20, batch_size=128, epochs=10**6, seed=0)
    trainer = Trainer(cfg, data=data, quiet=True)
    print(f"784-400-20, batch 128, {source}")
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
        best_fixed = min(min(times["1"]), min(times["2"]))
        row = dict(busy=busy, load_before=load0, load_after=load1, times=times, auto_used=used,
                   auto_over_best_fixed=min(times["auto"]) / best_fixed,
                   auto_median_over_best_fixed_median=statistics.median(times["auto"])
                   / min(statistics.median(times["1"]), statistics.median(times["2"])))
        results.append(row)
        print(f"busy {busy} (load {load0} -> {load1}): " + "  ".join(
            f"{s}: best {min(t):.3f} median {statistics.median(t):.3f}" for s, t in times.items())
            + f"  auto/best fixed {row['auto_over_best_fixed']:.2f} (medians {row['auto_median_over_best_fixed_median']:.2f})"
            + f"  auto used {used}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return dict(results=results)


if __name__ == "__main__":
    main()
