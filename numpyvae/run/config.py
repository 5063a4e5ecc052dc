"""TrainConfig: a run's settings in one object, the checks between them, and what the trainer reads from them.

* :class:`TrainConfig` -- made of the sections of :mod:`numpyvae.run.sections` (what every run
  reads, and M2's, the Helmholtz machine's and AVB's own settings), so each setting has one flat
  name: a flag of ``python -m numpyvae train``, a key of its TOML file and of a checkpoint's saved
  config. Values are checked one by one (:func:`numpyvae.run.settings.check_setting`) and
  together (:meth:`TrainConfig.validate`: a setting of one model given to another is refused
  by name) when it is built.
* What the trainer reads from it: the learning rate of an epoch, the optimizer's, the
  likelihood's, the model's and the objective's options, the temperature schedule and the
  binarization (:func:`numpyvae.datasets.binarize.resolved_binarize`).

Named experiments are :data:`numpyvae.run.presets.PRESETS`; the words of ``--help`` are
:data:`numpyvae.run.setting_help.HELP`. This module sits below the trainer and the evaluator
and imports neither: both import it.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, fields

from ..datasets import binarize as binarization
from ..latent.families import CATEGORICAL, parse_posterior
from ..likelihoods import LIKELIHOODS
from .sections import (DEFAULTS, MODEL_NATURE, MODEL_ONLY, AVBSettings, HelmholtzSettings,
                       M2Settings, RunSettings)
from .settings import check_setting, settings_from_sources

__all__ = ["TrainConfig", "burda_epochs", "likelihood_options"]


@dataclass
class TrainConfig(AVBSettings, HelmholtzSettings, M2Settings, RunSettings):
    """Everything that defines a run: the fields of :class:`RunSettings`, :class:`M2Settings`,
    :class:`HelmholtzSettings` and :class:`AVBSettings`, in that order. Every field is a flag of
    ``python -m numpyvae train`` and a key of its TOML config file. Values are checked on
    construction (:meth:`validate`)."""

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
        if self.objective != "vr" and self.alpha != DEFAULTS["alpha"]:
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
            given = [n for n in tau_settings if getattr(self, n) != DEFAULTS[n]]
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
            if name not in takes and getattr(self, name) != DEFAULTS[name]:
                users = [k for k in LIKELIHOODS if name in likelihood_options(k)]
                raise ValueError(f"{where}: {name} is an option of the likelihood {' / '.join(users)}, "
                                 f"not of {self.likelihood!r}; remove it or change the likelihood")

    def _validate_hierarchy_and_schedule(self, where: str) -> None:
        """Settings that only make sense together: a hierarchy's layer sizes, the burda schedule's length."""
        if self.stochastic:
            for name, ok in (("z_dim", self.z_dim == DEFAULTS["z_dim"]), ("hidden_dec", not self.hidden_dec),
                             ("posterior", self.posterior == "gaussian"), ("encoder", not self.encoder),
                             ("decoder", not self.decoder), ("model", self.model in ("vae", "hvae")),
                             ("q_objective", self.q_objective == DEFAULTS["q_objective"]),
                             ("conditional", not self.conditional)):
                if not ok:
                    raise ValueError(f"{where}: {name} is a setting of the one-layer VAE; with stochastic "
                                     f"{self.stochastic} (a hierarchy of diagonal Gaussians) leave it unset")
        if self.lr_schedule == "burda":
            n = burda_epochs(self.burda_stages)
            if self.epochs != n:
                raise ValueError(f"{where}: lr_schedule burda with burda_stages {self.burda_stages} runs "
                                 f"{n} epochs (3^i for i = 0..{self.burda_stages - 1}); set epochs to {n}")
        elif self.burda_stages != DEFAULTS["burda_stages"]:
            raise ValueError(f"{where}: burda_stages is a setting of lr_schedule burda; remove it or add "
                             "--lr-schedule burda")
        for name, what in (("adam_eps", "Adam's epsilon"), ("beta1", "Adam's β₁")):
            if self.optimizer != "adam" and getattr(self, name) != DEFAULTS[name]:
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
                     if getattr(self, name) != DEFAULTS[name]}
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
        if self.model != "helmholtz" and self.q_update != DEFAULTS["q_update"]:
            raise ValueError(f"{where}: q_update is how a Helmholtz machine's q learns; it needs --model helmholtz")
        self._check_model_only_settings(where)
        if self.model == "hvae" and not self.stochastic:
            raise ValueError(f"{where}: model hvae is a hierarchy: give its stochastic layer sizes, e.g. "
                             "--stochastic 100 50")
        if self.model == "vae" and self.posterior == "deterministic":
            raise ValueError(f"{where}: posterior 'deterministic' has no KL term and makes a plain autoencoder; "
                             "say so with --model ae")
        if self.model in ("vae", "hvae"):
            return
        fixed = {"posterior": (DEFAULTS["posterior"], "deterministic") if self.model == "ae" else
                 (DEFAULTS["posterior"],), "prior": (DEFAULTS["prior"],), "objective": ("elbo",),
                 "beta": (1.0,), "warmup_epochs": (0.0,)}
        if self.model in ("m2", "avb"):
            fixed.update(n_samples=(1,), encoder=("",), decoder=("",), conditional=(False,),
                         q_objective=(DEFAULTS["q_objective"],), output_bias=("auto", "zero"))
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
        """Each model's own section (:data:`numpyvae.run.sections.MODEL_ONLY`), refused by name for any other model."""
        for model, names in MODEL_ONLY.items():
            given = [n for n in names if getattr(self, n) != DEFAULTS[n]]
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
        from ..latent.gumbel import TemperatureSchedule
        return TemperatureSchedule(tau_min=min(self.tau_min, self.tau), rate=self.tau_rate, every=self.tau_every,
                                   tau0=self.tau)

    def loss_kwargs(self) -> dict:
        """The objective's settings for VAE.loss_and_grads (beta is the trainer's, with its warm-up)."""
        return dict(n_samples=self.n_samples, objective=self.objective,
                    alpha=self.alpha if self.objective == "vr" else None)

    def resolved_binarize(self) -> str:
        """The binarization this run uses ("auto" resolved, see :func:`resolved_binarize`)."""
        return binarization.resolved_binarize(self.binarize, self.likelihood, self.dataset, self.features)

    def to_dict(self) -> dict:
        """The run config as written to config.json and into the checkpoint (JSON-able)."""
        return asdict(self)



def burda_epochs(stages: int) -> int:
    """Epochs of the burda schedule with ``stages`` stages: Σ_{i<stages} 3^i = (3^stages − 1)/2."""
    return (3 ** stages - 1) // 2


def likelihood_options(name: str) -> tuple:
    """The TrainConfig fields that the likelihood ``name``'s constructor takes, from its signature."""
    params = inspect.signature(LIKELIHOODS[name].__init__).parameters
    return tuple(p for p in params if p in _LIKELIHOOD_OPTIONS)



_LIKELIHOOD_OPTIONS = ("sigma", "min_logvar")
