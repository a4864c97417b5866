"""Callbacks as registered components: spec validation, listing, schema, the tensorboard event
files read back by TensorBoard's own reader, and a raising plugin callback reported once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_plugins_dists import layerkit, write_dist

from layerkit.errors import SpecError
from layerkit.spec import loads_spec, spec_schema
from layerkit.training import Callback
from layerkit.training.checkpoint import list_checkpoints

SPEC = """\
name: cb_spiral
seed: 0
data: {{dataset: spiral, points_per_class: 60}}
model:
  layers:
    - {{type: Affine, id: fc1, units: 16, init: he}}
    - {{type: Relu}}
    - {{type: Affine, id: fc2, units: 3}}
    - {{type: SoftmaxWithLoss}}
train:
  epochs: 3
  batch_size: 30
  optimizer: {{type: Adam, lr: 0.02}}
  callbacks:
{callbacks}
"""


def spec_text(*entries: str) -> str:
    return SPEC.format(callbacks="".join(f"    - {e}\n" for e in entries))


def test_callback_entries_are_validated_with_locations() -> None:
    text = spec_text("{type: tensorbord}", "{type: tensorboard, histogram_freq: -1, colour: red}")
    with pytest.raises(SpecError) as caught:
        loads_spec(text, filename="cb.yaml")
    lines = str(caught.value).splitlines()
    assert any(
        line.startswith("cb.yaml:15:")
        and "train.callbacks[0].type" in line
        and "did you mean 'tensorboard'" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("cb.yaml:16:") and "train.callbacks[1].histogram_freq" in line
        for line in lines
    ), lines
    assert any("train.callbacks[1].colour: unknown key" in line for line in lines), lines


def test_resolved_spec_fills_callback_defaults() -> None:
    spec = loads_spec(spec_text("{type: tensorboard}"), filename="cb.yaml")
    assert spec.train.callbacks == [
        {
            "type": "tensorboard",
            "log_dir": None,
            "histogram_freq": 1,
            "update_freq": "epoch",
            "write_spec": True,
        }
    ]
    assert loads_spec(spec.to_yaml()) == spec


def test_schema_describes_every_callback_field() -> None:
    schema = spec_schema()
    defs = schema["$defs"]
    train = defs["TrainConfig"]["properties"]["callbacks"]
    assert train["description"]
    board = defs["TensorboardCallback"]
    assert "tensorboard" in board["properties"]["type"]["enum"]
    for name, prop in board["properties"].items():
        assert prop.get("description"), name


def test_layers_lists_callbacks_with_provenance() -> None:
    result = layerkit(None, "layers", "--kind", "callback", "--json")
    assert result.returncode == 0, result.stderr
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)["components"]}
    assert listed["tensorboard"]["distribution"] == "layerkit"
    assert listed["tensorboard"]["kind"] == "callback"


def test_tensorboard_event_files_read_back_by_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from layerkit.run import train

    spec = tmp_path / "cb.yaml"
    spec.write_text(spec_text("{type: tensorboard, update_freq: 2}"))
    result = train(spec, out=tmp_path / "run", quiet=True, plot=False)
    logs = result.run_dir / "tensorboard"

    def load(split: str) -> EventAccumulator:
        return EventAccumulator(
            str(logs / split), size_guidance={"histograms": 0, "scalars": 0, "tensors": 0}
        ).Reload()

    train_events, test_events = load("train"), load("test")
    losses = train_events.Scalars("epoch_loss")
    assert [e.step for e in losses] == [1, 2, 3]
    assert [e.value for e in losses] == pytest.approx(
        [row["train_loss"] for row in result.history], rel=1e-6
    )
    assert [e.value for e in test_events.Scalars("epoch_accuracy")] == pytest.approx(
        [row["test_accuracy"] for row in result.history], rel=1e-6
    )
    assert len(train_events.Scalars("epoch_learning_rate")) == 3
    histograms = train_events.Tags()["histograms"]
    assert {"weights/fc1.W", "gradients/fc1.W", "weights/fc2.b"} <= set(histograms)
    last = train_events.Histograms("weights/fc1.W")[-1]
    assert last.step == 3 and last.histogram_value.num == 2 * 16
    texts = train_events.Tags()["tensors"]
    assert "spec/text_summary" in texts
    spec_text_value = (
        train_events.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    )
    assert "name: cb_spiral" in spec_text_value
    batch = load("batch").Scalars("batch_loss")
    assert [e.step for e in batch] == list(range(2, 19, 2))  # 6 steps per epoch, every 2nd


FLAKY = '''
from pydantic import BaseModel
from layerkit import hookimpl
from layerkit.training.callbacks import RegisteredCallback


class Flaky(RegisteredCallback):
    """Raises at the end of epoch 2."""

    name = "flaky"

    class Params(BaseModel):
        pass

    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch == 1:
            raise RuntimeError("the tracking server went away")


@hookimpl
def layerkit_add_callbacks():
    return [Flaky]
'''


def train_with_flaky(tmp_path: Path, *options: str) -> tuple[Any, Path]:
    """Train with the throwaway distribution layerkit-flaky 2.5 installed; returns the process and run."""
    site = tmp_path / "site"
    write_dist(site, "layerkit-flaky", {"flaky": "flaky_cb"}, {"flaky_cb": FLAKY}, version="2.5")
    spec = tmp_path / "cb.yaml"
    spec.write_text(spec_text("{type: flaky}"))
    run = tmp_path / "run"
    return layerkit(site, *options, "train", str(spec), "--out", str(run), "--no-plot"), run


def test_a_raising_callback_is_reported_once_and_the_run_goes_on(tmp_path: Path) -> None:
    result, run = train_with_flaky(tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert "callback 'flaky' (plugin 'flaky', layerkit-flaky 2.5)" in warnings[0]
    assert (
        "on_epoch_end, epoch 2" in warnings[0]
        and "RuntimeError: the tracking server went away" in warnings[0]
    )
    assert len((run / "metrics.csv").read_text().splitlines()) == 4  # header + 3 epochs
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "epoch-0003.json"


def test_strict_plugins_make_a_raising_callback_fatal_and_keep_the_checkpoint(
    tmp_path: Path,
) -> None:
    result, run = train_with_flaky(tmp_path, "--strict-plugins")
    assert result.returncode == 1, result.stderr
    assert (
        "callback 'flaky' (plugin 'flaky', layerkit-flaky 2.5) raised in on_epoch_end, epoch 2"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    # the epoch was saved before the callback ran; resume goes on from there
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "epoch-0002.json"
    assert "epoch-0002" in result.stderr


class InterruptAt(Callback):
    """Ctrl-C as epoch ``epoch`` (0-based) begins."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_resumed_run_shows_each_epoch_once_in_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from layerkit.run import train

    spec = tmp_path / "cb.yaml"
    spec.write_text(
        spec_text("{type: tensorboard, histogram_freq: 0}").replace("epochs: 3", "epochs: 4")
        + "  checkpoint: {every: 2}\n"
    )
    with pytest.raises(
        KeyboardInterrupt
    ):  # after epoch 3 was logged; the last checkpoint is epoch 2's
        train(spec, out=tmp_path / "run", quiet=True, plot=False, callbacks=[InterruptAt(3)])
    result = train(resume=tmp_path / "run", quiet=True, plot=False)
    events = EventAccumulator(str(result.run_dir / "tensorboard" / "train")).Reload()
    losses = events.Scalars("epoch_loss")
    assert [e.step for e in losses] == [1, 2, 3, 4]
    assert [e.value for e in losses] == pytest.approx(
        [row["train_loss"] for row in result.history], rel=1e-6
    )
