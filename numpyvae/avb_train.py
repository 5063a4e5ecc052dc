"""``python -m numpyvae.avb_train``: replaced by ``python -m numpyvae train --model avb``.

AVB is trained, saved, resumed, evaluated, sampled and plotted like every other model now
(numpyvae/models/avb.py, numpyvae/run/recipes.py). This entry point says so in one line, with the
command its flags mean, and exits with status 2.
"""
from __future__ import annotations

import sys

#: the old flags and the new ones they became
RENAMED = {"--lr-disc": "--lr-critic", "--disc-steps": "--critic-steps"}
#: old flags with no counterpart in `train` (their work moved to evaluate or plot)
GONE = {"--n-test": "evaluate RUN_DIR --n-test N", "--figure": "plot RUN_DIR (writes RUN_DIR/samples.png)"}


def replacement(argv) -> str:
    """The `train --model avb` command the old arguments stand for (its default, the ring, as --preset ring)."""
    argv, out = list(argv), ["python -m numpyvae train --model avb"]
    i = argv.index("--dataset") if "--dataset" in argv else None
    if i is None or argv[i + 1:i + 2] == ["ring"]:
        out.append("--preset ring")
        if i is not None:
            del argv[i:i + 2]
    i = 0
    while i < len(argv):
        if argv[i] in GONE:
            i += 2
            continue
        out.append(RENAMED.get(argv[i], argv[i]))
        i += 1
    return " ".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    print(f"numpyvae: error: `python -m numpyvae.avb_train` was replaced by `{replacement(argv)}` (then "
          "`python -m numpyvae evaluate|sample|plot RUN_DIR`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
