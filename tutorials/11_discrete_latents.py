# %% [markdown]
# # 11 · Discrete latents: the Gumbel-softmax trick
#
# Some hidden causes are discrete: which digit, which of ten pen styles. A VAE with $M$
# categorical latent variables of $C$ classes each has the encoder output logits
# $a \in \mathbb{R}^{M\times C}$ and
#
# $$q(c \mid x) = \prod_{m=1}^M \mathrm{Cat}\big(c_m;\ \pi_m\big), \qquad \pi_m = \operatorname{softmax}(a_m).$$
#
# The ELBO's first term is $\mathbb{E}_{q}[\log p(x \mid c)]$, and training needs its gradient
# with respect to $a$. Tutorial 04 moved the randomness out of the Gaussian sample with
# $z = \mu + \sigma\varepsilon$. This tutorial asks what the same move looks like for a
# category (Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017 call it the Concrete
# distribution).

# %%
import numpy as np

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae import exercises
from numpyvae.latent.gumbel import CategoricalUniformKL, GumbelSoftmax, TemperatureSchedule
from numpyvae.teach.exercises import stand_in
from numpyvae.teach.gradcheck import check_gradients

library_backward = stand_in("gumbel_softmax_backward")    # finite differences, row by row: not the formula you write

rng = np.random.default_rng(0)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)

# %% [markdown]
# ## Why reparameterization fails for categories
#
# A category *can* be written as a function of its logits and parameter-free noise: with
# $u \sim U(0, 1)$, the inverse-CDF draw $c = \#\{k : F_k < u\}$, $F_k = \pi_1 + \dots + \pi_k$,
# is distributed as $\mathrm{Cat}(\pi)$. But that function is a staircase in $a$: it is flat
# almost everywhere and jumps at a few points. Its derivative is $0$ wherever it exists, so the
# chain rule "through the sample" returns zero, although $\mathbb{E}[f(c)] = \sum_k \pi_k f(k)$
# changes smoothly with $a$. Below, $C = 3$, a payoff $f = (0, 1, 3)$ per class, and the
# first logit swept with the others fixed.

# %%
f_payoff = np.array([0.0, 1.0, 3.0])
sweep = np.linspace(-4, 4, 801)
a_sweep = np.stack([sweep, np.zeros_like(sweep), np.full_like(sweep, 0.5)], axis=1)   # (801, 3)
pi_sweep = softmax(a_sweep)
expected = pi_sweep @ f_payoff


def inverse_cdf_class(pi, u):
    """c = number of cumulative probabilities below u: a Cat(pi) draw from a uniform u."""
    return (np.cumsum(pi, axis=-1) < u).sum(axis=-1)


fig, ax = plt.subplots(figsize=(6, 3.3))
for u in (0.3, 0.6, 0.9):
    ax.plot(sweep, f_payoff[inverse_cdf_class(pi_sweep, u)], lw=1.2, label=f"f(c(a, u)), u = {u}")
ax.plot(sweep, expected, "k", lw=2, label="E f(c) = Σ π_k f(k)")
ax.set_xlabel("first logit $a_1$")
ax.legend(fontsize=8)
savefig(fig, "11_staircase.png")
slope = np.gradient(expected, sweep)
print(f"slope of E f(c) at a_1 = 0: {slope[400]:.3f};  slope of each staircase there: 0")

# %% [markdown]
# ![staircase](figures/11_staircase.png)
#
# Each coloured line is one fixed-noise sample as a function of the logit: steps. The
# black line, the expectation we want to differentiate, has a clear slope.
#
# ## Gumbel-max: a better staircase
#
# With $g_k = -\log(-\log u_k)$ for independent $u_k \sim U(0, 1)$ (standard Gumbel noise),
#
# $$\arg\max_k\,(a_k + g_k) \ \sim\ \mathrm{Cat}\big(\operatorname{softmax}(a)\big).$$
#
# Checked by counting:

# %%
a = np.array([1.0, 0.0, -1.0, 2.0, 0.5])
n_draws = 20_000 if FAST else 200_000
u = rng.random((n_draws, a.size))
g = -np.log(-np.log(u))
freq = np.bincount((a + g).argmax(axis=1), minlength=a.size) / n_draws
p = softmax(a)
se = np.sqrt(p * (1 - p) / n_draws)
print("class          " + "".join(f"{k:>8d}" for k in range(a.size)))
print("softmax(a)     " + "".join(f"{v:8.4f}" for v in p))
print("Gumbel-max     " + "".join(f"{v:8.4f}" for v in freq))
print("|diff| / s.e.  " + "".join(f"{v:8.2f}" for v in np.abs(freq - p) / se))

# %% [markdown]
# Every difference is within a few standard errors. The noise now enters *additively*, as
# $\varepsilon$ did in the Gaussian case, but the argmax is still a staircase.
#
# ## The relaxation and the temperature
#
# Replace the argmax by a softmax at temperature $\tau > 0$:
#
# $$y = \operatorname{softmax}\big((a + g)/\tau\big).$$
#
# $y$ is a point of the probability simplex, a smooth function of $a$ for fixed noise, and as
# $\tau \to 0$ it tends to the one-hot vector of the Gumbel-max class. Below: 600 draws of a
# 3-class $y$ on the triangle (corners are the one-hot vectors), for four temperatures.

# %%
a3 = np.array([1.0, 0.0, -0.5])
n_tri = 300 if FAST else 600
g3 = -np.log(-np.log(rng.random((n_tri, 3))))
corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
taus = (0.1, 0.5, 1.0, 5.0)
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
for ax, tau in zip(axes, taus):
    y = softmax((a3 + g3) / tau)
    xy = y @ corners                                    # barycentric coordinates -> the plane
    ax.fill(*corners.T, color="0.93")
    ax.scatter(*xy.T, s=4, alpha=0.5)
    ax.set_title(f"τ = {tau}", fontsize=10)
    ax.set_aspect("equal")
    ax.axis("off")
    print(f"tau = {tau:4}: mean of max_k y_k = {y.max(axis=1).mean():.3f}  (1 = one-hot, 1/3 = centre)")
savefig(fig, "11_simplex.png")

# %% [markdown]
# ![relaxed samples on the simplex](figures/11_simplex.png)
#
# At low $\tau$ the samples sit in the corners, nearly the discrete samples; at high $\tau$
# they crowd the centre, whatever the logits. The corner proportions follow
# $\operatorname{softmax}(a) \approx (0.63, 0.23, 0.14)$ here.
#
# ## The backward pass, by hand
#
# Write $s = (a + g)/\tau$, so $y = \operatorname{softmax}(s)$ and $\partial s_j / \partial a_j = 1/\tau$.
# The softmax Jacobian is $\partial y_i / \partial s_j = y_i(\delta_{ij} - y_j)$, hence
#
# $$\frac{\partial y_i}{\partial a_j} = \frac{y_i(\delta_{ij} - y_j)}{\tau}, \qquad
# \frac{\partial L}{\partial a_j} = \sum_i \delta_i \frac{\partial y_i}{\partial a_j}
# = \frac{y_j\big(\delta_j - \sum_i y_i \delta_i\big)}{\tau},$$
#
# with $\delta = \partial L / \partial y$. No $C \times C$ matrix is needed: subtract the
# $y$-weighted mean of $\delta$, multiply by $y$, divide by $\tau$.
#
# ## Exercise: gumbel_softmax_backward

# %%
# EXERCISE: gumbel_softmax_backward — y = softmax((a + g)/tau) along the last axis; given dy = dL/dy (N, C), y and tau, return dL/da (N, C)
def gumbel_softmax_backward(dy, y, tau):
    raise NotImplementedError


gumbel_softmax_backward = exercises.grade_or_solution("gumbel_softmax_backward", gumbel_softmax_backward)

# %% [markdown]
# The library's family, `numpyvae.latent.gumbel.GumbelSoftmax`, does the same for $M$
# variables and $S$ samples at once, with the noise $u$ as an explicit input. Checked against
# finite differences in float64 on $L = \sum \delta \odot z$ (the gradient includes the sum over
# the $S$ samples, which share the logits):

# %%
M, C = 2, 4
family = GumbelSoftmax(M, C, tau=0.7)
logits = rng.normal(0, 0.7, (3, M * C))
u_fixed = family.draw_noise(rng, 2, 3, "float64")
z, log_q, tape = family.rsample([logits], u_fixed)
dz = rng.standard_normal(z.shape)
(dlogits,) = family.backward(dz, None, tape)
print(check_gradients(lambda: np.sum(dz * family.rsample([logits], u_fixed)[0]), {"logits": logits},
                      {"logits": dlogits}))
print("z sums to 1 per variable:", np.allclose(z.reshape(2, 3, M, C).sum(-1), 1.0))
y_one = tape["y"][0, 0, 0]
print("your function and the library agree:",
      np.allclose(gumbel_softmax_backward(dz.reshape(2, 3, M, C)[0, 0, :1], y_one[None], 0.7),
                  library_backward(dz.reshape(2, 3, M, C)[0, 0, :1], y_one[None], 0.7)))

# %% [markdown]
# ## What τ costs: bias against variance
#
# The relaxed gradient is the gradient of $\mathbb{E}[f(y)]$, not of $\mathbb{E}[f(c)]$: it is
# biased, and the bias shrinks with $\tau$. Its variance grows as $\tau$ shrinks (the
# Jacobian carries $1/\tau$ and is nearly zero except near the class boundaries). Take the
# payoff $f(c) = w_c$ for five classes, whose exact gradient is
# $\partial\,\mathbb{E}f / \partial a_j = \pi_j (w_j - \pi \cdot w)$, and compare one-sample
# estimators over many draws:
#
# * **relaxed**: $\nabla_a f(y)$ with $f(y) = w \cdot y$, i.e. the backward above with $\delta = w$;
# * **straight-through** (`hard=True`): the forward uses the one-hot $c$, the backward the relaxed
#   gradient. For this linear payoff the two coincide; with a decoder in between they differ,
#   because the decoder is evaluated at $c$, not $y$. Either way it is biased;
# * **score function** (REINFORCE, tutorial 04): $f(c)\,\nabla_a \log \pi_c = w_c(e_c - \pi)$, unbiased.

# %%
w = np.array([0.0, 1.0, 3.0, -1.0, 2.0])
a5 = np.array([0.5, -0.2, 0.0, 1.0, -1.0])
pi5 = softmax(a5)
exact = pi5 * (w - pi5 @ w)
n_est = 50_000 if FAST else 400_000
g5 = -np.log(-np.log(rng.random((n_est, 5))))
taus = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0, 5.0])
bias, spread = [], []
print(f"{'tau':>5} {'|bias|':>9} {'std':>9} {'s.e. of the mean':>17}")
for tau in taus:
    y = softmax((a5 + g5) / tau)
    est = library_backward(np.broadcast_to(w, y.shape), y, tau)      # (n_est, 5), one estimate per draw
    bias.append(np.linalg.norm(est.mean(0) - exact))
    spread.append(np.sqrt(est.var(0).sum()))
    print(f"{tau:5.1f} {bias[-1]:9.4f} {spread[-1]:9.4f} {spread[-1] / np.sqrt(n_est):17.4f}")
c5 = (a5 + g5).argmax(1)
score = w[c5][:, None] * (np.eye(5)[c5] - pi5)
print(f"score function: |bias| {np.linalg.norm(score.mean(0) - exact):.4f} (Monte Carlo error only), "
      f"std {np.sqrt(score.var(0).sum()):.4f}")

fig, ax = plt.subplots(figsize=(5.5, 3.3))
ax.loglog(taus, bias, "o-", label="|bias| of the relaxed gradient")
ax.loglog(taus, spread, "s-", label="std of a one-sample estimate")
ax.axhline(np.sqrt(score.var(0).sum()), color="k", ls=":", lw=1, label="std, score function")
ax.set_xlabel("temperature τ")
ax.legend(fontsize=8)
savefig(fig, "11_bias_variance.png")

# %% [markdown]
# ![bias and variance against the temperature](figures/11_bias_variance.png)
#
# The printed table shows the trade-off: towards small $\tau$ the bias falls and the spread
# rises. (A bias below about twice the last column's standard error of the mean is not
# resolved by this many draws.) Jang et al. pick $\tau$ around 0.5–1 and anneal it during training.
#
# ## Annealing τ
#
# Their schedule is $\tau_t = \max(\tau_{\min}, e^{-r t})$ in the global step $t$, updated every
# 500 or 1,000 steps, with $\tau_{\min} = 0.5$ and $r \in \{10^{-5}, 10^{-4}\}$:

# %%
steps = np.arange(0, 100_001, 250)
fig, ax = plt.subplots(figsize=(5.5, 3))
for rate in (1e-5, 1e-4):
    schedule = TemperatureSchedule(tau_min=0.5, rate=rate, every=1000)
    ax.plot(steps, [schedule(int(t)) for t in steps], label=f"r = {rate:g}")
    print(f"{schedule}: tau at steps 0, 5k, 50k, 100k = "
          + ", ".join(f"{schedule(t):.3f}" for t in (0, 5000, 50_000, 100_000)))
ax.set_xlabel("global step t")
ax.set_ylabel("τ")
ax.legend(fontsize=8)
savefig(fig, "11_schedule.png")

# %% [markdown]
# ![temperature schedules](figures/11_schedule.png)
#
# In a training loop: `family.tau = schedule(step)` before each step. The family records the
# $\tau$ of each forward pass in its tape, so the backward always matches its forward.
#
# ## The KL term of the relaxed ELBO
#
# Jang et al. train the decoder on the relaxed (or straight-through) sample but take the KL of
# the *unrelaxed* $q(c \mid x)$ to the uniform prior $p(c) = 1/C$, in closed form:
#
# $$\mathrm{KL} = \sum_m \sum_c \pi_{mc} \log(\pi_{mc} C), \qquad
# \frac{\partial\,\mathrm{KL}}{\partial a_{mj}} = \pi_{mj}\Big(\log \pi_{mj} - \sum_c \pi_{mc}\log \pi_{mc}\Big).$$
#
# It is 0 when $q$ is uniform and at most $M \log C$ when every variable is certain.

# %%
pair = CategoricalUniformKL(family)
kl, kl_tape = pair.forward([logits])
dkl = rng.standard_normal(3)
(dlogits_kl,) = pair.backward(dkl, kl_tape)
print("KL per example:", np.round(kl, 4), f"  (M log C = {M * np.log(C):.4f})")
print(check_gradients(lambda: np.sum(dkl * pair.forward([logits])[0]), {"logits": logits}, {"logits": dlogits_kl}))
print("uniform q:", pair.forward([np.zeros((1, M * C))])[0],
      "  certain q:", pair.forward([np.tile([30.0, 0, 0, 0], (1, M))])[0])

# %% [markdown]
# The family also returns `log_q`, the log-density of the relaxed $y$ under the Concrete
# distribution (Maddison et al. 2017), with its gradient, for a Monte Carlo KL against a relaxed
# prior. The analytic KL above is what the paper's categorical VAE uses.
#
# **Take-aways.** A category is a staircase in its logits, so "backprop through the sample" gives
# zero. Gumbel-max writes a category as an argmax of logits plus parameter-free noise; the
# softmax at temperature $\tau$ relaxes it into a smooth function whose backward is
# $y \odot (\delta - y\cdot\delta)/\tau$. The price is bias, which falls with $\tau$ while the
# variance rises. For a VAE, the encoder outputs $M \cdot C$ logits and the decoder reads the
# $M \cdot C$ numbers of $z$. No tutorial trains one; the command line does, with Jang et al.'s
# MNIST model: `python -m numpyvae train --dataset digits --z-dim 200 --posterior gumbel:10
# --prior categorical --tau 1 --tau-min 0.5 --tau-rate 1e-4` (`python -m numpyvae plot RUN` then
# draws `code_sweep.png`, one variable swept across its $C$ values). Tutorial 12 turns to labels:
# the conditional VAE and M2, where the category is the digit's class.
