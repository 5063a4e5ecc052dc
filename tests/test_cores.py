"""numpyvae.run.cores: the usable cores (affinity, cgroup v2 and v1 quotas) and the other programs' cores
from /proc/stat, read from fake files so that every number is known."""
import os

import pytest

from numpyvae.run import cores

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def stat_text(user, system, idle, iowait, cores_=2, steal=0):
    """A /proc/stat with this aggregate ``cpu`` line (nice, irq, softirq 0) and ``cores_`` cpuN lines."""
    line = f"cpu  {user} 0 {system} {idle} {iowait} 0 0 {steal} 0 0\n"
    per = "".join(f"cpu{i} 1 0 1 1 0 0 0 0 0 0\n" for i in range(cores_))
    return line + per + "intr 1 2 3\nctxt 4\n"


class FakeMachine:
    """A /proc/stat file that moves on by ``after`` when the reading sleeps; this process's CPU seconds."""
    def __init__(self, path, before, after, own_seconds=0.0):
        self.path, self.after, self.own_seconds = path, after, [0.0, own_seconds]
        path.write_text(before)
        self.slept = []

    def own(self):
        return self.own_seconds[0]

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.path.write_text(self.after)
        self.own_seconds[0] = self.own_seconds[1]


def load_of(tmp_path, before, after, own_seconds=0.0, cpus=2):
    m = FakeMachine(tmp_path / "stat", before, after, own_seconds)
    load = cores.MachineLoad(cpus, stat=m.path, own=m.own, loadavg=lambda: 9.0, sleep=m.sleep)
    return load.now(), m


def test_cpu_ticks_count_idle_and_iowait_as_not_busy(tmp_path):
    (tmp_path / "stat").write_text(stat_text(user=100, system=50, idle=1000, iowait=30, steal=5, cores_=4))
    assert cores.cpu_ticks(tmp_path / "stat") == (155, 1185, 4)
    assert cores.cpu_ticks(tmp_path / "missing") is None
    (tmp_path / "bad").write_text("intr 1 2\n")
    assert cores.cpu_ticks(tmp_path / "bad") is None


def test_the_first_reading_counts_the_cores_the_others_keep_busy_now(tmp_path):
    """0.1 s on 2 cores at 100 ticks a second: 20 ticks. One busy core elsewhere: 10 busy ticks."""
    quiet, m = load_of(tmp_path, stat_text(1000, 500, 9000, 100), stat_text(1001, 500, 9018, 101))
    assert m.slept == [cores.FIRST_READING]
    assert quiet == pytest.approx(0.1)                      # 1 busy tick of 20: a tenth of a core
    busy, _ = load_of(tmp_path, stat_text(1000, 500, 9000, 100), stat_text(1008, 502, 9010, 100))
    assert busy == pytest.approx(1.0)
    io, _ = load_of(tmp_path, stat_text(1000, 500, 9000, 100), stat_text(1000, 500, 9010, 110))
    assert io == 0.0                                         # waiting on a disk keeps no core busy


def test_the_first_reading_leaves_out_this_process_own_time(tmp_path):
    """15 busy ticks of 20, 5 of them this process's (0.05 s of CPU time): the others kept one core."""
    others, _ = load_of(tmp_path, stat_text(1000, 500, 9000, 100), stat_text(1015, 500, 9005, 100),
                        own_seconds=5 / TICK)
    assert others == pytest.approx(1.0)


def test_busy_host_cores_count_only_beyond_the_cores_this_process_cannot_use(tmp_path):
    """8 host cores, 3 of them busy, a quota of 2: the others fit on the 6 this process may not use."""
    before, after = stat_text(0, 0, 0, 0, cores_=8), stat_text(30, 0, 50, 0, cores_=8)  # 0.1 s: 80 ticks
    assert load_of(tmp_path, before, after, cpus=2)[0] == pytest.approx(0.0)
    after = stat_text(70, 0, 10, 0, cores_=8)                # 7 busy cores: one of the quota's two taken
    assert load_of(tmp_path, before, after, cpus=2)[0] == pytest.approx(1.0)
    assert load_of(tmp_path, before, after, cpus=8)[0] == pytest.approx(7.0)


def test_without_proc_stat_the_load_average_stands_in_and_without_it_the_machine_is_quiet(tmp_path):
    slept = []
    load = cores.MachineLoad(2, stat=tmp_path / "none", loadavg=lambda: 2.5, sleep=slept.append)
    assert load.now() == pytest.approx(1.5)                  # less this process
    assert load.others(own_threads=2) == pytest.approx(0.5)
    assert slept == []                                       # the load average needs no waiting
    assert cores.MachineLoad(2, stat=tmp_path / "none", loadavg=lambda: None).now() == 0.0


def cgroup(tmp_path, own_v2="/", own_v1="/", files=()):
    """A fake cgroup mount under tmp_path/cg and /proc/self/cgroup at tmp_path/self; files: (path, text)."""
    root = tmp_path / "cg"
    root.mkdir()
    for rel, text in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (tmp_path / "self").write_text(f"4:memory:/x\n2:cpu,cpuacct:{own_v1}\n0::{own_v2}\n")
    return dict(root=root, self_cgroup=tmp_path / "self")


def test_a_cgroup_v2_quota_of_one_and_a_half_cpus_gives_two_cores(tmp_path):
    cg = cgroup(tmp_path, files=[("cpu.max", "150000 100000\n")])
    assert cores.cgroup_cpus(**cg) == 1.5
    assert cores.usable_cores(**cg, affinity=8, cpu_count=8) == 2
    assert cores.usable_cores(**cg, affinity=1, cpu_count=8) == 1       # taskset to one core: one


def test_no_quota_leaves_the_affinity_and_the_cpu_count(tmp_path):
    cg = cgroup(tmp_path, files=[("cpu.max", "max 100000\n"), ("cpu/cpu.cfs_quota_us", "-1\n"),
                                 ("cpu/cpu.cfs_period_us", "100000\n")])
    assert cores.cgroup_cpus(**cg) is None
    assert cores.usable_cores(**cg, affinity=3, cpu_count=8) == 3
    assert cores.usable_cores(tmp_path / "nothing", tmp_path / "nothing", affinity=4, cpu_count=4) == 4


def test_a_cgroup_v1_quota_counts(tmp_path):
    cg = cgroup(tmp_path, files=[("cpu/cpu.cfs_quota_us", "50000\n"), ("cpu/cpu.cfs_period_us", "100000\n")])
    assert cores.cgroup_cpus(**cg) == 0.5
    assert cores.usable_cores(**cg, affinity=16, cpu_count=16) == 1


def test_the_smallest_quota_of_this_cgroup_and_those_above_it_counts(tmp_path):
    """A service in a slice: its own cgroup has no quota, the slice above it allows 3 CPUs."""
    cg = cgroup(tmp_path, own_v2="/work.slice/job.scope",
                files=[("work.slice/cpu.max", "300000 100000\n"), ("work.slice/job.scope/cpu.max", "max 100000\n"),
                       ("cpu.max", "bad\n")])
    assert cores.cgroup_cpus(**cg) == 3.0
    assert cores.usable_cores(**cg, affinity=64, cpu_count=64) == 3


def test_a_first_reading_younger_than_reuse_is_used_again_and_no_other(tmp_path):
    m = FakeMachine(tmp_path / "stat", stat_text(1000, 500, 9000, 100), stat_text(1008, 502, 9010, 100))
    make = lambda reuse: cores.MachineLoad(2, stat=m.path, own=m.own, sleep=m.sleep, reuse=reuse)  # noqa: E731
    assert make(0.0).now() == pytest.approx(1.0) and len(m.slept) == 1
    assert make(60.0).now() == pytest.approx(1.0) and len(m.slept) == 1     # the reading just made
    make(0.0).now()                                                          # asked fresh: read again
    assert len(m.slept) == 2
