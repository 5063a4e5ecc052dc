"""Student and teacher editions: stubs and questions for students, solutions and answers for teachers."""
import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numpyvae import cli
from numpyvae.teach import course
from numpyvae.teach.exercises import EXERCISES

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"


def _body(text, name):
    """The source of the top-level function ``name`` (its whole def)."""
    tree = ast.parse(text)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(text, node)


def _answers(text):
    """The lines inside every answer block of a source."""
    return re.findall(r"<!-- answer:.*?-->\n(.*?)# <!-- /answer -->", text, flags=re.S)


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    root = tmp_path_factory.mktemp("editions")
    course.build(root / "student", "student", source=TUTORIALS)
    course.build(root / "teacher", "teacher", source=TUTORIALS)
    return root / "student", root / "teacher"


def test_every_exercise_is_asked_somewhere_and_every_tutorial_answer_is_marked():
    asked = [n for p in sorted(TUTORIALS.glob("[0-9][0-9]_*.py")) for n in course.exercise_names(p.read_text())]
    assert sorted(asked) == sorted(EXERCISES)
    for n in ("02", "03", "04", "05", "16", "17"):
        text = next(TUTORIALS.glob(f"{n}_*.py")).read_text()
        assert _answers(text), f"tutorial {n} marks no answer"


def test_student_edition_has_stubs_questions_and_no_solutions(editions):
    student, _ = editions
    assert not (student / "solutions").exists()
    solutions = course.load_solutions(TUTORIALS)
    assert course._leaks(student, solutions) == []
    for src in sorted(TUTORIALS.glob("[0-9][0-9]_*.py")):
        text = (student / src.name).read_text()
        assert "<!-- answer" not in text and "<!-- /answer" not in text
        for block in _answers(src.read_text()):
            for line in block.splitlines():
                if len(line) > 12:
                    assert line not in text, (src.name, line)
        for name in course.exercise_names(text):
            assert "raise NotImplementedError" in _body(text, name), (src.name, name)
        questions = re.findall(r"^# \*\*Question\.\*\* .+$", text, flags=re.M)
        assert len(questions) == len(_answers(src.read_text()))
    assert (student / "EDITION.txt").read_text().startswith("numpyvae course, student edition")


def test_teacher_edition_has_solutions_and_answers(editions):
    _, teacher = editions
    assert (teacher / "solutions" / "solutions.py").exists()
    for src in sorted(TUTORIALS.glob("[0-9][0-9]_*.py")):
        text = (teacher / src.name).read_text()
        assert "<!-- answer" not in text and "**Question.**" not in text
        for block in _answers(src.read_text()):
            assert block in text
        for name in course.exercise_names(text):
            body = _body(text, name)
            assert "NotImplementedError" not in body and "return" in body


def test_teacher_workbook_runs_and_passes_every_exercise(editions):
    _, teacher = editions
    env = dict(os.environ, NUMPYVAE_FAST="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(TUTORIALS.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "16_gradient_workbook.py"], cwd=teacher, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = course.exercise_names((teacher / "16_gradient_workbook.py").read_text())
    assert proc.stdout.count("PASS: exercise") == len(names) and "FAIL" not in proc.stdout
    assert "stand-in" not in proc.stdout


@pytest.mark.parametrize("name", [n for n in EXERCISES if n != "vae_backward"])     # the capstone: below
def test_each_editions_exercise_cell_grades_as_it_should(editions, name):
    """The function a student finds in the exercise cell is NOT DONE; the teacher's, spliced in, PASSes."""
    import numpy as np

    from numpyvae.teach import exercises
    for folder, status in zip(editions, ("NOT DONE", "PASS")):
        script = next(p for p in sorted(folder.glob("[0-9][0-9]_*.py")) if name in course.exercise_names(p.read_text()))
        space = {"np": np}
        exec(compile(_body(script.read_text(), name), script.name, "exec"), space)
        g = exercises.grade(name, space[name], seed=7, verbose=False)
        assert g.status == status, (folder.name, g.message)


@pytest.mark.slow      # 26-29 s each at load 7-9
@pytest.mark.parametrize("edition", ["teacher", "student"])
def test_capstone_runs_in_both_editions(editions, edition, tmp_path):
    """Teacher: every piece read back from the edition's own tutorials passes, vae_backward passes and trains
    the network; student: stubs everywhere, model.backward stands in and the two runs agree exactly."""
    folder = dict(zip(("student", "teacher"), editions))[edition]
    env = dict(os.environ, NUMPYVAE_FAST="1", MPLBACKEND="Agg", NUMPYVAE_FIGURES=str(tmp_path),
               OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"),   # two BLAS threads thrash under load
               PYTHONPATH=os.pathsep.join([str(TUTORIALS.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "17_capstone_your_own_backward.py"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    errors = re.search(r"worst relative error (\S+), median", out)
    diffs = [float(line.split()[-1]) for line in out.splitlines() if re.match(r"^\s+\d+\s+\d+\.\d+\s+", line)]
    assert len(diffs) == 20 and errors, out[-2000:]
    if edition == "teacher":
        assert out.count("-> your function") == 7 and "PASS: exercise 'vae_backward'" in out
        assert "the 'yours' run uses your vae_backward" in out and float(errors[1]) < 1e-5
        assert abs(diffs[0]) < 1e-3 and max(abs(d) for d in diffs) < 1.0      # float32 rounding, carried by Adam
    else:
        assert out.count("-> the stand-in") == 7 and "NOT DONE: exercise 'vae_backward'" in out
        assert "model.backward (a stand-in: vae_backward is not done)" in out
        assert float(errors[1]) == 0.0 and all(d == 0.0 for d in diffs)


def test_answer_markers_must_balance():
    with pytest.raises(ValueError, match=r"t.py:3: answer block is never closed"):
        course.cut_answers("a\nb\n# <!-- answer: why? -->\nc\n", "student", "t.py")
    with pytest.raises(ValueError, match=r"t.py:1: '<!-- /answer -->' without an opening"):
        course.cut_answers("# <!-- /answer -->\n", "student", "t.py")
    with pytest.raises(ValueError, match=r"t.py:2: answer block opened inside the one opened at line 1"):
        course.cut_answers("# <!-- answer: a -->\n# <!-- answer: b -->\n", "teacher", "t.py")
    assert course.cut_answers("x\n# <!-- answer: Why? -->\n# because\n# <!-- /answer -->\ny\n", "student") == \
        "x\n# **Question.** Why?\ny\n"
    assert course.cut_answers("x\n# <!-- answer: Why? -->\n# because\n# <!-- /answer -->\ny\n", "teacher") == \
        "x\n# because\ny\n"


def test_build_refuses_leaks_bad_editions_and_full_directories(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(TUTORIALS, src, ignore=shutil.ignore_patterns("figures", "__pycache__", "notebooks"))
    with pytest.raises(ValueError, match="--edition must be one of student, teacher"):
        course.build(tmp_path / "x", "lecturer", source=src)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    with pytest.raises(FileExistsError, match="exists and is not an empty directory"):
        course.build(tmp_path / "full", "student", source=src)
    leak = src / "03_the_elbo.py"
    leak.write_text(leak.read_text() + "\n# %%\n# hint: 0.5 * (np.exp(logvar) - 1.0)\n")
    with pytest.raises(RuntimeError, match="solution code found in the student edition"):
        course.build(tmp_path / "leaky", "student", source=src)
    assert not (tmp_path / "leaky").exists()
    with pytest.raises(FileNotFoundError, match="no tutorials"):
        course.build(tmp_path / "y", "student", source=tmp_path / "nothing")


def test_cli_hook(tmp_path, capsys):
    assert cli.main(["course", "build", str(tmp_path / "s"), "--edition", "student", "--source", str(TUTORIALS)]) == 0
    assert "wrote the student edition" in capsys.readouterr().out
    assert cli.main(["course", "build", str(tmp_path / "s"), "--edition", "student", "--source", str(TUTORIALS)]) == 2
    assert "numpyvae: error: course build:" in capsys.readouterr().err


def test_the_student_edition_readme_is_the_handout_and_the_teachers_the_notes(editions):
    student, teacher = editions
    readme = (student / "README.md").read_text()
    assert readme.startswith("# Variational autoencoders by hand") and "Handing in" in readme
    for lecturer_only in ("load average", "solutions/", "python -m numpyvae grade", "--edition teacher"):
        assert lecturer_only not in readme, f"the students' README shows {lecturer_only!r}"
    for script in sorted(TUTORIALS.glob("[0-9][0-9]_*.py")):
        assert f"(`{script.stem}`)" in readme, f"the handout does not list {script.name}"
    assert (teacher / "README.md").read_text() == (TUTORIALS / "README.md").read_text()
