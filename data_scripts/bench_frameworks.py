"""Epoch time of one VAE in numpyvae, PyTorch and JAX, run interleaved (a measurement, not a test).

The model, the same in all three: 784-400-(20, 20) | 20-400-784, ReLU, a Bernoulli
likelihood on logits with the analytic Gaussian KL, the loss averaged over the batch,
Adam(lr 1e-3), batch 128 (468 steps per epoch, the last partial batch dropped), float32,
a fresh permutation each epoch and a fresh Bernoulli draw of every batch (dynamic
binarization), on the same 60,000 images: Fashion-MNIST if installed, else the bundled
digits tiled to 60,000 rows (numpyvae.bench.data.bench_data decides; the driver writes the
array once to a .npy file that all three read).

    python data_scripts/bench_frameworks.py --rounds 5 --threads 1 --epochs 3 \\
        --jax-python /tmp/jaxenv/bin/python [--json results.json]

runs, in each round, numpyvae (``numpyvae.bench.training.run_bench``: the real Trainer loop),
PyTorch (eager, torch.optim.Adam) and JAX (one jax.jit step of params, Adam state and
batch; optax.adam), each in its own child process, in a rotating order. Each child
reports the wall-clock and the CPU seconds (process time, all its threads) of every
epoch; the first epoch is left out for all (JAX compiles before it, but warms up in it),
and two tables give, per engine, the median over rounds of the median later epoch, and
its ratio to PyTorch's. On a machine other programs keep busy, wall time measures the
scheduler more than the code (a process with two runnable threads gets two shares of a
core), so the CPU table is the fairer one there; on a quiet machine the two agree at one thread.
How quiet it was: each line gives the 1-minute load average before → after that child (the GEMM
line too; the JSON keeps them). It lags and counts the benchmark's own children: on an idle
machine it settles near --threads, on one with a busy process near --threads + 1.

Threads: ``--threads N`` sets OPENBLAS/OMP/MKL_NUM_THREADS=N in every child,
torch.set_num_threads(N), XLA's intra-op threads to N, and with N = 1 pins each child to
one core (os.sched_setaffinity), so that no engine can use the second core unasked.

JAX is not a numpyvae dependency and may live in another environment (``--jax-python``);
that interpreter needs only jax, optax and numpy. Neither torch nor jax is imported by numpyvae.

The OpenBLAS kernel: numpyvae's line names it. A machine that forces an older kernel
through OPENBLAS_CORETYPE (this project's sets Haswell, AVX2, on an AVX-512 CPU) slows
numpyvae's matmuls (NumPy's OpenBLAS) but neither XLA's nor PyTorch's (MKL); to compare
with the kernel OpenBLAS would pick, unset both variables in that one command:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python data_scripts/bench_frameworks.py ...``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
B, H, K, D = 128, 400, 20, 784


def _pin(threads: int) -> None:
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(threads)
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


# --------------------------------------------------------------------------- the engines (children)

class Noise:
    """What a child draws or reads each step. ``noise_dir`` None: the engine draws its own (the
    permutation, the Bernoulli binarization if ``binarized``, eps). Else every engine reads the
    same pre-drawn NumPy arrays from ``noise_dir`` (written by :func:`write_shared_noise`): for
    epoch e, ``perm_e.npy``, ``eps_e.npy`` (steps·B, K) and, when binarized, ``xbin_e.npy``
    (steps·B, D) uint8 in the permuted order, so no engine pays for its generator in the step."""

    def __init__(self, noise_dir, binarized):
        self.dir, self.binarized = noise_dir, binarized

    def epoch(self, e):
        """(perm, eps, xbin) of epoch ``e`` (xbin None when grey); all None for own noise."""
        import numpy as np
        if self.dir is None:
            return None, None, None
        load = lambda name: np.load(os.path.join(self.dir, f"{name}_{e}.npy"))      # noqa: E731
        return load("perm"), load("eps"), load("xbin") if self.binarized else None


def write_shared_noise(noise_dir, x, epochs, seed, binarized):
    """Draw every epoch's permutation, eps and (if binarized) binarized batches with NumPy, once."""
    import numpy as np
    rng = np.random.default_rng(seed + 1000)
    steps = x.shape[0] // B
    for e in range(epochs):
        perm = rng.permutation(x.shape[0])
        np.save(os.path.join(noise_dir, f"perm_{e}.npy"), perm)
        np.save(os.path.join(noise_dir, f"eps_{e}.npy"), rng.standard_normal((steps * B, K), dtype=np.float32))
        if binarized:
            xb = x[perm[:steps * B]]
            np.save(os.path.join(noise_dir, f"xbin_{e}.npy"), (rng.random(xb.shape, dtype=np.float32) < xb).astype(np.uint8))


def run_numpyvae(data_path, epochs, seed, threads, noise):
    """Own noise: the real Trainer loop (numpyvae.run.train, dynamic binarization or none). Shared noise:
    the same model and optimizer, stepped on the pre-drawn batches and eps (model.loss_and_grads(x, eps))."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from numpyvae.bench.data import blas_kernel
    from numpyvae.datasets.dataset import Dataset
    from numpyvae.run.train import TrainConfig, Trainer
    x_all = np.load(data_path)
    data = Dataset("digits", x_all, np.zeros(len(x_all), int), x_all[:B], np.zeros(B, int), (28, 28), "bench")
    trainer = Trainer(TrainConfig(dataset="digits", hidden=[H], z_dim=K, batch_size=B, epochs=epochs, seed=seed,
                                  binarize="dynamic" if noise.binarized else "none"), data=data, quiet=True)
    model, opt, steps = trainer.model, trainer.optimizer, x_all.shape[0] // B
    times, cpu = [], []
    for e in range(epochs):
        perm, eps, xbin = noise.epoch(e)
        t0, c0 = time.perf_counter(), time.process_time()
        if perm is None:
            trainer._train_epoch()
            trainer.epoch += 1
        else:
            for b in range(steps):
                trainer.blas.tick()
                sl = slice(b * B, (b + 1) * B)
                x = xbin[sl].astype(np.float32) if xbin is not None else np.take(x_all, perm[sl], axis=0)
                model.loss_and_grads(x, eps[sl])
                opt.step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(epochs=times, cpu=cpu, version=f"numpy {np.__version__}, OpenBLAS kernel {blas_kernel()}",
                blas_threads=trainer.blas.take_used())


def run_torch(data_path, epochs, seed, threads, noise):
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_all = torch.from_numpy(np.load(data_path))
    enc, mu, logvar = nn.Linear(D, H), nn.Linear(H, K), nn.Linear(H, K)
    dec1, dec2 = nn.Linear(K, H), nn.Linear(H, D)
    mods = nn.ModuleList([enc, mu, logvar, dec1, dec2])
    opt = torch.optim.Adam(mods.parameters(), lr=1e-3)
    n, steps = x_all.shape[0], x_all.shape[0] // B
    times, cpu = [], []
    for e in range(epochs):
        perm, eps, xbin = noise.epoch(e)
        t0, c0 = time.perf_counter(), time.process_time()
        own = perm is None
        perm = torch.randperm(n) if own else torch.from_numpy(perm)
        for b in range(steps):
            sl = slice(b * B, (b + 1) * B)
            if xbin is not None:
                x = torch.from_numpy(xbin[sl]).float()
            else:
                x = x_all[perm[sl]]
                x = torch.bernoulli(x) if own and noise.binarized else x
            h = F.relu(enc(x))
            m, lv = mu(h), logvar(h)
            e_b = torch.randn_like(m) if own else torch.from_numpy(eps[sl])
            z = m + torch.exp(0.5 * lv) * e_b
            logits = dec2(F.relu(dec1(z)))
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * torch.sum(1 + lv - m * m - lv.exp())
            loss = (nll + kl) / B
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(epochs=times, cpu=cpu, version=f"torch {torch.__version__}", last_loss=float(loss))


def jax_vae(jax, jnp, key):
    """The benchmark's model in JAX (also used by bench_gemms.py): returns (params, loss_fn).

    params: dict name -> (W (d_in, d_out), b (d_out,)) for enc, mu, logvar, dec1, dec2, drawn as PyTorch's
    nn.Linear draws them (U(±1/√d_in)) from ``key``. loss_fn(p, x (B, D), eps (B, K)) is the batch mean
    of −ELBO: Bernoulli from logits plus the analytic KL.
    """
    import numpy as np

    def linear(key, d_in, d_out):
        kw, kb = jax.random.split(key)
        bound = 1.0 / np.sqrt(d_in)
        return (jax.random.uniform(kw, (d_in, d_out), jnp.float32, -bound, bound),
                jax.random.uniform(kb, (d_out,), jnp.float32, -bound, bound))
    keys = jax.random.split(key, 6)
    params = dict(enc=linear(keys[0], D, H), mu=linear(keys[1], H, K), logvar=linear(keys[2], H, K),
                  dec1=linear(keys[3], K, H), dec2=linear(keys[4], H, D))

    def loss_fn(p, x, eps):
        def lin(name, v):
            w, b = p[name]
            return v @ w + b
        h = jax.nn.relu(lin("enc", x))
        m, lv = lin("mu", h), lin("logvar", h)
        z = m + jnp.exp(0.5 * lv) * eps
        logits = lin("dec2", jax.nn.relu(lin("dec1", z)))
        nll = jnp.sum(jax.nn.softplus(logits) - x * logits)
        kl = -0.5 * jnp.sum(1 + lv - m * m - jnp.exp(lv))
        return (nll + kl) / x.shape[0]
    return params, loss_fn


def run_jax(data_path, epochs, seed, threads, noise):
    import numpy as np
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import jax
    import jax.numpy as jnp
    import optax
    jax.config.update("jax_platforms", "cpu")
    x_all = jnp.asarray(np.load(data_path))
    key = jax.random.PRNGKey(seed)

    params, loss_fn = jax_vae(jax, jnp, key)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    binarized = noise.binarized

    @jax.jit
    def step(p, s, idx, k):
        k1, k2 = jax.random.split(k)
        xb = jnp.take(x_all, idx, axis=0)
        x = jax.random.bernoulli(k1, xb).astype(jnp.float32) if binarized else xb
        eps = jax.random.normal(k2, (x.shape[0], K), jnp.float32)
        loss, grads = jax.value_and_grad(loss_fn)(p, x, eps)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    @jax.jit
    def step_given(p, s, x, eps):          # shared noise: the batch and eps come from NumPy
        loss, grads = jax.value_and_grad(loss_fn)(p, x, eps)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    n, steps = x_all.shape[0], x_all.shape[0] // B
    rng = np.random.default_rng(seed)
    step(params, opt_state, jnp.arange(B), key)[2].block_until_ready()    # compile outside the timing
    step_given(params, opt_state, jnp.zeros((B, D), jnp.float32), jnp.zeros((B, K), jnp.float32))[2].block_until_ready()
    x_host = np.load(data_path)
    times, cpu = [], []
    for e in range(epochs):
        perm_s, eps_s, xbin = noise.epoch(e)
        t0, c0 = time.perf_counter(), time.process_time()
        if perm_s is None:
            perm = rng.permutation(n).astype(np.int32)
            for b in range(steps):
                key, sub = jax.random.split(key)
                params, opt_state, loss = step(params, opt_state, perm[b * B:(b + 1) * B], sub)
        else:
            for b in range(steps):
                sl = slice(b * B, (b + 1) * B)
                x = xbin[sl].astype(np.float32) if xbin is not None else np.take(x_host, perm_s[sl], axis=0)
                params, opt_state, loss = step_given(params, opt_state, x, eps_s[sl])
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(epochs=times, cpu=cpu, version=f"jax {jax.__version__} (jaxlib), optax {optax.__version__}",
                last_loss=float(loss))


ENGINES = dict(numpyvae=run_numpyvae, torch=run_torch, jax=run_jax)


def blas_text(out) -> str:
    """numpyvae's BLAS thread counts as its steps ran them ('; BLAS threads 1 x936'), '' for the others."""
    used = out.get("blas_threads")
    return "; BLAS threads " + ", ".join(f"{n} x{c}" for n, c in used.items()) if used else ""


# --------------------------------------------------------------------------- the driver

def gemm_rate(threads, steps) -> dict:
    """This machine's float32 rate on the 14 products of one step (numpyvae.bench.matmul_bound.measure_matmuls, best
    of 5), at ``threads`` BLAS threads, and the epoch time of those products alone. At one thread it
    is timed in CPU seconds (what the products cost with a core to itself, however busy the machine),
    as the engines' CPU table is; at more, in wall seconds."""
    from numpyvae import VAE
    from numpyvae.run import threads as blas_threads
    from numpyvae.bench.matmul_bound import matmul_shapes, measure_matmuls
    from numpyvae.bench.data import blas_kernel
    blas_threads.pin(threads)
    ops = matmul_shapes(VAE(D, [H], K, seed=0), B)
    clock = time.process_time if threads == 1 else time.perf_counter
    mm = measure_matmuls(ops, "float32", repeats=5, min_seconds=0.3, clock=clock)
    return dict(gflops=mm["gflops"], bound=steps * mm["seconds_per_step"], products=len(ops), kernel=blas_kernel(),
                clock="cpu" if threads == 1 else "wall")


def child(engine, args) -> dict | None:
    python = args.jax_python if engine == "jax" and args.jax_python else sys.executable
    env = dict(os.environ, **{v: str(args.threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                             "MKL_NUM_THREADS")})
    cmd = [python, __file__, "--child", engine, "--data", args.data, "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--seed", str(args.seed), "--noise", args.noise, "--pixels", args.pixels]
    cmd += ["--noise-dir", args.noise_dir] if args.noise_dir else []
    from numpyvae.bench.data import load_average
    before = load_average()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"{engine}: failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return None
    return dict(json.loads(p.stdout.strip().splitlines()[-1]), load_before=before, load_after=load_average())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per child; the first is not counted")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--jax-python", help="the interpreter that has jax and optax (default: this one)")
    ap.add_argument("--json", help="write every child's numbers here")
    ap.add_argument("--noise", choices=["own", "shared"], default="own",
                    help="own: each engine draws its permutation, binarization and eps in its step (the "
                         "default); shared: all read the same NumPy draws, made before the timing")
    ap.add_argument("--pixels", choices=["binarized", "grey"], default="binarized",
                    help="binarized: a Bernoulli draw of every batch (dynamic binarization, the default); "
                         "grey: the grey levels as they are (the pytorch/examples model as published)")
    ap.add_argument("--child", choices=list(ENGINES), help=argparse.SUPPRESS)
    ap.add_argument("--noise-dir", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _pin(args.threads)
        noise = Noise(args.noise_dir, args.pixels == "binarized")
        print(json.dumps(ENGINES[args.child](args.data, args.epochs, args.seed, args.threads, noise)))
        return 0
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is not counted)")
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from numpyvae.bench.data import bench_data, load_average
    from numpyvae.files import atomic_write_bytes, check_writable
    if args.json:
        try:
            check_writable(args.json)                           # fail now, not after the rounds
        except ValueError as e:
            ap.error(str(e))
    data, source = bench_data(60_000, "float32")
    with tempfile.TemporaryDirectory() as tmp:
        args.data = str(Path(tmp) / "x_train.npy")
        np.save(args.data, data.x_train)
        args.noise_dir = None
        if args.noise == "shared":
            args.noise_dir = tmp
            write_shared_noise(tmp, data.x_train, args.epochs, args.seed, args.pixels == "binarized")
        gemm = dict(load_before=load_average(), **gemm_rate(args.threads, 60_000 // B), load_after=load_average())
        print(f"GEMM: NumPy's OpenBLAS ({gemm['kernel']}) runs the step's {gemm['products']} products at "
              f"{gemm['gflops']:.1f} GFLOP/s at {args.threads} thread(s) ({gemm['clock']} time): {gemm['bound']:.2f} s "
              f"per epoch for the matmuls alone (load {gemm['load_before']}→{gemm['load_after']})")
        print(f"noise: {args.noise}, pixels: {args.pixels}; data: {source}; threads {args.threads}; {args.rounds} rounds of {args.epochs} epochs; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
        results = {e: [] for e in args.engines}
        for r in range(args.rounds):
            order = args.engines[r % len(args.engines):] + args.engines[:r % len(args.engines)]
            for engine in order:
                out = child(engine, args)
                if out is None:
                    continue
                results[engine].append(out)
                print(f"round {r + 1} {engine:9s} wall {' '.join(f'{x:.3f}' for x in out['epochs'])} s, "
                      f"cpu {' '.join(f'{x:.3f}' for x in out['cpu'])} s  (load {out['load_before']}→{out['load_after']}; "
                      f"{out['version']}{blas_text(out)})", flush=True)
    done = {e: rs for e, rs in results.items() if rs}
    for kind in ("cpu", "epochs"):
        # per engine: the median over rounds of each round's median later epoch
        med = {e: statistics.median(statistics.median(o[kind][1:]) for o in rs) for e, rs in done.items()}
        ref = med.get("torch")
        label = "CPU s per epoch (all threads)" if kind == "cpu" else "wall s per epoch"
        print(f"\n| implementation | {label}, median of {args.rounds} rounds | vs PyTorch |\n|---|---|---|")
        for e, x in sorted(med.items(), key=lambda kv: kv[1]):
            print(f"| {e}: {done[e][0]['version']} | {x:.3f} | {f'{x / ref:.2f}' if ref else ''} |")
        if "jax" in done and "numpyvae" in done:
            ratios = [statistics.median(a[kind][1:]) / statistics.median(b[kind][1:])
                      for a, b in zip(done["numpyvae"], done["jax"])]
            print(f"numpyvae / JAX ({kind}) per round: {' '.join(f'{x:.2f}' for x in ratios)}; "
                  f"median {statistics.median(ratios):.2f}")
    end = [round(x, 2) for x in os.getloadavg()]
    loads = [o[w] for rs in done.values() for o in rs for w in ("load_before", "load_after") if o[w] is not None]
    print(f"load average (1, 5, 15 min) at the end: {end}; 1 min average before and after each child: "
          f"{min(loads, default=0):.2f}–{max(loads, default=0):.2f}")
    if args.json:
        atomic_write_bytes(args.json, json.dumps(dict(
            noise=args.noise, pixels=args.pixels, threads=args.threads, rounds=args.rounds, epochs=args.epochs,
            data=source, load_end=end, gemm=gemm, results=results), indent=1).encode())
    return 0 if all(len(rs) == args.rounds for rs in results.values()) else 1      # a failed child fails the run


if __name__ == "__main__":
    sys.exit(main())
