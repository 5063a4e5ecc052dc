"""The README leads with what a new user needs and links to the reference pages (tutorials/reference/),
which the course site renders from the same files: every link resolves on GitHub (the repository's
files) and on the site (the copies under the site's docs), and no reference page is left out."""
from pathlib import Path

import pytest

from numpyvae.teach import site_pages

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
REFERENCE = TUTORIALS / site_pages.REFERENCE
README_BUDGET = 300          # lines: the README is the first page, the rest is a link away
PAGES = sorted(REFERENCE.glob("*.md"))


def test_the_readme_stays_within_its_line_budget():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_BUDGET, f"README.md has {lines} lines; move the detail to a page in {REFERENCE}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file_of_the_repository(page):
    links = site_pages.relative_links(page.read_text(encoding="utf-8"))
    assert links or page.name not in ("README.md", site_pages.CONTENTS), f"{page} links nowhere"
    assert site_pages.broken_links(page, ROOT) == []


def test_every_reference_page_is_on_the_contents_page_and_linked_from_the_readme():
    pages = site_pages.reference_pages(TUTORIALS)
    assert pages[0].name == site_pages.CONTENTS and sorted(pages) == PAGES and len(PAGES) >= 15
    readme_links = set(site_pages.relative_links((ROOT / "README.md").read_text(encoding="utf-8")))
    missing = [p.name for p in PAGES if p.relative_to(ROOT).as_posix() not in readme_links]
    assert not missing, f"README.md does not link {missing}"


def test_each_reference_page_has_its_title_and_no_cross_page_anchor():
    """Anchors are not used across files: GitHub and the site's markdown slug headings differently."""
    for page in PAGES:
        assert page.read_text(encoding="utf-8").startswith("# "), page.name
        assert not [t for t in site_pages.relative_links(page.read_text(encoding="utf-8")) if "#" in t], page.name
    assert not [t for t in site_pages.relative_links((ROOT / "README.md").read_text(encoding="utf-8")) if "#" in t]


def test_the_site_gets_the_readme_and_every_reference_page_with_working_links(tmp_path):
    nav = site_pages.add_reference_pages(tmp_path, TUTORIALS)
    assert nav[0] == {"About numpyvae (README)": site_pages.PROJECT_PAGE}
    assert (tmp_path / site_pages.PROJECT_PAGE).read_text() == (ROOT / "README.md").read_text()
    listed = [path for entry in nav[1]["Reference"] for path in entry.values()]
    assert listed == [f"tutorials/reference/{p.name}" for p in site_pages.reference_pages(TUTORIALS)]
    for page in PAGES:
        assert (tmp_path / "tutorials" / "reference" / page.name).read_text() == page.read_text(), page.name
    for copy in tmp_path.rglob("*.md"):
        assert site_pages.broken_links(copy, tmp_path) == [], copy


def test_a_broken_link_or_an_unlisted_page_stops_the_site(tmp_path):
    source = tmp_path / "tutorials"
    (source / "reference").mkdir(parents=True)
    (source / "reference" / "README.md").write_text("# Reference\n\n1. [A](a.md)\n")
    (source / "reference" / "a.md").write_text("# A\n\nSee [B](b.md), not `[C](c.md)`:\n\n```\n[D](d.md)\n```\n")
    (tmp_path / "README.md").write_text("# p\n\n[A](tutorials/reference/a.md), [web](https://example.org)\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    assert site_pages.relative_links((source / "reference" / "a.md").read_text()) == ["b.md"]
    with pytest.raises(RuntimeError, match=r"tutorials/reference/a.md: b.md"):
        site_pages.add_reference_pages(docs, source)
    (source / "reference" / "b.md").write_text("# B\n")
    with pytest.raises(ValueError, match="does not list b.md"):
        site_pages.reference_pages(source)
    (source / "reference" / "README.md").write_text("# Reference\n\n1. [A](a.md)\n1. [B](b.md)\n1. [C](c.md)\n")
    with pytest.raises(ValueError, match="links pages that do not exist: c.md"):
        site_pages.reference_pages(source)
