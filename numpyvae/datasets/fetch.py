"""Downloading data files from mirrors, checked against known SHA-256 sums.

Run as a command to fetch full MNIST into the cache:

    python -m numpyvae.datasets.fetch [--dir DIR]

The steps for each file, and why:

1. If the file is already there with the right checksum, keep it (no traffic).
   If it is there with a wrong one, delete it: only verified files may sit
   under their final name.
2. Try each mirror in turn. Stream the body into a temporary file beside the
   target while hashing it, so a large file is never held in memory.
3. Checksum wrong: delete the temporary file, say so, try the next mirror.
   Checksum right: os.replace the temporary file onto the final name, an
   atomic rename, so an interrupted download never looks like a finished one.

Everything is injectable (mirrors, file list, timeout, log), which lets the
tests run it against a local HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import urllib.request
from pathlib import Path

from . import mnist
from ..files import CHUNK, sha256_of, temp_path_beside


class FetchError(RuntimeError):
    """A file could not be obtained with the right checksum from any mirror."""


def download(url: str, target: Path, timeout: float) -> str:
    """Stream `url` into the file `target`; return the SHA-256 of what was received."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        for chunk in iter(lambda: response.read(CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def fetch_file(name: str, sha256: str, directory: Path, mirrors, *, timeout: float = 60.0, log=print) -> Path:
    """Make `directory/name` a verified copy of the file, downloading it if needed.

    Raises FetchError, listing what each mirror did, if no mirror gave the right bytes.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / name
    if final.is_file():
        if sha256_of(final) == sha256:
            log(f"{final}: already there, checksum OK")
            return final
        final.unlink()
        log(f"{final}: wrong checksum, deleted it; downloading again")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        outcome = _try_mirror(url, final, sha256, timeout)
        if outcome is None:
            log(f"{final}: downloaded from {url}, checksum OK")
            return final
        log(f"{url}: {outcome}")
        failures.append(f"  {url}: {outcome}")
    raise FetchError(f"could not fetch {name} with SHA-256 {sha256}:\n" + "\n".join(failures))


def _try_mirror(url: str, final: Path, sha256: str, timeout: float) -> str | None:
    """Download `url` onto `final` if its checksum is right; else return why not."""
    tmp = temp_path_beside(final)
    try:
        found = download(url, tmp, timeout)
        if found != sha256:
            return f"checksum mismatch (got {found}, expected {sha256}); deleted the partial file"
        os.replace(tmp, final)
        return None
    except (OSError, http.client.HTTPException, ValueError) as err:  # URLError, HTTPError, timeouts
        return f"download failed ({err})"
    finally:
        if tmp.exists():  # any outcome but success
            tmp.unlink()


def fetch_all(files: dict[str, str], directory, mirrors, *, timeout: float = 60.0, log=print) -> Path:
    """fetch_file for each {name: sha256} into `directory` (created if needed); return it."""
    directory = Path(directory)
    for name, sha256 in files.items():
        fetch_file(name, sha256, directory, mirrors, timeout=timeout, log=log)
    return directory


def fetch_mnist(directory=None, *, mirrors=mnist.MIRRORS, files=mnist.SHA256,
                timeout: float = 60.0, log=print) -> Path:
    """Fetch the four MNIST files into `directory` (default: the cache load("mnist") reads)."""
    directory = Path(directory) if directory is not None else mnist.mnist_dir()
    return fetch_all(files, directory, mirrors, timeout=timeout, log=log)


def main(argv=None) -> int:
    """Command line: fetch MNIST, print each step, exit 1 with the reasons on failure."""
    parser = argparse.ArgumentParser(prog="python -m numpyvae.datasets.fetch",
                                     description="Download full MNIST (11 MB) into the numpyvae cache.")
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"target directory (default {mnist.mnist_dir()}; "
                             f"${mnist.ENV_VAR} moves the cache root)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per connection (default 60)")
    args = parser.parse_args(argv)
    try:
        directory = fetch_mnist(args.dir, timeout=args.timeout)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"MNIST is ready in {directory}; load it with numpyvae.datasets.load('mnist')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
