"""A run directory: made for a new run, owned by one process (its lock), checked before any work.

A run directory holds ``checkpoint.npz``, ``config.json``, ``history.json``, ``LOCK``
(:class:`numpyvae.files.DirectoryLock`) and the pictures. :func:`claim_run_dir` takes it for
training (a new run, or a resumed one); :func:`build_or_leave_no_trace` removes a new directory
again if the run could not even be built.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from . import checkpoint_format as ckpt
from ..files import DirectoryLock, check_writable, remove_partial_files

__all__ = ["is_new_run_dir", "build_or_leave_no_trace", "claim_run_dir", "new_run_dir"]


def is_new_run_dir(run_dir) -> bool:
    """Whether ``run_dir`` (a Path or None) is missing or an empty directory: one a new run may remove again."""
    return run_dir is not None and (not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())))


def build_or_leave_no_trace(trainer, build, fresh: bool) -> None:
    """Run ``build()``; if it fails, close ``trainer`` (releasing its lock) and re-raise. When the run
    directory was new (``fresh``), it is removed again: a run that never started leaves no empty directory."""
    try:
        build()
    except BaseException:
        if fresh:
            (trainer.run_dir / DirectoryLock.NAME).unlink(missing_ok=True)
            trainer.close()
            with contextlib.suppress(OSError):
                trainer.run_dir.rmdir()
        trainer.close()
        raise


def claim_run_dir(run_dir, *, new: bool) -> DirectoryLock:
    """Take ownership of a run directory for training, checking everything that can be checked first.

    Creates the directory (with its parents), takes its lock (a second
    process gets :class:`numpyvae.files.DirectoryInUse` naming the owner),
    checks that a checkpoint can be written there, and removes ``*.part``
    files that a killed writer left. ``new=True`` refuses a directory that
    already holds a run; ``new=False`` (resume) requires one.
    """
    run_dir = Path(run_dir)

    def has_run() -> bool:          # a checkpoint, or the Helmholtz trainer's file of before format 2
        return (run_dir / ckpt.CHECKPOINT).exists() or (run_dir / ckpt.LEGACY_HELMHOLTZ).is_file()
    if not new and not has_run():                                  # resume never creates a directory
        raise ckpt.no_checkpoint(run_dir / ckpt.CHECKPOINT)
    lock = DirectoryLock(run_dir).acquire()
    try:
        check_writable(run_dir / ckpt.CHECKPOINT, "checkpoint")
        has_run = has_run()
        if new and has_run:
            raise FileExistsError(f"{run_dir} already holds a run; continue it with "
                                  f"`python -m numpyvae resume {run_dir}` or choose another --out")
        if not new and not has_run:                                # deleted while we took the lock
            raise ckpt.no_checkpoint(run_dir / ckpt.CHECKPOINT)
        remove_partial_files(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def new_run_dir(cfg) -> Path:
    """cfg.out if given, else a fresh runs/<dataset>-z<K>-<time>, created here so no other run takes it.

    Whether cfg.out may be used (no run in it, writable, not in use) is
    :func:`claim_run_dir`'s to check, under the directory's lock.
    """
    if cfg.out:
        return Path(cfg.out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    Path("runs").mkdir(exist_ok=True)
    for i in range(1, 1000):
        path = Path("runs") / (f"{cfg.dataset}-z{cfg.z_dim}-{stamp}" + (f"-{i}" if i > 1 else ""))
        try:
            path.mkdir()             # exclusive: two runs started in the same second get two directories
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"runs/ already holds 999 runs named {cfg.dataset}-z{cfg.z_dim}-{stamp}-*")
