"""Mixture models fitted by EM, the lecture's baseline before the VAE: the EM loop, its start and its E-step.

A mixture model is the simplest latent-variable model: the latent variable is
one discrete choice, "which component", and each component is a fixed
distribution over all pixels at once::

    c ~ Categorical(pi)                  (pi = weights, shape (K,))
    x | c = k ~ p_k(x)                   pixels independent given k

    log p(x) = logsumexp_k [ log pi_k + log p_k(x) ]          (exact)

A VAE replaces the K fixed components by a continuous z and a decoder network;
comparing the two on the same test digits, in nats, is the point of this package.

The component families (:mod:`numpyvae.baselines.mixture_components`:
diagonal Gaussians for grey levels, independent Bernoulli pixels for binarized
digits) plug into the one EM loop here, :class:`Mixture`.

EM (Dempster, Laird & Rubin, 1977) alternates two steps, each in closed form:

* E-step: responsibilities r_nk = p(c = k | x_n) = softmax_k(log pi_k + log p_k(x_n));
* M-step: maximise sum_n sum_k r_nk [log pi_k + log p_k(x_n)] (+ a log prior)
  over the parameters: weighted counts, means and variances.

Each EM iteration cannot decrease the objective the M-step maximises; each
class says exactly which quantity that is (see ``objective_history``).

Everything is vectorized: the log density of all N examples under all K
components is a few (N, D) @ (D, K) matmuls. The only Python loops are over EM
iterations and, during initialization, over the K components.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int

__all__ = ["Mixture", "check_float"]


# --------------------------------------------------------------------------
# small numerical pieces
# --------------------------------------------------------------------------

def _log_px_and_responsibilities(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-sum-exp over components, and the softmax that falls out of it.

    log_joint : (N, K), log pi_k + log p_k(x_n). Overwritten: it becomes the
    responsibilities, so the E-step allocates no second (N, K) array.

    Returns log_px (N,) and resp (N, K) (the same memory as ``log_joint``).

    Stable form: with m_n = max_k a_nk,
        log sum_k exp(a_nk) = m_n + log sum_k exp(a_nk - m_n),
    where every exp is <= 1 (no overflow) and the largest is exactly 1 (the
    sum cannot underflow to 0, so the log is finite).
    """
    m = log_joint.max(axis=1, keepdims=True)                  # (N, 1)
    resp = np.subtract(log_joint, m, out=log_joint)           # a - m <= 0
    # Why the floor: in 784 dimensions a - m is often -700 or less, and exp()
    # of that is a subnormal float, which CPUs compute (and later multiply)
    # ~20x slower. Raising a - m to log(tiny) + 1 changes exp by < 1e-307
    # (float64; 1e-37 in float32), far below rounding of the terms that count.
    np.maximum(resp, np.log(np.finfo(resp.dtype).tiny) + 1.0, out=resp)
    np.exp(resp, out=resp)
    total = resp.sum(axis=1, keepdims=True)                   # in [1, K]
    resp /= total                                             # softmax: r_nk
    log_px = (m + np.log(total))[:, 0]
    return log_px, resp


def _kmeans_pp_responsibilities(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Hard initial responsibilities from greedy k-means++ seeding.

    k-means++ (Arthur & Vassilvitskii, 2007) picks a first centre uniformly among
    the rows of x, then each next centre with probability proportional to its
    squared distance D^2 to the nearest centre already picked, so far-away
    clusters get a centre early. The greedy variant (their section 6, and
    scikit-learn's default) draws 2 + floor(log K) candidates per step and keeps
    the one that most lowers sum_n D^2: plain k-means++ puts two centres in one
    big cluster too often. Each example is then assigned to its nearest centre:
    resp is one-hot, shape (N, K), and the first M-step turns it into parameters.

    Squared distances come from matmuls: |x - c|^2 = |x|^2 - 2 x.c + |c|^2.
    """
    n = x.shape[0]
    sq = np.einsum("nd,nd->n", x, x)                          # |x_n|^2, (N,)

    def sq_dist(idx):                                         # (N, len(idx)), clipped at 0 (rounding)
        return np.maximum(sq[:, None] - 2.0 * (x @ x[idx].T) + sq[idx][None, :], 0.0)

    n_trials = 2 + int(np.log(k))
    centres = np.empty(k, dtype=np.intp)
    centres[0] = rng.integers(n)
    d2 = sq_dist(centres[:1])[:, 0]                           # D^2 to the nearest centre so far
    for j in range(1, k):                                     # a loop over components, not examples
        p = d2.astype(np.float64)
        total = p.sum()
        # All points coincide with a centre (fewer distinct rows than K): pick uniformly.
        trials = rng.choice(n, size=n_trials, p=p / total) if total > 0 else rng.integers(n, size=n_trials)
        d2_trials = np.minimum(d2[:, None], sq_dist(trials))  # (N, n_trials)
        best = int(d2_trials.sum(axis=0, dtype=np.float64).argmin())
        centres[j] = trials[best]
        d2 = np.ascontiguousarray(d2_trials[:, best])
    resp = np.zeros((n, k), dtype=x.dtype)
    resp[np.arange(n), sq_dist(centres).argmin(axis=1)] = 1.0
    return resp


def check_float(value, where: str, name: str, *, positive: bool) -> float:
    """A finite real number, > 0 if ``positive`` else >= 0; or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where}: {name} must be a real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (positive and v == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{where}: {name} must be finite and {bound}, got {value!r}")
    return v


# --------------------------------------------------------------------------
# the EM loop, shared by both component families
# --------------------------------------------------------------------------

class Mixture:
    """EM loop and public methods; subclasses supply the component family.

    A subclass defines
      _check_values(x, where)        family-specific value checks
      _cache(x)                      per-dataset arrays reused every iteration (or None)
      _log_px_given_k(x, cache)      (N, K) log p_k(x_n)
      _m_step(x, cache, resp)        set the parameters from responsibilities
      _log_prior()                   log prior of the parameters (0 for plain ML)
      _sample_given_k(comp, rng)     (n, D) draws, one per component index
    """

    def __init__(self, n_components, max_iter, tol, n_init, seed, dtype):
        name = type(self).__name__
        self.n_components = check_positive_int(n_components, name, "n_components")
        self.max_iter = check_positive_int(max_iter, name, "max_iter")
        self.n_init = check_positive_int(n_init, name, "n_init")
        self.tol = check_float(tol, name, "tol", positive=False)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{name}: seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.dtype = as_dtype(dtype)
        # The model owns one generator for sample(rng=None); fit() uses a fresh
        # one from the same seed, so fitting twice gives the same bits.
        self._rng = np.random.default_rng(self.seed)
        self.weights: np.ndarray | None = None    # (K,)
        self.means: np.ndarray | None = None      # (K, D)
        self.n_features: int | None = None
        self.history: list[float] = []            # mean train log p(x) per iteration, nats
        self.objective_history: list[float] = []  # the quantity EM cannot decrease (per example)
        self.n_iter = 0
        self.converged = False

    # ---- input checks -----------------------------------------------------

    def _check_input(self, x, where: str, fitting: bool = False) -> np.ndarray:
        """(N, D) finite array -> the model's dtype (one conversion, at the entry).

        Queries need D == n_features; fit (fitting=True) accepts any D."""
        x = check_array(x, where, ndim=2)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{where}: x must have at least one example and one feature, got shape {x.shape}")
        if not fitting and x.shape[1] != self.n_features:
            raise ValueError(f"{where}: x must have {self.n_features} features (the model was fitted on "
                             f"{self.n_features}), got shape {x.shape}")
        self._check_values(x, where)
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _check_fitted(self, where: str) -> None:
        if self.weights is None:
            raise RuntimeError(f"{where}: the model is not fitted yet; call fit(x_train) first")

    def _check_values(self, x: np.ndarray, where: str) -> None:
        pass

    # ---- EM ---------------------------------------------------------------

    def _log_joint(self, x: np.ndarray, cache) -> np.ndarray:
        """(N, K) array of log pi_k + log p_k(x_n). Empty components (pi_k = 0) give -inf."""
        with np.errstate(divide="ignore"):
            log_pi = np.log(self.weights)
        a = self._log_px_given_k(x, cache)
        a += log_pi
        return a

    def fit(self, x: np.ndarray) -> "Mixture":
        """Fit by EM from ``n_init`` seeded k-means++ starts; keep the best. x: (N, D). Returns self.

        EM only finds a local maximum, and one start can put two components in
        one cluster and none in another; restarts make that unlikely. The run
        with the highest final objective is kept, with its own ``history``.
        """
        where = f"{type(self).__name__}.fit"
        x = self._check_input(x, where, fitting=True)
        n = x.shape[0]
        if self.n_components > n:
            raise ValueError(f"{where}: n_components must be <= the number of examples, "
                             f"got n_components={self.n_components} for {n} example(s)")
        self.n_features = x.shape[1]
        cache = self._cache(x)
        rng = np.random.default_rng(self.seed)                # fresh: fitting twice gives the same bits
        best = None
        for _ in range(self.n_init):
            self._em(x, cache, _kmeans_pp_responsibilities(x, self.n_components, rng))
            if best is None or self.objective_history[-1] > best["objective_history"][-1]:
                best = {name: getattr(self, name) for name in self._fitted_names}
        for name, value in best.items():
            setattr(self, name, value)
        return self

    _fitted_names = ("weights", "means", "history", "objective_history", "n_iter", "converged")

    def _em(self, x: np.ndarray, cache, resp: np.ndarray) -> None:
        """Run EM from initial responsibilities resp (N, K); sets parameters and histories.

        Iteration t: M-step (parameters from the current responsibilities), then
        E-step (responsibilities and log p(x) under the new parameters). After
        the E-step, ``history[t]`` is the mean training log p(x) in nats and
        ``objective_history[t]`` the objective EM maximises, per example. Stops
        when the objective improves by less than ``tol`` or after ``max_iter``.
        """
        n = x.shape[0]
        self.history, self.objective_history = [], []
        self.converged = False
        for t in range(self.max_iter):
            self._m_step(x, cache, resp)
            log_px, resp = _log_px_and_responsibilities(self._log_joint(x, cache))
            ll = float(log_px.mean(dtype=np.float64))
            self.history.append(ll)
            self.objective_history.append(ll + self._log_prior() / n)
            self.n_iter = t + 1
            if t > 0 and self.objective_history[-1] - self.objective_history[-2] < self.tol:
                self.converged = True
                break

    # ---- public queries ---------------------------------------------------

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """Per-example log p(x) in nats: logsumexp_k [log pi_k + log p_k(x)]. x: (N, D) -> (N,)."""
        where = f"{type(self).__name__}.log_likelihood"
        self._check_fitted(where)
        x = self._check_input(x, where)
        log_px, _ = _log_px_and_responsibilities(self._log_joint(x, self._cache(x)))
        return log_px

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        """Posterior over components, p(c = k | x_n). x: (N, D) -> (N, K), rows sum to 1."""
        where = f"{type(self).__name__}.responsibilities"
        self._check_fitted(where)
        x = self._check_input(x, where)
        _, resp = _log_px_and_responsibilities(self._log_joint(x, self._cache(x)))
        return resp

    def sample(self, n: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ancestral sampling: c ~ Categorical(weights), then x ~ p_c.

        n : number of samples; rng : a np.random.Generator (default: the model's
        own, seeded from ``seed``). Returns x (n, D) in the model's dtype and
        component (n,) int, the component each row was drawn from.
        """
        where = f"{type(self).__name__}.sample"
        self._check_fitted(where)
        n = check_positive_int(n, where, "n")
        if rng is None:
            rng = self._rng
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"{where}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
        pi = self.weights.astype(np.float64)
        component = rng.choice(self.n_components, size=n, p=pi / pi.sum())
        return self._sample_given_k(component, rng), component
