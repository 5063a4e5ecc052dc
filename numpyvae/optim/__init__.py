"""Optimizers written from scratch: SGD (momentum, Nesterov), RMSprop, Adagrad, Adam.

The interface, shared by all of them::

    opt = Adam(params, grads, lr=1e-3)   # params, grads: ordered dicts name -> array
    loss = model.loss_and_grads(x)       # the model writes grads IN PLACE
    opt.step()                           # updates params IN PLACE from the grads

``params`` and ``grads`` have the same names in the same order ("encoder.0.W",
...), the same shapes and one float dtype. The optimizer keeps references to the
arrays, so the model must keep writing into those same arrays.

Each class docstring states its update rule; ``_update`` is that rule, one NumPy
call per line, every call writing into an existing buffer (``out=``) so a step
allocates nothing. The plain version of a line such as ``m = b1*m + (1-b1)*g``
would allocate two temporaries the size of the model on every step. Every
``y ← y + a·x`` goes through one function, :func:`numpyvae.optim.inplace.axpy`.

Where each piece lives:

    engine.py           the flat-buffer engine every rule runs on (class Optimizer): layout, threads,
                        the finite check, the subnormal guard, the state dict
    parallel.py         the engine's threads: a big elementwise pass split into one range per thread
    inplace.py          y ← y + a·x and θ ← θ − lr·g/(√acc + ε) without temporaries
    hyperparameters.py  the checks every hyperparameter goes through
    sgd.py, rmsprop.py, adagrad.py, adam.py     the update rules, one per file
    factory.py          make_optimizer: an optimizer by name
"""
from .adagrad import Adagrad
from .adam import Adam
from .engine import Optimizer
from .factory import OPTIMIZERS, make_optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "make_optimizer", "OPTIMIZERS"]
