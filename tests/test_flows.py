"""Normalizing-flow families: planar, radial, IAF (and the masked Dense under IAF).

Each backward is checked against float64 central differences of a random
linear scalar of its outputs, with respect to z, the step's own parameters,
the encoder heads that amortize them and the global weights. Log-determinants
are checked against slogdet of a finite-difference Jacobian, and whole flows
against the defining property of a density: it integrates to 1.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyvae.latent.families import FLOWS, POSTERIORS, make_posterior, parse_posterior
from numpyvae.latent.flows import Flow, GlobalStep, IAFStep, PlanarStep, RadialStep, iaf_flow, planar_flow, radial_flow
from numpyvae.nn.masked import MaskedDense, made_mask
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

from family_gradients import TOL, assert_gradients_match, rsample_objective

LOG_2PI = np.log(2 * np.pi)
def softplus(a):
    return np.logaddexp(0.0, a)


def random_theta(rng, step, N):
    """Per-example heads for a step, in ranges where the maps are well conditioned."""
    D = step.dim
    if step.kind == "planar":
        return [rng.normal(0, 1, (N, D)), rng.normal(0, 1, (N, D)) + 0.3, rng.normal(0, 1, (N, 1))]
    if step.kind == "radial":
        return [rng.normal(0, 1, (N, D)), rng.uniform(-0.5, 1.5, (N, 1)), rng.uniform(-1, 2, (N, 1))]
    return []


def make_step(kind, D, rng, C=2, H=5):
    if kind == "planar":
        return PlanarStep(D)
    if kind == "radial":
        return RadialStep(D)
    step = IAFStep(D, C, H, reverse=bool(rng.integers(2)), rng=rng, dtype="float64")
    for p in step.params.values():                     # random, non-zero biases too (still masked)
        p += 0.3 * rng.standard_normal(p.shape) * (p != 0 if p.ndim == 2 else 1)
    return step


# =============================================================================
# MaskedDense
# =============================================================================

def test_masked_dense_gradients_and_mask():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 2, (4, 3))
    layer = MaskedDense(4, 3, mask, rng=rng, dtype="float64")
    layer.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((2, 5, 4))
    dy = rng.standard_normal((2, 5, 3))
    y, tape = layer.forward(x)
    np.testing.assert_allclose(y, x @ (layer.params["W"] * mask) + layer.params["b"], rtol=1e-14)
    dx = layer.backward(dy, tape)
    loss = lambda: float(np.sum(dy * layer.forward(x)[0]))          # noqa: E731
    assert relative_error(dx, numerical_gradient(lambda _: loss(), x)) <= TOL
    for k in ("W", "b"):
        assert relative_error(layer.grads[k], numerical_gradient(lambda _: loss(), layer.params[k])) <= TOL
    assert np.all(layer.grads["W"][mask == 0] == 0)
    # accumulate adds; need_dx=False skips dx
    before = {k: g.copy() for k, g in layer.grads.items()}
    assert layer.backward(dy, tape, need_dx=False, accumulate=True) is None
    for k in before:
        np.testing.assert_allclose(layer.grads[k], 2 * before[k], rtol=1e-14)


def test_masked_dense_bad_input():
    with pytest.raises(ValueError, match="mask must have shape"):
        MaskedDense(3, 2, np.ones((2, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        MaskedDense(2, 2, np.full((2, 2), 2))
    layer = MaskedDense(3, 2, np.ones((3, 2)), dtype="float64")
    with pytest.raises(ValueError, match="3 features"):
        layer.forward(np.zeros((4, 2)))
    _, tape = layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dy must have the output's shape"):
        layer.backward(np.zeros((4, 3)), tape)
    with pytest.raises(TypeError, match="tape must be the tape"):
        layer.backward(np.zeros((4, 2)), (tape.x2, tape.w_masked, tape.x_shape))


def test_made_masks_make_outputs_depend_only_on_earlier_inputs():
    D, H = 4, 9
    deg_in = np.array([3, 1, 4, 2])
    deg_h = np.arange(H) % D
    path = made_mask(deg_in, deg_h, strict=False).astype(int) @ made_mask(deg_h, deg_in, strict=True).astype(int)
    # output j reachable from input i iff deg_in[i] < deg_in[j]
    np.testing.assert_array_equal(path > 0, deg_in[:, None] < deg_in[None, :])


# =============================================================================
# each step: forward/backward by finite differences, log-det by the Jacobian
# =============================================================================

@pytest.mark.parametrize("kind", ["planar", "radial", "iaf"])
@given(S=st.integers(1, 3), N=st.integers(1, 3), D=st.integers(1, 4), seed=st.integers(0, 2 ** 31))
@settings(max_examples=10)
def test_step_backward_matches_finite_differences(kind, S, N, D, seed):
    rng = np.random.default_rng(seed)
    step = make_step(kind, D, rng)
    z = rng.standard_normal((S, N, D))
    theta = random_theta(rng, step, N)
    context = rng.standard_normal((N, 2)) if kind == "iaf" else None
    a, b = rng.standard_normal((S, N, D)), rng.standard_normal((S, N))

    def scalar():
        f, logdet, _ = step.forward(z, theta, context)
        return float(np.sum(a * f) + np.sum(b * logdet))

    _, _, tape = step.forward(z, theta, context)
    dz, dtheta, dcontext = step.backward(a, b, tape)
    assert len(dtheta) == len(theta)
    arrays, analytic = {"z": z}, {"z": dz}
    for i, (p, g) in enumerate(zip(theta, dtheta)):
        arrays[f"theta{i}"], analytic[f"theta{i}"] = p, g
    if context is not None:
        arrays["context"], analytic["context"] = context, dcontext
    for k, p in step.params.items():
        arrays[k], analytic[k] = p, step.grads[k].copy()
    assert_gradients_match(scalar, arrays, analytic)


def fd_jacobian(fn, z, h=1e-6):
    """J[s, n, i, j] = ∂fn(z)[s, n, i] / ∂z[s, n, j] by central differences (z: (S, N, D))."""
    S, N, D = z.shape
    J = np.zeros((S, N, D, D))
    for j in range(D):
        e = np.zeros(D)
        e[j] = h
        J[..., j] = (fn(z + e) - fn(z - e)) / (2 * h)
    return J


@pytest.mark.parametrize("kind", ["planar", "radial", "iaf"])
@given(D=st.integers(1, 4), seed=st.integers(0, 2 ** 31))
@settings(max_examples=10)
def test_logdet_is_log_abs_det_of_the_jacobian(kind, D, seed):
    rng = np.random.default_rng(seed)
    step = make_step(kind, D, rng)
    N, S = 3, 2
    z = rng.standard_normal((S, N, D))
    theta = random_theta(rng, step, N)
    context = rng.standard_normal((N, 2)) if kind == "iaf" else None
    _, logdet, _ = step.forward(z, theta, context)
    J = fd_jacobian(lambda zz: step.forward(zz, theta, context)[0], z)
    sign, expect = np.linalg.slogdet(J)
    assert np.all(sign > 0)
    np.testing.assert_allclose(logdet, expect, rtol=1e-7, atol=1e-8)
    if kind == "iaf":
        # autoregressive: ∂f_i/∂z_j = 0 whenever j comes after i in the step's ordering
        later = step.degrees[None, :] > step.degrees[:, None]
        assert np.all(J[..., later] == 0)


@pytest.mark.parametrize("reverse", [False, True])
def test_iaf_context_reaches_every_dimension(reverse):
    """Even the first dimension in the ordering (no earlier z) gets m and s from the context."""
    rng = np.random.default_rng(4)
    step = IAFStep(3, 2, 6, reverse=reverse, rng=rng, dtype="float64")
    z, context = rng.standard_normal((1, 1, 3)), rng.standard_normal((1, 2))
    for i in range(3):
        grad = numerical_gradient(lambda _: step.forward(z, [], context)[0][0, 0, i], context)
        assert np.abs(grad).max() > 1e-6


def test_planar_and_radial_forward_match_their_formulas():
    rng = np.random.default_rng(5)
    D, N, S = 3, 2, 4
    z = rng.standard_normal((S, N, D))
    u, w, b = random_theta(rng, PlanarStep(D), N)
    f, _, _ = PlanarStep(D).forward(z, [u, w, b])
    for n in range(N):
        wu = w[n] @ u[n]
        u_hat = u[n] + (-1 + softplus(wu) - wu) * w[n] / (w[n] @ w[n])
        np.testing.assert_allclose(w[n] @ u_hat, -1 + softplus(wu), rtol=1e-12)
        for s in range(S):
            np.testing.assert_allclose(f[s, n], z[s, n] + u_hat * np.tanh(w[n] @ z[s, n] + b[n, 0]), rtol=1e-13)
    z0, al, be = random_theta(rng, RadialStep(D), N)
    f, _, _ = RadialStep(D).forward(z, [z0, al, be])
    for n in range(N):
        alpha = softplus(al[n, 0])
        beta = -alpha + softplus(be[n, 0])
        for s in range(S):
            r = np.linalg.norm(z[s, n] - z0[n])
            np.testing.assert_allclose(f[s, n], z[s, n] + beta / (alpha + r) * (z[s, n] - z0[n]), rtol=1e-13)


# =============================================================================
# whole families through rsample
# =============================================================================

def planar_w(rng, shape, std=1.0):
    """A planar step's w ~ N(0.3, std²) per entry, scaled up to |w| >= 0.3 per row.

    Near w = 0, û = u + (m(w·u) − w·u)·w/|w|² bends like 1/|w|³, and central differences with
    h = 1e-6 are off by ~1e-6 of the gradient: the check would measure its own truncation error
    (hypothesis found w = 6.7e-4, analytic dL/dw = −4240.64096, where h = 1e-5, 1e-6, 1e-7, 1e-8
    give −4241.57, −4240.650, −4240.6411, −4240.64096).
    """
    w = rng.normal(0, std, shape) + 0.3
    return w * np.maximum(1.0, 0.3 / np.linalg.norm(w, axis=-1, keepdims=True))


def build(kind, K, length, rng):
    if kind.endswith("-global"):                       # planar/radial with learned, shared parameters
        maker = planar_flow if kind.startswith("planar") else radial_flow
        fam = maker(K, length, amortized=False, rng=rng, dtype="float64")
        for name, p in fam.params.items():
            if name.endswith((".alpha", ".beta")):
                p[:] = rng.uniform(-0.5, 1.5, p.shape)
            elif name.endswith(".w"):
                p[:] = planar_w(rng, p.shape, std=0.7)
            else:
                p[:] = rng.normal(0, 0.7, p.shape)
        return fam
    if kind == "iaf":
        fam = iaf_flow(K, length, context_dim=3, hidden=6, rng=rng, dtype="float64")
        for p in fam.params.values():
            p += 0.3 * rng.standard_normal(p.shape) * (p != 0 if p.ndim == 2 else 1)
        return fam
    return {"planar": planar_flow, "radial": radial_flow}[kind](K, length)


def random_heads(rng, fam, N):
    """Heads in a regime where every step acts on the samples: a radial centre near mu, a
    planar hyperplane through the bulk. (Far from both, the gradients are ~1e-4 of log q
    and float64 differences of log q lose the 1e-7 comparison to rounding, not to a bug.)"""
    heads = []
    mu = rng.uniform(-1, 1, (N, fam.z_dim))
    for name, size in fam.heads.items():
        if name == "mu":
            heads.append(mu)
        elif name == "logvar":
            heads.append(rng.uniform(-1, 0.5, (N, size)))
        elif name.endswith(".z0"):
            heads.append(mu + rng.normal(0, 0.5, (N, size)))
        elif name.endswith(".w"):
            heads.append(planar_w(rng, (N, size)))
        elif name.endswith((".alpha", ".beta")):
            heads.append(rng.uniform(-0.5, 1.5, (N, size)))
        else:
            heads.append(rng.normal(0, 1, (N, size)))
    return heads


@pytest.mark.parametrize("kind", ["planar", "radial", "iaf", "planar-global", "radial-global"])
@given(S=st.integers(1, 3), N=st.integers(1, 3), K=st.integers(1, 3), length=st.integers(1, 3),
       seed=st.integers(0, 2 ** 31), paths=st.sampled_from(["both", "z", "log_q"]))
@settings(max_examples=8)
def test_rsample_backward_matches_finite_differences(kind, S, N, K, length, seed, paths):
    rng = np.random.default_rng(seed)
    fam = build(kind, K, length, rng)
    params = random_heads(rng, fam, N)
    eps = fam.draw_noise(rng, S, N, "float64")
    scalar, grads = rsample_objective(fam, params, eps, rng, paths)
    assert [g.shape for g in grads] == [p.shape for p in params]
    arrays, analytic = dict(zip(fam.heads, params)), dict(zip(fam.heads, grads))
    for k, p in fam.params.items():
        arrays[k], analytic[k] = p, fam.grads[k].copy()
    assert_gradients_match(scalar, arrays, analytic)


def test_log_q_is_base_density_minus_the_sum_of_logdets():
    rng = np.random.default_rng(7)
    fam = planar_flow(2, 3)
    params = random_heads(rng, fam, 2)
    eps = fam.draw_noise(rng, 4, 2, "float64")
    z, log_q, _ = fam.rsample(params, eps)
    mu, logvar = params[0], params[1]
    zk = mu + np.exp(logvar / 2) * eps
    expect = -0.5 * np.sum(eps ** 2 + logvar + LOG_2PI, -1)
    for k, step in enumerate(fam.steps):
        zk, logdet, _ = step.forward(zk, params[2 + 3 * k: 5 + 3 * k])
        expect -= logdet
    np.testing.assert_allclose(z, zk, rtol=1e-14)
    np.testing.assert_allclose(log_q, expect, rtol=1e-13)
    np.testing.assert_allclose(fam.mean(params), fam.rsample(params, np.zeros((1, 2, 2)))[0][0])


def test_float32_stays_float32():
    rng = np.random.default_rng(8)
    for fam in (planar_flow(3, 2), radial_flow(3, 2), iaf_flow(3, 2, rng=rng, dtype="float32"),
                planar_flow(3, 2, amortized=False), radial_flow(3, 2, amortized=False)):
        params = [p.astype(np.float32) for p in random_heads(rng, fam, 4)]
        eps = fam.draw_noise(rng, 2, 4, "float32")
        z, log_q, tape = fam.rsample(params, eps)
        assert z.dtype == log_q.dtype == np.float32, fam
        grads = fam.backward(np.ones_like(z), np.ones_like(log_q), tape)
        assert all(g.dtype == np.float32 for g in grads), fam
        assert all(g.dtype == np.float32 for g in fam.grads.values())


# =============================================================================
# properties
# =============================================================================

@given(D=st.integers(1, 4), seed=st.integers(0, 2 ** 31), scale=st.floats(0.1, 4.0))
def test_planar_with_u_hat_is_monotone_along_w(D, seed, scale):
    """wᵀf(z + t w) must increase with t, whatever u is (even wᵀu << −1)."""
    rng = np.random.default_rng(seed)
    u = scale * rng.standard_normal((1, D))
    w = rng.standard_normal((1, D)) + 0.1
    b = rng.standard_normal((1, 1))
    u -= (3.0 + w @ u.T) * w / (w @ w.T)              # force wᵀu = −3: the raw map folds over
    z = rng.standard_normal(D)
    a = np.linspace(-6, 6, 2001)                       # the pre-activation wᵀz + b along the line
    t = (a - (w[0] @ z + b[0, 0])) / (w[0] @ w[0])
    points = (z + t[:, None] * w)[:, None, :]          # (S = 2001, N = 1, D)
    f, _, _ = PlanarStep(D).forward(points, [u, w, b])
    assert np.all(np.diff(f[:, 0] @ w[0]) > 0)
    raw = points + u * np.tanh(points @ w[0] + b[0])[..., None]     # without the correction
    assert not np.all(np.diff(raw[:, 0] @ w[0]) > 0)


# --- inverses, written here from the formulas, to evaluate q_K on a grid
def planar_inverse(step, y, theta):
    u, w, b = theta
    wu = float(w[0] @ u[0])
    m = -1 + softplus(wu)
    u_hat = u[0] + (m - wu) * w[0] / (w[0] @ w[0])
    target = y @ w[0]                                  # wᵀy = α + m tanh(α + b), α = wᵀz
    lo, hi = target - abs(m) - 1, target + abs(m) + 1
    for _ in range(60):                                # bisection; the map is increasing in α
        mid = 0.5 * (lo + hi)
        up = mid + m * np.tanh(mid + b[0, 0]) < target
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    alpha = 0.5 * (lo + hi)
    return y - u_hat * np.tanh(alpha + b[0, 0])[..., None]


def radial_inverse(step, y, theta):
    z0, al, be = theta
    alpha = softplus(al[0, 0])
    beta = -alpha + softplus(be[0, 0])
    ry = np.linalg.norm(y - z0[0], axis=-1)
    B = alpha + beta - ry                              # r² + B r − ry α = 0, r ≥ 0
    r = 0.5 * (-B + np.sqrt(B * B + 4 * ry * alpha))
    return z0[0] + (y - z0[0]) / (1 + beta / (alpha + r))[..., None]


def iaf_inverse(step, y, context):
    """z = (y − (1 − σ(z)) m(z)) / σ(z), iterated D times: each pass fixes one more coordinate."""
    z = np.zeros_like(y)
    for _ in range(step.dim):
        _, _, tape = step.forward(z, [], context)
        m, sig = tape[1], tape[2]
        z = (y - (1 - sig) * m) / sig
    return z


def log_qK_on_points(fam, params, y):
    """log q_K(y) by inverting every step: log q_0(z_0) − Σ_k logdet_k(z_{k−1})."""
    mu, logvar = params[0], params[1]
    context = params[2] if fam.context_dim else None
    thetas = fam._split(params, "test")[3]
    zs = [y]
    for step, theta in zip(reversed(fam.steps), reversed(thetas)):
        if step.kind == "planar":
            zs.append(planar_inverse(step, zs[-1], theta))
        elif step.kind == "radial":
            zs.append(radial_inverse(step, zs[-1], theta))
        else:
            zs.append(iaf_inverse(step, zs[-1], context))
    z0 = zs[-1]
    eps = (z0 - mu) / np.exp(logvar / 2)
    log_q = -0.5 * np.sum(eps ** 2 + logvar + LOG_2PI, -1)
    for step, theta, z in zip(fam.steps, thetas, reversed(zs[1:])):
        fz, logdet, _ = step.forward(z, theta, context)
        log_q -= logdet
    np.testing.assert_allclose(fz, y, atol=1e-8)      # the inverse really inverts
    return log_q


@pytest.mark.parametrize("kind", ["planar", "radial", "iaf"])
@given(seed=st.integers(0, 2 ** 31), length=st.integers(1, 3))
@settings(max_examples=5)
def test_a_flow_density_integrates_to_one_on_a_2d_grid(kind, seed, length):
    """Σ_grid q_K(y) · cell area ≈ 1 on a box around the flow's samples (midpoint rule, 300²)."""
    rng = np.random.default_rng(seed)
    fam = build(kind, 2, length, rng)
    params = random_heads(rng, fam, 1)
    params[1] = rng.uniform(0, 0.5, (1, 2))           # features a 300² grid resolves: σ_0 >= 1,
    for i, name in enumerate(fam.heads):              # ‖w‖ in [0.5, 1], |u| moderate
        if name.endswith(".w"):
            d = rng.standard_normal((1, 2))
            params[i] = d / np.linalg.norm(d) * rng.uniform(0.5, 1.0)
        elif name.endswith(".u"):
            params[i] *= 0.7
    z, _, _ = fam.rsample(params, fam.draw_noise(rng, 20000, 1, "float64"))
    lo, hi = z[:, 0].min(0) - 2, z[:, 0].max(0) + 2
    n = 300
    gx, gy = (lo[:, None] + (np.arange(n) + 0.5) * (hi - lo)[:, None] / n)
    y = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 1, 2)
    total = np.exp(log_qK_on_points(fam, params, y)).sum() * np.prod(hi - lo) / n ** 2
    assert abs(total - 1) < 1e-3, total


# =============================================================================
# factory and bad input
# =============================================================================

def test_factory_builds_each_family_with_the_right_heads():
    fam = make_posterior("planar:2", 3)
    assert list(fam.heads.items()) == [("mu", 3), ("logvar", 3), ("planar0.u", 3), ("planar0.w", 3),
                                       ("planar0.b", 1), ("planar1.u", 3), ("planar1.w", 3), ("planar1.b", 1)]
    fam = make_posterior("radial:1", 2)
    assert list(fam.heads.items()) == [("mu", 2), ("logvar", 2), ("radial0.z0", 2), ("radial0.alpha", 1),
                                       ("radial0.beta", 1)]
    fam = make_posterior("iaf:2", 4, context_dim=5, hidden=7, dtype="float64")
    assert list(fam.heads.items()) == [("mu", 4), ("logvar", 4), ("context", 5)]
    assert [s.reverse for s in fam.steps] == [False, True]
    assert fam.params["iaf1.out.W"].shape == (7, 8) and fam.params["iaf0.ctx_in.W"].dtype == np.float64
    assert set(fam.params) == set(fam.grads)
    fam = make_posterior("planar:2", 3, amortized=False)
    assert list(fam.heads) == ["mu", "logvar"]
    assert {k: v.shape for k, v in fam.params.items()} == {
        "planar0.u": (3,), "planar0.w": (3,), "planar0.b": (1,), "planar1.u": (3,), "planar1.w": (3,), "planar1.b": (1,)}
    assert dict(make_posterior("full-gaussian", 3).heads) == {"mu": 3, "tril": 3, "logdiag": 3}
    assert parse_posterior(" planar:8 ") == ("planar", 8)
    assert {"gaussian", "full-gaussian"} <= set(POSTERIORS) and {"planar", "radial", "iaf"} <= set(FLOWS)
    assert parse_posterior("gaussian") == ("gaussian", None)


@pytest.mark.parametrize("name, message", [
    ("vampprior", "unknown posterior 'vampprior'; choose one of deterministic, full-gaussian, gaussian, gumbel-st:C, "
                  "gumbel:C, iaf:K, planar:K, radial:K"),
    ("gaussian:2", "takes no length"),
    ("planar", "needs a number of steps"),
    ("planar:0", "must be >= 1"),
    ("radial:-3", "must be >= 1"),
    ("iaf:two", "must be an integer"),
    ("full-gaussian:2", "takes no length"),
])
def test_factory_bad_names(name, message):
    with pytest.raises(ValueError, match=message):
        make_posterior(name, 2)


def test_factory_bad_options():
    with pytest.raises(ValueError, match="does not take the option"):
        make_posterior("planar:2", 2, hidden=4)
    with pytest.raises(ValueError, match="z_dim"):
        make_posterior("planar:2", 0)
    with pytest.raises(TypeError, match="name"):
        make_posterior(3, 2)


@pytest.mark.parametrize("name", ["radial:2,amortized=false,amortized=true", "iaf:2,hidden=8,hidden=80"])
def test_an_option_given_twice_is_refused_not_overwritten(name):
    """"radial:2,amortized=false,amortized=true" took the last value silently: which did the user mean?"""
    key = name.split(",")[1].partition("=")[0]
    with pytest.raises(ValueError, match=rf"posterior '{name}': option {key} is given twice"):
        make_posterior(name, 2)


def test_flow_bad_input():
    rng = np.random.default_rng(9)
    with pytest.raises(ValueError, match="at least one step"):
        Flow(2, [])
    with pytest.raises(ValueError, match="z_dim = 2"):
        Flow(2, [PlanarStep(3)])
    with pytest.raises(ValueError, match="context of size"):
        Flow(2, [IAFStep(2, 3, 4)], context_dim=2)
    with pytest.raises(ValueError, match="length"):
        planar_flow(2, 0)
    fam = planar_flow(2, 1)
    params = random_heads(rng, fam, 2)
    eps = fam.draw_noise(rng, 1, 2, "float64")
    with pytest.raises(ValueError, match="expected 5 head arrays"):
        fam.rsample(params[:4], eps)
    with pytest.raises(ValueError, match="planar0.w"):
        fam.rsample(params[:3] + [params[3][:, :1]] + params[4:], eps)
    zero_w = [p.copy() for p in params]
    zero_w[3][1] = 0.0
    with pytest.raises(ValueError, match="w is zero"):
        fam.rsample(zero_w, eps)
    with pytest.raises(ValueError, match="eps must have shape"):
        fam.rsample(params, eps[..., :1])
    _, _, tape = fam.rsample(params, eps)
    with pytest.raises(ValueError, match="dlog_q must have shape"):
        fam.backward(None, np.zeros((2, 2)), tape)
    with pytest.raises(ValueError, match="GlobalStep: wraps"):
        GlobalStep(IAFStep(2, 0, 3))
    with pytest.raises(TypeError, match="amortized must be True or False"):
        radial_flow(2, 1, amortized="no")
    iaf = iaf_flow(2, 1, dtype="float32")
    p32 = random_heads(rng, iaf, 2)
    with pytest.raises(ValueError, match="build the flow with dtype='float64'"):
        iaf.rsample(p32, eps)
