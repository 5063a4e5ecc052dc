"""Structured output prediction (Sohn, Lee & Yan 2015): complete a digit from part of it, CVAE against a network.

The input x_in is the given part of a binarized digit (its top half, or its top-left quadrant),
the output x_out the rest. Two conditional models of p(x_out | x_in):

* a deterministic network: an MLP x_in -> logits a, p(x_out | x_in) = Π_d Bernoulli(x_d; σ(a_d)).
  Its conditional log-likelihood is exact: log p = −Σ_d [softplus(a_d) − x_d a_d].
* a conditional VAE: z ~ N(0, I), x_out ~ p(x_out | z, x_in), with q(z | x_out, x_in); the engine's
  conditional VAE with the image part in place of the one-hot label (:class:`ImageConditionedVAE`).
  Its conditional log-likelihood log p(x_out | x_in) = log ∫ p(x_out | z, x_in) p(z) dz is
  importance-sampled with q: the IWAE bound with k samples, which tends to it as k grows.

A network predicting every pixel independently must blur the several completions a part allows
(an upper half of a 7 or a 9); the latent z lets the CVAE choose one, which is Sohn et al.'s
point. (Sohn et al. also learn a prior network p(z | x_in); the prior here is N(0, I).)
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import as_dtype, check_array
from ..likelihoods import make_likelihood
from ..nn import MLP
from ..models.vae import VAE

__all__ = ["GIVEN", "split", "ImageConditionedVAE", "DeterministicCompletion", "cvae_conditional_log_likelihood",
           "run"]

GIVEN = ("top-half", "quadrant")


def given_mask(given: str, side: int = 28) -> np.ndarray:
    """(side², ) bool: True for the pixels given as input (top half: rows < side/2; quadrant: the top-left one)."""
    rows, cols = np.divmod(np.arange(side * side), side)
    if given == "top-half":
        return rows < side // 2
    if given == "quadrant":
        return (rows < side // 2) & (cols < side // 2)
    raise ValueError(f"structured output: given must be one of {', '.join(GIVEN)}, got {given!r}")


def split(x: np.ndarray, given: str):
    """x (N, 784) -> (x_in (N, D_in), x_out (N, D_out)): the given pixels and the rest."""
    mask = given_mask(given, int(round(math.sqrt(x.shape[1]))))
    return np.ascontiguousarray(x[:, mask]), np.ascontiguousarray(x[:, ~mask])


class ImageConditionedVAE(VAE):
    """The engine's conditional VAE, conditioned on a real vector (N, C) instead of integer labels.

    ``VAE(..., n_labels=C)`` concatenates a one-hot (N, C) to the encoder's and the decoder's inputs
    and treats it as data in the backward; here that (N, C) is the given image part, passed as ``y``.
    """

    def one_hot(self, y, n: int, where: str):
        if y is None:
            raise ValueError(f"{where}: this conditional VAE needs its input part y, ({n}, {self.n_labels}), got none")
        y = np.asarray(y)
        if y.shape != (n, self.n_labels):
            raise ValueError(f"{where}: y must be the input part, shape ({n}, {self.n_labels}), got {y.shape}")
        return y.astype(self.dtype, copy=False)


class DeterministicCompletion:
    """p(x_out | x_in) = Bernoulli(σ(MLP(x_in))), pixel by pixel: sizes [D_in, *hidden, D_out]."""

    def __init__(self, d_in: int, d_out: int, hidden=(200,), activation: str = "relu", seed: int = 0,
                 dtype="float32"):
        self.dtype = as_dtype(dtype)
        self.net = MLP([d_in, *hidden, d_out], activation, final_activation=False, rng=np.random.default_rng(seed),
                       dtype=self.dtype)
        self.likelihood = make_likelihood("bernoulli")
        self.params, self.grads = self.net.params, self.net.grads

    def conditional_log_likelihood(self, x_in: np.ndarray, x_out: np.ndarray) -> np.ndarray:
        """log p(x_out | x_in) per example, (N,)."""
        check_array(x_in, "DeterministicCompletion", ndim=2, name="x_in")
        nll, _ = self.likelihood.forward(x_out, self.net.forward(x_in)[0])
        return -nll

    def loss_and_grads(self, x_in: np.ndarray, x_out: np.ndarray):
        """Mean −log p(x_out | x_in) and its gradient.

        ∂(mean nll)/∂a = (σ(a) − x_out)/N (the likelihood's backward with upstream 1/N), then the MLP's backward.
        """
        logits, tape = self.net.forward(x_in)
        nll, lik_tape = self.likelihood.forward(x_out, logits)
        (dlogits,) = self.likelihood.backward(np.full(x_in.shape[0], 1.0 / x_in.shape[0], dtype=self.dtype),
                                              lik_tape)
        self.net.backward(dlogits, tape, need_dx=False)
        return float(nll.mean()), self.grads


def cvae_conditional_log_likelihood(model: ImageConditionedVAE, x_in, x_out, k: int, rng,
                                    batch_size: int = 100) -> np.ndarray:
    """log p(x_out | x_in) ≈ log (1/k) Σ_i p(x_out|z_i, x_in) p(z_i) / q(z_i|x_out, x_in), per example (N,).

    The model's own IWAE_k bound (forward with objective "iwae", Monte Carlo KL): below the true
    value in expectation, reaching it as k grows (Burda et al.); noise from ``rng``, batch by batch.
    """
    out = np.empty(x_in.shape[0])
    for i in range(0, x_in.shape[0], batch_size):
        xo, xi = x_out[i:i + batch_size], x_in[i:i + batch_size]
        eps = model.noise(rng, k, xo.shape[0])
        out[i:i + batch_size] = model.forward(xo, eps, n_samples=k, objective="iwae", kl="mc", y=xi)["bound"]
    return out


def run(given: str = "quadrant", hidden=(200,), z_dim: int = 20, epochs: int = 10, batch_size: int = 100,
        lr: float = 1e-3, k: int = 100, n_train=None, n_test=None, seed: int = 0, dataset: str = "digits",
        log=print) -> dict:
    """Train the CVAE and the network on the same batches; return per-test-example log p(x_out | x_in) of both.

    Training digits are binarized afresh every batch, the test digits once (seed 1 + seed).
    Returns {"cvae": (N,), "nn": (N,), "settings": {...}}.
    """
    from ..datasets import binarize_dynamic, load
    from ..optim import Adam
    data = load(dataset)
    x, x_test = data.x_train[:n_train], data.x_test[:n_test]
    x_test = (np.random.default_rng(1 + seed).random(x_test.shape, dtype=np.float32) < x_test).astype(np.float32)
    xi_test, xo_test = split(x_test, given)
    d_in, d_out = xi_test.shape[1], xo_test.shape[1]
    cvae = ImageConditionedVAE(d_out, list(hidden), z_dim, seed=seed, n_labels=d_in)
    nn = DeterministicCompletion(d_in, d_out, hidden, seed=seed)
    opts = [Adam(cvae.params, cvae.grads, lr=lr), Adam(nn.params, nn.grads, lr=lr)]
    rng = np.random.default_rng([seed, 2])
    steps = max(1, x.shape[0] // batch_size)
    for epoch in range(1, epochs + 1):
        totals = np.zeros(2)
        for idx in np.array_split(rng.permutation(x.shape[0])[:steps * batch_size], steps):
            xi, xo = split(binarize_dynamic(x[idx], rng), given)
            totals += [cvae.loss_and_grads(xo, y=xi)[0], nn.loss_and_grads(xi, xo)[0]]
            for opt in opts:
                opt.step()
        log(f"epoch {epoch:3d}  CVAE −ELBO {totals[0] / steps:8.2f}  network −log p {totals[1] / steps:8.2f}")
    cll = {"cvae": cvae_conditional_log_likelihood(cvae, xi_test, xo_test, k, np.random.default_rng(0)),
           "nn": nn.conditional_log_likelihood(xi_test, xo_test).astype(np.float64)}
    log(f"test log p(x_out | x_in) on {xo_test.shape[0]} digits, given the {given}: CVAE {cll['cvae'].mean():.2f} "
        f"(IWAE, k = {k}), network {cll['nn'].mean():.2f}")
    cll["settings"] = dict(given=given, hidden=list(hidden), z_dim=z_dim, epochs=epochs, batch_size=batch_size,
                           lr=lr, k=k, n_train=x.shape[0], n_test=x_test.shape[0], seed=seed, dataset=dataset)
    return cll
