"""Learning-rate schedules, applied at the start of every epoch.

A schedule is a pure function of the epoch, so a resumed run sets exactly the learning rate the
uninterrupted run used; nothing about it needs to be saved in checkpoints.
"""

from __future__ import annotations

import math

from layerkit.training.config import CosineSchedule, StepSchedule

__all__ = ["learning_rate"]


def learning_rate(
    schedule: StepSchedule | CosineSchedule | None, base_lr: float, epoch: int, epochs: int
) -> float:
    """The learning rate of 0-based ``epoch`` in a run of ``epochs`` epochs.

    * ``step``: ``base_lr * gamma ** (epoch // step_size)`` (PyTorch's ``StepLR``);
    * ``cosine``: ``min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / epochs)) / 2``
      (PyTorch's ``CosineAnnealingLR`` with ``T_max = epochs``).
    """
    if schedule is None:
        return base_lr
    if isinstance(schedule, StepSchedule):
        return base_lr * schedule.gamma ** (epoch // schedule.step_size)
    if isinstance(schedule, CosineSchedule):
        cos = (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0
        return schedule.min_lr + (base_lr - schedule.min_lr) * cos
    raise TypeError(f"unknown schedule {schedule!r}")
