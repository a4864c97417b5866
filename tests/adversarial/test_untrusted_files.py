"""Files layerkit reads but did not necessarily write are validated, never trusted."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adversarial_support import one_line_error

from layerkit.training.checkpoint import _sha256

Manifest = dict[str, Any]


def _deep(manifest: Manifest) -> str:
    return json.dumps(manifest)[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}"


# name -> (how to break the manifest, the field the error must name)
BROKEN: dict[str, tuple[Callable[[Manifest], Any], str]] = {
    "missing-epoch": (lambda m: m.pop("epoch"), "epoch"),
    "string-epoch": (lambda m: m.update(epoch="3"), "epoch"),
    "negative-step": (lambda m: m.update(step=-1), "step"),
    "plugin-list-garbage": (lambda m: m.update(plugins=[1, "x", None]), "plugins"),
    "plugin-record-short": (lambda m: m.update(plugins=[{"group": "layers"}]), "plugins"),
    "spec-not-a-mapping": (lambda m: m.update(spec=[1, 2]), "spec"),
    "array-table-wrong": (lambda m: m["arrays"].update({"params:fc1.W": [4, 3]}), "arrays"),
    "optimizer-lr-text": (lambda m: m["optimizer"].update(lr="fast"), "optimizer.lr"),
    "input-shape-zero": (lambda m: m["input"].update(shape=[0]), "input.shape"),
    "history-garbage": (lambda m: m.update(history=[{"epoch": [1]}]), "history"),
}


def _break(run: Path, epoch: int, how: Callable[[Manifest], Any] | str) -> Path:
    path = run / "checkpoints" / f"epoch-{epoch:04d}.json"
    manifest = json.loads(path.read_text())
    if how == "deep":
        path.write_text(_deep(manifest))
    else:
        assert callable(how)
        how(manifest)
        path.write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize("case", [*BROKEN, "deep"])
def test_a_broken_manifest_is_a_one_line_error_naming_file_and_field(
    cli, run_copy: Path, case: str
) -> None:
    how, field = BROKEN[case] if case != "deep" else ("deep", "nested")
    path = _break(run_copy, 3, how)
    for command in (["eval", path], ["predict", path, _sample(run_copy)]):
        code, _, err = cli(*command)
        line = one_line_error(err)
        assert code == 2, err
        assert str(path) in line and field in line


@pytest.mark.parametrize("case", ["string-epoch", "plugin-list-garbage", "deep"])
def test_an_invalid_latest_manifest_falls_back_with_a_warning(
    cli, run_copy: Path, case: str
) -> None:
    how = BROKEN[case][0] if case != "deep" else "deep"
    path = _break(run_copy, 3, how)
    code, out, err = cli("eval", run_copy, "--json")
    assert code == 0, err
    assert json.loads(out)["epoch"] == 2
    (warning,) = [line for line in err.splitlines() if "warning:" in line]
    assert str(path) in warning and "falling back" in warning


def test_resume_skips_an_invalid_latest_manifest(run_copy: Path) -> None:
    from layerkit.run import train

    _break(run_copy, 3, BROKEN["string-epoch"][0])
    with pytest.warns(UserWarning, match="falling back"):
        result = train(resume=run_copy, quiet=True, plot=False)
    assert result.history[-1]["epoch"] == 3
    assert json.loads((run_copy / "checkpoints" / "epoch-0003.json").read_text())["epoch"] == 3


def test_a_huge_layer_in_the_stored_spec_is_refused_before_allocating(cli, run_copy: Path) -> None:
    path = _break(run_copy, 3, lambda m: m["spec"]["model"]["layers"][0].update(units=10**12))
    code, _, err = cli("eval", path)
    assert code == 2
    line = one_line_error(err)
    assert str(path) in line and "model.layers[0]" in line and "memory budget" in line


def test_integer_weights_with_a_consistent_checksum_are_refused(cli, run_copy: Path) -> None:
    stem = run_copy / "checkpoints" / "epoch-0003"
    manifest = json.loads(stem.with_suffix(".json").read_text())
    with np.load(stem.with_suffix(".npz")) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["params:fc1.W"] = (arrays["params:fc1.W"] * 1000).astype(np.int64)
    meta = manifest["arrays"]["params:fc1.W"]
    meta.update(dtype=arrays["params:fc1.W"].dtype.str, sha256=_sha256(arrays["params:fc1.W"]))
    np.savez(stem.with_suffix(".npz"), **arrays)
    stem.with_suffix(".json").write_text(json.dumps(manifest))
    code, _, err = cli("eval", stem.with_suffix(".json"))
    assert code == 2
    line = one_line_error(err)
    assert str(stem) in line and "fc1.W" in line and "int64" in line


# -- predict inputs ---------------------------------------------------------------------------


def _sample(run: Path) -> Path:
    path = run.parent / "one.npy"
    np.save(path, np.zeros(784, dtype=np.float32))
    return path


def test_an_npy_header_claiming_a_huge_shape_is_refused_before_allocating(
    cli, trained: Path, tmp_path: Path
) -> None:
    path = tmp_path / "huge.npy"
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)}
        )
        fh.write(b"\0" * 64)
    code, _, err = cli("predict", trained, path)
    assert code == 2
    line = one_line_error(err)
    assert str(path) in line and "(1000000000000, 2)" in line


def test_an_idx_file_with_255_dimensions_is_refused(cli, trained: Path, tmp_path: Path) -> None:
    path = tmp_path / "many-dims-idx3-ubyte.gz"
    path.write_bytes(
        gzip.compress(bytes([0, 0, 0x08, 255]) + struct.pack(">255I", *([1] * 255)) + b"\0")
    )
    code, _, err = cli("predict", trained, path)
    assert code == 2
    assert "255 dimensions" in one_line_error(err)


@pytest.mark.parametrize("shape", [(2, 392), (784, 1), (28, 28, 1, 1)])
def test_an_array_of_one_samples_size_but_another_shape_is_refused(
    cli, trained: Path, tmp_path: Path, shape: tuple[int, ...]
) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    code, _, err = cli("predict", trained, path)
    assert code == 2
    assert "(784,)" in one_line_error(err)


@pytest.mark.parametrize("shape", [(784,), (1, 784), (5, 784)])
def test_samples_shaped_like_the_input_are_predicted(
    cli, trained: Path, tmp_path: Path, shape: tuple[int, ...]
) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    code, out, err = cli("predict", trained, path, "--json")
    assert code == 0, err
    assert json.loads(out)["samples"] == (shape[0] if len(shape) == 2 else 1)


# -- sweeps and schedulers ----------------------------------------------------------------------


def test_a_deeply_nested_sweep_manifest_is_a_one_line_error(cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text('{"trials": ' + "[" * 200_000 + "]" * 200_000 + "}")
    for command in (["runs", "compare", sweep, "--no-plot"], ["sweep", "--resume", sweep]):
        code, _, err = cli(*command)
        assert code == 2, err
        assert "sweep.json" in one_line_error(err)


@pytest.mark.parametrize("content", [None, "{}", "[]", '{"address": ""}', "not json"])
def test_a_bad_dask_scheduler_file_is_a_one_line_error(
    cli, spec_file: Path, tmp_path: Path, content: str | None
) -> None:
    pytest.importorskip("distributed")
    scheduler = tmp_path / "scheduler.json"
    if content is not None:
        scheduler.write_text(content)
    code, _, err = cli(
        "sweep",
        spec_file,
        "--grid",
        "train.optimizer.lr=0.1,0.2",
        "--executor",
        "dask",
        "--scheduler",
        scheduler,
        "--out",
        tmp_path / "sweep",
    )
    assert code == 2, err
    assert str(scheduler) in one_line_error(err)
