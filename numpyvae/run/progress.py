"""Progress for training and evaluation: tqdm when installed, a one-line bar otherwise.

Where it shows:
* a terminal (stderr is a tty): a live bar with the loss;
* a Jupyter notebook: a live bar too (tqdm.auto draws a widget when ipywidgets is
  installed, text otherwise; without tqdm the bar below redraws in place with \\r);
* anywhere else (logs, CI, pipes): nothing, so logs stay clean;
* ``quiet=True``: nothing, everywhere.

tqdm is optional (``pip install 'numpyvae[progress]'``): numpyvae never needs it.
"""
from __future__ import annotations

import sys
import time


def _in_notebook(stream) -> bool:
    """True when running inside a Jupyter kernel and writing to its captured stderr/stdout."""
    return "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel")


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Usage: ``bar = Progress(total, "epoch 3"); bar.update(n, loss=...); bar.close()``.

    ``use_tqdm=False`` forces the built-in bar (None: use tqdm when it is installed).
    """

    def __init__(self, total: int, label: str = "", *, quiet: bool = False, stream=None, width: int = 24,
                 use_tqdm: bool | None = None):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = not quiet and (tty or _in_notebook(self.stream))
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._bar = None
        tqdm = _tqdm() if self.enabled and use_tqdm is not False else None
        if tqdm is not None:
            self._bar = tqdm(total=self.total, desc=label or None, file=self.stream, leave=True,
                             dynamic_ncols=True, mininterval=0.1)

    def update(self, n: int = 1, **fields) -> None:
        """Advance by n; ``fields`` (e.g. loss=103.2) are shown after the bar. Redraws at most 10×/s."""
        n = min(n, self.total - self.done)
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._bar is not None:
            if fields and (now - self._last >= 0.1 or self.done == self.total):
                self._last = now
                self._bar.set_postfix({k: (round(v, 2) if isinstance(v, float) else v) for k, v in fields.items()},
                                      refresh=False)
            self._bar.update(n)
            return
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        filled = int(self.width * self.done / self.total)
        extra = "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                          f"{self.done}/{self.total}  {extra}\033[K")
        self.stream.flush()

    def close(self) -> None:
        """End the line (only if anything was drawn)."""
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            self.stream.write("\n")
            self.stream.flush()
