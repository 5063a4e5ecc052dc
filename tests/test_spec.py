"""Networks from a spec (numpyvae.nn.spec), the convolutional VAE built from them, and their errors.

* the keras-io conv VAE from its spec: every layer's shape and its parameter count (Keras' own
  model summary counts 69,076 + 65,089 = 134,165);
* whole-model finite differences, float64, for a tiny conv VAE on 8×8 images: ELBO (analytic and
  Monte Carlo KL) and IWAE, one- and two-headed likelihoods (two ConvT heads: MultiHead sums their dx);
* a network that skips dL/dx (need_dx=False) gives the same parameter gradients;
* bad specs: one-line errors naming the layer and the shapes, from Python, TOML and the CLI;
* the im2col buffers of a conv training step do not pile up across steps.
"""
import gc
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.run.config import TrainConfig
from numpyvae.run.presets import PRESETS
from numpyvae.nn.conv import Conv2D, ConvTranspose2D
from numpyvae.nn.spec import build_network, parse_spec
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

KERAS_ENC = PRESETS["keras-conv"]["encoder"]
KERAS_DEC = PRESETS["keras-conv"]["decoder"]


# ---------------------------------------------------------------- the keras-io model

def test_keras_conv_vae_shapes_and_parameter_count():
    model = VAE(784, z_dim=2, encoder=KERAS_ENC, decoder=KERAS_DEC, init="glorot_uniform")
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {
        "encoder.conv0.W": (32, 1, 3, 3), "encoder.conv0.b": (32,),
        "encoder.conv1.W": (64, 32, 3, 3), "encoder.conv1.b": (64,),
        "encoder.dense3.W": (7 * 7 * 64, 16), "encoder.dense3.b": (16,),
        "encoder.mu.W": (16, 2), "encoder.mu.b": (2,), "encoder.logvar.W": (16, 2), "encoder.logvar.b": (2,),
        "decoder.dense0.W": (2, 3136), "decoder.dense0.b": (3136,),
        "decoder.convt2.W": (64, 64, 3, 3), "decoder.convt2.b": (64,),
        "decoder.convt3.W": (64, 32, 3, 3), "decoder.convt3.b": (32,),
        "decoder.out.convt.W": (32, 1, 3, 3), "decoder.out.convt.b": (1,)}
    assert model.flat_params.size == 69_076 + 65_089
    x = (np.random.default_rng(0).random((5, 784)) < 0.3).astype(np.float32)
    tape = model.forward(x, n_samples=2)
    assert tape["decoder.out"].shape == (2, 5, 784) and tape["decoder.out"].dtype == np.float32
    # the encoder's feature maps: 28 -> 14 -> 7 ("same" padding, stride 2), as in keras-io
    h = model.encoder.trunk.layers
    y = x.reshape(5, 1, 28, 28)
    for name, layer in h[1:5]:
        y = layer.forward(y)[0]
    assert y.shape == (5, 64, 7, 7)


def test_spec_layers_follow_the_defaults_of_the_grammar():
    net = build_network("conv:4:3:2,convt:5:3:2,conv:2:5:1:0,convt:3:2:2:0:1", (2, 9, 9), "tanh")
    convs = [layer for _, layer in net.layers if isinstance(layer, (Conv2D, ConvTranspose2D))]
    assert [str(c.geometry) for c in convs] == [
        "kernel 3x3, stride 2x2, padding 1x1", "kernel 3x3, stride 2x2, padding 1x1",
        "kernel 5x5, stride 1x1, padding 0x0", "kernel 2x2, stride 2x2, padding 0x0"]
    assert [c.output_padding for c in convs[1::2]] == [(1, 1), (1, 1)]
    # 9 -> ceil(9/2) = 5 -> 5·2 = 10 -> 10 − 4 = 6 -> (6 − 1)·2 + 2 + 1 = 13
    assert net.out_shape == (3, 13, 13)
    y, _ = net.forward(np.zeros((1, 2, 9, 9), np.float32))
    assert y.shape == (1, 3, 13, 13)
    names = [n for n, _ in net.layers]
    assert names == ["conv0", "conv0.tanh", "convt1", "convt1.tanh", "conv2", "conv2.tanh", "convt3", "convt3.tanh"]


# ---------------------------------------------------------------- whole-model finite differences

N, K, SIDE = 3, 2, 8
TINY_ENC = "conv:3:3:2,conv:4:3:2,flatten,dense:5"          # 8 -> 4 -> 2
TINY_DEC = "dense:16,reshape:4:2:2,convt:3:3:2,convt:2:3:2"  # 2 -> 4 -> 8, then the head convt:1:3


def tiny_conv_vae(likelihood="bernoulli", seed=0):
    model = VAE(SIDE * SIDE, z_dim=K, likelihood=likelihood, activation="tanh", seed=seed, dtype="float64",
                encoder=TINY_ENC, decoder=TINY_DEC)
    model.flat_params[:] += 0.05 * np.random.default_rng(seed + 7).standard_normal(model.flat_params.size)
    return model


def fd_over_all_params(model, loss, h=1e-5):
    """Central differences over every value of the flat parameter buffer, our own loop.

    h = 1e-5, not 1e-6: the loss is ~45 nats (64 pixels), so float64 rounding puts an absolute
    error of ~1e-16 * 45 / h on each difference quotient; at h = 1e-6 that is 4.5e-9, already
    1e-7 of the smallest gradient here (the head's single bias, ~0.013). The truncation error,
    ~h^2 times the third derivative / 6, stays ~1e-11.
    """
    return numerical_gradient(lambda _: loss(), model.flat_params, h)


@pytest.mark.parametrize("likelihood,kl,k,objective", [
    ("bernoulli", "analytic", 1, "elbo"),
    ("bernoulli", "mc", 2, "elbo"),
    ("bernoulli", "mc", 4, "iwae"),
    ("gaussian-learned", "mc", 3, "iwae"),      # two ConvT + Flatten heads
])
def test_whole_conv_model_gradient_matches_finite_differences(likelihood, kl, k, objective):
    model = tiny_conv_vae(likelihood)
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(N, SIDE * SIDE))
    eps = np.random.default_rng(1).standard_normal((k, N, K))
    opts = dict(kl=kl, objective=objective)
    _, grads = model.loss_and_grads(x, eps, **opts)
    analytic = model.flat_grads.copy()
    numeric = fd_over_all_params(model, lambda: model.loss_and_grads(x, eps, **opts)[0])
    assert relative_error(analytic, numeric) <= 1e-7
    base = model.flat_params.__array_interface__["data"][0]
    for name, p in model.params.items():          # no small layer hides behind the big ones
        off = (p.__array_interface__["data"][0] - base) // 8
        assert relative_error(analytic[off:off + p.size], numeric[off:off + p.size]) <= 1e-7, name


def test_skipping_the_input_gradient_skips_the_first_conv_and_changes_no_gradient():
    model = tiny_conv_vae()
    x = np.random.default_rng(0).uniform(0.05, 0.95, size=(N, SIDE * SIDE))
    tape = model.encoder.trunk.forward(x)[1]
    dy = np.random.default_rng(2).standard_normal((N, 5))
    dx = model.encoder.trunk.backward(dy, tape)
    assert dx.shape == x.shape
    want = {k: g.copy() for k, g in model.encoder.trunk.grads.items()}
    conv0 = model.encoder.trunk.layers[1][1]
    seen = []
    plain = conv0.backward
    conv0.backward = lambda *a, **kw: seen.append(kw.get("need_dx", True)) or plain(*a, **kw)
    assert model.encoder.trunk.backward(dy, tape, need_dx=False) is None
    assert seen == [False]
    for k, g in model.encoder.trunk.grads.items():
        np.testing.assert_array_equal(g, want[k])


# ---------------------------------------------------------------- bad specs

@pytest.mark.parametrize("spec,match", [
    ("conv:32:3.5:2", r"layer 0 'conv:32:3.5:2': kernel must be an integer >= 1, got '3.5'"),
    ("conv:32:0", r"kernel must be an integer >= 1, got 0"),
    ("conv:32", r"layer 0 'conv:32': expected conv:CHANNELS:KERNEL"),
    ("dense:16,pool:2", r"layer 1 'pool:2': unknown layer kind 'pool'"),
    ("dense:16,,dense:3", r"layer 1 '': unknown layer kind"),
    ("", r"the network spec is empty"),
    ("flatten:3", r"expected flatten, got 1 number"),
])
def test_bad_syntax_names_the_layer(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_spec(spec, "encoder")


@pytest.mark.parametrize("kw,match", [
    (dict(encoder="conv:8:3:2,conv:8:3:2,conv:8:3:2,conv:8:3:2,conv:8:9:1:0"),
     r"encoder: layer 4 'conv:8:9:1:0': kernel 9x9 is larger than the padded input 2x2 "
     r"\(input shape \(8, 2, 2\), padding 0\)"),
    (dict(encoder="conv:8:3:2,dense:16"), r"encoder: layer 1 'dense:16' needs flat features but its input has "
                                          r"shape \(8, 14, 14\); put 'flatten' before it"),
    (dict(decoder="dense:100,convt:8:3:2"), r"decoder: layer 1 'convt:8:3:2' needs \(C, H, W\) images but its "
                                            r"input has shape \(100,\)"),
    (dict(decoder="dense:3000,reshape:64:7:7"), r"decoder: layer 1 'reshape:64:7:7': cannot reshape an input of "
                                                r"shape \(3000,\) \(3000 values\) to \(64, 7, 7\) \(3136 values\)"),
    (dict(decoder="dense:3136,reshape:64:7:7,convt:32:3:2"), r"decoder: the spec ends on images of shape "
                                                             r"\(32, 14, 14\), but the data's images are 28x28"),
    (dict(decoder="dense:16,reshape:1:4:4,convt:2:3:1:5"), r"decoder: layer 2 'convt:2:3:1:5': the output .* "
                                                           r"= -4x-4 is empty"),
    (dict(decoder="dense:16,reshape:1:4:4,convt:2:3:2:1:2"), r"output_padding 2 must be smaller than the stride 2"),
])
def test_bad_networks_name_the_layer_and_the_shapes(kw, match):
    with pytest.raises(ValueError, match=match):
        VAE(784, z_dim=2, **kw)


def test_conv_on_data_that_is_not_an_image():
    with pytest.raises(ValueError, match=r"encoder: a convolutional network needs images; 10 features"):
        VAE(10, z_dim=2, encoder="conv:4:3")
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) does not give 10 features"):
        VAE(10, z_dim=2, encoder="conv:4:3", image_shape=(3, 3))
    m = VAE(12, z_dim=2, encoder="conv:2:3,flatten,dense:4", decoder="dense:24,reshape:2:2:6", image_shape=(1, 2, 6),
            dtype="float64")     # non-square images, an explicit channel axis
    assert m.encoder.trunk.layers[0][1].shape == (1, 2, 6)
    assert m.loss_and_grads(np.full((2, 12), 0.5))[0] > 0


def test_config_checks_the_spec_and_accepts_a_toml_list():
    assert TrainConfig(encoder=["conv:32:3:2", "flatten"]).encoder == "conv:32:3:2,flatten"
    with pytest.raises(ValueError, match=r"config: encoder: layer 0 'conv:a:3': channels must be an integer"):
        TrainConfig(encoder="conv:a:3")
    with pytest.raises(ValueError, match=r"decoder must be a network spec"):
        TrainConfig(decoder=5)
    assert TrainConfig().model_kwargs()["encoder"] == ""          # empty: the MLP, as before


def test_cli_reports_a_bad_spec_in_one_line(tmp_path):
    for flags, match in ((["--encoder", "conv:32:3:x"], "--encoder: encoder: layer 0 'conv:32:3:x': stride"),
                         (["--decoder", "dense:100,convt:1:3"], "decoder: layer 1 'convt:1:3' needs (C, H, W)")):
        r = subprocess.run([sys.executable, "-m", "numpyvae", "train", *flags, "--epochs", "1",
                            "--out", str(tmp_path / "run"), "--quiet", "--no-plots"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert r.stderr.startswith("numpyvae: error: ") and match in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- memory across steps

def test_conv_training_does_not_grow_across_steps():
    """The im2col buffers are made and dropped each step: memory after 60 steps equals that after 20.

    (With sliding_window_view, NumPy's read-only flag cost ~100 bytes per step that only stopped
    growing after thousands of steps; im2col now builds its strided view itself.)"""
    from numpyvae.datasets.dataset import Dataset
    from numpyvae.run.train import Trainer
    B, n = 16, 160
    r = np.random.default_rng(0)
    x = (r.random((n, 784), dtype=np.float32) < 0.3).astype(np.float32)
    data = Dataset("synthetic", x, np.zeros(n, np.int64), x[:32], np.zeros(32, np.int64), (28, 28), "test")
    cfg = TrainConfig(dataset="digits", encoder="conv:4:3:2,conv:8:3:2,flatten,dense:8",
                      decoder="dense:392,reshape:8:7:7,convt:8:3:2,convt:4:3:2", z_dim=2, batch_size=B, epochs=1)
    trainer = Trainer(cfg, data=data, quiet=True)

    def epochs(k):
        for _ in range(k):
            trainer._train_epoch()
            trainer.epoch += 1
    epochs(1)                                          # warm up: every buffer exists now
    tracemalloc.start()
    try:
        epochs(1)
        gc.collect()
        after_20 = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        epochs(4)
        gc.collect()
        after_60, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert abs(after_60 - after_20) < 4096, f"memory grew by {after_60 - after_20} bytes over 40 steps"
    # a step's peak: the largest im2col product (convt:4 from 14 to 28: 4·9 rows × B·14·14) and the
    # feature maps, each a few times; an (S, N)-fold or float64 copy would break it
    cols = 4 * 9 * B * 14 * 14 * 4
    assert peak - after_60 < 12 * cols, f"a step's temporaries peak at {peak - after_60} bytes"


# ---------------------------------------------------------------- the conv benchmark's bookkeeping

def test_conv_bench_counts_the_products_of_a_step_by_hand():
    from numpyvae.bench.conv import conv_matmul_shapes, run_conv_bench
    model = VAE(784, z_dim=2, encoder=KERAS_ENC, decoder=KERAS_DEC)
    B = 4
    ops = conv_matmul_shapes(model, np.zeros((B, 784), np.float32))
    by = {(o["layer"], o["op"]): o for o in ops}
    # encoder conv0: W_col (32, 1·9) @ cols (9, B·14·14); no dx (its input is the data)
    assert by["encoder.conv0", "forward"]["a"] == (32, 9) and by["encoder.conv0", "forward"]["b"] == (9, B * 196)
    assert ("encoder.conv0", "dx") not in by
    # decoder convt3 (64 -> 32, 14 -> 28): forward W_col.T (32·9, 64) @ x_cm (64, B·14·14)
    assert by["decoder.convt3", "forward"]["a"] == (288, 64) and by["decoder.convt3", "forward"]["b"] == (64, B * 196)
    # its dx: W_col (64, 288) @ im2col(dy) (288, B·14·14)
    assert by["decoder.convt3", "dx"]["a"] == (64, 288) and by["decoder.convt3", "dx"]["b"] == (288, B * 196)
    # every layer with weights has forward and dW, all but the first also dx: 9 layers (mu and logvar heads)
    assert len(ops) == 3 * 9 - 1
    assert all(o["flops"] == 2 * o["a"][0] * o["a"][1] * o["b"][1] for o in ops)
    r = run_conv_bench(epochs=1, examples=8, batch_size=4, matmul_repeats=1, matmul_seconds=0.001, log=None)
    assert r["model"]["parameters"] == 134_165 and r["data"]["steps_per_epoch"] == 2
    # the biggest im2col: convt3's backward im2col(dy), (32·9, B·14·14) floats (stride 2: one window
    # per input pixel); its forward product W_col.T @ x_cm has the same shape
    assert r["im2col_buffer_bytes"] == 32 * 9 * 4 * 14 * 14 * 4
