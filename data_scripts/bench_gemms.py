"""The matrix products of one training step, alone: which layout and which library multiply fastest?

A measurement, not a test, and never imported by numpyvae. The question it answers: can the
matmuls of a numpyvae step go faster than they do, and is JAX's compiled step faster because its
GEMM is faster or because it fuses the elementwise work around the GEMMs?

The model is bench's (and the PyTorch example's): 784-400-(20, 20) | 20-400-784, batch 128,
float32. A Dense layer y = x W + b with W stored (in, out), as numpyvae stores it, multiplies

    forward   y  = x  @ W          (B, in)  @ (in, out)
    dW           = x.T @ dy        (in, B)  @ (B, out)
    dx           = dy @ W.T        (B, out) @ (out, in)     (not for the encoder's first layer)

19 products, 420 MFLOP per step. Every product is timed in each of these forms:

    numpy W(in,out)    np.matmul on numpyvae's layout; .T views are passed to BLAS as flags
    numpy W(out,in)    the same products with W stored transposed, as PyTorch stores it
                       (forward x @ W.T, dW^T = dy.T @ x, dx = dy @ W)
    numpy W F-order    W (in, out) in Fortran order (the same memory as the W(out,in) row)
    numpy copy .T      the transposed operand copied to a contiguous array first (what a
                       library without transpose flags would do), for scale
    scipy sgemm        scipy.linalg.blas.sgemm, scipy's own OpenBLAS build, transposes as flags
                       (trans_a / trans_b), the result written in place (overwrite_c)
    jax jit            (optional, --jax-python) each product jit-compiled alone, called in a loop;
                       then all 19 in one jitted function (one dispatch), then JAX's whole training
                       step (forward, backward, Adam; the bench_frameworks.py model) with and
                       without its random draws, so that "step − its matmuls" is XLA's cost of
                       everything else.

The OpenBLAS kernel. Some machines set OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) to force an
older kernel, because older OpenBLAS builds crash or compute wrong results on their CPUs;
this project's machine sets Haswell (AVX2) on an AVX-512 CPU. Each NumPy/SciPy form is
timed in a child process as the environment says, and, when either variable is set, the
main forms once more in a child with both unset, where OpenBLAS picks its kernel for the
CPU; the column headers name the kernel (:func:`blas_kernel`). Tests and CI keep the
environment's setting.

Times are CPU seconds (time.process_time) per call, the best of ``--repeats`` repeats of
``--seconds`` each: on a shared machine other programs can only make a repeat slower. With
``--threads 1`` (the default) every BLAS and XLA runs on one thread, pinned to one core.

    OPENBLAS_NUM_THREADS=1 python data_scripts/bench_gemms.py --jax-python /tmp/jaxenv/bin/python

prints one table (µs per product and GFLOP/s per form, plus the per-step total) and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

B, D, H, K = 128, 784, 400, 20
#: (layer, d_in, d_out) of the model's Dense layers, in the order a step runs them
LAYERS = [("encoder.0", D, H), ("encoder.mu", H, K), ("encoder.logvar", H, K),
          ("decoder.0", K, H), ("decoder.out", H, D)]


def ops():
    """The step's products as (name, op, m, k, n): C (m, n) = A (m, k) @ B (k, n) in numpyvae's layout."""
    out = []
    for i, (name, d_in, d_out) in enumerate(LAYERS):
        out.append((name, "forward", B, d_in, d_out))        # x @ W
        out.append((name, "dW", d_in, B, d_out))             # x.T @ dy
        if i > 0:
            out.append((name, "dx", B, d_out, d_in))         # dy @ W.T
    return out


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blas_kernel() -> str:
    """The kernel NumPy's OpenBLAS runs, from numpyvae.bench.data (which names who chose it)."""
    sys.path.insert(0, ROOT)
    from numpyvae.bench.data import blas_kernel as kernel
    return kernel().split(" (")[0]


def _pin(threads: int) -> None:
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(threads)
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def best_cpu_seconds(fn, seconds: float, repeats: int) -> float:
    """CPU seconds per call of fn(): best over repeats, each about ``seconds`` long."""
    fn()
    t0, calls = time.process_time(), 0
    while time.process_time() - t0 < seconds / 4 or calls < 3:
        fn()
        calls += 1
    loops = max(3, round(calls * seconds / (time.process_time() - t0)))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(loops):
            fn()
        best = min(best, (time.process_time() - t0) / loops)
    return best


# --------------------------------------------------------------------------- numpy and scipy

def numpy_forms(seconds, repeats):
    """{form: [seconds per op]} for the NumPy and SciPy forms of every product."""
    import numpy as np
    from scipy.linalg import blas
    rng = np.random.default_rng(0)
    f32 = np.float32

    def rand(*shape):
        return rng.standard_normal(shape, dtype=f32)

    forms = {f: [] for f in ("numpy W(in,out)", "numpy W(out,in)", "numpy W F-order", "numpy copy .T",
                             "scipy sgemm")}
    for name, op, m, k, n in ops():
        # the operands as the layer has them: x (B, in), dy (B, out), W (in, out) or (out, in)
        if op == "forward":          # x (m=B, k=in) @ W (in, out)
            x, W = rand(m, k), rand(k, n)
            Wt = np.ascontiguousarray(W.T)                  # (out, in): PyTorch's layout
            WF = np.asfortranarray(W)
            c = np.empty((m, n), f32)
            calls = {"numpy W(in,out)": lambda: np.matmul(x, W, out=c),
                     "numpy W(out,in)": lambda: np.matmul(x, Wt.T, out=c),
                     "numpy W F-order": lambda: np.matmul(x, WF, out=c),
                     "numpy copy .T": lambda: np.matmul(x, np.ascontiguousarray(Wt.T), out=c)}
            # C (m, n) row-major is C^T (n, m) column-major = W^T x^T: a = W as F (n, k) with trans_a ...
            cF = np.empty((n, m), f32, order="F")
            calls["scipy sgemm"] = lambda: blas.sgemm(1.0, W.T, x.T, c=cF, overwrite_c=1)
        elif op == "dW":             # x.T (in, B) @ dy (B, out) -> dW (in, out);  W(out,in): dy.T @ x
            x, dy = rand(k, m), rand(k, n)                   # x (B, in), dy (B, out)
            c, ct = np.empty((m, n), f32), np.empty((n, m), f32)
            calls = {"numpy W(in,out)": lambda: np.matmul(x.T, dy, out=c),
                     "numpy W(out,in)": lambda: np.matmul(dy.T, x, out=ct),
                     "numpy W F-order": lambda: np.matmul(x.T, dy, out=ct.T),   # dW written in F order
                     "numpy copy .T": lambda: np.matmul(np.ascontiguousarray(x.T), dy, out=c),
                     "scipy sgemm": _sgemm_dW(blas, np, x, dy, m, n)}
        else:                        # dx = dy (B, out) @ W.T (out, in);  W(out,in): dy @ W
            dy, W = rand(m, k), rand(n, k)                   # W (in=n, out=k)
            Wt = np.ascontiguousarray(W.T)                   # (out, in)
            WF = np.asfortranarray(W)
            c = np.empty((m, n), f32)
            cF = np.empty((n, m), f32, order="F")
            calls = {"numpy W(in,out)": lambda: np.matmul(dy, W.T, out=c),
                     "numpy W(out,in)": lambda: np.matmul(dy, Wt, out=c),
                     "numpy W F-order": lambda: np.matmul(dy, WF.T, out=c),
                     "numpy copy .T": lambda: np.matmul(dy, np.ascontiguousarray(W.T), out=c),
                     # dx^T (in, B) column-major = W dy^T: W (in, out) row-major is W^T col-major -> trans_a
                     "scipy sgemm": lambda: blas.sgemm(1.0, W.T, dy.T, trans_a=1, c=cF, overwrite_c=1)}
        for form, fn in calls.items():
            forms[form].append(best_cpu_seconds(fn, seconds, repeats))
    return forms


def _sgemm_dW(blas, np, x, dy, m, n):
    """dW (in, out) row-major = dW^T (out, in) column-major = dy^T (out, B) x (B, in), all as flags."""
    cF = np.empty((n, m), np.float32, order="F")
    # x (B, in) row-major is x^T (in, B) column-major; dy likewise: dy^T x = (dy^T col-major) ...
    # a = dy.T (an F-ordered (out, B) view, no copy), b = x.T (F-ordered (in, B)) with trans_b
    return lambda: blas.sgemm(1.0, dy.T, x.T, trans_b=1, c=cF, overwrite_c=1)


def check_scipy_forms():
    """Every scipy form computes the numpy product (so the timings compare like with like)."""
    import numpy as np
    from scipy.linalg import blas
    rng = np.random.default_rng(1)
    x, W, dy = (rng.standard_normal(s, dtype=np.float32) for s in ((B, D), (D, H), (B, H)))
    fwd = blas.sgemm(1.0, W.T, x.T).T
    dW = blas.sgemm(1.0, dy.T, x.T, trans_b=1).T
    dx = blas.sgemm(1.0, W.T, dy.T, trans_a=1).T
    for got, want in ((fwd, x @ W), (dW, x.T @ dy), (dx, dy @ W.T)):
        assert np.allclose(got, want, rtol=1e-4, atol=1e-3), "a scipy form computes another product"


# --------------------------------------------------------------------------- JAX (child process)

JAX_CHILD = r'''
import json, os, sys, time
threads, seconds, repeats = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
if threads == 1:
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import numpy as np, jax, jax.numpy as jnp, optax
jax.config.update("jax_platforms", "cpu")
OPS, B, D, H, K = json.loads(sys.argv[4]), 128, 784, 400, 20
BEST = {}
def best(fn):
    jax.block_until_ready(fn())
    t0, calls = time.process_time(), 0
    while time.process_time() - t0 < seconds / 4 or calls < 3:
        jax.block_until_ready(fn()); calls += 1
    loops = max(3, round(calls * seconds / (time.process_time() - t0)))
    b = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(loops):
            out = fn()
        jax.block_until_ready(out)
        b = min(b, (time.process_time() - t0) / loops)
    return b
rng = np.random.default_rng(0)
mm = jax.jit(lambda a, b: a @ b)
per_op, operands = [], []
for name, op, m, k, n in OPS:
    a = jnp.asarray(rng.standard_normal((m, k), dtype=np.float32))
    b = jnp.asarray(rng.standard_normal((k, n), dtype=np.float32))
    operands.append((a, b))
    per_op.append(best(lambda a=a, b=b: mm(a, b)))
noop = jax.jit(lambda a: a)
tiny = jnp.zeros((4,), jnp.float32)
dispatch = best(lambda: noop(tiny))
all_mm = jax.jit(lambda ops: [a @ b for a, b in ops])
all_step = best(lambda: all_mm(operands))

sys.path.insert(0, sys.argv[5])                      # data_scripts/: the model is bench_frameworks' own
from bench_frameworks import jax_vae
params, loss_fn = jax_vae(jax, jnp, jax.random.PRNGKey(0))
tx = optax.adam(1e-3)
state = tx.init(params)
xg = jnp.asarray(rng.random((B, D), dtype=np.float32))
@jax.jit
def step_rng(p, s, k):
    k1, k2 = jax.random.split(k)
    x = jax.random.bernoulli(k1, xg).astype(jnp.float32)
    eps = jax.random.normal(k2, (B, K), jnp.float32)
    loss, g = jax.value_and_grad(loss_fn)(p, x, eps)
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s, loss
@jax.jit
def step_plain(p, s, x, eps):
    loss, g = jax.value_and_grad(loss_fn)(p, x, eps)
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s, loss
@jax.jit
def grads_only(p, x, eps):
    return jax.value_and_grad(loss_fn)(p, x, eps)
@jax.jit
def adam_only(p, s, g):
    u, s = tx.update(g, s, p)
    return optax.apply_updates(p, u), s
x = (jnp.asarray(rng.random((B, D), dtype=np.float32)) < xg).astype(jnp.float32)
eps = jnp.asarray(rng.standard_normal((B, K), dtype=np.float32))
key = jax.random.PRNGKey(1)
g = grads_only(params, x, eps)[1]
res = dict(per_op=per_op, dispatch=dispatch, all_matmuls=all_step,
           step_with_rng=best(lambda: step_rng(params, state, key)),
           step_without_rng=best(lambda: step_plain(params, state, x, eps)),
           loss_and_grads=best(lambda: grads_only(params, x, eps)),
           adam=best(lambda: adam_only(params, state, g)),
           version=f"jax {jax.__version__}, optax {optax.__version__}")
print(json.dumps(res))
'''


def jax_forms(python, threads, seconds, repeats):
    out = subprocess.run([python, "-c", JAX_CHILD, str(threads), str(seconds), str(repeats), json.dumps(ops()),
                          str(Path(__file__).resolve().parent)],
                         capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    if out.returncode != 0:
        sys.exit(f"bench_gemms: the JAX child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def numpy_child(threads, seconds, repeats, native: bool) -> dict:
    """numpy_forms in a child process: as the environment says, or with KERNEL_VARS unset (native)."""
    env = dict(os.environ)
    if native:
        sys.path.insert(0, ROOT)
        from numpyvae.bench.data import KERNEL_VARS
        for v in KERNEL_VARS:
            env.pop(v, None)
    out = subprocess.run([sys.executable, __file__, "--child-numpy", "--threads", str(threads), "--seconds",
                          str(seconds), "--repeats", str(repeats)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"bench_gemms: the numpy child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.2, help="CPU seconds per repeat of one timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--jax-python", default="", help="an interpreter with jax and optax (omit: no JAX column)")
    p.add_argument("--json", default="", help="also write the numbers to this file")
    p.add_argument("--child-numpy", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _pin(args.threads)
    if args.child_numpy:
        check_scipy_forms()
        print(json.dumps(dict(kernel=blas_kernel(), forms=numpy_forms(args.seconds, args.repeats))))
        return 0
    import numpy as np
    load0 = os.getloadavg()[0]
    runs = [numpy_child(args.threads, args.seconds, args.repeats, native=False)]
    sys.path.insert(0, ROOT)
    from numpyvae.bench.data import KERNEL_VARS
    forced = {v: os.environ[v] for v in KERNEL_VARS if v in os.environ}
    if forced:         # the environment forces a kernel: also time the one OpenBLAS picks for this CPU
        runs.append(numpy_child(args.threads, args.seconds, args.repeats, native=True))
    forms = {}
    for i, run in enumerate(runs):
        keep = run["forms"] if i == 0 else {f: v for f, v in run["forms"].items()
                                            if f in ("numpy W(in,out)", "numpy W(out,in)", "scipy sgemm")}
        forms.update({f"{f} [{run['kernel']}]": v for f, v in keep.items()})
    jax = jax_forms(args.jax_python, args.threads, args.seconds, args.repeats) if args.jax_python else None
    if jax:
        forms["jax jit (alone)"] = jax["per_op"]
    load1 = os.getloadavg()[0]
    flops = [2 * m * k * n for _, _, m, k, n in ops()]
    names = list(forms)
    print(f"# the 19 products of one step, B={B}, float32, {args.threads} thread(s); CPU µs per product "
          f"(best of {args.repeats}); numpy {np.__version__}; [OpenBLAS kernel]; load {load0:.2f} -> {load1:.2f}")
    if forced:
        print(f"# this environment sets {forced}; the columns marked [{runs[-1]['kernel']}] ran with both unset")
    print("| product | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for i, (name, op, m, k, n) in enumerate(ops()):
        print(f"| {name} {op} ({m}x{k} @ {k}x{n}) | " + " | ".join(f"{forms[f][i] * 1e6:.1f}" for f in names) + " |")
    total = sum(flops)
    print("| **step total, µs** | " + " | ".join(f"**{sum(forms[f]) * 1e6:.0f}**" for f in names) + " |")
    print("| GFLOP/s | " + " | ".join(f"{total / sum(forms[f]) / 1e9:.0f}" for f in names) + " |")
    big = [i for i, fl in enumerate(flops) if fl > 10e6]
    print("| GFLOP/s, the 5 big products | " + " | ".join(
        f"{sum(flops[i] for i in big) / sum(forms[f][i] for i in big) / 1e9:.0f}" for f in names) + " |")
    if jax:
        print(f"\n# JAX ({jax['version']}), CPU µs per call of one jitted function")
        print("| what | µs |\n|---|---:|")
        for key, label in (("dispatch", "an empty jitted call (dispatch)"),
                           ("all_matmuls", "the 19 products in one jitted function"),
                           ("loss_and_grads", "value_and_grad of the loss (x, eps given)"),
                           ("adam", "optax Adam update + apply"),
                           ("step_without_rng", "whole step, x and eps given"),
                           ("step_with_rng", "whole step with its Bernoulli and normal draws")):
            print(f"| {label} | {jax[key] * 1e6:.0f} |")
        print(f"| whole step minus its products | {(jax['step_with_rng'] - jax['all_matmuls']) * 1e6:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(forms=forms, jax=jax, flops=flops, load=[load0, load1], threads=args.threads,
                           forced=forced), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
