"""Notebooks are generated from the percent scripts with jupytext (the scripts stay the source).

Skipped without jupytext (the `course` extra).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")

from numpyvae.teach import course, grade, sandbox  # noqa: E402

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_and_notebook_hold_the_same_cells(script, tmp_path):
    nb_path = course.to_notebook(script, tmp_path / (script.stem + ".ipynb"))
    nb = json.loads(nb_path.read_text())
    text = script.read_text()
    assert sum(c["cell_type"] == "code" for c in nb["cells"]) == text.count("\n# %%\n") + text.startswith("# %%\n")
    assert sum(c["cell_type"] == "markdown" for c in nb["cells"]) == text.count("# %% [markdown]")
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    back = jupytext.writes(jupytext.read(nb_path), fmt="py:percent")
    assert back == text                                     # nothing lost either way


def test_sync_writes_then_check_finds_nothing_stale(tmp_path):
    src = tmp_path / "tutorials"
    src.mkdir()
    for p in SCRIPTS[:2]:
        (src / p.name).write_text(p.read_text())
    written = course.sync_notebooks(src)
    assert sorted(p.name for p in written) == [p.stem + ".ipynb" for p in SCRIPTS[:2]]
    assert course.sync_notebooks(src, check=True) == []
    (src / SCRIPTS[0].name).write_text(SCRIPTS[0].read_text() + "\n# %%\nprint('new cell')\n")
    assert [p.name for p in course.sync_notebooks(src, check=True)] == [SCRIPTS[0].stem + ".ipynb"]


def test_teacher_notebooks_grade_full_marks_and_student_notebooks_none(tmp_path):
    """The editions' notebooks go through the class grader as a student would hand them in."""
    for edition in ("teacher", "student"):
        course.build(tmp_path / edition, edition, source=TUTORIALS, notebooks=True)
    subs = tmp_path / "subs"
    subs.mkdir()
    for edition in ("teacher", "student"):
        (subs / f"{edition}.ipynb").write_text((tmp_path / edition / "notebooks" / "16_gradient_workbook.ipynb").read_text())
    names = course.exercise_names((TUTORIALS / "16_gradient_workbook.py").read_text())
    mode = "bwrap" if sandbox.bwrap_problem() is None else "none"          # the suite runs without bubblewrap too
    g = grade.grade_folder(subs, tmp_path / "grades.csv", names=names, limits=grade.Limits(timeout=60), progress=None,
                           mode=mode)
    assert all(r.status == "PASS" for r in g.rows["teacher"].values()), g.rows["teacher"]
    assert all(r.status == "NOT DONE" for r in g.rows["student"].values()), g.rows["student"]


@pytest.mark.slow      # 15 s at load 7-9
def test_course_command_line_builds_notebooks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "numpyvae", "course", "build", str(tmp_path / "s"), "--edition",
                           "student", "--notebooks", "--source", str(TUTORIALS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "s" / "notebooks").glob("*.ipynb"))) == len(SCRIPTS)
