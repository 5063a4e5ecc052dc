"""Trainer and checkpoints: determinism, exact resume, atomic saves, divergence, bad input."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from numpyvae.run import checkpoint as ckpt
from numpyvae.run import checkpoint_format as ckpt_file
from numpyvae.run.presets import PRESETS
from numpyvae.run.divergence import TrainingDiverged
from numpyvae.run.train import TrainConfig, Trainer, train


def cfg(**kw):
    base = dict(hidden=[32], z_dim=4, batch_size=50, epochs=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_goes_down_and_history_is_complete(small_digits, tmp_path):
    t = Trainer(cfg(epochs=3), data=small_digits, run_dir=tmp_path, quiet=True)
    hist = t.fit()
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    for h in hist:
        assert h["val_loss"] == pytest.approx(h["val_recon"] + h["val_kl"], rel=1e-5)
        assert h["seconds"] > 0 and h["samples_per_sec"] > 0
    assert json.loads((tmp_path / "history.json").read_text()) == hist
    assert json.loads((tmp_path / "config.json").read_text())["hidden"] == [32]


def test_same_seed_same_bits(small_digits):
    a = Trainer(cfg(), data=small_digits, quiet=True)
    b = Trainer(cfg(), data=small_digits, quiet=True)
    a.fit(), b.fit()
    assert np.array_equal(a.model.flat_params, b.model.flat_params)
    c = Trainer(cfg(seed=4), data=small_digits, quiet=True)
    c.fit()
    assert not np.array_equal(a.model.flat_params, c.model.flat_params)


@pytest.mark.parametrize("opt", ["adam", "rmsprop", "momentum"])
def test_resume_gives_exactly_the_uninterrupted_weights(small_digits, tmp_path, opt, monkeypatch):
    whole = Trainer(cfg(epochs=3, optimizer=opt, warmup_epochs=2), data=small_digits, quiet=True)
    whole.fit()
    first = Trainer(cfg(epochs=3, optimizer=opt, warmup_epochs=2), data=small_digits, run_dir=tmp_path, quiet=True)
    first.fit(epochs=1)
    del first
    # resume reads the dataset by name; hand it the same small subset
    monkeypatch.setattr("numpyvae.run.train.load", lambda name, dtype: small_digits)
    resumed = Trainer.resume(tmp_path, quiet=True)
    assert resumed.epoch == 1
    resumed.fit()
    assert np.array_equal(whole.model.flat_params, resumed.model.flat_params)
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"] for h in resumed.history]


def test_checkpoint_round_trip(small_digits, tmp_path):
    t = Trainer(cfg(epochs=1), data=small_digits, run_dir=tmp_path, quiet=True)
    t.fit()
    run = ckpt.load_run(tmp_path)
    assert np.array_equal(run.model.flat_params, t.model.flat_params)
    assert run.config["hidden"] == [32] and len(run.history) == 1
    assert run.model.rng.bit_generator.state == t.model.rng.bit_generator.state


def test_diverging_loss_names_epoch_and_batch_and_keeps_checkpoint(small_digits, tmp_path):
    t = Trainer(cfg(epochs=3), data=small_digits, run_dir=tmp_path, quiet=True)
    t.fit(epochs=1)
    saved = ckpt.read_checkpoint(tmp_path).params
    real = t.model.loss_and_grads
    calls = {"n": 0}

    def poisoned(*a, **kw):
        calls["n"] += 1
        loss, grads = real(*a, **kw)
        return (float("nan"), grads) if calls["n"] == 4 else (loss, grads)

    t.model.loss_and_grads = poisoned
    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 4.*--lr"):
        t.fit()
    after = ckpt.read_checkpoint(tmp_path).params
    assert all(np.array_equal(saved[k], after[k]) for k in saved)


KILL_WHILE_SAVING = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from numpyvae.run import checkpoint_format as ckpt_file
    from numpyvae.models.vae import VAE
    model = VAE(6, [5], 2)
    real_savez = np.savez
    def savez_then_die(f, **arrays):
        f.write(b"PK\\x03\\x04 half a zip file")   # a partial write ...
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)        # ... and the process dies
    np.savez = savez_then_die
    model.flat_params[:] = 1.0
    ckpt_file.save_checkpoint(sys.argv[1], model)
""")


def test_a_run_killed_while_saving_leaves_the_previous_checkpoint(tmp_path):
    from numpyvae.models.vae import VAE
    path = tmp_path / "checkpoint.npz"
    model = VAE(6, [5], 2)
    ckpt_file.save_checkpoint(path, model)
    proc = subprocess.run([sys.executable, "-c", KILL_WHILE_SAVING, str(path)], capture_output=True)
    assert proc.returncode == -9                     # it really was killed mid-save
    loaded = ckpt.load_model(path)                   # the old checkpoint, intact
    assert np.array_equal(loaded.flat_params, model.flat_params)


# ---- bad input ---------------------------------------------------------------

def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load_model(tmp_path)
    (tmp_path / "checkpoint.npz").write_bytes(os.urandom(300))
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        ckpt.load_model(tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load_run(tmp_path / "nope")


def test_checkpoint_format_version_and_shape_mismatch(tmp_path):
    from numpyvae.models.vae import VAE
    path = tmp_path / "c.npz"
    ckpt_file.save_checkpoint(path, VAE(6, [5], 2))
    with np.load(path) as f:
        arrays = dict(f)
    np.savez(tmp_path / "v.npz", **{**arrays, "format_version": np.array(99)})
    with pytest.raises(ckpt.CheckpointError, match="version 99"):
        ckpt.load_model(tmp_path / "v.npz")
    with pytest.raises(ckpt.CheckpointError, match=r"encoder.0.W has shape \(6, 5\), the model expects \(6, 7\)"):
        ckpt.load_params(VAE(6, [7], 2), ckpt.read_checkpoint(path).params)
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        ckpt.load_params(VAE(6, [5, 5], 2), ckpt.read_checkpoint(path).params)


def test_bad_configs():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bogus'\]"):
        TrainConfig.from_dict({"bogus": 1})
    for bad, match in [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"hidden": []}, "hidden"),
                       ({"binarize": "maybe"}, "binarize"), ({"likelihood": "poisson"}, "poisson"),
                       ({"beta": -1.0}, "beta"), ({"dtype": "float16"}, "dtype")]:
        with pytest.raises(ValueError, match=match):
            TrainConfig.from_dict(bad)


def test_batch_larger_than_data(small_digits):
    with pytest.raises(ValueError, match="batch_size 1000 is larger than the 600 training examples"):
        Trainer(cfg(batch_size=1000), data=small_digits)


def test_out_dir_holding_a_run_is_not_overwritten(small_digits, tmp_path):
    train(cfg(epochs=1, out=str(tmp_path)), data=small_digits, quiet=True)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        train(cfg(epochs=1, out=str(tmp_path)), data=small_digits, quiet=True)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_presets_are_valid_configs():
    for name, preset in PRESETS.items():
        TrainConfig.from_dict(preset, name)
    assert PRESETS["lecture"]["hidden"] == [500, 500] and PRESETS["lecture"]["batch_size"] == 150


def test_warmup_schedule_is_linear():
    t = Trainer.__new__(Trainer)
    t.cfg = TrainConfig(beta=2.0, warmup_epochs=2)
    assert [t.beta_at(s, 10) for s in (0, 9, 19, 40)] == [0.1, 1.0, 2.0, 2.0]


def test_gradient_clipping_bounds_the_global_norm(small_digits):
    t = Trainer(cfg(clip_grad_norm=1.0), data=small_digits, quiet=True)
    t.model.loss_and_grads(t.x_train[:50])
    assert np.linalg.norm(t.model.flat_grads) > 1.0
    t._clip()
    assert np.linalg.norm(t.model.flat_grads) == pytest.approx(1.0, rel=1e-5)


def test_training_stays_float32_end_to_end(small_digits):
    t = Trainer(cfg(epochs=1), data=small_digits, quiet=True)
    t.fit()
    arrays = [*t.model.last_tape.values(), *t.model.grads.values(), *t.model.params.values(),
              *t.optimizer.state_dict().values(), t.x_train, t.batches._xb, t.batches._xbin]
    floats = [a for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert len(floats) > 20 and all(a.dtype == np.float32 for a in floats)


@pytest.mark.parametrize("flags,train_label", [
    ([], "train -ELBO "),
    (["--objective", "iwae", "--n-samples", "3"], "train -IWAE(k=3) "),
    (["--objective", "vr", "--alpha", "0.25", "--n-samples", "4"], "train -VR(alpha=0.25, S=4) "),
    (["--objective", "vr-max", "--n-samples", "2"], "train -VR-max(S=2) "),
    (["--beta", "0.5"], "train -ELBO(beta=0.5) "),
])
def test_the_epoch_line_names_the_objective_the_run_trains_on(flags, train_label, tmp_path, capsys):
    """The training loss of an IWAE run is the −IWAE bound, not the −ELBO; validation is always the −ELBO."""
    from numpyvae.cli import main
    argv = ["train", "--preset", "ring", "--hidden", "8", "--epochs", "1", "--no-plots", "--out", str(tmp_path / "r")]
    assert main([*argv, *flags]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("epoch   1"))
    assert train_label in line and " val -ELBO " in line, line
