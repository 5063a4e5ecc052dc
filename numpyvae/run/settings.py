"""One check for every setting's value, and the sources (flags, TOML files, presets) merged into checked settings.

* :func:`check_setting` -- the type and range of every setting, checked in one
  function, so a bad value gets the same one-line error from Python, from a
  TOML file (naming the file and the key) and from a flag (naming the flag).
  The choices of the named settings (:data:`CHOICES`) come from the registries
  themselves (datasets, likelihoods, activations, objectives, optimizers).
* :func:`settings_from_sources` -- ``[(where, dict), ...]`` merged into checked
  keyword arguments of :class:`numpyvae.run.config.TrainConfig`; :func:`config_from_toml`
  reads a TOML file into such a dict.

The checks between settings (a setting of one model given to another, a schedule's length)
are :meth:`numpyvae.run.config.TrainConfig.validate`'s.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..bounds.registry import OBJECTIVES
from ..datasets import DATASETS
from ..datasets.binarize import BINARIZE
from ..latent.families import CATEGORICAL, make_posterior, parse_posterior, split_options
from ..latent.priors import make_prior
from ..likelihoods import LIKELIHOODS
from ..models.wake_sleep import Q_UPDATES
from ..nn.activations import ACTIVATIONS
from ..nn.init import DENSE_INITIALIZERS, INITIALIZERS
from ..nn.spec import parse_spec
from ..optim import OPTIMIZERS
from .output_bias import OUTPUT_BIAS
from .sections import DEFAULTS, MODELS

__all__ = ["CHOICES", "DTYPES", "check_setting", "settings_from_sources", "config_from_toml"]

DTYPES = ("float32", "float64")

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


#: the settings that are lists of layer sizes: (what the list must be, whether it may be empty, each size's name)
_SIZE_LISTS = {
    "hidden": ("a non-empty list of integers >= 1", False, "each hidden size"),
    "stochastic": ("a list of layer sizes >= 1 (empty: one layer of z_dim)", True, "each stochastic layer size"),
    "classifier_hidden": ("a non-empty list of integers >= 1", False, "each classifier_hidden size"),
    "hidden_critic": ("a list of integers >= 1", True, "each hidden_critic size"),
    "hidden_dec": ("a list of integers >= 1 (empty: mirror hidden)", True, "each hidden_dec size"),
}


def _check_sizes(name: str, value, what: str, may_be_empty: bool, each: str) -> list:
    """A list of layer sizes, each an integer >= 1; a single integer is a list of one."""
    sizes = [value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(sizes, (list, tuple)) or not (sizes or may_be_empty):
        raise ValueError(f"{name} must be {what}, got {_describe(value)}")
    return [_check_int(each, h, 1) for h in sizes]


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
        if name in _SIZE_LISTS:
            return _check_sizes(name, value, *_SIZE_LISTS[name])
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
        if name in ("out", "features"):
            if not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"{name} must be a directory path (a string), got {_describe(value)}")
            value = os.fspath(value)
            if "\0" in value:
                raise ValueError(f"{name} must not contain a NUL character")
            return value
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where}: unknown setting {name!r}; valid settings are {', '.join(DEFAULTS)}")


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
        unknown = [k for k in d if k not in DEFAULTS]
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {list(DEFAULTS)}")
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

