"""The BLAS bound: every matrix product of one training step, and this machine's time for them in isolation.

``steps × time per step`` of these products is the time an epoch would take if it did nothing but its
matmuls; the epoch bench (:mod:`numpyvae.bench.training`) compares each epoch with it.
"""
from __future__ import annotations

import time

import numpy as np

from .step_timing import best_per_call

__all__ = ["matmul_shapes", "matmul_operands", "measure_matmuls"]


def matmul_shapes(model, batch_size: int, n_samples: int = 1) -> list[dict]:
    """Every matrix product of one training step of ``model``, in the order the step runs them.

    Each entry is a dict with the layer name, the op ("forward", "dW", "dx"),
    the operand shapes ``a`` (m, k) and ``b`` (k, n) and ``flops = 2·m·k·n``
    (one multiply and one add per term). The layers reading x (the encoder; a hierarchy's q(z₁|x))
    see B = batch_size rows, all others B = n_samples·batch_size (all samples in one matmul).
    The first encoder layer has no "dx": its input is the data.
    """
    from ..nn import Dense
    dense = [(name, layer) for name, layer in model.named_layers() if isinstance(layer, Dense)]
    ops = []
    for i, (name, layer) in enumerate(dense):
        rows = batch_size * (1 if name.startswith(("encoder", "q.z1.")) else n_samples)
        d_in, d_out = layer.d_in, layer.d_out
        ops.append(dict(layer=name, op="forward", a=(rows, d_in), b=(d_in, d_out)))   # x @ W
        ops.append(dict(layer=name, op="dW", a=(d_in, rows), b=(rows, d_out)))        # x.T @ dy
        if i > 0:
            ops.append(dict(layer=name, op="dx", a=(rows, d_out), b=(d_out, d_in)))   # dy @ W.T
    for op in ops:
        (m, k), (_, n) = op["a"], op["b"]
        op["flops"] = 2 * m * k * n
    return ops


def matmul_operands(ops: list[dict], dtype="float32", seed: int = 0) -> list[tuple]:
    """(a, b, out) for each product of :func:`matmul_shapes`, random, laid out as the layers lay them out:
    ``x @ W`` on C-contiguous arrays, ``x.T @ dy`` and ``dy @ W.T`` on transposed views, and a
    preallocated result for ``np.matmul(a, b, out=out)``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    calls = []
    for op in ops:
        (m, k), (_, n) = op["a"], op["b"]
        if op["op"] == "forward":
            a = rng.standard_normal((m, k), dtype=dtype)
            b = rng.standard_normal((k, n), dtype=dtype)
        elif op["op"] == "dW":     # x.T @ dy: x is (B, D_in) C-contiguous, transposed view
            a = rng.standard_normal((k, m), dtype=dtype).T
            b = rng.standard_normal((k, n), dtype=dtype)
        else:                      # dy @ W.T: W is (D_in, D_out) C-contiguous, transposed view
            a = rng.standard_normal((m, k), dtype=dtype)
            b = rng.standard_normal((n, k), dtype=dtype).T
        calls.append((a, b, np.empty((m, n), dtype=dtype)))
    return calls


def measure_matmuls(ops: list[dict], dtype="float32", *, repeats: int = 5, min_seconds: float = 0.2,
                    seed: int = 0, clock=time.perf_counter) -> dict:
    """Time the products of one step in isolation: seconds per step, best of ``repeats``.

    Each product is computed exactly as the layers compute it (:func:`matmul_operands`),
    each into a preallocated result (``out=``). The whole list is timed by
    :func:`numpyvae.bench.step_timing.best_per_call` (the best of ``repeats``, about
    ``min_seconds`` in all): other programs can only slow a repeat down, never
    speed it up.

    ``clock`` is the timer: wall time (``time.perf_counter``), or the process's CPU
    time (``time.process_time``), which other programs cannot inflate; with one
    BLAS thread the two agree on a quiet machine.

    Returns {"seconds_per_step", "flops_per_step", "gflops", "per_op": [seconds per op]}.
    """
    calls = matmul_operands(ops, dtype, seed)

    def run_all():
        for a, b, out in calls:
            np.matmul(a, b, out=out)

    best = best_per_call(run_all, repeats=repeats, min_seconds=min_seconds, clock=clock)
    # the split per op, for the report: each product alone, in an equal share of the time
    per_op = [best_per_call(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), repeats=1,
                            min_seconds=min_seconds / len(calls), clock=clock) for a, b, out in calls]
    flops = sum(op["flops"] for op in ops)
    return dict(seconds_per_step=best, flops_per_step=flops, gflops=flops / best / 1e9, per_op=per_op)
