"""Can Python threads share a numpyvae step between two cores? Three timings that answer it.

A measurement, not a test, and never imported by numpyvae. NumPy releases the GIL inside a
ufunc or a matmul, so two Python threads can each run half of a big pass at once
(numpyvae.optim.parallel does this for the optimizer, opt-in with NUMPYVAE_THREADS). Whether that
pays depends on what one hand-off costs and on who else wants the second core:

1. hand-off   the round trip of numpyvae.optim.parallel.for_spans with two threads and an empty job:
              the caller wakes the helper thread, both run, the caller waits for it. That is
              the least any split pass costs on top of its half of the work.
2. adam       one Adam step on the 652,824 weights of the 784-400-20 VAE, serial and split in
              two, each right after a matmul of the step (as in training): with two OpenBLAS
              threads, OpenBLAS's worker keeps spinning on the second core for a while after
              the matmul, waiting for the next one, and the helper thread has to share it.
3. gemms      the 14 matmuls of one step, by OpenBLAS with its own threads, and by OpenBLAS at
              one thread with each product cut in two halves (rows of the result, or columns
              when it has fewer rows) run on two Python threads.

Each row runs in a child process whose OpenBLAS starts with the thread count the row names.
Times are wall seconds (two threads), the best of --repeats repeats (numpyvae.bench.step_timing.best_per_call).

    python data_scripts/bench_threads.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

def child(repeats: int) -> dict:
    import numpy as np
    from numpyvae import VAE
    from numpyvae.bench.matmul_bound import matmul_operands, matmul_shapes
    from numpyvae.optim import Adam, parallel
    from numpyvae.bench.step_timing import best_per_call
    out = {}
    parallel.set_threads(2)
    two_spans = 2 * parallel.ALIGN               # for_spans cuts at multiples of ALIGN: this is two ranges
    out["handoff_us"] = 1e6 * best_per_call(lambda: parallel.for_spans(lambda a, b: None, two_spans, min_parallel=0),
                                            repeats=repeats)
    calls = matmul_operands(matmul_shapes(VAE(784, [400], 20, seed=0), 128))     # bench's 14 products of a step
    rng = np.random.default_rng(1)
    theta = {"w": rng.standard_normal(652_824, dtype=np.float32)}
    grads = {"w": (1e-3 * rng.standard_normal(652_824)).astype(np.float32)}
    opt = Adam(theta, grads)
    a, b, c = calls[-2]                      # the decoder's output layer's dW, the last big product before the step

    def after_matmul():
        np.matmul(a, b, out=c)
        t0 = time.perf_counter()
        opt.step()
        return time.perf_counter() - t0
    for threads in (1, 2):
        parallel.set_threads(threads)
        after_matmul()
        out[f"adam_{threads}_ms"] = 1e3 * min(min(after_matmul() for _ in range(50)) for _ in range(repeats))

    def whole():
        for a, b, c in calls:
            np.matmul(a, b, out=c)

    def half(a, b, c, k):
        """Half k (0 or 1) of c = a @ b: rows of c, or columns when c has fewer rows, cut at a
        multiple of 16 (whole kernel tiles)."""
        rows = c.shape[0] >= c.shape[1]
        n = c.shape[0] if rows else c.shape[1]
        cut = n // 2 // 16 * 16
        i, j = (0, cut) if k == 0 else (cut, n)
        if rows:
            np.matmul(a[i:j], b, out=c[i:j])
        else:
            np.matmul(a, b[:, i:j], out=c[:, i:j])

    def halves():
        for a, b, c in calls:             # range (0, ALIGN) is half 0, (ALIGN, 2 ALIGN) half 1
            parallel.for_spans(lambda s, e, a=a, b=b, c=c: half(a, b, c, s // parallel.ALIGN), two_spans,
                               min_parallel=0)
    parallel.set_threads(1)
    out["gemms_ms"] = 1e3 * best_per_call(whole, repeats=repeats)
    parallel.set_threads(2)
    out["gemms_halves_ms"] = 1e3 * best_per_call(halves, repeats=repeats)
    return out


def run_child(blas_threads: int, repeats: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(blas_threads))
    res = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(repeats)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.repeats)))
        return 0
    one, two = run_child(1, args.repeats), run_child(2, args.repeats)
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    print(f"hand-off round trip (for_spans, 2 threads, empty job): {one['handoff_us']:.0f} us "
          f"(OpenBLAS at 1 thread), {two['handoff_us']:.0f} us (OpenBLAS at 2)")
    for blas, r in (("1 OpenBLAS thread ", one), ("2 OpenBLAS threads", two)):
        print(f"Adam step after a matmul, {blas}: serial {r['adam_1_ms']:.3f} ms, split in two {r['adam_2_ms']:.3f} ms")
    print(f"14 matmuls of a step: OpenBLAS with 2 threads {two['gemms_ms']:.3f} ms; OpenBLAS at 1 thread "
          f"{one['gemms_ms']:.3f} ms whole, {one['gemms_halves_ms']:.3f} ms cut in halves on two Python threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
