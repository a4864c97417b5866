"""A network as the exporter walks it: nodes in topological order, each naming its inputs.

The exporter never looks at a network as a list: it converts :class:`GraphNode` objects, each a
layer plus the ids of the nodes (or :data:`INPUT`, the data) that feed it, as
``Network.inputs_of`` gives them. A chain is the graph where each layer's input is the previous
layer's output; a merge layer (Add, Mul, Concat) has one input per branch it joins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from layerkit.errors import ExportError
from layerkit.layer_list import DATA
from layerkit.layers.base import Layer, Loss

__all__ = ["INPUT", "GraphNode", "network_nodes", "check_order"]

#: The source id of the network's data (``input``, as graph specs name it).
INPUT = DATA


@dataclass(frozen=True)
class GraphNode:
    """One layer and the ids of its inputs, in the order its ``forward`` takes them."""

    layer: Layer
    inputs: tuple[str, ...]

    @property
    def id(self) -> str:
        return str(self.layer.id)

    @property
    def is_loss(self) -> bool:
        return isinstance(self.layer, Loss)


def network_nodes(network: Any) -> list[GraphNode]:
    """The nodes of a built ``network`` in its topological order (the loss node last)."""
    nodes = [GraphNode(layer, tuple(network.inputs_of(str(layer.id)))) for layer in network.layers]
    check_order(nodes)
    return nodes


def check_order(nodes: Iterable[GraphNode], sources: Iterable[str] = (INPUT,)) -> None:
    """Every input is produced (by ``sources`` or an earlier node) before it is used."""
    given = set(sources)
    seen = set(given)
    for node in nodes:
        missing = [i for i in node.inputs if i not in seen]
        if missing:
            raise ExportError(
                f"{node.id}: input(s) {', '.join(map(repr, missing))} not produced before it"
            )
        if node.id in seen and node.id not in given:
            raise ExportError(f"{node.id}: duplicate layer id")
        seen.add(node.id)
