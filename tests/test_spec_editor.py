"""The shipped schema in a real editor backend: yaml-language-server (from npm) over LSP stdio.

What a user sees in VS Code or Neovim: the model specs open without a diagnostic (their
modeline resolves), mistakes are flagged at the right line with the right message, layer types
and a layer's keys are completed, and hovers show the descriptions. One server process serves
the whole module (it starts in about a second).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsp_support import ROOT, LspClient, yaml_language_server

from layerkit.plugins import get_registry

MODEL_SPECS = sorted((ROOT / "model_specs").glob("*.yaml"))
HAS_EXAMPLE_PLUGIN = any(e.plugin == "activations" for e in get_registry().entries("layers"))
SETTINGS = {
    "yaml": {
        "validate": True,
        "hover": True,
        "completion": True,
        "format": {"enable": False},
        "schemaStore": {"enable": False},  # no network, and no other schema may win
    }
}


@pytest.fixture(scope="module")
def server() -> Iterator[LspClient]:
    client = LspClient(yaml_language_server(), ROOT, SETTINGS)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    """A folder beside a copy of the shipped schema, so the model specs' modeline resolves."""
    shutil.copy(ROOT / "layerkit-spec.schema.json", tmp_path / "layerkit-spec.schema.json")
    (tmp_path / "specs").mkdir()
    return tmp_path / "specs"


def _open(server: LspClient, path: Path, body: str) -> tuple[str, str]:
    text = "# yaml-language-server: $schema=../layerkit-spec.schema.json\n" + body
    path.write_text(text)
    return server.open(path, text), text


def _where(text: str, needle: str, skip: int = 0) -> tuple[int, int]:
    """(line, column), 0-based, of the first ``needle`` in ``text``, plus ``skip`` characters."""
    offset = text.index(needle) + skip
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _located(diagnostics: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return sorted(
        (d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"])
        for d in diagnostics
    )


@pytest.mark.parametrize("path", MODEL_SPECS, ids=[p.stem for p in MODEL_SPECS])
def test_model_specs_open_clean_through_their_modeline(server: LspClient, path: Path) -> None:
    if path.name == "activations_plugin.yaml" and not HAS_EXAMPLE_PLUGIN:
        pytest.skip("needs the example plugin")
    uri = server.open(
        path, path.read_text()
    )  # at its real place: the relative modeline must resolve
    assert server.diagnostics(uri) == []


WRONG = """\
data:
  dataset: spiral
  noise: -1
model:
  layers:
    - {type: builtins:Affine, units: 100}
    - {type: Dropout, rate: 1.5}
    - {type: Affin, units: 3}
    - {type: Relu, id: 1x}
    - {type: SoftmaxWithLoss}
train:
  batch_sise: 10
  optimizer: {type: SGD, lr: 0.1, momentum: 0.9}
  schedule: {type: step, step_size: 0}
"""


def test_mistakes_are_flagged_at_their_line_with_a_precise_message(
    server: LspClient, spec_dir: Path
) -> None:
    uri, text = _open(server, spec_dir / "wrong.yaml", WRONG)
    found = _located(server.diagnostics(uri))
    expected = [
        (*_where(text, "noise: -1", len("noise: ")), "Value is below the minimum of 0."),
        (*_where(text, "rate: 1.5", len("rate: ")), "Value is above the exclusive maximum of 1."),
        (*_where(text, "Affin,"), "Value is not accepted. Valid values: "),
        (
            *_where(text, "id: 1x", len("id: ")),
            'String does not match the pattern of "^[A-Za-z_][A-Za-z0-9_-]*$".',
        ),
        (*_where(text, "batch_sise"), "Property batch_sise is not allowed."),
        (*_where(text, "momentum"), "Property momentum is not allowed."),
        (*_where(text, "step_size: 0", len("step_size: ")), "Value is below the minimum of 1."),
    ]
    assert [(line, col) for line, col, _ in found] == sorted(
        (line, col) for line, col, _ in expected
    )
    for (_, _, message), (_, _, wanted) in zip(found, sorted(expected)):
        assert message.startswith(wanted), (message, wanted)
    unknown = next(m for _, _, m in found if m.startswith("Value is not accepted"))
    assert '"Affine"' in unknown and '"Dropout"' in unknown and "builtins:" not in unknown
    # the qualified builtins:Affine on line 6 is accepted: no diagnostic there
    assert _where(text, "builtins:Affine")[0] not in [line for line, _, _ in found]


def test_plugin_layers_and_qualified_names_are_accepted(server: LspClient, spec_dir: Path) -> None:
    if not HAS_EXAMPLE_PLUGIN:
        pytest.skip("needs the example plugin")
    body = (
        "data: {dataset: builtins:spiral}\n"
        "model:\n"
        "  layers:\n"
        "    - {type: Affine, units: 10}\n"
        "    - {type: activations:GELU}\n"
        "    - {type: SiLU}\n"
        "    - {type: Affine, units: 3, init: {type: xavier, mode: fan_in}}\n"
        "    - {type: builtins:SoftmaxWithLoss}\n"
        "train: {optimizer: {type: builtins:Adam}, schedule: null}\n"
    )
    uri, _ = _open(server, spec_dir / "qualified.yaml", body)
    assert server.diagnostics(uri) == []


COMPLETE = (
    "data:\n"
    "  dataset: spiral\n"
    "model:\n"
    "  layers:\n"
    "    - type: Affine\n"
    "      units: 3\n"
    "    - type: Dropout\n"
    "      rate: 0.3\n"
    "    - type: \n"  # the cursor goes after the space
    "train:\n"
    "  epochs: 3\n"
)


def test_completion_offers_layer_types_and_a_layers_keys(server: LspClient, spec_dir: Path) -> None:
    uri, text = _open(server, spec_dir / "complete.yaml", COMPLETE)
    line, col = _where(text, "type: \n")
    items = server.completion(uri, line, col + len("type: "))
    labels = {i["label"] for i in items}
    registry = get_registry()
    layers = {registry.display_name(e) for e in registry.entries("layers")}
    assert layers <= labels and not any(":" in label for label in labels)  # one line per layer
    dropout = next(i for i in items if i["label"] == "Dropout")
    assert "Inverted dropout" in str(dropout.get("documentation"))

    # a new key in the Dropout entry: its own options, not another layer's
    line, _ = _where(text, "      rate: 0.3")
    text2 = text.replace("      rate: 0.3\n", "      rate: 0.3\n      \n", 1)
    uri = server.open(spec_dir / "complete2.yaml", text2)
    keys = {i["label"] for i in server.completion(uri, line + 1, 6)}
    assert {"id"} <= keys and "units" not in keys and "rate" not in keys  # rate is already there
    line, _ = _where(text, "      units: 3")
    text3 = text.replace("      units: 3\n", "      \n", 1)
    uri = server.open(spec_dir / "complete3.yaml", text3)
    keys = {i["label"] for i in server.completion(uri, line, 6)}
    assert {"units", "init", "id"} <= keys and "rate" not in keys


def test_hovers_show_the_descriptions(server: LspClient, spec_dir: Path) -> None:
    uri, text = _open(server, spec_dir / "hover.yaml", COMPLETE)

    def hover(needle: str) -> str:
        line, col = _where(text, needle)
        return re.sub(r"\\(.)", r"\1", server.hover(uri, line, col + 1))  # markdown escapes

    assert "passes over the training set (>= 1; default 10)" in hover("epochs")
    assert "fraction of units zeroed in training (>= 0 and < 1; default 0.5)" in hover("rate")
    assert "number of output units (> 0)" in hover("units")
    assert "how to train" in hover("train:")
    assert "the network" in hover("model:")
    assert "Spiral: K interleaved 2-D spiral arms" in hover("spiral")
