"""The Trainer through the Python API (no spec), and the progress bar on a real terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerkit import Affine, Network, Relu, SoftmaxWithLoss
from layerkit.data import Spiral
from layerkit.errors import ConfigError, RunFailed
from layerkit.layers.base import Layer
from layerkit.optimizers import SGD, Momentum
from layerkit.training.callbacks import Callback
from layerkit.training.config import TrainConfig
from layerkit.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


class ScaleThenNaN(Layer):
    """Multiplies by a learnt scalar; its gradient turns NaN on the ``fail_at``-th backward."""

    def __init__(self, *, fail_at: int, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fail_at = fail_at
        self.calls = 0

    def create_params(self, input_shape: Any, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        return {"s": np.ones(1, dtype=dtype)}

    def forward(self, x: np.ndarray, *, train: bool = False) -> np.ndarray:
        self._x = x
        return x * self.params["s"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.grads["s"][...] = np.nan if self.calls == self.fail_at else np.sum(dout * self._x)
        return dout * self.params["s"]


def spiral_net(*extra: Layer) -> Network:
    return Network(
        [Affine(units=16, init="he"), Relu(), *extra, Affine(units=3), SoftmaxWithLoss()],
        input_shape=(2,),
        seed=0,
    )


def test_a_non_finite_gradient_stops_at_that_step_and_names_the_layer() -> None:
    data = Spiral(points_per_class=50).load()  # 150 samples: 5 batches of 30 per epoch
    net = spiral_net(ScaleThenNaN(fail_at=7, id="scale"))
    trainer = Trainer(net, SGD(lr=0.1), TrainConfig(epochs=3, batch_size=30), data, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(
        RunFailed,
        match=r"epoch 2, step 7 \(batch 2 of 5\): a non-finite gradient in layer scale \(ScaleThenNaN\) \(scale\.s\)",
    ):
        trainer.fit()
    assert trainer.step == 6  # the failing update was not applied
    assert all(np.isfinite(v).all() for v in net.params.values())
    assert any(not np.array_equal(before[k], v) for k, v in net.params.items())


def test_history_has_every_metric_and_callbacks_see_each_epoch() -> None:
    data = Spiral(points_per_class=50).load()
    seen: list[tuple[str, int]] = []

    class Spy(Callback):
        def on_train_begin(self, trainer: Trainer) -> None:
            seen.append(("begin", trainer.epochs_done))

        def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: Any) -> None:
            seen.append(("epoch", metrics["epoch"]))

        def on_train_end(self, trainer: Trainer) -> None:
            seen.append(("end", trainer.step))

    trainer = Trainer(
        spiral_net(),
        Momentum(lr=0.05),
        TrainConfig(epochs=2, batch_size=40),
        data,
        seed=3,
        callbacks=[Spy()],
    )
    history = trainer.fit()
    assert seen == [("begin", 0), ("epoch", 1), ("epoch", 2), ("end", 8)]
    row = history[-1]
    assert set(row) == {
        "epoch",
        "lr",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "seconds",
        "samples_per_s",
    }
    assert row["val_loss"] is None and 0 <= row["test_accuracy"] <= 1 and row["samples_per_s"] > 0
    # test metrics are those of the network as it ends the epoch
    assert trainer.evaluate("test") == (row["test_loss"], row["test_accuracy"])
    assert (
        trainer.network.accuracy(data["test"].x.astype(np.float32), data["test"].y)
        == row["test_accuracy"]
    )


def test_only_callbacks_that_override_on_batch_end_are_called_per_step() -> None:
    class EpochOnly(Callback):
        def on_batch_end(self, trainer: Any, batch: int, loss: float) -> None:  # pragma: no cover
            raise AssertionError("not expected")

    class Counter(Callback):
        calls = 0

        def on_batch_end(self, trainer: Any, batch: int, loss: float) -> None:
            Counter.calls += 1

    assert Counter.wants_batches() and not Callback.wants_batches()
    data = Spiral(points_per_class=20).load()
    Trainer(
        spiral_net(),
        SGD(lr=0.1),
        TrainConfig(epochs=2, batch_size=20),
        data,
        seed=0,
        callbacks=[Counter()],
    ).fit()
    assert Counter.calls == 6


def test_validation_split_that_leaves_nothing_is_an_error() -> None:
    data = Spiral(points_per_class=1).load()  # 3 samples
    with pytest.raises(
        ConfigError, match=r"validation_split: 0\.1 of 3 training samples leaves 0 for validation"
    ):
        Trainer(spiral_net(), SGD(), TrainConfig(validation_split=0.1), data, seed=0)


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a real pseudo-terminal a tqdm bar runs per epoch and leaves the epoch's metrics line.

    80 columns: the kept line must not be cut at the terminal width (it once lost test_acc).
    """
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "layerkit",
            "train",
            str(ROOT / "model_specs" / "spiral.yaml"),
            "--set",
            "train.epochs=3",
            "--out",
            "run",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "80"},
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    stdout = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0
    screen = b"".join(chunks).decode(errors="replace")
    for epoch in (1, 2, 3):
        assert re.search(
            rf"epoch {epoch}/3  loss \S+  acc \S+  test_acc \S+  \S+  [\d,]+ samples/s", screen
        )
    assert "\r" in screen and "batch/s" in screen
    assert "test accuracy" in stdout
