"""Checkpoint files: atomic .npz + manifest, checksums, fallback, pickle refusal, plugin hints."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from layerkit.errors import CheckpointError, CheckpointWarning
from layerkit.training.checkpoint import (
    check_plugins,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)


def arrays_for(epoch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(epoch)
    return {
        "params:fc1.W": rng.standard_normal((4, 3)).astype(np.float32),
        "params:fc1.b": np.zeros(3, np.float32),
        "optimizer:v:fc1.W": rng.standard_normal((4, 3)).astype(np.float32),
        "buffers:bn1.running_mean": np.arange(3, dtype=np.float64),
    }


def write_epochs(directory: Path, epochs: range, keep: int | None = None) -> None:
    for epoch in epochs:
        save_checkpoint(
            directory,
            epoch,
            arrays_for(epoch),
            {"step": epoch * 10, "spec": {"name": "t"}},
            keep=keep,
        )


def test_round_trip_is_bitwise_and_manifest_describes_every_array(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 2))
    ckpt = load_checkpoint(tmp_path / "epoch-0001.json")
    assert (ckpt.epoch, ckpt.step, ckpt.spec) == (1, 10, {"name": "t"})
    expected = arrays_for(1)
    assert set(ckpt.arrays) == set(expected)
    for name, arr in expected.items():
        assert ckpt.arrays[name].dtype == arr.dtype
        np.testing.assert_array_equal(ckpt.arrays[name], arr)
    assert set(ckpt.group("params")) == {"fc1.W", "fc1.b"}
    manifest = json.loads((tmp_path / "epoch-0001.json").read_text())
    assert manifest["format"] == "layerkit-checkpoint"
    table = manifest["arrays"]["params:fc1.W"]
    assert table["shape"] == [4, 3] and table["dtype"] == "<f4" and len(table["sha256"]) == 64
    # the .npz and the manifest are the only files: no temp files are left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001.json", "epoch-0001.npz"]


def test_keeps_only_the_newest_n(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 7), keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch-0005.json", "epoch-0006.json"]
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["epoch-0005.npz", "epoch-0006.npz"]


def test_a_run_dir_resolves_to_its_latest_checkpoint(tmp_path: Path) -> None:
    write_epochs(tmp_path / "checkpoints", range(1, 4))
    assert load_checkpoint(tmp_path).epoch == 3
    assert load_checkpoint(tmp_path / "checkpoints" / "epoch-0002.npz").epoch == 2


def test_truncated_latest_falls_back_to_previous_with_a_warning(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 4))
    npz = tmp_path / "epoch-0003.npz"
    with npz.open("r+b") as fh:
        fh.truncate(npz.stat().st_size // 2)
    with pytest.warns(
        CheckpointWarning, match=r"epoch-0003\.npz: corrupt or truncated.*falling back"
    ):
        ckpt = latest_checkpoint(tmp_path)
    assert ckpt.epoch == 2
    np.testing.assert_array_equal(ckpt.arrays["params:fc1.W"], arrays_for(2)["params:fc1.W"])


def test_flipped_bytes_fail_the_checksum_and_fall_back(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 3))
    # np.savez stores arrays uncompressed: change the last data byte of one array in place
    npz = tmp_path / "epoch-0002.npz"
    data = bytearray(npz.read_bytes())
    raw = arrays_for(2)["params:fc1.W"].tobytes()
    at = bytes(data).find(raw)
    assert at > 0
    data[at + len(raw) - 1] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(
        CheckpointError, match=r"(checksum mismatch for array 'params:fc1\.W'|corrupt or truncated)"
    ):
        load_checkpoint(tmp_path / "epoch-0002.json")
    with pytest.warns(CheckpointWarning):
        assert latest_checkpoint(tmp_path).epoch == 1


def test_corrupt_manifest_falls_back(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 3))
    (tmp_path / "epoch-0002.json").write_text('{"format": "layerkit-checkpoint", "epo')
    with pytest.warns(CheckpointWarning, match=r"epoch-0002\.json: unreadable manifest"):
        assert latest_checkpoint(tmp_path).epoch == 1


def test_no_usable_checkpoint_is_an_error_listing_each_problem(tmp_path: Path) -> None:
    write_epochs(tmp_path, range(1, 3))
    for npz in tmp_path.glob("*.npz"):
        npz.write_bytes(b"")
    with (
        pytest.warns(CheckpointWarning),
        pytest.raises(
            CheckpointError, match=r"no usable checkpoint:\n.*epoch-0002.*\n.*epoch-0001"
        ),
    ):
        latest_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoints found"):
        latest_checkpoint(tmp_path / "elsewhere")


def test_an_npz_without_manifest_is_not_a_checkpoint(tmp_path: Path) -> None:
    """A run killed between writing the .npz and its manifest: the .npz does not count."""
    write_epochs(tmp_path, range(1, 3))
    (tmp_path / "epoch-0002.json").unlink()
    assert latest_checkpoint(tmp_path).epoch == 1
    with pytest.raises(CheckpointError, match="no manifest epoch-0002.json beside it"):
        load_checkpoint(tmp_path / "epoch-0002.npz")
    # the next save removes the orphan
    save_checkpoint(tmp_path, 3, arrays_for(3), {"step": 30, "spec": {}}, keep=5)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["epoch-0001.npz", "epoch-0003.npz"]


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match="refusing to load pickled data"):
        load_checkpoint(evil)
    renamed = tmp_path / "epoch-0001.npz"  # a pickle posing as a checkpoint, with a manifest
    renamed.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match=r"(pickle|not a zip|corrupt)"):
        load_checkpoint(renamed)
    assert not marker.exists()


def test_object_arrays_are_refused_and_run_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    save_checkpoint(tmp_path, 1, arrays_for(1), {"step": 1, "spec": {}})
    manifest = json.loads((tmp_path / "epoch-0001.json").read_text())
    # swap in an .npz whose array is an object array that runs code when unpickled
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.savez(tmp_path / "epoch-0001.npz", **{**arrays_for(1), "params:fc1.W": payload})
    with pytest.raises(CheckpointError, match="refusing to load pickled data"):
        load_checkpoint(tmp_path / "epoch-0001.json")
    # ... and a manifest that admits to the object dtype is refused before the archive is opened
    manifest["arrays"]["params:fc1.W"]["dtype"] = "|O"
    (tmp_path / "epoch-0001.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"refusing array 'params:fc1\.W' of dtype \|O"):
        load_checkpoint(tmp_path / "epoch-0001.json")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="dtype object is not numeric"):
        save_checkpoint(tmp_path, 2, {"x": payload}, {"step": 2})


@pytest.mark.parametrize(
    "entry",
    [{"shape": [4, 3], "sha256": "0" * 64}, {"dtype": "zz", "shape": [4, 3], "sha256": ""}, [4, 3]],
)
def test_damaged_array_table_entry_is_named(tmp_path: Path, entry: object) -> None:
    save_checkpoint(tmp_path, 1, arrays_for(1), {"step": 1, "spec": {}})
    path = tmp_path / "epoch-0001.json"
    manifest = json.loads(path.read_text())
    manifest["arrays"]["params:fc1.W"] = entry
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        CheckpointError, match=r"epoch-0001\.json: invalid manifest: arrays\.params:fc1\.W"
    ):
        load_checkpoint(path)


def test_missing_plugin_names_the_distribution_to_install() -> None:
    manifest = {
        "plugins": [
            {
                "group": "layers",
                "name": "Affine",
                "plugin": "builtins",
                "distribution": "layerkit",
                "version": "0.1.0",
            },
            {
                "group": "layers",
                "name": "Snake",
                "plugin": "snakes",
                "distribution": "layerkit-snakes",
                "version": "1.2.0",
            },
        ]
    }
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint needs layer 'Snake' from layerkit-snakes 1\.2\.0, which is not installed; "
        r"install it with: pip install layerkit-snakes",
    ):
        check_plugins(manifest)
    check_plugins({"plugins": manifest["plugins"][:1]})  # built-ins are always there


def test_writes_leave_no_temp_files_when_the_writer_fails(tmp_path: Path) -> None:
    from layerkit.fileio import atomic_write

    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(fh: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]
