"""Speed-related properties of training that can be tested without a clock.

* float32 end to end: every array the hot path creates or keeps (layer
  outputs and gradients, the likelihood's heads and their gradients, the
  model's cache, parameters, gradients, optimizer state) is float32;
* no allocation that grows with the number of steps, and a small, bounded
  high-water mark of temporaries per step (tracemalloc);
* peak memory of a short run: the dataset, the model, its optimizer state and
  a few batch-sized buffers, nothing more;
* the first encoder layer skips dL/dx (need_dx=False) without changing any
  parameter gradient.
"""
import gc
import tracemalloc

import numpy as np
import pytest

from numpyvae.datasets.dataset import Dataset
from numpyvae.nn import MLP, Dense
from numpyvae.run.train import TrainConfig, Trainer

D, H, K, B = 784, 64, 8, 32


def binary_data(n, seed=0, n_test=64):
    r = np.random.default_rng(seed)
    x = (r.random((n, D), dtype=np.float32) < 0.3).astype(np.float32)
    xt = (r.random((n_test, D), dtype=np.float32) < 0.3).astype(np.float32)
    return Dataset("synthetic", x, np.zeros(n, np.int64), xt, np.zeros(n_test, np.int64), (28, 28), "test")


def make_trainer(data, **kw):
    cfg = TrainConfig(dataset="digits", hidden=[H], z_dim=K, batch_size=B, epochs=1, **kw)
    return Trainer(cfg, data=data, quiet=True)


def run_steps(trainer, steps):
    """Run exactly `steps` training steps of the real loop (epochs of the data the trainer holds)."""
    per_epoch = trainer.x_train.shape[0] // B
    assert steps % per_epoch == 0
    for _ in range(steps // per_epoch):
        trainer._train_epoch()
        trainer.epoch += 1


# ---------------------------------------------------------------- float32 end to end

def _record_outputs(obj, method, seen, label):
    """Replace obj.method by a wrapper that records the dtype of every array it takes or returns."""
    fn = getattr(obj, method)

    def wrapper(*args, **kwargs):
        out = fn(*args, **kwargs)
        for i, a in enumerate([*args, *(out if isinstance(out, (tuple, list)) else [out])]):
            if isinstance(a, np.ndarray):
                seen.append((f"{label}.{method}[{i}]", a.dtype))
        return out
    setattr(obj, method, wrapper)


def test_every_hot_array_stays_float32():
    trainer = make_trainer(binary_data(4 * B))
    model, seen = trainer.model, []
    leaves = [*model.encoder.named_layers("encoder."), *model.decoder.named_layers("decoder.")]
    for name, layer in leaves:                            # every leaf: Dense layers and activations
        _record_outputs(layer, "forward", seen, name)
        _record_outputs(layer, "backward", seen, name)
    _record_outputs(model.likelihood, "forward", seen, "likelihood")
    _record_outputs(model.likelihood, "backward", seen, "likelihood")
    run_steps(trainer, 4)

    seen += [(f"cache[{k}]", v.dtype) for k, v in model.last_tape.items() if isinstance(v, np.ndarray)]
    seen += [(f"params[{k}]", v.dtype) for k, v in model.params.items()]
    seen += [(f"grads[{k}]", v.dtype) for k, v in model.grads.items()]
    seen += [(f"optimizer[{k}]", v.dtype) for k, v in trainer.optimizer.state_dict().items() if k != "t"]
    seen += [("flat_params", model.flat_params.dtype), ("flat_grads", model.flat_grads.dtype),
             ("batch buffer", trainer.batches._xb.dtype), ("binarized batch buffer", trainer.batches._xbin.dtype),
             ("x_train", trainer.x_train.dtype)]
    not32 = [(n, dt.name) for n, dt in seen if dt.kind == "f" and dt != np.float32]
    assert not32 == []
    # the hooks fired for every leaf layer, forward and backward, and for the likelihood
    fired = {n.rsplit("[", 1)[0] for n, _ in seen}
    for name, _ in leaves:
        assert {f"{name}.forward", f"{name}.backward"} <= fired, name
    assert {"likelihood.forward", "likelihood.backward", "cache", "optimizer"} <= fired


# ---------------------------------------------------------------- memory

def test_no_growth_with_steps_and_bounded_temporaries():
    """Memory held after 50 steps equals that after 200; a step's temporaries are a few batch arrays.

    The high-water mark of one step above the steady state (tracemalloc's
    peak after reset_peak) counts every temporary alive at the same time.
    By design that is the decoder's logits (B, D), exp(-|logits|) kept for
    backward, and at most three more (B, D) arrays inside the likelihood's
    forward or backward, plus hidden-layer arrays (B, H) and small (B, K)
    ones: bounded here by 6 · B · (D + H) floats. A float64 up-cast of the
    logits or an (S, N, D) temporary per sample would break it.
    """
    data = binary_data(50 * B)
    trainer = make_trainer(data)
    run_steps(trainer, 50)                               # warm up: every buffer exists now
    tracemalloc.start()
    try:
        # gc.collect() empties CPython's free lists of small tuples and dicts before each
        # reading: they are interpreter caches (bounded, ~2000 entries per size) that fill up
        # slowly and would read as ~100 bytes of "growth" per step; gc frees nothing else here.
        run_steps(trainer, 50)
        gc.collect()
        after_50 = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run_steps(trainer, 150)
        gc.collect()
        after_200, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = after_200 - after_50
    assert abs(growth) < 4096, f"memory grew by {growth} bytes over 150 steps"
    temporaries = peak - after_200
    bound = 6 * B * (D + H) * 4
    assert 0 < temporaries <= bound, f"a step's temporaries peak at {temporaries} bytes (bound {bound})"


def test_peak_memory_is_data_model_optimizer_and_a_few_batches():
    data = binary_data(8 * B)
    data_bytes = sum(a.nbytes for a in (data.x_train, data.y_train, data.x_test, data.y_test))
    tracemalloc.start()
    try:
        trainer = make_trainer(data)
        run_steps(trainer, 16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    P = trainer.model.flat_params.size
    model_bytes = 2 * P * 4                              # parameters and gradients, one flat buffer each
    model_bytes += P * 4                                 # the initial per-layer arrays, copied once into the flat buffer
    optimizer_bytes = 3 * P * 4 + P                      # Adam's m and v, one scratch buffer, a boolean mask
    validation_copy = data.x_test.nbytes                 # the validation set's fixed binarization
    batch = B * (D + H) * 4
    tape_copy = B * D * 4                                # the tape's private copy of the batch (VAE.forward)
    bound = model_bytes + optimizer_bytes + validation_copy + tape_copy + 10 * batch
    assert peak <= bound, (f"peak {peak} bytes > model {model_bytes} + optimizer {optimizer_bytes} + "
                           f"validation copy {validation_copy} + 10 batches of {batch} (data {data_bytes} not "
                           f"traced: it existed before)")


# ---------------------------------------------------------------- need_dx

def test_dense_backward_without_dx_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(3)
    layer = Dense(5, 4, rng=rng, dtype="float64")
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 4))
    _, tape = layer.forward(x)
    dx = layer.backward(dy, tape)
    dW, db = layer.grads["W"].copy(), layer.grads["b"].copy()
    layer.grads["W"][...] = 0
    layer.grads["b"][...] = 0
    assert layer.backward(dy, tape, need_dx=False) is None
    np.testing.assert_array_equal(layer.grads["W"], dW)
    np.testing.assert_array_equal(layer.grads["b"], db)
    np.testing.assert_allclose(dW, x.T @ dy, rtol=1e-12)   # the hand formula
    np.testing.assert_allclose(dx, dy @ layer.params["W"].T, rtol=1e-12)


def test_mlp_backward_without_dx():
    rng = np.random.default_rng(4)
    mlp = MLP([5, 7, 3], "tanh", rng=rng, dtype="float64")
    x, dy = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    _, tape = mlp.forward(x)
    assert mlp.backward(dy, tape).shape == x.shape
    want = {k: g.copy() for k, g in mlp.grads.items()}
    _, tape = mlp.forward(x)
    assert mlp.backward(dy, tape, need_dx=False) is None
    for k, g in mlp.grads.items():
        np.testing.assert_array_equal(g, want[k])


def test_model_gradients_unchanged_by_skipping_the_input_gradient():
    """The VAE's gradients equal those of a run whose encoder does compute dL/dx."""
    from numpyvae import VAE
    model = VAE(6, [5], 3, dtype="float64", seed=1)
    x = (np.random.default_rng(0).random((4, 6)) < 0.5).astype(np.float64)
    eps = np.random.default_rng(1).standard_normal((1, 4, 3))
    _, grads = model.loss_and_grads(x, eps)
    fast = {k: g.copy() for k, g in grads.items()}
    calls = []
    plain = model.encoder.backward
    model.encoder.backward = lambda dy, tape, **kw: calls.append(plain(dy, tape))   # ignore need_dx=False
    _, grads = model.loss_and_grads(x, eps)
    assert calls[0].shape == x.shape
    for k, g in grads.items():
        np.testing.assert_array_equal(g, fast[k])


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
