"""The network's picture for the report: its computational graph, drawn by Graphviz as SVG.

The DOT text comes from :func:`layerkit.drawing.network_dot` (what ``layerkit graph`` prints) and
is rendered by :func:`layerkit.drawing.render`. Where Graphviz is missing or fails, the report
says why and shows the layer table alone.
"""

from __future__ import annotations

from typing import Any

from layerkit.drawing import network_dot, render
from layerkit.errors import LayerkitError
from layerkit.network import Network
from layerkit.report.figures import data_uri

__all__ = ["graph_picture"]


def graph_picture(network: Network) -> dict[str, Any]:
    """``{"uri": SVG data URI, "reason": None}`` of the network's graph, or ``{"uri": None,
    "reason": why not}``."""
    try:
        svg = render(network_dot(network), "svg")
    except LayerkitError as exc:
        return {"uri": None, "reason": f"no graph picture: {exc}"}
    return {"uri": data_uri(svg, "image/svg+xml"), "reason": None}
