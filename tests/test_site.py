"""The course site in a real browser: every page has its figures, rendered math, no error output.

Skipped unless headless Chromium (Debian's `chromium`) and the `course` extra (mkdocs-jupyter,
jupytext, nbclient/ipykernel, jupyter-server-mathjax) are installed. To keep the suite fast it
builds a two-tutorial site (02 with a figure, 10 without) in fast mode; to check a whole site
built with `python -m numpyvae course site DIR`, set NUMPYVAE_SITE_DIR=DIR.
"""
import html
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [m for m in ("mkdocs_jupyter", "jupytext", "nbclient", "ipykernel", "jupyter_server_mathjax")
           if importlib.util.find_spec(m) is None]

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed"),
              pytest.mark.skipif(bool(MISSING), reason=f"the course extra is not installed ({', '.join(MISSING)})")]


def _chromium(*args, timeout=90):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=20000", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    given = os.environ.get("NUMPYVAE_SITE_DIR")
    if given:
        return Path(given)
    from numpyvae.teach import course_site
    dest = tmp_path_factory.mktemp("site") / "site"
    errors = course_site.build_site(dest, source=TUTORIALS, fast=True, only=["02", "10"], progress=None)
    assert errors == []
    return dest


def _pages(site):
    return sorted(p for p in site.glob("[0-9][0-9]_*.html"))


def test_contents_page_links_every_tutorial_page(site):
    index = (site / "index.html").read_text()
    pages = _pages(site)
    assert pages
    for page in pages:
        assert f'href="{page.name}"' in index


def test_each_page_in_chromium_has_its_figures_math_and_no_errors(site):
    for page in _pages(site):
        proc = _chromium("--dump-dom", page.as_uri())
        dom = proc.stdout
        assert "</html>" in dom, f"{page.name}: chromium gave no page ({proc.stderr[-500:]})"
        script = TUTORIALS / (page.stem + ".py")
        figures = script.read_text().count("savefig(") if script.exists() else 0
        inline = len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom))
        assert inline >= figures, f"{page.name}: {inline} inline figure(s), the tutorial draws {figures}"
        assert "Traceback (most recent call last)" not in html.unescape(dom), f"{page.name} shows a traceback"
        assert 'data-mime-type="application/vnd.jupyter.error"' not in dom
        assert len(re.findall(r'class="MathJax"', dom)) > 0, f"{page.name}: no math was rendered"
        assert 'class="MathJax_Error"' not in dom and "[Math Processing Error]" not in dom, f"{page.name}: a formula failed"


def test_the_contents_page_is_the_students_handout(site):
    """A student-edition site opens on the handout (tutorials/HANDOUT.md), not the lecturer's notes."""
    index = html.unescape((site / "index.html").read_text())
    assert "Handing in" in index and "FAIL" in index
    for lecturer_only in ("load average", "solutions/solutions.py", "python -m numpyvae grade", "course site"):
        assert lecturer_only not in index, f"the students' contents page shows {lecturer_only!r}"


WRAP_CHECK = """<script>window.addEventListener("load", function () { setTimeout(function () {
  var over = [];
  document.querySelectorAll("pre").forEach(function (p) {
    if (p.scrollWidth > p.clientWidth + 1) over.push(p.textContent.slice(0, 60)); });
  var d = document.createElement("div"); d.id = "wrapcheck";
  d.textContent = JSON.stringify({n: document.querySelectorAll("pre").length, over: over});
  document.body.appendChild(d); }, 500); });</script>"""


def test_code_lines_wrap_instead_of_running_off_the_right_edge(site):
    """In a 1000-px-wide window no code block (cell, output) is wider than its box: long lines wrap."""
    import json
    for page in _pages(site):
        probe = page.with_name("_wrapcheck_" + page.name)       # next to the page, for its relative assets
        probe.write_text(page.read_text().replace("</body>", WRAP_CHECK + "</body>"))
        try:
            dom = _chromium("--window-size=1000,900", "--dump-dom", probe.as_uri()).stdout
        finally:
            probe.unlink()
        found = re.search(r'<div id="wrapcheck">([^<]*)</div>', dom)
        assert found, f"{page.name}: the check did not run"
        result = json.loads(html.unescape(found[1]))
        assert result["n"] > 0 and result["over"] == [], f"{page.name}: code runs off the page: {result['over']}"


def test_the_site_renders_the_readme_and_every_reference_page_with_working_links(site):
    """The README (project.html) and every page of tutorials/reference/ are on the site, the contents page
    links both, and every relative link on them resolves there (mkdocs turns x.md into x.html)."""
    from numpyvae.teach import site_pages
    reference = site / "tutorials" / site_pages.REFERENCE
    for page in site_pages.reference_pages(TUTORIALS):
        name = "index.html" if page.name == site_pages.CONTENTS else page.stem + ".html"
        assert (reference / name).exists(), f"the site has no page for {page.name}"
    index = (site / "index.html").read_text()
    assert 'href="project.html"' in index and 'href="tutorials/reference/index.html"' in index
    for page in [site / "project.html", *sorted(reference.glob("*.html"))]:
        hrefs = re.findall(r'href="([^"#:]+)(?:#[^"]*)?"', page.read_text())
        assert [h for h in hrefs if h.endswith(".md")] == [], f"{page.name}: links mkdocs could not resolve"
        missing = [h for h in hrefs if not (page.parent / html.unescape(h)).exists()]
        assert not missing, f"{page.relative_to(site)}: {missing}"
