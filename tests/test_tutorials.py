"""Every tutorial runs top to bottom in fast mode (NUMPYVAE_FAST=1), headless, without touching the repo
(the heaviest ones in the slow tier, `pytest -m slow`, which .ci/run runs after the default suite)."""
import os
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
    assert {f"{i:02d}" for i in range(1, 18)} <= set(numbers), numbers


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
