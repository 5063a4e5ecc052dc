"""Helmholtz machine: wake, wake-q and sleep gradients against finite differences; training improves log p(x).

The networks here are small stand-ins written to the engine contract's tape API
(y, tape = net.forward(x); net.backward(dy, tape, need_dx=..., accumulate=...)), so this file
tests the algorithm independently of numpyvae.nn; tests/test_helmholtz_nn.py runs the same checks
on numpyvae.nn.MLP, which plugs in unchanged.
"""
import math
from collections import OrderedDict

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from numpyvae.optim import Adam
from numpyvae.teach.gradcheck import numerical_gradient, relative_error
from numpyvae.models.wake_sleep import HelmholtzMachine


class TapeMLP:
    """tanh MLP with a linear last layer; forward returns (y, tape), backward reads only (dy, tape, params)."""

    def __init__(self, sizes, rng, dtype="float64"):
        self.params, self.grads = OrderedDict(), OrderedDict()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.params[f"W{i}"] = (rng.standard_normal((a, b)) / math.sqrt(a)).astype(dtype)
            self.params[f"b{i}"] = (0.1 * rng.standard_normal(b)).astype(dtype)
        for name, value in self.params.items():
            self.grads[name] = np.zeros_like(value)
        self.n_layers = len(sizes) - 1

    def forward(self, x):
        inputs, h = [], x.reshape(-1, x.shape[-1])
        for i in range(self.n_layers):
            inputs.append(h)
            h = h @ self.params[f"W{i}"] + self.params[f"b{i}"]
            if i < self.n_layers - 1:
                h = np.tanh(h)
        return h.reshape(x.shape[:-1] + (h.shape[-1],)), (inputs, x.shape)

    def backward(self, dy, tape, *, need_dx=True, accumulate=False):
        inputs, x_shape = tape
        d = dy.reshape(-1, dy.shape[-1])
        for i in reversed(range(self.n_layers)):
            gW, gb = inputs[i].T @ d, d.sum(0)
            if accumulate:
                self.grads[f"W{i}"] += gW
                self.grads[f"b{i}"] += gb
            else:
                self.grads[f"W{i}"][...] = gW
                self.grads[f"b{i}"][...] = gb
            if i > 0 or need_dx:
                d = d @ self.params[f"W{i}"].T
                if i > 0:
                    d = d * (1 - inputs[i] ** 2)        # inputs[i] = tanh(previous pre-activation)
        return d.reshape(x_shape) if need_dx else None


D, K = 6, 3


def machine(seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    hm = HelmholtzMachine(TapeMLP([D, 5, K], rng, dtype), TapeMLP([K, 5, D], rng, dtype), K, dtype=dtype)
    hm.prior_logits[...] = rng.standard_normal(K)
    return hm


def log_bern(v, logits):
    """Σ_last [v log σ(l) + (1 − v) log(1 − σ(l))], written from the definition."""
    p = expit(logits)
    return (v * np.log(p) + (1 - v) * np.log(1 - p)).sum(-1)


def binary_data(n, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, D)) < 0.5).astype(np.float64)
    x[:, 3:] = x[:, :3]                                   # structure a latent model can explain
    return x


def iwae_value(hm, x, h):
    """mean_n [logsumexp_s(log p(x, h_s) − log q(h_s | x))] − log k, from the definitions."""
    log_p = log_bern(x, hm.decoder.forward(h)[0]) + log_bern(h, hm.prior_logits)
    log_q = log_bern(h, hm.encoder.forward(x)[0])
    return np.mean(logsumexp(log_p - log_q, axis=0)) - math.log(h.shape[0])


@pytest.mark.parametrize("k, n", [(1, 1), (1, 4), (4, 1), (5, 3)])
def test_wake_gradients_are_minus_the_iwae_gradient_for_p(k, n):
    hm = machine(k)
    rng = np.random.default_rng(10 + k)
    x = binary_data(n, k)
    h = hm.sample_q(x, k, rng)
    value = hm.wake_grads(x, h)
    assert value == pytest.approx(iwae_value(hm, x, h), rel=1e-12)
    for name in ["prior.logits"] + [n for n in hm.params if n.startswith("decoder.")]:
        numeric = numerical_gradient(lambda _: iwae_value(hm, x, h), hm.params[name])
        assert relative_error(hm.grads[name], -numeric) <= 1e-7, name


@pytest.mark.parametrize("k, n", [(2, 1), (5, 3)])
def test_wake_q_gradients_against_finite_differences(k, n):
    hm = machine(k + 1)
    rng = np.random.default_rng(k)
    x = binary_data(n, k)
    h = hm.sample_q(x, k, rng)
    log_p = log_bern(x, hm.decoder.forward(h)[0]) + log_bern(h, hm.prior_logits)
    log_w = log_p - log_bern(h, hm.encoder.forward(x)[0])
    w_tilde = np.exp(log_w - logsumexp(log_w, axis=0))    # held fixed: RWS's weights are constants
    hm.wake_grads(x, h, update_q=True)

    def weighted_log_q(_):
        return np.mean((w_tilde * log_bern(h, hm.encoder.forward(x)[0])).sum(0))

    for name in [n for n in hm.params if n.startswith("encoder.")]:
        numeric = numerical_gradient(weighted_log_q, hm.params[name])
        assert relative_error(hm.grads[name], -numeric) <= 1e-7, name


def test_sleep_gradients_against_finite_differences_and_accumulate():
    hm = machine(3)
    h, x_dream = hm.dream(7, np.random.default_rng(0))
    value = hm.sleep_grads(h, x_dream)
    assert value == pytest.approx(np.mean(log_bern(h, hm.encoder.forward(x_dream)[0])), rel=1e-12)
    grads = {}
    for name in [n for n in hm.params if n.startswith("encoder.")]:
        numeric = numerical_gradient(lambda _: np.mean(log_bern(h, hm.encoder.forward(x_dream)[0])), hm.params[name])
        assert relative_error(hm.grads[name], -numeric) <= 1e-7, name
        grads[name] = hm.grads[name].copy()
    hm.sleep_grads(h, x_dream, accumulate=True)
    for name, g in grads.items():
        np.testing.assert_allclose(hm.grads[name], 2 * g, rtol=1e-12)


def test_params_and_grads_are_the_networks_own_arrays():
    hm = machine()
    assert hm.params["encoder.W0"] is hm.encoder.params["W0"]
    assert hm.grads["decoder.b1"] is hm.decoder.grads["b1"]
    assert list(hm.params) == list(hm.grads)


def independent_bernoulli_log_lik(x):
    p = x.mean(0).clip(1e-3, 1 - 1e-3)
    return (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1).mean()


@pytest.mark.parametrize("k, q_update", [(1, "sleep"), (5, "wake"), (5, "both")])
def test_training_beats_the_independent_pixel_model(k, q_update):
    """x[:, 3:] copies x[:, :3]: 3 latent bits explain the data, independent pixels cannot (log 2 per copy)."""
    hm = machine(0, dtype="float32")
    x = binary_data(64, 1).astype(np.float32)
    rng = np.random.default_rng(0)
    start = hm.log_likelihood(x, 100, rng).mean()
    opt = Adam(hm.params, hm.grads, lr=0.02)
    for _ in range(800):
        hm.step_grads(x, rng, k=k, q_update=q_update)
        opt.step()
    end = hm.log_likelihood(x, 100, rng).mean()
    baseline = independent_bernoulli_log_lik(x)
    assert end > start + 1.0 and end > baseline + 1.0, (start, end, baseline)


def test_bad_input_is_a_clear_error():
    hm = machine()
    x = binary_data(4, 0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="q_update must be one of"):
        hm.step_grads(x, rng, q_update="dream")
    with pytest.raises(ValueError, match="wake-q needs k >= 2"):
        hm.step_grads(x, rng, k=1, q_update="wake")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        hm.step_grads(x, rng, k=0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        hm.step_grads(x * 3, rng)
    with pytest.raises(ValueError, match="dtype float32 but this model uses float64"):
        hm.step_grads(x.astype(np.float32), rng)
    with pytest.raises(ValueError, match="h must have 3 features"):
        hm.wake_grads(x, np.zeros((2, 4, K + 1)))
    with pytest.raises(ValueError, match="for the N = 4 examples of x"):
        hm.wake_grads(x, np.zeros((2, 5, K)))
    with pytest.raises(ValueError, match="same number of dreams, got 2 and 4"):
        hm.sleep_grads(np.zeros((2, K)), x)
