"""The library's own answer to each exercise, and a way to put it out of the learner's reach.

Every exercise asks for a gradient the package already computes somewhere (``Dense.backward``,
``kl_analytic_backward``, ``VAE.backward``...). A learner's function that calls that code and
returns its result would pass a check on numbers alone, so while a learner's function is graded
those implementations are replaced by a *tripwire*: calling one raises :class:`CallsTheAnswer`,
which the grader turns into "NOT DONE: this calls numpyvae's own answer".

* In a notebook (:func:`numpyvae.teach.exercises.grade`) the replacement lasts for the call of
  the learner's function only (:func:`answers_hidden`), so the rest of the tutorial keeps them.
* In the class grader's sandbox (:mod:`numpyvae.teach.grade_worker`) it is made before the
  submission's first line runs and never undone (:func:`hide_answers`): a definition that keeps
  a reference to the method (``backward = VAE.backward`` in a class body) keeps the tripwire.

What this does not catch: a learner who copies the library's source text into their own file,
or rebuilds the module from its file (``importlib.reload``, ``exec`` of the source). That is
copying, and shows in the submission itself.
"""
from __future__ import annotations

import contextlib
import importlib
import sys

__all__ = ["REFERENCES", "CallsTheAnswer", "answers_hidden", "hide_answers"]

_ACTIVATIONS = "numpyvae.nn.activations"
_LIKELIHOOD = "numpyvae.likelihoods.base:Likelihood.backward"

#: exercise -> "module:attribute[.method]" of the package code that computes its answer
REFERENCES = {
    "dense_backward": ("numpyvae.nn.dense:Dense.backward",),
    "relu_backward": (f"{_ACTIVATIONS}:ReLU._backward",),
    "leaky_relu_backward": (f"{_ACTIVATIONS}:LeakyReLU._backward",),
    "elu_backward": (f"{_ACTIVATIONS}:ELU._backward",),
    "tanh_backward": (f"{_ACTIVATIONS}:Tanh._backward",),
    "sigmoid_backward": (f"{_ACTIVATIONS}:Sigmoid._backward",),
    "softplus_backward": (f"{_ACTIVATIONS}:Softplus._backward",),
    "reparam_backward": ("numpyvae.latent.gaussian:reparameterize_backward",
                         "numpyvae.latent.gaussian:DiagonalGaussian.backward"),
    "kl_backward": ("numpyvae.latent.kl:kl_analytic_backward", "numpyvae.latent.kl:GaussianToStandardNormal.backward"),
    "kl_mc_backward": ("numpyvae.latent.gaussian:DiagonalGaussian.backward",),
    "bernoulli_backward": (_LIKELIHOOD,),
    "gaussian_backward": (_LIKELIHOOD,),
    "gaussian_learned_backward": (_LIKELIHOOD,),
    "cb_log_norm_backward": (_LIKELIHOOD,),
    "iwae_weights": ("numpyvae.bounds.elbo_iwae:IWAE.weights",),
    "adam_step": ("numpyvae.optim.adam:Adam._update",),
    "gumbel_softmax_backward": ("numpyvae.latent.gumbel.relaxation:gumbel_softmax_backward",
                                "numpyvae.latent.gumbel.family:GumbelSoftmax.backward"),
    "planar_logdet_backward": ("numpyvae.latent.flows.planar:PlanarStep.backward",),
    "conv2d_backward_dW": ("numpyvae.nn.conv:Conv2D.backward",),
    "avb_critic_backward": ("numpyvae.models.adversarial:AVB.critic_backward",
                            "numpyvae.models.adversarial:AVB.discriminator_grads"),
    "vae_backward": ("numpyvae.models.vae:VAE.backward", "numpyvae.models.vae_uses:VAEUses.loss_and_grads"),
}


class CallsTheAnswer(BaseException):
    """Raised by a tripwire. A BaseException, so ``except Exception`` in a learner's code does not swallow it."""


def _resolve(target: str):
    """(owner, attribute name, current value) of "module:Name" or "module:Class.method"."""
    module_name, _, path = target.partition(":")
    owner = importlib.import_module(module_name)
    *classes, attr = path.split(".")
    for c in classes:
        owner = getattr(owner, c)
    return owner, attr, owner.__dict__[attr]


def _tripwire(name: str, target: str, record: list):
    def tripwire(*args, **kwargs):
        record.append(target)
        raise CallsTheAnswer(f"{target.replace(':', '.')} is the library's answer to {name}")
    tripwire.__name__ = tripwire.__qualname__ = target.rpartition(".")[2]
    return tripwire


def _namespaces(extra=()):
    """Every loaded module's namespace, and ``extra`` (a learner's globals): where a function may have been imported."""
    spaces = [vars(m) for m in list(sys.modules.values()) if isinstance(m, type(sys))]
    return spaces + [d for d in extra if isinstance(d, dict)]


def _cells(extra) -> list:
    cells = []
    for item in extra:
        for cell in getattr(item, "__closure__", None) or ():
            try:
                cell.cell_contents
                cells.append(cell)
            except ValueError:                                # an empty cell
                pass
    return cells


def _swap(name: str, record: list, extra=()) -> list:
    """Replace every reference of exercise ``name``, also wherever a function of them was imported; returns the undo list."""
    undo = []
    for target in REFERENCES.get(name, ()):
        owner, attr, original = _resolve(target)
        wire = _tripwire(name, target, record)
        undo.append((owner.__dict__ if isinstance(owner, type(sys)) else owner, attr, original))
        setattr(owner, attr, staticmethod(wire) if isinstance(original, staticmethod) else wire)
        if isinstance(owner, type(sys)):                     # a function: also where it was imported, by any name
            for space in _namespaces(extra):
                for alias in [k for k, v in space.items() if v is original]:
                    undo.append((space, alias, original))
                    space[alias] = wire
            for cell in _cells(extra):                        # or captured by the learner's function
                if cell.cell_contents is original:
                    undo.append((cell, "cell_contents", original))
                    cell.cell_contents = wire
    return undo


def _undo(undo: list):
    for owner, attr, original in reversed(undo):
        if isinstance(owner, dict):
            owner[attr] = original
        else:
            setattr(owner, attr, original)


@contextlib.contextmanager
def answers_hidden(name: str, learner_fn=None):
    """Within the block, the package's implementations of exercise ``name`` raise :class:`CallsTheAnswer`
    (also where a learner imported one by name: every loaded module, ``learner_fn``'s globals and closure)."""
    undo = _swap(name, [], [getattr(learner_fn, "__globals__", None), learner_fn])
    try:
        yield
    finally:
        _undo(undo)


def hide_answers(name: str) -> list:
    """For good (the sandbox, before the submission runs): the package's implementations of ``name``
    raise :class:`CallsTheAnswer`. (The exercise's stand-in is hidden by the grader's worker, which
    imports both this module and the exercises.)

    Returns the list that records each call of a tripwire (the target's name), so the worker can
    say the learner called one even if the learner's code caught the exception.
    """
    record = []
    _swap(name, record)
    return record
