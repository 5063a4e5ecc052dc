"""The command line: end to end on small runs, and one clear line for every user error."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from numpyvae.run import checkpoint as ckpt
from numpyvae.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--preset", "ring", "--hidden", "16", "--epochs", "2", "--quiet"]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands[0] == "pip install -e . && python -m numpyvae train"
    assert "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_train_then_resume_then_sample(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out), "--no-plots"]) == 0
    assert len(json.loads((out / "history.json").read_text())) == 2
    assert main(["resume", str(out), "--epochs", "3", "--quiet", "--no-plots"]) == 0
    assert len(ckpt.load_run(out).history) == 3
    assert main(["resume", str(out), "--quiet", "--no-plots"]) == 0
    assert "already trained 3 of 3" in capsys.readouterr().out


def test_flags_beat_config_file_beat_preset(tmp_path):
    from numpyvae.cli import build_parser, config_from_args
    toml = tmp_path / "c.toml"
    toml.write_text('z_dim = 3\nlr = 0.01\nhidden = [30, 20]\n')
    args = build_parser().parse_args(["train", "--preset", "keras", "--config", str(toml), "--lr", "0.5"])
    cfg = config_from_args(args)
    assert (cfg.optimizer, cfg.z_dim, cfg.hidden, cfg.lr) == ("rmsprop", 3, [30, 20], 0.5)


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "0"], "epochs must be an integer >= 1"),
    (["train", "--batch-size", "50000", *SMALL[:2]], "larger than the"),
    (["resume", "/nonexistent/run"], "no checkpoint at /nonexistent/run"),
    (["evaluate", "/nonexistent/run"], "does not exist"),
    (["plot", "/nonexistent/run"], "does not exist"),
    (["sample", "/nonexistent/run"], "does not exist"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: ") and message in err and "Traceback" not in err


def test_bad_config_files(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 1\nlearning_rate = 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown key(s) ['learning_rate']" in capsys.readouterr().err
    bad.write_text("epochs = = 1\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_data_the_likelihood_cannot_model_is_refused_before_training(capsys):
    assert main(["train", "--dataset", "ring", "--likelihood", "bernoulli", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dataset 'ring' with likelihood 'bernoulli'" in err and "[0, 1]" in err


def test_unknown_flag_values_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--likelihood", "poisson"])
    assert exit_.value.code == 2
    assert "invalid choice: 'poisson'" in capsys.readouterr().err


def test_corrupt_checkpoint_in_a_run_dir_keeps_the_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out), "--no-plots"]) == 0
    (out / "checkpoint.npz").write_bytes(b"not a zip")
    assert main(["resume", str(out), "--epochs", "3", "--quiet"]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert (out / "history.json").exists()     # nothing of the run was deleted


def test_training_into_an_existing_run_refuses(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--out", str(out), "--no-plots"]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    assert main(["train", *SMALL, "--out", str(out), "--no-plots"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert np.isfinite(ckpt.load_model(out).flat_params).all()
