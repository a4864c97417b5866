"""Sizes are checked before memory is spent, and a bool or a string is never a number."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from adversarial_support import one_line_error

# -- memory budget ------------------------------------------------------------------------------


def _peak(cli, *args: object) -> tuple[int, str, str, int]:
    tracemalloc.start()  # NumPy reports its allocations to tracemalloc
    try:
        code, out, err = cli(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return code, out, err, peak


def test_validate_refuses_a_layer_beyond_the_budget_without_allocating(
    cli, spec_file: Path
) -> None:
    code, _, err, peak = _peak(
        cli, "validate", spec_file, "--set", "model.layers.fc1.units=10000000"
    )
    assert code == 2
    assert peak < 50 * 1024**2
    message = err.splitlines()[0]
    # the arithmetic: parameters x bytes x 2 = total, and the budget
    assert "7,880,000,003 parameters x 4 bytes" in message and "x 2" in message
    assert "memory budget of 4 GiB" in message and "LAYERKIT_MEMORY_BUDGET" in message
    assert message.startswith(f"{spec_file}:")  # located at the layer


def test_the_budget_is_settable_and_validate_never_allocates_weights(
    cli, spec_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERKIT_MEMORY_BUDGET", "100GiB")
    code, out, err, peak = _peak(
        cli, "validate", spec_file, "--set", "model.layers.fc1.units=10000000", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["total_params"] == 7_880_000_003
    assert peak < 50 * 1024**2  # 31 GB of weights were never allocated


@pytest.mark.parametrize("value", ["lots", "-1GB", "1e999"])
def test_a_bad_budget_names_the_variable(
    cli, spec_file: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LAYERKIT_MEMORY_BUDGET", value)
    code, _, err = cli("validate", spec_file)
    assert code == 2 and "LAYERKIT_MEMORY_BUDGET" in one_line_error(err)


@pytest.mark.parametrize(
    "setting", ["train.batch_size=1000000000", "train.eval_batch_size=1000000000"]
)
def test_batches_larger_than_the_data_are_clamped_and_said(
    cli, spec_file: Path, tmp_path: Path, setting: str
) -> None:
    code, _, err, peak = _peak(
        cli, "train", spec_file, "--out", tmp_path / "run", "--set", setting, "--no-plot", "-q"
    )
    assert code == 0, err
    assert peak < 100 * 1024**2
    if "train.batch_size" in setting:
        assert "one batch of 60" in err


def test_eval_batch_size_larger_than_the_data_works(cli, trained: Path) -> None:
    code, _, err, peak = _peak(cli, "eval", trained, "--batch-size", "1000000000000")
    assert code == 0, err
    assert peak < 100 * 1024**2


@pytest.mark.parametrize("size", ["0", "-5"])
def test_eval_refuses_a_batch_size_below_one(cli, trained: Path, size: str) -> None:
    code, _, err = cli("eval", trained, "--batch-size", size)
    assert code == 2 and "--batch-size" in one_line_error(err)


# -- strict numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("model.layers.fc1.units=true", "model.layers[0].units"),
        ("train.epochs=true", "train.epochs"),
        ("seed=true", "seed"),
        ("train.optimizer.lr=true", "train.optimizer.lr"),
        ("train.optimizer.lr='0.1'", "train.optimizer.lr"),
        ("model.layers.fc1.units='100'", "model.layers[0].units"),
        ("train.batch_size=false", "train.batch_size"),
    ],
)
def test_a_bool_or_a_string_set_as_a_number_is_a_located_error(
    cli, spec_file: Path, setting: str, where: str
) -> None:
    code, _, err = cli("validate", spec_file, "--set", setting)
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"--set {setting}") and where in first


@pytest.mark.parametrize(
    ("text", "where"),
    [("units: '100'", "units"), ("units: '1_0'", "units"), ("units: true", "units")],
)
def test_a_bool_or_a_string_written_as_a_number_is_a_located_error(
    cli, spec_file: Path, text: str, where: str
) -> None:
    spec_file.write_text(spec_file.read_text().replace("units: 8", text))
    code, _, err = cli("validate", spec_file)
    assert code == 2
    assert err.startswith(f"{spec_file}:6:") and f"model.layers[0].{where}" in err.splitlines()[0]


def test_numbers_still_validate_as_before(cli, spec_file: Path) -> None:
    # integers where floats are expected, and the usual notations, are numbers
    code, _, err = cli(
        "validate", spec_file, "--set", "train.optimizer.lr=1", "--set", "train.epochs=0x2"
    )
    assert code == 0, err


def test_a_cosine_floor_above_the_learning_rate_is_refused(cli, spec_file: Path) -> None:
    code, _, err = cli(
        "validate",
        spec_file,
        "--set",
        "train.schedule={type: cosine, min_lr: 5}",
        "--set",
        "train.optimizer.lr=0.1",
    )
    assert code == 2
    assert "train.schedule.min_lr" in err and "0.1" in err
    code, _, err = cli(
        "validate", spec_file, "--set", "train.schedule={type: cosine, min_lr: 0.01}"
    )
    assert code == 0, err


def test_predict_batch_size_larger_than_the_input_works(cli, trained: Path, tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "x.npy"
    np.save(path, np.zeros((4, 784), dtype=np.float32))
    code, out, err, peak = _peak(
        cli, "predict", trained, path, "--batch-size", "1000000000000", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["samples"] == 4
    assert peak < 100 * 1024**2
