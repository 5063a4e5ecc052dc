"""The flow family q(z|x): a diagonal Gaussian base pushed through K steps, log q_K = log q_0 − Σ_k log|det J_k|.

And its builders planar_flow, radial_flow and iaf_flow. The steps and their contract: the package docstring.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_positive_int
from ..heads import check_grad, check_heads, check_noise
from .global_step import GlobalStep
from .iaf import IAFStep
from .planar import PlanarStep
from .radial import RadialStep

LOG_2PI = float(np.log(2 * np.pi))


class Flow:
    """q(z|x): z_0 = mu + exp(logvar/2) ⊙ eps, then z_k = f_k(z_{k−1}) for k = 1..K.

    Parameters
    ----------
    z_dim : int             K_z, the latent size
    steps : list of steps   PlanarStep / RadialStep / IAFStep (or anything with their contract),
                            each of dimension z_dim
    context_dim : int       size of the "context" head the encoder must output (0: none);
                            IAF steps read it, the others ignore it

    heads, in order: "mu", "logvar", ["context"], then each step's heads as
    "<kind><k>.<name>" (e.g. "planar0.u"). params / grads: the steps' global
    arrays as "<kind><k>.<layer>.<W|b>" (empty for planar and radial).

    log q(z_K|x) = log q_0(z_0) − Σ_k log|det J_k|, with
    log q_0(z_0) = −½ Σ_d (eps² + logvar + log 2π).
    """

    def __init__(self, z_dim: int, steps, *, context_dim: int = 0):
        self.z_dim = K = check_positive_int(z_dim, "Flow", "z_dim")
        self.steps = list(steps)
        if not self.steps:
            raise ValueError("Flow: a flow needs at least one step (use the Gaussian family for none)")
        for step in self.steps:
            if step.dim != K:
                raise ValueError(f"Flow: every step must act on z_dim = {K} dimensions, "
                                 f"a {step.kind} step has dim {step.dim}")
        if isinstance(context_dim, bool) or not isinstance(context_dim, (int, np.integer)) or context_dim < 0:
            raise ValueError(f"Flow: context_dim must be an integer >= 0, got {context_dim!r}")
        self.context_dim = int(context_dim)
        needs = {getattr(s, "context_dim", 0) for s in self.steps} - {0}
        if needs and needs != {self.context_dim}:
            raise ValueError(f"Flow: the steps read a context of size {sorted(needs)}, "
                             f"but context_dim = {self.context_dim}")
        self.prefixes = [f"{s.kind}{k}" for k, s in enumerate(self.steps)]
        heads = [("mu", K), ("logvar", K)]
        if self.context_dim:
            heads.append(("context", self.context_dim))
        self._first_step_head = len(heads)
        for prefix, step in zip(self.prefixes, self.steps):
            heads += [(f"{prefix}.{name}", size) for name, size in step.heads.items()]
        self.heads = OrderedDict(heads)
        self.name = f"{self.steps[0].kind}:{len(self.steps)}"

    def __repr__(self) -> str:
        return f"Flow(z_dim={self.z_dim}, steps={self.name!r}, context_dim={self.context_dim})"

    # ------------------------------------------------------------ global parameters
    def named_layers(self):
        """(dotted name, layer) for every layer with global parameters (for packing)."""
        for prefix, step in zip(self.prefixes, self.steps):
            for name, layer in step.named_layers():
                yield (f"{prefix}.{name}" if name else prefix), layer

    @property
    def params(self) -> OrderedDict:
        """Global parameters by name, read from the layers each time (so packing them stays visible)."""
        return OrderedDict((f"{n}.{k}", v) for n, layer in self.named_layers() for k, v in layer.params.items())

    @property
    def grads(self) -> OrderedDict:
        return OrderedDict((f"{n}.{k}", v) for n, layer in self.named_layers() for k, v in layer.grads.items())

    # ------------------------------------------------------------ noise and sampling
    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype="float32") -> np.ndarray:
        """eps ~ N(0, I) for the base Gaussian, shape (S, N, K)."""
        S = check_positive_int(n_samples, "Flow.draw_noise", "n_samples")
        N = check_positive_int(n, "Flow.draw_noise", "n")
        return rng.standard_normal((S, N, self.z_dim), dtype=as_dtype(dtype))

    def _split(self, params, where):
        params = check_heads(params, self.heads, where)
        for name, p in self.params.items():
            if p.dtype != params[0].dtype:
                raise ValueError(f"{where}: the flow's parameter {name} is {p.dtype} but the heads are "
                                 f"{params[0].dtype}; build the flow with dtype='{params[0].dtype}'")
        context = params[2] if self.context_dim else None
        thetas, i = [], self._first_step_head
        for step in self.steps:
            thetas.append(params[i:i + len(step.heads)])
            i += len(step.heads)
        return params[0], params[1], context, thetas

    def rsample(self, params, eps: np.ndarray):
        """z_K and log q(z_K|x) from the heads and the noise.

        params : list of head arrays in the order of ``self.heads``, each (N, size)
        eps : (S, N, K)
        Returns z (S, N, K), log_q (S, N), tape.
        """
        mu, logvar, context, thetas = self._split(params, "Flow.rsample")
        check_noise(eps, mu.shape[0], (self.z_dim,), mu.dtype, "Flow.rsample")
        sigma = np.exp(0.5 * logvar)
        z = eps * sigma
        z += mu
        log_q = -0.5 * (np.einsum("snk,snk->sn", eps, eps) + logvar.sum(-1) + self.z_dim * LOG_2PI)
        tapes = []
        for step, theta in zip(self.steps, thetas):        # the only Python loop: over the K steps
            z, logdet, t = step.forward(z, theta, context)
            log_q -= logdet
            tapes.append(t)
        return z, log_q, (eps, sigma, tapes)

    def backward(self, dz, dlog_q, tape) -> list:
        """Gradients of L for every head (a list in the order of ``self.heads``); fills self.grads.

        log q_K = log q_0 − Σ_k logdet_k, so every step receives dlogdet = −dlog_q,
        and dz walks back through the steps from z_K to z_0. Then the base:
            z_0 = mu + σ eps:             dmu = Σ_s dz_0,   dlogvar = Σ_s dz_0 eps σ/2
            log q_0 = −½ Σ (eps² + logvar + log 2π):   dlogvar −= ½ Σ_s dlog_q
        The context's gradient is the sum over the steps that read it.
        Either of dz, dlog_q may be None (that path is absent).
        """
        eps, sigma, tapes = tape
        S, N, K = eps.shape
        check_grad(dz, eps.shape, "dz", "Flow.backward")
        check_grad(dlog_q, (S, N), "dlog_q", "Flow.backward")
        dz = np.zeros_like(eps) if dz is None else dz
        dlog_q = np.zeros((S, N), dtype=eps.dtype) if dlog_q is None else dlog_q
        dlogdet = -dlog_q
        dcontext = np.zeros((N, self.context_dim), dtype=eps.dtype) if self.context_dim else None
        dthetas = []
        for step, t in zip(reversed(self.steps), reversed(tapes)):
            dz, dtheta, dc = step.backward(dz, dlogdet, t)
            dthetas.append(dtheta)
            if dc is not None:
                dcontext += dc
        dmu = dz.sum(axis=0)
        dlogvar = np.einsum("snk,snk->nk", dz, eps)
        dlogvar *= 0.5 * sigma
        dlogvar -= 0.5 * dlog_q.sum(axis=0)[:, None]
        grads = [dmu, dlogvar] + ([dcontext] if self.context_dim else [])
        for dtheta in reversed(dthetas):
            grads += dtheta
        return grads

    def mean(self, params) -> np.ndarray:
        """A point summary, (N, K): the base mean mu pushed through the flow (eps = 0).

        Not the mean of q_K (that has no closed form), but the image of q_0's
        mode, the natural "code" of x for plots and reconstructions.
        """
        mu = check_heads(params, self.heads, "Flow.mean")[0]
        z, _, _ = self.rsample(params, np.zeros((1,) + mu.shape, dtype=mu.dtype))
        return z[0]


# =============================================================================
# builders
# =============================================================================

def planar_flow(z_dim: int, length: int, *, amortized: bool = True,
                rng: np.random.Generator | None = None, dtype="float32") -> Flow:
    """A base diagonal Gaussian and ``length`` planar steps.

    amortized=True: u, w, b are encoder heads per example; False: learned global arrays
    (rng and dtype are then their initialization and dtype).
    """
    length = check_positive_int(length, "planar_flow", "length")
    return Flow(z_dim, _maybe_global([PlanarStep(z_dim) for _ in range(length)], amortized, rng, dtype))


def radial_flow(z_dim: int, length: int, *, amortized: bool = True,
                rng: np.random.Generator | None = None, dtype="float32") -> Flow:
    """A base diagonal Gaussian and ``length`` radial steps (amortized as in planar_flow)."""
    length = check_positive_int(length, "radial_flow", "length")
    return Flow(z_dim, _maybe_global([RadialStep(z_dim) for _ in range(length)], amortized, rng, dtype))


def _maybe_global(steps, amortized, rng, dtype):
    if not isinstance(amortized, bool):
        raise TypeError(f"amortized must be True or False, got {amortized!r}")
    if amortized:
        return steps
    rng = rng if rng is not None else np.random.default_rng(0)
    return [GlobalStep(s, rng=rng, dtype=dtype) for s in steps]


def iaf_flow(z_dim: int, length: int, *, context_dim: int | None = None, hidden: int | None = None,
             rng: np.random.Generator | None = None, dtype="float32") -> Flow:
    """A base diagonal Gaussian and ``length`` IAF steps, orderings alternating.

    context_dim : size of the encoder's "context" head (default z_dim; 0 for none)
    hidden : MADE hidden width (default 4 · z_dim)
    """
    length = check_positive_int(length, "iaf_flow", "length")
    z_dim = check_positive_int(z_dim, "iaf_flow", "z_dim")
    context_dim = z_dim if context_dim is None else context_dim
    hidden = 4 * z_dim if hidden is None else hidden
    rng = rng if rng is not None else np.random.default_rng(0)
    steps = [IAFStep(z_dim, context_dim, hidden, reverse=bool(k % 2), rng=rng, dtype=dtype)
             for k in range(length)]
    return Flow(z_dim, steps, context_dim=context_dim)
