"""The same spiral sweep on Dask: a real scheduler and 2 workers started here, on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import layerkit
from sweep_support import (
    SPIRAL,
    SPIRAL_SWEEP,
    maths,
    raw_records,
    serial_metrics,
    start_layerkit,
    wait_for,
)

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

pytestmark = pytest.mark.timeout(300)


def _dask(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    # the console script of the `dask` package, run by this interpreter
    code = "import sys; from dask.__main__ import main; sys.argv[0] = 'dask'; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-threaded workers (with nannies)."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    scheduler_file = folder / "scheduler.json"
    procs = [
        _dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
            cwd=folder,
        )
    ]
    try:
        wait_for(scheduler_file.exists, timeout=60, what="the scheduler file")
        address = wait_for(
            lambda: _address(scheduler_file), timeout=30, what="the scheduler address"
        )
        for name in ("w1", "w2"):
            procs.append(
                _dask(
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--name",
                    name,
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    cwd=folder,
                )
            )
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        try:  # the quick way down: the scheduler tells its workers to close
            with distributed.Client(scheduler_file=str(scheduler_file), timeout=10) as client:
                client.shutdown()
        except Exception:  # noqa: BLE001 - a cluster that never came up; terminate below
            pass
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _address(scheduler_file: Path) -> str | None:
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (ValueError, KeyError):
        return None


def test_sweep_on_a_dask_cluster_survives_a_killed_worker(tmp_path: Path, scheduler: str) -> None:
    out = tmp_path / "sweep"
    driver = start_layerkit(
        "sweep",
        str(SPIRAL),
        *SPIRAL_SWEEP,
        "--set",
        "train.epochs=25",
        "--executor",
        "dask",
        "--scheduler",
        scheduler,
        "--out",
        str(out),
        "--json",
    )
    try:

        def training_attempt() -> dict | None:
            for attempt in sorted((out / ".attempts").glob("*/metrics.csv")):
                return json.loads((attempt.parent / "attempt.json").read_text())
            return None

        victim = wait_for(training_attempt, what="a trial in training")
        os.kill(victim["pid"], signal.SIGKILL)  # the worker process; its nanny starts a new one
        stdout, _ = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, stdout
    assert f"dask at {scheduler}" in stdout
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["succeeded"] == summary["trials"] == 6

    records = raw_records(out)
    assert len(records) == 6 and len({r["id"] for r in records}) == 6
    by_id = {r["id"]: r for r in records}
    assert by_id[victim["id"]]["status"] == "ok" and by_id[victim["id"]]["attempts"] >= 2
    assert not any((out / ".attempts").iterdir())
    assert {r["id"]: maths(r["metrics"]) for r in records} == serial_metrics(
        out, tmp_path / "serial"
    )


def test_dask_local_cluster_when_no_scheduler_is_given(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = layerkit(
        "sweep",
        str(SPIRAL),
        "--grid",
        "train.optimizer.lr=0.01,0.003",
        "--set",
        "train.epochs=2",
        "--threads",
        "1",
        "--executor",
        "dask",
        "--workers",
        "2",
        "--out",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(local cluster, 2 worker threads)" in done.stderr  # human text: stderr under --json
    records = raw_records(out)
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    assert {r["id"]: maths(r["metrics"]) for r in records} == serial_metrics(
        out, tmp_path / "serial"
    )


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    done = layerkit(
        "sweep",
        str(SPIRAL),
        "--grid",
        "train.optimizer.lr=0.01",
        "--executor",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--out",
        str(tmp_path / "out"),
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert done.returncode == 2
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()
