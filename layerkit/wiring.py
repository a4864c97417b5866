"""The rules of a network's graph, in one place for the network and the spec validator.

A network is a list of layers; each takes the outputs of the layers its ``inputs`` name (``input``
names the data) or, without ``inputs``, the output of the layer before it in the list (the data,
for the first). So a chain needs no ``inputs`` at all. The graph must then be a DAG with exactly
one loss layer, which is its only sink: every other layer's output is used by some layer.

:func:`resolve` checks these rules on plain ``(id, kind, inputs)`` items and returns every
problem found (with the item's position, so the spec validator can point at its line) together
with the execution order: a topological order that keeps the list's order wherever the graph
allows it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from layerkit._validation import did_you_mean

__all__ = ["DATA", "WireItem", "WiringProblem", "Wiring", "resolve", "default_inputs"]

#: The name that ``inputs`` use for the network's data.
DATA = "input"


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
    arity: Any = None  # Callable[[int], str | None]: the merge layer class's arity_problem


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
    loop = path[seen[node]:]
    loop.reverse()  # followed the sources backwards: flip to data-flow order
    return [*loop, loop[0]]


def resolve(items: Sequence[WireItem]) -> tuple[Wiring | None, list[WiringProblem]]:
    """The graph of ``items`` and every rule it breaks (the wiring is ``None`` if any)."""
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
                problems.append(WiringProblem(
                    i, "inputs", "unknown_input",
                    f"unknown input {name!r}{hint} (layer ids: {', '.join(known) or 'none'}; "
                    f"{DATA!r} is the data)", name, j if item.inputs is not None else None))
        sources.append(tuple(resolved))
        n = len(names)
        if item.kind == "merge" and item.arity is not None:
            why = item.arity(n)
            if why is not None:
                problems.append(WiringProblem(i, "inputs" if item.inputs is not None else "type",
                                              "arity", why, list(names)))
        elif item.kind in ("layer", "loss") and n != 1:
            problems.append(WiringProblem(
                i, "inputs", "arity",
                f"this layer takes exactly one input (received {n}); join branches with a merge "
                "layer such as Add, Mul or Concat first", list(names)))
    losses = [i for i, item in enumerate(items) if item.kind == "loss"]
    users: dict[int, list[int]] = {}
    for i, srcs in enumerate(sources):
        for s in srcs:
            users.setdefault(s, []).append(i)
    for i in losses[1:]:
        problems.append(WiringProblem(
            i, "type", "second_loss",
            f"a network has one loss layer, and {ids[losses[0]]!r} is already one", items[i].id))
    if items and not losses and all(item.kind is not None for item in items):
        last = len(items) - 1
        problems.append(WiringProblem(
            last, "type", "no_loss",
            "a network needs a loss layer, such as SoftmaxWithLoss or MeanSquaredError, that "
            "takes the scores", items[last].id))
    for i, item in enumerate(items):
        used_by = users.get(i, [])
        if item.kind == "loss" and used_by:
            problems.append(WiringProblem(
                i, "type", "loss_not_sink",
                f"a loss layer must end the network, but {', '.join(repr(ids[u]) for u in used_by)} "
                "takes its output", item.id))
        elif item.kind != "loss" and not used_by and item.kind is not None and losses:
            problems.append(WiringProblem(
                i, "id" if item.inputs is None else "inputs", "unused_output",
                f"the output of {item.id!r} is not used by any layer; name it in a later layer's "
                "inputs, or remove the layer", item.id))
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
        text = " -> ".join(ids[i] for i in loop)
        problems.append(WiringProblem(
            loop[0], "inputs" if items[loop[0]].inputs is not None else "id", "cycle",
            f"the layers form a cycle: {text}", text))
    if problems:
        return None, problems
    order_t = tuple(order)
    if losses and order_t[-1] != losses[0]:  # the loss is the only sink, so it sorts last
        order_t = tuple(i for i in order_t if i != losses[0]) + (losses[0],)
    return Wiring(tuple(sources), order_t), []
