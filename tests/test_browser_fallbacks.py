"""Python in a browser (Pyodide, for the JupyterLite edition) has no threads, subprocesses or file locks:
the paths the tutorials take fall back to one thread and one process (numpyvae/browser.py).

The absence is simulated: Thread.start raising, flock unsupported, `resource` missing, and (slow) every
tutorial run in fast mode under tests/as_in_the_browser.py, which takes all of them away at once.
"""
import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from numpyvae import files
from numpyvae.optim import parallel

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.fixture
def no_helpers(monkeypatch):
    """optim/parallel.py as in a fresh process: no helper thread started yet, threads allowed, 2 asked for."""
    monkeypatch.setattr(parallel, "_helpers", [])
    monkeypatch.setattr(parallel, "CAN_THREAD", True)
    parallel.set_threads(2)
    yield
    parallel.set_threads(None)


def _calls(n):
    calls = []

    def fn(a, b):
        calls.append((a, b, threading.current_thread() is threading.main_thread()))
    parallel.for_spans(fn, n, min_parallel=1)
    return calls


def test_in_the_browser_passes_run_on_the_calling_thread(no_helpers, monkeypatch):
    monkeypatch.setattr(parallel, "CAN_THREAD", False)
    assert parallel.threads() == 1
    assert _calls(3 * parallel.ALIGN) == [(0, 3 * parallel.ALIGN, True)]


def test_a_thread_that_cannot_start_leaves_the_whole_range_to_the_caller(no_helpers, monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    assert _calls(3 * parallel.ALIGN) == [(0, 3 * parallel.ALIGN, True)]
    assert parallel.CAN_THREAD is False and parallel.threads() == 1     # not tried again
    x = np.arange(5 * parallel.ALIGN, dtype=np.float32)
    out = np.empty_like(x)
    parallel.for_spans(lambda a, b: np.multiply(x[a:b], 2, out=out[a:b]), x.size, min_parallel=1)
    np.testing.assert_array_equal(out, 2 * x)


def test_a_lock_without_flock_falls_back_to_the_owners_pid(tmp_path, monkeypatch):
    import fcntl

    def unsupported(fd, op):
        raise OSError(errno.ENOSYS, "Function not implemented")
    monkeypatch.setattr(fcntl, "flock", unsupported)
    first = files.DirectoryLock(tmp_path / "run").acquire()
    assert (tmp_path / "run" / "LOCK").read_text().split()[0] == str(os.getpid())
    with pytest.raises(files.DirectoryInUse, match="this very process"):
        files.DirectoryLock(tmp_path / "run").acquire()      # the recorded owner (us) is alive
    first.release()


def test_in_the_browser_a_lock_needs_no_fcntl(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "IN_BROWSER", True)
    monkeypatch.setitem(sys.modules, "fcntl", None)          # import fcntl raises ImportError
    lock = files.DirectoryLock(tmp_path / "run").acquire()
    assert (tmp_path / "run" / "LOCK").read_text().split()[0] == str(os.getpid())
    lock.release()


def _in_the_browser(args, cwd, **env):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, str(ROOT / "tests" / "as_in_the_browser.py"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_capstones_imports_need_no_resource_module(tmp_path):
    """Tutorial 17 reads the learner's pieces with the grader's parser; the grader's resource limits
    (a module Pyodide lacks) are imported only in the grading subprocess."""
    (tmp_path / "probe.py").write_text("import sys\nimport numpyvae.teach.your_work\nimport numpyvae.teach.grade\n"
                                       "assert sys.platform == 'emscripten'\nprint('imported')\n")
    proc = _in_the_browser([str(tmp_path / "probe.py")], tmp_path)
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr[-2000:]


def test_training_with_threads_asked_for_runs_serially_in_the_browser(tmp_path):
    """NUMPYVAE_THREADS=2 in the browser: Adam's passes stay on one thread, the loss is the same bits."""
    code = ("import numpy as np\nfrom numpyvae import VAE\nfrom numpyvae.optim import Adam, parallel\n"
            "m = VAE(784, hidden=(256,), z_dim=4, seed=0)\nopt = Adam(m.params, m.grads, lr=1e-3)\n"
            "x = (np.random.default_rng(0).random((32, 784)) < 0.3).astype(np.float32)\n"
            "for _ in range(3):\n    m.loss_and_grads(x)\n    opt.step()\n"
            "print(parallel.threads(), repr(float(m.loss_and_grads(x)[0])))\n")
    (tmp_path / "train.py").write_text(code)
    browser = _in_the_browser([str(tmp_path / "train.py")], tmp_path, NUMPYVAE_THREADS="2")
    assert browser.returncode == 0, browser.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMPYVAE_THREADS="1", OPENBLAS_NUM_THREADS="1")
    here = subprocess.run([sys.executable, str(tmp_path / "train.py")], env=env, capture_output=True, text=True)
    assert here.returncode == 0, here.stderr[-2000:]
    assert browser.stdout.split()[0] == "1"
    assert browser.stdout.split()[1] == here.stdout.split()[1]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_tutorial_runs_without_threads_subprocesses_or_locks(script, tmp_path):
    proc = _in_the_browser([str(script)], tmp_path, NUMPYVAE_FAST="1", NUMPYVAE_THREADS="2",
                           NUMPYVAE_FIGURES=str(tmp_path / "figures"))
    assert proc.returncode == 0, f"{script.name}:\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}"
