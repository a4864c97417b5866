"""The mlflow callback against a real SQLite tracking store, read back with MlflowClient.

Needs the plugin installed (``pip install ./plugins/layerkit-mlflow``, as scripts/setup.sh does):
layerkit finds it through its entry point, like any user's install.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("layerkit_mlflow")

from layerkit.plugins import get_registry  # noqa: E402
from layerkit.run import train  # noqa: E402
from layerkit_mlflow.callback import flatten_spec  # noqa: E402

SPEC = """\
name: ml_spiral
seed: 0
data: {dataset: spiral, points_per_class: 50}
model:
  layers:
    - {type: Affine, id: fc1, units: 12, init: he}
    - {type: Relu}
    - {type: Affine, units: 3}
    - {type: SoftmaxWithLoss}
train:
  epochs: 3
  batch_size: 30
  optimizer: {type: Adam, lr: 0.02}
  callbacks:
    - {type: mlflow, tags: {purpose: test}}
"""


def test_the_callback_is_registered_from_its_distribution() -> None:
    entry = get_registry().lookup("callbacks", "mlflow")
    assert (entry.plugin, entry.distribution) == ("mlflow", "layerkit-mlflow")


def test_flatten_spec_uses_override_paths() -> None:
    flat = flatten_spec(
        {
            "train": {"optimizer": {"type": "Adam", "lr": 0.02}, "schedule": None},
            "model": {"layers": [{"type": "Affine", "id": "fc1", "units": 12}, {"type": "Relu"}]},
            "model_input": [1, 28, 28],
        }
    )
    assert flat["train.optimizer.lr"] == "0.02"
    assert flat["train.schedule"] == "null"
    assert flat["model.layers.fc1.units"] == "12"
    assert flat["model.layers.1.type"] == "Relu"
    assert flat["model_input"] == "[1, 28, 28]"


# MLflow's SQL store still uses a SQLAlchemy loader option SQLAlchemy 2.1 deprecates: not ours.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_a_run_is_logged_to_the_default_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's default store is mlflow.db in the working directory
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = train("spec.yaml", out="run", quiet=True, plot=False)
    assert (tmp_path / "mlflow.db").is_file()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ml_spiral")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "ml_spiral/run"
    assert run.data.tags["layerkit.run_dir"] == str((tmp_path / "run").resolve())
    assert run.data.tags["purpose"] == "test"
    params = run.data.params
    assert params["train.optimizer.lr"] == "0.02"
    assert params["model.layers.fc1.units"] == "12"
    assert params["train.callbacks.0.type"] == "mlflow"

    with (result.run_dir / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx([float(r["test_accuracy"]) for r in rows])
    assert {"train_loss", "train_accuracy", "lr", "seconds"} <= set(run.data.metrics)

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"spec.yaml", "lock.json", "metrics.csv", "checkpoints"} <= artifacts
    saved = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert "checkpoints/epoch-0003.npz" in saved
