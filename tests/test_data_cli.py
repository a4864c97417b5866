"""``layerkit data list`` and ``layerkit data fetch`` (downloads are in test_data_download.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from layerkit.cli import main
from layerkit.data import sources
from layerkit.data.idx import write_idx

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Unlike conftest's ``isolated``, the system data directories stay visible: these tests
    list the Debian package's Fashion-MNIST."""
    monkeypatch.delenv("LAYERKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.skipif(not DEBIAN.exists(), reason="apt-get install dataset-fashion-mnist")
def test_list_shows_where_each_dataset_is(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["NAME"].split() == ["NAME", "TRAIN", "TEST", "SHAPE", "CLASSES", "WHERE"]
    assert lines["fashion_mnist"].split()[1:6] == ["60,000", "10,000", "1x28x28", "10", str(DEBIAN)]
    assert lines["fashion_mnist"].endswith("(system)")
    assert lines["mnist"].endswith("not found (layerkit data fetch mnist)")
    assert lines["spiral"].split()[1:] == ["300", "300", "2", "3", "generated"]


@pytest.mark.skipif(not DEBIAN.exists(), reason="apt-get install dataset-fashion-mnist")
def test_list_verify(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--verify", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["fashion_mnist"]["verified"] is True


def test_list_reports_a_broken_copy(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = isolated / "data" / "mnist"
    broken.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (broken / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # truncated
    monkeypatch.setenv("LAYERKIT_DATA", str(isolated / "data"))
    assert main(["data", "list"]) == 0  # found; structure is only read with --verify
    assert main(["data", "list", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "error: " in out and "train-images-idx3-ubyte: wrong magic number" in out


def test_fetch_already_available(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = isolated / "system" / "kmnist"
    copy.mkdir(parents=True)
    for name, array in (
        ("train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8)),
        ("train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8)),
        ("t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8)),
        ("t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8)),
    ):
        write_idx(copy / name, array)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (isolated / "system",))
    assert main(["data", "fetch", "kmnist"]) == 0
    assert capsys.readouterr().out == f"kmnist: already available in {copy} (system)\n"


def test_fetch_errors(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "spiral"]) == 2
    assert (
        "dataset 'spiral' has no files to fetch: its data is generated" in capsys.readouterr().err
    )
    assert main(["data", "fetch", "fashion-mnist"]) == 2
    assert "did you mean 'fashion_mnist'?" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--md5", "nothing"]) == 2
    assert "--md5: expected FILE=HEX (received 'nothing')" in capsys.readouterr().err
