"""Build the student or the teacher edition of the course from the tutorial sources.

    python -m numpyvae course build DIR --edition student|teacher [--notebooks] [--install-from SPEC] [--source tutorials]
    python -m numpyvae course lite DIR [--edition student|teacher]   # the browser edition (JupyterLite), see lite.py
    python -m numpyvae course sync   [--source tutorials]     # write tutorials/notebooks/*.ipynb (jupytext)
    python -m numpyvae course check  [--source tutorials]     # exit 1 if those notebooks are out of date
    python -m numpyvae course site DIR [--fast] [--edition student|teacher]   # executed tutorials as a website,
                                                   # with the README and tutorials/reference/ (site_pages.py)
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
import sys
import tempfile
import time
from pathlib import Path

from .install_cell import add_install_cell, default_install_spec
from .handout import handout_text, tutorial_title as _title
from .site_pages import add_reference_pages, reference_links

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



# ----------------------------------------------------------------------------- the course site

FIGURE_LINK = re.compile(r"^#\s*!\[[^\]]*\]\(figures/[^)]*\)\s*$")
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"    # the configs jupyter-server-mathjax ships
# MathJax 2 reads window.MathJax as its configuration: the local copy has the STIX-Web fonts only
MATHJAX_HEAD = """{% extends "base.html" %}
{% block extrahead %}
<script>window.MathJax = {"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
  webFont: "STIX-Web", imageFont: null}, tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
  processEscapes: true}};</script>
{% endblock %}
"""
# Markdown pages (the contents page) load MathJax themselves; notebook pages already have it
MATHJAX_LOADER = """if (!window.MathJax || !window.MathJax.Hub) {
  var s = document.createElement("script");
  s.src = "mathjax/MathJax.js?config=%s";
  document.head.appendChild(s);
}
"""


# long code lines wrap instead of running off the page's right edge (cells, outputs, markdown code blocks)
WRAP_CSS = """.jupyter-wrapper pre, .highlight-ipynb pre, .md-typeset pre > code {
  white-space: pre-wrap !important; overflow-wrap: anywhere; }
"""


def _mathjax_dir() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError("the course site renders math with a local MathJax: "
                           "pip install 'numpyvae[course]' (jupyter-server-mathjax)") from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def execute_notebook(script_text: str, run_dir: Path, env: dict, timeout: int = 3600):
    """Run one tutorial as a notebook in run_dir (a Jupyter kernel, figures inline); return the notebook.

    Errors do not stop the run: they stay in the outputs, and the caller reports them.
    """
    jupytext = _jupytext()
    from nbclient import NotebookClient
    # the figure is inline right above: drop the script's image links to figures/*.png
    text = "".join(line for line in script_text.splitlines(keepends=True) if not FIGURE_LINK.match(line))
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    import os
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(run_dir)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def notebook_errors(nb) -> list:
    """'cell N: Ename: value' for every error output of an executed notebook."""
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def build_site(dest, *, source=None, edition: str = "student", fast: bool = False, only=None,
               progress=print) -> list:
    """Execute every tutorial as a notebook and render the course site into ``dest`` (mkdocs-jupyter).

    Returns the list of execution errors (empty when every cell ran). ``only``: tutorial
    numbers ("02", "10") to include, for a quick build.
    """
    if edition not in EDITIONS:
        raise ValueError(f"course site: --edition must be one of {', '.join(EDITIONS)}, got {edition!r}")
    import json
    import os
    import subprocess
    source = _check_source(source or default_source())
    scripts = [p for p in sorted(source.glob(TUTORIAL_GLOB)) if not only or p.name[:2] in only]
    if not scripts:
        raise ValueError(f"course site: no tutorial numbered {', '.join(only)} in {source}")
    solutions = load_solutions(source) if edition == "teacher" else {}
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    errors = []
    with tempfile.TemporaryDirectory(prefix="numpyvae-site-") as tmp:
        tmp = Path(tmp)
        docs, run = tmp / "docs", tmp / "run"
        docs.mkdir()
        run.mkdir()
        shutil.copytree(_mathjax_dir(), docs / "mathjax")
        reference_nav = add_reference_pages(docs, source)   # checked before the tutorials run: it is quick
        reference = f"\n\n## Reference\n\n{reference_links(reference_nav)}\n" if reference_nav else ""
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "NUMPYVAE_FAST")}
        env.update(PYTHONPATH=os.pathsep.join([package_root, env.get("PYTHONPATH", "")]),
                   NUMPYVAE_FIGURES=str(run / "figures"))
        if fast:
            env["NUMPYVAE_FAST"] = "1"
        nav = []
        texts = {}
        for script in sorted(source.glob(TUTORIAL_GLOB)):
            text = cut_answers(script.read_text(encoding="utf-8"), edition, script.name)
            texts[script.name] = fill_in(text, solutions, script.name) if edition == "teacher" else text
            # the edition's scripts sit in the run directory: the capstone (17) reads the pieces from them
            (run / script.name).write_text(texts[script.name], encoding="utf-8")
        for script in scripts:
            start = time.perf_counter()
            text = texts[script.name]
            nb = execute_notebook(text, run, env)
            errs = notebook_errors(nb)
            errors += [f"{script.name} {e}" for e in errs]
            (docs / (script.stem + ".ipynb")).write_text(json.dumps(nb, indent=1), encoding="utf-8")
            nav.append({_title(script): script.stem + ".ipynb"})
            if progress:
                progress(f"  ran {script.name} in {time.perf_counter() - start:.0f} s"
                         + (f", {len(errs)} error(s)" if errs else ""))
        contents = "\n".join(f"{i + 1}. [{title}]({page})" for i, item in enumerate(nav)
                              for title, page in item.items())
        readme = (source / "README.md").read_text(encoding="utf-8") if (source / "README.md").exists() else ""
        mode = "fast mode (NUMPYVAE_FAST=1: small data, rough pictures)" if fast else "full mode"
        intro = ("# numpyvae: a course on variational autoencoders\n\n"
                 f"Every page below is a tutorial, executed in {mode}")
        handout = handout_text(source, scripts, link=lambda s: s.stem + ".ipynb") if edition == "student" else None
        (docs / "index.md").write_text(   # students get their handout (its list is the contents), teachers the notes
            (f"{intro}.\n\n" + handout.split("\n", 1)[1] if handout else
             f"{intro}, {edition} edition.\n\n## Contents\n\n{contents}\n\n---\n\n"
             + readme.replace("# Tutorials", "## About the tutorials", 1)) + reference, encoding="utf-8")
        (docs / "wrap.css").write_text(WRAP_CSS, encoding="utf-8")
        mathjax = f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"
        (tmp / "overrides").mkdir()
        (tmp / "overrides" / "main.html").write_text(MATHJAX_HEAD, encoding="utf-8")
        (docs / "mathjax-loader.js").write_text(MATHJAX_LOADER % MATHJAX_CONFIG, encoding="utf-8")
        config = {
            "site_name": "numpyvae course", "docs_dir": str(docs), "site_dir": str(Path(dest).resolve()),
            "use_directory_urls": False,
            "theme": {"name": "material", "font": False, "custom_dir": str(tmp / "overrides")},
            "nav": [{"Contents": "index.md"}] + nav + reference_nav,
            "markdown_extensions": ["tables", "pymdownx.arithmatex"],
            "extra_javascript": ["mathjax-loader.js"],
            "extra_css": ["wrap.css"],
            "plugins": [{"mkdocs-jupyter": {"execute": False, "include_source": False, "cache": False,
                                            "custom_mathjax_url": mathjax}}],
        }
        (tmp / "mkdocs.yml").write_text(json.dumps(config, indent=1), encoding="utf-8")   # JSON is YAML
        proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(tmp / "mkdocs.yml")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"course site: mkdocs failed:\n{proc.stderr[-2000:]}")
    return errors
