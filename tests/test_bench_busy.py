"""bench --busy N: the busy processes it starts all end, however the benchmark ends (no timing asserted)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from numpyvae.bench import command
from numpyvae.bench.busy import SPIN, busy_processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def spinners(parent: int) -> list[int]:
    """Pids of live (not zombie) busy processes started by ``parent``, found in /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if SPIN.encode() in argv and str(parent).encode() in argv and state != "Z":
            found.append(int(pid))
    return found


def wait_for(parent: int, count: int, seconds: float = 30.0) -> list[int]:
    """The spinners of ``parent`` once there are ``count`` of them, or after ``seconds`` (a child shows
    its command line only once it has started Python; a dying one needs a moment to go)."""
    deadline = time.monotonic() + seconds
    while len(spinners(parent)) != count and time.monotonic() < deadline:
        time.sleep(0.05)
    return spinners(parent)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_or_ctrl_c_inside_ends_every_busy_process(error):
    with pytest.raises(error):
        with busy_processes(2) as procs:
            assert len(wait_for(os.getpid(), 2)) == 2
            raise error("stop")
    assert all(p.returncode is not None for p in procs)
    assert spinners(os.getpid()) == []


def test_busy_processes_end_when_the_benchmark_is_killed_outright():
    """kill -9 leaves no cleanup to run: each child notices that its parent is gone and exits."""
    code = ("import os, signal, sys\nfrom numpyvae.bench.busy import busy_processes\n"
            "with busy_processes(2) as procs:\n"
            "    print(os.getpid(), flush=True)\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert parent.returncode == -signal.SIGKILL
    assert wait_for(int(parent.stdout.split()[0]), 0) == []


def test_bench_busy_runs_both_and_leaves_no_busy_process(tmp_path, capsys):
    out = tmp_path / "busy.json"
    assert command.main(["--busy", "1", "--smoke", "--hidden", "16", "--json", str(out)]) == 0
    assert spinners(os.getpid()) == []
    res = json.loads(out.read_text())
    assert res["busy"] == 1 and res["as_is"]["epochs"] and res["beside_busy"]["epochs"]
    text = capsys.readouterr().out
    assert "beside 1 busy process of the benchmark's own" in text
    assert "1 busy: best epoch" in text and "threads {" in text


def test_bench_busy_ends_its_processes_when_the_run_fails(monkeypatch):
    """Ctrl-C during the run beside the busy processes (the second run_bench) ends both of them."""
    seen = []

    def fake_run_bench(**kw):
        seen.append(len(wait_for(os.getpid(), 2 if seen else 0)))
        if len(seen) == 2:
            raise KeyboardInterrupt
        return {"epochs": [{"seconds": 1.0, "blas_threads": {"1": 1}}], "machine": {}}
    monkeypatch.setattr(command, "run_bench", fake_run_bench)
    with pytest.raises(KeyboardInterrupt):
        command.beside_busy(2, log=None)
    assert seen == [0, 2]
    assert spinners(os.getpid()) == []


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="--busy must be a whole number >= 0"):
        with busy_processes(-1):
            pass


@pytest.mark.parametrize("argv, message", [
    (["--busy", "1", "--busy-from", "-1"], "--busy-from must be a number of seconds >= 0, got -1.0"),
    (["--busy", "1", "--busy-from", "nan"], "--busy-from must be a number of seconds >= 0, got nan"),
    (["--busy", "1", "--busy-from", "inf"], "--busy-from must be a number of seconds >= 0, got inf"),
    (["--busy-from", "2"], "--busy-from needs --busy N (N >= 1)"),
    (["--busy", "0", "--busy-from", "2"], "--busy-from needs --busy N (N >= 1)")])
def test_bad_busy_from_values_are_one_clear_line(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        command.main(argv)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("numpyvae: error: ") and message in lines[-1]


def test_busy_between_refuses_bad_times():
    from numpyvae.bench.busy import busy_between
    for start, stop in ((-1.0, None), (float("inf"), None), (2.0, 1.0)):
        with pytest.raises(ValueError, match="--busy-"):
            with busy_between(1, start, stop):
                pass


def test_followed_reads_the_counts_before_and_after_the_start_from_the_trace():
    """Ten steps of 10 ms at two threads, the busy process at 45 ms, three more at two, then one."""
    trace = [(100.0 + 0.01 * i, 2 if i < 8 else 1) for i in range(12)]
    f = command.followed(trace, 100.045, steps_per_epoch=4)
    assert f["started_seconds"] == pytest.approx(0.045)
    assert (f["started_epoch"], f["started_step"]) == (2, 2)           # 5 steps before it: epoch 2's second
    assert f["threads_before"] == {2: 5} and f["threads_after"] == {2: 3, 1: 4}
    assert f["count_at_start"] == 2 and f["fewer_after_steps"] == 3
    assert f["fewer_after_seconds"] == pytest.approx(0.035)
    assert command.followed(trace, None, 4) == {"started_seconds": None}
    assert command.followed([(0.0, 2), (1.0, 2)], 0.5, 4)["fewer_after_seconds"] is None


def test_bench_busy_from_starts_them_in_the_run_reports_it_and_leaves_none(tmp_path, capsys):
    out = tmp_path / "mid.json"
    assert command.main(["--busy", "1", "--busy-from", "0", "--smoke", "--hidden", "16", "--json", str(out)]) == 0
    assert spinners(os.getpid()) == []
    res = json.loads(out.read_text())
    assert res["busy"] == 1 and res["busy_from"] == 0 and res["run"]["epochs"]
    f = res["followed"]
    assert f["started_seconds"] is not None and f["started_seconds"] < 5
    assert sum(f["threads_before"].values()) + sum(f["threads_after"].values()) == sum(
        sum(row["blas_threads"].values()) for row in res["run"]["epochs"])
    text = capsys.readouterr().out
    assert "1 busy process of the benchmark's own from 0 s into training" in text
    assert "busy from " in text and "threads before {" in text


def test_bench_busy_from_ends_its_processes_on_ctrl_c_after_they_started(monkeypatch):
    from types import SimpleNamespace

    def fake_run_bench(during, **kw):
        with during(SimpleNamespace(blas=SimpleNamespace())):
            assert len(wait_for(os.getpid(), 2)) == 2
            raise KeyboardInterrupt
    monkeypatch.setattr(command, "run_bench", fake_run_bench)
    with pytest.raises(KeyboardInterrupt):
        command.busy_mid_run(2, 0.0, log=None)
    assert spinners(os.getpid()) == []
