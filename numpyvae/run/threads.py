"""How many BLAS threads numpyvae's matmuls use: chosen by numpyvae itself, by problem size and by
what the rest of the machine is doing, unless the user pins the number.

Why not leave it to OpenBLAS. OpenBLAS starts one thread per core and splits every large product
among them; its threads wait for each other at the end of each product. When another program
holds one of the cores, the thread that lost its core finishes a scheduler time slice later and
the others wait for it. Measured on the 2-core machine (issue 28; 784-400-20 VAE, batch 128, Adam,
float32, epoch of 60,000 images):

    quiet, 1 thread 3.39 / 3.58 s   quiet, 2 threads 2.49 / 2.73 s
    one busy process, 1 thread 3.39 / 3.41 s   one busy process, 2 threads 6.36 / 6.58 s

Two threads win by 25-30% on a quiet machine and lose by a factor 1.9 beside a single busy
process. No fixed number is right on a laptop where a browser or a video call comes and goes.

The policy (:class:`Policy`, one ``tick()`` per step, under a microsecond when nothing is due):

* size: a step of fewer than :data:`MIN_FLOPS_PER_THREAD` matmul FLOPs per thread stays on one
  thread (the hand-off at each product costs more than half of such a product saves);
* cores: never more threads than the cores this process may use (:func:`numpyvae.run.cores.usable_cores`:
  ``os.cpu_count()``, the affinity mask, a container's cgroup CPU quota rounded up: 2 for
  ``docker run --cpus 1.5`` on any host);
* load proposes: before the first step a reading of :data:`numpyvae.run.cores.FIRST_READING`
  (0.1 s), and then every :data:`INTERVAL` seconds, of the cores the *other* programs use
  (``/proc/stat``'s busy time less this process's own, :class:`numpyvae.run.cores.MachineLoad`),
  and :func:`choose` gives up one thread per core the others keep busy more than :data:`SLACK`
  of the time. Two threads at 2.5 s quiet and 6.4 s beside a busy core break even with one
  thread (3.4 s) when the second core is taken about a quarter of the time, hence SLACK = 0.25.
  The first count used to come from the 1-minute load average, which lags by a minute: a program
  started 10 s ago hardly counted, one that ended 10 s ago still did;
* the steps dispose: a proposal, or every so often none, starts a probe of a few steps at the
  neighbouring count, kept only if its median step is faster. The load alone was not enough:
  at load ~3, with other programs using part of a core, it gave up a thread that still paid
  (median 0.874 s per 20,000 images against 0.732 s at two threads, 19% lost);
* a collapse does not wait: when the median of the last SLOW_WINDOW steps is COLLAPSE_FACTOR times
  the count's median, a probe of a thread less starts at once, and again SLOW_WINDOW steps later if
  it lost (the first steps beside a program that is starting are slow at any count) until the next
  reading. A busy process that starts while training runs on two threads makes each step about
  twice as slow (8.8 ms against 4.5 ms quiet; 5.5 ms on one thread); waiting for the next reading
  cost up to INTERVAL of such steps (data_scripts/SPEED_NOTES.md: a busy process that starts mid-run).

Measured with the probing policy (data_scripts/bench_thread_policy.py, 6 December, medians of
three interleaved rounds of 20,000 images): quiet (load 0.4), 0.597 s on two threads against
0.618 s fixed at two and 0.889 s at one; beside one busy process 1.023 s against 0.899 s at one
and 2.112 s at two; beside two, 2.731 s against 2.750 s and 25.2 s. On the shared machine (load
3-4) its medians were 2% below to 12% above the best fixed count's. A busy process starting 1 s into
runs of four such epochs (bench_thread_policy.py --busy-from 1, five rounds, load below 1 at the
start): median 3.12 s against 3.16 s fixed at one thread, 5.11 s at two, and 3.59 s for the policy
before it followed collapses at once. data_scripts/SPEED_NOTES.md has every table.

Where there is no /proc/stat (macOS) the 1-minute load average, less this process's threads,
stands in for every reading, and with no cgroups the usable cores are ``os.cpu_count()`` (or the
affinity mask). macOS is untested: the policy has only run on Linux.

Pinning. ``--threads N`` (train, resume, evaluate, bench), or the environment: NUMPYVAE_BLAS_THREADS,
else the standard OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS (the first one set).
A pinned count is used as it is, for the whole run. (NUMPYVAE_THREADS is another setting: the
optimizer's elementwise helper threads, numpyvae.optim.parallel.)

Bits. OpenBLAS's float32 products differ in the last bits between one and two threads (it splits
the work differently), so a training run's numbers are identical for a given thread count, and a
run trained under the automatic policy on a machine whose load changed may differ in the last
bits from the same run on a quiet one. For bit-for-bit reproducible runs pin the count
(tests/test_reference_numbers.py pins 1; tests/conftest.py pins 1 for the whole suite).

The threads are set through threadpoolctl on NumPy's own OpenBLAS. SciPy ships a second OpenBLAS,
loaded by ``scipy.special``; numpyvae's hot loops never call it, and :func:`blas` sets it to one
thread so that its pool could never compete with NumPy's.
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

from .cores import REUSE, MachineLoad, usable_cores

__all__ = ["PIN_VARS", "INTERVAL", "SLACK", "MIN_FLOPS_PER_THREAD", "PROBE_STEPS", "ABORT_FACTOR", "COLLAPSE_FACTOR", "SLOW_WINDOW", "MAX_WAIT", "RECENT", "UP_SLACK", "pinned", "pin", "choose", "blas",
           "set_blas_threads", "MachineLoad", "Policy", "policy_for"]

#: the environment variables that pin the BLAS thread count, the first one set wins
PIN_VARS = ("NUMPYVAE_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: seconds between two decisions while training
INTERVAL = 0.5
#: the share of a core other programs may use before numpyvae gives that core up
SLACK = 0.25
#: below this many matmul FLOPs per step and thread, a step stays on one thread
MIN_FLOPS_PER_THREAD = 20e6
#: steps a probe runs at the neighbouring thread count (the first is not compared: threads wake up)
PROBE_STEPS = 5
#: a probe step this many times slower than the current median ends the probe at once
ABORT_FACTOR = 2.0
#: the median of the last SLOW_WINDOW steps this many times the count's median (as of the last reading):
#: the machine changed (a program started), so the policy probes a thread less at once, not at its next
#: reading. Measured beside a busy process that had just started: two threads 7.7-8.8 ms a step against
#: 3.5-4.5 ms quiet, one thread 5.5 ms (1.3 times quiet two), so two threads already lose at 1.5 times
COLLAPSE_FACTOR = 1.5
#: steps whose median says a collapse
SLOW_WINDOW = 5
#: the longest wait, in seconds, between two probes the load did not ask for (it doubles after each lost one)
MAX_WAIT = 16.0
#: a probe of one thread more is made only while the other programs leave that core free but for this share
UP_SLACK = 0.75
#: step times kept at the current count (their median is the count's speed)
RECENT = 16

_pinned: int | None = None       # --threads; None: the environment decides


def _parse(value: str | None, where: str) -> int | None:
    """A thread count from a variable's text: None if unset or empty. NUMPYVAE_BLAS_THREADS must be a
    whole number >= 1 (an error naming it otherwise); the standard variables are ignored when they are
    not one (OpenBLAS then uses its own default, and so does numpyvae)."""
    text = (value or "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if text and where == PIN_VARS[0]:
        raise ValueError(f"{where} must be a whole number >= 1, got {value!r}")
    return None


def pinned() -> int | None:
    """The thread count the user pinned: :func:`pin`'s (``--threads``), else the first of PIN_VARS set, else None."""
    if _pinned is not None:
        return _pinned
    for var in PIN_VARS:
        n = _parse(os.environ.get(var), var)
        if n is not None:
            return n
    return None


def pin(n: int | None) -> None:
    """Use ``n`` BLAS threads from now on, whatever the load (``--threads N``); None: automatic again."""
    global _pinned
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"--threads must be a whole number >= 1, got {n!r}")
    _pinned = n
    if n is not None:
        set_blas_threads(n)


def choose(flops_per_step: float, cpus: int, others: float) -> int:
    """The thread count for a step of ``flops_per_step`` matmul FLOPs on ``cpus`` cores of which
    other programs keep ``others`` busy (in cores, e.g. 1.0 for one busy process).
    ``choose(5e8, 2, 0.0) == 2``; ``choose(5e8, 2, 1.0) == 1``; ``choose(1e6, 2, 0.0) == 1``."""
    by_size = max(1, int(flops_per_step // MIN_FLOPS_PER_THREAD))
    by_load = cpus - max(0, math.ceil(others - SLACK))
    return max(1, min(cpus, by_size, by_load))


# --------------------------------------------------------------------------- the BLAS libraries

_blas = None                     # (NumPy's OpenBLAS controller, [the other BLAS controllers]), found once


def blas():
    """threadpoolctl's controller of NumPy's BLAS (None if threadpoolctl finds none); the first call
    also sets every other BLAS loaded in this process (SciPy's OpenBLAS) to one thread."""
    global _blas
    if _blas is None:
        import numpy as np
        from threadpoolctl import ThreadpoolController
        import scipy.special  # noqa: F401  (loads SciPy's OpenBLAS now, so that it is found and held at 1)
        libs = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
        ours = [lib for lib in libs if os.path.realpath(lib.filepath).startswith(
            os.path.realpath(os.path.join(numpy_dir, "numpy")))] or libs[:1]
        others = [lib for lib in libs if lib not in ours]
        for lib in others:
            lib.set_num_threads(1)
        _blas = (ours[0] if ours else None, others)
    return _blas[0]


def set_blas_threads(n: int) -> int:
    """Set NumPy's BLAS to ``n`` threads (a no-op if it already has them); returns ``n``."""
    lib = blas()
    if lib is not None and lib.get_num_threads() != n:      # asked again each time: user code may change it too
        lib.set_num_threads(n)
    return n


class Policy:
    """The BLAS thread count of one training or evaluation loop; call :meth:`tick` once per step.

    Pinned (``--threads``, PIN_VARS): that count, set once. Otherwise it starts from :func:`choose`
    on a reading of the machine now (``load.now()``, FIRST_READING seconds; none for a step too small
    to share) and ``cpus`` (default: :func:`numpyvae.run.cores.usable_cores`), and then lets the steps decide. The time between two ticks is a
    step's time. Every ``interval`` seconds it reads :class:`MachineLoad`; when the load's count
    differs from the current one, or when the probe wait has passed, it *probes*: it runs the next
    PROBE_STEPS steps at the neighbouring count (towards the load's count, else the other way), and
    keeps whichever count's median step was faster. A probe of one thread more is made only while the
others leave that core free but for UP_SLACK (beside a busy core it would collapse). A probe step ABORT_FACTOR times slower than the
    current median ends the probe at once (a collapse costs one step), and each lost probe doubles
    the wait before the next unprompted one (up to MAX_WAIT seconds), so probing costs little
    where it never pays. The last SLOW_WINDOW steps' median COLLAPSE_FACTOR times the count's median
    (as of the last reading) means the machine changed under a running count: the older steps are
    dropped and a thread less is probed at once, against the new ones (again after SLOW_WINDOW
    more slow steps if it lost, until the next reading sets a new median). ``used`` counts the steps run at
    each count ({2: 930, 1: 6}); set ``trace`` to a list to receive (clock time, count) of every step.
    ``load``: a :class:`numpyvae.run.cores.MachineLoad` (tests give their own).
    """

    def __init__(self, flops_per_step: float, *, interval: float = INTERVAL, cpus: int | None = None,
                 clock=time.monotonic, load: MachineLoad | None = None):
        self.flops_per_step, self.interval, self.clock = float(flops_per_step), interval, clock
        self.cpus = cpus or usable_cores()
        self.fixed = pinned()
        self.used: dict[int, int] = {}
        self.trace: list | None = None                           # a list: (clock, count) of every step
        self.cap = choose(self.flops_per_step, self.cpus, 0.0)   # the most threads this step size may use
        self.load = load
        if self.fixed is not None:
            self.threads = set_blas_threads(self.fixed)
        else:
            self.load = load or MachineLoad(self.cpus, reuse=REUSE)
            first = self.load.now() if self.cap > 1 else 0.0     # a step too small to share needs no reading
            self.threads = set_blas_threads(choose(self.flops_per_step, self.cpus, first))
        self.recent: list[float] = []                           # step seconds at the current count
        self._slow = math.inf                                    # a collapsed step's time, from the last reading
        self._probe: tuple[int, list] | None = None              # (the count we came from, the probe's steps)
        self._wait = interval                                    # seconds between unprompted probes
        now = self.clock()
        self._next_look, self._next_probe, self._last = now + interval, now + interval, None

    def tick(self) -> int:
        """Record the step that just ended, maybe change the count, and count the step about to run
        at it. Returns the count."""
        if self.fixed is None:
            now = self.clock()
            if self._last is not None:
                self._record(now - self._last, now)
            self._last = now
        if self.trace is not None:
            self.trace.append((self.clock(), self.threads))
        self.used[self.threads] = self.used.get(self.threads, 0) + 1
        return self.threads

    def _record(self, seconds: float, now: float) -> None:
        if self._probe is not None:
            self._probe_step(seconds, now)
            return
        self.recent.append(seconds)
        if len(self.recent) > RECENT:
            del self.recent[0]
        if seconds > self._slow and _median(self.recent[-SLOW_WINDOW:]) > self._slow:   # the median only after a slow step
            self._collapsed(now)
            return
        if now >= self._next_look and len(self.recent) >= 3:
            self._next_look = now + self.interval
            self._set_slow()
            others = self.load.others(own_threads=self.threads)
            target = choose(self.flops_per_step, self.cpus, others)
            if target != self.threads or now >= self._next_probe:
                self._start_probe(target, others)

    def _set_slow(self) -> None:
        """The step time above which a step counts as collapsed: COLLAPSE_FACTOR times the count's median
        (computed at each reading and after a won probe, not each step)."""
        self._slow = COLLAPSE_FACTOR * _median(self.recent) if len(self.recent) >= 3 else math.inf

    def _collapsed(self, now: float) -> None:
        """The last steps collapsed: only they describe the current count now; probe a thread less.
        The threshold stays the last reading's, so that a probe lost to a passing disturbance is tried
        again after SLOW_WINDOW more slow steps."""
        self.recent = self.recent[-SLOW_WINDOW:]
        self._start_probe(self.threads - 1, 0.0)

    def _start_probe(self, target: int, others: float) -> None:
        n = self.threads
        alt = n - 1 if target < n else n + 1 if (target > n or n < self.cap) else n - 1
        if alt < 1 or alt > self.cap:
            return
        if alt > n and others > self.cpus - alt + UP_SLACK:
            return        # the other programs hold the core a thread more would need: a probe would collapse
        self._probe = (n, [])
        self.threads = set_blas_threads(alt)

    def _probe_step(self, seconds: float, now: float) -> None:
        came_from, steps = self._probe
        steps.append(seconds)
        base = _median(self.recent)
        if seconds <= ABORT_FACTOR * base and len(steps) < PROBE_STEPS:
            return
        probed = steps[1:]                    # the first step pays for waking or parking threads
        won = seconds <= ABORT_FACTOR * base and probed and _median(probed) < base
        self._probe = None
        if won:
            self.recent, self._wait = probed, self.interval
            self._set_slow()
        else:
            self.threads = set_blas_threads(came_from)
            self._wait = min(2 * self._wait, MAX_WAIT)
        self._next_probe = now + self._wait
        self._next_look = now + self.interval

    def take_used(self) -> dict[int, int]:
        """The steps per thread count since the last call, and zero again."""
        used, self.used = dict(sorted(self.used.items())), {}
        return used


def _median(values) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


def policy_for(model, rows: int, flops_per_weight: float = 6.0, **kw) -> Policy:
    """A :class:`Policy` for steps that pass ``rows`` examples through ``model``: a step's matmul FLOPs
    taken as ``flops_per_weight`` per weight and row (6 for training: 2 forward, 4 backward; 2 for a
    forward pass alone), exact for a stack of Dense layers and an estimate for the rest."""
    flat = getattr(model, "flat_params", None)
    params = getattr(model, "params", None) or {}
    n_params = flat.size if flat is not None else sum(int(np.size(p)) for p in (
        params.values() if isinstance(params, dict) else params))
    return Policy(flops_per_weight * n_params * rows, **kw)
