"""Train adversarial variational Bayes (numpyvae.avb) and a VAE of the same sizes side by side, and judge both.

    python -m numpyvae.avb_train --dataset ring --epochs 20
    python -m numpyvae.avb_train --dataset digits --epochs 10 --hidden 200 --z-dim 8

Per epoch it prints AVB's reconstruction −log p(x|z), its critic's mean T (an estimate of the
KL, log q − log p at q's samples, when the critic is near its optimum), the ELBO estimate
−recon − T, and the critic's loss and accuracy (log 4 = 1.386 and 50 %: it cannot tell q from
the prior; near 0 and 100 %: it wins and T grows without bound). On the ring (K = 2) both
models' log p(x) on the test set is computed by quadrature over z (avb.log_px_by_quadrature),
which needs no q; on the digits the VAE's importance-sampled log p(x) and ELBO are printed
beside AVB's ELBO estimate, and a figure of decoder means at z ~ N(0, I) is written for both.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .avb import AVB, log_px_by_quadrature
from .config import PRESETS
from .datasets import binarize_dynamic, load
from .optim import Adam
from .vae import VAE


def settings(args) -> dict:
    if args.dataset == "ring":
        ring = PRESETS["ring"]
        return dict(likelihood="gaussian", likelihood_kwargs={"sigma": ring["sigma"]},
                    hidden=args.hidden or ring["hidden"], z_dim=2)
    return dict(likelihood="bernoulli", likelihood_kwargs={}, hidden=args.hidden or [200], z_dim=args.z_dim)


def train(args) -> dict:
    s = settings(args)
    data = load(args.dataset)
    x, x_test = data.x_train.astype(np.float32), data.x_test.astype(np.float32)
    binary = args.dataset != "ring"
    if binary:
        x_test = (np.random.default_rng(1).random(x_test.shape, dtype=np.float32) < x_test).astype(np.float32)
    avb = AVB(x.shape[1], s["hidden"], s["z_dim"], likelihood=s["likelihood"], likelihood_kwargs=s["likelihood_kwargs"],
              activation="relu", seed=args.seed, critic=args.critic, adaptive_contrast=args.adaptive_contrast)
    vae = VAE(x.shape[1], s["hidden"], s["z_dim"], likelihood=s["likelihood"], likelihood_kwargs=s["likelihood_kwargs"],
              seed=args.seed)
    opt_g = Adam(avb.gen_params, avb.gen_grads, lr=args.lr, beta1=args.beta1)
    opt_d = Adam(avb.disc_params, avb.disc_grads, lr=args.lr_disc, beta1=args.beta1)
    opt_v = Adam(vae.params, vae.grads, lr=args.lr)
    rng, steps = np.random.default_rng(args.seed), x.shape[0] // args.batch_size
    for epoch in range(1, args.epochs + 1):
        start, rows = time.perf_counter(), []
        for idx in np.array_split(rng.permutation(x.shape[0])[:steps * args.batch_size], steps):
            xb = binarize_dynamic(x[idx], rng) if binary else x[idx]
            out = avb.step_grads(xb)
            opt_g.step()
            opt_d.step()
            for _ in range(args.disc_steps - 1):      # extra critic steps on fresh samples of both
                eps, z_p = avb.draw_noise(xb.shape[0])
                avb.discriminator_grads(xb, avb.encode(xb, eps)[0], z_p)
                opt_d.step()
            vae.loss_and_grads(xb)
            opt_v.step()
            rows.append([out["recon"], out["KL"], out["disc_loss"], out["disc_accuracy"]])
        recon, t, dloss, acc = np.mean(rows, 0)
        finite = all(np.isfinite(p).all() for p in avb.gen_params.values())
        print(f"epoch {epoch:3d}  AVB recon {recon:9.3f}  KL~ {t:8.3f}  ELBO~ {-recon - t:9.3f}  critic loss "
              f"{dloss:.3f} acc {acc:5.1%}   VAE train loss {vae.last_parts['loss']:9.3f}  "
              f"{time.perf_counter() - start:.1f}s", flush=True)
        if not finite:
            print("AVB's weights became non-finite: diverged", flush=True)
            return {"diverged": True}
    return judge(args, avb, vae, x_test)


def judge(args, avb, vae, x_test) -> dict:
    from .evaluate import log_likelihood, test_elbo
    eps, _ = avb.draw_noise(x_test.shape[0], np.random.default_rng(7))
    out = avb.generator_grads(x_test, eps, eps_moments=np.random.default_rng(8).standard_normal(
        (avb.n_moment_samples, x_test.shape[0], avb.noise_dim), dtype=avb.dtype) if avb.adaptive_contrast else None)
    recon, t = out["recon"], out["KL"]          # the KL estimate: T, or T + log r − log p with adaptive contrast
    res = {"avb_elbo_estimate": -recon - t, "avb_recon": recon, "avb_KL": t,
           "vae_elbo": test_elbo(vae, x_test, rng=7)["elbo"]}
    if args.dataset == "ring":
        x64 = x_test[:args.n_test].astype(np.float64)
        each = {"avb": log_px_by_quadrature(lambda zz: avb.decoder.forward(zz.astype(np.float32))[0],
                                            avb.likelihood, x64),
                "vae": log_px_by_quadrature(lambda zz: vae.decode(zz.astype(np.float32)), vae.likelihood, x64)}
        res["avb_log_px"], res["vae_log_px"] = float(each["avb"].mean()), float(each["vae"].mean())
    else:
        res["vae_log_px"] = float(log_likelihood(vae, x_test[:args.n_test], k=200, rng=7, progress=False).mean())
        from .plots import mosaic
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        zp = np.random.default_rng(0).standard_normal((36, avb.z_dim)).astype(np.float32)
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
        for ax, (label, images) in zip(axes, (("AVB", avb.decode_mean(zp)), ("VAE", vae.sample(36, rng=np.random.default_rng(0))))):
            ax.imshow(mosaic(images, (28, 28), 6), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{label}: decoder at z ~ N(0, I)")
            ax.axis("off")
        fig.savefig(args.figure, dpi=80)
        res["figure"] = args.figure
    for k, v in res.items():
        print(f"  {k:20s} {v:.3f}" if isinstance(v, float) else f"  {k:20s} {v}")
    if args.dataset == "ring":
        res["log_px_each"] = each                # per test point: for paired comparisons (reproduce)
    return res


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "disc_steps", "n_test", "z_dim"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    train(args)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m numpyvae.avb_train", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("ring", "digits"), default="ring")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, nargs="+", default=None)
    p.add_argument("--z-dim", type=int, default=8, help="latent size on the digits (the ring uses 2)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-disc", type=float, default=1e-3)
    p.add_argument("--disc-steps", type=int, default=1, help="critic updates per generator update")
    p.add_argument("--beta1", type=float, default=0.9, help="Adam's beta1 for both players (Mescheder's code: 0.5)")
    p.add_argument("--critic", choices=("mlp", "inner"), default="mlp",
                   help="T on [x, z], or the reference code's <theta(x), s(z)> + T(x) + T(z)")
    p.add_argument("--adaptive-contrast", action="store_true", help="contrast q with N(its mean, its variance)")
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default="avb_vs_vae.png")
    return p


if __name__ == "__main__":
    sys.exit(main())
