"""Gradient exercises for the tutorials: reference solutions and a grader.

A tutorial derives a gradient, then asks the learner to write it::

    # EXERCISE: dense_backward
    def dense_backward(x, W, b, dy):
        raise NotImplementedError("your code here")

    dense_backward = exercises.grade_or_solution("dense_backward", dense_backward)

:func:`grade` builds a small random float64 problem, computes the gradient of
a scalar loss with the learner's function and with central finite
differences (:mod:`numpyvae.teach.gradcheck`), and prints PASS or FAIL with the worst
relative error. The forward passes used for the finite differences are written
here from the formulas, independently of both the learner and the library.

:func:`grade_or_solution` grades and returns the learner's function if it
passed, otherwise the reference solution (with a printed note), so a tutorial
always runs top to bottom. With ``NUMPYVAE_SOLUTIONS=1`` in the environment the
reference solution is graded and used instead of the learner's stub (what a
lecturer wants when showing the finished tutorial).

| name                 | learner writes                        | returns                 |
|----------------------|---------------------------------------|-------------------------|
| "dense_backward"     | f(x, W, b, dy)                        | (dx, dW, db)            |
| "tanh_backward"      | f(x, dy)                              | dx                      |
| "sigmoid_backward"   | f(x, dy)                              | dx                      |
| "reparam_backward"   | f(dz, mu, logvar, eps)                | (dmu, dlogvar)          |
| "kl_backward"        | f(mu, logvar)                         | (dmu, dlogvar)          |
| "bernoulli_backward" | f(x, logits)                          | dlogits                 |
| "gumbel_softmax_backward" | f(dy, y, tau)                    | dlogits                 |

The reference solutions are deliberately out of the tutorials' way: open this
file only after trying.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .gradcheck import DEFAULT_TOL, GradCheckReport, check_gradients

__all__ = ["EXERCISES", "Grade", "grade", "grade_or_solution", "solution", "use_solutions"]


# =============================================================================
# reference solutions
# =============================================================================

def _dense_backward(x, W, b, dy):
    """y = x W + b:  dx = dy Wᵀ,  dW = xᵀ dy,  db = Σ_n dy."""
    return dy @ W.T, x.T @ dy, dy.sum(axis=0)


def _tanh_backward(x, dy):
    """y = tanh(x):  dy/dx = 1 − tanh(x)²."""
    return dy * (1.0 - np.tanh(x) ** 2)


def _sigmoid_backward(x, dy):
    """y = σ(x) = 1 / (1 + e^−x):  dy/dx = σ(x) (1 − σ(x))."""
    s = 1.0 / (1.0 + np.exp(-x))
    return dy * s * (1.0 - s)


def _reparam_backward(dz, mu, logvar, eps):
    """z_s = mu + exp(logvar/2) eps_s for every sample s:
    dmu = Σ_s dz_s,  dlogvar = Σ_s dz_s eps_s exp(logvar/2) / 2."""
    sigma = np.exp(0.5 * logvar)
    return dz.sum(axis=0), 0.5 * sigma * (dz * eps).sum(axis=0)


def _kl_backward(mu, logvar):
    """KL = ½ Σ (mu² + e^logvar − 1 − logvar):  dKL/dmu = mu,  dKL/dlogvar = ½ (e^logvar − 1)."""
    return mu.copy(), 0.5 * (np.exp(logvar) - 1.0)


def _bernoulli_backward(x, logits):
    """nll = Σ softplus(a) − x a:  dnll/da = σ(a) − x."""
    return 1.0 / (1.0 + np.exp(-logits)) - x


def _gumbel_softmax_backward(dy, y, tau):
    """y = softmax((a + g)/τ):  ∂y_i/∂a_j = y_i (δ_ij − y_j)/τ,  so  da_j = y_j (dy_j − Σ_i y_i dy_i)/τ."""
    return y * (dy - np.sum(y * dy, axis=-1, keepdims=True)) / tau


# =============================================================================
# the problems: random float64 inputs, a scalar loss written from the formula,
# and how to turn the learner's output into named gradients
# =============================================================================

def _softplus(a):
    return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))


def _problem_dense(rng):
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    dy = rng.standard_normal((4, 2))                   # L = Σ dy ⊙ y, so ∂L/∂y = dy
    arrays = {"x": x, "W": W, "b": b}
    loss = lambda: float(np.sum(dy * (x @ W + b)))     # noqa: E731
    return arrays, loss, (x, W, b, dy), ("x", "W", "b")


def _problem_elementwise(fn):
    def problem(rng):
        x, dy = rng.uniform(-2, 2, (3, 4)), rng.standard_normal((3, 4))
        return {"x": x}, (lambda: float(np.sum(dy * fn(x)))), (x, dy), ("x",)
    return problem


def _problem_reparam(rng):
    S, N, K = 3, 2, 2
    mu, logvar = rng.standard_normal((N, K)), rng.uniform(-1, 1, (N, K))
    eps, dz = rng.standard_normal((S, N, K)), rng.standard_normal((S, N, K))

    def loss():                                        # L = Σ dz ⊙ z with z = mu + exp(logvar/2) eps
        return float(np.sum(dz * (mu + np.exp(0.5 * logvar) * eps)))
    return {"mu": mu, "logvar": logvar}, loss, (dz, mu, logvar, eps), ("mu", "logvar")


def _problem_kl(rng):
    mu, logvar = rng.standard_normal((3, 2)), rng.uniform(-1.5, 1.5, (3, 2))
    loss = lambda: float(0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1.0 - logvar))   # noqa: E731
    return {"mu": mu, "logvar": logvar}, loss, (mu, logvar), ("mu", "logvar")


def _problem_bernoulli(rng):
    x, logits = rng.uniform(0, 1, (3, 5)), rng.uniform(-4, 4, (3, 5))
    loss = lambda: float(np.sum(_softplus(logits) - x * logits))   # noqa: E731
    return {"logits": logits}, loss, (x, logits), ("logits",)


def _problem_gumbel_softmax(rng):
    N, C, tau = 3, 4, 0.6
    logits = rng.normal(0, 0.6, (N, C))
    g = -np.log(-np.log(rng.uniform(0.2, 0.8, (N, C))))     # Gumbel noise, held fixed

    def relaxed():
        e = np.exp((logits + g) / tau)
        return e / e.sum(axis=-1, keepdims=True)
    dy = rng.standard_normal((N, C))                          # L = Σ dy ⊙ y
    return {"logits": logits}, (lambda: float(np.sum(dy * relaxed()))), (dy, relaxed(), tau), ("logits",)


@dataclass(frozen=True)
class _Exercise:
    problem: object          # rng -> (arrays, loss, args for the learner, names of the returned gradients)
    solution: object
    signature: str


EXERCISES = {
    "dense_backward": _Exercise(_problem_dense, _dense_backward, "f(x, W, b, dy) -> (dx, dW, db)"),
    "tanh_backward": _Exercise(_problem_elementwise(np.tanh), _tanh_backward, "f(x, dy) -> dx"),
    "sigmoid_backward": _Exercise(_problem_elementwise(lambda x: 1.0 / (1.0 + np.exp(-x))),
                                  _sigmoid_backward, "f(x, dy) -> dx"),
    "reparam_backward": _Exercise(_problem_reparam, _reparam_backward, "f(dz, mu, logvar, eps) -> (dmu, dlogvar)"),
    "kl_backward": _Exercise(_problem_kl, _kl_backward, "f(mu, logvar) -> (dmu, dlogvar)"),
    "bernoulli_backward": _Exercise(_problem_bernoulli, _bernoulli_backward, "f(x, logits) -> dlogits"),
    "gumbel_softmax_backward": _Exercise(_problem_gumbel_softmax, _gumbel_softmax_backward,
                                         "f(dy, y, tau) -> dlogits"),
}


def _lookup(name) -> _Exercise:
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises are: {', '.join(EXERCISES)}")
    return EXERCISES[name]


def solution(name: str):
    """The reference solution of exercise ``name`` (a function with the exercise's signature)."""
    return _lookup(name).solution


def use_solutions() -> bool:
    """True if the environment asks for reference solutions (NUMPYVAE_SOLUTIONS=1)."""
    return os.environ.get("NUMPYVAE_SOLUTIONS", "").strip().lower() in ("1", "true", "yes", "on")


# =============================================================================
# grading
# =============================================================================

@dataclass
class Grade:
    """The outcome of :func:`grade`.

    status : "PASS" | "FAIL" | "NOT DONE"  (NOT DONE: the stub raised NotImplementedError)
    worst : float    worst relative error over all arrays (nan if no comparison was possible)
    report : GradCheckReport or None   the per-array table
    message : str    the line that was printed
    """
    name: str
    status: str
    worst: float
    report: GradCheckReport | None
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message if self.report is None else f"{self.report}\n{self.message}"


def grade(name: str, learner_fn, *, seed: int = 0, tol: float = DEFAULT_TOL, verbose: bool = True) -> Grade:
    """Check ``learner_fn`` for exercise ``name`` against central finite differences.

    Parameters
    ----------
    name : str            one of EXERCISES
    learner_fn : callable with the exercise's signature (see the module docstring)
    seed : int            picks the random test problem
    tol : float           largest accepted relative error, max|a−n| / max(|a|+|n|)
    verbose : bool        print the table and the verdict

    Returns a :class:`Grade`. Never raises for a wrong answer: a wrong shape,
    a wrong number of outputs or an exception inside ``learner_fn`` is a FAIL
    with a message that says what went wrong.
    """
    ex = _lookup(name)
    if not callable(learner_fn):
        raise TypeError(f"grade({name!r}): learner_fn must be a function {ex.signature}, got {type(learner_fn).__name__}")
    arrays, loss, args, grad_names = ex.problem(np.random.default_rng(seed))
    copies = tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)

    def result(status, worst, report, detail):
        message = f"{status}: exercise {name!r} — {detail}"
        if verbose:
            print(message if report is None else f"{report}\n{message}")
        return Grade(name, status, worst, report, message)

    try:
        out = learner_fn(*copies)              # copies: a learner who writes into an input cannot break the check
    except NotImplementedError:
        return result("NOT DONE", float("nan"), None, f"not implemented yet; write {ex.signature}")
    except Exception as err:                   # noqa: BLE001 — any error in learner code is a FAIL, reported
        return result("FAIL", float("nan"), None, f"your function raised {type(err).__name__}: {err}")
    outs = out if len(grad_names) > 1 else (out,)
    if not isinstance(outs, (tuple, list)) or len(outs) != len(grad_names):
        got = len(outs) if isinstance(outs, (tuple, list)) else type(outs).__name__
        return result("FAIL", float("nan"), None,
                      f"expected {len(grad_names)} output(s) {grad_names} ({ex.signature}), got {got}")
    analytic = {}
    for gname, g in zip(grad_names, outs):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != arrays[gname].shape:
            return result("FAIL", float("nan"), None,
                          f"the gradient for {gname} must have {gname}'s shape {arrays[gname].shape}, got {g.shape}")
        analytic[gname] = g
    report = check_gradients(loss, arrays, analytic, tol=tol)
    if report.passed():
        return result("PASS", report.worst, report, f"worst relative error {report.worst:.1e} (tolerance {tol:.0e})")
    bad = ", ".join(r.name for r in report.rows if r.rel_error > tol)
    return result("FAIL", report.worst, report,
                  f"worst relative error {report.worst:.1e} > tolerance {tol:.0e}; look again at: {bad}")


def grade_or_solution(name: str, learner_fn, **kw):
    """Grade ``learner_fn``; return it if it passed, else the reference solution (with a note).

    With NUMPYVAE_SOLUTIONS=1 the reference solution is graded and returned
    instead. Either way the caller gets a correct function, so the rest of a
    tutorial runs.
    """
    if use_solutions():
        print(f"[NUMPYVAE_SOLUTIONS=1: grading the reference solution of {name!r}]")
        grade(name, solution(name), **kw)
        return solution(name)
    g = grade(name, learner_fn, **kw)
    if g.passed:
        return learner_fn
    print(f"[{name}: using the reference solution from numpyvae/exercises.py so the tutorial can go on; "
          "fill in the EXERCISE cell and run it again]")
    return solution(name)


# =============================================================================
# tutorial 15: the convolution's weight gradient
# =============================================================================
# Appended as one block (solution, problem, registration) so exercises added by other
# tutorials merge without touching each other's lines.
#
# | "conv2d_backward_dW" | f(x, W, dy, stride, padding)          | dW                      |

def _conv_patches(x, kh, kw, stride, padding, Ho, Wo):
    """Yield (p, q, xp[:, :, s·i + p, s·j + q] for all i < Ho, j < Wo): the inputs kernel tap (p, q) sees."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    for p in range(kh):
        for q in range(kw):
            yield p, q, xp[:, :, p:p + stride * (Ho - 1) + 1:stride, q:q + stride * (Wo - 1) + 1:stride]


def _conv2d_backward_dW(x, W, dy, stride, padding):
    """y[n,o,i,j] = Σ_{c,p,q} W[o,c,p,q] xp[n,c,s·i+p,s·j+q]  (xp: x zero-padded):
    dW[o,c,p,q] = Σ_{n,i,j} dy[n,o,i,j] · xp[n,c,s·i+p,s·j+q], one kernel tap (p, q) at a time."""
    dW = np.zeros_like(W)
    for p, q, patch in _conv_patches(x, W.shape[2], W.shape[3], stride, padding, *dy.shape[2:]):
        dW[:, :, p, q] = np.einsum("noij,ncij->oc", dy, patch)
    return dW


def _problem_conv2d_dW(rng):
    N, C_in, C_out, H, Wd, k, stride, padding = 2, 2, 3, 5, 6, 3, 2, 1
    Ho, Wo = (H + 2 * padding - k) // stride + 1, (Wd + 2 * padding - k) // stride + 1   # 3 x 3 (6 + 2 − 3 is odd)
    x, W = rng.standard_normal((N, C_in, H, Wd)), rng.standard_normal((C_out, C_in, k, k))
    dy = rng.standard_normal((N, C_out, Ho, Wo))

    def loss():                                    # L = Σ dy ⊙ conv(x, W), the convolution summed tap by tap
        y = np.zeros((N, C_out, Ho, Wo))
        for p, q, patch in _conv_patches(x, k, k, stride, padding, Ho, Wo):
            y += np.einsum("oc,ncij->noij", W[:, :, p, q], patch)
        return float(np.sum(dy * y))
    return {"W": W}, loss, (x, W, dy, stride, padding), ("W",)


EXERCISES["conv2d_backward_dW"] = _Exercise(_problem_conv2d_dW, _conv2d_backward_dW,
                                            "f(x, W, dy, stride, padding) -> dW")


# =============================================================================
# tutorial 10: normalizing flows, the planar flow's log-determinant
# =============================================================================
# | "planar_logdet_backward" | f(z, u, w, b, dlogdet)             | (dz, du, dw, db)        |

def _planar_logdet_backward(z, u, w, b, dlogdet):
    """logdet_n = log|1 + uᵀψ_n|, ψ_n = h'(a_n) w, a_n = z_n·w + b, h = tanh (u already satisfies wᵀu > −1).

    With c = 1 + h'(a) uᵀw and h'' = −2 tanh(a) h':
        dc = dlogdet / c,  d(uᵀw) = Σ_n dc h',  da = dc uᵀw h''(a)
        dz = da wᵀ,  du = d(uᵀw) w,  dw = zᵀ da + d(uᵀw) u,  db = Σ_n da
    """
    a = z @ w + b[0]
    t = np.tanh(a)
    hp = 1.0 - t * t
    uw = u @ w
    dc = dlogdet / (1.0 + hp * uw)
    duw = np.sum(dc * hp)
    da = dc * uw * (-2.0 * t * hp)
    return np.outer(da, w), duw * w, z.T @ da + duw * u, np.array([da.sum()])


def _problem_planar_logdet(rng):
    N, D = 5, 3
    z, w, b = rng.standard_normal((N, D)), rng.standard_normal(D), rng.standard_normal(1)
    u = 0.7 * rng.standard_normal(D)
    if u @ w < -0.5:                                   # keep 1 + h' uᵀw well away from 0
        u = -u
    dlogdet = rng.standard_normal(N)

    def loss():                                        # Σ_n dlogdet_n log|1 + uᵀψ_n|, ψ = tanh'(z w + b) w
        psi = (1.0 - np.tanh(z @ w + b[0]) ** 2)[:, None] * w[None, :]
        return float(np.sum(dlogdet * np.log(np.abs(1.0 + psi @ u))))
    return {"z": z, "u": u, "w": w, "b": b}, loss, (z, u, w, b, dlogdet), ("z", "u", "w", "b")


EXERCISES["planar_logdet_backward"] = _Exercise(
    _problem_planar_logdet, _planar_logdet_backward, "f(z, u, w, b, dlogdet) -> (dz, du, dw, db)")
