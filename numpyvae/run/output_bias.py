"""Where the decoder's output bias starts: at zero, or at the training pixels' mean.

    output_bias = "zero"   every bias starts at 0 (Bernoulli: p(x_d = 1) = ½ for every pixel)
    output_bias = "data"   the bias of the decoder's output head is the value that makes p(x|z)
                           the training pixels' own marginal when the rest of the decoder says 0:
                           Bernoulli  b_d = logit(clip(x̄_d, 0.001, 0.999))
                           Gaussian   b_d = x̄_d                 (the head is the mean)
                           with x̄ = the mean training image (grey levels: the mean of the binarized
                           draws). Burda et al.'s IWAE code starts its Bernoulli decoder this way
                           (yburda/iwae, datasets.py, ``get_train_bias_np``, with the same clip).
    output_bias = "auto"   "data" wherever it applies (a Bernoulli or Gaussian decoder with a dense
                           output head of one bias per pixel), "zero" where it does not (the default).

Why "data" is the default (measured, ``python -m numpyvae reproduce output-bias --budget short``:
784-200-20 N(0, I) VAEs on the bundled digits, 30 epochs, seed 0, log p(x) with k = 500 on 500 test
digits, paired): the data-mean start is worth +1.01 ± 0.21 nats; issue 25 measured +6.29 ± 0.22 for
the priors table's 784-200-200-50 tanh N(0, I) VAE (50 epochs, 1,000 test digits), and +0.31 ± 0.13
for ``train``'s default 784-400-20 ReLU VAE (100 epochs, k = 1000, 1,000 test digits; README.md).
"zero" stays one flag away (``--output-bias zero``) and is what the presets of the seeds' code keep
(Keras, PyTorch).

Why it matters for a learned prior (measured, tutorials/reference/deeper-models-and-learned-priors.md): with a zero
bias the first ~30 Adam steps are spent learning the mean image (−ELBO 551 -> 217), and the gradient
that reaches a tanh encoder in those steps is the same for every digit; it drives the encoder's
second layer into saturation (36% of its units at |h| > 0.99 after 30 steps, even with no KL term at
all), and every digit gets nearly the same code, far from the origin (mean |mu| 0.33 -> 3.0). Under
N(0, I) that code costs KL and the encoder is pulled back. Under a VampPrior it costs nothing: the
prior's components are the same encoder's codes of the pseudo-inputs, which have gone to the same
place, so KL(q(z|x) || p) = 0, the encoder gets no gradient out of saturation, and the model stays
collapsed. Starting the bias at the data's marginal skips that phase.

Nothing here has a gradient: it sets one parameter before the first step.
"""
from __future__ import annotations

import numpy as np

__all__ = ["OUTPUT_BIAS", "CLIP", "output_bias_value", "resolve_output_bias",
           "output_bias_name", "set_output_bias"]

OUTPUT_BIAS = ("auto", "zero", "data")
#: Burda et al.'s clip of the mean pixel before the logit: a pixel that is 0 in every image gets
#: logit(0.001) = −6.9, not −inf
CLIP = 0.001
#: likelihood -> how the mean pixel becomes the bias of its first head
_LINKS = {"bernoulli": "logit", "gaussian": "identity", "gaussian-learned": "identity"}
#: the output head's bias, by model: the VAE's decoder, the hierarchy's p(x|z1)
_BIAS_NAMES = ("decoder.out.b", "p.x.out.b")


def output_bias_value(likelihood: str, x_train: np.ndarray) -> np.ndarray:
    """The "data" bias, (D,), in x_train's dtype: logit(clip(x̄)) for Bernoulli, x̄ for the Gaussians.

    x_train (N, D) are the training images (grey levels in [0, 1] for Bernoulli).
    """
    if likelihood not in _LINKS:
        raise ValueError(f"output_bias 'data' is defined for the likelihoods {', '.join(_LINKS)}, "
                         f"not {likelihood!r}; use output_bias 'zero'")
    x = np.asarray(x_train)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"output_bias 'data': x_train must be (N, D) with N >= 1, got shape {x.shape}")
    mean = x.mean(axis=0, dtype=np.float64)                    # x̄ (D,), summed in float64
    if _LINKS[likelihood] == "logit":
        p = np.clip(mean, CLIP, 1.0 - CLIP)
        mean = np.log(p) - np.log1p(-p)                         # logit p = log p − log(1 − p)
    return mean.astype(x.dtype if x.dtype.kind == "f" else np.float32)


def resolve_output_bias(setting: str) -> str:
    """"zero" or "data" for a run's setting ("auto" asks for "data"; :func:`set_output_bias` falls
    back to "zero" where the model has no head to set)."""
    if setting not in OUTPUT_BIAS:
        raise ValueError(f"output_bias must be one of {', '.join(OUTPUT_BIAS)}, got {setting!r}")
    return "data" if setting == "auto" else setting


def output_bias_name(model) -> str | None:
    """The name of the model's output-head bias in ``model.params`` (None if it has no such head)."""
    return next((n for n in _BIAS_NAMES if n in getattr(model, "params", {})), None)


def set_output_bias(model, setting: str, likelihood: str, x_train: np.ndarray) -> str:
    """Start the decoder's output bias as ``setting`` says; returns what was done ("zero" or "data").

    "zero" leaves the model as it was built. "data" writes :func:`output_bias_value` into the
    bias in place (the flat parameter buffer keeps its views). "auto" is "data" only where it applies
    (a supported likelihood and a dense output head of one bias per pixel),
    else "zero"; an explicit "data" that does not apply is refused by name.
    """
    mode = resolve_output_bias(setting)
    if mode == "zero":
        return "zero"
    name = output_bias_name(model)
    D = np.shape(x_train)[-1]
    fits = name is not None and model.params[name].shape == (D,) and likelihood in _LINKS
    if not fits:
        if setting == "auto":
            return "zero"
        where = ("the model has no decoder output head" if name is None else
                 f"the decoder's output bias has shape {model.params[name].shape}, not one per pixel ({D},)")
        if likelihood not in _LINKS:
            where = f"the likelihood is {likelihood!r}"
        raise ValueError(f"output_bias 'data' needs a dense output head with one bias per pixel and a likelihood "
                         f"among {', '.join(_LINKS)}; here {where}: use output_bias 'zero'")
    model.params[name][...] = output_bias_value(likelihood, x_train)
    return "data"
