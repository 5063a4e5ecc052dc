"""A hostile class, graded by `python -m numpyvae grade` run from a throwaway copy of the lecturer's clone
(the package, tutorials/solutions/), beside an honest and a wrong student.

Each attacker's answer to kl_backward is wrong (or the library's own); each tries one way of raising its own
grade or changing someone else's (issue 27): read and call the solutions, find a classmate's file through the
grader's command line, forge results on file descriptors and in the answers file, monkeypatch the grader,
patch the package on disk, escape with a double-forked setsid grandchild that rewrites the CSV, reach the other
jobs' results, kill the grader; and the old ways: an endless loop, a fork loop, a huge allocation, huge output,
sys.exit and a segfault; and filling the disk. The class is graded once per module (a fixture). With bubblewrap (the default sandbox)
no grade changes, the package is unchanged, no process survives. Without bubblewrap those tests skip, and
--sandbox none's own guarantees are tested instead.
"""
import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from numpyvae.teach import sandbox

REPO = Path(__file__).resolve().parent.parent
BWRAP = sandbox.bwrap_problem()
MARKER = "numpyvae-hostile-7c1f"          # in the command line of every process an attacker leaves behind
SEED, TIMEOUT = 5, 3.0

RIGHT_KL = "return mu.copy(), 0.5 * (np.exp(logvar) - 1.0)\n"
RIGHT_BERN = "    return 1.0 / (1.0 + np.exp(-logits)) - x\n"
HALF_KL = "return 0.5 * mu, 0.25 * (np.exp(logvar) - 1.0)\n"


def _kl(body: str, tail: str = "", head: str = "") -> str:
    """A file defining kl_backward: ``body`` (any indentation), then the line ``tail``."""
    body = textwrap.dedent(body).strip("\n") + "\n" + tail
    return "import numpy as np\n" + head + "\n\ndef kl_backward(mu, logvar):\n" + textwrap.indent(body, "    ") + "\n"


def _attackers(clone: Path, klass: Path) -> dict:
    """file name -> source. {clone} and {klass} are the absolute paths an attacker is assumed to know."""
    solutions = clone / "tutorials" / "solutions" / "solutions.py"
    leave_behind = f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                code = ("import time, pathlib\\n"
                        "p = pathlib.Path({str(clone / 'out' / 'grades.csv')!r})\\n"
                        "for _ in range(600):\\n"
                        "    time.sleep(0.1)\\n"
                        "    if p.exists():\\n"
                        "        p.write_text('student,points\\\\nhonest,0\\\\nFORGED,99\\\\n')\\n")
                os.execv(sys.executable, [sys.executable, "-c", code, {MARKER!r}])
            os._exit(0)
    """
    return {
        "honest.py": "import numpy as np\n\ndef kl_backward(mu, logvar):\n    " + RIGHT_KL
                     + "\ndef bernoulli_backward(x, logits):\n" + RIGHT_BERN,
        "wrong.py": "import numpy as np\n\ndef kl_backward(mu, logvar):\n    " + HALF_KL
                    + "\ndef bernoulli_backward(x, logits):\n    return 0.5 / (1.0 + np.exp(-logits)) - 0.5 * x\n",
        # 1. the teacher's solutions, found beside the package or at the clone's known path, called and copied out
        "a_solutions.py": _kl(f"""
            import pathlib, shutil, numpyvae
            for p in (pathlib.Path(numpyvae.__file__).parents[1] / "tutorials/solutions/solutions.py",
                      pathlib.Path({str(solutions)!r})):
                try:
                    src = p.read_text()
                except OSError:
                    continue
                for dest in ({str(klass / 'stolen.py')!r}, {str(clone / 'stolen.py')!r}):
                    try:
                        shutil.copy(p, dest)
                    except OSError:
                        pass
                ns = {{}}
                exec(src, ns)
                return ns["kl_backward"](mu, logvar)
        """, HALF_KL),
        # 2. the submissions folder from the grader's command line (or a known path): a classmate's answer
        "a_cmdline.py": _kl(f"""
            import glob, os
            folders = [{str(klass)!r}]
            for f in glob.glob("/proc/*/cmdline"):
                try:
                    folders += [a for a in open(f, "rb").read().decode().split("\\0") if os.path.isdir(a)]
                except OSError:
                    pass
            for folder in folders:
                try:
                    ns = {{}}
                    exec(open(os.path.join(folder, "honest.py")).read(), ns)
                    return ns["kl_backward"](mu, logvar)
                except Exception:
                    pass
        """, HALF_KL),
        # 3. forged PASS lines on every file descriptor and a forged answers file, from a class body
        "a_forge.py": _kl("", HALF_KL, head=textwrap.dedent("""
            class Forge:
                import os, json
                for fd in range(1, 64):
                    try:
                        os.write(fd, (json.dumps(dict(name="kl_backward", status="PASS", worst=0.0,
                                                      message="PASS: forged")) + "\\n").encode())
                    except OSError:
                        pass
                try:
                    import numpy
                    numpy.savez("answers.npz", **{"p0.status": numpy.array("PASS"), "p0.kind": numpy.array("single")})
                    os.symlink("/etc/shadow", "/tmp/answers-link")
                except Exception:
                    pass
        """)),
        # 4. the grader's judging code monkeypatched from a class body
        "a_patch.py": _kl("", HALF_KL, head=textwrap.dedent("""
            class Patch:
                import numpyvae.teach.exercises as E, numpyvae.teach.gradcheck as G, numpyvae.teach.grade_channel as C
                E._normwise = lambda answer, numeric, names: [(n, 0.0, 0.0) for n in names]
                G.relative_error = lambda a, b: 0.0
                E.judge_attempt = lambda *a, **k: None
                import numpy
                numpy.savez_real = numpy.savez
        """)),
        # 5. the package patched on disk, so later students' wrong answers pass
        "a_disk.py": _kl("", HALF_KL, head=textwrap.dedent(f"""
            class Disk:
                import pathlib, numpyvae
                for root in (pathlib.Path(numpyvae.__file__).parent, pathlib.Path({str(clone / 'numpyvae')!r})):
                    for name in ("teach/exercises.py", "teach/gradcheck.py", "teach/grade_worker.py"):
                        try:
                            with open(root / name, "a") as f:
                                f.write("\\n_normwise = lambda a, n, names: [(k, 0.0, 0.0) for k in names]\\n")
                        except OSError:
                            pass
        """)),
        # 6. a double-forked setsid grandchild that outlives the grader's kill and rewrites the CSV
        "a_escape.py": _kl("", HALF_KL, head="class Escape:\n" + textwrap.indent(textwrap.dedent(leave_behind), "    ")),
        # the other jobs' results (--jobs 2): every answers file in reach overwritten
        "a_jobs.py": _kl("""
            import glob, numpy
            for _ in range(20):
                for f in glob.glob("/tmp/numpyvae-grade-*/out/answers.npz") + glob.glob("/tmp/*/answers.npz"):
                    try:
                        numpy.savez(f, **{"p0.status": numpy.array("raised"), "p0.detail": numpy.array("set by a_jobs")})
                    except Exception:
                        pass
                import time; time.sleep(0.05)
        """, HALF_KL),
        # the grader killed: from inside the sandbox its parent is the namespace's init
        "a_killparent.py": _kl("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", HALF_KL),
        # the disk (or memory) filled from inside: every writable place is small, or read-only
        "a_fill.py": _kl("""
            import os
            chunk = b"x" * 2 ** 20
            for where in (".", "/tmp", "/dev/shm", "/", "/grade", "/grade/out"):
                for i in range(200):
                    try:
                        with open(os.path.join(where, f"fill{i}"), "wb") as f:
                            for _ in range(15):
                                f.write(chunk)
                    except OSError:
                        break
        """, HALF_KL),
        # the library's own answer
        "a_library.py": _kl("return kl_analytic_backward(mu, logvar)",
                            head="from numpyvae.latent.kl import kl_analytic_backward\n"),
        # the old ways
        "old_loop.py": _kl("while True:\n    pass"),
        "old_forkloop.py": _kl(f"""
            import os, sys, time
            for _ in range(200):
                try:
                    if os.fork() == 0:
                        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {MARKER!r}])
                except OSError:
                    time.sleep(0.01)
        """, HALF_KL),
        "old_alloc.py": _kl("junk = np.ones(2 ** 33)", RIGHT_KL),
        "old_print.py": _kl("import sys\nsys.stderr.write('x' * 10 ** 8)\nprint('y' * 10 ** 8)", HALF_KL),
        "old_exit.py": _kl("import sys\nsys.exit(0)"),
        "old_segfault.py": _kl("import ctypes\nctypes.string_at(0)"),
    }


MULTI = {   # one student, two files: a helper of the same name in each, which must not replace the other's
    "03_elbo.py": "import numpy as np\n\ndef half():\n    return 0.5\n\n"
                  "def kl_backward(mu, logvar):\n    return mu.copy(), half() * (np.exp(logvar) - 1.0)\n",
    "17_capstone.py": "def half():\n    return 99.0\n\ndef library_backward(model, tape):\n    return model.backward(tape)\n",
}


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def _marked_processes() -> list:
    found = []
    for f in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARKER.encode() in f.read_bytes() and int(f.parent.name) != os.getpid():
                found.append(int(f.parent.name))
        except OSError:
            pass
    return found


def _clone(tmp: Path) -> tuple:
    """A throwaway lecturer's clone (package, solutions) and a class folder beside it."""
    clone = tmp / "clone"
    shutil.copytree(REPO / "numpyvae", clone / "numpyvae", ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "tutorials" / "solutions").mkdir(parents=True)
    shutil.copy(REPO / "tutorials" / "solutions" / "solutions.py", clone / "tutorials" / "solutions")
    (clone / "out").mkdir()
    klass = tmp / "class"
    klass.mkdir()
    return clone, klass


def _grade(clone: Path, klass: Path, mode: str, *extra, jobs: int = 2):
    env = {**os.environ, "PYTHONPATH": str(clone), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "numpyvae", "grade", str(klass), "--out", str(clone / "out" / "grades.csv"),
                           "--exercises", "kl_backward,bernoulli_backward", "--seed", str(SEED), "--timeout",
                           str(TIMEOUT), "--jobs", str(jobs), "--memory-mb", "1024", "--sandbox", mode, *extra],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> dict:
    with open(path, newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    if BWRAP:
        pytest.skip(f"no bubblewrap sandbox here ({BWRAP}); --sandbox none is tested below")
    clone, klass = _clone(tmp_path_factory.mktemp("hostile"))
    for name, text in _attackers(clone, klass).items():
        (klass / name).write_text(text)
    (klass / "multi").mkdir()
    for name, text in MULTI.items():
        (klass / "multi" / name).write_text(text)
    before = _tree_hash(clone / "numpyvae")
    (clone / "out" / "grades.csv").write_text("student,points\nlast_week,1\n")
    start = time.perf_counter()
    done = _grade(clone, klass, "bwrap", jobs=4)
    seconds = time.perf_counter() - start
    time.sleep(1.0)                                    # time for an escaped process to rewrite the CSV
    return dict(clone=clone, klass=klass, done=done, before=before, seconds=seconds,
                rows=_rows(clone / "out" / "grades.csv") if done.returncode == 0 else {})


def test_the_grader_finishes_and_the_honest_and_wrong_students_get_their_marks(hostile_class):
    done, rows = hostile_class["done"], hostile_class["rows"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert rows["honest"]["points"] == "2" and rows["wrong"]["points"] == "0"
    assert rows["multi"]["kl_backward points"] == "1"                    # each file its own namespace
    assert "is kept as grades.csv.previous" in done.stdout
    assert (hostile_class["clone"] / "out" / "grades.csv.previous").read_text().startswith("student,points\nlast_week")


def test_no_attacker_gets_a_point(hostile_class):
    rows = hostile_class["rows"]
    attackers = [s for s in rows if s.startswith(("a_", "old_"))]
    assert len(attackers) == 16
    for s in attackers:
        assert rows[s]["kl_backward points"] == "0", (s, rows[s]["kl_backward message"])
        assert not rows[s]["kl_backward message"].startswith("MISSING"), s          # every attack ran
    assert "this calls numpyvae's own answer" in rows["a_library"]["kl_backward message"]
    assert "time limit" in rows["old_loop"]["kl_backward message"]
    assert "SIGSEGV" in rows["old_segfault"]["kl_backward message"]
    assert "SystemExit" in rows["old_exit"]["kl_backward message"]
    assert "MemoryError" in rows["old_alloc"]["kl_backward message"]


def test_the_package_solutions_and_class_are_unchanged_and_nothing_was_copied_out(hostile_class):
    clone, klass = hostile_class["clone"], hostile_class["klass"]
    assert _tree_hash(clone / "numpyvae") == hostile_class["before"]
    assert not (klass / "stolen.py").exists() and not (clone / "stolen.py").exists()


def test_no_process_survives_and_the_csv_is_the_graders(hostile_class):
    assert _marked_processes() == []
    text = (hostile_class["clone"] / "out" / "grades.csv").read_text()
    assert "FORGED" not in text and text.startswith("student,points,max_points,")


def test_feedback_files_for_every_student(hostile_class):
    feedback = hostile_class["clone"] / "out" / "grades-feedback"
    assert {p.stem for p in feedback.glob("*.txt")} == set(hostile_class["rows"])
    text = (feedback / "wrong.txt").read_text()
    assert f"exercises.grade('kl_backward', kl_backward, seed={SEED})" in text and "mu" in text


# ----------------------------------------------------------------------------- --sandbox none

@pytest.fixture(scope="module")
def unsandboxed_class(tmp_path_factory):
    """The attacks --sandbox none still stops: forging, patching in memory, leaving processes behind, the old ways."""
    clone, klass = _clone(tmp_path_factory.mktemp("none"))
    keep = ("honest.py", "wrong.py", "a_forge.py", "a_patch.py", "a_escape.py", "old_forkloop.py")
    for name, text in _attackers(clone, klass).items():
        if name in keep:
            (klass / name).write_text(text)
    done = _grade(clone, klass, "none", jobs=2)
    time.sleep(1.0)
    return dict(clone=clone, done=done, rows=_rows(clone / "out" / "grades.csv") if done.returncode == 0 else {})


def test_sandbox_none_warns_keeps_the_verdicts_and_leaves_no_process(unsandboxed_class):
    done, rows = unsandboxed_class["done"], unsandboxed_class["rows"]
    assert done.returncode == 0, done.stderr[-2000:]
    assert "numpyvae: warning: --sandbox none" in done.stderr
    assert rows["honest"]["points"] == "2" and rows["wrong"]["points"] == "0"
    assert all(rows[s]["kl_backward points"] == "0" for s in rows if s.startswith(("a_", "old_")))
    assert _marked_processes() == []
    assert "FORGED" not in (unsandboxed_class["clone"] / "out" / "grades.csv").read_text()


def test_sandbox_none_stops_when_the_package_changes_on_disk(tmp_path):
    clone, klass = _clone(tmp_path)
    attackers = _attackers(clone, klass)
    (klass / "a_disk.py").write_text(attackers["a_disk.py"])
    done = _grade(clone, klass, "none", jobs=1)
    assert done.returncode == 2 and "changed on disk" in done.stderr and "Traceback" not in done.stderr
    assert not (clone / "out" / "grades.csv").exists()


def test_sandbox_none_a_killed_grader_leaves_no_csv_that_looks_complete(tmp_path):
    clone, klass = _clone(tmp_path)
    (klass / "a_killparent.py").write_text(_attackers(clone, klass)["a_killparent.py"])
    (clone / "out" / "grades.csv").write_text("student,points\nlast_week,1\n")
    done = _grade(clone, klass, "none", jobs=1)
    assert done.returncode == -signal.SIGKILL
    assert "is kept as grades.csv.previous" in done.stdout
    assert not (clone / "out" / "grades.csv").exists()
    assert not list((clone / "out").glob("*.tmp*"))
