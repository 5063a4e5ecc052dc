"""The file map of the architecture page is the package's own: written from each module's docstring, never stale."""
from pathlib import Path

import pytest

import numpyvae
from numpyvae.teach.file_map import BEGIN, END, file_map, first_line, with_file_map

ROOT = Path(numpyvae.__file__).resolve().parents[1]
PAGE = ROOT / "tutorials" / "reference" / "architecture.md"


def test_the_architecture_page_holds_the_map_of_todays_files():
    page = PAGE.read_text(encoding="utf-8")
    assert with_file_map(page, file_map(ROOT / "numpyvae")) == page, \
        "the file map is stale: run python -m numpyvae.teach.file_map"


def test_every_module_is_on_the_map_with_its_idea():
    table = file_map(ROOT / "numpyvae")
    for path in (ROOT / "numpyvae").rglob("*.py"):
        row = f"| `{path.relative_to(ROOT).as_posix()}` |"
        assert row in table, path
    assert "(no docstring)" not in table


def test_the_map_of_a_small_package(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""The package."""\n')
    (pkg / "b.py").write_text('"""B: x | y.\n\nMore text."""\n')
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "__init__.py").write_text('"""The sub-folder."""\n')
    (pkg / "sub" / "c.py").write_text('"""C."""\n')
    rows = file_map(pkg).splitlines()
    assert rows[2:] == ["| `pkg/__init__.py` | The package. |",
                        "| `pkg/a.py` | (no docstring) |",
                        "| `pkg/b.py` | B: x \\| y. |",
                        "| `pkg/sub/__init__.py` | The sub-folder. |",
                        "| `pkg/sub/c.py` | C. |"]
    assert first_line(pkg / "b.py") == "B: x | y."


def test_the_map_replaces_only_what_lies_between_its_markers():
    page = f"# T\n\nbefore\n{BEGIN}\nold map\n{END}\nafter\n"
    assert with_file_map(page, "| new |\n") == f"# T\n\nbefore\n{BEGIN}\n\n| new |\n\n{END}\nafter\n"
    with pytest.raises(ValueError, match="no file map markers"):
        with_file_map("# a page without markers\n", "| new |\n", "page.md")
