"""The child process of ``python -m numpyvae grade``: one student's code, graded.

    python -m numpyvae.teach.grade_worker CELLS.json RESULT_FD NAME[,NAME...] SEED|- [TIMEOUT,MEMORY_MB,FILE_BYTES]

Runs inside the student's own temporary directory, under the limits it sets on
itself first (memory, CPU time, file size, no core dumps; the last argument) and a
wall-clock timeout the parent enforces.
It executes only the *definitions* of the submission's cells (imports, function
and class definitions, assignments without calls), never its other statements,
so a notebook's training loops do not run and a class is graded in seconds. Then
it grades each exercise whose function the submission defines, and writes one
JSON line per exercise to RESULT_FD as soon as it is known, so an exercise that
hangs or kills the process costs only itself and the ones after it.
"""
from __future__ import annotations

import ast
import json
import os
import sys
import types


def _no_calls(node) -> bool:
    return not any(isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def definitions(cells: list) -> tuple:
    """(list of compiled single statements to run, list of notes about cells that did not parse)."""
    code, notes = [], []
    for i, cell in enumerate(cells, start=1):
        try:
            tree = ast.parse(cell)
        except SyntaxError as err:
            notes.append(f"cell {i} has a syntax error (line {err.lineno}): {err.msg}")
            continue
        for node in tree.body:
            if isinstance(node, DEFINITIONS) or (isinstance(node, (ast.Assign, ast.AnnAssign)) and _no_calls(node)):
                code.append(compile(ast.Module(body=[node], type_ignores=[]), f"<cell {i}>", "exec"))
    return code, notes


def _shim_exercises():
    """Stands in for numpyvae.teach.exercises inside the submission: grading happens here, not there."""
    shim = types.ModuleType("exercises")
    shim.grade_or_solution = shim.grade_or_stand_in = lambda name, fn, **kw: fn
    shim.grade = lambda *a, **kw: None
    return shim


def main(argv) -> int:
    cells_path, fd, names, seed = argv[0], int(argv[1]), argv[2].split(","), argv[3]
    if len(argv) > 4:                              # before any of the submission is read
        from numpyvae.teach.grade import Limits
        Limits.from_arg(argv[4]).apply()
    out = os.fdopen(fd, "w", buffering=1, encoding="utf-8")

    def report(name, status, worst, message):
        out.write(json.dumps(dict(name=name, status=status, worst=worst, message=message[:500])) + "\n")
        out.flush()

    import numpy as np
    from numpyvae.teach.exercises import grade
    with open(cells_path, encoding="utf-8") as f:
        cells = json.load(f)
    code, notes = definitions(cells)
    namespace = {"__name__": "__submission__", "np": np, "numpy": np, "exercises": _shim_exercises()}
    for block in code:
        try:
            exec(block, namespace)                 # noqa: S102 — the point of this process
        except BaseException:                      # noqa: BLE001 — a failing import (a module the grader lacks) is skipped
            pass
    namespace["exercises"] = _shim_exercises()     # the submission may have imported the real module
    for name in names:
        fn = namespace.get(name)
        if not callable(fn):
            note = f"; {notes[0]}" if notes else ""
            report(name, "MISSING", None, f"no function {name}(...) in the submission{note}")
            continue
        try:
            g = grade(name, fn, seed=None if seed == "-" else int(seed), verbose=False)
            report(name, g.status, None if g.worst != g.worst else g.worst, g.message)
        except BaseException as err:               # noqa: BLE001 — whatever happens, the next exercise is graded
            report(name, "FAIL", None, f"FAIL: exercise {name!r} — grading stopped: {type(err).__name__}: {err}"[:500])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
