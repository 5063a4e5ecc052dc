"""The notebooks' first cell (Colab, Binder, JupyterLite): pip-install numpyvae only where it is missing.

Its %pip line is indented under `except ImportError:`; IPython (Colab, Binder, Jupyter) must turn it
into a pip call there, and the cell must do nothing where numpyvae imports. JupyterLite's handling of
the same cell is checked in the browser (tests/test_lite.py).
"""
import json
import subprocess
import sys

import pytest

from numpyvae.teach import course, install_cell

SPEC = "numpyvae @ git+https://github.com/example/numpyvae"


def test_ipython_reads_the_indented_pip_line_as_a_pip_call():
    transformer = pytest.importorskip("IPython.core.inputtransformer2")
    code = transformer.TransformerManager().transform_cell(install_cell.install_cell(SPEC))
    compile(code, "<install cell>", "exec")
    assert "get_ipython().run_line_magic('pip'" in code
    pip_line = next(line for line in code.splitlines() if "run_line_magic" in line)
    assert pip_line.startswith("    ") and SPEC in pip_line     # inside the except block, the spec whole


def test_the_cell_does_nothing_where_numpyvae_imports():
    calls = []

    class Shell:
        def run_line_magic(self, *args):
            calls.append(args)
    transformer = pytest.importorskip("IPython.core.inputtransformer2")
    code = transformer.TransformerManager().transform_cell(install_cell.install_cell(SPEC))
    exec(code, {"get_ipython": Shell})                              # noqa: S102
    assert calls == []
    exec(code.replace("import numpyvae", "import numpyvae_missing_here"), {"get_ipython": Shell})   # noqa: S102
    assert calls == [("pip", f"install -q '{SPEC}'")]


def test_build_puts_the_cell_first_and_writes_binders_requirements(tmp_path):
    pytest.importorskip("jupytext")
    course.build(tmp_path / "s", "student", notebooks=True, install_from=SPEC)
    assert (tmp_path / "s" / "requirements.txt").read_text() == SPEC + "\n"
    for nb_path in (tmp_path / "s" / "notebooks").glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        assert "".join(nb["cells"][0]["source"]) == install_cell.install_cell(SPEC), nb_path.name
        assert "".join(nb["cells"][1]["source"]).startswith("# "), nb_path.name   # the title follows
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "build", str(tmp_path / "bad"), "--edition",
                           "student", "--notebooks", "--install-from", "a\nb"], capture_output=True, text=True)
    assert proc.returncode == 2 and "numpyvae: error: course build: --install-from must be one pip requirement" \
        in proc.stderr, proc.stderr


@pytest.mark.parametrize("remote, spec", [
    ("git@github.com:someone/numpyvae.git", "numpyvae @ git+https://github.com/someone/numpyvae.git"),
    ("https://example.org/x/numpyvae", "numpyvae @ git+https://example.org/x/numpyvae"),
    ("https://someone:secret@example.org/x/numpyvae.git", "numpyvae @ git+https://example.org/x/numpyvae.git"),
    (None, "numpyvae"),
])
def test_default_source_is_the_checkouts_origin(tmp_path, remote, spec):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    if remote:
        subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    assert install_cell.default_install_spec(tmp_path) == spec


def test_the_grader_reads_the_install_cell_without_a_syntax_error(tmp_path):
    """A handed-in notebook starts with the install cell; the grader comments its magics out, and the
    cell must still parse, or every 'no function' message would blame a syntax error in cell 1."""
    from numpyvae.teach.submission import cells_of, definitions
    nb = {"cells": [{"cell_type": "code", "source": install_cell.install_cell(SPEC)},
                    {"cell_type": "code", "source": "%matplotlib inline\ndef f(x):\n    return x\n"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "sub.ipynb").write_text(json.dumps(nb))
    code, notes = definitions(cells_of(tmp_path / "sub.ipynb"))
    assert notes == []
    namespace = {}
    for block in code:
        exec(block, namespace)                                   # noqa: S102
    assert namespace["f"](3) == 3
