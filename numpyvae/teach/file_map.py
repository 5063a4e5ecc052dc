"""The map of numpyvae's files, read from the files themselves: each module's docstring opens with its one idea.

The section "Every file" of the architecture reference page, tutorials/reference/architecture.md, holds this map
between two marker lines. It is written here, never by hand, so a file added, moved or renamed shows on the page the next
time the map is written, and tests/test_file_map.py fails while the page is stale:

    python -m numpyvae.teach.file_map            # rewrite the map in tutorials/reference/architecture.md
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from ..files import atomic_write_bytes

__all__ = ["BEGIN", "END", "first_line", "file_map", "with_file_map", "main"]

BEGIN = "<!-- file map: written by `python -m numpyvae.teach.file_map` from each module's docstring -->"
END = "<!-- end of the file map -->"


def first_line(path: Path) -> str:
    """The first line of a module's docstring (its one idea), or "" when it has none."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return doc.strip().splitlines()[0].strip() if doc else ""


def _cell(text: str) -> str:
    """Markdown table cells cannot hold a bare |."""
    return text.replace("|", "\\|")


def file_map(package: Path) -> str:
    """A markdown table, one row per module of ``package`` (a folder of .py files), folders in order, the
    folder's own __init__ first; a module without a docstring shows "(no docstring)", so it is seen, not hidden."""
    rows = ["| file | idea |", "|---|---|"]
    root = package.parent
    paths = sorted(package.rglob("*.py"), key=lambda p: (p.parent.relative_to(root).parts, p.name != "__init__.py",
                                                        p.name))
    for path in paths:
        if "__pycache__" in path.parts:
            continue
        idea = first_line(path) or "(no docstring)"
        rows.append(f"| `{path.relative_to(root).as_posix()}` | {_cell(idea)} |")
    return "\n".join(rows) + "\n"


def with_file_map(page: str, table: str, where: str = "the page") -> str:
    """``page`` with the text between its BEGIN and END lines replaced by ``table``."""
    start, stop = page.find(BEGIN), page.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"{where} has no file map markers: put the two lines\n{BEGIN}\n{END}\nwhere the map goes")
    return page[: start + len(BEGIN)] + "\n\n" + table + "\n" + page[stop:]


def main(argv=None) -> int:
    """Rewrite the map in tutorials/reference/architecture.md of this checkout (atomically)."""
    package = Path(__file__).resolve().parents[1]
    page_path = package.parent / "tutorials" / "reference" / "architecture.md"
    page = page_path.read_text(encoding="utf-8")
    new = with_file_map(page, file_map(package), str(page_path))
    if new != page:
        atomic_write_bytes(page_path, new.encode("utf-8"))
        print(f"wrote the file map of {package} into {page_path}")
    else:
        print(f"{page_path}: the file map is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
