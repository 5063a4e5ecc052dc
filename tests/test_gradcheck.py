"""The gradient checker must catch wrong gradients, not only pass right ones."""
import numpy as np
import pytest

from numpyvae import Dense, MLP
from numpyvae.teach.gradcheck import check_gradients, check_layer, numerical_gradient, relative_error


def test_numerical_gradient_of_known_function():
    x = np.array([0.3, -1.2, 2.0])
    g = numerical_gradient(lambda v: np.sum(np.sin(v) * v), x)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-8)
    np.testing.assert_array_equal(x, [0.3, -1.2, 2.0])  # restored exactly


def test_relative_error_definition():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_check_layer_passes_dense_and_reports_every_array():
    report = check_layer(Dense(4, 3, dtype="float64"), np.random.default_rng(0).standard_normal((2, 4)))
    assert [r.name for r in report.rows] == ["x", "W", "b"]
    assert report.passed() and report.worst < 1e-8
    text = str(report)
    assert "PASS" in text and "W" in text


def test_check_layer_catches_a_wrong_backward():
    class BrokenDense(Dense):
        def backward(self, dy, tape, **kw):
            dx = super().backward(dy, tape, **kw)
            self.grads["W"] *= 1.01  # a 1% mistake
            return dx
    report = check_layer(BrokenDense(4, 3, dtype="float64"), np.ones((2, 4)))
    assert not report.passed()
    assert report["W"].rel_error > 1e-3 and report["x"].rel_error < 1e-8
    assert "FAIL" in str(report)


def test_check_network():
    net = MLP([3, 4, 2], "tanh", dtype="float64")
    report = check_layer(net, np.random.default_rng(1).standard_normal((5, 3)))
    assert {r.name for r in report.rows} == {"x", "0.W", "0.b", "1.W", "1.b"}
    assert report.passed()


def test_float32_refused_with_explanation():
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda v: v.sum(), np.ones(3, dtype=np.float32))


def test_check_gradients_shape_mismatch_and_missing():
    x = np.ones(3)
    with pytest.raises(ValueError, match="shape"):
        check_gradients(lambda: x.sum(), {"x": x}, {"x": np.ones(4)})
    with pytest.raises(ValueError, match="no analytic gradient"):
        check_gradients(lambda: x.sum(), {"x": x}, {})


@pytest.mark.parametrize("h", [0, 0.0, -1e-6, float("nan"), float("inf"), True, "1e-6"])
def test_a_step_h_that_is_not_a_positive_number_is_refused(h):
    x = np.ones(3)
    with pytest.raises(ValueError, match="h \\(the finite-difference step\\) must be a finite number > 0"):
        check_gradients(lambda: x.sum(), {"x": x}, {"x": np.ones(3)}, h=h)
    with pytest.raises(ValueError, match="must be a finite number > 0"):
        numerical_gradient(lambda v: v.sum(), x, h=h)


def test_check_layer_on_a_float32_layer_advises_float64():
    with pytest.raises(ValueError, match="dtype='float64'") as err:
        check_layer(Dense(4, 3, dtype="float32"), np.ones((2, 4)))
    assert "astype('float32')" not in str(err.value)
