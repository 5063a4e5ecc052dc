"""One inverse autoregressive flow step (Kingma et al., 2016): a gated update from a MADE net on z and a context."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import check_positive_int
from ...nn.masked import MaskedDense, made_mask
from ...stable import log_sigmoid, sigmoid


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

