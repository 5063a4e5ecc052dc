"""The optimizers' y ← y + a·x without a temporary (numpyvae.optim.inplace.axpy): the value, in place, split-independent."""
import numpy as np
import pytest

from numpyvae.optim.engine import _all_finite
from numpyvae.optim.inplace import axpy

BLOCK = 4096                  # numpyvae.optim.parallel.ALIGN: where the ranges of the optimizer threads start


def exact(a, x, y):
    """a·x + y in float64 (exact product of two float32 numbers), then rounded once to x's dtype."""
    return (np.float64(np.float32(a) if x.dtype == np.float32 else a) * x.astype(np.float64)
            + y.astype(np.float64)).astype(x.dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 63, BLOCK, 3 * BLOCK + 5, 20_001])
def test_axpy_is_a_times_x_plus_y_written_into_y(dtype, n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    y0 = y.copy()
    want, before = exact(-0.37, x, y), y.ctypes.data
    axpy(-0.37, x, y, np.empty_like(x))
    assert y.ctypes.data == before and y.dtype == dtype
    # two roundings (a·x rounded first, then the sum): off by at most half an ulp of a·x and one ulp
    # of the result
    tol = np.spacing(np.abs(want)) + np.spacing(np.abs(np.asarray(-0.37, dtype) * x)) / 2
    assert np.all(np.abs(y - want) <= tol)
    assert y.tobytes() == (y0 + np.asarray(-0.37, dtype) * x).tobytes()   # exactly the plain form's two roundings


def test_axpy_writes_into_strided_and_multi_dimensional_arrays():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 8)).astype(np.float32)
    y = base[:, ::2]                                                # not contiguous
    x = rng.standard_normal(y.shape).astype(np.float32)
    want = y + np.float32(2.5) * x
    axpy(2.5, x, y, np.empty_like(x))
    np.testing.assert_array_equal(base[:, ::2], want)
    y2 = rng.standard_normal((70, 40)).astype(np.float32)          # contiguous 2-D
    x2 = x[:70, :4].repeat(10, 1)
    want2 = exact(0.5, x2, y2)
    axpy(0.5, x2, y2, x2)                                         # x itself as the scratch
    assert np.all(np.abs(y2 - want2) <= np.spacing(np.abs(want2)) + np.spacing(np.abs(np.float32(0.5) * x[:70, :4].repeat(10, 1))))


def test_the_same_values_get_the_same_bits_however_the_call_is_split():
    """numpyvae.optim.parallel hands threads ranges that start at multiples of 4096: those splits change no bit."""
    rng = np.random.default_rng(1)
    n = 5 * 4096 + 77
    x, y0 = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    whole = y0.copy()
    axpy(0.1, x, whole, np.empty_like(x))
    for cuts in ([0, 4096, n], [0, 8192, 3 * 4096, n], [0, 4 * 4096, n]):
        y = y0.copy()
        for a, b in zip(cuts[:-1], cuts[1:]):
            axpy(0.1, x[a:b], y[a:b], np.empty_like(x[a:b]))
        assert y.tobytes() == whole.tobytes(), cuts


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_sees_any_nan_or_inf(bad):
    x = np.linspace(-3, 3, 10_000, dtype=np.float32)
    assert _all_finite(x)
    for i in (0, 4321, x.size - 1):
        y = x.copy()
        y[i] = bad
        assert not _all_finite(y)
