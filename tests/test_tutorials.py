"""Every tutorial runs top to bottom in fast mode (NUMPYVAE_FAST=1), headless, without touching the repo
(the heaviest ones in the slow tier, `pytest -m slow`, which .ci/run runs after the default suite)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def test_the_tutorials_are_there():
    numbers = [p.name[:2] for p in SCRIPTS]
    assert len(set(numbers)) == len(numbers), f"two tutorials share a number: {numbers}"
    assert {f"{i:02d}" for i in range(1, 20)} <= set(numbers), numbers


def _percent_format(text):
    return text.lstrip().startswith("# %% [markdown]") and "\n# %%\n" in text


#: the tutorials whose fast-mode run took over 15 s (6 December, pytest --durations at load 7-9, where the
#: whole file took 4.5 min): in the slow tier (`pytest -m slow`, which .ci/run also runs)
SLOW = {"06", "07", "08", "09", "10", "12", "13", "17"}


@pytest.mark.parametrize("script", [pytest.param(p, marks=pytest.mark.slow) if p.name[:2] in SLOW else p
                                    for p in SCRIPTS], ids=lambda p: p.stem)
def test_tutorial_runs_in_fast_mode(script, tmp_path):
    assert _percent_format(script.read_text()), f"{script.name} is not in the percent cell format"
    env = dict(os.environ, NUMPYVAE_FAST="1", NUMPYVAE_FIGURES=str(tmp_path / "figures"), MPLBACKEND="Agg")
    env.pop("NUMPYVAE_SOLUTIONS", None)               # the fallback path must work with the stubs as shipped
    env.setdefault("OPENBLAS_NUM_THREADS", "1")       # on a shared 2-core machine two BLAS threads per run thrash
    env["PYTHONPATH"] = os.pathsep.join([str(TUTORIALS.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    figures = list((tmp_path / "figures").glob("*.png"))
    assert figures or "savefig(" not in script.read_text(), f"{script.name} saved no figure"
    for fig in figures:   # every picture the run made is referenced by the text next to it
        assert f"figures/{fig.name}" in script.read_text(), f"{fig.name} is not shown in {script.name}'s text"
    # stubs fall back to finite-difference stand-ins; the only FAIL is 02's deliberate wrong answer
    expected_fails = 1 if script.name.startswith("02_") else 0
    assert proc.stdout.count("FAIL: exercise") == expected_fails, proc.stdout[-2000:]
    problems = quote_problems(script.read_text(), proc.stdout)
    assert not problems, f"{script.name}: the text quotes what the run did not print:\n" + "\n".join(problems)


# A number the text quotes from a run carries a marker naming the printed line it comes from:
#   "... 2.45<!-- printed fast: standard … KL(q(z)||p) --> nats ..."
# The label's parts (split at "…") must occur in one output line in that order; the first number
# after the last part is the printed value. "fast" quotes are compared with the fast run's output
# (the run this test makes); "full" quotes (from a full-mode run, which the tests cannot afford)
# must at least name a line the fast run prints too, so the quoted line exists in the code.
QUOTE = re.compile(r"(?P<num>[-−]?\d[\d,]*(?:\.\d+)?)(?P<pct>%?)\s*"
                   r"<!--\s*printed\s+(?P<mode>fast|full):\s*(?P<label>.+?)\s*-->")
NUMBER = re.compile(r"[-−]?\d[\d,]*(?:\.\d+)?")


def _as_float(text):
    return float(text.replace("−", "-").replace(",", ""))


def printed_value(stdout, label):
    """The first number after ``label`` ("a … b": a, then b, later on one line) in ``stdout``, or None."""
    parts = [p.strip() for p in label.split("…")]
    for line in stdout.splitlines():
        at = 0
        for part in parts:
            at = line.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            found = NUMBER.search(line, at)
            if found:
                return found.group()
    return None


def quote_problems(source, stdout, mode="fast"):
    """Every marked quote in ``source`` that ``stdout`` (a run's output in ``mode``) contradicts, as messages:
    the quotes of that mode must be the printed numbers, the other mode's must name a printed line."""
    problems = []
    for m in QUOTE.finditer(source):
        value = printed_value(stdout, m["label"])
        if value is None:
            problems.append(f"no printed line matches {m['label']!r} (quoted as {m['num']}{m['pct']})")
        elif m["mode"] == mode and _as_float(value) != _as_float(m["num"]):
            problems.append(f"{m['label']!r}: the text says {m['num']}, the {mode} run printed {value}")
    return problems


#: full-mode runs, recorded: the tests cannot afford them, but the numbers a text quotes from one must be
#: those it printed. Each file is a tutorial's stdout from `python tutorials/NN_*.py` without NUMPYVAE_FAST,
#: its first lines (starting "#") saying when and how it was run; rerun and replace it when the tutorial's
#: code changes what it prints.
FULL_RUNS = Path(__file__).resolve().parent / "data" / "tutorial_full_runs"


@pytest.mark.parametrize("record", sorted(FULL_RUNS.glob("*.txt")), ids=lambda p: p.stem)
def test_full_mode_quotes_are_what_the_recorded_full_run_printed(record):
    script = next(TUTORIALS.glob(f"{record.stem}_*.py"))
    printed = "\n".join(line for line in record.read_text().splitlines() if not line.startswith("#"))
    full_quotes = [m for m in QUOTE.finditer(script.read_text()) if m["mode"] == "full"]
    assert full_quotes, f"{script.name} quotes no full run: {record.name} is not needed"
    problems = quote_problems(script.read_text(), printed, mode="full")
    assert not problems, f"{script.name}: the text quotes what its full run did not print:\n" + "\n".join(problems)


def test_quote_check_catches_a_wrong_number():
    out = "standard   test ELBO  -186.46   KL term 5.87 = I(x;z) 3.42 + KL(q(z)||p)  2.45   holes 66.7%\n"
    good = "# printed 2.45<!-- printed fast: standard … KL(q(z)||p) --> nats and 66.7%<!-- printed fast: holes -->"
    assert quote_problems(good, out) == []
    assert quote_problems(good.replace("2.45", "2.46"), out) == [
        "'standard … KL(q(z)||p)': the text says 2.46, the fast run printed 2.45"]
    assert quote_problems("−186.46<!-- printed fast: test ELBO -->", out) == []
    assert quote_problems("0.75<!-- printed full: standard … KL(q(z)||p) -->", out) == []   # full: line exists
    assert len(quote_problems("0.75<!-- printed full: mog:10 … KL(q(z)||p) -->", out)) == 1
    assert quote_problems("2.46<!-- printed full: standard … KL(q(z)||p) -->", out, mode="full") == [
        "'standard … KL(q(z)||p)': the text says 2.46, the full run printed 2.45"]


ONE_FILE = TUTORIALS / "vae_in_one_file.py"


def test_vae_in_one_file_trains_in_fast_mode(tmp_path):
    """The whole-model-in-one-file script: percent format, a few seconds in fast mode, loss per epoch."""
    assert _percent_format(ONE_FILE.read_text()), f"{ONE_FILE.name} is not in the percent cell format"
    env = dict(os.environ, NUMPYVAE_FAST="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(TUTORIALS.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(ONE_FILE)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{ONE_FILE.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    epochs = [line.split() for line in proc.stdout.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 2, proc.stdout
    train_losses = [float(words[4]) for words in epochs]    # "epoch 1 train loss 438.60 test loss ..."
    assert all(np.isfinite(train_losses)) and train_losses[1] < train_losses[0], proc.stdout
    assert not list(tmp_path.iterdir()), "the one-file script should write no files"


def _table_rows(markdown, header_start):
    """The rows of the markdown table whose header line starts with ``header_start`` (header included)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _cells(row):
    return [c for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]      # an escaped \| stays inside its cell


def test_the_lesson_plan_table_has_as_many_cells_in_each_row_as_its_header():
    readme = (TUTORIALS / "README.md").read_text()
    rows = _table_rows(readme, "| # | file |")
    assert len(rows) >= 2 + 17, rows[:3]
    width = len(_cells(rows[0]))
    bad = [row[:40] for row in rows if len(_cells(row)) != width]
    assert not bad, f"rows with a cell too many or too few: {bad}"
    assert "(SYLLABUS.md)" in readme and (TUTORIALS / "SYLLABUS.md").exists()


def test_every_exercise_is_named_in_plain_text_in_a_heading():
    """The site's table of contents drops code spans from headings: "## Exercise: `kl_backward`" showed as
    "Exercise:". Each exercise's name is in a heading of its tutorial, outside backticks."""
    missing = []
    for script in SCRIPTS:
        text = script.read_text()
        names = re.findall(r"^# EXERCISE: (\w+)", text, flags=re.M)
        headings = [re.sub(r"`[^`]*`", "", h) for h in re.findall(r"^# #+ (.*)$", text, flags=re.M)]
        missing += [f"{script.name}: {n}" for n in names if not any(re.search(rf"\b{n}\b", h) for h in headings)]
    assert not missing, missing
