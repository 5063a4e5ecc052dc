"""Issue 15: no lost runs, no silent wrong answers, no tracebacks. Each test reproduces one report first."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numpyvae.checks import NonFiniteError

from numpyvae.run import checkpoint as ckpt
from numpyvae.run import checkpoint_format as ckpt_file
from numpyvae.cli import main
from numpyvae.datasets.dataset import Dataset
from numpyvae.files import DirectoryInUse, DirectoryLock
from numpyvae.run.divergence import TrainingDiverged
from numpyvae.run.resume import RunNotSaved
from numpyvae.run.train import TrainConfig, Trainer

RING = ["--preset", "ring", "--hidden", "16", "--quiet", "--no-plots"]


def cfg(**kw):
    return TrainConfig(**{**dict(hidden=[32], z_dim=4, batch_size=50, epochs=2, seed=3), **kw})


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """A finished 2-epoch run on the ring data (copied by tests that change it)."""
    out = tmp_path_factory.mktemp("ring") / "run"
    assert main(["train", *RING, "--epochs", "2", "--out", str(out)]) == 0
    return out


def copy_run(ring_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(ring_run, dst)
    return dst


def cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


# ---- 1. run-directory ownership ---------------------------------------------------------

def test_a_second_trainer_on_a_directory_in_use_is_refused_naming_the_owner(small_digits, tmp_path):
    first = Trainer(cfg(), data=small_digits, run_dir=tmp_path, quiet=True)
    with pytest.raises(DirectoryInUse, match=rf"in use by process {os.getpid()} on host {socket.gethostname()}"):
        Trainer(cfg(seed=4), data=small_digits, run_dir=tmp_path, quiet=True)
    first.fit(epochs=1)
    first.close()
    with pytest.raises(FileExistsError, match="already holds a run"):     # free now, but it holds a run
        Trainer(cfg(seed=4), data=small_digits, run_dir=tmp_path, quiet=True)
    assert ckpt.read_checkpoint(tmp_path).run_config["seed"] == 3


HOLD_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    from numpyvae.files import DirectoryLock
    DirectoryLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.readline()               # wait until told
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_lock_held_by_a_live_process_refuses_and_dies_with_it(tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_DIE, str(tmp_path / "run")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        code, err = cli(["train", *RING, "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and f"in use by process {proc.pid} on host {socket.gethostname()}" in err
        proc.stdin.write("die\n")
        proc.stdin.flush()
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        proc.kill()
    # the killed owner left its LOCK file but no lock
    assert (tmp_path / "run" / DirectoryLock.NAME).exists()
    code, err = cli(["train", *RING, "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 0


def test_two_trainings_started_together_into_one_out_leave_one_run(tmp_path):
    out = tmp_path / "x"
    procs = [subprocess.Popen([sys.executable, "-m", "numpyvae", "train", *RING, "--epochs", "3", "--seed", str(s),
                               "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in (0, 1)]
    results = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "Traceback" not in loser and ("is in use by process" in loser or "already holds a run" in loser)
    winner = next(s for s, (code, _, _) in zip((0, 1), results) if code == 0)
    run = ckpt.load_run(out)
    assert run.config["seed"] == winner and len(run.history) == 3


# ---- 2. writability before the work -------------------------------------------------------

def test_out_paths_that_cannot_be_run_directories_fail_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = cli(["train", *RING, "--out", str(tmp_path / "file")], capsys)
    assert code == 2 and "a file of that name exists" in err
    code, err = cli(["train", *RING, "--out", str(tmp_path / "file" / "sub")], capsys)
    assert code == 2 and "a part of the path is a file" in err
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_out_directory_fails_before_training(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, err = cli(["train", *RING, "--out", str(ro / "run")], capsys)
        assert code == 2 and "cannot write" in err
    finally:
        ro.chmod(0o755)


def test_evaluate_sample_and_plot_check_their_outputs_before_the_work(ring_run, tmp_path, capsys):
    run = copy_run(ring_run, tmp_path)
    (run / "evaluation.json").mkdir()
    code, err = cli(["evaluate", str(run), "--k", "10", "--quiet"], capsys)
    assert code == 2 and "evaluation.json: a directory is in the way" in err
    (tmp_path / "dir.npy").mkdir()
    code, err = cli(["sample", str(run), "--out", str(tmp_path / "dir.npy")], capsys)
    assert code == 2 and "a directory is in the way" in err
    code, err = cli(["sample", str(run), "--out", str(tmp_path / "nowhere" / "s.png")], capsys)
    assert code == 2 and "does not exist" in err
    (run / "history.png").mkdir()
    code, err = cli(["plot", str(run)], capsys)
    assert code == 2 and "history.png: a directory is in the way" in err


def test_a_full_disk_keeps_the_last_checkpoint_and_says_so(small_digits, tmp_path, monkeypatch):
    t = Trainer(cfg(epochs=3), data=small_digits, run_dir=tmp_path, quiet=True)
    t.fit(epochs=1)
    before = (tmp_path / ckpt.CHECKPOINT).read_bytes()

    def no_space(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(RunNotSaved, match=r"could not save epoch 2 .*No space left on device; the checkpoint of "
                                          r"epoch 1 is kept whole.*resume"):
        t.fit()
    t.close()
    assert (tmp_path / ckpt.CHECKPOINT).read_bytes() == before
    assert not list(tmp_path.glob("*.part"))


def test_ctrl_c_keeps_the_last_epoch_and_frees_the_directory(small_digits, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real = Trainer._train_epoch
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self)
    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    code, err = cli(["train", *RING, "--epochs", "3", "--out", str(out)], capsys)
    assert code == 130 and f"resume {out}" in err
    assert ckpt.read_checkpoint(out).progress["epoch"] == 1
    monkeypatch.setattr(Trainer, "_train_epoch", real)
    assert cli(["resume", str(out), "--quiet", "--no-plots"], capsys)[0] == 0
    assert ckpt.read_checkpoint(out).progress["epoch"] == 3


# ---- 3. divergence ------------------------------------------------------------------------

def test_a_real_blow_up_is_reported_in_the_documented_form_true_to_the_disk(small_digits, tmp_path):
    # lr = 10 with these settings (seed 0, the output bias started at zero) overflows z in the first
    # batch of epoch 2; from the data-mean start (the default since issue 25) it overflows elsewhere
    t = Trainer(cfg(lr=10.0, seed=0, epochs=6, output_bias="zero"), data=small_digits, run_dir=tmp_path, quiet=True)
    with pytest.raises(TrainingDiverged) as err:
        t.fit()
    t.close()
    message = str(err.value)
    assert message.startswith("the loss became ") and " at epoch 2, batch 1; " in message
    assert "the last good checkpoint (epoch 1) is kept" in message
    assert ckpt.read_checkpoint(tmp_path).progress["epoch"] == 1
    assert "--lr 1" in message


def poison(trainer, at: int, make):
    """Make call number `at` (and later, via make(n, loss)) of loss_and_grads return a chosen loss or raise."""
    real = trainer.model.loss_and_grads
    calls = {"n": 0}

    def poisoned(*a, **kw):
        calls["n"] += 1
        loss, grads = real(*a, **kw)
        return (make(calls["n"], loss), grads) if calls["n"] >= at else (loss, grads)
    trainer.model.loss_and_grads = poisoned


def test_a_blow_up_before_any_checkpoint_says_there_is_none(small_digits, tmp_path):
    t = Trainer(cfg(), data=small_digits, run_dir=tmp_path, quiet=True)

    def raise_nonfinite(n, loss):
        raise NonFiniteError("VAE.decode: z contains 3 non-finite value(s) (NaN or inf)")
    poison(t, 3, raise_nonfinite)
    with pytest.raises(TrainingDiverged, match=r"non-finite inside the model \(VAE.decode.*\) at epoch 1, batch 3; "
                                               r"no checkpoint was written yet"):
        t.fit()
    t.close()
    assert not (tmp_path / ckpt.CHECKPOINT).exists()


def test_a_real_error_inside_the_model_is_not_called_divergence(small_digits):
    t = Trainer(cfg(), data=small_digits, quiet=True)

    def raise_other(n, loss):
        raise ValueError("Dense: x has 3 columns, expected 784")
    poison(t, 1, raise_other)
    with pytest.raises(ValueError, match="Dense: x has 3 columns"):
        t.fit()


@pytest.mark.parametrize("make,match", [
    (lambda n, loss: loss * 1e6 if n == 30 else loss, r"exploded to .*e\+0[78], over 10000 times"),
    (lambda n, loss: loss * 2.0 ** (n - 24), "exploded"),                   # a steady climb, 2x per step
    (lambda n, loss: float("inf"), "the loss became inf at epoch 3, batch 1"),
])
def test_exploding_and_infinite_losses_stop_the_run(small_digits, make, match):
    t = Trainer(cfg(epochs=4), data=small_digits, quiet=True)     # 12 steps per epoch
    poison(t, 25, make)
    with pytest.raises(TrainingDiverged, match=match) as err:
        t.fit()
    assert "nothing was saved (no run directory)" in str(err.value)


def test_losses_that_fall_or_cross_zero_are_not_explosions(small_digits):
    t = Trainer(cfg(), data=small_digits, quiet=True)
    t.model.flat_grads[:] = 0.0
    # a learned-Gaussian run: from +540 nats down through 0 to −900, with a near-zero stretch
    losses = np.concatenate([np.linspace(540, 0.5, 40), np.linspace(0.5, -0.5, 40), np.linspace(-1, -900, 60)])
    for b, loss in enumerate(losses):
        t._check_step(float(loss), b)
    assert 0 < t._scale < 1     # the near-zero block set a small scale ...
    t._check_step(-9000.0, 0)   # ... and 10 times the loss is still no explosion (floor: 1 nat)
    with pytest.raises(TrainingDiverged, match="exploded"):
        t._check_step(-2e4, 0)


# ---- 5. checkpoint edge cases ---------------------------------------------------------------

def test_a_checkpoint_without_training_state_is_refused_by_resume(tmp_path, capsys):
    from numpyvae.models.vae import VAE
    (tmp_path / "run").mkdir()
    ckpt_file.save_checkpoint(tmp_path / "run" / ckpt.CHECKPOINT, VAE(2, [4], 2))
    code, err = cli(["resume", str(tmp_path / "run")], capsys)
    assert code == 2 and "no training state" in err and "cannot be resumed" in err


def test_a_npy_file_named_checkpoint_npz_is_refused(tmp_path):
    with open(tmp_path / ckpt.CHECKPOINT, "wb") as f:
        np.save(f, np.arange(3))
    with pytest.raises(ckpt.CheckpointError, match=r"checkpoint.npz is a single .npy array"):
        ckpt.read_checkpoint(tmp_path)


def test_a_corrupt_zip_member_names_the_file_and_the_corruption(ring_run, tmp_path, capsys):
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"param/model/encoder.0.W.npy") - 46     # the member's central-directory record
    assert raw[central:central + 4] == b"PK\x01\x02"
    raw[central + 10] = 99                           # its compression method: 99, which no reader knows
    path.write_bytes(bytes(raw))
    with pytest.raises(NotImplementedError):         # what numpy/zipfile raise on their own
        with np.load(path) as f:
            f["param/model/encoder.0.W"]
    code, err = cli(["resume", str(run), "--epochs", "3"], capsys)
    assert code == 2 and f"{path} is corrupt: a member cannot be read" in err


@pytest.mark.parametrize("progress,match", [
    ({"epoch": -1, "history": []}, "progress epoch must be an integer >= 0, got -1"),
    ({"epoch": 5, "history": []}, "the history has 0 row"),
    ({"epoch": 1.5, "history": []}, "progress epoch must be an integer"),
    ({"epoch": 2, "history": [{"epoch": 1}, {"epoch": 1}]}, "history row 2 is not the record of epoch 2"),
])
def test_crafted_progress_is_refused(ring_run, tmp_path, capsys, progress, match):
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT
    with np.load(path) as f:
        arrays = dict(f)
    arrays["progress"] = np.array(json.dumps(progress))
    np.savez(path, **arrays)
    code, err = cli(["resume", str(run), "--epochs", "3"], capsys)
    assert code == 2 and match in err
    code, err = cli(["plot", str(run)], capsys)
    assert code == 2 and match in err


def test_an_optimizer_step_count_that_disagrees_with_the_epochs_is_refused(ring_run, tmp_path, capsys):
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT
    with np.load(path) as f:
        arrays = dict(f)
    arrays["optim/model/t"] = arrays["optim/model/t"] + 1
    np.savez(path, **arrays)
    code, err = cli(["resume", str(run), "--epochs", "3"], capsys)
    assert code == 2 and "the checkpoint is inconsistent" in err


def _rewrite(path, change):
    with np.load(path) as f:
        arrays = dict(f)
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize("command", [["resume", "--epochs", "3"], ["evaluate", "--k", "2"], ["plot"], ["sample"]])
def test_a_checkpoint_with_nan_weights_is_refused_in_one_line(ring_run, tmp_path, capsys, command):
    """What is guaranteed (tutorials/reference/guarantees.md): a crafted checkpoint is refused. A NaN weight would otherwise load and give NaN everywhere."""
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT

    def poison(arrays):
        arrays["param/model/decoder.0.W"] = arrays["param/model/decoder.0.W"].copy()
        arrays["param/model/decoder.0.W"][0, 1] = np.nan
    _rewrite(path, poison)
    with pytest.raises(ckpt.CheckpointError, match=r"decoder\.0\.W contains NaN or inf"):
        ckpt.load_model(run)
    code, err = cli([command[0], str(run), *command[1:]], capsys)
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0
    assert str(path) in err and "decoder.0.W contains NaN or inf" in err


def test_a_checkpoint_missing_the_model_generator_is_refused_naming_the_member(ring_run, tmp_path, capsys):
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT
    _rewrite(path, lambda arrays: arrays.pop("rng/model"))
    code, err = cli(["resume", str(run), "--epochs", "3"], capsys)
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0
    assert str(path) in err and "rng/model" in err


# ---- 6. history consistent with the weights --------------------------------------------------

def test_a_kill_between_checkpoint_and_history_cannot_show_a_stale_history(ring_run, tmp_path, capsys):
    run = copy_run(ring_run, tmp_path)
    stale = json.loads((run / "history.json").read_text())[:1]
    (run / "history.json").write_text(json.dumps(stale))     # as if killed between the two writes
    (run / "checkpoint.npz.abc123.part").write_bytes(b"half")    # and an interrupted write's leftover
    assert len(ckpt.load_run(run).history) == 2                # readers use the checkpoint's history
    assert cli(["resume", str(run), "--epochs", "3", "--quiet", "--no-plots"], capsys)[0] == 0
    assert len(json.loads((run / "history.json").read_text())) == 3
    assert not list(run.glob("*.part"))


# ---- 9. smaller ones ---------------------------------------------------------------------------

def test_zero_training_examples(small_digits):
    empty = Dataset("digits", small_digits.x_train[:0], small_digits.y_train[:0], small_digits.x_test,
                    small_digits.y_test, small_digits.image_shape, small_digits.source)
    with pytest.raises(ValueError, match="has no training examples") as err:
        Trainer(cfg(), data=empty)
    assert "--batch-size 0" not in str(err.value)


def test_evaluate_says_what_a_huge_k_costs_and_refuses_without_force(ring_run, capsys):
    code, err = cli(["evaluate", str(ring_run), "--k", str(10 ** 13), "--quiet"], capsys)
    assert code == 2 and "would take about" in err and "hours" in err and "--force" in err
    assert not (ring_run / "evaluation.json").exists()


def test_bench_with_fewer_examples_than_a_batch(capsys):
    code, err = cli(["bench", "--examples", "10", "--batch-size", "100"], capsys)
    assert code == 2 and "--examples (10) must be at least --batch-size (100)" in err


def test_a_run_whose_model_changed_meaning_is_refused_by_resume(ring_run, tmp_path, capsys):
    """A checkpoint whose model config disagrees with what its run config builds today (say, a learned
    Gaussian saved before min_logvar had a default): same shapes, another model, so resume refuses."""
    run = copy_run(ring_run, tmp_path)
    path = run / ckpt.CHECKPOINT
    with np.load(path) as f:
        arrays = dict(f)
    config = json.loads(str(arrays["config"]))
    config["model"]["likelihood_kwargs"] = {"sigma": 0.5}      # the run config says sigma = 0.05
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    code, err = cli(["resume", str(run), "--epochs", "3"], capsys)
    assert code == 2 and "differs from the one its run config builds" in err and "likelihood_kwargs" in err


def test_a_run_refused_while_building_leaves_no_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = cli(["train", "--dataset", "ring", "--likelihood", "bernoulli", "--quiet"], capsys)   # data refused
    assert code == 2 and "[0, 1]" in err
    assert not list((tmp_path / "runs").iterdir())
    code, err = cli(["train", *RING, "--batch-size", "100000", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and not (tmp_path / "o").exists()
