"""The course site's markdown pages beside the tutorials: the project README and the reference pages.

The project's README.md keeps what a new user needs and links to ``tutorials/reference/``: one
markdown page per topic (results tables, speed, guarantees, ...), whose ``README.md`` is the contents
page listing the others. GitHub shows these files as they are; the course site renders the same files,
copied where the same relative links resolve:

    docs/project.md                      the project README (docs/index.md is the course's contents)
    docs/tutorials/reference/*.md        the reference pages; README.md becomes that folder's index

so nothing is written twice, and a link that works on GitHub works on the site. The copies' links are
checked against what the site holds; a broken one stops the build.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

__all__ = ["REFERENCE", "CONTENTS", "PROJECT_PAGE", "relative_links", "page_title", "reference_pages",
           "broken_links", "add_reference_pages", "reference_links"]

REFERENCE = "reference"           # the folder of reference pages inside the tutorials' source
CONTENTS = "README.md"            # its contents page (GitHub shows it under the folder's listing)
PROJECT_PAGE = "project.md"       # the project README's name on the site
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).*?\1", re.S)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(text: str) -> list:
    """The targets of the markdown links in ``text`` that point into the repository: outside code
    (fenced blocks, code spans), neither a URL (``scheme:``) nor an anchor on the same page (``#...``).
    A target keeps its ``#fragment``, if any."""
    prose = CODE_SPAN.sub("", FENCE.sub("", text))
    return [t for t in LINK.findall(prose) if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", t) and not t.startswith("#")]


def page_title(path: Path) -> str:
    """A markdown page's title: its first ``# `` heading (the file's stem if it has none)."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip().replace("`", "")
    return Path(path).stem


def broken_links(page: Path, root: Path) -> list:
    """The relative links of ``page`` whose file (the target without its #fragment) is not under ``root``."""
    root = Path(root).resolve()
    bad = []
    for target in relative_links(Path(page).read_text(encoding="utf-8")):
        found = (Path(page).parent / target.split("#", 1)[0]).resolve()
        if not found.exists() or not found.is_relative_to(root):
            bad.append(target)
    return bad


def reference_pages(source) -> list:
    """The reference pages of a tutorials' source: the contents page first, then the pages in the order
    it links them. [] if the source has no reference folder. Raises ValueError when a page of the folder
    is missing from the contents page (the site's navigation would leave it out) or a listed one is missing.
    """
    folder = Path(source) / REFERENCE
    if not folder.is_dir():
        return []
    contents = folder / CONTENTS
    if not contents.exists():
        raise ValueError(f"{folder}: the reference pages need their contents page, {CONTENTS}")
    order = []
    for target in relative_links(contents.read_text(encoding="utf-8")):
        path = folder / target.split("#", 1)[0]
        if path.parent == folder and path.suffix == ".md" and path not in order:
            order.append(path)
    missing = [p.name for p in order if not p.exists()]
    unlisted = sorted(p.name for p in folder.glob("*.md") if p != contents and p not in order)
    if missing or unlisted:
        raise ValueError(f"{contents}: " + "; ".join(
            ([f"links pages that do not exist: {', '.join(missing)}"] if missing else [])
            + ([f"does not list {', '.join(unlisted)}"] if unlisted else [])))
    return [contents] + order


def _project_readme(source: Path):
    """The project README beside the source, if it is the one that links into this source's reference pages."""
    readme = source.parent / "README.md"
    if readme.exists() and f"]({source.name}/{REFERENCE}/" in readme.read_text(encoding="utf-8"):
        return readme
    return None


def add_reference_pages(docs: Path, source) -> list:
    """Copy the project README and the reference pages into the site's ``docs`` and return their
    navigation (mkdocs ``nav`` entries, paths relative to docs). Raises RuntimeError naming every link
    of a copied page that does not resolve on the site."""
    source = Path(source)
    pages = reference_pages(source)
    nav, copied = [], []
    readme = _project_readme(source)
    if readme is not None:
        shutil.copy2(readme, docs / PROJECT_PAGE)
        copied.append(docs / PROJECT_PAGE)
        nav.append({"About numpyvae (README)": PROJECT_PAGE})
    if pages:
        where = Path(source.name) / REFERENCE
        (docs / where).mkdir(parents=True)
        entries = []
        for page in pages:
            shutil.copy2(page, docs / where / page.name)
            copied.append(docs / where / page.name)
            entries.append({"Contents" if page.name == CONTENTS else page_title(page): (where / page.name).as_posix()})
        for folder in sorted(p for p in (source / REFERENCE).iterdir() if p.is_dir()):
            shutil.copytree(folder, docs / where / folder.name)   # what the pages link beside them (reproduce's table)
        nav.append({"Reference": entries})
    broken = [f"{page.relative_to(docs)}: {target}" for page in copied for target in broken_links(page, docs)]
    if broken:
        raise RuntimeError("course site: links that do not resolve on the site: " + "; ".join(broken))
    return nav


def reference_links(nav: list) -> str:
    """One markdown line for the site's contents page: links to the README page and the reference contents."""
    links = []
    for item in nav:
        for title, target in item.items():
            if isinstance(target, str):
                links.append(f"[{title}]({target})")
            else:
                links.append(f"[{title}]({next(iter(target[0].values()))})")
    return " · ".join(links)
