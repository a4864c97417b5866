"""Fixtures of the adversarial suite: a tiny spec, one trained run, the CLI in this process.

Every test here replays an attack from issue 13 (bad files, races, kills, broken plugins) on
tiny generated data, so the whole suite stays fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from adversarial_support import SPEC

from layerkit.cli import main


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-epoch run folder (checkpoints epoch-0001..0003); copy it before changing it."""
    from layerkit.run import train

    root = tmp_path_factory.mktemp("trained")
    (root / "tiny.yaml").write_text(SPEC)
    return train(root / "tiny.yaml", out=root / "run", quiet=True, plot=False).run_dir


@pytest.fixture()
def run_copy(trained: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(trained, target)
    return target


Cli = Callable[..., "tuple[int, str, str]"]


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("eval", path)`` -> ``(exit code, stdout, stderr)`` of the CLI run in this process."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
