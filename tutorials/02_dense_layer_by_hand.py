# %% [markdown]
# # 02 · A Dense layer by hand, and checking its gradient
#
# Encoder and decoder are stacks of one building block, the affine map
#
# $$y = xW + b, \qquad x \in \mathbb{R}^{N \times D_\text{in}},\; W \in \mathbb{R}^{D_\text{in} \times D_\text{out}},\; b \in \mathbb{R}^{D_\text{out}},$$
#
# followed by an elementwise nonlinearity. Training needs $\partial L / \partial W$,
# $\partial L / \partial b$, and $\partial L / \partial x$ (to keep going backwards), given
# $\delta = \partial L / \partial y$ from the layer above.
#
# ## Deriving the backward pass
#
# Write one output element: $y_{nj} = \sum_i x_{ni} W_{ij} + b_j$. The chain rule sums over
# every output an input touches:
#
# $$\frac{\partial L}{\partial W_{ij}} = \sum_n \frac{\partial L}{\partial y_{nj}} \frac{\partial y_{nj}}{\partial W_{ij}} = \sum_n x_{ni}\,\delta_{nj},
# \qquad
# \frac{\partial L}{\partial b_j} = \sum_n \delta_{nj},
# \qquad
# \frac{\partial L}{\partial x_{ni}} = \sum_j \delta_{nj} W_{ij}.$$
#
# The code works with whole arrays, so the last step writes each sum as a matrix product:
#
# <!-- answer: Write $\partial L/\partial W$, $\partial L/\partial b$ and $\partial L/\partial x$ as matrix products (or sums) of $x$, $W$ and $\delta$. -->
# $$\frac{\partial L}{\partial W} = x^\top \delta, \qquad \frac{\partial L}{\partial b} = \textstyle\sum_n \delta_{n\cdot}, \qquad \frac{\partial L}{\partial x} = \delta W^\top.$$
# <!-- /answer -->
#
# A quick sanity check: every gradient has the shape of the thing it differentiates
# ($\partial L/\partial W$ is $D_\text{in} \times D_\text{out}$, like $W$).

# %%
import numpy as np

from numpyvae.teach.tutorial_support import FAST, plt, savefig
from numpyvae.teach import exercises
from numpyvae.nn.activations import ReLU, Sigmoid, Softplus, Tanh
from numpyvae.teach.gradcheck import check_gradients, check_layer, numerical_gradient, relative_error
from numpyvae.nn import Dense, MLP

rng = np.random.default_rng(0)

# %% [markdown]
# ## Exercise: dense_backward
#
# Fill in the cell below with the three formulas. The grader draws fresh random problems on
# every run (a batch of one and two larger batches; the seed is printed, and
# `exercises.grade("dense_backward", dense_backward, seed=...)` replays them), computes the
# gradient of $L = \sum \delta \odot (xW + b)$ by central finite differences,
#
# $$\frac{\partial L}{\partial \theta_k} \approx \frac{L(\theta + h e_k) - L(\theta - h e_k)}{2h}, \qquad h = 10^{-6},$$
#
# and compares: relative error $\max|a - n| / \max(|a| + |n|)$ must be below $10^{-7}$.
# (Differences are taken in float64: in float32 the rounding of $L$, about $10^{-7}$ relative,
# divided by $2h$ would drown the signal.) If the stub is left as is, the tutorial goes on with a
# finite-difference stand-in (correct, slow, and no formula in sight) and says so.

# %%
# EXERCISE: dense_backward — return (dx, dW, db) for y = x @ W + b, given dy = dL/dy
def dense_backward(x, W, b, dy):
    raise NotImplementedError("dx = ..., dW = ..., db = ...")


dense_backward = exercises.grade_or_solution("dense_backward", dense_backward)

# %% [markdown]
# ## The library's Dense layer, checked the same way
#
# `numpyvae.nn.Dense` implements exactly these three lines in its `backward`
# (open `numpyvae/nn/dense.py`, the derivation is in the docstring). `check_layer` differentiates
# $L = \sum \delta \odot \text{forward}(x)$ numerically for the input and every parameter.

# %%
layer = Dense(4, 3, dtype="float64", rng=rng)
layer.params["b"][:] = rng.standard_normal(3)          # non-zero bias, so db is exercised
x = rng.standard_normal((5, 4))
print(check_layer(layer, x))

# our exercise function and the layer agree to rounding
y, tape = layer.forward(x)                              # the tape holds what backward needs (here: x)
dy = rng.standard_normal(y.shape)
dx_layer = layer.backward(dy, tape)
dx, dW, db = dense_backward(x, layer.params["W"], layer.params["b"], dy)
print("max |dx - layer dx| =", np.abs(dx - dx_layer).max(), "; max |dW - layer dW| =", np.abs(dW - layer.grads["W"]).max())

# %% [markdown]
# ## Activations
#
# An elementwise $y = g(x)$ has a diagonal Jacobian, so its backward is one product per element,
# $\partial L/\partial x = \delta \odot g'(x)$. The derivatives are often cheapest in terms of
# the output $y$ (or of $\sigma(x)$):
#
# <!-- answer: Differentiate $\tanh$, $\sigma$, ReLU and softplus; write $\tanh'$ and $\sigma'$ with their own output $y$, and $\text{softplus}'$ with $\sigma(x)$. -->
# $\tanh' = 1 - y^2$, $\sigma' = y(1 - y)$, $\text{ReLU}' = [x > 0]$,
# $\text{softplus}' = \sigma(x)$.
# <!-- /answer -->
#
# ReLU has a kink at 0 where the derivative jumps; finite differences straddling the kink
# disagree with any one-sided choice. Keep test points away from 0 when checking it.

# %%
x = rng.uniform(-2, 2, (4, 6))
x[np.abs(x) < 0.05] = 0.5                              # away from ReLU's kink
for act in (Tanh(), Sigmoid(), Softplus(), ReLU()):
    report = check_layer(act, x)
    print(f"{type(act).__name__:<9} worst relative error {report.worst:.1e}  {'PASS' if report.passed() else 'FAIL'}")

# %% [markdown]
# ### Exercise: tanh_backward and sigmoid_backward

# %%
# EXERCISE: tanh_backward — return dx for y = tanh(x), given dy
def tanh_backward(x, dy):
    raise NotImplementedError


# EXERCISE: sigmoid_backward — return dx for y = 1 / (1 + exp(-x)), given dy
def sigmoid_backward(x, dy):
    raise NotImplementedError


tanh_backward = exercises.grade_or_solution("tanh_backward", tanh_backward)
sigmoid_backward = exercises.grade_or_solution("sigmoid_backward", sigmoid_backward)

# %% [markdown]
# ## What a wrong gradient looks like
#
# A checker is only useful if it fails loudly. Here is the commonest slip, averaging instead of
# summing over the batch for $db$:

# %%
wrong = exercises.grade("dense_backward", lambda x, W, b, dy: (dy @ W.T, x.T @ dy, dy.mean(axis=0)))
print("passed?", wrong.passed)

# %% [markdown]
# ## Why the step size $h$ matters
#
# Central differences have truncation error $O(h^2)$ and rounding error $O(\varepsilon/h)$.
# Sweeping $h$ on a whole MLP shows the valley: too large and the Taylor error dominates, too
# small and cancellation does. $h \approx 10^{-6}$ sits near the bottom in float64.

# %%
net = MLP([5, 8, 3], "tanh", rng=rng, dtype="float64")
xb = rng.standard_normal((4, 5))
out, tape = net.forward(xb)
dyb = rng.standard_normal(out.shape)
net.backward(dyb, tape)
W0 = net.params["0.W"]
analytic = net.grads["0.W"].copy()
hs = np.logspace(-12, -1, 12 if FAST else 23)
errs = []
for h in hs:
    num = numerical_gradient(lambda _: np.sum(dyb * net.forward(xb)[0]), W0, h=h)
    errs.append(relative_error(analytic, num))
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.loglog(hs, errs, "o-")
ax.set_xlabel("finite-difference step h")
ax.set_ylabel("relative error vs backward")
ax.set_title("MLP 5-8-3, weights of layer 0")
savefig(fig, "02_step_size.png")
print(f"best h {hs[int(np.argmin(errs))]:.0e}, error {min(errs):.1e}")

# %% [markdown]
# ![error against h](figures/02_step_size.png)
#
# **Take-aways.** Backward passes are the chain rule written per layer; shapes are a first
# check, finite differences the real one. Everything later (reparameterization, KL,
# likelihoods) is checked in exactly this way. Next: the objective those gradients climb (03).
