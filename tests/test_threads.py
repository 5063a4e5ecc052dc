"""numpyvae.run.threads: the BLAS thread policy (choose), its pins, its hold on NumPy's OpenBLAS, and the
loop's re-decisions. No timing is asserted: the policy's speed is measured by
data_scripts/bench_thread_policy.py, not tested."""
import os
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from numpyvae.run import threads
from numpyvae.run.train import TrainConfig, Trainer


@pytest.fixture
def unpinned(monkeypatch):
    """No pin from the environment or --threads; the count goes back to the suite's 1 afterwards."""
    for var in threads.PIN_VARS:
        monkeypatch.delenv(var, raising=False)
    threads.pin(None)
    yield
    threads.pin(None)
    threads.set_blas_threads(1)


def blas_counts():
    """{'numpy': threads, 'other': [threads of every other BLAS loaded]} from threadpoolctl itself."""
    ours = threads.blas().filepath
    info = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return dict(numpy=[i["num_threads"] for i in info if i["filepath"] == ours][0],
                other=[i["num_threads"] for i in info if i["filepath"] != ours])


def test_choose_two_threads_quiet_one_beside_a_busy_core_one_for_a_small_step():
    big = 6 * 652_824 * 128                      # the 784-400-20 VAE at batch 128: ~5e8 FLOPs a step
    assert threads.choose(big, cpus=2, others=0.0) == 2
    assert threads.choose(big, cpus=2, others=0.2) == 2          # a little background: below the slack
    assert threads.choose(big, cpus=2, others=0.5) == 1          # half a core taken: two threads would wait
    assert threads.choose(big, cpus=2, others=1.0) == 1
    assert threads.choose(big, cpus=2, others=3.0) == 1          # never fewer than one
    assert threads.choose(big, cpus=4, others=1.0) == 3          # one core given up per busy core
    assert threads.choose(big, cpus=4, others=0.0) == 4
    assert threads.choose(1e6, cpus=4, others=0.0) == 1          # too small to share
    assert threads.choose(3 * threads.MIN_FLOPS_PER_THREAD, cpus=8, others=0.0) == 3


def test_pins_in_order_and_a_bad_numpyvae_value_is_named(unpinned, monkeypatch):
    assert threads.pinned() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.pinned() == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.pinned() == 2
    monkeypatch.setenv("NUMPYVAE_BLAS_THREADS", "1")
    assert threads.pinned() == 1
    threads.pin(4)                                            # --threads wins over the environment
    assert threads.pinned() == 4
    threads.pin(None)
    monkeypatch.setenv("NUMPYVAE_BLAS_THREADS", "two")
    with pytest.raises(ValueError, match="NUMPYVAE_BLAS_THREADS must be a whole number >= 1, got 'two'"):
        threads.pinned()
    monkeypatch.delenv("NUMPYVAE_BLAS_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "0")           # OpenBLAS's own "default": not a pin
    assert threads.pinned() == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="--threads must be a whole number >= 1"):
            threads.pin(bad)


def test_the_count_is_set_on_numpys_openblas_and_scipys_stays_at_one(unpinned):
    import scipy.special  # noqa: F401  (SciPy's OpenBLAS is loaded by numpyvae anyway)
    for n in (2, 1, 2):
        threads.set_blas_threads(n)
        counts = blas_counts()
        assert counts["numpy"] == n
        assert all(c == 1 for c in counts["other"])


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class FakeLoad:
    """The cores other programs use, as a function of the fake time."""
    def __init__(self, clock, others):
        self.clock, self.fn = clock, others

    def others(self, own_threads=1):
        return self.fn(self.clock.t)

    now = others


def simulate(step_seconds, others, seconds=60.0, start=2, trace=None):
    """Train on a simulated machine: each step takes step_seconds(threads, t) of fake time, the other
    programs use others(t) cores. Returns (the policy's total time, {count: steps}, best fixed total);
    ``trace``, a list, receives (start time, threads, seconds) of each of the policy's steps."""
    clock = FakeClock()
    policy = threads.Policy(5e8, cpus=2, clock=clock, load=FakeLoad(clock, others))
    policy.threads = threads.set_blas_threads(start)
    steps = 0
    while clock.t < seconds:
        n = policy.tick()
        dt = step_seconds(n, clock.t)
        if trace is not None:
            trace.append((clock.t, n, dt))
        clock.t += dt
        steps += 1
    fixed = []
    for n in (1, 2):                            # the same number of steps at one fixed count
        t = 0.0
        for _ in range(steps):
            t += step_seconds(n, t)
        fixed.append(t)
    return clock.t, policy.take_used(), min(fixed)


def test_quiet_machine_two_threads_and_probes_cost_little(unpinned):
    total, used, best = simulate(lambda n, t: 0.005 if n == 2 else 0.007, lambda t: 0.0)
    assert used[2] > 0.95 * sum(used.values())
    assert total < 1.1 * best


def test_beside_a_busy_process_one_thread_and_collapsed_probes_cost_little(unpinned):
    total, used, best = simulate(lambda n, t: 0.06 if n == 2 else 0.007, lambda t: 1.0)
    assert used[1] > 0.95 * sum(used.values())
    assert total < 1.1 * best


def test_a_load_reading_that_says_one_is_overruled_by_faster_steps_at_two(unpinned):
    """Other programs that use half a core now and then: the load says give one up, the steps say keep it."""
    total, used, best = simulate(lambda n, t: 0.005 if n == 2 else 0.007, lambda t: 0.5, start=1)
    assert used[2] > 0.8 * sum(used.values())
    assert total < 1.1 * best


def test_a_busy_process_that_starts_midway_is_followed_within_a_second(unpinned):
    busy_from = 30.0
    step = lambda n, t: (0.06 if n == 2 else 0.007) if t >= busy_from else (0.005 if n == 2 else 0.007)  # noqa: E731
    total, used, best = simulate(step, lambda t: 1.0 if t >= busy_from else 0.0)
    quiet_steps = busy_from / 0.005
    assert used[2] < quiet_steps + 1.0 / 0.06 + 60        # at most a second of collapsed steps, plus probes
    assert total < 1.1 * (busy_from + (60 - busy_from))    # the best fixed choice per half: 1.1 x the hour's time
    assert total < 1.1 * best + 1.0


def test_a_busy_process_that_starts_mid_run_costs_a_few_steps_not_a_reading_interval(unpinned):
    """The machine measured on 6 December: two threads 3.8 ms a step and one 5.7 ms while quiet;
    beside a busy process two collapse to 13 ms and one takes 5.8 ms. The process starts just after a
    reading (and elsewhere in the interval): at most a tenth of a second of collapsed steps follows."""
    for busy_from in (1.01, 1.2, 1.4):
        quiet = {2: 0.0038, 1: 0.0057}
        busy = {2: 0.013, 1: 0.0058}
        trace = []
        total, used, best = simulate(lambda n, t: (busy if t >= busy_from else quiet)[n],
                                     lambda t: 1.0 if t >= busy_from else 0.0, seconds=3.0, trace=trace)
        collapsed = sum(dt for t, n, dt in trace if n == 2 and t >= busy_from)
        assert collapsed < 0.1, (busy_from, collapsed, used)
        assert total < 1.05 * best, (busy_from, total, best)


def test_a_collapse_that_spares_every_other_step_is_followed_too(unpinned):
    """Beside a busy process the two-thread steps may alternate between spared and collapsed (4 and
    22 ms): a run of slow steps never comes, their median still says the count collapsed."""
    busy_from = 1.01
    quiet = {2: 0.0038, 1: 0.0057}
    busy = lambda n, t: 0.0058 if n == 1 else (0.004 if int(t / 0.013) % 2 else 0.022)  # noqa: E731
    trace = []
    simulate(lambda n, t: busy(n, t) if t >= busy_from else quiet[n],
             lambda t: 1.0 if t >= busy_from else 0.0, seconds=3.0, trace=trace)
    collapsed = sum(dt for t, n, dt in trace if n == 2 and t >= busy_from)
    assert collapsed < 0.15, collapsed


def test_a_probe_lost_while_the_new_program_starts_is_tried_again(unpinned):
    """Measured beside a busy process that had just started: for a few tens of milliseconds one thread
    is slower than two (10-14 ms against 8), then 5.5 ms against 8. The first probe down loses; the
    policy must not stay on two threads until its next reading."""
    busy_from = 1.01
    quiet = {2: 0.0044, 1: 0.0056}

    def step(n, t):
        if t < busy_from:
            return quiet[n]
        return 0.008 if n == 2 else (0.012 if t < busy_from + 0.06 else 0.0055)
    trace = []
    simulate(step, lambda t: 1.0 if t >= busy_from else 0.0, seconds=3.0, trace=trace)
    collapsed = sum(dt for t, n, dt in trace if n == 2 and t >= busy_from)
    assert collapsed < 0.2, collapsed


def test_single_slow_steps_do_not_make_a_quiet_run_give_up_a_thread(unpinned):
    """A pause now and then (a garbage collection, another program's time slice) is not a collapse."""
    step = lambda n, t: (0.02 if int(t / 0.0038) % 50 == 0 else 0.0038) if n == 2 else 0.0057  # noqa: E731
    total, used, best = simulate(step, lambda t: 0.0, seconds=10.0)
    assert used[2] > 0.99 * sum(used.values()), used


def test_a_small_model_stays_on_one_thread_and_never_probes(unpinned):
    clock = FakeClock()
    policy = threads.Policy(1e6, cpus=2, clock=clock, load=FakeLoad(clock, lambda t: 0.0))
    for _ in range(2000):
        policy.tick()
        clock.t += 0.001
    assert policy.take_used() == {1: 2000}


def test_a_pinned_count_never_changes(unpinned):
    threads.pin(2)
    clock = FakeClock()
    policy = threads.Policy(1e3, cpus=2, clock=clock, load=FakeLoad(clock, lambda t: 5.0))  # small, "busy": still 2
    for t in range(5):
        clock.t = t
        assert policy.tick() == 2
    assert blas_counts()["numpy"] == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_machine_load_counts_a_busy_process_and_not_our_own_work(unpinned):
    """A spinning child is another program: at least half a core of 'others' while it runs."""
    import time
    from numpyvae.bench.busy import busy_processes
    with busy_processes(1) as (proc,):
        deadline = time.monotonic() + 30                     # wait until it runs its loop (a slow start under load)
        while spinner_ticks(proc.pid) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        load = threads.MachineLoad()
        assert load.now() >= 0.5                             # the first reading of a run, too
        time.sleep(0.6)
        assert load.others() >= 0.5


def spinner_ticks(pid: int) -> int:
    """CPU ticks a process has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def own_thread_ticks():
    """{thread id: CPU ticks} of this process's threads (Linux)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[tid] = int(fields[11]) + int(fields[12])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_training_at_two_threads_works_on_two_threads_only(unpinned, small_digits):
    """No second BLAS pool (SciPy's) and no other thread works in the hot loop: at two BLAS threads,
    only the main thread and NumPy's one OpenBLAS worker use CPU time during an epoch."""
    threads.pin(2)
    x = np.tile(small_digits.x_train, (2, 1))[:1024]
    data = type(small_digits)("digits", x, np.zeros(len(x), int), small_digits.x_test, small_digits.y_test,
                              small_digits.image_shape, small_digits.source)
    trainer = Trainer(TrainConfig(dataset="digits", hidden=[400], z_dim=20, batch_size=128, epochs=1),
                      data=data, quiet=True)
    before = own_thread_ticks()
    trainer._train_epoch()
    after = own_thread_ticks()
    worked = [tid for tid, t in after.items() if t - before.get(tid, 0) > 0]
    assert 1 <= len(worked) <= 2, (before, after)
    assert trainer.blas.take_used() == {2: 8}


def test_the_command_line_pins_with_threads_and_names_a_bad_variable(unpinned, monkeypatch, tmp_path, capsys):
    from numpyvae import cli
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--hidden", "8", "--z-dim", "2", "--epochs", "1", "--quiet", "--no-plots"]
    assert cli.main(argv + ["--threads", "2"]) == 0
    assert threads.pinned() == 2 and blas_counts()["numpy"] == 2
    threads.pin(None)
    monkeypatch.setenv("NUMPYVAE_BLAS_THREADS", "lots")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "numpyvae: error: NUMPYVAE_BLAS_THREADS must be a whole number >= 1, got 'lots'"
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv + ["--threads", "0"])
    assert exit_.value.code == 2


class FirstReading:
    """A MachineLoad whose first reading (now) says ``cores`` busy elsewhere; counts its readings."""
    def __init__(self, cores):
        self.cores, self.readings = cores, 0

    def now(self):
        self.readings += 1
        return self.cores

    def others(self, own_threads=1):
        return self.cores


def test_the_first_count_comes_from_a_reading_of_the_machine_now(unpinned, monkeypatch):
    """Not from the 1-minute load average, which still remembers a program that ended (or not yet one
    that started): here it says 3 while the machine is quiet now, then 0 while a core is busy now."""
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    quiet = FirstReading(0.0)
    assert threads.Policy(5e8, cpus=2, load=quiet).threads == 2 and quiet.readings == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.Policy(5e8, cpus=2, load=FirstReading(1.0)).threads == 1
    small = FirstReading(0.0)
    assert threads.Policy(1e6, cpus=2, load=small).threads == 1 and small.readings == 0   # no reading


def test_never_more_threads_than_the_usable_cores(unpinned, monkeypatch):
    """A container with a quota of one CPU on a 2-core host: quiet, yet one thread, and no probe of two."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    clock = FakeClock()
    policy = threads.Policy(5e8, clock=clock, load=FirstReading(0.0))
    assert policy.cpus == 1 and policy.threads == 1
    for _ in range(3000):
        policy.tick()
        clock.t += 0.005
    assert policy.take_used() == {1: 3000}


def test_the_log_likelihood_estimate_does_not_time_the_policys_first_reading(unpinned, monkeypatch):
    """estimate_seconds scales the time of a small piece by up to 10,000 (k = 5000 on 10,000 images): a
    0.1 s reading inside its clock would add over 15 minutes. Here the reading is made to take 3 s."""
    from numpyvae import VAE
    from numpyvae.measure.vae_log_likelihood import estimate_seconds
    from numpyvae.run import cores
    monkeypatch.setattr(cores, "FIRST_READING", 3.0)
    monkeypatch.setattr(cores.MachineLoad, "_recent", {})
    model = VAE(784, [400], 20, seed=0)
    x = (np.random.default_rng(0).random((100, 784)) < 0.3).astype(np.float32)
    assert estimate_seconds(model, x, k=20, batch_size=100, probe_k=20) < 2.0
