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
``y ← y + a·x`` goes through one function, :func:`_axpy`.

One code path, two layouts
--------------------------
When the model packed its parameters and gradients into flat buffers
(:func:`numpyvae.nn.params.pack`), ``_update`` runs once on the whole 1-D buffers:
nine to a dozen NumPy (or BLAS) calls per step, whatever the number of layers.
Otherwise the same ``_update`` runs once per name on each array. Both give
bit-identical results; the flat layout only saves Python overhead (14 arrays
x 9 calls -> 9 calls).
The state (moments, velocities) is always allocated flat, laid out like the
parameters, and ``state_dict()`` exposes its named views.

With more than one thread (:mod:`numpyvae.parallel`: opt-in, ``NUMPYVAE_THREADS=N``;
the default is 1), the flat buffers are cut into one contiguous range
per thread and each thread runs the same ``_update`` on its range; NumPy
releases the GIL inside each call, so the ranges are updated at the same time.
Every value still goes through exactly the same operations, so the result is
bit-identical to the one-thread step (tests/test_parallel.py), and one thread
is the plain whole-buffer call. (Ranges start at multiples of 4096 values.)

Keeping state out of the subnormal range
----------------------------------------
A moment that is multiplied by beta < 1 at every step in which its gradient is
exactly zero decays geometrically: ``0.9 ** 830 * 1.0`` is below the smallest
normal float32, ``np.finfo(np.float32).tiny`` ~ 1.2e-38. Such *subnormal*
numbers are handled by slow microcode on most CPUs: on this project's 2-core
machine ``np.sqrt`` and ``np.divide`` of subnormal float32 input take about
2.4x and 3x as long, and an Adam step on subnormal state about twice as long
(on many Intel CPUs every add and multiply slows down too). Training then gets
slower epoch after epoch for no visible reason.

The guard (:meth:`Optimizer._keep_normal`): second moments (``v``) are floored
at ``V_FLOOR = 1e-30``, and first moments and velocities with ``|m| < M_FLUSH =
1e-30`` are set to exactly 0 (zero is not subnormal and costs nothing). Neither
changes an update materially; each class docstring gives the bound. Together
the two guard passes cost about half an Adam step (``np.maximum`` with a
scalar is unvectorized here), so they run every ``guard_every`` steps instead
of every step: a value just above 1e-30 needs ``log(tiny / 1e-30) / log(beta)``
steps of pure decay to become subnormal (174 for beta = 0.9), and
``guard_every`` is that number or 64, whichever is smaller. Amortized, the
guard costs well under 1% of a step. What it cannot catch: gradients so small
(|g| below ~1e-17 in float32) that ``(1 − β)·g²`` is subnormal on arrival;
those sit in the state until the next guard. ``python -m numpyvae bench
--optimizer-only`` (:func:`numpyvae.bench.optim.optimizer_step_costs`) measures all
these costs on the machine at hand.
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import parallel
from .nn import params as _params
from .checks import as_dtype

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "make_optimizer", "OPTIMIZERS",
           "V_FLOOR", "M_FLUSH"]

V_FLOOR = 1e-30   # second moments are kept >= this (sqrt: 1e-15, far below any sensible eps)
M_FLUSH = 1e-30   # first moments / velocities smaller than this in magnitude become 0
MAX_GUARD_EVERY = 64


# --------------------------------------------------------------------------- checks

def _real(value, where: str, name: str) -> float:
    """``value`` as a Python float (never np.float64: see ``Optimizer`` on dtypes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value!r}")
    return value


def _positive(value, where: str, name: str) -> float:
    value = _real(value, where, name)
    if value <= 0.0:
        raise ValueError(f"{where}: {name} must be > 0, got {value!r}")
    return value


def _non_negative(value, where: str, name: str) -> float:
    value = _real(value, where, name)
    if value < 0.0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value!r}")
    return value


def _decay(value, where: str, name: str) -> float:
    """A decay rate: 0 <= value < 1 (at 1 the average would never forget)."""
    value = _real(value, where, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{where}: {name} must satisfy 0 <= {name} < 1, got {value!r}")
    return value


def _check_params_and_grads(params, grads, where: str):
    """Validate the pair of dicts; return (params, grads) as OrderedDicts of the same arrays."""
    for label, d in (("params", params), ("grads", grads)):
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: {label} must be a dict name -> np.ndarray, got {type(d).__name__}")
    if len(params) == 0:
        raise ValueError(f"{where}: params is empty; pass the model's dict of named parameter arrays")
    p_names, g_names = list(params), list(grads)
    if p_names != g_names:
        missing = [n for n in p_names if n not in grads]
        extra = [n for n in g_names if n not in params]
        if missing or extra:
            raise ValueError(f"{where}: grads must have the same names as params; "
                             f"missing from grads: {missing}, not in params: {extra}")
        raise ValueError(f"{where}: grads must list the names in the same order as params; "
                         f"params: {p_names}, grads: {g_names}")
    dtype = None
    for name in p_names:
        p, g = params[name], grads[name]
        for label, a in (("params", p), ("grads", g)):
            if not isinstance(a, np.ndarray):
                raise ValueError(f"{where}: {label}[{name!r}] must be a numpy array, got {type(a).__name__}")
        try:
            as_dtype(p.dtype)
        except ValueError as err:
            raise ValueError(f"{where}: params[{name!r}]: {err}") from None
        if dtype is None:
            dtype = p.dtype
        if p.dtype != dtype:
            raise ValueError(f"{where}: all params must share one dtype; params[{p_names[0]!r}] is "
                             f"{dtype.name} but params[{name!r}] is {p.dtype.name}")
        if g.shape != p.shape:
            raise ValueError(f"{where}: grads[{name!r}] has shape {g.shape} but params[{name!r}] has "
                             f"shape {p.shape}")
        if g.dtype != p.dtype:
            raise ValueError(f"{where}: grads[{name!r}] has dtype {g.dtype.name} but params[{name!r}] "
                             f"has dtype {p.dtype.name}")
        if not p.flags.writeable:
            raise ValueError(f"{where}: params[{name!r}] is read-only; the optimizer updates it in place")
        if np.may_share_memory(p, g):
            raise ValueError(f"{where}: grads[{name!r}] shares memory with params[{name!r}]; "
                             f"gradients need their own buffers")
    return OrderedDict(params), OrderedDict(grads)


def _all_finite(x: np.ndarray) -> bool:
    """Whether every value of x is finite: its max and min are (NaN spreads to both, ±inf shows in one).
    An empty x (a head of width 0) has no values, so none is non-finite."""
    return x.size == 0 or (math.isfinite(float(x.max())) and math.isfinite(float(x.min())))


def _axpy(a: float, x: np.ndarray, y: np.ndarray, scratch: np.ndarray) -> None:
    """y ← y + a·x in place, without a temporary: two NumPy calls through ``scratch``.

    x, y, scratch : arrays of one shape and float dtype; ``scratch`` may be
    overwritten (it may be x itself, when x is not needed afterwards).

    Plain form: ``y += a * x``, which allocates a temporary of x's size on every
    step. NumPy has no fused multiply-add ufunc, so two calls are the least it
    can do. Why not BLAS's ``axpy`` (``scipy.linalg.blas.saxpy``: one pass, one
    rounding)? It was tried (issue 17): at one BLAS thread it saved about
    0.15 ms of a 5 ms step, but SciPy brings its own OpenBLAS with its own
    thread pool, and at two threads the two pools' spinning workers fought
    over the two cores: ``python -m numpyvae bench --threads 2`` went from
    2.4-2.7 s to 6.8-7.5 s per epoch on the project's 2-core machine.
    """
    np.multiply(x, a, out=scratch)
    np.add(y, scratch, out=y)


# --------------------------------------------------------------------------- base class

class Optimizer:
    """What every optimizer shares: layout, step count, state, guards.

    Subclasses set ``state_names`` (e.g. ``("m", "v")``), ``_guards`` (which
    state decays, how it is guarded, at which rate) and write ``_update``.

    Attributes
    ----------
    params, grads : OrderedDict name -> array   the arrays passed in (not copies)
    lr : float      learning rate; may be changed between steps (a schedule)
    t : int         number of steps taken
    flat : bool     True if the update runs on flat buffers (packed dicts)
    guard_every : int or None   steps between subnormal guards (None: no state decays)

    Dtypes: the state has the parameters' dtype, and every hyperparameter is
    stored as a Python float. That matters for float32: NumPy 2 treats a Python
    float as "weak" (``float32_array * 0.9`` stays float32), but an
    ``np.float64(0.9)`` is strong and would turn the product into float64, so
    hyperparameters are converted with ``float()`` on the way in.
    """

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, params, grads, lr: float):
        where = type(self).__name__
        self.params, self.grads = _check_params_and_grads(params, grads, where)
        self.lr = lr
        self.dtype = next(iter(self.params.values())).dtype
        # the step count, as a 0-d int64 array so that it lives in state_dict like the rest
        self._t = np.zeros((), dtype=np.int64)
        # state and scratch, allocated flat and laid out like params: (flat, named views)
        self._state = OrderedDict((s, _params.zeros_like(self.params)) for s in self.state_names)
        scratch, scratch_views = _params.zeros_like(self.params)
        flat_theta, flat_g = _params.flat_view(self.params), _params.flat_view(self.grads)
        self.flat = flat_theta is not None and flat_g is not None
        if self.flat:
            # one "piece": the whole model as 1-D buffers
            self._pieces = [(flat_theta, flat_g, scratch) + tuple(f for f, _ in self._state.values())]
        else:
            # one piece per name, the same update applied to each array
            self._pieces = [(self.params[n], self.grads[n], scratch_views[n])
                            + tuple(views[n] for _, views in self._state.values())
                            for n in self.params]
        self._init_state()
        self.guard_every = self._guard_interval()
        self._mask = None
        # step(check_finite=True): whether θ is finite, one slot per range start (flat) or per array
        self._finite = np.ones(-(-scratch.size // parallel.ALIGN) if self.flat else len(self._pieces), bool)
        if any(kind == "flush" for _, kind, _ in self._guards):
            self._mask = np.zeros(scratch.size, dtype=bool)   # |m| < M_FLUSH, reused

    # ---- hyperparameters
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = _positive(value, type(self).__name__, "lr")

    @property
    def t(self) -> int:
        return int(self._t)

    _guards: tuple = ()   # ((state name, "floor" | "flush", decay rate), ...)

    def _init_state(self) -> None:
        """Set initial state values (zeros unless a subclass says otherwise)."""

    def config(self) -> dict:
        """The hyperparameters, such that ``make_optimizer(**config, params=..., grads=...)`` rebuilds it."""
        raise NotImplementedError

    # ---- the step
    def step(self, *, check_finite: bool = False) -> bool | None:
        """Update every parameter in place from the current gradients (one step, t -> t + 1).

        ``check_finite=True`` also returns whether every updated parameter is
        finite (a NaN or inf gradient makes its parameter NaN or inf in any of
        these rules): each thread takes the largest and the smallest value of
        the range it has just updated (a NaN makes both NaN, +inf the largest,
        −inf the smallest), so the check costs two quick passes over θ, shared
        like the update. (Plain form: ``np.isfinite(θ).all()``, which writes a
        boolean array of θ's size; a sum of θ would do too, but NumPy's float32
        sum takes four times as long as its max here.)

        All or nothing: what could make an in-place update fail part-way (a
        parameter made read-only since construction) is checked before the
        first write, and the step count moves only after every update is done,
        so a step that raises leaves parameters, moments and t as they were.
        (The updates themselves write into existing buffers and allocate
        nothing, so they cannot run out of memory half-way.)
        """
        for name, p in self.params.items():
            if not p.flags.writeable:
                raise ValueError(f"{type(self).__name__}.step: params[{name!r}] is read-only; the optimizer "
                                 "updates it in place (nothing was changed)")
        t = self.t + 1
        self._finite[...] = True
        if self.flat:
            # the flat buffers split into one range per thread (numpyvae.parallel); every value gets the
            # same operations as in one whole-buffer _update, so the bits do not depend on the split
            self._range_args = (t, check_finite)
            parallel.for_spans(self._update_range, self._pieces[0][0].size)
        else:
            for i, piece in enumerate(self._pieces):
                self._update(*piece, t=t)
                if check_finite:
                    self._finite[i] = _all_finite(piece[0])
        self._t[...] = t
        if self.guard_every is not None and t % self.guard_every == 0:
            self._keep_normal()
        return bool(self._finite.all()) if check_finite else None

    def _update_range(self, a: int, b: int) -> None:
        """``_update`` on values [a, b) of the flat buffers (one thread's share of a step)."""
        t, check_finite = self._range_args
        theta, g, s, *state = self._pieces[0]
        self._update(theta[a:b], g[a:b], s[a:b], *[x[a:b] for x in state], t=t)
        if check_finite:                           # check the new θ range right away, on this thread
            self._finite[a // parallel.ALIGN] = _all_finite(theta[a:b])

    def _update(self, theta, g, s, *state, t: int) -> None:
        raise NotImplementedError

    # ---- subnormal guard
    def _guard_interval(self) -> int | None:
        """Steps between guards: fewer than a value just above 1e-30 needs to decay below ``tiny``.

        A value x >= 1e-30 multiplied by beta each step stays >= tiny for
        log(tiny / 1e-30) / log(beta) steps (174 for beta = 0.9 in float32).
        """
        if not self._guards:
            return None
        tiny = float(np.finfo(self.dtype).tiny)
        steps = [math.log(tiny / min(V_FLOOR, M_FLUSH)) / math.log(beta)
                 for _, _, beta in self._guards if beta > 0.0]   # beta = 0: nothing decays
        return max(1, min([MAX_GUARD_EVERY] + [int(n) for n in steps]))

    def _keep_normal(self) -> None:
        """Floor second moments at V_FLOOR; set first moments with |m| < M_FLUSH to 0.

        Plain version: ``v[v < V_FLOOR] = V_FLOOR; m[abs(m) < M_FLUSH] = 0``;
        this one reuses the scratch buffer and a preallocated boolean mask.
        """
        index = {name: 3 + i for i, name in enumerate(self.state_names)}
        for piece in self._pieces:
            s = piece[2]
            for name, kind, _ in self._guards:
                x = piece[index[name]]
                if kind == "floor":
                    np.maximum(x, V_FLOOR, out=x)
                else:
                    mask = self._mask[:x.size].reshape(x.shape)
                    np.abs(x, out=s)
                    np.less(s, M_FLUSH, out=mask)
                    np.copyto(x, 0.0, where=mask)

    # ---- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """The optimizer's state as named arrays: "t", then "<state>/<param name>".

        The arrays are the live buffers (no copy): save them, or ``.copy()``
        them for a snapshot. "t" is a 0-d int64 array (the step count).
        """
        d = OrderedDict(t=self._t)
        for s, (_, views) in self._state.items():
            for name, view in views.items():
                d[f"{s}/{name}"] = view
        return d

    def load_state_dict(self, state: Mapping) -> None:
        """Copy ``state`` (as returned by :meth:`state_dict`) into this optimizer.

        Checks that the names, shapes and dtypes are exactly those this
        optimizer expects and says what does not match; nothing is changed
        unless everything matches. Subsequent steps are then bit-identical to
        those of the optimizer the state came from.
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise ValueError(f"{where}: expected a dict name -> array, got {type(state).__name__}")
        mine = self.state_dict()
        missing = [k for k in mine if k not in state]
        extra = [k for k in state if k not in mine]
        if missing or extra:
            raise ValueError(f"{where}: state names do not match this {type(self).__name__}; "
                             f"missing: {missing}, unexpected: {extra}")
        for key, target in mine.items():
            value = state[key]
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{where}: {key!r} must be a numpy array, got {type(value).__name__}")
            if value.shape != target.shape:
                raise ValueError(f"{where}: {key!r} has shape {value.shape}, expected {target.shape}")
            if value.dtype != target.dtype:
                raise ValueError(f"{where}: {key!r} has dtype {value.dtype.name}, expected {target.dtype.name}")
            if key != "t" and not np.isfinite(value).all():
                raise ValueError(f"{where}: {key!r} contains NaN or inf")
        if int(state["t"]) < 0:
            raise ValueError(f"{where}: 't' must be >= 0, got {int(state['t'])}")
        for key, target in mine.items():
            np.copyto(target, state[key])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args}; {len(self.params)} arrays, t={self.t})"


def _scaled_step(theta, g, s, acc, lr: float, eps: float) -> None:
    """θ ← θ − lr·g / (√acc + ε), in place: the step RMSprop and Adagrad share.

    ``acc`` is the running mean (RMSprop) or sum (Adagrad) of g²; ``s`` is
    scratch of θ's shape. Plain form: ``theta -= lr * g / (np.sqrt(acc) + eps)``,
    which would allocate three temporaries per step. Five passes, none allocating.
    """
    np.sqrt(acc, out=s)
    np.add(s, eps, out=s)                      # s = √acc + ε
    np.divide(g, s, out=s)
    _axpy(-lr, s, theta, s)                    # θ ← θ − lr·g / (√acc + ε)


# --------------------------------------------------------------------------- SGD

class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    Plain (momentum = 0)::

        θ ← θ − lr·g

    Momentum μ (Polyak's heavy ball, in the form of Sutskever et al., 2013),
    with a velocity u that starts at 0::

        u ← μ·u − lr·g
        θ ← θ + u

    Nesterov (Sutskever et al., 2013, rewritten by Bengio et al., 2012 so that
    the gradient is taken at the stored θ, not at a look-ahead point)::

        u ← μ·u − lr·g
        θ ← θ + μ·u − lr·g

    (PyTorch stores b = −u / lr instead; with a constant lr the steps are the
    same.) State: "t", "u/<name>" if μ > 0. Guard: a velocity whose gradients
    are zero decays like μᵗ; |u| < 1e-30 is set to 0, which changes θ by less
    than 1e-30 per step.
    """

    name = "sgd"

    def __init__(self, params, grads, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        self.momentum = _decay(momentum, "SGD", "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0 (e.g. momentum=0.9), got momentum=0")
        self.nesterov = bool(nesterov)
        self.state_names = ("u",) if self.momentum > 0.0 else ()
        self._guards = (("u", "flush", self.momentum),) if self.momentum > 0.0 else ()
        super().__init__(params, grads, lr)

    def _update(self, theta, g, s, *state, t):
        lr, mu = self.lr, self.momentum
        np.multiply(g, lr, out=s)                 # s = lr·g
        if mu == 0.0:
            np.subtract(theta, s, out=theta)      # θ ← θ − lr·g
            return
        (u,) = state
        np.multiply(u, mu, out=u)
        np.subtract(u, s, out=u)                  # u ← μ·u − lr·g
        if not self.nesterov:
            np.add(theta, u, out=theta)           # θ ← θ + u
        else:
            np.subtract(theta, s, out=theta)      # θ ← θ − lr·g ...
            np.multiply(u, mu, out=s)
            np.add(theta, s, out=theta)           # ... + μ·u

    def config(self) -> dict:
        return dict(name="sgd", lr=self.lr, momentum=self.momentum, nesterov=self.nesterov)


# --------------------------------------------------------------------------- RMSprop

class RMSprop(Optimizer):
    r"""RMSprop (Hinton, Coursera lecture 6e, 2012), Keras's default form::

        v ← ρ·v + (1 − ρ)·g²
        θ ← θ − lr·g / (√v + ε)

    v is a running mean of squared gradients, so each parameter's step is its
    gradient divided by that gradient's recent RMS. ε sits outside the square
    root, as in standalone Keras 2 and PyTorch; tf.keras and Keras 3 use
    √(v + ε) instead, which differs for parameters with v not far above ε.
    Defaults lr = 1e-3, ρ = 0.9, ε = 1e-7 are Keras's.

    Nine passes over the parameters per step, none allocating (the keras
    preset trains with it).

    State: "t", "v/<name>". Guard: v is floored at 1e-30 every few steps. Where
    the floor acts, √v goes from below 1e-15 to 1e-15: the denominator √v + ε
    changes by at most 1e-15 / ε = 1e-8 relative, below float32 resolution.
    """

    name = "rmsprop"
    state_names = ("v",)

    def __init__(self, params, grads, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        self.rho = _decay(rho, "RMSprop", "rho")
        self.eps = _positive(eps, "RMSprop", "eps")
        self._guards = (("v", "floor", self.rho),)
        super().__init__(params, grads, lr)

    def _update(self, theta, g, s, v, *, t):
        rho = self.rho
        np.multiply(v, rho, out=v)
        np.multiply(g, g, out=s)
        _axpy(1.0 - rho, s, v, s)                  # v ← ρ·v + (1 − ρ)·g²
        _scaled_step(theta, g, s, v, self.lr, self.eps)   # θ ← θ − lr·g / (√v + ε)

    def config(self) -> dict:
        return dict(name="rmsprop", lr=self.lr, rho=self.rho, eps=self.eps)


# --------------------------------------------------------------------------- Adagrad

class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), diagonal form::

        G ← G + g²                     (G starts at initial_accumulator)
        θ ← θ − lr·g / (√G + ε)

    G is the sum of all squared gradients so far, so steps shrink over time,
    fastest for parameters with large or frequent gradients. Defaults
    (lr = 0.01, ε = 1e-10, G₀ = 0) are PyTorch's; Keras uses G₀ = 0.1.

    State: "t", "G/<name>". No guard: G never decreases, so it cannot decay
    into the subnormal range (it could only be subnormal if every gradient so
    far had |g| < 1e-19).
    """

    name = "adagrad"
    state_names = ("G",)

    def __init__(self, params, grads, lr: float = 0.01, eps: float = 1e-10, initial_accumulator: float = 0.0):
        self.eps = _positive(eps, "Adagrad", "eps")
        self.initial_accumulator = _non_negative(initial_accumulator, "Adagrad", "initial_accumulator")
        super().__init__(params, grads, lr)

    def _init_state(self) -> None:
        self._state["G"][0][...] = self.initial_accumulator

    def _update(self, theta, g, s, G, *, t):
        np.multiply(g, g, out=s)
        np.add(G, s, out=G)                        # G ← G + g²
        _scaled_step(theta, g, s, G, self.lr, self.eps)   # θ ← θ − lr·g / (√G + ε)

    def config(self) -> dict:
        return dict(name="adagrad", lr=self.lr, eps=self.eps, initial_accumulator=self.initial_accumulator)


# --------------------------------------------------------------------------- Adam

class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015, Algorithm 1), with optional decoupled weight decay (AdamW).

    At step t = 1, 2, ...::

        m ← β₁·m + (1 − β₁)·g            first moment (mean) of the gradient
        v ← β₂·v + (1 − β₂)·g²           second moment (uncentred variance)
        m̂ = m / (1 − β₁ᵗ)                bias corrections: m and v start at 0
        v̂ = v / (1 − β₂ᵗ)
        θ ← θ − lr·m̂ / (√v̂ + ε)

    The code uses the paper's own rearrangement (end of its Section 2), which
    is the same number without computing m̂ and v̂ (two fewer passes)::

        θ ← θ − αₜ·m / (√v + ε̂),
        αₜ = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ),   ε̂ = ε·√(1 − β₂ᵗ)

    (multiply numerator and denominator of m̂ / (√v̂ + ε) by √(1 − β₂ᵗ)).

    Twelve NumPy passes over the parameters per step, none allocating; each
    "y ← y + a·x" is two (:func:`_axpy`), since NumPy has no fused
    multiply-add. (About 0.8-0.9 ms per step for the 652,824 weights of the
    784-400-20 VAE on this project's machine, one thread.)

    Weight decay λ > 0 is *decoupled*, as in AdamW (Loshchilov & Hutter,
    2019): θ ← θ − lr·λ·θ, applied to the old θ separately from the adaptive
    step, so it shrinks every weight at the same rate whatever its gradient
    history (an L2 term added to g would instead be divided by √v̂). The code
    writes it as θ ← (1 − lr·λ)·θ before the adaptive step.

    State: "t", "m/<name>", "v/<name>".

    Guards (every ``guard_every`` steps): v is floored at 1e-30. Where that
    acts, √v̂ rises to at most √(1e-30 / (1 − β₂ᵗ)) ≤ √(1e-30 / (1 − β₂)) ≈ 3.2e-14
    (β₂ = 0.999), i.e. the denominator √v̂ + ε changes by at most 3.2e-14 / ε =
    3.2e-6 relative for ε = 1e-8 (1e-7 once the bias correction has faded), and
    only for parameters whose recent gradients are all ~1e-15 or smaller. |m| < 1e-30 is set to 0: such an m would
    move θ by at most lr·|m̂| / ε ≤ lr·1e-30 / ((1 − β₁)·ε) = 1e-24 per step
    (lr = 1e-3, β₁ = 0.9), far below the float32 spacing of any weight > 1e-16.
    """

    name = "adam"
    state_names = ("m", "v")

    def __init__(self, params, grads, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.beta1 = _decay(beta1, "Adam", "beta1")
        self.beta2 = _decay(beta2, "Adam", "beta2")
        self.eps = _positive(eps, "Adam", "eps")
        self.weight_decay = _non_negative(weight_decay, "Adam", "weight_decay")
        self._guards = (("m", "flush", self.beta1), ("v", "floor", self.beta2))
        super().__init__(params, grads, lr)

    def _update(self, theta, g, s, m, v, *, t):
        b1, b2 = self.beta1, self.beta2
        c2 = math.sqrt(1.0 - b2 ** t)
        alpha = self.lr * c2 / (1.0 - b1 ** t)     # αₜ = lr·√(1 − β₂ᵗ) / (1 − β₁ᵗ)
        eps_hat = self.eps * c2                    # ε̂ = ε·√(1 − β₂ᵗ)
        np.multiply(m, b1, out=m)
        _axpy(1.0 - b1, g, m, s)                   # m ← β₁·m + (1 − β₁)·g
        np.multiply(v, b2, out=v)
        np.multiply(g, g, out=s)
        _axpy(1.0 - b2, s, v, s)                   # v ← β₂·v + (1 − β₂)·g²
        if self.weight_decay > 0.0:
            np.multiply(theta, 1.0 - self.lr * self.weight_decay, out=theta)   # θ ← θ − lr·λ·θ
        np.sqrt(v, out=s)
        np.add(s, eps_hat, out=s)                  # s = √v + ε̂
        np.divide(m, s, out=s)
        _axpy(-alpha, s, theta, s)                 # θ ← θ − αₜ·m / (√v + ε̂)

    def config(self) -> dict:
        return dict(name="adam", lr=self.lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                    weight_decay=self.weight_decay)


# --------------------------------------------------------------------------- by name

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
