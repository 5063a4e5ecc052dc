"""`python -m numpyvae reproduce`: the paired statistics, the verdict, the registry, and each kind of comparison
run end to end at the smoke budget (seconds each; its numbers are no evidence, only the machinery is tested)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from numpyvae.cli import main
from numpyvae.measure.comparisons import BUDGETS, K_TRAIN, REGISTRY, EpochsFraction
from numpyvae.measure.reproduce import paired, verdict


def test_paired_difference_and_its_standard_error_by_hand():
    a, b = np.array([1.0, 2.0, 4.0, 7.0]), np.array([2.0, 2.5, 5.5, 7.0])
    d = [1.0, 0.5, 1.5, 0.0]                                   # b − a
    mean = 0.75
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 3)
    out = paired(a, b)
    assert out["diff"] == pytest.approx(mean) and out["se"] == pytest.approx(sd / 2) and out["n"] == 4
    assert out["a"] == pytest.approx(3.5) and out["b"] == pytest.approx(4.25)
    # pairing removes what both sides share: a shared offset per example does not enter the error
    shift = np.array([100.0, -50.0, 30.0, 0.0])
    assert paired(a + shift, b + shift)["se"] == pytest.approx(out["se"])


def test_verdict_needs_two_standard_errors_and_the_papers_sign():
    assert verdict(1.0, 0.2, 2.0) == {"same_direction": "yes", "size_vs_paper": 0.5}
    assert verdict(-1.0, 0.2, 2.0)["same_direction"] == "no"
    assert verdict(0.3, 0.2, 2.0)["same_direction"] == "unresolved"
    assert verdict(-5.0, 1.0, -13.8)["same_direction"] == "yes"          # lower test error, as M2's paper
    assert verdict(0.5, None, 0.01)["same_direction"] == "yes"           # no SE (a deterministic experiment)


def test_every_registered_comparison_is_complete():
    assert {"iwae", "two-layers", "vamp", "mog10", "mog500", "iaf", "full-cov", "planar2", "planar8", "planar32",
            "planar8-global", "m2", "avb", "cubo", "output-bias", "planar-2d-K8", "planar-2d-K32"} <= set(REGISTRY)
    for name, c in REGISTRY.items():
        assert c.claim.number and c.claim.data and c.claim.setting and c.claim.citation, name
        assert c.effect != 0 and c.a is not c.b, name
        for budget in BUDGETS.values():
            assert c.kind in budget, (name, c.kind)
    assert REGISTRY["iwae"].b["n_samples"] == K_TRAIN and BUDGETS["long"]["k_train"] == 50
    assert BUDGETS["long"]["k_eval"] == 5000                              # Burda et al.'s evaluation k
    assert isinstance(REGISTRY["planar8"].b["warmup_epochs"], EpochsFraction)
    assert REGISTRY["planar8-global"].b["posterior"] == "planar:8,amortized=false"


def _run(tmp_path, *names):
    assert main(["reproduce", *names, "--budget", "smoke", "--out", str(tmp_path)]) == 0
    return json.loads((tmp_path / "reproduction.json").read_text())["results"]


def test_a_vae_comparison_is_paired_and_written_as_json_and_markdown(tmp_path, capsys):
    rows = _run(tmp_path, "iwae")
    (r,) = rows
    assert (r["name"], r["dataset"], r["budget"], r["seed"]) == ("iwae", "digits", "smoke", 0)
    assert r["n"] == BUDGETS["smoke"]["n_test"] and r["k_eval"] == BUDGETS["smoke"]["k_eval"]
    assert r["diff"] == pytest.approx(r["b"] - r["a"]) and r["se"] > 0
    assert r["settings"]["b"]["n_samples"] == BUDGETS["smoke"]["k_train"] and r["settings"]["b"]["objective"] == "iwae"
    assert r["settings"]["a"]["seed"] == r["settings"]["b"]["seed"]
    assert r["same_direction"] in ("yes", "no", "unresolved")
    md = (tmp_path / "reproduction.md").read_text()
    assert md.startswith("| comparison") and "| iwae: IWAE vs VAE | digits |" in md and "Burda" in md
    captured = capsys.readouterr()
    assert "[1/1] iwae on digits (smoke)" in captured.err and "paper: +2.0 nats" in captured.err
    # a second run replaces its own row and keeps the others
    rows = _run(tmp_path, "iwae")
    assert len(rows) == 1


def test_warmup_as_a_fraction_of_the_budgets_epochs_and_a_hierarchy_without_z_dim(tmp_path):
    rows = {r["name"]: r for r in _run(tmp_path, "planar2", "two-layers")}
    epochs = BUDGETS["smoke"]["vae"]["epochs"]
    assert rows["planar2"]["settings"]["b"]["warmup_epochs"] == pytest.approx(epochs / 3)
    assert "z_dim" not in rows["two-layers"]["settings"]["b"] and rows["two-layers"]["settings"]["b"]["stochastic"]


def test_a_comparison_can_train_longer_than_its_budget(tmp_path, monkeypatch):
    # two-layers trains 100 epochs at the short budget; here the same mechanism at the smoke budget
    from dataclasses import replace
    from numpyvae.measure import comparisons
    base = BUDGETS["smoke"]["vae"]["epochs"]
    monkeypatch.setitem(comparisons.REGISTRY, "planar2", replace(comparisons.REGISTRY["planar2"],
                                                                  epochs={"smoke": base + 1}))
    row = _run(tmp_path, "planar2")[0]
    assert row["epochs"] == base + 1 == row["settings"]["b"]["epochs"]
    assert row["settings"]["b"]["warmup_epochs"] == pytest.approx((base + 1) / 3)   # fractions follow it
    assert BUDGETS["smoke"]["vae"]["epochs"] == base                                # the budget is untouched
    assert comparisons.REGISTRY["two-layers"].epochs == {"short": 100}


def test_m2_avb_cubo_and_cvae_comparisons_run(tmp_path):
    rows = {r["name"]: r for r in _run(tmp_path, "m2", "avb", "cubo", "cvae-quadrant")}
    cvae = rows["cvae-quadrant"]
    assert cvae["settings"]["given"] == "quadrant" and cvae["n"] == BUDGETS["smoke"]["cvae"]["n_test"]
    assert cvae["diff"] == pytest.approx(cvae["b"] - cvae["a"]) and cvae["a"] < 0
    m2 = rows["m2"]
    assert m2["metric"] == "test error, %" and 0 <= m2["a"] <= 100 and 0 <= m2["b"] <= 100
    assert 0 <= m2["generative_error"] <= 100 and m2["n"] == BUDGETS["smoke"]["n_test"]
    avb = rows["avb"]
    assert avb["dataset"] == "ring" and avb["settings"]["adaptive_contrast"] is True and avb["settings"]["beta1"] == 0.5
    assert avb["n"] == BUDGETS["smoke"]["avb"]["n_test"] and np.isfinite(avb["diff"])
    cubo = rows["cubo"]["sandwich"]
    assert cubo["a"]["log_px"] == cubo["b"]["log_px"] and cubo["a"]["elbo"] <= cubo["a"]["log_px"]


def test_the_2d_flow_comparisons_chain_k_2_8_32_on_the_same_evaluation_draws(tmp_path):
    assert main(["reproduce", "planar-2d-K8", "planar-2d-K32", "--datasets", "U2", "--budget", "smoke",
                 "--out", str(tmp_path)]) == 0
    rows = {r["name"]: r for r in json.loads((tmp_path / "reproduction.json").read_text())["results"]}
    k8, k32 = rows["planar-2d-K8"], rows["planar-2d-K32"]
    assert [(r["settings"]["K_a"], r["settings"]["K_b"]) for r in (k8, k32)] == [(2, 8), (8, 32)]
    assert k32["a"] == k8["b"]                         # K = 8 is one fit, judged on the same draws in both rows
    for r in (k8, k32):
        assert r["dataset"] == "U2" and r["metric"] == "KL(q_K ‖ p*), nats" and r["se"] > 0
        assert r["n"] == BUDGETS["smoke"]["flow2d"]["n_eval"] and r["diff"] == pytest.approx(r["b"] - r["a"])
        assert r["a"] > 0 and r["b"] > 0 and r["log_z"] == pytest.approx(2.2001669, abs=1e-6)
    # side a of "8 vs 2" is KL(q_2 ‖ p*) as fit_density defines it, on eval_noise(n, seed) and with log Z added
    from numpyvae.latent.flows.fit_density import eval_noise, fit_planar
    from numpyvae.latent.flows.potentials import log_normalizer, potential
    cfg = {k: v for k, v in BUDGETS["smoke"]["flow2d"].items() if k != "n_eval"}
    U = potential("U2")
    direct = fit_planar(U, 2, seed=0, eval_eps=eval_noise(BUDGETS["smoke"]["flow2d"]["n_eval"], 0), **cfg)
    assert k8["a"] == pytest.approx(direct["mean"] + log_normalizer(U), rel=1e-12)
    md = (tmp_path / "reproduction.md").read_text()
    assert "| planar-2d-K32: planar flow, K = 32 vs planar flow, K = 8 | U2 |" in md and "smoke: 50 updates" in md


def test_unknown_names_are_refused_in_one_line(tmp_path, capsys):
    assert main(["reproduce", "iwae", "nonsense", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("numpyvae: error: reproduce: unknown comparison(s) nonsense; known: iwae")
    assert not (tmp_path / "reproduction.json").exists()


def test_list_prints_every_claim(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in REGISTRY) and "Kingma et al. 2014" in out


def test_a_claim_without_a_number_gets_no_size(tmp_path):
    (r,) = _run(tmp_path, "cubo")
    assert r["size_vs_paper"] is None and "direction only" in (tmp_path / "reproduction.md").read_text()


def test_bad_datasets_and_an_empty_plan_are_refused(tmp_path, capsys):
    assert main(["reproduce", "iwae", "--datasets", "cifar", "--out", str(tmp_path)]) == 2
    assert "unknown dataset(s) cifar in --datasets" in capsys.readouterr().err
    assert main(["reproduce", "avb", "--datasets", "digits", "--out", str(tmp_path)]) == 2
    assert "nothing to run: avb on --datasets digits" in capsys.readouterr().err


def test_one_process_per_output_directory(tmp_path, capsys):
    from numpyvae.files import DirectoryLock
    with DirectoryLock(tmp_path / "runs"):
        assert main(["reproduce", "cubo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error:") and len(err.strip().splitlines()) == 1, err


def test_results_go_where_asked_and_merge_with_the_rows_there(tmp_path):
    """--results DIR: the table (json and md) there, merged with its rows; the runs stay in --out."""
    table, runs = tmp_path / "table", tmp_path / "runs"
    table.mkdir()
    (table / "reproduction.json").write_text(json.dumps({"results": [_run(tmp_path / "first", "cubo")[0]]}))
    assert main(["reproduce", "iwae", "--budget", "smoke", "--out", str(runs), "--results", str(table)]) == 0
    rows = json.loads((table / "reproduction.json").read_text())["results"]
    assert sorted(r["name"] for r in rows) == ["cubo", "iwae"]               # the earlier row is kept
    assert "| iwae: IWAE vs VAE |" in (table / "reproduction.md").read_text()
    assert not (runs / "reproduction.json").exists() and (runs / "runs" / "smoke").is_dir()


def test_a_q_without_a_density_is_compared_by_its_paired_test_elbo(tmp_path):
    (r,) = _run(tmp_path, "gumbel")
    assert r["metric"] == "test ELBO, nats" and r["k_eval"] is None and r["se"] > 0
    assert r["settings"]["a"]["posterior"] == "gumbel-st:10" and r["settings"]["b"]["posterior"] == "gumbel:10"


def test_test_elbo_per_example_averages_to_its_mean(small_digits):
    from numpyvae import VAE
    from numpyvae.measure.elbo import test_elbo
    m = VAE(784, [8], 2, seed=0)
    x = (small_digits.x_test[:30] > 0.5).astype(np.float32)
    out = test_elbo(m, x, batch_size=7, per_example=True, rng=3)
    assert out["each"].shape == (30,) and out["each"].mean() == pytest.approx(out["elbo"], rel=1e-6)
    assert out["each"][4] == pytest.approx(test_elbo(m, x, batch_size=7, rng=3, per_example=True)["each"][4])
    first = test_elbo(m, x[:7], batch_size=7, rng=3)["elbo"]          # the first batch alone: its own mean
    assert out["each"][:7].mean() == pytest.approx(first, rel=1e-6)


def test_a_bar_in_a_cell_is_escaped_so_the_table_keeps_its_columns(tmp_path):
    _run(tmp_path, "cvae-top-half")
    row = [line for line in (tmp_path / "reproduction.md").read_text().splitlines() if line.startswith("| cvae")][0]
    assert "x_out \\| x_in" in row and row.replace("\\|", "").count("|") == 8


def test_m1_m2_trains_m1_first_then_m2_on_its_features_with_both_baselines(tmp_path):
    row = _run(tmp_path, "m1-m2")[0]
    run_dir = tmp_path / "runs" / "smoke" / "m1-m2-digits-seed0"
    assert row["settings"]["features"] == str(run_dir / "m1")            # the placeholder became M1's run
    assert (run_dir / "m1" / "checkpoint.npz").is_file() and (run_dir / "m2" / "checkpoint.npz").is_file()
    assert row["m1_settings"]["epochs"] == BUDGETS["smoke"]["m1"]["epochs"]
    config = json.loads((run_dir / "m2" / "config.json").read_text())
    assert config["features"] == str(run_dir / "m1") and config["hidden"] == [300] == config["classifier_hidden"]
    n = BUDGETS["smoke"]["n_test"]
    assert row["n"] == n and row["m2_vs_features_classifier"]["n"] == n
    assert 0 <= row["features_classifier"] <= 100
    assert row["m2_vs_features_classifier"]["b"] == pytest.approx(row["b"])   # the same M2, the other baseline
    assert REGISTRY["m1-m2"].epochs == {"short": 300}


def test_one_command_trains_a_side_that_several_comparisons_share_once(tmp_path, capsys, monkeypatch):
    """iwae and vamp both judge against the budget's plain VAE: one command trains it once, and the second
    comparison's numbers for it are the first's; a side that differs (two-layers' longer run) is trained."""
    import numpyvae.run.train as train_module
    trained = []
    real = train_module.train
    monkeypatch.setattr(train_module, "train", lambda cfg, **kw: trained.append(cfg["out"]) or real(cfg, **kw))
    rows = {r["name"]: r for r in _run(tmp_path, "iwae", "vamp")}
    assert rows["iwae"]["a"] == rows["vamp"]["a"] and rows["iwae"]["settings"]["a"] == rows["vamp"]["settings"]["a"]
    assert [Path(o).parts[-2:] for o in trained] == [("iwae-digits-seed0", "a"), ("iwae-digits-seed0", "b"),
                                                     ("vamp-digits-seed0", "b")]
    assert "the same run as an earlier comparison's (reused)" in capsys.readouterr().err
    from numpyvae.measure import reproduce
    assert reproduce._sides is None                   # nothing kept once the command is over
    # each command starts afresh: a second command trains its baseline again
    trained.clear()
    _run(tmp_path / "again", "vamp")
    assert [Path(o).name for o in trained] == ["a", "b"]
