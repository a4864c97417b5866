"""Fixtures shared by several test files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from data_support import isolate_data_dirs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $LAYERKIT_DATA, a cache and a 'system' directory of our own (``tmp_path``)."""
    return isolate_data_dirs(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def spiral_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch run folder of model_specs/spiral.yaml, trained by the real CLI.

    Shared by the whole session: tests that change it copy it first.
    """
    root = tmp_path_factory.mktemp("spiral_run")
    done = subprocess.run(
        [sys.executable, "-m", "layerkit", "train", str(ROOT / "model_specs" / "spiral.yaml"),
         "--set", "train.epochs=2", "--out", "run", "--quiet"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "run"
