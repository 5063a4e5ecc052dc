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
* a section longer than a slide continues on sub-slides headed "… (continued)", cut between
  paragraphs (:mod:`numpyvae.teach.slide_fit`); code wraps, figures are at most 430 px high.

A cell whose header in the script sets ``slideshow`` itself keeps it, e.g.
``# %% [markdown] slideshow={"slide_type": "skip"}`` to keep a long aside off the slides, or
``{"slide_type": "fragment"}`` to reveal a cell step by step.

Figures: the markdown links ``![…](figures/NAME.png)`` point at pictures a run of the tutorial
wrote. They are copied from ``--figures`` (default: tutorials/figures/, where a full-mode run
puts them; run the week's tutorials in full mode before building, as the syllabus says); a
missing one is reported and left as a broken link.

**A deck needs the network when it is opened**: reveal.js, MathJax, require.js and jQuery come
from nbconvert's default CDNs. Offline, a deck shows as one long page with the TeX source of every
formula and no slides. For a room without a network, install the four once with npm and point
the build at them: ``npm install --prefix DIR reveal.js@4.0.2 mathjax@2.7.7 requirejs@2.1.10
jquery@2`` then ``--assets DIR/node_modules`` (the decks then refer to those files by their
absolute ``file://`` paths, so build on the machine that shows them). ``--reveal PREFIX`` alone
points at a local reveal.js only.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from .slide_fit import IMAGE_MAX, fit_to_slides, heading_kind

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
#: added to nbconvert's page: code wraps instead of running off the slide's right edge, a figure is at
#: most IMAGE_MAX px high (slide_fit counts it so), centred, and a wide equation scrolls inside its slide
CSS = f"""<style type="text/css">
.reveal pre, .reveal pre code {{ white-space: pre-wrap; overflow-wrap: anywhere; }}
.reveal section img {{ max-height: {IMAGE_MAX}px; max-width: 100%; display: block; margin: 0 auto; }}
.reveal .MathJax_Display, .reveal .MathJax_CHTML_Display {{ overflow-x: auto; overflow-y: hidden; }}
</style>
"""
EXERCISE_MARK = "# EXERCISE:"          # an exercise cell is on the slides: its stub says what to write
FIGURE = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+)\)")


def _slide_type(cell) -> str:
    """nbconvert's slide type for one cell of a tutorial (see the module docstring)."""
    if "slideshow" in cell.metadata:
        return cell.metadata["slideshow"].get("slide_type", "-")
    if cell.cell_type == "code":
        shown = SLIDES_TAG in cell.metadata.get("tags", []) or EXERCISE_MARK in cell.source
        return "-" if shown else "skip"
    return heading_kind(cell.source)


def mark_for_slides(nb):
    """Set ``slideshow.slide_type`` on every cell of ``nb`` (in place); return nb."""
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": _slide_type(cell)}
    return nb


def _week_notebook(jupytext, nbformat, texts: list, title: str, week: int, figures=None):
    """One notebook holding a title slide and the week's tutorials, marked for slides, each slide cut to fit."""
    cells = [nbformat.v4.new_markdown_cell(f"# Week {week}\n\n## {title}",
                                           metadata={"slideshow": {"slide_type": "slide"}})]
    for text in texts:
        cells += fit_to_slides(mark_for_slides(jupytext.reads(text, fmt="py:percent")), figures).cells
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


#: what a deck loads, as nbconvert's trait -> the file in an npm node_modules folder, from
#: `npm install reveal.js@4.0.2 mathjax@2.7.7 requirejs@2.1.10 jquery@2` (nbconvert's own versions)
ASSETS = {"reveal_url_prefix": "reveal.js", "mathjax_url": "mathjax/MathJax.js",
          "require_js_url": "requirejs/require.js", "jquery_url": "jquery/dist/jquery.min.js"}
MATHJAX_CONFIG = "?config=TeX-AMS_CHTML-full,Safe"
MERMAID = re.compile(r'<script type="module">\s*import mermaid from [^<]*</script>\s*')


def _local_assets(assets) -> dict:
    """{nbconvert trait: file URL} for the scripts under ``assets`` (empty without); a missing one is an error."""
    if not assets:
        return {}
    root = Path(assets).resolve()
    missing = [f for f in ASSETS.values() if not (root / f).exists()]
    if missing:
        raise FileNotFoundError(f"course slides: --assets {assets} lacks {', '.join(missing)} (npm install "
                                f"--prefix DIR reveal.js@4.0.2 mathjax@2.7.7 requirejs@2.1.10 jquery@2, then "
                                f"--assets DIR/node_modules)")
    urls = {trait: (root / f).as_uri() for trait, f in ASSETS.items()}
    urls["mathjax_url"] += MATHJAX_CONFIG
    return urls


def _imports():
    try:
        import jupytext
        import nbformat
        from nbconvert import SlidesExporter
    except ImportError:
        raise RuntimeError("slides need nbconvert and jupytext: pip install 'numpyvae[course]'") from None
    return jupytext, nbformat, SlidesExporter


def build_slides(dest, *, source=None, edition: str = "student", figures=None, weeks=None, reveal=None,
                 assets=None, progress=print) -> list:
    """Write DIR/week-N.html for each week (all six, or ``weeks``); return the decks' paths.

    dest : a new or empty directory           source : the tutorial sources (default: tutorials/)
    edition : "student" (answers cut to questions) or "teacher" (answers and solutions in place)
    figures : where the tutorials' pictures are (default: SOURCE/figures)
    reveal : where reveal.js is (URL prefix or a path relative to the decks; default: nbconvert's CDN)
    assets : a node_modules folder holding the scripts a deck loads (ASSETS below), for a room
             without a network: then the decks load nothing from outside (default: the CDNs)
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
    exporter.reveal_scroll = True                     # a slide still too long (one tall block) scrolls
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True     # no "In [ ]:" on a slide
    exporter.anchor_link_text = ""                    # nor a pilcrow after each title
    if reveal:
        exporter.reveal_url_prefix = reveal
    for trait, url in _local_assets(assets).items():
        setattr(exporter, trait, url)
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
        html, _ = exporter.from_notebook_node(_week_notebook(jupytext, nbformat, texts, title, week, figures),
                                              resources={"metadata": {"name": f"Week {week} · {title}"}})
        html = html.replace("</head>", CSS + "</head>", 1)
        if assets:                                    # no tutorial draws a mermaid diagram: load nothing for one
            html = MERMAID.sub("", html)
        path = dest / f"week-{week}.html"
        path.write_text(html, encoding="utf-8")
        decks.append(path)
    if missing and progress:
        progress(f"course slides: {len(missing)} figure(s) not found in {figures} (run those tutorials first): "
                 + ", ".join(sorted(missing)[:6]) + (" …" if len(missing) > 6 else ""))
    return decks
