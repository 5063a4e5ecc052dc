"""What the machine offers numpyvae's BLAS threads: the cores this process may use, and how many of them other programs keep busy.

:mod:`numpyvae.run.threads` decides with these two readings; this module only reads.

Usable cores (:func:`usable_cores`): the fewest of ``os.cpu_count()``, the cores this process may
run on (``os.sched_getaffinity``, e.g. ``taskset``) and the container's CPU quota rounded up. A
Docker or Kubernetes container limited to 1.5 CPUs still shows every core of the host in
``os.cpu_count()``; its quota is in the cgroup files: cgroup v2 ``cpu.max`` ("150000 100000":
quota and period in microseconds; "max": no quota), cgroup v1 ``cpu/cpu.cfs_quota_us`` over
``cpu/cpu.cfs_period_us`` (-1: no quota). The files of this process's own cgroup (named in
/proc/self/cgroup) and of every cgroup above it count; inside a container that is the container's.

The other programs (:class:`MachineLoad`): /proc/stat's aggregate ``cpu`` line gives every core's
clock ticks since boot, ``busy = total - idle - iowait``; the busy ticks between two readings less
this process's own CPU time over the same interval (``time.process_time``, all its threads), over
the ticks that passed, times the cores the line sums, is the number of cores the others kept busy.
The first reading of a run (:meth:`MachineLoad.now`) takes FIRST_READING seconds before the first
step; later readings (:meth:`MachineLoad.others`) span the time since the previous one. Where there
is no /proc/stat (macOS) the 1-minute load average stands in, less this process's own threads (it
lags by a minute); where there is neither, the machine counts as quiet. The host's busy cores
count against this process's usable ones only beyond the cores it cannot use anyway: 8 host cores,
a quota of 2 and 3 busy cores elsewhere leave the quota's 2 free (the others fit on the remaining 6).

macOS is untested: it has neither /proc nor cgroups, so there the usable cores are
``os.cpu_count()`` and the load is the load average.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path, PurePosixPath

__all__ = ["PROC_STAT", "CGROUP_ROOT", "SELF_CGROUP", "FIRST_READING", "REUSE", "usable_cores", "cgroup_cpus",
           "cpu_ticks", "MachineLoad"]

PROC_STAT = "/proc/stat"
CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP = "/proc/self/cgroup"
#: seconds the first reading of a run takes: 10 ticks of a busy core at 100 ticks a second, a tenth of
#: a core either way, against SLACK's quarter of a core in numpyvae.run.threads.choose
FIRST_READING = 0.1
#: a first reading younger than this many seconds is used again by a new policy that asks for it (an
#: evaluation right after estimate_seconds' probe of it); the policy itself reads every half second
REUSE = 0.5


# --------------------------------------------------------------------------- the cores this process may use

def _read(path) -> str | None:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _own_cgroups(self_cgroup) -> tuple[str | None, str | None]:
    """(cgroup v2 path, cgroup v1 path of the cpu controller) of this process, from /proc/self/cgroup."""
    v2 = v1 = None
    for line in (_read(self_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "cpu" in parts[1].split(","):
            v1 = parts[2]
    return v2, v1


def _quota(text: str | None, period_text: str | None = None) -> float | None:
    """CPUs of one cgroup's quota: cpu.max's "quota period" (v2), or quota and period files (v1)."""
    words = (text or "").split() + (period_text or "").split()
    if len(words) != 2 or words[0] == "max":
        return None
    try:
        quota, period = int(words[0]), int(words[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _with_ancestors(base: Path, path: str | None):
    """base/path, then each folder above it up to base itself (the limits of every enclosing cgroup)."""
    rel = PurePosixPath((path or "/").lstrip("/"))
    for part in (rel, *rel.parents):
        yield base / part


def cgroup_cpus(root=CGROUP_ROOT, self_cgroup=SELF_CGROUP) -> float | None:
    """The CPU quota of this process's cgroups in CPUs (1.5 for ``docker run --cpus 1.5``): the smallest
    over its cgroup and those above it, v2 and v1; None where no quota is set or there are no cgroups."""
    root = Path(root)
    v2, v1 = _own_cgroups(self_cgroup)
    found = [_quota(_read(d / "cpu.max")) for d in _with_ancestors(root, v2)]
    found += [_quota(_read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us"))
              for d in _with_ancestors(root / "cpu", v1)]
    found = [q for q in found if q is not None]
    return min(found) if found else None


def usable_cores(root=CGROUP_ROOT, self_cgroup=SELF_CGROUP, affinity=None, cpu_count=None) -> int:
    """The most cores this process can keep busy at once: min(os.cpu_count(), len(os.sched_getaffinity(0)),
    the cgroup quota rounded up), at least 1. ``affinity`` and ``cpu_count`` (counts) replace the system's
    for tests; ``root`` and ``self_cgroup`` are the cgroup mount and /proc/self/cgroup."""
    counts = [cpu_count if cpu_count is not None else os.cpu_count()]
    if affinity is None and hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
    counts.append(affinity)
    quota = cgroup_cpus(root, self_cgroup)
    counts.append(None if quota is None else math.ceil(quota - 1e-9))
    return max(1, min([c for c in counts if c] or [1]))


# --------------------------------------------------------------------------- what the other programs use

def cpu_ticks(path=PROC_STAT) -> tuple[int, int, int] | None:
    """(busy, total, cores): the clock ticks of all cores since boot from /proc/stat's aggregate ``cpu``
    line (busy = total - idle - iowait) and the number of ``cpuN`` lines it sums; None where the file
    does not exist or does not read."""
    text = _read(path)
    if not text or not text.startswith("cpu "):
        return None
    lines = text.splitlines()
    try:
        fields = [int(v) for v in lines[0].split()[1:]]
    except ValueError:
        return None
    if len(fields) < 4:
        return None
    total = sum(fields[:8])                                  # guest time (fields 9, 10) is already in user
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    cores = sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit())
    return total - idle, total, max(1, cores)


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


class MachineLoad:
    """How many of this process's ``cpus`` usable cores other programs keep busy.

    ``others(own_threads)``: since the previous reading (or since the object was made); ``now()``:
    over the next FIRST_READING seconds, or the last ``now()`` of any MachineLoad of the same file and
    cores if it is younger than ``reuse`` seconds. ``stat`` (the /proc/stat path), ``own`` (this
    process's CPU seconds), ``loadavg`` (the 1-minute load average or None) and ``sleep`` are the
    system's unless a test gives its own.
    """
    _recent: dict = {}           # (stat, cpus) -> (time.monotonic(), cores): the last first reading

    def __init__(self, cpus: int | None = None, *, stat=PROC_STAT, own=time.process_time, loadavg=_loadavg,
                 sleep=time.sleep, reuse: float = 0.0):
        self.cpus = cpus or usable_cores()
        self.stat, self.own, self.loadavg, self.sleep, self.reuse = stat, own, loadavg, sleep, reuse
        self._last = self._read()

    def _read(self):
        ticks = cpu_ticks(self.stat)
        return None if ticks is None else (*ticks, self.own())

    def _competing(self, busy_cores: float, machine_cores: int) -> float:
        """Busy cores of the whole machine -> those that take this process's usable cores: the others run
        first on the cores this process may not use."""
        return max(0.0, busy_cores - max(0, machine_cores - self.cpus))

    def others(self, own_threads: int = 1) -> float:
        """Cores the other programs kept busy since the previous reading (load average less
        ``own_threads`` where /proc/stat does not exist; 0.0 where neither does)."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None:
            load = self.loadavg()
            return 0.0 if load is None else self._competing(max(0.0, load - own_threads), os.cpu_count() or 1)
        busy, total = now[0] - last[0], now[1] - last[1]
        if total <= 0:
            return 0.0
        own = (now[3] - last[3]) * os.sysconf("SC_CLK_TCK")        # this process's seconds, in ticks
        return self._competing(max(0.0, (busy - own) / total * now[2]), now[2])

    def now(self, seconds: float | None = None) -> float:
        """Cores the other programs keep busy now: a reading over the next ``seconds`` (default
        FIRST_READING; none where /proc/stat does not exist: the load average less this process, at
        once), or the last one if it is younger than ``self.reuse`` seconds."""
        key = (str(self.stat), self.cpus)
        at, cores = MachineLoad._recent.get(key, (-math.inf, 0.0))
        if time.monotonic() - at < self.reuse:
            return cores
        self._last = self._read()
        if self._last is not None:
            self.sleep(FIRST_READING if seconds is None else seconds)
        cores = self.others(own_threads=1)
        MachineLoad._recent[key] = (time.monotonic(), cores)
        return cores
