"""Issue 24, found: a crafted checkpoint whose config describes a huge model (hidden [10**9], z_dim 10**8,
a flow of 10**8 steps, ...) must be refused in one line BEFORE the model is built. The reader used to
build the model from the config and only then compare its shapes with the saved arrays: a MemoryError
traceback, or minutes in swap.

Each case runs the CLI in a child process limited to 2 GiB of address space and 60 s, so a regression
fails here instead of taking the machine down.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from numpyvae.cli import main
from numpyvae.run import checkpoint as ckpt

LIMIT = 2 * 2 ** 30


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """A finished 1-epoch run on the ring data (largest array dimension: 16)."""
    out = tmp_path_factory.mktemp("ring") / "run"
    assert main(["train", "--preset", "ring", "--hidden", "16", "--epochs", "1", "--quiet", "--no-plots",
                 "--out", str(out)]) == 0
    return out


def crafted(ring_run, tmp_path, part: str, change: dict):
    """A copy of the run whose saved config's ``part`` ("model" or "run") has ``change`` applied."""
    run = tmp_path / "run"
    shutil.copytree(ring_run, run)
    path = run / ckpt.CHECKPOINT
    with np.load(path) as f:
        arrays = dict(f)
    config = json.loads(str(arrays["config"]))
    config[part].update(change)
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    return run


def run_cli(args, cwd):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "numpyvae", *args], capture_output=True, text=True,
                              timeout=60, env=env, cwd=cwd,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} was still running after 60 s")
    return done.returncode, done.stderr, time.perf_counter() - start


HUGE_MODELS = [
    ({"hidden": [10 ** 9]}, "hidden"),
    ({"hidden": [16, 10 ** 7]}, "hidden"),
    ({"z_dim": 10 ** 8}, "z_dim"),
    ({"hidden_dec": [10 ** 8]}, "hidden_dec"),
    ({"x_dim": 10 ** 9}, "x_dim"),
    ({"posterior": "planar:100000000"}, "planar:100000000"),
    ({"prior": "mog:100000000"}, "mog:100000000"),
]


@pytest.mark.parametrize("change,named", HUGE_MODELS)
def test_a_checkpoint_describing_a_huge_model_is_refused_before_building_it(ring_run, tmp_path, change, named):
    run = crafted(ring_run, tmp_path, "model", change)
    code, err, seconds = run_cli(["evaluate", str(run), "--k", "2", "--quiet"], tmp_path)
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0, err
    assert str(run / ckpt.CHECKPOINT) in err and named in err and "before building" in err, err
    assert seconds < 30


@pytest.mark.parametrize("command", [["sample"], ["plot"], ["resume", "--epochs", "2", "--quiet", "--no-plots"]])
def test_every_reader_refuses_the_huge_model_in_one_line(ring_run, tmp_path, command):
    run = crafted(ring_run, tmp_path, "model", {"hidden": [10 ** 9]})
    code, err, _ = run_cli([command[0], str(run), *command[1:]], tmp_path)
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert code == 2 and err.startswith("numpyvae: error: ") and err.strip().count("\n") == 0, err


@pytest.mark.parametrize("change,named", [({"hidden": [10 ** 5]}, "hidden"), ({"z_dim": 10 ** 6}, "z_dim")])
def test_resume_refuses_a_run_config_describing_a_huge_model_before_building_it(ring_run, tmp_path, change,
                                                                                 named):
    """resume builds the model from the run config: sizes that fit in memory but match no saved array
    are refused from the arrays' shapes, not after building (and initializing) the model."""
    run = crafted(ring_run, tmp_path, "run", change)
    code, err, seconds = run_cli(["resume", str(run), "--epochs", "2", "--quiet", "--no-plots"], tmp_path)
    assert "Traceback" not in err, err
    assert code == 2 and err.strip().count("\n") == 0 and named in err and "before building" in err, err


def test_a_real_checkpoint_of_every_size_still_loads(ring_run):
    model = ckpt.load_model(ring_run)
    assert model.config["hidden"] == [16]


#: real models whose sizes stress the bounds: a conv net smaller than its images, a flow's steps, an IAF (a mask
#: beside each weight), a VampPrior, a mixture, a hierarchy with z_dim at its default, a conditional VAE, a
#: categorical posterior, and the protocol kinds
REAL_MODELS = [
    ("vae", dict(x_dim=64, hidden=[400], z_dim=2, encoder="conv:2:3:2,flatten,dense:4",
                 decoder="dense:32,reshape:2:4:4,convt:2:3:2", image_shape=(8, 8))),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=2, posterior="planar:5")),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=2, posterior="iaf:2,hidden=4,context_dim=2")),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=2, prior="vamp:4")),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=2, prior="mog:3")),
    ("hvae", dict(x_dim=6, hidden=[3], stochastic=[3, 2])),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=2, n_labels=4)),
    ("vae", dict(x_dim=6, hidden=[3], z_dim=6, posterior="gumbel:3", prior="categorical")),
    ("m2", dict(x_dim=6, n_classes=3, hidden=[4], z_dim=2, classifier_hidden=[5])),
    ("helmholtz", dict(x_dim=6, hidden=[4], z_dim=3)),
    ("avb", dict(x_dim=6, hidden=[4], z_dim=2, noise_dim=3, hidden_disc=[5])),
]


@pytest.mark.parametrize("kind,config", REAL_MODELS)
def test_the_size_check_refuses_no_real_model(kind, config):
    """The bounds are lower bounds: every real model of every kind passes them with its own config."""
    from numpyvae.models import model_from_config
    from numpyvae.models.registry import model_from_kind
    from numpyvae.run.checkpoint_format import model_groups
    model = model_from_config(config) if kind in ("vae", "hvae") else model_from_kind(kind, config)
    ckpt.check_sizes(model.config, model_groups(model), "real")
