"""Check hand-written gradients against finite differences.

The idea fits in one line: for a scalar function f and a tiny h,

    df/dθ_i  ≈  (f(θ + h e_i) - f(θ - h e_i)) / (2h)        (central difference)

with error O(h^2). In float64 with h = 1e-6 a correct gradient of smooth code
agrees to about 1e-8 relative error or better; a wrong one is usually off by
1e-2 or more. (Do this in float64: in float32 the rounding error of f, ~1e-7,
divided by 2h swamps everything.)

Example a student can paste::

    import numpy as np
    from numpyvae.nn import Dense
    from numpyvae.teach.gradcheck import check_layer

    layer = Dense(3, 2, dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 3))
    report = check_layer(layer, x)
    print(report)            # a table: name, shape, max relative error
    assert report.passed()   # every error below 1e-7
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TINY = 1e-30
DEFAULT_TOL = 1e-7


def _check_step(h, where: str) -> float:
    """h must be a finite number > 0: the difference quotient divides by 2h."""
    if isinstance(h, bool) or not isinstance(h, (int, float, np.integer, np.floating)) or not np.isfinite(h) or h <= 0:
        raise ValueError(f"{where}: h (the finite-difference step) must be a finite number > 0, got {h!r}; "
                         "1e-6 suits float64")
    return float(h)


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar f(x) with respect to the array x.

    ``x`` is perturbed in place one element at a time and restored exactly, so
    ``f`` may ignore its argument and read ``x`` through a closure (handy for
    a weight inside a model). Returns an array of x's shape.
    """
    _check_step(h, "numerical_gradient")
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"numerical_gradient: x must be a float64 array, got {got}; "
                         "finite differences in float32 are swamped by rounding error")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)   # views: writes reach x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = float(f(x))
        flat[i] = old - h
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_rows(f_rows, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a loss whose rows do not interact, all rows at once.

    ``f_rows(x)`` returns the loss's terms per row, shape (N,), where row n depends on x[n] only.
    Entry j of every row is perturbed together and each row's own term is differenced, so the
    cost is 2·x[0].size evaluations instead of 2·x.size (tutorial 11 differences 50 000 rows).
    ``x`` (float64, C-contiguous) is perturbed in place and restored exactly.
    """
    _check_step(h, "numerical_gradient_rows")
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or not x.flags.c_contiguous:
        raise ValueError("numerical_gradient_rows: x must be a C-contiguous float64 array")
    flat, grad = x.reshape(len(x), -1), np.zeros((len(x), x[0].size))
    for j in range(flat.shape[1]):
        old = flat[:, j].copy()
        flat[:, j] = old + h
        plus = np.asarray(f_rows(x), dtype=np.float64)
        flat[:, j] = old - h
        minus = np.asarray(f_rows(x), dtype=np.float64)
        flat[:, j] = old
        grad[:, j] = (plus - minus) / (2 * h)
    return grad.reshape(x.shape)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a| + |n|, tiny), both maxima over all elements.

    Dividing by the gradient's overall size (not element by element) keeps
    elements that are ~0 in both from reporting a huge "relative" error made
    of pure rounding noise.
    """
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"relative_error: shapes differ: analytic {a.shape} vs numeric {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n)) / max(float(np.max(np.abs(a) + np.abs(n))), TINY))


@dataclass
class Row:
    """One checked array: its name, shape, and the worst errors found."""
    name: str
    shape: tuple
    rel_error: float
    abs_error: float


@dataclass
class GradCheckReport:
    """Per-array results of a gradient check, printable as a table."""
    rows: list = field(default_factory=list)
    tol: float = DEFAULT_TOL
    compared: tuple = None       # ({name: answer}, {name: reference}) when kept, for hints.diagnose

    @property
    def worst(self) -> float:
        """The largest relative error over all arrays."""
        return max((r.rel_error for r in self.rows), default=0.0)

    def passed(self, tol: float | None = None) -> bool:
        """True if every array's relative error is at most ``tol``."""
        return self.worst <= (self.tol if tol is None else tol)

    def __getitem__(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        w = max([len("name")] + [len(r.name) for r in self.rows])
        lines = [f"{'name':<{w}}  {'shape':<14} {'max rel err':>11}  {'max abs err':>11}  ok"]
        for r in self.rows:
            ok = "yes" if r.rel_error <= self.tol else "NO"
            lines.append(f"{r.name:<{w}}  {str(r.shape):<14} {r.rel_error:11.2e}  {r.abs_error:11.2e}  {ok}")
        verdict = "PASS" if self.passed() else "FAIL"
        lines.append(f"{verdict}: worst relative error {self.worst:.2e} (tolerance {self.tol:.0e})")
        return "\n".join(lines)


def check_gradients(f, arrays: dict, analytic: dict, *, h: float = 1e-6, tol: float = DEFAULT_TOL) -> GradCheckReport:
    """Compare analytic gradients with central differences, array by array.

    Parameters
    ----------
    f : callable () -> float   the scalar loss; it reads the arrays (perturbed in place)
    arrays : dict name -> float64 array   the inputs to differentiate with respect to
    analytic : dict name -> array         your gradients, same names and shapes
    """
    _check_step(h, "check_gradients")
    missing = set(arrays) - set(analytic)
    if missing:
        raise ValueError(f"check_gradients: no analytic gradient given for {sorted(missing)}")
    report = GradCheckReport(tol=tol)
    for name, x in arrays.items():
        a = np.asarray(analytic[name])
        if a.shape != x.shape:
            raise ValueError(f"check_gradients: gradient for {name!r} has shape {a.shape}, "
                             f"but the array has shape {x.shape}")
        n = numerical_gradient(lambda _: f(), x, h)
        report.rows.append(Row(name, x.shape, relative_error(a, n), float(np.max(np.abs(a - n), initial=0.0))))
    return report


def check_layer(layer, x: np.ndarray, *, seed: int = 0, h: float = 1e-6, tol: float = DEFAULT_TOL) -> GradCheckReport:
    """Check a layer's (or a whole network's) backward: input and every parameter.

    The scalar checked is L = Σ dy ⊙ y, y the output of forward(x), for a
    fixed random dy, so dL/dy = dy and backward(dy, tape) must return dL/dx
    and fill dL/dθ. Works for anything with ``forward(x) -> (y, tape)``,
    ``backward(dy, tape)``, ``params``, ``grads`` (Dense, activations,
    Sequential, MLP). Use float64 parameters and x.
    """
    _check_step(h, "check_layer")
    not64 = {k: v.dtype.name for k, v in layer.params.items() if v.dtype != np.float64}
    if not64:
        raise ValueError(f"check_layer: {type(layer).__name__} has parameters that are not float64 ({not64}); "
                         "build the layer with dtype='float64' to check it (finite differences in float32 "
                         "are swamped by rounding error)")
    x = np.array(x, dtype=np.float64)  # a private copy we may perturb
    y, tape = layer.forward(x)
    dy = np.random.default_rng(seed).standard_normal(y.shape)

    def loss():
        return float(np.sum(dy * layer.forward(x)[0]))

    analytic = {"x": layer.backward(dy, tape)}
    analytic.update({k: g.copy() for k, g in layer.grads.items()})
    arrays = {"x": x}
    arrays.update(layer.params)
    return check_gradients(loss, arrays, analytic, h=h, tol=tol)
