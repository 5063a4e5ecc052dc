"""Global (not amortized) parameters for planar and radial steps: one learned map shared by all examples."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ...checks import as_dtype


class GlobalStep:
    """Wrap a planar or radial step so its parameters are learned arrays shared by all examples.

    The wrapped step's heads become ``self.params`` (one array of shape (size,) per head) and
    the step reads them broadcast to (N, size): every example uses the same map. Backward
    sums the step's per-example gradients over N (each example used the same array):
        grads[name] = Σ_n dtheta[name][n]
    The wrapper asks the encoder for nothing (heads = {}).

    Initial values: small random u, w, z0 (w is never 0), zeros for b, alpha', beta'.
    """

    def __init__(self, step, *, rng: np.random.Generator | None = None, dtype="float32"):
        if not step.heads or step.params:
            raise ValueError(f"GlobalStep: wraps a step with per-example heads and no global parameters "
                             f"(planar, radial), got a {step.kind} step")
        rng = rng if rng is not None else np.random.default_rng(0)
        dtype = as_dtype(dtype)
        self.step, self.kind, self.dim = step, step.kind, step.dim
        self.heads: OrderedDict = OrderedDict()
        self.params: OrderedDict = OrderedDict()
        self.grads: OrderedDict = OrderedDict()
        for name, size in step.heads.items():
            if name in ("u", "w", "z0"):
                init = 0.1 * rng.standard_normal(size) + (0.5 if name == "w" else 0.0)
            else:
                init = np.zeros(size)
            self.params[name] = init.astype(dtype)
            self.grads[name] = np.zeros(size, dtype=dtype)

    def named_layers(self):
        yield "", self                                     # params/grads live on the wrapper itself

    def forward(self, z, theta, context=None):
        """z (S, N, D) -> f, logdet, tape, with every example using the shared parameters."""
        N = z.shape[1]
        shared = [np.broadcast_to(p, (N, p.size)) for p in self.params.values()]
        return self.step.forward(z, shared, context)

    def backward(self, df, dlogdet, tape):
        """The wrapped step's backward, its per-example dtheta summed over examples into self.grads."""
        dz, dtheta, dcontext = self.step.backward(df, dlogdet, tape)
        for g, d in zip(self.grads.values(), dtheta):
            np.sum(d, axis=0, out=g)
        return dz, [], dcontext

