"""``--set`` / ``--set-file`` overrides: paths, YAML values, re-validation, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerkit.errors import SpecError
from layerkit.network import Network
from layerkit.plugins import get_registry
from layerkit.spec import apply_overrides, build_network, load_spec, loads_spec
from layerkit.spec.overrides import auto_layer_ids, parse_path

SPEC = """\
name: demo
seed: 3
data: {dataset: spiral}
model:
  layers:
    - {type: Affine, id: fc1, units: 8}
    - {type: Relu}
    - {type: Affine, units: 3}
    - {type: SoftmaxWithLoss}
train:
  epochs: 3
  optimizer: {type: SGD, lr: 0.1}
"""


def issues(**kwargs: object) -> list[str]:
    with pytest.raises(SpecError) as info:
        loads_spec(SPEC, filename="s.yaml", **kwargs)  # type: ignore[arg-type]
    return [str(i) for i in info.value.issues]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("train.optimizer.lr", ("train", "optimizer", "lr")),
        ("model.layers.fc1.units", ("model", "layers", "fc1", "units")),
        ("model.layers.2.units", ("model", "layers", 2, "units")),
        ("model.layers[2].units", ("model", "layers", 2, "units")),
        ("model.layers[-1]", ("model", "layers", -1)),
        ("seed", ("seed",)),
    ],
)
def test_paths(text: str, path: tuple) -> None:
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", "a..b", "a.", ".a", "a[x]"])
def test_bad_paths(text: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        parse_path(text)


def test_values_are_yaml_and_layers_are_found_by_id_index_or_network_id() -> None:
    spec = loads_spec(
        SPEC,
        overrides=[
            "train.optimizer.lr=1e-3",  # a float, as in YAML 1.2
            "model.layers.fc1.units=16",
            "model.layers.fc1.init={type: normal, std: 0.5}",
            "model.layers.relu1.type=Tanh",  # relu1: the id the network gives it
            "model.layers[2].id=out",
            "train.schedule.type=cosine",  # creates the mapping
            "seed=null",
        ],
    )
    assert spec.train.optimizer["lr"] == 0.001
    fc1, act, out, _ = spec.model.layers
    assert (fc1.units, fc1.init.std, act.type, out.id) == (16, 0.5, "Tanh", "out")
    assert spec.train.schedule.type == "cosine" and spec.seed is None


def test_overrides_are_revalidated_and_located_at_the_option() -> None:
    assert issues(overrides=["train.optimizer.lrr=0.01", "model.layers.fc1.units=0"]) == [
        "--set train.optimizer.lrr=0.01: train.optimizer.lrr: unknown key; did you mean 'lr'? "
        "(valid keys: type, lr, weight_decay)",
        "--set model.layers.fc1.units=0: model.layers[0].units: must be > 0 (received 0)",
    ]


def test_unusable_overrides_are_reported_with_the_spec_problems() -> None:
    got = issues(overrides=["model.layers.fc3.units=1", "model.layers.9.units=1", "epochs", "train.epochs.x=1",
                            "train.epochs=[1", "train.batch_size=0"])
    assert got == [
        "--set model.layers.fc3.units=1: model.layers.fc3: no item with id 'fc3'; did you mean 'fc1'? "
        "(ids: fc1, relu1, affine2, softmaxwithloss1; or an index 0-3)",
        "--set model.layers.9.units=1: model.layers[9]: index 9 is out of range: the list has 4 item(s)",
        "--set epochs: expected PATH=VALUE, e.g. train.optimizer.lr=0.01, or ~PATH to delete",
        "--set train.epochs.x=1: train.epochs: is the value 3, not a mapping or a list",
        "--set train.epochs=[1: train.epochs: value: invalid YAML: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 1)",
        "--set train.batch_size=0: train.batch_size: must be >= 1 (received 0)",
    ]


def test_delete_keys_and_layers() -> None:
    spec = loads_spec(SPEC, overrides=["~model.layers.relu1", "~train.optimizer.lr"])
    assert [e.type for e in spec.model.layers] == ["Affine", "Affine", "SoftmaxWithLoss"]
    assert spec.train.optimizer["lr"] == 0.01  # SGD's default
    assert issues(overrides=["~train.nothing"]) == [
        "--set ~train.nothing: train.nothing: nothing to delete"
    ]


def test_set_file_patches_merge_and_are_located_in_the_patch(tmp_path: Path) -> None:
    patch = tmp_path / "patch.yaml"
    patch.write_text("train:\n  optimizer: {type: Adam}\nmodel:\n  layers:\n    fc1: {units: 32}\n    affine2: {units: 0}\n")
    with pytest.raises(SpecError) as info:
        loads_spec(SPEC, set_files=[patch])
    assert [str(i) for i in info.value.issues] == [f"{patch}:6:22: model.layers[2].units: must be > 0 (received 0)"]
    spec = loads_spec(SPEC, set_files=[patch], overrides=["model.layers.affine2.units=3"])
    assert spec.train.optimizer == {"type": "Adam", "lr": 0.001, "weight_decay": 0.0, "beta1": 0.9,
                                    "beta2": 0.999, "eps": 1e-07}
    assert [getattr(e, "units", None) for e in spec.model.layers] == [32, None, 3, None]


def test_set_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  layers:\n    fc9: {units: 1}\n")
    assert issues(set_files=[bad]) == [
        f"{bad}:3:5: model.layers.fc9: no item with id 'fc9'; did you mean 'fc1'? "
        "(ids: fc1, relu1, affine2, softmaxwithloss1; or an index 0-3)"
    ]
    assert issues(set_files=[tmp_path / "missing.yaml"]) == [f"{tmp_path / 'missing.yaml'}: no such file"]


def test_apply_overrides_leaves_its_input_alone() -> None:
    raw = {"train": {"optimizer": {"type": "SGD", "lr": 0.1}}, "model": {"layers": [{"type": "Relu"}]}}
    out = apply_overrides(raw, ["train.optimizer.lr=0.5", "model.layers.relu1.type=Tanh"])
    assert out == {"train": {"optimizer": {"type": "SGD", "lr": 0.5}}, "model": {"layers": [{"type": "Tanh"}]}}
    assert raw["train"]["optimizer"]["lr"] == 0.1 and raw["model"]["layers"][0]["type"] == "Relu"
    with pytest.raises(SpecError, match="index 3 is out of range"):
        apply_overrides(raw, ["model.layers.3.units=1"])


def test_automatic_ids_are_those_of_the_network(tmp_path: Path) -> None:
    layers = [
        {"type": "Affine", "units": 4},
        {"type": "Relu", "id": "affine2"},  # takes the id the next Affine would have had
        {"type": "Affine", "units": 4},
        {"type": "builtins:Relu"},
        {"type": "Dropout"},
        {"type": "Affine", "units": 3, "id": "out"},
        {"type": "SoftmaxWithLoss"},
    ]
    network = Network.from_config({"layers": layers, "input_shape": [2]}, registry=get_registry())
    assert auto_layer_ids(layers) == [layer.id for layer in network.layers]


def test_load_spec_accepts_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    network = build_network(load_spec(path, overrides=["model.layers.fc1.units=5"]))
    assert network["fc1"].output_shape == (5,)
