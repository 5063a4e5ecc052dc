"""Reference numbers recorded from main before the engine redesign (issue 11).

``OPENBLAS_NUM_THREADS=1 python tests/reference_numbers.py OUT.json``
recomputes them with whatever numpyvae is installed and writes them;
``tests/test_reference_numbers.py`` does that in a subprocess and compares
with ``tests/data/reference_numbers.json``, which was written that way at
commit 2475603 (the last commit before the redesign). One BLAS thread,
because OpenBLAS splits a matmul's sums differently with more threads.

Each case is a model, a batch and noise fixed by seeds; what is kept is the
loss (as a hex float) and the SHA-256 of every gradient array's bytes, plus
the weights after a 3-epoch training run. SHA-256 of bytes means "bit for bit".

The 3-epoch run is kept twice. "training_zero_bias" starts the decoder's output bias at
zero (``output_bias="zero"``), which was the default at 2475603: its numbers are still
those recorded there. "training" is the default settings, and the default output bias
became the training pixels' mean (issue 25), so it was re-recorded deliberately then:
validation −ELBO after epochs 1, 2, 3 169.24, 146.13, 134.61 -> 151.49, 135.30, 127.99 nats
(weights dd0124b7… -> a45ee869…).

Bits depend on the BLAS kernel, so a canary (one fixed matmul) is recorded
too: on a machine whose BLAS gives other bits for the canary, the test can
only compare to float32 rounding, and says so.
"""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from numpyvae import VAE
from numpyvae.datasets import binarize_static, load

CASES = {
    # name: (VAE kwargs, loss_and_grads kwargs)
    "default": (dict(hidden=[400], z_dim=20), dict()),
    "elbo_s3_beta": (dict(hidden=[64, 32], z_dim=5, activation="tanh"), dict(n_samples=3, beta=0.5)),
    "elbo_mc": (dict(hidden=[64], z_dim=5), dict(n_samples=2, kl="mc")),
    "iwae_k5": (dict(hidden=[64], z_dim=5, activation="elu"), dict(n_samples=5, objective="iwae")),
    "gaussian_learned": (dict(hidden=[64], z_dim=4, likelihood="gaussian-learned",
                              activation="softplus"), dict(n_samples=2)),
    "continuous_bernoulli": (dict(hidden=[64], z_dim=4, likelihood="continuous-bernoulli",
                                  activation="leaky_relu"), dict()),
    "gaussian_float64": (dict(hidden=[32], z_dim=3, likelihood="gaussian", dtype="float64",
                              activation="sigmoid", likelihood_kwargs={"sigma": 0.3}), dict(n_samples=2)),
}


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def canary() -> str:
    """The bits of one float32 matmul of the default model's first layer's shape."""
    rng = np.random.default_rng(123)
    a = rng.standard_normal((128, 784), dtype=np.float32)
    b = rng.standard_normal((784, 400), dtype=np.float32)
    return sha(a @ b)


def batch(dtype="float32", n=128):
    x = load("digits", dtype=dtype).x_train[:n]
    return binarize_static(x, method="sample", seed=0)


def case_numbers(vae_kw: dict, call_kw: dict) -> dict:
    dtype = vae_kw.get("dtype", "float32")
    model = VAE(784, seed=0, **vae_kw)
    x = batch(dtype)
    if model.likelihood.name not in ("bernoulli", "continuous-bernoulli"):
        x = load("digits", dtype=dtype).x_train[:128]
    eps = model.draw_eps(x.shape[0], call_kw.get("n_samples", 1))
    loss, grads = model.loss_and_grads(x, eps, **call_kw)
    return {"loss": float(loss).hex(), "grads": {k: sha(g) for k, g in grads.items()},
            "grad_sums": {k: float(g.sum(dtype=np.float64)) for k, g in grads.items()}}


def training_numbers(epochs: int = 3, **settings) -> dict:
    """The default model (and ``settings``) trained 3 epochs on the bundled digits (seed 0), no run directory."""
    from numpyvae.run.train import TrainConfig, Trainer
    trainer = Trainer(TrainConfig(epochs=epochs, **settings), quiet=True)
    history = trainer.fit()
    return {"weights": sha(trainer.model.flat_params),
            "train_loss": [float(h["train_loss"]).hex() for h in history],
            "val_loss": [float(h["val_loss"]).hex() for h in history]}


def record() -> dict:
    return {"canary": canary(),
            "cases": {name: case_numbers(*spec) for name, spec in CASES.items()},
            "training": training_numbers(),
            "training_zero_bias": training_numbers(output_bias="zero")}


if __name__ == "__main__":
    out = record()
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(f"wrote {sys.argv[1]}")
