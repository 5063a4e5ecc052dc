"""The VampPrior (Tomczak & Welling, 2018): p(z) = (1/C) Σ_c q(z | u_c) at learned pseudo-inputs, and its density for one step."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_array, check_positive_int, check_rng
from .arguments import check_dlog_p, check_sample_count, flatten_z
from .mixture import check_components, mixture_backward, mixture_log_prob, sample_mixture


class UniformMixture:
    """p(z) = (1/C) Σ_c N(z; mu_c, diag e^{logvar_c}) with given components: a VampPrior's density for one step.

    Made by :meth:`VampMixture.given` from the encoder's (mu_u, logvar_u) (C, K). Follows the
    prior contract: ``log_prob(z)``, ``backward(dlog_p, tape) -> dz``, ``sample(n, rng, dtype)``;
    its parameters are the components, ``params = {"mu", "logvar"}``, and backward writes
    ∂L/∂mu, ∂L/∂logvar into ``grads`` (same names, the order of the encoder's heads).
    """

    name = "vamp"
    encoded = None

    def __init__(self, mu: np.ndarray, logvar: np.ndarray, *, z_dim: int, n_components: int, dtype=None):
        where = "VampMixture.given"
        C = check_components(mu, logvar, z_dim, where, dtype)
        if C != n_components:
            raise ValueError(f"{where}: mu and logvar must have one row per component ({n_components}), got {C}")
        self.z_dim, self.dtype = z_dim, mu.dtype
        self.params = OrderedDict(mu=mu, logvar=logvar)
        self.grads = OrderedDict((name, np.zeros_like(p)) for name, p in self.params.items())

    def components(self):
        """(mu (C, K), logvar (C, K), log weights (C,), all −log C)."""
        mu, logvar = self.params.values()
        return mu, logvar, np.full(mu.shape[0], -np.log(mu.shape[0]), dtype=self.dtype)

    def log_prob(self, z: np.ndarray) -> tuple[np.ndarray, tuple]:
        """log p(z) = logsumexp_c log N(z; mu_c, e^{logvar_c}) − log C: z (S, N, K) or (N, K) -> (S, N) or (N,)."""
        z2 = flatten_z(z, self.z_dim, "VampMixture.log_prob", self.dtype)
        mu, logvar = self.params.values()
        C = mu.shape[0]
        log_pi = np.full(C, -np.log(C), dtype=self.dtype)   # uniform weights 1/C
        log_p, mix_tape = mixture_log_prob(z2, log_pi, mu, logvar)
        return log_p.reshape(z.shape[:-1]), (z.shape, mix_tape)

    def backward(self, dlog_p: np.ndarray, tape: tuple) -> np.ndarray:
        """Return dz like z; write ∂L/∂mu, ∂L/∂logvar (C, K) into ``grads`` (see :func:`mixture_backward`).

        The weights 1/C are fixed, so the gradient w.r.t. log π is not needed. The model
        sends ``grads`` back through its encoder to the pseudo-inputs.
        """
        z_shape, mix_tape = tape
        g = check_dlog_p(dlog_p, z_shape[:-1], "VampMixture.backward")
        dz, dmu, dlogvar, _ = mixture_backward(g, mix_tape)
        self.grads["mu"][...] = dmu
        self.grads["logvar"][...] = dlogvar
        return dz.reshape(z_shape)

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n exact draws (n, K): c uniform on the C components, then z ~ N(mu_c, e^{logvar_c})."""
        where = "VampMixture.sample"
        n = check_sample_count(n, where)
        rng = check_rng(rng, where)
        mu, logvar = self.params.values()
        return sample_mixture(n, rng, np.full(mu.shape[0], 1.0 / mu.shape[0]), mu, logvar, as_dtype(dtype))


class VampMixture:
    """The VampPrior: p(z) = (1/C) Σ_c q(z | u_c), the encoder's posteriors at C learned pseudo-inputs u_c.

    In a VampPrior (Tomczak & Welling, 2018) the components are (mu_c, logvar_c) = encoder(u_c).
    The prior owns u, ``params["pseudo_inputs"]``; the model owns the encoder, so the
    density needs one explicit step (``encoded`` names the parameter the encoder reads):

        u = prior.params[prior.encoded]                           # (C, D)
        (mu_u, logvar_u), enc_tape_u = encoder.forward(u)         # (C, K) each
        density = prior.given(mu_u, logvar_u)                     # a UniformMixture
        log_p, tape = density.log_prob(z)                         # (S, N)
        ...
        dz = density.backward(dlog_p, tape)                       # writes density.grads
        du = encoder.backward(list(density.grads.values()), enc_tape_u, accumulate=True)
        prior.grads[prior.encoded][...] = du

    The encoder's gradient from the pseudo-inputs adds to its gradient from the data
    (accumulate=True): one network, used twice in a step. ``log_prob``, ``backward`` and
    ``sample`` on the prior itself refuse, naming this step.

    Parameters
    ----------
    z_dim : K;  n_components : C (500 in the paper)
    x_dim : D, optional — if given, the prior owns the pseudo-inputs as
        ``params["pseudo_inputs"]`` (C, D) with a matching ``grads`` entry, initialized
        N(pseudo_mean, pseudo_std²); set them from data with :meth:`set_pseudo_inputs`.
        (Tomczak & Welling's code, jmtomczak/vae_vampprior, draws them N(0.05, 0.01²): the
        argparse default −0.05 is overwritten by 0.05 in utils/load_data.py; it squashes them
        onto [0, 1] with a hardtanh, which is not done here: on the digits they stayed
        within [−0.03, 1.02], tutorials/reference/deeper-models-and-learned-priors.md.)
    rng : np.random.Generator for that initialization (default seed 0)
    dtype : "float32" | "float64" — of z, mu, logvar and the pseudo-inputs
    """

    name = "vamp"
    encoded = "pseudo_inputs"

    def __init__(self, z_dim: int, n_components: int, *, x_dim: int | None = None,
                 rng: np.random.Generator | None = None, dtype="float32",
                 pseudo_mean: float = 0.05, pseudo_std: float = 0.01):
        self.z_dim = check_positive_int(z_dim, "VampMixture", "z_dim")
        self.n_components = check_positive_int(n_components, "VampMixture", "n_components")
        self.dtype = as_dtype(dtype)
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        if x_dim is not None:
            x_dim = check_positive_int(x_dim, "VampMixture", "x_dim")
            rng = check_rng(rng if rng is not None else np.random.default_rng(0), "VampMixture")
            u = pseudo_mean + pseudo_std * rng.standard_normal((self.n_components, x_dim))
            self.params["pseudo_inputs"] = u.astype(self.dtype)
            self.grads["pseudo_inputs"] = np.zeros_like(self.params["pseudo_inputs"])

    def __repr__(self) -> str:
        return f"VampMixture(z_dim={self.z_dim}, n_components={self.n_components}, dtype={self.dtype.name})"

    def set_pseudo_inputs(self, u: np.ndarray) -> None:
        """Copy u (C, D) into the pseudo-inputs in place (e.g. C random training images)."""
        if "pseudo_inputs" not in self.params:
            raise ValueError("VampMixture.set_pseudo_inputs: this prior has no pseudo-inputs; "
                             "create it with x_dim=D")
        target = self.params["pseudo_inputs"]
        check_array(u, "VampMixture.set_pseudo_inputs", ndim=2, last=target.shape[1], name="u")
        if u.shape != target.shape:
            raise ValueError(f"VampMixture.set_pseudo_inputs: u must have shape {target.shape} "
                             f"(n_components, x_dim), got {u.shape}")
        target[...] = u

    def given(self, mu: np.ndarray, logvar: np.ndarray) -> UniformMixture:
        """The density for these components: mu, logvar (C, K), the encoder's q(z | u_c) -> a UniformMixture
        (in the components' dtype; its log_prob takes z of that dtype)."""
        return UniformMixture(mu, logvar, z_dim=self.z_dim, n_components=self.n_components)

    def _refuse(self, what: str):
        raise ValueError(f"VampMixture.{what}: the VampPrior's components are the encoder's q(z | u_c) at its "
                         f"pseudo-inputs; hand them over first: prior.given(mu_u, logvar_u).{what}(...) "
                         f"(a model does it in prior_density())")

    def log_prob(self, z):
        self._refuse("log_prob")

    def backward(self, dlog_p, tape):
        self._refuse("backward")

    def sample(self, n, rng, dtype="float32"):
        self._refuse("sample")
