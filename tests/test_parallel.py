"""numpyvae.optim.parallel and what uses it: the split covers every value once, the threaded optimizer
equals the paper's update written plainly (to float32 rounding) and its own serial path (bit for
bit), training gives the same bits for a fixed seed whatever the thread count, and a NaN gradient
is still caught (now after the update, by the optimizer's sum of θ)."""
import math
import threading
from collections import OrderedDict

import numpy as np
import pytest

from numpyvae.nn.params import pack
from numpyvae.optim import Adam, make_optimizer, parallel
from numpyvae.run.divergence import TrainingDiverged
from numpyvae.run.train import TrainConfig, Trainer


@pytest.fixture
def threads():
    """Set the thread count for one test; restore 'follow the environment' afterwards."""
    yield parallel.set_threads
    parallel.set_threads(None)


# ---------------------------------------------------------------- the split

@pytest.mark.parametrize("n", [1, 4095, 4096, 4097, 100_000, 652_824])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_spans_cover_the_range_once_in_order_at_aligned_starts(n, parts):
    runs = parallel.spans(n, parts)
    assert runs[0][0] == 0 and runs[-1][1] == n
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(runs[:-1], runs[1:]))
    assert all(a % parallel.ALIGN == 0 and b > a for a, b in runs)
    assert len(runs) == min(parts, -(-n // parallel.ALIGN))


def test_one_thread_is_one_call_on_the_calling_thread(threads):
    threads(1)
    calls = []
    parallel.for_spans(lambda a, b: calls.append((a, b, threading.current_thread())), 1_000_000)
    assert calls == [(0, 1_000_000, threading.current_thread())]


def test_small_work_stays_serial_and_big_work_is_shared(threads):
    threads(3)
    calls = []
    parallel.for_spans(lambda a, b: calls.append((a, b)), parallel.MIN_PARALLEL - 1)
    assert calls == [(0, parallel.MIN_PARALLEL - 1)]
    seen, names = np.zeros(300_000, int), set()

    def mark(a, b):
        seen[a:b] += 1
        names.add(threading.current_thread().name)
    parallel.for_spans(mark, seen.size)
    assert (seen == 1).all() and len(names) == 3


def test_an_error_in_a_helper_is_raised_after_every_range_finished(threads):
    threads(2)
    done = []

    def fn(a, b):
        if a > 0:
            raise FloatingPointError("in the helper")
        done.append(a)
    with pytest.raises(FloatingPointError, match="in the helper"):
        parallel.for_spans(fn, 200_000)
    assert done == [0]
    parallel.for_spans(lambda a, b: None, 200_000)       # the helper is free again


def test_threads_are_opt_in_through_numpyvae_threads(threads, monkeypatch):
    monkeypatch.setenv("NUMPYVAE_THREADS", "3")
    assert parallel.threads() == 3
    monkeypatch.delenv("NUMPYVAE_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")      # BLAS's setting does not turn them on
    assert parallel.threads() == 1                        # serial unless asked (measured: 2 did not pay)
    threads(2)
    assert parallel.threads() == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_threads: n must be an integer >= 1"):
            parallel.set_threads(bad)


# ---------------------------------------------------------------- the optimizer

def adam_plain(theta, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba (2015), Algorithm 1, line by line, in float64."""
    theta = theta.astype(np.float64)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def packed_problem(size=150_000, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(size // 300 - 1, 300), (300,), (100, 3)]
    params = OrderedDict((f"p{i}", rng.standard_normal(s).astype(np.float32)) for i, s in enumerate(shapes))
    grads = OrderedDict((n, np.zeros_like(a)) for n, a in params.items())
    return pack(params), pack(grads)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_threaded_adam_is_the_papers_update_to_float32_rounding(threads, n_threads):
    threads(n_threads)
    (theta, p), (g, gv) = packed_problem()
    start = theta.copy()
    rng = np.random.default_rng(1)
    steps = [rng.standard_normal(g.size).astype(np.float32) * rng.uniform(0.01, 10) for _ in range(20)]
    opt = Adam(p, gv)
    assert opt.flat and theta.size >= parallel.MIN_PARALLEL
    for s in steps:
        g[...] = s
        assert opt.step(check_finite=True) is True
    ref = adam_plain(start, steps)
    # each step moves θ by about lr; float32 rounding of θ (|θ| ~ 1) is ~6e-8 per step
    np.testing.assert_allclose(theta, ref, rtol=0, atol=20 * 20 * 6e-8 + 1e-6)
    assert np.abs(theta - start).max() > 1e-3             # it did move


@pytest.mark.parametrize("name", ["adam", "rmsprop", "nesterov", "adagrad", "sgd"])
def test_threaded_steps_are_bit_identical_to_the_serial_whole_buffer_step(threads, name):
    finals = []
    for n_threads in (1, 2, 3):
        threads(n_threads)
        (theta, p), (g, gv) = packed_problem(seed=2)
        opt = make_optimizer(name, p, gv)
        rng = np.random.default_rng(3)
        for _ in range(70):                               # past a subnormal guard (t = 64)
            g[...] = rng.standard_normal(g.size).astype(np.float32)
            opt.step()
        finals.append(theta.copy())
    assert all(np.array_equal(finals[0], f) for f in finals[1:])


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_gradient_leaves_a_non_finite_weight_that_step_reports(threads, n_threads, bad):
    threads(n_threads)
    for name in ("adam", "sgd", "rmsprop", "adagrad", "momentum"):
        (theta, p), (g, gv) = packed_problem()
        opt = make_optimizer(name, p, gv)
        g[...] = 0.5
        assert opt.step(check_finite=True) is True
        g[-7] = bad                                        # the last range: a helper's, with 2 threads
        with np.errstate(invalid="ignore", over="ignore"):
            assert opt.step(check_finite=True) is False, name
            assert opt.step() is None


# ---------------------------------------------------------------- training

def train_bits(data, n_threads, **kw):
    parallel.set_threads(n_threads)
    cfg = TrainConfig(**{**dict(hidden=[64], z_dim=4, batch_size=50, epochs=2, seed=5), **kw})
    t = Trainer(cfg, data=data, quiet=True)
    assert t.model.flat_params.size >= parallel.MIN_PARALLEL     # the threaded path really runs
    t.fit()
    return t.model.flat_params.copy(), [h["train_loss"] for h in t.history]


def test_training_bits_do_not_depend_on_the_thread_count(small_digits, threads):
    w1, l1 = train_bits(small_digits, 1)
    w2, l2 = train_bits(small_digits, 2)
    w2b, l2b = train_bits(small_digits, 2)
    assert np.array_equal(w2, w2b) and l2 == l2b          # same seed, same threads: same bits
    assert np.array_equal(w1, w2) and l1 == l2            # and the same as the serial path


def test_a_nan_gradient_with_a_finite_loss_stops_the_run_at_that_batch(small_digits, threads):
    threads(2)
    t = Trainer(TrainConfig(hidden=[64], z_dim=4, batch_size=50, epochs=2, seed=5), data=small_digits, quiet=True)
    real, calls = t.model.loss_and_grads, {"n": 0}

    def poisoned(*a, **kw):
        loss, grads = real(*a, **kw)
        calls["n"] += 1
        if calls["n"] == 4:
            t.model.flat_grads[12345] = np.nan
        return loss, grads
    t.model.loss_and_grads = poisoned
    with pytest.raises(TrainingDiverged, match=r"^the gradients became non-finite \(loss [0-9.]+\) at epoch 1, "
                                               r"batch 4; nothing was saved"):
        t.fit()
    assert math.isnan(t.model.flat_params[12345])


def test_weights_that_overflow_with_finite_gradients_are_named_as_such(small_digits, threads):
    threads(1)
    t = Trainer(TrainConfig(hidden=[64], z_dim=4, batch_size=50, epochs=1, seed=5), data=small_digits, quiet=True)
    t.optimizer.lr = 1e39          # the first Adam step moves each weight by about lr: past float32's max
    with pytest.raises(TrainingDiverged, match=r"^the weights overflowed in the update at epoch 1, batch 1;"):
        t.fit()


# ---------------------------------------------------------------- the hot paths keep their plain form's bits

@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_relu_with_a_row_of_zeros_is_np_maximum_with_0_bit_for_bit(shape):
    from numpyvae.nn.activations import ReLU
    specials = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38, 3.0, -3.0], np.float32)   # finite: checked
    x = np.random.default_rng(0).choice(specials, size=shape).astype(np.float32)
    y, _ = ReLU().forward(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(np.asarray(y).view(np.int32), np.maximum(x, 0).view(np.int32))
