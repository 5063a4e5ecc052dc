"""The flat-buffer engine every update rule runs on: layout, threads, the finite check, the subnormal guard, the state.

A rule (:mod:`numpyvae.optim.sgd`, ...) is a subclass of :class:`Optimizer` that
writes ``_update(theta, g, s, *state, t)``, one NumPy call per line; this module
decides on which arrays it runs, keeps the step count and the state, and
keeps that state out of the subnormal range.

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

With more than one thread (:mod:`numpyvae.optim.parallel`: opt-in, ``NUMPYVAE_THREADS=N``;
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

import math
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import parallel
from ..checks import as_dtype
from ..nn import params as _params
from .hyperparameters import as_positive

__all__ = ["Optimizer", "V_FLOOR", "M_FLUSH"]

V_FLOOR = 1e-30   # second moments are kept >= this (sqrt: 1e-15, far below any sensible eps)
M_FLUSH = 1e-30   # first moments / velocities smaller than this in magnitude become 0
MAX_GUARD_EVERY = 64


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
        self._lr = as_positive(value, type(self).__name__, "lr")

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
            # the flat buffers split into one range per thread (numpyvae.optim.parallel); every value gets the
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
