"""The unrelaxed side: one-hot codes of M categorical variables, and the uniform prior p(c) = Π_m 1/C over them."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype, check_array, check_positive_int, check_rng


def one_hot_codes(codes, n_classes: int, dtype="float32") -> np.ndarray:
    """Integer codes (n, M), each in 0..C−1 -> one-hot z (n, M·C): a chosen point to decode.

    Used to decode from a chosen code, e.g. sweep one variable across its C values
    while the others stay fixed (``np.repeat`` a base code, then set column m to 0..C−1).
    """
    C = check_positive_int(n_classes, "one_hot_codes", "n_classes")
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype.kind not in "iu":
        raise ValueError(f"one_hot_codes: codes must be an integer array (n, M), got dtype {codes.dtype.name} "
                         f"shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= C):
        raise ValueError(f"one_hot_codes: codes must lie in 0..{C - 1} (n_classes={C}), got values in "
                         f"[{codes.min()}, {codes.max()}]")
    n, M = codes.shape
    z = np.zeros((n, M, C), dtype=as_dtype(dtype))
    np.put_along_axis(z, codes[..., None], 1.0, axis=-1)
    return z.reshape(n, M * C)


def sweep_codes(code, m: int, n_classes: int) -> np.ndarray:
    """C codes (C, M) equal to ``code`` (M,) except variable m, which runs through 0..C−1.

    ``one_hot_codes(sweep_codes(code, m, C), C)`` is the decoder input for a picture of
    one categorical variable swept across its values while the others stay fixed.
    """
    C = check_positive_int(n_classes, "sweep_codes", "n_classes")
    code = np.asarray(code)
    if code.ndim != 1 or code.dtype.kind not in "iu":
        raise ValueError(f"sweep_codes: code must be an integer array (M,), got dtype {code.dtype.name} "
                         f"shape {code.shape}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 0 <= m < code.size:
        raise ValueError(f"sweep_codes: m must be a variable index in 0..{code.size - 1}, got {m!r}")
    codes = np.repeat(code[None], C, axis=0)
    codes[:, m] = np.arange(C)
    return codes



class UniformCategorical:
    """The prior p(c) = Π_m 1/C over M categorical variables, as one-hot codes z (n, M·C).

    ``sample`` draws codes to decode (generation from the prior). ``log_prob`` refuses:
    the relaxed z of :class:`GumbelSoftmax` is a point of the simplex, which has no
    density under this discrete prior, so the Monte Carlo KL log q − log p is not
    defined for the pair; use the analytic :class:`CategoricalUniformKL`.
    """

    name = "categorical"
    encoded = None

    def __init__(self, n_vars: int, n_classes: int):
        self.n_vars = check_positive_int(n_vars, "UniformCategorical", "n_vars")
        self.n_classes = check_positive_int(n_classes, "UniformCategorical", "n_classes")
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()

    def components(self):
        """None: not a mixture of Gaussians."""
        return None

    def sample(self, n: int, rng: np.random.Generator, dtype="float32") -> np.ndarray:
        """n one-hot codes (n, M·C), each variable's class uniform on 0..C−1."""
        n = check_positive_int(n, "UniformCategorical.sample", "n")
        check_rng(rng, "UniformCategorical.sample")
        codes = rng.integers(self.n_classes, size=(n, self.n_vars))
        return one_hot_codes(codes, self.n_classes, dtype)

    def log_pmf(self, codes: np.ndarray) -> np.ndarray:
        """log p(c) = −M log C of one-hot codes (..., M·C) -> (...); refuses anything that is not one-hot."""
        where = "UniformCategorical.log_pmf"
        check_array(codes, where, last=self.n_vars * self.n_classes, name="codes")
        c = codes.reshape(*codes.shape[:-1], self.n_vars, self.n_classes)
        if not (np.isin(c, (0.0, 1.0)).all() and (c.sum(axis=-1) == 1).all()):
            raise ValueError(f"{where}: codes must be one-hot per variable (exact categorical draws), not relaxed z")
        return np.full(codes.shape[:-1], -self.n_vars * np.log(self.n_classes), dtype=codes.dtype)

    def log_prob(self, z):
        raise ValueError("UniformCategorical.log_prob: a relaxed Gumbel-softmax z has no density under the "
                         "discrete uniform prior; use the analytic KL (CategoricalUniformKL) instead of the "
                         "Monte Carlo one")

    def backward(self, dlog_p, tape):
        raise ValueError("UniformCategorical.backward: there is no log_prob to differentiate; "
                         "use the analytic KL (CategoricalUniformKL)")
