"""The browser edition: the course's notebooks as a JupyterLite site, Python running in the browser.

    python -m numpyvae course lite DIR [--edition student|teacher] [--source tutorials]

DIR is a static website (serve it with any web server, e.g. ``python -m http.server -d DIR``,
or put it on GitHub Pages): JupyterLab and Jupyter Notebook with a Pyodide kernel (CPython
compiled to WebAssembly), the edition's notebooks, and numpyvae's own wheel in the site's
package index. Nothing is installed on the student's machine. At run time the browser loads
Pyodide and its numpy, scipy and matplotlib from Pyodide's CDN (:data:`PYODIDE_FILES` under
:func:`pyodide_cdn`); the site itself asks nothing else from outside (no PyPI fallback).

Each notebook's kernel is the Pyodide kernel (``python``), so it opens without a kernel
picker, and its first cell runs ``%pip install -q numpyvae``, which piplite serves from the
site's own wheel. The engine's thread, subprocess and file-lock paths fall back to one
thread and one process there (numpyvae/browser.py).

Needs the ``lite`` extra: jupyterlite-core, jupyterlite-pyodide-kernel and jupyter-server
(the contents indexer), plus pip's build of the wheel from this checkout.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import course

__all__ = ["build_lite", "pyodide_version", "pyodide_cdn", "PYODIDE_FILES", "KERNELSPEC", "KERNEL_PLUGIN"]

#: the Pyodide kernel's name in JupyterLite: a notebook that names it opens without a kernel picker
KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
#: what the browser fetches from the CDN besides the wheels that pyodide-lock.json names
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
CDN = "https://cdn.jsdelivr.net/pyodide/v{version}/full/"
APPS = ("lab", "notebooks", "tree")


def _require():
    missing = [m for m in ("jupyterlite_core", "jupyterlite_pyodide_kernel", "jupyter_server")
               if not _importable(m)]
    if missing:
        raise RuntimeError(f"the browser edition needs {', '.join(missing)}: pip install -e '.[lite]'")


def _importable(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def pyodide_version() -> str:
    """The Pyodide release the installed kernel was built for (its runtime is loaded at that version)."""
    _require()
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION
    return PYODIDE_VERSION


def pyodide_cdn(version: str | None = None) -> str:
    """The URL prefix every outside request of the site starts with."""
    return CDN.format(version=version or pyodide_version())


def _project_root() -> Path:
    root = Path(__file__).resolve().parent.parent.parent
    if not (root / "setup.cfg").exists():
        raise RuntimeError(f"course lite builds numpyvae's wheel from a checkout; no setup.cfg in {root}")
    return root


def build_wheel(out: Path) -> Path:
    """numpyvae's wheel, built by pip from a copy of this checkout's package files (the checkout stays clean)."""
    root = _project_root()
    with tempfile.TemporaryDirectory(prefix="numpyvae-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
            if (root / name).exists():
                shutil.copy2(root / name, src / name)
        shutil.copytree(root / "numpyvae", src / "numpyvae", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"course lite: pip could not build numpyvae's wheel:\n{proc.stderr[-2000:]}")
    wheels = sorted(out.glob("numpyvae-*.whl"))
    if not wheels:
        raise RuntimeError(f"course lite: pip wrote no numpyvae wheel to {out}")
    return wheels[-1]


#: pure-Python wheels the Pyodide kernel needs that Pyodide's own packages lack (comm: pyodide_kernel imports it)
KERNEL_WHEELS = ("comm",)


def fetch_kernel_wheels(out: Path) -> list:
    """The KERNEL_WHEELS, from PyPI with pip at build time, so the browser never asks PyPI."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                           "-d", str(out), *KERNEL_WHEELS], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"course lite: pip could not download {', '.join(KERNEL_WHEELS)} (the Pyodide kernel "
                           f"needs it; is PyPI reachable?):\n{proc.stderr[-1500:]}")
    return sorted(out.glob("*.whl"))


def lite_config(version: str) -> dict:
    """jupyter-lite.json: the Pyodide kernel from the CDN, no PyPI fallback, the app reachable by tests."""
    return {"jupyter-lite-schema-version": 0,
            "jupyter-config-data": {
                "appName": "numpyvae course",
                "exposeAppInBrowser": True,          # window.jupyterapp, for the browser test and for debugging
                "litePluginSettings": {KERNEL_PLUGIN: {"pyodideUrl": pyodide_cdn(version) + "pyodide.mjs",
                                                       "disablePyPIFallback": True}}}}


def _kernel_extension() -> Path:
    """The Pyodide kernel's labextension, as installed with jupyterlite-pyodide-kernel."""
    for base in (Path(sys.prefix), Path(sys.base_prefix)):
        path = base / "share" / "jupyter" / "labextensions" / "@jupyterlite" / "pyodide-kernel-extension"
        if (path / "package.json").exists():
            return path
    raise RuntimeError("course lite: the Pyodide kernel's labextension is not installed; pip install -e '.[lite]'")


def build_lite(dest, *, source=None, edition: str = "student", progress=print) -> Path:
    """Build the browser edition into the new directory ``dest``; return dest.

    The site holds the edition's notebooks (at its root, kernel: Pyodide, first cell: install
    numpyvae from the site), its README, and numpyvae's wheel; nothing from this machine's other
    Jupyter extensions (the build ignores sys.prefix and adds only the Pyodide kernel).
    """
    _require()
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"course lite: {dest} exists and is not an empty directory; choose a new one")
    version = pyodide_version()
    with tempfile.TemporaryDirectory(prefix="numpyvae-lite-") as tmp:
        tmp = Path(tmp)
        course.build(tmp / "edition", edition, source=source, notebooks=True, install_from="numpyvae",
                     kernelspec=KERNELSPEC)
        content = tmp / "content"
        shutil.copytree(tmp / "edition" / course.NOTEBOOK_DIR, content)
        if (tmp / "edition" / "README.md").exists():
            shutil.copy2(tmp / "edition" / "README.md", content / "README.md")
        wheels = [build_wheel(tmp / "wheels")] + fetch_kernel_wheels(tmp / "kernel-wheels")
        if progress:
            progress(f"  wheels: {', '.join(w.name for w in wheels)}")
        lite_dir = tmp / "lite"
        lite_dir.mkdir()
        (lite_dir / "jupyter-lite.json").write_text(json.dumps(lite_config(version), indent=1), encoding="utf-8")
        build_config = {"LiteBuildConfig": {"ignore_sys_prefix": True, "federated_extensions": [str(_kernel_extension())],
                                            "apps": list(APPS), "no_sourcemaps": True}}
        (lite_dir / "jupyter_lite_config.json").write_text(json.dumps(build_config, indent=1), encoding="utf-8")
        out = tmp / "site"
        cmd = [sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(lite_dir),
               "--contents", str(content), "--output-dir", str(out)]
        cmd += [arg for wheel in wheels for arg in ("--piplite-wheels", str(wheel))]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=lite_dir)
        if proc.returncode != 0:
            raise RuntimeError(f"course lite: jupyter lite build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.rmdir()
        shutil.move(str(out), str(dest))
    return dest
