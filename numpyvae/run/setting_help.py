"""What each setting of a run does, in the words ``python -m numpyvae train --help`` prints.

One sentence (or a few) per setting of :mod:`numpyvae.run.sections`, keyed by its name; the
choices they list come from :data:`numpyvae.run.settings.CHOICES`.
"""
from __future__ import annotations

from ..nn.init import INITIALIZERS
from .settings import CHOICES

__all__ = ["HELP"]

HELP = {
    "dataset": "data set: " + ", ".join(CHOICES["dataset"]) + " (digits is bundled and works offline)",
    "model": "vae (the default); hvae (a hierarchy, with --stochastic); ae (a plain autoencoder: z = the "
             "encoder's output, no KL term, the contrast the VAE starts from); m2 (semi-supervised, Kingma et al. "
             "2014, with --labels); helmholtz (binary latents trained by wake-sleep, no reparameterization); "
             "avb (adversarial variational Bayes: an implicit q and a critic)",
    "q_objective": "same: q climbs --objective with p; cubo: q descends the chi upper bound CUBO_2 (Dieng et al.'s "
                   "exp-trick surrogate) while p climbs --objective (elbo or iwae, n_samples >= 2)",
    "q_update": "how the Helmholtz machine's q(h|x) learns: sleep (on dreams, classic wake-sleep), wake "
                "(reweighted wake-sleep's wake-q, needs n_samples >= 2) or both",
    "binarize": "binarization of [0, 1] images: dynamic (a fresh Bernoulli draw per batch), "
                "static (one fixed draw), none (grey levels); auto: dynamic for the Bernoulli likelihood",
    "hidden": "hidden layer sizes of the encoder, e.g. 500 500",
    "hidden_dec": "hidden layer sizes of the decoder (default: the encoder's, mirrored)",
    "encoder": "the encoder as a network spec instead of the MLP of --hidden, e.g. "
               "'conv:32:3:2,conv:64:3:2,flatten,dense:16' (layers conv:C:K[:S[:P]], convt:C:K[:S[:P[:OP]]], "
               "dense:D, flatten, reshape:C:H:W; the activation after each conv/convt/dense; a conv first "
               "reshapes x to the images); empty: the MLP",
    "decoder": "the decoder as a network spec instead of the MLP of --hidden-dec, e.g. "
               "'dense:3136,reshape:64:7:7,convt:64:3:2,convt:32:3:2'; a spec ending on images gets a "
               "convt to the image channels (kernel 3) and a flatten per likelihood head; empty: the MLP",
    "z_dim": "latent dimensions K (2 gives latent-space and manifold pictures)",
    "stochastic": "sizes of several stochastic layers, e.g. 100 50 (Burda et al.'s two-layer model: z1 of 100, "
                  "z2 of 50; the blocks between them have len(hidden) layers of the upper layer's size); "
                  "empty: one layer of z_dim",
    "posterior": "the variational family q(z|x): gaussian (diagonal), full-gaussian, or a normalizing flow "
                 "of K steps on a diagonal Gaussian: planar:K, radial:K, iaf:K; a flow's options follow "
                 "after commas: planar:8,amortized=false (one learned flow for all examples), "
                 "iaf:2,hidden=80,context_dim=20; or z_dim/C categorical variables "
                 "of C classes: gumbel:C (Gumbel-softmax), gumbel-st:C (straight-through), with --prior categorical",
    "prior": "p(z): standard (N(0, I)), mog:K (a learned mixture of K Gaussians), vamp:K (VampPrior with K "
             "learned pseudo-inputs), categorical (uniform, for gumbel:C); without a closed-form KL the KL is estimated at the samples",
    "tau": "gumbel:C and gumbel-st:C: the softmax temperature at the start (> 0)",
    "tau_min": "gumbel:C: the floor of the annealed temperature (Jang et al.: 0.5)",
    "tau_rate": "gumbel:C: anneal tau_t = max(tau_min, tau * exp(-tau_rate * t)) in the step t "
                "(Jang et al.: 1e-5 or 1e-4; 0 keeps tau fixed)",
    "tau_every": "gumbel:C: update the temperature every this many steps (Jang et al.: 500 or 1000)",
    "conditional": "train a conditional VAE: the one-hot label y (from the dataset's labels) is concatenated "
                   "to the encoder's input x and the decoder's input z; sample chosen digits with sample(n, y=...)",
    "init": "initializer of every Dense layer: auto (He for relu-like activations, Glorot otherwise, "
            "biases 0), " + ", ".join(INITIALIZERS) + " (kingma: W ~ N(0, 0.001^2), Kingma et al.'s M2), "
            "or pytorch (W and b ~ U(+-1/sqrt(fan_in)))",
    "output_bias": "where the decoder's output bias starts: zero, or data (the training pixels' mean: "
                   "logit(clip(mean, 0.001, 0.999)) for bernoulli, as Burda et al.'s code does; the mean for "
                   "the Gaussians); auto (the default): data wherever the decoder has such a head, zero "
                   "otherwise. Without it a tanh VampPrior collapses to KL 0 in its first epoch (tutorials/reference/deeper-models-and-learned-priors.md)",
    "likelihood": "p(x|z): " + ", ".join(CHOICES["likelihood"]) + " (gaussian: fixed sigma, the MSE view)",
    "sigma": "standard deviation of the fixed Gaussian likelihood (likelihood gaussian only)",
    "min_logvar": "floor on the learned Gaussian's log-variance (likelihood gaussian-learned only); the default "
                  "log(0.01) = -4.61 (sigma >= 0.1) keeps pixels that never change (the digits' borders) from "
                  "shrinking their variance toward 0, which drives the loss toward minus infinity while the "
                  "model learns nothing",
    "activation": "hidden activation: " + ", ".join(CHOICES["activation"]),
    "objective": "elbo; iwae (the importance-weighted bound, k = n_samples); vr (the Renyi bound of order "
                 "--alpha); vr-max (the largest weight); the last three need n_samples >= 2",
    "alpha": "the Renyi order of --objective vr (0: iwae; towards 1: the elbo; default 0.5)",
    "n_samples": "Monte Carlo samples S of z per example (k for iwae)",
    "beta": "weight of the KL term (beta-VAE); 1 is the true ELBO",
    "warmup_epochs": "KL warm-up: beta grows linearly from 0 to --beta over this many epochs",
    "optimizer": ", ".join(CHOICES["optimizer"]),
    "lr": "learning rate",
    "lr_schedule": "constant, or burda: lr*10^(-i/7) for 3^i epochs, i = 0..burda_stages-1 (Burda et al., 2015)",
    "burda_stages": "stages of the burda schedule; it runs (3^stages - 1)/2 epochs (8: 3280, 4: 40, 3: 13)",
    "adam_eps": "Adam's epsilon (1e-8; Burda et al. use 1e-4)",
    "beta1": "Adam's beta1, the decay of its first moment (Mescheder et al.'s AVB code: 0.5)",
    "batch_size": "examples per minibatch",
    "epochs": "passes over the training set",
    "clip_grad_norm": "rescale gradients whose global L2 norm exceeds this (0: off)",
    "snapshot_every": "with --z-dim 2: every K optimizer steps record the codes of 500 validation images and the "
                      "decoded latent grid (snapshots.npz), for `plot RUN --animate` (0: off, no cost)",
    "seed": "seeds the weights, the noise and the shuffling: same seed, same bits",
    "dtype": "float32 (training) or float64",
    "out": "run directory (default: runs/<dataset>-z<K>-<time>)",
    "labels": "m2: labelled training examples, the same number of each class, drawn with the seed",
    "classifier_hidden": "m2: hidden layer sizes of the classifier q(y|x)",
    "class_weight": "m2: the weight of log q(y|x) on each labelled example is alpha = class_weight * N / N_l "
                    "(N training examples, N_l labelled; Kingma et al.'s code: 0.1)",
    "features": "m2: M1+M2 (Kingma et al.'s best model): the run directory of a VAE (M1) trained on the same "
                "dataset; M2 then reads the active units of M1's q(z|x), a fresh draw each step, their mean at "
                "test time, and models them with a Gaussian (empty: M2 on the pixels)",
    "critic_steps": "avb: critic updates per generator update",
    "lr_critic": "avb: the critic's learning rate (0: --lr)",
    "noise_dim": "avb: size of the noise the implicit encoder reads beside x (0: z_dim)",
    "hidden_critic": "avb: hidden layer sizes of the critic T(x, z) (default: --hidden)",
    "critic": "avb: the critic T(x, z): mlp (an MLP on [x, z]) or inner (Mescheder et al.'s code: "
              "<theta(x), s(z)> + T(x) + T(z))",
    "adaptive_contrast": "avb: contrast q with a Gaussian of its own mean and variance instead of the prior "
                         "(Mescheder et al., adaptive contrast)",
}
