"""Spec validation: registry-built unions, all problems at once, located, with did-you-mean."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import Field

from layerkit.errors import PluginError, SpecError
from layerkit.layers.base import Layer, LayerParams
from layerkit.plugins import GROUPS, Entry, Registry, get_registry
from layerkit.spec import LayerSpec, Spec, loads_spec, spec_models, validate_spec

SPEC = """\
name: demo
seed: 3
data: {dataset: spiral, classes: 4}
model:
  layers:
    - {type: Affine, id: fc1, units: 8, init: he}
    - {type: Relu}
    - {type: Affine, units: 4}
    - {type: SoftmaxWithLoss}
train:
  epochs: 3
  optimizer: {type: Momentum, lr: 0.05}
"""


def at(text: str, token: str, nth: int = 0) -> str:
    """``s.yaml:LINE:COL`` of the ``nth`` occurrence of ``token`` in ``text``."""
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(token, pos + 1)
    line = text.count("\n", 0, pos) + 1
    return f"s.yaml:{line}:{pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def messages(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        loads_spec(text, filename="s.yaml", **kwargs)
    return [str(issue) for issue in info.value.issues]


def test_a_valid_spec_is_typed_by_its_components() -> None:
    spec = loads_spec(SPEC)
    assert isinstance(spec, Spec)
    fc1, relu, fc2, loss = spec.model.layers
    assert isinstance(fc1, LayerSpec) and fc1.component is get_registry().layer("Affine")
    assert (fc1.type, fc1.id, fc1.units, fc1.init.type) == ("Affine", "fc1", 8, "he")
    assert relu.id is None and loss.component.kind == "loss"
    assert fc2.options() == {"units": 4, "init": {"type": "normal", "std": 0.01}}
    assert spec.data.dataset == "spiral" and spec.data.classes == 4
    assert spec.data.create().describe().num_classes == 4
    # the optimizer entry is validated by Momentum's own Params: defaults filled in
    assert spec.train.optimizer == {
        "type": "Momentum",
        "lr": 0.05,
        "weight_decay": 0.0,
        "momentum": 0.9,
    }
    optimizer = spec.create_optimizer()
    assert type(optimizer).__name__ == "Momentum" and optimizer.lr == 0.05
    assert spec.dtype == "float32" and spec.train.batch_size == 100  # defaults


def test_a_spec_without_train_section_gets_every_default() -> None:
    spec = loads_spec(
        "data: {dataset: spiral}\nmodel: {layers: [{type: Affine, units: 3}, {type: SoftmaxWithLoss}]}\n"
    )
    assert spec.train.optimizer == {
        "type": "SGD",
        "lr": 0.01,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "nesterov": False,
    }
    assert (spec.train.epochs, spec.name, spec.seed) == (10, "spec", None)
    assert loads_spec(spec.to_yaml()) == spec


def test_the_name_defaults_to_the_file_name() -> None:
    spec = loads_spec(SPEC.replace("name: demo\n", ""), filename="experiments/my net.v2.yaml")
    assert spec.name == "my_net.v2"


def test_all_problems_are_reported_at_once_in_reading_order() -> None:
    text = (
        SPEC.replace("dataset: spiral", "dataset: spirall")
        .replace("units: 8", "units: -8")
        .replace("{type: Relu}", "{type: Relu, alpha: 0.1}")
        .replace("epochs: 3", "epochs: 0")
        .replace("lr: 0.05", "lr: 0.05, momentun: 0.5")
    )
    assert [m.split(": ", 2)[:2] for m in messages(text)] == [
        [at(text, "spirall"), "data.dataset"],
        [at(text, "-8"), "model.layers[0].units"],
        [at(text, "alpha"), "model.layers[1].alpha"],
        [at(text, "0\n  optimizer"), "train.epochs"],
        [at(text, "momentun"), "train.optimizer.momentun"],
    ]


def test_did_you_mean_and_the_available_names_with_their_plugin() -> None:
    (message,) = messages(SPEC.replace("{type: Relu}", "{type: relu}"))
    assert message.startswith(
        "s.yaml:7:14: model.layers[1].type: unknown layer type 'relu'; did you mean 'Relu'?"
    )
    assert "Relu" in message and "(layerkit)" in message
    if any(e.plugin == "activations" for e in get_registry().entries("layers")):
        assert "GELU" in message and "(layerkit-activations)" in message
    (message,) = messages(SPEC.replace("lr: 0.05", "lr: 0.05, momentun: 0.5"))
    assert (
        "unknown key; did you mean 'momentum'? (valid keys: type, lr, weight_decay, momentum)"
        in message
    )
    # misspelt and in another case: the spec and the registry suggest alike (one helper)
    (message,) = messages(SPEC.replace("{type: Relu}", "{type: RELUU}"))
    assert "unknown layer type 'RELUU'; did you mean 'Relu'?" in message
    with pytest.raises(PluginError, match="unknown layer 'RELUU'; did you mean 'Relu'?"):
        get_registry().layer("RELUU")


def test_a_misspelt_required_key_is_one_issue() -> None:
    text = SPEC.replace("units: 4", "unit: 4")
    assert messages(text) == [
        f"{at(text, 'unit: 4')}: model.layers[2].unit: unknown key; did you mean 'units'? (it is required) "
        "(valid keys: type, id, inputs, units, init)"
    ]


def test_nested_unions_are_located_without_pydantic_tags() -> None:
    text = SPEC.replace("init: he", "init: {type: normal, std: -1}")
    assert messages(text) == [
        f"{at(text, '-1')}: model.layers[0].init.std: must be > 0.0 (received -1)"
    ]
    text = SPEC.replace("init: he", "init: {type: normal, sd: 1}")
    assert messages(text)[0].startswith(
        f"{at(text, 'sd')}: model.layers[0].init.sd: unknown key; did you mean 'std'? (valid keys: type, std)"
    )


def test_structural_problems_are_reported_with_the_others() -> None:
    text = SPEC.replace("{type: Relu}", "{type: Mul}").replace("units: 4}", "units: 4.5}")
    got = messages(text)
    assert got == [
        f"{at(text, 'Mul')}: model.layers[1].type: Mul takes at least 2 inputs (received 1)",
        f"{at(text, '4.5')}: model.layers[2].units: must be a whole number (received 4.5)",
    ]


def test_validating_a_plain_dict_gives_unlocated_issues() -> None:
    with pytest.raises(SpecError) as info:
        validate_spec({"data": {"dataset": "spiral"}, "model": {"layers": [{"type": "Affine"}]}})
    issues = info.value.issues
    assert {i.path for i in issues} == {"model.layers[0].units", "model.layers[0].type"}
    assert all(i.file is None and i.line is None for i in issues)


def test_spec_model_validate_uses_the_registry() -> None:
    spec = Spec.model_validate(
        {
            "name": "x",
            "data": {"dataset": "spiral"},
            "model": {"layers": [{"type": "Affine", "units": 3}, {"type": "SoftmaxWithLoss"}]},
        }
    )
    assert spec.model.layers[0].units == 3


def test_equality_ignores_where_a_spec_was_read_from() -> None:
    a = loads_spec(SPEC, filename="a.yaml")
    b = loads_spec("# a comment shifts every line\n" + SPEC, filename="b.yaml")
    assert a == b
    assert a != loads_spec(SPEC.replace("epochs: 3", "epochs: 4"))


# -- plugin components are validated exactly like built-ins ----------------------------------


class _WaveParams(LayerParams):
    frequency: float = Field(1.0, gt=0, description="oscillations per unit")


class Wave(Layer):
    """A test activation: sin(frequency * x)."""

    Params: ClassVar[type[LayerParams]] = _WaveParams


class _OtherWave(Layer):
    name = "Wave"


def _registry(*extra: Entry) -> Registry:
    base = get_registry()
    groups = {g: list(base.entries(g)) for g in GROUPS}
    for entry in extra:
        groups[entry.group].append(entry)
    return Registry(by_group=groups)


def test_a_plugin_layer_gets_the_same_checks_as_builtins() -> None:
    registry = _registry(Entry("Wave", "layers", Wave, "waves", "layerkit-waves", "1.0"))
    text = SPEC.replace("{type: Relu}", "{type: Wave, frequency: %s}")
    spec = loads_spec(text % "2.5", registry=registry)
    assert spec.model.layers[1].frequency == 2.5
    assert spec.model.layers[1].create().hp.frequency == 2.5
    with pytest.raises(SpecError) as info:
        loads_spec(text % "0", filename="s.yaml", registry=registry)
    where = at(text % "0", "0}")
    assert [str(i) for i in info.value.issues] == [
        f"{where}: model.layers[1].frequency: must be > 0.0 (received 0)"
    ]
    with pytest.raises(SpecError) as info:
        loads_spec(SPEC.replace("{type: Relu}", "{type: Wav}"), registry=registry)
    assert "did you mean 'Wave'?" in str(info.value) and "Wave (layerkit-waves)" in str(info.value)


def test_a_name_two_plugins_provide_must_be_qualified() -> None:
    registry = _registry(
        Entry("Wave", "layers", Wave, "waves", "layerkit-waves", "1.0"),
        Entry("Wave", "layers", _OtherWave, "surf", "layerkit-surf", "2.0"),
    )
    text = SPEC.replace("{type: Relu}", "{type: %s}")
    with pytest.raises(SpecError) as info:
        loads_spec(text % "Wave", filename="s.yaml", registry=registry)
    (issue,) = info.value.issues
    assert (issue.line, issue.path) == (7, "model.layers[1].type")
    assert "'waves:Wave' (from layerkit-waves), 'surf:Wave' (from layerkit-surf)" in issue.message
    spec = loads_spec(text % "surf:Wave", registry=registry)
    assert spec.model.layers[1].component is _OtherWave and spec.model.layers[1].type == "surf:Wave"


def test_a_unique_name_may_be_qualified_and_is_stored_bare() -> None:
    spec = loads_spec(SPEC.replace("{type: Relu}", "{type: builtins:Relu}"))
    assert spec.model.layers[1].type == "Relu"
    (message,) = messages(SPEC.replace("{type: Relu}", "{type: nowhere:Relu}"))
    assert "unknown plugin 'nowhere'" in message


def test_a_plugin_whose_params_claim_a_reserved_key_is_refused() -> None:
    class _Bad(LayerParams):
        id: int = 0

    class Bad(Layer):
        Params: ClassVar[type[LayerParams]] = _Bad

    with pytest.raises(PluginError, match="its Params may not define id"):
        spec_models(_registry(Entry("Bad", "layers", Bad, "bad", "layerkit-bad", "0")))
