"""Command-line overrides of a spec, as Hydra users know them.

* ``--set train.optimizer.lr=0.01``: the value is YAML (``0.01`` a float, ``[1, 28, 28]`` a
  list, ``{type: he}`` a mapping, ``null``, quoted ``'1e-3'`` a string);
* ``--set model.layers.fc1.units=100``: a layer by its ``id``, by the id the network gives it
  (``affine2``), or by index (``model.layers.2.units``, ``model.layers[2].units``,
  ``model.layers.-1``);
* ``--set '~train.schedule'``: delete a key (or a layer);
* ``--set-file patch.yaml``: merge a YAML patch: mappings merge key by key (unless the patch
  names another ``type`` or ``dataset``: a different component's options do not carry over),
  anything else replaces; under ``model.layers`` a mapping patches layers by id or index
  (``{layers: {fc1: {units: 100}}}``).

Patches apply first, then ``--set`` in order. Nothing here knows which keys are valid: the result
is validated again as a whole, so a misspelt key is reported with did-you-mean like any other,
located at the ``--set`` that introduced it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from layerkit._validation import did_you_mean, format_loc, short_repr
from layerkit.errors import SpecError, SpecIssue
from layerkit.layer_list import auto_ids
from layerkit.spec.blocks import BLOCK_TYPE, USE_KEYS, use_ids
from layerkit.spec.yamlio import (
    LocDict,
    LocList,
    Mark,
    copy_tree,
    parse_document,
    parse_yaml,
    read_spec_text,
)

__all__ = ["apply_overrides", "apply_overrides_partially", "parse_path", "auto_layer_ids"]

_SEGMENT = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")
_INDEX = re.compile(r"-?\d+")


def parse_path(text: str) -> tuple[str | int, ...]:
    """``"model.layers[2].units"`` -> ``("model", "layers", 2, "units")``; digits are indices."""
    segments: list[str | int] = []
    pos = 0
    while pos < len(text):
        if segments and text[pos] == ".":
            pos += 1
        match = _SEGMENT.match(text, pos)
        if match is None:
            raise ValueError(f"invalid path {text!r}: expected a key at character {pos + 1}")
        index, key = match.groups()
        if index is not None:
            segments.append(int(index))
        elif _INDEX.fullmatch(key):
            segments.append(int(key))
        else:
            segments.append(key)
        pos = match.end()
    if not segments or text.endswith("."):
        raise ValueError(f"invalid path {text!r}: expected keys separated by dots, e.g. train.optimizer.lr")
    return tuple(segments)


def auto_layer_ids(layers: Sequence[Any]) -> list[str | None]:
    """The id each raw layer entry gets in the built network (:func:`layerkit.layer_list.auto_ids`),
    so overrides can name the layers shown by ``layerkit validate``; a block use is named by
    its (first) copy's id (:func:`layerkit.spec.blocks.use_ids`)."""
    pairs = []
    for entry in layers:
        item = entry if isinstance(entry, Mapping) else {}
        kind, ident = item.get("type"), item.get("id")
        if kind == BLOCK_TYPE:
            kind = None
        pairs.append((kind if isinstance(kind, str) else None, ident if isinstance(ident, str) else None))
    ids = auto_ids(pairs)
    for i, copies in enumerate(use_ids(layers)):
        if copies:
            ids[i] = copies[0]
    return ids


def _qualified(path: tuple[str | int, ...], root: Any) -> tuple[str | int, ...]:
    """``model.layers.res1.conv1.units``: the segments of a qualified layer id joined into one."""
    if len(path) < 4 or path[:2] != ("model", "layers") or not isinstance(path[2], str):
        return path
    model = root.get("model") if isinstance(root, Mapping) else None
    layers = model.get("layers") if isinstance(model, Mapping) else None
    if not isinstance(layers, list):
        return path
    ids = set(auto_layer_ids(layers))
    for end in range(len(path) - 1, 3, -1):  # the longest id first
        parts = path[2:end]
        if all(isinstance(p, str) for p in parts) and ".".join(map(str, parts)) in ids:
            return (*path[:2], ".".join(map(str, parts)), *path[end:])
    return path


def _after_expansion(path: tuple[str | int, ...], root: Any) -> bool:
    """Whether ``path`` names a layer inside a block use (known only once blocks are expanded)."""
    if len(path) < 3 or path[:2] != ("model", "layers") or not isinstance(path[2], str):
        return False
    model = root.get("model") if isinstance(root, Mapping) else None
    layers = model.get("layers") if isinstance(model, Mapping) else None
    if not isinstance(layers, list) or not any(isinstance(e, Mapping) and e.get("type") == BLOCK_TYPE for e in layers):
        return False
    ids = auto_layer_ids(layers)
    if path[2] not in ids:
        return True
    entry = layers[ids.index(path[2])]
    is_use = isinstance(entry, Mapping) and entry.get("type") == BLOCK_TYPE
    return is_use and len(path) > 3 and path[3] not in USE_KEYS


def _relabel(value: Any, mark: Mark) -> Any:
    """Mark every value of an override as coming from it."""
    if isinstance(value, LocDict):
        value.mark = mark
        for key in value:
            value.key_marks[key] = value.value_marks[key] = mark
            _relabel(value[key], mark)
    elif isinstance(value, LocList):
        value.mark = mark
        value.marks = [mark] * len(value)
        for item in value:
            _relabel(item, mark)
    return value


class _Problem(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _show(path: Sequence[str | int]) -> str:
    return format_loc(tuple(path))


def _list_index(items: list[Any], seg: str | int, path: Sequence[str | int]) -> int:
    """The index ``seg`` designates in the list ``items`` at ``path``: an index, or an id.

    In ``model.layers`` the ids are those of the built network (``affine2`` for an entry without
    one), as ``layerkit validate`` shows them.
    """
    n = len(items)
    where = _show((*path, seg))
    if isinstance(seg, int):
        if -n <= seg < n:
            return seg % n
        raise _Problem(where, f"index {seg} is out of range: the list has {n} item(s)")
    ids = auto_layer_ids(items) if path and path[-1] == "layers" else [
        item.get("id") if isinstance(item, Mapping) else None for item in items
    ]
    if seg in ids:
        return ids.index(seg)
    known = [i for i in ids if i]
    hint = did_you_mean(seg, known)
    listing = f"ids: {', '.join(known)}; " if known else ""
    raise _Problem(where, f"no item with id {seg!r}{hint} ({listing}or an index 0-{n - 1})")


def _descend(node: Any, seg: str | int, path: tuple[str | int, ...], mark: Mark) -> Any:
    """The child ``seg`` of ``node``, creating an empty mapping where a key is missing or null."""
    if isinstance(node, LocDict):
        if not isinstance(seg, str):
            raise _Problem(_show(path[:-1]), f"is a mapping: use a key, not the index {seg}")
        child = node.get(seg)
        if child is None:
            child = LocDict(mark=mark)
            node.set(seg, child, key_mark=mark, value_mark=mark)
        return child
    if isinstance(node, LocList):
        return node[_list_index(node, seg, path[:-1])]
    raise _Problem(_show(path[:-1]), f"is {_describe(node)}, not a mapping or a list")


def _describe(value: Any) -> str:
    return f"the value {short_repr(value)}"


def _assign(root: LocDict, path: tuple[str | int, ...], value: Any, mark: Mark, *, delete: bool) -> None:
    node: Any = root
    for i, seg in enumerate(path[:-1]):
        node = _descend(node, seg, path[: i + 1], mark) if not delete else _lookup(node, seg, path[: i + 1])
    last = path[-1]
    where = path[:-1]
    if isinstance(node, LocDict):
        if not isinstance(last, str):
            raise _Problem(_show(where), f"is a mapping: use a key, not the index {last}")
        if delete:
            if last not in node:
                raise _Problem(_show(path), f"nothing to delete{did_you_mean(last, node)}")
            node.remove(last)
        else:
            node.set(last, value, key_mark=mark, value_mark=mark)
    elif isinstance(node, LocList):
        index = _list_index(node, last, where)
        if delete:
            node.remove_at(index)
        else:
            node.put(index, value, mark)
    else:
        raise _Problem(_show(where), f"is {_describe(node)}, not a mapping or a list")


def _lookup(node: Any, seg: str | int, path: tuple[str | int, ...]) -> Any:
    if isinstance(node, LocDict):
        if seg not in node:
            raise _Problem(_show(path), f"nothing to delete{did_you_mean(seg, node)}")
        return node[seg]
    if isinstance(node, LocList):
        return node[_list_index(node, seg, path[:-1])]
    raise _Problem(_show(path[:-1]), f"is {_describe(node)}, not a mapping or a list")


def _same_component(current: LocDict, patch: LocDict) -> bool:
    """False when the patch names another component: its options do not carry over."""
    return all(patch[k] == current.get(k) for k in ("type", "dataset") if k in patch)


def _merge(base: LocDict, patch: LocDict, path: tuple[str | int, ...]) -> None:
    for key, value in patch.items():
        here = (*path, key)
        current = base.get(key)
        if isinstance(current, LocDict) and isinstance(value, LocDict) and _same_component(current, value):
            _merge(current, value, here)
        elif isinstance(current, LocList) and isinstance(value, LocDict):
            _merge_list(current, value, here)
        else:
            base.set(key, copy_tree(value), key_mark=patch.key_marks.get(key), value_mark=patch.value_marks.get(key))


def _merge_list(base: LocList, patch: LocDict, path: tuple[str | int, ...]) -> None:
    for key, value in patch.items():
        seg: str | int = int(key) if _INDEX.fullmatch(key) else key
        try:
            index = _list_index(base, seg, path)
        except _Problem as problem:
            mark = patch.key_marks.get(key) or Mark()
            raise SpecError([mark.issue(problem.path, problem.message)]) from None
        current = base[index]
        if isinstance(current, LocDict) and isinstance(value, LocDict) and _same_component(current, value):
            _merge(current, value, (*path, index))
        else:
            base.put(index, copy_tree(value), patch.value_marks.get(key))


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    set_files: Sequence[str | Path] = (),
) -> LocDict:
    """A copy of ``raw`` with the ``set_files`` patches merged, then each ``PATH=VALUE`` applied.

    ``raw`` is left unchanged. Raises :class:`SpecError` listing every override that cannot be
    applied (bad syntax, a list index out of range, an unknown layer id); whether keys exist is
    checked when the result is validated.
    """
    result, issues = apply_overrides_partially(raw, overrides, set_files=set_files)
    if issues:
        raise SpecError(issues)
    return result


def apply_overrides_partially(
    raw: Mapping[str, Any],
    overrides: Sequence[str] = (),
    *,
    set_files: Sequence[str | Path] = (),
    deferred: list[str] | None = None,
    copy: bool = True,
) -> tuple[LocDict, list[SpecIssue]]:
    """Like :func:`apply_overrides`, but returns the overrides that failed as issues.

    The loader validates what could be applied, so that every problem is reported at once.
    With a ``deferred`` list, overrides of layers inside block uses (``model.layers.res1.conv1.units``)
    are appended to it instead, to be applied once the blocks are expanded. ``copy=False``
    changes ``raw`` itself.
    """
    result = copy_tree(raw) if copy else raw
    if not isinstance(result, LocDict):
        raise SpecError("a spec must be a mapping")
    issues: list[SpecIssue] = []
    for patch_path in set_files:
        try:
            patch = parse_document(read_spec_text(patch_path), filename=str(patch_path), what="a --set-file patch")
            _merge(result, patch, ())
        except SpecError as exc:
            issues.extend(exc.issues)
    for text in overrides:
        origin = Mark(f"--set {text}")
        target, sep, value_text = text.partition("=")
        delete = target.startswith("~")
        if delete:
            target = target[1:]
        if not sep and not delete:
            issues.append(origin.issue("", "expected PATH=VALUE, e.g. train.optimizer.lr=0.01, or ~PATH to delete"))
            continue
        try:
            path = _qualified(parse_path(target.strip()), result)
        except ValueError as exc:
            issues.append(origin.issue("", str(exc)))
            continue
        if deferred is not None and _after_expansion(path, result):
            deferred.append(text)
            continue
        value = None
        if not delete:
            try:
                value, _ = parse_yaml(value_text, filename=origin.file)
            except SpecError as exc:
                issues.extend(origin.issue(_show(path), f"value: {i.message}") for i in exc.issues)
                continue
            value = _relabel(value, origin)
        try:
            _assign(result, path, value, origin, delete=delete)
        except _Problem as problem:
            issues.append(origin.issue(problem.path, problem.message))
    return result, issues
