"""Reading a learner's work: notebooks and percent-format scripts, and the definitions in them.

Shared by the class grader (:mod:`numpyvae.teach.grade` finds the submissions and the file
defining each exercise; :mod:`numpyvae.teach.grade_worker` runs that file's definitions in its
sandbox) and by tutorial 17 (:mod:`numpyvae.teach.your_work` reads the learner's pieces back),
so the two always pick the same function from the same file.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

__all__ = ["SUFFIXES", "cells_of", "find_submissions", "definitions", "defined_functions", "find_definition",
           "run_definitions", "exercises_shim"]

SUFFIXES = (".ipynb", ".py")
MAX_BYTES = 8 * 2 ** 20           # the largest notebook or script read


def cells_of(path: Path) -> list:
    """The code cells of a notebook (json) or a percent-format script, as strings.

    IPython magics and shell lines (``%timeit``, ``!pip``) are commented out behind a ``pass``, so
    that one indented under ``if``/``except`` (the notebooks' install cell) leaves valid Python.
    """
    path = Path(path)
    if path.stat().st_size > MAX_BYTES:            # read by the grader itself: a huge file is not a submission
        raise ValueError(f"{path.name} is larger than {MAX_BYTES // 2 ** 20} MiB")
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = [c.get("source", "") for c in nb.get("cells", []) if c.get("cell_type") == "code"]
        except (ValueError, AttributeError, TypeError, RecursionError) as err:
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
    """``%pip install x`` -> ``pass  # %pip install x``, keeping the indentation."""
    body = line.lstrip()
    if not body.startswith(("%", "!")):
        return line
    return line[:len(line) - len(body)] + "pass  # " + body


def find_submissions(folder) -> dict:
    """student name -> list of files, sorted by name.

    One entry per student: ``alice.ipynb`` or ``alice.py`` (the student is the file's stem), or a
    folder ``alice/`` whose notebooks and scripts are read together (each file its own namespace).
    Symbolic links (and files that resolve outside the folder) are left out: the grader reads and
    copies these files itself, and a link could point it at the solutions.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"grade: {folder} is not a folder of submissions")
    found, root = {}, folder.resolve()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or not _inside(entry, root):
            continue
        if entry.is_file() and entry.suffix in SUFFIXES:
            found.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir():
            files = sorted(p for p in entry.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                           and ".ipynb_checkpoints" not in p.parts and _inside(p, root))
            if files:
                found[entry.name] = files
    if not found:
        raise ValueError(f"grade: no .ipynb or .py submissions in {folder}")
    return found


def _inside(path: Path, root: Path) -> bool:
    """Not a link, and really in the submissions folder: a link to the teacher's solutions is not a submission."""
    return not path.is_symlink() and root in path.resolve().parents


def _no_calls(node) -> bool:
    return not any(isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def definitions(cells: list) -> tuple:
    """(list of compiled single statements to run, list of notes about cells that did not parse).

    Only definitions: imports, function and class definitions, assignments without calls; never a
    notebook's other statements (its training loops, its calls of the grader).
    """
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


def run_definitions(path: Path, namespace: dict) -> list:
    """Run the definitions of one file in ``namespace`` (a failing one, e.g. an import only the
    learner's machine has, is skipped); returns the notes about cells that did not parse."""
    code, notes = definitions(cells_of(path))
    for block in code:
        try:
            exec(block, namespace)                 # noqa: S102 — the learner's own definitions
        except BaseException:                      # noqa: BLE001 — a failing definition costs only itself
            pass
    return notes


def _is_stub(node: ast.FunctionDef) -> bool:
    """True if the body (after a docstring) is only ``raise NotImplementedError...``."""
    body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                             and isinstance(node.body[0].value, ast.Constant)) else node.body
    return len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0])


def defined_functions(path: Path) -> dict:
    """name -> is_stub for every top-level ``def`` of one file ({} if it cannot be read)."""
    found = {}
    try:
        cells = cells_of(path)
    except (ValueError, OSError):
        return found
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except (SyntaxError, ValueError, RecursionError, MemoryError):   # the grader's process: nothing may crash it
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = found.get(node.name, True) and _is_stub(node)
    return found


def find_definition(name: str, files: list):
    """(file, is_stub) of the best top-level ``def name`` in files, or (None, None) if none defines it.

    The one that is more than a stub wins, and of two such the one saved last (then the last in order).
    """
    found = []
    for order, path in enumerate(files):
        stub = defined_functions(path).get(name)
        if stub is not None:
            found.append((not stub, Path(path).stat().st_mtime, order, Path(path)))
    if not found:
        return None, None
    done, _, _, path = max(found, key=lambda f: f[:3])
    return path, not done


def exercises_shim():
    """Stands in for numpyvae.teach.exercises inside a learner's file: grading happens elsewhere, not there."""
    import types
    shim = types.ModuleType("exercises")
    shim.grade_or_solution = shim.grade_or_stand_in = lambda name, fn, **kw: fn
    shim.grade = lambda *a, **kw: None
    return shim
