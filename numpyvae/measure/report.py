"""``python -m numpyvae evaluate`` for M2, the Helmholtz machine and AVB: their numbers on the test set.

Every kind reports its importance-sampled log p(x) (:func:`numpyvae.measure.importance_sampled`
through the model's own ``log_likelihood``), labelled with the proposal it used, on the test draw
the run was validated on, and the objective the run was trained on:

    helmholtz   log p(x) with q(h|x) as proposal, and the ELBO of the same samples
    m2          log p(x) = logsumexp_y log p̂(x|y) − log C (q(z|x, y) per label), and the test error
                (M1+M2: the test error only; its bound is on M1's features, not the pixels)
    avb         log p(x) with a proposal fitted to the implicit q's samples; AVB's own estimate
                −recon − T (the critic standing in for the KL); quadrature over z for a 2-D latent on 2-D data

``--baseline`` fits the same mixtures as for a VAE run; ``--gaps`` splits a Gaussian q's gap by
optimizing each example's own Gaussian q, which none of these models has: it is refused in one line.
Before the estimate, its time is measured on a small piece and passed to ``on_estimate`` (which may
refuse it), as for a VAE run.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..checks import check_positive_int
from ..seeds import EVAL_SEED
from ..files import check_writable
from ..run.progress import Progress

__all__ = ["PROTOCOL_KINDS", "evaluate_model_run", "format_model_table", "NO_GAPS"]

PROTOCOL_KINDS = ("m2", "helmholtz", "avb")

#: why --gaps does not apply, per kind (the end of its one-line error)
NO_GAPS = {"helmholtz": "the Helmholtz machine's q(h|x) is over binary h, with no Gaussian q to optimize per example",
           "m2": "M2's q(z|x, y) sits under a sum over labels; the gap split is for a one-layer VAE's own q",
           "avb": "AVB's q is implicit (no density), so there is no q to optimize per example"}

TRAINED_ON = {"helmholtz": "wake-sleep: p by the IWAE_k wake gradient, q by {q_update}",
              "m2": "M2's bound: −(mean_l [L(x, y) + α log q(y|x)] + mean_u U(x))",
              "avb": "AVB: the ELBO with a critic T(x, z) in place of the KL, and the critic's logistic loss"}


def evaluate_model_run(run_dir, k: int = 5000, *, n_test: int | None = None, baseline=False, gaps: bool = False,
                       seed: int = EVAL_SEED, batch_size: int = 100, chunk_size: int | None = None,
                       on_estimate=None, save: bool = True, dataset=None, progress: bool = True) -> dict:
    """The test-set numbers of an M2, Helmholtz or AVB run (see the module docstring), saved as evaluation.json."""
    from ..run.checkpoint import load_run
    from .mixture_baseline import baseline_results
    from .run_data import run_test_data
    start = time.perf_counter()
    run = load_run(run_dir)
    kind, model = run.kind, run.model
    if gaps:
        raise ValueError(f"evaluate --gaps: {NO_GAPS[kind]}; evaluate {run_dir} without --gaps")
    if save:
        check_writable(Path(run_dir) / "evaluation.json", "evaluation")
    k = check_positive_int(k, "evaluate", "k")
    x, y, how, data = run_test_data(run, dataset)
    if n_test is not None:
        x, y = x[:check_positive_int(n_test, "evaluate", "n_test")], y[:n_test]
    config = run.config or {}
    results = {"kind": kind, "dataset": getattr(data, "name", None), "n_test": int(x.shape[0]), "test_data": how,
               "k": None, "epochs": len(run.history),
               "trained_on": TRAINED_ON[kind].format(q_update=config.get("q_update", "sleep"))}
    if model.no_log_likelihood:                  # M1+M2: its bound is on M1's features, not the pixels
        results["no_log_likelihood"] = model.no_log_likelihood
    else:
        results.update(_log_likelihood(model, kind, x, k, seed, batch_size, chunk_size or 100, on_estimate, progress))
    if kind == "m2":
        results["test_error"] = model.test_error(x, y)
    if kind == "avb":
        results.update({f"test_{name[4:]}": v for name, v in
                        model.validation(x, y, np.random.default_rng(seed)).items()})
        if model.z_dim == 2 and model.x_dim <= 16:           # exact up to the grid, cheap for 2-D data only
            results["log_likelihood_quadrature"] = float(model.log_likelihood_by_quadrature(x).mean())
    if baseline is not False and baseline is not None:
        results["baseline"] = baseline_results(run, data, x, baseline)
    return _timed_and_saved(results, start, run_dir if save else None)


def _log_likelihood(model, kind: str, x, k: int, seed: int, batch_size: int, chunk: int, on_estimate,
                    progress: bool) -> dict:
    """The model's importance-sampled log p(x) on x (N, D), its proposal, and for the Helmholtz machine the
    ELBO of the same samples: the entries evaluate adds to its results."""
    from .vae_log_likelihood import estimate_seconds
    if on_estimate is not None:
        on_estimate(estimate_seconds(model, x, k, batch_size, probe_k=20))
    passes = -(-x.shape[0] // batch_size) * -(-k // chunk) * getattr(model, "n_classes", 1)   # M2: once per label
    bar = Progress(passes, f"log p(x), k={k}", quiet=not progress)
    got = model.estimates(x, k, np.random.default_rng(seed), batch_size=batch_size, chunk=chunk, bar=bar)
    bar.close()
    ll = got["log_likelihood"]
    out = {"k": int(k), "estimator": getattr(model, "proposal", None) or (
               "IS, proposal q(h|x)" if kind == "helmholtz" else "IS per label with q(z|x, y), summed over y"),
           "log_likelihood": float(ll.mean()), "log_likelihood_stderr": float(ll.std() / math.sqrt(ll.size))}
    if kind == "helmholtz":
        out["elbo_same_samples"] = float(got["elbo"].mean())
    return out


def _timed_and_saved(results: dict, start: float, run_dir) -> dict:
    """results with "seconds" since ``start``, written to RUN_DIR/evaluation.json unless run_dir is None."""
    from .evaluate import save_evaluation
    results["seconds"] = time.perf_counter() - start
    if run_dir is not None:
        save_evaluation(results, run_dir)
    return results


def format_model_table(results: dict) -> str:
    """A small text table of :func:`evaluate_model_run`'s results (nats per example)."""
    def row(name, value, note=""):
        return f"  {name:<34}{value:>10}  {note}".rstrip()

    kind = results["kind"]
    lines = [f"test set: {results['dataset']}, {results['n_test']} examples, {results['test_data']}",
             f"  {kind} run, {results['epochs']} epochs, trained on {results['trained_on']}",
             f"  {'quantity':<34}{'nats':>10}"]
    if results.get("no_log_likelihood"):
        lines.append(f"  {results['no_log_likelihood']}")
    else:
        lines.append(row(f"log p(x), IS k={results['k']}", f"{results['log_likelihood']:.2f}",
                         f"± {results['log_likelihood_stderr']:.2f} (std. error); {results['estimator']}"))
    if "elbo_same_samples" in results:
        lines.append(row("ELBO (the same samples)", f"{results['elbo_same_samples']:.2f}", "a lower bound"))
    if "test_elbo_estimate" in results:
        lines.append(row("AVB's ELBO estimate −recon − KL~", f"{results['test_elbo_estimate']:.2f}",
                         "the critic's estimate stands in for the KL: not a bound"))
        lines.append(row("  reconstruction −log p(x|z)", f"{results['test_recon']:.2f}"))
        lines.append(row("  the critic's KL estimate KL~", f"{results['test_kl_estimate']:.2f}",
                         "T, or T + log r − log p with adaptive contrast"))
    if "log_likelihood_quadrature" in results:
        lines.append(row("log p(x) by quadrature over z", f"{results['log_likelihood_quadrature']:.2f}",
                         "exact up to the 401 x 401 grid"))
    if "test_error" in results:
        lines.append(row("test error of q(y|x)", f"{100 * results['test_error']:.2f} %"))
    for mix in results.get("baseline", []):
        lines.append(row(f"mixture, {mix['kind']} K={mix['n_components']}", f"{mix['test_log_likelihood']:.2f}",
                         "exact test log p(x)"))
    return "\n".join(lines)
