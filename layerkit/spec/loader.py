"""Load and validate specs: YAML file or text or dict -> :class:`~layerkit.spec.models.Spec`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from layerkit.errors import SpecError
from layerkit.plugins import Registry
from layerkit.spec.blocks import expand_blocks, relabel
from layerkit.spec.locate import (
    issues_from_validation,
    raw_structure_issues,
    sort_issues,
)
from layerkit.spec.models import Spec, spec_models
from layerkit.spec.overrides import apply_overrides_partially
from layerkit.spec.yamlio import parse_document, read_spec_text

__all__ = ["load_spec", "loads_spec", "validate_spec", "default_name"]


def default_name(filename: str | os.PathLike[str] | None) -> str:
    """The spec name used when a spec has none: its file's stem, made folder-safe."""
    if filename is None or os.fspath(filename).startswith("<"):  # "<string>": not a file
        return "spec"
    stem = Path(filename).stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip(".") or "spec"


def validate_spec(
    raw: Mapping[str, Any],
    *,
    filename: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    set_files: Sequence[str | os.PathLike[str]] = (),
    registry: Registry | None = None,
) -> Spec:
    """Validate spec data (a dict, or a :class:`~layerkit.spec.yamlio.LocDict` from YAML).

    ``overrides`` (``"train.optimizer.lr=0.01"``...) and ``set_files`` patches are applied to a
    copy first. Raises :class:`~layerkit.errors.SpecError` with every problem, located in the
    YAML (or at the ``--set`` that caused it) when the data came from :func:`load_spec`.
    """
    deferred: list[str] = []
    data, issues = apply_overrides_partially(
        raw, overrides, set_files=[str(p) for p in set_files], deferred=deferred
    )
    expansion = expand_blocks(data)
    if deferred:  # --set model.layers.res1.conv1.filters=...: ids that exist once blocks are expanded
        data, more = apply_overrides_partially(data, deferred, copy=False)
        issues += more
    if "name" not in data:
        data["name"] = default_name(filename)
    models = spec_models(registry)
    graph = raw_structure_issues(data, models)
    try:
        spec = models.spec.model_validate(data)
    except ValidationError as exc:
        found = issues_from_validation(exc, data, models)
        # the graph's rules are reported once, from the raw data (with the lines of a cycle)
        at = {(i.path, i.file, i.line, i.column) for i in graph}
        issues += [i for i in found if (i.path, i.file, i.line, i.column) not in at]
    # expansion issues are located in the written spec; the others by expanded layer
    issues = expansion.issues + relabel(issues + graph, expansion.origins)
    if issues:
        files = [None if filename is None else os.fspath(filename), *map(str, set_files)]
        raise SpecError(sort_issues(issues, [*files, *(f"--set {o}" for o in overrides)]))
    spec._source = data
    spec._origins = expansion.origins
    return spec


def loads_spec(
    text: str | bytes,
    *,
    filename: str = "<string>",
    overrides: Sequence[str] = (),
    set_files: Sequence[str | os.PathLike[str]] = (),
    registry: Registry | None = None,
) -> Spec:
    """Validate a spec from YAML text; ``filename`` is what error messages call it."""
    raw = parse_document(text, filename=filename)
    return validate_spec(raw, filename=filename, overrides=overrides, set_files=set_files, registry=registry)


def load_spec(
    path: str | os.PathLike[str],
    *,
    overrides: Sequence[str] = (),
    set_files: Sequence[str | os.PathLike[str]] = (),
    registry: Registry | None = None,
) -> Spec:
    """Read, parse and validate the spec file at ``path``.

    Errors name the file as given (``model_specs/mlp.yaml:12:7: ...``).
    """
    name = os.fspath(path)
    raw = parse_document(read_spec_text(name), filename=name)
    return validate_spec(raw, filename=name, overrides=overrides, set_files=set_files, registry=registry)
