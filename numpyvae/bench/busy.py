"""Busy processes for the benchmark (``bench --busy N``): stand-ins for the browser, the video call
and the IDE that share a student's laptop with training.

Each is a child Python process that spins on one core. They end three ways, so that none is
left spinning: :func:`busy_processes` terminates them (and waits) when its block ends, by a
return, an error or Ctrl-C; and each child checks every few milliseconds that its parent is
still the process that started it, and exits when not (the benchmark was killed outright,
``kill -9``, and could not clean up). :func:`busy_between` starts them part-way through its
block (``bench --busy N --busy-from S``, data_scripts/bench_thread_policy.py ``--busy-from``),
through :func:`busy_processes`, so they end the same ways.
"""
from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import threading
import time

__all__ = ["busy_processes", "busy_between", "SPIN"]

#: the child's program: spin, and stop when the parent that started it is gone
SPIN = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(20000):
        pass
"""


@contextlib.contextmanager
def busy_processes(n: int):
    """Start ``n`` processes that each keep one core busy; yield their Popen objects; end them all
    (terminate, then kill what is left after a second) when the block exits, however it exits."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"--busy must be a whole number >= 0, got {n!r}")
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextlib.contextmanager
def busy_between(n: int, start: float, stop: float | None = None, clock=time.monotonic):
    """``n`` busy processes from ``start`` seconds after the block begins until ``stop`` seconds (None:
    until the block ends); yields a dict that receives ``started`` and ``stopped`` (``clock()`` times)
    as they happen. None is left running when the block ends, however it ends (return, error, Ctrl-C)."""
    for name, v in (("--busy-from", start), ("--busy-until", stop)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
            raise ValueError(f"{name} must be a number of seconds >= 0, got {v!r}")
    if stop is not None and stop <= start:
        raise ValueError(f"--busy-until ({stop:g} s) must be later than --busy-from ({start:g} s)")
    done, when = threading.Event(), {}

    def schedule():
        if done.wait(start):
            return
        with busy_processes(n):
            when["started"] = clock()
            done.wait(None if stop is None else stop - start)
        when["stopped"] = clock()

    thread = threading.Thread(target=schedule, daemon=True)
    thread.start()
    try:
        yield when
    finally:
        done.set()
        thread.join()
