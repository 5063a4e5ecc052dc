"""Conv models on the data's own image shape, their memory estimate, PyTorch's initializer for conv layers,
and ReLU on feature maps laid out channel-major."""
import gc
import tracemalloc

import numpy as np
import pytest

from numpyvae.run.config import TrainConfig
from numpyvae.run.memory import memory_estimate
from numpyvae.datasets.dataset import Dataset
from numpyvae.nn.conv import Conv2D, ConvTranspose2D
from numpyvae.run.train import Trainer
from numpyvae.models.vae import VAE


def _images(n, shape, seed=0):
    """n random 0/1 images of ``shape``, flat, as a Dataset with that image_shape."""
    r = np.random.default_rng(seed)
    x = (r.random((n, int(np.prod(shape))), dtype=np.float32) < 0.3).astype(np.float32)
    return Dataset("synthetic", x, np.zeros(n, np.int64), x[:16], np.zeros(16, np.int64), shape, "test")


# ---------------------------------------------------------------- the data's image shape

def test_the_trainer_builds_convolutions_on_the_datasets_own_images():
    """Two channels of 6x10 pixels: no square to guess, so the trainer must pass data.image_shape."""
    data = _images(32, (2, 6, 10))
    cfg = TrainConfig(dataset="digits", encoder="conv:4:3:2,flatten,dense:8", decoder="dense:60,reshape:4:3:5,convt:4:3:2",
                      z_dim=2, batch_size=16, epochs=1)
    trainer = Trainer(cfg, data=data, quiet=True)
    assert trainer.model.encoder.trunk.layers[0][1].shape == (2, 6, 10)      # the Reshape of x into images
    conv0 = trainer.model.encoder.trunk.layers[1][1]
    assert isinstance(conv0, Conv2D) and conv0.c_in == 2
    head = trainer.model.decoder.heads[0][1].layers[0][1]
    assert isinstance(head, ConvTranspose2D) and head.c_out == 2
    assert trainer.model.config["image_shape"] == [2, 6, 10]
    assert np.isfinite(trainer._train_epoch()["train_loss"])


def test_a_decoder_that_does_not_reach_the_datas_image_size_is_refused_by_name():
    data = _images(32, (1, 6, 10))
    cfg = TrainConfig(dataset="digits", encoder="conv:4:3:2,flatten,dense:8", decoder="dense:36,reshape:4:3:3,convt:4:3:2",
                      z_dim=2, batch_size=16, epochs=1)
    with pytest.raises(ValueError, match=r"decoder: the spec ends on images of shape \(4, 6, 6\), but the data's "
                                         r"images are 6x10"):
        Trainer(cfg, data=data, quiet=True)


def test_a_dataset_whose_image_shape_does_not_hold_its_features_is_refused():
    data = _images(32, (6, 10))
    data.image_shape = (6, 11)
    cfg = TrainConfig(dataset="digits", encoder="conv:4:3:2,flatten,dense:8", z_dim=2, batch_size=16, epochs=1)
    with pytest.raises(ValueError, match=r"dataset 'digits': its image_shape \(6, 11\) does not hold its 60 features"):
        Trainer(cfg, data=data, quiet=True)


# ---------------------------------------------------------------- memory estimate

def test_the_memory_estimate_of_a_conv_model_is_within_a_factor_two_of_the_measured_peak():
    """tracemalloc sees every NumPy buffer; the estimate counts im2col matrices, canvases, feature maps."""
    B = 32
    data = _images(3 * B, (28, 28))
    cfg = TrainConfig(dataset="digits", encoder="conv:4:3:2,conv:8:3:2,flatten,dense:8",
                      decoder="dense:392,reshape:8:7:7,convt:8:3:2,convt:4:3:2", z_dim=2, batch_size=B, epochs=1)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        trainer = Trainer(cfg, data=data, quiet=True)
        trainer._train_epoch()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    params, need, _ = memory_estimate(cfg, 784, (28, 28))
    assert params == trainer.model.flat_params.size
    assert peak / 2 <= need <= 2 * peak, f"estimate {need / 2 ** 20:.1f} MB, measured peak {peak / 2 ** 20:.1f} MB"


def test_the_memory_check_refuses_a_conv_model_too_big_for_the_machine():
    from numpyvae.run.memory import check_memory
    cfg = TrainConfig(encoder="conv:4096:3,flatten,dense:8", z_dim=2, batch_size=100000)
    with pytest.raises(ValueError, match="GiB"):
        check_memory(cfg, 784)


# ---------------------------------------------------------------- --init pytorch for conv layers

@pytest.mark.parametrize("cls, fan_in", [(Conv2D, 3 * 2 * 3), (ConvTranspose2D, 5 * 2 * 3)])
def test_pytorch_init_draws_weights_and_biases_uniformly_within_one_over_root_fan_in(cls, fan_in):
    """fan_in = W.shape[1]·kh·kw, PyTorch's rule: C_in·kh·kw for Conv2d, C_out·kh·kw for ConvTranspose2d.

    (torch 2.14's torch.nn.init._calculate_fan_in_and_fan_out gives (54, 36) for ConvTranspose2d(4, 6, 3)'s
    weight: fan_in = 6·3·3, its out_channels. Not asked here: importing torch takes seconds.)"""
    layer = cls(3, 5, (2, 3), init="pytorch", rng=np.random.default_rng(0), dtype="float64")
    W, b = layer.params["W"], layer.params["b"]
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(W).max() > 0.9 * bound                         # it fills the interval (90 draws)
    assert abs(W.var() / (bound ** 2 / 3) - 1) < 0.3              # the variance of U(-a, a) is a²/3
    assert b.shape == (5,) and np.all(b != 0)                     # the bias is drawn too, not zero


def test_a_conv_vae_takes_init_pytorch():
    m = VAE(784, z_dim=2, encoder="conv:4:3:2,flatten,dense:8", decoder="dense:196,reshape:4:7:7,convt:4:3:2,convt:4:3:2",
            init="pytorch", dtype="float64")
    convs = [layer for _, layer in m.named_layers() if isinstance(layer, (Conv2D, ConvTranspose2D))]
    assert len(convs) == 4
    for layer in convs:
        W = layer.params["W"]
        assert np.abs(W).max() <= 1 / np.sqrt(W.shape[1] * W.shape[2] * W.shape[3])
        assert np.any(layer.params["b"] != 0)


# ---------------------------------------------------------------- ReLU on feature maps

@pytest.mark.parametrize("layout", ["nchw", "channel-major", "cropped", "empty"])
def test_relu_on_feature_maps_equals_maximum_bit_for_bit_and_keeps_the_layout(layout):
    """The long-row path (dense memory in any axis order) and the plain one give np.maximum(x, 0)'s bits."""
    from numpyvae.nn.activations import ReLU
    r = np.random.default_rng(0)
    base = r.standard_normal((3, 4, 7, 9)).astype(np.float32)
    base[0, 0, 0, :3] = [-0.0, 0.0, np.float32(-1e-45)]
    x = {"nchw": base, "channel-major": base.transpose(1, 0, 2, 3), "cropped": base[:, :, 1:-1, 2:-1],
         "empty": base[:0]}[layout]
    relu = ReLU()
    y, tape = relu.forward(x)
    ref = np.maximum(x, 0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert np.array_equal(y, ref) and np.array_equal(np.signbit(y), np.signbit(ref))
    if layout == "channel-major":                 # the next conv layer reads it channel-major without a copy
        assert y.transpose(1, 0, 2, 3).flags.c_contiguous
    dy = r.standard_normal(x.shape).astype(np.float32)
    assert np.array_equal(relu.backward(dy, tape), dy * (x > 0))
