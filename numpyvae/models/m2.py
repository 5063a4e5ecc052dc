"""M2 (numpyvae.models.semi_supervised, Kingma, Rezende, Mohamed & Welling 2014) as a protocol model: ``--model m2``.

One group "model" (the conditional VAE's and the classifier's parameters, one flat buffer); with
``features`` (M1+M2: M2 on the features of a frozen VAE, :mod:`numpyvae.models.m1_features`) also a group
"features" of M1's weights, which no optimizer updates. A batch
has a labelled part (``batch.x``, ``batch.y``) and an unlabelled part (``batch.x_unlabelled``);
forward and backward are :class:`numpyvae.models.semi_supervised.M2`'s.

log p(x) sums the label out: p(x) = Σ_y p(y) p(x|y), p(y) = 1/C, each p(x|y) importance-sampled with
the conditional q(z|x, y) as proposal (:func:`numpyvae.measure.importance_sampled`):

    log p(x) ≈ logsumexp_y [ log p̂(x|y) ] − log C,     p̂(x|y) = (1/k) Σ_i p(x|z_i, y) p(z_i) / q(z_i|x, y)

The sum of unbiased estimates of p(x|y) is unbiased for p(x), so its log is, like the VAE's, a
stochastic lower bound that rises to log p(x) with k (C·k decoder passes per example).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from ..checks import check_positive_int
from .m1_features import M1Features
from .semi_supervised import M2, generative_error
from ..measure.estimator import check_k, importance_sampled
from ..measure.inputs import as_rng
from .base import Batch, Model, NoLogLikelihood, ParamGroup

__all__ = ["M2Model"]


class M2Model(Model):
    """:class:`numpyvae.models.semi_supervised.M2` with the protocol's methods (the keyword arguments are M2's)."""

    kind = "m2"

    def __init__(self, x_dim: int, n_classes: int = 10, hidden=(500,), z_dim: int = 50, classifier_hidden=(500,),
                 likelihood: str = "bernoulli", activation: str = "relu", alpha: float = 1.0, seed: int = 0,
                 dtype="float32", init: str | None = None, features: dict | None = None):
        # M1+M2: M2 reads the features of a frozen VAE (M1) and models them with a Gaussian (m1_features.py)
        self.features = None if features is None else M1Features(**features, dtype=dtype)
        if self.features is not None:
            if x_dim != self.features.x_dim:
                raise ValueError(f"M2Model: x_dim {x_dim} does not match M1's {self.features.x_dim} pixels")
            if likelihood not in ("bernoulli", "gaussian-learned"):     # bernoulli: M1's, over the pixels
                raise ValueError(f"M2Model: with M1's features the likelihood is a learned Gaussian over them, "
                                 f"got likelihood {likelihood!r}")
            likelihood = "gaussian-learned"
        inputs = x_dim if self.features is None else self.features.n_features
        self.m2 = M2(inputs, n_classes, hidden=hidden, z_dim=z_dim, classifier_hidden=classifier_hidden,
                     likelihood=likelihood, activation=activation, alpha=alpha, seed=seed, dtype=dtype, init=init)
        self.vae, self.dtype, self.x_dim, self.z_dim = self.m2.vae, self.m2.dtype, int(x_dim), int(z_dim)
        self.n_classes = self.m2.n_classes
        self.config = dict(x_dim=self.x_dim, n_classes=self.n_classes, hidden=list(hidden), z_dim=self.z_dim,
                           classifier_hidden=list(classifier_hidden), likelihood=likelihood, activation=activation,
                           alpha=float(alpha), seed=int(seed), dtype=self.dtype.name)
        if init is not None:                     # recorded only when set, so earlier runs' configs stay as they were
            self.config["init"] = init
        if self.features is not None:
            self.config["features"] = self.features.config
            self.no_log_likelihood = ("no log p(x) of the pixels: M1+M2's bound is on M1's features, and M1's own "
                                      "log p(x) is its run's (evaluate M1's run directory)")
        self.params, self.grads, self.rng = self.m2.params, self.m2.grads, self.m2.rng

    @property
    def groups(self) -> dict:
        groups = {"model": ParamGroup(self.params, self.grads, self.m2.flat_params, self.m2.flat_grads)}
        if self.features is not None:            # M1's weights: saved with the run, never updated
            m1 = self.features.vae
            groups["features"] = ParamGroup(m1.params, m1.grads, m1.flat_params, m1.flat_grads, trainable=False)
        return groups

    @property
    def flat_grads(self):
        return self.m2.flat_grads

    def forward(self, batch: Batch, noise=None, **options):
        """M2's loss −(w_l Σ_l J_l + w_u Σ_u U) on the batch's labelled and unlabelled parts (either may be
        missing), (w_l, w_u) = ``batch.weights`` (None: two batch means); ``noise``: (eps_l, eps_u) or None
        (the model's generator)."""
        eps_l, eps_u = (None, None) if noise is None else noise
        x_l = batch.x if batch.x is not None and batch.x.shape[0] else None
        x_u = batch.x_unlabelled
        if self.features is not None:            # M1+M2: a fresh draw of each image's features, as Kingma's code
            x_l = None if x_l is None else self.features.draw(x_l, self.rng)
            x_u = None if x_u is None else self.features.draw(x_u, self.rng)
        return self.m2.forward(x_l, None if x_l is None else batch.y, x_u, eps_l, eps_u, weights=batch.weights)

    def backward(self, tape, c=None) -> dict:
        if c is not None:
            raise ValueError("M2Model.backward: M2's bound takes no per-sample weights (c)")
        return self.m2.backward(tape)

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """What M2 reads of the images x (N, D): x itself, or with M1 (M1+M2) the features' means μ(x) (N, F)."""
        return x if self.features is None else self.features.moments(x)[0]

    def classify(self, x: np.ndarray) -> np.ndarray:
        """argmax_y q(y|x) for the images x (N, D) -> (N,) labels."""
        return self.m2.classify(self.inputs(x))

    def test_error(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.m2.test_error(self.inputs(x), y)

    def log_likelihood(self, x: np.ndarray, k: int, rng=None, y=None, **options) -> np.ndarray:
        """log p(x) with y summed out (module docstring), (N,) float64."""
        return self.estimates(x, k, rng, y, **options)["log_likelihood"]

    def estimates(self, x: np.ndarray, k: int, rng=None, y=None, *, batch_size: int = 100, chunk: int = 100,
                  bar=None) -> dict:
        """{"log_likelihood": log p(x) summed over y (N,), "log_px_given_y": (N, C)} float64; ``rng``: None
        (the evaluation seed), an integer seed or a Generator."""
        if self.no_log_likelihood:
            raise NoLogLikelihood(f"M2Model.log_likelihood: {self.no_log_likelihood}")
        k = check_k(k, "M2Model.log_likelihood")
        if y is not None:
            raise ValueError("M2Model.log_likelihood: log p(x) sums over the labels; it takes no y")
        rng = as_rng(rng, "M2Model.log_likelihood")
        vae, C = self.vae, self.n_classes
        per_class = np.empty((x.shape[0], C))
        for label in range(C):
            cache = {}

            def log_weights(sl, c, rng, label=label):
                n = sl.stop - sl.start
                if sl.start not in cache:
                    cache.clear()
                    cache[sl.start] = vae.encode(x[sl], np.full(n, label))
                eps = vae.posterior.draw_noise(rng, c, n, vae.dtype)
                z, log_q, _ = vae.posterior.rsample(cache[sl.start], eps)              # (c, n, K), (c, n)
                nll, _ = vae.likelihood.forward(x[sl], *vae.decode(z, np.full(n, label)), check=False)
                return vae.log_prior(z) - nll - log_q
            per_class[:, label] = importance_sampled(log_weights, x.shape[0], k, rng, batch_size=batch_size,
                                                     chunk=chunk, bar=bar)["log_likelihood"]
        return {"log_likelihood": logsumexp(per_class, axis=1) - math.log(C), "log_px_given_y": per_class}

    def sample(self, n: int, rng: np.random.Generator | None = None, y=None, mean: bool = True) -> np.ndarray:
        """z ~ p(z), x = E[x|z, y]: y one label for all, n labels, or None (the classes in turn 0, 1, .., C−1, 0, ..)."""
        n = check_positive_int(n, "M2Model.sample", "n")
        y = np.arange(n) % self.n_classes if y is None else y
        x = self.vae.sample(n, mean=mean, rng=self.rng if rng is None else rng, y=y)
        return x if self.features is None else self.features.images(x)      # M1+M2: features -> M1's decoder

    def validation(self, x: np.ndarray, y, rng: np.random.Generator, batch_size: int = 500) -> dict:
        """On the validation set: the classifier's error, the error of argmax_y L(x, y) (the cheap progress
        signal of :func:`numpyvae.models.semi_supervised.generative_error`: near 1 − 1/C while the decoder ignores y) and the
        unlabelled bound U (nats, the sum over y)."""
        x = self.inputs(x)
        U = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            eps_u = self.vae.noise(rng, 1, self.n_classes * xb.shape[0])
            U.append(-self.m2.forward(None, None, xb, None, eps_u).loss * xb.shape[0])
        return {"val_error": self.m2.test_error(x, y), "val_generative_error": generative_error(self.m2, x, y, rng),
                "val_unlabeled_bound": float(sum(U) / x.shape[0])}

    def epoch_line(self, row: dict) -> str:
        return (f"epoch {row['epoch']:3d}  train loss {row['train_loss']:8.2f} (−S/N·Σ(J_l + U))  val U "
                f"{row['val_unlabeled_bound']:8.2f}  test error {100 * row['val_error']:5.2f}%  "
                f"argmax_y L(x, y) error {100 * row['val_generative_error']:5.2f}%  "
                f"{row['seconds']:.1f}s  {row['samples_per_sec']:.0f} ex/s")

    def describe(self) -> str:
        c = self.config
        if self.features is not None:
            return (f"M1+M2: M2 {self.m2.x_dim}-{'-'.join(map(str, c['hidden']))}-{self.z_dim} (Gaussian) on "
                    f"{self.features.describe()}, with a {'-'.join(map(str, c['classifier_hidden']))} classifier "
                    f"over {self.n_classes} classes, alpha {c['alpha']:g}")
        return (f"M2 {self.x_dim}-{'-'.join(map(str, c['hidden']))}-{self.z_dim} with a "
                f"{'-'.join(map(str, c['classifier_hidden']))} classifier over {self.n_classes} classes, "
                f"alpha {c['alpha']:g}")

    def figures(self, data, out_dir) -> list:
        """samples.png: one row per label (columns: z ~ N(0, I)); reconstructions.png with q's most probable y."""
        from pathlib import Path
        from .pictures import plot_model_reconstructions, plot_model_samples
        out_dir, shape = Path(out_dir), data.image_shape
        C, rng = self.n_classes, np.random.default_rng(0)
        if shape is None:
            paths = [plot_model_samples(self.sample(2000, rng), out_dir / "samples.png", None,
                                        "2000 samples: E[x|z, y], y in turn, z ~ N(0, I)")]
        else:
            z = self.vae.prior.sample(10, rng, self.dtype)                      # one z per column, every label
            images = self._pixels(self.vae.likelihood.mean(*self.vae.decode(np.tile(z, (C, 1)),
                                                                             np.repeat(np.arange(C), 10))))
            paths = [plot_model_samples(images, out_dir / "samples.png", shape,
                                        f"rows: labels 0..{C - 1}; columns: one z ~ N(0, I) each", nrow=10)]
        x = data.x[:2000]
        y_hat = self.classify(x)
        recon = self._pixels(self.vae.reconstruct(self.inputs(x), y_hat))
        paths.append(plot_model_reconstructions(x, recon, out_dir / "reconstructions.png", shape,
                                                "E[x|z = mu(x, y), y] at the classifier's y" if self.features is None
                                                else "M1 decodes M2's E[z1|z2 = mu, y] at the classifier's y"))
        return paths

    def _pixels(self, out: np.ndarray) -> np.ndarray:
        """M2's output as images: itself, or with M1 the features decoded by M1 (M1Features.images)."""
        return out if self.features is None else self.features.images(out)
