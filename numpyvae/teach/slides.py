"""Slides for each week of the syllabus, built from the tutorials: reveal.js through nbconvert.

    python -m numpyvae course slides DIR [--edition student|teacher] [--figures tutorials/figures] [--week 3]

writes DIR/week-1.html … DIR/week-6.html (one deck per week of tutorials/SYLLABUS.md) and
DIR/figures/ (the pictures the decks show). The tutorial scripts are the source; nothing is run.

Which cells become slides, and how (nbconvert's ``slideshow.slide_type``):

* a markdown cell that opens with a heading (``# …`` or ``## …``) starts a new **slide**;
  a ``### …`` heading a **sub-slide** (reveal.js: down, not across);
* every other markdown cell continues the slide it follows (``-``), the answer blocks cut to
  their questions in the student edition, as in the notebooks;
* code cells are left out, except the exercise cells (``# EXERCISE: name``: the stub, or in the
  teacher edition the solution) and those tagged ``slides`` in the script
  (``# %% tags=["slides"]``), shown as code on the slide they follow.

A cell whose header in the script sets ``slideshow`` itself keeps it, e.g.
``# %% [markdown] slideshow={"slide_type": "skip"}`` to keep a long aside off the slides, or
``{"slide_type": "fragment"}`` to reveal a cell step by step.

Figures: the markdown links ``![…](figures/NAME.png)`` point at pictures a run of the tutorial
wrote. They are copied from ``--figures`` (default: tutorials/figures/, where a full-mode run
puts them; run the week's tutorials in full mode before building, as the syllabus says); a
missing one is reported and left as a broken link. reveal.js and MathJax are loaded from
nbconvert's default CDNs when a deck is opened (``--reveal PREFIX`` points at a local reveal.js
copy for a room without a network).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

__all__ = ["WEEKS", "mark_for_slides", "build_slides"]

# the syllabus's weeks (tutorials/SYLLABUS.md; tests/test_slides.py checks the two agree)
WEEKS = {
    1: ("Latent variables and gradients by hand", ("01", "02")),
    2: ("The ELBO, reparameterization, likelihoods", ("03", "04", "05")),
    3: ("Training a VAE, and what it adds to an autoencoder", ("06", "07", "18")),
    4: ("Bounds and how to measure a model", ("08", "09", "14", "16")),
    5: ("Richer posteriors, discrete and conditional latents", ("10", "19", "11", "12")),
    6: ("Priors, convolution, the capstone", ("13", "15", "17")),
}
SLIDES_TAG = "slides"
EXERCISE_MARK = "# EXERCISE:"          # an exercise cell is on the slides: its stub says what to write
FIGURE = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+)\)")


def _slide_type(cell) -> str:
    """nbconvert's slide type for one cell of a tutorial (see the module docstring)."""
    if "slideshow" in cell.metadata:
        return cell.metadata["slideshow"].get("slide_type", "-")
    if cell.cell_type == "code":
        shown = SLIDES_TAG in cell.metadata.get("tags", []) or EXERCISE_MARK in cell.source
        return "-" if shown else "skip"
    first = cell.source.lstrip().split("\n", 1)[0]
    if first.startswith("### "):
        return "subslide"
    if first.startswith("# ") or first.startswith("## "):
        return "slide"
    return "-"


def mark_for_slides(nb):
    """Set ``slideshow.slide_type`` on every cell of ``nb`` (in place); return nb."""
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": _slide_type(cell)}
    return nb


def _week_notebook(jupytext, nbformat, texts: list, title: str, week: int):
    """One notebook holding a title slide and the week's tutorials, marked for slides."""
    cells = [nbformat.v4.new_markdown_cell(f"# Week {week}\n\n## {title}",
                                           metadata={"slideshow": {"slide_type": "slide"}})]
    for text in texts:
        cells += mark_for_slides(jupytext.reads(text, fmt="py:percent")).cells
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _imports():
    try:
        import jupytext
        import nbformat
        from nbconvert import SlidesExporter
    except ImportError:
        raise RuntimeError("slides need nbconvert and jupytext: pip install 'numpyvae[course]'") from None
    return jupytext, nbformat, SlidesExporter


def build_slides(dest, *, source=None, edition: str = "student", figures=None, weeks=None, reveal=None,
                 progress=print) -> list:
    """Write DIR/week-N.html for each week (all six, or ``weeks``); return the decks' paths.

    dest : a new or empty directory           source : the tutorial sources (default: tutorials/)
    edition : "student" (answers cut to questions) or "teacher" (answers and solutions in place)
    figures : where the tutorials' pictures are (default: SOURCE/figures)
    reveal : where reveal.js is (URL prefix or a path relative to the decks; default: nbconvert's CDN)
    """
    from .course import EDITIONS, TUTORIAL_GLOB, _check_source, cut_answers, default_source, fill_in, load_solutions
    if edition not in EDITIONS:
        raise ValueError(f"course slides: --edition must be one of {', '.join(EDITIONS)}, got {edition!r}")
    weeks = sorted(WEEKS) if not weeks else [int(w) for w in weeks]
    unknown = [w for w in weeks if w not in WEEKS]
    if unknown:
        raise ValueError(f"course slides: no week {unknown[0]}; the weeks are 1-{max(WEEKS)}")
    jupytext, nbformat, SlidesExporter = _imports()
    source = _check_source(source or default_source())
    figures = Path(figures) if figures else source / "figures"
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"course slides: {dest} exists and is not an empty directory; choose a new one")
    scripts = {p.name[:2]: p for p in sorted(source.glob(TUTORIAL_GLOB))}
    solutions = load_solutions(source) if edition == "teacher" else {}
    exporter = SlidesExporter()
    exporter.reveal_scroll = True                     # a long derivation scrolls instead of overflowing
    if reveal:
        exporter.reveal_url_prefix = reveal
    dest.mkdir(parents=True, exist_ok=True)
    decks, missing = [], set()
    for week in weeks:
        title, numbers = WEEKS[week]
        texts = []
        for n in numbers:
            if n not in scripts:
                raise FileNotFoundError(f"course slides: week {week} needs tutorial {n}, not in {source}")
            text = cut_answers(scripts[n].read_text(encoding="utf-8"), edition, scripts[n].name)
            texts.append(fill_in(text, solutions, scripts[n].name) if edition == "teacher" else text)
        for link in sorted({m for t in texts for m in FIGURE.findall(t)}):
            found = figures / Path(link).name
            if found.exists():
                (dest / "figures").mkdir(exist_ok=True)
                shutil.copy2(found, dest / "figures" / found.name)
            else:
                missing.add(link)
        html, _ = exporter.from_notebook_node(_week_notebook(jupytext, nbformat, texts, title, week))
        path = dest / f"week-{week}.html"
        path.write_text(html, encoding="utf-8")
        decks.append(path)
    if missing and progress:
        progress(f"course slides: {len(missing)} figure(s) not found in {figures} (run those tutorials first): "
                 + ", ".join(sorted(missing)[:6]) + (" …" if len(missing) > 6 else ""))
    return decks
