"""Turn pydantic validation errors into located spec issues with did-you-mean.

pydantic reports ``('model', 'layers', 2, 'Affine', 'units')``: a location in the data, with the
tag of each discriminated union it went through. This module removes the tags, finds the YAML
mark of the location (the key itself for an unknown key, the enclosing mapping for a missing
one), and rewrites the messages that matter most: unknown component names (with the names
available and the plugin providing each) and unknown keys (with the keys allowed there).
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from layerkit._validation import (
    _MISSING,
    closest,
    describe_errors,
    did_you_mean,
    format_loc,
    short_repr,
)
from layerkit.errors import PluginError, SpecIssue
from layerkit.layer_list import structure_problems
from layerkit.plugins import SINGULAR
from layerkit.spec.models import SpecModels
from layerkit.spec.yamlio import Mark, mark_of

__all__ = [
    "issues_from_validation",
    "raw_structure_issues",
    "issue_at",
    "locate",
    "available_names",
    "unknown_name",
    "sort_issues",
]

#: loc segments pydantic adds for the branches of non-discriminated unions
_BRANCH_LABELS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict", "bytes"}


# -- names ----------------------------------------------------------------------------------


def available_names(models: SpecModels, group: str) -> str:
    """``"Affine, Relu (layerkit); GELU, SiLU (layerkit-activations)"``: names by provider."""
    by_provider: dict[str, list[str]] = {}
    for tag, model in models.group(group).models.items():
        entry = model.entry  # type: ignore[attr-defined]
        by_provider.setdefault(entry.distribution or entry.plugin, []).append(tag)
    return "; ".join(
        f"{', '.join(sorted(names))} ({provider})" for provider, names in by_provider.items()
    )


def unknown_name(models: SpecModels, group: str, name: Any) -> str:
    """The message for a component name that is not registered (or is ambiguous)."""
    what = SINGULAR[group]
    if isinstance(name, str) and ":" in name:
        try:  # the registry explains qualified names best (unknown plugin, failed, disabled)
            models.registry.lookup(group, name)
        except PluginError as exc:
            return str(exc)
    registry_group = models.group(group)
    providers = [m.entry for m in registry_group.models.values() if m.entry.name == name]  # type: ignore[attr-defined]
    if isinstance(name, str) and len(providers) > 1:
        choices = ", ".join(
            f"{e.qualified_name!r} (from {e.distribution or e.plugin})" for e in providers
        )
        return f"{what} {name!r} is provided by {len(providers)} plugins; name one: {choices}"
    kind = "type" if group != "datasets" else "name"
    message = (
        f"unknown {what} {kind} {short_repr(name)}{did_you_mean(name, registry_group.names())}"
    )
    message += f" (available: {available_names(models, group) or 'none'})"
    failed = [f.plugin for f in models.registry.failures]
    if failed:
        message += f"; plugin(s) {', '.join(failed)} failed to load (see 'layerkit plugins')"
    if models.registry.disabled:
        message += f"; disabled plugin(s): {', '.join(models.registry.disabled)}"
    return message


# -- locations ------------------------------------------------------------------------------


def _child(node: Any, seg: str | int) -> Any:
    if isinstance(node, Mapping) and isinstance(seg, str):
        return node.get(seg, _MISSING)
    if isinstance(node, list) and isinstance(seg, int) and -len(node) <= seg < len(node):
        return node[seg]
    return _MISSING


def locate(raw: Any, loc: Sequence[str | int], *, key: bool = False) -> Mark | None:
    """The mark of ``loc`` in ``raw``: of the value (of the key with ``key=True``).

    Where ``loc`` does not exist (a missing key), the mark of its nearest enclosing value.
    """
    best: Mark | None = getattr(raw, "mark", None)
    node = raw
    for i, seg in enumerate(loc):
        mark = mark_of(node, seg, of_key=key and i == len(loc) - 1)
        if mark is None:
            break
        best = mark
        node = _child(node, seg)
        if node is _MISSING:
            break
    return best


def clean_loc(loc: Sequence[str | int], raw: Any) -> tuple[tuple[str | int, ...], bool]:
    """``loc`` without the union tags pydantic inserts; also whether a branch label was removed."""
    out: list[str | int] = []
    node = raw
    branch = False
    for seg in loc:
        if node is not _MISSING and isinstance(seg, str):
            if isinstance(node, Mapping) and seg not in node:
                tag = any(str(node.get(k)).rpartition(":")[2] == seg for k in ("type", "dataset"))
                label = "[" in seg or seg in _BRANCH_LABELS or seg.startswith("function-")
                if tag or label:
                    branch = branch or label
                    continue
            elif not isinstance(node, Mapping):
                branch = True  # a branch label under a scalar or list: the error is about the value
                continue
        out.append(seg)
        node = _child(node, seg) if node is not _MISSING else _MISSING
    return tuple(out), branch


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _pick_model(annotation: Any, data: Any) -> type[BaseModel] | None:
    """The model ``data`` is validated against, among the members of ``annotation``."""
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) <= 1:
        return models[0] if models else None
    if not isinstance(data, Mapping):
        return None
    for model in models:
        for name, field in model.model_fields.items():
            if get_origin(field.annotation) is Literal and data.get(name) in get_args(
                field.annotation
            ):
                return model
    return None


def model_at(models: SpecModels, loc: Sequence[str | int], raw: Any) -> type[BaseModel] | None:
    """The pydantic model validating the mapping at ``loc`` (None if not a model)."""
    annotation: Any = models.schema_spec
    data = raw
    for seg in loc:
        model = _pick_model(annotation, data)
        if model is not None:
            field = model.model_fields.get(seg) if isinstance(seg, str) else None
            if field is None:
                return None
            annotation = field.annotation
        else:
            container = next(
                (m for m in _members(annotation) if get_origin(m) in (list, tuple, dict)), None
            )
            if container is None:
                return None
            args = get_args(container)
            annotation = args[-1] if args else Any
        data = _child(data, seg) if data is not _MISSING else _MISSING
    return _pick_model(annotation, data)


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _group_at(loc: tuple[str | int, ...]) -> str | None:
    if len(loc) == 3 and loc[:2] == ("model", "layers") and isinstance(loc[2], int):
        return "layers"
    if loc == ("data",):
        return "datasets"
    if loc == ("train", "optimizer"):
        return "optimizers"
    if len(loc) == 3 and loc[:2] == ("train", "callbacks") and isinstance(loc[2], int):
        return "callbacks"
    if len(loc) == 3 and loc[:2] == ("data", "augment") and isinstance(loc[2], int):
        return "augmentations"
    return None


# -- errors -> issues -----------------------------------------------------------------------


def issue_at(raw: Any, loc: Sequence[str | int], text: str, *, key: bool = False) -> SpecIssue:
    """An issue about ``loc``, located in ``raw`` (see :func:`locate`)."""
    mark = locate(raw, loc, key=key) or Mark()
    return mark.issue(format_loc(tuple(loc)), text)


@dataclass
class _Found:
    loc: tuple[str | int, ...]
    messages: list[str]
    received: Any
    key: bool = False
    kind: str = ""
    suggestion: str | None = None


def _describe_one(err: Any, message: str, received: Any, raw: Any, models: SpecModels) -> _Found:
    loc, _ = clean_loc(tuple(err.get("loc", ())), raw)
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    found = _Found(loc, [message], received, kind=kind)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "'type'")).strip("'")
        group = _group_at(loc)
        found.loc = (*loc, disc)
        found.received = _MISSING
        if kind == "union_tag_invalid" and group is not None:
            found.messages = [unknown_name(models, group, ctx.get("tag"))]
        elif kind == "union_tag_invalid":
            tag = ctx.get("tag")
            expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
            found.messages = [
                f"unknown {disc} {tag!r}; must be one of "
                f"{', '.join(map(repr, expected))}{did_you_mean(tag, expected)}"
            ]
        elif group is not None:
            found.messages = [
                f"required: the name of a registered {SINGULAR[group]} "
                f"(available: {available_names(models, group)})"
            ]
        else:
            found.messages = ["required"]
    elif kind == "literal_error" and loc and _group_at(loc[:-1]) and loc[-1] in ("type", "dataset"):
        # a group with a single registered component is that model, not a tagged union
        found.messages = [unknown_name(models, _group_at(loc[:-1]), received)]  # type: ignore[arg-type]
        found.received = _MISSING
    elif kind == "extra_forbidden":
        model = model_at(models, loc[:-1], raw)
        allowed = _allowed_keys(model) if model is not None else []
        found.suggestion = closest(loc[-1], allowed)
        hint = f"; did you mean {found.suggestion!r}?" if found.suggestion else ""
        found.messages = [
            f"unknown key{hint}" + (f" (valid keys: {', '.join(allowed)})" if allowed else "")
        ]
        found.received = _MISSING
        found.key = True
    elif kind == "missing" and err.get("msg") not in (None, "Field required"):
        found.messages = [str(err["msg"])]  # a validator's own wording
    elif (
        kind in ("model_type", "model_attributes_type", "dict_type")
        and _group_at(loc)
        and isinstance(received, str)
    ):
        disc = "dataset" if _group_at(loc) == "datasets" else "type"
        found.messages = [f"must be a mapping such as {{{disc}: {received}}}"]
        found.received = _MISSING
    return found


def issues_from_validation(exc: ValidationError, raw: Any, models: SpecModels) -> list[SpecIssue]:
    """One located issue per problem pydantic found in ``raw``."""
    records: list[_Found] = []
    by_path: dict[str, _Found] = {}
    for err, (_, message, received) in zip(exc.errors(include_url=False), describe_errors(exc)):
        found = _describe_one(err, message, received, raw, models)
        _, branch = clean_loc(tuple(err.get("loc", ())), raw)
        path = format_loc(found.loc)
        if branch and path in by_path:  # the branches of one union: one issue
            by_path[path].messages.extend(found.messages)
            continue
        by_path.setdefault(path, found)
        records.append(found)
    # 'unit: unknown key; did you mean units?' explains 'units: required': say it once.
    suggested = {
        (*r.loc[:-1], r.suggestion) for r in records if r.kind == "extra_forbidden" and r.suggestion
    }
    issues = []
    for r in records:
        if r.kind == "missing" and r.loc in suggested:
            continue
        text = " or ".join(dict.fromkeys(r.messages))
        if r.kind == "extra_forbidden" and (*r.loc[:-1], r.suggestion) in {
            m.loc for m in records if m.kind == "missing"
        }:
            text = text.replace("?", "? (it is required)", 1)
        if r.received is not _MISSING:
            text += f" (received {short_repr(r.received)})"
        issues.append(issue_at(raw, r.loc, text, key=r.key))
    return issues


def raw_structure_issues(raw: Any, models: SpecModels) -> list[SpecIssue]:
    """:func:`structure_problems` of the raw ``model.layers``: the graph's rules, located, with
    the line of each layer of a cycle."""
    model = raw.get("model") if isinstance(raw, Mapping) else None
    layers = model.get("layers") if isinstance(model, Mapping) else None
    if not isinstance(layers, list):
        return []
    items = []
    for entry in layers:
        item = entry if isinstance(entry, Mapping) else {}
        name = item.get("type")
        found = models.layers.models.get(name) if isinstance(name, str) else None
        component = found.component if found is not None else None  # type: ignore[attr-defined]
        inputs = item.get("inputs")
        if not (isinstance(inputs, list) and all(isinstance(i, str) for i in inputs)):
            inputs = None
        items.append(
            (
                name,
                item.get("id"),
                component.kind if component is not None else None,
                inputs,
                getattr(component, "arity_problem", None),
            )
        )

    def line_of(index: int) -> str:
        mark = locate(raw, ("model", "layers", index))
        return f"line {mark.line}" if mark is not None and mark.line is not None else ""

    return [
        issue_at(
            raw,
            ("model", *loc),
            message if value is None else f"{message} (received {short_repr(value)})",
        )
        for loc, _, message, value in structure_problems(items, where=line_of)
    ]


def sort_issues(issues: Iterable[SpecIssue], files: Sequence[str | None] = ()) -> list[SpecIssue]:
    """Issues in reading order: by file (in the order of ``files``, then as first seen), line
    and column; duplicates removed."""
    items = list(dict.fromkeys(issues))
    order: dict[str | None, int] = {}
    for name in files:
        order.setdefault(name, len(order))
    for issue in items:
        order.setdefault(issue.file, len(order))
    return sorted(items, key=lambda i: (order[i.file], i.line or 0, i.column or 0))
