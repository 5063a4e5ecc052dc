# %% [markdown]
# # 14 · A family of bounds, and where each sits relative to log p(x)
#
# Tutorial 08 met two lower bounds on $\log p(x)$, the ELBO and the importance-weighted bound.
# Both are functions of the same thing: the log importance weights of $k$ samples
# $z_s \sim q(z \mid x)$,
#
# $$\log w_s = \log p(x \mid z_s) + \log p(z_s) - \log q(z_s \mid x), \qquad \mathbb{E}_q[w] = p(x).$$
#
# Many more bounds are. One picture holds them together, the **power mean** of the weights,
#
# $$\log M_p = \frac1p \log \frac1k \sum_{s=1}^k w_s^p ,$$
#
# which never decreases as $p$ grows (the power-mean inequality). Reading off a few powers:
#
# | $p$ | name | what it is |
# |---|---|---|
# | $p \to 0$ | ELBO (its estimate) | $\frac1k\sum_s \log w_s$, the geometric mean |
# | $0 < p < 1$ | Rényi / VR bound, $\alpha = 1 - p \in (0, 1)$ (Li & Turner, 2016) | between ELBO and IWAE |
# | $p = 1$ | IWAE bound $\mathcal{L}_k$ = VR with $\alpha = 0$ | $\log \frac1k \sum_s w_s$ |
# | $p = n > 1$ | $\chi$ upper bound $\mathrm{CUBO}_n$ = VR with $\alpha = 1-n$ (Dieng et al., 2017) | $\frac1n \log \frac1k \sum_s w_s^n$ |
# | $p \to \infty$ | VR-max, $\alpha \to -\infty$ | $\max_s \log w_s$ |
#
# And relative to $\log p(x)$:
#
# $$\mathbb{E}[\text{ELBO}] \;\le\; \mathbb{E}[\mathrm{VR}_\alpha]_{0<\alpha<1} \;\le\; \mathbb{E}[\mathcal{L}_k]
# \;\le\; \log p(x) \;\le\; \mathrm{CUBO}_n = \frac1n \log \mathbb{E}_q[w^n].$$
#
# The last inequality is Jensen's for the convex $t \mapsto t^n$: $\mathbb{E}[w^n]^{1/n} \ge \mathbb{E}[w] = p(x)$.
# It holds for the *exact* CUBO. Its $k$-sample estimate is a log of a mean, and Jensen now
# works against it: the estimate is **biased low**, and for small $k$ it can land below
# $\log p(x)$ on average. We will see that happen.
#
# Everything here runs on a model where $\log p(x)$ is known exactly, so each claim is a
# measurement. The bounds are classes in `numpyvae/bounds/` with one interface:
# `bound, tape = B.forward(log_w)` with `log_w` of shape (k, N), and `B.weights(tape)`, the
# gradient $\partial\,\mathrm{mean}_n(\text{bound}_n)/\partial \log w_{sn}$.

# %%
import math

import numpy as np
from scipy.stats import multivariate_normal

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae.bounds import CUBO, VR, CUBOSurrogate, VRMax
from numpyvae.teach.gradcheck import numerical_gradient, relative_error

rng = np.random.default_rng(0)
R = 400 if FAST else 4000               # repeated draws to average each estimate over

# %% [markdown]
# ## A model with an exact log p(x)
#
# The linear-Gaussian model: $p(z) = \mathcal{N}(0, I_2)$, $p(x \mid z) = \mathcal{N}(Az + b, \sigma^2 I_4)$.
# Then $p(x) = \mathcal{N}(b,\, AA^\top + \sigma^2 I)$ and the posterior is Gaussian too,
# $p(z \mid x) = \mathcal{N}(m, \Sigma)$ with $\Sigma = (I + A^\top A/\sigma^2)^{-1}$,
# $m = \Sigma A^\top (x - b)/\sigma^2$. Two similar columns in $A$ make the posterior correlated,
# which a diagonal $q$ cannot match.
#
# For a Gaussian $q = \mathcal{N}(\mu, S)$ both ends of the sandwich have closed forms:
# $\mathbb{E}_q[\text{ELBO}] = \log p(x) - \mathrm{KL}(q \,\|\, p(z\mid x))$, and
# $\mathbb{E}_q[w^2] = p(x)^2 \int \mathcal{N}(z; m, \Sigma)^2 / \mathcal{N}(z; \mu, S)\, dz$, a Gaussian
# integral that is finite only when $P = 2\Sigma^{-1} - S^{-1}$ is positive definite — when $q$
# is nowhere much narrower than the posterior.

# %%
D, K, sigma = 4, 2, 0.5
A = rng.standard_normal((D, K))
A[:, 1] = 0.4 * A[:, 0] + 0.9165 * A[:, 1]       # similar columns: a correlated posterior
b = rng.standard_normal(D)
x = A @ rng.standard_normal(K) + b + sigma * rng.standard_normal(D)



def exact_posterior(A, x):
    """(log p(x), Σ, m, Σ⁻¹) of the linear-Gaussian model with matrix A (D, K) at x (D,), all exact."""
    post_cov = np.linalg.inv(np.eye(K) + A.T @ A / sigma ** 2)
    return (multivariate_normal(mean=b, cov=A @ A.T + sigma ** 2 * np.eye(D)).logpdf(x), post_cov,
            post_cov @ A.T @ (x - b) / sigma ** 2, np.linalg.inv(post_cov))


def correlation(cov):
    return cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])


log_px, post_cov, post_mean, post_prec = exact_posterior(A, x)
print(f"log p(x) = {log_px:.4f} (exact); posterior correlation {correlation(post_cov):+.3f}, "
      f"marginal std {np.sqrt(np.diag(post_cov)).round(3)}")


def log_w_at(mu, logvar, eps):
    """log w = log p(x|z) + log p(z) − log q(z|x) at z = mu + exp(logvar/2)·eps; eps (k, n, K) -> (k, n)."""
    z = mu + np.exp(0.5 * logvar) * eps
    r = x - z @ A.T - b
    log_lik = -0.5 * ((r ** 2).sum(-1) / sigma ** 2 + D * math.log(2 * math.pi * sigma ** 2))
    log_prior = -0.5 * ((z ** 2).sum(-1) + K * math.log(2 * math.pi))
    log_q = -0.5 * ((eps ** 2).sum(-1) + logvar.sum() + K * math.log(2 * math.pi))
    return log_lik + log_prior - log_q


def log_weights(mu, logvar, k, n=1):
    """n independent draws of k weights from the diagonal q: log w (k, n)."""
    return log_w_at(mu, logvar, rng.standard_normal((k, n, K)))


def expected_elbo(mu, logvar):
    """log p(x) − KL(N(mu, diag e^logvar) || N(m, Σ))."""
    d = post_mean - mu
    kl = 0.5 * (np.exp(logvar) @ np.diag(post_prec) + d @ post_prec @ d - K
                + np.linalg.slogdet(post_cov)[1] - logvar.sum())
    return log_px - kl


def exact_cubo2(mu, logvar):
    """½ log E_q[w²] for q = N(mu, diag e^logvar); inf when the integral diverges."""
    psi = np.diag(np.exp(-logvar))
    P = 2 * post_prec - psi
    if np.linalg.eigvalsh(P).min() <= 0:
        return math.inf
    h = 2 * post_prec @ post_mean - psi @ mu
    c = -post_mean @ post_prec @ post_mean + 0.5 * mu @ psi @ mu
    log_integral = (-np.linalg.slogdet(post_cov)[1] + 0.5 * logvar.sum() - 0.5 * np.linalg.slogdet(P)[1]
                    + 0.5 * h @ np.linalg.solve(P, h) + c)
    return log_px + 0.5 * log_integral


# a q that is wrong on purpose: shifted, axis-aligned where the posterior is a tilted ellipse
mu_q = post_mean + np.array([0.1, -0.1])
logvar_q = np.log(1.2 * np.diag(post_cov))          # the posterior's marginal variances, 1.2 times
elbo_exact, cubo_exact = expected_elbo(mu_q, logvar_q), exact_cubo2(mu_q, logvar_q)
print(f"for this q:  E[ELBO] = {elbo_exact:.4f}  <  log p(x) = {log_px:.4f}  <  CUBO_2 = {cubo_exact:.4f}")
print(f"gap below: KL(q || p(z|x)) = {log_px - elbo_exact:.4f} nats; gap above: {cubo_exact - log_px:.4f} nats")

# %% [markdown]
# ## One draw, every bound
#
# For a single draw of $k = 10$ weights the whole family is ordered like the power means —
# no expectation needed, it holds sample by sample.

# %%
log_w = log_weights(mu_q, logvar_q, k=10)
family = [("ELBO estimate (mean log w)", log_w.mean(0)), ("VR, alpha = 0.5", VR(0.5).forward(log_w)[0]),
          ("IWAE = VR, alpha = 0", VR(0).forward(log_w)[0]), ("CUBO_2 = VR, alpha = -1", CUBO(2).forward(log_w)[0]),
          ("VR-max (largest log w)", VRMax().forward(log_w)[0])]
for name, value in family:
    print(f"{name:<28} {value[0]:9.4f}")
values = [v[0] for _, v in family]
print("ordered like power means (non-decreasing):", bool(np.all(np.diff(values) >= 0)))

# %% [markdown]
# ## The sandwich against k
#
# Now the expectations. For each $k$ we average each estimate over many independent draws
# (every column of `pool` is one draw of $k_{\max}$ weights; $\mathcal{L}_k$ uses its first $k$).

# %%
ks = [1, 2, 5, 10, 20, 50, 100] if FAST else [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
pool = log_weights(mu_q, logvar_q, k=max(ks), n=R)          # (k_max, R): R independent draws


def average(values):
    """Mean over the R draws and its standard error."""
    return values.mean(), values.std() / math.sqrt(len(values))


rows, errs = [], []
for k in ks:
    draws = pool[:k]
    (elbo_k, se_e), (iwae_k, se_i) = average(draws.mean(0)), average(VR(0).forward(draws)[0] if k > 1 else draws[0])
    (cubo_k, se_c) = average(CUBO(2).forward(draws)[0] if k > 1 else draws[0])    # k = 1: ½ log w² = log w
    rows.append((k, elbo_k, iwae_k, cubo_k))
    errs.append((se_e, se_i, se_c))
    print(f"k = {k:4d}:  ELBO {elbo_k:8.4f}   IWAE_k {iwae_k:8.4f}   CUBO_2 estimate {cubo_k:8.4f}   "
          f"(standard errors {se_e:.3f}, {se_i:.3f}, {se_c:.3f})")
rows, errs = np.array(rows), np.array(errs)
print(f"exact: E[ELBO] {elbo_exact:.4f}, log p(x) {log_px:.4f}, CUBO_2 {cubo_exact:.4f}")
print("the ELBO's average stays at the exact E[ELBO] for every k (within 3 standard errors):",
      bool(np.all(np.abs(rows[:, 1] - elbo_exact) < 3 * errs[:, 0])))
print("IWAE_k rises with k:", bool(np.all(np.diff(rows[:, 2]) > 0)),
      "| never above log p(x) by more than 3 standard errors:", bool(np.all(rows[:, 2] < log_px + 3 * errs[:, 1])))
print("CUBO_2 estimate rises with k:", bool(np.all(np.diff(rows[:, 3]) > 0)),
      "| never above the exact CUBO_2 by more than 3 standard errors:",
      bool(np.all(rows[:, 3] < cubo_exact + 3 * errs[:, 2])))
below = [int(k) for (k, *_, c), se in zip(rows, errs[:, 2]) if k > 1 and c < log_px - 3 * se]
print(f"k where the average CUBO_2 estimate is BELOW log p(x) (by more than 3 standard errors): {below}")

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.semilogx(rows[:, 0], rows[:, 1], "s-", color="C1", label="ELBO (mean log w)")
ax.semilogx(rows[:, 0], rows[:, 2], "o-", color="C0", label=r"IWAE $\mathcal{L}_k$")
ax.semilogx(rows[1:, 0], rows[1:, 3], "^-", color="C3", label=r"CUBO$_2$ estimate, $k$ samples")
ax.axhline(log_px, color="k", ls="--", label=r"$\log p(x)$ (exact)")
ax.axhline(cubo_exact, color="C3", ls=":", label=r"CUBO$_2$ (exact)")
ax.axhline(elbo_exact, color="C1", ls=":", label="E[ELBO] (exact)")
ax.set_xlabel("k (samples per estimate)")
ax.set_ylabel("nats")
ax.legend(fontsize=7, loc="lower right")
ax.set_title(f"averages over {R} draws", fontsize=9)
savefig(fig, "14_sandwich.png")

# %% [markdown]
# ![the sandwich against k](figures/14_sandwich.png)
#
# The printout is the sandwich: the ELBO's average is flat in $k$ (more samples make its
# estimate less noisy, tutorial 08, but not tighter); $\mathcal{L}_k$ climbs towards
# $\log p(x)$ from below; the CUBO estimate climbs towards the exact CUBO from below, and at the
# smallest $k$ (listed above) its average is below $\log p(x)$ — an "upper bound" that is not
# one. So report CUBO with a large $k$, and read a small-$k$ CUBO as a rough number, not a
# certificate. The width of the sandwich, $\text{CUBO} - \text{ELBO}$, brackets the unknown
# $\log p(x)$ in a real model, where nothing is exact.
#
# ## VR as α varies
#
# With $k = 10$ fixed, sweep $\alpha$: $\mathrm{VR}_\alpha$ slides from VR-max ($\alpha \to -\infty$)
# through CUBO$_2$ ($\alpha = -1$) and IWAE ($\alpha = 0$) to the ELBO ($\alpha \to 1$; $\alpha = 1$
# itself is refused, use the ELBO) and below, for $\alpha > 1$.

# %%
k = 10
draws = pool[:k]
alphas = np.array([-20, -5, -3, -2, -1, -0.5, 0, 0.25, 0.5, 0.75, 0.99, 1.01, 1.5, 2, 3])
vr_means = np.array([VR(a).forward(draws)[0].mean() for a in alphas])
for a, v in zip(alphas, vr_means):
    print(f"alpha = {a:6.2f}:  E[VR_alpha] = {v:8.4f}")
vr_max = VRMax().forward(draws)[0].mean()
print("non-increasing in alpha:", bool(np.all(np.diff(vr_means) <= 0)))
print(f"alpha = 0 equals IWAE_10 of the sandwich: {vr_means[alphas == 0][0]:.6f} vs {rows[ks.index(10), 2]:.6f}")
print(f"alpha = -1 equals the CUBO_2 estimate:    {vr_means[alphas == -1][0]:.6f} vs {rows[ks.index(10), 3]:.6f}")
near_one = vr_means[alphas == 0.99][0] - draws.mean()
print(f"alpha = 0.99 is near the ELBO: E[VR] - E[ELBO] = {near_one:.4f}; "
      f"the expansion ½(1 - alpha) Var_s(log w) predicts {0.5 * 0.01 * draws.var(axis=0).mean():.4f}")
print(f"alpha = -20 is near VR-max: {vr_means[0]:.4f} vs {vr_max:.4f}, "
      f"never further below than log(k)/(1 - alpha) = {math.log(k) / 21:.4f}")
print(f"alphas on the grid whose E[VR_alpha] is ABOVE log p(x) (for k = {k}): {alphas[vr_means > log_px].tolist()}")
print("every alpha >= 0 stays below log p(x):", bool(np.all(vr_means[alphas >= 0] < log_px)))

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(alphas, vr_means, "o-", label=r"E[VR$_\alpha$], $k = 10$")
ax.axhline(log_px, color="k", ls="--", label=r"$\log p(x)$")
ax.axhline(vr_max, color="C2", ls="-.", label="E[VR-max]")
ax.axhline(draws.mean(), color="C1", ls=":", label="E[ELBO]")
ax.axvline(1, color="grey", lw=0.5)
ax.set_xlabel(r"$\alpha$")
ax.set_ylabel("nats")
ax.legend(fontsize=8)
savefig(fig, "14_vr_alpha.png")

# %% [markdown]
# ![VR against alpha](figures/14_vr_alpha.png)
#
# The curve falls monotonically in $\alpha$, through IWAE at $\alpha = 0$ and the CUBO estimate at
# $\alpha = -1$ (both equal to the sandwich's numbers, printed), into the ELBO as $\alpha \to 1$
# (with the gap $\frac12(1-\alpha)\,\mathrm{Var}_s \log w$ the printout predicts) and towards VR-max as
# $\alpha \to -\infty$. Every $\alpha \ge 0$ is a lower bound. The negative ones printed above
# $\log p(x)$ are not, although Li & Turner train with them (VR-max included): with finite $k$
# they are neither lower nor upper bounds, just objectives whose gradient leans on the best samples.
#
# ## The gradient is a weighted ELBO gradient
#
# Every member has the gradient $\sum_s \hat w_s \nabla \log w_s$ with
# $\hat w = \mathrm{softmax}((1-\alpha)\log w)$: differentiate
# $\frac{1}{1-\alpha}\big(\operatorname{logsumexp}_s((1-\alpha)\log w_s) - \log k\big)$; the chain rule
# brings out a factor $1-\alpha$ that cancels the one in front. $\alpha \to 1$ flattens the
# weights to $1/k$ (the ELBO), $\alpha = 0$ gives IWAE's normalized weights, and negative
# $\alpha$ sharpens them until VR-max puts everything on one sample. The effective sample size
# $1/\sum_s \hat w_s^2$ says how many samples the gradient really uses. Each class's `weights` is
# checked against central finite differences, here too:

# %%
one = pool[:k, :1].copy()                                       # one draw of 10 weights, (10, 1)
fig, ax = plt.subplots(figsize=(6.5, 3))
order = np.argsort(one[:, 0])[::-1]
for i, (label, bound) in enumerate([("alpha = 0.9", VR(0.9)), ("alpha = 0.5", VR(0.5)), ("alpha = 0 (IWAE)", VR(0)),
                                    ("alpha = -1 (CUBO_2)", VR(-1)), ("VR-max", VRMax())]):
    c = bound.weights(bound.forward(one)[1])[:, 0]
    fd = numerical_gradient(lambda lw: bound.forward(lw)[0].mean(), one)[:, 0]
    print(f"{label:<20} effective sample size {1 / (c ** 2).sum():5.2f} of {k};  "
          f"FD relative error {relative_error(c, fd):.1e}")
    ax.bar(np.arange(k) + 0.16 * (i - 2), c[order], width=0.16, label=label)
ax.set_xlabel("sample, sorted by log w (largest first)")
ax.set_ylabel(r"gradient weight $\hat w_s$")
ax.legend(fontsize=7)
savefig(fig, "14_weights.png")

# %% [markdown]
# ![gradient weights](figures/14_weights.png)
#
# ## Fitting q with each bound
#
# Which $q$ does each objective prefer? Fit a diagonal Gaussian $q = \mathcal{N}(\mu, \mathrm{diag}\, e^{v})$
# to this one $x$ by stochastic gradient, with $z = \mu + e^{v/2}\varepsilon$ and the noise held fixed
# within a step. The chain, by hand:
#
# $$\frac{\partial \log w}{\partial z} = g(z) = A^\top(x - b - Az)/\sigma^2 - z, \qquad
# \frac{\partial \log w}{\partial \mu} = g, \qquad
# \frac{\partial \log w}{\partial v_j} = \tfrac12 g_j\, e^{v_j/2}\varepsilon_j + \tfrac12,$$
#
# the last $\tfrac12$ from $-\log q = \tfrac12\sum_j(\varepsilon_j^2 + v_j + \log 2\pi)$. The bound's
# gradient is then $\sum_s c_s \,\partial \log w_s/\partial(\mu, v)$ with $c$ = `weights`.
#
# CUBO is minimized, not maximized. Dieng et al. descend $\exp(n\cdot\mathrm{CUBO}_n) = \mathbb{E}_q[w^n]$
# instead of CUBO itself: its Monte Carlo estimate $\frac1k\sum_s w_s^n$ is *unbiased*, so its
# gradient is unbiased, while the gradient of the (biased) log of that mean is not. To keep $w^n$ finite, divide by the
# constant $e^{n \max_s \log w_s}$ (the exp trick); per example this rescales CUBO's gradient
# by a positive number. That is `CUBOSurrogate`.

# %%
def grad_log_w(mu, logvar, eps):
    """∂ log w_s / ∂mu and ∂ log w_s / ∂logvar at z = mu + e^{logvar/2} eps (k, K), each (k, K), for one x."""
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    g = (x - b - z @ A.T) @ A / sigma ** 2 - z                    # ∂ log p(x, z)/∂z
    return g, 0.5 * g * std * eps + 0.5


def objective_and_grads(bound, mu, logvar, eps):
    """mean bound at fixed noise eps (k, 1, K), and its gradient w.r.t. mu and logvar."""
    log_w = log_w_at(mu, logvar, eps)
    if bound == "elbo":                                          # the ELBO: c = 1/k
        value, c = log_w.mean(), np.full(log_w.shape, 1.0 / log_w.size)
    else:
        values, tape = bound.forward(log_w)
        value, c = values.mean(), bound.weights(tape)
    d_mu, d_logvar = grad_log_w(mu, logvar, eps[:, 0])
    return value, c[:, 0] @ d_mu, c[:, 0] @ d_logvar


# the chain above, checked against finite differences for each objective
eps = rng.standard_normal((k, 1, K))
theta = np.concatenate([mu_q, logvar_q])
shift = log_w_at(mu_q, logvar_q, eps).max()                      # the surrogate's constant, frozen here
objectives = {"elbo": lambda t: log_w_at(t[:K], t[K:], eps).mean(),
              VR(0): lambda t: VR(0).forward(log_w_at(t[:K], t[K:], eps))[0].mean(),
              CUBO(2): lambda t: CUBO(2).forward(log_w_at(t[:K], t[K:], eps))[0].mean(),
              CUBOSurrogate(2): lambda t: np.mean(np.exp(2 * (log_w_at(t[:K], t[K:], eps) - shift)))}
for bound, f in objectives.items():
    _, d_mu, d_logvar = objective_and_grads(bound, mu_q, logvar_q, eps)
    print(f"{str(bound):<20} gradient w.r.t. (mu, logvar): FD relative error "
          f"{relative_error(np.concatenate([d_mu, d_logvar]), numerical_gradient(f, theta.copy())):.1e}")


# %% [markdown]
# Now fit. Every run starts from $q = \mathcal{N}(0, I)$ and takes the same Adam steps; the lower
# bounds are climbed, the CUBO surrogate is descended. CUBO gets two runs, with $k = 10$ and with
# $k = 1000$ samples per step — watch what happens to the first.

# %%
def fit(bound, steps, k_fit, lr=0.02, start=None):
    """Adam on (mu, logvar) from q = N(0, I), or from start = (mu, logvar): ascent for the lower bounds,
    descent for CUBO."""
    theta = np.zeros(2 * K) if start is None else np.concatenate(start)
    m1, m2 = np.zeros_like(theta), np.zeros_like(theta)
    sign = 1.0 if bound == "elbo" or bound.maximize else -1.0     # CUBO is minimized
    for t in range(1, steps + 1):
        eps = rng.standard_normal((k_fit, 1, K))
        _, d_mu, d_logvar = objective_and_grads(bound, theta[:K], theta[K:], eps)
        grad = sign * np.concatenate([d_mu, d_logvar])           # the uphill direction of what we want
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad ** 2
        theta += lr * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
    return theta[:K], theta[K:]


steps = 1000 if FAST else 4000
fitted = {"ELBO, k = 10": fit("elbo", steps, 10), "IWAE, k = 10": fit(VR(0), steps, 10),
          "CUBO_2, k = 10": fit(CUBOSurrogate(2), steps, 10), "CUBO_2, k = 1000": fit(CUBOSurrogate(2), steps, 1000)}
print(f"posterior:        marginal std {np.sqrt(np.diag(post_cov)).round(3)}, "
      f"conditional std {(1 / np.sqrt(np.diag(post_prec))).round(3)}")
for name, (mu, logvar) in fitted.items():
    print(f"{name:<17} q std {np.exp(0.5 * logvar).round(3)}, |mu - m| {np.abs(mu - post_mean).max():.3f};  "
          f"exact E[ELBO] {expected_elbo(mu, logvar):10.4f}, CUBO_2 {exact_cubo2(mu, logvar):8.4f}")
print(f"(log p(x) = {log_px:.4f})")
std = {name: np.exp(0.5 * lv) for name, (_, lv) in fitted.items()}
marginal_std, conditional_std = np.sqrt(np.diag(post_cov)), 1 / np.sqrt(np.diag(post_prec))
print("the ELBO's q is narrower than the posterior's marginals:", bool(np.all(std["ELBO, k = 10"] < marginal_std)),
      "| within 10% of the conditional std:", bool(np.all(np.abs(std["ELBO, k = 10"] / conditional_std - 1) < 0.1)),
      "| has an infinite CUBO_2:", exact_cubo2(*fitted["ELBO, k = 10"]) == math.inf)
print("IWAE's q is wider than the ELBO's in every direction:", bool(np.all(std["IWAE, k = 10"] > std["ELBO, k = 10"])))
print("CUBO's q (k = 1000) is wider than the posterior's marginals:",
      bool(np.all(std["CUBO_2, k = 1000"] > marginal_std)))
print("CUBO with k = 10 ran away (q collapsed, CUBO_2 infinite):", exact_cubo2(*fitted["CUBO_2, k = 10"]) == math.inf)
print("best E[ELBO] from the ELBO fit:", max(fitted, key=lambda n: expected_elbo(*fitted[n])) == "ELBO, k = 10",
      "| lowest CUBO_2 from the CUBO fit (k = 1000):",
      min(fitted, key=lambda n: exact_cubo2(*fitted[n])) == "CUBO_2, k = 1000")
del fitted["CUBO_2, k = 10"]                                     # nothing left to draw



def ellipse(mean, cov, radius):
    """Points on the contour {z: (z − mean)ᵀ cov⁻¹ (z − mean) = radius²} (the 1- or 2-sigma ellipse)."""
    angle = np.linspace(0, 2 * np.pi, 200)
    return mean + radius * np.stack([np.cos(angle), np.sin(angle)], -1) @ np.linalg.cholesky(cov).T


fig, ax = plt.subplots(figsize=(4.8, 4.6))
shapes = [("posterior p(z|x)", post_mean, post_cov, "k", "-")] + [
    (f"q fitted by {name}", mu, np.diag(np.exp(logvar)), color, "--")
    for (name, (mu, logvar)), color in zip(fitted.items(), ["C1", "C0", "C3"])]
for label, mean, cov, color, style in shapes:
    for radius in (1, 2):
        ax.plot(*ellipse(mean, cov, radius).T, style, color=color, label=label if radius == 1 else None)
ax.set_aspect("equal")
ax.set_xlabel("$z_1$")
ax.set_ylabel("$z_2$")
ax.set_title("1- and 2-sigma ellipses", fontsize=9)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
savefig(fig, "14_fitted_q.png")

# %% [markdown]
# ![fitted q](figures/14_fitted_q.png)
#
# What the printout shows:
#
# * The ELBO minimizes $\mathrm{KL}(q\,\|\,p)$, which punishes $q$ for putting mass where the
#   posterior has little. Its diagonal $q$ sits inside the tilted ellipse: its standard deviations
#   are the posterior's *conditional* ones, narrower than the marginals — so narrow that
#   $\mathbb{E}_q[w^2]$ diverges and its CUBO$_2$ is infinite. As a proposal for importance sampling,
#   its weights have infinite variance.
# * IWAE with $k = 10$ trains $q$ as a proposal for ten samples at once: wider than the ELBO's
#   in every direction.
# * CUBO minimizes a $\chi^2$ divergence, which punishes $q$ for *missing* mass: with 1000 samples per
#   step its $q$ covers the posterior, wider than its marginals.
# * With 10 samples per step the same CUBO fit ran away: $q$ collapsed to a point far from the
#   posterior. The gradient weights are $\mathrm{softmax}(2 \log w)$, dominated by the largest $w_s^2$
#   of the batch, a heavy-tailed quantity: ten samples rarely see the tail that carries the
#   expectation, so the typical step is not the average step. Once $q$'s *variance* falls below half
#   the posterior's in some direction (for Gaussians, once $2\Sigma_p^{-1} - \Sigma_q^{-1}$ is no longer
#   positive definite), $\mathbb{E}_q[w^2]$ is infinite and nothing pulls it back. Upper
#   bounds are harder to train than lower ones; budget many samples.
# * The ELBO fit has the best $\mathbb{E}_q[\text{ELBO}]$ of the four and the CUBO fit ($k = 1000$)
#   the lowest CUBO$_2$ (the last printed line checks these two; IWAE's own objective has no exact
#   value here, so its fit is not ranked): there is no single best $q$, only the best for a purpose.
#
# ## When the family holds the posterior: CUBO from the ELBO's $q$
#
# The correlated posterior above is one no diagonal $q$ can hold, and the ELBO's best diagonal $q$
# has an infinite CUBO$_2$: descending CUBO from there is hopeless. Change one thing, the model:
# give $A$ orthogonal columns, so $A^\top A$ is diagonal and so is the posterior's covariance
# $(I + A^\top A/\sigma^2)^{-1}$. Now the family holds the posterior exactly. Fit the ELBO first
# (10 samples per step, as above), then descend CUBO$_2$ from the ELBO's $q$ (10 samples per step
# again), and, for comparison, from $\mathcal{N}(0, I)$.

# %%
A = np.linalg.qr(rng.standard_normal((D, K)))[0] * np.array([2.0, 1.2])      # orthogonal columns
x = A @ rng.standard_normal(K) + b + sigma * rng.standard_normal(D)
log_px, post_cov, post_mean, post_prec = exact_posterior(A, x)               # what the functions above read
print(f"orthogonal columns: log p(x) = {log_px:.4f} (exact); posterior correlation {correlation(post_cov):+.3f}")
elbo_q = fit("elbo", steps, 10)
held = {"ELBO fit, k = 10": elbo_q}
for k_fit in (10, 1000):
    held[f"CUBO_2, k = {k_fit}, from the ELBO's q"] = fit(CUBOSurrogate(2), steps, k_fit, start=elbo_q)
    held[f"CUBO_2, k = {k_fit}, from N(0, I)"] = fit(CUBOSurrogate(2), steps, k_fit)
for name, (mu, logvar) in held.items():
    elbo_value = expected_elbo(mu, logvar)                       # a run-away q's is astronomically low
    print(f"{name:<34} exact E[ELBO] {elbo_value:{'10.4f' if elbo_value > -1e4 else '10.3g'}}  <=  "
          f"log p(x) {log_px:.4f}  <=  CUBO_2 {exact_cubo2(mu, logvar):8.4f}")

# %% [markdown]
# The posterior's correlation is now
# 0.000<!-- printed fast: orthogonal columns … posterior correlation -->. The ELBO's $q$ is the posterior up
# to the noise of its last steps: in the fast run, exact $\mathbb{E}[\text{ELBO}]$
# −4.0073<!-- printed fast: ELBO fit, k = 10 … exact E[ELBO] --> against $\log p(x) =$
# −4.0006<!-- printed fast: orthogonal columns: log p(x) = -->, and a finite CUBO$_2$. From there,
# descending CUBO$_2$ with 1000 samples per step closes the sandwich:
# −4.0016<!-- printed fast: CUBO_2, k = 1000, from the ELBO's q … exact E[ELBO] --> ≤
# −4.0006 ≤ −3.9996<!-- printed fast: CUBO_2, k = 1000, from the ELBO's q … log p(x) … CUBO_2 --> (the full
# run, four times the steps, draws a different $x$ and prints
# −4.0375<!-- printed full: CUBO_2, k = 1000, from the ELBO's q … exact E[ELBO] --> ≤
# −4.0358<!-- printed full: orthogonal columns: log p(x) = --> ≤
# −4.0340<!-- printed full: CUBO_2, k = 1000, from the ELBO's q … log p(x) … CUBO_2 -->): a $q$ trained by an
# upper bound converges, on a problem its family can hold. Two things it needs. The family must
# hold the posterior (the first problem's ELBO fit printed an infinite CUBO$_2$). And enough
# samples per step: with 10 the CUBO$_2$ fit runs away from the ELBO's $q$ just as from
# $\mathcal{N}(0, I)$ (both print an infinite CUBO$_2$, in both modes), for the reason given above,
# so a warm start does not replace samples; with 1000 the cold start converges too here.
# (`--q-objective cubo` trains an amortized $q$ with CUBO beside a decoder that climbs a lower
# bound, `numpyvae/models/cubo_q.py`.)
#
# In the engine these are one-line swaps: a bound is a class with `forward(log_w)` and
# `weights(tape)`, and the model's backward is the ELBO's with the weights $c$ — except that
# CUBO, an upper bound, may only move $q$: descending it over the decoder would push $\log p(x)$
# down.
