"""Numerically stable functions: sigmoid, softplus, log_sigmoid (elementwise); softmax, log_softmax.

The textbook forms overflow: 1 / (1 + exp(-a)) warns at a = -1e4 and
log(1 + exp(a)) is inf at a = 1e4 (float32 already overflows at a ≈ 89).
The forms used here never exponentiate a positive number, so every value,
and every derivative built from these values, stays finite for any finite a.

Derivatives, for use in hand-written backward passes:

    d softplus(a)    / da = sigmoid(a)
    d sigmoid(a)     / da = sigmoid(a) * sigmoid(-a)
    d log_sigmoid(a) / da = sigmoid(-a) = 1 - sigmoid(a)

Each function keeps the dtype of its input (float32 in, float32 out) and
accepts `out=` so the hot path can reuse a preallocated buffer.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = ["sigmoid", "softplus", "log_sigmoid", "softmax", "log_softmax"]


def sigmoid(a, out=None):
    """sigmoid(a) = 1 / (1 + exp(-a)), elementwise, shape and dtype of `a`.

    scipy.special.expit already evaluates this without overflow (it picks
    exp(-a) or exp(a) by the sign of a) and keeps float32 as float32.
    """
    return expit(a, out=out)


def softplus(a, out=None):
    """softplus(a) = log(1 + exp(a)), elementwise, shape and dtype of `a`.

    Stable form: softplus(a) = max(a, 0) + log1p(exp(-|a|)).
    exp(-|a|) lies in (0, 1], so nothing overflows, and log1p keeps full
    precision when exp(-|a|) is tiny (large |a|).

    The steps below write into `out` one after another, which is the same
    as the one-liner `np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))`
    without its four temporaries. (np.logaddexp(0, a) is the same function
    too, but about ten times slower than this in float32.)
    """
    a = np.asarray(a)
    if out is None:
        out = np.empty_like(a, dtype=np.result_type(a, np.float32))
    elif np.shares_memory(out, a):
        # the steps below overwrite `out` before the last one reads `a` again
        raise ValueError("softplus: out must not share memory with a (in-place softplus is not supported)")
    np.abs(a, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)              # exp(-|a|), in (0, 1]
    np.log1p(out, out=out)            # log1p(exp(-|a|)), in [0, log 2]
    out += np.maximum(a, 0)           # (a ufunc's where=a > 0 would avoid this temporary but is ~30x slower)
    return out


def log_sigmoid(a, out=None):
    """log sigmoid(a) = -softplus(-a), elementwise, shape and dtype of `a`.

    Used for log-probabilities: log p(x=1) = log_sigmoid(a),
    log p(x=0) = log_sigmoid(-a). Finite for any finite a (it is about
    a for a << 0 and about -exp(-a) for a >> 0).
    """
    out = softplus(np.negative(a), out=out)
    return np.negative(out, out=out)


def softmax(a: np.ndarray) -> np.ndarray:
    """softmax over the last axis, shape and dtype of `a`: e^{a − max} / Σ e^{a − max}.

    Subtracting the row's max first leaves every exponent ≤ 0 (finite for logits ±1e4)
    and the largest term exactly 1, so the sum never underflows to 0.
    """
    q = a - a.max(axis=-1, keepdims=True)
    np.exp(q, out=q)
    q /= q.sum(axis=-1, keepdims=True)
    return q


def log_softmax(a: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, shape and dtype of `a`: a − max − log Σ e^{a − max}.

    Finite where softmax itself underflows to 0 (log of it would be −inf). Its derivative,
    for hand-written backward passes: ∂ log_softmax(a)_i / ∂a_j = δ_ij − softmax(a)_j.
    """
    s = a - a.max(axis=-1, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=-1, keepdims=True))
    return s
