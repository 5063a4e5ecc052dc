"""``python -m numpyvae reproduce [NAME ...|all] [--budget smoke|short|long]``: each paper's effect, measured here.

For every comparison of :mod:`numpyvae.measure.comparisons` and every dataset it names that is installed,
both sides are trained with the same seed and data, then judged *paired*: on the same test
examples (the same binarized draw), with the same k and the same evaluation noise, so the
difference b − a is measured per example and its standard error is that of a paired mean,
sd(d)/√n, far smaller than the two sides' own errors. The paper's claim is printed beside ours
with a verdict (same direction? resolved beyond two standard errors? our size / the paper's),
and the results are written atomically to reproduction.json and reproduction.md (merged with
earlier results there, one row per comparison, dataset and budget) in ``--results DIR``, or beside
the runs in ``--out`` (default runs/reproduction). The project's own table lives in
tutorials/reference/reproduction/: ``--results tutorials/reference/reproduction`` updates its rows.

The sides run through the public trainers and evaluator: ``train.train`` (every model: VAE kinds, M2,
AVB, the Helmholtz machine) with each model's own ``log_likelihood`` (VAE kinds, Helmholtz), M2's test
error against ``run.classifier_alone``, AVB's and a same-sized VAE's log p(x) by quadrature on the ring, ``cubo_q.linear_gaussian_experiment``,
``structured_output.run``, and for the 2-D densities of Rezende & Mohamed ``latent.flows.fit_density.fit_planar``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from .comparisons import BUDGETS, K_TRAIN, M1_RUN, POTENTIALS_2D, REGISTRY, EpochsFraction
from .reproduction_table import fmt_diff, markdown, save, size_text

__all__ = ["run_comparison", "paired", "verdict", "main", "add_flags", "cmd_reproduce"]


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    """Paired difference of two per-example measurements: mean of d = b − a and its standard error sd(d)/√n."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
    return {"a": float(np.mean(a)), "b": float(np.mean(b)), "diff": float(d.mean()), "se": se, "n": int(d.size)}


def verdict(diff: float, se, effect: float) -> dict:
    """Same direction as the paper's effect? "yes" / "no" when |diff| ≥ 2 SE, "unresolved" within; size = diff / effect."""
    if se is not None and math.isfinite(se) and abs(diff) < 2 * se:
        same = "unresolved"
    else:
        same = "yes" if diff * effect > 0 else "no"
    return {"same_direction": same, "size_vs_paper": diff / effect if effect else float("nan")}


# ------------------------------------------------------------------ the sides, by kind

def _resolve(side: dict, budget: dict, epochs) -> dict:
    out = {}
    for key, value in side.items():
        if value == K_TRAIN:
            value = budget["k_train"]
        elif isinstance(value, EpochsFraction):
            value = value.fraction * epochs
        out[key] = value
    return out


def _data(name: str, budget: dict):
    from ..datasets import Dataset, load
    d = load(name)
    n_train, n_test = budget["n_train"], budget["n_test"]
    if n_train is None and n_test is None:
        return d
    return Dataset(d.name, d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test],
                   d.image_shape, d.source)


#: within one reproduce command, each distinct VAE side is trained once: many comparisons share the same
#: baseline (the plain VAE of the budget is side a of iwae, vamp, mog10, mog500, iaf, ...), and training
#: is deterministic for a seed, so a second training would give the same bits. None outside a command.
_sides: dict | None = None


def _side_settings(side: dict, dataset: str, budget: dict, seed: int, measure: str) -> tuple[dict, str]:
    """One side's training settings over the budget's base, and the key that names its result in ``_sides``."""
    base = dict(budget["vae"])
    cfg = {**base, **_resolve(side, budget, base["epochs"]), "dataset": dataset, "seed": seed}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    return cfg, json.dumps([cfg, measure, budget["n_train"], budget["n_test"], budget["k_eval"]], sort_keys=True)


def _train_vae_side(cfg: dict, data, budget: dict, out_dir: Path, measure: str):
    """Train one side; return (log p(x), or the ELBO, per test example; the test examples; its settings)."""
    from .elbo import test_elbo
    from .run_data import run_test_data
    from ..seeds import EVAL_SEED
    from ..run.train import train
    run = train({**cfg, "out": str(out_dir)}, data=data, quiet=budget["quiet"])
    x_test = run_test_data(run, dataset=data)[0][:budget["n_test"]]
    if measure == "elbo":
        ll = test_elbo(run.model, x_test, rng=EVAL_SEED, per_example=True)["each"]
    else:                                  # the protocol's estimate: any kind with a log p(x) (VAE, HVAE, Helmholtz)
        ll = run.model.log_likelihood(x_test, budget["k_eval"], EVAL_SEED)
    return ll, x_test, cfg


def _run_vae(c, dataset, budget, seed, out_dir, log):
    data = _data(dataset, budget)
    results, x_tests, settings = {}, [], {}
    what = "ELBO" if c.measure == "elbo" else f"log p(x) (k = {budget['k_eval']})"
    for side, label, given in (("a", c.label_a, c.a), ("b", c.label_b, c.b)):
        cfg, key = _side_settings(given, dataset, budget, seed, c.measure)
        if _sides is not None and key in _sides:
            results[side], x, settings[side] = _sides[key]
            log(f"  {label}: {what} {results[side].mean():.3f}, the same run as an earlier comparison's (reused)")
        else:
            log(f"  training {label} ...")
            start = time.perf_counter()
            results[side], x, settings[side] = _train_vae_side(cfg, data, budget, out_dir / side, c.measure)
            if _sides is not None:
                _sides[key] = results[side], x, settings[side]
            log(f"  {label}: {what} {results[side].mean():.3f} on {x.shape[0]} test examples, "
                f"{time.perf_counter() - start:.0f} s")
        x_tests.append(x)
    if not np.array_equal(x_tests[0], x_tests[1]):
        raise RuntimeError(f"reproduce {c.name}: the two sides were judged on different test examples")
    out = paired(results["a"], results["b"])
    out.update(settings=settings, k_eval=budget["k_eval"] if c.measure == "log_px" else None,
               epochs=settings["a"]["epochs"])
    return out


def _run_m2(c, dataset, budget, seed, out_dir, log):
    """M2 (``train --model m2``) against its classifier on the labels alone (run.classifier_alone), paired per
    test digit on the run's test set (binarized as evaluate does): the error indicator, in %. With
    ``features: M1_RUN``, M1+M2: M1 (``train`` with the budget's "m1" settings) first, then M2 on its features;
    the same classifier on M1's feature means (labels alone) is reported beside, as ``features_classifier``."""
    from .run_data import run_test_data
    from ..run.classifier_alone import classifier_alone
    from ..run.train import train
    data = _data(dataset, budget)
    settings = {**budget["m2"], **c.b, "model": "m2", "dataset": dataset, "seed": seed}
    m1 = settings.get("features") == M1_RUN
    if m1:
        log("  training M1 ...")
        m1_settings = {**budget["m1"], "dataset": dataset, "seed": seed}
        train({**m1_settings, "out": str(out_dir / "m1")}, data=data, quiet=budget["quiet"])
        settings["features"] = str(out_dir / "m1")
    run = train({**settings, "out": str(out_dir / "m2")}, data=data, quiet=budget["quiet"])
    baseline, _ = classifier_alone(settings, data=data, log=None if budget["quiet"] else log)
    x_test, y_test = run_test_data(run, dataset=data)[:2]
    models = [("baseline", baseline), ("m2", run.model)]
    if m1:                                      # M1's features with the labels alone: how much is M1's
        models.append(("features", classifier_alone(settings, data=data, on_features=True)[0]))
    wrong = {side: (model.classify(x_test) != y_test) * 100.0 for side, model in models}
    out = paired(wrong["baseline"], wrong["m2"])
    out.update(settings=settings, epochs=settings["epochs"], k_eval=None,
               generative_error=100 * run.history[-1]["val_generative_error"])
    if m1:
        out.update(m1_settings=m1_settings, features_classifier=float(wrong["features"].mean()),
                   m2_vs_features_classifier=paired(wrong["features"], wrong["m2"]))
    return out


def _run_avb(c, dataset, budget, seed, out_dir, log):
    """AVB (``train --model avb`` with the comparison's options) against a VAE of the same sizes, both from the
    ring preset, judged by log p(x) by quadrature over z on the same test points."""
    from ..models.adversarial import log_px_by_quadrature
    from ..run.presets import PRESETS
    from ..run.train import train
    data = _data(dataset, {**budget, "n_test": budget["avb"]["n_test"]})
    base = {**PRESETS[dataset], **{k: v for k, v in budget["avb"].items() if k != "n_test"}, "seed": seed}
    settings = {**base, **c.b, "model": "avb"}
    avb = train({**settings, "out": str(out_dir / "avb")}, data=data, quiet=budget["quiet"]).model
    vae = train({**base, "model": "vae", "out": str(out_dir / "vae")}, data=data, quiet=budget["quiet"]).model
    x = data.x_test.astype(np.float64)
    log_px = {"avb": avb.log_likelihood_by_quadrature(x),
              "vae": log_px_by_quadrature(lambda zz: vae.decode(zz.astype(vae.dtype)), vae.likelihood, x)}
    out = paired(log_px["vae"], log_px["avb"])
    estimate = avb.validation(data.x_test.astype(avb.dtype), None, np.random.default_rng(7))
    out.update(settings={**settings, "n_test": x.shape[0]}, epochs=settings["epochs"], k_eval="quadrature",
               avb_kl_estimate=estimate["val_kl_estimate"], avb_elbo_estimate=estimate["val_elbo_estimate"])
    return out


def _run_cubo(c, dataset, budget, seed, out_dir, log):
    from ..models.cubo_q import linear_gaussian_experiment
    gaps = {}
    for side, cfg in (("a", c.a), ("b", c.b)):
        settings = {**budget["cubo"], **cfg}
        rows = linear_gaussian_experiment(report_every=max(settings["steps"], 1), log=log, **settings)
        step, elbo, iwae, cubo, truth = rows[-1]
        gaps[side] = {"elbo": elbo, "iwae": iwae, "cubo": cubo, "log_px": truth, "gap": truth - elbo}
    # lower gap is better: report the improvement as a − b so that the paper's direction is positive
    return {"a": gaps["a"]["gap"], "b": gaps["b"]["gap"], "diff": gaps["a"]["gap"] - gaps["b"]["gap"], "se": None,
            "n": 200, "sandwich": gaps, "settings": {**budget["cubo"], **c.b}, "epochs": None,
            "k_eval": budget["cubo"]["k_eval"]}


def _run_cvae(c, dataset, budget, seed, out_dir, log):
    from .structured_output import run
    settings = {**budget["cvae"], **c.b, "dataset": dataset, "seed": seed}
    res = run(log=log, **settings)
    out = paired(res["nn"], res["cvae"])
    out.update(settings=res["settings"], epochs=settings["epochs"], k_eval=settings["k"])
    return out


_FITS_2D: dict = {}       # (potential, K, settings, seed) -> F per evaluation draw: a fit is deterministic, so
                          # the K = 8 of "8 vs 2" and of "32 vs 8" is trained once per process


def _fit_2d(U, K: int, settings: dict, seed: int, eps, log) -> np.ndarray:
    from ..latent.flows.fit_density import fit_planar
    key = (U.name, K, tuple(sorted(settings.items())), seed, eps.shape[0])
    if key not in _FITS_2D:
        start = time.perf_counter()
        _FITS_2D[key] = fit_planar(U, K, seed=seed, eval_eps=eps, **settings)["each"]
        log(f"  fitted K = {K} on {U.name}: {settings['steps']:,} updates of {settings['samples']} draws, "
            f"{time.perf_counter() - start:.0f} s")
    return _FITS_2D[key]


def _run_flow2d(c, dataset, budget, seed, out_dir, log):
    """A global planar flow of each side's K fitted to exp(−U) of the potential ``dataset`` (fit_density.fit_planar),
    both judged by KL(q_K ‖ p*) = log q_K(z_K) + U(z_K) + log Z (log Z by quadrature) per evaluation draw, the same
    draws z_0 for both sides; lower is better, so b − a < 0 is the paper's direction."""
    from ..latent.flows.fit_density import eval_noise
    from ..latent.flows.potentials import log_normalizer, potential
    settings = {k: v for k, v in budget["flow2d"].items() if k != "n_eval"}
    U, eps = potential(dataset), eval_noise(budget["flow2d"]["n_eval"], seed)
    log_z = log_normalizer(U)
    kl = {}
    for side, label, cfg in (("a", c.label_a, c.a), ("b", c.label_b, c.b)):
        kl[side] = _fit_2d(U, cfg["K"], settings, seed, eps, log) + log_z
        log(f"  {label}: KL(q_K ‖ p*) {kl[side].mean():.3f} ± {kl[side].std(ddof=1) / math.sqrt(kl[side].size):.3f} "
            f"nats on {kl[side].size} draws (log Z = {log_z:.4f} by quadrature)")
    out = paired(kl["a"], kl["b"])
    out.update(settings={**budget["flow2d"], "K_a": c.a["K"], "K_b": c.b["K"]}, epochs=None, k_eval=None,
               updates=settings["steps"], log_z=log_z)
    return out


RUNNERS = {"vae": _run_vae, "m2": _run_m2, "avb": _run_avb, "cubo": _run_cubo, "cvae": _run_cvae,
           "flow2d": _run_flow2d}


def run_comparison(name: str, dataset: str, budget_name: str = "smoke", seed: int = 0, out_dir="runs/reproduction",
                   log=print) -> dict:
    """Run one comparison on one dataset; return its result row (JSON-able)."""
    c, budget = REGISTRY[name], BUDGETS[budget_name]
    if budget_name in c.epochs:                         # the comparison's own length at this budget
        budget = {**budget, c.kind: {**budget[c.kind], "epochs": c.epochs[budget_name]}}
    start = time.perf_counter()
    run_dir = Path(out_dir) / "runs" / budget_name / f"{name}-{dataset}-seed{seed}"
    if run_dir.exists():                                # a fresh run each time: these directories are scratch
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    with contextlib.redirect_stdout(sys.stderr):       # the trainers' epoch lines are progress: stdout keeps the table
        out = RUNNERS[c.kind](c, dataset, budget, seed, run_dir, log)
    out.update(verdict(out["diff"], out["se"], c.effect))
    if c.direction_only:
        out["size_vs_paper"] = None                     # the paper gives a direction, not a number
    out.update(name=name, dataset=dataset, budget=budget_name, seed=seed, label_a=c.label_a, label_b=c.label_b,
               metric=c.metric, paper_effect=c.effect, claim=vars(c.claim), note=c.note,
               seconds=round(time.perf_counter() - start, 1))
    return out


# ------------------------------------------------------------------ the command

def _installed(dataset: str) -> bool:
    if dataset in ("digits", "ring", "linear-gaussian") + POTENTIALS_2D:
        return True
    from ..datasets import load
    try:
        load(dataset)
        return True
    except FileNotFoundError:
        return False


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", default=["all"], metavar="NAME",
                   help="comparisons to run (default all): " + ", ".join(REGISTRY))
    p.add_argument("--budget", choices=tuple(BUDGETS), default="smoke",
                   help="smoke: seconds each (no evidence); short: about 24 CPU-minutes in all on one core; "
                        "long: the papers' k and lengths (days)")
    p.add_argument("--datasets", nargs="+", default=None,
                   help="only these datasets (default: each comparison's; fashion-mnist, when installed, only in the long "
                        "budget unless named here; U1 U2 U3 U4: the 2-D densities of the planar-2d comparisons)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/reproduction",
                   help="directory for the runs, and for reproduction.json and .md unless --results names another")
    p.add_argument("--results", default=None, metavar="DIR",
                   help="write reproduction.json and .md here instead (merged with the rows already there); "
                        "the project's table is tutorials/reference/reproduction/")
    p.add_argument("--list", action="store_true", help="list the comparisons and their papers' claims, then stop")


def _plan(args) -> list:
    names = list(REGISTRY) if args.names in ([], ["all"]) else args.names
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"reproduce: unknown comparison(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    if args.seed < 0:
        raise ValueError(f"reproduce: --seed must be an integer >= 0, got {args.seed}")
    known = sorted({d for c in REGISTRY.values() for d in c.datasets})
    if args.datasets is not None and not set(args.datasets) <= set(known):
        raise ValueError(f"reproduce: unknown dataset(s) {', '.join(sorted(set(args.datasets) - set(known)))} "
                         f"in --datasets; the comparisons use {', '.join(known)}")
    plan = []
    for name in names:
        for dataset in REGISTRY[name].datasets:
            if args.datasets is not None and dataset not in args.datasets:
                continue
            if args.datasets is None and args.budget != "long" and dataset == "fashion-mnist":
                continue        # 60k images: ~7× the digits' time; in smoke and short only when asked for by name
            plan.append((name, dataset))
    if not plan:
        raise ValueError(f"reproduce: nothing to run: {', '.join(names)} on --datasets {' '.join(args.datasets)}")
    return plan


def cmd_reproduce(args, log=None) -> int:
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if args.list:
        for name, c in REGISTRY.items():
            print(f"{name:16s} {c.label_b} vs {c.label_a}: {c.claim.number} ({c.claim.citation})")
        return 0
    plan = _plan(args)
    from ..files import DirectoryLock
    with DirectoryLock(Path(args.out) / "runs"):         # one reproduce process per output directory
        return _run_plan(plan, args, log)


def _run_plan(plan: list, args, log) -> int:
    global _sides
    _sides = {}
    try:
        return _run_each(plan, args, log)
    finally:
        _sides = None


def _run_each(plan: list, args, log) -> int:
    rows, results = [], args.results or args.out
    for i, (name, dataset) in enumerate(plan, 1):
        if not _installed(dataset):
            log(f"[{i}/{len(plan)}] {name} on {dataset}: skipped, the dataset is not installed")
            continue
        c = REGISTRY[name]
        log(f"[{i}/{len(plan)}] {name} on {dataset} ({args.budget}): {c.label_b} vs {c.label_a}")
        r = run_comparison(name, dataset, args.budget, args.seed, args.out, log=log)
        rows.append(r)
        save(rows, results)                                # after each comparison: an interruption keeps the rest
        log(f"  paper: {c.claim.number} ({c.claim.data}; {c.claim.setting}; {c.claim.citation})")
        log(f"  ours:  b − a = {fmt_diff(r['diff'], 3)} ± {r['se'] if r['se'] is not None else float('nan'):.3f} "
            f"({r['metric']}); same direction: {r['same_direction']}; size vs the paper's: {size_text(r)}; "
            f"{r['seconds']:.0f} s")
    if rows:
        json_path, md_path = save(rows, results)
        print(markdown(rows), end="")
        log(f"wrote {json_path} and {md_path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m numpyvae reproduce", description=__doc__.split("\n")[0])
    add_flags(p)
    return cmd_reproduce(p.parse_args(argv))
