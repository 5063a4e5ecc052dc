"""Count how often the grader fails the teacher's own solutions on random problems (should be never).

    python data_scripts/grader_false_fails.py [--seeds 2000] [--exercises planar_logdet_backward,...]

Grades every exercise's reference solution (tutorials/solutions/solutions.py) on the
problems of seeds 0..N-1, exactly as a learner's attempt with ``grade(name, fn, seed=s)``,
and prints per exercise the number of FAILs, the seeds that failed and the worst relative
error. A correct answer that FAILs is a false FAIL: a problem on which central differences
cannot resolve the gradient at the grader's tolerance. A measurement, not a test
(tests/test_exercises.py grades 50 seeds of the flow's log-det); the capstone's
vae_backward costs about 0.1 s per seed.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numpyvae.teach.exercises import EXERCISES, grade  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2000)
    p.add_argument("--exercises", help="comma-separated names (default: all)")
    args = p.parse_args(argv)
    spec = importlib.util.spec_from_file_location("solutions", ROOT / "tutorials" / "solutions" / "solutions.py")
    sol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sol)
    names = args.exercises.split(",") if args.exercises else list(EXERCISES)
    for name in names:
        start = time.process_time()
        grades = [grade(name, getattr(sol, name), seed=s, verbose=False) for s in range(args.seeds)]
        failed = [g.seed for g in grades if not g.passed]
        print(f"{name:<27} seeds 0..{args.seeds - 1}: {len(failed)} FAIL(s){' ' + str(failed[:10]) if failed else ''}, "
              f"worst relative error {max(g.worst for g in grades):.1e}  ({time.process_time() - start:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
