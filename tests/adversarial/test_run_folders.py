"""Concurrent runs never mix, nothing is left half-written, and unfinished runs look unfinished."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from adversarial_support import SPEC, one_line_error
from cli_support import layerkit

from layerkit.fileio import CLAIM_FILE, FolderClaim


def _seed(path: Path) -> int:
    return int(json.loads(path.read_text())["spec"]["seed"])


def train_argv(spec_file: Path, out: Path, *extra: str) -> list[str]:
    """``layerkit train SPEC --out OUT ... --no-plot -q`` as a child process's argv."""
    argv = [sys.executable, "-m", "layerkit", "train", str(spec_file), "--out", str(out), *extra]
    return [*argv, "--no-plot", "-q"]


def test_two_trainings_into_the_same_out_never_interleave(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    # Three epochs each: long enough to overlap, short enough for the suite.
    procs = [
        subprocess.Popen(
            train_argv(spec_file, out, "--set", f"seed={seed}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (11, 22)
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    line = one_line_error(loser)
    assert "--out" in line and ("in use by process" in line or "already holds a run" in line)
    seeds = {_seed(p) for p in (out / "checkpoints").glob("epoch-*.json")}
    assert len(seeds) == 1
    assert f"seed: {seeds.pop()}" in (out / "spec.yaml").read_text()


def test_a_claimed_folder_names_the_process_holding_it(
    cli, spec_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    with FolderClaim(out).acquire({"pid": os.getpid(), "command": "layerkit train other.yaml"}):
        code, _, err = cli("train", spec_file, "--out", out, "--no-plot", "-q")
        assert code == 2
        line = one_line_error(err)
        assert f"process {os.getpid()}" in line and "other.yaml" in line
        code, _, err = cli("train", "--resume", out, "--no-plot", "-q")
        assert code == 2 and f"process {os.getpid()}" in one_line_error(err)
    assert not (out / "spec.yaml").exists()
    # released: the folder is free again
    code, _, err = cli("train", spec_file, "--out", out, "--no-plot", "-q")
    assert code == 0, err


def test_a_killed_run_releases_its_folder(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    slow = spec_file.read_text().replace("epochs: 3", "epochs: 100000")
    spec_file.write_text(slow)
    proc = subprocess.Popen(
        train_argv(spec_file, out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((out / "checkpoints").glob("epoch-*.json")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        assert FolderClaim.is_held(out)
    finally:
        proc.kill()
        proc.wait()
    assert not FolderClaim.is_held(out)
    result = layerkit("runs", "compare", out, "--no-plot", "--json")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout.splitlines()[-1])["runs"]
    assert run["status"] == "incomplete"


@pytest.mark.parametrize("out", ["", "   "])
def test_an_empty_out_is_refused(
    cli, spec_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, _, err = cli("train", spec_file, "--out", out)
    assert code == 2 and "--out" in one_line_error(err)
    assert sorted(os.listdir(tmp_path)) == before


def test_an_over_long_out_name_is_a_user_error_at_the_option(
    cli, spec_file: Path, tmp_path: Path
) -> None:
    code, _, err = cli("train", spec_file, "--out", tmp_path / ("x" * 300), "-q")
    assert code == 2 and "--out" in one_line_error(err)


def test_stale_temp_files_are_removed_on_resume(cli, run_copy: Path) -> None:
    ckpts = run_copy / "checkpoints"
    stale = [
        ckpts / ".epoch-0004.npz.k1ll3d.tmp",
        ckpts / ".epoch-0004.json.x.tmp",
        run_copy / ".metrics.csv.y.tmp",
    ]
    for path in stale:
        path.write_bytes(b"\0" * 1000)
    spec = run_copy / "spec.yaml"
    spec.write_text(spec.read_text())  # untouched: resume continues the same spec
    (ckpts / "epoch-0003.json").unlink()  # so there is an epoch left to train
    code, _, err = cli("train", "--resume", run_copy, "--no-plot", "-q")
    assert code == 0, err
    assert not [p for p in stale if p.exists()]


def _fill_disk_at(limit: int) -> None:  # runs in the child: files may grow to `limit` bytes
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then writes fail with EFBIG, like ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_names_the_file_and_how_to_resume(spec_file: Path, tmp_path: Path) -> None:
    # fc1 of 400 units: a checkpoint of ~1.3 MB, the limit lets the spec and metrics through
    spec_file.write_text(SPEC.replace("units: 8", "units: 400"))
    out = tmp_path / "full"
    result = subprocess.run(
        train_argv(spec_file, out),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _fill_disk_at(512 * 1024),
        check=False,
    )
    assert result.returncode == 1, result.stderr
    line = one_line_error(result.stderr)
    assert "epoch-0001.npz" in line and f"--resume {out}" in line
    assert not list((out / "checkpoints").glob(".*.tmp"))


def test_runs_compare_marks_diverged_and_unfinished_runs(
    cli, trained: Path, spec_file: Path, tmp_path: Path
) -> None:
    diverged = tmp_path / "diverged"
    code, _, err = cli(
        "train", spec_file, "--out", diverged, "--set", "train.optimizer.lr=1e30", "--no-plot", "-q"
    )
    assert code == 1, err
    never = tmp_path / "never"  # died before its first epoch ended
    never.mkdir()
    (never / "metrics.csv").write_text("epoch,train_loss,test_accuracy\n")
    (never / "status.json").write_text('{"status": "running", "epochs": 3}')
    code, out, err = cli("runs", "compare", trained, diverged, never, "--no-plot", "--json")
    assert code == 0, err
    status = {Path(r["path"]).name: r["status"] for r in json.loads(out)["runs"]}
    assert status == {"run": "finished", "diverged": "diverged", "never": "incomplete"}
    assert "did not finish" in err  # human text on stderr under --json


def test_runs_compare_draws_runs_with_absurd_metrics(cli, run_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    metrics = run_copy / "metrics.csv"
    lines = metrics.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("test_loss")] = "1e308"
    row[header.index("train_loss")] = "inf"
    metrics.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    plot = tmp_path / "compare.png"
    code, _, err = cli("runs", "compare", run_copy, "--plot", plot)
    assert code == 0, err
    assert plot.stat().st_size > 0


def test_a_claim_file_does_not_make_a_folder_a_run(cli, spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "left"
    out.mkdir()
    (out / CLAIM_FILE).write_text('{"pid": 1}')  # left by a process that ended
    code, _, err = cli("train", spec_file, "--out", out, "--no-plot", "-q")
    assert code == 0, err
    assert np.isfinite(json.loads((out / "status.json").read_text()).get("epochs", 0))
