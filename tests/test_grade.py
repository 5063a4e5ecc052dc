"""Class grading: a folder of fake submissions, each misbehaving in its own way, each exercise graded in its own
sandbox (bubblewrap where it works here, else --sandbox none)."""
import csv
import json
import textwrap

import pytest

from numpyvae import cli
from numpyvae.teach import grade, sandbox
from numpyvae.teach.submission import definitions

MODE = "bwrap" if sandbox.bwrap_problem() is None else "none"

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
    g = grade.grade_folder(folder, out, limits=LIMITS, seed=SEED, progress=lines.append, jobs=3, mode=MODE)
    with open(out, newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return g, rows, out, lines


LIMITS, SEED = grade.Limits(timeout=3.0, memory_mb=1024), 20261201     # one seed: runs can be compared byte for byte


def test_the_csv_is_the_same_with_one_job_as_with_three(submissions, graded, tmp_path):
    """Three students at a time (the fixture) and one at a time write the same rows, in submission order
    (on three of the students, to keep the suite short)."""
    _, _, out3, lines3 = graded
    some = tmp_path / "some"
    some.mkdir()
    for name in ("shape.py", "half.py", "correct.ipynb"):
        (some / name).write_bytes((submissions / name).read_bytes())
    lines1 = []
    g = grade.grade_folder(some, tmp_path / "one.csv", limits=LIMITS, seed=SEED, progress=lines1.append, jobs=1,
                           mode=MODE)
    three = out3.read_text().splitlines()
    assert (tmp_path / "one.csv").read_text().splitlines() == [three[0]] + [
        line for line in three[1:] if line.split(",")[0] in ("correct", "half", "shape")]
    assert list(g.rows) == ["correct", "half", "shape"]
    assert [line.split(":")[0] for line in lines1] == list(g.rows)
    assert [line.split(":")[0] for line in lines3] == sorted(n.split(".")[0] for n in SUBMISSIONS)


def test_jobs_must_be_a_positive_whole_number(tmp_path, capsys):
    with pytest.raises(ValueError, match="--jobs must be a whole number >= 1, got 0"):
        grade.grade_folder(tmp_path, tmp_path / "g.csv", jobs=0)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "g.csv"), "--jobs", "-2",
                     "--sandbox", MODE]) == 2
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
    assert sorted(p.name for p in out.parent.iterdir()) == ["grades-feedback", "grades.csv"]   # no temporary left
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


def test_a_crash_costs_only_the_exercise_that_crashed(graded):
    _, rows, _, _ = graded
    r = rows["crash"]
    assert r["kl_backward points"] == "0" and "SIGABRT" in r["kl_backward message"]
    assert r["bernoulli_backward points"] == "1" and "PASS" in r["bernoulli_backward message"]


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
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(out), "--timeout", "20", "--sandbox", MODE]) == 0
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


@pytest.mark.parametrize("extra, error", [
    (["--timeout", "nan"], "--timeout must be a number of seconds > 0"),
    (["--timeout", "inf"], "--timeout must be a number of seconds > 0"),
    (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
    (["--timeout", "-3"], "--timeout must be a number of seconds > 0"),
    (["--seed", "-1"], "--seed must be a whole number >= 0, got -1"),
    (["--exercises", ","], "--exercises ',' names no exercise"),
    (["--sandbox", "docker"], "--sandbox must be one of bwrap, none"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, error):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "g.csv"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: grade: ") and error in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.csv").exists()


def test_out_inside_the_submissions_or_a_folder_is_refused_and_nothing_is_touched(tmp_path, capsys):
    folder = tmp_path / "s"
    folder.mkdir()
    sub = folder / "ann.py"
    sub.write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    for out, error in ((sub, "is inside the submissions folder"), (folder / "new.csv", "is inside the submissions"),
                       (tmp_path, "is a folder; give the CSV's file name")):
        assert cli.main(["grade", str(folder), "--out", str(out), "--sandbox", MODE]) == 2
        err = capsys.readouterr().err
        assert err.startswith("numpyvae: error: grade: --out") and error in err and len(err.strip().splitlines()) == 1
    assert sub.read_text().endswith(KL) and sorted(p.name for p in folder.iterdir()) == ["ann.py"]


def test_an_older_csv_is_set_aside_at_the_start_and_the_feedback_says_how_to_replay(submissions, graded, tmp_path):
    g, rows, out, lines = graded
    text = (out.parent / "grades-feedback" / "half.txt").read_text()
    assert "kl_backward: FAIL" in text and f"exercises.grade('kl_backward', kl_backward, seed={SEED})" in text
    assert "mu" in text and "NO" in text                                      # the table says which array
    result = json.loads((out.parent / "grades-feedback" / "correct.json").read_text())
    assert result["score"] == 2.0 and [t["status"] for t in result["tests"]] == ["passed", "passed"]
    assert {t["name"] for t in result["tests"]} == {"kl_backward", "bernoulli_backward"}
    again = tmp_path / "again.csv"
    again.write_text("old")
    printed, one = [], tmp_path / "one-student"
    one.mkdir()
    (one / "half.py").write_bytes((submissions / "half.py").read_bytes())
    grade.grade_folder(one, again, names=["kl_backward"], limits=LIMITS, seed=SEED, progress=printed.append, mode=MODE)
    assert "again.csv exists: it is kept as again.csv.previous" in printed[0]
    assert again.with_name("again.csv.previous").read_text() == "old"
    assert again.read_text().startswith("student,half,") or again.read_text().split("\n")[1].startswith("half,")


def test_the_autograder_zip_grades_a_submission_in_gradescopes_layout(tmp_path, capsys):
    """The zip's run_autograder, run in a temporary root laid out as /autograder (source, submission, results)."""
    import subprocess
    import sys
    import zipfile
    zip_path = tmp_path / "autograder.zip"
    assert cli.main(["grade", "--autograder-zip", str(zip_path), "--exercises", "kl_backward,bernoulli_backward",
                     "--timeout", "20"]) == 0
    assert "wrote" in capsys.readouterr().out
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "numpyvae/teach/grade.py"} <= set(names)
        assert not any("solutions" in n or "__pycache__" in n for n in names)
        assert (z.getinfo("run_autograder").external_attr >> 16) & 0o111
        assert subprocess.run(["bash", "-n", "-c", z.read("setup.sh").decode()]).returncode == 0
        results = {}
        for student, text in (("right", "import numpy as np\ndef kl_backward(mu, logvar):\n" + KL),
                              ("half", _script("return 0.5 * mu, 0.25 * (np.exp(logvar) - 1.0)", GOOD_BERN))):
            root = tmp_path / student
            z.extractall(root / "source")
            (root / "submission").mkdir()
            (root / "submission" / "my_work.py").write_text(text)
            env = {"PATH": "/usr/bin:/bin", "NUMPYVAE_AUTOGRADER_ROOT": str(root), "NUMPYVAE_PYTHON": sys.executable,
                   "OPENBLAS_NUM_THREADS": "1"}
            done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            results[student] = json.loads((root / "results" / "results.json").read_text())
    assert results["right"]["score"] == 1.0 and results["half"]["score"] == 1.0
    tests = {t["name"]: t for t in results["half"]["tests"]}
    assert tests["kl_backward"]["status"] == "failed" and "seed=" in tests["kl_backward"]["output"]
    assert tests["bernoulli_backward"]["score"] == 1.0 and tests["bernoulli_backward"]["max_score"] == 1.0
    assert {t["name"]: t["status"] for t in results["right"]["tests"]} == {"kl_backward": "passed",
                                                                          "bernoulli_backward": "failed"}


def test_without_bubblewrap_the_default_sandbox_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sandbox._BWRAP_WORKS, "why", "bubblewrap (bwrap) is not installed")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    assert cli.main(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: grade: bubblewrap (bwrap) is not installed; install it") and \
        "--sandbox none" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.csv").exists()


def test_files_that_could_crash_the_graders_own_parser_are_not_submissions(tmp_path):
    """The grader parses the files in its own process: nesting that breaks the parser, or a huge file, is no function."""
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "deep.py").write_text("def kl_backward(mu, logvar):\n    return " + "(" * 100_000 + ")" * 100_000 + "\n")
    (folder / "deep_nb.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "huge.py").write_text("def kl_backward(mu, logvar):\n    pass\n" + "#" * (9 * 2 ** 20))
    res = grade.grade_folder(folder, tmp_path / "g.csv", names=["kl_backward"], limits=LIMITS, mode=MODE, progress=None)
    assert {s: r["kl_backward"].status for s, r in res.rows.items()} == {"deep": "MISSING", "deep_nb": "MISSING",
                                                                          "huge": "MISSING"}


def test_links_to_the_solutions_are_not_submissions(tmp_path):
    """A submission folder unpacked with links in it: the grader reads and copies files itself, links it skips."""
    from pathlib import Path
    solutions = Path(__file__).resolve().parent.parent / "tutorials" / "solutions" / "solutions.py"
    folder = tmp_path / "s"
    (folder / "bob").mkdir(parents=True)
    (folder / "bob" / "mine.py").symlink_to(solutions)
    (folder / "eve.py").symlink_to(solutions)
    (folder / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    assert set(grade.find_submissions(folder)) == {"ann"}
    (folder / "bob" / "real.py").write_text("def kl_backward(mu, logvar):\n    raise NotImplementedError\n")
    res = grade.grade_folder(folder, tmp_path / "g.csv", names=["kl_backward"], limits=LIMITS, mode=MODE, progress=None)
    assert res.rows["bob"]["kl_backward"].status == "NOT DONE" and res.rows["ann"]["kl_backward"].status == "PASS"


@pytest.mark.skipif(MODE != "bwrap", reason="bubblewrap is not usable here: the sandbox's binds are not exercised")
def test_the_sandbox_sees_a_python_installed_under_tmp(tmp_path):
    """A lecturer's virtual environment may live under /tmp, which the sandbox mounts as an empty
    scratch folder: mounted after the Python's own binds it hid the venv ("bwrap: execvp
    .../bin/python: No such file or directory"), and every student got ERROR."""
    import subprocess
    import sys
    venv = tmp_path / "venv"                      # tmp_path lies under /tmp
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "ann.py").write_text("import numpy as np\ndef kl_backward(mu, logvar):\n" + KL)
    out = tmp_path / "g.csv"
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "numpyvae", "grade", str(tmp_path / "s"), "--out",
                          str(out), "--timeout", "20", "--exercises", "kl_backward"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "ann 1/1" in run.stdout, run.stdout + run.stderr
