"""Big elementwise passes split among a few threads: the one place numpyvae uses threads.

Why threads help in pure NumPy: a ufunc (``np.multiply``, ``np.sqrt``, ...)
releases the GIL while it loops over memory, so two Python threads that each
run ufuncs on their own half of an array really do run at the same time, one
per core. An Adam step makes nine such passes over five arrays of the
model's size (652,824 values for the default 784-400-20 VAE), while the
second core would otherwise idle.

The rule, in one sentence: :func:`for_spans` calls ``fn(start, stop)`` once
per thread, for contiguous ranges that together cover ``range(n)``. Plain
version, and exactly what happens with one thread: ``fn(0, n)``. The callers
run only elementwise operations inside ``fn``, so every value goes through
the same operations whatever the split: results are bit-identical for 1, 2
or more threads (tests/test_parallel.py checks it on the optimizer and on
whole training runs).

The number of threads is opt-in: ``NUMPYVAE_THREADS=N`` (default 1, the
serial path; see :func:`_from_environment` for the measurement behind that
default). :func:`set_threads` overrides it (tests use it).
Where no thread can start (Python in a browser, see :mod:`numpyvae.browser`, or a start that
fails) every pass runs on the calling thread, which gives the same bits.
Work smaller than ``MIN_PARALLEL`` values stays on the calling thread: a
hand-off to another thread costs tens of microseconds, more than it saves.
"""
from __future__ import annotations

import contextvars
import os
import threading

from ..browser import IN_BROWSER

__all__ = ["threads", "set_threads", "spans", "for_spans", "MIN_PARALLEL", "ALIGN"]

#: below this many values a pass stays on one thread (a hand-off costs tens of microseconds)
MIN_PARALLEL = 65_536
#: spans start at multiples of this many values (16 KiB of float32: whole cache lines and pages)
ALIGN = 4096
THREAD_VAR = "NUMPYVAE_THREADS"

_threads: int | None = None          # set_threads' override; None: from the environment
_lock = threading.Lock()
#: False where threads cannot start (a browser's Python), or after a start failed
CAN_THREAD = not IN_BROWSER


def _from_environment() -> int:
    """NUMPYVAE_THREADS if set (an integer >= 1), else 1: threads are opt-in.

    Measured on this project's 2-core machine (python -m numpyvae bench --epochs 3, two OpenBLAS
    threads, quiet): with NUMPYVAE_THREADS=2 the best epoch took 1.745 / 1.850 s against 1.698 /
    1.770 s serial, the optimizer's share rising from 23% to 25-26%: OpenBLAS's own threads keep
    the second core busy between matmuls, so a helper thread there only competes with them.
    """
    value = os.environ.get(THREAD_VAR, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return 1


def threads() -> int:
    """The number of threads elementwise passes use: set_threads' value, else NUMPYVAE_THREADS, else 1
    (always 1 where no thread can start)."""
    if not CAN_THREAD:
        return 1
    return _threads if _threads is not None else _from_environment()


def set_threads(n: int | None) -> None:
    """Use ``n`` threads from now on (``None``: follow the environment again). 1 is the serial path."""
    global _threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_threads: n must be an integer >= 1 or None, got {n!r}")
    _threads = n


class _Helper:
    """One helper thread that runs ``fn(a, b)`` when handed a job, then says it is done.

    Two plain locks serve as the hand-off (a lock may be released by another
    thread than the one that took it): the caller releases ``go``, the helper
    takes it, runs the job, and releases ``done``. Nothing is allocated per
    job but the job tuple and a copy of the caller's context (so that
    ``np.errstate`` around the call holds in the helper too), and the thread
    sleeps in ``go.acquire()`` between jobs.
    """

    def __init__(self, index: int):
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.job, self.error = None, None
        threading.Thread(target=self._loop, name=f"numpyvae-{index}", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            context, fn, a, b = self.job
            try:
                context.run(fn, a, b)              # under the caller's settings (np.errstate is a context variable)
            except BaseException as err:      # handed back to the caller by wait()
                self.error = err
            self.job = None
            self.done.release()

    def start(self, fn, a: int, b: int) -> None:
        self.job = (contextvars.copy_context(), fn, a, b)
        self.go.release()

    def wait(self):
        """Block until the job is done; return its exception (or None)."""
        self.done.acquire()
        error, self.error = self.error, None
        return error


_helpers: list[_Helper] = []
_busy = threading.Lock()     # held while the helpers work for one caller; other callers then run serially


def _forget_helpers() -> None:
    """In a forked child the helper threads do not exist: start new ones when needed."""
    global _lock, _busy
    _helpers.clear()
    _lock, _busy = threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


def _get_helpers(n: int) -> list[_Helper]:
    """The first ``n`` helper threads, started on first use and kept for the life of the process
    (fewer if a thread cannot start: then no more are tried, and the caller runs serially)."""
    global CAN_THREAD
    with _lock:
        try:
            while len(_helpers) < n:
                _helpers.append(_Helper(len(_helpers) + 1))
        except RuntimeError:              # "can't start new thread": a browser's Python, or a limit reached
            CAN_THREAD = False
        return _helpers[:n]


def spans(n: int, parts: int, align: int = ALIGN) -> list[tuple[int, int]]:
    """About equal contiguous ranges (start, stop) covering range(n), ``parts`` of them or fewer;
    every start is a multiple of ``align``. ``spans(10, 1) == [(0, 10)]``."""
    units = -(-n // align)
    parts = max(1, min(parts, units))
    cuts = [min(n, (units * i // parts) * align) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


def for_spans(fn, n: int, *, min_parallel: int = MIN_PARALLEL) -> None:
    """Call ``fn(start, stop)`` for contiguous ranges covering range(n), one per thread.

    One thread (or n < ``min_parallel``): just ``fn(0, n)``. With T threads:
    ``spans(n, T)``; T − 1 helper threads take one range each and the
    calling thread the first. ``fn`` must touch only ``[start, stop)`` of its
    arrays. An exception in any range is raised here, after all have finished.
    """
    t = threads()
    runs = spans(n, t) if t > 1 and n >= min_parallel else [(0, n)]
    # one caller at a time uses the helpers; another thread (or fn itself) meanwhile runs serially,
    # which gives the same bits
    if len(runs) == 1 or not _busy.acquire(blocking=False):
        fn(0, n)
        return
    try:
        _run(fn, runs)
    finally:
        _busy.release()


def _run(fn, runs) -> None:
    helpers = _get_helpers(len(runs) - 1)
    if len(helpers) < len(runs) - 1:     # threads could not start: the whole range here
        fn(runs[0][0], runs[-1][1])
        return
    for helper, (a, b) in zip(helpers, runs[1:]):
        helper.start(fn, a, b)
    error = None
    try:
        fn(*runs[0])
    except BaseException as err:     # wait for the helpers before raising: they still write into the arrays
        error = err
    for helper in helpers:
        exc = helper.wait()
        if error is None:
            error = exc
    if error is not None:
        raise error
