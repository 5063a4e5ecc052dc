"""A one-line progress bar on stderr, silent when stderr is not a terminal.

Training and evaluation both report progress this way; logs and CI output
(stderr not a tty) stay clean, and ``quiet=True`` silences it everywhere.
"""
from __future__ import annotations

import sys
import time


class Progress:
    """Usage: ``bar = Progress(total, "epoch 3"); bar.update(n, loss=...); bar.close()``."""

    def __init__(self, total: int, label: str = "", *, quiet: bool = False, stream=None, width: int = 24):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1, **fields) -> None:
        """Advance by n; ``fields`` (e.g. loss=103.2) are shown after the bar. Redraws at most 10×/s."""
        self.done = min(self.done + n, self.total)
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.1 and self.done < self.total):
            return
        self._last = now
        filled = int(self.width * self.done / self.total)
        extra = "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{self.done}/{self.total}  {extra}\033[K")
        self.stream.flush()

    def close(self) -> None:
        """End the line (only if anything was drawn)."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
