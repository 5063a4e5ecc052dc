"""Progress: tqdm when installed and wanted, the built-in bar otherwise, silent off a terminal or when quiet."""
import io
import sys
import types

import pytest

from numpyvae.run import progress
from numpyvae.run.progress import Progress


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_silent_when_not_a_terminal_or_quiet():
    for stream, quiet in ((io.StringIO(), False), (TTY(), True)):
        bar = Progress(10, "epoch 1", stream=stream, quiet=quiet)
        bar.update(10, loss=1.5)
        bar.close()
        assert stream.getvalue() == "" and bar.done == 10


def test_builtin_bar_on_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setattr(progress, "_tqdm", lambda: None)
    stream = TTY()
    bar = Progress(4, "epoch 1", stream=stream)
    bar.update(4, loss=103.25)
    bar.close()
    assert "epoch 1 [" in stream.getvalue() and "4/4" in stream.getvalue() and "loss 103.25" in stream.getvalue()


def test_tqdm_on_a_terminal_with_the_loss():
    pytest.importorskip("tqdm")
    stream = TTY()
    bar = Progress(5, "epoch 2", stream=stream)
    assert bar._bar is not None
    for _ in range(5):
        bar.update(1, loss=7.0)
    bar.close()
    out = stream.getvalue()
    assert "epoch 2" in out and "5/5" in out and "loss=7" in out
    forced = Progress(5, "x", stream=TTY(), use_tqdm=False)
    assert forced._bar is None


def test_notebook_stream_counts_as_a_display(monkeypatch):
    """Inside a Jupyter kernel stderr is not a tty, yet the bar must show."""
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    KernelStream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(progress, "_tqdm", lambda: None)
    stream = KernelStream()
    bar = Progress(3, "epoch 1", stream=stream)
    bar.update(3, loss=2.0)
    bar.close()
    assert bar.enabled and "3/3" in stream.getvalue()
