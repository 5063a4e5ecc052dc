"""A plain view of one VAE step's tape, for the capstone (tutorial 17): the arrays a backward pass reads.

:meth:`numpyvae.VAE.forward` returns a :class:`~numpyvae.models.vae.Tape` whose network
parts are nested tuples of the layers' own tapes. The capstone asks the learner to
walk tutorial 06's model in reverse with their own exercise functions; this module
lays out what that walk needs, in forward order and with the names of the math::

    view = read_tape(model, tape)
    view.x (N, D)   view.eps (S, N, K)   view.mu, view.logvar (N, K)   view.logits (S, N, D)   view.log_w (S, N)
    view.objective "elbo" | "iwae"      view.kl "analytic" | "mc"
    view.encoder          [Step("encoder.0", x, W, b, h), Step("encoder.1", ...), ...]   the trunk
    view.encoder_heads    {"mu": Step("encoder.mu", x, W, b, None), "logvar": ...}
    view.decoder          [Step("decoder.0", x, W, b, h), ...]                             the trunk
    view.decoder_head     Step("decoder.out", x, W, b, None)                              logits

Each :class:`Step` is one Dense layer ``a = x W + b`` followed, in a trunk, by a
ReLU ``h = max(a, 0)``: ``x`` is its input as rows (B, D_in) (the decoder sees all
S·N samples as one batch of B = S·N rows), ``h`` the ReLU's output (B, D_out), and
``step.a`` the ReLU's input, recomputed on request (the ReLU keeps only ``h``; ``h``
cannot stand in for ``a`` at the kink, where a function of ``a`` such as a
finite-difference stand-in sees ``h = 0`` as the kink itself).

No gradient is computed here and nothing is copied: the arrays are the tape's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.activations import ReLU
from ..nn.dense import Dense

__all__ = ["Step", "TapeView", "read_tape", "check_capstone_model"]


@dataclass
class Step:
    """One Dense layer of a network, as the forward pass saw it (``a``: the ReLU's input, recomputed).

    name : str            the parameter prefix: gradients go to name + ".W" and name + ".b"
    x : (B, D_in)         the layer's input, rows
    W : (D_in, D_out)     b : (D_out,)
    h : (B, D_out) or None   the ReLU's output after this layer (None for a head, which is linear)
    """
    name: str
    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    h: np.ndarray | None

    @property
    def a(self) -> np.ndarray:
        """The ReLU's input a = x W + b, (B, D_out): recomputed (one matmul), since ReLU keeps only h."""
        a = self.x @ self.W
        a += self.b
        return a


@dataclass
class TapeView:
    """The arrays of one forward pass of tutorial 06's VAE (see the module docstring)."""
    x: np.ndarray
    eps: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray
    z: np.ndarray
    logits: np.ndarray
    log_w: np.ndarray
    objective: str
    kl: str
    encoder: list
    encoder_heads: dict
    decoder: list
    decoder_head: Step


def check_capstone_model(model, where: str = "read_tape") -> None:
    """Refuse a model the capstone does not cover, naming the setting (a one-line ValueError)."""
    problems = []
    if getattr(model, "kind", "vae") != "vae":         # the step-through view (stepthrough.py) takes any model
        problems.append(f"kind={model.kind!r} (the capstone's is the one-layer 'vae'; trace_step shows any model)")
    if getattr(model, "n_labels", 0):
        problems.append(f"n_labels={model.n_labels} (a conditional VAE)")
    if model.config.get("encoder") or model.config.get("decoder"):
        problems.append("an encoder/decoder spec (tutorial 06 uses MLPs)")
    if model.posterior.name != "gaussian":
        problems.append(f"posterior={model.posterior.name!r} (the capstone's is 'gaussian')")
    if model.prior.name != "standard":
        problems.append(f"prior={model.prior.name!r} (the capstone's is 'standard')")
    if model.likelihood.name != "bernoulli":
        problems.append(f"likelihood={model.likelihood.name!r} (the capstone's is 'bernoulli')")
    if model.config.get("activation") != "relu":
        problems.append(f"activation={model.config.get('activation')!r} (the capstone's is 'relu')")
    for net in (getattr(model, "encoder", None), getattr(model, "decoder", None)):
        layers = [layer for _, layer in getattr(net.trunk, "layers", [])] if net is not None else []
        if not all(isinstance(layer, (Dense, ReLU)) for layer in layers) or \
                not all(isinstance(head, Dense) for _, head in getattr(net, "heads", [])):
            problems.append("a network that is not Dense + ReLU layers with Dense heads")
            break
    if problems:
        raise ValueError(f"{where}: the capstone walks tutorial 06's model (MLPs with ReLU, Gaussian q, "
                         f"standard prior, Bernoulli likelihood); this model has {'; '.join(problems)}")


def _steps(net, prefix: str, trunk_tape) -> list:
    """Pair each Dense of an MLP trunk with its tape and with the ReLU tape that follows it."""
    layers, tapes = [layer for _, layer in net.trunk.layers], list(trunk_tape.tapes)
    names = [name for name, _ in net.trunk.layers]
    steps = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            h = tapes[i + 1].saved if i + 1 < len(layers) and isinstance(layers[i + 1], ReLU) else None
            x2 = tapes[i].x2                                   # (B, D_in): leading axes already flattened
            steps.append(Step(f"{prefix}{names[i]}", x2, layer.params["W"], layer.params["b"],
                              None if h is None else h.reshape(x2.shape[0], -1)))
    return steps


def read_tape(model, tape) -> TapeView:
    """The arrays of ``tape`` (from ``model.forward``) laid out for a hand-written backward pass.

    model : a numpyvae.VAE of tutorial 06's kind (MLPs with ReLU, Gaussian q, N(0, I), Bernoulli)
    tape : the Tape its forward returned (before or after model.backward; only forward's entries are read)
    """
    check_capstone_model(model)
    if not isinstance(tape, dict) or "_enc" not in tape or "_bound" not in tape:
        raise TypeError(f"read_tape: pass the tape model.forward returned, got {type(tape).__name__}")
    bound_name = type(tape["_bound"][0]).__name__
    objective = {"ELBO": "elbo", "IWAE": "iwae"}.get(bound_name)
    if objective is None:
        raise ValueError(f"read_tape: the capstone covers the ELBO and IWAE bounds, this tape used {bound_name}")
    enc, dec = tape["_enc"], tape["_dec"]
    heads = {name: Step(f"encoder.{name}", t.x2, layer.params["W"], layer.params["b"], None)
             for (name, layer), t in zip(model.encoder.heads, enc.heads)}
    (out_name, out_layer), out_tape = model.decoder.heads[0], dec.heads[0]
    return TapeView(x=tape["x"], eps=tape["eps"], mu=tape["mu"], logvar=tape["logvar"], z=tape["z"],
                    logits=tape["decoder.out"], log_w=tape["log_w"], objective=objective,
                    kl=tape["kl_route"],
                    encoder=_steps(model.encoder, "encoder.", enc.trunk), encoder_heads=heads,
                    decoder=_steps(model.decoder, "decoder.", dec.trunk),
                    decoder_head=Step(f"decoder.{out_name}", out_tape.x2, out_layer.params["W"],
                                      out_layer.params["b"], None))
