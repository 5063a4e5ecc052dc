"""Where a submission's code runs: a bubblewrap sandbox, or (``--sandbox none``) a limited subprocess.

``bwrap`` (bubblewrap, the sandbox Flatpak uses) gives every exercise of every submission
its own mount, PID, network, IPC and user namespaces:

* the filesystem is the Python installation and the ``numpyvae`` package, read-only, the job's
  inputs (its problem and the student's own files) read-only at ``/grade/in``, two files the
  grader made (``/grade/out/answers.npz`` and the start signal), and in-memory folders of
  ``SCRATCH_BYTES`` each (``/grade/work``, the working directory and HOME; ``/tmp``;
  ``/dev/shm``); the rest is read-only; nothing else is there: not the other submissions, not
  ``tutorials/solutions/``, not the grader's files or its CSV;
* a fresh ``/proc`` with only the sandbox's processes (not the grader's command line), and no
  network (only a loopback device of its own);
* the worker is PID 2 under bwrap's init: when the worker ends or the grader stops it, the whole
  namespace is killed, including double-forked ``setsid`` grandchildren; ``os.kill(os.getppid(),
  SIGKILL)`` from inside hits that init, which the kernel protects, not the grader;
* where this process may create a pids cgroup (``/sys/fs/cgroup/pids``, as root), at most
  ``PIDS_MAX`` processes, so a fork bomb stops at that many.

``--sandbox none`` runs the same worker as a plain subprocess with the same resource limits,
for machines without bubblewrap. It keeps the verdicts in the grader's process (a submission
still cannot forge a PASS) and still kills every descendant before the next result is read (a
pids cgroup where it can make one, else it adopts orphans as a child subreaper and kills them),
but the submission can read and write whatever your user can: other submissions, the
solutions, the package, your files. Use it only for code you would run yourself.

Limits in both modes (set by the worker on itself, :class:`Limits`): address space
(``--memory-mb``), CPU time (the timeout + 3 s), 16 MiB per written file, no core dumps; and
the wall-clock ``--timeout`` enforced here, counted from the moment the worker is about to run
the submission's first line (so a busy machine's slow start of Python is not the student's time).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "MODES", "check_mode", "run", "PIDS_MAX"]

MODES = ("bwrap", "none")
FILE_LIMIT = 16 * 2 ** 20          # bytes per file the worker may write (stderr included)
PIDS_MAX = 64
NOBODY = 65534
PACKAGE = Path(__file__).resolve().parent.parent          # the numpyvae this process uses
CGROUP_PIDS = Path("/sys/fs/cgroup/pids")
ANSWERS = "answers.npz"            # what the worker writes, made (empty) by the grader
READY = ".started"                 # the worker writes a byte to it just before the submission's first line
SCRATCH_BYTES = 32 * 2 ** 20       # each of the sandbox's in-memory folders (/grade/work, /tmp, /dev/shm)
STARTUP_SECONDS = 120.0            # the longest the interpreter may take to get there


@dataclass
class Limits:
    """Per exercise: wall-clock seconds, address space (MiB) and bytes per written file."""
    timeout: float = 60.0
    memory_mb: int = 2048
    file_bytes: int = FILE_LIMIT

    def as_arg(self) -> str:         # passed to the worker, which applies the limits to itself
        return f"{self.timeout!r},{self.memory_mb},{self.file_bytes}"

    @classmethod
    def from_arg(cls, text: str) -> "Limits":
        timeout, memory_mb, file_bytes = text.split(",")
        return cls(float(timeout), int(memory_mb), int(file_bytes))

    def apply(self):                 # runs in the worker before it reads the submission
        mem = self.memory_mb * 2 ** 20
        cpu = int(self.timeout) + 3                      # + starting Python, numpy and the package
        import resource              # here, not above: a browser's Python (tutorial 17 reaches this module) has none
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes, self.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


_BWRAP_WORKS: dict = {}
_BWRAP_FLAGS = ("--unshare-all", "--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY))


def bwrap_problem() -> str | None:
    """None if bubblewrap is installed and can make a sandbox here, else why not (one line)."""
    if "why" not in _BWRAP_WORKS:
        exe = shutil.which("bwrap")
        why = "bubblewrap (bwrap) is not installed" if exe is None else None
        if exe is not None:
            try:
                done = subprocess.run([exe, *_BWRAP_FLAGS, "--ro-bind", "/", "/", "true"], capture_output=True,
                                      timeout=30)
                if done.returncode != 0:
                    why = f"bwrap cannot make a sandbox here: {done.stderr.decode(errors='replace').strip()[:160]}"
            except (OSError, subprocess.TimeoutExpired) as err:
                why = f"bwrap cannot make a sandbox here: {err}"
        _BWRAP_WORKS["why"] = why
    return _BWRAP_WORKS["why"]


def check_mode(mode: str) -> str:
    """The mode, or ValueError with a one-line refusal (bwrap asked for but unusable here)."""
    if mode not in MODES:
        raise ValueError(f"grade: --sandbox must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "bwrap":
        why = bwrap_problem()
        if why:
            raise ValueError(f"grade: {why}; install it (apt-get install bubblewrap) or pass --sandbox none "
                             f"to grade without a sandbox (only code you would run yourself)")
    return mode


# ----------------------------------------------------------------------------- the command

def _libraries() -> list:
    """The folders numpy and scipy are installed in (the worker's PYTHONPATH after the package)."""
    import numpy
    import scipy
    return list(dict.fromkeys(str(Path(m.__file__).resolve().parent.parent) for m in (numpy, scipy)))


def _system_binds() -> list:
    """Read-only binds of what the Python interpreter, numpy and scipy need, and nothing of the grader's."""
    args, seen = [], set()
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
            seen.add(top)
    for where in (sys.base_prefix, sys.prefix, *_libraries()):
        where = str(Path(where).resolve())
        if where not in seen and not any(where.startswith(s + "/") for s in seen):
            args += ["--ro-bind", where, where]
            seen.add(where)
    return args


def _command(mode: str, job_dir: Path, out_dir: Path) -> tuple:
    """(argv, cwd, env) of the worker on the job in job_dir."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    worker = ["-s", "-m", "numpyvae.teach.grade_worker"]
    if mode == "none":
        env.update(PYTHONPATH=os.pathsep.join([str(PACKAGE.parent), *_libraries()]), HOME=str(out_dir),
                   TMPDIR=str(out_dir))
        return [sys.executable, *worker, str(job_dir / "job.json")], out_dir, env
    env.update(PYTHONPATH=os.pathsep.join(["/pkg", *_libraries()]), HOME="/grade/work", TMPDIR="/grade/work")
    scratch = [("--size", str(SCRATCH_BYTES), "--tmpfs", where) for where in ("/grade/work", "/tmp")]
    # the scratch folders first: a bind made after them shows on top, so a Python, numpy or scipy installed
    # under /tmp (a virtual environment there) stays visible inside the sandbox's empty /tmp
    argv = ["bwrap", *_BWRAP_FLAGS, *[a for mount in scratch for a in mount], *_system_binds(),
            "--ro-bind", str(PACKAGE), "/pkg/numpyvae", "--ro-bind", str(job_dir), "/grade/in",
            # the only files written outside memory: the two the grader made (a file bind: no new files beside it)
            "--bind", str(out_dir / ANSWERS), f"/grade/out/{ANSWERS}", "--bind", str(out_dir / READY), f"/grade/out/{READY}",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(SCRATCH_BYTES), "--tmpfs", "/dev/shm", "--remount-ro", "/dev", "--remount-ro", "/",
            "--chdir", "/grade/work", "--clearenv"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    return [*argv, sys.executable, *worker, "/grade/in/job.json"], out_dir, {"PATH": env["PATH"]}


def job_paths(mode: str, job_dir: Path, out_dir: Path) -> tuple:
    """(inputs folder, outputs folder) as the worker sees them."""
    return (job_dir, out_dir) if mode == "none" else (Path("/grade/in"), Path("/grade/out"))


def answered(out_dir: Path) -> bool:
    """Whether the worker wrote its answers file (a link or anything else is read, and refused, by the channel)."""
    path = out_dir / ANSWERS
    return path.is_symlink() or (path.exists() and path.stat().st_size > 0)


def package_fingerprint() -> str:
    """A hash of every .py file of the package: --sandbox none checks it after each exercise."""
    import hashlib
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- every descendant gone

def _pids_cgroup():
    """A new pids cgroup limited to PIDS_MAX, or None where this process may not make one."""
    if not os.access(CGROUP_PIDS, os.W_OK):
        return None
    group = CGROUP_PIDS / f"numpyvae-grade-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / "pids.max").write_text(str(PIDS_MAX))
        return group
    except OSError:
        return None


def _empty_cgroup(group: Path):
    """Kill every process in the cgroup until none is left, then remove it."""
    for _ in range(1000):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    for _ in range(100):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.01)


_LIVE = set()                      # the workers this process is waiting for (the orphans are the others)
_LOCK = threading.Lock()


def _subreaper(on: bool):
    """Orphaned descendants (a double fork, setsid) become this process's children, so they can be found."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0)        # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def adopting_orphans(mode: str):
    """For --sandbox none, while a class is graded: this process adopts (and run() kills) its workers' orphans."""
    if mode != "none":
        yield
        return
    _subreaper(True)
    with _LOCK:
        _LIVE.update(_children())          # this process's own children from before are not orphans
    try:
        yield
    finally:
        _kill_orphans()
        _subreaper(False)


def _children() -> list:
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def _kill_orphans():
    """Kill the children of this process that are not live workers (adopted orphans), until none is left."""
    if not Path("/proc").is_dir():
        return
    for _ in range(200):
        with _LOCK:
            orphans = [p for p in _children() if p not in _LIVE]
        if not orphans:
            return
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def run(mode: str, job_dir: Path, out_dir: Path, err_file, limits: Limits) -> tuple:
    """Run the worker on the job in ``job_dir`` (writing to ``out_dir``); returns (returncode, timed_out).

    Returns only once every process the worker started is gone.
    """
    for name in (ANSWERS, READY):           # made here, so the sandbox binds files, not a folder it could fill
        (out_dir / name).touch()
    argv, cwd, env = _command(mode, job_dir, out_dir)
    group = _pids_cgroup()
    if group is not None:                  # the shell joins the cgroup, then becomes the worker (or bwrap)
        argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *argv]
    with _LOCK:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True)
        _LIVE.add(proc.pid)
    timed_out = False
    ready, start = out_dir / READY, time.monotonic()
    while proc.poll() is None and ready.stat().st_size == 0 and time.monotonic() - start < STARTUP_SECONDS:
        time.sleep(0.02)                  # Python and numpy starting on a busy machine: not the submission's time
    try:
        proc.wait(timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)              # the worker and its process group
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    with _LOCK:
        _LIVE.discard(proc.pid)
    if group is not None:
        _empty_cgroup(group)
    if mode == "none":
        _kill_orphans()
    returncode = proc.returncode
    if mode == "bwrap" and 128 < returncode < 128 + 65:   # bwrap reports its worker's death by signal N as 128 + N
        returncode = 128 - returncode
    return returncode, timed_out
