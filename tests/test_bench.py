"""The benchmark command: FLOP count by hand, a smoke run, its JSON, its errors.

Nothing here is timed: the benchmark's numbers depend on the machine.
"""
import json

import pytest

from numpyvae import VAE
from numpyvae.bench import command, matmul_bound, training


def hand_flops(x_dim, hidden, z_dim, batch, samples=1):
    """2·m·k·n per matmul, written out for one hidden layer without looking at the code.

    Encoder x_dim -> h (rows = batch), mu and logvar h -> z_dim, decoder
    z_dim -> h and h -> x_dim (rows = samples·batch). Each layer: forward
    x @ W, dW = x.T @ dy, dx = dy @ W.T (3 products of the same size), except
    the first, which needs no dx (its input is the data): 2 products.
    """
    (h,) = hidden
    n, sn = batch, samples * batch
    return (2 * 2 * n * x_dim * h              # encoder.0: forward, dW
            + 3 * 2 * n * h * z_dim            # encoder.mu
            + 3 * 2 * n * h * z_dim            # encoder.logvar
            + 3 * 2 * sn * z_dim * h           # decoder.0
            + 3 * 2 * sn * h * x_dim)          # decoder.out


def test_flop_count_of_a_tiny_model_by_hand():
    model = VAE(6, [5], 3, seed=0)
    ops = matmul_bound.matmul_shapes(model, batch_size=7, n_samples=2)
    # by hand: 2·(7·6·5)·2 + 2·(7·5·3)·3·2 + 2·(14·3·5)·3 + 2·(14·5·6)·3
    assert sum(op["flops"] for op in ops) == 840 + 1260 + 1260 + 2520 == hand_flops(6, [5], 3, 7, 2)
    assert len(ops) == 5 * 3 - 1
    assert [op["op"] for op in ops if op["layer"] == "encoder.0"] == ["forward", "dW"]


def test_flop_count_of_the_issue_model():
    """784-400-20 at batch 128: 468 steps of about 0.42 GFLOP, about 197 GFLOP per 60,000 examples."""
    ops = matmul_bound.matmul_shapes(VAE(784, [400], 20, seed=0), batch_size=128)
    per_step = sum(op["flops"] for op in ops)
    assert per_step == hand_flops(784, [400], 20, 128)
    assert 196e9 < per_step * (60000 // 128) < 197e9


def test_two_hidden_layers_count_every_dense_layer():
    model = VAE(10, [8, 6], 4, seed=0)
    ops = matmul_bound.matmul_shapes(model, batch_size=3)
    # encoder 10-8-6, heads 6-4 (x2), decoder 4-6-8, out 8-10; all rows 3
    sizes = [(10, 8), (8, 6), (6, 4), (6, 4), (4, 6), (6, 8), (8, 10)]
    want = sum(2 * 3 * a * b * (2 if i == 0 else 3) for i, (a, b) in enumerate(sizes))
    assert sum(op["flops"] for op in ops) == want


def test_measure_matmuls_reports_a_rate():
    ops = matmul_bound.matmul_shapes(VAE(6, [5], 3, seed=0), batch_size=7)
    mm = matmul_bound.measure_matmuls(ops, "float32", repeats=1, min_seconds=0.001)
    assert mm["flops_per_step"] == sum(op["flops"] for op in ops)
    assert mm["seconds_per_step"] > 0 and mm["gflops"] > 0 and len(mm["per_op"]) == len(ops)


def test_smoke_run_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = command.main(["--smoke", "--hidden", "16", "--z-dim", "4", "--batch-size", "32",
                         "--json", str(path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "BLAS bound" in out and "epoch  1" in out and "data: " in out
    res = json.loads(path.read_text())
    assert res["model"]["arch"] == "784-16-4" and res["model"]["dtype"] == "float32"
    assert res["data"]["examples"] == 4 * 32 and res["data"]["steps_per_epoch"] == 4
    assert res["data"]["source"].startswith(("fashion-mnist", "digits"))
    assert res["matmul"]["flops_per_step"] == hand_flops(784, [16], 4, 32)
    assert sum(op["flops"] for op in res["matmul"]["ops"]) == res["matmul"]["flops_per_step"]
    assert res["matmul"]["bound_epoch_seconds"] == pytest.approx(4 * res["matmul"]["seconds_per_step"])
    assert len(res["epochs"]) == 2
    for row in res["epochs"]:
        assert row["seconds"] > 0
        assert row["examples_per_sec"] == pytest.approx(4 * 32 / row["seconds"])
        assert row["gflops"] == pytest.approx(4 * res["matmul"]["flops_per_step"] / row["seconds"] / 1e9)
        assert row["fraction_of_bound"] == pytest.approx(res["matmul"]["bound_epoch_seconds"] / row["seconds"])
        shares = row["share_forward_backward"] + row["share_optimizer"] + row["share_rest"]
        assert shares == pytest.approx(1.0, abs=1e-9)
        assert row["share_forward_backward"] > 0 and row["share_optimizer"] > 0
        pieces = row["pieces"]
        assert list(pieces) == ["matmul layers", "activations", "likelihood", "posterior", "other model",
                                "optimizer", "loop"]
        assert sum(pieces.values()) == pytest.approx(row["seconds"], rel=1e-9)    # the pieces are the epoch
        assert all(pieces[k] > 0 for k in ("matmul layers", "activations", "likelihood", "posterior", "optimizer"))
        assert pieces["optimizer"] == pytest.approx(row["share_optimizer"] * row["seconds"])
    assert "the matmul layers are" in out
    assert res["last_vs_first"] == pytest.approx(res["epochs"][1]["seconds"] / res["epochs"][0]["seconds"])


def test_the_stopwatches_come_off_after_the_run():
    """bench times the model's own objects by shadowing their methods; afterwards nothing is left over."""
    from numpyvae.nn.dense import Dense
    from numpyvae.run.train import Trainer
    seen = []
    real = training._step_stopwatches

    def spy(trainer):
        seen.append(trainer)
        return real(trainer)
    training._step_stopwatches = spy
    try:
        training.run_bench(hidden=[16], z_dim=4, batch_size=32, epochs=1, examples=64,
                        matmul_repeats=1, matmul_seconds=0.001, log=None)
    finally:
        training._step_stopwatches = real
    (trainer,) = seen
    model = trainer.model
    assert isinstance(trainer, Trainer)
    objects = [model, trainer.optimizer, model.likelihood, model.posterior]
    objects += [layer for net in (model.encoder, model.decoder) for _, layer in net.named_layers()]
    assert any(isinstance(o, Dense) for o in objects)
    for obj in objects:
        left = {"loss_and_grads", "step", "forward", "backward", "rsample"} & set(vars(obj))
        assert not left, f"{type(obj).__name__} still has {left}"


def test_a_short_run_trains():
    """The benchmark runs the real training loop: the loss falls from epoch 1 to epoch 2."""
    res = training.run_bench(hidden=[16], z_dim=4, batch_size=32, epochs=2, examples=256,
                          matmul_repeats=1, matmul_seconds=0.001, log=None)
    assert res["epochs"][1]["train_loss"] < res["epochs"][0]["train_loss"]


def test_threads_pin_the_blas_count_in_this_process_and_the_epochs_say_so(tmp_path):
    """--threads N pins numpyvae.run.threads (no child process): every step runs at N, and the JSON says it."""
    from threadpoolctl import threadpool_info
    from numpyvae.run import threads
    out = tmp_path / "b.json"
    try:
        assert command.main(["--threads", "2", "--smoke", "--hidden", "16", "--json", str(out)]) == 0
        numpy_blas = [i for i in threadpool_info() if i["filepath"] == threads.blas().filepath]
        assert numpy_blas[0]["num_threads"] == 2
    finally:
        threads.pin(None)
        threads.set_blas_threads(1)
    res = json.loads(out.read_text())
    assert res["machine"]["blas_pinned"] == 2
    assert all(set(row["blas_threads"]) == {"2"} for row in res["epochs"])


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--threads", "0"], ["--hidden", "0"], ["--busy", "-1"],
                                  ["--busy", "1", "--arch", "keras-conv"], ["--busy", "1", "--optimizer-only"],
                                  ["--batch-size", "-1"], ["--dtype", "float16"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as err:
        command.main(argv)
    assert err.value.code == 2
    assert "error" in capsys.readouterr().err


def test_run_bench_refuses_fewer_examples_than_a_batch():
    with pytest.raises(ValueError, match="examples .* must be at least batch_size"):
        training.run_bench(examples=10, batch_size=32, log=None)


def test_the_optimizer_micro_benchmark_lives_here(capsys, monkeypatch):
    from numpyvae import optim
    assert not hasattr(optim, "measure_step_costs")       # moved out of the optimizers' module
    from numpyvae.bench import optim as bench_optim
    costs = bench_optim.optimizer_step_costs(size=1000, min_seconds=0.001)
    assert "Adam step (random gradient, no guard)" in costs and all(us > 0 for us in costs.values())
    monkeypatch.setattr(bench_optim, "optimizer_step_costs", lambda size: {"an Adam step": 12.5})   # the real one takes seconds
    assert command.main(["--optimizer-only"]) == 0
    assert "12.5  an Adam step" in capsys.readouterr().out


def test_posterior_costs_time_each_family_against_the_gaussian(tmp_path, capsys):
    path = tmp_path / "families.json"
    status = command.main(["--smoke", "--hidden", "16", "--z-dim", "4", "--batch-size", "32",
                         "--posterior", "planar:2", "full-gaussian", "--json", str(path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "planar:2" in out and "x gaussian" in out
    rows = json.loads(path.read_text())["rows"]
    assert [r["posterior"] for r in rows] == ["gaussian", "planar:2", "full-gaussian"]
    assert rows[0]["relative"] == 1.0
    for r in rows[1:]:
        assert r["relative"] == pytest.approx(r["best_epoch_seconds"] / rows[0]["best_epoch_seconds"])
    # the flow's extra encoder heads (u, w: 4 each, b: 1, per step) are more parameters: the family was used
    assert rows[1]["parameters"] == rows[0]["parameters"] + 2 * 16 * 9 + 2 * 9


def test_an_unknown_posterior_is_refused_before_any_timing(capsys):
    assert command.main(["--smoke", "--posterior", "spline:3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: --posterior: posterior: unknown posterior 'spline:3'")
    assert err.count("\n") == 1


def test_a_hierarchy_is_benchmarked_too():
    """--stochastic K1 K2 times an HVAE: its products counted by hand (x-side rows N, all others S·N), and
    every network and every layer's family is timed, the loss falls."""
    from numpyvae.models.hvae import HVAE
    model = HVAE(6, [3, 2], [5], seed=0)
    ops = matmul_bound.matmul_shapes(model, batch_size=7, n_samples=2)
    # q(z1|x): 6-5, heads 5-3 x2 (rows 7); q(z2|z1): 3-2, heads 2-2 x2; p(z1|z2): 2-2, heads 2-3 x2; p(x|z1): 3-5, 5-6
    # (rows 14); every layer 3 products, the first 2
    sizes = [(7, 6, 5), (7, 5, 3), (7, 5, 3), (14, 3, 2), (14, 2, 2), (14, 2, 2), (14, 2, 2), (14, 2, 3), (14, 2, 3),
             (14, 3, 5), (14, 5, 6)]
    assert sum(op["flops"] for op in ops) == sum(2 * m * k * n * (2 if i == 0 else 3)
                                                 for i, (m, k, n) in enumerate(sizes))
    res = training.run_bench(hidden=[16], stochastic=[4, 2], batch_size=32, epochs=2, examples=256,
                          matmul_repeats=1, matmul_seconds=0.001, log=None)
    assert res["model"]["arch"] == "784-16-4|2" and res["epochs"][1]["train_loss"] < res["epochs"][0]["train_loss"]
    assert all(row["pieces"]["posterior"] > 0 and row["pieces"]["matmul layers"] > 0 for row in res["epochs"])


@pytest.mark.parametrize("argv,message", [(["--stochastic", "4", "0"], "--stochastic sizes must be >= 1"),
                                          (["--stochastic", "4", "2", "--posterior", "planar:2"], "does not combine"),
                                          (["--stochastic", "4", "--arch", "keras-conv"], "does not combine")])
def test_bad_hierarchy_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        command.main(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("where", ["nodir/b.json", "file.txt/b.json", "adir"])
def test_a_json_path_that_cannot_be_written_is_refused_before_any_timing(where, tmp_path, capsys, monkeypatch):
    """`bench --json nodir/b.json` benchmarked, then ended in a traceback when it saved."""
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "adir").mkdir()

    def no_timing(**kw):
        raise AssertionError("the benchmark ran before its output path was checked")
    monkeypatch.setattr(command, "run_bench", no_timing)
    assert command.main(["--smoke", "--json", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numpyvae: error: bench: --json: cannot write") and err.count("\n") == 1
    assert str(tmp_path / where) in err
