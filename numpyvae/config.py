"""A run's settings, in one place: what they are, what values they accept, and every seed they imply.

* :class:`TrainConfig` -- every setting of a run. Each field is a flag of
  ``python -m numpyvae train`` and a key of its TOML file; :data:`HELP` says
  what it does and :data:`PRESETS` names the seeds' experiments.
* :func:`check_setting` -- the type and range of every setting, checked in one
  function, so a bad value gets the same one-line error from Python, from a
  TOML file (naming the file and the key) and from a flag (naming the flag).
  The choices of the named settings come from the registries themselves
  (datasets, likelihoods, activations, objectives, optimizers).
* The binarization policy (:func:`resolved_binarize`, :func:`binarize_test_set`).
* The seed derivations: one run seed becomes the seeds of the weights, the
  model's noise, the shuffling, the static training draw, the test-set draw and
  the validation noise (:func:`model_seed` ... :func:`validation_seed`).

This module sits below the trainer and the evaluator and imports neither:
both import it.
"""
from __future__ import annotations

import inspect
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .bounds import OBJECTIVES
from .seeds import (EVAL_SEED, model_seed, noise_seed, test_seed, train_draw_seed,  # noqa: F401 (re-exported)
                    trainer_seed, validation_seed)
from .datasets import DATASETS, binarize_static
from .latent.families import CATEGORICAL, make_posterior, parse_posterior, split_options
from .latent.priors import make_prior
from .likelihoods import LIKELIHOODS
from .nn.activations import ACTIVATIONS
from .nn.init import DENSE_INITIALIZERS, INITIALIZERS
from .nn.spec import parse_spec
from .optim import OPTIMIZERS
from .output_bias import OUTPUT_BIAS
from .wake_sleep import Q_UPDATES

__all__ = ["TrainConfig", "HELP", "PRESETS", "CHOICES", "BINARIZE", "DTYPES", "DEFAULT_MIN_LOGVAR",
           "check_setting", "settings_from_sources", "config_from_toml", "likelihood_options",
           "resolved_binarize", "binarize_test_set", "model_seed", "noise_seed", "trainer_seed",
           "train_draw_seed", "test_seed", "validation_seed", "EVAL_SEED"]

MODELS = ("vae", "hvae", "ae", "m2", "helmholtz", "avb")
BINARIZE = ("auto", "dynamic", "static", "none")
DTYPES = ("float32", "float64")

#: The learned Gaussian's default floor on the per-pixel log-variance: log(0.01), so sigma >= 0.1.
#: Without a floor, pixels that are constant in the data (the digits' borders are 0 in every
#: image) let the decoder shrink their variance without bound: each one adds −½·log σ² to
#: log p(x|z), so the validation −ELBO swings between −500 and −975 nats over 10 epochs
#: (measured on the digits, 784-400-20, seed 0) while the model learns nothing more about
#: the digits. With sigma >= 0.1 (a tenth of the [0, 1] pixel range) a pixel can gain at
#: most ½·log(2π·0.01) ≈ −1.38 nats, and the same run falls steadily to −624 nats.
DEFAULT_MIN_LOGVAR = math.log(1e-2)


@dataclass
class TrainConfig:
    """Everything that defines a run. Every field is a flag of ``python -m numpyvae train``
    and a key of its TOML config file. Values are checked on construction (:meth:`validate`)."""
    dataset: str = "digits"            # "digits" (bundled), "fashion-mnist", "mnist", "ring"
    model: str = "vae"                 # vae; hvae (with stochastic); ae (plain autoencoder, no KL); m2; helmholtz; avb
    q_objective: str = "same"          # "same" (q climbs the objective) or "cubo" (q descends the χ upper bound)
    q_update: str = "sleep"            # helmholtz only: how q learns: sleep (dreams), wake (RWS's wake-q), both
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
    output_bias: str = "auto"          # decoder output bias at the start: zero, data (the pixels' mean); auto: data for mog/vamp
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
    labels: int = 100                  # m2: labelled training examples, balanced across the classes
    classifier_hidden: list = field(default_factory=lambda: [500])   # m2: hidden sizes of the classifier q(y|x)
    class_weight: float = 0.1          # m2: α = class_weight · N/N_l, the weight of log q(y|x) (Kingma's code: 0.1)
    critic_steps: int = 1              # avb: critic updates per generator update
    lr_critic: float = 0.0             # avb: the critic's learning rate; 0: lr
    noise_dim: int = 0                 # avb: size of the noise ε the encoder reads; 0: z_dim
    hidden_critic: list = field(default_factory=list)   # avb: hidden sizes of the critic T(x, z); empty: hidden
    critic: str = "mlp"                # avb: T on [x, z] (mlp), or the reference code's <θ(x), s(z)> + T(x) + T(z) (inner)
    adaptive_contrast: bool = False    # avb: contrast q with N(its mean, its variance) instead of the prior

    def __post_init__(self):
        self.validate()

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> "TrainConfig":
        """Build from a dict, refusing unknown keys (with the list of valid ones) and bad values."""
        return cls(**settings_from_sources([(where, d)]))

    def validate(self, where: str = "config") -> None:
        """Check every value (type and range) and the settings that depend on each other.

        Normalizes in place what has one obvious meaning (hidden = 32 -> [32],
        an integer lr -> float). Raises ValueError naming the setting.
        """
        for f in fields(self):
            setattr(self, f.name, check_setting(f.name, getattr(self, f.name), where))
        if self.snapshot_every and self.z_dim != 2:
            raise ValueError(f"{where}: snapshot_every records a 2-D latent space for plot --animate; "
                             f"z_dim is {self.z_dim} (use --z-dim 2, or --snapshot-every 0)")
        if self.objective != "elbo" and self.beta != 1.0:
            raise ValueError(f"{where}: beta weights the ELBO's KL term; the {self.objective} objective needs "
                             f"beta = 1, got beta = {self.beta}")
        if self.objective != "vr" and self.alpha != _DEFAULTS["alpha"]:
            raise ValueError(f"{where}: alpha is the order of the vr objective, not of {self.objective!r}; "
                             "remove it or use --objective vr")
        if self.prior.startswith("vamp") and self.posterior != "gaussian":
            raise ValueError(f"{where}: the VampPrior's components are the encoder's diagonal Gaussians; "
                             f"prior {self.prior!r} needs posterior 'gaussian', got {self.posterior!r}")
        if self.objective == "vr" and self.alpha == 1.0:
            raise ValueError(f"{where}: the vr bound at alpha = 1 is the ELBO: use --objective elbo")
        if self.objective != "elbo" and self.n_samples < 2:
            raise ValueError(f"{where}: the {self.objective} objective needs n_samples >= 2 (from one sample "
                             f"it is the ELBO), got {self.n_samples}; use --n-samples 5, or --objective elbo")
        self._validate_hierarchy_and_schedule(where)
        if self.output_bias == "data" and (self.model == "helmholtz" or self.likelihood == "continuous-bernoulli"):
            what = "--model helmholtz" if self.model == "helmholtz" else "likelihood continuous-bernoulli"
            raise ValueError(f"{where}: output_bias 'data' sets a bernoulli or gaussian decoder's output bias from "
                             f"the data; {what} has none to set: use output_bias 'zero' or 'auto'")
        tau_settings = ("tau", "tau_min", "tau_rate", "tau_every")
        base, n_classes = parse_posterior(self.posterior.split(",")[0])
        if base in CATEGORICAL and self.z_dim % n_classes:
            raise ValueError(f"{where}: z_dim = {self.z_dim} is not a multiple of the {n_classes} classes of "
                             f"posterior {self.posterior!r}; z_dim is M·C for M categorical variables")
        if base not in CATEGORICAL:
            given = [n for n in tau_settings if getattr(self, n) != _DEFAULTS[n]]
            if given:
                raise ValueError(f"{where}: {', '.join(given)} set the temperature of a Gumbel-softmax posterior "
                                 f"(gumbel:C, gumbel-st:C), not of {self.posterior!r}; remove them or change "
                                 "the posterior")
        elif self.tau_min > self.tau and self.tau_rate > 0:
            raise ValueError(f"{where}: tau_min = {self.tau_min:g} is above the starting tau = {self.tau:g}; "
                             "the annealed temperature only goes down")
        self._check_model(where)
        if self.conditional and (self.model == "helmholtz" or self.q_objective == "cubo"):
            raise ValueError(f"{where}: conditional trains a VAE (or --model ae) on its own objective; it does not "
                             f"combine with --model {self.model} or --q-objective {self.q_objective}")
        takes = likelihood_options(self.likelihood)
        for name in _LIKELIHOOD_OPTIONS:
            if name not in takes and getattr(self, name) != _DEFAULTS[name]:
                users = [k for k in LIKELIHOODS if name in likelihood_options(k)]
                raise ValueError(f"{where}: {name} is an option of the likelihood {' / '.join(users)}, "
                                 f"not of {self.likelihood!r}; remove it or change the likelihood")

    def _validate_hierarchy_and_schedule(self, where: str) -> None:
        """Settings that only make sense together: a hierarchy's layer sizes, the burda schedule's length."""
        if self.stochastic:
            for name, ok in (("z_dim", self.z_dim == _DEFAULTS["z_dim"]), ("hidden_dec", not self.hidden_dec),
                             ("posterior", self.posterior == "gaussian"), ("encoder", not self.encoder),
                             ("decoder", not self.decoder), ("model", self.model in ("vae", "hvae")),
                             ("q_objective", self.q_objective == _DEFAULTS["q_objective"]),
                             ("conditional", not self.conditional)):
                if not ok:
                    raise ValueError(f"{where}: {name} is a setting of the one-layer VAE; with stochastic "
                                     f"{self.stochastic} (a hierarchy of diagonal Gaussians) leave it unset")
        if self.lr_schedule == "burda":
            n = burda_epochs(self.burda_stages)
            if self.epochs != n:
                raise ValueError(f"{where}: lr_schedule burda with burda_stages {self.burda_stages} runs "
                                 f"{n} epochs (3^i for i = 0..{self.burda_stages - 1}); set epochs to {n}")
        elif self.burda_stages != _DEFAULTS["burda_stages"]:
            raise ValueError(f"{where}: burda_stages is a setting of lr_schedule burda; remove it or add "
                             "--lr-schedule burda")
        for name, what in (("adam_eps", "Adam's epsilon"), ("beta1", "Adam's β₁")):
            if self.optimizer != "adam" and getattr(self, name) != _DEFAULTS[name]:
                raise ValueError(f"{where}: {name} is {what}, not {self.optimizer!r}'s; remove it or use adam")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based): lr, or for the burda schedule
        lr·10^(−i/7) in stage i, which lasts 3^i epochs (Burda et al., 2015, section 5)."""
        if self.lr_schedule != "burda":
            return self.lr
        i = 0
        while i < self.burda_stages - 1 and epoch >= burda_epochs(i + 1):
            i += 1
        return self.lr * 10.0 ** (-i / 7)

    def optimizer_kwargs(self) -> dict:
        """make_optimizer's options: the learning rate, and Adam's epsilon and β₁ when they are set."""
        extra = {}
        if self.optimizer == "adam":
            extra = {key: getattr(self, name) for name, key in (("adam_eps", "eps"), ("beta1", "beta1"))
                     if getattr(self, name) != _DEFAULTS[name]}
        return dict(lr=self.lr_at(0), **extra)

    def _check_model(self, where: str) -> None:
        """The settings a plain autoencoder or a Helmholtz machine cannot honour are refused by name."""
        if self.q_objective == "cubo":
            if self.model != "vae":
                raise ValueError(f"{where}: q_objective cubo is for --model vae, not {self.model!r}")
            if self.objective not in ("elbo", "iwae"):
                raise ValueError(f"{where}: q_objective cubo: objective must be elbo or iwae (the decoder's bound), "
                                 f"got {self.objective!r}")
            if self.n_samples < 2:
                raise ValueError(f"{where}: q_objective cubo needs n_samples >= 2 (CUBO from one sample is "
                                 f"constant), got {self.n_samples}")
            if self.beta != 1.0 or self.warmup_epochs != 0.0 or self.prior.startswith("vamp"):
                raise ValueError(f"{where}: q_objective cubo needs beta = 1, no warm-up and a prior other than vamp")
        self._check_model_only_settings(where)
        if self.model == "hvae" and not self.stochastic:
            raise ValueError(f"{where}: model hvae is a hierarchy: give its stochastic layer sizes, e.g. "
                             "--stochastic 100 50")
        if self.model != "helmholtz" and self.q_update != _DEFAULTS["q_update"]:
            raise ValueError(f"{where}: q_update is how a Helmholtz machine's q learns; it needs --model helmholtz")
        if self.model == "vae" and self.posterior == "deterministic":
            raise ValueError(f"{where}: posterior 'deterministic' has no KL term and makes a plain autoencoder; "
                             "say so with --model ae")
        if self.model in ("vae", "hvae"):
            return
        fixed = {"posterior": (_DEFAULTS["posterior"], "deterministic") if self.model == "ae" else
                 (_DEFAULTS["posterior"],), "prior": (_DEFAULTS["prior"],), "objective": ("elbo",),
                 "beta": (1.0,), "warmup_epochs": (0.0,)}
        if self.model in ("m2", "avb"):
            fixed.update(n_samples=(1,), encoder=("",), decoder=("",), conditional=(False,),
                         q_objective=(_DEFAULTS["q_objective"],), output_bias=("auto", "zero"))
        if self.model == "m2":
            fixed["likelihood"] = ("bernoulli",)   # the binarized pixels of Kingma et al.'s experiments
        if self.model == "avb":
            fixed.update(init=("auto",), hidden_dec=([],))
        if self.model == "ae":
            fixed["n_samples"] = (1,)         # z = mu: more samples would repeat the same z
        elif self.model == "helmholtz":
            fixed["likelihood"] = ("bernoulli",)   # the machine's p(x|h) is Bernoulli
            fixed["encoder"] = fixed["decoder"] = ("",)   # its networks are MLPs of hidden / hidden_dec
        for name, allowed in fixed.items():
            if getattr(self, name) not in allowed:
                what = MODEL_NATURE[self.model]
                raise ValueError(f"{where}: {name} = {getattr(self, name)!r} is not a setting of --model "
                                 f"{self.model} ({what}); remove it")
        if self.model == "helmholtz" and self.q_update != "sleep" and self.n_samples < 2:
            raise ValueError(f"{where}: q_update {self.q_update!r} (reweighted wake-sleep's wake-q) needs "
                             f"n_samples >= 2 importance samples, got {self.n_samples}")

    def _check_model_only_settings(self, where: str) -> None:
        """M2's and AVB's own settings, refused by name for any other model."""
        for model, names in MODEL_ONLY.items():
            given = [n for n in names if getattr(self, n) != _DEFAULTS[n]]
            if given and self.model != model:
                raise ValueError(f"{where}: {', '.join(given)} {'is a setting' if len(given) == 1 else 'are settings'}"
                                 f" of --model {model}, not of --model {self.model}; remove "
                                 f"{'it' if len(given) == 1 else 'them'} or use --model {model}")

    def likelihood_kwargs(self) -> dict:
        """The options the chosen likelihood's constructor takes, e.g. {"sigma": 1.0} for "gaussian"."""
        return {name: getattr(self, name) for name in likelihood_options(self.likelihood)}

    def model_kwargs(self) -> dict:
        """The VAE's settings from this run's: VAE(x_dim, **cfg.model_kwargs(), seed=..., dtype=...)
        (with ``stochastic`` set, the HVAE's: HVAE(x_dim, **cfg.model_kwargs(), ...))."""
        if self.stochastic:
            return dict(stochastic=self.stochastic, hidden=self.hidden, likelihood=self.likelihood,
                        activation=self.activation, likelihood_kwargs=self.likelihood_kwargs(), prior=self.prior,
                        init=None if self.init == "auto" else self.init)
        return dict(hidden=self.hidden, z_dim=self.z_dim, likelihood=self.likelihood, activation=self.activation,
                    likelihood_kwargs=self.likelihood_kwargs(), hidden_dec=self.hidden_dec or None,
                    posterior="deterministic" if self.model == "ae" else self.posterior, prior=self.prior,
                    init=None if self.init == "auto" else self.init, encoder=self.encoder, decoder=self.decoder)

    def temperature_schedule(self):
        """τ at each global step, for a Gumbel-softmax posterior (the trainer sets family.tau from it)."""
        from .latent.gumbel import TemperatureSchedule
        return TemperatureSchedule(tau_min=min(self.tau_min, self.tau), rate=self.tau_rate, every=self.tau_every,
                                   tau0=self.tau)

    def loss_kwargs(self) -> dict:
        """The objective's settings for VAE.loss_and_grads (beta is the trainer's, with its warm-up)."""
        return dict(n_samples=self.n_samples, objective=self.objective,
                    alpha=self.alpha if self.objective == "vr" else None)

    def resolved_binarize(self) -> str:
        """The binarization this run uses ("auto" resolved, see :func:`resolved_binarize`)."""
        return resolved_binarize(self.binarize, self.likelihood, self.dataset)

    def to_dict(self) -> dict:
        """The run config as written to config.json and into the checkpoint (JSON-able)."""
        return asdict(self)


#: the settings only one model reads
MODEL_ONLY = {"m2": ("labels", "classifier_hidden", "class_weight"),
              "avb": ("critic_steps", "lr_critic", "noise_dim", "hidden_critic", "critic", "adaptive_contrast")}
#: why a model refuses a VAE setting (the end of its one-line error)
MODEL_NATURE = {"ae": "the plain autoencoder has a deterministic z and no KL term",
                "helmholtz": "the Helmholtz machine has binary latents, a Bernoulli decoder and its own "
                             "wake-sleep updates",
                "m2": "M2 is a conditional VAE with a diagonal Gaussian q, one sample and its own classifier",
                "avb": "AVB has an implicit q, a critic in place of the KL and one sample per example"}


def burda_epochs(stages: int) -> int:
    """Epochs of the burda schedule with ``stages`` stages: Σ_{i<stages} 3^i = (3^stages − 1)/2."""
    return (3 ** stages - 1) // 2


def likelihood_options(name: str) -> tuple:
    """The TrainConfig fields that the likelihood ``name``'s constructor takes, from its signature."""
    params = inspect.signature(LIKELIHOODS[name].__init__).parameters
    return tuple(p for p in params if p in _LIKELIHOOD_OPTIONS)


_DEFAULTS = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
             for f in fields(TrainConfig)}
_LIKELIHOOD_OPTIONS = ("sigma", "min_logvar")


# --------------------------------------------------------------------------
# help, choices, presets
# --------------------------------------------------------------------------

#: the allowed values of the named settings, generated from the registries
CHOICES = {
    "dataset": tuple(DATASETS),
    "binarize": BINARIZE,
    "likelihood": tuple(LIKELIHOODS),
    "activation": tuple(ACTIVATIONS),
    "objective": tuple(OBJECTIVES),
    "optimizer": tuple(OPTIMIZERS),
    "dtype": DTYPES,
    "model": MODELS,
    "q_update": Q_UPDATES,
    "q_objective": ("same", "cubo"),
    "output_bias": OUTPUT_BIAS,
    "init": ("auto", *INITIALIZERS, *DENSE_INITIALIZERS),
    "lr_schedule": ("constant", "burda"),
    "critic": ("mlp", "inner"),
}

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
                   "the Gaussians); auto: data for a learned prior (mog:K, vamp:K), zero otherwise. Without it "
                   "a tanh VampPrior collapses to KL 0 in its first epoch (README, learned priors)",
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
    "critic_steps": "avb: critic updates per generator update",
    "lr_critic": "avb: the critic's learning rate (0: --lr)",
    "noise_dim": "avb: size of the noise the implicit encoder reads beside x (0: z_dim)",
    "hidden_critic": "avb: hidden layer sizes of the critic T(x, z) (default: --hidden)",
    "critic": "avb: the critic T(x, z): mlp (an MLP on [x, z]) or inner (Mescheder et al.'s code: "
              "<theta(x), s(z)> + T(x) + T(z))",
    "adaptive_contrast": "avb: contrast q with a Gaussian of its own mean and variance instead of the prior "
                         "(Mescheder et al., adaptive contrast)",
}

# The seeds' experiments, by name: `python -m numpyvae train --preset lecture`.
PRESETS = {
    # the lecture slides: 784-500-500-20, Adam 1e-3, batch 150, 50 epochs, Bernoulli
    "lecture": dict(hidden=[500, 500], z_dim=20, optimizer="adam", lr=1e-3, batch_size=150, epochs=50),
    # the Keras write-up: 784-256-2, RMSprop, Bernoulli on grey levels, batch 100, 50 epochs
    "keras": dict(hidden=[256], z_dim=2, optimizer="rmsprop", lr=1e-3, batch_size=100, epochs=50,
                  binarize="none"),
    # the blog post: 784-128-2, MSE + β·KL with Adam 3e-4, batch 8. MSELoss averages over the batch's
    # 8·784 values while the KL is summed over the batch; times 8·784/2 this is, per example, a
    # Gaussian likelihood with σ = 1 and β = 1e-4 · 8 · 784 / 2 = 0.3136.
    "blog": dict(hidden=[128], z_dim=2, activation="tanh", likelihood="gaussian", sigma=1.0, beta=0.3136,
                 optimizer="adam", lr=3e-4, batch_size=8, epochs=20),
    # pytorch/examples' VAE exactly: 784-400-20 ReLU, Bernoulli on grey levels, Adam 1e-3, batch 128,
    # 10 epochs, PyTorch's default initialization (W and b ~ U(±1/√fan_in))
    "pytorch-example": dict(hidden=[400], z_dim=20, optimizer="adam", lr=1e-3, batch_size=128, epochs=10,
                            binarize="none", init="pytorch"),
    # Burda, Grosse & Salakhutdinov (2015), section 5: one stochastic layer (784-200-200-50 tanh) and two
    # (784-100-100-100(z1)-50-50-50(z2)), batch 20, Adam beta (0.9, 0.999), eps 1e-4, lr 1e-3·10^(−i/7) for
    # 3^i epochs, i = 0..7 (3280 epochs), dynamic binarization; --objective iwae --n-samples 50 for IWAE.
    # Their code (yburda/iwae, get_train_bias_np) starts the decoder's output bias at logit of the mean image.
    "burda-1l": dict(hidden=[200, 200], z_dim=50, activation="tanh", batch_size=20, optimizer="adam", lr=1e-3,
                     adam_eps=1e-4, lr_schedule="burda", burda_stages=8, epochs=3280, binarize="dynamic",
                     output_bias="data"),
    "burda-2l": dict(hidden=[100, 100], stochastic=[100, 50], activation="tanh", batch_size=20, optimizer="adam",
                     lr=1e-3, adam_eps=1e-4, lr_schedule="burda", burda_stages=8, epochs=3280, binarize="dynamic",
                     output_bias="data"),
    # keras-io's convolutional VAE (fchollet, "Variational AutoEncoder", 2020): Conv(32, 3, s2) -> Conv(64, 3, s2)
    # -> Dense(16) -> z (2-D); Dense(7·7·64) -> ConvT(64, 3, s2) -> ConvT(32, 3, s2) -> ConvT(1, 3) -> logits;
    # ReLU, "same" padding, Glorot uniform weights and zero biases (Keras' defaults), binary cross-entropy on
    # grey levels, Adam 1e-3, batch 128, 30 epochs
    "keras-conv": dict(encoder="conv:32:3:2,conv:64:3:2,flatten,dense:16",
                       decoder="dense:3136,reshape:64:7:7,convt:64:3:2,convt:32:3:2", z_dim=2,
                       init="glorot_uniform", optimizer="adam", lr=1e-3, batch_size=128, epochs=30,
                       binarize="none"),
    # a 2-D latent on the ring toy data, drawn in seconds
    "ring": dict(dataset="ring", hidden=[64, 64], z_dim=2, likelihood="gaussian", sigma=0.05,
                 activation="tanh", batch_size=100, epochs=30),
}


# --------------------------------------------------------------------------
# checking values: one function for every setting
# --------------------------------------------------------------------------

_INT_MIN = {"snapshot_every": 0, "labels": 1, "critic_steps": 1, "noise_dim": 0, "burda_stages": 1, "z_dim": 1, "n_samples": 1, "batch_size": 1, "epochs": 1, "seed": 0, "tau_every": 1}
#: float settings: (lower bound, True if the bound itself is allowed); None: any finite number
_FLOAT_MIN = {"tau": (0.0, False), "tau_min": (0.0, False), "tau_rate": (0.0, True), "beta": (0.0, True), "warmup_epochs": (0.0, True), "clip_grad_norm": (0.0, True),
              "lr": (0.0, False), "lr_critic": (0.0, True), "class_weight": (0.0, True), "adam_eps": (0.0, False), "sigma": (0.0, False), "min_logvar": None, "alpha": None}
#: ints above this are refused: no array or seed needs more, and it keeps JSON and NumPy exact
_INT_MAX = 2 ** 63 - 1


def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}, got {_describe(value)}")
    if not low <= value <= _INT_MAX:
        raise ValueError(f"{name} must be an integer >= {low}" + (f" and <= 2**63 - 1" if value > _INT_MAX else "")
                         + f", got {value}")
    return int(value)


def _check_float(name: str, value, bound) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if bound is not None:
        low, inclusive = bound
        if value < low or (value == low and not inclusive):
            raise ValueError(f"{name} must be a number {'>=' if inclusive else '>'} {low:g}, got {value:g}")
    return value


def _one_of(name: str, count: str) -> str:
    """"mog:100000" -> "mog:1", "planar:8" -> "planar:1": a posterior's or prior's name at size 1, so
    that checking its spelling builds nothing large (a count that is not a positive integer is kept
    as written, for its parser's error). The sizes themselves are memory.check_memory's to judge."""
    base, sep, _ = name.strip().partition(":")
    return f"{base}:1" if sep and count.isascii() and count.isdigit() and int(count) >= 1 else name


def check_setting(name: str, value, where: str = "config"):
    """The value of setting ``name`` after checking its type and range; ValueError otherwise.

    The error reads "<where>: <name> must be ..., got <value> (<type>)", e.g.
    "config file run.toml: seed must be an integer >= 0, got 'abc' (str)".
    Booleans are never numbers here (TOML's ``beta = true`` is a mistake, not 1.0).
    """
    try:
        if name in CHOICES:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])} (a string), got {_describe(value)}")
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}, got {value!r}")
            return value
        if name in _INT_MIN:
            return _check_int(name, value, _INT_MIN[name])
        if name in ("conditional", "adaptive_contrast"):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be true or false, got {_describe(value)}")
            return bool(value)
        if name in _FLOAT_MIN:
            return _check_float(name, value, _FLOAT_MIN[name])
        if name == "beta1":
            value = _check_float(name, value, (0.0, True))
            if value >= 1.0:
                raise ValueError(f"beta1 must be a number >= 0 and < 1 (Adam's decay), got {value:g}")
            return value
        if name == "hidden":
            sizes = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
            if not isinstance(sizes, (list, tuple)) or not sizes:
                raise ValueError(f"hidden must be a non-empty list of integers >= 1, got {_describe(value)}")
            return [_check_int("each hidden size", h, 1) for h in sizes]
        if name == "stochastic":
            sizes = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
            if not isinstance(sizes, (list, tuple)):
                raise ValueError(f"stochastic must be a list of layer sizes >= 1 (empty: one layer of z_dim), "
                                 f"got {_describe(value)}")
            return [_check_int("each stochastic layer size", h, 1) for h in sizes]
        if name in ("classifier_hidden", "hidden_critic"):
            sizes = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
            if not isinstance(sizes, (list, tuple)) or (name == "classifier_hidden" and not sizes):
                raise ValueError(f"{name} must be a {'non-empty ' if name == 'classifier_hidden' else ''}list of "
                                 f"integers >= 1, got {_describe(value)}")
            return [_check_int(f"each {name} size", h, 1) for h in sizes]
        if name == "hidden_dec":
            sizes = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
            if not isinstance(sizes, (list, tuple)):
                raise ValueError(f"hidden_dec must be a list of integers >= 1 (empty: mirror hidden), "
                                 f"got {_describe(value)}")
            return [_check_int("each hidden_dec size", h, 1) for h in sizes]
        if name in ("posterior", "prior"):
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a name such as {'planar:8' if name == 'posterior' else 'mog:10'} "
                                 f"(a string), got {_describe(value)}")
            try:                              # the registries' own parsers say what is wrong with a name,
                if name == "prior":               # on one component or step: the size is memory.py's to judge
                    make_prior(_one_of(value, value.partition(":")[2]), 2, x_dim=2, n_classes=2)
                elif "," in value or parse_posterior(value)[0] not in CATEGORICAL:
                    head, options = split_options(value)    # errors name the value as written
                    length = parse_posterior(head)[1]
                    small = {k: 1 if k in ("hidden", "context_dim") and isinstance(v, int) and v >= 1 else v
                             for k, v in options.items()}       # IAF's widths, at 1 like the length
                    make_posterior(_one_of(head, str(length)), 2, **small)
                    # a gumbel:C needs z_dim = M·C: checked when the model is built
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}: {err}") from None
            return value
        if name in ("encoder", "decoder"):
            if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
                value = ",".join(value)                   # TOML: a list of layer strings
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a network spec such as 'conv:32:3:2,flatten,dense:16' "
                                 f"(a string; empty: the MLP), got {_describe(value)}")
            if value.strip():
                parse_spec(value, name)                   # the syntax now; the shapes when the model is built
            return value.strip()
        if name == "out":
            if not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"out must be a directory path (a string), got {_describe(value)}")
            value = os.fspath(value)
            if "\0" in value:
                raise ValueError("out must not contain a NUL character")
            return value
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where}: unknown setting {name!r}; valid settings are {', '.join(_DEFAULTS)}")


def settings_from_sources(sources) -> dict:
    """Merge ``[(where, dict), ...]`` (later sources win) into checked TrainConfig keyword arguments.

    ``where`` names each source in errors: "preset 'keras'", "config file
    run.toml", "--seed". Unknown keys and bad values are refused with the
    source that gave them.
    """
    merged = {}
    for where, d in sources:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a table of settings, got {_describe(d)}")
        unknown = [k for k in d if k not in _DEFAULTS]
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {list(_DEFAULTS)}")
        for k, v in d.items():
            merged[k] = check_setting(k, v, where)
    return merged


def config_from_toml(path) -> dict:
    """Read a TOML config file into a dict of settings (checked by :func:`settings_from_sources`).

    Every failure names the file: missing, a directory, unreadable, not UTF-8, not TOML.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"config file {path} is a directory; give the path of a .toml file") from None
    except PermissionError:
        raise ValueError(f"config file {path} cannot be read (permission denied)") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"config file {path} is not a text (UTF-8) TOML file: byte {err.start} "
                         f"cannot be decoded") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from None
    except OSError as err:
        raise ValueError(f"config file {path} cannot be read: {err.strerror or err}") from None


# --------------------------------------------------------------------------
# binarization policy
# --------------------------------------------------------------------------

def resolved_binarize(binarize: str, likelihood: str, dataset: str) -> str:
    """The binarization a run uses: ``binarize`` itself, or for "auto" dynamic
    binarization when the likelihood is Bernoulli on image data (0/1 pixels are
    what it models) and none (grey levels) otherwise. The one place that decides it: the trainers,
    evaluate (from a run's saved config) and the AVB experiment all ask here."""
    if binarize not in BINARIZE:
        raise ValueError(f"binarize must be one of {', '.join(BINARIZE)}, got {binarize!r}")
    if binarize != "auto":
        return binarize
    return "dynamic" if likelihood == "bernoulli" and dataset != "ring" else "none"


def binarize_test_set(x: np.ndarray, binarize: str, seed: int | None = None) -> tuple[np.ndarray, str]:
    """The test set a model trained with ``binarize`` is measured on, and a sentence saying how.

    * "dynamic": one stochastic binarization x_bin ~ Bernoulli(x), drawn once
      with a fixed seed. The literature evaluates dynamically binarized models
      on such a sampled test set (e.g. Burda et al., 2015): the model was
      trained on Bernoulli(x) draws, so its test data is one more draw, and the
      fixed seed makes every evaluation see the same 0/1 images.
    * "static": also one Bernoulli(x) draw with a fixed seed, the way the
      trainer binarizes a static run's training set.
    * "none": x unchanged (grayscale). For a Bernoulli decoder the numbers are
      then not log-probabilities of any data set: report them as such.

    ``seed``: the trainer and the evaluator pass :func:`test_seed` of the run's
    seed, so ``val_loss`` in the history and the test ELBO are measured on the
    same 0/1 images; None means ``test_seed(0)`` (a run with seed 0).
    """
    seed = test_seed(0) if seed is None else seed
    if binarize in ("dynamic", "static"):
        kind = "stochastically" if binarize == "dynamic" else "statically"
        return binarize_static(x, method="sample", seed=seed), f"{kind} binarized, one Bernoulli(x) draw, seed {seed}"
    if binarize in (None, "none"):
        return x, "not binarized (grey levels)"
    raise ValueError(f"binarize must be one of {BINARIZE[1:]}, got {binarize!r}")
