"""Resume: a run killed with SIGKILL mid-epoch, then resumed, ends bitwise identical (real processes)."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import layerkit

from layerkit.training.checkpoint import load_checkpoint

SPEC = """\
name: resume_spiral
seed: 7
data: {dataset: spiral, points_per_class: 120}
model:
  layers:
    - {type: Affine, id: fc1, units: 32, init: he}
    - {type: Relu}
    - {type: Dropout, rate: 0.2}
    - {type: Affine, id: fc2, units: 3}
    - {type: SoftmaxWithLoss}
train:
  epochs: 5
  batch_size: 16
  optimizer: {type: Adam, lr: 0.01}
  validation_split: 0.1
  early_stopping: {metric: val_loss, patience: 50}
"""

# Every augmentation draws from the run's augmentation generator: resuming must restore it too.
AUGMENTED_SPEC = """\
name: resume_augmented
seed: 11
data:
  dataset: fashion_mnist
  train_size: 320
  test_size: 100
  augment:
    - {type: random_shift, pixels: 2}
    - {type: hflip, p: 0.5}
    - {type: random_erasing, p: 0.5}
model:
  layers:
    - {type: Conv2D, id: conv, filters: 4, kernel_size: 3, padding: 1}
    - {type: Relu}
    - {type: MaxPool2D, pool_size: 2}
    - {type: Affine, id: fc, units: 10}
    - {type: SoftmaxWithLoss}
train:
  epochs: 5
  batch_size: 32
  optimizer: {type: Adam, lr: 0.01}
"""

# A real SIGKILL from inside the run: at batch 3 of the third epoch, after two checkpoints.
KILLED_RUN = """\
import os, signal, sys
from layerkit.run import train
from layerkit.training import Callback

class KillMidEpoch(Callback):
    def on_batch_end(self, trainer, batch, loss):
        if trainer.epoch == 2 and batch == 3:
            os.kill(os.getpid(), signal.SIGKILL)

train(sys.argv[1], out=sys.argv[2], quiet=True, callbacks=[KillMidEpoch()])
"""

TIMING = {"seconds", "samples_per_s"}


def untimed_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


def assert_same_final_state(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.epoch == cb.epoch and ca.step == cb.step
    assert ca.arrays.keys() == cb.arrays.keys()
    for key in ca.arrays:  # weights, optimizer moments
        assert ca.arrays[key].tobytes() == cb.arrays[key].tobytes(), key
    assert ca.manifest["rng"] == cb.manifest["rng"]
    assert ca.manifest["callbacks"] == cb.manifest["callbacks"]
    assert untimed_rows(a) == untimed_rows(b)


def train_reference(root: Path, spec: str) -> Path:
    """The uninterrupted run of ``spec``."""
    (root / "spec.yaml").write_text(spec)
    done = layerkit("train", "spec.yaml", "--out", "ref", "--quiet", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "ref"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run, trained once for the module."""
    return train_reference(tmp_path_factory.mktemp("reference"), SPEC)


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(
    reference: Path, tmp_path: Path
) -> None:
    kill_and_resume(SPEC, reference, tmp_path)


def test_an_augmented_run_resumes_bitwise_identical(tmp_path: Path) -> None:
    reference = train_reference(tmp_path, AUGMENTED_SPEC)
    killed = tmp_path / "killed"
    killed.mkdir()
    kill_and_resume(AUGMENTED_SPEC, reference, killed)
    manifest = load_checkpoint(reference).manifest
    assert manifest["rng"]["augment"] is not None  # the augmentation stream is checkpointed


def kill_and_resume(spec: str, reference: Path, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(spec)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, "spec.yaml", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert load_checkpoint(tmp_path / "run").epoch == 2
    assert len(untimed_rows(tmp_path / "run")) == 2

    resumed = layerkit("train", "--resume", "run", "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert final["ok"] and final["epoch"] == 5 and final["epochs"] == 5
    assert [line.split()[1] for line in resumed.stderr.splitlines()] == ["3/5", "4/5", "5/5"]
    assert_same_final_state(reference, tmp_path / "run")
    lock = json.loads((tmp_path / "run" / "lock.json").read_text())
    assert [r["from_epoch"] for r in lock["resumes"]] == [2]


def test_resume_falls_back_past_a_truncated_latest_checkpoint(
    reference: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    latest = run / "checkpoints" / "epoch-0005.npz"
    with latest.open("r+b") as fh:
        fh.truncate(100)
    resumed = layerkit("train", "--resume", str(run), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "layerkit train: warning:" in resumed.stderr
    assert "epoch-0005.npz: corrupt or truncated" in resumed.stderr
    assert "falling back to the previous checkpoint" in resumed.stderr
    # epoch 5 is trained again from epoch 4's state and comes out the same
    assert_same_final_state(reference, run)


def test_resume_with_a_spec_or_overrides_is_refused(reference: Path, tmp_path: Path) -> None:
    done = layerkit("train", "spec.yaml", "--resume", str(reference), cwd=tmp_path)
    assert done.returncode == 2
    assert "a resumed run continues with its own spec and folder" in done.stderr
    missing = layerkit("train", "--resume", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such run folder" in missing.stderr
