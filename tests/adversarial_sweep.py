"""An adversarial sweep of numpyvae's user-facing surface: settings, config files, flags, checkpoints, runs.

    python tests/adversarial_sweep.py            # the quick sweep (seconds)
    python tests/adversarial_sweep.py --long     # more inputs, kill-and-resume, concurrent runs (a few minutes)

Every input gets one of these outcomes, judged by an oracle written here,
independently of numpyvae's own checks:

    clear error     refused with one line naming the problem (ValueError / CheckpointError;
                    from the CLI: "numpyvae: error: ...", exit 2)
    right answer    accepted, and what came out is what was asked for (or the original, for a checkpoint)
    silent wrong    accepted, but what came out differs: a bad value taken as something else,
                    a corrupted checkpoint loaded with other numbers
    wrong refusal   a valid input refused
    traceback       any other exception: a crash the user would see
    lost run        a run directory left inconsistent, or a killed run that does not resume to the same bits

tests/test_adversarial.py runs the same judges under hypothesis, fast.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from numpyvae.run import checkpoint as ckpt
from numpyvae.cli import build_parser, config_from_args, main
from numpyvae.run.config import TrainConfig

# --------------------------------------------------------------------------------------- the oracle

DATASETS = ("digits", "fashion-mnist", "mnist", "ring")
CHOICE = {"dataset": DATASETS, "binarize": ("auto", "dynamic", "static", "none"),
          "likelihood": ("bernoulli", "gaussian", "gaussian-learned", "continuous-bernoulli"),
          "activation": ("identity", "relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus"),
          "objective": ("elbo", "iwae", "vr", "vr-max"),
          "optimizer": ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam"),
          "dtype": ("float32", "float64"),
          "init": ("auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "pytorch")}
#: the documented spelling of family and prior names, restated as patterns
NAMED = {"posterior": re.compile(r"(gaussian|full-gaussian|(planar|radial):[1-9][0-9]*(,amortized=(true|false))?"
                                 r"|iaf:[1-9][0-9]*)"),
         "prior": re.compile(r"(standard|(mog|vamp):[1-9][0-9]*)")}
#: a network spec (numpyvae.nn.spec): comma-separated layers, spaces allowed around each
_GE1, _GE0 = r"0*[1-9][0-9]*", r"[0-9]+"
_LAYER = (rf"\s*(conv:{_GE1}:{_GE1}(:{_GE1}(:{_GE0})?)?|convt:{_GE1}:{_GE1}(:{_GE1}(:{_GE0}(:{_GE0})?)?)?"
          rf"|dense:{_GE1}|flatten|reshape:{_GE1}(:{_GE1}(:{_GE1})?)?)\s*")
SPEC = re.compile(rf"{_LAYER}(,{_LAYER})*")
INT_MIN = {"z_dim": 1, "n_samples": 1, "batch_size": 1, "epochs": 1, "seed": 0}
FLOAT_RULE = {"beta": ">=0", "warmup_epochs": ">=0", "clip_grad_norm": ">=0", "lr": ">0", "sigma": ">0",
              "min_logvar": "any", "alpha": "any"}
FIELDS = list(CHOICE) + list(INT_MIN) + list(FLOAT_RULE) + list(NAMED) + ["hidden", "hidden_dec", "out",
                                                                         "encoder", "decoder"]
INVALID = object()
LIST_FLAGS = ("hidden", "hidden_dec")      # flags that take several values (--hidden 500 500)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def expected_value(key, v):
    """What a setting should become, or INVALID: the documented rules, restated here."""
    if key in CHOICE:
        return v if isinstance(v, str) and v in CHOICE[key] else INVALID
    if key in INT_MIN:
        return v if _is_int(v) and INT_MIN[key] <= v < 2 ** 63 else INVALID
    if key in FLOAT_RULE:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return INVALID
        rule = FLOAT_RULE[key]
        ok = rule == "any" or (v >= 0 if rule == ">=0" else v > 0)
        return float(v) if ok else INVALID
    if key in NAMED:
        return v if isinstance(v, str) and NAMED[key].fullmatch(v) else INVALID
    if key in ("hidden", "hidden_dec"):
        sizes = [v] if _is_int(v) else v
        if not isinstance(sizes, list) or (key == "hidden" and not sizes) \
                or not all(_is_int(h) and 1 <= h < 2 ** 63 for h in sizes):
            return INVALID
        return list(sizes)
    if key == "out":
        return v if isinstance(v, str) and "\0" not in v else INVALID
    if key in ("encoder", "decoder"):      # a spec string, or a TOML list of layer strings; "" or []: the MLP
        if isinstance(v, list) and all(isinstance(t, str) for t in v):
            v = ",".join(v)
        if not isinstance(v, str):
            return INVALID
        return v.strip() if not v.strip() or SPEC.fullmatch(v) else INVALID
    raise KeyError(key)


def expected_config(settings: dict):
    """The TrainConfig fields these settings should give, or None if they should be refused."""
    defaults = TrainConfig().to_dict()
    want = dict(defaults)
    for k, v in settings.items():
        if k not in defaults:
            return None
        e = expected_value(k, v)
        if e is INVALID:
            return None
        want[k] = e
    if want["objective"] != "elbo" and want["beta"] != 1.0:
        return None
    if want["objective"] != "vr" and want["alpha"] != defaults["alpha"]:
        return None
    if want["objective"] == "vr" and want["alpha"] == 1.0:
        return None
    if want["objective"] != "elbo" and want["n_samples"] < 2:
        return None
    if want["prior"].startswith("vamp") and want["posterior"] != "gaussian":
        return None
    if want["likelihood"] != "gaussian" and want["sigma"] != defaults["sigma"]:
        return None
    if want["likelihood"] != "gaussian-learned" and want["min_logvar"] != defaults["min_logvar"]:
        return None
    return want


# --------------------------------------------------------------------------------------- inputs

SAMPLES = [0, 1, -1, 2, 3, 32, 2 ** 63, 10 ** 30, 0.0, -0.0, 0.5, 1.5, 2.0, -3.0, 1e-3, 1e300,
           float("nan"), float("inf"), float("-inf"), True, False, "", "abc", "1", "0.5", "digits", "ring",
           "float64", "adam", "iwae", "gaussian", "gaussian-learned", "runs/x", "a\0b", [], [1], [0], [8, 4],
           ["a"], [1.5], [True], {"a": 1}]


VALID = {**{k: list(v) for k, v in CHOICE.items()}, **{k: [INT_MIN[k], INT_MIN[k] + 1, 7, 2 ** 40] for k in INT_MIN},
         **{k: [0.5, 1.0, 2, 1e-3] for k in FLOAT_RULE}, "min_logvar": [-4.0, 0, 1.5], "hidden": [[8], [8, 4], 16],
         "hidden_dec": [[], [8], [4, 8]], "posterior": ["gaussian", "full-gaussian", "planar:2", "iaf:1",
                                                         "radial:3,amortized=false", "planar:0", "flow:2"],
         "prior": ["standard", "mog:3", "vamp:2", "mog:0", "mog"],
         "out": ["", "runs/x", "a b"],
         "encoder": ["conv:8:3:2,flatten,dense:4", "dense:16", " flatten ", "conv:8:3:-1", "conv:8:0", "conv:8",
                     "pool:2", "conv:8:3:2,", ["conv:8:3", "flatten"], "reshape:1:28:28,conv:4:3"],
         "decoder": ["dense:3136,reshape:64:7:7,convt:64:3:2", "convt:4:3:2:1:1", "convt:4:3:2:1:1:0",
                     "dense:1.5", "dense: 16", ["dense:8"]]}


def random_settings(rng: random.Random, n_keys: int) -> dict:
    """n_keys settings, each half the time a valid value for its key and half the time anything."""
    keys = rng.sample(FIELDS + ["bogus"], n_keys)
    return {k: rng.choice(VALID[k]) if k in VALID and rng.random() < 0.5 else rng.choice(SAMPLES) for k in keys}


def toml_value(v) -> str:
    """A Python value as TOML text (the few types TOML has)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_representable(settings: dict) -> bool:
    """TOML integers are 64-bit signed and arrays were homogeneous before TOML 1.0: skip what cannot be written."""
    def ok(v):
        if _is_int(v):
            return -2 ** 63 <= v < 2 ** 63
        if isinstance(v, list):
            return all(ok(x) for x in v)
        if isinstance(v, dict):
            return all(ok(x) for x in v.values())
        return not (isinstance(v, str) and "\0" in v)
    return all(ok(v) for v in settings.values())


# --------------------------------------------------------------------------------------- judges

def judge_config(settings: dict) -> str:
    """TrainConfig.from_dict(settings) against the oracle."""
    want = expected_config(settings)
    try:
        got = TrainConfig.from_dict(dict(settings)).to_dict()
    except ValueError as err:
        named = any(k in str(err) for k in settings)
        return ("clear error" if named else "unclear error") if want is None else "wrong refusal"
    except Exception:
        return "traceback"
    return _verdict(got, want)


def _verdict(got: dict, want) -> str:
    """An accepted input: right if it gave what the oracle expects, silent wrong otherwise (or if it should have failed)."""
    return "right answer" if want is not None and _same(got, want) else "silent wrong"


def _same(got: dict, want: dict) -> bool:
    return all(got[k] == want[k] or (isinstance(want[k], float) and math.isnan(want[k]) and math.isnan(got[k]))
               for k in want)


TRACEBACKS: list = []      # (argv, traceback text) of every command that crashed, for the report


def _run_main(argv):
    """main(argv) in this process -> (exit status, stderr text, whether a traceback escaped)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        except BaseException:        # noqa: BLE001 - exactly what the sweep counts
            TRACEBACKS.append((list(argv), traceback.format_exc()))
            return None, err.getvalue(), True
    return code, err.getvalue(), False


def judge_toml(settings: dict, directory: Path) -> str:
    """A TOML file with these settings through the CLI's parser: config_from_args, then main's error path."""
    path = directory / "sweep.toml"
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items()))
    want = expected_config(settings)
    try:
        got = config_from_args(build_parser().parse_args(["train", "--config", str(path)])).to_dict()
    except ValueError as err:
        if want is not None:
            return "wrong refusal"
        named = any(k in str(err) for k in settings)       # a rule across settings names the settings
        return "clear error" if f"config file {path}" in str(err) or "unknown key" in str(err) or named \
            else "unclear error"
    except Exception:
        return "traceback"
    return _verdict(got, want)


def cli_argv(settings: dict) -> list:
    argv = []
    for k, v in settings.items():
        flag = "--" + k.replace("_", "-")
        values = v if isinstance(v, list) and k in LIST_FLAGS else [v]
        argv += [flag, *[str(x) for x in values]] if values else [flag]
    return argv


def expected_from_text(key, text_values):
    """What argparse + the checks should make of flag text: parse as the flag's type, then the oracle."""
    if key in LIST_FLAGS:
        try:
            return expected_value(key, [int(t) for t in text_values]) if text_values else INVALID
        except ValueError:
            return INVALID
    if len(text_values) != 1:
        return INVALID
    t = text_values[0]
    if key in INT_MIN:
        try:
            return expected_value(key, int(t))
        except ValueError:
            return INVALID
    if key in FLOAT_RULE:
        try:
            return expected_value(key, float(t))
        except ValueError:
            return INVALID
    return expected_value(key, t)


def judge_flags(settings: dict) -> str:
    """Flags on the command line (values as text), parsed and checked, never trained."""
    settings = {k: v for k, v in settings.items() if k != "bogus"}
    argv = cli_argv(settings)
    texts = {k: ([str(x) for x in v] if isinstance(v, list) and k in LIST_FLAGS else [str(v)])
             for k, v in settings.items()}
    parsed = {}
    for k, t in texts.items():
        e = expected_from_text(k, t)
        if e is INVALID or any(s.startswith("-") and not _number(s) for s in t) or any(s == "" and k not in ("out", "encoder", "decoder") for s in t):
            parsed = None
            break
        parsed[k] = e
    want = expected_config(parsed) if parsed is not None else None
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args(["train", *argv])
        got = config_from_args(args).to_dict()
    except SystemExit:
        return "clear error" if want is None else "wrong refusal"
    except ValueError:
        return "clear error" if want is None else "wrong refusal"
    except Exception:
        return "traceback"
    return _verdict(got, want)


def _number(s: str) -> bool:
    """Whether argparse takes s as a value rather than an option: its own test for negative numbers
    (so "-1" and "-0.5" are values, while "-inf" is read as an unknown option)."""
    return re.fullmatch(r"-\d+|-\d*\.\d+", s) is not None


def corrupt(raw: bytes, rng: random.Random) -> bytes:
    """One random corruption: a bit flip, a truncation, a zeroed or random range, or bytes appended."""
    data = bytearray(raw)
    kind = rng.randrange(5)
    if kind == 0:
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data = data[:rng.randrange(len(data))]
    elif kind == 2:
        i = rng.randrange(len(data))
        j = min(len(data), i + rng.randrange(1, 64))
        data[i:j] = bytes(j - i)
    elif kind == 3:
        i = rng.randrange(len(data))
        n = rng.randrange(1, 32)
        data[i:i + n] = bytes(rng.randrange(256) for _ in range(len(data[i:i + n])))
    else:
        data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100)))
    return bytes(data)


def judge_checkpoint(raw: bytes, original, run_dir: Path) -> str:
    """A corrupted checkpoint in a run directory: load_run must refuse it or give the original back."""
    (run_dir / ckpt.CHECKPOINT).write_bytes(raw)
    try:
        run = ckpt.load_run(run_dir)
    except ckpt.CheckpointError:
        return "clear error"
    except Exception:
        return "traceback"
    same = (np.array_equal(run.model.flat_params, original.model.flat_params) and run.history == original.history
            and run.config == original.config)
    return "right answer" if same else "silent wrong"


# --------------------------------------------------------------------------------------- runs

RING = ["--preset", "ring", "--hidden", "16", "--quiet", "--no-plots"]
#: the run that kill_and_resume kills: the default 784-400-20 model on the digits, long enough (seconds)
#: that a kill lands mid-training
KILLED = ["--epochs", "20", "--quiet", "--no-plots"]


def make_run(directory: Path, epochs: int = 2) -> Path:
    out = directory / "run"
    code, err, tb = _run_main(["train", *RING, "--epochs", str(epochs), "--out", str(out)])
    assert code == 0 and not tb, err
    return out


def run_consistent(run_dir: Path) -> bool:
    """A run directory is consistent: its checkpoint loads and its history has one row per epoch done."""
    if not (run_dir / ckpt.CHECKPOINT).exists():
        return True                        # nothing saved yet is a consistent state
    try:
        c = ckpt.read_checkpoint(run_dir)
        run = ckpt.load_run(run_dir)
    except ckpt.CheckpointError:
        return False
    return len(run.history) == c.progress.get("epoch", 0)


def kill_and_resume(directory: Path, rng: random.Random, reference: np.ndarray, seconds: float) -> str:
    """Kill a training (KILLED) at a random moment, check the directory, resume, compare with an unkilled run."""
    out = directory / f"killed-{rng.randrange(10 ** 9)}"
    cmd = [sys.executable, "-m", "numpyvae", "train", *KILLED, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.2, 1.1) * seconds)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not run_consistent(out):
        return "lost run"
    if not (out / ckpt.CHECKPOINT).exists():
        shutil.rmtree(out, ignore_errors=True)
        return "right answer (killed before its first checkpoint)"   # nothing to resume, nothing lost
    r = subprocess.run([sys.executable, "-m", "numpyvae", "resume", str(out), "--quiet", "--no-plots"],
                       capture_output=True, text=True)
    if r.returncode != 0 or "Traceback" in r.stderr:
        return "lost run"
    same = np.array_equal(ckpt.load_model(out).flat_params, reference) and not list(out.glob("*.part"))
    if not (same and run_consistent(out)):
        return "lost run"
    return "right answer (finished before the kill)" if finished else "right answer"


def concurrent_pair(directory: Path, rng: random.Random) -> str:
    """Two trainings into one --out: one wins, the other is refused clearly, the run is the winner's."""
    out = directory / f"shared-{rng.randrange(10 ** 9)}"
    procs = [subprocess.Popen([sys.executable, "-m", "numpyvae", "train", *RING, "--epochs", "2", "--seed", str(s),
                               "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in (0, 1)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    if any("Traceback" in err for _, err in results):
        return "traceback"
    codes = sorted(c for c, _ in results)
    if codes != [0, 2]:
        return "lost run"
    winner = [s for s, (c, _) in zip((0, 1), results) if c == 0][0]
    run = ckpt.load_run(out)
    return "right answer" if run.config["seed"] == winner and len(run.history) == 2 else "lost run"


# --------------------------------------------------------------------------------------- the sweep

def sweep(long: bool = False, seed: int = 0, log=print) -> Counter:
    rng = random.Random(seed)
    counts = Counter()
    n_settings = 6000 if long else 400
    n_checkpoints = 6000 if long else 300
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for _ in range(n_settings):
            settings = random_settings(rng, rng.randrange(1, 4))
            counts["config: " + judge_config(settings)] += 1
            if toml_representable(settings):
                counts["toml: " + judge_toml(settings, tmp)] += 1
            counts["flags: " + judge_flags(settings)] += 1
        run_dir = make_run(tmp)
        original = ckpt.load_run(run_dir)
        raw = (run_dir / ckpt.CHECKPOINT).read_bytes()
        for _ in range(n_checkpoints):
            counts["checkpoint: " + judge_checkpoint(corrupt(raw, rng), original, run_dir)] += 1
        (run_dir / ckpt.CHECKPOINT).write_bytes(raw)
        for argv in _bad_commands(run_dir, tmp):
            code, err, tb = _run_main(argv)
            counts["command: " + ("traceback" if tb else "clear error" if code == 2 and err.strip().splitlines()[-1]
                                  .startswith("numpyvae: error: ") else "unclear error")] += 1
        if long:
            start = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "numpyvae", "train", *KILLED, "--out", str(tmp / "ref")],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            seconds = time.perf_counter() - start          # how long the whole run takes here
            reference = ckpt.load_model(tmp / "ref").flat_params.copy()
            for _ in range(20):
                counts["kill and resume: " + kill_and_resume(tmp, rng, reference, seconds)] += 1
            for _ in range(6):
                counts["two at once: " + concurrent_pair(tmp, rng)] += 1
    return counts


def _bad_commands(run_dir: Path, tmp: Path) -> list:
    """Commands that must each end in one clear error line (exit 2)."""
    (tmp / "file").write_text("x")
    (tmp / "dir.toml").mkdir(exist_ok=True)
    (tmp / "bin.toml").write_bytes(b"\xff\xfe\x00binary")
    return [
        ["train", *RING, "--out", str(tmp / "file")], ["train", *RING, "--out", str(tmp / "file" / "sub")],
        ["train", *RING, "--out", str(run_dir)], ["train", "--config", str(tmp / "dir.toml")],
        ["train", "--config", str(tmp / "bin.toml")], ["train", "--seed", "-1"], ["train", "--lr", "nan"],
        ["resume", str(tmp / "nothing")], ["resume", str(run_dir), "--epochs", "0"],
        ["evaluate", str(tmp / "nothing")], ["evaluate", str(run_dir), "--k", "0"],
        ["evaluate", str(run_dir), "--k", str(10 ** 13)], ["sample", str(run_dir), "-n", "0"],
        ["sample", str(run_dir), "--out", str(tmp / "file" / "x.png")], ["plot", str(tmp / "file")],
        ["bench", "--examples", "10", "--batch-size", "100"],
    ]


def report(counts: Counter) -> str:
    total = sum(counts.values())
    by = Counter()
    for key, n in counts.items():
        by[key.split(": ", 1)[1]] += n
    lines = [f"inputs tried: {total}"]
    for variant in ("right answer (killed before its first checkpoint)", "right answer (finished before the kill)"):
        by["right answer"] += by.pop(variant, 0)
    for outcome in ("clear error", "right answer", "silent wrong", "wrong refusal", "unclear error", "traceback",
                    "lost run"):
        lines.append(f"  {outcome:<14} {by[outcome]}")
    lines.append("by kind:")
    lines += [f"  {k:<34} {n}" for k, n in sorted(counts.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long", action="store_true", help="more inputs, kill-and-resume and concurrent runs")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    start = time.perf_counter()
    c = sweep(long=a.long, seed=a.seed)
    print(report(c))
    for argv, text in TRACEBACKS:
        print(f"\ntraceback from {argv}:\n{text}")
    print(f"({time.perf_counter() - start:.0f} s)")
    bad = sum(n for k, n in c.items() if k.split(": ", 1)[1] in ("silent wrong", "traceback", "lost run",
                                                                  "wrong refusal", "unclear error"))
    sys.exit(1 if bad else 0)
