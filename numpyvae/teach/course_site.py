"""The course site: every tutorial executed as a notebook and rendered with mkdocs-jupyter.

    python -m numpyvae course site DIR [--fast] [--edition student|teacher] [--only 02,10]

The editions' text comes from course.py (answers cut or kept, exercises filled in); the README and
tutorials/reference/ join as pages (site_pages.py); math is rendered by a local MathJax
(the ``course`` extra: jupyter-server-mathjax), so the site works offline.
"""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .course import EDITIONS, TUTORIAL_GLOB, _check_source, _jupytext, cut_answers, default_source, fill_in, \
    load_solutions
from .handout import handout_text, tutorial_title as _title
from .site_pages import add_reference_pages, reference_links

__all__ = ["build_site", "execute_notebook", "notebook_errors"]

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
