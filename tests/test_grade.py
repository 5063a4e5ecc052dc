"""Class grading: a folder of fake submissions, each misbehaving in its own way, graded in limited subprocesses."""
import csv
import json
import textwrap

import pytest

from numpyvae import cli
from numpyvae.teach import grade
from numpyvae.teach.grade_worker import definitions

KL = "    return mu.copy(), 0.5 * (np.exp(logvar) - 1.0)\n"
BERN = "    return 1.0 / (1.0 + np.exp(-logits)) - x\n"


def _script(kl_body, bern_body, head="import numpy as np\n"):
    return (head + "\n# %%\ndef kl_backward(mu, logvar):\n" + textwrap.indent(textwrap.dedent(kl_body), "    ")
            + "\n# %%\ndef bernoulli_backward(x, logits):\n" + textwrap.indent(textwrap.dedent(bern_body), "    "))


def _notebook(cells):
    return json.dumps({"cells": [{"cell_type": "markdown", "source": ["# a title\n"]}]
                       + [{"cell_type": "code", "source": c.splitlines(keepends=True), "outputs": []} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


GOOD_KL, GOOD_BERN = KL.strip(), BERN.strip()
SUBMISSIONS = {
    # a notebook with the tutorial's other code around it: a magic, a training loop, the grading line
    "correct.ipynb": _notebook(["%matplotlib inline\nimport numpy as np\nfrom _common import FAST\n",
                                "def kl_backward(mu, logvar):\n" + KL
                                + "kl_backward = exercises.grade_or_solution('kl_backward', kl_backward)\n"
                                "for _ in range(10**10):\n    pass\n",
                                "def bernoulli_backward(x, logits):\n" + BERN]),
    "half.py": _script("return 0.5 * mu, 0.25 * (np.exp(logvar) - 1.0)", "return 0.5 / (1.0 + np.exp(-logits)) - 0.5 * x"),
    "shape.py": _script("return mu.T, logvar.T", "return (1.0 / (1.0 + np.exp(-logits)) - x).sum(axis=0)"),
    "nan.py": _script("return mu * np.nan, logvar", "return np.full_like(x, np.nan)"),
    "crash.py": _script("import os\nos.abort()", GOOD_BERN),
    "hang.py": _script(GOOD_KL, "import time\ntime.sleep(600)"),
    "rude.py": _script("import sys\nsys.exit(0)",
                       "print('x' * 10**7)\nopen('grades.csv', 'w').write('forged')\n"
                       "junk = np.ones(2**33)\n" + GOOD_BERN),
}


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, text in SUBMISSIONS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def graded(submissions, tmp_path_factory):
    folder = submissions
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    lines = []
    g = grade.grade_folder(folder, out, limits=LIMITS, seed=SEED, progress=lines.append, jobs=3)
    with open(out, newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return g, rows, out, lines


LIMITS, SEED = grade.Limits(timeout=3.0, memory_mb=1024), 20261201     # one seed: runs can be compared byte for byte


def test_the_csv_is_the_same_with_one_job_as_with_three(submissions, graded, tmp_path):
    """Three students at a time (the fixture) and one at a time write the same bytes, rows in submission order."""
    _, _, out3, lines3 = graded
    lines1 = []
    g = grade.grade_folder(submissions, tmp_path / "one.csv", limits=LIMITS,
                           seed=SEED, progress=lines1.append, jobs=1)
    assert (tmp_path / "one.csv").read_bytes() == out3.read_bytes()
    assert list(g.rows) == sorted(n.split(".")[0] for n in SUBMISSIONS)
    assert [line.split(":")[0] for line in lines1] == [line.split(":")[0] for line in lines3] == list(g.rows)


def test_jobs_must_be_a_positive_whole_number(tmp_path, capsys):
    with pytest.raises(ValueError, match="--jobs must be a whole number >= 1, got 0"):
        grade.grade_folder(tmp_path, tmp_path / "g.csv", jobs=0)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "g.csv"), "--jobs", "-2"]) == 2
    assert "numpyvae: error: grade: --jobs must be a whole number >= 1, got -2" in capsys.readouterr().err
    assert grade.default_jobs() >= 1


def test_one_row_per_student_and_a_column_group_per_exercise(graded):
    g, rows, out, lines = graded
    assert g.names == ["kl_backward", "bernoulli_backward"]
    assert set(rows) == {n.split(".")[0] for n in SUBMISSIONS}
    header = list(next(iter(rows.values())))
    assert header == ["student", "points", "max_points", "kl_backward points", "kl_backward worst_rel_error",
                      "kl_backward message", "bernoulli_backward points", "bernoulli_backward worst_rel_error",
                      "bernoulli_backward message"]
    assert [p.name for p in out.parent.iterdir()] == ["grades.csv"]          # atomic: no temporary left behind
    assert len(lines) == len(SUBMISSIONS)


def test_correct_notebook_gets_full_points_without_running_its_other_code(graded):
    _, rows, _, _ = graded
    r = rows["correct"]
    assert r["points"] == "2" and r["max_points"] == "2"
    assert float(r["kl_backward worst_rel_error"]) <= 1e-7 and "PASS" in r["kl_backward message"]
    assert "(seed " in r["kl_backward message"]                               # the student can replay it


def test_half_the_gradient_fails_with_its_error(graded):
    _, rows, _, _ = graded
    r = rows["half"]
    assert r["points"] == "0"
    assert abs(float(r["kl_backward worst_rel_error"]) - 1 / 3) < 1e-3
    assert abs(float(r["bernoulli_backward worst_rel_error"]) - 1 / 3) < 1e-3


def test_shape_and_nan_answers_fail_with_a_clear_message(graded):
    _, rows, _, _ = graded
    assert rows["shape"]["points"] == "0" and "shape" in rows["shape"]["bernoulli_backward message"]
    assert rows["nan"]["points"] == "0" and "NaN" in rows["nan"]["kl_backward message"]


def test_a_crash_costs_the_rest_of_that_student_only(graded):
    _, rows, _, _ = graded
    r = rows["crash"]
    assert r["points"] == "0" and "SIGABRT" in r["kl_backward message"] and "SIGABRT" in r["bernoulli_backward message"]


def test_a_hang_is_stopped_and_earlier_points_are_kept(graded):
    g, rows, _, _ = graded
    r = rows["hang"]
    assert r["kl_backward points"] == "1" and r["bernoulli_backward points"] == "0"
    assert "time limit" in r["bernoulli_backward message"]
    assert g.seconds["hang"] < 10


def test_exit_print_write_and_allocate_cost_points_not_the_run(graded, tmp_path):
    g, rows, out, _ = graded
    r = rows["rude"]
    assert "SystemExit" in r["kl_backward message"]
    assert "MemoryError" in r["bernoulli_backward message"]
    assert out.read_text().startswith("student,")                              # its forged grades.csv went elsewhere
    assert "rude 0/2" in g.summary() and "correct 2/2" in g.summary()


def test_definitions_only_skip_calls_and_loops():
    code, notes = definitions(["import math\nX = 2\nY = print('no')\nwhile True:\n    pass\n"
                               "def f():\n    return X\n", "def broken(:\n"])
    ns = {}
    for block in code:
        exec(block, ns)
    assert ns["f"]() == 2 and "Y" not in ns and "math" in ns
    assert notes and "cell 2 has a syntax error" in notes[0]


def test_cells_of_notebook_and_script(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text(_notebook(["!pip install x\nimport numpy as np\n", "def f():\n    return 1\n"]))
    assert grade.cells_of(nb) == ["pass  # !pip install x\nimport numpy as np\n", "def f():\n    return 1\n"]
    py = tmp_path / "b.py"
    py.write_text("# %% [markdown]\n# text\n# %%\nx = 1\n")
    assert grade.cells_of(py)[-1] == "x = 1\n"
    bad = tmp_path / "c.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="c.ipynb is not a readable notebook"):
        grade.cells_of(bad)


def test_cli_hook_and_its_errors(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    out = tmp_path / "g.csv"
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(out), "--timeout", "20"]) == 0
    printed = capsys.readouterr().out
    assert "kl_backward  passed by 1/1" in printed and "ann 1/1" in printed and out.exists()
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(out), "--exercises", "nope"]) == 2
    assert "unknown exercise(s) nope" in capsys.readouterr().err
    assert cli.main(["grade", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "is not a folder of submissions" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["grade", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no .ipynb or .py submissions" in capsys.readouterr().err


def test_csv_cells_are_not_spreadsheet_formulas():
    g = grade.ClassGrades(["kl_backward"])
    g.rows["=HYPERLINK(1)"] = {"kl_backward": grade.Result("FAIL", None, "-nope")}
    rows = list(csv.reader(g.csv_bytes().decode().splitlines()))
    assert rows[1][0] == "'=HYPERLINK(1)" and rows[1][-1] == "'-nope"
