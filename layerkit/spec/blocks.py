"""Spec blocks: named, parameterised sub-graphs written once and used many times.

::

    model:
      blocks:
        res:                                   # a residual block
          params: {filters: null, stride: 1}   # null: required; otherwise the default
          layers:
            - {type: Conv2D, id: conv1, filters: $filters, kernel_size: 3, stride: $stride, padding: 1}
            - {type: BatchNorm, id: bn1}
            - {type: Relu}
            - {type: Conv2D, id: conv2, filters: $filters, kernel_size: 3, padding: 1}
            - {type: BatchNorm, id: bn2}
            - {type: Add, inputs: [bn2, input]}     # input: what the use takes
            - {type: Relu}
      layers:
        - ...
        - {type: block, block: res, with: {filters: 16}, repeat: 2}   # res1, res2

A use (``type: block``) is replaced by copies of the block's layers before validation, so the
rest of layerkit sees a plain list. Inside a block, a value written ``$name`` is the parameter
``name`` (the whole value: no expressions), ``inputs`` name the block's own layers or ``input``
(the layer the use takes), and a block may use other blocks (not itself, even indirectly). The
copies' ids are qualified by the use's id (``res1.conv1``); a use without an id is named after
its block and numbered per copy (``res1``, ``res2``); with ``repeat: n`` and ``id: stage`` the
copies are ``stage1`` ... ``stagen``. Naming a use in a later layer's ``inputs`` names its last
layer's output. Errors inside a copy point at the line in the block's definition and say which
use it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from layerkit._validation import did_you_mean, format_loc, short_repr
from layerkit.errors import SpecIssue
from layerkit.layer_list import DATA, auto_ids
from layerkit.spec.yamlio import LocDict, LocList, Mark, copy_tree

__all__ = [
    "BLOCK_TYPE",
    "USE_KEYS",
    "BLOCK_KEYS",
    "Origin",
    "Expansion",
    "expand_blocks",
    "use_ids",
    "relabel",
]

#: The ``type`` of a layer entry that uses a block.
BLOCK_TYPE = "block"
#: The keys of a use.
USE_KEYS = ("type", "block", "with", "repeat", "id", "inputs")
#: The keys of a block definition.
BLOCK_KEYS = ("params", "layers")

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


@dataclass(frozen=True)
class Origin:
    """Where an expanded layer came from: its qualified id and the uses (outermost first)."""

    id: str
    uses: tuple[tuple[str, str, Mark | None], ...]  # (use id, block name, mark of the use)


@dataclass
class Expansion:
    """The result of :func:`expand_blocks`: issues, and per expanded layer its origin (or None)."""

    issues: list[SpecIssue] = field(default_factory=list)
    origins: list[Origin | None] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return any(o is not None for o in self.origins)


class _Prev:
    """A reference to the output of expanded layer ``index`` (its id is known only at the end)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _repeat(entry: Mapping[str, Any]) -> int:
    value = entry.get("repeat", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def use_ids(entries: Sequence[Any]) -> list[list[str]]:
    """The copy ids of each entry of a layer list that is a use (``[]`` for other entries).

    A use with an ``id`` gives it to its copy (``stage1``... ``stageN`` with ``repeat: N``); one
    without is ``<block><n>``, ``n`` counting the copies of that block so far in the list.
    """
    counts: dict[str, int] = {}
    taken = {
        e.get("id") for e in entries if isinstance(e, Mapping) and isinstance(e.get("id"), str)
    }
    out: list[list[str]] = []
    for entry in entries:
        if not (isinstance(entry, Mapping) and entry.get("type") == BLOCK_TYPE):
            out.append([])
            continue
        n = _repeat(entry)
        ident, block = entry.get("id"), entry.get("block")
        if isinstance(ident, str):
            out.append([ident] if n == 1 else [f"{ident}{k + 1}" for k in range(n)])
            continue
        base = block if isinstance(block, str) else BLOCK_TYPE
        ids = []
        for _ in range(n):
            counts[base] = counts.get(base, 0) + 1
            while f"{base}{counts[base]}" in taken:
                counts[base] += 1
            ids.append(f"{base}{counts[base]}")
        out.append(ids)
    return out


class _Expander:
    def __init__(self, blocks: Mapping[str, Any], issues: list[SpecIssue]) -> None:
        self.blocks = blocks
        self.issues = issues
        self.flat: list[Any] = []
        self.origins: list[Origin | None] = []
        self.alias: dict[str, Any] = {}  # use id -> reference to its output

    def issue(self, mark: Mark | None, path: str, message: str) -> None:
        self.issues.append((mark or Mark()).issue(path, message))

    # -- values ------------------------------------------------------------------------------

    def substitute(
        self, value: Any, env: Mapping[str, Any], where: str, block: str, mark: Mark | None
    ) -> Any:
        """A copy of ``value`` with each ``$name`` replaced by the parameter's value."""
        if isinstance(value, LocDict):
            out = LocDict(mark=value.mark)
            for k, v in value.items():
                vmark = value.value_marks.get(k)
                out.set(
                    k,
                    self.substitute(v, env, f"{where}.{k}", block, vmark),
                    key_mark=value.key_marks.get(k),
                    value_mark=vmark,
                )
            return out
        if isinstance(value, LocList):
            out_list = LocList(mark=value.mark)
            for i, v in enumerate(value):
                vmark = value.marks[i] if i < len(value.marks) else None
                out_list.add(self.substitute(v, env, f"{where}[{i}]", block, vmark), vmark)
            return out_list
        if isinstance(value, str) and (m := _PARAM.match(value)):
            name = m.group(1)
            if name in env:
                return copy_tree(env[name])
            self.issue(
                mark,
                where,
                f"unknown parameter ${name} of block {block!r}"
                f"{did_you_mean(name, env)} (parameters: {', '.join(env) or 'none'})",
            )
        return copy_tree(value)

    # -- blocks ------------------------------------------------------------------------------

    def params_of(self, name: str, definition: LocDict) -> dict[str, tuple[bool, Any]]:
        """``name -> (required, default)`` of a block's ``params``."""
        params = definition.get("params")
        if isinstance(params, LocList):
            return {p: (True, None) for p in params if isinstance(p, str)}
        if isinstance(params, LocDict):
            return {k: (v is None, v) for k, v in params.items()}
        return {}

    def bind(
        self, use: LocDict, name: str, definition: LocDict, where: str
    ) -> dict[str, Any] | None:
        declared = self.params_of(name, definition)
        given = use.get("with")
        if given is None:
            given = LocDict(mark=use.mark)
        if not isinstance(given, LocDict):
            self.issue(
                use.value_marks.get("with"),
                f"{where}.with",
                f"must be a mapping of block {name!r}'s parameters (received {short_repr(given)})",
            )
            return None
        ok = self.known_keys(
            given,
            declared,
            f"{where}.with",
            lambda key: (
                f"unknown parameter of block {name!r}{did_you_mean(key, declared)} "
                f"(parameters: {', '.join(declared) or 'none'})"
            ),
        )
        missing = [k for k, (required, _) in declared.items() if required and k not in given]
        if missing:
            ok = False
            self.issue(
                use.key_marks.get("with") or use.mark,
                f"{where}.with",
                f"block {name!r} needs parameter(s) {', '.join(missing)}",
            )
        if not ok:
            return None
        return {k: given[k] if k in given else default for k, (_, default) in declared.items()}

    def known_keys(
        self, mapping: LocDict, allowed: Collection[str], where: str, message: Callable[[str], str]
    ) -> bool:
        """Report each key of ``mapping`` not in ``allowed`` (at the key); True if there is none."""
        unknown = [key for key in mapping if key not in allowed]
        for key in unknown:
            self.issue(mapping.key_marks.get(key), f"{where}.{key}", message(key))
        return not unknown

    def check_use(
        self, use: LocDict, where: str, stack: tuple[str, ...]
    ) -> tuple[str, LocDict] | None:
        ok = self.known_keys(
            use,
            USE_KEYS,
            where,
            lambda key: (
                f"unknown key of a block use{did_you_mean(key, USE_KEYS)} "
                f"(valid keys: {', '.join(USE_KEYS)})"
            ),
        )
        name = use.get("block")
        if not isinstance(name, str):
            self.issue(
                use.value_marks.get("block") or use.mark,
                f"{where}.block",
                f"required: the name of a block in model.blocks (blocks: {', '.join(self.blocks) or 'none'})",
            )
            return None
        if name not in self.blocks:
            self.issue(
                use.value_marks.get("block"),
                f"{where}.block",
                f"unknown block {name!r}{did_you_mean(name, self.blocks)} "
                f"(blocks: {', '.join(self.blocks) or 'none'}; define them under model.blocks)",
            )
            return None
        if name in stack:
            cycle = " -> ".join([*stack[stack.index(name) :], name])
            self.issue(
                use.value_marks.get("block"),
                f"{where}.block",
                f"blocks use each other recursively: {cycle}",
            )
            return None
        repeat = use.get("repeat", 1)
        if not (isinstance(repeat, int) and not isinstance(repeat, bool) and 1 <= repeat <= 1000):
            ok = False
            self.issue(
                use.value_marks.get("repeat"),
                f"{where}.repeat",
                f"must be an integer from 1 to 1000 (received {short_repr(repeat)})",
            )
        definition = self.blocks[name]
        if not isinstance(definition, LocDict) or not isinstance(definition.get("layers"), LocList):
            return None  # reported where the block is defined
        return (name, definition) if ok else None

    # -- lists -------------------------------------------------------------------------------

    def expand(
        self,
        entries: LocList,
        *,
        env: Mapping[str, Any] | None,
        prefix: str,
        entry_ref: Any,
        uses: tuple[tuple[str, str, Mark | None], ...],
        path: str,
        stack: tuple[str, ...],
    ) -> None:
        """Append the expansion of ``entries`` to ``self.flat``.

        ``entry_ref`` is what ``input`` means in this list (``None`` at the top: the data), and
        what its first layer takes when it names no inputs.
        """
        local = use_ids(entries)
        block = uses[-1][1] if uses else ""
        marks = [entries.marks[i] if i < len(entries.marks) else None for i in range(len(entries))]
        substituted = [
            self.substitute(raw, env, f"{path}[{i}]", block, marks[i])
            if env is not None and isinstance(raw, LocDict)
            else copy_tree(raw)
            for i, raw in enumerate(entries)
        ]
        plain_ids = auto_ids(
            [
                (
                    e.get("type")
                    if isinstance(e, Mapping)
                    and isinstance(e.get("type"), str)
                    and e.get("type") != BLOCK_TYPE
                    else None,
                    e.get("id")
                    if isinstance(e, Mapping) and isinstance(e.get("id"), str)
                    else None,
                )
                for e in substituted
            ]
        )
        names: dict[str, Any] = {}  # a local id -> reference to its output
        for i, entry in enumerate(substituted):
            where = f"{path}[{i}]"
            mark = marks[i]
            if not isinstance(entry, LocDict):
                if prefix:
                    self.issue(
                        mark,
                        where,
                        f"must be a layer entry such as {{type: Relu}} (received {short_repr(entry)})",
                    )
                else:
                    self.flat.append(entry)
                    self.origins.append(None)
                continue
            first = i == 0
            # what this entry takes when it names no inputs
            default = entry_ref if first else None
            if entry.get("type") == BLOCK_TYPE:
                checked = self.check_use(entry, where, stack)
                if checked is None:
                    continue
                name, definition = checked
                params = self.bind(entry, name, definition, where)
                if params is None:
                    continue
                takes = self.inputs_of(entry, names, default, where, prefix, entry_ref)
                if takes is not None and len(takes) != 1:
                    self.issue(
                        entry.value_marks.get("inputs"),
                        f"{where}.inputs",
                        f"a block takes one input (received {len(takes)})",
                    )
                    continue
                take = takes[0] if takes else None
                for copy_id in local[i]:
                    qualified = prefix + copy_id
                    start = len(self.flat)
                    self.expand(
                        definition["layers"],
                        env=params,
                        prefix=qualified + ".",
                        entry_ref=take
                        if take is not None
                        else (_Prev(start - 1) if start else None),
                        uses=(*uses, (qualified, name, mark)),
                        path=f"model.blocks.{name}.layers",
                        stack=(*stack, name),
                    )
                    if len(self.flat) == start:
                        break  # the block's layers had errors
                    out = _Prev(len(self.flat) - 1)
                    names[copy_id] = self.alias[qualified] = out
                    take = None  # the next copy takes this one's output: the previous layer
                continue
            ident = plain_ids[i]
            if prefix:
                entry.set(
                    "id",
                    prefix + str(ident),
                    key_mark=entry.key_marks.get("id", mark),
                    value_mark=entry.value_marks.get("id", mark),
                )
            refs = self.inputs_of(entry, names, default, where, prefix, entry_ref)
            if refs is not None:
                entry.set(
                    "inputs",
                    LocList(refs, mark=entry.value_marks.get("inputs", mark)),
                    key_mark=entry.key_marks.get("inputs", mark),
                    value_mark=entry.value_marks.get("inputs", mark),
                )
                lst = entry["inputs"]
                lst.marks = [entry.value_marks.get("inputs", mark)] * len(lst)
            if ident is not None:
                names[ident] = _Prev(len(self.flat))
            self.flat.append(entry)
            self.origins.append(Origin(str(entry.get("id")), uses) if prefix else None)

    def inputs_of(
        self,
        entry: LocDict,
        names: Mapping[str, Any],
        default: Any,
        where: str,
        prefix: str,
        entry_ref: Any = None,
    ) -> Any:
        """The references an entry takes: its ``inputs`` (mapped to the block's layers inside a
        block), else ``[default]``; ``None`` to keep the entry as written."""
        given = entry.get("inputs")
        if not isinstance(given, list):
            return [default] if default is not None else None
        if not prefix:
            return list(given) if entry.get("type") == BLOCK_TYPE else None
        out: list[Any] = []
        block_ids = list(names)
        marks = getattr(given, "marks", [])
        for j, name in enumerate(given):
            if name == DATA:
                out.append(entry_ref if entry_ref is not None else DATA)
            elif isinstance(name, str) and name in names:
                out.append(names[name])
            else:
                self.issue(
                    marks[j] if j < len(marks) else None,
                    f"{where}.inputs[{j}]",
                    f"unknown input {short_repr(name)}{did_you_mean(name, [*block_ids, DATA])} "
                    f"(layers of this block before it: {', '.join(block_ids) or 'none'}; "
                    f"{DATA!r} is what the use takes)",
                )
                out.append(name)
        return out


def expand_blocks(data: LocDict) -> Expansion:
    """Replace every block use in ``data["model"]["layers"]`` (in place) by its layers.

    ``model.blocks`` is removed once expanded. Returns the problems found (unknown blocks and
    parameters, recursion, bad inputs inside a block) and each expanded layer's origin.
    """
    result = Expansion()
    model = data.get("model") if isinstance(data, Mapping) else None
    if not isinstance(model, LocDict):
        return result
    blocks = model.get("blocks")
    layers = model.get("layers")
    has_use = isinstance(layers, LocList) and any(
        isinstance(e, Mapping) and e.get("type") == BLOCK_TYPE for e in layers
    )
    if blocks is None and not has_use:
        return result
    if blocks is None:
        blocks = LocDict()
    if not isinstance(blocks, LocDict):
        result.issues.append(
            (model.value_marks.get("blocks") or Mark()).issue(
                "model.blocks",
                f"must be a mapping of block names to definitions (received {short_repr(blocks)})",
            )
        )
        return result
    for name, definition in blocks.items():
        _check_definition(name, definition, blocks, result.issues)
    if not isinstance(layers, LocList):
        model.remove("blocks")
        return result
    expander = _Expander(blocks, result.issues)
    expander.expand(
        layers, env=None, prefix="", entry_ref=None, uses=(), path="model.layers", stack=()
    )
    ids = auto_ids(
        [
            (
                e.get("type")
                if isinstance(e, Mapping) and isinstance(e.get("type"), str)
                else None,
                e.get("id") if isinstance(e, Mapping) and isinstance(e.get("id"), str) else None,
            )
            for e in expander.flat
        ]
    )
    for entry in expander.flat:
        inputs = entry.get("inputs") if isinstance(entry, Mapping) else None
        if isinstance(inputs, list):
            for j, ref in enumerate(inputs):
                while isinstance(ref, str) and ref in expander.alias:
                    ref = expander.alias[ref]
                if isinstance(ref, _Prev):
                    ref = ids[ref.index] or DATA
                inputs[j] = ref
    flat = LocList(expander.flat, mark=layers.mark)
    flat.marks = [getattr(e, "mark", None) or layers.mark for e in expander.flat]
    model.set(
        "layers",
        flat,
        key_mark=model.key_marks.get("layers"),
        value_mark=model.value_marks.get("layers"),
    )
    if "blocks" in model:
        model.remove("blocks")
    result.origins = expander.origins
    return result


def _check_definition(name: Any, definition: Any, blocks: LocDict, issues: list[SpecIssue]) -> None:
    where = f"model.blocks.{name}"
    mark = blocks.value_marks.get(name)
    if not isinstance(name, str) or not _NAME.match(name):
        issues.append(
            (blocks.key_marks.get(name) or Mark()).issue(
                where,
                "a block name starts with a letter or '_' and holds letters, digits, '_' and '-'",
            )
        )
    if not isinstance(definition, LocDict):
        issues.append((mark or Mark()).issue(where, "must be a mapping with layers (and params)"))
        return
    for key in definition:
        if key not in BLOCK_KEYS:
            issues.append(
                (definition.key_marks.get(key) or Mark()).issue(
                    f"{where}.{key}",
                    f"unknown key{did_you_mean(key, BLOCK_KEYS)} (valid keys: {', '.join(BLOCK_KEYS)})",
                )
            )
    layers = definition.get("layers")
    if not isinstance(layers, LocList) or not layers:
        issues.append(
            (definition.value_marks.get("layers") or definition.mark or Mark()).issue(
                f"{where}.layers", "required: the block's layers, a non-empty list"
            )
        )
    params = definition.get("params")
    if params is not None and not isinstance(params, (LocDict, LocList)):
        issues.append(
            (definition.value_marks.get("params") or Mark()).issue(
                f"{where}.params",
                "must map parameter names to defaults (null: required) or list required names",
            )
        )


_LAYER_PATH = re.compile(r"model\.layers\[(\d+)\]")


def relabel(issues: Sequence[SpecIssue], origins: Sequence[Origin | None]) -> list[SpecIssue]:
    """Issues about expanded layers: path by qualified id, and the use(s) they came from."""
    if not any(origins):
        return list(issues)
    out = []
    for issue in issues:
        m = _LAYER_PATH.match(issue.path)
        origin = origins[int(m.group(1))] if m and int(m.group(1)) < len(origins) else None
        if origin is None:
            out.append(issue)
            continue
        path = format_loc(("model", "layers", origin.id)) + issue.path[m.end() :]  # type: ignore[union-attr]
        chain = "; ".join(
            f"in block {b!r} of use {u!r} at {mk or '?'}" for u, b, mk in reversed(origin.uses)
        )
        out.append(
            SpecIssue(path, f"{issue.message} ({chain})", issue.file, issue.line, issue.column)
        )
    return out
