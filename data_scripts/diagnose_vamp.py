"""Watch a VAE's first epochs step by step: what the VampPrior's collapse looks like, and what stops it.

    python data_scripts/diagnose_vamp.py                                  # the failing run of the priors page
    python data_scripts/diagnose_vamp.py --output-bias data               # the fix
    python data_scripts/diagnose_vamp.py --prior standard --beta 0        # no KL at all
    python data_scripts/diagnose_vamp.py --detach-prior-path              # the prior's encoder pass sends no gradient

The run is the priors-table run of tutorials/reference/deeper-models-and-learned-priors.md (the digits, 784-200-200-50 tanh, batch 100, Adam 1e-3,
seed 0, vamp:500, the output bias at zero: this script's default, where train's is the data mean since issue 25)
unless flags change it. Every ``--every`` steps it prints, after the step:

    KL, recon        the step's Monte Carlo KL and −log p(x|z), nats per example
    mu_x spread      the std over 500 test digits of the encoder's mean, averaged over dimensions
                     (0: every digit gets the same code), mean |mu_x|, mean logvar_x
    mu_u spread      the same over the pseudo-inputs; the prior components' logvar (mean, min, max)
    centres          |mean mu_x − mean mu_u|: how far apart the data's codes and the prior's are
    u                the pseudo-inputs' min, max, and spread over the 500 of them
    sat              the fraction of the encoder's tanh units at |h| > 0.99 (layer 1 / layer 2), on
                     the digits and on the pseudo-inputs (ReLU: the fraction at 0)
    |grad|           the gradient norms of the encoder, the decoder and the pseudo-inputs

and after each epoch the validation −ELBO and KL. Experiment switches (not engine settings):
``--detach-prior-path`` drops the encoder's backward on the pseudo-inputs (the prior is then
not differentiated through the encoder; the pseudo-inputs get no gradient), ``--pseudo-init data``
starts the pseudo-inputs at 500 random training digits, ``--logvar-max M`` clamps the encoder's
logvar at M (zero gradient above, as the paper's hardtanh does at 2), ``--standard-first E``
trains with N(0, I) for E epochs before the VampPrior takes over. Not imported by the package.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from numpyvae.run.config import TrainConfig
from numpyvae.latent.priors import StandardNormal
from numpyvae.run.train import Trainer


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prior", default="vamp:500")
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--output-bias", default="zero", choices=("auto", "zero", "data"))
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--warmup-epochs", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--z-dim", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--every", type=int, default=10, help="print every this many steps")
    ap.add_argument("--detach-prior-path", action="store_true")
    ap.add_argument("--pseudo-init", choices=("default", "data"), default="default")
    ap.add_argument("--logvar-max", type=float, default=math.inf)
    ap.add_argument("--standard-first", type=int, default=0)
    return ap.parse_args()


class ClampedLogvar:
    """The encoder with logvar = min(logvar, M): the gradient of logvar is 0 where the clamp holds."""

    def __init__(self, encoder, m):
        self.encoder, self.m, self.trunk = encoder, m, encoder.trunk

    def forward(self, x):
        (mu, logvar), tape = self.encoder.forward(x)
        return [mu, np.minimum(logvar, self.m)], (tape, logvar <= self.m)

    def backward(self, d, tape, **kw):
        inner, keep = tape
        return self.encoder.backward([d[0], d[1] * keep], inner, **kw)


def saturation(model, x) -> str:
    """Per hidden layer of the encoder: the fraction of tanh units at |h| > 0.99 (ReLU: at 0)."""
    out = []
    for name, layer in model.encoder.trunk.layers:
        x = layer.forward(x)[0]
        if name.endswith("tanh"):
            out.append(float((np.abs(x) > 0.99).mean()))
        elif name.endswith("relu"):
            out.append(float((x <= 0).mean()))
    return "/".join(f"{v:.2f}" for v in out)


def norm(model, prefix) -> float:
    return math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for n, g in model.grads.items() if n.startswith(prefix)))


def report(model, step, parts, beta, x_val) -> str:
    mu_x, lv_x = model.encoder.forward(x_val)[0]
    line = (f"{step:5d} KL {parts['kl']:7.3f} recon {parts['recon']:7.2f} beta {beta:.3f} | mu_x spread "
            f"{mu_x.std(0).mean():.3g} |mu| {np.abs(mu_x).mean():.3g} logvar {lv_x.mean():5.2f}")
    u = model.prior.params.get("pseudo_inputs")
    if u is not None:
        mu_u, lv_u = model.encoder.forward(u)[0]
        line += (f" | mu_u spread {mu_u.std(0).mean():.3g} logvar {lv_u.mean():5.2f} ({lv_u.min():.2f}, "
                 f"{lv_u.max():.2f}) | centres {np.linalg.norm(mu_x.mean(0) - mu_u.mean(0)):.3g} | u "
                 f"[{u.min():.3f}, {u.max():.3f}] spread {u.std(0).mean():.3g}")
    line += f" | sat x {saturation(model, x_val)}" + (f" u {saturation(model, u)}" if u is not None else "")
    return line + f" | |grad| enc {norm(model, 'encoder.'):.3g} dec {norm(model, 'decoder.'):.3g} u {norm(model, 'prior.'):.3g}"


def main():
    a = parse_args()
    cfg = TrainConfig(hidden=[200, 200], z_dim=a.z_dim, activation=a.activation, batch_size=100, epochs=a.epochs,
                      seed=0, prior=a.prior, output_bias=a.output_bias, beta=a.beta, warmup_epochs=a.warmup_epochs,
                      lr=a.lr)
    trainer = Trainer(cfg, quiet=True)
    model, x_val = trainer.model, trainer.x_val[:500]
    if a.pseudo_init == "data":
        rows = np.random.default_rng(0).choice(trainer.x_train.shape[0], model.prior.n_components, replace=False)
        model.prior.set_pseudo_inputs(trainer.x_train[rows])
    if a.logvar_max < math.inf:
        model.encoder = ClampedLogvar(model.encoder, a.logvar_max)
    if a.detach_prior_path:
        forward = model.forward

        def detached(*args, **kw):
            tape = forward(*args, **kw)
            tape["_prior_enc"] = None         # VAE.backward then skips the encoder's pass on the pseudo-inputs
            return tape
        model.forward = detached
    steps, learned_prior = [0], model.prior
    loss_and_grads = model.loss_and_grads

    def watched(x, *args, **kw):
        out = loss_and_grads(x, *args, **kw)
        if steps[0] % a.every == 0:
            print(report(model, steps[0], model.last_parts, kw.get("beta", 1.0), x_val), flush=True)
        steps[0] += 1
        return out
    model.loss_and_grads = watched
    print(f"{cfg.prior}, {cfg.activation}, output_bias {cfg.output_bias}, beta {cfg.beta}, warm-up "
          f"{cfg.warmup_epochs}, lr {cfg.lr}" + (", prior path detached" if a.detach_prior_path else "")
          + (f", pseudo-inputs from data" if a.pseudo_init == "data" else "")
          + (f", logvar <= {a.logvar_max}" if a.logvar_max < math.inf else "")
          + (f", N(0, I) for {a.standard_first} epochs" if a.standard_first else ""), flush=True)
    start = time.process_time()
    for epoch in range(a.epochs):
        model.prior = StandardNormal(model.z_dim) if epoch < a.standard_first else learned_prior
        trainer.fit(1)
        h = trainer.history[-1]
        print(f"== epoch {h['epoch']}: train {h['train_loss']:.2f}, validation {h['val_loss']:.2f} "
              f"(KL {h['val_kl']:.3f}), {time.process_time() - start:.0f} s CPU", flush=True)


if __name__ == "__main__":
    main()
