"""One training step, laid out tensor by tensor: the step-through view.

A lecturer calls::

    trace = trace_step(model, x_batch)
    print_trace(trace)

and gets, in the order the computation happens, every array of one forward
and backward pass: x, h, mu, logvar, eps, z, the decoder's heads, the loss
terms, then the gradients flowing back (d logits, the decoder's weight
gradients, dz, dmu, dlogvar, dh, the encoder's weight gradients). Each row has
the shape, dtype and a few statistics; ``trace["dz"].array`` is the array itself.

How it is built. :meth:`VAE.loss_and_grads` does the step and leaves its
forward intermediates in ``model.cache`` and the parameter gradients in
``model.grads``. The intermediate gradients (d logits, dz, dmu, dlogvar, dh)
live only inside that call, so :func:`trace_step` recomputes them here from
the same public pieces the model uses (likelihood backward, the decoder's
layers, reparameterization backward, KL backward), written out one line per
equation. The tests check that these recomputed gradients reproduce the
model's own parameter gradients (e.g. hᵀ · dmu == grads["encoder.mu.W"]).

Every array in a trace is a copy: the model overwrites its buffers on the
next call, a trace taken earlier does not change.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from .kl import kl_analytic_backward, kl_monte_carlo, kl_monte_carlo_backward
from .objectives import sample_weights
from .reparam import reparameterize_backward

__all__ = ["TraceEntry", "Trace", "trace_step", "format_trace", "print_trace"]

ROLES = ("forward", "gradient")


@dataclass(frozen=True)
class TraceEntry:
    """One named array of the step.

    name : str     "x", "mu", "decoder.logits", "dz", "encoder.0.W", ...
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
    for attr in ("loss_and_grads", "cache", "grads", "likelihood", "dec_heads", "decoder", "enc_mu", "enc_logvar"):
        if not hasattr(model, attr):
            raise TypeError(f"trace_step: model must be a numpyvae.VAE, got {type(model).__name__} "
                            f"(it has no attribute {attr!r})")
    loss, grads = model.loss_and_grads(x, eps, **loss_kwargs)
    param_grads = {name: g.copy() for name, g in grads.items()}       # before anything can touch them
    flat_grads_before = model.flat_grads.copy()
    c = model.cache
    beta = float(loss_kwargs.get("beta", 1.0))
    objective = loss_kwargs.get("objective", "elbo")
    kl_kind = loss_kwargs.get("kl") or ("analytic" if objective == "elbo" else "mc")
    heads = [name for name in c if name.startswith("decoder.")]
    mu, logvar, eps_, z = c["mu"], c["logvar"], c["eps"], c["z"]
    S, N = eps_.shape[:2]
    sigma = np.exp(0.5 * logvar)

    entries = [
        _entry("x", "forward", c["x"], "the batch"),
        _entry("h", "forward", c["h"], "h = encoder MLP(x)"),
        _entry("mu", "forward", mu, "mu = h W_mu + b_mu"),
        _entry("logvar", "forward", logvar, "logvar = h W_lv + b_lv"),
        _entry("sigma", "forward", sigma, "sigma = exp(logvar / 2)"),
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

    # ---- the backward pass again, one equation per line ------------------------------------
    # w_sn: how much sample (s, n) counts in the loss (1/(S N) for the ELBO, softmax/N for IWAE)
    if kl_kind == "analytic":
        log_w, kl_sn = None, None
    else:
        kl_sn = kl_monte_carlo(z, eps_, logvar)                     # log q - log p at each sample
        log_w = -(c["nll"] + beta * kl_sn)
    w = sample_weights(log_w, objective, S, N, model.dtype)

    # d loss / d heads: the likelihood's backward, weighted per sample
    model.likelihood.forward(c["x"], *(c[name] for name in heads), check=False)
    dheads = model.likelihood.backward(w)
    entries += [_entry(f"d {name}", "gradient", d, f"{type(model.likelihood).__name__}.backward(w)")
                for name, d in zip(heads, dheads)]

    # through the decoder's layers (their caches still hold this step's forward)
    dec_names = [n for n in param_grads if n.startswith("decoder.")]
    entries += [_entry(n, "gradient", param_grads[n], "Dense backward: dW = inputᵀ dy, db = Σ dy")
                for n in reversed_layers(dec_names)]
    dhd = model.dec_heads[0].backward(dheads[0])
    for head, d in zip(model.dec_heads[1:], dheads[1:]):
        dhd = dhd + head.backward(d)
    dz = model.decoder.backward(dhd)                                  # ∂(reconstruction)/∂z
    if kl_kind == "mc":
        dz_kl, dlogvar_kl = kl_monte_carlo_backward(z, beta * w)       # -log p(z) depends on z
        dz = dz + dz_kl
        dmu_kl = 0.0
    else:
        dmu_kl, dlogvar_kl = kl_analytic_backward(mu, logvar)          # mu, (e^logvar - 1)/2
        dmu_kl, dlogvar_kl = dmu_kl * (beta / N), dlogvar_kl * (beta / N)
    entries.append(_entry("dz", "gradient", dz, "decoder backward (+ d(-log p(z))/dz for MC KL)"))

    # through z = mu + sigma * eps:  dmu = Σ_s dz,  dlogvar = Σ_s dz * eps * sigma / 2, plus the KL's own part
    dmu_rec, dlogvar_rec = reparameterize_backward(dz, eps_, sigma)
    dmu = dmu_rec + dmu_kl
    dlogvar = dlogvar_rec + dlogvar_kl
    entries.append(_entry("dmu", "gradient", dmu, "Σ_s dz + β mu / N (analytic KL)"))
    entries.append(_entry("dlogvar", "gradient", dlogvar, "Σ_s dz eps sigma / 2 + β (e^logvar - 1) / (2N)"))

    # mu and logvar are both Dense maps of h, so h gets both contributions
    p = {name: arr for name, arr in model.params.items()}
    dh = dmu @ p["encoder.mu.W"].T + dlogvar @ p["encoder.logvar.W"].T
    enc_names = [n for n in param_grads if n.startswith("encoder.")]
    head_names = [n for n in enc_names if n.startswith(("encoder.mu.", "encoder.logvar."))]
    trunk_names = [n for n in enc_names if n not in head_names]
    entries += [_entry(n, "gradient", param_grads[n], "Dense backward: dW = hᵀ dmu (or dlogvar), db = Σ_n")
                for n in head_names]
    entries.append(_entry("dh", "gradient", dh, "dh = dmu W_muᵀ + dlogvar W_lvᵀ"))
    entries += [_entry(n, "gradient", param_grads[n], "encoder MLP backward") for n in reversed_layers(trunk_names)]

    # the decoder backward above rewrote the decoder's gradients (with the same values); restore exactly
    np.copyto(model.flat_grads, flat_grads_before)
    options = dict(loss_kwargs, eps_given=eps is not None)
    return Trace(entries, loss, options)


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
