"""PyTorch's default nn.Linear initialization and init_dense, which gives every name (W, b)."""
import numpy as np
import pytest

from numpyvae.nn.init import INITIALIZERS, get_initializer, init_dense, pytorch_uniform


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pytorch_init_draws_w_and_b_within_one_over_sqrt_fan_in(dtype):
    d_in, d_out = 300, 200
    W, b = init_dense("pytorch", np.random.default_rng(0), d_in, d_out, dtype)
    assert W.shape == (d_in, d_out) and b.shape == (d_out,)
    assert W.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype)
    bound = np.dtype(dtype).type(1 / np.sqrt(d_in))
    for x in (W, b):
        assert np.abs(x).max() <= bound
        assert np.abs(x).max() > 0.98 * bound           # it uses the whole range, not a narrower one
    # U(-a, a): mean 0, variance a² / 3 = 1 / (3 D_in)
    assert abs(W.mean()) < 4 * np.sqrt(1 / (3 * d_in) / W.size)
    assert W.var() == pytest.approx(1 / (3 * d_in), rel=0.02)
    assert abs(b.mean()) < 4 * np.sqrt(1 / (3 * d_in) / b.size)
    assert np.count_nonzero(b) == d_out               # unlike the other initializers, the bias is drawn


def test_pytorch_init_bound_follows_fan_in_not_fan_out():
    W, _ = init_dense("pytorch", np.random.default_rng(1), 4, 1000)
    assert np.abs(W).max() > 0.45                     # 1/sqrt(4) = 0.5; fan_out would give ~0.03
    W, _ = init_dense("pytorch", np.random.default_rng(1), 10_000, 3)
    assert np.abs(W).max() <= np.float32(0.01)


def test_pytorch_init_is_reproducible_and_seeded():
    a = pytorch_uniform(np.random.default_rng(5), 20, 7)
    b = pytorch_uniform(np.random.default_rng(5), 20, 7)
    c = pytorch_uniform(np.random.default_rng(6), 20, 7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
    # float32 is the float64 draw rounded: same bits of randomness whatever the dtype
    W64, b64 = pytorch_uniform(np.random.default_rng(5), 20, 7, "float64")
    np.testing.assert_array_equal(a[0], W64.astype(np.float32))
    np.testing.assert_array_equal(a[1], b64.astype(np.float32))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_init_dense_keeps_the_weight_draw_and_zero_bias_for_other_names(name):
    W, b = init_dense(name, np.random.default_rng(3), 30, 10, "float64")
    np.testing.assert_array_equal(W, get_initializer(name)(np.random.default_rng(3), 30, 10, "float64"))
    assert b.shape == (10,) and b.dtype == np.float64 and not b.any()


def test_kingmas_init_is_normal_with_sd_one_thousandth_whatever_the_fan_in():
    for d_in, d_out in ((784, 500), (10, 3000)):
        W, b = init_dense("kingma", np.random.default_rng(0), d_in, d_out, "float64")
        assert W.std() == pytest.approx(1e-3, rel=0.02) and abs(W.mean()) < 4e-3 / np.sqrt(W.size)
        assert not b.any()


def test_bad_names_and_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown initializer 'torch'.*'pytorch'"):
        init_dense("torch", np.random.default_rng(0), 3, 2)
    with pytest.raises(ValueError, match="'pytorch' sets the bias too; use init_dense"):
        get_initializer("pytorch")
    with pytest.raises(ValueError, match="d_in must be an integer >= 1"):
        init_dense("pytorch", np.random.default_rng(0), 0, 2)
    with pytest.raises(ValueError, match="unsupported dtype"):
        init_dense("pytorch", np.random.default_rng(0), 3, 2, "int8")
