"""A planar flow fitted to the 2-D densities of Rezende & Mohamed (2015, Table 1 and Figure 3).

The potentials are checked against the paper's formulas written out here again, their dU/dz and
the whole objective's gradient against float64 central differences, log Z by quadrature against
two closed forms, and the fitted flows against KL(q_K ‖ p*) ≥ 0.
"""
import math

import numpy as np
import pytest

from numpyvae.latent.flows.fit_density import eval_noise, fit_planar, free_energy, objective_and_grads
from numpyvae.latent.flows.flow import planar_flow
from numpyvae.latent.flows.potentials import POTENTIALS, log_normalizer, potential
from numpyvae.teach.gradcheck import numerical_gradient, relative_error


def paper_U(name, z):
    """Table 1 of the paper, transcribed again, with the wall outside |z1| ≤ 4 for U2–U4."""
    z1, z2 = z[..., 0], z[..., 1]
    w1 = np.sin(2 * np.pi * z1 / 4)
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + np.exp(-(z1 - 1) / 0.3))
    g = lambda x, s: np.exp(-0.5 * (x / s) ** 2)          # noqa: E731
    if name == "U1":
        return 0.5 * ((np.hypot(z1, z2) - 2) / 0.4) ** 2 - np.log(g(z1 - 2, 0.6) + g(z1 + 2, 0.6))
    wall = 0.5 * (np.clip(np.abs(z1) - 4, 0, None) / 0.4) ** 2
    if name == "U2":
        return 0.5 * ((z2 - w1) / 0.4) ** 2 + wall
    if name == "U3":
        return -np.log(g(z2 - w1, 0.35) + g(z2 - w1 + w2, 0.35)) + wall
    return -np.log(g(z2 - w1, 0.4) + g(z2 - w1 + w3, 0.35)) + wall


def points(seed=0, n=40):
    """Points over the box and beyond the walls, none within 1e-3 of |z1| = 4 (the wall's kink in U'')."""
    z = np.random.default_rng(seed).uniform(-5.5, 5.5, (n, 2))
    near = np.abs(np.abs(z[:, 0]) - 4) < 1e-3
    z[near, 0] += 0.01
    return z


@pytest.mark.parametrize("name", POTENTIALS)
def test_the_potentials_are_the_papers(name):
    z = points(1)
    np.testing.assert_allclose(potential(name)(z), paper_U(name, z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", POTENTIALS)
def test_dU_dz_against_central_differences(name):
    U = potential(name)
    z = points(2)
    weights = np.random.default_rng(3).standard_normal(len(z))     # a random linear scalar Σ_n c_n U(z_n)
    value, cache = U.forward(z)
    analytic = U.backward(weights, cache)
    numeric = numerical_gradient(lambda _: float(weights @ U(z)), z, h=1e-5)
    assert relative_error(analytic, numeric) <= 1e-7


def test_objective_gradient_wrt_the_flow_parameters_against_central_differences():
    U = potential("U3")
    flow = planar_flow(2, 3, amortized=False, rng=np.random.default_rng(4), dtype="float64")
    for p in flow.params.values():                    # away from the initial small values
        p += 0.5 * np.random.default_rng(5).standard_normal(p.shape)
    eps = np.random.default_rng(6).standard_normal((7, 1, 2))
    objective_and_grads(flow, U, eps)
    for name, p in flow.params.items():
        numeric = numerical_gradient(lambda _: float(free_energy(flow, U, eps).mean()), p, h=1e-6)
        assert relative_error(flow.grads[name], numeric) <= 1e-7, name


def test_log_z_by_quadrature_matches_closed_forms():
    # a correlated Gaussian (sd at most 1 along any axis, well inside the square): Z = 2π / √det A
    A, m = np.array([[2.0, 0.6], [0.6, 1.5]]), np.array([0.7, -1.2])

    def gaussian(z):
        d = z - m
        return 0.5 * np.einsum("...i,ij,...j->...", d, A, d)
    assert log_normalizer(gaussian) == pytest.approx(math.log(2 * math.pi / math.sqrt(np.linalg.det(A))), abs=1e-9)
    # U2 walled in: every z1 holds √(2π)·0.4 of mass across z2; over z1, the box's 8 plus the wall's two
    # half-Gaussians
    s = math.sqrt(2 * math.pi) * 0.4
    assert log_normalizer(potential("U2")) == pytest.approx(math.log(s * (8 + s)), abs=1e-9)


@pytest.mark.parametrize("name", POTENTIALS)
def test_fitted_flows_have_kl_at_least_zero_and_training_lowers_it(name):
    U, eps = potential(name), eval_noise(4000)
    log_z = log_normalizer(U)
    start = fit_planar(U, 4, steps=0, samples=50, eval_eps=eps)
    fitted = fit_planar(U, 4, steps=400, samples=50, lr=0.01, eval_eps=eps)
    for r in (start, fitted):
        assert r["mean"] + log_z >= -3 * r["se"]
    assert fitted["mean"] < start["mean"] - 5 * fitted["se"]


class Gaussian:
    """U(z) = ½ ‖(z − m)/s‖², Z = 2π s², with dU/dz = (z − m)/s² (what free_energy needs: a call)."""

    def __init__(self, m, s):
        self.m, self.s = np.asarray(m), s

    def __call__(self, z):
        return 0.5 * (((z - self.m) / self.s) ** 2).sum(-1)


def test_importance_weights_of_any_flow_average_to_the_normalizer():
    """E_q[exp(−U − log q_K)] = Z for any q_K of full support: the flow's log-density and the free energy are
    checked whatever the fit. q_K here is a 3-step flow as it starts (it narrows N(0, I) to a spread of about
    0.76), wider than the target (so the weights are bounded: their mean has a small standard error)."""
    U = Gaussian([0.3, -0.2], 0.5)
    flow = planar_flow(2, 3, amortized=False, rng=np.random.default_rng(7), dtype="float64")
    w = np.exp(-free_energy(flow, U, eval_noise(20_000)) - math.log(2 * math.pi * 0.5 ** 2))
    se = w.std(ddof=1) / math.sqrt(w.size)
    assert se < 0.01 and abs(w.mean() - 1) <= 4 * se


def test_the_evaluation_draws_are_shared_across_K_and_the_fit_is_repeatable():
    np.testing.assert_array_equal(eval_noise(50, seed=2), eval_noise(50, seed=2))
    U, eps = potential("U2"), eval_noise(100)
    a = fit_planar(U, 2, steps=20, samples=10, eval_eps=eps)
    b = fit_planar(U, 2, steps=20, samples=10, eval_eps=eps)
    np.testing.assert_array_equal(a["each"], b["each"])
    with pytest.raises(ValueError, match="name must be one of U1"):
        potential("U5")
