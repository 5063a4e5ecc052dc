"""Bounds on log p(x) from the log importance weights: the ELBO, IWAE, Rényi (VR), VR-max, CUBO.

Every bound is written through one quantity, the log importance weight of
sample s of example n:

    log w_sn = log p(x_n | z_sn) + log p(z_sn) − log q(z_sn | x_n),   z_sn ~ q(z | x_n),   log_w (S, N)

The bound contract (every bound here follows it)::

    bound, tape = BOUND.forward(log_w)     # (S, N) -> (N,)
    c = BOUND.weights(tape)                # (S, N): ∂(mean_n bound_n)/∂log w_sn, including the 1/N

The gradient of any bound is Σ_s c_sn ∇ log w_sn with per-sample weights c:
c = 1/(S·N) for the ELBO, c = softmax_s(log w)/N for IWAE, and so on. So the
model's backward is the same code for every bound, with different weights.

Training direction: ``maximize`` is True for the lower bounds and the VR family
(loss = −mean bound, like the ELBO) and False for the CUBO pair, which is an
*upper* bound and is minimized — with respect to q only; minimizing an upper
bound over the decoder would push log p(x) down.

Where each piece lives:

    elbo_iwae.py    the ELBO and the importance-weighted bound IWAE_k
    power_mean.py   the power mean of the k weights, the picture that orders the whole family
    renyi.py        the Rényi bound VR_α and its α → −∞ limit VR-max
    cubo.py         the χ upper bound CUBO_n and the surrogate that trains q by it
    checks.py       the checks of log_w and of a bound's order
    registry.py     make_bound: the training objectives by name

The sandwich [ELBO, IWAE_k, CUBO_n] of a trained model, over chunks of samples, is a
measurement: :mod:`numpyvae.measure.sandwich`.
"""
from .cubo import CUBO, CUBOSurrogate
from .elbo_iwae import ELBO, IWAE
from .registry import make_bound
from .renyi import VR, VRMax

__all__ = ["ELBO", "IWAE", "VR", "VRMax", "CUBO", "CUBOSurrogate", "make_bound"]
