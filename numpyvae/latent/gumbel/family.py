"""The Gumbel-softmax (Concrete) family q(z|x): M categorical variables of C classes, relaxed or straight-through."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_array, check_positive_int, check_rng
from ...stable import log_softmax, softmax
from .categorical import one_hot_codes
from .relaxation import check_tau, concrete_log_density, gumbel_noise, gumbel_softmax, gumbel_softmax_backward


class GumbelSoftmax:
    """q(z|x): M independent categorical variables with C classes, relaxed (Gumbel-softmax).

    Parameters
    ----------
    n_vars : int       M, the number of categorical variables (Jang et al.'s MNIST model: 20)
    n_classes : int    C, the classes of each (their model: 10); C ≥ 2
    tau : float        softmax temperature τ > 0; change it during training (``family.tau = ...``,
                       e.g. from :class:`TemperatureSchedule`). Each forward records the τ it used.
    hard : bool        straight-through: z is the one-hot argmax in the forward pass, and the
                       backward pass uses the gradient of the relaxed y as if z were y. This is a
                       BIASED estimator of the gradient (the one-hot forward and the relaxed
                       backward are different functions); it lets the decoder see true
                       one-hot codes during training.

    Interface (the engine contract)::

        family.heads                     {"logits": M·C}
        u = family.draw_noise(rng, S, N, dtype)              (S, N, M, C), U(0, 1)
        z, log_q, tape = family.rsample([logits], u)         z (S, N, M·C), log_q (S, N)
        [dlogits] = family.backward(dz, dlog_q, tape)        dz (S, N, M·C) or None, dlog_q (S, N) or None
        family.mean([logits]) -> (N, M·C)                    softmax probabilities, E[one-hot c]

    log_q is the Concrete log-density of the relaxed y (:func:`concrete_log_density`),
    also with hard=True (the density of the relaxed sample behind the one-hot z). For
    the relaxed ELBO of Jang et al. use the analytic KL :class:`CategoricalUniformKL`.
    """

    name = "gumbel"     # the model's registry names the instance "gumbel:C" or "gumbel-st:C"

    def __init__(self, n_vars: int, n_classes: int, tau: float = 1.0, hard: bool = False):
        self.n_vars = check_positive_int(n_vars, "GumbelSoftmax", "n_vars")
        self.n_classes = check_positive_int(n_classes, "GumbelSoftmax", "n_classes")
        if self.n_classes < 2:
            raise ValueError(f"GumbelSoftmax: n_classes must be >= 2 (a 1-class variable carries nothing), "
                             f"got {n_classes}")
        if not isinstance(hard, (bool, np.bool_)):
            raise TypeError(f"GumbelSoftmax: hard must be True or False, got {hard!r}")
        self.hard = bool(hard)
        self.tau = tau
        self.params: OrderedDict = OrderedDict()     # no learned global parameters
        self.grads: OrderedDict = OrderedDict()

    @property
    def tau(self) -> float:
        """The temperature the next rsample uses."""
        return self._tau

    @tau.setter
    def tau(self, value) -> None:
        self._tau = check_tau(value, "GumbelSoftmax")

    @property
    def heads(self) -> dict:
        """What the encoder must output per example: {"logits": M·C}."""
        return {"logits": self.n_vars * self.n_classes}

    @property
    def z_dim(self) -> int:
        """Width of z, the decoder's input: M·C."""
        return self.n_vars * self.n_classes

    def __repr__(self) -> str:
        return (f"GumbelSoftmax(n_vars={self.n_vars}, n_classes={self.n_classes}, tau={self.tau:g}, "
                f"hard={self.hard})")

    # -- noise ----------------------------------------------------------------
    def draw_noise(self, rng: np.random.Generator, n_samples: int, n: int, dtype="float32") -> np.ndarray:
        """u ~ U(0, 1) of shape (S, N, M, C) in ``dtype``, from ``rng``."""
        check_rng(rng, "GumbelSoftmax.draw_noise")
        S = check_positive_int(n_samples, "GumbelSoftmax.draw_noise", "n_samples")
        N = check_positive_int(n, "GumbelSoftmax.draw_noise", "n")
        return rng.random((S, N, self.n_vars, self.n_classes), dtype=as_dtype(dtype))

    # -- forward --------------------------------------------------------------
    def _logits(self, params, where: str) -> np.ndarray:
        if not isinstance(params, (list, tuple)) or len(params) != 1:
            got = f"a list of {len(params)}" if isinstance(params, (list, tuple)) else type(params).__name__
            raise ValueError(f"{where}: params must be a list with one array [logits], got {got}")
        logits = check_array(params[0], where, ndim=2, last=self.z_dim, name="logits")
        if logits.dtype not in (np.float32, np.float64):
            raise ValueError(f"{where}: logits must be float32 (training) or float64 (gradient checks), "
                             f"got {logits.dtype.name}")
        return logits

    def rsample(self, params, u: np.ndarray):
        """z, log_q, tape from params = [logits (N, M·C)] and noise u (S, N, M, C).

        z = softmax((logits + g)/τ) flattened to (S, N, M·C), with g = −log(−log u);
        with hard=True z is instead the one-hot argmax of the same y.
        log_q (S, N) is the Concrete log-density of the relaxed y.
        """
        where = "GumbelSoftmax.rsample"
        logits = self._logits(params, where)
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        check_array(u, where, ndim=4, dtype=logits.dtype, name="u")
        if u.shape[1:] != (N, M, C):
            raise ValueError(f"{where}: u must have shape (S, {N}, {M}, {C}) for {N} examples of "
                             f"{M} variables x {C} classes, got {u.shape}")
        if u.size and (u.min() < 0.0 or u.max() > 1.0):
            raise ValueError(f"{where}: u must be uniform noise in [0, 1], got values in "
                             f"[{u.min():.4g}, {u.max():.4g}]")
        tau = self.tau
        eps = float(np.finfo(logits.dtype).eps)
        if tau < eps:
            # below machine epsilon y is the one-hot to working precision and its gradient
            # scales as 1/τ, which overflows float32 for tiny τ: refuse rather than return inf
            raise ValueError(f"{where}: tau={tau:g} is below the machine epsilon of {logits.dtype.name} "
                             f"({eps:.3g}); use tau >= {eps:.3g} or hard=True")
        S = u.shape[0]
        g, e = gumbel_noise(u)
        y, log_y = gumbel_softmax(logits.reshape(N, M, C), g, tau)
        log_q = concrete_log_density(log_y, g, e, tau)
        if self.hard:
            z = np.zeros_like(y)
            np.put_along_axis(z, y.argmax(axis=-1)[..., None], 1.0, axis=-1)   # argmax y = argmax (a + g)
        else:
            z = y
        tape = {"y": y, "tau": tau, "shape": (S, N, M, C)}
        return z.reshape(S, N, M * C), log_q, tape

    # -- backward -------------------------------------------------------------
    def backward(self, dz, dlog_q, tape) -> list:
        """[dlogits (N, M·C)]: the path through z plus the path through log_q, noise held fixed.

        Through z (also for hard=True, the straight-through rule dy := dz):
            da_j = y_j (dz_j − Σ_i y_i dz_i) / τ            (gumbel_softmax_backward)
        Through log_q = … − Σ_c log y_c + (terms of u only), with
        ∂ log y_c/∂a_j = (δ_cj − y_j)/τ:
            ∂ log_q/∂a_j = −Σ_c (δ_cj − y_j)/τ = (C y_j − 1)/τ
        (summing to 0 over j: shifting all logits changes nothing). Both are summed
        over the S samples, which share the logits.
        """
        where = "GumbelSoftmax.backward"
        y, tau = tape["y"], tape["tau"]
        S, N, M, C = tape["shape"]
        da = np.zeros_like(y)
        if dz is not None:
            check_array(dz, where, ndim=3, dtype=y.dtype, finite=False, name="dz")
            if dz.shape != (S, N, M * C):
                raise ValueError(f"{where}: dz must have z's shape {(S, N, M * C)}, got {dz.shape}")
            da += gumbel_softmax_backward(dz.reshape(S, N, M, C), y, tau)
        if dlog_q is not None:
            check_array(dlog_q, where, ndim=2, dtype=y.dtype, finite=False, name="dlog_q")
            if dlog_q.shape != (S, N):
                raise ValueError(f"{where}: dlog_q must have log_q's shape {(S, N)}, got {dlog_q.shape}")
            # dlog_q · (C y − 1)/τ = y · (C dlog_q/τ) − dlog_q/τ, with one (S, N, M, C) temporary
            w = dlog_q[..., None, None] / tau
            da += y * (C * w)
            da -= w
        return [da.sum(axis=0).reshape(N, M * C)]

    # -- the unrelaxed categorical, for importance sampling ----------------------
    def discrete_sample(self, params, u: np.ndarray):
        """Exact draws of the categorical q(c|x) itself from the same noise u (S, N, M, C), and their log-probability.

        Gumbel-max: c_m = argmax_j (a_mj + g_mj), g = −log(−log u), is distributed as Cat(softmax(a_m))
        (the relaxation's τ → 0 limit). Returns one-hot codes (S, N, M·C) and
        log q(c|x) = Σ_m log softmax(a_m)[c_m], (S, N): an importance-sampling proposal with a
        probability mass, where the relaxed z has none under the discrete prior.
        """
        where = "GumbelSoftmax.discrete_sample"
        logits = self._logits(params, where)
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        check_array(u, where, ndim=4, dtype=logits.dtype, name="u")
        if u.shape[1:] != (N, M, C):
            raise ValueError(f"{where}: u must have shape (S, {N}, {M}, {C}), got {u.shape}")
        a = logits.reshape(N, M, C)
        g, _ = gumbel_noise(u)
        codes = (a + g).argmax(axis=-1)                                 # (S, N, M)
        log_q = np.take_along_axis(log_softmax(a)[None], codes[..., None], axis=-1)[..., 0].sum(axis=-1)
        z = np.zeros(u.shape, dtype=logits.dtype)
        np.put_along_axis(z, codes[..., None], 1.0, axis=-1)
        return z.reshape(u.shape[0], N, M * C), log_q

    # -- summaries ------------------------------------------------------------
    def mean(self, params) -> np.ndarray:
        """softmax(logits) per variable, (N, M·C): the mean of the one-hot categorical c ~ q(c|x)."""
        logits = self._logits(params, "GumbelSoftmax.mean")
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        return softmax(logits.reshape(N, M, C)).reshape(N, M * C)

    def mode(self, params) -> np.ndarray:
        """The most probable code as one-hot z (N, M·C): argmax of the logits per variable."""
        logits = self._logits(params, "GumbelSoftmax.mode")
        N, M, C = logits.shape[0], self.n_vars, self.n_classes
        return one_hot_codes(logits.reshape(N, M, C).argmax(axis=-1), C, logits.dtype)
