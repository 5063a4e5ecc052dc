"""`evaluate` and `sample` on every kind of VAE run, from the command line.

* a Gumbel-softmax run is importance-sampled with its unrelaxed categorical q(c|x), and the
  table says which bound it reports (the relaxed ELBO) and what the estimate is;
* `sample --label N` draws a conditional VAE's class N; a missing or useless --label is one line;
* `evaluate --gaps` on a hierarchy is refused in one line (it crashed in Dense.forward);
* the table names the objective a run was trained on: an IWAE run's ELBO is not "the training objective".
"""
import json

import numpy as np
import pytest

from numpyvae.cli import main

FLAGS = ["--hidden", "16", "--epochs", "1", "--batch-size", "50", "--quiet", "--no-plots"]


@pytest.fixture
def small_training(monkeypatch, small_digits):
    import numpyvae.measure.run_data as run_data_module
    import numpyvae.run.train as train_module
    monkeypatch.setattr(train_module, "load", lambda name, dtype=None: small_digits)
    monkeypatch.setattr(run_data_module, "_dataset_for", lambda config: small_digits)
    return small_digits


def _one_line_error(capsys, *phrases):
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for phrase in phrases:
        assert phrase in err, err


def test_a_gumbel_softmax_run_is_evaluated_with_its_unrelaxed_categorical(tmp_path, small_training, capsys):
    run = str(tmp_path / "cat")
    assert main(["train", *FLAGS, "--posterior", "gumbel:4", "--prior", "categorical", "--z-dim", "8",
                 "--out", run]) == 0
    capsys.readouterr()
    assert main(["evaluate", run, "--k", "20", "--n-test", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ELBO, relaxed" in out and "unrelaxed categorical q(c|x) as the proposal" in out
    assert "a lower bound" not in out.split("ELBO, relaxed")[1].splitlines()[0]     # it bounds no log p(x)
    saved = json.loads((tmp_path / "cat" / "evaluation.json").read_text())
    assert np.isfinite(saved["log_likelihood"]) and saved["sandwich"]["elbo"] <= saved["log_likelihood"] + 1e-9
    assert saved["bound_reported"][0] == "ELBO, relaxed"


def test_sample_draws_a_conditional_vaes_label_and_refuses_a_missing_one(tmp_path, small_training, capsys):
    run = str(tmp_path / "cvae")
    assert main(["train", *FLAGS, "--conditional", "--z-dim", "2", "--out", run]) == 0
    out = tmp_path / "three.png"
    assert main(["sample", run, "--label", "3", "-n", "8", "--out", str(out)]) == 0
    assert out.stat().st_size > 500
    assert main(["sample", run, "-n", "8", "--out", str(out)]) == 2
    _one_line_error(capsys, "holds a conditional VAE", "--label 0..9")
    assert main(["sample", run, "--label", "10", "--out", str(out)]) == 2
    _one_line_error(capsys, "--label 10", "labels are 0..9")


def test_label_on_an_unconditional_run_is_one_line(tmp_path, small_training, capsys):
    run = str(tmp_path / "vae")
    assert main(["train", *FLAGS, "--z-dim", "2", "--out", run]) == 0
    capsys.readouterr()
    assert main(["sample", run, "--label", "1", "--out", str(tmp_path / "s.png")]) == 2
    _one_line_error(capsys, "without labels; remove --label")


def test_gaps_on_a_hierarchy_is_refused_in_one_line(tmp_path, small_training, capsys):
    run = str(tmp_path / "hvae")
    assert main(["train", *FLAGS, "--stochastic", "4", "2", "--out", run]) == 0
    capsys.readouterr()
    assert main(["evaluate", run, "--k", "5", "--n-test", "30", "--gaps", "--quiet"]) == 2
    _one_line_error(capsys, "--gaps", "does not apply", "hierarchy")


def test_evaluate_names_the_objective_a_run_was_trained_on(tmp_path, small_training, capsys):
    run = str(tmp_path / "iwae")
    assert main(["train", *FLAGS, "--z-dim", "2", "--objective", "iwae", "--n-samples", "2", "--out", run]) == 0
    capsys.readouterr()
    assert main(["evaluate", run, "--k", "5", "--n-test", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trained on the IWAE bound, k = 2" in out
    assert "the training objective, a lower bound" not in out and "a lower bound (not the training objective)" in out
