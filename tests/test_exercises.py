"""Exercises: reference solutions PASS, wrong backwards FAIL, stubs are NOT DONE, fallback works."""
import numpy as np
import pytest

from numpyvae.teach import exercises
from numpyvae.teach.exercises import EXERCISES, grade, grade_or_solution, solution
from numpyvae.teach.gradcheck import numerical_gradient, relative_error
from numpyvae.nn import Dense


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solutions_pass(name, capsys):
    g = grade(name, solution(name))
    assert g.passed and g.status == "PASS" and g.worst <= 1e-7
    out = capsys.readouterr().out
    assert f"PASS: exercise '{name}'" in out and "worst relative error" in out


# deliberately wrong answers, each a classic slip
WRONG = {
    "dense_backward": lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.mean(axis=0)),          # mean, not sum
    "tanh_backward": lambda x, dy: dy * (1 - np.tanh(x)),                                 # forgot the square
    "sigmoid_backward": lambda x, dy: dy / (1 + np.exp(-x)),                              # sigma, not sigma'
    "reparam_backward": lambda dz, mu, lv, eps: (dz.sum(0), (dz * eps).sum(0) * np.exp(lv / 2)),  # no 1/2
    "kl_backward": lambda mu, lv: (mu, np.exp(lv) - 1),                                   # no 1/2
    "bernoulli_backward": lambda x, a: x - 1 / (1 + np.exp(-a)),                          # sign flipped
    "gumbel_softmax_backward": lambda dy, y, tau: y * (dy - (y * dy).sum(-1, keepdims=True)),  # no 1/tau
}
# convolution, not correlation: the kernel gradient flipped in both spatial axes
WRONG["conv2d_backward_dW"] = lambda x, W, dy, s, p: solution("conv2d_backward_dW")(x, W, dy, s, p)[:, :, ::-1, ::-1]
# planar flow: w enters a = z·w + b and uᵀw; forgetting the second
WRONG["planar_logdet_backward"] = lambda z, u, w, b, dl: _planar_without_the_u_path(z, u, w, b, dl)


def _planar_without_the_u_path(z, u, w, b, dl):
    """A classic slip: w appears in a = z·w + b and in uᵀw; this forgets the second."""
    dz, du, dw, db = solution("planar_logdet_backward")(z, u, w, b, dl)
    a = z @ w + b[0]
    duw = np.sum(dl / (1 + (1 - np.tanh(a) ** 2) * (u @ w)) * (1 - np.tanh(a) ** 2))
    return dz, du, dw - duw * u, db


@pytest.mark.parametrize("name", list(EXERCISES))
def test_wrong_backward_fails(name, capsys):
    g = grade(name, WRONG[name])
    assert not g.passed and g.status == "FAIL" and g.worst > 1e-3
    assert f"FAIL: exercise '{name}'" in capsys.readouterr().out


def test_reparam_forgetting_the_sum_over_samples_fails():
    g = grade("reparam_backward", lambda dz, mu, lv, eps: (dz[0], 0.5 * (dz * eps)[0] * np.exp(lv / 2)), verbose=False)
    assert g.status == "FAIL"


def test_stub_is_not_done_and_fallback_returns_the_solution(capsys, monkeypatch):
    monkeypatch.delenv("NUMPYVAE_SOLUTIONS", raising=False)

    def stub(x, W, b, dy):
        raise NotImplementedError
    g = grade("dense_backward", stub)
    assert g.status == "NOT DONE" and not g
    fn = grade_or_solution("dense_backward", stub)
    assert fn is solution("dense_backward")
    assert "using the reference solution" in capsys.readouterr().out
    good = solution("kl_backward")
    assert grade_or_solution("kl_backward", lambda m, lv: good(m, lv)) is not good   # the learner's own, passed


def test_solutions_env_grades_the_reference(monkeypatch, capsys):
    monkeypatch.setenv("NUMPYVAE_SOLUTIONS", "1")

    def stub(mu, logvar):
        raise NotImplementedError
    assert grade_or_solution("kl_backward", stub) is solution("kl_backward")
    out = capsys.readouterr().out
    assert "NUMPYVAE_SOLUTIONS=1" in out and "PASS" in out


def test_wrong_shapes_counts_and_errors_are_clear_fails():
    g = grade("dense_backward", lambda x, W, b, dy: (dy @ W.T, x.T @ dy), verbose=False)
    assert g.status == "FAIL" and "expected 3 output(s)" in g.message
    g = grade("dense_backward", lambda x, W, b, dy: (dy @ W.T, (x.T @ dy).T, dy.sum(0)), verbose=False)
    assert g.status == "FAIL" and "must have W's shape (3, 2), got (2, 3)" in g.message
    g = grade("kl_backward", lambda mu, lv: 1 / 0, verbose=False)
    assert g.status == "FAIL" and "ZeroDivisionError" in g.message


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown exercise 'nope'; the exercises are: dense_backward"):
        grade("nope", lambda: None)
    with pytest.raises(ValueError, match="unknown exercise"):
        solution("nope")
    with pytest.raises(TypeError, match="learner_fn must be a function"):
        grade("kl_backward", 3)


def test_solutions_agree_with_the_library_and_with_our_own_differences():
    """Independent of the grader: the Dense solution equals Dense.backward, the others match FD here."""
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    layer = Dense(3, 2, dtype="float64", rng=rng)
    layer.params["b"][:] = rng.standard_normal(2)
    _, tape = layer.forward(x)
    dx = layer.backward(dy, tape)
    sx, sW, sb = solution("dense_backward")(x, layer.params["W"], layer.params["b"], dy)
    np.testing.assert_allclose(sx, dx, rtol=1e-14)
    np.testing.assert_allclose(sW, layer.grads["W"], rtol=1e-14)
    np.testing.assert_allclose(sb, layer.grads["b"], rtol=1e-14)

    mu, lv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    kl = lambda m, v: 0.5 * np.sum(m ** 2 + np.exp(v) - 1 - v)   # noqa: E731
    dmu, dlv = solution("kl_backward")(mu, lv)
    assert relative_error(dmu, numerical_gradient(lambda m: kl(m, lv), mu.copy())) <= 1e-7
    assert relative_error(dlv, numerical_gradient(lambda v: kl(mu, v), lv.copy())) <= 1e-7

    xb, a = rng.uniform(0, 1, (2, 4)), rng.standard_normal((2, 4))
    nll = lambda a_: np.sum(np.logaddexp(0, a_) - xb * a_)       # noqa: E731
    assert relative_error(solution("bernoulli_backward")(xb, a), numerical_gradient(nll, a.copy())) <= 1e-7


def test_grade_does_not_let_the_learner_corrupt_the_problem():
    def destructive(mu, logvar):
        mu[...] = 0.0                      # writes into its input, then answers correctly for the original
        return solution("kl_backward")(mu, logvar)
    assert grade("kl_backward", destructive, verbose=False).status == "FAIL"   # its answer was for mu = 0
    assert exercises.grade("kl_backward", solution("kl_backward"), verbose=False).passed


def test_gumbel_softmax_backward_without_the_softmax_coupling_fails():
    """Treating y_j as if it depended on a_j alone (dropping −Σ_i y_i dy_i) is the classic slip."""
    g = grade("gumbel_softmax_backward", lambda dy, y, tau: y * dy / tau, verbose=False)
    assert g.status == "FAIL" and g.worst > 1e-3
