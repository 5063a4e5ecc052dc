"""tutorials/vae_in_one_file.py computes the engine's loss and gradients, and its backward is right.

The one-file model is imported from its path (it is a script, not a module of the package);
importing it must not train. Its loss and gradients are compared with
``numpyvae.VAE(784, hidden=[400], z_dim=20).loss_and_grads(x, eps)`` on the same weights and
noise; its backward is checked against central finite differences on a tiny 12-5-3 version.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import numpyvae
from numpyvae.datasets import load
from numpyvae.optim import Adam
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

SCRIPT = Path(__file__).resolve().parent.parent / "tutorials" / "vae_in_one_file.py"

# one-file name -> engine name
ENGINE_NAMES = {"W_h": "encoder.0.W", "b_h": "encoder.0.b",
                "W_mu": "encoder.mu.W", "b_mu": "encoder.mu.b",
                "W_logvar": "encoder.logvar.W", "b_logvar": "encoder.logvar.b",
                "W_d": "decoder.0.W", "b_d": "decoder.0.b",
                "W_out": "decoder.out.W", "b_out": "decoder.out.b"}


def _import_one_file():
    spec = importlib.util.spec_from_file_location("vae_in_one_file", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def onefile():
    return _import_one_file()


def test_importing_does_not_train(capsys):
    _import_one_file()
    assert capsys.readouterr().out == ""


def test_only_the_data_loader_comes_from_numpyvae():
    imports = [line.strip() for line in SCRIPT.read_text().splitlines()
               if line.strip().startswith(("import ", "from ")) and "numpyvae" in line]
    assert imports == ["from numpyvae.datasets import load   # the only numpyvae import: the bundled digits"]


def _engine_and_batch(dtype, n, seed):
    """The default engine model with non-zero biases, a binarized digit batch and noise (1, n, 20)."""
    model = numpyvae.VAE(784, hidden=[400], z_dim=20, seed=0, dtype=dtype)
    rng = np.random.default_rng(seed)
    for name, b in model.params.items():      # non-zero biases, so every db and every ReLU mask matters
        if name.endswith(".b"):
            b[...] = 0.1 * rng.standard_normal(b.shape)
    x = load("digits", dtype=dtype).x_train[:n]
    x = (rng.random(x.shape) < x).astype(dtype)
    eps = rng.standard_normal((1, n, 20)).astype(dtype)
    return model, x, eps


def _same_weights(onefile, model):
    assert set(ENGINE_NAMES.values()) == set(model.params), "the engine's default model has other parameters"
    params = {name: model.params[engine].copy() for name, engine in ENGINE_NAMES.items()}
    shapes = {name: a.shape for name, a in onefile.init_params(np.random.default_rng(0)).items()}
    assert shapes == {name: a.shape for name, a in params.items()}
    return params


@pytest.mark.parametrize("n", [1, 37])
def test_float64_loss_and_gradients_equal_the_engines(onefile, n):
    model, x, eps = _engine_and_batch("float64", n, seed=n)
    params = _same_weights(onefile, model)
    loss, cache = onefile.forward(params, x, eps[0])
    grads = onefile.backward(params, cache)
    engine_loss, engine_grads = model.loss_and_grads(x, eps)
    assert abs(loss - engine_loss) <= 1e-12 * abs(engine_loss)
    for name, engine in ENGINE_NAMES.items():
        assert grads[name].dtype == np.float64
        assert relative_error(grads[name], engine_grads[engine]) <= 1e-12, name


@pytest.mark.parametrize("n", [1, 100])
def test_float32_loss_and_gradients_are_bit_identical_to_the_engines(onefile, n):
    # What we found: in float32 the one-file model reproduces the engine bit for bit (loss and all
    # ten gradients), because it performs the same floating-point operations in the same order
    # (the same einsum for Σ x·a, expm1(logvar) − logvar grouped the same way, 1/N as a
    # weight, dz·eps·sigma·½ left to right). That is the same promise tests/test_reference_numbers.py
    # makes for the engine; if the engine's float32 arithmetic is ever reordered on purpose, both
    # tests fail together and this one should move to a rounding tolerance, with the reason.
    model, x, eps = _engine_and_batch("float32", n, seed=100 + n)
    params = _same_weights(onefile, model)
    loss, cache = onefile.forward(params, x, eps[0])
    grads = onefile.backward(params, cache)
    engine_loss, engine_grads = model.loss_and_grads(x, eps)
    assert loss == engine_loss
    for name, engine in ENGINE_NAMES.items():
        assert grads[name].dtype == np.float32, name           # no float64 temporaries leak into a gradient
        assert np.array_equal(grads[name], engine_grads[engine]), name


def test_backward_matches_finite_differences_on_a_tiny_model(onefile):
    rng = np.random.default_rng(7)
    params = onefile.init_params(rng, x_dim=12, h_dim=5, z_dim=3, dtype=np.float64)
    for name in params:
        if name.startswith("b_"):
            params[name][...] = 0.3 * rng.standard_normal(params[name].shape)
    x = rng.random((4, 12))                                    # grey values in [0, 1]: any x works here
    eps = rng.standard_normal((4, 3))
    _, cache = onefile.forward(params, x, eps)
    grads = onefile.backward(params, cache)
    assert set(grads) == set(params)
    for name, theta in params.items():
        numeric = numerical_gradient(lambda _: onefile.forward(params, x, eps)[0], theta)
        assert grads[name].shape == theta.shape, name
        assert relative_error(grads[name], numeric) <= 1e-7, name


def test_adam_step_matches_the_engines_adam(onefile):
    rng = np.random.default_rng(3)
    params = onefile.init_params(rng, x_dim=12, h_dim=5, z_dim=3, dtype=np.float64)
    mine, theirs = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    theirs_grads = {k: np.zeros_like(v) for k, v in theirs.items()}
    engine_adam, state = Adam(theirs, theirs_grads, lr=1e-2), {"t": 0, "m": {}, "v": {}}
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        for k in grads:
            theirs_grads[k][...] = grads[k]
        onefile.adam_step(mine, grads, state, lr=1e-2)
        engine_adam.step()
    for k in params:
        assert relative_error(mine[k] - params[k], theirs[k] - params[k]) <= 1e-12, k


def test_adams_first_step_moves_every_weight_by_lr_against_its_gradient(onefile):
    # at t = 1, m̂ = g and v̂ = g², so the step is lr·g / (|g| + ε) ≈ lr·sign(g)
    p = {"w": np.array([1.0, -2.0, 3.0])}
    onefile.adam_step(p, {"w": np.array([0.5, -4.0, 1e-3])}, {"t": 0, "m": {}, "v": {}}, lr=0.1)
    np.testing.assert_allclose(p["w"], [0.9, -1.9, 2.9], rtol=1e-6)
