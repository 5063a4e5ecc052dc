"""Hints that name the mistake: what a wrong gradient has in common with the right one.

The grader's table says *which* arrays are wrong; the commonest mistakes leave a trace a
sentence can name. A gradient that is a constant multiple of the right one (a sign flip, a
missing or extra 1/2, an average taken as a sum over the S samples or the N examples or the
other way round), or the right one transposed, is recognised here and said in words::

    diagnose({"dW": answer}, {"dW": right}, S=3, N=5)
    -> "dW is 3 × the right gradient (3 = S, the number of samples): a sum over the samples
        where the bound averages them? Divide by S."

Pure functions of arrays: no printing, no grading. ``exercises.grade`` appends the sentence
to a FAIL; the tests are in tests/test_hints.py.
"""
from __future__ import annotations

import numpy as np

__all__ = ["diagnose", "hint_for", "shape_hint", "problem_sizes"]

CLOSE = 1e-6          # arrays this close (relative to the whole gradient) are right; finite differences are ~1e-10 off
FIT = 1e-4            # a ratio "fits" when the answer minus ratio × reference is this small relative to the answer
SAME_RATIO = 1e-3     # a fitted ratio names a factor when within this relative distance of it


def _factors(S, N) -> list:
    """(value, label, what it is, advice) for every factor worth naming."""
    out = []
    if S and S > 1:
        out += [(float(S), f"{S}", "S, the number of samples",
                 "a sum over the samples where the bound averages them? Divide by S."),
                (1.0 / S, f"1/{S}", "1/S",
                 "averaged over the samples twice, or where nothing is averaged? Multiply by S.")]
    if N and N > 1:
        out += [(float(N), f"{N}", "N, the batch size", "a sum over the batch where the loss averages it? Divide by N."),
                (1.0 / N, f"1/{N}", "1/N",
                 "divided by the batch size where the loss sums over it, or twice? Multiply by N.")]
    out += [(-1.0, "−1", "", "the gradient of the bound where the loss (minus the bound) is asked, or the other way round?"),
            (2.0, "2", "", "a factor 1/2 dropped (from a square, from σ = exp(logvar/2), or from ½ log σ²)?"),
            (0.5, "1/2", "", "a factor 2 dropped, or a 1/2 applied twice?"),
            (-2.0, "−2", "", "the sign flipped and a factor 1/2 dropped?"),
            (-0.5, "−1/2", "", "the sign flipped and a factor 2 dropped?")]
    return out


def _ratio(a: np.ndarray, r: np.ndarray):
    """The c with a ≈ c r (least squares) if it fits to FIT, else None."""
    rr = float(np.vdot(r, r))
    if rr == 0.0 or not np.any(a):
        return None
    c = float(np.vdot(a, r)) / rr
    if np.max(np.abs(a - c * r)) > FIT * np.max(np.abs(a)):
        return None
    return c


def _ratio_sentence(subject: str, c: float, S, N) -> str:
    """"<subject> <factor> × the right gradient (what the factor is): <advice>." for c ≈ a named factor."""
    named = [f for f in _factors(S, N) if abs(c - f[0]) <= SAME_RATIO * abs(f[0])]
    if not named:
        return f"{subject} {c:.4g} × the right gradient everywhere: one constant factor is off."
    if named[0][0] == -1.0:
        return f"{subject} the right gradient with its sign flipped: {named[0][3]}"
    label = named[0][1]
    what = " or ".join(f[2] for f in named if f[2])
    advice = " Or ".join(f[3] for f in named)
    return f"{subject} {label} × the right gradient{f' ({label} = {what})' if what else ''}: {advice}"


def diagnose(submitted: dict, reference: dict, S: int | None = None, N: int | None = None) -> str | None:
    """A sentence naming the mistake, or None when no simple pattern explains it.

    submitted, reference : {name: array}, the learner's gradients and the right ones (the same
                           names and shapes; finite differences will do for the reference)
    S, N : the problem's number of samples and batch size, when it has them (to name 1/S, 1/N)

    Looked for, in order: all the wrong arrays off by one common factor (−1, 2, 1/2, S, 1/S, N,
    1/N or any constant); then each wrong array alone: a factor, or the transpose of the right
    one (square arrays; other shapes are refused by the grader before this, see shape_hint).
    """
    names = [k for k in reference if k in submitted]
    a = {k: np.asarray(submitted[k], dtype=np.float64) for k in names}
    r = {k: np.asarray(reference[k], dtype=np.float64) for k in names}
    scale = max((float(np.max(np.abs(r[k]), initial=0.0)) for k in names), default=0.0)
    wrong = [k for k in names if a[k].shape == r[k].shape
             and np.max(np.abs(a[k] - r[k]), initial=0.0) > CLOSE * max(scale, 1e-300)]
    if not wrong:
        return None
    if len(wrong) > 1:
        c = _ratio(np.concatenate([a[k].ravel() for k in wrong]), np.concatenate([r[k].ravel() for k in wrong]))
        if c is not None:
            who = "Your whole gradient is" if len(wrong) == len(names) else f"{', '.join(wrong)} are each"
            return _ratio_sentence(who, c, S, N)
    groups, sentences, unexplained = {}, [], []
    for k in wrong:                       # arrays with the same factor share one sentence
        c = _ratio(a[k].ravel(), r[k].ravel())
        if c is not None:
            key = _factor_key(c, S, N)
            groups.setdefault(key, ([], c))[0].append(k)
        elif not np.any(a[k]):
            sentences.append(f"{k} is zero everywhere: is it computed at all, or overwritten?")
        elif a[k].ndim == 2 and a[k].shape[0] == a[k].shape[1] and \
                np.max(np.abs(a[k].T - r[k])) <= CLOSE * max(scale, 1e-300):
            sentences.append(f"{k} is the transpose of the right gradient: which index is the row?")
        else:
            unexplained.append(k)
    for members, c in groups.values():
        subject = f"{members[0]} is" if len(members) == 1 else f"{', '.join(members)} are each"
        sentences.insert(0, _ratio_sentence(subject, c, S, N))
    if sentences and unexplained:
        sentences.append(f"({', '.join(unexplained)}: no simple pattern; the chain rule may carry the same "
                         f"mistake into them, so fix the others first.)")
    return " ".join(sentences) or None


def _factor_key(c: float, S, N):
    """The named factor c matches (so arrays off by the same factor group together), else c itself."""
    for f in _factors(S, N):
        if abs(c - f[0]) <= SAME_RATIO * abs(f[0]):
            return f[0]
    return round(c, 3)


def shape_hint(name: str, got: tuple, want: tuple) -> str:
    """": <what the shape says>" for a gradient of the wrong shape, when the shape says what went wrong, else ""."""
    got, want = tuple(got), tuple(want)
    if len(got) == 2 and got == want[::-1] and got != want:
        return f": its axes are swapped, the transpose of what is asked"
    if len(got) == len(want) + 1 and got[1:] == want:
        return f": an extra leading axis of {got[0]}, to be summed (or averaged) away?"
    if len(got) + 1 == len(want) and want[1:] == got:
        return f": the leading axis of {want[0]} is lost, a sum over it where none is due?"
    return ""


def problem_sizes(arrays: dict, n: int):
    """(S, N) of a drawn problem: N the batch size, S the number of samples (None if it has none).

    S is read from the noise: ``eps`` or ``_eps`` of shape (S, N, K), or ``log_w`` (S, N).
    """
    for key in ("_eps", "eps"):
        e = arrays.get(key)
        if isinstance(e, np.ndarray) and e.ndim == 3:
            return int(e.shape[0]), int(e.shape[1])
    log_w = arrays.get("log_w")
    if isinstance(log_w, np.ndarray) and log_w.ndim == 2:
        return int(log_w.shape[0]), int(log_w.shape[1])
    return None, n


def hint_for(report, arrays: dict, n: int) -> str:
    """" " + the diagnosis of a failed check (a GradCheckReport whose ``compared`` was kept), or ""."""
    if getattr(report, "compared", None) is None:
        return ""
    sentence = diagnose(*report.compared, *problem_sizes(arrays, n))
    return f" {sentence}" if sentence else ""
