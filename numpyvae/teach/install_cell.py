"""A notebook's first cell, for Colab, Binder and JupyterLite: install numpyvae where it is missing.

``course build --notebooks`` puts :func:`install_cell` first in every notebook; ``--install-from``
chooses what it installs (default: :func:`default_install_spec`), and the edition's
requirements.txt names the same thing for Binder. ``course lite`` makes it install the wheel
its site serves. Where numpyvae imports (a laptop with the package installed) the cell does nothing.
"""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

__all__ = ["default_install_spec", "install_cell", "add_install_cell"]


def default_install_spec(root=None) -> str:
    """What the notebooks' first cell installs where numpyvae is missing (Colab, Binder): this checkout's
    git remote ``origin`` as ``numpyvae @ git+https://...``, or the bare name ``numpyvae`` without one."""
    root = Path(root or Path(__file__).resolve().parent.parent.parent)
    try:
        url = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        url = ""
    if url.startswith("git@") and ":" in url:            # git@host:owner/repo.git -> https://host/owner/repo.git
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    if url.startswith(("https://", "http://")):
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1]                    # never a user name or token into a handout
        return f"numpyvae @ git+{scheme}://{host}/{path}"
    return "numpyvae"


def install_cell(spec: str) -> str:
    """The code of a notebook's first cell: ``%pip install spec`` only where numpyvae cannot be imported.

    IPython (Colab, Binder, Jupyter) and JupyterLite's kernel (piplite) both read an indented %pip line.
    """
    return ("# Colab, Binder, JupyterLite: install numpyvae where this Python lacks it (elsewhere nothing happens)\n"
            "try:\n    import numpyvae  # noqa: F401\nexcept ImportError:\n"
            f"    %pip install -q {shlex.quote(spec)}\n")


def add_install_cell(notebook: Path, spec: str, kernelspec: dict | None = None) -> None:
    """Put install_cell(spec) first in a notebook written by to_notebook (and set its kernel, if given)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cell = {"cell_type": "code", "execution_count": None, "id": "install", "metadata": {}, "outputs": [],
            "source": install_cell(spec).splitlines(keepends=True)}
    nb["cells"].insert(0, cell)
    if kernelspec:
        nb["metadata"]["kernelspec"] = kernelspec
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
