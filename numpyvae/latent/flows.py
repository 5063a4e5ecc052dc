"""Normalizing flows: a diagonal Gaussian pushed through K invertible maps.

Change of variables. If z_0 ~ q_0 and z_1 = f(z_0) with f invertible and
smooth, the density of z_1 is q_0 divided by how much f stretches volume:

    log q_1(z_1) = log q_0(z_0) − log |det ∂f/∂z_0|

and for a chain z_K = f_K ∘ … ∘ f_1(z_0) the log-determinants add up:

    log q_K(z_K) = log q_0(z_0) − Σ_k log |det J_k|        (Rezende & Mohamed, 2015)

The family here: q_0 = N(mu, diag(exp(logvar))) reparameterized as
z_0 = mu + exp(logvar/2) ⊙ eps, then K steps of one kind:

* planar   f(z) = z + û tanh(wᵀz + b)                       amortized (u, w, b per example)
* radial   f(z) = z + β h(α, r)(z − z₀), h = 1/(α + r)      amortized (z₀, α', β' per example)
* iaf      z = σ ⊙ z + (1 − σ) ⊙ m, [m, s] = MADE(z, h)     global MADE weights + a per-example
                                                            context h from the encoder

"amortized" means the encoder outputs the step's parameters for every
example (extra heads); "global" means they are learned arrays of the family
(``self.params`` / ``self.grads``, like a layer's), shared by all examples.
Planar and radial support both (amortized by default; wrap a step in
GlobalStep, or pass amortized=False to the builders, for global), IAF the
global one (its MADE weights; its context is amortized).

Every step has the same small contract:

    f, logdet, tape = step.forward(z, theta, context)      z (S, N, D) -> f (S, N, D), logdet (S, N)
    dz, dtheta, dcontext = step.backward(df, dlogdet, tape)

theta is the step's list of head arrays (each (N, size)); dtheta is the list
of their gradients; dcontext is None for steps that do not read the context.
The only Python loop is over the K steps; everything inside is vectorized
over samples and examples.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_positive_int
from ..nn.masked import MaskedDense, made_mask
from ..stable import log_sigmoid, sigmoid, softplus
from .heads import check_grad, check_heads, check_noise

LOG_2PI = float(np.log(2 * np.pi))


# =============================================================================
# planar
# =============================================================================

class PlanarStep:
    """f(z) = z + û h(wᵀz + b), h = tanh; heads u (D), w (D), b (1) per example.

    Invertibility (Rezende & Mohamed, appendix A): along w, wᵀf(z) = wᵀz + (wᵀû) h(wᵀz + b)
    is increasing in wᵀz when wᵀû ≥ −1, because h' ∈ (0, 1]. Any u is mapped to
    such a û by
        û = u + (m(wᵀu) − wᵀu) w / ‖w‖²,   m(a) = −1 + softplus(a) > −1,
    which gives wᵀû = m(wᵀu) exactly.

    Log-determinant: ∂f/∂z = I + û ψᵀ with ψ = h'(wᵀz + b) w, a rank-one update,
    so det = 1 + ûᵀψ = 1 + h'(a) wᵀû = 1 + h'(a) m(wᵀu) > 0 (matrix determinant lemma).
    """

    kind = "planar"

    def __init__(self, dim: int):
        self.dim = D = check_positive_int(dim, "PlanarStep", "dim")
        self.heads = OrderedDict([("u", D), ("w", D), ("b", 1)])
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def named_layers(self):
        return iter(())

    def forward(self, z, theta, context=None):
        """z (S, N, D), theta [u, w (N, D), b (N, 1)] -> f (S, N, D), logdet (S, N), tape."""
        u, w, b = theta
        w2 = np.einsum("nd,nd->n", w, w)                   # ‖w‖²
        if not np.all(w2 > 0):
            raise ValueError("PlanarStep.forward: w is zero for some example; a planar step needs w != 0")
        wu = np.einsum("nd,nd->n", w, u)                   # wᵀu
        m = softplus(wu) - 1                               # m(wᵀu) = wᵀû
        gamma = (m - wu) / w2
        u_hat = u + gamma[:, None] * w
        a = np.einsum("snd,nd->sn", z, w) + b[:, 0]        # wᵀz + b
        h = np.tanh(a)
        hp = 1 - h * h                                     # h'(a) = 1 − tanh²
        f = z + h[..., None] * u_hat
        c = 1 + hp * m                                     # det J = 1 + h'(a) m
        logdet = np.log(c)
        return f, logdet, (z, u, w, w2, wu, m, gamma, u_hat, h, hp, c)

    def backward(self, df, dlogdet, tape):
        """Chain rule through f = z + û h(a) and logdet = log(1 + h'(a) m), a = wᵀz + b.

        f:       dû = Σ_s h df,            dh = dfᵀû,            dz = df (direct)
        logdet:  dc = dlogdet / c;  dm = Σ_s dc h',   dh' = dc m
        h' = 1 − h²:   dh += −2 h dh'
        h = tanh(a):   da = dh h'
        a = wᵀz + b:   dz += da w,   dw = Σ_s da z,   db = Σ_s da
        û = u + γ w:   du = dû,   dw += γ dû,   dγ = dûᵀw
        γ = (m − wᵀu)/‖w‖²:   dm += dγ/‖w‖²,   d(wᵀu) = −dγ/‖w‖²,   d‖w‖² = −dγ γ/‖w‖²
        m = softplus(wᵀu) − 1:   d(wᵀu) += dm sigmoid(wᵀu)
        wᵀu, ‖w‖²:   du += d(wᵀu) w,   dw += d(wᵀu) u + 2 d‖w‖² w
        Returns dz (S, N, D), [du, dw, db], None.
        """
        z, u, w, w2, wu, m, gamma, u_hat, h, hp, c = tape
        du_hat = np.einsum("sn,snd->nd", h, df)
        dh = np.einsum("snd,nd->sn", df, u_hat)
        dc = dlogdet / c
        dm = np.einsum("sn,sn->n", dc, hp)
        dh -= 2 * h * (dc * m[None, :])
        da = dh * hp
        dz = df + da[..., None] * w
        dw = np.einsum("sn,snd->nd", da, z)
        db = da.sum(axis=0)[:, None]
        du = du_hat.copy()
        dw += gamma[:, None] * du_hat
        dgamma = np.einsum("nd,nd->n", du_hat, w)
        dm += dgamma / w2
        dwu = -dgamma / w2
        dw2 = -dgamma * gamma / w2
        dwu += dm * sigmoid(wu)
        du += dwu[:, None] * w
        dw += dwu[:, None] * u + (2 * dw2)[:, None] * w
        return dz, [du, dw, db], None


# =============================================================================
# radial
# =============================================================================

class RadialStep:
    """f(z) = z + β h(α, r)(z − z₀), r = ‖z − z₀‖, h = 1/(α + r); heads z0 (D), alpha (1), beta (1).

    Constraints by construction: α = softplus(α') > 0 and β = −α + softplus(β') > −α,
    which keeps f invertible (Rezende & Mohamed, appendix A).

    Log-determinant. ∂f/∂z = (1 + βh) I + β h'(r) (z − z₀)(z − z₀)ᵀ / r, a scaled
    identity plus rank one, so
        log det = (D − 1) log(1 + βh) + log(1 + βh + βh' r)
    and with h' = −h², 1 + βh + βh'r = 1 + βh(1 − hr) = 1 + β α h² (since 1 − hr = αh).
    """

    kind = "radial"

    def __init__(self, dim: int):
        self.dim = D = check_positive_int(dim, "RadialStep", "dim")
        self.heads = OrderedDict([("z0", D), ("alpha", 1), ("beta", 1)])
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def named_layers(self):
        return iter(())

    def forward(self, z, theta, context=None):
        """z (S, N, D), theta [z0 (N, D), alpha' (N, 1), beta' (N, 1)] -> f, logdet (S, N), tape."""
        z0, alpha_raw, beta_raw = theta
        alpha = softplus(alpha_raw[:, 0])                  # (N,)
        beta = softplus(beta_raw[:, 0]) - alpha
        d = z - z0                                         # (S, N, D)
        r = np.sqrt(np.einsum("snd,snd->sn", d, d))
        h = 1 / (alpha + r)
        bh = beta * h
        f = z + bh[..., None] * d
        c1 = 1 + bh                                        # the D − 1 directions across z − z₀
        c2 = 1 + beta * alpha * h * h                      # the direction along z − z₀
        logdet = (self.dim - 1) * np.log(c1) + np.log(c2)
        return f, logdet, (d, r, h, bh, alpha, beta, c1, c2, alpha_raw, beta_raw)

    def backward(self, df, dlogdet, tape):
        """Chain rule through f = z + βh d (d = z − z₀) and logdet = (D−1) log c1 + log c2.

        f:        dd = βh df,   g = dfᵀd,   dβ = h g,   dh = β g,   dz = df (direct)
        c1 = 1 + βh:        dc1 = (D − 1) dlogdet / c1;   dβ += dc1 h,   dh += dc1 β
        c2 = 1 + βαh²:      dc2 = dlogdet / c2;   dβ += dc2 αh²,   dα = dc2 βh²,   dh += dc2 2βαh
        h = 1/(α + r):      dα −= dh h²,   dr = −dh h²
        r = ‖d‖:            dd += dr d / r
        d = z − z₀:         dz += dd,   dz₀ = −Σ_s dd
        β = softplus(β') − α:   dβ' = Σ_s dβ · sigmoid(β'),   dα −= dβ
        α = softplus(α'):       dα' = Σ_s dα · sigmoid(α')
        (r = 0 exactly has probability zero under continuous noise; there r is
        replaced by the smallest positive float to keep the gradient finite.)
        Returns dz (S, N, D), [dz0, dalpha', dbeta'], None.
        """
        d, r, h, bh, alpha, beta, c1, c2, alpha_raw, beta_raw = tape
        g = np.einsum("snd,snd->sn", df, d)
        dd = bh[..., None] * df
        dbeta = h * g
        dh = beta * g
        dc1 = (self.dim - 1) * dlogdet / c1
        dc2 = dlogdet / c2
        hh = h * h
        dbeta += dc1 * h + dc2 * alpha * hh
        dalpha = dc2 * beta * hh
        dh += dc1 * beta + 2 * dc2 * beta * alpha * h
        dalpha -= dh * hh
        dr = -dh * hh
        dd += (dr / np.maximum(r, np.finfo(r.dtype).tiny))[..., None] * d
        dz = df + dd
        dz0 = -dd.sum(axis=0)
        dbeta = dbeta.sum(axis=0)
        dalpha = dalpha.sum(axis=0) - dbeta
        dalpha_raw = (dalpha * sigmoid(alpha_raw[:, 0]))[:, None]
        dbeta_raw = (dbeta * sigmoid(beta_raw[:, 0]))[:, None]
        return dz, [dz0, dalpha_raw, dbeta_raw], None


# =============================================================================
# inverse autoregressive flow
# =============================================================================

class IAFStep:
    """One IAF step (Kingma et al., 2016), numerically stable gated form.

        hid    = tanh(MaskedDense_z(z) + Dense_h(context))      (S, N, H)
        [m, s] = MaskedDense_out(hid)                           (S, N, D) each
        σ      = sigmoid(s)
        f      = σ ⊙ z + (1 − σ) ⊙ m
        logdet = Σ_d log σ_d

    The MADE masks make m_d and s_d depend only on the z's before d in this
    step's ordering (and on the context), so ∂f/∂z is triangular in that
    ordering with σ on the diagonal: det J = Π σ_d. ``reverse=True`` uses the
    ordering D, …, 1; alternating it between steps lets every dimension
    influence every other one.

    Hidden degrees cycle over 0, 1, …, D−1: a degree-0 unit sees only the
    context and feeds every output, so even the first dimension's m and s
    depend on the context.

    Global parameters (learned arrays of the family): the three layers' W, b.
    The output bias of s starts at ``s_bias`` (σ ≈ 0.73 for 1), so a new step
    starts close to the identity-leaning gate the paper recommends.
    """

    kind = "iaf"

    def __init__(self, dim: int, context_dim: int, hidden: int, *, reverse: bool = False,
                 s_bias: float = 1.0, rng: np.random.Generator | None = None, dtype="float32"):
        self.dim = D = check_positive_int(dim, "IAFStep", "dim")
        self.context_dim = C = int(context_dim)
        if C < 0:
            raise ValueError(f"IAFStep: context_dim must be >= 0, got {context_dim!r}")
        H = check_positive_int(hidden, "IAFStep", "hidden")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.heads: OrderedDict = OrderedDict()
        self.reverse = bool(reverse)
        deg_in = np.arange(D, 0, -1) if reverse else np.arange(1, D + 1)
        deg_h = np.arange(H) % D
        self.degrees = deg_in
        self.z_in = MaskedDense(D, H, made_mask(deg_in, deg_h, strict=False), rng=rng, dtype=dtype)
        self.ctx_in = MaskedDense(C, H, np.ones((C, H)), rng=rng, dtype=dtype) if C else None
        self.out = MaskedDense(H, 2 * D, made_mask(deg_h, np.tile(deg_in, 2), strict=True), rng=rng, dtype=dtype)
        self.out.params["b"][D:] = s_bias

    def named_layers(self):
        yield "z_in", self.z_in
        if self.ctx_in is not None:
            yield "ctx_in", self.ctx_in
        yield "out", self.out

    @property
    def params(self) -> OrderedDict:
        return OrderedDict((f"{ln}.{k}", v) for ln, layer in self.named_layers() for k, v in layer.params.items())

    @property
    def grads(self) -> OrderedDict:
        return OrderedDict((f"{ln}.{k}", v) for ln, layer in self.named_layers() for k, v in layer.grads.items())

    def forward(self, z, theta, context=None):
        """z (S, N, D), theta [] (no per-step heads), context (N, C) or None -> f, logdet (S, N), tape."""
        D = self.dim
        pre, t_z = self.z_in.forward(z)
        t_c = None
        if self.ctx_in is not None:
            c, t_c = self.ctx_in.forward(context)
            pre += c                                       # (N, H) broadcast over samples
        hid = np.tanh(pre)
        out, t_out = self.out.forward(hid)
        m, s = out[..., :D], out[..., D:]
        sig = sigmoid(s)
        f = m + sig * (z - m)                              # σ z + (1 − σ) m
        logdet = log_sigmoid(s).sum(axis=-1)
        return f, logdet, (z, m, sig, hid, t_z, t_c, t_out)

    def backward(self, df, dlogdet, tape):
        """Chain rule through the gated update, then back through the MADE net.

        f = σ z + (1 − σ) m:   dσ = df (z − m),   dm = df (1 − σ),   dz = df σ (direct)
        logdet = Σ log σ, σ = sigmoid(s):   ds = dσ σ(1 − σ) + dlogdet (1 − σ)
        [m, s] = out(hid):    dhid = out.backward([dm, ds])
        hid = tanh(pre):      dpre = dhid (1 − hid²)
        pre = z_in(z) + ctx_in(context):   dz += z_in.backward(dpre),
                                           dcontext = ctx_in.backward(Σ_s dpre)
        The layers write their weight gradients into their grads.
        Returns dz (S, N, D), [], dcontext (N, C) or None.
        """
        z, m, sig, hid, t_z, t_c, t_out = tape
        dsig = df * (z - m)
        dm = df * (1 - sig)
        dz = df * sig
        one_minus = 1 - sig
        ds = dsig * sig * one_minus + dlogdet[..., None] * one_minus
        dhid = self.out.backward(np.concatenate([dm, ds], axis=-1), t_out)
        dpre = dhid * (1 - hid * hid)
        dz += self.z_in.backward(dpre, t_z)
        dcontext = None
        if self.ctx_in is not None:
            dcontext = self.ctx_in.backward(dpre.sum(axis=0), t_c)
        return dz, [], dcontext


# =============================================================================
# global (not amortized) parameters for planar and radial steps
# =============================================================================

class GlobalStep:
    """Wrap a planar or radial step so its parameters are learned arrays shared by all examples.

    The wrapped step's heads become ``self.params`` (one array of shape (size,) per head) and
    the step reads them broadcast to (N, size): every example uses the same map. Backward
    sums the step's per-example gradients over N (each example used the same array):
        grads[name] = Σ_n dtheta[name][n]
    The wrapper asks the encoder for nothing (heads = {}).

    Initial values: small random u, w, z0 (w is never 0), zeros for b, alpha', beta'.
    """

    def __init__(self, step, *, rng: np.random.Generator | None = None, dtype="float32"):
        if not step.heads or step.params:
            raise ValueError(f"GlobalStep: wraps a step with per-example heads and no global parameters "
                             f"(planar, radial), got a {step.kind} step")
        rng = rng if rng is not None else np.random.default_rng(0)
        dtype = as_dtype(dtype)
        self.step, self.kind, self.dim = step, step.kind, step.dim
        self.heads: OrderedDict = OrderedDict()
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()
        for name, size in step.heads.items():
            if name in ("u", "w", "z0"):
                init = 0.1 * rng.standard_normal(size) + (0.5 if name == "w" else 0.0)
            else:
                init = np.zeros(size)
            self.params[name] = init.astype(dtype)
            self.grads[name] = np.zeros(size, dtype=dtype)

    def named_layers(self):
        yield "", self                                     # params/grads live on the wrapper itself

    def forward(self, z, theta, context=None):
        """z (S, N, D) -> f, logdet, tape, with every example using the shared parameters."""
        N = z.shape[1]
        shared = [np.broadcast_to(p, (N, p.size)) for p in self.params.values()]
        return self.step.forward(z, shared, context)

    def backward(self, df, dlogdet, tape):
        """The wrapped step's backward, its per-example dtheta summed over examples into self.grads."""
        dz, dtheta, dcontext = self.step.backward(df, dlogdet, tape)
        for g, d in zip(self.grads.values(), dtheta):
            np.sum(d, axis=0, out=g)
        return dz, [], dcontext


# =============================================================================
# the family
# =============================================================================

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
