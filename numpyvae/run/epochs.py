"""What every run shares (``train.Trainer``, for every kind of model): the epoch loop,
and giving up the run directory.

Each epoch: train, validate, record one history row, print it, save the run. What a row holds
and how it reads differ per trainer; the loop does not.
"""
from __future__ import annotations


class EpochLoop:
    """Mixin: ``fit`` for a trainer that has ``cfg.epochs``, ``epoch``, ``history``, ``quiet``, ``run_dir``,
    ``_train_epoch() -> dict``, ``validate() -> dict``, ``save()`` and ``_epoch_line(row) -> str``;
    ``close`` releases the run directory's lock, ``_lock``."""

    def fit(self, epochs: int | None = None) -> list:
        """Train up to cfg.epochs (or ``epochs`` more), saving after each epoch if there is a run directory."""
        target = self.cfg.epochs if epochs is None else self.epoch + epochs
        while self.epoch < target:
            row = {"epoch": self.epoch + 1, **self._train_epoch(), **self.validate()}
            self.epoch += 1
            self.history.append({k: (float(v) if not isinstance(v, int) else v) for k, v in row.items()})
            if not self.quiet:
                print(self._epoch_line(row), flush=True)
            if self.run_dir is not None:
                self.save()
        return self.history

    def close(self) -> None:
        """Give up the run directory (its lock); the trainer may still be used without saving."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()

    def __del__(self):
        self.close()
