"""Command line: python -m numpyvae {train,...} (filled in by the training issue)."""
import sys


def main(argv=None) -> int:
    print("numpyvae: the training command is not built yet", file=sys.stderr)
    return 1
