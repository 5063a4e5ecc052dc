"""Run a script as Python in a browser (Pyodide) would: `python tests/as_in_the_browser.py SCRIPT [ARGS]`.

sys.platform is 'emscripten', a thread's start() raises RuntimeError, a subprocess (or fork) raises
OSError, and fcntl, resource and multiprocessing cannot be imported. Used by test_browser_fallbacks.py.
"""
import errno
import os
import runpy
import subprocess
import sys
import sysconfig
import threading

sysconfig.get_config_vars()             # cached while the platform still has its real name


def _no_thread(self, *args, **kwargs):
    raise RuntimeError("can't start new thread")


def _no_process(*args, **kwargs):
    raise OSError(errno.ENOSYS, "no subprocesses in a browser")


sys.platform = "emscripten"
threading.Thread.start = _no_thread
subprocess.Popen.__init__ = _no_process
os.fork = _no_process
for name in ("fcntl", "resource", "multiprocessing", "_multiprocessing"):
    sys.modules[name] = None            # import raises ImportError

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
