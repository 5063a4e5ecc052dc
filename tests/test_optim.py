"""Tests for numpyvae.optim.

The references below are written from the papers' formulas in float64, with
no code shared with the implementation: Adam is Algorithm 1 literally (with
m̂ and v̂, where the code uses the paper's rearranged form), Nesterov is
Sutskever et al.'s look-ahead form (the code uses Bengio et al.'s rewrite),
and the quadratic's minimum comes from np.linalg.solve.
"""
from collections import OrderedDict
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpyvae.optim import (OPTIMIZERS, SGD, Adagrad, Adam, RMSprop, make_optimizer)
from numpyvae.nn.params import pack

SHAPES = OrderedDict([("encoder.0.W", (3, 4)), ("encoder.0.b", (4,)), ("decoder.0.W", (2, 2, 3))])
F32_TINY = np.finfo(np.float32).tiny


def make_dicts(dtype="float64", packed=False, seed=0):
    """Fresh params (random) and grads (zeros) with the names in SHAPES."""
    rng = np.random.default_rng(seed)
    params = OrderedDict((n, rng.standard_normal(s).astype(dtype)) for n, s in SHAPES.items())
    grads = OrderedDict((n, np.zeros(s, dtype)) for n, s in SHAPES.items())
    if packed:
        params = pack(params)[1]
        grads = pack(grads)[1]
    return params, grads


def grad_sequence(n_steps, dtype="float64", seed=1, zero_fraction=0.0):
    """Per step, a dict of gradients; a fraction of the entries exactly zero."""
    rng = np.random.default_rng(seed)
    seq = []
    for _ in range(n_steps):
        step = OrderedDict()
        for n, s in SHAPES.items():
            g = rng.standard_normal(s) * 10.0 ** rng.uniform(-3, 1)
            g[rng.random(s) < zero_fraction] = 0.0
            step[n] = g.astype(dtype)
        seq.append(step)
    return seq


def write_grads(grads, values):
    for n in grads:
        grads[n][...] = values[n]   # in place, as a model does


def flat(d):
    return np.concatenate([a.ravel() for a in d.values()])


# --------------------------------------------------------------------------- references (float64, from the papers)

def ref_sgd(theta, gs, lr, momentum=0.0):
    u = np.zeros_like(theta)
    for g in gs:
        if momentum == 0.0:
            theta = theta - lr * g
        else:
            u = momentum * u - lr * g
            theta = theta + u
    return theta, {"u": u}


def ref_rmsprop(theta, gs, lr, rho, eps):
    v = np.zeros_like(theta)
    for g in gs:
        v = rho * v + (1 - rho) * g ** 2
        theta = theta - lr * g / (np.sqrt(v) + eps)
    return theta, {"v": v}


def ref_adagrad(theta, gs, lr, eps, initial_accumulator):
    G = np.full_like(theta, initial_accumulator)
    for g in gs:
        G = G + g ** 2
        theta = theta - lr * g / (np.sqrt(G) + eps)
    return theta, {"G": G}


def ref_adam(theta, gs, lr, beta1, beta2, eps, weight_decay=0.0):
    """Kingma & Ba (2015) Algorithm 1; decay as in AdamW: θ ← θ − lr·(m̂/(√v̂+ε) + λθ)."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * theta)
    return theta, {"m": m, "v": v}


def run(opt_factory, n_steps=6, seed=0):
    """Run an optimizer on random gradients; return (optimizer, params, θ₀, gradient list) flattened."""
    params, grads = make_dicts(seed=seed)
    theta0 = flat(params).copy()
    opt = opt_factory(params, grads)
    seq = grad_sequence(n_steps, seed=seed + 1)
    for g in seq:
        write_grads(grads, g)
        opt.step()
    return opt, params, theta0, [flat(g) for g in seq]


def check_against(opt, params, theta_ref, state_ref):
    np.testing.assert_allclose(flat(params), theta_ref, rtol=1e-12, atol=1e-14)
    sd = opt.state_dict()
    for key, want in state_ref.items():
        got = np.concatenate([sd[f"{key}/{n}"].ravel() for n in SHAPES])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- a few steps against the formulas

@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_sgd_matches_formula(momentum):
    opt, params, theta0, gs = run(lambda p, g: SGD(p, g, lr=0.05, momentum=momentum))
    theta, state = ref_sgd(theta0, gs, 0.05, momentum)
    check_against(opt, params, theta, state if momentum else {})
    assert opt.t == len(gs)


def test_nesterov_matches_lookahead_form():
    """Sutskever et al. (2013): v ← μv − lr·∇f(φ + μv), φ ← φ + v. The optimizer's θ is φ + μv."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((5, 5))
    A = A @ A.T + np.eye(5)
    b = rng.standard_normal(5)
    grad_f = lambda x: A @ x - b                          # noqa: E731
    lr, mu = 0.02, 0.9
    phi = rng.standard_normal(5)
    vel = np.zeros(5)
    theta, g = phi.copy(), np.zeros(5)                    # θ₀ = φ₀ + μ·0
    opt = SGD(OrderedDict(w=theta), OrderedDict(w=g), lr=lr, momentum=mu, nesterov=True)
    for _ in range(8):
        vel = mu * vel - lr * grad_f(phi + mu * vel)
        phi = phi + vel
        g[...] = grad_f(theta)
        opt.step()
        np.testing.assert_allclose(theta, phi + mu * vel, rtol=1e-12, atol=1e-14)


def test_rmsprop_matches_formula():
    opt, params, theta0, gs = run(lambda p, g: RMSprop(p, g, lr=0.01, rho=0.8, eps=1e-6))
    check_against(opt, params, *ref_rmsprop(theta0, gs, 0.01, 0.8, 1e-6))


@pytest.mark.parametrize("initial_accumulator", [0.0, 0.1])
def test_adagrad_matches_formula(initial_accumulator):
    opt, params, theta0, gs = run(lambda p, g: Adagrad(p, g, lr=0.1, eps=1e-10,
                                                       initial_accumulator=initial_accumulator))
    check_against(opt, params, *ref_adagrad(theta0, gs, 0.1, 1e-10, initial_accumulator))


@given(lr=st.floats(1e-4, 1.0), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.9999),
       eps=st.floats(1e-10, 1e-2), weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_adam_matches_algorithm_1(lr, beta1, beta2, eps, weight_decay):
    kw = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    opt, params, theta0, gs = run(lambda p, g: Adam(p, g, **kw))
    check_against(opt, params, *ref_adam(theta0, gs, **kw))


@given(lr=st.floats(1e-4, 1.0), rho=st.floats(0.0, 0.999), eps=st.floats(1e-10, 1e-2))
def test_rmsprop_matches_formula_any_hyperparameters(lr, rho, eps):
    opt, params, theta0, gs = run(lambda p, g: RMSprop(p, g, lr=lr, rho=rho, eps=eps))
    check_against(opt, params, *ref_rmsprop(theta0, gs, lr, rho, eps))


def test_make_optimizer_names_give_the_documented_settings():
    p, g = make_dicts()
    assert isinstance(make_optimizer("sgd", p, g), SGD) and make_optimizer("sgd", p, g).momentum == 0.0
    mom = make_optimizer("momentum", p, g)
    assert (mom.momentum, mom.nesterov) == (0.9, False)
    nes = make_optimizer("Nesterov", p, g, lr=0.1)
    assert (nes.momentum, nes.nesterov, nes.lr) == (0.9, True, 0.1)
    assert isinstance(make_optimizer("rmsprop", p, g), RMSprop)
    assert isinstance(make_optimizer("adagrad", p, g), Adagrad)
    adam = make_optimizer("adam", p, g, weight_decay=0.01)
    assert isinstance(adam, Adam) and adam.weight_decay == 0.01
    # the config rebuilds an equal optimizer
    cfg = adam.config()
    assert make_optimizer(cfg.pop("name"), p, g, **cfg).config() == adam.config()
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam"}


# --------------------------------------------------------------------------- convergence

def spd_problem(n=6, seed=1):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(np.linspace(1.0, 10.0, n)) @ Q.T   # SPD, condition number 10
    b = rng.standard_normal(n)
    return A, b, np.linalg.solve(A, b)


# name, kwargs, learning-rate phases (each 1000 steps, lr divided by 10 between), tolerance
QUADRATIC_CASES = [
    ("sgd", dict(lr=0.1), 1, 1e-10),
    ("momentum", dict(lr=0.02), 1, 1e-10),
    ("nesterov", dict(lr=0.02), 1, 1e-10),
    ("adagrad", dict(lr=0.5), 1, 1e-10),
    ("adam", dict(lr=0.01), 3, 1e-10),
    # RMSprop's step is ~lr·sign(g) near the optimum, so at a fixed lr it circles
    # the minimum at distance ~lr: it converges as lr decays (final lr 1e-5).
    ("rmsprop", dict(lr=0.01), 4, 1e-5),
]


@pytest.mark.parametrize("name, kwargs, phases, tol", QUADRATIC_CASES)
def test_drives_convex_quadratic_to_its_minimum(name, kwargs, phases, tol):
    """f(θ) = ½θᵀAθ − bᵀθ, ∇f = Aθ − b, minimum θ* = A⁻¹b."""
    A, b, theta_star = spd_problem()
    theta, g = np.zeros(len(b)), np.zeros(len(b))
    opt = make_optimizer(name, OrderedDict(w=theta), OrderedDict(w=g), **kwargs)
    for _ in range(phases):
        for _ in range(1000):
            np.subtract(A @ theta, b, out=g)
            opt.step()
        opt.lr = opt.lr / 10
    assert np.max(np.abs(theta - theta_star)) < tol


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.parametrize("name, kwargs", [
    ("sgd", dict(lr=1e-3)), ("momentum", dict(lr=1e-4)), ("nesterov", dict(lr=1e-4)),
    ("rmsprop", dict(lr=1e-2)), ("adagrad", dict(lr=0.5)), ("adam", dict(lr=2e-2))])
def test_makes_progress_on_rosenbrock(name, kwargs):
    theta, g = np.array([-1.5, 2.0]), np.zeros(2)
    f0 = rosenbrock(*theta)
    assert f0 == 12.5
    opt = make_optimizer(name, OrderedDict(w=theta), OrderedDict(w=g), **kwargs)
    for _ in range(2000):
        x, y = theta
        g[0] = -2 * (1 - x) - 400 * x * (y - x * x)
        g[1] = 200 * (y - x * x)
        opt.step()
    assert rosenbrock(*theta) < f0 / 50        # down by a factor of more than 50
    assert theta[0] > 0.5                      # and round the valley's bend towards (1, 1)


# --------------------------------------------------------------------------- layouts and state

ALL = [("sgd", {}), ("momentum", {}), ("nesterov", {}), ("rmsprop", {}), ("adagrad", {}),
       ("adam", {}), ("adam", dict(weight_decay=0.01))]


@pytest.mark.parametrize("name, kwargs", ALL)
def test_packed_and_separate_arrays_give_identical_bits(name, kwargs):
    seq = grad_sequence(150, dtype="float32", zero_fraction=0.3)   # 150 steps: crosses two guard steps
    results = []
    for packed in (True, False):
        params, grads = make_dicts("float32", packed=packed)
        opt = make_optimizer(name, params, grads, **kwargs)
        assert opt.flat is packed
        for g in seq:
            write_grads(grads, g)
            opt.step()
        results.append((flat(params), {k: v.copy() for k, v in opt.state_dict().items()}))
    (p1, s1), (p2, s2) = results
    assert p1.tobytes() == p2.tobytes()
    assert list(s1) == list(s2)
    for k in s1:
        assert s1[k].tobytes() == s2[k].tobytes(), k


@pytest.mark.parametrize("name, kwargs", ALL)
@pytest.mark.parametrize("packed", [True, False])
def test_state_round_trip_gives_identical_steps(name, kwargs, packed):
    seq = grad_sequence(100, dtype="float32", zero_fraction=0.3)
    params, grads = make_dicts("float32", packed=packed)
    opt = make_optimizer(name, params, grads, **kwargs)
    for k, g in enumerate(seq):
        write_grads(grads, g)
        opt.step()
        if k == 36:
            saved_params = OrderedDict((n, a.copy()) for n, a in params.items())
            saved_state = OrderedDict((n, a.copy()) for n, a in opt.state_dict().items())
    # resume: a new optimizer (fresh buffers) on the saved parameters
    params2, grads2 = make_dicts("float32", packed=packed, seed=99)
    for n in params2:
        params2[n][...] = saved_params[n]
    opt2 = make_optimizer(name, params2, grads2, **kwargs)
    opt2.load_state_dict(saved_state)
    assert opt2.t == 37
    for g in seq[37:]:
        write_grads(grads2, g)
        opt2.step()
    assert flat(params).tobytes() == flat(params2).tobytes()
    for k, a in opt.state_dict().items():
        assert a.tobytes() == opt2.state_dict()[k].tobytes(), k


def test_state_dict_names_shapes_dtypes():
    params, grads = make_dicts("float32", packed=True)
    sd = Adam(params, grads).state_dict()
    assert list(sd) == ["t"] + [f"m/{n}" for n in SHAPES] + [f"v/{n}" for n in SHAPES]
    assert sd["t"].dtype == np.int64 and sd["t"].shape == ()
    for n, s in SHAPES.items():
        assert sd[f"m/{n}"].shape == s and sd[f"v/{n}"].dtype == np.float32
    assert list(SGD(params, grads).state_dict()) == ["t"]
    assert list(make_optimizer("momentum", params, grads).state_dict())[1:] == [f"u/{n}" for n in SHAPES]
    assert list(Adagrad(params, grads).state_dict())[1] == "G/encoder.0.W"


# --------------------------------------------------------------------------- speed and dtypes

@pytest.mark.parametrize("name, kwargs", [("adam", dict(weight_decay=0.01)), ("rmsprop", {}),
                                          ("nesterov", {}), ("adagrad", {})])
@pytest.mark.parametrize("packed", [True, False])
def test_steady_state_step_allocates_nothing(name, kwargs, packed):
    rng = np.random.default_rng(0)
    shapes = [(200, 300), (300,), (300, 100), (100,)]          # 90,400 values: a temporary is 361 kB
    params = OrderedDict((f"l{i}", rng.standard_normal(s).astype(np.float32)) for i, s in enumerate(shapes))
    grads = OrderedDict((n, rng.standard_normal(a.shape).astype(np.float32)) for n, a in params.items())
    if packed:
        params, grads = pack(params)[1], pack(grads)[1]
    opt = make_optimizer(name, params, grads, **kwargs)
    for _ in range(5):
        opt.step()                                               # warm-up
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(100):                                     # includes a guard step (t = 64)
            opt.step()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1024, "memory grows with the number of steps"
    assert peak - before < 4096, f"a step allocated {peak - before} bytes at its peak"


def test_float32_stays_float32_and_hyperparameters_are_python_floats():
    params, grads = make_dicts("float32", packed=True)
    for g in grads.values():
        g[...] = 0.5
    f64 = np.float64
    opt = Adam(params, grads, lr=f64(1e-3), beta1=f64(0.9), beta2=f64(0.999), eps=f64(1e-8),
               weight_decay=f64(0.01))
    for attr in ("lr", "beta1", "beta2", "eps", "weight_decay"):
        assert type(getattr(opt, attr)) is float, attr     # np.float64 would upcast float32 math
    opt.lr = np.float64(2e-3)
    assert type(opt.lr) is float
    for _ in range(3):
        opt.step()
    assert all(a.dtype == np.float32 for a in params.values())
    sd = opt.state_dict()
    assert all(a.dtype == np.float32 for k, a in sd.items() if k != "t")
    # the first step of Adam is -lr·sign(g) (bias correction makes m̂ = g, v̂ = g²), in float32
    p, g = OrderedDict(w=np.zeros(4, np.float32)), OrderedDict(w=np.array([1, -2, 3, -4], np.float32))
    Adam(p, g, lr=0.25).step()
    np.testing.assert_allclose(p["w"], [-0.25, 0.25, -0.25, 0.25], rtol=1e-6)


# --------------------------------------------------------------------------- the subnormal trap

def is_subnormal(x):
    a = np.abs(x)
    return (a > 0) & (a < np.finfo(x.dtype).tiny)


def once_then_zero(n_steps, make, magnitudes, guard=True):
    """Gradient = magnitudes (alternating signs) at step 1, exactly 0 afterwards.

    With the guard, checks after every step that no state value is subnormal.
    Returns the parameters.
    """
    g0 = (magnitudes * np.where(np.arange(magnitudes.size) % 2, -1, 1)).astype(np.float32)
    theta, g = np.ones(g0.size, np.float32), g0.copy()
    opt = make(OrderedDict(w=theta), OrderedDict(w=g))
    if not guard:
        opt.guard_every = None
    for step in range(n_steps):
        opt.step()
        g[...] = 0.0
        for k, a in opt.state_dict().items():
            if guard and k != "t":
                assert not is_subnormal(a).any(), f"{k} has subnormal values after step {step + 1}"
    return theta


# From 1e-16 up: much smaller gradients put subnormal numbers into the state on
# arrival ((1 − ρ)·g² < tiny), which no decay guard can prevent. Adam's test adds
# 5e-18, whose v = 1e-3·g² = 2.5e-38 arrives normal and then decays below tiny.
MAGNITUDES = np.logspace(-16, 3, 40)
ADAM_MAGNITUDES = np.concatenate([[5e-18], MAGNITUDES[:-1]])


def test_adam_state_never_subnormal_when_gradients_stop():
    # without a guard, the same recurrences in float32 do go subnormal (so this test can fail)
    m = (0.1 * ADAM_MAGNITUDES).astype(np.float32)
    v = (0.001 * ADAM_MAGNITUDES ** 2).astype(np.float32)
    seen_m = seen_v = False
    for _ in range(3000):
        m *= np.float32(0.9)
        v *= np.float32(0.999)
        seen_m |= bool(is_subnormal(m).any())
        seen_v |= bool(is_subnormal(v).any())
    assert seen_m and seen_v
    make = lambda p, g: Adam(p, g, lr=1e-3)              # noqa: E731
    theta = once_then_zero(3000, make, ADAM_MAGNITUDES)
    # the guard changed no bit of the result here ...
    assert theta.tobytes() == once_then_zero(3000, make, ADAM_MAGNITUDES, guard=False).tobytes()
    # ... and it agrees with Algorithm 1 in float64 to float32 precision
    ref, _ = ref_adam(np.ones(40), [ADAM_MAGNITUDES * np.where(np.arange(40) % 2, -1, 1)]
                      + [np.zeros(40)] * 2999, 1e-3, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(theta, ref, rtol=1e-6)   # float32 rounding over 3000 steps, no more


@pytest.mark.parametrize("make", [lambda p, g: RMSprop(p, g),
                                  lambda p, g: SGD(p, g, lr=0.1, momentum=0.9),
                                  lambda p, g: Adam(p, g, beta1=0.5, beta2=0.6)],
                         ids=["rmsprop", "momentum", "adam-small-betas"])
def test_decaying_state_never_subnormal(make):
    theta = once_then_zero(1500, make, MAGNITUDES)
    assert theta.tobytes() == once_then_zero(1500, make, MAGNITUDES, guard=False).tobytes()


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("cls, kwargs, match", [
    (SGD, dict(lr=0.0), "lr must be > 0"),
    (SGD, dict(lr=-1e-3), "lr must be > 0"),
    (SGD, dict(lr=float("nan")), "lr must be finite"),
    (SGD, dict(lr="0.1"), "lr must be a real number"),
    (SGD, dict(momentum=1.0), "0 <= momentum < 1"),
    (SGD, dict(momentum=-0.1), "0 <= momentum < 1"),
    (SGD, dict(nesterov=True), "nesterov=True needs momentum > 0"),
    (SGD, dict(momentum=0.9, nesterov="yes"), "nesterov must be True or False"),
    (RMSprop, dict(rho=1.0), "0 <= rho < 1"),
    (RMSprop, dict(eps=0.0), "eps must be > 0"),
    (Adagrad, dict(eps=-1.0), "eps must be > 0"),
    (Adagrad, dict(initial_accumulator=-0.1), "initial_accumulator must be >= 0"),
    (Adam, dict(beta1=1.0), "0 <= beta1 < 1"),
    (Adam, dict(beta2=-0.5), "0 <= beta2 < 1"),
    (Adam, dict(beta2=True), "beta2 must be a real number"),
    (Adam, dict(eps=0.0), "eps must be > 0"),
    (Adam, dict(weight_decay=-0.01), "weight_decay must be >= 0"),
])
def test_bad_hyperparameters(cls, kwargs, match):
    p, g = make_dicts()
    with pytest.raises(ValueError, match=match):
        cls(p, g, **kwargs)


def test_bad_lr_assignment():
    opt = Adam(*make_dicts())
    with pytest.raises(ValueError, match="lr must be > 0"):
        opt.lr = 0.0


def test_mismatched_params_and_grads():
    p, g = make_dicts()
    cases = []
    g1 = OrderedDict(g); del g1["encoder.0.b"]
    cases.append((p, g1, r"missing from grads: \['encoder.0.b'\]"))
    g2 = OrderedDict(g); g2["extra"] = np.zeros(2)
    cases.append((p, g2, r"not in params: \['extra'\]"))
    g3 = OrderedDict(reversed(list(g.items())))
    cases.append((p, g3, "same order"))
    g4 = OrderedDict(g); g4["encoder.0.b"] = np.zeros(5)
    cases.append((p, g4, r"grads\['encoder.0.b'\] has shape \(5,\) but params\['encoder.0.b'\] has shape \(4,\)"))
    g5 = OrderedDict(g); g5["encoder.0.b"] = np.zeros(4, np.float32)
    cases.append((p, g5, "grads\\['encoder.0.b'\\] has dtype float32 but params\\['encoder.0.b'\\] has dtype float64"))
    g6 = OrderedDict(g); g6["encoder.0.b"] = [0.0] * 4
    cases.append((p, g6, r"grads\['encoder.0.b'\] must be a numpy array, got list"))
    p7, g7 = OrderedDict(p), OrderedDict(g)
    p7["encoder.0.b"], g7["encoder.0.b"] = np.zeros(4, np.float32), np.zeros(4, np.float32)
    cases.append((p7, g7, "one dtype"))
    p8 = OrderedDict((n, a.astype(np.int64)) for n, a in p.items())
    g8 = OrderedDict((n, a.astype(np.int64)) for n, a in g.items())
    cases.append((p8, g8, "unsupported dtype 'int64'"))
    p9 = OrderedDict(p); g9 = OrderedDict(g); g9["encoder.0.b"] = p9["encoder.0.b"]
    cases.append((p9, g9, "shares memory"))
    ro = OrderedDict(p); ro["encoder.0.b"] = p["encoder.0.b"].copy(); ro["encoder.0.b"].flags.writeable = False
    cases.append((ro, g, "read-only"))
    cases.append((OrderedDict(), OrderedDict(), "params is empty"))
    cases.append(([1.0], g, "params must be a dict"))
    for params, grads, match in cases:
        with pytest.raises(ValueError, match=match):
            Adam(params, grads)


def test_load_state_dict_says_what_does_not_match():
    p, g = make_dicts("float32")
    opt = Adam(p, g)
    good = OrderedDict((k, a.copy()) for k, a in opt.state_dict().items())
    bad = OrderedDict(good); del bad["v/encoder.0.b"]; bad["w/encoder.0.b"] = good["v/encoder.0.b"]
    with pytest.raises(ValueError, match=r"missing: \['v/encoder.0.b'\], unexpected: \['w/encoder.0.b'\]"):
        opt.load_state_dict(bad)
    bad = OrderedDict(good); bad["m/decoder.0.W"] = np.zeros((2, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"'m/decoder.0.W' has shape \(2, 3, 2\), expected \(2, 2, 3\)"):
        opt.load_state_dict(bad)
    bad = OrderedDict(good); bad["m/decoder.0.W"] = np.zeros((2, 2, 3))
    with pytest.raises(ValueError, match="'m/decoder.0.W' has dtype float64, expected float32"):
        opt.load_state_dict(bad)
    bad = OrderedDict(good); bad["t"] = np.array(-1)
    with pytest.raises(ValueError, match="'t' must be >= 0"):
        opt.load_state_dict(bad)
    bad = OrderedDict(good); bad["v/encoder.0.W"] = np.full((3, 4), np.nan, np.float32)
    with pytest.raises(ValueError, match="NaN or inf"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        SGD(p, g, momentum=0.9).load_state_dict(good)   # another optimizer's state
    assert opt.t == 0 and not opt.state_dict()["m/encoder.0.W"].any()   # nothing was changed


def test_make_optimizer_bad_name_and_option():
    p, g = make_dicts()
    known = "sgd, momentum, nesterov, rmsprop, adagrad, adam"
    with pytest.raises(ValueError, match=f"unknown optimizer 'adamw'; known: {known}"):
        make_optimizer("adamw", p, g)
    with pytest.raises(ValueError, match=r"optimizer 'adam' has no option\(s\) \['bta1'\]; its options: lr, beta1"):
        make_optimizer("adam", p, g, bta1=0.9)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "momentum", "adagrad"])
def test_a_step_that_fails_changes_nothing(name):
    """A parameter made read-only after construction: step raises, and params, state and t are untouched."""
    rng = np.random.default_rng(0)
    params = OrderedDict(a=rng.standard_normal(5), b=rng.standard_normal((2, 3)))   # separate arrays
    grads = OrderedDict(a=rng.standard_normal(5), b=rng.standard_normal((2, 3)))
    opt = make_optimizer(name, params, grads, lr=0.1)
    opt.step()
    before = {k: v.copy() for k, v in opt.state_dict().items()}
    theta = {k: v.copy() for k, v in params.items()}
    params["b"].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['b'\] is read-only.*nothing was changed"):
        opt.step()
    assert opt.t == 1
    assert all(np.array_equal(v, before[k]) for k, v in opt.state_dict().items())
    assert all(np.array_equal(v, theta[k]) for k, v in params.items())
    params["b"].flags.writeable = True
    opt.step()                              # and it carries on as if the failed call never happened
    assert opt.t == 2


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("flat", [False, True])
def test_an_empty_parameter_steps_and_counts_as_finite(name, flat):
    """A head of width 0 (the full-covariance Gaussian's "tril" at z_dim = 1) is an empty array: the
    finiteness check of step(check_finite=True) took its max and failed on the empty reduction."""
    params = OrderedDict(W=np.ones((3, 2)), E=np.zeros((3, 0)), b=np.ones(2))
    grads = OrderedDict((k, np.full_like(v, 0.5)) for k, v in params.items())
    if flat:
        _, views = pack(params)
        _, gviews = pack(grads)
        params, grads = OrderedDict(views), OrderedDict(gviews)
    opt = make_optimizer(name, params, grads)
    assert opt.step(check_finite=True) is True
    assert params["E"].shape == (3, 0) and np.all(params["W"] < 1.0)
    params["W"][0, 0] = np.nan
    assert opt.step(check_finite=True) is False
