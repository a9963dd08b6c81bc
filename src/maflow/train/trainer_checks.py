"""The non-finite checks of the one :class:`~maflow.train.loop.Trainer`: reading the record a
step leaves on the device, what an error inside an epoch means, and handing a NaN to the guard."""

from __future__ import annotations

from maflow.train.compile import compile_failure, is_compile_failure
from maflow.train.guard import NonFiniteLossError, NonFiniteRecord
from maflow.train.trainer_state import TrainerState

__all__ = ["TrainerChecks"]


class TrainerChecks(TrainerState):
    """Non-finite checks of a :class:`~maflow.train.loop.Trainer` (a mixin, on top of its state).

    Example:
        >>> from maflow.train.loop import Trainer
        >>> issubclass(Trainer, TrainerChecks)
        True
    """

    compile_backend: str | None  # set by the Trainer's constructor

    def _check(self, record: NonFiniteRecord, first_step: int, first_batch: int) -> None:
        """Reads the record back; raises :class:`NonFiniteLossError` naming its first bad value.

        Tags are ``2 * (step - first_step) + (0: loss, 1: gradient norm)`` for the steps since
        ``first_step`` (the batch ``first_batch``).
        """
        found = record.first()
        if found is None:
            return
        tag, value = found
        offset, kind = divmod(tag, 2)
        raise NonFiniteLossError(
            f"the {('loss', 'gradient norm')[kind]} became {value} at step {first_step + offset} "
            f"(epoch {self.epoch + 1}, batch {first_batch + offset})"
        )

    def _recover(self, problem: str) -> None:
        """Hands a NaN or Inf to the guard: roll back (and log it) or log and raise."""
        if self.epoch == 0 and not self._resume_batch:
            last = f"no checkpoint was written yet (only the untrained start, {self.latest_path})"
        elif self.latest_path.is_file():
            last = f"the last good checkpoint is {self.latest_path} (epoch {self.epoch})"
        else:
            last = "no checkpoint was written yet"
        try:
            self.step = self.guard.recover(
                problem, self.model, self.optimizer, self.scheduler, self.generator, last
            )
        except NonFiniteLossError as error:
            self.logger.info(str(error))
            raise
        self.logger.info(
            f"{problem}; rolled back to the start of epoch {self.epoch + 1} (step {self.step}) with "
            f"learning rate {self.optimizer.param_groups[0]['lr']:.3g} "
            f"(rollback {self.guard.rollbacks} of {self.guard.max_rollbacks})"
        )

    def _explain(self, error: Exception, record: NonFiniteRecord, where: tuple[int, int]) -> None:
        """An error inside the epoch: a NaN noted before it is the cause (the guard acts on it);
        a graph torch.compile could not build is one line; anything else goes on as it is."""
        try:
            self._check(record, *where)
        except NonFiniteLossError as nonfinite:
            raise nonfinite from error
        if self.compile_backend and is_compile_failure(error):
            raise compile_failure(error, self.compile_backend) from None
