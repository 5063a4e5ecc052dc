"""make_optimizer: an optimizer by name ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam")."""
from __future__ import annotations

import inspect
from collections import OrderedDict

from .adagrad import Adagrad
from .adam import Adam
from .engine import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["make_optimizer", "OPTIMIZERS"]

# name -> (class, defaults that the name implies)
_REGISTRY = OrderedDict([
    ("sgd", (SGD, {})),
    ("momentum", (SGD, {"momentum": 0.9})),
    ("nesterov", (SGD, {"momentum": 0.9, "nesterov": True})),
    ("rmsprop", (RMSprop, {})),
    ("adagrad", (Adagrad, {})),
    ("adam", (Adam, {})),
])
OPTIMIZERS = tuple(_REGISTRY)


def make_optimizer(name: str, params, grads, **kwargs) -> Optimizer:
    """Build an optimizer by name: one of "sgd", "momentum" (SGD, momentum 0.9),
    "nesterov" (SGD, Nesterov momentum 0.9), "rmsprop", "adagrad", "adam".

    ``kwargs`` are that optimizer's hyperparameters (``lr=...``, ...); they
    override the defaults the name implies. Unknown names or options raise
    ValueError listing the known ones.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    cls, defaults = _REGISTRY[key]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params", "grads")]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise ValueError(f"optimizer {name!r} has no option(s) {unknown}; its options: {', '.join(allowed)}")
    return cls(params, grads, **{**defaults, **kwargs})
