"""python -m numpyvae bench --optimizer-only: what an Adam step and its subnormal guards cost.

The measurements behind :mod:`numpyvae.optim`'s guards: an Adam step with normal and with
subnormal state, each candidate way of keeping the state normal, and single NumPy operations
on normal against subnormal input, on one flat float32 buffer the size of the 784-400-20 VAE.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import as_dtype
from ..optim import Adam
from ..optim.engine import M_FLUSH, V_FLOOR
from .step_timing import best_per_call

__all__ = ["optimizer_step_costs", "print_optimizer_step_costs"]


def optimizer_step_costs(size: int = 650_000, dtype="float32", min_seconds: float = 0.2) -> "OrderedDict[str, float]":
    """Microseconds per call on a flat buffer of ``size`` values: an Adam step with
    normal and with subnormal state, each candidate guard, and single ops on
    normal versus subnormal input. Each case is the best of 5 repeats, about
    ``min_seconds`` in all (:func:`numpyvae.bench.step_timing.best_per_call`).

    Used to choose the optimizers' subnormal guards (see :mod:`numpyvae.optim`);
    ``python -m numpyvae bench --optimizer-only`` prints the table.
    """
    dtype = as_dtype(dtype)
    rng = np.random.default_rng(0)
    tiny = float(np.finfo(dtype).tiny)
    opt = Adam(OrderedDict(w=rng.standard_normal(size).astype(dtype)),
               OrderedDict(w=rng.standard_normal(size).astype(dtype)))
    opt.guard_every = None                       # time the bare step
    m, v = (opt.state_dict()[k].reshape(-1) for k in ("m/w", "v/w"))
    # a parameter whose gradient is 0, with its state normal (1e-30) or subnormal (tiny/100);
    # the state is refilled before each step, which costs the same in both cases
    frozen = Adam(OrderedDict(w=np.ones(size, dtype)), OrderedDict(w=np.zeros(size, dtype)))
    frozen.guard_every = None
    fm, fv = (frozen.state_dict()[k].reshape(-1) for k in ("m/w", "v/w"))
    normal = np.full(size, 1e-30, dtype)
    subnormal = np.full(size, tiny / 100, dtype)
    s, mask = np.empty(size, dtype), np.empty(size, bool)
    big = tiny * 2.0 ** 20                       # (m + C) − C with this C flushes |m| < tiny/16

    def frozen_step(state):
        np.copyto(fm, state); np.copyto(fv, state); frozen.step()

    def floor_mask():
        np.less(v, V_FLOOR, out=mask); np.copyto(v, V_FLOOR, where=mask)

    def flush_mask():
        np.abs(m, out=s); np.less(s, M_FLUSH, out=mask); np.copyto(m, 0.0, where=mask)

    def flush_add_sub():
        np.add(m, big, out=s); np.subtract(s, big, out=m)

    cases = OrderedDict([
        ("Adam step (random gradient, no guard)", opt.step),
        ("Adam step + refill, zero gradient, state normal", lambda: frozen_step(normal)),
        ("Adam step + refill, zero gradient, state subnormal", lambda: frozen_step(subnormal)),
        ("v floor: np.maximum(v, 1e-30, out=v)", lambda: np.maximum(v, V_FLOOR, out=v)),
        ("v floor: less + copyto(where=)", floor_mask),
        ("m flush: abs + less + copyto(where=)", flush_mask),
        ("m flush: (m + C) - C", flush_add_sub),
        ("sqrt, normal input", lambda: np.sqrt(normal, out=s)),
        ("sqrt, subnormal input", lambda: np.sqrt(subnormal, out=s)),
        ("divide, normal input", lambda: np.divide(normal, normal, out=s)),
        ("divide, subnormal input", lambda: np.divide(subnormal, normal, out=s)),
        ("multiply, normal input", lambda: np.multiply(normal, 0.9, out=s)),
        ("multiply, subnormal input", lambda: np.multiply(subnormal, 0.9, out=s)),
    ])
    return OrderedDict((k, best_per_call(f, repeats=5, min_seconds=min_seconds) * 1e6) for k, f in cases.items())


def print_optimizer_step_costs(size: int = 650_000) -> None:
    """The table of :func:`optimizer_step_costs`, one line per case."""
    costs = optimizer_step_costs(size)
    print(f"microseconds per call on {size:,} float32 values (numpy {np.__version__}), best of 5:")
    for label, us in costs.items():
        print(f"  {us:8.1f}  {label}")
