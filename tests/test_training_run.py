"""The trainer and the run folder, in process: files, determinism, divergence, early stopping."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerkit.errors import ConfigError, RunFailed
from layerkit.run import train
from layerkit.spec import load_spec
from layerkit.training import Callback
from layerkit.training.callbacks import METRIC_COLUMNS, ModelCheckpoint
from layerkit.training.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)

SPIRAL = """\
name: tiny_spiral
seed: 0
data: {dataset: spiral, points_per_class: 100}
model:
  layers:
    - {type: Affine, id: fc1, units: 32, init: he}
    - {type: Relu}
    - {type: Dropout, rate: 0.1}
    - {type: Affine, id: fc2, units: 3}
    - {type: SoftmaxWithLoss}
train:
  epochs: 4
  batch_size: 32
  optimizer: {type: Adam, lr: 0.02}
"""

TIMING = ("seconds", "samples_per_s")


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_spiral.yaml"
    path.write_text(SPIRAL)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def untimed(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def final_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(run_dir).arrays


def test_run_folder_holds_spec_lock_metrics_checkpoints_and_curves(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(spec_file, out=out, overrides=["train.checkpoint.keep=2"], quiet=True)
    assert result.run_dir == out
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints",
        "curves.png",
        "lock.json",
        "metrics.csv",
        "spec.yaml",
    ]

    rows = read_csv(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == list(METRIC_COLUMNS)
    assert rows[0]["val_loss"] == ""  # no validation split
    for row, hist in zip(rows, result.history, strict=True):
        assert float(row["test_accuracy"]) == hist["test_accuracy"]  # exact: repr round-trips
        assert float(row["train_loss"]) == hist["train_loss"]
    assert result.metrics == result.history[-1]
    assert result.metrics["test_accuracy"] > 0.5

    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["epoch-0003.json", "epoch-0004.json"]
    assert result.checkpoint == out / "checkpoints" / "epoch-0004.json"
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    resolved = load_spec(out / "spec.yaml")
    assert resolved.train.checkpoint.keep == 2  # the override is part of the resolved spec
    assert resolved == load_spec(spec_file, overrides=["train.checkpoint.keep=2"])

    lock = json.loads((out / "lock.json").read_text())
    assert lock["seed"] == 0
    assert lock["overrides"] == ["train.checkpoint.keep=2"]
    assert lock["spec_file"] == str(spec_file)
    assert lock["numpy"] == np.__version__
    assert lock["python"].count(".") == 2 and lock["layerkit"]
    builtins = next(p for p in lock["plugins"] if p["name"] == "builtins")
    assert builtins["distribution"] == "layerkit"
    used = {(c["group"], c["name"]): c["distribution"] for c in lock["components"]}
    assert used[("layers", "Dropout")] == "layerkit" and used[("optimizers", "Adam")] == "layerkit"
    assert "command" in lock and lock["resumes"] == []


def test_same_spec_and_seed_give_bitwise_identical_metrics_and_weights(
    spec_file: Path, tmp_path: Path
) -> None:
    a = train(spec_file, out=tmp_path / "a", quiet=True)
    b = train(spec_file, out=tmp_path / "b", quiet=True)
    assert untimed(a.history) == untimed(b.history)
    wa, wb = final_arrays(a.run_dir), final_arrays(b.run_dir)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].tobytes() == wb[key].tobytes(), key
    # the seed matters: a different one gives different weights
    c = train(spec_file, out=tmp_path / "c", overrides=["seed=1"], quiet=True)
    assert final_arrays(c.run_dir)["params:fc1.W"].tobytes() != wa["params:fc1.W"].tobytes()


def test_a_spec_without_seed_gets_one_recorded(spec_file: Path, tmp_path: Path) -> None:
    result = train(spec_file, out=tmp_path / "r", overrides=["seed=null", "train.epochs=1"], quiet=True)
    seed = load_spec(result.run_dir / "spec.yaml").seed
    assert isinstance(seed, int)
    assert json.loads((result.run_dir / "lock.json").read_text())["seed"] == seed


class _RaiseLrAt(Callback):
    """Make the run diverge from epoch ``epoch`` on, recording the checkpoint files first."""

    def __init__(self, epoch: int) -> None:
        self.at = epoch
        self.hashes: dict[str, str] = {}

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if epoch == self.at:
            directory = next(cb.directory for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint))
            self.hashes = {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            }
            trainer.optimizer.lr = 1e30


def test_divergence_stops_at_the_step_names_the_layer_and_keeps_the_last_checkpoint(
    spec_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    spy = _RaiseLrAt(2)
    with pytest.raises(
        RunFailed,
        match=r"training diverged at epoch 3, step (\d+) \(batch \d+ of 10\): .*layer fc\d \(Affine\)",
    ) as info:
        train(
            spec_file,
            out=out,
            overrides=["train.optimizer.type=SGD", "train.optimizer.lr=0.1"],
            quiet=True,
            callbacks=[spy],
        )
    message = str(info.value)
    assert info.value.exit_code == 1
    assert "the last good checkpoint, checkpoints/epoch-0002, which is kept" in message
    step = int(message.split("step ")[1].split(" ")[0])
    assert 20 < step <= 30  # 10 steps per epoch: the failing step is in epoch 3
    # the checkpoints are byte for byte what they were before the epoch that diverged
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "checkpoints").iterdir())
    }
    assert after == spy.hashes
    ckpt = latest_checkpoint(out)
    assert ckpt.epoch == 2 and all(np.isfinite(a).all() for a in ckpt.arrays.values())
    assert len(read_csv(out / "metrics.csv")) == 2


def test_early_stopping_ends_the_run_and_checkpoints_the_last_epoch(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(
        spec_file,
        out=out,
        overrides=[
            "train.epochs=10",
            "train.checkpoint.every=5",
            "train.early_stopping={metric: train_loss, patience: 2, min_delta: 100}",
        ],
        quiet=True,
    )
    # epoch 1 sets the best; epochs 2 and 3 cannot improve by 100
    assert len(result.history) == 3
    assert result.stop_reason is not None and "train_loss did not improve for 2 epochs" in result.stop_reason
    assert latest_checkpoint(out).epoch == 3
    assert len(read_csv(out / "metrics.csv")) == 3
    # resuming a stopped run trains nothing more
    again = train(resume=out, quiet=True)
    assert untimed(again.history) == untimed(result.history)


def test_validation_split_adds_val_metrics_and_can_be_monitored(spec_file: Path, tmp_path: Path) -> None:
    result = train(
        spec_file,
        out=tmp_path / "run",
        overrides=["train.validation_split=0.2", "train.early_stopping={metric: val_accuracy, patience: 3}"],
        quiet=True,
    )
    row = result.history[-1]
    assert 0 <= row["val_accuracy"] <= 1 and row["val_loss"] > 0
    # 300 samples, 60 held out: 240 / 32 -> 8 batches per epoch
    assert load_checkpoint(result.run_dir).step == 8 * len(result.history)


def test_schedule_sets_the_learning_rate_per_epoch(spec_file: Path, tmp_path: Path) -> None:
    result = train(
        spec_file,
        out=tmp_path / "run",
        overrides=["train.schedule={type: step, step_size: 2, gamma: 0.5}"],
        quiet=True,
    )
    assert [row["lr"] for row in result.history] == pytest.approx([0.02, 0.02, 0.01, 0.01], rel=1e-15)


def test_progress_is_one_line_per_epoch_when_not_a_terminal(spec_file: Path, tmp_path: Path) -> None:
    stream = io.StringIO()
    train(spec_file, out=tmp_path / "run", quiet=False, stream=stream)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("test_acc" in line and "samples/s" in line for line in lines)


def test_quiet_prints_nothing(spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train(spec_file, out=tmp_path / "run", quiet=True)
    assert capsys.readouterr() == ("", "")


def test_an_out_dir_holding_a_run_is_refused(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(spec_file, out=out, overrides=["train.epochs=1"], quiet=True)
    with pytest.raises(ConfigError, match=r"already holds a run .*--resume"):
        train(spec_file, out=out, quiet=True)


def test_default_run_folder_is_runs_name_timestamp(spec_file: Path, tmp_path: Path) -> None:
    first = train(spec_file, runs_dir=tmp_path / "runs", overrides=["train.epochs=1"], quiet=True)
    second = train(spec_file, runs_dir=tmp_path / "runs", overrides=["train.epochs=1"], quiet=True)
    assert first.run_dir.parent == second.run_dir.parent == tmp_path / "runs" / "tiny_spiral"
    assert first.run_dir != second.run_dir  # same second: a suffix keeps them apart


def test_train_accepts_a_mapping(tmp_path: Path) -> None:
    import yaml

    spec = yaml.safe_load(SPIRAL)
    result = train(spec, out=tmp_path / "run", overrides=["train.epochs=1"], quiet=True)
    assert len(result.history) == 1


def test_threads_limits_the_blas_and_is_recorded(spec_file: Path, tmp_path: Path) -> None:
    from threadpoolctl import threadpool_info

    before = [info["num_threads"] for info in threadpool_info()]
    result = train(spec_file, out=tmp_path / "run", overrides=["train.epochs=1"], threads=1, quiet=True)
    lock = json.loads((result.run_dir / "lock.json").read_text())
    assert lock["blas"] and all(info["num_threads"] == 1 for info in lock["blas"])
    assert [info["num_threads"] for info in threadpool_info()] == before  # restored afterwards
    with pytest.raises(ConfigError, match=r"threads: must be >= 1 \(received 0\)"):
        train(spec_file, out=tmp_path / "other", threads=0)
