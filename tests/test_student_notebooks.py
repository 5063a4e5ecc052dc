"""Every notebook of the student edition runs from its own folder, as Jupyter runs it (fast mode).

`course build DIR --edition student --notebooks` writes DIR/notebooks/NN_*.ipynb; a student opens
one there, so its kernel starts in DIR/notebooks/ with nothing beside it but the other notebooks.
Each notebook is executed in that folder by a real kernel (nbclient + ipykernel), one kernel per
notebook: no cell may raise, and the exercises, left as stubs, report NOT DONE (02 also grades
one deliberately wrong answer, which FAILs). Marked `slow` (one kernel per tutorial: minutes).
"""
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")
nbclient = pytest.importorskip("nbclient")
import nbformat  # noqa: E402  (comes with nbclient)

from numpyvae.teach import course, course_site  # noqa: E402

SCRIPTS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    dest = tmp_path_factory.mktemp("edition") / "student"
    course.build(dest, "student", notebooks=True)
    return dest


def _outputs(cell):
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text.append(out["text"])
        elif "data" in out and "text/plain" in out["data"]:
            text.append(out["data"]["text/plain"])
    return "".join(text)


def test_the_edition_holds_no_helper_module_beside_the_notebooks(student):
    """What the notebooks import comes from the package: nothing importable lies beside them."""
    assert not list(student.rglob("_*.py"))
    for nb_path in (student / "notebooks").glob("*.ipynb"):
        sources = "".join("".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"])
        assert not re.search(r"^\s*(from|import)\s+_", sources, re.M), nb_path.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_student_notebook_runs_from_its_own_folder(student, script, monkeypatch, tmp_path):
    folder = student / "notebooks"
    nb_path = folder / (script.stem + ".ipynb")
    monkeypatch.setenv("NUMPYVAE_FAST", "1")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")        # two BLAS threads per kernel thrash on 2 cores
    monkeypatch.delenv("NUMPYVAE_FIGURES", raising=False)  # figures go beside the notebook, as for a student
    monkeypatch.delenv("MPLBACKEND", raising=False)        # the kernel's own inline backend
    monkeypatch.delenv("NUMPYVAE_SOLUTIONS", raising=False)
    nb = nbformat.read(nb_path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}}).execute()
    errors = course_site.notebook_errors(nb)
    assert not errors, f"{nb_path.name}: {errors}"
    printed = "".join(_outputs(c) for c in nb.cells if c.cell_type == "code")
    asked = len(course.exercise_names(script.read_text()))
    fails = 1 if script.name.startswith("02_") else 0       # 02 grades a deliberately wrong answer
    assert printed.count("FAIL: exercise") == fails, printed[-2000:]
    assert "PASS: exercise" not in printed, printed[-2000:]
    assert printed.count("NOT DONE: exercise") >= asked, printed[-2000:]
