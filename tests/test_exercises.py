"""Exercises: the teacher's reference solutions PASS, wrong backwards FAIL, stubs are NOT DONE,
every attempt draws fresh problems (batch 1 included) under a printed seed, the stand-in is correct,
and the installed package carries no reference solutions."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from numpyvae.teach import exercises
from numpyvae.teach.exercises import EXERCISES, grade, grade_or_solution, stand_in
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

SOLUTIONS_FILE = Path(__file__).resolve().parent.parent / "tutorials" / "solutions" / "solutions.py"


def _load_solutions():
    spec = importlib.util.spec_from_file_location("teacher_solutions", SOLUTIONS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _load_solutions()


def solution(name):
    return getattr(SOL, name)


def test_every_exercise_has_a_teacher_solution_and_no_other():
    names = {n for n, f in vars(SOL).items() if not n.startswith("_") and callable(f) and n != "np"
             and getattr(f, "__module__", None) == SOL.__name__}          # defined there, not imported
    assert names == set(EXERCISES)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solutions_pass(name, capsys):
    # a fixed seed, so a failure here replays; tests below and data_scripts/grader_false_fails.py go over many
    g = grade(name, solution(name), seed=20261201)
    assert g.passed and g.status == "PASS" and g.worst <= 1e-7
    out = capsys.readouterr().out
    assert f"PASS: exercise '{name}' (seed {g.seed})" in out and "worst relative error" in out
    assert "batches of 1, " in out                      # a batch of one is always among the problems


def _sig(x):
    return 1 / (1 + np.exp(-x))


# deliberately wrong answers, each a classic slip
WRONG = {
    "dense_backward": lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.mean(axis=0)),          # mean, not sum
    "relu_backward": lambda x, dy: dy * (x < 0),                                          # wrong side
    "leaky_relu_backward": lambda x, dy, a: np.where(x > 0, dy, dy),                      # forgot alpha
    "elu_backward": lambda x, dy, a: np.where(x > 0, dy, dy * np.exp(np.minimum(x, 0))),  # forgot alpha
    "tanh_backward": lambda x, dy: dy * (1 - np.tanh(x)),                                 # forgot the square
    "sigmoid_backward": lambda x, dy: dy * _sig(x),                                       # sigma, not sigma'
    "softplus_backward": lambda x, dy: dy * _sig(x) * (1 - _sig(x)),                      # one derivative too many
    "reparam_backward": lambda dz, mu, lv, eps: (dz.sum(0), (dz * eps).sum(0) * np.exp(lv / 2)),  # no 1/2
    "kl_backward": lambda mu, lv: (mu, np.exp(lv) - 1),                                   # no 1/2
    "kl_mc_backward": lambda dkl, mu, lv, eps: ((dkl[..., None] * (mu + np.exp(lv / 2) * eps)).sum(0),
                                                (dkl[..., None] * 0.5 * np.exp(lv / 2) * eps
                                                 * (mu + np.exp(lv / 2) * eps)).sum(0)),  # lost the −½ of log q
    "bernoulli_backward": lambda x, a: x - _sig(a),                                       # sign flipped
    "gaussian_backward": lambda x, m, s: (m - x) / s,                                     # σ, not σ²
    "gaussian_learned_backward": lambda x, m, lv: ((m - x) * np.exp(-lv), -0.5 * (x - m) ** 2 * np.exp(-lv)),
    "cb_log_norm_backward": lambda a, dy: dy * (1 / a - 1 / np.tanh(a)),                  # tanh for sinh
    "iwae_weights": lambda lw: np.exp(lw) / np.exp(lw).sum(0),                            # forgot the 1/N
    "adam_step": lambda th, g, m, v, t, lr, b1, b2, eps: (                                 # no bias correction
        th - lr * (b1 * m + (1 - b1) * g) / (np.sqrt(b2 * v + (1 - b2) * g * g) + eps),
        b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g),
    "gumbel_softmax_backward": lambda dy, y, tau: y * (dy - np.sum(y * dy, axis=-1, keepdims=True)),  # no 1/τ
    "planar_logdet_backward": lambda z, u, w, b, dl: _planar_without_w_in_uw(z, u, w, b, dl),
    "conv2d_backward_dW": lambda x, W, dy, s, p: _conv_dW(x, W, dy, s, p) / x.shape[0],   # mean over n, not sum
    "avb_critic_backward": lambda tq, tp: (_sig(tq) - 1, _sig(tp)),                          # a sum, not the mean
    "vae_backward": lambda model, tape: _capstone_without_kl(model, tape),               # KL's gradient left out
}


def test_every_exercise_has_a_wrong_answer_here():
    assert set(WRONG) == set(EXERCISES)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_wrong_backward_fails(name, capsys):
    g = grade(name, WRONG[name], seed=20261201)
    assert not g.passed and g.status == "FAIL", g.message
    if name != "iwae_weights":           # with N = 1 the forgotten 1/N is right, so the next batch fails it
        assert g.worst > 1e-3
    assert f"FAIL: exercise '{name}' (seed {g.seed})" in capsys.readouterr().out


def test_half_the_gradient_fails_everywhere():
    for name in EXERCISES:
        if name == "adam_step":
            continue
        sol = solution(name)

        def half(*args, sol=sol):
            out = sol(*args)
            if isinstance(out, dict):                    # the capstone: {parameter name: gradient}
                return {k: 0.5 * o for k, o in out.items()}
            return tuple(0.5 * o for o in out) if isinstance(out, tuple) else 0.5 * out
        g = grade(name, half, verbose=False)
        assert g.status == "FAIL" and abs(g.worst - 1 / 3) < 1e-6, (name, g.message)   # |a−n|/(|a|+|n|) = ½/(3/2)


def test_each_attempt_draws_fresh_problems_and_the_seed_reproduces_one():
    seeds = {grade("kl_backward", solution("kl_backward"), verbose=False).seed for _ in range(5)}
    assert len(seeds) == 5
    seen = []

    def spy(mu, logvar):
        seen.append(mu.copy())
        return solution("kl_backward")(mu, logvar)
    g = grade("kl_backward", spy, verbose=False)
    first = list(seen)
    seen.clear()
    grade("kl_backward", spy, seed=g.seed, verbose=False)
    assert len(first) == exercises.BATCHES and all(np.array_equal(a, b) for a, b in zip(first, seen))
    assert first[0].shape[0] == 1 and len({a.shape for a in first}) >= 2


def test_a_solution_that_only_works_for_batch_one_fails():
    good = solution("dense_backward")
    g = grade("dense_backward", lambda x, W, b, dy: good(x, W, b, dy) if len(x) == 1 else good(x[:1], W, b, dy[:1]),
              verbose=False)
    assert g.status == "FAIL" and "batch of" in g.message


def test_reparam_forgetting_the_sum_over_samples_fails():
    g = grade("reparam_backward", lambda dz, mu, lv, eps: (dz[0], 0.5 * (dz * eps)[0] * np.exp(lv / 2)),
              verbose=False)
    assert g.status == "FAIL"


def test_stub_is_not_done_and_fallback_is_a_correct_stand_in(capsys):
    def stub(x, W, b, dy):
        raise NotImplementedError
    g = grade("dense_backward", stub)
    assert g.status == "NOT DONE" and not g
    fn = grade_or_solution("dense_backward", stub)
    assert fn is not stub and "finite-difference stand-in" in capsys.readouterr().out
    good = solution("kl_backward")
    mine = lambda m, lv: good(m, lv)      # noqa: E731
    assert grade_or_solution("kl_backward", mine, verbose=False) is mine        # the learner's own, passed


@pytest.mark.parametrize("name", [n for n in EXERCISES if n != "vae_backward"])
def test_stand_in_passes_the_grader(name):
    assert grade(name, stand_in(name), verbose=False).passed


def test_returning_the_librarys_own_answer_is_not_done():
    """The capstone's stand-in is model.backward, and any exercise's library code is off limits while graded."""
    from numpyvae.latent.gumbel import gumbel_softmax_backward as library
    for name, fn in (("vae_backward", stand_in("vae_backward")), ("vae_backward", lambda m, t: m.backward(t)),
                     ("gumbel_softmax_backward", lambda dy, y, tau: library(dy, y, tau))):
        g = grade(name, fn, seed=3, verbose=False)
        assert g.status == "NOT DONE" and "this calls numpyvae's own answer" in g.message, g.message
    mine = lambda dy, y, tau: solution("gumbel_softmax_backward")(dy, y, tau)     # noqa: E731
    assert grade("gumbel_softmax_backward", mine, seed=3, verbose=False).passed
    assert library.__name__ == "gumbel_softmax_backward"                          # put back after grading


def test_stand_in_agrees_with_the_solution():
    rng = np.random.default_rng(1)
    x, W, b, dy = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))
    for got, want in zip(stand_in("dense_backward")(x, W, b, dy), solution("dense_backward")(x, W, b, dy)):
        assert relative_error(got, want) < 1e-8


def test_wrong_shapes_counts_nans_and_errors_are_clear_fails():
    g = grade("dense_backward", lambda x, W, b, dy: (dy @ W.T, x.T @ dy), verbose=False)
    assert g.status == "FAIL" and "expected 3 output(s)" in g.message
    g = grade("dense_backward", lambda x, W, b, dy: (dy @ W.T, (x.T @ dy)[:, :1], dy.sum(0)), verbose=False)
    assert g.status == "FAIL" and re.search(r"must have W's shape \((\d), \d\), got \(\1, 1\)", g.message)
    g = grade("kl_backward", lambda mu, lv: 1 / 0, verbose=False)
    assert g.status == "FAIL" and "ZeroDivisionError" in g.message
    g = grade("kl_backward", lambda mu, lv: (mu * np.nan, lv), verbose=False)
    assert g.status == "FAIL" and "NaN" in g.message

    def leaves(mu, lv):
        raise SystemExit(3)
    g = grade("kl_backward", leaves, verbose=False)
    assert g.status == "FAIL" and "SystemExit" in g.message


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown exercise 'nope'; the exercises are: dense_backward"):
        grade("nope", lambda: None)
    with pytest.raises(ValueError, match="unknown exercise"):
        stand_in("nope")
    with pytest.raises(TypeError, match="learner_fn must be a function"):
        grade("kl_backward", 3)


def test_solutions_agree_with_our_own_differences():
    """Independent of the grader's losses: a few solutions against FD of losses written here."""
    rng = np.random.default_rng(4)
    mu, lv = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    kl = lambda m, v: 0.5 * np.sum(m ** 2 + np.exp(v) - 1 - v)   # noqa: E731
    dmu, dlv = solution("kl_backward")(mu, lv)
    assert relative_error(dmu, numerical_gradient(lambda m: kl(m, lv), mu.copy())) <= 1e-7
    assert relative_error(dlv, numerical_gradient(lambda v: kl(mu, v), lv.copy())) <= 1e-7

    xb, a = rng.uniform(0, 1, (2, 4)), rng.standard_normal((2, 4))
    nll = lambda a_: np.sum(np.logaddexp(0, a_) - xb * a_)       # noqa: E731
    assert relative_error(solution("bernoulli_backward")(xb, a), numerical_gradient(nll, a.copy())) <= 1e-7

    a = rng.uniform(0.5, 3, (3, 2))                              # log C with C = 1 / ∫ λ^x (1−λ)^(1−x) dx, by the closed form
    lam = 1 / (1 + np.exp(-a))
    logc = lambda a_: np.sum(np.log(2 * np.arctanh(1 - 2 / (1 + np.exp(-a_))) / (1 - 2 / (1 + np.exp(-a_)))))  # noqa: E731
    assert np.all(lam > 0.5)
    got = solution("cb_log_norm_backward")(a, np.ones_like(a))
    assert relative_error(got, numerical_gradient(logc, a.copy())) <= 1e-7


def test_adam_solution_matches_the_library_optimizer():
    """The paper's formula (teacher solution) and numpyvae.optim.Adam agree over three steps."""
    from numpyvae.optim import Adam
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(3)]
    params, g = {"w": theta.copy()}, {"w": np.zeros((3, 2))}
    opt = Adam(params, g, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    mine, m, v = theta.copy(), np.zeros((3, 2)), np.zeros((3, 2))
    for t, gt in enumerate(grads, start=1):
        g["w"][...] = gt
        opt.step()
        mine, m, v = solution("adam_step")(mine, gt, m, v, t, 0.01, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(params["w"], mine, rtol=1e-12, atol=1e-12)


def test_grade_does_not_let_the_learner_corrupt_the_problem():
    def destructive(mu, logvar):
        mu[...] = 0.0                      # writes into its input, then answers for mu = 0
        return solution("kl_backward")(mu, logvar)
    assert grade("kl_backward", destructive, verbose=False).status == "FAIL"


def test_the_package_ships_no_reference_solutions():
    assert not hasattr(exercises, "solution")
    pkg = Path(exercises.__file__).resolve().parent.parent
    body = "0.5 * sigma * (dz * eps).sum(axis=0)"          # a line only the reparam solution has
    for path in pkg.rglob("*.py"):
        assert body not in path.read_text(encoding="utf-8"), path


def _conv_dW(x, W, dy, stride, padding):
    return SOL.conv2d_backward_dW(x, W, dy, stride, padding)


def _planar_without_w_in_uw(z, u, w, b, dlogdet):
    """The classic slip: forgetting that w also enters uᵀw (dw keeps only zᵀ da)."""
    dz, du, dw, db = SOL.planar_logdet_backward(z, u, w, b, dlogdet)
    a = z @ w + b[0]
    hp = 1.0 - np.tanh(a) ** 2
    duw = np.sum(dlogdet / (1.0 + hp * (u @ w)) * hp)
    return dz, du, dw - duw * u, db


def _capstone_without_kl(model, tape):
    """The capstone assembled with a KL whose gradient is forgotten (both the analytic and the MC one)."""
    zero_kl = lambda mu, lv: (np.zeros_like(mu), np.zeros_like(lv))                  # noqa: E731
    zero_mc = lambda dkl, mu, lv, eps: (np.zeros_like(mu), np.zeros_like(lv))          # noqa: E731
    return _capstone_with(kl_backward=zero_kl, kl_mc_backward=zero_mc)(model, tape)


def _capstone_with(**pieces):
    """The teacher's vae_backward, with some of its pieces replaced."""
    import types
    return types.FunctionType(SOL.vae_backward.__code__, {**vars(SOL), **pieces})


def test_planar_logdet_has_no_false_fails_and_still_fails_a_wrong_small_array():
    """The error is measured against the whole gradient: a tiny db or dz (1e-6 next to dw ~ 0.5) no longer reads
    central differences' ~1e-10 noise as 1e-7..3e-6 off (0.7% of problems did, per array); a wrong db still fails."""
    sol = solution("planar_logdet_backward")

    def db_halved(*args):
        dz, du, dw, db = sol(*args)
        return dz, du, dw, 0.5 * db
    for seed in range(50):
        g = grade("planar_logdet_backward", sol, seed=seed, verbose=False)
        assert g.passed and g.worst < 1e-8, g.message
        bad = grade("planar_logdet_backward", db_halved, seed=seed, verbose=False)
        assert bad.status == "FAIL" and "look again at: b" in bad.message, bad.message


def test_the_error_is_relative_to_the_whole_gradient():
    answer = {"big": np.array([1.0, -2.0]), "tiny": np.array([1e-6])}
    numeric = {"big": np.array([1.0, -2.0]), "tiny": np.array([1e-6 + 1e-10])}
    rows = dict((n, e) for n, e, _ in exercises._normwise(answer, numeric, ["big", "tiny"]))
    assert rows["big"] == 0.0 and abs(rows["tiny"] - 1e-10 / 4.0) < 1e-18     # per array it would be 5e-5


def test_rowwise_differences_match_the_elementwise_ones_and_are_fast():
    """numerical_gradient_rows (tutorial 11's stand-in on 50 000 rows) equals numerical_gradient on a small
    problem, and the Gumbel-softmax stand-in on many rows matches the teacher's formula."""
    import time

    from numpyvae.teach.gradcheck import numerical_gradient_rows
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def rows(z):
        return np.log(np.exp(z * w).sum(axis=1)) + np.sin(z).sum(axis=1) * z[:, :1].ravel()
    assert relative_error(numerical_gradient_rows(rows, x.copy()), numerical_gradient(lambda z: rows(z).sum(),
                                                                                      x.copy())) < 1e-9
    y = _softmax_rows(rng.standard_normal((20_000, 5)))
    dy = rng.standard_normal(y.shape)
    start = time.perf_counter()
    got = stand_in("gumbel_softmax_backward")(dy, y, 0.7)
    assert time.perf_counter() - start < 5.0
    assert relative_error(got, solution("gumbel_softmax_backward")(dy, y, 0.7)) < 1e-7


def _softmax_rows(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
