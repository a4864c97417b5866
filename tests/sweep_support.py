"""Shared by the sweep tests: the spiral sweep they run, the CLI, and a serial reference run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPIRAL = ROOT / "model_specs" / "spiral.yaml"

#: 2 x 3 = 6 trials; few epochs and no per-epoch checkpoints keep each trial around a second.
SPIRAL_SWEEP = [
    "--grid",
    "train.optimizer.lr=0.01,0.003",
    "--grid",
    "model.layers.fc1.units=16,32,64",
    "--set",
    "train.checkpoint.every=1000",
    "--threads",
    "1",  # as the serial reference runs: same BLAS threads, same bits
]

#: Final metrics that depend on the clock, not on the maths.
TIMING = ("seconds", "samples_per_s")


def start_layerkit(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "layerkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )


def raw_records(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every line of results.jsonl (duplicates included: there must be none)."""
    path = sweep_dir / "results.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            pass
    return out


def wait_for(condition: Callable[[], Any], *, timeout: float = 120, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def maths(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def serial_metrics(sweep_dir: Path, scratch: Path) -> dict[str, dict[str, Any]]:
    """Run the sweep's trials one after another in this process, exactly as a worker would."""
    from layerkit.sweep.runner import load_plan
    from layerkit.sweep.trial import TrialTask, run_trial

    out = {}
    for trial in load_plan(sweep_dir).trials:
        task = TrialTask(
            id=trial.id, spec=trial.spec, sweep_dir=str(scratch), threads=1, params=trial.params
        )
        record = run_trial(task)
        assert record["status"] == "ok", record
        out[trial.id] = maths(record["metrics"])
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
