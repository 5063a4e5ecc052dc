"""Build the student or the teacher edition of the course from the tutorial sources.

    python -m numpyvae course build DIR --edition student|teacher [--notebooks] [--install-from SPEC] [--source tutorials]
    python -m numpyvae course lite DIR [--edition student|teacher]   # the browser edition (JupyterLite), see lite.py
    python -m numpyvae course sync   [--source tutorials]     # write tutorials/notebooks/*.ipynb (jupytext)
    python -m numpyvae course check  [--source tutorials]     # exit 1 if those notebooks are out of date
    python -m numpyvae course site DIR [--fast] [--edition student|teacher]   # executed tutorials as a website
                                                   # with the README and tutorials/reference/ (course_site.py)
    python -m numpyvae course slides DIR [--edition student|teacher] [--week N]  # reveal.js decks per week (slides.py)

The tutorial scripts (percent format) are the single source. Two kinds of marks
in them drive the editions:

* an **answer block** in a markdown cell, the last line(s) of a derivation::

      # <!-- answer: What is ∂L/∂W in matrix form? -->
      # $$\\frac{\\partial L}{\\partial W} = x^\\top \\delta$$
      # <!-- /answer -->

  The student edition replaces the block by the question, in bold; the teacher
  edition keeps the answer and drops the two marker lines. (Rendered as Markdown,
  the markers are HTML comments: invisible in the sources too.)
* an **exercise cell**, ``# EXERCISE: name`` above a stub ``def name(...)``. The student
  edition keeps the stub; the teacher edition puts the reference solution from
  ``solutions/solutions.py`` in its place.

The student edition holds no file of ``solutions/`` and, checked after the build,
no line of any reference solution's body.
"""
from __future__ import annotations

import ast
import re
import shutil
import tempfile
from pathlib import Path

from .install_cell import add_install_cell, default_install_spec
from .handout import handout_text

EDITIONS = ("student", "teacher")
ANSWER_OPEN = re.compile(r"^#\s*<!--\s*answer:\s*(?P<question>.*?)\s*-->\s*$")
ANSWER_CLOSE = re.compile(r"^#\s*<!--\s*/answer\s*-->\s*$")
EXERCISE = re.compile(r"^#\s*EXERCISE:\s*(?P<name>[A-Za-z_]\w*)")
TUTORIAL_GLOB = "[0-9][0-9]_*.py"
NOTEBOOK_DIR = "notebooks"


def default_source() -> Path:
    """tutorials/ of the checkout this package was imported from."""
    return Path(__file__).resolve().parent.parent.parent / "tutorials"


def _check_source(source) -> Path:
    source = Path(source)
    if not source.is_dir() or not any(source.glob(TUTORIAL_GLOB)):
        raise FileNotFoundError(f"course: no tutorials (NN_*.py) in {source}; pass --source path/to/tutorials")
    return source


# ----------------------------------------------------------------------------- answers

def cut_answers(text: str, edition: str, where: str = "tutorial") -> str:
    """Replace each answer block by its question (student) or by its content (teacher)."""
    out, question, opened_at = [], None, 0
    for i, line in enumerate(text.splitlines(keepends=True), start=1):
        m_open, m_close = ANSWER_OPEN.match(line), ANSWER_CLOSE.match(line)
        if m_open:
            if question is not None:
                raise ValueError(f"{where}:{i}: answer block opened inside the one opened at line {opened_at}")
            question, opened_at = m_open["question"], i
            if not question:
                raise ValueError(f"{where}:{i}: an answer block needs its question: '# <!-- answer: ... -->'")
            if edition == "student":
                out.append(f"# **Question.** {question}\n")
        elif m_close:
            if question is None:
                raise ValueError(f"{where}:{i}: '<!-- /answer -->' without an opening '<!-- answer: ... -->'")
            question = None
        elif question is None or edition == "teacher":
            out.append(line)
    if question is not None:
        raise ValueError(f"{where}:{opened_at}: answer block is never closed with '# <!-- /answer -->'")
    return "".join(out)


# ----------------------------------------------------------------------------- exercises

def load_solutions(source: Path) -> dict:
    """name -> source text of each top-level function in solutions/solutions.py."""
    path = source / "solutions" / "solutions.py"
    if not path.exists():
        raise FileNotFoundError(f"course: the teacher edition needs {path}")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) for node in tree.body if isinstance(node, ast.FunctionDef)}


def exercise_names(text: str) -> list:
    """The exercises a tutorial asks for, in order of their '# EXERCISE: name' marks."""
    return [m["name"] for m in map(EXERCISE.match, text.splitlines()) if m]


def fill_in(text: str, solutions: dict, where: str = "tutorial") -> str:
    """Put each marked exercise's reference solution in place of its stub ``def``."""
    names = exercise_names(text)
    tree = ast.parse(text)
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    lines = text.splitlines(keepends=True)
    for name in sorted(names, key=lambda n: -defs[n].lineno if n in defs else 0):
        if name not in defs:
            raise ValueError(f"{where}: '# EXERCISE: {name}' has no top-level 'def {name}(...)' stub")
        if name not in solutions:
            raise ValueError(f"{where}: no reference solution for exercise {name!r} in solutions/solutions.py")
        node = defs[name]
        start = node.lineno - 1 - len(node.decorator_list)
        lines[start:node.end_lineno] = [solutions[name] + "\n"]
    return "".join(lines)


def _fragments(stmt):
    """A statement, and the expressions it returns or assigns (tuple elements one by one)."""
    yield stmt
    value = getattr(stmt, "value", None)
    if isinstance(stmt, (ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign)) and value is not None:
        yield value
        if isinstance(value, ast.Tuple):
            yield from value.elts


def solution_lines(solutions: dict) -> set:
    """What must not leak: every solution statement and every expression it returns or assigns,
    unparsed, with the whitespace removed (docstrings and signatures excluded; short ones too)."""
    found = set()
    for src in solutions.values():
        node = ast.parse(src).body[0]
        body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                                 and isinstance(node.body[0].value, ast.Constant)) else node.body
        for stmt in body:
            for inner in ast.walk(stmt):
                if isinstance(inner, ast.stmt):
                    for frag in _fragments(inner):
                        text = "".join(ast.unparse(frag).split())
                        if len(text) >= 20:
                            found.add(text)
    return found


def _leaks(root: Path, solutions: dict) -> list:
    """(file, fragment) pairs of solution code found under root, whitespace ignored."""
    fragments, hits = solution_lines(solutions), []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".txt", ".html"):
            text = path.read_text(encoding="utf-8", errors="replace")
            squashed = "".join(text.replace('\\"', '"').split())
            hits += [(path.relative_to(root), frag) for frag in sorted(fragments) if frag in squashed]
    return hits


# ----------------------------------------------------------------------------- notebooks

def _jupytext():
    try:
        import jupytext
    except ImportError:
        raise RuntimeError("notebooks need jupytext: pip install 'numpyvae[course]' (or pip install jupytext)") from None
    return jupytext


def to_notebook(script: Path, out: Path) -> Path:
    """Convert one percent-format script to .ipynb (outputs empty) with jupytext."""
    jupytext = _jupytext()
    nb = jupytext.read(script, fmt="py:percent")
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    for i, cell in enumerate(nb.cells):            # stable ids: the same script gives the same bytes
        cell["id"] = f"cell-{i:03d}"
    jupytext.write(nb, out, fmt="ipynb")
    return out


def sync_notebooks(source=None, *, check: bool = False) -> list:
    """Write (or with check=True only compare) SOURCE/notebooks/NN_*.ipynb from the scripts.

    Returns the notebooks that were written (or, when checking, that are missing or stale).
    """
    source = _check_source(source or default_source())
    target = source / NOTEBOOK_DIR
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        for script in sorted(source.glob(TUTORIAL_GLOB)):
            fresh = to_notebook(script, Path(tmp) / (script.stem + ".ipynb")).read_text(encoding="utf-8")
            dest = target / (script.stem + ".ipynb")
            if dest.exists() and dest.read_text(encoding="utf-8") == fresh:
                continue
            changed.append(dest)
            if not check:
                from ..files import atomic_write_bytes
                target.mkdir(exist_ok=True)
                atomic_write_bytes(dest, fresh.encode("utf-8"))
    return changed


# ----------------------------------------------------------------------------- the build

def build(dest, edition: str, *, source=None, notebooks: bool = False, install_from: str | None = None,
          kernelspec: dict | None = None) -> list:
    """Write the ``edition`` of the course into the new directory ``dest``; return its files.

    student: tutorials with stubs and questions, README.md (+ notebooks/ if asked)
    teacher: the same with solutions in the exercise cells and answers in the text, plus solutions/
    With notebooks, each notebook's first cell installs ``install_from`` where numpyvae is missing
    (default: default_install_spec()), and requirements.txt holds it for Binder.
    """
    if edition not in EDITIONS:
        raise ValueError(f"course build: --edition must be one of {', '.join(EDITIONS)}, got {edition!r}")
    source = _check_source(source or default_source())
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"course build: {dest} exists and is not an empty directory; choose a new one")
    solutions = load_solutions(source)
    spec = (install_from or default_install_spec()).strip()
    if notebooks and (not spec or "\n" in spec):
        raise ValueError(f"course build: --install-from must be one pip requirement, got {install_from!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for script in sorted(source.glob(TUTORIAL_GLOB)):
            text = cut_answers(script.read_text(encoding="utf-8"), edition, script.name)
            if edition == "teacher":
                text = fill_in(text, solutions, script.name)
            (work / script.name).write_text(text, encoding="utf-8")
            if notebooks:
                (work / NOTEBOOK_DIR).mkdir(exist_ok=True)
                to_notebook(work / script.name, work / NOTEBOOK_DIR / (script.stem + ".ipynb"))
                add_install_cell(work / NOTEBOOK_DIR / (script.stem + ".ipynb"), spec, kernelspec)
        if notebooks:                           # Binder installs what a requirements.txt at the root names
            (work / "requirements.txt").write_text(spec + "\n", encoding="utf-8")
        if (source / "README.md").exists():
            shutil.copy2(source / "README.md", work / "README.md")
        handout = handout_text(source, sorted(source.glob(TUTORIAL_GLOB)))
        if edition == "student" and handout:             # the students' handout, not the lecturer's notes
            (work / "README.md").write_text(handout, encoding="utf-8")
        if edition == "teacher":
            shutil.copytree(source / "solutions", work / "solutions",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            leaks = _leaks(work, solutions)
            if leaks:
                where = "; ".join(f"{f}: {line}" for f, line in leaks[:5])
                raise RuntimeError(f"course build: solution code found in the student edition ({where})")
        (work / "EDITION.txt").write_text(f"numpyvae course, {edition} edition\n", encoding="utf-8")
        if dest.exists():
            dest.rmdir()
        work.rename(dest)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return sorted(p for p in dest.rglob("*") if p.is_file())
