"""Dense, activations and MLP: finite-difference gradients, properties, bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpyvae import MLP, Dense, Sequential
from numpyvae.nn.activations import ACTIVATIONS, ELU, LeakyReLU, ReLU, get_activation
from numpyvae.teach.gradcheck import numerical_gradient, relative_error


def fd_check(layer, x, seed=0):
    """Independent of numpyvae.teach.gradcheck.check_layer: our own loop, our own loss."""
    rng = np.random.default_rng(seed)
    y, tape = layer.forward(x)
    dy = rng.standard_normal(y.shape)

    def loss(_):
        return np.sum(dy * layer.forward(x)[0])

    dx = layer.backward(dy, tape)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    errs = {"x": relative_error(dx, numerical_gradient(loss, x))}
    for k, p in layer.params.items():
        errs[k] = relative_error(grads[k], numerical_gradient(loss, p))
    return errs


dims = st.integers(1, 6)


@given(n=dims, d_in=dims, d_out=dims, seed=st.integers(0, 2**16))
def test_dense_gradients_match_finite_differences(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(d_in, d_out, rng=rng, dtype="float64")
    layer.params["b"][:] = rng.standard_normal(d_out)
    # An input near 0 makes dW = x dy tiny against a loss of size |b dy|: the central difference of W then
    # resolves it only to ~1e-16 |loss| / h, so a draw of x = -1.9e-6 (seed 24454, n = d_in = d_out = 1) reads
    # 1e-6 off, the difference's error, not the backward's. Inputs stay off 0, as the activations' do.
    x = away_from_kink(rng.standard_normal((n, d_in)))
    assert max(fd_check(layer, x, seed).values()) <= 1e-7


def test_dense_accepts_leading_sample_axis():
    """(S, N, D) input: one matmul over all samples, grads summed over both axes."""
    rng = np.random.default_rng(1)
    layer = Dense(3, 2, rng=rng, dtype="float64")
    x = rng.standard_normal((2, 4, 3))
    assert layer.forward(x)[0].shape == (2, 4, 2)
    assert max(fd_check(layer, x).values()) <= 1e-7


def away_from_kink(x, margin=1e-3):
    """Push values off 0, where ReLU-like functions have no derivative."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin * 2, x)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(shape=st.tuples(dims, dims), seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 2.0]))
def test_activation_gradients_match_finite_differences(name, shape, seed, scale):
    """Inputs stay where a float64 central difference can resolve the slope.

    Deep in saturation (tanh at x = -7: f' = 3e-6, f = -1) the difference
    f(x+h) - f(x-h) cancels to a few units in the last place of f, so the
    finite difference measures rounding, not the gradient. The saturated
    range is checked against closed forms below instead.
    """
    x = away_from_kink(np.clip(scale * np.random.default_rng(seed).standard_normal(shape), -4, 4))
    assert fd_check(get_activation(name), x, seed)["x"] <= 1e-7


@pytest.mark.parametrize("x", [-30.0, -12.0, -7.0, 7.0, 12.0, 30.0])
def test_saturated_derivatives_match_closed_forms(x):
    """Where finite differences cannot reach: compare with exact derivatives in extended precision.

    tanh, sigmoid and ELU compute f' from the saved output y (1 - y², y(1 - y),
    y + alpha), which is cheap but cancels in saturation: the error is a few
    units of 1e-16 *absolute* (the slopes are at most 1), not relative to a tiny
    f'. That is the accuracy they promise; softplus' = sigmoid(x) comes from x
    and is accurate relative to itself.
    """
    xl = np.longdouble(x)
    exact = {"tanh": 1 / np.cosh(xl) ** 2, "sigmoid": np.exp(-np.abs(xl)) / (1 + np.exp(-np.abs(xl))) ** 2,
             "softplus": 1 / (1 + np.exp(-xl)), "elu": np.exp(xl) if x < 0 else np.longdouble(1.0)}
    for name, want in exact.items():
        act = get_activation(name)
        _, tape = act.forward(np.array([[x]]))
        got = act.backward(np.ones((1, 1)), tape)[0, 0]
        assert abs(got - float(want)) <= 4 * np.finfo(np.float64).eps, name
        if name == "softplus":
            assert abs(got - float(want)) <= 1e-12 * float(want), name


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_gradients_match_finite_differences(activation):
    rng = np.random.default_rng(3)
    net = MLP([4, 5, 3], activation, rng=rng, dtype="float64")
    for b in (v for k, v in net.params.items() if k.endswith(".b")):
        b[:] = 0.1 * rng.standard_normal(b.shape)  # nonzero biases exercise db
    x = away_from_kink(rng.standard_normal((1, 4)))  # batch size 1
    errs = fd_check(net, x)
    assert set(errs) == {"x", "0.W", "0.b", "1.W", "1.b"}
    assert max(errs.values()) <= 1e-7


def test_known_values_of_activations():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_allclose(ReLU().forward(x)[0], [0, 0, 0.5, 2])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x)[0], [-0.2, -0.05, 0.5, 2])
    np.testing.assert_allclose(ELU(1.0).forward(x)[0], [np.exp(-2) - 1, np.exp(-0.5) - 1, 0.5, 2])
    np.testing.assert_allclose(get_activation("sigmoid").forward(x)[0], 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(get_activation("softplus").forward(x)[0], np.log(1 + np.exp(x)))
    np.testing.assert_allclose(get_activation("tanh").forward(x)[0], np.tanh(x))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_are_finite_and_dtype_is_kept(name, dtype):
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    act = get_activation(name)
    y, tape = act.forward(x)
    dx = act.backward(np.ones_like(y), tape)
    assert y.dtype == dtype and dx.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(dx).all()


@given(n=dims, sizes=st.lists(dims, min_size=2, max_size=4), dtype=st.sampled_from(["float32", "float64"]))
def test_mlp_shapes_dtypes_and_param_dicts(n, sizes, dtype):
    net = MLP(sizes, "relu", rng=np.random.default_rng(0), dtype=dtype)
    y, _ = net.forward(np.ones((n, sizes[0]), dtype=dtype))
    assert y.shape == (n, sizes[-1]) and y.dtype == np.dtype(dtype)
    assert list(net.params) == list(net.grads)
    for k in net.params:
        assert net.params[k].shape == net.grads[k].shape and net.params[k].dtype == np.dtype(dtype)
    expected = [f"{i}.{p}" for i in range(len(sizes) - 1) for p in ("W", "b")]
    assert list(net.params) == expected
    assert net.params["0.W"].shape == (sizes[0], sizes[1])


def test_packed_params_are_views_of_one_buffer():
    net = MLP([4, 3, 2], "tanh", dtype="float64")
    net.flat_params[:] = 0.1  # small: tanh must not saturate
    assert all((p == 0.1).all() for p in net.params.values())
    _, tape = net.forward(np.ones((2, 4)))
    net.backward(np.ones((2, 2)), tape)
    # grads written by backward are visible through the flat gradient buffer
    assert np.count_nonzero(net.flat_grads) > 0
    np.testing.assert_array_equal(net.flat_grads[:12], net.grads["0.W"].ravel())


def test_same_seed_same_bits_other_seed_differs():
    def weights(seed, init):
        return Dense(30, 20, init=init, rng=np.random.default_rng(seed)).params["W"]
    for init in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal"):
        assert np.array_equal(weights(5, init), weights(5, init))
        assert not np.array_equal(weights(5, init), weights(6, init))


@pytest.mark.parametrize("init,var", [("glorot_uniform", 2 / 700), ("glorot_normal", 2 / 700),
                                      ("he_uniform", 2 / 400), ("he_normal", 2 / 400)])
def test_initializer_variances(init, var):
    W = Dense(400, 300, init=init, rng=np.random.default_rng(0), dtype="float64").params["W"]
    assert abs(W.var() / var - 1) < 0.02
    if init.endswith("uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * var)


# ---- bad input -------------------------------------------------------------

def test_wrong_trailing_dimension_names_both_sizes():
    with pytest.raises(ValueError, match=r"must have 3 features.*\(4, 5\)"):
        Dense(3, 2).forward(np.ones((4, 5), dtype=np.float32))


def test_wrong_rank():
    with pytest.raises(ValueError, match="dimensions"):
        Dense(3, 2).forward(np.ones((1, 1, 1, 3), dtype=np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input(bad):
    x = np.ones((2, 3), dtype=np.float32)
    x[1, 2] = bad
    with pytest.raises(ValueError, match="non-finite"):
        Dense(3, 2).forward(x)
    with pytest.raises(ValueError, match="non-finite"):
        ReLU().forward(x)


def test_dtype_is_never_silently_changed():
    with pytest.raises(ValueError, match="float64 but this model uses float32"):
        Dense(3, 2, dtype="float32").forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="unsupported dtype"):
        Dense(3, 2, dtype="float16")


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), MLP([3, 2])], ids=["dense", "relu", "mlp"])
def test_backward_needs_its_forwards_tape(layer):
    with pytest.raises(TypeError, match="tape"):
        layer.backward(np.ones((2, 2), dtype=np.float32), None)


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), MLP([3, 2])], ids=["dense", "relu", "mlp"])
def test_gradient_of_wrong_shape(layer):
    y, tape = layer.forward(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"output's shape \(4, \d\), got \(5, 2\)"):
        layer.backward(np.ones((5, 2), dtype=np.float32), tape)
    assert y.shape[0] == 4


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        get_activation("swish")
    with pytest.raises(ValueError, match="choose one of"):
        Dense(3, 2, init="orthogonal")
    with pytest.raises(ValueError, match="unique"):
        Sequential([("a", ReLU()), ("a", ReLU())])


# ---- the tape contract: nothing a backward needs lives on the layer ------------------------

@pytest.mark.parametrize("make", [lambda: Dense(4, 3, dtype="float64"), lambda: get_activation("tanh"),
                                  lambda: get_activation("relu"), lambda: get_activation("elu"),
                                  lambda: MLP([4, 5, 3], "softplus", dtype="float64")],
                         ids=["dense", "tanh", "relu", "elu", "mlp"])
def test_a_second_forward_does_not_change_the_first_backward(make):
    """Two forwards live at once: each backward uses its own tape, as if the other never ran."""
    layer = make()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 3, 4))
    dy = rng.standard_normal((3, layer.forward(x1)[0].shape[-1]))
    y1, tape1 = layer.forward(x1)
    want_dx = layer.backward(dy, tape1)
    want = {k: g.copy() for k, g in layer.grads.items()}
    y1, tape1 = layer.forward(x1)
    layer.forward(x2)                                  # another forward in between
    np.testing.assert_array_equal(layer.backward(dy, tape1), want_dx)
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(g, want[k])


def test_accumulate_adds_the_second_use_of_a_layer():
    """A layer used twice in one step: overwrite with the first backward, add the second."""
    rng = np.random.default_rng(1)
    layer = Dense(3, 2, rng=rng, dtype="float64")
    xa, xb = rng.standard_normal((2, 4, 3))
    dya, dyb = rng.standard_normal((2, 4, 2))
    _, ta = layer.forward(xa)
    _, tb = layer.forward(xb)
    layer.backward(dya, ta)
    layer.backward(dyb, tb, accumulate=True)
    np.testing.assert_allclose(layer.grads["W"], xa.T @ dya + xb.T @ dyb, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], dya.sum(0) + dyb.sum(0), rtol=1e-12)
