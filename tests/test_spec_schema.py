"""The JSON Schema, and the specs shipped in model_specs/ (validated against it and built)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from layerkit.plugins import get_registry
from layerkit.spec import build_network, load_spec, spec_schema
from layerkit.spec.yamlio import parse_document, plain, read_spec_text

MODEL_SPECS = sorted((Path(__file__).parent.parent / "model_specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _raw(path: Path) -> dict:
    return plain(parse_document(read_spec_text(path), filename=str(path)))


def test_every_registered_component_is_a_branch_keyed_on_its_name() -> None:
    schema = spec_schema()
    defs = schema["$defs"]
    layers = schema["$defs"]["ModelSpec"]["properties"]["layers"]["items"]
    tags = set(layers["discriminator"]["mapping"])
    registry = get_registry()
    assert tags == {registry.display_name(e) for e in registry.entries("layers")} | {"block"}
    affine = defs[layers["discriminator"]["mapping"]["Affine"].split("/")[-1]]
    assert (affine["properties"]["type"]["const"], affine["required"]) == ("Affine", ["type", "units"])
    assert affine["properties"]["units"]["exclusiveMinimum"] == 0 and affine["additionalProperties"] is False
    assert "spiral" in schema["properties"]["data"]["discriminator"]["mapping"]
    optimizer = defs["TrainConfig"]["properties"]["optimizer"]
    assert {"SGD", "Adam"} <= set(optimizer["discriminator"]["mapping"])
    assert "name" not in schema["required"]  # defaults to the file's name


def test_plugin_layers_are_in_the_schema() -> None:
    if not any(e.plugin == "activations" for e in get_registry().entries("layers")):
        pytest.skip("the example plugin plugins/layerkit-activations is not installed")
    mapping = spec_schema()["$defs"]["ModelSpec"]["properties"]["layers"]["items"]["discriminator"]["mapping"]
    assert {"GELU", "SiLU", "Swish"} <= set(mapping)


def test_the_model_specs_are_all_there() -> None:
    names = {p.name for p in MODEL_SPECS}
    assert {"two_layer_net.yaml", "mlp_fashion.yaml", "spiral.yaml", "activations_plugin.yaml"} <= names


@pytest.mark.parametrize("path", MODEL_SPECS, ids=[p.stem for p in MODEL_SPECS])
def test_model_specs_match_the_schema_and_build(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    errors = sorted(validator.iter_errors(_raw(path)), key=str)
    assert not errors, [e.message for e in errors]
    network = build_network(load_spec(path))
    assert network.built


def test_the_schema_rejects_what_the_loader_rejects(validator: jsonschema.Draft202012Validator) -> None:
    raw = _raw(MODEL_SPECS[0])
    bad_units = {**raw, "model": {"layers": [{"type": "Affine", "units": 0}, {"type": "SoftmaxWithLoss"}]}}
    unknown = {**raw, "model": {"layers": [{"type": "Affin", "units": 3}, {"type": "SoftmaxWithLoss"}]}}
    extra_key = {**raw, "trian": {}}
    bad_optimizer = {**raw, "train": {"optimizer": {"type": "SGD", "momentum": 0.9}}}
    for doc in (bad_units, unknown, extra_key, bad_optimizer):
        assert not validator.is_valid(doc)
