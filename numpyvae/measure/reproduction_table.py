"""The reproduction table: each comparison's result row as markdown, and the JSON and table written together.

``save`` merges new rows into ``OUT/reproduction.json`` (one row per comparison, dataset, budget and seed),
takes each claim's words from the registry as it is now, and rewrites ``OUT/reproduction.md`` from the
merged rows; both files are written atomically (numpyvae.files). ``python -m numpyvae reproduce`` calls it
after every comparison, so an interrupted run keeps what it finished.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .comparisons import REGISTRY

__all__ = ["format_row", "markdown", "save", "fmt_diff", "size_text"]


def fmt_diff(x, digits=2) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:+.{digits}f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")                  # a | inside a cell would end it


def format_row(r: dict) -> str:
    """One markdown row: comparison, data, the paper's claim, ours (b − a ± paired SE), verdict, size, setting."""
    claim = {k: _cell(v) for k, v in r["claim"].items()}
    ours = f"{fmt_diff(r['diff'])} ± {r['se']:.2f}" if r["se"] is not None and math.isfinite(r["se"]) else fmt_diff(r["diff"], 3)
    setting = f"{r['budget']}: {r['epochs']} epochs" if r["epochs"] is not None else r["budget"]
    if r.get("updates") is not None:
        setting += f": {r['updates']:,} updates"
    if r.get("k_eval") is not None:
        setting += f", k = {r['k_eval']}"
    setting += f", n = {r['n']}, seed {r['seed']}"
    return (f"| {r['name']}: {r['label_b']} vs {r['label_a']} | {r['dataset']} | {claim['number']} ({claim['data']}; "
            f"{claim['setting']}; {claim['citation']}) | {ours} ({_cell(r['metric'])}) | {r['same_direction']} | "
            f"{size_text(r)} | {setting} |")


def size_text(r: dict) -> str:
    return "direction only" if r["size_vs_paper"] is None else f"{r['size_vs_paper']:.2f}×"


def markdown(rows: list) -> str:
    head = ("| comparison (b vs a) | data | paper | ours: b − a ± paired SE | same direction? | size vs paper | "
            "budget, setting |\n|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(format_row(r) for r in rows) + "\n"


def save(rows: list, out_dir) -> tuple[Path, Path]:
    """Merge rows into OUT/reproduction.json (one per name, dataset, budget, seed) and rewrite the table; atomic."""
    from ..run.checkpoint_format import save_json
    from ..files import atomic_write_bytes
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "reproduction.json"
    old = json.loads(path.read_text())["results"] if path.exists() else []
    key = lambda r: (r["name"], r["dataset"], r["budget"], r["seed"])        # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in rows})
    for r in merged.values():                            # the claims' words come from the registry, as it is now
        if r["name"] in REGISTRY:
            r["claim"] = vars(REGISTRY[r["name"]].claim)
    ordered = sorted(merged.values(), key=lambda r: (list(REGISTRY).index(r["name"]) if r["name"] in REGISTRY
                                                     else len(REGISTRY), r["dataset"], r["budget"]))
    save_json(path, {"results": ordered})
    md = atomic_write_bytes(out_dir / "reproduction.md", markdown(ordered).encode())
    return path, md
