"""The rules of a network's layer list and graph, in one place.

:class:`~layerkit.network.Network` (on layer objects), the spec models (on validated entries),
the spec loader (on raw YAML, when other errors stopped validation early) and ``--set`` overrides
(which name layers by the id the network will give them) all apply these rules:

* a layer id starts with a letter or ``_`` and holds only letters, digits, ``_`` and ``-``
  (at most 64 characters), or is a qualified id ``res1.conv1`` (a layer inside a use of a spec
  block): ids name parameters (``fc1.W``) and override paths (``model.layers.fc1.units``), where
  a leading digit would read as an index; ``input`` names the data;
* ids are unique; a layer without one gets ``<type><n>`` (:func:`auto_ids`);
* each layer takes the outputs of the layers its ``inputs`` name (``input``: the data) or,
  without ``inputs``, the output of the layer before it in the list (the data, for the first),
  so a chain needs no ``inputs`` at all; merge layers take several inputs, others one;
* the graph is acyclic, with exactly one loss layer, which is its only sink: every other
  layer's output is used by some layer (:func:`resolve`, which also gives the execution order).

Pure Python (no NumPy), so the cheap spec paths can use it.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from layerkit._validation import did_you_mean

__all__ = [
    "DATA",
    "WireItem",
    "WiringProblem",
    "Wiring",
    "resolve",
    "default_inputs",
    "LAYER_ID_PATTERN",
    "LAYER_ID_MAX_LENGTH",
    "LAYER_ID_RULE",
    "Problem",
    "auto_ids",
    "layer_id_problem",
    "structure_problems",
    "duplicate_id_problems",
]

#: The pattern every layer id matches (also in the JSON Schema of specs).
LAYER_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
LAYER_ID_MAX_LENGTH = 64
#: What :data:`LAYER_ID_PATTERN` says, in words.
LAYER_ID_RULE = (
    "must start with a letter or '_' and hold only letters, digits, '_' and '-' (a layer in a "
    "block use: the use's id, '.', the layer's id)"
)
#: The name that ``inputs`` use for the network's data (no layer may take it as its id).
DATA = "input"

_LAYER_ID = re.compile(LAYER_ID_PATTERN)

#: ``(loc, kind, message, received)``, ``loc`` relative to the ``model`` section
#: (``("layers", 3, "id")``).
Problem = tuple[tuple[str | int, ...], str, str, Any]


def layer_id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid layer id, or ``None`` when it is one."""
    if not isinstance(value, str) or not _LAYER_ID.match(value):
        return LAYER_ID_RULE
    if len(value) > LAYER_ID_MAX_LENGTH:
        return f"must have at most {LAYER_ID_MAX_LENGTH} characters"
    if value == DATA:
        return f"{DATA!r} names the network's data in inputs; choose another id"
    return None


def _id_base(type_name: str) -> str:
    """``Affine`` -> ``affine``; ``activations:GELU`` -> ``gelu`` (the plugin prefix dropped)."""
    return re.sub(r"[^a-z0-9_]", "", type_name.rpartition(":")[2].lower()) or "layer"


def auto_ids(layers: Sequence[tuple[str | None, str | None]]) -> list[str | None]:
    """The id of each ``(type name, id or None)`` in the built network: its own, or ``<type><n>``.

    ``n`` counts the layers of that type so far (``affine1``, ``relu1``, ``affine2``), skipping
    numbers an explicit id already took. An entry whose type is unknown (``None``) gets ``None``
    but does not disturb the others.
    """
    taken = {ident for _, ident in layers if isinstance(ident, str)}
    counts: dict[str, int] = {}
    ids: list[str | None] = []
    for type_name, ident in layers:
        if not isinstance(type_name, str):
            ids.append(ident if isinstance(ident, str) else None)
            continue
        base = _id_base(type_name)
        counts[base] = counts.get(base, 0) + 1
        if isinstance(ident, str):
            ids.append(ident)
            continue
        n = counts[base]
        while f"{base}{n}" in taken:
            n += 1
        taken.add(f"{base}{n}")
        ids.append(f"{base}{n}")
    return ids


@dataclass(frozen=True)
class WireItem:
    """One layer as the graph rules see it.

    ``kind`` is ``layer``, ``loss``, ``merge`` (or ``None`` when the layer type is unknown);
    ``inputs`` is ``None`` when the layer does not name its inputs; ``arity`` says why this many
    inputs do not suit the layer (``None`` when they do, or for a layer with one input).
    """

    id: str
    kind: str | None
    inputs: tuple[str, ...] | None = None
    arity: Callable[[int], str | None] | None = None  # a merge layer class's arity_problem


@dataclass(frozen=True)
class WiringProblem:
    """A broken rule: at item ``index``, field ``field`` (``inputs``, with entry ``entry``, or ``type``)."""

    index: int
    field: str
    kind: str
    message: str
    received: Any = None
    entry: int | None = None


@dataclass(frozen=True)
class Wiring:
    """The resolved graph: ``sources[i]`` are the item positions item ``i`` takes (-1: the data),
    ``order`` the positions in execution order (the loss last)."""

    sources: tuple[tuple[int, ...], ...]
    order: tuple[int, ...]

    def is_chain(self) -> bool:
        """True when every layer takes the one before it in execution order (the data, first)."""
        previous = -1
        for i in self.order:
            if self.sources[i] != (previous,):
                return False
            previous = i
        return True


def default_inputs(position: int, ids: Sequence[str]) -> tuple[str, ...]:
    """What the layer at ``position`` takes without ``inputs``: the layer before it, or the data."""
    return (ids[position - 1],) if position > 0 else (DATA,)


def _cycle(remaining: set[int], sources: Sequence[Sequence[int]]) -> list[int]:
    """A cycle among ``remaining`` (each of which still has an unresolved source), in data-flow order."""
    start = min(remaining)
    path: list[int] = []
    seen: dict[int, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(s for s in sources[node] if s in remaining)
    loop = path[seen[node] :]
    loop.reverse()  # followed the sources backwards: flip to data-flow order
    return [*loop, loop[0]]


def resolve(
    items: Sequence[WireItem], *, where: Callable[[int], str] | None = None
) -> tuple[Wiring | None, list[WiringProblem]]:
    """The graph of ``items`` and every rule it breaks (the wiring is ``None`` if any).

    ``where(i)`` (e.g. ``"line 12"``) annotates each layer of a cycle in its message.
    """
    problems: list[WiringProblem] = []
    ids = [item.id for item in items]
    position = {ident: i for i, ident in reversed(list(enumerate(ids)))}
    sources: list[tuple[int, ...]] = []
    for i, item in enumerate(items):
        names = item.inputs if item.inputs is not None else default_inputs(i, ids)
        resolved: list[int] = []
        for j, name in enumerate(names):
            if name == DATA:
                resolved.append(-1)
            elif name in position:
                resolved.append(position[name])
            else:
                known = [x for x in ids if x != item.id]
                hint = did_you_mean(name, [*known, DATA])
                problems.append(
                    WiringProblem(
                        i,
                        "inputs",
                        "unknown_input",
                        f"unknown input {name!r}{hint} (layer ids: {', '.join(known) or 'none'}; "
                        f"{DATA!r} is the data)",
                        name,
                        j if item.inputs is not None else None,
                    )
                )
        sources.append(tuple(resolved))
        n = len(names)
        if item.kind == "merge" and item.arity is not None:
            why = item.arity(n)
            if why is not None:
                problems.append(
                    WiringProblem(i, "inputs" if item.inputs is not None else "type", "arity", why)
                )
        elif item.kind in ("layer", "loss") and n != 1:
            problems.append(
                WiringProblem(
                    i,
                    "inputs",
                    "arity",
                    f"this layer takes exactly one input (received {n}); join branches with a merge "
                    "layer such as Add, Mul or Concat first",
                )
            )
    losses = [i for i, item in enumerate(items) if item.kind == "loss"]
    users: dict[int, list[int]] = {}
    for i, srcs in enumerate(sources):
        for s in srcs:
            users.setdefault(s, []).append(i)
    for i in losses[1:]:
        problems.append(
            WiringProblem(
                i,
                "type",
                "second_loss",
                f"a network has one loss layer, and {ids[losses[0]]!r} is already one",
            )
        )
    if items and not losses and all(item.kind is not None for item in items):
        last = len(items) - 1
        problems.append(
            WiringProblem(
                last,
                "type",
                "no_loss",
                "a network needs a loss layer, such as SoftmaxWithLoss or MeanSquaredError, that "
                "takes the scores",
            )
        )
    for i, item in enumerate(items):
        used_by = users.get(i, [])
        if item.kind == "loss" and used_by:
            problems.append(
                WiringProblem(
                    i,
                    "type",
                    "loss_not_sink",
                    f"a loss layer must end the network, but {', '.join(repr(ids[u]) for u in used_by)} "
                    "takes its output",
                )
            )
        elif item.kind != "loss" and not used_by and item.kind is not None and losses:
            problems.append(
                WiringProblem(
                    i,
                    "id" if item.inputs is None else "inputs",
                    "unused_output",
                    f"the output of {item.id!r} is not used by any layer; name it in a later layer's "
                    "inputs, or remove the layer",
                )
            )
    # Kahn's algorithm, always taking the earliest ready item: a chain keeps the list's order.
    pending = [len({s for s in srcs if s >= 0}) for srcs in sources]
    ready = [i for i, n in enumerate(pending) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in dict.fromkeys(users.get(i, [])):
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(items):
        loop = _cycle({i for i, n in enumerate(pending) if n > 0}, sources)
        text = " -> ".join(
            ids[i] + (f" ({where(i)})" if where is not None and where(i) else "") for i in loop
        )
        problems.append(
            WiringProblem(
                loop[0],
                "inputs" if items[loop[0]].inputs is not None else "id",
                "cycle",
                f"the layers form a cycle: {text}",
            )
        )
    if problems:
        return None, problems
    order_t = tuple(order)
    if losses and order_t[-1] != losses[0]:  # the loss is the only sink, so it sorts last
        order_t = tuple(i for i in order_t if i != losses[0]) + (losses[0],)
    return Wiring(tuple(sources), order_t), []


def duplicate_id_problems(ids: Sequence[Any]) -> list[Problem]:
    """An id given to two layers, at the second (located relative to ``model``)."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if isinstance(ident, str):
            if ident in seen:
                message = f"duplicate id (also layers[{seen[ident]}])"
                problems.append((("layers", i, "id"), "duplicate_id", message, ident))
            seen.setdefault(ident, i)
    return problems


def structure_problems(
    layers: Sequence[tuple[Any, ...]], *, where: Callable[[int], str] | None = None
) -> list[Problem]:
    """What makes a list of layers not a network, located relative to ``model``.

    ``layers`` are ``(type, id, kind[, inputs[, arity]])`` per entry: ``kind`` is ``layer``,
    ``loss``, ``merge`` or ``None`` when unknown, ``inputs`` the ids the entry names (``None``:
    the layer before it), ``arity`` a merge class's ``arity_problem``. Duplicate ids and the graph
    rules of :func:`resolve` are reported; the form of each id is :func:`layer_id_problem`'s (the
    spec checks it as a field). An entry whose type is unknown does not stop the others' checks.
    ``where(i)`` (e.g. ``"line 12"``) annotates each layer of a cycle.
    """
    problems = duplicate_id_problems([entry[1] for entry in layers])
    if problems:
        return problems  # the graph cannot be read with two layers of one id
    ids = auto_ids(
        [(entry[0] if isinstance(entry[0], str) else None, entry[1]) for entry in layers]
    )
    items = [
        WireItem(
            ids[i] or f"layers[{i}]",
            entry[2],
            tuple(entry[3]) if len(entry) > 3 and entry[3] is not None else None,
            entry[4] if len(entry) > 4 else None,
        )
        for i, entry in enumerate(layers)
    ]
    _, found = resolve(items, where=where)
    for p in found:
        loc: tuple[str | int, ...] = ("layers", p.index, p.field)
        if p.entry is not None:
            loc = (*loc, p.entry)
        problems.append((loc, p.kind, p.message, p.received))
    return problems
