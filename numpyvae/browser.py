"""What Python in a browser lacks, detected in one place: threads, subprocesses and file locks.

JupyterLite runs the tutorials in Pyodide, CPython compiled to WebAssembly, where
``sys.platform == "emscripten"``. One browser tab is one process with a file system of
its own: starting a thread raises RuntimeError, starting a subprocess fails, and
``fcntl.flock`` locks nothing (no other process could open the files anyway). The
engine's few uses of them fall back to the serial, single-process path there:

* optim/parallel.py runs elementwise passes on the calling thread (the bits are the same);
* files.DirectoryLock records its owner without locking;
* teach/grade.py's resource limits are imported only by the grading subprocess.
"""
from __future__ import annotations

import sys

__all__ = ["IN_BROWSER"]

#: True in Pyodide (JupyterLite, PyScript): no threads, no subprocesses, no file locks
IN_BROWSER = sys.platform == "emscripten"
