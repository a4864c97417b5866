"""The ``train:`` section of a spec, validated by pydantic.

Defaults follow what Keras and PyTorch Lightning users expect: shuffle every epoch, checkpoint
every epoch keeping the last three, no schedule, no early stopping. The ``optimizer`` entry is a
mapping keyed on ``type``; its other keys are validated by the spec loader against the
registered optimizer's own ``Params`` model (so plugin optimizers get the same checks).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from layerkit._validation import StrictModel, located_error

__all__ = [
    "TrainConfig",
    "StepSchedule",
    "CosineSchedule",
    "Schedule",
    "EarlyStopping",
    "CheckpointConfig",
    "EPOCH_METRICS",
    "Metric",
    "EVAL_BATCH_SIZE",
]

#: A metric recorded per epoch that early stopping may monitor.
Metric = Literal["train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"]
EPOCH_METRICS: tuple[str, ...] = get_args(Metric)
#: Samples per forward pass when evaluating (train.eval_batch_size, ``layerkit predict``).
EVAL_BATCH_SIZE = 1000


class StepSchedule(StrictModel):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (PyTorch's StepLR)."""

    type: Literal["step"] = Field(description="step decay: lr times gamma every step_size epochs")
    step_size: int = Field(ge=1, description="epochs between two decays of the learning rate")
    gamma: float = Field(0.1, gt=0, le=1, description="factor the learning rate is multiplied by at each decay")


class CosineSchedule(StrictModel):
    """Cosine annealing from the optimizer's ``lr`` down to ``min_lr`` over the run's epochs."""

    type: Literal["cosine"] = Field(description="cosine annealing from lr to min_lr over the run's epochs")
    min_lr: float = Field(0.0, ge=0, description="the learning rate the cosine decays towards over the run")


Schedule = Annotated[StepSchedule | CosineSchedule, Field(discriminator="type")]


class EarlyStopping(StrictModel):
    """Stop when ``metric`` has not improved by ``min_delta`` for ``patience`` epochs."""

    metric: Metric = Field(
        "val_loss",
        description="the per-epoch metric to watch; a val_ metric needs validation_split > 0",
    )
    patience: int = Field(5, ge=1, description="epochs without improvement before training stops")
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="whether lower (min) or higher (max) is better; auto: min for losses, max for accuracies"
    )
    min_delta: float = Field(
        0.0, ge=0, description="smallest change of the metric that counts as an improvement, in the metric's units"
    )

    @property
    def direction(self) -> Literal["min", "max"]:
        if self.mode != "auto":
            return self.mode
        return "min" if self.metric.endswith("loss") else "max"


_SCHEDULES: dict[str, type[StrictModel]] = {"step": StepSchedule, "cosine": CosineSchedule}


class CheckpointConfig(StrictModel):
    every: int = Field(1, ge=1, description="write a checkpoint every N epochs (and always after the last one)")
    keep: int = Field(3, ge=1, description="how many of the most recent checkpoints are kept; older ones are deleted")


class TrainConfig(StrictModel):
    """How to train: epochs, batches, optimizer, schedule, early stopping, checkpoints."""

    epochs: int = Field(10, ge=1, description="passes over the training set")
    batch_size: int = Field(100, ge=1, description="samples per gradient step (the last batch of an epoch may be smaller)")
    optimizer: dict[str, Any] = Field(
        default_factory=lambda: {"type": "SGD", "lr": 0.01},
        description="{type: NAME, **hyperparameters of that optimizer}",
    )
    schedule: Schedule | None = Field(
        None,
        description="learning-rate schedule, {type: step, step_size: N, gamma: 0.1} or {type: cosine, min_lr: 0}; "
        "null: the optimizer's lr throughout",
    )
    early_stopping: EarlyStopping | None = Field(
        None,
        description="stop when a metric stops improving, {metric: val_loss, patience: 5, ...}; null: run every epoch",
    )
    shuffle: bool = Field(True, description="reshuffle the training set at the start of every epoch (seeded)")
    validation_split: float = Field(
        0.0, ge=0, lt=1, description="fraction of the training set held out for validation"
    )
    eval_batch_size: int = Field(
        EVAL_BATCH_SIZE,
        ge=1,
        description="samples per batch in evaluation passes (memory only: results do not depend on it)",
    )
    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig,  # type: ignore[arg-type]
        description="when checkpoints are written into the run folder and how many are kept, {every: 1, keep: 3}",
    )

    @field_validator("optimizer")
    @classmethod
    def _optimizer_has_type(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "type" not in value:
            raise located_error(
                "TrainConfig",
                [(("type",), "missing", "required (the name of a registered optimizer, e.g. SGD)", value)],
            )
        kind = value["type"]
        if not isinstance(kind, str) or not kind:
            raise located_error(
                "TrainConfig",
                [(("type",), "string_type", "must be the name of a registered optimizer", kind)],
            )
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _dispatch_schedule(cls, value: Any) -> Any:
        # Validating the chosen model here keeps error locations free of pydantic's union tags
        # ("schedule.step_size", not "schedule.step.step_size").
        if not isinstance(value, dict):
            return value
        if "type" not in value:
            raise located_error(
                "TrainConfig",
                [(("type",), "missing", "required (one of {expected})", value)],
                expected="'step', 'cosine'",
            )
        model = _SCHEDULES.get(value["type"]) if isinstance(value["type"], str) else None
        if model is None:
            raise located_error(
                "TrainConfig",
                [(("type",), "literal_error", "must be one of {expected}", value["type"])],
                expected="'step', 'cosine'",
            )
        return model.model_validate(value)

    @model_validator(mode="after")
    def _validation_metric_needs_split(self) -> TrainConfig:
        es = self.early_stopping
        if es is not None and es.metric.startswith("val_") and self.validation_split == 0:
            raise located_error(
                "TrainConfig",
                [
                    (
                        ("early_stopping", "metric"),
                        "needs_validation_split",
                        "a val_ metric needs validation_split > 0 (or monitor a train_ or test_ metric)",
                        es.metric,
                    )
                ],
            )
        return self

    @property
    def optimizer_type(self) -> str:
        return str(self.optimizer["type"])

    @property
    def optimizer_options(self) -> dict[str, Any]:
        """The optimizer's hyperparameters without ``type``."""
        return {k: v for k, v in self.optimizer.items() if k != "type"}
