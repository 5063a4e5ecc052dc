"""Training and measuring a Helmholtz machine (numpyvae.wake_sleep) from a TrainConfig: ``--model helmholtz``.

    python -m numpyvae train --model helmholtz --z-dim 20 --hidden 200 --epochs 10 [--q-update sleep|wake|both]
    python -m numpyvae evaluate RUN_DIR --k 1000

The networks are the engine's own (numpyvae.nn.MLP with a linear last layer):
encoder x (N, D) -> logits of q(h|x) (N, K), decoder h (k, N, K) -> logits of p(x|h) (k, N, D),
and the prior's K logits. Each step is :meth:`HelmholtzMachine.step_grads` (wake for p; sleep,
wake-q or both for q, see wake_sleep.py), then the optimizer. The data, its binarization, the
batches and the seeds are the VAE trainer's, so a Helmholtz run and a VAE run with the same
settings see the same images in the same order; evaluation uses the same test draw.

A run directory holds helmholtz.npz (weights, optimizer state, generator states, config and
history, written atomically after every epoch), config.json and history.json. It can be
evaluated; resuming and the VAE's pictures are not implemented for it (an error says so).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

from .config import (TrainConfig, binarize_test_set, model_seed, noise_seed, resolved_binarize, test_seed,
                     trainer_seed, validation_seed)
from .datasets import binarize_dynamic, binarize_static, load
from .epochs import EpochLoop
from .files import atomic_save
from .nn import MLP
from .optim import make_optimizer
from .progress import Progress
from .wake_sleep import HelmholtzMachine, sample_bernoulli

HELMHOLTZ_FILE = "helmholtz.npz"
VAL_K, VAL_N = 100, 500          # per-epoch validation: IS log p(x) with k = 100 on the first 500 test images


def build_helmholtz(x_dim: int, cfg: TrainConfig, seed: int, dtype) -> HelmholtzMachine:
    """The machine for a run: MLP encoder x_dim-hidden-z_dim and decoder z_dim-hidden_dec-x_dim, linear last layers."""
    rng = np.random.default_rng(seed)
    init = None if cfg.init == "auto" else cfg.init
    hidden_dec = cfg.hidden_dec or list(reversed(cfg.hidden))
    encoder = MLP([x_dim, *cfg.hidden, cfg.z_dim], cfg.activation, final_activation=False, rng=rng,
                  dtype=dtype, init=init)
    decoder = MLP([cfg.z_dim, *hidden_dec, x_dim], cfg.activation, final_activation=False, rng=rng,
                  dtype=dtype, init=init)
    return HelmholtzMachine(encoder, decoder, cfg.z_dim, dtype=dtype)


def log_likelihood(hm: HelmholtzMachine, x: np.ndarray, k: int, rng: np.random.Generator, *,
                   batch_size: int = 100, chunk: int = 100) -> dict:
    """Importance-sampled log p(x) with q(h|x) as proposal, and the ELBO of the same samples, (N,) float64 each.

    log p(x) ≈ log (1/k) Σ_i w_i, w_i = p(x, h_i)/q(h_i|x), h_i ~ q(h|x) (an IWAE_k bound, biased low,
    as for the VAE); ELBO ≈ (1/k) Σ_i log w_i. The k samples go through the decoder ``chunk`` at a time
    for ``batch_size`` examples at a time (peak memory chunk × batch_size × D floats); the log-sum-exp
    over chunks is merged with logaddexp.
    """
    N = x.shape[0]
    iwae, elbo = np.empty(N), np.empty(N)
    for start in range(0, N, batch_size):
        xb = x[start:start + batch_size]
        logits_q, _ = hm.encoder.forward(xb)
        lse, total = np.full(xb.shape[0], -np.inf), np.zeros(xb.shape[0])
        for done in range(0, k, chunk):
            c = min(chunk, k - done)
            h = sample_bernoulli(np.broadcast_to(logits_q, (c,) + logits_q.shape), rng)
            log_w = hm.log_weights(xb, h)[0].astype(np.float64)         # (c, n)
            lse = np.logaddexp(lse, logsumexp(log_w, axis=0))
            total += log_w.sum(0)
        iwae[start:start + batch_size] = lse - math.log(k)
        elbo[start:start + batch_size] = total / k
    return {"log_likelihood": iwae, "elbo": elbo}


class HelmholtzTrainer(EpochLoop):
    """The VAE trainer's loop for a Helmholtz machine: same data, batches and seeds; wake-sleep steps."""

    def __init__(self, cfg: TrainConfig, data=None, run_dir: Path | None = None, quiet: bool = False):
        # imported here: train imports the model stack this module does not need
        from .train import build_or_leave_no_trace, claim_run_dir, is_new_run_dir
        cfg.validate()
        if cfg.model != "helmholtz":
            raise ValueError(f"HelmholtzTrainer: the config's model is {cfg.model!r}; use numpyvae.train.Trainer")
        self.cfg, self.quiet = cfg, quiet
        self.run_dir = None if run_dir is None else Path(run_dir)
        fresh = is_new_run_dir(self.run_dir)
        self._lock = None if run_dir is None else claim_run_dir(self.run_dir, new=True)
        build_or_leave_no_trace(self, lambda: self._build(data), fresh)

    def _build(self, data) -> None:
        cfg = self.cfg
        self.dtype = np.dtype(cfg.dtype)
        self.data = data if data is not None else load(cfg.dataset, dtype=self.dtype)
        mode = cfg.resolved_binarize()
        if mode == "none":
            raise ValueError("the Helmholtz machine models binary pixels: --binarize none is not a setting of "
                             "--model helmholtz (use dynamic or static)")
        self.x_train = np.ascontiguousarray(self.data.x_train, dtype=self.dtype)
        if mode == "static":
            self.x_train = binarize_static(self.x_train, method="sample", seed=train_draw_seed_of(cfg))
        self.x_val, _ = binarize_test_set(np.ascontiguousarray(self.data.x_test, dtype=self.dtype), mode,
                                          seed=test_seed(cfg.seed))
        if cfg.batch_size > self.x_train.shape[0]:
            raise ValueError(f"batch_size {cfg.batch_size} is larger than the {self.x_train.shape[0]} training "
                             f"examples; use --batch-size {min(128, self.x_train.shape[0])} or less")
        self.model = build_helmholtz(self.x_train.shape[1], cfg, model_seed(cfg.seed), self.dtype)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.params, self.model.grads, lr=cfg.lr)
        self.rng = np.random.default_rng(trainer_seed(cfg.seed))                 # shuffling, binarization
        self.noise = np.random.default_rng(noise_seed(model_seed(cfg.seed)))     # h ~ q and the dreams
        self.epoch, self.history = 0, []

    def _grads_finite(self) -> bool:
        return all(math.isfinite(float(g.sum())) for g in self.model.grads.values())

    def _clip(self) -> None:
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in self.model.grads.values()))
        if norm > self.cfg.clip_grad_norm:
            for g in self.model.grads.values():
                g *= self.cfg.clip_grad_norm / norm

    def _train_epoch(self) -> dict:
        cfg, x = self.cfg, self.x_train
        steps = x.shape[0] // cfg.batch_size
        dynamic = cfg.resolved_binarize() == "dynamic"
        perm = self.rng.permutation(x.shape[0])
        iwae = sleep = 0.0
        bar = Progress(steps, f"epoch {self.epoch + 1}/{cfg.epochs}", quiet=self.quiet)
        start = time.perf_counter()
        for b in range(steps):
            xb = x[perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            if dynamic:
                xb = binarize_dynamic(xb, self.rng)
            out = self.model.step_grads(xb, self.noise, k=cfg.n_samples, q_update=cfg.q_update)
            if not (math.isfinite(out["iwae"]) and self._grads_finite()):
                raise ValueError(f"training diverged at epoch {self.epoch + 1}, batch {b + 1} (IWAE "
                                 f"{out['iwae']}); try a smaller --lr or --clip-grad-norm")
            if cfg.clip_grad_norm > 0:
                self._clip()
            self.optimizer.step()
            iwae += out["iwae"]
            sleep += out.get("sleep_log_q", math.nan)
            bar.update(1, iwae=out["iwae"])
        bar.close()
        seconds = time.perf_counter() - start
        return dict(train_iwae=iwae / steps, train_sleep_log_q=sleep / steps, seconds=seconds,
                    samples_per_sec=steps * cfg.batch_size / seconds)

    def validate(self) -> dict:
        """IS log p(x) (k = 100) and the ELBO of the same samples, on the first 500 test images, fixed noise."""
        got = log_likelihood(self.model, self.x_val[:VAL_N], VAL_K,
                             np.random.default_rng(validation_seed(self.cfg.seed)))
        return {"val_log_px": float(got["log_likelihood"].mean()), "val_elbo": float(got["elbo"].mean())}

    def _epoch_line(self, row: dict) -> str:
        """The line ``fit`` prints after an epoch."""
        return (f"epoch {row['epoch']:3d}  train IWAE_{self.cfg.n_samples} {row['train_iwae']:8.2f}  "
                f"val log p(x) {row['val_log_px']:8.2f} (ELBO {row['val_elbo']:.2f}, IS k={VAL_K}, "
                f"{VAL_N} images)  {row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    def save(self) -> Path:
        """helmholtz.npz (everything, atomically), then config.json and history.json (copies to read by eye)."""
        from .checkpoint import save_json
        arrays = {f"param/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        meta = {"config": self.cfg.to_dict(), "epoch": self.epoch, "history": self.history,
                "rngs": {"trainer": self.rng.bit_generator.state, "noise": self.noise.bit_generator.state}}
        arrays["meta"] = np.array(json.dumps(meta))
        path = atomic_save(self.run_dir / HELMHOLTZ_FILE, lambda f: np.savez(f, **arrays))
        save_json(self.run_dir / "history.json", self.history)
        save_json(self.run_dir / "config.json", self.cfg.to_dict())
        return path


def train_draw_seed_of(cfg: TrainConfig) -> int:
    from .config import train_draw_seed
    return train_draw_seed(cfg.seed)


def is_helmholtz_run(run_dir) -> bool:
    return (Path(run_dir) / HELMHOLTZ_FILE).is_file()


def load_helmholtz(run_dir) -> tuple[HelmholtzMachine, TrainConfig, list]:
    """(machine with its trained weights, the run's config, its history) from a Helmholtz run directory."""
    path = Path(run_dir) / HELMHOLTZ_FILE
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        params = {k[len("param/"):]: f[k] for k in f.files if k.startswith("param/")}
    cfg = TrainConfig.from_dict(meta["config"], f"{path} config")
    x_dim = params[next(k for k in params if k.startswith("encoder.") and k.endswith(".W"))].shape[0]
    hm = build_helmholtz(x_dim, cfg, 0, np.dtype(cfg.dtype))
    if sorted(params) != sorted(hm.params):
        raise ValueError(f"{path}: its parameters {sorted(params)} do not match the machine its config builds")
    for k, v in params.items():
        np.copyto(hm.params[k], v)
    return hm, cfg, meta["history"]


def evaluate_helmholtz_run(run_dir, k: int = 1000, *, n_test: int | None = None, seed: int = 0) -> dict:
    """Test IS log p(x) (k samples) and ELBO of a Helmholtz run on the VAE evaluation's test draw."""
    hm, cfg, history = load_helmholtz(run_dir)
    data = load(cfg.dataset, dtype=hm.dtype)
    x, how = binarize_test_set(np.ascontiguousarray(data.x_test, dtype=hm.dtype),
                               resolved_binarize(cfg.binarize, cfg.likelihood, cfg.dataset), seed=test_seed(cfg.seed))
    x = x[:n_test] if n_test is not None else x
    start = time.perf_counter()
    got = log_likelihood(hm, x, k, np.random.default_rng(seed))
    ll = got["log_likelihood"]
    return {"dataset": cfg.dataset, "n_test": int(x.shape[0]), "test_data": how, "k": int(k),
            "log_likelihood": float(ll.mean()), "log_likelihood_stderr": float(ll.std() / math.sqrt(ll.size)),
            "test_elbo": float(got["elbo"].mean()), "epochs": len(history), "q_update": cfg.q_update,
            "seconds": time.perf_counter() - start}


def format_helmholtz(results: dict) -> str:
    return (f"test set: {results['dataset']}, {results['n_test']} examples, {results['test_data']}\n"
            f"  Helmholtz machine ({results['epochs']} epochs, q by {results['q_update']})\n"
            f"  ELBO (same samples)                 {results['test_elbo']:10.2f}\n"
            f"  log p(x), IS k={results['k']:<20}{results['log_likelihood']:10.2f}  "
            f"± {results['log_likelihood_stderr']:.2f} (std. error over examples)")
