"""Keep every slide on the screen: a tutorial section longer than one slide continues on the next.

A tutorial's section (a heading and the text up to the next) is written for reading, and is often
two or three times the height of a 960 × 700 reveal.js slide. The decks are built from the scripts,
with nothing rendered, so the height of each block (a paragraph, a display equation, a list, a
figure, a code cell) is *estimated* from its text, in the slide's own pixels; a block that would
pass the slide's bottom starts a continuation (a sub-slide, reveal.js's "down", headed
"<section title> (continued)"). The constants were calibrated against the heights Chromium measured
on the six decks (tutorials/SYLLABUS.md; headless Chromium with reveal.js 4.0.2 and MathJax 2.7.7,
6 December): a block of prose of ``c`` characters takes about ``ceil(c / CHARS_PER_LINE)`` lines.

Markdown cells are first cut into blocks at blank lines (never inside a ``$$ … $$`` equation, nor
before an indented line), so a continuation can start between any two paragraphs; the blocks render
as the cell did, and a heading inside a cell opens its own slide, as one at a cell's top does.
"""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path

__all__ = ["BUDGET", "block_height", "code_height", "fit_to_slides", "heading_kind", "split_blocks"]

BUDGET = 580                 # px of the 700-px slide that text may fill (reveal.js keeps a margin)
CHARS_PER_LINE = 78          # prose at the deck's font size, 960 px wide
LINE = 28                    # px per line of prose
GAP = 22                     # px between two paragraphs
CODE_CHARS, CODE_LINE = 76, 22   # code wraps (see slides.CSS) at about this many characters
HEADING = {1: (22, 90), 2: (34, 50), 3: (40, 42), 4: (60, 34)}   # level: (characters per line, px per line)
EQUATION_ROW = 46            # px per row of a display equation
TALL_ROW = 70                # a row with a fraction, a sum's or integral's limits, or an underbrace
TALL = re.compile(r"\\(?:frac|tfrac|dfrac|sum|prod|int|underbrace|overbrace|binom)")
TABLE_CHARS, TABLE_ROW = 60, 52  # a table's row wraps in its narrow columns: about this many characters a row
IMAGE_WIDTH, IMAGE_MAX = 860, 430   # a figure is drawn at most this wide and (slides.CSS) this high
LONG_LIST = BUDGET // 3       # a list taller than this may be cut between its items
ITEM = re.compile(r"(?:[*-]|\d+\.)\s")   # a top-level list item's first line
INLINE_MATH = re.compile(r"\$[^$]+\$")
FIGURE = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+)\)")
CONTINUED = " (continued)"


def split_blocks(source: str) -> list:
    """A markdown cell's source cut at blank lines into blocks; a display equation ($$ … $$) stays whole, and
    an indented block (a list item's continuation, or code) stays with the block before it."""
    blocks, current, in_math = [], [], False
    for line in source.split("\n"):
        if not line.strip() and not in_math:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        if not current and blocks and line[:1].isspace() and not in_math:
            current = blocks.pop().split("\n") + [""]
        current.append(line)
        if line.count("$$") % 2:
            in_math = not in_math
    if current:
        blocks.append("\n".join(current))
    return [item for block in blocks for item in _list_items(block)]


def _list_items(block: str) -> list:
    """A long list (taller than LONG_LIST px) as one block per item, so a continuation can start between two
    items (an ordered item keeps its number: markdown starts the list there); any other block as it is."""
    starts = [i for i, line in enumerate(block.split("\n")) if ITEM.match(line)]
    if not starts or starts[0] != 0 or len(starts) < 2 or block_height(block) <= LONG_LIST:
        return [block]
    lines = block.split("\n")
    return ["\n".join(lines[a:b]) for a, b in zip(starts, starts[1:] + [len(lines)])]


def _png_size(path: Path):
    """(width, height) from a PNG's header, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _prose_lines(text: str, per_line: int = CHARS_PER_LINE) -> int:
    """Lines a paragraph takes: inline TeX renders at about a third of its source's length."""
    plain = INLINE_MATH.sub(lambda m: "x" * max(1, len(m.group()) // 3), text)
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)          # a link shows its text only
    plain = re.sub(r"[*`]", "", plain)
    return max(1, math.ceil(len(" ".join(plain.split())) / per_line))


def _image_height(link: str, figures) -> int:
    size = _png_size(figures / Path(link).name) if figures else None
    return int(IMAGE_MAX if size is None else min(IMAGE_MAX, IMAGE_WIDTH * size[1] / size[0])) + GAP


def block_height(block: str, figures: Path | None = None) -> int:
    """The estimated height, in slide pixels, of one markdown block (see the module docstring): a heading,
    prose and list items by their lines, display equations by their rows, tables by their rows, figures
    by their proportions."""
    height, items, math_rows, in_math, tall = 0, [], 0, False, False
    lines = block.strip().split("\n")
    heading = re.match(r"(#{1,4})\s+(.*)", lines[0])
    if heading:
        per_line, px = HEADING[len(heading[1])]
        height += _prose_lines(heading[2], per_line) * px + GAP
        lines = lines[1:]
    for line in lines:
        s = line.strip()
        if in_math or s.startswith("$$"):
            math_rows += s.count("\\\\") + s.count("\\begin{")
            tall = tall or bool(TALL.search(s))
            if s.count("$$") % 2:
                in_math = not in_math
            if not in_math:                                               # the equation's last line
                height += (1 + math_rows) * (TALL_ROW if tall else EQUATION_ROW) + GAP
                math_rows, tall = 0, False
        elif s.startswith("|"):
            if not re.fullmatch(r"[|:\- ]+", s):                          # not the header's underline
                height += max(1, math.ceil(len(s) / TABLE_CHARS)) * TABLE_ROW
        elif FIGURE.search(s):
            height += _image_height(FIGURE.search(s)[1], figures)
        elif ITEM.match(s) or not items:
            items.append(s)                                               # a list item, or the paragraph
        else:
            items[-1] += " " + s
    return height + sum(_prose_lines(item) for item in items) * LINE + GAP


def code_height(source: str) -> int:
    """A code cell shown on a slide: its lines, each wrapped at CODE_CHARS."""
    lines = source.rstrip().split("\n")
    return sum(max(1, math.ceil(len(line) / CODE_CHARS)) for line in lines) * CODE_LINE + 2 * GAP


def heading_kind(text: str) -> str:
    """The slide type a markdown text's first line asks for: "slide" for a # or ## heading, "subslide" for ###, else "-"."""
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith("### "):
        return "subslide"
    if first.startswith("# ") or first.startswith("## "):
        return "slide"
    return "-"


def _title(source: str) -> str:
    first = source.lstrip().split("\n", 1)[0]
    return re.sub(r"^#+\s*", "", first).strip()


def fit_to_slides(nb, figures: Path | None = None, budget: int = BUDGET):
    """Cut the markdown cells of ``nb`` (marked by slides.mark_for_slides) into blocks and open a
    continuation sub-slide wherever a slide would pass ``budget`` pixels. Returns nb (changed in place).

    figures : where the pictures are, to read their proportions (without them a figure counts as
              IMAGE_MAX high)
    """
    from nbformat.v4 import new_markdown_cell
    cells, title, used = [], "", 0
    for cell in nb.cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind == "skip" or kind == "notes":
            cells.append(cell)
            continue
        parts = [cell] if cell.cell_type != "markdown" else [      # a heading inside a cell opens a slide too
            new_markdown_cell(block, metadata={"slideshow": {"slide_type": kind if i == 0 else heading_kind(block)}})
            for i, block in enumerate(split_blocks(cell.source))]
        for part in parts:
            kind = part.metadata["slideshow"]["slide_type"]
            height = block_height(part.source, figures) if part.cell_type == "markdown" else code_height(part.source)
            if kind in ("slide", "subslide"):
                title, used = _title(part.source) if part.cell_type == "markdown" else "", height
            elif used and used + height > budget:
                heading = f"#### {title}{CONTINUED}" if title else ""
                part.metadata["slideshow"] = {"slide_type": "subslide"}
                if part.cell_type == "markdown":
                    part.source = f"{heading}\n\n{part.source}" if heading else part.source
                    used = block_height(part.source, figures)
                else:
                    if heading:
                        cells.append(new_markdown_cell(heading, metadata={"slideshow": {"slide_type": "subslide"}}))
                        part.metadata["slideshow"] = {"slide_type": "-"}
                    used = height + (block_height(heading) if heading else 0)
            else:
                used += height
            cells.append(part)
    nb.cells = cells
    return nb
