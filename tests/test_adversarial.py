"""The adversarial sweep, fast: hypothesis drives the judges of tests/adversarial_sweep.py.

Settings (Python, TOML, flags) and corrupted checkpoints must each end in a
clear error or the right answer: never a silent wrong answer, a wrong
refusal, or a traceback. ``python tests/adversarial_sweep.py --long`` runs
the long version, with kill-and-resume and concurrent runs, and prints counts.
"""
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import adversarial_sweep as sweep  # noqa: E402

from numpyvae.run import checkpoint as ckpt  # noqa: E402

GOOD = ("clear error", "right answer")


def value_for(key):
    pool = sweep.SAMPLES + sweep.VALID.get(key, [])
    return st.sampled_from(pool)


settings_strategy = st.lists(st.sampled_from(sweep.FIELDS + ["bogus"]), min_size=1, max_size=4, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: value_for(k) for k in keys}))


@settings(max_examples=200)
@given(settings_strategy)
def test_settings_from_python(s):
    assert sweep.judge_config(s) in GOOD


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(settings_strategy)
def test_settings_from_a_toml_file(tmp_path, s):
    if sweep.toml_representable(s):
        assert sweep.judge_toml(s, tmp_path) in GOOD


@settings(max_examples=150)
@given(settings_strategy)
def test_settings_from_flags(s):
    assert sweep.judge_flags(s) in GOOD


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = sweep.make_run(tmp_path_factory.mktemp("adv"), epochs=1)
    return run_dir, ckpt.load_run(run_dir), (run_dir / ckpt.CHECKPOINT).read_bytes()


@settings(max_examples=150)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_corrupted_checkpoints_are_refused_or_read_back_exactly(run, seed):
    run_dir, original, raw = run
    try:
        assert sweep.judge_checkpoint(sweep.corrupt(raw, random.Random(seed)), original, run_dir) in GOOD
    finally:
        (run_dir / ckpt.CHECKPOINT).write_bytes(raw)


def test_bad_commands_end_in_one_clear_line(run, tmp_path):
    run_dir = run[0]
    for argv in sweep._bad_commands(run_dir, tmp_path):
        code, err, traceback = sweep._run_main(argv)
        assert not traceback and code == 2, (argv, err)
        assert err.strip().splitlines()[-1].startswith("numpyvae: error: "), (argv, err)
