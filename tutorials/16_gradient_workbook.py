# %% [markdown]
# # 16 · Gradient workbook: every hand-written backward of a VAE
#
# Tutorials 02–05 derived the backward passes of a Dense layer, two activations, the
# reparameterization, the analytic KL and the Bernoulli likelihood. This workbook asks for the
# rest of what numpyvae differentiates by hand: the other activations, the Monte Carlo KL, the
# Gaussian likelihoods, the continuous Bernoulli's normalizing constant, the importance weights
# of the IWAE bound, and one step of Adam. Each cell is graded the same way as before: a fresh
# random problem per run (its seed is printed, `exercises.grade(name, fn, seed=...)` replays it),
# at a batch of one and two larger batches, against central finite differences in float64.
#
# Conventions: `dy`, `dz`, `dkl` are the gradients arriving from above ($\partial L/\partial y$
# etc.), and every function returns $\partial L/\partial(\text{its inputs})$, each the shape of its
# input. A stub that is left alone is replaced by a finite-difference stand-in, so the notebook
# always runs to the end.

# %%
import numpy as np

from numpyvae.teach import exercises

# %% [markdown]
# ## 1 · Activations with a kink: relu_backward, leaky_relu_backward, elu_backward
#
# ReLU, leaky ReLU ($y = x$ for $x > 0$, $\alpha x$ otherwise) and ELU ($y = x$ for $x > 0$,
# $\alpha(e^x - 1)$ otherwise) are smooth except at 0; the grader keeps its test points away from
# 0, where finite differences straddle the kink. For each, $\partial L/\partial x = \delta \odot g'(x)$:
#
# <!-- answer: What are $g'(x)$ for ReLU, leaky ReLU and ELU on each side of 0 (for ELU, also in terms of its output $y$)? -->
# $\text{ReLU}'(x) = [x > 0]$; $\text{leaky}'(x) = 1$ or $\alpha$; $\text{ELU}'(x) = 1$ or $\alpha e^x = y + \alpha$.
# <!-- /answer -->

# %%
# EXERCISE: relu_backward — return dx for y = max(x, 0), given dy
def relu_backward(x, dy):
    raise NotImplementedError


# EXERCISE: leaky_relu_backward — return dx for y = x (x > 0) or alpha * x (x <= 0)
def leaky_relu_backward(x, dy, alpha):
    raise NotImplementedError


# EXERCISE: elu_backward — return dx for y = x (x > 0) or alpha * (exp(x) - 1) (x <= 0)
def elu_backward(x, dy, alpha):
    raise NotImplementedError


relu_backward = exercises.grade_or_solution("relu_backward", relu_backward)
leaky_relu_backward = exercises.grade_or_solution("leaky_relu_backward", leaky_relu_backward)
elu_backward = exercises.grade_or_solution("elu_backward", elu_backward)

# %% [markdown]
# ## 2 · Softplus: softplus_backward
#
# $\operatorname{softplus}(x) = \log(1 + e^x)$, the smooth ReLU, and the function inside the
# Bernoulli likelihood of tutorial 05.
#
# <!-- answer: What is $\operatorname{softplus}'(x)$? -->
# $\operatorname{softplus}'(x) = e^x / (1 + e^x) = \sigma(x)$.
# <!-- /answer -->

# %%
# EXERCISE: softplus_backward — return dx for y = log(1 + exp(x))
def softplus_backward(x, dy):
    raise NotImplementedError


softplus_backward = exercises.grade_or_solution("softplus_backward", softplus_backward)

# %% [markdown]
# ## 3 · The Monte Carlo KL: kl_mc_backward
#
# When a pair $(q, p)$ has no closed-form KL, the ELBO estimates it at the sampled $z$:
# $\mathrm{kl}_s = \log q(z_s \mid x) - \log p(z_s)$ with $z_s = \mu + \sigma \odot \varepsilon_s$ and
# $\varepsilon_s$ held fixed. For the diagonal Gaussian $q$ and $p = \mathcal{N}(0, I)$,
# $\log q(z_s) = -\tfrac12\sum_k(\varepsilon_{sk}^2 + \ell_k + \log 2\pi)$ (the noise is fixed, so
# only $\ell = \log\sigma^2$ moves it) and $\log p(z_s) = -\tfrac12\sum_k (z_{sk}^2 + \log 2\pi)$, so
#
# $$\mathrm{kl}_s = \tfrac12 \textstyle\sum_k \big(z_{sk}^2 - \varepsilon_{sk}^2 - \ell_k\big).$$
#
# Given `dkl` $= \partial L/\partial\,\mathrm{kl}_s$ of shape (S, N), with
# $\partial z/\partial\mu = 1$ and $\partial z/\partial \ell = \varepsilon\sigma/2$:
#
# <!-- answer: What are $\partial L/\partial\mu$ and $\partial L/\partial\ell$? -->
# $$\frac{\partial L}{\partial \mu} = \sum_s \mathrm{dkl}_s\, z_s, \qquad
# \frac{\partial L}{\partial \ell} = \sum_s \mathrm{dkl}_s \Big(z_s \varepsilon_s \frac{\sigma}{2} - \frac12\Big).$$
# <!-- /answer -->

# %%
# EXERCISE: kl_mc_backward — dkl (S, N); mu, logvar (N, K); eps (S, N, K) -> (dmu, dlogvar), each (N, K)
def kl_mc_backward(dkl, mu, logvar, eps):
    raise NotImplementedError


kl_mc_backward = exercises.grade_or_solution("kl_mc_backward", kl_mc_backward)

# %% [markdown]
# ## 4 · Gaussian likelihoods: gaussian_backward, gaussian_learned_backward
#
# With a fixed $\sigma$, $-\log p(x \mid m) = \sum_d \frac{(x_d - m_d)^2}{2\sigma^2} + \frac12\log 2\pi\sigma^2$.
# With a learned variance the decoder outputs $s = \log\sigma^2$ per pixel as well:
# $-\log p(x \mid m, s) = \tfrac12\sum_d \big((x_d - m_d)^2 e^{-s_d} + s_d + \log 2\pi\big)$.
#
# <!-- answer: What are $\partial/\partial m$ for fixed $\sigma$, and $\partial/\partial m$ and $\partial/\partial s$ for the learned variance? -->
# Fixed: $(m - x)/\sigma^2$. Learned: $(m - x)e^{-s}$ and $\tfrac12\big(1 - (x - m)^2 e^{-s}\big)$.
# <!-- /answer -->

# %%
# EXERCISE: gaussian_backward — return d(nll)/d(mean) for a fixed sigma (a float)
def gaussian_backward(x, mean, sigma):
    raise NotImplementedError


# EXERCISE: gaussian_learned_backward — return (d nll/d mean, d nll/d logvar)
def gaussian_learned_backward(x, mean, logvar):
    raise NotImplementedError


gaussian_backward = exercises.grade_or_solution("gaussian_backward", gaussian_backward)
gaussian_learned_backward = exercises.grade_or_solution("gaussian_learned_backward", gaussian_learned_backward)

# %% [markdown]
# ## 5 · The continuous Bernoulli's normalizing constant: cb_log_norm_backward
#
# Tutorial 05 introduced $C(\lambda) = 2\operatorname{artanh}(1 - 2\lambda)/(1 - 2\lambda)$. The
# decoder outputs logits $a$ with $\lambda = \sigma(a)$. Simplify first: $1 - 2\sigma(a) = -\tanh(a/2)$
# and $\operatorname{artanh}(-\tanh(a/2)) = -a/2$, so
#
# $$C = \frac{a}{\tanh(a/2)}, \qquad \log C = \log|a| - \log|\tanh(a/2)|.$$
#
# <!-- answer: What is $d \log C / da$? (Hint: $\frac{d}{da}\log\tanh(a/2) = 1/\sinh a$.) -->
# $$\frac{d \log C}{da} = \frac1a - \frac{1}{\sinh a}.$$
# <!-- /answer -->
#
# (Near $a = 0$ both terms blow up and cancel; the library uses a Taylor series there, the grader
# keeps $|a| \ge 0.3$.)

# %%
# EXERCISE: cb_log_norm_backward — return dlogits for y = log C(sigmoid(logits)), given dy
def cb_log_norm_backward(logits, dy):
    raise NotImplementedError


cb_log_norm_backward = exercises.grade_or_solution("cb_log_norm_backward", cb_log_norm_backward)

# %% [markdown]
# ## 6 · The IWAE bound's weights: iwae_weights
#
# With log weights $\log w_{sn}$ for $S$ samples of each of $N$ examples, the importance-weighted
# bound (tutorial 08) is $\mathcal{L} = \frac1N\sum_n \log \frac1S \sum_s w_{sn}$. Its gradient with
# respect to each log weight is what the model's backward pass feeds into every sample's path.
#
# <!-- answer: What is $c_{sn} = \partial\mathcal{L}/\partial \log w_{sn}$, and why does it not overflow if you compute it right? -->
# $c_{sn} = \tilde w_{sn}/N$ with $\tilde w_{sn} = w_{sn}/\sum_j w_{jn}$, a softmax over the samples;
# subtract $\max_s \log w_{sn}$ before exponentiating.
# <!-- /answer -->

# %%
# EXERCISE: iwae_weights — log_w (S, N) -> c (S, N), the gradient of mean_n log mean_s exp(log_w)
def iwae_weights(log_w):
    raise NotImplementedError


iwae_weights = exercises.grade_or_solution("iwae_weights", iwae_weights)

# %% [markdown]
# ## 7 · One step of Adam: adam_step
#
# Not a gradient this time: the grader compares your step with Kingma & Ba's Algorithm 1 (step $t$
# counts from 1; $m$ and $v$ are the moment estimates *before* the step). Update the two moments
# with $\beta_1$ and $\beta_2$, correct their bias from starting at zero, and step.
#
# <!-- answer: Write $m_t$, $v_t$, the two bias corrections and $\theta_t$. -->
# $m_t = \beta_1 m + (1 - \beta_1) g$, $v_t = \beta_2 v + (1 - \beta_2) g^2$,
# $\hat m = m_t/(1 - \beta_1^t)$, $\hat v = v_t / (1 - \beta_2^t)$,
# $\theta_t = \theta - \text{lr}\cdot\hat m/(\sqrt{\hat v} + \epsilon)$.
# <!-- /answer -->

# %%
# EXERCISE: adam_step — return (theta, m, v) after step t
def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    raise NotImplementedError


adam_step = exercises.grade_or_solution("adam_step", adam_step)

# %% [markdown]
# ## Where next: the capstone
#
# With these pieces and tutorial 02's `dense_backward`, every step of a VAE's backward pass is
# yours. The capstone, tutorial 17, reads them back from where you wrote them, assembles them into
# the whole backward pass of tutorial 06's model, checks it against the library's, and trains the
# model on the digits with your own gradients.
#
# A summary of this run, one line per exercise:

# %%
for name in ("relu_backward", "leaky_relu_backward", "elu_backward", "softplus_backward", "kl_mc_backward",
             "gaussian_backward", "gaussian_learned_backward", "cb_log_norm_backward", "iwae_weights", "adam_step"):
    fn = globals()[name]
    mine = not fn.__name__.endswith("_stand_in")
    print(f"{name:<27} {'your function' if mine else 'stand-in (not done yet)'}")
