"""The keras-io convolutional VAE in numpyvae and in PyTorch CPU, side by side on the same cores.

    python data_scripts/torch_conv_vae.py [--examples 2048] [--rounds 3] [--threads 1]

Both train the same model (``--preset keras-conv``: Conv(32, 3, s2) -> Conv(64, 3, s2) -> Dense(16)
-> z (2); Dense(3136) -> ConvT(64, 3, s2) -> ConvT(32, 3, s2) -> ConvT(1, 3) -> logits; ReLU,
"same" padding, Bernoulli on grey levels, Adam 1e-3, batch 128) on the same digits, in float32 on
``--threads`` BLAS/torch threads. Each round times one epoch of numpyvae's own Trainer, then one of
a plain PyTorch loop (forward, backward, Adam step); the best round of each is kept: a round can
only be slowed by other programs, never sped up. Times are CPU seconds of this process (with one
thread, what the epoch takes on an idle core) and wall seconds. Not imported by numpyvae; torch is
not a dependency.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--examples", type=int, default=2048)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)           # before NumPy and torch load their BLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from numpyvae.run.presets import PRESETS  # noqa: E402
from numpyvae.datasets import load  # noqa: E402
from numpyvae.datasets.dataset import Dataset  # noqa: E402
from numpyvae.run.train import TrainConfig, Trainer  # noqa: E402

torch.set_num_threads(args.threads)
B = 128


class TorchConvVAE(nn.Module):
    """The same network in PyTorch (NCHW; padding 1 and output_padding 1 are Keras' "same")."""

    def __init__(self, z_dim=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                                 nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(3136, 16), nn.ReLU())
        self.mu, self.logvar = nn.Linear(16, z_dim), nn.Linear(16, z_dim)
        self.dec = nn.Sequential(nn.Linear(z_dim, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                                 nn.ConvTranspose2d(64, 64, 3, 2, 1, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(64, 32, 3, 2, 1, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(32, 1, 3, 1, 1), nn.Flatten())

    def loss(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.dec(z)
        nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
        return (nll + kl) / x.shape[0]


def torch_epoch(model, opt, x):
    perm = torch.randperm(x.shape[0])
    for i in range(x.shape[0] // B):
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x[perm[i * B:(i + 1) * B]])
        loss.backward()
        opt.step()
    return loss.item()


def timed(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c, time.perf_counter() - w, out


def main():
    data = load("digits")
    x = data.x_train[:args.examples]
    small = Dataset(data.name, x, data.y_train[:args.examples], data.x_test[:256], data.y_test[:256],
                    data.image_shape, data.source)
    cfg = TrainConfig(**dict(PRESETS["keras-conv"], epochs=1, seed=0))
    trainer = Trainer(cfg, data=small, quiet=True)
    torch.manual_seed(0)
    tmodel = TorchConvVAE()
    opt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    n_np = sum(p.size for p in trainer.model.params.values())
    n_t = sum(p.numel() for p in tmodel.parameters())
    print(f"keras-io conv VAE, {n_np:,} parameters (torch: {n_t:,}); {x.shape[0]} digits = {x.shape[0] // B} steps "
          f"of {B}; float32; {args.threads} thread(s) (numpy {np.__version__}, torch {torch.__version__}); "
          f"load average {os.getloadavg()[0]:.2f}")
    best_np, best_t = (float("inf"),) * 2, (float("inf"),) * 2
    for r in range(args.rounds):
        c_np, w_np, out = timed(trainer._train_epoch)
        trainer.epoch += 1
        c_t, w_t, loss_t = timed(lambda: torch_epoch(tmodel, opt, xt))
        print(f"round {r + 1}: numpyvae {c_np:6.2f} s CPU ({w_np:6.2f} s wall, loss {out['train_loss']:.1f})   "
              f"torch {c_t:6.2f} s CPU ({w_t:6.2f} s wall, last loss {loss_t:.1f})")
        best_np, best_t = min(best_np, (c_np, w_np)), min(best_t, (c_t, w_t))
    print(f"best epoch: numpyvae {best_np[0]:.2f} s CPU, torch {best_t[0]:.2f} s CPU -> numpyvae / torch = "
          f"{best_np[0] / best_t[0]:.2f} (wall: {best_np[1]:.2f} s / {best_t[1]:.2f} s = {best_np[1] / best_t[1]:.2f}); "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
