"""Grade a class: every exercise of every student in its own sandbox, every verdict in this process.

    python -m numpyvae grade SUBMISSIONS --out grades.csv [--exercises a,b] [--timeout 60] [--memory-mb 2048]
                                         [--jobs N] [--seed S] [--sandbox bwrap|none] [--feedback DIR]
    python -m numpyvae grade --autograder-zip autograder.zip [--exercises a,b] [--timeout 60]

SUBMISSIONS is a folder with one entry per student: ``alice.ipynb`` or ``alice.py`` (the student
is the file's stem), or a folder ``alice/`` of notebooks and scripts (:mod:`numpyvae.teach.submission`).

For each student and each exercise, this process

1. finds the student's file that defines the exercise's function (each file is its own
   namespace: a name in one file never replaces a function of another);
2. draws the attempt's random problems itself (one ``--seed`` for everyone, or a fresh seed per
   attempt, printed in the feedback so the student can replay it);
3. runs :mod:`numpyvae.teach.grade_worker` in a sandbox of its own (:mod:`numpyvae.teach.sandbox`:
   bubblewrap, or ``--sandbox none``), which gets only the learner's arguments and the student's
   files, and sends back arrays (:mod:`numpyvae.teach.grade_channel`);
4. judges those arrays here, against finite differences of losses written from the formulas
   (or the paper's formula), exactly as ``numpyvae.teach.exercises.grade`` does in a notebook.

So a crash, a hang, ``sys.exit``, pages of output or a failed allocation costs that one exercise;
what a submission prints or writes is never read as a verdict; and a function that calls the
library's own answer is NOT DONE. The capstone ``vae_backward`` is run with the student's pieces
that passed here and the stand-ins of the others, as tutorial 17's ``your_pieces`` does.

Outputs, all written when grading ends (each to a new file renamed into place, so a run that is
killed leaves no CSV that looks complete; an older CSV is set aside as ``*.previous`` at the start):
the CSV (one row per student), and in the feedback folder one ``STUDENT.txt`` (what failed, the seed
to replay it, a hint) and one ``STUDENT.json`` in Gradescope's ``results.json`` format per student.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..files import check_writable
from . import grade_report, sandbox
from .exercises import EXERCISES, draw_attempt, judge_attempt, new_seed
from .grade_channel import problem_arrays, read_answers
from .grade_report import ClassGrades, Result
from .sandbox import FILE_LIMIT, Limits
from .submission import cells_of, defined_functions, find_definition, find_submissions   # noqa: F401 — re-exported
from .your_work import CAPSTONE_FILE, PIECES

__all__ = ["ClassGrades", "Limits", "Result", "grade_folder", "grade_student", "main", "FILE_LIMIT"]

STDERR_TAIL = 600                  # characters of a crashed worker's stderr kept for the message
MESSAGE_CHARS = 300
CAPSTONE = "vae_backward"
_PACKAGE_AT_START = [None]         # --sandbox none: the package's fingerprint before the first submission ran


def _death(returncode: int, timed_out: bool, limits: Limits, stderr_tail: str) -> str:
    if timed_out:
        return f"the submission ran past the {limits.timeout:g} s time limit and was stopped"
    if returncode < 0:
        sig = signal.Signals(-returncode)
        why = {signal.SIGXCPU: "CPU time limit", signal.SIGXFSZ: "file size limit",
               signal.SIGKILL: "killed", signal.SIGSEGV: "crashed (segmentation fault)"}.get(sig, "signal")
        return f"the submission's process died: {sig.name} ({why})"
    last = [line for line in stderr_tail.splitlines() if line.strip()]
    return (f"the submission's process ended without answers (exit status {returncode})"
            + (f": {last[-1][:200]}" if last else ""))


def _tail(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(max(0, path.stat().st_size - STDERR_TAIL))
        return f.read()


def grade_exercise(name: str, path: Path, seed: int, limits: Limits, mode: str, pieces: dict | None = None) -> Result:
    """One exercise of one student: ``path`` defines it; ``pieces`` (capstone) piece -> file or None (stand-in)."""
    problems = draw_attempt(name, seed)
    with tempfile.TemporaryDirectory(prefix="numpyvae-grade-") as private:
        job_dir, out_dir = Path(private) / "in", Path(private) / "out"
        job_dir.mkdir()
        out_dir.mkdir()
        in_dir, o_dir = sandbox.job_paths(mode, job_dir, out_dir)
        copies = {}
        for p in [path] + [p for p in (pieces or {}).values() if p is not None]:
            if p not in copies:                   # a copy: the sandbox never sees the submissions folder
                (job_dir / "files" / str(len(copies))).mkdir(parents=True)
                shutil.copyfile(p, job_dir / "files" / str(len(copies)) / Path(p).name)
                copies[p] = str(in_dir / "files" / str(len(copies)) / Path(p).name)
        np.savez(job_dir / "problem.npz", **problem_arrays(name, problems))
        job = dict(exercise=name, file=copies[path], problem=str(in_dir / "problem.npz"),
                   answers=str(o_dir / sandbox.ANSWERS), limits=limits.as_arg(),
                   pieces={k: (copies[p] if p is not None else None) for k, p in (pieces or {}).items()})
        (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        err_path = Path(private) / "stderr.txt"
        with open(err_path, "w", encoding="utf-8") as err:
            returncode, timed_out = sandbox.run(mode, job_dir, out_dir, err, limits)
        if mode == "none" and sandbox.package_fingerprint() != _PACKAGE_AT_START[0]:
            raise ValueError(f"grade: the numpyvae package in {sandbox.PACKAGE} changed on disk while {path.name}'s "
                             f"{name} ran (--sandbox none cannot stop that); grading stopped and no CSV written: "
                             f"restore the package (e.g. git checkout numpyvae/) and grade with --sandbox bwrap")
        answers = out_dir / sandbox.ANSWERS
        if timed_out or not sandbox.answered(out_dir):
            why = _death(returncode, timed_out, limits, _tail(err_path))
            return Result("ERROR", None, f"ERROR: exercise {name!r} (seed {seed}) — not graded: {why}"[:MESSAGE_CHARS],
                          seed)
        g = judge_attempt(name, seed, problems, read_answers(name, answers, problems))
    return Result.of(g)


def _order(names: list) -> list:
    """The capstone last, after its pieces (which it needs graded), whatever order was asked."""
    extra = [p for p in PIECES if p not in names] if CAPSTONE in names else []
    return [n for n in names if n != CAPSTONE] + extra + ([CAPSTONE] if CAPSTONE in names else [])


def _pieces(files: list, done: dict, graded_file: dict, limits: Limits, seed, mode: str) -> dict:
    """piece -> the student's file to take it from, or None for its stand-in: as tutorial 17's your_pieces
    chooses (the capstone's own file left out), the student's own only if it passes."""
    candidates = [f for f in files if not Path(f).name.startswith(CAPSTONE_FILE)]
    pieces = {}
    for p in PIECES:
        path, stub = find_definition(p, candidates)
        if path is None or stub:
            pieces[p] = None
            continue
        passed = (done[p].status == "PASS" if path == graded_file.get(p) else
                  grade_exercise(p, path, new_seed() if seed is None else int(seed), limits, mode).status == "PASS")
        pieces[p] = path if passed else None
    return pieces


def grade_student(files: list, names: list, limits: Limits, seed: int | None = None, mode: str = "bwrap") -> dict:
    """Grade exercises ``names`` in one student's files; returns name -> Result (in the order of names)."""
    done, graded_file = {}, {}
    for name in _order(list(names)):
        path, stub = find_definition(name, files)
        graded_file[name] = path
        attempt_seed = new_seed() if seed is None else int(seed)
        if path is None:
            done[name] = Result("MISSING", None, f"MISSING: no function {name}(...) in the submission", attempt_seed)
        elif stub:
            done[name] = Result("NOT DONE", None, f"NOT DONE: exercise {name!r} (seed {attempt_seed}) — not "
                                f"implemented yet; write {EXERCISES[name].signature}", attempt_seed)
        else:
            pieces = None if name != CAPSTONE else _pieces(files, done, graded_file, limits, seed, mode)
            done[name] = grade_exercise(name, path, attempt_seed, limits, mode, pieces)
    return {n: done[n] for n in names}


def default_jobs() -> int:
    """The cores this process may use: one exercise's grading is one single-threaded process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                       # not on Linux
        return max(1, os.cpu_count() or 1)


def exercises_found(submissions: dict) -> list:
    """The exercises some submission defines, in the order of EXERCISES."""
    found = set()
    for files in submissions.values():
        for path in files:
            found |= set(defined_functions(path))
    return [n for n in EXERCISES if n in found]


def _set_aside(out: Path, progress):
    """An older CSV is moved to NAME.previous now, so a run that does not finish leaves no CSV that looks complete."""
    if out.exists():
        previous = out.with_name(out.name + ".previous")
        os.replace(out, previous)
        if progress:
            progress(f"{out} exists: it is kept as {previous.name}, and a new {out.name} is written when grading ends")


def grade_folder(folder, out, *, names=None, limits: Limits | None = None, seed: int | None = None,
                 progress=print, jobs: int = 1, mode: str = "bwrap", feedback=None) -> ClassGrades:
    """Grade every submission in ``folder``; write the CSV ``out`` and the feedback folder when all are graded.

    jobs : students graded at once, each exercise its own sandboxed process; the CSV does not depend on it.
    mode : "bwrap" or "none" (see numpyvae.teach.sandbox)
    feedback : folder for STUDENT.txt and STUDENT.json (default: OUT's name without .csv, + "-feedback")
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"grade: --jobs must be a whole number >= 1, got {jobs!r}")
    limits = limits or Limits()
    out = Path(out)
    feedback = Path(feedback) if feedback is not None else out.with_name(out.stem + "-feedback")
    submissions = find_submissions(folder)
    check_outputs(folder, out, feedback)
    sandbox.check_mode(mode)
    if mode == "none":
        print("numpyvae: warning: --sandbox none: each submission runs as your user, without a sandbox; it can "
              "read and change your files (verdicts are still made here). Grade only code you would run yourself.",
              file=sys.stderr)
    if names is None:
        names = exercises_found(submissions)
        if not names:
            raise ValueError(f"grade: no submission in {folder} defines an exercise function "
                             f"(the exercises are: {', '.join(EXERCISES)})")
    grades = ClassGrades(list(names))
    if mode == "none":
        _PACKAGE_AT_START[0] = sandbox.package_fingerprint()
    _set_aside(out, progress)

    def one(item):
        student, files = item
        start = time.perf_counter()
        return student, grade_student(files, grades.names, limits, seed, mode), time.perf_counter() - start

    with sandbox.adopting_orphans(mode), ThreadPoolExecutor(max_workers=jobs) as pool:
        # map hands the results back in the order of the submissions, however the processes finish
        for student, result, seconds in pool.map(one, submissions.items()):
            grades.rows[student], grades.seconds[student] = result, seconds
            if progress:
                got = sum(r.points for r in result.values())
                progress(f"{student}: {got}/{len(grades.names)} ({seconds:.1f} s)")
    grade_report.write_feedback(grades, feedback)
    grade_report.write_csv(grades, out)
    return grades


def check_outputs(folder, out: Path, feedback: Path):
    """Refuse outputs that would overwrite a submission or a folder, before any grading."""
    root = Path(folder).resolve()
    for path, what in ((out, "--out"), (feedback, "--feedback")):
        where = path.resolve()
        if where == root or root in where.parents:
            raise ValueError(f"grade: {what} {path} is inside the submissions folder {folder}; "
                             f"write it elsewhere (it would be read as, or overwrite, a submission)")
    if out.is_dir():
        raise ValueError(f"grade: --out {out} is a folder; give the CSV's file name, e.g. {out / 'grades.csv'}")
    check_writable(out, "--out")
    if feedback.exists() and not feedback.is_dir():
        raise ValueError(f"grade: --feedback {feedback} is a file; give a folder")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m numpyvae grade", description=(
        "Grade a folder of student notebooks/scripts: each exercise in its own sandbox, every verdict here."))
    p.add_argument("submissions", nargs="?", help="folder: one NAME.ipynb, NAME.py or NAME/ per student")
    p.add_argument("--out", help="the CSV to write (one row per student)")
    p.add_argument("--feedback", help="folder for one STUDENT.txt and STUDENT.json (Gradescope results.json) "
                                      "per student (default: OUT without .csv, + '-feedback')")
    p.add_argument("--exercises", help="comma-separated names (default: every exercise some submission defines)")
    p.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds per exercise (default 60)")
    p.add_argument("--memory-mb", type=int, default=2048, help="address-space limit per exercise (default 2048)")
    p.add_argument("--seed", type=int, help="one problem seed for everyone, >= 0 (default: fresh problems per attempt)")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"students graded at once (default: the cores usable here, {default_jobs()}; "
                        f"each may use up to --memory-mb)")
    p.add_argument("--sandbox", default="bwrap", help="bwrap (default: bubblewrap, refused where it does not work) "
                                                      "or none (no sandbox: only for code you would run yourself)")
    p.add_argument("--results-json", help="with one student: also write Gradescope's results.json here")
    p.add_argument("--autograder-zip", help="build the Gradescope autograder zip (setup.sh, run_autograder) and stop")
    return p


def _names(text):
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"grade: --exercises {text!r} names no exercise; the exercises are: {', '.join(EXERCISES)}")
    unknown = [n for n in names if n not in EXERCISES]
    if unknown:
        raise ValueError(f"grade: unknown exercise(s) {', '.join(unknown)}; the exercises are: {', '.join(EXERCISES)}")
    return list(dict.fromkeys(names))


def _check_args(args):
    if not (math.isfinite(args.timeout) and args.timeout > 0) or args.timeout > 86400:
        raise ValueError(f"grade: --timeout must be a number of seconds > 0 and <= 86400, got {args.timeout}")
    if args.memory_mb < 256:
        raise ValueError(f"grade: --memory-mb must be >= 256, got {args.memory_mb}")
    if args.seed is not None and not 0 <= args.seed < 2 ** 63:
        raise ValueError(f"grade: --seed must be a whole number >= 0, got {args.seed}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        names = _names(args.exercises)
        _check_args(args)
        if args.sandbox not in sandbox.MODES:
            raise ValueError(f"grade: --sandbox must be one of {', '.join(sandbox.MODES)}, got {args.sandbox!r}")
        limits = Limits(timeout=args.timeout, memory_mb=args.memory_mb)
        if args.autograder_zip:
            from .autograder import build_zip
            build_zip(args.autograder_zip, names=names, limits=limits)
            print(f"wrote {args.autograder_zip} (upload it as the assignment's autograder on Gradescope)")
            return 0
        if args.submissions is None or args.out is None:
            raise ValueError("grade: give the submissions folder and --out CSV (or --autograder-zip FILE)")
        if args.results_json and len(find_submissions(args.submissions)) != 1:
            raise ValueError(f"grade: --results-json is for a folder of one submission, "
                             f"{args.submissions} has {len(find_submissions(args.submissions))}")
        grades = grade_folder(args.submissions, args.out, names=names, seed=args.seed, limits=limits,
                              jobs=default_jobs() if args.jobs is None else args.jobs, mode=args.sandbox,
                              feedback=args.feedback)
        if args.results_json:
            grade_report.write_results_json(grades, next(iter(grades.rows)), args.results_json)
    except (ValueError, FileNotFoundError) as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
    print(grades.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
