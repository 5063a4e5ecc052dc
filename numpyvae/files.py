"""Small file helpers: hashing and atomic writes (data files, checkpoints, histories).

Why atomic: a download or a rebuild that is interrupted half-way must never
leave a file under its final name, or the next run would trust a truncated
file. We write to a temporary file in the same directory and then rename it
with os.replace, which is atomic on POSIX and Windows when both paths are on
the same file system.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: big enough to be fast, small enough to stream


def sha256_of(path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (no whole-file copy)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temp_path_beside(path) -> Path:
    """Create an empty temporary file next to `path` and return its name.

    Same directory as the target, so os.replace is a rename, not a copy.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp makes it private (0600); data files are for everyone to read
    return Path(name)


def atomic_save(path, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside `path`, then rename it to `path`.

    Readers see either the old file or the whole new one, never half of it.
    """
    path = Path(path)
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # only if something failed before the rename
            tmp.unlink()
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` atomically (see :func:`atomic_save`)."""
    return atomic_save(path, lambda f: f.write(data))
