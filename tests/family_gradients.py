"""What the variational families' finite-difference tests share (test_flows, test_full_gaussian).

rsample_objective: a family's backward takes ∂L/∂z (S, N, K) and ∂L/∂log q (S, N), either of which
may be None. The test picks L = Σ a·z + Σ b·log q with random a and b (or only one of them:
``paths``), so that backward(a, b) must equal the gradient of L, which central differences give
independently of the code under test.

assert_gradients_match: the comparison, over all of L's arrays at once.
"""
import numpy as np

from numpyvae.teach.gradcheck import numerical_gradient, relative_error

TOL = 1e-7     # float64 central differences of smooth code


def rsample_objective(fam, params, eps, rng, paths: str):
    """(scalar, grads): scalar() = Σ a·z + Σ b·log q of fam.rsample(params, eps) at the params' current
    values, and grads = fam.backward(a, b, tape) at those values. ``paths``: "both", "z" (b is None)
    or "log_q" (a is None); a ~ N(0, 1) of z's shape and b ~ N(0, 1) of log q's, drawn from ``rng``."""
    S, N, K = eps.shape[0], eps.shape[1], fam.z_dim
    a = rng.standard_normal((S, N, K)) if paths != "log_q" else None
    b = rng.standard_normal((S, N)) if paths != "z" else None

    def scalar():
        z, log_q, _ = fam.rsample(params, eps)
        return (0.0 if a is None else np.sum(a * z)) + (0.0 if b is None else np.sum(b * log_q))

    _, _, tape = fam.rsample(params, eps)
    return scalar, fam.backward(a, b, tape)


def assert_gradients_match(scalar, arrays: dict, analytic: dict):
    """Central differences of ``scalar`` for every array, compared as one gradient vector.

    The relative error max|a − n| / max(|a| + |n|) is taken over all arrays together, as the
    gradient of one scalar: an array whose entries are ~1e-5 of the largest (a step far from
    the samples) would otherwise compare float64 rounding noise of log q with itself.
    A wrong formula in any array still shows up as an error far above 1e-7 of the whole.
    """
    names = list(arrays)
    num = {k: numerical_gradient(lambda _: scalar(), arrays[k]) for k in names}
    for k in names:
        assert np.shape(analytic[k]) == arrays[k].shape, k
    a = np.concatenate([np.ravel(analytic[k]) for k in names])
    n = np.concatenate([num[k].ravel() for k in names])
    err = relative_error(a, n)
    scale = np.max(np.abs(a) + np.abs(n))
    per_array = {k: float(np.max(np.abs(analytic[k] - num[k]), initial=0) / scale) for k in names}
    assert err <= TOL, f"relative error {err:.2e}; per array {per_array}"
