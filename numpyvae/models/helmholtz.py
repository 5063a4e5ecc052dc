"""The Helmholtz machine (numpyvae.models.wake_sleep) as a protocol model: ``--model helmholtz``.

The networks are the engine's own (numpyvae.nn.MLP with a linear last layer): encoder
x (N, D) -> logits of q(h|x) (N, K), decoder h (k, N, K) -> logits of p(x|h) (k, N, D), and the
prior's K logits, all in the one group "model". A step is not the gradient of one objective:

    forward(batch)    h_1..h_k ~ q(h|x), log w = log p(x, h) − log q(h|x) (k, N);
                      tape.bound = IWAE_k per example = logsumexp_s log w_s − log k
    backward(tape)    wake: p climbs Σ_s w̃_s log p(x, h_s) (w̃ = softmax_s log w, or the given c);
                      q by ``q_update``: wake-q (Σ_s w̃_s log q(h_s|x)), sleep (dreams), or both

so ``tape.loss`` (−mean IWAE_k) is what is reported, not what both networks descend.
log p(x) is :func:`numpyvae.measure.importance_sampled` with q(h|x) as the proposal.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from ..checks import as_dtype, check_positive_int
from ..seeds import noise_seed
from ..nn import MLP
from .wake_sleep import Q_UPDATES, HelmholtzMachine, machine_log_likelihood, sample_bernoulli
from ..measure.inputs import as_rng
from .base import Batch, Model, ParamGroup

__all__ = ["HelmholtzModel", "build_machine", "helmholtz_model_config", "machine_log_likelihood"]

VAL_K, VAL_N = 100, 500          # per-epoch validation: IS log p(x) with k = 100 on the first 500 test images


def build_machine(x_dim: int, hidden, z_dim: int, hidden_dec=None, activation: str = "relu", init=None,
                  seed: int = 0, dtype="float32") -> HelmholtzMachine:
    """MLP encoder x_dim-hidden-z_dim and decoder z_dim-hidden_dec-x_dim (default hidden mirrored), linear last layers."""
    rng = np.random.default_rng(seed)
    dtype = as_dtype(dtype)
    hidden_dec = list(hidden_dec) if hidden_dec else list(reversed(hidden))
    encoder = MLP([x_dim, *hidden, z_dim], activation, final_activation=False, rng=rng, dtype=dtype, init=init)
    decoder = MLP([z_dim, *hidden_dec, x_dim], activation, final_activation=False, rng=rng, dtype=dtype, init=init)
    return HelmholtzMachine(encoder, decoder, z_dim, dtype=dtype)


def helmholtz_model_config(run: dict, x_dim: int, seed: int | None = None) -> dict:
    """The model config of a run config (TrainConfig.to_dict()) for data of x_dim features."""
    from ..seeds import model_seed
    return dict(x_dim=int(x_dim), hidden=list(run["hidden"]), z_dim=int(run["z_dim"]),
                hidden_dec=list(run.get("hidden_dec") or []), activation=run.get("activation", "relu"),
                init=None if run.get("init", "auto") == "auto" else run["init"],
                k=int(run.get("n_samples", 1)), q_update=run.get("q_update", "sleep"),
                seed=model_seed(int(run.get("seed", 0))) if seed is None else int(seed),
                dtype=run.get("dtype", "float32"))


class HelmholtzModel(Model):
    """A binary-latent Helmholtz machine trained by wake-sleep (``q_update`` sleep / wake / both, k samples)."""

    kind = "helmholtz"

    def __init__(self, x_dim: int, hidden=(200,), z_dim: int = 20, hidden_dec=None, activation: str = "relu",
                 init=None, k: int = 1, q_update: str = "sleep", seed: int = 0, dtype="float32"):
        if q_update not in Q_UPDATES:
            raise ValueError(f"HelmholtzModel: q_update must be one of {Q_UPDATES}, got {q_update!r}")
        self.k = check_positive_int(k, "HelmholtzModel", "k")
        self.q_update = q_update
        self.machine = build_machine(x_dim, hidden, z_dim, hidden_dec, activation, init, seed, dtype)
        self.x_dim, self.z_dim, self.dtype = int(x_dim), int(z_dim), self.machine.dtype
        self.config = dict(x_dim=self.x_dim, hidden=list(hidden), z_dim=self.z_dim,
                           hidden_dec=list(hidden_dec or []), activation=activation, init=init, k=self.k,
                           q_update=q_update, seed=int(seed), dtype=self.dtype.name)
        self.rng = np.random.default_rng(noise_seed(seed))      # h ~ q(h|x) and the dreams
        self.params, self.grads = self.machine.params, self.machine.grads

    @property
    def groups(self) -> dict:
        return {"model": ParamGroup(self.params, self.grads)}

    def forward(self, batch: Batch, noise=None, **options) -> dict:
        """k draws h ~ q(h|x) (from ``noise``, a Generator, or the model's), their log weights and IWAE_k (N,)."""
        rng = self.rng if noise is None else noise
        x = batch.x
        h = self.machine.sample_q(x, self.k, rng)
        log_w, tapes = self.machine.log_weights(x, h)
        lse = logsumexp(log_w, axis=0)
        bound = lse - math.log(self.k)
        return {"x": x, "h": h, "log_w": log_w, "lse": lse, "tapes": tapes, "rng": rng, "bound": bound,
                "loss": -float(bound.mean()), "parts": {"iwae": float(bound.mean())}}

    def backward(self, tape: dict, c: np.ndarray | None = None) -> dict:
        """Wake gradients for p and q's by q_update (see the module docstring) into ``grads``.

        c (k, N): the weight of each sample's log p(x, h_s) (and log q), default w̃_sn / N
        (Σ_s w̃_sn = 1), the IWAE bound's own. Sleep dreams N examples from the tape's generator.
        """
        x, h, (logits_q, tape_q, logits_x, tape_p) = tape["x"], tape["h"], tape["tapes"]
        N = x.shape[0]
        if c is None:
            c = np.exp(tape["log_w"] - tape["lse"]) / N
        self.machine._generative_backward(x, h, c, logits_x, tape_p)
        if self.q_update != "sleep":
            self.machine._wake_q_backward(h, c, logits_q, tape_q)
        if self.q_update != "wake":
            h_dream, x_dream = self.machine.dream(N, tape["rng"])
            tape["parts"]["sleep_log_q"] = self.machine.sleep_grads(h_dream, x_dream,
                                                                    accumulate=self.q_update == "both")
        return self.grads

    def log_likelihood(self, x: np.ndarray, k: int, rng=None, y=None, **options) -> np.ndarray:
        """IS log p(x) with q(h|x) as proposal (an IWAE_k bound, biased low), (N,) float64."""
        return self.estimates(x, k, rng, y, **options)["log_likelihood"]

    def estimates(self, x: np.ndarray, k: int, rng=None, y=None, *, batch_size: int = 100, chunk: int = 100,
                  bar=None) -> dict:
        """{"log_likelihood", "elbo"} (N,) float64: the IS estimate and the ELBO of the same samples; h drawn
        batch by batch, chunk by chunk from ``rng`` (None: the evaluation seed; an integer seeds one)."""
        if y is not None:
            raise ValueError("the Helmholtz machine is not conditional: it takes no labels")
        rng = as_rng(rng, "HelmholtzModel.log_likelihood")
        return machine_log_likelihood(self.machine, x, k, rng, batch_size=batch_size, chunk=chunk, bar=bar)

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None, mean: bool = True) -> np.ndarray:
        """h ~ p(h), then E[x|h] = σ(decoder(h)) (or a draw x ~ p(x|h) with mean=False), (n, D)."""
        if y is not None:
            raise ValueError("the Helmholtz machine is not conditional: it takes no labels")
        rng = self.rng if rng is None else rng
        n = check_positive_int(n, "HelmholtzModel.sample", "n")
        h = sample_bernoulli(np.broadcast_to(self.machine.prior_logits, (n, self.z_dim)), rng)
        logits = self.machine.decoder.forward(h)[0]
        p = 1.0 / (1.0 + np.exp(-logits))
        return p.astype(self.dtype) if mean else (rng.random(p.shape, dtype=self.dtype) < p).astype(self.dtype)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """E[x|h] at h = the most probable code of q(h|x) (each bit 1 where σ(logit) > ½), (N, D)."""
        h = (self.machine.encoder.forward(x)[0] > 0).astype(self.dtype)
        return (1.0 / (1.0 + np.exp(-self.machine.decoder.forward(h)[0]))).astype(self.dtype)

    def figures(self, data, out_dir) -> list:
        """samples.png (E[x|h], h ~ p(h)) and reconstructions.png (at q's most probable code)."""
        from pathlib import Path
        from .pictures import plot_model_reconstructions, plot_model_samples
        out_dir, shape = Path(out_dir), data.image_shape
        n = 100 if shape is not None else 2000
        return [plot_model_samples(self.sample(n, np.random.default_rng(0)), out_dir / "samples.png", shape,
                                   f"{n} samples: E[x|h], h ~ p(h) (binary, learned prior)"),
                plot_model_reconstructions(data.x[:2000], self.reconstruct(data.x[:2000]),
                                           out_dir / "reconstructions.png", shape, "E[x|h] at q's most probable h")]

    def validation(self, x: np.ndarray, y, rng: np.random.Generator) -> dict:
        """IS log p(x) (k = 100) and the ELBO of the same samples on the first 500 validation images."""
        got = self.estimates(x[:VAL_N], VAL_K, rng)
        return {"val_log_px": float(got["log_likelihood"].mean()), "val_elbo": float(got["elbo"].mean())}

    def epoch_line(self, row: dict) -> str:
        return (f"epoch {row['epoch']:3d}  train IWAE_{self.k} {row['train_iwae']:8.2f}  "
                f"val log p(x) {row['val_log_px']:8.2f} (ELBO {row['val_elbo']:.2f}, IS k={VAL_K}, "
                f"{VAL_N} images)  {row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    def describe(self) -> str:
        return (f"{self.x_dim}-{'-'.join(map(str, self.config['hidden']))}-{self.z_dim} Helmholtz machine (binary "
                f"latents), wake-sleep with q by {self.q_update}, k = {self.k}")
