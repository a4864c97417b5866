"""Regressions found by using layerkit as a user would: each test is one bug that shipped once."""

from __future__ import annotations

import ast
import os
import re
import signal
import stat
import subprocess
import sys
import time
from importlib.metadata import packages_distributions
from pathlib import Path

import numpy as np
import pytest

from layerkit._table import render_table
from layerkit.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
SPIRAL = ROOT / "model_specs" / "spiral.yaml"


def _layerkit(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layerkit", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "[<>=!~ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def test_every_third_party_import_of_the_package_is_a_declared_dependency() -> None:
    """A fresh venv had no ``tabulate``: it was imported by the CLI but not in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        declared |= {_requirement_name(r) for r in extra}
    providers = packages_distributions()
    missing = {}
    for path in (ROOT / "layerkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "layerkit":
                    continue
                dists = {d.lower().replace("_", "-") for d in providers.get(top, [top])}
                # pydantic_core and annotated_types come with pydantic, which pins them
                if not dists & declared and top not in ("pydantic_core", "annotated_types"):
                    missing[top] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path: Path) -> None:
    """mkstemp made every run-folder file 0600: unreadable to the rest of a team or a CI artifact."""
    mask = os.umask(0o022)
    os.umask(mask)
    fresh = atomic_write_text(tmp_path / "new.txt", "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~mask
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write_text(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "new"


def test_tables_print_formatted_cells_as_given() -> None:
    """``runs compare`` printed an accuracy of 0.9900 as 0.99: tabulate re-parsed the text."""
    text = render_table(["id", "count", "accuracy"], [["123e45", 60000, "0.9900"], ["abc", 7, "0.9967"]])
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "COUNT", "ACCURACY"]
    assert lines[2].split() == ["123e45", "60,000", "0.9900"]
    assert lines[3].endswith("0.9967") and lines[2].endswith("0.9900")  # right-aligned numbers


def test_run_folder_files_are_readable_by_others(spiral_run: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("spec.yaml", "lock.json", "metrics.csv", "curves.png"):
        assert stat.S_IMODE((spiral_run / name).stat().st_mode) == 0o666 & ~mask, name


def test_predict_input_must_be_a_file(spiral_run: Path) -> None:
    """A directory as INPUT was reported as 'no such input file'."""
    (spiral_run.parent / "inputs").mkdir()
    for name, expected in [("inputs", "inputs: is a directory, not an input file"), ("nope.npy", "nope.npy: no such input file")]:
        done = _layerkit("predict", "run", name, cwd=spiral_run.parent)
        assert done.returncode == 2
        assert done.stderr == f"layerkit predict: error: {expected}\n"


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([[0.1, 0.2], [np.nan, 0.0]]), r"x\.npy: sample 1 holds NaN or infinite values"),
        (np.array([[1e300, 0.0]]), r"x\.npy: sample 0 holds NaN or infinite values \(or values beyond float32's range"),
        (np.zeros((0, 2), dtype=np.float32), r"x\.npy: holds no samples \(shape \(0, 2\)\)"),
    ],
    ids=["nan", "beyond-float32", "empty"],
)
def test_predict_rejects_inputs_it_cannot_predict(spiral_run: Path, array: np.ndarray, message: str) -> None:
    """NaN input printed a prediction with probability nan; an empty file a misleading shape error."""
    np.save(spiral_run.parent / "x.npy", array)
    done = _layerkit("predict", "run", "x.npy", cwd=spiral_run.parent)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr and "Warning" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert re.search(message, done.stderr), done.stderr


def test_ctrl_c_says_how_to_resume(tmp_path: Path) -> None:
    """An interrupted run printed only 'interrupted'; the user had to know about --resume."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerkit", "train", str(SPIRAL), "--set", "train.epochs=100000", "--out", "run", "-q"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background (`pytest &`, nohup) ignores SIGINT, and the child
        # would inherit that and train on forever.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "run" / "checkpoints").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("layerkit train: interrupted; the last checkpoint is checkpoints/epoch-")
    assert stderr.strip().endswith("continue with layerkit train --resume run")


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST (dataset-fashion-mnist) is not installed",
)
def test_gradcheck_passes_a_bias_before_batchnorm_on_the_shipped_mlp(tmp_path: Path) -> None:
    """fc1.b feeds BatchNorm, so its true gradient is 0; rounding noise twice eps*|L|/h failed it."""
    done = _layerkit("gradcheck", str(ROOT / "model_specs" / "mlp_fashion.yaml"), "--seed", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed: max relative error" in done.stdout


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_an_output_folder_that_cannot_be_created_is_an_error_not_a_traceback(
    tmp_path: Path, command: str
) -> None:
    """``--out`` below a file crashed in ``mkdir`` with a traceback."""
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"
    extra = ["--grid", "train.epochs=1"] if command == "sweep" else ["--set", "train.epochs=1"]
    result = _layerkit(command, str(SPIRAL), *extra, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2  # the user's path: bad input
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"layerkit {command}: error: --out {out}: cannot create the folder: Not a directory"
    )
