"""Every generator of a run, derived from its one seed: the one place the streams are defined.

A run's seed s feeds several streams. Each is its own np.random.Generator, so
drawing more from one (a larger batch, another evaluation) never shifts
another, and resume restores each one by state. The values below are those
the runs have always used; changing one changes every number of every run.

This module imports nothing of numpyvae: the model (weights, noise, a learned
prior's or a flow's start) and the application (shuffling, test draws,
validation, evaluation) both read their seeds here.
"""
from __future__ import annotations


def model_seed(run_seed: int) -> int:
    """The seed given to ``VAE(seed=...)``: the run's seed. The VAE draws its initial
    weights from ``np.random.default_rng(model_seed)`` and its noise eps from
    ``np.random.default_rng(noise_seed(model_seed))``."""
    return run_seed


def noise_seed(model_seed: int) -> list:
    """The model's noise stream (eps of every training step): [seed, 1], apart from its weights'."""
    return [model_seed, 1]


def prior_init_seed(model_seed: int) -> list:
    """A learned prior's initial values (a mixture's means, the VampPrior's pseudo-inputs): [seed, 4]."""
    return [model_seed, 4]


def posterior_init_seed(model_seed: int) -> list:
    """A family's global parameters (IAF's MADE weights, a global flow): [seed, 5]."""
    return [model_seed, 5]


def trainer_seed(run_seed: int) -> list:
    """The trainer's stream: the shuffling permutation and the dynamic binarization draws, [seed, 2]."""
    return [run_seed, 2]


def train_draw_seed(run_seed: int) -> int:
    """The one Bernoulli draw of a static run's training set (and of the mixture baseline's): the seed."""
    return run_seed


def test_seed(run_seed: int) -> int:
    """The one fixed Bernoulli draw of a run's test set: the run's seed + 1.

    The trainer validates on this draw and the evaluator measures on it, so
    ``val_loss`` in the history and the test ELBO see the same 0/1 images.
    """
    return run_seed + 1


test_seed.__test__ = False      # a library function, not a pytest test


def validation_seed(run_seed: int) -> int:
    """The noise eps of every validation pass: the run's seed + 3, the same noise each epoch,
    drawn from its own generator so validating takes nothing from the training streams."""
    return run_seed + 3


#: The default seed of the evaluator's noise (the test ELBO's eps, the importance samples).
#: Evaluation never draws from ``model.rng``: measuring a model must not change what its training draws next.
EVAL_SEED = 0
