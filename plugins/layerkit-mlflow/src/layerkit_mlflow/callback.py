"""The ``mlflow`` callback: one MLflow run per layerkit run.

* params: the resolved spec flattened to the paths ``--set`` uses (``train.optimizer.lr``,
  ``model.layers.fc1.units``; a layer without an id by its index);
* metrics: every epoch's ``train_loss``, ``train_accuracy``, ``val_*``, ``test_*``, ``lr``,
  ``seconds`` and ``samples_per_s``, with the epoch as step;
* artifacts: the run folder (``spec.yaml``, ``lock.json``, ``metrics.csv``, ``curves.png``,
  the kept checkpoints...) when training ends, or fails;
* tags: the run folder's path, the spec's name and layerkit's version.

The tracking store is the ``tracking_uri`` option, else ``$MLFLOW_TRACKING_URI``, else MLflow's
own default, a SQLite store ``mlflow.db`` in the working directory (``mlflow ui`` started in
that directory shows it). The store's absolute URI is kept in the checkpoints, so
``layerkit train --resume`` continues the same MLflow run from anywhere.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from layerkit.spec.overrides import flatten_paths
from layerkit.training.callbacks import METRIC_COLUMNS, CallbackParams, RegisteredCallback

__all__ = ["MLflowLogger", "MLflowParams", "flatten_spec", "DEFAULT_TRACKING_URI"]

#: MLflow's default tracking store: a SQLite file in the working directory.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: metrics of a history row sent to MLflow: every column of metrics.csv but the epoch (the step)
_METRICS = tuple(column for column in METRIC_COLUMNS if column != "epoch")
#: MLflow's limit on a param value (longer values are cut, with a marker)
_PARAM_LIMIT = 6000


class MLflowParams(CallbackParams):
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (sqlite:///path.db, http://host:5000, a folder...); "
        "default $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory",
    )
    experiment: str | None = Field(
        None, description="MLflow experiment name; default the spec's name"
    )
    run_name: str | None = Field(
        None, description="MLflow run name; default <spec name>/<run folder name>"
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="extra tags set on the MLflow run"
    )
    log_artifacts: bool = Field(
        True, description="upload the run folder as the MLflow run's artifacts at the end"
    )


class MLflowLogger(RegisteredCallback):
    """MLflow tracking: the spec as params, metrics per epoch, the run folder as artifacts."""

    name = "mlflow"
    Params = MLflowParams
    state_key = "mlflow"

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        self.client: Any = None
        self.run_id: str | None = None
        self.tracking_uri: str | None = None
        self._resume: dict[str, Any] = {}

    # -- state kept in layerkit's checkpoints -----------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self.tracking_uri}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._resume = dict(state)

    # -- the run --------------------------------------------------------------------------

    def resolved_tracking_uri(self) -> str:
        """The store to use, a relative SQLite path made absolute (resumes may run elsewhere)."""
        uri = self.hp.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
            uri = prefix + str(Path(uri[len(prefix) :]).resolve())
        return uri

    def on_train_begin(self, trainer: Any) -> None:
        from mlflow.tracking import MlflowClient  # heavy: imported when a run starts

        assert self.run is not None, "setup() gives the run folder before training"
        previous = self._resume.get("tracking_uri")
        self.tracking_uri = previous or self.resolved_tracking_uri()
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        run_id = self._resume.get("run_id")
        if run_id and self._exists(run_id):
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
            return
        experiment = self.hp.experiment or self.run.name
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id if found is not None else self.client.create_experiment(experiment)
        )
        from layerkit import __version__

        tags = {
            "layerkit.run_dir": str(self.run.run_dir.resolve()),
            "layerkit.spec": self.run.name,
            "layerkit.version": __version__,
            **self.hp.tags,
        }
        created = self.client.create_run(
            experiment_id,
            run_name=self.hp.run_name or f"{self.run.name}/{self.run.run_dir.name}",
            tags=tags,
        )
        self.run_id = created.info.run_id
        from mlflow.entities import Param

        params = [Param(key, value) for key, value in flatten_spec(self.run.spec).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException:
            return False
        return True

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(key, float(metrics[key]), now, epoch + 1)
            for key in _METRICS
            if isinstance(metrics.get(key), (int, float)) and math.isfinite(metrics[key])
        ]
        self.client.log_batch(self.run_id, metrics=batch)

    def _finish(self, status: str) -> None:
        if self.client is None or self.run_id is None:
            return
        if self.hp.log_artifacts and self.run is not None:
            self.client.log_artifacts(self.run_id, str(self.run.run_dir))
        self.client.set_terminated(self.run_id, status=status)

    def on_train_end(self, trainer: Any) -> None:
        self._finish("FINISHED")

    def on_failure(self, trainer: Any, error: BaseException) -> None:
        self._finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")


def flatten_spec(spec: Mapping[str, Any]) -> dict[str, str]:
    """``{"train.optimizer.lr": "0.1", "model.layers.fc1.units": "50", ...}``: the resolved spec
    by the paths ``layerkit train --set`` takes, values as the strings MLflow stores (JSON for
    anything but a string), cut to MLflow's length limit."""
    out: dict[str, str] = {}
    for key, value in flatten_paths(spec).items():
        text = value if isinstance(value, str) else json.dumps(value)
        out[key] = text if len(text) <= _PARAM_LIMIT else text[: _PARAM_LIMIT - 3] + "..."
    return out
