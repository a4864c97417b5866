"""``layerkit validate`` and ``layerkit schema``, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_support import layerkit

ROOT = Path(__file__).parent.parent
TWO_LAYER = ROOT / "model_specs" / "two_layer_net.yaml"


def _where(text: str, token: str, offset: int = 0) -> str:
    """``LINE:COL`` of ``token`` (plus ``offset`` columns) in ``text``."""
    pos = text.index(token) + offset
    return f"{text.count(chr(10), 0, pos) + 1}:{pos - text.rfind(chr(10), 0, pos)}"


def test_validate_prints_a_summary_table() -> None:
    result = layerkit("validate", "model_specs/two_layer_net.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "two_layer_net: fashion_mnist (60,000 train / 10,000 test, input (1, 28, 28), 10 classes), float32"
    )
    assert lines[1].split() == ["ID", "TYPE", "OUTPUT", "SHAPE", "PARAMS"]
    assert lines[3].split() == ["fc1", "Affine", "(50,)", "39,250"]
    assert lines[5].split() == ["fc2", "Affine", "(10,)", "510"]
    assert lines[-1] == "total parameters: 39,760"


def test_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = TWO_LAYER.read_text().replace("units: 50", "units: 0").replace("lr: 0.1", "lr: .nan")
    spec.write_text(text)
    result = layerkit("validate", str(spec), "--set", "train.epocs=3")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{spec}:{_where(text, 'units: 0', 7)}: model.layers[0].units: must be > 0 (received 0)",
        f"{spec}:{_where(text, '.nan')}: train.optimizer.lr: must be a finite number (received nan)",
        "--set train.epocs=3: train.epocs: unknown key; did you mean 'epochs'? (valid keys: epochs, batch_size, "
        "optimizer, schedule, early_stopping, shuffle, validation_split, eval_batch_size, checkpoint, callbacks)",
        f"{spec}: 3 errors",
    ]
    assert "Traceback" not in result.stderr


def test_validate_overrides_and_print_resolved(tmp_path: Path) -> None:
    result = layerkit(
        "validate",
        "model_specs/two_layer_net.yaml",
        "--set",
        "model.layers.fc1.units=100",
        "--set",
        "train.optimizer={type: Adam}",
        "--print-resolved",
    )
    assert result.returncode == 0, result.stderr
    resolved = result.stdout
    assert "- {type: Affine, id: fc1, units: 100, init: {type: normal, std: 0.01}}" in resolved
    assert yaml.safe_load(resolved)["train"]["optimizer"] == {
        "type": "Adam",
        "lr": 0.001,
        "weight_decay": 0.0,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-07,
        "form": "textbook",
    }
    # the output is a spec: saved, it validates to the same network
    saved = tmp_path / "resolved.yaml"
    saved.write_text(resolved)
    again = layerkit("validate", str(saved))
    assert again.returncode == 0 and "total parameters: 79,510" in again.stdout


def test_validate_json(tmp_path: Path) -> None:
    result = layerkit("validate", "model_specs/spiral.yaml", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["input_shape"], doc["num_classes"]) == (True, [2], 3)
    assert doc["layers"][0] == {
        "id": "fc1",
        "type": "Affine",
        "inputs": ["input"],
        "output_shape": [100],
        "params": 300,
    }
    assert doc["total_params"] == sum(layer["params"] for layer in doc["layers"])

    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: spiral}\nmodel: {layers: [{type: Affine}]}\n")
    result = layerkit("validate", str(bad), "--json")
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert {(e["path"], e["line"]) for e in doc["errors"]} == {
        ("model.layers[0].units", 2),
        ("model.layers[0].type", 2),
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a: !!python/object/apply:os.system ['echo pwned']\n", "is not allowed"),
        (b"\xff\xfe", "UTF-16"),
        (b"", "the file is empty"),
    ],
)
def test_validate_never_shows_a_traceback(tmp_path: Path, content: bytes, expected: str) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_bytes(content)
    result = layerkit("validate", str(spec))
    assert result.returncode == 2
    assert (
        expected in result.stderr
        and "Traceback" not in result.stderr
        and "pwned" not in result.stdout
    )


def test_validate_a_missing_file() -> None:
    result = layerkit("validate", "no/such/spec.yaml")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "no/such/spec.yaml: no such file"


@pytest.mark.parametrize("command", ["validate", "train", "gradcheck"])
def test_a_spec_path_that_is_not_a_readable_file(tmp_path: Path, command: str) -> None:
    (tmp_path / "file.yaml").write_text("name: x\n")
    cases = {
        str(tmp_path): f"{tmp_path}: is a directory, not a spec file",
        "": "no spec file given (received an empty path)",
        str(
            tmp_path / "file.yaml" / "s.yaml"
        ): f"{tmp_path / 'file.yaml' / 's.yaml'}: cannot read: Not a directory",
    }
    for path, expected in cases.items():
        result = layerkit(command, path)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr.splitlines()[0] and "Traceback" not in result.stderr


def test_schema_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    result = layerkit("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    out = tmp_path / "layerkit-spec.schema.json"
    result = layerkit("schema", "-o", str(out))
    assert result.returncode == 0
    assert json.loads(out.read_text()) == schema
    result = layerkit("schema", "-o", str(tmp_path / "missing-dir" / "x.json"))
    assert result.returncode == 2 and "cannot write" in result.stderr
