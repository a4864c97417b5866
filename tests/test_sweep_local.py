"""``layerkit sweep`` end to end on model_specs/spiral.yaml: real training in real worker processes."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import pytest
from cli_support import layerkit
from sweep_support import (
    SPIRAL,
    SPIRAL_SWEEP,
    maths,
    pid_alive,
    raw_records,
    serial_metrics,
    start_layerkit,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)


def test_local_sweep_of_six_trials(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = layerkit(
        "sweep",
        str(SPIRAL),
        *SPIRAL_SWEEP,
        "--set",
        "train.epochs=4",
        "--workers",
        "2",
        "--out",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)  # the whole of stdout
    assert (
        summary["ok"] and summary["trials"] == summary["succeeded"] == 6 and summary["failed"] == 0
    )

    records = raw_records(out)
    assert len(records) == 6 and len({r["id"] for r in records}) == 6
    assert {
        (r["params"]["train.optimizer.lr"], r["params"]["model.layers.fc1.units"]) for r in records
    } == {(lr, units) for lr in (0.01, 0.003) for units in (16, 32, 64)}
    for record in records:
        run = out / record["run_dir"]
        assert record["status"] == "ok" and record["attempts"] == 1
        assert (run / "spec.yaml").is_file() and len(
            (run / "metrics.csv").read_text().splitlines()
        ) == 1 + 4
        # the trial ran the overrides it was planned with
        assert (
            f"units: {record['params']['model.layers.fc1.units']}"
            in (run / "spec.yaml").read_text()
        )
    assert not any((out / ".attempts").iterdir())

    # ranked by test accuracy, best first, and the best trial is the reported one
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    accuracies = [float(r["test_accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert summary["best"]["id"] == rows[0]["id"]
    assert summary["best"]["metrics"]["test_accuracy"] == max(
        r["metrics"]["test_accuracy"] for r in records
    )
    assert (out / "sweep.png").stat().st_size > 0
    assert f"best: {rows[0]['id']}" in done.stderr  # human text: stderr under --json

    # runs compare: the sweep folder stands for its trials, best first, curves overlaid
    compare = layerkit(
        "runs", "compare", str(out), "--plot", str(tmp_path / "compare.png"), "--json"
    )
    assert compare.returncode == 0, compare.stderr
    listed = json.loads(compare.stdout.strip().splitlines()[-1])["runs"]
    assert [r["path"] for r in listed] == [str(out / f"trials/{row['id']}") for row in rows]
    assert all(r["epochs"] == 4 for r in listed)
    assert (tmp_path / "compare.png").stat().st_size > 0


def test_invalid_trials_are_reported_up_front_and_nothing_runs(tmp_path: Path) -> None:
    sweep_file = tmp_path / "units.yaml"
    sweep_file.write_text(
        "sweep:\n"
        f"  base: {SPIRAL}\n"
        "  grid:\n"
        "    model.layers.fc1.units: [16, 0, -3]\n"
        "    train.optimizer.lr: [0.01]\n"
    )
    done = layerkit("sweep", str(sweep_file), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "layerkit sweep: error: 2 of 3 trials are invalid; nothing was run"
    assert lines[1].startswith("trial 2 (model.layers.fc1.units=0 train.optimizer.lr=0.01): ")
    assert lines[1].endswith("model.layers[0].units: must be > 0 (received 0)")
    assert lines[2].startswith("trial 3 (model.layers.fc1.units=-3 train.optimizer.lr=0.01): ")
    assert not (tmp_path / "out").exists()


def test_worker_killed_then_driver_killed_then_resumed(tmp_path: Path) -> None:
    """Every trial ends up committed exactly once, with the metrics of a serial run."""
    out = tmp_path / "sweep"
    # 8 trials (a fourth width), enough that some are left when the driver dies
    driver = start_layerkit(
        "sweep",
        str(SPIRAL),
        *SPIRAL_SWEEP,
        "--grid",
        "model.layers.fc1.units=8,16,32,64",
        "--set",
        "train.epochs=25",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    try:
        # SIGKILL the worker of a trial that is training (it has written an epoch)
        def training_attempt() -> dict | None:
            for attempt in sorted((out / ".attempts").glob("*/metrics.csv")):
                info = json.loads((attempt.parent / "attempt.json").read_text())
                if info["id"] not in {r["id"] for r in raw_records(out)}:
                    return info
            return None

        victim = wait_for(training_attempt, what="a trial in training")
        os.kill(victim["pid"], signal.SIGKILL)
        # its retry goes ahead of the trials not started yet; once committed, kill the driver
        wait_for(
            lambda: victim["id"] in {r["id"] for r in raw_records(out)}, what="the retried trial"
        )
        driver.kill()
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    committed = raw_records(out)
    assert 1 <= len(committed) < 8, (
        "the sweep finished before its driver was killed; nothing left to resume"
    )
    assert next(r for r in committed if r["id"] == victim["id"])["attempts"] == 2
    # the dead driver's workers notice and exit rather than train for nobody
    wait_for(lambda: not pid_alive(victim["pid"]), timeout=10, what="orphaned workers to exit")

    resumed = layerkit("sweep", "--resume", str(out), "--workers", "2", "--threads", "1", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (
        f"8 trials, {len(committed)} already committed" in resumed.stderr
    )  # human text: stderr under --json

    records = raw_records(out)
    assert sorted(r["id"] for r in records) == sorted({r["id"] for r in records})  # no duplicates
    assert len(records) == 8 and all(r["status"] == "ok" for r in records)
    assert records[: len(committed)] == committed  # committed lines are never rewritten
    assert sorted(p.name for p in (out / "trials").iterdir()) == sorted(r["id"] for r in records)
    # bitwise the same as running each trial alone, one after another
    reference = serial_metrics(out, tmp_path / "serial")
    assert {r["id"]: maths(r["metrics"]) for r in records} == reference


def test_resume_and_out_misuse_are_clear_errors(tmp_path: Path) -> None:
    done = layerkit("sweep", str(SPIRAL), "--resume", str(tmp_path))
    assert done.returncode == 2
    assert (
        "--resume continues the sweep stored in" in done.stderr
        and "drop SWEEP_OR_SPEC" in done.stderr
    )
    # a zero is an option given too (sweep and tune refuse alike)
    done = layerkit("sweep", "--resume", str(tmp_path), "--seed", "0", "--samples", "0")
    assert done.returncode == 2 and "drop --samples, --seed" in done.stderr
    done = layerkit("sweep", "--resume", str(tmp_path))
    assert done.returncode == 2 and f"{tmp_path}: not a sweep folder (no sweep.json)" in done.stderr
    done = layerkit("sweep", str(SPIRAL))
    assert done.returncode == 2 and "nothing to sweep" in done.stderr
    done = layerkit("sweep", str(SPIRAL), "--random", "train.optimizer.lr=logunif(1,2)")
    assert (
        done.returncode == 2 and "expected uniform(LOW,HIGH), loguniform(LOW,HIGH)" in done.stderr
    )
    done = layerkit(
        "sweep", str(SPIRAL), "--grid", "train.optimizer.lr=0.1", "--metric", "test_acuracy"
    )
    assert (
        done.returncode == 2
        and "unknown metric 'test_acuracy'" in done.stderr
        and "test_accuracy" in done.stderr
    )
