"""The JSON Schema of specs, with every registered layer, dataset and optimizer as a branch.

``layerkit schema > layerkit-spec.schema.json`` and a first line
``# yaml-language-server: $schema=layerkit-spec.schema.json`` in a spec give completion,
hover help and checking in editors using the YAML language server (VS Code, Neovim, Helix...).
The schema describes what the installed plugins provide: regenerate it after installing one.
"""

from __future__ import annotations

from typing import Any

from layerkit.plugins import Registry
from layerkit.spec.models import spec_models

__all__ = ["spec_schema", "SCHEMA_DIALECT"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec for ``registry`` (default: the installed one)."""
    models = spec_models(registry)
    body = models.schema_spec.model_json_schema(mode="validation")
    # The loader names a spec after its file when 'name' is missing.
    body["required"] = [key for key in body.get("required", []) if key != "name"]
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "layerkit spec",
        "description": (
            "A layerkit network, its data and its training. Layer entries are keyed on 'type', "
            "the data section on 'dataset'; each branch is one registered component."
        ),
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }
