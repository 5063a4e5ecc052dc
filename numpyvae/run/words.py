"""How a run's numbers are named: the objective it was trained on, the bound evaluate reports, what its
log p(x) estimate is, and the titles of its training curves. Read from a run's saved config or its model.
"""
from __future__ import annotations

__all__ = ["OBJECTIVE_NAMES", "trained_objective", "bound_reported", "estimate_described", "history_labels"]

OBJECTIVE_NAMES = {"elbo": "the ELBO", "iwae": "the IWAE bound", "vr": "the Rényi (VR) bound", "vr-max": "the VR-max bound"}


def trained_objective(config: dict) -> str:
    """The objective a run was trained on, in words, from its saved config (e.g. "the IWAE bound, k = 5")."""
    if config.get("model") == "ae":
        return "the reconstruction error (a plain autoencoder)"
    objective = config.get("objective", "elbo")
    text = OBJECTIVE_NAMES.get(objective, repr(objective))
    if objective != "elbo" or config.get("n_samples", 1) > 1:
        text += f", k = {config.get('n_samples', 1)}" + (f", α = {config.get('alpha')}" if objective == "vr" else "")
    if config.get("q_objective", "same") == "cubo":
        text += "; q by the CUBO surrogate"
    return text


def history_labels(config: dict) -> dict:
    """The titles of a run's training curves: the loss named after its objective; no KL panel for a plain AE."""
    if config.get("model") == "ae":
        return {"loss_label": "reconstruction −log p(x|z) (loss)", "kl": False}
    objective = config.get("objective", "elbo")
    return {"loss_label": f"−{OBJECTIVE_NAMES.get(objective, objective).replace('the ', '', 1)} (loss)"}


def bound_reported(model) -> tuple[str, str]:
    """(row name, what it is): evaluate's bound row for this model, the quantity test_elbo computes."""
    if model.no_log_likelihood:
        return "reconstruction −log p(x|z)", "at the encoder's z; no KL and no log p(x): a point mass"
    if hasattr(model.posterior, "discrete_sample"):
        return "ELBO, relaxed", (f"Gumbel-softmax z at τ = {model.posterior.tau:g} with the analytic KL of the "
                                 "categorical q(c|x) to the uniform prior; not a bound on the discrete model's "
                                 "log p(x), whose ELBO is the sandwich's")
    if getattr(model, "n_labels", 0):
        return "ELBO of log p(x|y)", "on the test labels"
    return "ELBO", ""


def estimate_described(model) -> str:
    """What the log p(x) row is: the quantity and the proposal it was importance-sampled with."""
    if hasattr(model.posterior, "discrete_sample"):
        return ("log p(x) of the discrete model, importance-sampled with the unrelaxed categorical q(c|x) as the "
                "proposal and the uniform categorical prior")
    what = "log p(x|y) on the test labels" if getattr(model, "n_labels", 0) else "log p(x)"
    return f"{what}, importance-sampled with q as the proposal"
