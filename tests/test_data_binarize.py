"""binarize_static and binarize_dynamic."""
import numpy as np
import pytest

from numpyvae.datasets import binarize_dynamic, binarize_static


@pytest.fixture
def grey():
    return np.array([[0.0, 0.2, 0.5, 0.51, 1.0], [0.49, 0.9, 0.1, 0.5, 0.7]], dtype=np.float32)


def test_threshold(grey):
    b = binarize_static(grey)
    assert b.dtype == np.float32
    np.testing.assert_array_equal(b, [[0, 0, 0, 1, 1], [0, 1, 0, 0, 1]])   # strictly above 0.5
    np.testing.assert_array_equal(binarize_static(grey, threshold=0.15), [[0, 1, 1, 1, 1], [1, 1, 0, 1, 1]])


def test_static_sample_is_one_fixed_draw():
    x = np.full((200, 500), 0.3)
    a, b = binarize_static(x, "sample", seed=1), binarize_static(x, "sample", seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, binarize_static(x, "sample", seed=2))
    assert set(np.unique(a)) == {0.0, 1.0} and a.dtype == np.float64
    assert abs(a.mean() - 0.3) < 0.005                        # 100,000 draws: sd of the mean 0.0014


def test_static_sample_respects_certain_pixels(grey):
    b = binarize_static(grey, "sample", seed=0)
    assert b[0, 0] == 0 and b[0, 4] == 1                       # p = 0 and p = 1 are never flipped


def test_static_errors(grey):
    with pytest.raises(ValueError, match="unknown method 'otsu'"):
        binarize_static(grey, method="otsu")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize_static(grey * 255)
    with pytest.raises(ValueError, match="unsupported dtype"):
        binarize_static(np.zeros((2, 2), dtype=np.uint8))


def test_dynamic_matches_its_definition(grey):
    x = np.tile(grey, (30, 1))
    got = binarize_dynamic(x, np.random.default_rng(7))
    expected = (np.random.default_rng(7).random(x.shape, dtype=np.float32) < x).astype(np.float32)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32


def test_dynamic_draws_fresh_each_call_into_out():
    x = np.full((100, 784), 0.5)
    rng = np.random.default_rng(0)
    out = np.empty_like(x)
    first = binarize_dynamic(x, rng, out=out).copy()
    second = binarize_dynamic(x, rng, out=out)
    assert second is out
    assert not np.array_equal(first, second)
    assert abs(first.mean() - 0.5) < 0.01 and abs(second.mean() - 0.5) < 0.01
    assert set(np.unique(second)) == {0.0, 1.0}


def test_dynamic_bad_out(grey):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="out must be a C-contiguous float32 array of shape"):
        binarize_dynamic(grey, rng, out=np.empty(grey.shape, np.float64))
    with pytest.raises(ValueError, match="out must be"):
        binarize_dynamic(grey, rng, out=np.empty((3, 5), np.float32))
    with pytest.raises(ValueError, match="not C-contiguous"):
        binarize_dynamic(grey, rng, out=np.empty((5, 2), np.float32).T)
