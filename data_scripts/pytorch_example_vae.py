"""pytorch/examples' VAE side by side with numpyvae, on the same images (a measurement, not a test).

    python data_scripts/pytorch_example_vae.py --engine torch    [--dataset digits] [--epochs 5] [--seed 0]
    python data_scripts/pytorch_example_vae.py --engine numpyvae [--init default|pytorch] [...]

--engine torch: the VAE of github.com/pytorch/examples (vae/main.py), rebuilt here
line for line in meaning: 784-400-20 with ReLU, heads fc21 (mu) and fc22 (logvar),
decoder 20-400-784 with ReLU then sigmoid, loss = BCE summed over pixels and the batch
on grey levels (no binarization) + the analytic KL, Adam(lr=1e-3), batch 128 with
shuffling (the last, partial batch kept), PyTorch's default nn.Linear initialization.
Its test loss, as in the example, is the summed loss over the test set (one z per
image) divided by the number of test images: the test −ELBO in nats.

--engine numpyvae: the same architecture and settings through numpyvae's Trainer
(hidden 400, z 20, Bernoulli, binarize none, Adam 1e-3, batch 128, the output bias left as
initialized: ``output_bias="zero"``, as in the pytorch-example preset); its val_loss is
the same single-sample test −ELBO. --init pytorch overwrites every Dense layer's W and b,
in place before training, with numpyvae.nn.init.init_dense("pytorch", ...) — a stand-in
until the model gets an init option.

Both read the data through numpyvae.datasets.load, so they see identical images.
Run one at a time, single-threaded (the script sets the thread counts):
OPENBLAS_NUM_THREADS=1 is set before NumPy loads, and torch.set_num_threads(1).
PyTorch is not a numpyvae dependency: pip install torch (CPU is enough).

Measured on 2026-12-01 (torch 2.14.1, branch priors at 8e00bd0), final test −ELBO after
5 epochs, mean over seeds (0-4 for digits, 0-2 for Fashion-MNIST):

    data            torch    numpyvae, PyTorch init    numpyvae, default init (He/Glorot)
    digits          136.51   136.93 (+0.42)            125.92 (−10.59)
    fashion-mnist   247.04   247.09 (+0.05)            248.38 (+1.34)

Seed-to-seed spread of one run: about ±0.8 nats on digits, ±0.2 on Fashion-MNIST.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import numpy as np  # noqa: E402

from numpyvae.datasets import load  # noqa: E402


def run_torch(data, epochs: int, seed: int, batch_size: int = 128) -> list[float]:
    """Train pytorch/examples' VAE; return the test −ELBO after each epoch."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.set_num_threads(1)
    torch.manual_seed(seed)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            return mu + torch.randn_like(std) * std

        def decode(self, z):
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    x_train = torch.from_numpy(np.ascontiguousarray(data.x_train, dtype=np.float32))
    x_test = torch.from_numpy(np.ascontiguousarray(data.x_test, dtype=np.float32))
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train), batch_size=batch_size,
                                               shuffle=True)
    test_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_test), batch_size=batch_size,
                                              shuffle=False)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        train_loss = 0.0
        for (x,) in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = loss_function(recon, x, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for (x,) in test_loader:
                recon, mu, logvar = model(x)
                test_loss += loss_function(recon, x, mu, logvar).item()
        test_loss /= len(test_loader.dataset)
        history.append(test_loss)
        print(f"torch     epoch {epoch}  train {train_loss / len(train_loader.dataset):8.2f}  "
              f"test -ELBO {test_loss:8.2f}  {time.perf_counter() - start:.1f}s", flush=True)
    return history


def pytorch_init_(model, seed: int) -> None:
    """Overwrite every Dense layer's (W, b) in place with PyTorch's default draw."""
    from numpyvae.nn.init import init_dense
    from numpyvae.nn.layers import Dense

    rng = np.random.default_rng([seed, 13])
    for _, layer in model.named_layers():
        if isinstance(layer, Dense):
            W, b = init_dense("pytorch", rng, layer.d_in, layer.d_out, layer.dtype)
            layer.params["W"][...] = W
            layer.params["b"][...] = b


def run_numpyvae(data, epochs: int, seed: int, init: str, batch_size: int = 128) -> list[float]:
    """Train numpyvae's VAE with the example's settings; return the test −ELBO after each epoch."""
    from numpyvae.run.train import Trainer, TrainConfig

    # output_bias "zero": the example's start (as measured below), not numpyvae's data mean (issue 25)
    cfg = TrainConfig(dataset=data.name, hidden=[400], z_dim=20,
                      likelihood="bernoulli", binarize="none", activation="relu", optimizer="adam",
                      lr=1e-3, batch_size=batch_size, epochs=epochs, seed=seed, output_bias="zero")
    trainer = Trainer(cfg, data=data, quiet=True)
    if init == "pytorch":
        pytorch_init_(trainer.model, seed)
    history = []
    for _ in range(epochs):
        row = trainer.fit(1)[-1]
        history.append(row["val_loss"])
        print(f"numpyvae  epoch {row['epoch']}  train {row['train_loss']:8.2f}  test -ELBO {row['val_loss']:8.2f}"
              f"  {row['seconds']:.1f}s  (init {init})", flush=True)
    return history


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=["torch", "numpyvae"], required=True)
    ap.add_argument("--init", choices=["default", "pytorch"], default="default",
                    help="numpyvae only: its default init (He for ReLU layers, Glorot for heads) or PyTorch's")
    ap.add_argument("--dataset", choices=["digits", "fashion-mnist"], default="digits")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = load(args.dataset)
    print(f"{args.dataset}: train {data.x_train.shape}, test {data.x_test.shape}, "
          f"grey levels in [{data.x_train.min():g}, {data.x_train.max():g}]", flush=True)
    if args.engine == "torch":
        hist = run_torch(data, args.epochs, args.seed)
    else:
        hist = run_numpyvae(data, args.epochs, args.seed, args.init)
    print(f"final test -ELBO {hist[-1]:.2f} ({args.engine}, init {args.init if args.engine == 'numpyvae' else 'pytorch'},"
          f" {args.dataset}, {args.epochs} epochs, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
