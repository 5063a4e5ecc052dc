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
                           "--figures", str(figures)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=env_path))
    assert proc.returncode == 0, proc.stderr
    return root / "out", proc.stdout


def test_a_deck_per_week_with_a_slide_per_heading(decks):
    out, stdout = decks
    assert sorted(p.name for p in out.glob("*.html")) == [f"week-{w}.html" for w in sorted(WEEKS)]
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


# ---- every deck has the slides its tutorials' headings promise, each fitting its slide ----------------------

def _slide_titles(html):
    """The title (first heading's text) of every slide of a deck, in order; "" for a slide without one."""
    titles = []
    for inner in re.findall(r"<section[^>]*>((?:(?!<section).)*?)</section>", html, flags=re.S):
        heading = re.search(r"<h([1-4])[^>]*>(.*?)</h\1>", inner, flags=re.S)
        titles.append(" ".join(unescape(re.sub(r"<[^>]+>", "", heading[2])).split()) if heading else "")
    return titles


def _headings(script):
    """The # / ## / ### headings of a tutorial's markdown, as the student deck renders their text."""
    from numpyvae.teach.course import cut_answers
    text = cut_answers(script.read_text(), "student", script.name)
    return [" ".join(re.sub(r"[`*]", "", h).split()) for h in re.findall(r"^# #{1,3} (.+)$", text, flags=re.M)]


@pytest.mark.parametrize("week", sorted(WEEKS))
def test_each_heading_of_the_weeks_tutorials_is_a_slide_title_in_order(decks, week):
    """Issue 26: a heading in the middle of a markdown cell (14's "Fitting q with each bound") was buried in
    the slide before it; every heading now opens a slide of its own, and the slides keep the tutorials' order."""
    out, _ = decks
    titles = _slide_titles((out / f"week-{week}.html").read_text())
    expected = [h for n in WEEKS[week][1] for h in _headings(next(TUTORIALS.glob(f"{n}_*.py")))]
    assert titles[0] == f"Week {week}"
    got = [t for t in titles if t and not t.endswith("(continued)")][1:]    # the week's title slide first
    assert [t for t in got if not t.startswith("Week ")] == expected


def test_long_sections_continue_on_slides_that_fit(decks):
    """A section longer than a slide continues on sub-slides headed "(continued)"; by slide_fit's estimate no
    slide of the decks passes the budget unless it holds one block that alone does (a tall figure or code)."""
    import jupytext
    import nbformat
    from numpyvae.teach import slide_fit, slides
    from numpyvae.teach.course import cut_answers
    out, _ = decks
    assert "(continued)" in " ".join(_slide_titles((out / "week-4.html").read_text()))
    for week, (title, numbers) in WEEKS.items():
        texts = [cut_answers(p.read_text(), "student", p.name) for n in numbers for p in TUTORIALS.glob(f"{n}_*.py")]
        nb = slides._week_notebook(jupytext, nbformat, texts, title, week)
        pages = []
        for cell in nb.cells:
            kind = cell.metadata["slideshow"]["slide_type"]
            if kind == "skip":
                continue
            h = (slide_fit.block_height(cell.source) if cell.cell_type == "markdown"
                 else slide_fit.code_height(cell.source))
            if kind in ("slide", "subslide") or not pages:
                pages.append([h])
            else:
                pages[-1].append(h)
        too_tall = [p for p in pages if sum(p) > slide_fit.BUDGET and len(p) > 2]    # heading + one tall block
        assert not too_tall, (week, too_tall[:3])


def test_split_blocks_keeps_equations_and_indented_lines_whole():
    from numpyvae.teach.slide_fit import split_blocks
    text = "para one\n\n$$a\n\nb$$\n\n1. item\n\n   $$c$$\n\n   more of the item\n\n## Next"
    assert split_blocks(text) == ["para one", "$$a\n\nb$$", "1. item\n\n   $$c$$\n\n   more of the item", "## Next"]


def test_code_wraps_no_prompts_and_the_title_names_the_week(decks):
    out, _ = decks
    html = (out / "week-2.html").read_text()
    assert "white-space: pre-wrap" in html and "In&nbsp;[" not in html and "In [ ]" not in html
    assert re.search(r"<title>Week 2 · The ELBO, reparameterization, likelihoods", html)
    assert "¶</a>" not in html


def test_with_assets_a_deck_loads_nothing_from_the_network(tmp_path):
    """Offline a deck from the CDNs shows one long page of TeX source; --assets points it at local copies."""
    _need_nbconvert()
    from numpyvae.teach.slides import ASSETS
    assets = tmp_path / "node_modules"
    for trait, name in ASSETS.items():
        if trait == "reveal_url_prefix":                  # a folder: the decks load its dist/ and plugin/ files
            (assets / name / "dist").mkdir(parents=True)
        else:
            (assets / name).parent.mkdir(parents=True, exist_ok=True)
            (assets / name).write_text("")
    env = dict(os.environ, PYTHONPATH=str(TUTORIALS.parent))
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "slides", str(tmp_path / "d"), "--week", "1",
                           "--assets", str(assets)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "d" / "week-1.html").read_text()
    remote = re.findall(r"""(?:src|href)=["'](https?://[^"']+)|import \w+ from ["'](https?://[^"']+)""", html)
    assert remote == [] and "unpkg.com" not in html and "cdnjs" not in html, remote
    assert f'src="{(assets / "mathjax" / "MathJax.js").as_uri()}?config=' in html
    (assets / "jquery" / "dist" / "jquery.min.js").unlink()
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "slides", str(tmp_path / "e"), "--week", "1",
                           "--assets", str(assets)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.startswith("numpyvae: error: course slides: --assets"), proc.stderr
    assert "jquery/dist/jquery.min.js" in proc.stderr
