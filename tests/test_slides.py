"""`course slides`: one reveal.js deck per week of the syllabus, built from the tutorials with nbconvert.

The build tests need nbconvert and jupytext (the `course` extra) and skip without them; the check that
the decks' weeks are the syllabus's weeks needs neither.
"""
import os
import re
from html import unescape
import subprocess
import sys
from pathlib import Path

import pytest

from numpyvae.teach.slides import WEEKS

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def _syllabus_weeks():
    """{week: [tutorial numbers]} read from the session tables of tutorials/SYLLABUS.md."""
    weeks, week = {}, None
    for line in (TUTORIALS / "SYLLABUS.md").read_text().splitlines():
        m = re.match(r"## Week (\d+)", line)
        if m:
            week = int(m[1])
            weeks[week] = []
        elif week and re.match(r"\| \d+ \|", line):
            tutorials = line.split("|")[2]
            weeks[week] += re.findall(r"(?:^|,)\s*(\d\d) ", tutorials)
    return weeks


def test_the_decks_weeks_are_the_syllabus_weeks():
    assert {w: list(numbers) for w, (_, numbers) in WEEKS.items()} == _syllabus_weeks()
    every = sorted(n for _, numbers in WEEKS.values() for n in numbers)
    on_disk = sorted(p.name[:2] for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
    assert every == on_disk, "every tutorial is taught in exactly one week"


def _need_nbconvert():
    for module in ("nbconvert", "jupytext", "nbformat"):
        pytest.importorskip(module, reason=f"slides need {module} (pip install -e '.[course]')")


def test_slide_types_follow_the_headings_and_the_marks():
    _need_nbconvert()
    import jupytext
    from numpyvae.teach.slides import mark_for_slides
    nb = mark_for_slides(jupytext.reads(
        "# %% [markdown]\n# # Title\n\n# %% [markdown]\n# more text\n\n# %%\nx = 1\n\n"
        "# %% tags=[\"slides\"]\ny = 2\n\n# %% [markdown]\n# ### A sub-slide\n\n"
        "# %% [markdown] slideshow={\"slide_type\": \"skip\"}\n# ## an aside\n\n"
        "# %%\n# EXERCISE: f\ndef f(x):\n    raise NotImplementedError\n", fmt="py:percent"))
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == ["slide", "-", "skip", "-", "subslide", "skip",
                                                                         "-"]


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    _need_nbconvert()
    root = tmp_path_factory.mktemp("slides")
    figures = root / "figs"
    figures.mkdir()
    (figures / "02_step_size.png").write_bytes(b"\x89PNG fake")          # one picture a full run would have made
    env_path = str(TUTORIALS.parent)
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "slides", str(root / "out"),
                           "--week", "1", "--week", "2", "--figures", str(figures)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=env_path))
    assert proc.returncode == 0, proc.stderr
    return root / "out", proc.stdout


def test_a_deck_per_week_with_a_slide_per_heading(decks):
    out, stdout = decks
    assert sorted(p.name for p in out.glob("*.html")) == ["week-1.html", "week-2.html"]
    html = (out / "week-1.html").read_text()
    sources = [p.read_text() for p in sorted(TUTORIALS.glob("0[12]_*.py"))]
    headings = sum(len(re.findall(r"^# # |^# ## ", s, flags=re.M)) for s in sources)
    # nbconvert writes each slide as a <section> inside an outer <section>; +1 for the week's title slide
    assert html.count("<section") - html.count("<section>\n<section") >= headings + 1
    assert "Week 1" in html and "Latent variables and gradients by hand" in html
    assert "reveal" in html.lower()


def test_code_is_left_out_and_answers_are_cut_in_the_student_deck(decks):
    out, _ = decks
    html = (out / "week-2.html").read_text()
    text = unescape(re.sub(r"<[^>]+>", "", html))            # highlighted code is split into spans
    assert "from numpyvae.teach.tutorial_support import" not in text and "from scipy import integrate" not in text
    assert "def kl_backward(mu, logvar):" in text and "NotImplementedError" in text, "the stub is on its slide"
    assert "<strong>Question.</strong>" in html, "the student edition's questions are on the slides"
    answer = re.search(r"<!-- answer:.*?-->\n(.*?)# <!-- /answer -->",
                       (TUTORIALS / "03_the_elbo.py").read_text(), flags=re.S)[1]
    first = answer.strip().splitlines()[0].lstrip("# ").strip()
    assert first[:30] not in html, "an answer leaked onto the student slides"


def test_figures_are_copied_and_missing_ones_reported(decks):
    out, stdout = decks
    assert (out / "figures" / "02_step_size.png").read_bytes() == b"\x89PNG fake"
    assert 'src="figures/02_step_size.png"' in (out / "week-1.html").read_text()
    assert "not found" in stdout and "figures/03_" in stdout


def test_a_week_that_does_not_exist_is_a_one_line_error(tmp_path):
    _need_nbconvert()
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "slides", str(tmp_path / "d"), "--week", "9"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(TUTORIALS.parent)))
    assert proc.returncode == 2 and proc.stderr.startswith("numpyvae: error: course slides: no week 9"), proc.stderr
