"""The step-through view: order, copies, and recomputed gradients that agree with the model's own."""
import numpy as np
import pytest

from numpyvae import VAE
from numpyvae.models.hvae import HVAE
from numpyvae.teach.gradcheck import numerical_gradient, relative_error
from numpyvae.teach.stepthrough import Trace, format_trace, print_trace, trace_step

N, D, K = 3, 6, 2


def tiny(likelihood="bernoulli", hidden=(5, 4), seed=0):
    model = VAE(D, list(hidden), K, likelihood=likelihood, activation="tanh", seed=seed, dtype="float64")
    model.flat_params[:] += 0.05 * np.random.default_rng(seed + 3).standard_normal(model.flat_params.size)
    return model


def batch(seed=0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(N, D))


def test_entries_come_in_the_order_of_the_computation():
    model = tiny()
    trace = trace_step(model, batch())
    assert trace.names("forward") == ["x", "h", "mu", "logvar", "sigma", "eps", "z", "decoder.out",
                                      "nll", "kl", "bound", "loss"]
    assert trace.names("gradient") == [
        "d decoder.out", "decoder.out.W", "decoder.out.b", "decoder.1.W", "decoder.1.b",
        "decoder.0.W", "decoder.0.b", "dz", "dmu", "dlogvar",
        "encoder.mu.W", "encoder.mu.b", "encoder.logvar.W", "encoder.logvar.b", "dh",
        "encoder.1.W", "encoder.1.b", "encoder.0.W", "encoder.0.b"]
    # every forward entry comes before every gradient entry, and all parameters are there
    roles = [e.role for e in trace]
    assert roles == sorted(roles, key=["forward", "gradient"].index)
    assert set(model.params) <= set(trace.names("gradient"))


def test_shapes_and_statistics_match_the_arrays():
    trace = trace_step(tiny(), batch(), n_samples=4)
    assert trace["eps"].shape == (4, N, K) and trace["z"].shape == (4, N, K)
    assert trace["decoder.out"].shape == (4, N, D) and trace["nll"].shape == (4, N)
    for e in trace:
        a = e.array.astype(np.float64)
        assert (e.mean, e.min, e.max) == (a.mean(), a.min(), a.max())
        assert e.std == pytest.approx(np.sqrt(((a - a.mean()) ** 2).mean()), rel=1e-12, abs=1e-15)


def test_forward_values_are_the_equations():
    model, x = tiny(), batch()
    eps = np.random.default_rng(5).standard_normal((2, N, K))
    t = trace_step(model, x, eps)
    mu, logvar = t["mu"].array, t["logvar"].array
    np.testing.assert_allclose(t["sigma"].array, np.exp(logvar / 2), rtol=1e-15)
    np.testing.assert_allclose(t["z"].array, mu + np.exp(logvar / 2) * eps, rtol=1e-14)
    kl = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=-1)
    np.testing.assert_allclose(t["kl"].array, kl, rtol=1e-12)
    np.testing.assert_allclose(t["bound"].array, -(t["nll"].array.mean(0) + kl), rtol=1e-12)
    assert t["loss"].array == pytest.approx(-t["bound"].array.mean(), rel=1e-14)


def test_arrays_are_copies_that_later_steps_do_not_change():
    model, x = tiny(), batch()
    t1 = trace_step(model, x)
    kept = {e.name: e.array.copy() for e in t1}
    model.flat_params[:] += 0.1
    trace_step(model, batch(1))
    for e in t1:
        np.testing.assert_array_equal(e.array, kept[e.name], err_msg=e.name)
    for name in model.params:   # no entry shares memory with a model buffer
        assert not np.shares_memory(t1[name].array, model.flat_grads)


def test_model_gradients_are_left_as_loss_and_grads_leaves_them():
    model, x = tiny(), batch()
    eps = np.random.default_rng(2).standard_normal((1, N, K))
    model.loss_and_grads(x, eps)
    expected = model.flat_grads.copy()
    t = trace_step(model, x, eps)
    np.testing.assert_array_equal(model.flat_grads, expected)
    for name in model.params:
        np.testing.assert_array_equal(t[name].array, model.grads[name])


CASES = [("bernoulli", {}), ("gaussian", {}), ("gaussian-learned", {}), ("continuous-bernoulli", {}),
         ("bernoulli", dict(kl="mc", n_samples=3)), ("bernoulli", dict(objective="iwae", n_samples=4)),
         ("bernoulli", dict(beta=0.3, n_samples=2))]


@pytest.mark.parametrize("likelihood,opts", CASES)
def test_recomputed_dmu_dlogvar_reproduce_the_encoder_weight_gradients(likelihood, opts):
    """Dense backward by hand: dW = hᵀ dmu, db = Σ_n dmu must equal the model's own gradients."""
    model, x = tiny(likelihood), batch()
    t = trace_step(model, x, **opts)
    h = t["h"].array
    for head, d in (("mu", "dmu"), ("logvar", "dlogvar")):
        np.testing.assert_allclose(h.T @ t[d].array, t[f"encoder.{head}.W"].array, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(t[d].array.sum(0), t[f"encoder.{head}.b"].array, rtol=1e-11, atol=1e-14)
    # dh through tanh reproduces the last encoder layer's gradients: dpre = dh * (1 - h²)
    dpre = t["dh"].array * (1 - h ** 2)
    np.testing.assert_allclose(dpre.sum(0), t["encoder.1.b"].array, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("likelihood,opts", CASES)
def test_recomputed_intermediate_gradients_match_finite_differences(likelihood, opts):
    """dmu, dlogvar: perturb mu / logvar inside the forward pass and difference the loss ourselves."""
    model, x = tiny(likelihood), batch()
    S = opts.get("n_samples", 1)
    eps = np.random.default_rng(9).standard_normal((S, N, K))
    opts = {k: v for k, v in opts.items() if k != "n_samples"}
    t = trace_step(model, x, eps, **opts)
    mu0, logvar0 = t["mu"].array.copy(), t["logvar"].array.copy()
    beta = opts.get("beta", 1.0)

    def loss_at(mu, logvar):
        # the same loss, with the encoder's outputs replaced by mu, logvar (written here from the pieces)
        z = mu + np.exp(logvar / 2) * eps
        nll, _ = model.likelihood.forward(x, *model.decode(z))
        log_p = -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), -1)
        log_q = -0.5 * np.sum(eps ** 2 + logvar + np.log(2 * np.pi), -1)
        if opts.get("objective") == "iwae":
            log_w = -nll + log_p - log_q
            m = log_w.max(0)
            return -np.mean(m + np.log(np.mean(np.exp(log_w - m), 0)))
        if opts.get("kl") == "mc":
            return np.mean(nll.mean(0) + beta * (log_q - log_p).mean(0))
        kl = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, -1)
        return np.mean(nll.mean(0) + beta * kl)

    assert loss_at(mu0, logvar0) == pytest.approx(t.loss, rel=1e-12)
    num_mu = numerical_gradient(lambda m: loss_at(m, logvar0), mu0.copy())
    num_lv = numerical_gradient(lambda lv: loss_at(mu0, lv), logvar0.copy())
    assert relative_error(t["dmu"].array, num_mu) <= 1e-7
    assert relative_error(t["dlogvar"].array, num_lv) <= 1e-7

    # dz and d logits: perturb z (decoder input) and the logits themselves
    z0 = t["z"].array.copy()
    w = 1.0 / (S * N)
    if not opts:   # plain ELBO: the reconstruction part's gradient with respect to z and the heads
        num_z = numerical_gradient(lambda z: w * model.likelihood.forward(x, *model.decode(z))[0].sum(), z0.copy())
        assert relative_error(t["dz"].array, num_z) <= 1e-7
        heads = [n for n in t.names("forward") if n.startswith("decoder.")]
        arrays = [t[n].array.copy() for n in heads]
        for i, name in enumerate(heads):
            def f(a, i=i):
                args = [a if j == i else arrays[j] for j in range(len(arrays))]
                return w * model.likelihood.forward(x, *args)[0].sum()
            num = numerical_gradient(f, arrays[i].copy())
            assert relative_error(t[f"d {name}"].array, num) <= 1e-7, name


def test_table_lists_every_entry_with_shape_and_loss():
    t = trace_step(tiny(), batch())
    text = format_trace(t)
    lines = text.splitlines()
    for e in t:
        assert any(f" {e.name} " in line and str(e.shape) in line for line in lines), e.name
    assert lines[-1].startswith("loss = ")
    assert "z = mu + sigma * eps" in format_trace(t, notes=True)
    assert str(t) == text and "Trace(" in repr(t)


def test_print_trace_writes_the_table(capsys):
    t = trace_step(tiny(), batch())
    print_trace(t)
    assert capsys.readouterr().out.strip() == format_trace(t).strip()


def test_lookup_by_name_and_position():
    t = trace_step(tiny(), batch())
    assert t[0].name == "x" and t["dz"].role == "gradient" and "dz" in t and len(t) == len(t.names())
    with pytest.raises(KeyError, match="no entry 'nope'"):
        t["nope"]
    with pytest.raises(ValueError, match="role must be one of"):
        t.names("backward")


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="model must be a numpyvae.VAE"):
        trace_step(object(), batch())
    with pytest.raises(ValueError, match="dtype float32 but this model uses float64"):
        trace_step(tiny(), batch().astype(np.float32))
    with pytest.raises(ValueError, match="objective must be one of"):
        trace_step(tiny(), batch(), objective="bogus")
    with pytest.raises(TypeError, match="expected the Trace"):
        format_trace([1, 2])
    assert isinstance(trace_step(tiny(), batch()), Trace)


@pytest.mark.parametrize("build", [lambda: HVAE(6, [3, 2], [5], seed=0, dtype="float64"),
                                   lambda: VAE(6, [5], 4, seed=0, dtype="float64", posterior="gumbel:2",
                                               prior="categorical"),
                                   lambda: VAE(6, [5], 2, seed=0, dtype="float64", posterior="planar:2")])
def test_any_model_of_the_protocol_is_traced_from_its_own_tape(build):
    model = build()
    x = (np.random.default_rng(0).uniform(size=(3, 6)) > 0.5).astype(np.float64)
    eps = model.noise(np.random.default_rng(1), 2, 3)
    t = trace_step(model, x, eps)
    loss, grads = model.loss_and_grads(x, eps)
    assert t.loss == loss and t[0].name == "x" and t["loss"].role == "forward"
    for name in grads:                                    # every parameter gradient, as training computed it
        np.testing.assert_array_equal(t[name].array, grads[name])
        assert t[name].role == "gradient"
    assert t.names("forward")[-1] == "loss" and "c" in t.names("gradient")
    if model.kind == "hvae":                              # one entry per stochastic layer
        assert {"z1", "z2", "dz1", "dz2"} <= set(t.names())
