"""Timing for the benchmarks (bench, bench_conv): stopwatches on a real step's pieces, and the
best time per call of a piece of code run on its own (:func:`best_per_call`).

A stopwatch replaces one method of one live object (a layer, the likelihood,
the optimizer) by a wrapper that adds up the seconds spent inside it. The
wrapper is an attribute of that object alone, so it shadows the class's method
for this model only, and :meth:`Stopwatches.remove` puts back exactly what was
there. The step itself is unchanged: the same calls with the same arguments
give the same results; each timed call costs about half a microsecond more.

Usage::

    watch = Stopwatches()
    watch.add("optimizer", trainer.optimizer, "step")
    watch.add_layers("activations", [model.encoder, model.decoder], Activation)
    ...train...
    seconds = watch.take()        # {"optimizer": ..., "activations": ...}, and zero again
    watch.remove()
"""
from __future__ import annotations

import time

__all__ = ["Timed", "Stopwatches", "best_per_call"]


def best_per_call(fn, *, repeats: int = 5, min_seconds: float = 0.2, clock=time.perf_counter) -> float:
    """Seconds per call of ``fn()``: the best of ``repeats`` repeats that together take about ``min_seconds``.

    One call first (page faults, BLAS threads starting), then a calibration of how
    many calls fit in a quarter of ``min_seconds``, then the repeats. Other programs
    can only make a repeat slower, never faster, so the best repeat is the machine's rate.
    """
    fn()
    start, calib = clock(), 0
    while clock() - start < min_seconds / 4 or calib < 2:
        fn()
        calib += 1
    loops = max(1, round(calib * min_seconds / repeats / max(clock() - start, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        for _ in range(loops):
            fn()
        best = min(best, (clock() - t0) / loops)
    return best


class Timed:
    """Wrap a function; accumulate the seconds spent inside it, by ``clock``
    (``time.perf_counter``: wall time; ``time.process_time``: this process's CPU time)."""

    def __init__(self, fn, clock=time.perf_counter):
        self.fn, self.clock, self.seconds = fn, clock, 0.0

    def __call__(self, *args, **kwargs):
        t0 = self.clock()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += self.clock() - t0


class Stopwatches:
    """Named groups of timed methods on live objects.

    add(group, obj, *names)          time ``obj.name`` for each name, into ``group``
    add_layers(group, nets, kind)    time forward and backward of every leaf layer of ``kind``
    take() -> {group: seconds}       the seconds since the last take (groups in the order added)
    remove()                         restore every wrapped attribute
    """

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self._groups: dict[str, list[Timed]] = {}
        self._saved: list[tuple] = []      # (obj, name, had its own attribute, the original)

    def add(self, group: str, obj, *names: str) -> None:
        for name in names:
            own = name in getattr(obj, "__dict__", {})    # a module function or an earlier instance attribute
            original = getattr(obj, name)
            timed = Timed(original, self.clock)
            setattr(obj, name, timed)
            self._saved.append((obj, name, own, original))
            self._groups.setdefault(group, []).append(timed)

    def add_layers(self, group: str, nets, kind) -> None:
        """Every leaf layer of ``nets`` (networks with ``named_layers()``) that is a ``kind``, each once."""
        seen = []
        for net in nets:
            for _, layer in net.named_layers():
                if isinstance(layer, kind) and not any(layer is s for s in seen):
                    seen.append(layer)
                    self.add(group, layer, "forward", "backward")
        self._groups.setdefault(group, [])

    def take(self) -> dict:
        out = {}
        for group, timers in self._groups.items():
            out[group] = sum(t.seconds for t in timers)
            for t in timers:
                t.seconds = 0.0
        return out

    def remove(self) -> None:
        for obj, name, own, original in reversed(self._saved):
            if own:
                setattr(obj, name, original)
            else:
                delattr(obj, name)
        self._saved.clear()
        self._groups.clear()
