"""Grade a class: every student's notebook or script, each in its own limited subprocess.

    python -m numpyvae grade SUBMISSIONS --out grades.csv [--exercises a,b] [--timeout 60] [--memory-mb 2048]
                                                          [--jobs N]

SUBMISSIONS is a folder with one entry per student: ``alice.ipynb`` or ``alice.py``
(the student is the file's stem), or a folder ``alice/`` whose notebooks and
scripts are read together. Notebooks are read with ``json`` (their code cells);
scripts are split into cells at ``# %%``.

Each student runs in a fresh ``python -m numpyvae.teach.grade_worker`` process
(see that module for what of the code runs): in a new empty temporary
directory that is deleted afterwards, with stdin closed, stdout discarded, stderr
kept (its last lines explain a crash), and these limits, which the worker sets on
itself before it reads the submission (not in ``preexec_fn``, which is unsafe in a
parent that runs several students from threads):

* RLIMIT_AS   (address space, ``--memory-mb``): allocating gigabytes raises MemoryError there;
* RLIMIT_CPU  (``--timeout`` + 1 s of CPU): a busy loop is killed by SIGXCPU;
* RLIMIT_FSIZE (16 MiB per file): writing a huge file fails there;
* a wall-clock ``--timeout`` over the whole process group: a sleeping or waiting
  submission is killed (its children with it).

A crash, a hang, ``sys.exit``, pages of output or a failed allocation costs that
student the exercises not yet graded, never the run or another student's row;
the CSV is written by this process only, atomically, after everyone is graded.

``--jobs N`` grades N students at once, each still its own process with its own
limits (threads here only wait for them). The CSV is the same whatever N: rows
in the order of the submissions, and with ``--seed`` the same problems. The default
is one job per core this process may use: a student's grading is one single-threaded
process (BLAS pinned to one thread), so more jobs than cores only slow each other
down and bring every student closer to the wall-clock ``--timeout``. On a machine
busy with other work, pass a smaller ``--jobs`` or a longer ``--timeout``.

This is isolation against mistakes, NOT a sandbox against hostile code: the child
runs as your user, can read and write your files by absolute path, use the network,
and write to its own result channel. Grade code you would run yourself, or run the
whole command inside a container or a throwaway account.
"""
from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write_bytes
from .exercises import EXERCISES

SUFFIXES = (".ipynb", ".py")
FILE_LIMIT = 16 * 2 ** 20          # bytes per file the child may write (stderr included)
STDERR_TAIL = 600                  # characters of a crashed child's stderr kept for the message
MESSAGE_CHARS = 300


# ----------------------------------------------------------------------------- reading submissions

def cells_of(path: Path) -> list:
    """The code cells of a notebook (json) or a percent-format script, as strings.

    IPython magics and shell lines (``%timeit``, ``!pip``) are commented out behind a ``pass``, so
    that one indented under ``if``/``except`` (the notebooks' install cell) leaves valid Python.
    """
    path = Path(path)
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = [c.get("source", "") for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        except (ValueError, AttributeError, TypeError) as err:
            raise ValueError(f"{path.name} is not a readable notebook ({err})") from None
        cells = ["".join(s) if isinstance(s, list) else str(s) for s in cells]
    else:
        cells, current = [], []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            if line.startswith("# %%"):
                cells.append("".join(current))
                current = []
            else:
                current.append(line)
        cells.append("".join(current))
    return ["".join(_comment_magic(line) for line in cell.splitlines(keepends=True)) for cell in cells]


def _comment_magic(line: str) -> str:
    body = line.lstrip()
    if not body.startswith(("%", "!")):
        return line
    return line[:len(line) - len(body)] + "pass  # " + body


def find_submissions(folder) -> dict:
    """student name -> list of files, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"grade: {folder} is not a folder of submissions")
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix in SUFFIXES:
            found.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir():
            files = sorted(p for p in entry.rglob("*") if p.suffix in SUFFIXES and ".ipynb_checkpoints" not in p.parts)
            if files:
                found[entry.name] = files
    if not found:
        raise ValueError(f"grade: no .ipynb or .py submissions in {folder}")
    return found


def exercises_defined(cells: list) -> list:
    """The exercises whose function a submission defines at top level."""
    names = set()
    for cell in cells:
        try:
            names |= {n.name for n in ast.parse(cell).body if isinstance(n, ast.FunctionDef)}
        except SyntaxError:
            pass
    return [n for n in EXERCISES if n in names]


# ----------------------------------------------------------------------------- one student

@dataclass
class Result:
    """One exercise of one student."""
    status: str                      # PASS, FAIL, NOT DONE, MISSING, or ERROR (the process died first)
    worst: float | None
    message: str

    @property
    def points(self) -> int:
        return int(self.status == "PASS")


@dataclass
class Limits:
    timeout: float = 60.0            # wall-clock seconds for one student
    memory_mb: int = 2048            # address space of the child
    file_bytes: int = FILE_LIMIT

    def as_arg(self) -> str:         # passed to the worker, which applies the limits to itself
        return f"{self.timeout!r},{self.memory_mb},{self.file_bytes}"

    @classmethod
    def from_arg(cls, text: str) -> "Limits":
        timeout, memory_mb, file_bytes = text.split(",")
        return cls(float(timeout), int(memory_mb), int(file_bytes))

    def apply(self):                 # runs in the worker before it reads the submission
        import resource              # here, not above: a browser's Python (tutorial 17 imports this module) has none
        mem = self.memory_mb * 2 ** 20
        cpu = int(self.timeout) + 1
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes, self.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child_env(work: Path) -> dict:
    package_root = str(Path(__file__).resolve().parent.parent.parent)   # the numpyvae this process uses
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if k in os.environ}
    env.update(PYTHONPATH=package_root, HOME=str(work), TMPDIR=str(work), MPLBACKEND="Agg",
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _death(returncode: int, timed_out: bool, limits: Limits, stderr_tail: str) -> str:
    if timed_out:
        return f"the submission ran past the {limits.timeout:g} s time limit and was stopped"
    if returncode < 0:
        sig = signal.Signals(-returncode)
        why = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "file size limit",
               signal.SIGKILL: "killed", signal.SIGSEGV: "crashed (segmentation fault)"}.get(sig, "signal")
        return f"the grader process died: {sig.name} ({why})"
    last = [line for line in stderr_tail.splitlines() if line.strip()]
    return f"the submission ended the grader (exit status {returncode})" + (f": {last[-1][:200]}" if last else "")


def grade_student(files: list, names: list, limits: Limits, seed: int | None = None) -> dict:
    """Grade exercises ``names`` in one student's files; returns name -> Result."""
    try:
        cells = [cell for path in files for cell in cells_of(path)]
    except (ValueError, OSError) as err:
        return {n: Result("ERROR", None, str(err)[:MESSAGE_CHARS]) for n in names}
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as private, \
            tempfile.TemporaryDirectory(prefix="numpyvae-student-") as work:
        (Path(work) / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
        result_path, err_path = Path(private) / "results.jsonl", Path(private) / "stderr.txt"
        with open(result_path, "w", encoding="utf-8") as result, open(err_path, "w", encoding="utf-8") as err:
            cmd = [sys.executable, "-m", "numpyvae.teach.grade_worker", "cells.json", str(result.fileno()),
                   ",".join(names), "-" if seed is None else str(seed), limits.as_arg()]
            proc = subprocess.Popen(cmd, cwd=work, env=_child_env(Path(work)), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, pass_fds=(result.fileno(),),
                                    start_new_session=True)
            timed_out = False
            try:
                proc.wait(timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)          # the child and anything it started
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        out = {}
        for line in result_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                r = json.loads(line)
                if r.get("name") in names and r["name"] not in out:
                    worst = r.get("worst")
                    out[r["name"]] = Result(str(r["status"]), None if worst is None else float(worst),
                                            str(r["message"])[:MESSAGE_CHARS])
            except (ValueError, KeyError, TypeError):
                continue
        missing = [n for n in names if n not in out]
        if missing:
            with open(err_path, encoding="utf-8", errors="replace") as f:
                f.seek(max(0, err_path.stat().st_size - STDERR_TAIL))
                tail = f.read()
            why = _death(proc.returncode, timed_out, limits, tail)
            for n in missing:
                out[n] = Result("ERROR", None, f"not graded: {why}"[:MESSAGE_CHARS])
    return out


# ----------------------------------------------------------------------------- a class

def _cell(text: str) -> str:
    """A CSV text cell that a spreadsheet will not read as a formula (a file named '=cmd()' is just text)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@dataclass
class ClassGrades:
    names: list
    rows: dict = field(default_factory=dict)      # student -> {exercise: Result}
    seconds: dict = field(default_factory=dict)   # student -> wall-clock seconds

    def csv_bytes(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf)
        header = ["student", "points", "max_points"]
        for n in self.names:
            header += [f"{n} points", f"{n} worst_rel_error", f"{n} message"]
        w.writerow(header)
        for student, res in self.rows.items():
            row = [_cell(student), sum(r.points for r in res.values()), len(self.names)]
            for n in self.names:
                r = res[n]
                row += [r.points, "" if r.worst is None else f"{r.worst:.3e}", _cell(r.message)]
            w.writerow(row)
        return buf.getvalue().encode("utf-8")

    def summary(self) -> str:
        lines = [f"graded {len(self.rows)} student(s) on {len(self.names)} exercise(s) "
                 f"in {sum(self.seconds.values()):.1f} s"]
        width = max(len(n) for n in self.names)
        for n in self.names:
            passed = sum(res[n].points for res in self.rows.values())
            lines.append(f"  {n:<{width}}  passed by {passed}/{len(self.rows)}")
        lines.append("  students: " + ", ".join(f"{s} {sum(r.points for r in res.values())}/{len(self.names)}"
                                                 for s, res in self.rows.items()))
        return "\n".join(lines)


def default_jobs() -> int:
    """The cores this process may use: one student's grading is one single-threaded process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                       # not on Linux
        return max(1, os.cpu_count() or 1)


def grade_folder(folder, out, *, names=None, limits: Limits | None = None, seed: int | None = None,
                 progress=print, jobs: int = 1) -> ClassGrades:
    """Grade every submission in ``folder`` and write the CSV ``out`` (atomically).

    jobs : students graded at once, each in its own process; the CSV does not depend on it.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"grade: --jobs must be a whole number >= 1, got {jobs!r}")
    limits = limits or Limits()
    submissions = find_submissions(folder)
    if names is None:
        found = set()
        for files in submissions.values():
            try:
                found |= set(exercises_defined([c for p in files for c in cells_of(p)]))
            except (ValueError, OSError):
                pass
        names = [n for n in EXERCISES if n in found]
        if not names:
            raise ValueError(f"grade: no submission in {folder} defines an exercise function "
                             f"(the exercises are: {', '.join(EXERCISES)})")
    grades = ClassGrades(list(names))

    def one(item):
        student, files = item
        start = time.perf_counter()
        return student, grade_student(files, grades.names, limits, seed), time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # map hands the results back in the order of the submissions, however the processes finish
        for student, result, seconds in pool.map(one, submissions.items()):
            grades.rows[student], grades.seconds[student] = result, seconds
            if progress:
                got = sum(r.points for r in grades.rows[student].values())
                progress(f"{student}: {got}/{len(grades.names)} ({grades.seconds[student]:.1f} s)")
    atomic_write_bytes(Path(out), grades.csv_bytes())
    return grades


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m numpyvae grade", description=(
        "Grade a folder of student notebooks/scripts, each in its own limited subprocess. "
        "Not a sandbox for hostile code."))
    p.add_argument("submissions", help="folder: one NAME.ipynb, NAME.py or NAME/ per student")
    p.add_argument("--out", required=True, help="the CSV to write (one row per student)")
    p.add_argument("--exercises", help="comma-separated names (default: every exercise some submission defines)")
    p.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per student (default 60)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per student (default 2048)")
    p.add_argument("--seed", type=int, help="one problem seed for everyone (default: fresh problems per attempt)")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"students graded at once, each its own process (default: the cores usable here, "
                        f"{default_jobs()}; each may use up to --memory-mb)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        names = None
        if args.exercises:
            names = [n.strip() for n in args.exercises.split(",") if n.strip()]
            unknown = [n for n in names if n not in EXERCISES]
            if unknown:
                raise ValueError(f"grade: unknown exercise(s) {', '.join(unknown)}; the exercises are: "
                                 f"{', '.join(EXERCISES)}")
        if args.timeout <= 0 or args.memory_mb < 256:
            raise ValueError(f"grade: --timeout must be > 0 and --memory-mb >= 256, "
                             f"got {args.timeout} and {args.memory_mb}")
        grades = grade_folder(args.submissions, args.out, names=names, seed=args.seed,
                              limits=Limits(timeout=args.timeout, memory_mb=args.memory_mb),
                              jobs=default_jobs() if args.jobs is None else args.jobs)
    except (ValueError, FileNotFoundError) as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
    print(grades.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
