"""The worker side of a tune: train one trial, report its metric to Optuna each epoch, stop when
the pruner says so.

A pruned trial is not a failure: its trainer stops after the epoch (the checkpoint of that epoch
is written, as for early stopping), ``trial.json`` in its run folder says ``pruned`` and after
which epoch, and the driver tells Optuna ``PRUNED``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerkit.fileio import atomic_write_json
from layerkit.sweep.studies import PrunerConfig, open_storage, require_optuna
from layerkit.sweep.trial import BodyResult, TrialTask
from layerkit.training.callbacks import Callback

if TYPE_CHECKING:
    from layerkit.training.trainer import Trainer

__all__ = ["TuneTask", "PruningReporter", "tune_body", "TRIAL_FILE"]

#: In each tune trial's run folder: its Optuna number, how it ended, and after which epoch.
TRIAL_FILE = "trial.json"


@dataclass(frozen=True)
class TuneTask(TrialTask):
    """A sweep task plus the Optuna trial it runs: ``trial_id`` (the storage's key) and
    ``number`` (the study's 0-based count), the study and its storage."""

    trial_id: int = -1
    number: int = -1
    storage: str = ""
    study: str = ""
    metric: str = "val_accuracy"
    pruner: PrunerConfig = PrunerConfig()


class PruningReporter(Callback):
    """Report ``metric`` to an Optuna trial after every epoch (step = the epoch, 1-based) and
    stop training cleanly when the study's pruner prunes the trial."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.pruned_at: int | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Mapping[str, Any]) -> None:
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return  # checked before the tune started: a trial records its metric every epoch
        self.trial.report(float(value), epoch + 1)
        if epoch + 1 < trainer.config.epochs and self.trial.should_prune():
            self.pruned_at = epoch + 1
            trainer.stop_training = True
            trainer.stop_reason = f"pruned after epoch {epoch + 1} ({self.metric} {value:.4f})"


#: The studies this worker process has opened: a worker runs many trials of one tune, and opening
#: a study (a database engine, the schema check) costs seconds under load.
_STUDIES: dict[tuple[str, str, PrunerConfig], Any] = {}


def _study(storage: str, name: str, pruner: PrunerConfig) -> Any:
    key = (storage, name, pruner)
    if key not in _STUDIES:
        optuna = require_optuna()
        _STUDIES[key] = optuna.load_study(
            study_name=name, storage=open_storage(storage, existing=True), pruner=pruner.create()
        )
    return _STUDIES[key]


def tune_body(task: TrialTask, out: Path) -> BodyResult:
    """Train ``task`` into ``out`` with a :class:`PruningReporter` on its Optuna trial."""
    from layerkit.run import STATUS_FILE, train
    from layerkit.spec import loads_spec

    assert isinstance(task, TuneTask), "tune_body runs TuneTask trials"
    optuna = require_optuna()
    study = _study(task.storage, task.study, task.pruner)
    reporter = PruningReporter(optuna.trial.Trial(study, task.trial_id), task.metric)
    spec = loads_spec(task.spec, filename=f"trial {task.id}")
    result = train(spec, out=out, quiet=True, callbacks=[reporter])
    state = "pruned" if reporter.pruned_at is not None else "complete"
    value = result.metrics.get(task.metric)
    atomic_write_json(
        out / TRIAL_FILE,
        {
            "study": task.study,
            "number": task.number,
            "state": state,
            "pruned_after_epoch": reporter.pruned_at,
            "epochs": len(result.history),
            "metric": task.metric,
            "value": value,
            "params": dict(task.params),
        },
    )
    if reporter.pruned_at is not None:
        # the run ended cleanly ("finished" with its stop reason); say what stopped it
        status = json.loads((out / STATUS_FILE).read_text(encoding="utf-8"))
        status.update(status="pruned", pruned_after_epoch=reporter.pruned_at)
        atomic_write_json(out / STATUS_FILE, status)
        return BodyResult(result.metrics, status="pruned", extra={"pruned_at": reporter.pruned_at})
    return BodyResult(result.metrics)
