"""The sweep driver, executors and results log, with a cheap trial body in real worker processes.

The body stands in for training (which has its own tests) so these tests exercise what the
sweep machinery promises: commits, retries after worker death, failures that do not stall the
sweep, resume, duplicate-free results. Bodies are module-level so spawned workers import them.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from layerkit.errors import LayerkitError
from layerkit.sweep.executor import LocalExecutor, Outcome
from layerkit.sweep.report import print_progress, write_report
from layerkit.sweep.runner import RESULTS, SweepPlan, Trial, load_plan, run_sweep
from layerkit.sweep.store import ResultsLog
from layerkit.sweep.trial import TrialTask


def fake_body(task: TrialTask, out: Path) -> dict[str, Any]:
    """Deterministic metrics from the swept values; ``act`` picks a misbehaviour."""
    act = task.params.get("act", "ok")
    marker = Path(task.sweep_dir) / f"{task.id}.tried"
    first = not marker.exists()
    marker.touch()
    if act == "raise":
        raise ValueError(f"bad trial {task.id}")
    if act == "die_once" and first or act == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(task.params.get("sleep", 0.0)))
    from threadpoolctl import threadpool_info

    (out / "metrics.csv").write_text("epoch,test_accuracy\n1,0.5\n")
    x = float(task.params.get("x", 0.0))
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return {
        "test_accuracy": 1.0 / (1.0 + (x - 3.0) ** 2),
        "blas_threads": max(blas, default=0),
        "pid": os.getpid(),
    }


def make_plan(*params: dict[str, Any], name: str = "fake") -> SweepPlan:
    trials = tuple(
        Trial(
            id=f"t{i:02d}",
            params=dict(p),
            overrides=tuple(f"{k}={v}" for k, v in p.items()),
            spec="{}\n",
        )
        for i, p in enumerate(params)
    )
    return SweepPlan(name=name, trials=trials, metric="test_accuracy", mode="max")


def raw_ids(sweep_dir: Path) -> list[str]:
    return [
        json.loads(line)["id"]
        for line in (sweep_dir / RESULTS).read_text().splitlines()
        if line.strip()
    ]


def test_local_sweep_commits_every_trial_once_and_ranks_them(tmp_path: Path) -> None:
    plan = make_plan(*({"x": float(x)} for x in range(6)))
    seen: list[tuple[str, int, int]] = []
    with LocalExecutor(2) as executor:
        result = run_sweep(
            plan,
            tmp_path,
            executor,
            body=fake_body,
            progress=lambda r, d, t: seen.append((r["id"], d, t)),
        )
    assert sorted(raw_ids(tmp_path)) == [t.id for t in plan.trials]
    assert [d for _, d, _ in seen] == [1, 2, 3, 4, 5, 6] and {t for *_, t in seen} == {6}
    assert [r["id"] for r in result.ranked()][:1] == ["t03"] and result.best["id"] == "t03"
    for record in result.records:
        assert record["status"] == "ok" and record["attempts"] == 1
        # each trial's folder is moved into trials/<id>/, and nothing is left in .attempts
        assert (tmp_path / record["run_dir"] / "metrics.csv").is_file()
        # 2 workers on the 2 cores here: one BLAS thread each
        assert record["metrics"]["blas_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)
    assert list((tmp_path / ".attempts").iterdir()) == []
    assert (
        len({r["metrics"]["pid"] for r in result.records}) == 2
    )  # two worker processes shared the work
    paths = write_report(result)
    lines = paths["summary"].read_text().splitlines()
    assert lines[0].startswith("rank,id,status,x,test_accuracy") and lines[1].startswith(
        "1,t03,ok,3.0,1.0"
    )
    assert paths["plot"] is not None and paths["plot"].stat().st_size > 0
    line = io.StringIO()
    print_progress(result.records[1], 2, 6, metric="test_accuracy", stream=line)
    assert re.fullmatch(r"\[2/6\] t01  x=1  test_accuracy=0\.2 \(\d+\.\ds\)\n", line.getvalue())


def test_a_raising_trial_fails_without_retry_and_a_dying_worker_is_retried(tmp_path: Path) -> None:
    plan = make_plan(
        {"x": 1.0, "act": "raise"},
        {"x": 2.0, "act": "die_once"},
        {"x": 3.0, "act": "die"},
        {"x": 4.0},
    )
    with LocalExecutor(2) as executor:
        result = run_sweep(plan, tmp_path, executor, body=fake_body)
    records = {r["id"]: r for r in result.records}
    assert records["t00"]["status"] == "failed" and records["t00"]["attempts"] == 1
    assert "ValueError: bad trial t00" in records["t00"]["error"]
    assert "Traceback" in (tmp_path / "trials/t00/error.txt").read_text()
    assert records["t01"]["status"] == "ok" and records["t01"]["attempts"] == 2
    assert records["t02"]["status"] == "failed" and records["t02"]["attempts"] == 4  # 1 + 3 retries
    assert records["t02"]["error"] == "worker died (killed by SIGKILL) on each of 4 attempt(s)"
    assert records["t03"]["status"] == "ok" and records["t03"]["attempts"] == 1
    assert sorted(raw_ids(tmp_path)) == ["t00", "t01", "t02", "t03"]
    assert result.best["id"] == "t01"  # failed trials rank last and never win


def test_resume_runs_only_uncommitted_trials(tmp_path: Path) -> None:
    plan = make_plan(*({"x": float(x)} for x in range(4)))
    log = ResultsLog(tmp_path / RESULTS)
    with LocalExecutor(2) as executor:
        run_sweep(plan, tmp_path, executor, body=fake_body)
        # a second run on the same folder must be an explicit resume
        with pytest.raises(LayerkitError, match="already holds a sweep; continue it with --resume"):
            run_sweep(plan, tmp_path, executor, body=fake_body)
        # forget two commits and tear the last line, as a driver killed mid-write would
        lines = (tmp_path / RESULTS).read_bytes().splitlines(keepends=True)
        (tmp_path / RESULTS).write_bytes(b"".join(lines[:2]) + lines[2][:10])
        committed = log.ids()
        assert len(committed) == 2
        result = run_sweep(load_plan(tmp_path), tmp_path, executor, body=fake_body, resume=True)
    assert len(result.records) == 4 and not result.missing
    # the torn fragment was cut off; every trial is committed exactly once
    assert sorted(raw_ids(tmp_path)) == ["t00", "t01", "t02", "t03"]
    reran = [i for i in log.ids() if i not in committed]
    assert len(reran) == 2


def test_results_log_ignores_duplicates_and_torn_lines(tmp_path: Path) -> None:
    log = ResultsLog(tmp_path / RESULTS)
    log.append({"id": "a", "v": 1})
    with open(log.path, "ab") as fh:
        fh.write(b'{"id": "b", "v"')  # torn
    log.append({"id": "a", "v": 2})
    log.append({"id": "c", "v": 3})
    with pytest.warns(
        UserWarning, match=r"results.jsonl:2: skipping a line that is not a trial record"
    ):
        assert log.records() == {"a": {"id": "a", "v": 1}, "c": {"id": "c", "v": 3}}
    assert log.path.read_bytes().count(b"\n") == 4
    with open(log.path, "ab") as fh:
        fh.write(b'{"id": "d"')  # torn again, at the end this time: skipped silently, then cut off
    with pytest.warns(UserWarning, match=r":2: skipping"):
        assert list(log.records()) == ["a", "c"]
    assert log.repair() and not log.repair()
    assert log.path.read_bytes().endswith(b'"v":3}\n')
    with pytest.raises(ValueError, match="needs a string 'id'"):
        log.append({"v": 4})


def test_closing_the_outcome_stream_stops_workers(tmp_path: Path) -> None:
    from functools import partial

    from layerkit.sweep.trial import run_trial

    tasks = [
        TrialTask(id=f"s{i}", spec="", sweep_dir=str(tmp_path), params={"sleep": 30.0})
        for i in range(3)
    ]
    tasks.insert(0, TrialTask(id="quick", spec="", sweep_dir=str(tmp_path)))
    executor = LocalExecutor(2)
    stream = executor.run(partial(run_trial, body=fake_body), tasks)
    started = time.monotonic()
    first: Outcome[TrialTask] = next(stream)
    assert first.task.id == "quick" and first.ok
    stream.close()  # Ctrl-C in the driver: the 30 s trials must not be waited for
    assert time.monotonic() - started < 20
