"""Training you can watch: snapshots of a 2-D latent space during training, and plot --animate's GIF."""
import numpy as np
import pytest
from PIL import Image

from numpyvae import VAE
from numpyvae.plots.animate import SNAPSHOTS, LatentSnapshots, write_animation
from numpyvae.cli import main
from numpyvae.run.config import TrainConfig
from numpyvae.datasets import load
from numpyvae.datasets.dataset import Dataset
from numpyvae.run.train import Trainer


@pytest.fixture(scope="module")
def small_digits():
    d = load("digits")
    return Dataset("digits", d.x_train[:640], d.y_train[:640], d.x_test[:200], d.y_test[:200], d.image_shape, d.source)


def test_a_frame_holds_the_codes_and_the_decoded_grid_and_survives_saving(tmp_path):
    model = VAE(784, [8], 2, seed=0)
    x = np.random.default_rng(0).random((30, 784)).astype(np.float32)
    snap = LatentSnapshots(x, labels=np.arange(30) % 10, grid=5)
    snap.record(model, 0)
    snap.record(model, 7)
    assert snap.codes[0].shape == (30, 2) and snap.images[0].shape == (25, 784)
    np.testing.assert_allclose(snap.codes[1], model.encode(x)[0], rtol=1e-3, atol=1e-3)   # float16 storage
    snap.save(tmp_path / "s.npz")
    back = LatentSnapshots.load(tmp_path / "s.npz")
    assert back.steps == [0, 7] and back.grid == 5
    np.testing.assert_array_equal(back.images[1], snap.images[1])
    np.testing.assert_array_equal(back.labels, np.arange(30) % 10)


def test_a_model_with_more_than_two_latents_is_refused():
    with pytest.raises(ValueError, match="z_dim = 3"):
        LatentSnapshots(np.zeros((2, 784), np.float32)).record(VAE(784, [8], 3, seed=0), 0)
    with pytest.raises(ValueError, match="snapshot_every records a 2-D latent space"):
        TrainConfig(z_dim=20, snapshot_every=5)


def test_the_animation_has_a_frame_per_snapshot(tmp_path):
    model = VAE(784, [8], 2, seed=0)
    snap = LatentSnapshots(np.random.default_rng(0).random((20, 784)).astype(np.float32), grid=4)
    for step in range(3):
        model.flat_params[:] += 0.1                     # the frames differ, so the GIF keeps all three
        snap.record(model, step)
    path = write_animation(snap, tmp_path / "a.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"], "no partial file is left behind"


def test_training_records_only_when_asked_and_resume_goes_on(tmp_path, small_digits):
    cfg = dict(dataset="digits", z_dim=2, hidden=[16], batch_size=64, epochs=1, seed=0)
    quiet = Trainer(TrainConfig(**cfg), data=small_digits, run_dir=tmp_path / "off", quiet=True)
    quiet.fit()
    quiet.close()
    assert not (tmp_path / "off" / SNAPSHOTS).exists()
    t = Trainer(TrainConfig(**cfg, snapshot_every=4), data=small_digits, run_dir=tmp_path / "on", quiet=True)
    t.fit()
    t.close()
    first = LatentSnapshots.load(tmp_path / "on" / SNAPSHOTS)
    assert first.steps == [0, 4, 8]                     # 640 // 64 = 10 steps: the start, then every 4th
    assert first.codes[0].shape == (200, 2) and first.labels.shape == (200,)
    resumed = Trainer.resume(tmp_path / "on", epochs=2, quiet=True, data=small_digits)
    resumed.fit()
    resumed.close()
    assert LatentSnapshots.load(tmp_path / "on" / SNAPSHOTS).steps == [0, 4, 8, 12, 16, 20]


def test_plot_animate_writes_the_gif_or_says_how_to_record(tmp_path, small_digits, capsys):
    cfg = TrainConfig(dataset="digits", z_dim=2, hidden=[16], batch_size=64, epochs=1, seed=0, snapshot_every=5)
    t = Trainer(cfg, data=small_digits, run_dir=tmp_path / "run", quiet=True)
    t.fit()
    t.close()
    assert main(["plot", str(tmp_path / "run"), "--animate"]) == 0
    with Image.open(tmp_path / "run" / "training.gif") as gif:
        assert gif.n_frames == 3
    (tmp_path / "run" / SNAPSHOTS).unlink()
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "run"), "--animate"]) == 2
    assert "numpyvae: error: plot --animate:" in capsys.readouterr().err
