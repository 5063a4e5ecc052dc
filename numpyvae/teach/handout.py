"""The students' handout: tutorials/HANDOUT.md with the list of tutorials filled in.

The student edition's README.md and the contents page of a student-edition site are this text,
not the lecturer's tutorials/README.md (lesson plan with load averages, the solutions' path,
grading and build commands). The list of tutorials is made from the tutorials' own titles (their
first ``# # `` heading), so it is written nowhere twice.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["HANDOUT", "MARKER", "tutorial_title", "tutorial_list", "handout_text"]

HANDOUT = "HANDOUT.md"
MARKER = "<!-- tutorials -->"


def tutorial_title(script: Path) -> str:
    """A tutorial's title: its first ``# # `` markdown heading (the file's stem if it has none)."""
    for line in script.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return script.stem


def tutorial_list(scripts, link=None) -> str:
    """A markdown list, one line per tutorial script: its title, linked by ``link(script)`` if given."""
    lines = []
    for script in scripts:
        title = tutorial_title(script)
        lines.append(f"1. [{title}]({link(script)})" if link else f"1. {title} (`{script.stem}`)")
    return "\n".join(lines)


def handout_text(source: Path, scripts, link=None) -> str | None:
    """HANDOUT.md of ``source`` with its tutorials marker replaced by the list; None if there is none."""
    path = Path(source) / HANDOUT
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if MARKER not in text:
        raise ValueError(f"{path}: the handout needs the marker {MARKER} where the list of tutorials goes")
    return text.replace(MARKER, tutorial_list(scripts, link))
