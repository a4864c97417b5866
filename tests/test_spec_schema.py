"""The JSON Schema: keyed on each component's name, every spelling validate accepts, a
description on every field, the shipped file in sync, and the specs of model_specs/ (validated
against it, by jsonschema and by the check-jsonschema command, and built)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from layerkit.plugins import get_registry
from layerkit.spec import build_network, load_spec, loads_spec, spec_schema
from layerkit.spec.yamlio import parse_document, plain, read_spec_text

ROOT = Path(__file__).parent.parent
MODEL_SPECS = sorted((ROOT / "model_specs").glob("*.yaml"))
SCHEMA_FILE = ROOT / "layerkit-spec.schema.json"
MODELINE = "# yaml-language-server: $schema=../layerkit-spec.schema.json"
HAS_EXAMPLE_PLUGIN = any(e.plugin == "activations" for e in get_registry().entries("layers"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return spec_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _raw(path: Path) -> dict[str, Any]:
    return plain(parse_document(read_spec_text(path), filename=str(path)))  # type: ignore[no-any-return]


def _doc(text: str) -> dict[str, Any]:
    return plain(parse_document(textwrap.dedent(text), filename="<test>"))  # type: ignore[no-any-return]


def _errors(
    validator: jsonschema.Draft202012Validator, doc: dict[str, Any]
) -> list[tuple[str, str]]:
    """(path, message) of each error, descending into anyOf the way check-jsonschema's best match does."""
    out = []
    for error in validator.iter_errors(doc):
        best = jsonschema.exceptions.best_match(error.context) if error.context else error
        out.append((best.json_path, best.message))
    return sorted(out)


def _layer_entry(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["$defs"]["ModelSpec"]["properties"]["layers"]["items"]  # type: ignore[no-any-return]


def _branch_names(node: dict[str, Any], prop: str = "type") -> list[str]:
    """The names listed for completion (qualified spellings are matched by a pattern beside them)."""
    name = node["properties"][prop]
    return list(name["anyOf"][0]["enum"] if "anyOf" in name else name["enum"])


# -- structure ------------------------------------------------------------------------------


def test_every_registered_component_is_a_branch_keyed_on_its_name(schema: dict[str, Any]) -> None:
    registry = get_registry()
    layers = _layer_entry(schema)
    assert "discriminator" not in json.dumps(schema)  # OpenAPI's keyword, which validators ignore
    assert layers["required"] == ["type"]
    # every registered layer (entries of another kind, such as block uses, may be listed too)
    names = _branch_names(layers)
    assert {registry.display_name(e) for e in registry.entries("layers")} <= set(names)
    # one if/then per name, the then being that entry's own strict model
    branches = {b["then"]["$ref"].split("/")[-1] for b in layers["allOf"]}
    assert len(branches) == len(names) and "AffineLayer" in branches
    affine = schema["$defs"]["AffineLayer"]
    assert affine["required"] == ["type", "units"] and affine["additionalProperties"] is False
    assert affine["properties"]["units"]["exclusiveMinimum"] == 0
    assert "spiral" in _branch_names(schema["properties"]["data"], "dataset")
    optimizer = schema["$defs"]["TrainConfig"]["properties"]["optimizer"]
    assert {"SGD", "Adam"} <= set(_branch_names(optimizer))
    schedule = schema["$defs"]["TrainConfig"]["properties"]["schedule"]
    assert schedule["type"] == ["object", "null"]
    assert _branch_names(schedule["allOf"][0]["then"]) == ["step", "cosine"]
    assert "name" not in schema["required"]  # defaults to the file's name


def test_plugin_layers_are_in_the_schema(schema: dict[str, Any]) -> None:
    if not HAS_EXAMPLE_PLUGIN:
        pytest.skip("the example plugin plugins/layerkit-activations is not installed")
    assert {"GELU", "SiLU", "Swish"} <= set(_branch_names(_layer_entry(schema)))
    assert "Swish: x * sigmoid(beta * x)" in " ".join(
        _layer_entry(schema)["properties"]["type"]["anyOf"][0]["enumDescriptions"]
    )


def test_the_model_specs_are_all_there() -> None:
    names = {p.name for p in MODEL_SPECS}
    assert {
        "two_layer_net.yaml",
        "mlp_fashion.yaml",
        "spiral.yaml",
        "activations_plugin.yaml",
    } <= names


@pytest.mark.parametrize("path", MODEL_SPECS, ids=[p.stem for p in MODEL_SPECS])
def test_model_specs_match_the_schema_and_build(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    assert not _errors(validator, _raw(path))
    network = build_network(load_spec(path))
    assert network.built


# -- what validate accepts, the schema accepts; what it rejects, the schema reports precisely ---


QUALIFIED = """
    data: {dataset: builtins:spiral}
    model:
      layers:
        - {type: builtins:Affine, units: 20, init: {type: xavier, mode: fan_in}}
        - {type: Relu}
        - {type: builtins:Dropout, rate: 0.1}
        - {type: Affine, units: 3, init: he}
        - {type: builtins:SoftmaxWithLoss}
    train: {optimizer: {type: builtins:Adam, lr: 0.01}, schedule: {type: cosine}}
"""


def test_qualified_names_validate_accepts_are_valid(
    validator: jsonschema.Draft202012Validator,
) -> None:
    loads_spec(QUALIFIED)  # validate accepts these spellings...
    assert _errors(validator, _doc(QUALIFIED)) == []  # ...and so does the schema
    if HAS_EXAMPLE_PLUGIN:
        plugin = QUALIFIED.replace("{type: Relu}", "{type: activations:GELU}")
        loads_spec(plugin)
        assert _errors(validator, _doc(plugin)) == []


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("Affine", True),
        ("builtins:Affine", True),
        ("affine", False),
        ("AFFINE", False),
        ("builtins:affine", False),
        ("Builtins:Affine", False),
        ("builtins:", False),
        (":Affine", False),
        ("builtins:Affine:", False),
        ("xbuiltins:Affine", False),
    ],
)
def test_the_schema_has_validates_case_and_qualification_rules(
    name: str, accepted: bool, validator: jsonschema.Draft202012Validator
) -> None:
    text = QUALIFIED.replace("builtins:Affine", repr(name))
    try:
        loads_spec(text)
        loaded = True
    except Exception:  # noqa: BLE001 - SpecError; only the verdict is compared
        loaded = False
    assert loaded is accepted
    assert (_errors(validator, _doc(text)) == []) is accepted


WRONG = {
    "dropout_rate": (
        "- {type: Dropout, rate: 1.5}",
        "$.model.layers[1].rate",
        "1.5 is greater than or equal to the maximum of 1",
    ),
    "unknown_key": ("- {type: Dropout, rat: 0.5}", "$.model.layers[1]", "'rat' was unexpected"),
    "unknown_type": (
        "- {type: Dropoutt}",
        "$.model.layers[1].type",
        "'Dropoutt' is not one of ['Mul', 'Add', 'Affine'",
    ),
    "missing_units": ("- {type: Affine}", "$.model.layers[1]", "'units' is a required property"),
    "bad_id": ("- {type: Relu, id: 1x}", "$.model.layers[1].id", "'1x' does not match"),
    "init_mode": (
        "- {type: Affine, units: 4, init: {type: xavier, mode: fan_out}}",
        "$.model.layers[1].init.mode",
        "'fan_out' is not one of ['fan_avg', 'fan_in']",
    ),
    "init_name": (
        "- {type: Affine, units: 4, init: hee}",
        "$.model.layers[1].init",
        "'hee' is not one of ['normal', 'he', 'xavier']",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_layers_are_reported_at_the_right_key(
    case: str, validator: jsonschema.Draft202012Validator
) -> None:
    line, path, message = WRONG[case]
    doc = _doc(f"""
        data: {{dataset: spiral}}
        model:
          layers:
            - {{type: Affine, units: 3}}
            {line}
            - {{type: SoftmaxWithLoss}}
    """)
    with pytest.raises(Exception):  # noqa: B017 - validate rejects it too (its message is tested elsewhere)
        loads_spec(json.dumps(doc))
    errors = _errors(validator, doc)
    assert len(errors) == 1, errors
    assert errors[0][0] == path and message in errors[0][1], errors


def test_wrong_sections_are_reported_at_the_right_key(
    validator: jsonschema.Draft202012Validator,
) -> None:
    doc = _doc("""
        data: {dataset: spiral, noise: -1}
        model: {layers: [{type: Affine, units: 3}, {type: SoftmaxWithLoss}]}
        trian: {}
        train:
          optimizer: {type: SGD, lr: 0.1, momentum: 0.9}
          schedule: {type: step, step_size: 0}
          early_stopping: {patience: 0}
          checkpoint: {keep: 0}
    """)
    assert _errors(validator, doc) == [
        ("$", "Additional properties are not allowed ('trian' was unexpected)"),
        ("$.data.noise", "-1 is less than the minimum of 0"),
        ("$.train.checkpoint.keep", "0 is less than the minimum of 1"),
        ("$.train.early_stopping.patience", "0 is less than the minimum of 1"),
        ("$.train.optimizer", "Additional properties are not allowed ('momentum' was unexpected)"),
        ("$.train.schedule.step_size", "0 is less than the minimum of 1"),
    ]


# -- descriptions ---------------------------------------------------------------------------


def _undescribed(node: Any, path: str) -> Iterator[str]:
    """Every property, anywhere in the schema, without a description of its own."""
    if isinstance(node, dict):
        for key, prop in (node.get("properties") or {}).items():
            if not (isinstance(prop, dict) and str(prop.get("description", "")).strip()):
                yield f"{path}/properties/{key}"
        for key, value in node.items():
            if key != "if":  # conditions select a branch; the branch describes the keys
                yield from _undescribed(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _undescribed(value, f"{path}/{i}")


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    assert list(_undescribed(schema, "#")) == []
    if HAS_EXAMPLE_PLUGIN:  # plugin components are covered too
        assert schema["$defs"]["SwishLayer"]["properties"]["beta"]["description"]


def test_descriptions_state_ranges_and_defaults(schema: dict[str, Any]) -> None:
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["epochs"]["description"] == "passes over the training set (>= 1; default 10)"
    rate = schema["$defs"]["DropoutLayer"]["properties"]["rate"]["description"]
    assert rate.endswith("(>= 0 and < 1; default 0.5)")
    assert schema["properties"]["seed"]["description"].endswith("(>= 0 and < 2^64; default null)")
    assert "default" not in schema["properties"]["model"]["description"]


# -- the shipped schema file and the modeline -----------------------------------------------


def _shipped_plugins() -> set[str]:
    """builtins and the entry points of the example plugins under plugins/ (setup.sh installs them)."""
    tomllib = pytest.importorskip("tomllib")
    names = {"builtins"}
    for pyproject in ROOT.glob("plugins/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        names |= set(project.get("entry-points", {}).get("layerkit", {}))
    return names


def test_the_shipped_schema_file_is_current(schema: dict[str, Any]) -> None:
    shipped = _shipped_plugins()
    loaded = {p.name for p in get_registry().plugins}
    if loaded != shipped:
        why = f"the shipped schema covers plugins {sorted(shipped)}; this environment has {sorted(loaded)}"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    expected = json.dumps(schema, indent=2) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "layerkit-spec.schema.json is out of date: run `layerkit schema -o layerkit-spec.schema.json`"
    )


@pytest.mark.parametrize("path", MODEL_SPECS, ids=[p.stem for p in MODEL_SPECS])
def test_every_model_spec_names_the_shipped_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == SCHEMA_FILE.resolve() and target.is_file()


def test_check_jsonschema_accepts_the_model_specs_and_reports_wrong_ones(tmp_path: Path) -> None:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema is not installed (it is in layerkit's dev extra)")
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    ok = subprocess.run(
        [exe, "--schemafile", str(SCHEMA_FILE), *map(str, MODEL_SPECS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "data: {dataset: builtins:spiral}\n"
        "model:\n"
        "  layers:\n"
        "    - {type: builtins:Affine, units: 3}\n"
        "    - {type: Dropout, rate: 1.5}\n"
        "    - {type: SoftmaxWithLoss}\n"
    )
    wrong = subprocess.run(
        [exe, "--schemafile", str(SCHEMA_FILE), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert wrong.returncode == 1
    reported = [line.strip() for line in wrong.stdout.splitlines() if "::" in line]
    assert reported == [
        f"{bad}::$.model.layers[1].rate: 1.5 is greater than or equal to the maximum of 1"
    ]


# -- components a plugin adds flow in with their own unions and descriptions ----------------


PLUGIN = '''
from typing import Annotated, Literal, Union
from pydantic import BaseModel, ConfigDict, Field
from layerkit import hookimpl
from layerkit.initializers import Initializer
from layerkit.layers.base import Layer, LayerParams


class Fixed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["fixed"] = Field(description="a fixed gate")
    value: float = Field(ge=0, le=1, description="the gate's value")


class Learned(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["learned"] = Field(description="a learned gate")


class GateParams(LayerParams):
    gate: Annotated[Union[Fixed, Learned], Field(discriminator="kind")] = Field(description="how x is gated")
    init: Initializer = Field(default_factory=lambda: {"type": "he"}, description="weights")


class Affine(Layer):
    """An Affine that shares its name with the built-in one."""
    Params = GateParams

    def forward(self, x, *, train=False):
        return x

    def backward(self, dout):
        return dout


@hookimpl
def layerkit_add_layers():
    return [Affine]
'''


def _schema_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LAYERKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [sys.executable, "-m", "layerkit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_plugins_components_and_unions_flow_into_the_schema(tmp_path: Path) -> None:
    (tmp_path / "gateplugin.py").write_text(PLUGIN)
    out = tmp_path / "schema.json"
    before = _schema_cli(tmp_path, "schema", "-o", str(out))
    assert before.returncode == 0 and "plugins: builtins)" in before.stderr, before.stderr
    assert "gateplugin" not in out.read_text()
    # after "installing" the plugin, the same command refreshes the file in place
    result = _schema_cli(tmp_path, "-p", "gateplugin", "schema", "-o", str(out))
    assert result.returncode == 0, result.stderr
    builtin_layers = int(re.search(r": (\d+) layers", before.stderr).group(1))  # type: ignore[union-attr]
    assert f"wrote {out}: {builtin_layers + 1} layers" in result.stderr
    assert "(plugins: builtins, gateplugin)" in result.stderr
    schema = json.loads(out.read_text())
    assert list(_undescribed(schema, "#")) == []
    validator = jsonschema.Draft202012Validator(schema)
    layers = _layer_entry(schema)
    # Affine is now ambiguous: like validate, the schema wants it qualified
    assert {"builtins:Affine", "gateplugin:Affine"} <= set(
        _branch_names(layers)
    ) and "Affine" not in _branch_names(layers)

    def spec(entry: str) -> dict[str, Any]:
        return _doc(f"""
            data: {{dataset: spiral}}
            model: {{layers: [{entry}, {{type: builtins:Affine, units: 3}}, {{type: SoftmaxWithLoss}}]}}
        """)

    assert (
        _errors(validator, spec("{type: gateplugin:Affine, gate: {kind: fixed, value: 0.5}}")) == []
    )
    assert _errors(validator, spec("{type: Affine, units: 3}"))[0][0] == "$.model.layers[0].type"
    assert _errors(validator, spec("{type: gateplugin:Affine, gate: {kind: fixed, value: 2}}")) == [
        ("$.model.layers[0].gate.value", "2 is greater than the maximum of 1")
    ]
    assert _errors(
        validator, spec("{type: gateplugin:Affine, gate: {kind: learned, value: 2}}")
    ) == [
        ("$.model.layers[0].gate", "Additional properties are not allowed ('value' was unexpected)")
    ]


def test_schema_output_errors_are_user_errors_and_keep_the_old_file(tmp_path: Path) -> None:
    missing = _schema_cli(tmp_path, "schema", "-o", str(tmp_path / "no" / "such" / "dir.json"))
    assert (
        missing.returncode == 2
        and "cannot write" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    assert not (tmp_path / "no").exists()
    out = tmp_path / "schema.json"
    out.write_text("{}\n")
    (tmp_path / "schema.json.d").mkdir()
    onto_dir = _schema_cli(tmp_path, "schema", "-o", str(tmp_path / "schema.json.d"))
    assert onto_dir.returncode == 2 and "Traceback" not in onto_dir.stderr
    assert out.read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "schema.json",
        "schema.json.d",
    ]  # no temporary left
