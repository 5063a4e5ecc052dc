"""Every picture: a PNG of the expected pixel size, written headless; bad input -> clear errors."""
import numpy as np
import pytest
from matplotlib.image import imread

from numpyvae import VAE
from numpyvae import plots

SHAPE = (4, 5)                       # tiny "images": D = 20, drawn as 4 rows of 5 pixels
FIG, DPI = (4.0, 3.0), 50            # -> 150 x 200 pixels


def image_model(z_dim=2):
    return VAE(20, hidden=[8], z_dim=z_dim, seed=0)


def image_data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 20)).astype(np.float32), rng.integers(0, 10, n)


def point_model():
    return VAE(2, hidden=[8], z_dim=2, likelihood="gaussian", likelihood_kwargs={"sigma": 0.1}, seed=0)


def assert_png(path, size=(150, 200)):
    assert path.suffix == ".png" and path.exists()
    pixels = imread(path)
    assert pixels.shape[:2] == size
    return pixels


# ---------------------------------------------------------------- each picture, its size

def test_image_plots_have_the_requested_pixel_size(tmp_path):
    model, (x, y) = image_model(), image_data()
    kw = dict(figsize=FIG, dpi=DPI)
    assert_png(plots.plot_image_grid(x, tmp_path / "grid.png", SHAPE, nrow=6, title="t", **kw))
    assert_png(plots.plot_reconstructions(model, x, tmp_path / "rec.png", n=5, image_shape=SHAPE, **kw))
    assert_png(plots.plot_samples(model, tmp_path / "s.png", n=12, image_shape=SHAPE, **kw))
    assert_png(plots.plot_latent(model, x, y, tmp_path / "lat.png", **kw))
    assert_png(plots.plot_manifold(model, tmp_path / "man.png", n=6, image_shape=SHAPE, **kw))
    assert_png(plots.plot_interpolation(model, x[0], x[1], tmp_path / "int.png", steps=4, image_shape=SHAPE, **kw))
    assert_png(plots.plot_kl_per_dimension(model, x, tmp_path / "kl.png", **kw))


def test_point_data_plots_are_scatter_plots(tmp_path):
    model = point_model()
    x = np.random.default_rng(1).standard_normal((50, 2)).astype(np.float32)
    kw = dict(image_shape=None, figsize=FIG, dpi=DPI)
    assert_png(plots.plot_reconstructions(model, x, tmp_path / "rec.png", **kw))
    assert_png(plots.plot_samples(model, tmp_path / "s.png", n=40, **kw))
    assert_png(plots.plot_manifold(model, tmp_path / "man.png", n=5, **kw))
    assert_png(plots.plot_interpolation(model, x[0], x[1], tmp_path / "int.png", **kw))


@pytest.mark.parametrize("z_dim,labels", [(1, "int"), (3, "int"), (4, None), (2, "float")])
def test_latent_plot_for_any_k_and_labels(tmp_path, z_dim, labels):
    model, (x, y) = image_model(z_dim), image_data()
    y = {"int": y, None: None, "float": y + 0.5}[labels]
    assert_png(plots.plot_latent(model, x, y, tmp_path / "lat.png", figsize=FIG, dpi=DPI))


def test_history_plot(tmp_path):
    history = [dict(epoch=e, train_loss=200.0 / e, train_recon=180.0 / e, train_kl=20.0, val_loss=190.0 / e,
                    val_recon=170.0 / e, val_kl=20.0) for e in (1, 2, 3)]
    assert_png(plots.plot_history(history, tmp_path / "h.png", figsize=FIG, dpi=DPI))
    no_val = [{k: v for k, v in h.items() if not k.startswith("val")} for h in history]
    assert_png(plots.plot_history(no_val, tmp_path / "h2.png", figsize=FIG, dpi=DPI))


def test_default_sizes_write_readable_pngs(tmp_path):
    model, (x, y) = image_model(), image_data()
    for path in (plots.plot_samples(model, tmp_path / "a.png", n=7, image_shape=SHAPE),
                 plots.plot_manifold(model, tmp_path / "b.png", n=3, image_shape=SHAPE)):
        assert imread(path).ndim == 3


# ---------------------------------------------------------------- drawn upright

def test_images_are_drawn_upright_and_row_major(tmp_path):
    image = np.zeros((1, 20))
    image[0, :5] = 1.0                                         # pixels 0..4: the top row of a 4 x 5 image
    pixels = plots.mosaic(image, SHAPE, 1)
    np.testing.assert_array_equal(pixels[0], np.ones(5))
    np.testing.assert_array_equal(pixels[1:], np.zeros((3, 5)))
    # and in the written file: a grey image whose top row is black shows a black band at its top
    image = np.full((1, 20), 0.5)
    image[0, :5] = 0.0
    path = plots.plot_image_grid(image, tmp_path / "up.png", SHAPE, figsize=(2, 2), dpi=50)
    grey = imread(path)[..., :3].mean(-1)
    rows = np.flatnonzero((grey < 0.9).any(1))                 # the drawn picture (the rest is white)
    cols = np.flatnonzero((grey < 0.9).any(0))
    picture = grey[rows.min():rows.max() + 1, cols.min() + 2:cols.max() - 1]   # without the frame's sides
    h = picture.shape[0]
    black = picture < 0.1
    assert black[2:h // 5].mean() > 0.9                        # top fifth: the black first row
    assert black[h // 2:h - 2].mean() < 0.05                   # bottom half: grey


# ---------------------------------------------------------------- the mixture and a whole run

def test_plot_mixture(tmp_path):
    from numpyvae.baselines import BernoulliMixture
    x = (np.random.default_rng(2).random((60, 20)) < 0.3).astype(np.float64)
    mix = BernoulliMixture(3, seed=0).fit(x)
    paths = plots.plot_mixture(mix, tmp_path, SHAPE, n_samples=9)
    assert [p.name for p in paths] == ["mixture_means.png", "mixture_samples.png"]
    assert all(imread(p).ndim == 3 for p in paths)
    with pytest.raises(ValueError, match="not fitted"):
        plots.plot_mixture(BernoulliMixture(2), tmp_path, SHAPE)


def test_plot_run_draws_everything_that_applies(tmp_path):
    from numpyvae.run.checkpoint_format import CHECKPOINT, save_checkpoint
    from numpyvae.datasets import Dataset
    x, y = image_data(40)
    data = Dataset(name="toy", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20], image_shape=SHAPE, source="test")
    history = [dict(epoch=1, train_loss=20.0, train_recon=15.0, train_kl=5.0, val_loss=21.0, val_recon=16.0,
                    val_kl=5.0)]
    save_checkpoint(tmp_path / CHECKPOINT, image_model(), config={"dataset": "toy", "binarize": "dynamic", "seed": 0},
                    progress={"epoch": 1, "history": history})
    from numpyvae.plots.run import plot_run
    paths = plot_run(tmp_path, dataset=data, baseline=2)
    names = sorted(p.name for p in paths)
    assert names == sorted(["history.png", "reconstructions.png", "samples.png", "latent.png", "manifold.png",
                            "interpolation.png", "kl_per_dimension.png", "mixture_means.png", "mixture_samples.png"])
    assert all(p.parent == tmp_path and imread(p).ndim == 3 for p in paths)


# ---------------------------------------------------------------- bad input

def test_bad_input_is_a_clear_error(tmp_path):
    model, (x, y) = image_model(), image_data()
    with pytest.raises(ValueError, match="z_dim=3"):
        plots.plot_manifold(image_model(3), tmp_path / "m.png", image_shape=SHAPE)
    with pytest.raises(ValueError, match=r"labels do not match the images.*\(30,\).*\(29,\)"):
        plots.plot_latent(model, x, y[:29], tmp_path / "l.png")
    with pytest.raises(ValueError, match=r"image_shape \(28, 28\) does not fit 20 features"):
        plots.plot_samples(model, tmp_path / "s.png")
    with pytest.raises(ValueError, match="needs an image_shape"):
        plots.plot_reconstructions(model, x, tmp_path / "r.png", image_shape=None)
    with pytest.raises(ValueError, match="must end in .png"):
        plots.plot_image_grid(x, tmp_path / "g.jpg", SHAPE)
    with pytest.raises(ValueError, match="20 features"):
        plots.plot_reconstructions(model, x[:, :7], tmp_path / "r.png", image_shape=SHAPE)
    with pytest.raises(ValueError, match="non-empty list"):
        plots.plot_history([], tmp_path / "h.png")
    with pytest.raises(ValueError, match="no 'train_kl'"):
        plots.plot_history([{"train_loss": 1.0, "train_recon": 1.0}], tmp_path / "h.png")
    with pytest.raises(ValueError, match="steps must be >= 2"):
        plots.plot_interpolation(model, x[0], x[1], tmp_path / "i.png", steps=1, image_shape=SHAPE)
    with pytest.raises(ValueError, match="quantiles"):
        plots.plot_manifold(model, tmp_path / "m.png", quantiles=(0.0, 1.0), image_shape=SHAPE)
    with pytest.raises(ValueError, match="figsize"):
        plots.plot_samples(model, tmp_path / "s.png", image_shape=SHAPE, figsize=(0, 3))
    assert not list(tmp_path.iterdir())                         # nothing half-written on the way
