"""Small file helpers: hashing, atomic writes, writability checks, and owning a directory.

Why atomic: a download or a rebuild that is interrupted half-way must never
leave a file under its final name, or the next run would trust a truncated
file. We write to a temporary file in the same directory and then rename it
with os.replace, which is atomic on POSIX and Windows when both paths are on
the same file system.
"""
from __future__ import annotations

import errno
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path

from .browser import IN_BROWSER

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


def check_writable(path, what: str = "output file") -> Path:
    """Fail now, with a clear ValueError, if ``path`` could not be written atomically later.

    Checks what :func:`atomic_save` will need: the parent is an existing
    directory, ``path`` itself is not a directory, and a temporary file can be
    created (and is removed again) beside it. Call it before long work whose
    result goes to ``path``, so the work is not lost to an output error.
    """
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise ValueError(f"cannot write the {what} {path}: a directory is in the way")
    if not parent.is_dir():
        why = "is a file, not a directory" if parent.exists() else "does not exist"
        raise ValueError(f"cannot write the {what} {path}: {parent} {why}")
    try:
        temp_path_beside(path).unlink()
    except OSError as err:
        raise ValueError(f"cannot write the {what} {path}: {err.strerror or err}") from None
    return path


def remove_partial_files(directory) -> list:
    """Delete the ``*.part`` files :func:`atomic_save` leaves behind when its process is killed.

    Only safe in a directory no other process is writing to (one whose
    :class:`DirectoryLock` is held). Returns the paths removed.
    """
    removed = []
    for part in Path(directory).glob("*.part"):
        try:
            part.unlink()
            removed.append(part)
        except FileNotFoundError:
            pass
    return removed


class DirectoryInUse(RuntimeError):
    """Another live process holds the directory's lock."""


class DirectoryLock:
    """Exclusive ownership of a directory by one process: ``with DirectoryLock(d): ...``.

    The lock is ``d/LOCK``, held with ``fcntl.flock``. The kernel releases a
    flock when its process ends in any way (exit, exception, SIGKILL, a power
    cut loses it with the machine), so a crashed owner can never leave the
    directory locked: the file stays, but a file nobody holds is no lock. The
    file records the owner's pid, host and start time, for the message a
    second process gets. It is never deleted, because deleting a lock file
    that another process may be opening at that moment is how two processes
    both end up "owning" one directory.

    Where ``fcntl`` does not exist (Windows) or ``flock`` is not supported, the lock
    falls back to the pid in the file: held if that process still runs on this host,
    stale otherwise. In a browser's Python (:mod:`numpyvae.browser`) the directory is
    not locked at all: the tab is the only process that can see its file system.
    """

    NAME = "LOCK"

    def __init__(self, directory):
        self.directory = Path(directory)
        self.path = self.directory / self.NAME
        self._fd = None

    def acquire(self) -> "DirectoryLock":
        """Create the directory if needed and take the lock; DirectoryInUse names the owner."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileExistsError:
            raise ValueError(f"cannot use {self.directory} as a run directory: a file of that name exists") from None
        except NotADirectoryError:
            raise ValueError(f"cannot use {self.directory} as a run directory: a part of the path is a file") from None
        except OSError as err:
            raise ValueError(f"cannot write to the run directory {self.directory}: {err.strerror or err}") from None
        try:
            self._lock(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        record = f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        return self

    def _lock(self, fd: int) -> None:
        if IN_BROWSER:           # one process per file system: nobody else to keep out
            return None
        try:
            import fcntl
        except ImportError:      # not POSIX
            return self._lock_by_pid(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryInUse(self._owner_message(self._read_owner(fd))) from None
        except OSError as err:   # flock not supported by this system or file system (ENOSYS, EOPNOTSUPP)
            if err.errno not in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL):
                raise
            return self._lock_by_pid(fd)

    @staticmethod
    def _read_owner(fd: int, wait: float = 1.0) -> bytes:
        """The owner's record. It is written just after the owner takes the lock, so a process
        that arrives in between finds the file still empty: wait up to ``wait`` s for the line."""
        deadline = time.monotonic() + wait
        record = os.pread(fd, 200, 0)
        while not record.endswith(b"\n") and time.monotonic() < deadline:
            time.sleep(0.01)
            record = os.pread(fd, 200, 0)
        return record

    def _lock_by_pid(self, fd: int) -> None:
        owner = os.pread(fd, 200, 0).split()
        if len(owner) >= 2 and owner[1].decode(errors="replace") == socket.gethostname():
            try:
                os.kill(int(owner[0]), 0)
            except (OSError, ValueError):
                return                            # its owner is gone: a stale lock
            raise DirectoryInUse(self._owner_message(b" ".join(owner)))

    def _owner_message(self, record: bytes) -> str:
        parts = record.decode(errors="replace").split()
        who = (f"process {parts[0]} on host {parts[1]} (since {' '.join(parts[2:4])})" if len(parts) >= 4
               else "another process")
        if parts[:2] == [str(os.getpid()), socket.gethostname()]:
            who += ", this very process: close() the object that holds it first"
        return (f"{self.directory} is in use by {who}; wait for it to finish, or choose another "
                f"directory (a crashed process holds no lock: its lock ends with it)")

    def release(self) -> None:
        """Give the lock up (the file stays; see the class docstring)."""
        if self._fd is not None:
            os.close(self._fd)     # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
