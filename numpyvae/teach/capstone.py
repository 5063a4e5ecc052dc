"""The capstone exercise ``vae_backward``: the whole backward pass of tutorial 06's VAE, graded.

The learner writes ``vae_backward(model, tape) -> {parameter name: gradient}`` out of
their own pieces (tutorial 17). :mod:`numpyvae.teach.exercises` grades it like every
exercise, a fresh random problem per attempt under a printed seed, a batch of one
first; here is what a problem is and how an answer is judged:

* a problem: a small float64 VAE of tutorial 06's kind (random sizes, one or two
  ReLU layers per network, Gaussian q, N(0, I) prior, Bernoulli pixels), random
  weights and biases, a binary batch x and the noise eps, and the tape of
  ``model.forward`` for the ELBO (analytic KL, S = 1..3 samples for the batch of one,
  2..4 otherwise) or the IWAE bound (k = 2..4). Problems whose ReLU inputs lie within
  1e-4 of the kink are drawn again: a finite difference there straddles the kink.
* an answer is judged twice, against ``model.backward`` parameter by parameter
  (relative error per array) and against central finite differences of the model's
  loss ``model.forward(x, eps).loss`` in all parameters at once (norm-wise over the
  whole gradient; independent of ``model.backward``).

The stand-in (what a tutorial goes on with when the exercise is not done) is
``model.backward`` itself, copied: correct, and fast enough to train with.
"""
from __future__ import annotations

import numpy as np

from ..models.vae import VAE
from .gradcheck import GradCheckReport, Row, numerical_gradient, relative_error
from .tape_view import read_tape

__all__ = ["draw_problem", "judge", "rebuild", "stand_in", "PLAN"]

KINK_MARGIN = 1e-4           # |ReLU input| at least this: central differences (h = 1e-6) never straddle 0
PLAN = ({"objective": "elbo"}, {"objective": "elbo"}, {"objective": "iwae"})   # one per problem of an attempt


def _smallest_relu_input(model, tape) -> float:
    """min |a| over every ReLU input a = x W + b of both trunks."""
    t = read_tape(model, tape)
    return min(float(np.min(np.abs(s.x @ s.W + s.b))) for s in t.encoder + t.decoder)


def draw_problem(rng: np.random.Generator, n: int, objective: str = "elbo") -> dict:
    """A random problem with a batch of n: {"model", "tape"} for the learner, the rest for :func:`judge`."""
    D, K = int(rng.integers(4, 9)), int(rng.integers(2, 5))
    hidden = [int(h) for h in rng.integers(3, 7, size=int(rng.integers(1, 3)))]
    hidden_dec = [int(h) for h in rng.integers(3, 7, size=int(rng.integers(1, 3)))]
    S = int(rng.integers(1, 4)) if (n == 1 and objective == "elbo") else int(rng.integers(2, 5))
    model = VAE(D, hidden, K, seed=int(rng.integers(2 ** 31)), dtype="float64", hidden_dec=hidden_dec)
    model.flat_params += 0.2 * rng.standard_normal(model.flat_params.size)   # biases too, not left at 0
    for _ in range(100):
        x = (rng.random((n, D)) < 0.5).astype(np.float64)
        eps = rng.standard_normal((S, n, K))
        tape = model.forward(x, eps, n_samples=S, objective=objective)
        if _smallest_relu_input(model, tape) >= KINK_MARGIN:
            break
    return {"model": model, "tape": tape, "_x": x, "_eps": eps, "_objective": objective,
            "_params": model.flat_params.copy()}


def rebuild(config: dict, params: np.ndarray, x: np.ndarray, eps: np.ndarray, objective: str):
    """(model, tape) of a problem from what the class grader sends a submission's sandbox: the model's
    ``config``, its flat parameters, the batch, the noise and the objective (arrays, no pickles).
    Builds the same float64 model and runs the same forward pass as :func:`draw_problem`."""
    model = VAE(**config)
    model.flat_params[...] = params
    return model, model.forward(x, eps, n_samples=eps.shape[0], objective=objective)


def _check_answer(model, outs):
    """None if ``outs`` is a dict of finite arrays with every parameter's name and shape, else the reason."""
    if not isinstance(outs, dict):
        return (f"expected a dict {{parameter name: gradient}} with the names of model.params, "
                f"got {type(outs).__name__}")
    missing = [k for k in model.params if k not in outs]
    if missing:
        return f"no gradient for {', '.join(missing)} (return one for every name in model.params)"
    for name, p in model.params.items():
        try:
            g = np.asarray(outs[name], dtype=np.float64)
        except (TypeError, ValueError):
            return f"the gradient for {name} is not an array of numbers"
        if g.shape != p.shape:
            return f"the gradient for {name} must have the parameter's shape {p.shape}, got {g.shape}"
        if not np.all(np.isfinite(g)):
            return f"the gradient for {name} has NaN or inf entries"
    return None


def judge(arrays: dict, outs, tol: float):
    """(report, None), or (None, reason) when the answer cannot be compared.

    Rows: one per parameter, the relative error against ``model.backward``; then one
    row for the whole gradient against central differences of the loss.
    """
    model = arrays["model"]
    reason = _check_answer(model, outs)
    if reason is not None:
        return None, reason
    answer = {k: np.asarray(outs[k], dtype=np.float64) for k in model.params}
    model.flat_params[...] = arrays["_params"]          # whatever the learner did to the weights
    x, eps, objective = arrays["_x"], arrays["_eps"], arrays["_objective"]

    def loss(_=None):
        return model.forward(x, eps, n_samples=eps.shape[0], objective=objective).loss
    reference = {k: g.copy() for k, g in model.backward(model.forward(x, eps, n_samples=eps.shape[0],
                                                                      objective=objective)).items()}
    numeric = np.concatenate([numerical_gradient(loss, p).ravel() for p in model.params.values()])
    report = GradCheckReport(tol=tol)
    for name in model.params:
        report.rows.append(Row(name, answer[name].shape, relative_error(answer[name], reference[name]),
                               float(np.max(np.abs(answer[name] - reference[name]), initial=0.0))))
    flat = np.concatenate([answer[k].ravel() for k in model.params])
    report.rows.append(Row("all, vs finite differences", flat.shape, relative_error(flat, numeric),
                           float(np.max(np.abs(flat - numeric)))))
    report.compared = (answer, reference)
    return report, None


def stand_in(model, tape) -> dict:
    """``model.backward``'s gradients, copied: what the capstone goes on with when vae_backward is not done."""
    return {name: g.copy() for name, g in model.backward(tape).items()}


stand_in.__name__ = "vae_backward_stand_in"
