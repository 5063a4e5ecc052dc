"""Every number for a trained run: `evaluate`'s driver, its table, and evaluation.json.

:func:`evaluate_run` loads a run directory and measures, on the test images the run is measured on
(:mod:`numpyvae.measure.run_data`), in nats per example (the unit of the training loss):

* the test ELBO and its two parts (:mod:`numpyvae.measure.elbo`);
* log p(x), importance-sampled with q(z|x) as the proposal (Burda, Grosse & Salakhutdinov, 2015,
  appendix; the protocol the literature reports, k = 5000; :mod:`numpyvae.measure.vae_log_likelihood`).
  Its expectation is the IWAE bound L_k, a lower bound that rises with k to log p(x); the gap
  log p(x) − ELBO = KL(q(z|x) || p(z|x)) ≥ 0 is how far the encoder is from the true posterior;
* the latent units it uses (:mod:`numpyvae.measure.latent_use`);
* on request the gaps by local inference (:mod:`numpyvae.measure.local_inference`) and the lecture's
  mixture baseline (:mod:`numpyvae.measure.mixture_baseline`).

:func:`format_table` prints them; :func:`save_evaluation` writes them atomically. Nothing here runs a
backward pass.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..checks import check_positive_int
from ..files import check_writable
from ..run.words import bound_reported, estimate_described, trained_objective
from ..seeds import EVAL_SEED
from .elbo import test_elbo
from .latent_use import active_units, active_units_per_layer, has_kl_per_dimension, kl_per_dimension
from .mixture_baseline import baseline_results
from .run_data import binarization_of, run_test_data
from .vae_log_likelihood import estimate_seconds, log_likelihood

__all__ = ["evaluate_run", "format_table", "save_evaluation"]


def _load_run(run_dir):
    from ..run.checkpoint import load_run      # imported here: checkpoint imports the whole model stack
    return load_run(run_dir)


def save_evaluation(results: dict, run_dir) -> Path:
    """Write results (JSON-able values only) to RUN_DIR/evaluation.json atomically; return the path.

    Written to a temporary file beside it, then renamed over the old one (the
    checkpoint module's atomic_save): a reader never sees half a file.
    """
    from ..run.checkpoint_format import save_json
    return save_json(Path(run_dir) / "evaluation.json", results)


def evaluate_run(run_dir, k: int = 5000, *, batch_size: int = 100, chunk_size: int | None = None,
                 max_memory_mb: float | None = 512, dataset=None, n_test: int | None = None,
                 threshold: float = 0.01, baseline=False, seed: int = EVAL_SEED,
                 progress: bool = True, save: bool = True, on_estimate=None, gaps: bool = False) -> dict:
    """Every number for a trained run, saved as RUN_DIR/evaluation.json.

    Parameters
    ----------
    run_dir : a run directory (checkpoint.npz, config.json, ...)
    k : importance samples per example for log p(x) (5000 as in Burda et al.; lower is faster)
    batch_size, chunk_size, max_memory_mb : memory of the log p(x) estimate
        (see :func:`numpyvae.measure.vae_log_likelihood.log_likelihood`)
    dataset : a Dataset to use instead of the one named in the run's config
    n_test : use only the first n_test test examples (None: all)
    threshold : active-unit threshold on Var_x(E_q[z])
    baseline : False; True (mixtures with K = 10 and 50); an int K; or a list of K.
        Fits the lecture's mixture model on the training images prepared like
        the test images and scores the same test images exactly: a Bernoulli
        mixture for binarized runs, a diagonal Gaussian one for grey levels.
    seed : seeds the noise of the estimates
    progress : progress bar on stderr while estimating log p(x) (only on a terminal)
    save : write evaluation.json into run_dir (atomically); checked to be writable before the work
    on_estimate : None, or called with the estimated seconds of the log p(x) estimate before it
        starts (see :func:`numpyvae.measure.vae_log_likelihood.estimate_seconds`); it may raise to stop there
    gaps : also split the gap into approximation and amortization gaps
        (:func:`numpyvae.measure.local_inference.inference_gaps`: each example's own q, optimized) -> results["gaps"]

    Returns
    -------
    dict of JSON-able values: "test_elbo", "test_recon", "test_kl" (nats per example),
    "log_likelihood" (mean IS estimate), "log_likelihood_stderr", "k",
    "gap" (= log_likelihood − test_elbo), "active_units", "active_threshold", "z_dim",
    "latent_variance" (K values), "kl_per_dimension" (K values, or None when the KL does not split
    per dimension in closed form), "n_test",
    "dataset", "binarize", "test_data" (how the test set was binarized),
    "likelihood", "seconds", "sandwich" ({"elbo", "iwae", "cubo"}: the means of
    :func:`log_likelihood`'s sandwich over the same k samples; None for k = 1), and "baseline" (a list of dicts, see
    :func:`numpyvae.measure.mixture_baseline.mixture_baseline`) when asked.

    Raises the checkpoint module's error (a ValueError) for a directory without
    a checkpoint, and ValueError for labels that do not match the images.
    """
    start = time.perf_counter()
    run = _load_run(run_dir)
    if save:
        check_writable(Path(run_dir) / "evaluation.json", "evaluation")      # before the work, not after
    model, config = run.model, run.config or {}
    if gaps:
        _check_gaps(model, run_dir)
    x, y, how, data = run_test_data(run, dataset)
    if n_test is not None:
        n_test = check_positive_int(n_test, "evaluate_run", "n_test")
        x, y = x[:n_test], y[:n_test]
    labels = None                                       # what a conditional VAE reads beside x
    if getattr(model, "n_labels", 0):
        if y is None or not len(y):
            raise ValueError(f"evaluate {run_dir}: a conditional VAE measures log p(x|y), and the test set has no labels")
        labels = np.asarray(y).astype(np.int64)
    if on_estimate is not None and not model.no_log_likelihood:
        on_estimate(estimate_seconds(model, x, k, batch_size=batch_size, y=labels))
    rng = np.random.default_rng(seed)
    parts = test_elbo(model, x, rng=rng, y=labels)
    n_active, variance = None, None
    results = {
        "dataset": getattr(data, "name", None), "binarize": binarization_of(config), "test_data": how,
        "n_test": int(x.shape[0]), "likelihood": model.config.get("likelihood"), "z_dim": int(model.z_dim),
        "kind": model.kind, "objective": trained_objective(config), "bound_reported": list(bound_reported(model)),
        "relaxed": hasattr(model.posterior, "discrete_sample"),
        "test_elbo": parts["elbo"], "test_recon": parts["recon"], "test_kl": parts["kl"],
        "k": int(k), "log_likelihood": None, "log_likelihood_stderr": None, "gap": None, "sandwich": None,
        "no_log_likelihood": model.no_log_likelihood, "estimate": None,
    }
    if not model.no_log_likelihood:
        bounds = log_likelihood(model, x, k, chunk_size=chunk_size, batch_size=batch_size,
                                max_memory_mb=max_memory_mb, rng=rng, progress=progress, sandwich=k >= 2, y=labels)
        ll = bounds["iwae"] if k >= 2 else bounds
        results.update({
            "log_likelihood": float(ll.mean()), "log_likelihood_stderr": float(ll.std() / math.sqrt(ll.size)),
            "gap": float(ll.mean()) - parts["elbo"], "estimate": estimate_described(model),
            # the same k samples' [ELBO, IWAE_k, CUBO_2] (None for k = 1); CUBO_k is biased low
            "sandwich": {name: float(bounds[name].mean()) for name in ("elbo", "iwae", "cubo")} if k >= 2 else None,
        })
    n_active, variance = active_units(model, x, threshold, y=labels)
    results.update({
        "active_units": n_active, "active_threshold": float(threshold),
        "active_units_per_layer": active_units_per_layer(model, variance, threshold),
        "stochastic": list(getattr(model, "stochastic", [model.z_dim])),
        "latent_variance": variance.tolist(),
        "kl_per_dimension": kl_per_dimension(model, x, y=labels).tolist() if has_kl_per_dimension(model) else None,
    })
    if gaps:
        from .local_inference import inference_gaps
        results["gaps"] = inference_gaps(model, x, k=k, seed=seed, progress=progress, log_likelihood_encoder_q=ll,
                                         log_likelihood=log_likelihood)
    if baseline is not False and baseline is not None:
        results["baseline"] = baseline_results(run, data, x, baseline)
    results["seconds"] = time.perf_counter() - start
    if save:
        save_evaluation(results, run_dir)
    return results


def _check_gaps(model, run_dir) -> None:
    """`--gaps` optimizes each example's own heads of one q(z|x); refuse, in one line, the models without them."""
    why = ("a hierarchy's q(z₂|z₁) has heads per sample of z₁, not per example, so there are no per-example "
           "heads to optimize" if model.kind == "hvae" else
           "a conditional VAE's local inference would need the labels; it is not implemented"
           if getattr(model, "n_labels", 0) else model.no_log_likelihood)
    if why:
        raise ValueError(f"evaluate {run_dir}: --gaps (the approximation/amortization split) does not apply: {why}")


# --------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------

def format_table(results: dict) -> str:
    """A small text table of :func:`evaluate_run`'s results (nats per example)."""
    def row(name, value, note=""):
        return f"  {name:<34}{value:>10}  {note}".rstrip()

    lines = [f"test set: {results.get('dataset')}, {results.get('n_test')} examples, {results.get('test_data')}"]
    if results.get("objective"):
        lines.append(f"trained on {results['objective']}")
    lines.append(f"  {'quantity':<34}{'nats':>10}")
    trained_on_elbo = results.get("objective", "the ELBO") == "the ELBO"
    name, what = results.get("bound_reported") or ("ELBO", "")
    if results.get("no_log_likelihood"):               # a plain autoencoder: reconstruction only
        lines.append(row(name, f"{results['test_recon']:.2f}", "the training objective"))
        lines.append(f"  {results['no_log_likelihood']}")
    else:
        bound = "" if results.get("relaxed") else "a lower bound"     # the relaxed ELBO bounds no log p(x)
        note = (f"the training objective{', ' if bound else ''}{bound}" if trained_on_elbo
                else f"{bound + ' ' if bound else ''}(not the training objective)")
        lines.append(row(name, f"{results['test_elbo']:.2f}", note))
        if what:
            lines.append(f"    ({what})")
        lines.append(row("  reconstruction −E[log p(x|z)]", f"{results['test_recon']:.2f}"))
        lines.append(row("  KL(q(z|x) || p(z))", f"{results['test_kl']:.2f}"))
        lines.append(row(f"log p(x), IS k={results['k']}", f"{results['log_likelihood']:.2f}",
                         f"± {results['log_likelihood_stderr']:.2f} (std. error over examples)"))
        if results.get("estimate"):
            lines.append(f"    ({results['estimate']})")
        if results.get("sandwich"):
            sw = results["sandwich"]
            lines.append(f"  {'sandwich [ELBO, IWAE_k, CUBO_2]':<34}[{sw['elbo']:.2f}, {sw['iwae']:.2f}, {sw['cubo']:.2f}]"
                         f"  same k={results['k']} samples")
            lines.append(row("", "", "log p(x) is inside in expectation; CUBO's k-sample estimate is biased low"))
        if not results.get("relaxed"):
            lines.append(row("gap log p(x) − ELBO", f"{results['gap']:.2f}", "≈ KL(q(z|x) || p(z|x))"))
    layers = results.get("stochastic") or [results["z_dim"]]
    lines.append(row("active units", f"{results['active_units']}/{sum(layers)}",
                     f"Var_x(E_q[z]) > {results.get('active_threshold', 0.01)}"))
    if len(layers) > 1:
        for i, (n, k) in enumerate(zip(results["active_units_per_layer"], layers), 1):
            lines.append(row(f"  layer z{i}", f"{n}/{k}"))
    if "gaps" in results:
        from .local_inference import format_gaps
        lines.append(format_gaps(results["gaps"]))
    for mix in results.get("baseline", []):
        lines.append(row(f"mixture, {mix['kind']} K={mix['n_components']}", f"{mix['test_log_likelihood']:.2f}",
                         "exact test log p(x)"))
    return "\n".join(lines)
