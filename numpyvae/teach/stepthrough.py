"""One training step, laid out tensor by tensor: the step-through view.

A lecturer calls::

    trace = trace_step(model, x_batch)
    print_trace(trace)

and gets, in the order the computation happens, every array of one forward
and backward pass: x, h, mu, logvar, eps, z, the decoder's heads, the loss
terms, then the gradients flowing back (d logits, the decoder's weight
gradients, dz, dmu, dlogvar, dh, the encoder's weight gradients). Each row has
the shape, dtype and a few statistics; ``trace["dz"].array`` is the array itself.

How it is built. :meth:`VAE.forward` returns the step's tape, which holds
every intermediate by name; :meth:`VAE.backward` adds to it the intermediate
gradients it computed on the way (the per-sample weights c, d logits, dz,
dmu, dlogvar) and writes the parameter gradients into ``model.grads``.
:func:`trace_step` copies them out in order, so what a class reads is what
training computed, not a second derivation. The one exception is dh, the
gradient at the encoder trunk's output, which lives inside the encoder's
backward: it is recomputed here from dmu and dlogvar by the formula the
encoder uses, dh = dmu W_muᵀ + dlogvar W_lvᵀ. The tests
check these gradients against finite differences and against the parameter
gradients (e.g. hᵀ · dmu == grads["encoder.mu.W"]).

Every array in a trace is a copy: the model overwrites its buffers on the
next call, a trace taken earlier does not change.

Any other model of the protocol (a hierarchy, a flow, a Gumbel-softmax or a plain
autoencoder) gets the same view read off its own tape: every array forward recorded,
in the order it recorded them (a list per layer, as z1, z2, ...), then every gradient
backward added to the tape, then the parameter gradients, layers in reverse.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

__all__ = ["TraceEntry", "Trace", "trace_step", "format_trace", "print_trace"]

ROLES = ("forward", "gradient")


@dataclass(frozen=True)
class TraceEntry:
    """One named array of the step.

    name : str     "x", "mu", "decoder.out", "dz", "encoder.0.W", ...
    role : str     "forward" (a value) or "gradient" (∂loss/∂ of something)
    array : np.ndarray   a private copy
    note : str     the equation that produced it, in the code's notation
    """
    name: str
    role: str
    array: np.ndarray
    note: str = ""

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    def _stat(self, fn) -> float:
        return float(fn(self.array.astype(np.float64, copy=False))) if self.array.size else float("nan")

    @property
    def mean(self) -> float:
        return self._stat(np.mean)

    @property
    def std(self) -> float:
        return self._stat(np.std)

    @property
    def min(self) -> float:
        return self._stat(np.min)

    @property
    def max(self) -> float:
        return self._stat(np.max)


class Trace:
    """The entries of one step, in order; index by position or by name.

    ``trace["mu"]`` -> TraceEntry, ``trace["mu"].array`` -> the array,
    ``trace.names()`` -> all names in order, ``str(trace)`` -> the table.
    ``trace.loss`` and ``trace.options`` record the loss and the keyword
    arguments the step was run with.
    """

    def __init__(self, entries, loss: float, options: dict):
        self.entries = list(entries)
        self.loss = float(loss)
        self.options = dict(options)
        names = [e.name for e in self.entries]
        if len(set(names)) != len(names):   # a programming error here, not a user's
            raise RuntimeError(f"Trace: duplicate entry names in {names}")
        self._by_name = {e.name: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __contains__(self, name) -> bool:
        return name in self._by_name

    def __getitem__(self, key) -> TraceEntry:
        if isinstance(key, str):
            if key not in self._by_name:
                raise KeyError(f"no entry {key!r} in this trace; entries: {', '.join(self.names())}")
            return self._by_name[key]
        return self.entries[key]

    def names(self, role: str | None = None) -> list[str]:
        """Entry names in order, optionally only those of one role ("forward" or "gradient")."""
        if role is not None and role not in ROLES:
            raise ValueError(f"Trace.names: role must be one of {ROLES} or None, got {role!r}")
        return [e.name for e in self.entries if role is None or e.role == role]

    def __str__(self) -> str:
        return format_trace(self)

    def __repr__(self) -> str:
        return f"Trace({len(self)} entries, loss={self.loss:.4f})"


def _entry(name, role, value, note=""):
    return TraceEntry(name, role, np.array(value, copy=True), note)   # np.array(..., copy=True): never a view


def trace_step(model, x: np.ndarray, eps: np.ndarray | None = None, **loss_kwargs) -> Trace:
    """Run one forward and backward pass of ``model`` on ``x`` and return every tensor in order.

    Parameters
    ----------
    model : numpyvae.VAE
    x : (N, D) array in the model's dtype (keep N small: every array is copied)
    eps : (S, N, K) or (N, K), optional   the noise; drawn by the model if None
    **loss_kwargs : passed to ``model.loss_and_grads`` (n_samples, beta, kl, objective)

    Returns
    -------
    Trace, whose entries are, in order:
      forward:  x (N, D), h (N, H), mu (N, K), logvar (N, K), sigma (N, K), eps (S, N, K),
                z (S, N, K), decoder.<head> (S, N, D) per head, nll (S, N), kl (N,),
                bound (N,), loss ()
      gradient: d decoder.<head> (S, N, D), the decoder's parameter gradients
                (output layer first), dz (S, N, K), dmu (N, K), dlogvar (N, K),
                dh (N, H), the encoder's parameter gradients (mu and logvar heads
                first, then the trunk from its last layer to its first)
    Parameter gradients are named like the parameters ("encoder.0.W").
    The model's parameters and gradients are left exactly as loss_and_grads left them.
    """
    for attr in ("forward", "backward", "grads", "params", "likelihood", "posterior"):
        if not hasattr(model, attr):
            raise TypeError(f"trace_step: model must be a numpyvae.VAE or another model of the protocol "
                            f"(numpyvae.models.base.Model), got {type(model).__name__} (it has no attribute {attr!r})")
    if getattr(model, "kind", "vae") != "vae" or getattr(model.posterior, "name", None) != "gaussian" \
            or getattr(model, "n_labels", 0):
        return _trace_from_tape(model, x, eps, loss_kwargs)
    c = model.forward(x, eps, **loss_kwargs)
    grads = model.backward(c)
    loss = c.loss
    param_grads = {name: g.copy() for name, g in grads.items()}
    # the encoder's trunk output h and the gradient reaching it, dh = dmu W_muᵀ + dlogvar W_lvᵀ
    h = c["_enc"].heads[0].x2
    dh = c["dmu"] @ model.params["encoder.mu.W"].T + c["dlogvar"] @ model.params["encoder.logvar.W"].T
    objective = loss_kwargs.get("objective", "elbo")
    kl_kind = loss_kwargs.get("kl") or ("analytic" if objective == "elbo" else "mc")
    heads = [name for name in c if name.startswith("decoder.")]
    mu, logvar, eps_, z = c["mu"], c["logvar"], c["eps"], c["z"]

    entries = [
        _entry("x", "forward", c["x"], "the batch"),
        _entry("h", "forward", h, "h = encoder MLP(x)"),
        _entry("mu", "forward", mu, "mu = h W_mu + b_mu"),
        _entry("logvar", "forward", logvar, "logvar = h W_lv + b_lv"),
        _entry("sigma", "forward", c["_q"].sigma, "sigma = exp(logvar / 2)"),
        _entry("eps", "forward", eps_, "eps ~ N(0, I)"),
        _entry("z", "forward", z, "z = mu + sigma * eps"),
    ]
    entries += [_entry(name, "forward", c[name], "decoder MLP(z)") for name in heads]
    entries += [
        _entry("nll", "forward", c["nll"], "-log p(x|z) per sample"),
        _entry("kl", "forward", c["kl"], f"KL(q(z|x) || p(z)) per example ({kl_kind})"),
        _entry("bound", "forward", c["bound"], "ELBO" if objective == "elbo" else "IWAE bound"),
        _entry("loss", "forward", np.asarray(loss), "loss = -mean_n bound"),
    ]

    # ---- the backward pass, in the order VAE.backward computed it ------------------------
    # (VAE.backward keeps its intermediate gradients in the tape; every one is copied here)
    entries += [_entry(f"d {name}", "gradient", c[f"d {name}"],
                       f"{type(model.likelihood).__name__}.backward(c), c = per-sample weights")
                for name in heads]
    dec_names = [n for n in param_grads if n.startswith("decoder.")]
    entries += [_entry(n, "gradient", param_grads[n], "Dense backward: dW = inputᵀ dy, db = Σ dy")
                for n in reversed_layers(dec_names)]
    entries.append(_entry("dz", "gradient", c["dz"], "decoder backward (+ d(-log p(z))/dz for MC KL)"))
    entries.append(_entry("dmu", "gradient", c["dmu"], "Σ_s dz (+ β mu / N for the analytic KL)"))
    entries.append(_entry("dlogvar", "gradient", c["dlogvar"],
                          "Σ_s dz eps sigma / 2 + the KL's own term"))
    enc_names = [n for n in param_grads if n.startswith("encoder.")]
    head_names = [n for n in enc_names if n.startswith(("encoder.mu.", "encoder.logvar."))]
    trunk_names = [n for n in enc_names if n not in head_names]
    entries += [_entry(n, "gradient", param_grads[n], "Dense backward: dW = hᵀ dmu (or dlogvar), db = Σ_n")
                for n in head_names]
    entries.append(_entry("dh", "gradient", dh, "dh = dmu W_muᵀ + dlogvar W_lvᵀ (recomputed)"))
    entries += [_entry(n, "gradient", param_grads[n], "encoder MLP backward") for n in reversed_layers(trunk_names)]

    options = dict(loss_kwargs, eps_given=eps is not None)
    return Trace(entries, loss, options)


def _tape_entries(tape, names, role: str, note: str) -> list:
    """The array entries of ``tape`` among ``names``, in order; a list (one per layer) becomes name1, name2, ..."""
    entries = []
    for name in names:
        value = tape[name]
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
            entries += [_entry(f"{name}{l}", role, v, f"{note}, layer {l}") for l, v in enumerate(value, 1)]
        elif isinstance(value, np.ndarray):
            entries.append(_entry(name, role, value, note))
    return entries


def _trace_from_tape(model, x, eps, loss_kwargs) -> Trace:
    """The view of any model of the protocol, read off its tape: what forward recorded, in order, then what
    backward added (the per-sample weights c and the intermediate gradients), then the parameter gradients."""
    tape = model.forward(x, eps, **loss_kwargs)
    forward_names = [n for n in tape if not n.startswith("_")]
    grads = model.backward(tape)
    gradient_names = [n for n in tape if not n.startswith("_") and n not in forward_names]
    entries = _tape_entries(tape, forward_names, "forward", f"{type(model).__name__}.forward")
    entries.append(_entry("loss", "forward", np.asarray(tape.loss), "loss = -mean_n bound"))
    entries += _tape_entries(tape, gradient_names, "gradient", f"{type(model).__name__}.backward")
    entries += [_entry(n, "gradient", grads[n], "parameter gradient") for n in reversed_layers(list(grads))]
    return Trace(entries, tape.loss, dict(loss_kwargs, eps_given=eps is not None, kind=getattr(model, "kind", "")))


def reversed_layers(names: list[str]) -> list[str]:
    """Parameter names grouped by layer, layers in reverse (backward) order, W before b within a layer.

    ["encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b"] -> ["encoder.1.W", "encoder.1.b", "encoder.0.W", "encoder.0.b"]
    """
    layers: dict[str, list[str]] = {}
    for n in names:
        layers.setdefault(n.rsplit(".", 1)[0], []).append(n)
    return [n for layer in reversed(list(layers)) for n in layers[layer]]


def _fmt(v: float) -> str:
    return f"{v:10.3g}"


def format_trace(trace: Trace, *, notes: bool = False) -> str:
    """A fixed-width table: #, name, role, shape, dtype, mean, std, min, max (and the equation if ``notes``)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"format_trace: expected the Trace returned by trace_step, got {type(trace).__name__}")
    w = max(len("name"), *(len(e.name) for e in trace))
    head = (f"{'#':>3}  {'name':<{w}}  {'role':<8}  {'shape':<14} {'dtype':<8}"
            f"{'mean':>10} {'std':>10} {'min':>10} {'max':>10}")
    if notes:
        head += "  equation"
    out = io.StringIO()
    out.write(head + "\n" + "-" * len(head) + "\n")
    role = None
    for i, e in enumerate(trace):
        if role is not None and e.role != role:
            out.write("-" * len(head) + "\n")      # a rule between the forward and backward halves
        role = e.role
        line = (f"{i:>3}  {e.name:<{w}}  {e.role:<8}  {str(e.shape):<14} {e.dtype.name:<8}"
                f"{_fmt(e.mean)} {_fmt(e.std)} {_fmt(e.min)} {_fmt(e.max)}")
        if notes:
            line += f"  {e.note}"
        out.write(line + "\n")
    out.write(f"loss = {trace.loss:.6g} nats per example")
    return out.getvalue()


def print_trace(trace: Trace, *, notes: bool = False, file=None) -> None:
    """Print :func:`format_trace` (to ``file``, default stdout)."""
    print(format_trace(trace, notes=notes), file=file)
