"""What the class grader writes: the CSV, a feedback file per student, Gradescope's results.json.

Every file is written to a new temporary file and renamed into place (numpyvae.files.atomic_save),
after the whole class is graded. The text a student reads about an exercise comes from one function,
:func:`feedback_text`.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write_bytes
from .exercises import EXERCISES

__all__ = ["Result", "ClassGrades", "feedback_text", "results_json", "write_csv", "write_feedback",
           "write_results_json"]


@dataclass
class Result:
    """One exercise of one student."""
    status: str                      # PASS, FAIL, NOT DONE, MISSING, or ERROR (its process died or hung)
    worst: float | None
    message: str
    seed: int | None = None
    hint: str = ""

    @property
    def points(self) -> int:
        return int(self.status == "PASS")

    @classmethod
    def of(cls, g) -> "Result":
        """From a numpyvae.teach.exercises.Grade."""
        worst = None if g.worst != g.worst else float(g.worst)
        hint = "" if g.report is None or g.passed else str(g.report)
        return cls(g.status, worst, g.message[:300], g.seed, hint)


def feedback_text(student: str, results: dict) -> str:
    """The feedback a student reads: per exercise the verdict, the seed that replays it, and what to look at."""
    got = sum(r.points for r in results.values())
    lines = [f"{student}: {got}/{len(results)} exercise(s) passed", ""]
    for name, r in results.items():
        lines.append(f"{name}: {r.status}" + ("" if r.worst is None else f" (worst relative error {r.worst:.1e})"))
        lines.append(f"  {r.message}")
        if r.status != "PASS" and r.seed is not None and r.status != "MISSING":
            lines.append(f"  replay it in your notebook: exercises.grade({name!r}, {name}, seed={r.seed})")
        if r.status == "FAIL" and r.hint:
            lines += ["  the worst problem, array by array (your answer against finite differences):"]
            lines += ["    " + line for line in r.hint.splitlines()]
        elif r.status == "MISSING":
            lines.append(f"  write {name}{EXERCISES[name].signature[1:]} at the top level of a notebook or script")
        elif r.status == "ERROR":
            lines.append("  your function's process was stopped: look for an endless loop, a huge allocation, "
                         "or a crash in code it calls")
        lines.append("")
    return "\n".join(lines)


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


def results_json(student: str, results: dict) -> dict:
    """Gradescope's autograder results.json for one student: one test per exercise, 1 point each."""
    tests = [{"name": name, "score": float(r.points), "max_score": 1.0, "status": "passed" if r.points else "failed",
              "output": feedback_text(student, {name: r}).split("\n", 2)[2].strip(), "visibility": "visible"}
             for name, r in results.items()]
    return {"score": float(sum(r.points for r in results.values())), "tests": tests,
            "output": f"{student}: graded by python -m numpyvae grade", "stdout_visibility": "hidden"}


def _safe_name(student: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in student).lstrip(".") or "_"


def write_feedback(grades: ClassGrades, folder: Path):
    """folder/STUDENT.txt and folder/STUDENT.json for every student."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for student, res in grades.rows.items():
        atomic_write_bytes(folder / f"{_safe_name(student)}.txt", feedback_text(student, res).encode("utf-8"))
        atomic_write_bytes(folder / f"{_safe_name(student)}.json",
                           json.dumps(results_json(student, res), indent=1).encode("utf-8"))


def write_results_json(grades: ClassGrades, student: str, path):
    atomic_write_bytes(Path(path), json.dumps(results_json(student, grades.rows[student]), indent=1).encode("utf-8"))


def write_csv(grades: ClassGrades, out):
    atomic_write_bytes(Path(out), grades.csv_bytes())
