"""Every setting of a run, declared once and grouped by the models that read it.

:class:`RunSettings` holds what every run reads (the data, the VAE family's model, the objective,
the optimizer, the seed); :class:`M2Settings`, :class:`HelmholtzSettings` and :class:`AVBSettings`
hold what only M2, the Helmholtz machine or AVB reads. The run config
(:class:`numpyvae.run.config.TrainConfig`) is made of all four, so every setting keeps one flat
name: a flag of ``python -m numpyvae train`` (``--labels``, ``--q-update``, ``--critic``), a key of a
TOML file and of a saved checkpoint's config. :data:`MODEL_ONLY` says which model owns which
section, read from the sections themselves; a model's own settings given to another model are
refused by name (:meth:`numpyvae.run.config.TrainConfig.validate`).
"""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields

__all__ = ["RunSettings", "M2Settings", "HelmholtzSettings", "AVBSettings", "SECTIONS", "MODEL_ONLY",
           "MODEL_NATURE", "MODELS", "DEFAULTS", "DEFAULT_MIN_LOGVAR"]

MODELS = ("vae", "hvae", "ae", "m2", "helmholtz", "avb")

#: The learned Gaussian's default floor on the per-pixel log-variance: log(0.01), so sigma >= 0.1.
#: Without a floor, pixels that are constant in the data (the digits' borders are 0 in every
#: image) let the decoder shrink their variance without bound: each one adds −½·log σ² to
#: log p(x|z), so the validation −ELBO swings between −500 and −975 nats over 10 epochs
#: (measured on the digits, 784-400-20, seed 0) while the model learns nothing more about
#: the digits. With sigma >= 0.1 (a tenth of the [0, 1] pixel range) a pixel can gain at
#: most ½·log(2π·0.01) ≈ −1.38 nats, and the same run falls steadily to −624 nats.
DEFAULT_MIN_LOGVAR = math.log(1e-2)


@dataclass
class RunSettings:
    """What every run reads: the data, the VAE family's model (vae, hvae, ae), its objective, the
    optimizer and the seed. M2, the Helmholtz machine and AVB read the ones that fit them and refuse
    the others by name (:data:`MODEL_NATURE`)."""
    dataset: str = "digits"            # "digits" (bundled), "fashion-mnist", "mnist", "ring"
    model: str = "vae"                 # vae; hvae (with stochastic); ae (plain autoencoder, no KL); m2; helmholtz; avb
    q_objective: str = "same"          # "same" (q climbs the objective) or "cubo" (q descends the χ upper bound)
    binarize: str = "auto"             # "dynamic" (fresh draw per batch), "static" (one draw), "none"; auto: dynamic for bernoulli
    hidden: list = field(default_factory=lambda: [400])   # encoder hidden sizes
    hidden_dec: list = field(default_factory=list)        # decoder hidden sizes; empty: hidden, mirrored
    encoder: str = ""                  # a network spec (numpyvae.nn.spec) instead of the MLP of hidden; "": the MLP
    decoder: str = ""                  # a network spec instead of the MLP of hidden_dec; "": the MLP
    z_dim: int = 20                    # latent dimensions K
    stochastic: list = field(default_factory=list)        # sizes of several stochastic layers (HVAE); empty: one, z_dim
    posterior: str = "gaussian"        # q(z|x): gaussian, full-gaussian, planar:K, radial:K, iaf:K
    prior: str = "standard"            # p(z): standard, mog:K, vamp:K
    tau: float = 1.0                   # gumbel:C: the starting softmax temperature τ_0
    tau_min: float = 0.5               # gumbel:C: the floor of the annealed temperature
    tau_rate: float = 0.0              # gumbel:C: τ_t = max(tau_min, tau · exp(−tau_rate · t)); 0: constant τ
    tau_every: int = 1000              # gumbel:C: t is the step rounded down to a multiple of this
    conditional: bool = False          # a conditional VAE q(z|x, y), p(x|z, y) on the dataset's labels
    init: str = "auto"                 # Dense initializer; auto: He for ReLU-like, Glorot otherwise
    output_bias: str = "auto"          # decoder output bias at the start: zero, data (the pixels' mean); auto: data where it applies
    likelihood: str = "bernoulli"      # a name of numpyvae.likelihoods.LIKELIHOODS
    sigma: float = 1.0                 # the fixed Gaussian likelihood's standard deviation
    min_logvar: float = DEFAULT_MIN_LOGVAR   # the learned Gaussian's floor on log sigma^2
    activation: str = "relu"
    objective: str = "elbo"            # "elbo", "iwae", "vr", "vr-max"
    alpha: float = 0.5                 # the Rényi order of objective "vr"
    n_samples: int = 1                 # S Monte Carlo samples (k for IWAE)
    beta: float = 1.0                  # weight of the KL term (β-VAE)
    warmup_epochs: float = 0.0         # KL warm-up: β grows linearly from 0 over this many epochs
    optimizer: str = "adam"            # "adam", "sgd", "momentum", "nesterov", "rmsprop", "adagrad"
    lr: float = 1e-3
    lr_schedule: str = "constant"      # "constant", or "burda": lr·10^(−i/7) for 3^i epochs, i = 0..burda_stages−1
    burda_stages: int = 8              # stages of the burda schedule: (3^stages − 1)/2 epochs (8: 3280)
    adam_eps: float = 1e-8             # Adam's epsilon (Burda et al. use 1e-4)
    beta1: float = 0.9                 # Adam's β₁, the decay of its first moment (Mescheder et al.'s AVB code: 0.5)
    batch_size: int = 128
    epochs: int = 100
    clip_grad_norm: float = 0.0        # 0: no clipping
    snapshot_every: int = 0            # 2-D latents: record codes and decoded grid every K steps (plot --animate); 0: off
    seed: int = 0
    dtype: str = "float32"
    out: str = ""                      # run directory; empty: runs/<dataset>-<time>


@dataclass
class M2Settings:
    """M2's own settings (semi-supervised, Kingma et al. 2014): its labels and its classifier q(y|x)."""
    labels: int = 100                  # labelled training examples, balanced across the classes
    classifier_hidden: list = field(default_factory=lambda: [500])   # hidden sizes of the classifier q(y|x)
    class_weight: float = 0.1          # α = class_weight · N/N_l, the weight of log q(y|x) (Kingma's code: 0.1)
    features: str = ""                 # M1+M2: a VAE run directory (M1) whose q(z|x) M2 reads instead of the pixels


@dataclass
class HelmholtzSettings:
    """The Helmholtz machine's own setting: how its q(h|x) learns."""
    q_update: str = "sleep"            # how q learns: sleep (dreams), wake (RWS's wake-q), both


@dataclass
class AVBSettings:
    """AVB's own settings (adversarial variational Bayes): its implicit encoder's noise and its critic T(x, z)."""
    critic_steps: int = 1              # critic updates per generator update
    lr_critic: float = 0.0             # the critic's learning rate; 0: lr
    noise_dim: int = 0                 # size of the noise ε the encoder reads; 0: z_dim
    hidden_critic: list = field(default_factory=list)   # hidden sizes of the critic T(x, z); empty: hidden
    critic: str = "mlp"                # T on [x, z] (mlp), or the reference code's <θ(x), s(z)> + T(x) + T(z) (inner)
    adaptive_contrast: bool = False    # contrast q with N(its mean, its variance) instead of the prior


#: each model's own section
SECTIONS = {"m2": M2Settings, "helmholtz": HelmholtzSettings, "avb": AVBSettings}
#: the settings only one model reads, from its section
MODEL_ONLY = {model: tuple(f.name for f in fields(section)) for model, section in SECTIONS.items()}
#: why a model refuses a VAE setting (the end of its one-line error)
MODEL_NATURE = {"ae": "the plain autoencoder has a deterministic z and no KL term",
                "helmholtz": "the Helmholtz machine has binary latents, a Bernoulli decoder and its own "
                             "wake-sleep updates",
                "m2": "M2 is a conditional VAE with a diagonal Gaussian q, one sample and its own classifier",
                "avb": "AVB has an implicit q, a critic in place of the KL and one sample per example"}

#: every setting's default, in the order of the flags: the common settings, then each model's section
DEFAULTS = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
            for section in (RunSettings, *SECTIONS.values()) for f in fields(section)}
