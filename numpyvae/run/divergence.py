"""A run that blew up: a non-finite or exploded loss, gradients or weights, and an error true to what is on disk.

:class:`DivergenceChecks` is a mixin of :class:`numpyvae.run.train.Trainer`: the loop calls
:meth:`~DivergenceChecks._check_step` on every step's loss and :meth:`~DivergenceChecks._diverged`
wherever the numbers blew up; the error says where, what is saved and what to try.
"""
from __future__ import annotations

import math

import numpy as np

from .checkpoint_format import CHECKPOINT

__all__ = ["TrainingDiverged", "DivergenceChecks", "EXPLOSION_FACTOR", "SCALE_BLOCK"]

#: a loss whose magnitude exceeds this many times its recent scale has exploded
EXPLOSION_FACTOR = 1e4
#: steps per block whose median |loss| sets the recent scale
SCALE_BLOCK = 20


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or exploded; says where, what is saved, and what to try."""



class DivergenceChecks:
    """Mixin: the blow-up checks of a trainer that has ``cfg`` (lr), ``epoch``, ``run_dir``,
    ``_all_grads()`` and the recent loss scale ``_scale`` (start: inf) with its block ``_block`` (start: [])."""

    def _check_step(self, loss: float, b: int) -> None:
        """Stop on a blow-up: a non-finite or exploded loss (non-finite gradients: see below).

        Exploded: |loss| > EXPLOSION_FACTOR × the recent scale, where the scale
        is the smallest median |loss| of any block of SCALE_BLOCK steps so far
        in this session (at least 1 nat). A median ignores a single odd batch;
        the smallest block keeps a slow climb (2× per step) from dragging the
        reference up with it.

        This reads only the loss, which the step computes anyway. A NaN or inf
        gradient is caught right after the update instead: it makes its
        parameter NaN or inf in every optimizer here (Adam: inf/inf = NaN), and
        ``optimizer.step(check_finite=True)`` sums θ as it updates it (a NaN or
        inf anywhere makes the sum so), so one pass over the weights per step
        checks both; :meth:`_why_not_finite` then says which it was.
        """
        if not math.isfinite(loss):
            raise self._diverged(f"the loss became {loss}", f"batch {b + 1}")
        if abs(loss) > EXPLOSION_FACTOR * max(self._scale, 1.0):
            raise self._diverged(f"the loss exploded to {loss:.4g}, over {EXPLOSION_FACTOR:g} times its recent scale "
                                 f"({self._scale:.4g})", f"batch {b + 1}")
        self._block.append(abs(loss))
        if len(self._block) == SCALE_BLOCK:
            self._scale = min(self._scale, float(np.median(self._block)))
            self._block.clear()

    def _why_not_finite(self, loss: float) -> str:
        """After an update left θ non-finite: were the gradients already (read only on this rare path)?"""
        if not all(math.isfinite(float(g.sum())) for g in self._all_grads()):
            return f"the gradients became non-finite (loss {loss:.4g})"
        return "the weights overflowed in the update"

    def _diverged(self, what: str, where: str) -> TrainingDiverged:
        """The error for a blow-up, in the documented form, true to what is on disk."""
        has_checkpoint = self.run_dir is not None and (self.run_dir / CHECKPOINT).exists()
        if has_checkpoint:
            kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.run_dir}, but resuming it "
                    f"would repeat the same steps; start again with")
        elif self.run_dir is not None:
            kept = (f"no checkpoint was written yet (the first epoch did not finish), so "
                    f"{self.run_dir} holds nothing to resume; start again with")
        else:
            kept = "nothing was saved (no run directory); start again with"
        return TrainingDiverged(
            f"{what} at epoch {self.epoch + 1}, {where}; {kept} a smaller learning rate "
            f"(--lr {self.cfg.lr / 10:g}), gradient clipping (--clip-grad-norm 100), or a KL warm-up "
            f"(--warmup-epochs 5)")
