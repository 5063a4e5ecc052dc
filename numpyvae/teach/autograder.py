"""The Gradescope autograder zip: the LMS's own containers grade each submission with this same grader.

    python -m numpyvae grade --autograder-zip autograder.zip --exercises kl_backward,bernoulli_backward

The zip holds, at its root (Gradescope's documented layout):

* ``setup.sh``: run once when Gradescope builds the image (Ubuntu, as root): Python 3, pip,
  numpy and scipy, and bubblewrap;
* ``run_autograder``: run for every submission, with the student's files in
  ``/autograder/submission`` and the zip unpacked in ``/autograder/source``; it copies the files
  into a one-student class folder and runs ``python -m numpyvae grade`` on it with the options
  the zip was built with, writing ``/autograder/results/results.json`` (one test per exercise,
  1 point each, the feedback text as each test's output). It uses bubblewrap if it works in the
  container and ``--sandbox none`` if not: the container then is the sandbox (one submission per
  container), and the verdicts are still made outside the submission's process;
* ``numpyvae/``: this package's source, the grader included.

For trying it locally, ``run_autograder`` reads its root from ``NUMPYVAE_AUTOGRADER_ROOT``
(default ``/autograder``) and the Python to use from ``NUMPYVAE_PYTHON`` (default ``python3``).
"""
from __future__ import annotations

import io
import shlex
import zipfile
from pathlib import Path

from ..files import atomic_write_bytes, check_writable
from .exercises import EXERCISES
from .sandbox import PACKAGE, Limits

__all__ = ["build_zip", "run_autograder_script", "SETUP_SH"]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-pip bubblewrap
pip3 install numpy scipy || pip3 install --break-system-packages numpy scipy
"""


def run_autograder_script(names: list, limits: Limits) -> str:
    """The run_autograder script: grade /autograder/submission as a class of one, write results.json."""
    options = f"--exercises {shlex.quote(','.join(names))} --timeout {limits.timeout:g} --memory-mb {limits.memory_mb}"
    return f"""#!/usr/bin/env bash
# Gradescope runs this for every submission: the student's files are in $ROOT/submission,
# the verdict goes to $ROOT/results/results.json. Built by: python -m numpyvae grade --autograder-zip
set -uo pipefail
ROOT="${{NUMPYVAE_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{NUMPYVAE_PYTHON:-python3}}"
WORK="$(mktemp -d)"
mkdir -p "$WORK/class/student" "$ROOT/results"
cp -R "$ROOT/submission/." "$WORK/class/student/"
SANDBOX=bwrap
bwrap --unshare-all --die-with-parent --ro-bind / / true >/dev/null 2>&1 || SANDBOX=none
cd "$WORK"
PYTHONPATH="$ROOT/source" "$PYTHON" -m numpyvae grade "$WORK/class" --out "$WORK/grades.csv" \\
    --feedback "$WORK/feedback" --results-json "$ROOT/results/results.json" --jobs 1 --sandbox "$SANDBOX" {options}
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  printf '{{"score": 0, "output": "the grader could not grade this submission (exit status %s); ask your teacher", "tests": []}}\\n' \\
    "$status" > "$ROOT/results/results.json"
fi
rm -rf "$WORK"
exit 0
"""


def _add(z: zipfile.ZipFile, name: str, data: bytes, executable: bool = False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def build_zip(path, names=None, limits: Limits | None = None) -> Path:
    """Write the autograder zip to ``path`` (atomically); names: the assignment's exercises (default: all)."""
    path = Path(path)
    check_writable(path, "--autograder-zip")
    names = list(names or EXERCISES)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        _add(z, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(z, "run_autograder", run_autograder_script(names, limits or Limits()).encode(), executable=True)
        for f in sorted(PACKAGE.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                _add(z, f"numpyvae/{f.relative_to(PACKAGE).as_posix()}", f.read_bytes())
    return atomic_write_bytes(path, buf.getvalue())
