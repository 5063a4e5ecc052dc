"""The temperature's annealing: τ_t = max(τ_min, τ_0 · exp(−r · t)), updated every so many steps (Jang et al., 2017)."""
from __future__ import annotations

import math

import numpy as np

from ...checks import check_positive_int
from .relaxation import check_tau


class TemperatureSchedule:
    """τ_t = max(τ_min, τ_0 · exp(−r · t)), with t the global step rounded down to a multiple of ``every``.

    Jang et al. (2017) anneal the temperature this way: τ starts at 1 and is lowered
    in steps, updated every 500 or 1,000 training steps, with τ_min = 0.5 and
    r ∈ {1e-5, 1e-4}. High τ early gives smooth, low-variance gradients while the
    networks find their footing; low τ later makes the relaxed samples nearly
    one-hot, closer to the discrete model being fit.

    Usage::

        schedule = TemperatureSchedule(tau_min=0.5, rate=1e-4, every=1000)
        family.tau = schedule(step)         # before each step (or each `every` steps)
    """

    def __init__(self, tau_min: float = 0.5, rate: float = 1e-4, every: int = 1000, tau0: float = 1.0):
        self.tau_min = check_tau(tau_min, "TemperatureSchedule (tau_min)")
        self.tau0 = check_tau(tau0, "TemperatureSchedule (tau0, the starting temperature)")
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(float(rate)) and rate >= 0):
            raise ValueError(f"TemperatureSchedule: rate must be a finite number >= 0, got {rate!r}")
        self.rate = float(rate)
        self.every = check_positive_int(every, "TemperatureSchedule", "every")

    def __call__(self, step: int) -> float:
        """τ at global step ``step`` (an integer >= 0)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"TemperatureSchedule: step must be an integer >= 0, got {step!r}")
        t = (int(step) // self.every) * self.every       # held constant between updates
        return max(self.tau_min, self.tau0 * math.exp(-self.rate * t))

    def __repr__(self) -> str:
        return (f"TemperatureSchedule(tau_min={self.tau_min:g}, rate={self.rate:g}, every={self.every}, "
                f"tau0={self.tau0:g})")
