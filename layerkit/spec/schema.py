"""The JSON Schema of specs, with every registered component as a branch keyed on its name.

``layerkit schema -o layerkit-spec.schema.json`` and a first line
``# yaml-language-server: $schema=layerkit-spec.schema.json`` in a spec give completion,
hover help and checking in editors using the YAML language server (VS Code, Neovim, Helix...).
The schema describes what the installed plugins provide: regenerate it after installing one.
The repository ships the one for the built-ins and the example plugin at its root (a test
keeps it current), which every spec in ``model_specs/`` names in its first line.

pydantic describes a union discriminated by ``type`` with OpenAPI's ``discriminator`` keyword
beside a plain ``oneOf``. Ordinary JSON Schema validators ignore that keyword, try every branch
and report the wrong one ("'rate' was unexpected ... 'Mul' was expected" for a Dropout whose
rate is out of range). :func:`spec_schema` rewrites every such union, wherever it occurs (layers,
datasets, optimizers, initialisers, schedules and whatever sections or component groups come
later), into standard draft 2020-12: the name is checked once against the list of names, and one
``if``/``then`` per branch applies exactly the branch that name selects, so a validator reports
the problem inside that branch, at its key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from layerkit.plugins import Registry
from layerkit.spec.models import spec_models

__all__ = ["spec_schema", "keyed_unions", "with_limits_described", "SCHEMA_DIALECT"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec for ``registry`` (default: the installed one)."""
    models = spec_models(registry)
    body = models.schema_spec.model_json_schema(mode="validation")
    # The loader names a spec after its file when 'name' is missing; a missing 'train' is every
    # default of that section (not null, which is pydantic's placeholder here).
    body["required"] = [key for key in body.get("required", []) if key != "name"]
    body["properties"]["train"].pop("default", None)
    schema = {
        "$schema": SCHEMA_DIALECT,
        "title": "layerkit spec",
        "description": (
            "A layerkit network, its data and its training (docs/specs.md). Every component "
            "(layer, dataset, optimizer, initialiser, schedule, ...) is chosen by its 'type' "
            "('dataset' in the data section); its other keys are that component's options."
        ),
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }
    return with_limits_described(keyed_unions(schema))


def keyed_unions(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with each OpenAPI-style discriminated ``oneOf`` made standard.

    A node ``{oneOf: [branches], discriminator: {propertyName: P, mapping}}`` becomes an object
    schema that requires ``P``, lists the names every branch accepts for ``P`` (with the
    branch's description for editors' completion lists) and holds one
    ``{if: {P matches the branch's names}, then: branch}`` per branch. The names come from the
    branches themselves (their ``P`` property's ``const`` or ``enum``), so nothing here knows
    which components exist.
    """
    out = copy.deepcopy(schema)
    defs: dict[str, Any] = out.get("$defs", {})
    _visit(out, defs)
    return out


def with_limits_described(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (changed in place) with each property's range and default in its description.

    Editors show a property's description on hover and in completion lists, but not its
    ``minimum`` or ``default``: "fraction of units zeroed in training" becomes "fraction of
    units zeroed in training (>= 0 and < 1; default 0.5)", for plugin components too.
    """
    for node in _nodes(schema):
        for prop in (node.get("properties") or {}).values():
            if isinstance(prop, dict) and isinstance(prop.get("description"), str):
                hints = _limits(prop)
                if hints:
                    prop["description"] = f"{prop['description']} ({'; '.join(hints)})"
    return schema


def _nodes(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


_BOUNDS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
)


def _limits(prop: dict[str, Any]) -> list[str]:
    # Bounds sit on the property, or on its numeric branch when null is allowed too.
    numeric = [prop] + [
        b["then"]
        for b in prop.get("allOf", [])
        if b.get("if", {}).get("type") in ("integer", "number")
    ]
    bounds = [f"{op} {_number(n[key])}" for n in numeric for key, op in _BOUNDS if key in n]
    hints = [" and ".join(bounds)] if bounds else []
    default = prop.get("default", ...)
    said = "default" in prop["description"].lower()
    if not said and (default is None or isinstance(default, (str, int, float, bool))):
        hints.append(f"default {_yaml_scalar(default)}")
    return hints


def _number(value: float) -> str:
    if isinstance(value, int) and value >= 2**32 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    return repr(value)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _visit(node: Any, defs: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _visit(value, defs)
        if isinstance(node.get("discriminator"), dict) and ("oneOf" in node or "anyOf" in node):
            _key_on_name(node, defs)
        elif isinstance(node.get("anyOf"), list):
            _key_on_json_type(node, defs)
    elif isinstance(node, list):
        for value in node:
            _visit(value, defs)


def _resolve(member: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = member.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs[ref.removeprefix("#/$defs/")]
    return member


def _key_on_name(node: dict[str, Any], defs: dict[str, Any]) -> None:
    prop = node["discriminator"]["propertyName"]
    members: list[dict[str, Any]] = node["oneOf"] if "oneOf" in node else node["anyOf"]
    branches: list[dict[str, Any]] = []
    names: list[str] = []
    docs: list[str] = []
    aliases: list[tuple[str, str]] = []  # (alias, the name it stands for)
    for member in members:
        target = _resolve(member, defs)
        name_schema = target.get("properties", {}).get(prop, {})
        values = (
            [name_schema["const"]] if "const" in name_schema else list(name_schema.get("enum", []))
        )
        if not values:
            return  # not keyed on a fixed name: leave the union as pydantic wrote it
        names.append(values[0])
        docs.append(
            _first_line(target.get("description", ""))
            or _first_line(name_schema.get("description", ""))
        )
        aliases.extend((alias, values[0]) for alias in values[1:])
        # A pattern, not the branch's enum: yaml-language-server adds every tested condition to
        # its hovers, which would then list every name of every branch.
        condition = {"type": "string", "pattern": _one_of_pattern(values)}
        branches.append(
            {
                "if": {"type": "object", "required": [prop], "properties": {prop: condition}},
                "then": member,
            }
        )
    name_doc = "selects which one this entry is; the other keys are its options"
    if aliases:
        name_doc += f" (a name may be qualified by its plugin, as in {aliases[0][0]})"
    for key in ("oneOf", "anyOf", "discriminator"):
        node.pop(key, None)
    node["type"] = "object"
    node["required"] = [prop]
    # Editors list the names (with their enumDescriptions, which yaml-language-server shows in
    # completion lists and hovers) and match the qualified spellings by a pattern, so that
    # those lists keep one line per component.
    listed: dict[str, Any] = {"enum": names, "enumDescriptions": docs}
    name_prop: dict[str, Any] = {"type": "string", "description": name_doc}
    if aliases:
        name_prop["anyOf"] = [listed, {"pattern": _one_of_pattern(alias for alias, _ in aliases)}]
    else:
        name_prop.update(listed)
    node["properties"] = {prop: name_prop}
    node["allOf"] = [*node.get("allOf", []), *branches]


def _key_on_json_type(node: dict[str, Any], defs: dict[str, Any]) -> None:
    """``anyOf`` alternatives of different JSON types (``X | None``, an initialiser given as a
    mapping or a name) become one ``if``/``then`` per type, so a wrong value is reported against
    the alternative of its own type ("'1x' does not match ...", not "'1x' is not of type 'null'")."""
    members = node["anyOf"]
    types = [_resolve(member, defs).get("type") for member in members]
    if "type" in node or not all(isinstance(t, str) for t in types):
        return
    kinds = {"number" if t == "integer" else t for t in types}  # integers are numbers too
    if len(kinds) != len(types):
        return
    node.pop("anyOf")
    node["type"] = types
    branches = [
        {"if": {"type": t}, "then": m} for t, m in zip(types, members) if set(m) != {"type"}
    ]
    if branches:
        node["allOf"] = [*node.get("allOf", []), *branches]


def _one_of_pattern(words: Iterable[str]) -> str:
    """An ECMA-262 regular expression (JSON Schema's dialect) matching exactly ``words``."""
    return "^(?:" + "|".join(re.sub(r"([\\^$.|?*+()\[\]{}/-])", r"\\\1", w) for w in words) + ")$"


def _first_line(text: str) -> str:
    """A docstring's first paragraph on one line, without reST's double backquotes."""
    return text.strip().split("\n\n", 1)[0].replace("\n", " ").replace("``", "")
