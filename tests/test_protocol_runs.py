"""Every kind of model through the same commands: train, resume (bit for bit), evaluate, sample and plot;
one checkpoint format and one reader that refuses damaged files of every kind in one line; the old
formats (format 1, helmholtz.npz) still read; the former side roads' flags checked before any work.

The data is the first 600 training and 200 test digits (tests/conftest.py), patched in where the
trainer and the evaluator load a dataset, so every run takes a second or two.
"""
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import numpyvae.datasets
import numpyvae.run.train
from numpyvae.run import checkpoint as ckpt
from numpyvae.cli import main

DATA = Path(__file__).parent / "data"
TINY = ["--epochs", "2", "--batch-size", "100", "--quiet", "--no-plots"]
KINDS = {
    "vae": ["--model", "vae", "--hidden", "16", "--z-dim", "2"],
    "hvae": ["--model", "hvae", "--stochastic", "4", "2", "--hidden", "8"],
    "m2": ["--model", "m2", "--labels", "20", "--classifier-hidden", "8", "--hidden", "16", "--z-dim", "2"],
    "helmholtz": ["--model", "helmholtz", "--hidden", "16", "--z-dim", "4"],
    "avb": ["--model", "avb", "--hidden", "16", "--z-dim", "2", "--critic-steps", "2"],
}
#: history fields that are measured time, not state
TIMING = ("seconds", "samples_per_sec")


def cli(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def state(path):
    """Every member of a checkpoint that is state (weights, optimizers, generators), as arrays."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith(("param/", "optim/", "rng/"))}


def untimed(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


# ---- 1. one set of commands for every kind ------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_trains_resumes_bit_for_bit_evaluates_samples_and_plots(kind, small, tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert cli(["train", *KINDS[kind], *TINY, "--out", straight], capsys)[0] == 0
    one = [a if a != "2" or i == 0 or TINY[i - 1] != "--epochs" else "1" for i, a in enumerate(TINY)]
    assert cli(["train", *KINDS[kind], *one, "--out", resumed], capsys)[0] == 0
    assert cli(["resume", resumed, "--epochs", "2", "--quiet", "--no-plots"], capsys)[0] == 0
    a, b = state(straight / ckpt.CHECKPOINT), state(resumed / ckpt.CHECKPOINT)
    assert sorted(a) == sorted(b) and any(k.startswith("param/") for k in a)
    changed = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not changed, changed
    assert untimed(ckpt.load_run(straight).history) == untimed(ckpt.load_run(resumed).history)
    assert ckpt.load_run(resumed).kind == kind

    code, out, err = cli(["evaluate", resumed, "--k", "5", "--n-test", "20"], capsys)
    assert code == 0, err
    results = json.loads((resumed / "evaluation.json").read_text())
    assert np.isfinite(results["log_likelihood"]) and results["k"] == 5 and results["n_test"] == 20
    assert "log p(x), IS k=5" in out
    assert cli(["sample", resumed, "-n", "4"], capsys)[0] == 0 and (resumed / "samples.png").stat().st_size > 0
    code, out, err = cli(["plot", resumed], capsys)
    assert code == 0, err
    assert {"history.png", "samples.png", "reconstructions.png"} <= {Path(line.split()[-1]).name
                                                                      for line in out.splitlines()}


def test_the_checkpoint_layout_is_one_format_with_groups(small, tmp_path, capsys):
    """format 2: version, kind, config, param/<group>/<name>, optim/<group>/...; AVB's critic group took
    critic_steps updates per step (6 steps of 100 of the 600 digits, 2 epochs)."""
    out = tmp_path / "avb"
    assert cli(["train", *KINDS["avb"], *TINY, "--out", out], capsys)[0] == 0
    with np.load(out / ckpt.CHECKPOINT) as f:
        assert int(f["format_version"]) == 2 and str(f["kind"]) == "avb"
        groups = {k.split("/")[1] for k in f.files if k.startswith("param/")}
        assert groups == {"generator", "critic"}
        assert int(f["optim/generator/t"]) == 12 and int(f["optim/critic/t"]) == 24
        assert {"rng/model", "rng/trainer", "config", "progress"} <= set(f.files)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kinds_config_round_trips(kind, small, tmp_path, capsys):
    """What a model needs to be rebuilt is in its saved config: rebuilt from the JSON alone it has the same
    parameter names and shapes, and the same config."""
    from numpyvae.models.registry import model_from_kind
    out = tmp_path / kind
    assert cli(["train", *KINDS[kind], *TINY, "--out", out], capsys)[0] == 0
    run = ckpt.load_run(out)
    config = json.loads(json.dumps(run.model.config))
    again = model_from_kind(kind, config)
    assert again.config == run.model.config
    shapes = {g: {n: a.shape for n, a in params.items()} for g, params in ckpt.model_groups(run.model).items()}
    assert shapes == {g: {n: a.shape for n, a in params.items()} for g, params in ckpt.model_groups(again).items()}


# ---- 2. one validating reader: damaged files of every kind ------------------------------------------

def _damage(path: Path, how: str):
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[:len(raw) // 2])
    elif how == "bit-flipped":
        flipped = bytearray(raw)
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as f:
            arrays = dict(f)
        if how == "missing member":
            del arrays[next(k for k in arrays if k.startswith("param/"))]
        elif how == "missing generator state":
            del arrays["rng/model"]
        elif how == "NaN weights":
            key = next(k for k in arrays if k.startswith("param/") and arrays[k].ndim == 2)
            arrays[key] = np.full_like(arrays[key], np.nan)
        elif how == "stray member":
            arrays["payload"] = np.arange(3)
        elif how == "another kind":
            arrays["kind"] = np.array("avb" if str(arrays["kind"]) != "avb" else "m2")
        with open(path, "wb") as f:
            np.savez(f, **arrays)


DAMAGE = {"truncated": "corrupt", "bit-flipped": "corrupt", "empty": "corrupt or not a numpyvae checkpoint",
          "missing member": "parameter names do not match", "missing generator state": "rng/model",
          "NaN weights": "contains NaN or inf", "stray member": "does not have: ['payload']",
          "another kind": "model"}


@pytest.fixture(scope="module")
def runs(small_digits, tmp_path_factory):
    """One finished 1-epoch run of each kind, to copy and damage."""
    made = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpyvae.run.train, "load", lambda name, dtype=None: small_digits)
        base = tmp_path_factory.mktemp("runs")
        for kind in ("vae", "m2", "helmholtz", "avb"):
            argv = ["train", *KINDS[kind], "--epochs", "1", "--batch-size", "100", "--quiet", "--no-plots",
                    "--out", str(base / kind)]
            assert main(argv) == 0
            made[kind] = base / kind
    return made


@pytest.mark.parametrize("kind", ["vae", "m2", "helmholtz", "avb"])
@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_checkpoint_of_any_kind_is_one_line_naming_the_file(kind, how, runs, small, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs[kind], run)
    (run / "LOCK").unlink(missing_ok=True)
    _damage(run / ckpt.CHECKPOINT, how)
    for command in (["resume", run, "--epochs", "2", "--quiet", "--no-plots"], ["evaluate", run, "--k", "2"],
                    ["plot", run], ["sample", run, "-n", "2"]):
        if how == "missing generator state" and command[0] != "resume":
            continue                     # the weights are whole: it evaluates, it only cannot resume bit for bit
        code, out, err = cli(command, capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("numpyvae: error: "), (command, err)
        assert str(run / ckpt.CHECKPOINT) in lines[0] and DAMAGE[how] in lines[0], (command, lines[0])


# ---- 3. what today's main wrote still reads -------------------------------------------------------

OLD = json.loads((DATA / "old_runs.json").read_text())


def _old_run(name, tmp_path):
    run = tmp_path / name
    shutil.copytree(DATA / name, run)
    return run


def test_a_format_1_run_evaluates_to_the_old_numbers_and_resumes_into_format_2(tmp_path, capsys):
    run = _old_run("format1_vae_run", tmp_path)
    assert cli(["evaluate", run, "--k", "20", "--n-test", "50"], capsys)[0] == 0
    got = json.loads((run / "evaluation.json").read_text())
    for name in ("log_likelihood", "test_elbo"):
        assert got[name] == pytest.approx(OLD["format1_vae_run"][name], rel=1e-6)
    assert cli(["resume", run, "--epochs", "2", "--quiet", "--no-plots"], capsys)[0] == 0
    saved = ckpt.read_checkpoint(run)
    assert saved.format_version == 2 and saved.kind == "vae" and saved.progress["epoch"] == 2


def test_a_helmholtz_npz_run_evaluates_and_resumes_as_the_old_trainer_would_have_continued(tmp_path, capsys):
    """The old trainer could not resume; resumed now for one epoch, the weights are those it reached by
    training 2 epochs straight (their sums recorded in tests/data/old_runs.json)."""
    run = _old_run("helmholtz_npz_run", tmp_path)
    assert cli(["evaluate", run, "--k", "20", "--n-test", "50"], capsys)[0] == 0
    got = json.loads((run / "evaluation.json").read_text())
    assert got["log_likelihood"] == pytest.approx(OLD["helmholtz_npz_run"]["log_likelihood"], rel=1e-6)
    assert got["elbo_same_samples"] == pytest.approx(OLD["helmholtz_npz_run"]["elbo"], rel=1e-6)
    assert cli(["plot", run], capsys)[0] == 0 and (run / "history.png").is_file()
    assert cli(["resume", run, "--epochs", "2", "--quiet", "--no-plots"], capsys)[0] == 0
    saved = ckpt.read_checkpoint(run)
    assert saved.format_version == 2 and saved.kind == "helmholtz"
    sums = {k: float(v.astype(np.float64).sum()) for k, v in saved.groups["model"].items()}
    want = OLD["helmholtz_npz_run"]["param_sums_after_2_epochs"]
    assert sorted(sums) == sorted(want)
    for k in want:
        assert sums[k] == pytest.approx(want[k], rel=1e-4, abs=1e-4), k


@pytest.mark.parametrize("how, message", [
    ("truncated", "corrupt"), ("bit-flipped", "corrupt"), ("empty", "corrupt or not a numpyvae checkpoint"),
    ("no meta", "has checkpoint format version -1, this numpyvae reads versions 1 and 2"),
    ("missing member", "parameter names do not match"),
    ("crafted history", "the history has 1 row(s) for 7 epoch(s) done"),
    ("a VAE checkpoint renamed into it", "holds a vae model, not a Helmholtz machine"),
])
def test_a_damaged_helmholtz_npz_is_one_line(how, message, tmp_path, capsys):
    run = _old_run("helmholtz_npz_run", tmp_path)
    path = run / "helmholtz.npz"
    if how in ("truncated", "bit-flipped", "empty", "missing member"):
        _damage(path, how)
    elif how == "a VAE checkpoint renamed into it":
        shutil.copy(DATA / "format1_vae_run" / ckpt.CHECKPOINT, path)
    else:
        with np.load(path) as f:
            arrays = dict(f)
        if how == "no meta":
            del arrays["meta"]
        else:
            meta = json.loads(str(arrays["meta"]))
            meta["epoch"] = 7
            arrays["meta"] = np.array(json.dumps(meta))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    for command in (["evaluate", run, "--k", "2"], ["resume", run, "--epochs", "9", "--quiet"], ["plot", run]):
        code, out, err = cli(command, capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and str(path) in lines[0] and message in lines[0], (command, err)


# ---- 4. the side roads' flags, checked before any work ----------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--lr", "0"], "lr must be a number > 0, got 0"),
    (["--hidden", "0"], "each hidden size must be an integer >= 1, got 0"),
    (["--batch-size", "1000000"], "batch_size 1000000 is larger than the 600 training examples"),
    (["--critic-steps", "0"], "critic_steps must be an integer >= 1, got 0"),
    (["--lr-critic", "-1"], "lr_critic must be a number >= 0, got -1"),
    (["--labels", "20"], "labels is a setting of --model m2, not of --model avb"),
    (["--objective", "iwae", "--n-samples", "2"], "objective = 'iwae' is not a setting of --model avb"),
])
def test_avb_flags_are_checked_before_any_work(flags, message, small, tmp_path, capsys):
    code, out, err = cli(["train", "--model", "avb", *flags, "--epochs", "1", "--out", tmp_path / "r", "--quiet"],
                         capsys)
    assert code == 2 and err.startswith("numpyvae: error: ") and message in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", [["m2", "--labels", "96"], ["helmholtz"]])
def test_models_of_binary_pixels_refuse_the_ring_before_any_work(model, tmp_path, capsys):
    code, out, err = cli(["train", "--model", *model, "--dataset", "ring", "--epochs", "1", "--out", tmp_path / "r"],
                         capsys)
    assert code == 2 and err.strip() == (f"numpyvae: error: --model {model[0]} models pixels in [0, 1] (Bernoulli); "
                                         "dataset 'ring' has values in [-1.444, 1.41]: use an image dataset")
    assert not (tmp_path / "r").exists()


def test_model_hvae_needs_its_layer_sizes(tmp_path, capsys):
    code, out, err = cli(["train", "--model", "hvae", "--epochs", "1", "--out", tmp_path / "r"], capsys)
    assert code == 2 and err.strip() == ("numpyvae: error: config: model hvae is a hierarchy: give its stochastic "
                                         "layer sizes, e.g. --stochastic 100 50")
    assert not (tmp_path / "r").exists()


def test_avb_on_the_ring_writes_its_pictures(tmp_path, capsys):
    """The old --figure was never written on the ring; the run's pictures are, whatever the data."""
    out = tmp_path / "ring"
    code, stdout, err = cli(["train", "--model", "avb", "--preset", "ring", "--epochs", "1", "--out", out,
                             "--quiet"], capsys)
    assert code == 0, err
    for name in ("history.png", "samples.png", "reconstructions.png"):
        assert (out / name).stat().st_size > 0 and f"wrote {out / name}" in stdout
    assert cli(["evaluate", out, "--k", "50", "--n-test", "20"], capsys)[0] == 0
    got = json.loads((out / "evaluation.json").read_text())
    # on 2-D data with a 2-D latent, quadrature is the judge of the fitted-proposal estimate
    assert abs(got["log_likelihood"] - got["log_likelihood_quadrature"]) < 0.5, got


def test_evaluate_on_a_helmholtz_run_honours_baseline_refuses_gaps_and_has_the_time_guard(runs, small, tmp_path,
                                                                                        capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["helmholtz"], run)
    code, out, err = cli(["evaluate", run, "--gaps", "--k", "5"], capsys)
    assert code == 2 and err.strip() == ("numpyvae: error: evaluate --gaps: the Helmholtz machine's q(h|x) is over "
                                         f"binary h, with no Gaussian q to optimize per example; evaluate {run} "
                                         "without --gaps")
    start = time.perf_counter()
    code, out, err = cli(["evaluate", run, "--k", "1000000000"], capsys)
    assert code == 2 and "would take about" in err and "--force" in err
    assert time.perf_counter() - start < 20
    code, out, err = cli(["evaluate", run, "--k", "5", "--baseline"], capsys)
    assert code == 0, err
    assert "mixture, bernoulli K=10" in out and "mixture, bernoulli K=50" in out


def test_sample_takes_a_label_for_the_models_that_have_labels(runs, small, tmp_path, capsys):
    run = tmp_path / "m2"
    shutil.copytree(runs["m2"], run)
    assert cli(["sample", run, "-n", "3", "--label", "7", "--out", tmp_path / "s.png"], capsys)[0] == 0
    model = ckpt.load_run(run).model
    drawn = model.sample(3, np.random.default_rng(0), y=7)
    assert np.array_equal(drawn, model.vae.sample(3, rng=np.random.default_rng(0), y=np.full(3, 7)))
    code, out, err = cli(["sample", run, "-n", "3", "--label", "10"], capsys)
    assert code == 2 and "sample --label 10: the model's labels are 0..9" in err
    code, out, err = cli(["sample", runs["helmholtz"], "-n", "3", "--label", "1"], capsys)
    assert code == 2 and "holds a helmholtz model without labels; remove --label" in err


def test_a_conditional_vae_run_samples_the_label_it_is_given(small, tmp_path, capsys):
    out = tmp_path / "cond"
    assert cli(["train", "--conditional", "--hidden", "8", "--z-dim", "2", *TINY, "--out", out], capsys)[0] == 0
    code, _, err = cli(["sample", out, "-n", "2"], capsys)
    assert code == 2 and err.strip().endswith("holds a conditional VAE; say which digit with --label 0..9")
    assert cli(["sample", out, "-n", "2", "--label", "4"], capsys)[0] == 0 and (out / "samples.png").is_file()
