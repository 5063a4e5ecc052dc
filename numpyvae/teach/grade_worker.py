"""Inside a submission's sandbox: one exercise of one student, answered (not graded).

    python -m numpyvae.teach.grade_worker JOB.json

JOB.json (written by :mod:`numpyvae.teach.grade`, read-only here) names the exercise, the
student's file that defines it, the problem file, where to write the answers, the limits, and
for the capstone the student's files that hold its pieces. In order, this process:

1. sets its limits on itself (memory, CPU time, file size, no core dumps);
2. replaces the library's own implementations of the exercise with tripwires
   (:func:`numpyvae.teach.references.hide_answers`), before any of the submission runs;
3. runs the *definitions* of the student's file (imports, functions, classes, assignments
   without calls; never a notebook's training loops or its calls of the grader) in a namespace
   of that file's own;
4. for the capstone, puts the pieces in that namespace the way tutorial 17's ``your_pieces``
   does: the student's own where the grader passed it, else its finite-difference stand-in;
5. calls the function on each problem and writes the outputs to ``answers.npz``
   (:mod:`numpyvae.teach.grade_channel`), stopping at the first problem it cannot answer.

It decides nothing: the grader compares the arrays with its own references, in its own process.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from numpyvae.teach import exercises
from numpyvae.teach.exercises import _short
from numpyvae.teach.grade_channel import answer_arrays, learner_problems
from numpyvae.teach.references import CallsTheAnswer, hide_answers
from numpyvae.teach.sandbox import READY, Limits
from numpyvae.teach.submission import exercises_shim, run_definitions


def _namespace():
    return {"__name__": "__submission__", "np": np, "numpy": np, "exercises": exercises_shim()}


def load(name: str, path: Path):
    """The function ``name`` as the definitions of ``path`` make it, in a namespace of its own (None if not callable)."""
    namespace = _namespace()
    run_definitions(path, namespace)
    namespace["exercises"] = exercises_shim()     # the submission may have imported the real module
    fn = namespace.get(name)
    return (fn, namespace) if callable(fn) else (None, namespace)


def answer(name: str, fn, problems: list, record: list) -> dict:
    """key -> array of answers.npz: each problem's outputs, or why there are none (the first such ends it).

    Its names were bound when this module was imported, before any of the submission ran (a submission
    that swaps a module in sys.modules changes nothing here)."""
    out = {}
    for i, args in enumerate(problems):
        status, detail, arrays = "answered", "", {}
        try:
            outs = fn(*args)
        except CallsTheAnswer as err:
            status, detail = "calls the answer", str(err)
        except NotImplementedError:
            status = "not done"
        except BaseException as err:              # noqa: BLE001 — even SystemExit: reported, not obeyed
            status, detail = "raised", _short(err)
        else:
            try:
                arrays = answer_arrays(name, i, outs)
            except ValueError as err:             # not numbers: said the way the grader says it
                status, detail = "bad output", str(err)
            except BaseException as err:          # noqa: BLE001 — e.g. an __array__ that raises
                status, detail = "raised", _short(err)
        if record:                                # a tripwire went off, even if the learner caught it
            status, detail = "calls the answer", f"{record[0].replace(':', '.')} is the library's answer to {name}"
        out[f"p{i}.status"], out[f"p{i}.detail"] = np.array(status), np.array(detail[:300])
        if status != "answered":
            break
        out.update(arrays)
    return out


def hide_stand_in(name: str, record: list) -> None:
    """For good, like :func:`hide_answers`: ``exercises.stand_in(name)`` (a correct answer computed by finite
    differences) raises :class:`CallsTheAnswer` too, and is recorded; other exercises' stand-ins still work."""
    plain = exercises.stand_in

    def stand_in(asked: str):
        if asked == name:
            record.append("numpyvae.teach.exercises:stand_in")
            raise CallsTheAnswer(f"numpyvae.teach.exercises.stand_in({name!r}) is an answer to {name}")
        return plain(asked)
    exercises.stand_in = stand_in


def main(argv) -> int:
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    Limits.from_arg(job["limits"]).apply()        # before any of the submission is read
    name = job["exercise"]
    record = hide_answers(name)
    hide_stand_in(name, record)
    with np.load(job["problem"], allow_pickle=False) as data:
        problems = learner_problems(name, data)
    with open(Path(job["answers"]).with_name(READY), "w") as f:
        f.write("1")                              # the wall-clock timeout starts now
    fn, namespace = load(name, Path(job["file"]))
    for piece, path in job.get("pieces", {}).items():
        own = load(piece, Path(path))[0] if path else None
        namespace[piece] = own if own is not None else exercises.stand_in(piece)
    if fn is None:
        out = {"p0.status": np.array("bad output"),
               "p0.detail": np.array(f"no function {name}(...) came out of {Path(job['file']).name}")}
    else:
        out = answer(name, fn, problems, record)
    with open(job["answers"], "wb") as f:         # the file the grader made (in the sandbox, a bind mount)
        np.savez(f, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
