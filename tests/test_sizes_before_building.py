"""Issue 24: sizes are checked before anything is built. A flow of 10^11 steps, a mixture of 10^8
components or a kernel larger than the image must be refused in one line, from the memory estimate
(numpyvae/run/memory.py) and the network's shapes, before the model (or the name's check) allocates it.

Each case runs the CLI in a child process limited to 2 GiB of address space and 60 s, so a
regression (building the model, swapping, hanging) fails here instead of taking the machine down.
"""
import os
import resource
import subprocess
import sys
import time

import pytest

from numpyvae.run.config import TrainConfig
from numpyvae.run.memory import memory_estimate

LIMIT = 2 * 2 ** 30
COMMON = ["--epochs", "1", "--quiet", "--no-plots"]


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run_train(args, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "numpyvae", "train", *args, *COMMON,
                               "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=60,
                              env=env, preexec_fn=_limited, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"train {' '.join(args)} was still running after 60 s")
    return done.returncode, done.stderr, time.perf_counter() - start


@pytest.mark.parametrize("args,named", [
    (["--posterior", "planar:99999999999"], "planar:99999999999"),
    (["--posterior", "iaf:100000"], "iaf:100000"),
    (["--prior", "vamp:10000000"], "vamp:10000000"),
    (["--prior", "mog:100000000"], "mog:100000000"),
    (["--encoder", "conv:4:99"], "kernel 99x99"),
])
def test_a_size_far_too_large_is_refused_in_one_line_before_any_work(args, named, tmp_path):
    code, err, seconds = run_train(args, tmp_path)
    assert "Traceback" not in err, err
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0, err
    assert named in err, err
    assert seconds < 30


def test_a_size_far_too_large_in_a_toml_file_is_refused(tmp_path):
    (tmp_path / "big.toml").write_text('posterior = "iaf:1000000000"\n')
    code, err, _ = run_train(["--config", str(tmp_path / "big.toml")], tmp_path)
    assert "Traceback" not in err, err
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0, err
    assert "iaf:1000000000" in err


K, H = 20, 400          # TrainConfig's default z_dim and hidden size


@pytest.mark.parametrize("setting,added", [
    (dict(posterior="planar:1000"), (H + 1) * 1000 * (2 * K + 1)),  # encoder heads u, w (K), b (1) per step
    (dict(posterior="iaf:50"), 50 * (K * 4 * K + 4 * K * 2 * K)),   # a MADE K -> 4K -> 2K per step, at least
    (dict(posterior="radial:1000,amortized=false"), 1000 * (K + 2)),  # z0 (K), alpha, beta: learned
    (dict(prior="mog:10000"), 10000 * (2 * K + 1)),                # means, log-variances, a logit each
    (dict(prior="vamp:5000"), 5000 * 784),                        # the pseudo-inputs
])
def test_the_estimate_counts_the_posterior_and_the_prior(setting, added):
    """The parameters a flow's steps, a mixture's components or the pseudo-inputs add are in the estimate."""
    base, need, _ = memory_estimate(TrainConfig(), 784)
    more, more_need, _ = memory_estimate(TrainConfig(**setting), 784)
    assert more - base >= added and more_need - need >= 4 * 4 * added    # weights, gradients, two moments
