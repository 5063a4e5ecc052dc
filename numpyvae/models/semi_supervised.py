"""Semi-supervised learning with the M2 model (Kingma, Rezende, Mohamed & Welling 2014), by hand.

The generative model: a label y ~ Cat(1/C), a latent z ~ p(z), then x ~ p(x | z, y).
Inference: a classifier q(y|x) and the conditional encoder q(z|x, y). The pieces are
a conditional :class:`numpyvae.models.vae.VAE` (n_labels = C: its bound is L(x, y)) and an MLP
classifier with C logits a(x), q(y|x) = softmax(a(x)).

For a labeled pair (x, y), the bound on log p(x, y) plus the classification term
(the paper's α; Kingma's code: α = 0.1·N/N_l, see below):

    J_l(x, y) = L(x, y) + α log q(y|x),       L(x, y) = ELBO of log p(x|y) + log p(y),  log p(y) = −log C

For an unlabeled x, y is a latent variable summed out by enumeration (no sampling):

    U(x) = Σ_y q(y|x) L(x, y) + H(q(y|x)) = Σ_y q_y (L_y − log q_y)

The loss of a step with a labeled batch (B_l examples) and an unlabeled batch (B_u) is a weighted sum,

    loss = −( w_l Σ_l J_l + w_u Σ_u U ),

with w_l = 1/B_l, w_u = 1/B_u (two batch means) unless the caller passes other weights. Kingma's
code (dpkingma/nips14-ssl, learn_yz_x_ss.py) uses the *paper's weighting*: every step holds
N_l/S labeled and N_u/S unlabeled examples (S steps an epoch, N = N_l + N_u), both sums weighted
w_l = w_u = S/N, so an epoch's steps add up to the whole training set's objective per example,
and α = α₀·N/N_l with α₀ = 0.1 (``paper_alpha``, ``paper_batches``). Over an epoch, log q(y|x)
of a labeled example then weighs α₀·N/N_l = 9 times the bound U of an unlabeled one (9,000 digits,
100 labels). Two batch means of B examples each with α = 0.1·N, cycling the labels so each
is seen S·B/N_l times an epoch, weigh it α·S·B/N_l = 0.1·N·N_u/N_l = 80,100 times instead.
Every gradient is written out below; the VAE's own backward takes the weight of each
of its bounds (``dbound``), so the enumeration needs no new code inside the VAE.

The start matters as much as the weighting: Kingma's code draws every weight from N(0, 0.001²) and
uses softplus (``init="kingma"``, ``activation="softplus"``). From a fan-in-scaled start (He, ReLU)
the decoder learns to use y far more slowly (on a validation split of the digits, argmax_y L(x, y)
was wrong for 57 % of the digits after 60 epochs, against 56 % after 14 from Kingma's start), and
while it barely does, the unlabeled bound, whose optimum is q(y|x) = softmax_y L(x, y), pulls the
classifier towards the decoder's weak guess. That error is :func:`generative_error`. Even from Kingma's
start the decoder later moves the digit from y into z as its bound improves (150 epochs on the digits:
argmax_y L(x, y) wrong for 44 % at epoch 50, 56 % at 150): U prefers the class in y only where
encoding it in z costs more than log C nats of KL (README, "Semi-supervised M2").
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..checks import as_dtype, check_array, check_positive_int
from ..nn import MLP, named_arrays, pack_layers
from ..stable import log_softmax
from .vae import VAE

__all__ = ["M2", "M2Tape", "log_softmax", "enumerated_bound", "enumerated_bound_backward", "paper_alpha",
           "paper_batches", "generative_error", "ClassifierAlone"]


def enumerated_bound(L: np.ndarray, logits: np.ndarray):
    """U = Σ_y q_y (L_y − log q_y), q = softmax(logits): the unlabeled bound. L, logits (N, C) -> U (N,), tape.

    Σ_y q_y L_y is the expected bound under the classifier; −Σ_y q_y log q_y = H(q) its entropy.
    """
    log_q = log_softmax(logits)
    q = np.exp(log_q)
    U = np.einsum("nc,nc->n", q, L - log_q)
    return U, (L, q, log_q, U)


def enumerated_bound_backward(dU: np.ndarray, tape):
    """(dL, dlogits), each (N, C), for the upstream dU (N,).

    ∂U/∂L_y = q_y.
    Through the logits, with ∂q_y/∂a_j = q_y (δ_yj − q_j) and ∂log q_y/∂a_j = δ_yj − q_j:
        ∂U/∂a_j = Σ_y q_y (δ_yj − q_j)(L_y − log q_y) − Σ_y q_y (δ_yj − q_j)
                = q_j (L_j − log q_j) − q_j U − (q_j − q_j)
                = q_j (L_j − log q_j − U)
    (the entropy's own term −Σ_y q_y ∂log q_y/∂a_j vanishes: Σ_y q_y = 1).
    """
    L, q, log_q, U = tape
    dL = q * dU[:, None]
    da = L - log_q
    da -= U[:, None]
    da *= dL
    return dL, da


def paper_alpha(n_total: int, n_labeled: int, alpha0: float = 0.1) -> float:
    """α = α₀·N/N_l: the weight of log q(y|x) on each labeled sum term (Kingma's code: beta = alpha·n_tot/n_labeled)."""
    return alpha0 * n_total / n_labeled


def paper_batches(n_labeled: int, n_unlabeled: int, batch_size: int, rng: np.random.Generator):
    """One epoch of Kingma's batch composition: a list of (labeled indices, unlabeled indices, (w_l, w_u)).

    S = max(1, n_unlabeled // batch_size) steps; both sets are shuffled and cut into S nearly equal
    parts (np.array_split), so step s holds about N_l/S labeled and N_u/S unlabeled examples and each
    example is seen once an epoch. w_l = w_u = S/N: the S sums add up to the objective per training
    example, as ``f = (ΣL_l + ΣL_u)·n_minibatches / n_tot`` in learn_yz_x_ss.py. (Kingma needs N_l and
    N_u divisible by S; array_split lets the counts differ by one, so the sums stay unbiased per epoch.)
    """
    S = max(1, n_unlabeled // batch_size)
    w = S / (n_labeled + n_unlabeled)
    parts_l = np.array_split(rng.permutation(n_labeled), S)
    parts_u = np.array_split(rng.permutation(n_unlabeled), S)
    return [(l, u, (w, w)) for l, u in zip(parts_l, parts_u)]


def generative_error(model, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, batch_size: int = 100,
                     n_samples: int = 10) -> float:
    """Error of argmax_y L(x, y), the label under which the conditional VAE explains x best: in [0, 1].

    A cheap progress signal for M2 (no classifier involved): while the decoder ignores y, every
    label explains x about equally well and this error stays near 1 − 1/C. L(x, y) is the ELBO
    averaged over ``n_samples`` draws of the noise, the *same* draws for every label (common random
    numbers): what ranks the labels is the difference L(x, y) − L(x, y'), and one independent draw per
    label buries it under the ELBO's own Monte Carlo spread (about 6 nats per label in an M2 run on the
    digits). Measured on a conditional VAE trained 6 epochs with every label (mean gap 2.8 nats): error
    85 % with one independent draw per label, 51 % with one common draw, 29 % with ten common draws.
    x (N, D), y (N,) integer labels.
    """
    y = model._labels(y, x.shape[0], "generative_error")
    n_samples = check_positive_int(n_samples, "generative_error", "n_samples")
    C, wrong = model.n_classes, 0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        n = xb.shape[0]
        eps = model.shared_noise(model.vae.noise(rng, n_samples, n))                 # (S, C·n, ...)
        L = model.vae.forward(np.tile(xb, (C, 1)), eps, y=np.repeat(np.arange(C), n))["bound"]
        wrong += int(np.sum(L.reshape(C, n).argmax(0) != y[i:i + n]))
    return wrong / x.shape[0]


class M2Tape(dict):
    """The record of one M2 forward: the VAE's tapes, the classifier's, q, the bounds; ``loss``, ``parts``."""

    loss: float
    parts: dict


class M2:
    """The M2 model: a conditional VAE p(x|z, y) q(z|x, y) and a classifier q(y|x).

    Parameters
    ----------
    x_dim : int                 D
    n_classes : int             C, the labels 0..C−1
    hidden, z_dim, likelihood, activation, posterior, prior : the conditional VAE's (see VAE)
    classifier_hidden : list    hidden sizes of the classifier MLP x -> C logits
    alpha : float               weight of log q(y|x) on each labeled example (Kingma's code: 0.1·N/N_l, paper_alpha)
    init : str or None          initializer of every Dense layer of both networks (None: by activation, as MLP);
                                "kingma" is Kingma's N(0, 0.001²)
    seed, dtype                 as for the VAE

    ``params`` / ``grads``: every parameter ("vae.encoder.0.W", ..., "classifier.0.W", ...), views
    into one flat buffer each (``flat_params``, ``flat_grads``), for an optimizer.
    """

    def __init__(self, x_dim: int, n_classes: int = 10, hidden=(500,), z_dim: int = 50,
                 classifier_hidden=(500,), likelihood: str = "bernoulli", activation: str = "relu",
                 alpha: float = 1.0, seed: int = 0, dtype="float32", posterior: str = "gaussian",
                 prior: str = "standard", init: str | None = None):
        self.dtype = as_dtype(dtype)
        self.n_classes = check_positive_int(n_classes, "M2", "n_classes")
        if self.n_classes < 2:
            raise ValueError(f"M2: n_classes must be >= 2, got {n_classes}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"M2: alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.vae = VAE(x_dim, hidden, z_dim, likelihood, activation, seed, self.dtype, posterior=posterior,
                       prior=prior, n_labels=self.n_classes, init=init)
        self.x_dim = self.vae.x_dim
        sizes = [self.x_dim, *[check_positive_int(h, "M2", "classifier_hidden size") for h in classifier_hidden],
                 self.n_classes]
        self.classifier = MLP(sizes, activation, final_activation=False, rng=np.random.default_rng([seed, 6]),
                              dtype=self.dtype, pack=False, init=init)
        # one flat buffer for both networks; the VAE's views are refreshed to point into it
        layers = [(f"vae.{n}", l) for n, l in self.vae.named_layers()] + list(self.classifier.named_layers("classifier."))
        self.flat_params, self.flat_grads = pack_layers(layers)
        self.params, self.grads = named_arrays(layers, "params"), named_arrays(layers, "grads")
        n_vae = sum(a.size for a in self.vae.params.values())
        self.vae.flat_params, self.vae.flat_grads = self.flat_params[:n_vae], self.flat_grads[:n_vae]
        self.vae.params = named_arrays(self.vae.named_layers(), "params")
        self.vae.grads = named_arrays(self.vae.named_layers(), "grads")
        self.rng = self.vae.rng

    # ---- labels and the classifier ------------------------------------------------

    def _labels(self, y, n: int, where: str) -> np.ndarray:
        y = np.asarray(y)
        if y.dtype.kind not in "iu" or y.shape != (n,):
            raise ValueError(f"{where}: y must be {n} integer labels, got dtype {y.dtype.name} shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"{where}: labels y must lie in 0..{self.n_classes - 1}, got values in "
                             f"[{y.min()}, {y.max()}]")
        return y

    def classify(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """argmax_y q(y|x) for every row of x (N, D) -> (N,) integer labels."""
        check_array(x, "M2.classify", ndim=2, last=self.x_dim, dtype=self.dtype)
        return np.concatenate([self.classifier.forward(x[i:i + batch_size])[0].argmax(-1)
                               for i in range(0, x.shape[0], batch_size)])

    def test_error(self, x: np.ndarray, y: np.ndarray) -> float:
        """The classifier's error rate on (x, y), in [0, 1]."""
        y = self._labels(y, x.shape[0], "M2.test_error")
        return float(np.mean(self.classify(x) != y))

    # ---- forward and backward -----------------------------------------------------

    def forward(self, x_l=None, y_l=None, x_u=None, eps_l=None, eps_u=None, weights=None) -> M2Tape:
        """loss = −(w_l Σ_l J_l + w_u Σ_u U) for a labeled batch (x_l (N_l, D), y_l (N_l,)) and an unlabeled
        batch x_u (N_u, D); either may be None (then its part is 0). weights = (w_l, w_u), two numbers;
        None: (1/N_l, 1/N_u), the two batch means (the paper's: ``paper_batches``). eps_l (S, N_l, ...) and
        eps_u (S, C·N_u, ...): the VAE's noise (the unlabeled rows are x_u repeated once per class,
        class-major: row c·N_u + n is (x_u[n], y = c)); drawn from the model's generator if None.
        """
        if x_l is None and x_u is None:
            raise ValueError("M2.forward: give a labeled batch (x_l, y_l), an unlabeled batch x_u, or both")
        C, log_prior_y = self.n_classes, -math.log(self.n_classes)
        t = M2Tape()
        t.loss, parts, xs = 0.0, {}, []
        w_l, w_u = self._weights(weights, x_l, x_u)
        if x_l is not None:
            check_array(x_l, "M2.forward", ndim=2, last=self.x_dim, dtype=self.dtype, name="x_l")
            y_l = self._labels(y_l, x_l.shape[0], "M2.forward")
            t["vae_l"] = self.vae.forward(x_l, eps_l, y=y_l)                 # L(x, y) − log p(y)
            xs.append(x_l)
        if x_u is not None:
            check_array(x_u, "M2.forward", ndim=2, last=self.x_dim, dtype=self.dtype, name="x_u")
            N_u = x_u.shape[0]
            x_rep = np.tile(x_u, (C, 1))                                     # (C·N_u, D), class-major
            t["vae_u"] = self.vae.forward(x_rep, eps_u, y=np.repeat(np.arange(C), N_u))
            xs.append(x_u)
        logits, t["_cls"] = self.classifier.forward(xs[0] if len(xs) == 1 else np.concatenate(xs))
        n_l = 0 if x_l is None else x_l.shape[0]
        if x_l is not None:
            log_q_l = log_softmax(logits[:n_l])
            log_q_y = log_q_l[np.arange(n_l), y_l]                           # log q(y|x) at the given label
            J_l = t["vae_l"]["bound"] + log_prior_y + self.alpha * log_q_y
            t.update(y_l=y_l, q_l=np.exp(log_q_l))
            t.loss -= w_l * float(J_l.sum())
            parts.update(labeled_bound=float(t["vae_l"]["bound"].mean() + log_prior_y),
                         log_q_y=float(log_q_y.mean()))
        if x_u is not None:
            L = t["vae_u"]["bound"].reshape(C, N_u).T + log_prior_y         # L(x, y) per example and class, (N_u, C)
            U, t["_enum"] = enumerated_bound(L, logits[n_l:])
            t.loss -= w_u * float(U.sum())
            q = t["_enum"][1]
            parts.update(unlabeled_bound=float(U.mean()),
                         entropy=float(-np.einsum("nc,nc->n", q, t["_enum"][2]).mean()))
        # the protocol's per-example bound, labelled rows first (J_l, then U), as the classifier saw them
        t["bound"] = np.concatenate(([J_l] if x_l is not None else []) + ([U] if x_u is not None else []))
        t.update(n_l=n_l, logits=logits, w_l=w_l, w_u=w_u)
        t.parts = {"loss": t.loss, **parts}
        return t

    def backward(self, t: M2Tape):
        """Fill and return ``self.grads`` with ∂loss/∂θ for the tape's loss.

        VAE, labeled: ∂loss/∂L(x_n, y_n) = −w_l for each labeled example.
        VAE, unlabeled: ∂loss/∂L(x_n, c) = −w_u q_nc (enumerated_bound_backward's dL with dU = −w_u).
        Classifier, labeled: ∂(α log q_y)/∂a_j = α (δ_jy − q_j), times −w_l.
        Classifier, unlabeled: enumerated_bound_backward's dlogits with dU = −w_u.
        The VAE's two backward passes overwrite its gradients, so the first is kept and added.
        """
        n_l, logits = t["n_l"], t["logits"]
        dlogits = np.empty_like(logits)
        vae_grads = None
        if "vae_l" in t:
            dbound = np.full(n_l, -t["w_l"], dtype=self.dtype)
            self.vae.backward(t["vae_l"], dbound=dbound)
            d = t["q_l"] * self.alpha                                        # −α w_l (δ_jy − q_j)
            d[np.arange(n_l), t["y_l"]] -= self.alpha
            dlogits[:n_l] = d * t["w_l"]
            if "vae_u" in t:
                vae_grads = self.vae.flat_grads.copy()
        if "vae_u" in t:
            N_u = logits.shape[0] - n_l
            dL, dlogits[n_l:] = enumerated_bound_backward(np.full(N_u, -t["w_u"], dtype=self.dtype), t["_enum"])
            self.vae.backward(t["vae_u"], dbound=np.ascontiguousarray(dL.T).reshape(-1))
            if vae_grads is not None:
                self.vae.flat_grads += vae_grads
        self.classifier.backward(dlogits, t["_cls"], need_dx=False)
        return self.grads

    def shared_noise(self, eps: np.ndarray) -> np.ndarray:
        """The noise of N examples, (S, N, ...), repeated for each of the C labels: (S, C·N, ...), class-major."""
        return np.tile(eps, (1, self.n_classes) + (1,) * (eps.ndim - 2))

    @staticmethod
    def _weights(weights, x_l, x_u):
        """(w_l, w_u): the given pair, checked, or the two batch means' 1/N_l, 1/N_u."""
        if weights is None:
            return (0.0 if x_l is None else 1.0 / x_l.shape[0]), (0.0 if x_u is None else 1.0 / x_u.shape[0])
        if len(weights) != 2 or not all(isinstance(w, (int, float)) and math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(f"M2.forward: weights must be two finite numbers >= 0 (w_l, w_u), got {weights!r}")
        return float(weights[0]), float(weights[1])

    def loss_and_grads(self, x_l=None, y_l=None, x_u=None, eps_l=None, eps_u=None, weights=None):
        """(loss, grads) of one step; grads are the live ``self.grads`` buffers."""
        t = self.forward(x_l, y_l, x_u, eps_l, eps_u, weights)
        self.last_parts = t.parts
        return t.loss, self.backward(t)


class ClassifierAlone:
    """The M2 classifier network trained on the labeled examples alone (cross-entropy): the baseline."""

    def __init__(self, x_dim: int, n_classes: int = 10, classifier_hidden=(500,), activation: str = "relu",
                 seed: int = 0, dtype="float32", init: str | None = None):
        self.dtype, self.n_classes = as_dtype(dtype), n_classes
        self.classifier = MLP([x_dim, *classifier_hidden, n_classes], activation, final_activation=False,
                              rng=np.random.default_rng([seed, 6]), dtype=self.dtype, init=init)
        self.params, self.grads = self.classifier.params, self.classifier.grads

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray):
        """Mean cross-entropy −log q(y|x) and its gradient: ∂/∂a_j = (q_j − δ_jy)/N."""
        logits, tape = self.classifier.forward(x)
        log_q = log_softmax(logits)
        n = x.shape[0]
        loss = -float(log_q[np.arange(n), y].mean())
        d = np.exp(log_q)
        d[np.arange(n), y] -= 1.0
        d /= n
        self.classifier.backward(d, tape, need_dx=False)
        return loss, self.grads

    classify = M2.classify
    test_error = M2.test_error
    _labels = M2._labels

    @property
    def x_dim(self):
        return self.classifier.layers[0][1].params["W"].shape[0]
